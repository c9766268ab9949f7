"""Image classification service: request models in, response models out.

Routes in ``functions/image_classify/app.py`` call one method each.

Two ways to send images to ``POST /api/v1/classify-image`` (``functions/image_classify``):

- JSON: ``{"image": "<base64>"}`` or ``{"images": ["<base64>", ...]}`` (exactly one of
  them) and ``"top_k"``; answered by ``classify``;
- the raw PNG or JPEG bytes as the body (Content-Type ``image/png`` or ``image/jpeg``) and
  ``?top_k=``; answered by ``classify_bytes``. Behind the HTTP API a binary body arrives
  base64-encoded and Mangum decodes it, so the service always sees the image's bytes.

Errors name the image at fault: ``image`` for one, ``images[i]`` in a batch.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lamina.api import schemas as s
from lamina.api.images.schemas import (
    _DATA_URL,
    DEFAULT_TOP_K,
    IMAGE_TYPES,
    ClassifyImageRequest,
    ClassifyImageResponse,
    ImageModelInfoResponse,
)
from lamina.api.middleware import media_type
from lamina.api.validation import TooManyItemsError
from lamina.api.variants import Variants
from lamina.errors import InvalidImageError, InvalidInputError
from lamina.inference.image import ImageClassification, OnnxImageClassifier
from lamina.inference.load import load_candidates, load_model
from lamina.inference.session import runtime_info
from lamina.observability import Telemetry
from lamina.settings import Settings


def decode_base64(value: str, param: str) -> bytes:
    """The bytes of a base64 field; InvalidImageError naming ``param`` if it is not base64."""
    text = value.strip()
    if text.startswith(_DATA_URL):
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            raise InvalidImageError(f"{param}: a data URL must be ;base64 encoded", param=param)
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImageError(f"{param} is not valid base64: {exc}", param=param) from exc


def parse_request(body: bytes, query_top_k: int | None = None) -> ClassifyImageRequest:
    """A JSON body -> the request. The route takes raw image bodies too, so it cannot let
    FastAPI parse the body; invalid JSON and schema errors still go through FastAPI's
    validation handler (400 invalid_json, 422 validation_error naming the field)."""
    if query_top_k is not None:
        raise InvalidInputError(
            "with a JSON body, send top_k in the body (?top_k= is for raw image bodies)",
            param="top_k",
        )
    try:
        return ClassifyImageRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


class ImageService:
    def __init__(
        self,
        classifier: OnnxImageClassifier,
        settings: Settings,
        telemetry: Telemetry,
        candidate: OnnxImageClassifier | None = None,
    ) -> None:
        self.classifier = classifier  # the control: what health and model-info describe
        self.settings = settings
        self.telemetry = telemetry
        self.variants = Variants(classifier, candidate, settings.ab_weight)
        if candidate is not None:  # metrics carry the version that answered
            telemetry.serving(classifier.manifest, default=True)

    @classmethod
    def load(cls, settings: Settings, telemetry: Telemetry) -> ImageService:
        """Cold start: fetch (if in S3), verify, load and warm the model; record the time
        (and an A/B test's candidate, LAMINA_AB_CANDIDATES)."""
        classifier = load_model(OnnxImageClassifier, settings, telemetry)
        name = classifier.manifest.name
        candidates = load_candidates(OnnxImageClassifier, settings, telemetry, {name: classifier})
        return cls(classifier, settings, telemetry, candidates.get(name))

    @property
    def ab_tests(self) -> Mapping[str, Variants[OnnxImageClassifier]]:
        return {self.variants.name: self.variants}

    # --- core ---------------------------------------------------------------------------

    def _classify(self, images: list[bytes], top_k: int, single: bool) -> ClassifyImageResponse:
        classifier = self.variants.pick()
        if self.variants.testing:
            self.telemetry.serving(classifier.manifest)
        result = classifier.classify(images, top_k, single=single)
        self.telemetry.stages(result.timings, items=len(images))
        tops = [scores[0] for scores in result.predictions if scores]
        self.telemetry.predictions(
            classifier.manifest, [x.label for x in tops], [x.confidence for x in tops]
        )
        return self._response(result, classifier)

    def _response(
        self, result: ImageClassification, classifier: OnnxImageClassifier
    ) -> ClassifyImageResponse:
        manifest = classifier.manifest
        return ClassifyImageResponse(
            predictions=[
                [s.LabelScore(label=x.label, confidence=x.confidence) for x in scores]
                for scores in result.predictions
            ],
            model=manifest.name,
            model_version=manifest.version,
        )

    # --- API ----------------------------------------------------------------------------

    def classify(self, req: ClassifyImageRequest) -> ClassifyImageResponse:
        """A JSON request: one base64 image or a list of them."""
        if req.image is not None:
            return self._classify([decode_base64(req.image, "image")], req.top_k, single=True)
        assert req.images is not None  # the request's validator wants exactly one
        if len(req.images) > self.settings.max_batch_images:
            raise TooManyItemsError(
                f"{len(req.images)} images sent; this deployment accepts at most "
                f"{self.settings.max_batch_images} per request",
                param="images",
            )
        images = [decode_base64(item, f"images[{i}]") for i, item in enumerate(req.images)]
        return self._classify(images, req.top_k, single=False)

    def classify_body(
        self, body: bytes, content_type: str | None, top_k: int | None
    ) -> ClassifyImageResponse:
        """The route's body as it came: a raw PNG or JPEG (by its declared type; ``top_k``
        from the query) or JSON (``top_k`` in the body)."""
        if media_type(content_type) in IMAGE_TYPES:
            return self.classify_bytes(body, DEFAULT_TOP_K if top_k is None else top_k)
        return self.classify(parse_request(body, top_k))

    def classify_bytes(self, body: bytes, top_k: int = DEFAULT_TOP_K) -> ClassifyImageResponse:
        """A raw PNG or JPEG body (decoded by its content, whatever its declared type)."""
        return self._classify([body], top_k, single=True)

    def health(self) -> s.HealthResponse:
        return s.HealthResponse.serving(self.classifier.manifest)

    def model_info(self) -> ImageModelInfoResponse:
        m = self.classifier.manifest
        return ImageModelInfoResponse(
            name=m.name,
            version=m.version,
            task="image-classification",
            labels=list(self.classifier.labels),
            image=self.classifier.spec,
            accepted_formats=sorted(IMAGE_TYPES, reverse=True),
            evaluation=m.evaluation,
            sha256=m.digest,
            source=m.source.model_dump(),
            runtime=runtime_info(self.settings.intra_op_threads),
            limits={
                "max_batch_items": self.settings.max_batch_images,
                "max_batch_images": self.settings.max_batch_images,
                "max_image_pixels": self.settings.max_image_pixels,
                "max_request_pixels": self.settings.max_request_pixels,
                "max_body_bytes": self.settings.max_body_bytes,
            },
        )
