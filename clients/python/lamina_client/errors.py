"""Exceptions: one base (``LaminaError``), a class per kind of failure.

Every lamina route answers a failure with ``{"error": {"type", "code", "message", "param",
"request_id"}}``; API Gateway's own answers (401/403 of an authorizer, 429 of throttling,
503/504 of an integration failure) are ``{"message": "..."}``. Both become the exception of
their status, carrying what the body and headers said.

Which failures are retried (``LaminaError.retryable``): connection errors, timeouts, 429 and
5xx (except 503 ``search_not_configured``, a deployment's setting). A 4xx other than 429 is
the caller's error and is raised at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

# 5xx codes that another attempt cannot change.
PERMANENT_CODES = frozenset({"search_not_configured"})


class LaminaError(Exception):
    """Base of every error this client raises.

    ``status_code`` is None when no response came (connection errors, timeouts).
    ``request_id`` is the failing response's ``x-request-id`` (or the body's), for the
    server's logs.
    """

    transient: ClassVar[bool] = False  # the kind of failure another attempt may not meet

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.param = param
        self.request_id = request_id
        self.error_type = error_type
        self.retry_after = retry_after
        self.body = body

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed (the client retries exactly these)."""
        return self.transient and self.code not in PERMANENT_CODES

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.insert(0, f"{self.status_code}{f' {self.code}' if self.code else ''}:")
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(parts)


class BadRequestError(LaminaError):
    """A 4xx other than 429: the request was refused (``code``, ``param`` say why and
    where, e.g. 422 ``empty_text`` at ``texts[3]``). Never retried."""


class AuthenticationError(BadRequestError):
    """401 or 403: the token or the signature was refused (API Gateway's authorizer)."""


class NotFoundError(BadRequestError):
    """404: no such collection (``collection_not_found``), job, model or route."""


class ConflictError(BadRequestError):
    """409 ``model_mismatch``: another model than the caller expects would answer."""


class RateLimitedError(LaminaError):
    """429: throttled (API Gateway's rate limit). Retried, after ``retry_after`` if sent."""

    transient = True


class ServerError(LaminaError):
    """A 5xx. Retried."""

    transient = True


class ServiceUnavailableError(ServerError):
    """503: ``index_unavailable``, ``model_unavailable`` (retried, after ``retry_after`` if
    sent) or ``search_not_configured`` (not retried), or API Gateway's integration failure."""


class LaminaTimeoutError(LaminaError, TimeoutError):
    """No answer in time: a connect or read timeout, or the call's deadline. Retried while
    the deadline allows."""

    transient = True


class LaminaConnectionError(LaminaError, ConnectionError):
    """The connection failed or was dropped before a whole response came. Retried."""

    transient = True


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date; None if absent or
    unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _class_for(status: int) -> type[LaminaError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 429:
        return RateLimitedError
    if status == 503:
        return ServiceUnavailableError
    if status >= 500:
        return ServerError
    if status >= 400:
        return BadRequestError
    return LaminaError  # an unexpected status (1xx, 3xx): not retried


def error_from_response(status: int, headers: Mapping[str, str], content: bytes) -> LaminaError:
    """The exception of a failed response (``headers``: case-insensitive, as httpx's)."""
    try:
        body: Any = json.loads(content) if content else None
    except ValueError:
        body = content.decode("utf-8", errors="replace")
    detail = body.get("error") if isinstance(body, dict) else None
    code = param = error_type = body_request_id = None
    if isinstance(detail, dict):  # lamina's error body
        message = str(detail.get("message") or "")
        code, param = detail.get("code"), detail.get("param")
        error_type, body_request_id = detail.get("type"), detail.get("request_id")
    elif isinstance(body, dict) and isinstance(body.get("message"), str):  # API Gateway
        message = body["message"]
    elif isinstance(detail, str):  # another protocol's body ({"error": "..."})
        message = detail
    else:
        message = (body if isinstance(body, str) else "").strip()[:500]
    request_id = (
        headers.get("x-request-id") or body_request_id or headers.get("apigw-requestid") or None
    )
    return _class_for(status)(
        message or f"HTTP {status}",
        status_code=status,
        code=code if isinstance(code, str) else None,
        param=param if isinstance(param, str) else None,
        request_id=request_id,
        error_type=error_type if isinstance(error_type, str) else None,
        retry_after=retry_after_seconds(headers.get("retry-after")),
        body=body,
    )


_ITEM = re.compile(r"\btexts\[(\d+)\]")


def shift_texts_index(exc: LaminaError, offset: int) -> LaminaError:
    """Renumber ``texts[i]`` in a sub-request's error to the caller's index (``i + offset``),
    in ``param`` and ``message``, in place."""
    if offset:

        def shifted(match: re.Match[str]) -> str:
            return f"texts[{int(match.group(1)) + offset}]"

        if exc.param is not None:
            exc.param = _ITEM.sub(shifted, exc.param)
        exc.message = _ITEM.sub(shifted, exc.message)
        exc.args = (exc.message,)
    return exc
