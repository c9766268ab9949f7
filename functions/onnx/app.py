"""Routes of the ONNX function: the Open Inference Protocol (KServe v2 REST).

Any ONNX model directory is served by its graph's signature (``LAMINA_MODELS``: several,
comma-separated, each under its manifest's name; else ``MODEL_URI``). Logic lives in
lamina.api.oip.service.OipService. Routes are ``async def``, like the embedding function's: the
model runs inline on the event loop, one request per Lambda process.

``infer`` reads its body itself: JSON with any Content-Type or none (tritonclient sends
none), or the binary tensor data extension (``Inference-Header-Content-Length``;
lamina.api.oip.binary). The OpenAPI document says so (lamina.api.oip.openapi).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from lamina.api.app import model_app
from lamina.api.middleware import request_id
from lamina.api.oip.binary import BINARY_MEDIA_TYPE, HEADER, encode_response, parse_request
from lamina.api.oip.openapi import oip_openapi
from lamina.api.oip.schemas import (
    InferenceResponse,
    ModelMetadataResponse,
    ModelReadyResponse,
    PredictRequest,
    PredictResponse,
    ServerLiveResponse,
    ServerMetadataResponse,
    ServerReadyResponse,
)
from lamina.api.oip.service import OipService, server_metadata

served = model_app(
    OipService,
    title="lamina ONNX models",
    description="Any ONNX model through the Open Inference Protocol (KServe v2 REST): "
    "server and model metadata, health, and inference on typed tensors.",
    outcomes_path="/api/v1/models/outcomes",
)
app = served.app
app.openapi = oip_openapi(app.openapi)  # type: ignore[method-assign]
Service = Annotated[OipService, Depends(served.slot.dep)]
MODEL = "/v2/models/{name}"
VERSIONED = "/v2/models/{name}/versions/{version}"


@app.get("/v2", tags=["oip"])
async def metadata() -> ServerMetadataResponse:
    return server_metadata()


@app.get("/v2/health/live", tags=["oip"])
async def live() -> ServerLiveResponse:
    """200 while the process answers, models or not (a failed load is `ready`'s business)."""
    return ServerLiveResponse(live=True)


@app.get("/v2/health/ready", tags=["oip"])
async def ready(service: Service) -> ServerReadyResponse:
    """200 when every model is loaded; 503 (the slot's error) when the load failed."""
    return ServerReadyResponse(ready=True)


@app.get(MODEL, tags=["oip"], response_model_exclude_none=True)
async def model_metadata(name: str, service: Service) -> ModelMetadataResponse:
    return service.model_metadata(name)


@app.get(VERSIONED, tags=["oip"], response_model_exclude_none=True)
async def model_version_metadata(
    name: str, version: str, service: Service
) -> ModelMetadataResponse:
    return service.model_metadata(name, version)


@app.get(f"{MODEL}/ready", tags=["oip"])
async def model_ready(name: str, service: Service) -> ModelReadyResponse:
    return service.model_ready(name)


@app.get(f"{VERSIONED}/ready", tags=["oip"])
async def model_version_ready(name: str, version: str, service: Service) -> ModelReadyResponse:
    return service.model_ready(name, version)


async def _infer(service: OipService, name: str, version: str | None, request: Request) -> Response:
    parsed = parse_request(await request.body(), request.headers.get(HEADER))
    response, raw = service.infer(name, version, parsed, request_id(request))
    body, length = encode_response(response, raw)
    if length is None:
        return Response(body, media_type="application/json")
    return Response(body, media_type=BINARY_MEDIA_TYPE, headers={HEADER: str(length)})


@app.post(f"{MODEL}/infer", tags=["oip"], response_model=InferenceResponse)
async def infer(name: str, request: Request, service: Service) -> Response:
    return await _infer(service, name, None, request)


@app.post(f"{VERSIONED}/infer", tags=["oip"], response_model=InferenceResponse)
async def infer_version(name: str, version: str, request: Request, service: Service) -> Response:
    return await _infer(service, name, version, request)


@app.post("/api/v1/models/{name}/predict", tags=["sql"])
async def predict(name: str, body: PredictRequest, service: Service) -> PredictResponse:
    """A query model (manifest task sql) with named parameters -> its rows
    (docs/sql-models.md). A bad, missing or unknown parameter is a 422 that names it."""
    return service.predict(name, body)
