"""One place that maps exceptions to HTTP: a fixed error body for every failure.

Body (OpenAI-compatible, so its client surfaces the message)::

    {"error": {"type": "invalid_request_error", "code": "text_too_long",
               "message": "...", "param": "texts[3]", "request_id": "..."}}

The status comes from the exception's class, never from its message text.

Under ``/v2`` (the Open Inference Protocol, KServe v2) the body is the protocol's own,
``{"error": "<message>"}``, and a request that fails validation is a 400, as its clients
(KServe, Triton) expect.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from lamina.errors import (
    CollectionNotFoundError,
    ConfigurationError,
    ImageTooLargeError,
    IndexUnavailableError,
    InvalidInputError,
    ItemNotFoundError,
    JobError,
    JobNotFoundError,
    LaminaError,
    ModelLoadError,
    ModelMismatchError,
    ModelNotFoundError,
    ModelUnavailableError,
    SearchError,
    SearchNotConfiguredError,
    StorageError,
    TensorError,
)

STATUS_BY_ERROR: dict[type[LaminaError], int] = {
    InvalidInputError: 422,
    ImageTooLargeError: 413,
    TensorError: 400,  # the Open Inference Protocol answers a bad request with 400
    ModelNotFoundError: 404,
    ModelMismatchError: 409,  # the model that would answer is not the one the caller expects
    ModelLoadError: 503,
    ModelUnavailableError: 503,
    ConfigurationError: 500,
    JobNotFoundError: 404,
    JobError: 503,  # the job store cannot be read
    StorageError: 503,  # an object store failed, with no caller's error class
    CollectionNotFoundError: 404,
    ItemNotFoundError: 404,
    SearchNotConfiguredError: 503,
    IndexUnavailableError: 503,  # with Retry-After
    SearchError: 500,
}


# What a client reads for a server-side failure: fixed text, never the exception's, which may
# name buckets (with the account id), S3's error text, model paths or ONNX Runtime's
# messages. The details go to the logs, under the request id the body carries.
MODEL_NOT_LOADED = (
    "the model is not loaded: it was refused or failed to load at cold start "
    "(the function's logs say why)"
)
PUBLIC_MESSAGES: dict[type[LaminaError], str] = {
    ModelLoadError: MODEL_NOT_LOADED,
    ModelUnavailableError: MODEL_NOT_LOADED,
    ConfigurationError: "this function is misconfigured (its logs say why)",
    JobError: "the job store cannot be read now; try again later",
    StorageError: "storage is unavailable now; try again later",
    SearchNotConfiguredError: "search is not configured on this function: the index is not "
    "set (LAMINA_SEARCH_DSN locally, LAMINA_SEARCH_SECRET_ARN on AWS; docs/search.md)",
    IndexUnavailableError: "the search index does not answer now; retry after the "
    "Retry-After header's seconds",
}
RUNTIME_REFUSED = "the model cannot run on these inputs (their values do not fit the graph)"
INTERNAL = "internal error"


def _from_runtime(exc: BaseException) -> bool:
    """Whether ``exc`` was raised from an ONNX Runtime error (whose text is not for clients)."""
    cause = exc.__cause__
    return cause is not None and type(cause).__module__.startswith("onnxruntime")


def public_message(exc: LaminaError, status: int) -> str:
    """The message a client gets for ``exc``: its own for a caller's error, fixed otherwise."""
    if status >= 500:
        for cls in type(exc).__mro__:
            if cls in PUBLIC_MESSAGES:
                return PUBLIC_MESSAGES[cls]
        return INTERNAL
    if _from_runtime(exc):
        return RUNTIME_REFUSED
    return exc.message


def _log_detail(request: Request, exc: LaminaError, status: int) -> None:
    from lamina.settings import get_settings

    try:
        name = get_settings().service_name
    except LaminaError:
        name = "lamina"
    logging.getLogger(name).warning(
        "request failed",
        extra={
            "status": status,
            "error_code": exc.code,
            "error_type": type(exc).__name__,
            "error": exc.message,
            "cause": repr(exc.__cause__) if exc.__cause__ is not None else None,
            "request_id": getattr(request.state, "request_id", None),
            "path": request.url.path,
        },
    )


class ErrorDetail(BaseModel):
    type: str = Field(description="invalid_request_error (4xx) or server_error (5xx).")
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for a human.")
    param: str | None = Field(default=None, description="The request field at fault, if any.")
    request_id: str | None = Field(default=None, description="Correlation id of the request.")


class ErrorBody(BaseModel):
    error: ErrorDetail = Field(description="What went wrong.")


def error_response(
    request: Request | None,
    status: int,
    code: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    if request is not None and is_oip_path(request.url.path):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    if request is not None and request.url.path in _tei_paths(request):
        tei_body = {"error": message, "error_type": _tei_error_type(status)}
        return JSONResponse(tei_body, status_code=status, headers=headers)
    body = ErrorBody(
        error=ErrorDetail(
            type="invalid_request_error" if status < 500 else "server_error",
            code=code,
            message=message,
            param=param,
            request_id=request_id,
        )
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


OIP_PREFIX = "/v2"
# The app state's attribute naming the paths that speak Hugging Face TEI's API: their errors
# have TEI's body, {"error": "...", "error_type": "validation"} (the embedding function).
TEI_PATHS_STATE = "tei_paths"


def _tei_paths(request: Request) -> frozenset[str]:
    app = request.scope.get("app")
    paths = getattr(getattr(app, "state", None), TEI_PATHS_STATE, None)
    return paths if isinstance(paths, frozenset) else frozenset()


def _tei_error_type(status: int) -> str:
    """TEI's error_type for a status (router/src/lib.rs ErrorType)."""
    if status == 429:
        return "overloaded"
    if status == 503:
        return "unhealthy"
    return "validation" if status < 500 else "backend"


def is_oip_path(path: str) -> bool:
    return path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/")


def status_for(exc: LaminaError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def _branch(part: Any) -> str | None:
    """The union branch a location part names ("str", "list[...]"), else None: pydantic
    reports a value that fits no branch of ``str | list[str]`` once per branch."""
    if part in ("str", "constrained-str") or (isinstance(part, str) and part.startswith("list[")):
        return "str" if part in ("str", "constrained-str") else "list"
    return None


def _relevant(err: Mapping[str, Any]) -> bool:
    """Whether an error belongs to the union branch the sent value's own JSON type picks (a
    list's errors are the list branch's: "texts: at least 1 item", not "not a string")."""
    loc = tuple(err.get("loc", ()))
    for index, part in enumerate(loc):
        kind = _branch(part)
        if kind is None or index != len(loc) - 1:
            continue  # an item's error under a branch is that branch's own
        value = err.get("input")
        return isinstance(value, str) if kind == "str" else isinstance(value, list)
    return True


def _loc_to_param(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p != "body" and _branch(p) is None]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


async def _lamina_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LaminaError)
    status = status_for(exc)
    message = public_message(exc, status)
    if message != exc.message:
        _log_detail(request, exc, status)
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            message += f" (request id {request_id})"
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return error_response(request, status, exc.code, message, exc.param, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return error_response(request, 400, "invalid_json", "request body is not valid JSON")
    errors = [err for err in errors if _relevant(err)] or list(errors)
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = _loc_to_param(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid request"))
    if param:
        message = f"{param}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    status = 400 if is_oip_path(request.url.path) else 422
    return error_response(request, status, "validation_error", message, param)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = getattr(exc, "headers", None)
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.url.path} (GET /openapi.json lists the routes)"
    elif exc.status_code == 405:
        allowed = _allowed_methods(request) or (headers or {}).get("Allow", "")
        headers = {**(headers or {}), "Allow": allowed}
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
    return error_response(request, exc.status_code, code, message, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this path. Starlette's 405 names only the first
    route that matched the path, and one path may have several routes (GET / and POST /)."""
    app = request.scope.get("app")
    methods: set[str] = set()
    for route in getattr(getattr(app, "router", None), "routes", []):
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LaminaError, _lamina_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
