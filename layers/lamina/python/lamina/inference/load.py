"""The one cold start of every model kind: fetch (if in S3), verify, load, warm up, record.

Every function and the batch worker load their model(s) here. The location (a directory in
the image, or a model store reference) is materialized and verified once, the kind's
``from_settings`` opens it with the deployment's settings, and the load time and model
version go to logs and metrics. A new kind of model needs only a ``from_settings``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, TypeVar

from lamina.errors import ConfigurationError, ModelLoadError
from lamina.models.loader import materialize
from lamina.models.manifest import Manifest, read_manifest
from lamina.observability import Telemetry
from lamina.settings import Settings


class Loadable(Protocol):
    """A loaded model: what it was loaded from."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def model_dir(self) -> Path: ...


M = TypeVar("M", bound=Loadable)
M_co = TypeVar("M_co", bound=Loadable, covariant=True)


class Opener(Protocol[M_co]):
    """What opens a model directory (a model kind: ``OnnxEmbedder``, ``OnnxTextClassifier``,
    ``OnnxImageClassifier``, ``OnnxModel``; or ``lamina.inference.generic.GenericModel``,
    which picks a graph or a query by the manifest's task)."""

    def from_settings(self, model_dir: Path, *, verify: bool, settings: Settings) -> M_co: ...


def _open(
    kind: Opener[M],
    uri: str,
    settings: Settings,
    telemetry: Telemetry | None,
    *,
    candidate: bool = False,
) -> tuple[M, float]:
    """The model at ``uri`` and how long fetching, verifying, loading and warming took (ms)."""
    start = time.perf_counter()
    local = materialize(uri, Path(settings.model_cache_dir))
    if telemetry is not None:
        telemetry.logger.info("model source", extra={"model_uri": local.source})
    pinned = settings.model_digest is not None
    if pinned:
        # Before any file is opened by ONNX Runtime: the manifest must be the pinned one.
        check_pin(read_manifest(local.directory), settings.model_digest, candidate=candidate)
    # A directory the store fetch just verified is not hashed a second time; a pinned model
    # is always hashed (the pin vouches for the manifest, the sha256 check for the files).
    verify = (settings.verify_model or pinned) and not local.verified
    model = kind.from_settings(local.directory, verify=verify, settings=settings)
    if pinned:
        check_pin(model.manifest, settings.model_digest, candidate=candidate)
    return model, (time.perf_counter() - start) * 1e3


def digest_pins(value: str) -> str | dict[str, str]:
    """LAMINA_MODEL_DIGEST: one digest for every model, or {model name: digest}."""
    if "=" not in value:
        return value.strip()
    pairs = (item.partition("=") for item in value.split(","))
    return {name.strip(): digest.strip() for name, _, digest in pairs}


def check_pin(manifest: Manifest, pins: str | None, *, candidate: bool = False) -> None:
    """Refuse a model whose manifest digest is not the one the configuration pins.

    A model that only matches its own manifest proves nothing against someone who can write
    both (the models bucket): the pin lives in the function's configuration instead. An A/B
    test's candidate (``candidate``) is pinned as ``name@candidate=digest``: one digest for
    every model cannot pin two versions of one name.
    """
    if pins is None:
        return
    parsed = digest_pins(pins)
    key = f"{manifest.name}@candidate" if candidate else manifest.name
    expected = parsed.get(key) if isinstance(parsed, dict) else None if candidate else parsed
    if expected is None:
        raise ModelLoadError(
            f"model {key!r} has no pinned digest in LAMINA_MODEL_DIGEST "
            f"(it pins {', '.join(sorted(parsed))}): refused"
        )
    if manifest.digest != expected:
        raise ModelLoadError(
            f"model {key} {manifest.version} has digest {manifest.digest}, "
            f"LAMINA_MODEL_DIGEST pins {expected}: refused"
        )


def load_model(
    kind: Opener[M], settings: Settings, telemetry: Telemetry | None, uri: str | None = None
) -> M:
    """The one model of a function (``uri``, else ``MODEL_URI``), loaded and warmed once.

    ``telemetry`` None (the command line) logs and counts nothing.
    """
    model, load_ms = _open(kind, uri or settings.require_model_uri(), settings, telemetry)
    if telemetry is not None:
        telemetry.model_loaded(model.manifest, load_ms)
    return model


def load_models(kind: Opener[M], settings: Settings, telemetry: Telemetry) -> dict[str, M]:
    """Every model of ``LAMINA_MODELS`` (else ``MODEL_URI``), by manifest name."""
    models: dict[str, M] = {}
    load_ms: dict[str, float] = {}
    for uri in settings.model_uris():
        model, ms = _open(kind, uri, settings, telemetry)
        name = model.manifest.name
        if name in models:
            raise ConfigurationError(
                f"two models are named {name!r} ({models[name].model_dir} and "
                f"{model.model_dir}): each model needs its own name"
            )
        models[name], load_ms[name] = model, ms
    for name, model in models.items():
        telemetry.model_loaded(model.manifest, load_ms[name], only=len(models) == 1)
    return models


def load_candidates(
    kind: Opener[M], settings: Settings, telemetry: Telemetry, served: Mapping[str, M]
) -> dict[str, M]:
    """The A/B candidates of ``LAMINA_AB_CANDIDATES``, by name: each must be another version
    of a model in ``served`` (the same manifest name, another digest) and of the same kind."""
    candidates: dict[str, M] = {}
    for uri in settings.candidate_uris():
        model, ms = _open(kind, uri, settings, telemetry, candidate=True)
        name = model.manifest.name
        if name not in served:
            raise ConfigurationError(
                f"the A/B candidate at {uri} is model {name!r}, which this function does not "
                f"serve (it serves {', '.join(sorted(served))}): a candidate must be another "
                "version of a served model"
            )
        if name in candidates:
            raise ConfigurationError(f"two A/B candidates are named {name!r}: one per model")
        control = served[name].manifest
        if model.manifest.digest == control.digest:
            raise ConfigurationError(
                f"the A/B candidate of {name!r} is the served version itself "
                f"({control.version}, digest {control.digest}): nothing to compare"
            )
        if model.manifest.task != control.task:
            raise ConfigurationError(
                f"the A/B candidate of {name!r} is a {model.manifest.task} model, the served "
                f"version a {control.task} model: a candidate must answer the same requests"
            )
        candidates[name] = model
        telemetry.model_loaded(model.manifest, ms, only=False, variant="candidate")
    return candidates
