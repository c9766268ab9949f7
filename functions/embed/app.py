"""Routes of the embedding function. Logic lives in lamina.api.embeddings (and jobs, tei).

Three protocols over the same models: the seed API (/api/v1), OpenAI's (/v1/embeddings) and
Hugging Face Text Embeddings Inference's (POST /embed, POST /, GET /info). Every embedding
route answers with TEI's timing headers and the model's name, version and fingerprint, and
takes ``x-expect-model-fingerprint`` (409 when another model would answer): ``answer``.

Routes are `async def` on purpose: on Lambda each runs the model inline on the event loop
instead of hopping to a worker thread (docs/performance.md, "Smaller findings", says what a
hop costs); one Lambda process serves one request at a time, and ONNX Runtime parallelizes
inside a run. The local server (LAMINA_COALESCE=true, `make serve`) runs them in worker
threads instead, so that requests arriving together share one model run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Query, Request, Response

from lamina.api.app import SCHEMA_REF, model_app
from lamina.api.embeddings import call
from lamina.api.embeddings import schemas as s
from lamina.api.embeddings.service import EmbeddingService
from lamina.api.errors import TEI_PATHS_STATE, ErrorBody
from lamina.api.jobs import service as jobs
from lamina.api.jobs.schemas import JobStatusResponse
from lamina.api.schemas import HealthResponse
from lamina.api.search import schemas as search_schemas
from lamina.api.search.service import SearchService, index_for
from lamina.api.tei import service as tei
from lamina.api.tei.schemas import TEI_ERROR_SCHEMA, TeiEmbedRequest, TeiInfo

served = model_app(
    EmbeddingService,
    title="lamina embeddings",
    description="Text embeddings from ONNX models (one or several; `model` picks one): the "
    "seed API (/api/v1), an OpenAI-compatible API (/v1), Hugging Face Text Embeddings "
    "Inference's API (/embed, /info) and a health check.",
    outcomes_path="/api/v1/outcomes",
)
app = served.app
Service = Annotated[EmbeddingService, Depends(served.slot.dep)]


def _index(service: Service) -> Any:
    """The vector index of this function's settings (lamina.api.search)."""
    return index_for(service.settings)


Index = Annotated[Any, Depends(_index)]
# The fingerprint precondition, read in ``answer``: a header of every embedding route, a
# 64-hex-digit string when sent (422 otherwise), documented here once.
EXPECT_PARAMETER: dict[str, Any] = {
    "parameters": [
        {
            "name": call.EXPECT_HEADER,
            "in": "header",
            "required": False,
            "description": "The fingerprint (sha256, GET /api/v1/model-info's sha256) of the "
            "model the caller expects; 409 model_mismatch when another model would answer.",
            "schema": {"type": "string", "pattern": call.FINGERPRINT_PATTERN},
        }
    ]
}
COMPUTED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Successful Response", "headers": call.RESPONSE_HEADERS},
    409: {
        "description": "The model that would answer is not the one x-expect-model-fingerprint "
        "names (model_mismatch; the message names both).",
        "content": {
            "application/json": {"schema": {"$ref": SCHEMA_REF.format(model=ErrorBody.__name__)}}
        },
    },
}
# What every embedding route declares: its headers, its 409, the fingerprint header.
COMPUTING: dict[str, Any] = {"responses": COMPUTED, "openapi_extra": EXPECT_PARAMETER}
_COALESCE: bool = served.settings.coalesce
_limiter: anyio.CapacityLimiter | None = None
T = TypeVar("T")


async def answer(request: Request, response: Response, fn: Callable[..., T], *args: Any) -> T:
    """Run a service call with its account (headers, fingerprint check): inline, or in a
    worker thread when the local server coalesces requests."""
    global _limiter
    account = call.begin(request.headers.get(call.EXPECT_HEADER))
    if _COALESCE:
        if _limiter is None:  # made on the event loop; as many threads as clients waiting
            _limiter = anyio.CapacityLimiter(call.concurrent_requests(served.settings))
        result = await anyio.to_thread.run_sync(lambda: fn(*args), limiter=_limiter)
    else:
        result = fn(*args)
    response.headers.update(account.headers())
    return result


@app.post("/api/v1/embed", tags=["embeddings"], **COMPUTING)
async def embed(
    req: s.EmbedRequest, service: Service, request: Request, response: Response
) -> s.EmbedResponse:
    return await answer(request, response, service.embed, req)


@app.post(
    "/api/v1/embed-batch", tags=["embeddings"], responses=COMPUTED, openapi_extra=EXPECT_PARAMETER
)
async def embed_batch(
    req: s.EmbedBatchRequest, service: Service, request: Request, response: Response
) -> s.EmbedBatchResponse:
    return await answer(request, response, service.embed_batch, req)


@app.get("/api/v1/model-info", tags=["ops"])
async def model_info(
    service: Service,
    model: Annotated[
        str | None,
        Query(description="A served model's name or upstream id; unset: the default model."),
    ] = None,
) -> s.ModelInfoResponse:
    return service.model_info(model)


@app.post(
    "/api/v1/similarity", tags=["embeddings"], responses=COMPUTED, openapi_extra=EXPECT_PARAMETER
)
async def similarity(
    req: s.SimilarityRequest, service: Service, request: Request, response: Response
) -> s.SimilarityResponse:
    return await answer(request, response, service.similarity, req)


@app.post(
    "/api/v1/tokenize", tags=["embeddings"], responses=COMPUTED, openapi_extra=EXPECT_PARAMETER
)
async def tokenize(
    req: s.TokenizeRequest, service: Service, request: Request, response: Response
) -> s.TokenizeResponse:
    return await answer(request, response, service.tokenize, req)


@app.post("/v1/embeddings", tags=["openai"], **COMPUTING)
async def openai_embeddings(
    req: s.OpenAIEmbeddingsRequest, service: Service, request: Request, response: Response
) -> s.OpenAIEmbeddingsResponse:
    return await answer(request, response, service.openai_embeddings, req)


@app.get("/v1/models", tags=["openai"])
async def openai_models(service: Service) -> s.OpenAIModelList:
    return service.openai_models()


# --- Hugging Face Text Embeddings Inference (TEI) -------------------------------------------

TEI_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "description": description,
        "content": {"application/json": {"schema": TEI_ERROR_SCHEMA}},
    }
    for code, description in {
        400: "Invalid JSON.",
        404: "Unknown model.",
        409: "Another model than x-expect-model-fingerprint names would answer.",
        413: "Body over the configured limit.",
        415: "Body is not JSON.",
        422: "Input failed validation.",
        500: "Unexpected server error.",
        503: "The model is not loaded.",
    }.items()
}


async def _tei_embed(
    req: TeiEmbedRequest, service: Service, request: Request, response: Response
) -> list[list[float]]:
    """TEI's /embed: one vector per input, in order; TEI's error body on failure."""
    return await answer(request, response, tei.embed, service, req)


setattr(app.state, TEI_PATHS_STATE, tei.TEI_PATHS)  # their errors have TEI's body
for path in ("/embed", "/"):
    app.add_api_route(
        path,
        _tei_embed,
        methods=["POST"],
        tags=["tei"],
        responses={**COMPUTED, **TEI_ERRORS},
        openapi_extra=EXPECT_PARAMETER,
        response_model=list[list[float]],
        name=f"tei_embed{path.replace('/', '_')}",
        summary="Embed (TEI)",
    )


@app.get("/", tags=["tei"], responses=TEI_ERRORS)
async def tei_health(service: Service) -> HealthResponse:
    """TEI's GET / (its health check, where clients of an endpoint probe): as /health."""
    return service.health()


@app.get("/info", tags=["tei"], responses=TEI_ERRORS)
async def tei_info(service: Service) -> TeiInfo:
    """TEI's /info: the default model and this deployment's limits."""
    return tei.info(service)


@app.get("/api/v1/jobs/{job_id}", tags=["jobs"])
def job_status(job_id: jobs.JobId, store: jobs.JobStore, request: Request) -> JobStatusResponse:
    """A batch job's status and counts (from jobs/<job_id>/manifest.json; no model needed).
    With IAM auth, only the identity that uploaded the input sees its job (404 otherwise).

    Sync on purpose: the S3 read runs in FastAPI's thread pool, not on the event loop.
    """
    return jobs.job_status(store, job_id, jobs.caller_identity(request))


# --- vector search (lamina.api.search: why it lives on this function) ----------------------
# Sync on purpose: the database round trips run in FastAPI's thread pool.
SEARCH_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "description": why,
        "content": {
            "application/json": {"schema": {"$ref": SCHEMA_REF.format(model=ErrorBody.__name__)}}
        },
    }
    for code, why in (
        (
            404,
            "No such collection (collection_not_found), or none of the liked items "
            "(item_not_found).",
        ),
        (409, "The collection was made by a model this function does not serve (model_mismatch)."),
        (
            503,
            "Search is not configured (search_not_configured), or the index does not "
            "answer (index_unavailable, with a Retry-After header).",
        ),
    )
}


@app.post("/api/v1/search", tags=["search"], responses=SEARCH_ERRORS)
def search(
    req: search_schemas.SearchRequest, service: Service, index: Index
) -> search_schemas.SearchResponse:
    """The items of a collection most similar to a text (embedded by the collection's
    model) or a vector, optionally filtered by metadata."""
    return SearchService(service, index).search(req)


@app.post("/api/v1/recommend", tags=["search"], responses=SEARCH_ERRORS)
def recommend(
    req: search_schemas.RecommendRequest, service: Service, index: Index
) -> search_schemas.SearchResponse:
    """Items like the ones a user liked (and unlike the disliked), from their stored vectors."""
    return SearchService(service, index).recommend(req)


@app.get("/api/v1/collections", tags=["search"], responses=SEARCH_ERRORS)
def collections(service: Service, index: Index) -> search_schemas.CollectionList:
    """Every collection: its model, dimension, item count and whether it is indexed."""
    return SearchService(service, index).collections()
