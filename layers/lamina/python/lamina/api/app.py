"""Build a lamina FastAPI app: error mapping, request guard, OpenAPI metadata."""

from __future__ import annotations

from fastapi import FastAPI

from lamina import __version__
from lamina.api.errors import ErrorBody, install_error_handlers
from lamina.api.middleware import RequestGuard
from lamina.observability import Telemetry
from lamina.settings import Settings

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": description}
    for code, description in {
        400: "Invalid JSON.",
        404: "Unknown model or path.",
        413: "Body over the configured limit.",
        415: "Body is not JSON.",
        422: "Input failed validation; `param` names the field.",
        500: "Unexpected server error.",
        503: "The model is not loaded (refused at cold start); see the function's logs.",
    }.items()
}


def create_app(
    settings: Settings,
    telemetry: Telemetry,
    *,
    title: str,
    description: str,
    binary_types: frozenset[str] = frozenset(),
) -> FastAPI:
    """A FastAPI app behind lamina's error mapping and request guard.

    ``binary_types``: media types accepted as a raw request body besides JSON.
    """
    app = FastAPI(
        title=title,
        description=description,
        version=__version__,
        responses=ERROR_RESPONSES,
        redoc_url=None,  # /docs (Swagger UI) and /openapi.json only: fewer routes to deploy
        swagger_ui_oauth2_redirect_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(
        RequestGuard,
        telemetry=telemetry,
        max_body_bytes=settings.max_body_bytes,
        binary_types=binary_types,
    )
    return app
