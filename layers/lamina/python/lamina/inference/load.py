"""Cold start of a model from settings: fetch (if in S3), verify, load, warm up, record.

Every function loads its model(s) through ``load_model``: the location (a directory in
the image, or a model store reference) is materialized and verified once, the handler's
own ``load`` opens it, and the load time and model version go to logs and metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from lamina.inference.embedder import OnnxEmbedder
from lamina.inference.lifecycle import ModelHandler
from lamina.models.loader import materialize
from lamina.observability import Telemetry
from lamina.settings import Settings

M = TypeVar("M", bound=ModelHandler)  # type: ignore[type-arg]

# (model directory, verify the files' sha256?) -> the loaded, warmed handler
Opener = Callable[[Path, bool], M]


def load_model(uri: str, settings: Settings, telemetry: Telemetry, opener: Opener[M]) -> M:
    """The model at ``uri``, opened by ``opener`` once; records where from and how long."""
    start = time.perf_counter()
    local = materialize(uri, Path(settings.model_cache_dir))
    telemetry.logger.info("model source", extra={"model_uri": local.source})
    # A directory the store fetch just verified is not hashed a second time.
    model = opener(local.directory, settings.verify_model and not local.verified)
    telemetry.model_loaded(model.manifest, (time.perf_counter() - start) * 1e3)
    return model


def load_embedder(settings: Settings, telemetry: Telemetry) -> OnnxEmbedder:
    """The embedding model of ``settings.model_uri``, loaded and warmed once."""
    return load_model(
        settings.require_model_uri(),
        settings,
        telemetry,
        lambda directory, verify: OnnxEmbedder.load(
            directory,
            verify=verify,
            token_budget=settings.batch_token_budget,
            max_run_batch=settings.max_run_batch,
            intra_op_threads=settings.intra_op_threads,
        ),
    )
