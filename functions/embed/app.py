"""Routes of the embedding function. Logic lives in lamina.api.embedding.EmbeddingService.

Routes are `async def` on purpose: each runs the model inline on the event loop instead of
hopping to a worker thread (two hops per request cost ~1 ms, measured in docs/benchmarks.md).
One Lambda process serves one request at a time, and ONNX Runtime parallelizes inside a run.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi import Path as PathParam

from lamina.api import deps
from lamina.api import schemas as s
from lamina.api.app import create_app
from lamina.api.embedding import EmbeddingService
from lamina.batch.jobs import JOB_ID_PATTERN, read_manifest
from lamina.batch.objects import ObjectStore

settings = deps.settings()
telemetry = deps.telemetry()
deps.embedding.load()  # cold start: load and warm the model before the first request

app = create_app(
    settings,
    telemetry,
    title="lamina embeddings",
    description="Text embeddings from an ONNX model: the seed API (/api/v1), "
    "an OpenAI-compatible API (/v1) and a health check.",
)
Service = Annotated[EmbeddingService, Depends(deps.embedding_service_dep)]
JobStore = Annotated[ObjectStore, Depends(deps.job_store)]


@app.get("/health", tags=["ops"])
async def health(service: Service) -> s.HealthResponse:
    return service.health()


@app.post("/api/v1/embed", tags=["embeddings"])
async def embed(req: s.EmbedRequest, service: Service) -> s.EmbedResponse:
    return service.embed(req)


@app.post("/api/v1/embed-batch", tags=["embeddings"])
async def embed_batch(req: s.EmbedBatchRequest, service: Service) -> s.EmbedBatchResponse:
    return service.embed_batch(req)


@app.get("/api/v1/model-info", tags=["ops"])
async def model_info(service: Service) -> s.ModelInfoResponse:
    return service.model_info()


@app.post("/api/v1/similarity", tags=["embeddings"])
async def similarity(req: s.SimilarityRequest, service: Service) -> s.SimilarityResponse:
    return service.similarity(req)


@app.post("/api/v1/tokenize", tags=["embeddings"])
async def tokenize(req: s.TokenizeRequest, service: Service) -> s.TokenizeResponse:
    return service.tokenize(req)


@app.post("/v1/embeddings", tags=["openai"])
async def openai_embeddings(
    req: s.OpenAIEmbeddingsRequest, service: Service
) -> s.OpenAIEmbeddingsResponse:
    return service.openai_embeddings(req)


@app.get("/v1/models", tags=["openai"])
async def openai_models(service: Service) -> s.OpenAIModelList:
    return service.openai_models()


@app.get("/api/v1/jobs/{job_id}", tags=["jobs"])
def job_status(
    job_id: Annotated[
        str,
        PathParam(pattern=JOB_ID_PATTERN, description="The id `lamina jobs submit` printed."),
    ],
    store: JobStore,
) -> s.JobStatusResponse:
    """A batch job's status and counts (from jobs/<job_id>/manifest.json; no model needed).

    Sync on purpose: the S3 read runs in FastAPI's thread pool, not on the event loop.
    """
    m = read_manifest(store, job_id)
    return s.JobStatusResponse(
        job_id=m.job_id,
        status=m.status,
        finished=m.finalized,
        input=m.input.uri,
        input_format=m.input.format,
        output_format=m.output_format,
        counts=s.JobCounts(
            lines=m.lines,
            ok=m.ok,
            failed=m.failed,
            rejected=m.invalid,
            chunks=m.chunks,
            chunks_done=m.chunks_done,
            chunks_failed=m.chunks_failed,
        ),
        model_versions=m.model_versions,
        submitted_at=m.submitted_at,
        started_at=m.started_at,
        finished_at=m.finished_at,
        error=m.error,
        parts=f"jobs/{m.job_id}/parts/",
        errors=f"jobs/{m.job_id}/errors.jsonl",
    )
