"""Routes of the embedding function. Logic lives in lamina.api.embeddings (and jobs).

Routes are `async def` on purpose: each runs the model inline on the event loop instead of
hopping to a worker thread (docs/performance.md, "Smaller findings", says what a hop costs).
One Lambda process serves one request at a time, and ONNX Runtime parallelizes inside a run.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from lamina.api.app import model_app
from lamina.api.embeddings import schemas as s
from lamina.api.embeddings.service import EmbeddingService
from lamina.api.jobs import service as jobs
from lamina.api.jobs.schemas import JobStatusResponse

served = model_app(
    EmbeddingService,
    title="lamina embeddings",
    description="Text embeddings from ONNX models (one or several; `model` picks one): the "
    "seed API (/api/v1), an OpenAI-compatible API (/v1) and a health check.",
)
app = served.app
Service = Annotated[EmbeddingService, Depends(served.slot.dep)]


@app.post("/api/v1/embed", tags=["embeddings"])
async def embed(req: s.EmbedRequest, service: Service) -> s.EmbedResponse:
    return service.embed(req)


@app.post("/api/v1/embed-batch", tags=["embeddings"])
async def embed_batch(req: s.EmbedBatchRequest, service: Service) -> s.EmbedBatchResponse:
    return service.embed_batch(req)


@app.get("/api/v1/model-info", tags=["ops"])
async def model_info(
    service: Service,
    model: Annotated[
        str | None,
        Query(description="A served model's name or upstream id; unset: the default model."),
    ] = None,
) -> s.ModelInfoResponse:
    return service.model_info(model)


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
def job_status(job_id: jobs.JobId, store: jobs.JobStore) -> JobStatusResponse:
    """A batch job's status and counts (from jobs/<job_id>/manifest.json; no model needed).

    Sync on purpose: the S3 read runs in FastAPI's thread pool, not on the event loop.
    """
    return jobs.job_status(store, job_id)
