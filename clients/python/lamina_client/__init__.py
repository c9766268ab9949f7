"""lamina-client: the Python client of the lamina API.

``LaminaClient`` (sync) and ``AsyncLaminaClient`` (asyncio) have the same methods: ``embed``,
``embed_batch``, ``search``, ``recommend``, ``classify``, ``zero_shot`` and ``job``. Results
are dataclasses (``lamina_client.types``), failures ``LaminaError`` subclasses
(``lamina_client.errors``). The guide is docs/client.md in the lamina repository.
"""

from lamina_client._version import __version__
from lamina_client.async_client import AsyncLaminaClient
from lamina_client.auth import BearerAuth, SigV4Auth
from lamina_client.client import LaminaClient
from lamina_client.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    LaminaConnectionError,
    LaminaError,
    LaminaTimeoutError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
)
from lamina_client.types import (
    BatchLimits,
    Classification,
    Embedding,
    JobCounts,
    JobStatus,
    LabelScore,
    SearchHit,
    SearchResults,
    ZeroShotResult,
    ZeroShotScore,
)

__all__ = [
    "AsyncLaminaClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchLimits",
    "BearerAuth",
    "Classification",
    "ConflictError",
    "Embedding",
    "JobCounts",
    "JobStatus",
    "LabelScore",
    "LaminaClient",
    "LaminaConnectionError",
    "LaminaError",
    "LaminaTimeoutError",
    "NotFoundError",
    "RateLimitedError",
    "SearchHit",
    "SearchResults",
    "ServerError",
    "ServiceUnavailableError",
    "SigV4Auth",
    "ZeroShotResult",
    "ZeroShotScore",
    "__version__",
]
