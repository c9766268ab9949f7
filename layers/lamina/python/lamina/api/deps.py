"""Process-wide singletons for routes, created once at cold start (FastAPI dependencies).

The model is loaded once per process. If loading fails (missing files, a sha256 mismatch,
an unreachable store), the process does not crash: it logs the error, counts
ModelLoadFailures, and answers every model route and /health with 503 model_unavailable.
Nothing unverified is ever served, and the failure is visible to health checks and alarms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lamina.api.embedding import EmbeddingService
from lamina.batch.objects import ObjectStore
from lamina.errors import JobNotFoundError, LaminaError, ModelUnavailableError
from lamina.observability import Telemetry, get_telemetry
from lamina.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def telemetry() -> Telemetry:
    return get_telemetry(get_settings())


@dataclass(frozen=True)
class LoadedModel:
    service: EmbeddingService | None
    error: LaminaError | None


@lru_cache(maxsize=1)
def load_embedding_service() -> LoadedModel:
    try:
        return LoadedModel(EmbeddingService.load(get_settings(), telemetry()), None)
    except LaminaError as exc:
        telemetry().model_load_failed(exc)
        return LoadedModel(None, exc)


def embedding_service() -> EmbeddingService:
    loaded = load_embedding_service()
    if loaded.service is None:
        reason = loaded.error.message if loaded.error else "unknown error"
        raise ModelUnavailableError(f"the model is not loaded: {reason}") from loaded.error
    return loaded.service


async def embedding_service_dep() -> EmbeddingService:
    """The loaded service, for `Depends`. Async so FastAPI does not hop to a worker thread."""
    return embedding_service()


@lru_cache(maxsize=1)
def _job_store() -> ObjectStore | None:
    from lamina.batch.objects import open_store

    bucket = get_settings().batch_bucket
    return open_store(bucket) if bucket else None


def job_store() -> ObjectStore:
    """The batch bucket, for `Depends` (sync: S3 calls run in FastAPI's thread pool)."""
    store = _job_store()
    if store is None:
        raise JobNotFoundError("batch jobs are not configured here (LAMINA_BATCH_BUCKET is unset)")
    return store
