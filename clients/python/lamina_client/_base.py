"""The constructor and options the sync and async clients share."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Generic, Self, TypeVar

import httpx

from lamina_client._core import Config, Fallback
from lamina_client.auth import BearerAuth, SigV4Auth
from lamina_client.types import BatchLimits

H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class _Shared:
    """State the copies of ``with_options`` share with their original."""

    def __init__(self) -> None:
        self.server_limits: BatchLimits | None = None


class BaseClient(Generic[H]):
    """Settings of a client (see ``LaminaClient`` for the parameters)."""

    def __init__(
        self,
        base_url: str,
        *,
        classify_url: str | None = None,
        token: str | Callable[[], str] | None = None,
        auth: httpx.Auth | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        deadline: float | None = 60.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_concurrency: int = 4,
        fallback: Fallback | None = None,
        limits: BatchLimits | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: H | None = None,
    ) -> None:
        if token is not None and auth is not None:
            raise ValueError("pass token (JWT) or auth (e.g. SigV4Auth), not both")
        self._auth: httpx.Auth | None = BearerAuth(token) if token is not None else auth
        if isinstance(self._auth, SigV4Auth):
            self._auth.resolve(base_url)  # region and credentials now: fail early, clearly
        self._config = Config(
            base_url=base_url,
            classify_url=classify_url or base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            deadline=deadline,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_concurrency=max_concurrency,
            fallback=fallback,
            limits=limits or BatchLimits(),
            headers=dict(headers or {}),
        )
        self._owns_http = http_client is None
        self._http: H = http_client if http_client is not None else self._new_http()
        self._shared = _Shared()

    def _new_http(self) -> H:
        raise NotImplementedError

    @property
    def config(self) -> Config:
        """The client's settings (read-only; ``with_options`` makes a changed copy)."""
        return self._config

    def with_options(self, **changes: Any) -> Self:
        """A copy with other settings (any of the constructor's but auth, token and
        http_client), sharing this client's connections and cached limits: e.g.
        ``client.with_options(deadline=2.0, max_attempts=1).embed(...)`` on a hot path.
        Closing the original closes the copies' connections too."""
        if "limits" in changes and changes["limits"] is None:
            changes["limits"] = BatchLimits()
        clone = copy.copy(self)
        clone._config = dataclasses.replace(self._config, **changes)
        clone._owns_http = False
        return clone

    @property
    def _send_options(self) -> dict[str, Any]:
        # An injected httpx client keeps its own auth unless this client has one.
        return {} if self._auth is None else {"auth": self._auth}
