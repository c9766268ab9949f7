"""Routes of the image classification function. Logic lives in lamina.api.images.service.

``POST /api/v1/classify-image`` takes either body:

- JSON (``application/json``): ``{"image": "<base64>"}`` or ``{"images": [...]}``, exactly
  one of them, and ``"top_k"`` (default 5);
- the image itself (``image/png`` or ``image/jpeg``), with ``?top_k=`` (default 5). The
  HTTP API delivers a binary body base64-encoded (``isBase64Encoded``) and Mangum decodes
  it. The bytes are decoded by what they are, not by the declared type: a JPEG sent as
  ``image/png`` is read as the JPEG it is. Any other type (``image/gif``...) is a 415 from
  the request guard before the route runs.

Routes are ``async def`` like the embedding function's: the model runs inline on the event
loop; one Lambda process serves one request at a time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from lamina.api.app import model_app
from lamina.api.images.schemas import (
    CLASSIFY_IMAGE_BODY,
    DEFAULT_TOP_K,
    IMAGE_TYPES,
    ClassifyImageResponse,
    ImageModelInfoResponse,
)
from lamina.api.images.service import ImageService

served = model_app(
    ImageService,
    title="lamina image classification",
    description="Image classification from an ONNX model: PNG or JPEG in (base64 JSON or "
    "the raw image), the most likely labels out.",
    binary_types=IMAGE_TYPES,
    outcomes_path="/api/v1/classify-image/outcomes",
)
app = served.app
Service = Annotated[ImageService, Depends(served.slot.dep)]


@app.get("/api/v1/model-info", tags=["ops"])
@app.get("/api/v1/classify-image/model-info", tags=["ops"])
async def model_info(service: Service) -> ImageModelInfoResponse:
    """The model, its labels, image spec and build-time evaluation. Both paths answer: on the
    stack's shared HTTP API, /api/v1/model-info belongs to the embedding function."""
    return service.model_info()


@app.post("/api/v1/classify-image", tags=["images"], openapi_extra=CLASSIFY_IMAGE_BODY)
async def classify_image(
    request: Request,
    service: Service,
    top_k: Annotated[
        int | None,
        Query(
            ge=1,
            description=f"Raw image bodies only: labels to return (default {DEFAULT_TOP_K}). "
            "With a JSON body it is a 422 (send top_k in the body).",
        ),
    ] = None,
) -> ClassifyImageResponse:
    """Classify one image (raw body or `image`) or several (`images`)."""
    body = await request.body()
    return service.classify_body(body, request.headers.get("content-type"), top_k)
