"""A function's one model-backed service, loaded once per process at cold start.

If loading fails (missing files, a sha256 mismatch, an unreachable store), the process does
not crash: it logs the error, counts ModelLoadFailures, and answers every model route and
/health with 503 model_unavailable. Nothing unverified is ever served, and the failure is
visible to health checks and alarms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from lamina.errors import LaminaError, ModelUnavailableError
from lamina.observability import Telemetry
from lamina.settings import Settings

T = TypeVar("T")


class ServiceSlot(Generic[T]):
    """A function's one model-backed service: loaded once at cold start, else 503s.

    ``load()`` runs the loader once per process and keeps either the service or the error;
    ``get()`` (and ``dep``, for ``Depends``) returns the service or raises
    ModelUnavailableError (whose message, with the load error's, goes to the logs only:
    ``lamina.api.errors`` answers a fixed message).
    """

    def __init__(
        self, loader: Callable[[Settings, Telemetry], T], settings: Settings, telemetry: Telemetry
    ) -> None:
        self._loader = loader
        self._settings = settings
        self._telemetry = telemetry
        self._loaded = False
        self._service: T | None = None
        self._error: LaminaError | None = None

    def load(self) -> T | None:
        if not self._loaded:
            try:
                self._service = self._loader(self._settings, self._telemetry)
            except LaminaError as exc:
                self._telemetry.model_load_failed(exc)
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
