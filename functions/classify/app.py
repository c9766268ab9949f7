"""Routes of the text classification function. Logic lives in lamina.api.classify.service.

The model is a text-classification directory (by default the intent classifier built from
the PyPI package rag-intent-classifier: `lamina models build --model intent-classifier`).
Zero-shot uses the same graph's sentence embeddings, so it needs no second model.
The routes sit under /api/v1/classify so that they share the HTTP API with the embedding
function's (/health there belongs to the embedding function; this one serves local runs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from lamina.api.app import model_app
from lamina.api.classify.schemas import (
    ClassifierInfo,
    ClassifyRequest,
    ClassifyResponse,
    ZeroShotRequest,
    ZeroShotResponse,
)
from lamina.api.classify.service import ClassifyService

served = model_app(
    ClassifyService,
    title="lamina text classification",
    description="Labels with confidences from an ONNX text classifier, and zero-shot "
    "labels by embedding similarity.",
    outcomes_path="/api/v1/classify/outcomes",
)
app = served.app
Service = Annotated[ClassifyService, Depends(served.slot.dep)]


@app.post("/api/v1/classify", tags=["classification"])
async def classify(req: ClassifyRequest, service: Service) -> ClassifyResponse:
    return service.classify(req)


@app.post("/api/v1/classify/zero-shot", tags=["classification"])
async def zero_shot(req: ZeroShotRequest, service: Service) -> ZeroShotResponse:
    return service.zero_shot(req)


@app.get("/api/v1/classify/model-info", tags=["ops"])
async def model_info(service: Service) -> ClassifierInfo:
    return service.model_info()
