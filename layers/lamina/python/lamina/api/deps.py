"""Process-wide singletons for routes, created once at cold start (FastAPI dependencies)."""

from __future__ import annotations

from functools import lru_cache

from lamina.api.embedding import EmbeddingService
from lamina.observability import Telemetry, get_telemetry
from lamina.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def telemetry() -> Telemetry:
    return get_telemetry(get_settings())


@lru_cache(maxsize=1)
def embedding_service() -> EmbeddingService:
    return EmbeddingService.load(get_settings(), telemetry())


async def embedding_service_dep() -> EmbeddingService:
    """The loaded service, for `Depends`. Async so FastAPI does not hop to a worker thread."""
    return embedding_service()
