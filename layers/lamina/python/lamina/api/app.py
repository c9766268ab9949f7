"""Build a lamina FastAPI app: error mapping, request guard, OpenAPI metadata.

``model_app`` is the one call each function's ``app.py`` makes: settings and telemetry read
once, the model-backed service loaded at cold start (``ServiceSlot``), the app, and its
``/health``. What is left in ``app.py`` is the function's routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TypeVar, get_type_hints

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from lamina import __version__
from lamina.api.errors import ErrorBody, install_error_handlers, is_oip_path
from lamina.api.middleware import RequestGuard
from lamina.api.schemas import OutcomeRequest, OutcomeResponse, apply_limits
from lamina.api.slot import ServiceSlot
from lamina.api.variants import Variant, Variants, assign
from lamina.errors import ModelNotFoundError, NoABTestError
from lamina.monitoring.events import EventLog
from lamina.observability import Telemetry, get_telemetry
from lamina.settings import Settings, get_settings

# Where FastAPI puts a model's schema in the OpenAPI document (fastapi.openapi.constants).
SCHEMA_REF = "#/components/schemas/{model}"

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid JSON.",
    404: "Unknown model or path.",
    413: "Body over the configured limit (LAMINA_MAX_BODY_BYTES; the image classifier: also "
    "an image over LAMINA_MAX_IMAGE_PIXELS).",
    415: "Body is not JSON.",
    422: "Input failed validation; `param` names the field.",
    500: "Unexpected server error.",
    503: "The model is not loaded (refused at cold start); see the function's logs.",
}

# Every route's error answers in the OpenAPI document: ErrorBody by reference, which is what
# FastAPI writes for ``{"model": ErrorBody}``. A ``model`` there would make FastAPI build a
# pydantic TypeAdapter per route and status code at startup (a large share of its route
# registration time: docs/performance.md, "Cold start and the cost of a request") that only
# the documentation ever uses; the reference needs the schema itself, which ``create_app``
# adds when the document is made.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": SCHEMA_REF.format(model=ErrorBody.__name__)}}
        },
    }
    for code, description in ERROR_DESCRIPTIONS.items()
}


def error_schemas() -> dict[str, Any]:
    """ErrorBody's OpenAPI schema and those of the models it uses, by model name, exactly as
    FastAPI writes them for a response model (made when the document is, never at startup)."""

    async def error() -> None:
        """Never served: a route only for FastAPI's schema generator."""

    route = APIRoute("/error", error, response_model=ErrorBody)
    document = get_openapi(title="errors", version=__version__, routes=[route])
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


# Under /v2 (the Open Inference Protocol) an error is the protocol's own body, and a request
# that fails validation is a 400, never a 422 (``lamina.api.errors``).
OIP_ERROR_SCHEMA: dict[str, Any] = {
    "title": "OipError",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What went wrong, for a human."}},
}


def _oip_error_responses(document: dict[str, Any]) -> None:
    """The /v2 routes' error answers as they are sent: the app-wide ErrorBody replaced by the
    protocol's body, and no 422 (those requests are 400s there)."""
    error_ref = SCHEMA_REF.format(model=ErrorBody.__name__)
    for path, operations in document.get("paths", {}).items():
        if not is_oip_path(path):
            continue
        for operation in operations.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            if responses.get("422") == ERROR_RESPONSES[422]:
                del responses["422"]
            for response in responses.values():
                for content in response.get("content", {}).values():
                    if content.get("schema") == {"$ref": error_ref}:
                        content["schema"] = OIP_ERROR_SCHEMA


def _document(
    generate: Callable[[], dict[str, Any]], settings: Settings
) -> Callable[[], dict[str, Any]]:
    """FastAPI's OpenAPI document (``generate``, cached by FastAPI) with ErrorBody's schemas
    among the components, sorted by name as FastAPI sorts them, this deployment's limits
    written in (``lamina.api.schemas.apply_limits``) and the /v2 routes' errors as sent."""

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if ErrorBody.__name__ not in schemas:
            merged = {**error_schemas(), **schemas}
            schemas.clear()
            schemas.update(sorted(merged.items()))
            apply_limits(document, settings)
            _oip_error_responses(document)
        return document

    return openapi


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
        docs_url=None,  # install_docs: Swagger UI pinned by integrity hashes
        swagger_ui_oauth2_redirect_url=None,
    )
    install_docs(app)
    app.openapi = _document(app.openapi, settings)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.add_middleware(
        RequestGuard,
        telemetry=telemetry,
        max_body_bytes=settings.max_body_bytes,
        binary_types=binary_types,
        routes=app.router.routes,
        events=event_log(settings),
    )
    return app


# GET /docs: Swagger UI from a pinned release, each file checked by its integrity hash.
# FastAPI's default page loads swagger-ui-dist@5 (whatever 5.x the CDN has today) with no
# Subresource Integrity: a changed file on the CDN would run in the page, next to the API.
# This page names one release and the sha384 of its two files, so a browser refuses any
# other bytes. The hashes are those of the files in the npm package (`npm pack
# swagger-ui-dist@5.35.0`; jsDelivr serves a package's files unchanged): a new release needs
# new hashes.
SWAGGER_UI_VERSION = "5.35.0"
_CDN = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
SWAGGER_JS = f"{_CDN}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{_CDN}/swagger-ui.css"
INTEGRITY = {
    SWAGGER_JS: "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
    SWAGGER_CSS: "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
}


def swagger_ui_html(openapi_url: str, title: str) -> str:
    """FastAPI's Swagger UI page, its script and stylesheet pinned by integrity hash."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=SWAGGER_JS,
        swagger_css_url=SWAGGER_CSS,
        swagger_favicon_url="data:,",  # no third-party favicon
    ).body
    html = bytes(page).decode()
    for url, digest in INTEGRITY.items():
        attribute = "src" if url.endswith(".js") else "href"
        pinned = f'{attribute}="{url}" integrity="{digest}" crossorigin="anonymous"'
        if f'{attribute}="{url}"' not in html:  # FastAPI changed its page: fail loudly
            raise RuntimeError(f"Swagger UI page has no {attribute}={url}")
        html = html.replace(f'{attribute}="{url}"', pinned)
    return html


def install_docs(app: FastAPI) -> None:
    """``GET /docs`` (the app must be created with ``docs_url=None``)."""

    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return HTMLResponse(swagger_ui_html(f"{root}{app.openapi_url}", f"{app.title} - docs"))

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)


class ModelService(Protocol):
    """What ``model_app`` needs of a feature's service: a cold-start loader and a health
    answer (whose return annotation is /health's response model)."""

    @classmethod
    def load(cls, settings: Settings, telemetry: Telemetry) -> Self: ...

    def health(self) -> Any: ...


S = TypeVar("S", bound=ModelService)


@dataclass(frozen=True)
class ModelApp(Generic[S]):
    """A function's app and what it was built around (the handler and tests use them)."""

    app: FastAPI
    settings: Settings
    telemetry: Telemetry
    slot: ServiceSlot[S]


def model_app(
    service: type[S],
    *,
    title: str,
    description: str,
    binary_types: frozenset[str] = frozenset(),
    outcomes_path: str | None = None,
) -> ModelApp[S]:
    """The app of a function that serves ``service``: settings and telemetry read once, the
    service loaded and warmed now (cold start, before the first request), and ``GET /health``
    (the service's ``health()``, or 503 model_unavailable when the load failed).

    ``outcomes_path``: where callers report outcomes for the A/B tests of the service's
    models (``POST``; each function has its own path on the shared HTTP API)."""
    settings = get_settings()
    telemetry = get_telemetry(settings)
    slot = ServiceSlot(service.load, settings, telemetry)
    slot.load()
    app = create_app(
        settings, telemetry, title=title, description=description, binary_types=binary_types
    )

    async def health(loaded: S = Depends(slot.dep)) -> Any:  # noqa: B008 (FastAPI's idiom)
        return loaded.health()

    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        tags=["ops"],
        response_model=get_type_hints(service.health)["return"],
    )
    if outcomes_path is not None:
        install_outcomes(app, outcomes_path, slot, settings, telemetry)
    return ModelApp(app, settings, telemetry, slot)


class ABService(Protocol):
    """A service whose models may be under A/B tests (``lamina.api.variants``)."""

    @property
    def ab_tests(self) -> Mapping[str, Variants[Any]]: ...


def record_outcome(
    tests: Mapping[str, Variants[Any]],
    body: OutcomeRequest,
    telemetry: Telemetry,
    events: EventLog | None,
) -> OutcomeResponse:
    """Count an outcome for the variant that answered (``POST /api/v1/outcomes``)."""
    versions = tests.get(body.model)
    if versions is None:
        raise ModelNotFoundError(
            f"model {body.model!r} is not served here; served: "
            + ", ".join(repr(name) for name in tests),
            param="model",
        )
    if not versions.testing:
        raise NoABTestError(
            f"model {body.model!r} is not under an A/B test here (LAMINA_AB_CANDIDATES names "
            "no candidate of it): there is nothing to count the outcome for",
            param="model",
        )
    key = body.key if body.key is not None else body.request_id
    variant: Variant
    if body.variant is not None:
        variant = body.variant
    else:
        assert key is not None  # the request model requires variant, key or request_id
        variant = assign(versions.name, key, versions.weight)
    telemetry.outcome(versions.name, variant, body.outcome, body.reward)
    if events is not None:
        try:
            events.outcome(
                request_id=body.request_id,
                model=versions.name,
                variant=variant,
                outcome=body.outcome,
                reward=body.reward,
            )
        except OSError:
            telemetry.logger.exception("A/B event log write failed")
    return OutcomeResponse(model=versions.name, variant=variant, recorded=True)


def install_outcomes(
    app: FastAPI, path: str, slot: ServiceSlot[Any], settings: Settings, telemetry: Telemetry
) -> None:
    """``POST path``: what became of an answer, counted for its variant."""
    events = event_log(settings)

    async def outcomes(body: OutcomeRequest, loaded: Any = Depends(slot.dep)) -> OutcomeResponse:  # noqa: B008
        return record_outcome(loaded.ab_tests, body, telemetry, events)

    app.add_api_route(
        path,
        outcomes,
        methods=["POST"],
        tags=["ab"],
        status_code=202,
        response_model=OutcomeResponse,
        summary="Report what became of an answer (A/B tests)",
        description="The caller says whether an answer did its job (`outcome`) or scores "
        "it (`reward`); the outcome counts for the variant that answered (the answer's "
        "x-lamina-variant, or the one `key` is assigned). `lamina ab report` compares the "
        "variants (docs/monitoring.md). 422 when the model is not under an A/B test.",
    )


def event_log(settings: Settings) -> EventLog | None:
    """The local server's A/B event log (``LAMINA_AB_DIR``), if configured."""
    return EventLog(Path(settings.ab_dir)) if settings.ab_dir else None
