"""Request and response models of image classification; described for OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    field_validator,
    model_validator,
)

from lamina.api import schemas as s
from lamina.models.manifest import EvaluationReport, ImageSpec

DEFAULT_TOP_K = 5
_DATA_URL = "data:"
BASE64_IMAGE = (
    "A PNG or JPEG file, base64-encoded (standard alphabet; whitespace and a "
    "`data:image/...;base64,` prefix are accepted)."
)


class ClassifyImageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=s.exactly_one("image", "images"))

    image: StrictStr | None = Field(
        default=None,
        json_schema_extra=s.without_null(),
        description=f"One image. {BASE64_IMAGE} Send exactly one of this and `images`. Not "
        "an image, or not PNG or JPEG: 422 invalid_image; more than LAMINA_MAX_IMAGE_PIXELS "
        "or LAMINA_MAX_REQUEST_PIXELS pixels (width x height, read from the header before "
        "decoding): 413 image_too_large or request_too_many_pixels.",
    )
    images: Annotated[list[StrictStr], Field(min_length=1)] | None = Field(
        default=None,
        description=f"Several images, answered in order. Each: {BASE64_IMAGE} "
        "Send exactly one of this and `image`; at most the deployment's "
        "LAMINA_MAX_BATCH_IMAGES (this document's maxItems; 422 too_many_items), each at "
        "most LAMINA_MAX_IMAGE_PIXELS pixels (413 image_too_large) and all together at most "
        "LAMINA_MAX_REQUEST_PIXELS (413 request_too_many_pixels), read from the headers "
        "before any image is decoded.",
        json_schema_extra=s.without_null(**s.IMAGES),
    )
    top_k: s.PositiveInt = Field(
        default=DEFAULT_TOP_K,
        description="How many labels to return per image, most likely first; capped at the "
        "number of labels (a larger value returns them all).",
    )

    _not_null = field_validator("image", "images", mode="before")(s.not_null)

    @model_validator(mode="after")
    def _exactly_one(self) -> ClassifyImageRequest:
        if (self.image is None) == (self.images is None):
            raise ValueError("send exactly one of `image` (one) and `images` (a list)")
        return self


class ClassifyImageResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    predictions: list[list[s.LabelScore]] = Field(
        description="Per image, in request order: the top_k labels, most likely first."
    )
    model: str = Field(description="Model name.")
    model_version: str = Field(description="Model version.")


class ImageModelInfoResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str = Field(description="Model name.")
    version: str = Field(description="Model version.")
    task: Literal["image-classification"] = Field(description="What the model does.")
    labels: list[str] = Field(description="Every label the model can answer, in column order.")
    image: ImageSpec = Field(description="How an image becomes the model's input.")
    accepted_formats: list[str] = Field(description="Image formats the service decodes.")
    evaluation: EvaluationReport | None = Field(description="How it was checked at build time.")
    sha256: str = Field(
        description="Fingerprint of the model: sha256 over every file's path and sha256 "
        "(manifest.json lists them)."
    )
    source: dict[str, str] = Field(description="Where the model came from, and its license.")
    runtime: dict[str, str | int] = Field(description="Inference runtime and its settings.")
    limits: dict[str, int] = Field(description="Request limits of this deployment.")


# Media types a raw request body may have besides JSON (the request guard lets them through).
IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})

_BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
# The classify route's body in OpenAPI: the route reads the body itself (JSON or an image),
# so FastAPI cannot describe it from a parameter.
CLASSIFY_IMAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ClassifyImageRequest.model_json_schema()},
            **{media: _BINARY for media in sorted(IMAGE_TYPES)},
        },
    }
}
