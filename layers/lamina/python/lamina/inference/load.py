"""Cold start of an embedding model from settings: fetch (if in S3), verify, load, warm up."""

from __future__ import annotations

import time
from pathlib import Path

from lamina.inference.embedder import OnnxEmbedder
from lamina.models.loader import materialize
from lamina.observability import Telemetry
from lamina.settings import Settings


def load_embedder(settings: Settings, telemetry: Telemetry) -> OnnxEmbedder:
    """The model of ``settings.model_uri``, loaded and warmed once; records the load time."""
    start = time.perf_counter()
    local = materialize(settings.require_model_uri(), Path(settings.model_cache_dir))
    telemetry.logger.info("model source", extra={"model_uri": local.source})
    embedder = OnnxEmbedder.load(
        local.directory,
        # A directory the store fetch just verified is not hashed a second time.
        verify=settings.verify_model and not local.verified,
        token_budget=settings.batch_token_budget,
        max_run_batch=settings.max_run_batch,
        intra_op_threads=settings.intra_op_threads,
    )
    telemetry.model_loaded(embedder.manifest, (time.perf_counter() - start) * 1e3)
    return embedder
