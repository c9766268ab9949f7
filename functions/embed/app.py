"""Routes of the embedding function. Logic lives in lamina.api.embedding.EmbeddingService.

Routes are `async def` on purpose: each runs the model inline on the event loop instead of
hopping to a worker thread (two hops per request cost ~1 ms, measured in docs/benchmarks.md).
One Lambda process serves one request at a time, and ONNX Runtime parallelizes inside a run.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from lamina.api import deps
from lamina.api import schemas as s
from lamina.api.app import create_app
from lamina.api.embedding import EmbeddingService

settings = deps.settings()
telemetry = deps.telemetry()
deps.load_embedding_service()  # cold start: load and warm the model before the first request

app = create_app(
    settings,
    telemetry,
    title="lamina embeddings",
    description="Text embeddings from an ONNX model: the seed API (/api/v1), "
    "an OpenAI-compatible API (/v1) and a health check.",
)
Service = Annotated[EmbeddingService, Depends(deps.embedding_service_dep)]


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
