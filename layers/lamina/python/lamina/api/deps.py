"""Process-wide singletons for routes, created once at cold start (FastAPI dependencies).

The model is loaded once per process. If loading fails (missing files, a sha256 mismatch,
an unreachable store), the process does not crash: it logs the error, counts
ModelLoadFailures, and answers every model route and /health with 503 model_unavailable.
Nothing unverified is ever served, and the failure is visible to health checks and alarms.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Generic, TypeVar

from lamina.api.embedding import EmbeddingService
from lamina.batch.objects import ObjectStore
from lamina.errors import JobNotFoundError, LaminaError, ModelUnavailableError
from lamina.observability import Telemetry, get_telemetry
from lamina.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def telemetry() -> Telemetry:
    return get_telemetry(get_settings())


T = TypeVar("T")


class ServiceSlot(Generic[T]):
    """A function's one model-backed service: loaded once at cold start, else 503s.

    ``load()`` runs the loader once per process and keeps either the service or the error;
    ``get()`` (and ``dep``, for ``Depends``) returns the service or raises
    ModelUnavailableError with the load error's message.
    """

    def __init__(self, loader: Callable[[Settings, Telemetry], T]) -> None:
        self._loader = loader
        self._loaded = False
        self._service: T | None = None
        self._error: LaminaError | None = None

    def load(self) -> T | None:
        if not self._loaded:
            try:
                self._service = self._loader(get_settings(), telemetry())
            except LaminaError as exc:
                telemetry().model_load_failed(exc)
                self._error = exc
            self._loaded = True
        return self._service

    @property
    def error(self) -> LaminaError | None:
        self.load()
        return self._error

    def get(self) -> T:
        service = self.load()
        if service is None:
            reason = self._error.message if self._error else "unknown error"
            raise ModelUnavailableError(f"the model is not loaded: {reason}") from self._error
        return service

    async def dep(self) -> T:
        """The loaded service, for `Depends`. Async so FastAPI does not hop to a thread."""
        return self.get()

    def reset(self) -> None:
        """Forget the loaded service (tests load another model into the same process)."""
        self._loaded, self._service, self._error = False, None, None


embedding = ServiceSlot(EmbeddingService.load)


def embedding_service() -> EmbeddingService:
    return embedding.get()


async def embedding_service_dep() -> EmbeddingService:
    """The loaded service, for `Depends`. Async so FastAPI does not hop to a worker thread."""
    return embedding.get()


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
