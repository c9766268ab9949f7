"""The vector index a function's settings name, opened once per process.

Locally ``LAMINA_SEARCH_DSN`` is a libpq connection string (``make pg`` prints one). On AWS
``LAMINA_SEARCH_SECRET_ARN`` names a Secrets Manager secret in RDS's JSON shape (username,
password, host, port, dbname); ``LAMINA_SEARCH_HOST`` (the RDS Proxy endpoint) and
``LAMINA_SEARCH_DATABASE`` override its host and database. The secret is read when the first
search needs a connection, not at cold start, and the connection string never reaches a
log or a client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from lamina.errors import SearchNotConfiguredError
from lamina.search.index import VectorIndex
from lamina.settings import Settings


def secret_conninfo(
    secret_arn: str, *, host: str | None = None, database: str | None = None
) -> Callable[[], str]:
    """A function that reads the secret and makes the connection string (TLS required)."""

    def make() -> str:
        import boto3  # type: ignore[import-untyped]
        from psycopg.conninfo import make_conninfo

        secret: dict[str, Any] = json.loads(
            boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
        )
        return make_conninfo(
            host=host or secret["host"],
            port=str(secret.get("port", 5432)),
            user=secret["username"],
            password=secret["password"],
            dbname=database or secret.get("dbname") or "postgres",
            sslmode="require",
        )

    return make


def open_index(settings: Settings) -> VectorIndex | None:
    """The index the settings name, or None when search is not configured (then psycopg is
    not even imported: the batch worker's cold start without search stays as it was)."""
    conninfo: str | Callable[[], str]
    if settings.search_dsn:
        conninfo = settings.search_dsn
    elif settings.search_secret_arn:
        conninfo = secret_conninfo(
            settings.search_secret_arn, host=settings.search_host, database=settings.search_database
        )
    else:
        return None
    from lamina.search.pg import PgVectorIndex

    return PgVectorIndex(
        conninfo,
        pool_size=settings.search_pool_size,
        timeout_ms=settings.search_timeout_ms,
        ef_search=settings.search_ef_search,
    )


_OPEN: dict[tuple[object, ...], VectorIndex | None] = {}
_LOCK = threading.Lock()


def current_index(settings: Settings) -> VectorIndex:
    """The index these settings name, opened once per process and kept (its connection
    pool is reused across requests and invocations); 503 search_not_configured without one."""
    key = (
        settings.search_dsn,
        settings.search_secret_arn,
        settings.search_host,
        settings.search_database,
        settings.search_pool_size,
        settings.search_timeout_ms,
        settings.search_ef_search,
    )
    with _LOCK:
        if key not in _OPEN:
            _OPEN[key] = open_index(settings)
        index = _OPEN[key]
    if index is None:
        raise SearchNotConfiguredError(
            "search is not configured: set LAMINA_SEARCH_DSN (local) or "
            "LAMINA_SEARCH_SECRET_ARN (AWS)"
        )
    return index
