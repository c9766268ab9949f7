"""Pure ASGI middleware in front of every lamina app.

- a request id (API Gateway's, else the caller's X-Request-ID, else a new one) as the
  log correlation id and the X-Request-ID response header;
- routing first: a request that no route takes (404) or that names a route's path with
  another method (405 with ``Allow``) goes to the router untouched, so a wrong method is
  never answered with a content-type or size error;
- JSON only: a POST/PUT/PATCH with another content type gets 415, except the media types
  an app accepts as a raw body (``binary_types``: the image classifier's PNG and JPEG).
  Under ``/v2`` (the Open Inference Protocol) the content type is not checked: the protocol
  does not require one (tritonclient and the kserve client send none), and the route tells
  JSON from the binary tensor extension by its ``Inference-Header-Content-Length`` header;
- a body limit, checked on Content-Length and again while reading (413);
- any unexpected exception becomes a 500 with the fixed error body, never a stack trace;
- every request records its latency (and 5xx responses a ServerErrors count);
- a request that did not come through Mangum (a local server) flushes its EMF metrics
  when it ends; under Lambda the handler's ``log_metrics`` flushes once per invocation;
- A/B tests (``lamina.api.variants``): the caller key (``x-lamina-ab-key``, else the
  request id) goes in the request's assignment; the answer of a model under a test carries
  ``x-lamina-variant``, and its log line, per-variant metrics and (``LAMINA_AB_DIR``, the
  local server) a line in the A/B event log say which variant answered.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lamina.api import variants
from lamina.api.errors import error_response, is_oip_path
from lamina.errors import InvalidInputError
from lamina.monitoring.events import EventLog
from lamina.observability import Telemetry

_BODY_METHODS = {"POST", "PUT", "PATCH"}
_VARIANT_HEADER = variants.VARIANT_HEADER.encode()
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def request_id(request: Request) -> str | None:
    """The id the request guard gave this request (None outside the guard)."""
    return getattr(request.state, "request_id", None)


def _request_id(scope: Scope) -> str:
    event: Any = scope.get("aws.event")
    if isinstance(event, dict):
        rid = event.get("requestContext", {}).get("requestId")
        if isinstance(rid, str) and rid:
            return rid
    given = _header(scope, b"x-request-id")
    if given and _SAFE_REQUEST_ID.match(given):
        return given
    return uuid.uuid4().hex


def media_type(content_type: str | None) -> str:
    """``image/png`` of ``image/png; charset=...``, lower case; "" when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        telemetry: Telemetry,
        max_body_bytes: int,
        binary_types: frozenset[str] = frozenset(),
        routes: list[BaseRoute] | None = None,
        events: EventLog | None = None,
    ) -> None:
        self.app = app
        self.events = events
        self.telemetry = telemetry
        self.max_body_bytes = max_body_bytes
        self.binary_types = binary_types
        # The app's routes (the same list object: routes added later are seen).
        self.routes = routes

    def _routed(self, scope: Scope) -> bool:
        """Whether a route takes this request as it is (path and method); without the
        app's routes, assume one does."""
        if self.routes is None:
            return True
        return any(route.matches(scope)[0] is Match.FULL for route in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        self.telemetry.logger.set_correlation_id(request_id)
        self.telemetry.request_started()
        request = Request(scope)
        began = time.perf_counter()
        started = False
        status = 500
        key = _header(scope, variants.AB_KEY_HEADER.encode())
        assignment = variants.begin(key, request_id)

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                if assignment.variant is not None:
                    headers.append((_VARIANT_HEADER, assignment.variant.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if key is not None:
                try:
                    variants.check_key(key)
                except InvalidInputError as exc:
                    rejected = error_response(request, 422, exc.code, str(exc), exc.param)
                    await rejected(scope, receive, send_with_id)
                    return
            rejection = await self._check_body(scope, receive, request)
            if rejection is not None:
                await rejection(scope, receive, send_with_id)
                return
            body: bytes = scope["state"].pop("_body", b"")
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            downstream = replay if scope["method"] in _BODY_METHODS else receive
            await self.app(scope, downstream, send_with_id)
        except Exception:
            self.telemetry.logger.exception("unhandled error", extra={"path": scope.get("path")})
            if not started:
                response = error_response(request, 500, "internal_error", "internal server error")
                await response(scope, receive, send_with_id)
        finally:
            elapsed_ms = (time.perf_counter() - began) * 1e3
            answer = variants.answered(assignment)
            self.telemetry.request_done(scope["method"], scope["path"], status, elapsed_ms, answer)
            if answer is not None and answer.counted and self.events is not None:
                self._record(request_id, answer, status, elapsed_ms)
            if "aws.event" not in scope and self.telemetry.metrics.metric_set:
                self.telemetry.metrics.flush_metrics()

    def _record(
        self, request_id: str, answer: variants.Answered, status: int, elapsed_ms: float
    ) -> None:
        """The local A/B event log's line; a failed write is logged, never the request's."""
        assert self.events is not None
        try:
            self.events.request(
                request_id=request_id,
                model=answer.model,
                variant=answer.variant,
                version=answer.version,
                status=status,
                ms=elapsed_ms,
            )
        except OSError:
            self.telemetry.logger.exception("A/B event log write failed")

    async def _check_body(self, scope: Scope, receive: Receive, request: Request) -> Any:
        """Return a response to send instead of the app's, or None; buffer the body."""
        if scope["method"] not in _BODY_METHODS or not self._routed(scope):
            return None
        media = media_type(_header(scope, b"content-type"))
        checked = not is_oip_path(scope["path"])
        if checked and not (_is_json(media) or media in self.binary_types):
            accepted = ", ".join(["application/json", *sorted(self.binary_types)])
            return error_response(
                request,
                415,
                "unsupported_media_type",
                f"send the request body with Content-Type: {accepted} (got {media or 'none'})",
            )
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            return self._too_large(request)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return self._too_large(request)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        scope["state"]["_body"] = b"".join(chunks)
        return None

    def _too_large(self, request: Request) -> JSONResponse:
        """The 413 answer, built only when it is sent: building it for every request was a
        visible share of the app's own time per request under cProfile (docs/performance.md,
        "Cold start and the cost of a request")."""
        return error_response(
            request,
            413,
            "body_too_large",
            f"request body exceeds the limit of {self.max_body_bytes} bytes",
        )
