"""Text classification service: request models in, response models out. No HTTP here.

Routes in ``functions/classify/app.py`` call one method each. The classifier is a
``text-classification`` model (``lamina.inference.classifier``); zero-shot uses the same
graph's sentence embeddings (``lamina.inference.zeroshot``, which caches the labels'
embeddings while the container is warm).
"""

from __future__ import annotations

from collections.abc import Mapping

from lamina.api import schemas as s
from lamina.api.classify.schemas import (
    ClassifierInfo,
    ClassifyRequest,
    ClassifyResponse,
    ZeroShotRequest,
    ZeroShotResponse,
    ZeroShotScore,
)
from lamina.api.monitor import Monitor
from lamina.api.validation import (
    check_request_chars,
    check_request_tokens,
    check_text,
    check_texts,
)
from lamina.api.variants import Variants
from lamina.errors import (
    ConfigurationError,
    InvalidInputError,
    ModelNotFoundError,
    TextTooLongError,
)
from lamina.inference import zeroshot
from lamina.inference.classifier import OnnxTextClassifier
from lamina.inference.load import load_candidates, load_model
from lamina.inference.zeroshot import ZeroShotClassifier
from lamina.observability import Telemetry
from lamina.settings import Settings

# --- the service ------------------------------------------------------------------------


class DuplicateLabelError(InvalidInputError):
    code = "duplicate_label"


class ClassifyService:
    def __init__(
        self,
        model: OnnxTextClassifier,
        settings: Settings,
        telemetry: Telemetry,
        candidate: OnnxTextClassifier | None = None,
    ) -> None:
        self.model = model  # the control: what health and model-info describe
        self.settings = settings
        self.telemetry = telemetry
        if candidate is not None and candidate.can_embed != model.can_embed:
            raise ConfigurationError(
                f"the A/B candidate of {model.name!r} "
                + ("cannot" if model.can_embed else "can")
                + " do zero-shot and the served version "
                + ("can" if model.can_embed else "cannot")
                + ": a candidate must answer the same requests"
            )
        self.variants = Variants(model, candidate, settings.ab_weight)
        self._zero_shot = {
            id(m): ZeroShotClassifier(m.manifest, m.embed)
            for m in (model, candidate)
            if m is not None and m.can_embed
        }
        self.zero_shot_model = self._zero_shot.get(id(model))
        self.monitor = Monitor.from_settings(settings, telemetry)
        if candidate is not None:  # metrics carry the version that answered
            telemetry.serving(model.manifest, default=True)

    @classmethod
    def load(cls, settings: Settings, telemetry: Telemetry) -> ClassifyService:
        """Cold start: fetch (if in S3), verify, load and warm the classifier once (and an
        A/B test's candidate, LAMINA_AB_CANDIDATES)."""
        model = load_model(OnnxTextClassifier, settings, telemetry)
        candidates = load_candidates(
            OnnxTextClassifier, settings, telemetry, {model.manifest.name: model}
        )
        return cls(model, settings, telemetry, candidates.get(model.manifest.name))

    @property
    def ab_tests(self) -> Mapping[str, Variants[OnnxTextClassifier]]:
        return {self.variants.name: self.variants}

    def _pick(self) -> OnnxTextClassifier:
        """The version that answers this request (the control without an A/B test)."""
        model = self.variants.pick()
        if self.variants.testing:
            self.telemetry.serving(model.manifest)
        return model

    def classify(self, req: ClassifyRequest) -> ClassifyResponse:
        if req.texts is not None:
            texts, param = req.texts, "texts"
            check_texts(texts, self.settings, param)  # LAMINA_MAX_REQUEST_CHARS too
        else:
            assert req.text is not None  # the request model checks one of them is set
            texts, param = [req.text], "text"
            check_text(req.text, self.settings, param)
        model = self._pick()
        try:
            result = model.classify(texts, top_k=req.top_k, truncate=req.truncate)
        except TextTooLongError as exc:
            exc.param = param if param == "text" else f"{param}[{exc.index}]"
            raise
        self.telemetry.stages(result.timings, len(texts), sum(result.token_counts))
        self.monitor.texts(
            model.manifest,
            texts,
            result.token_counts,
            result.truncated,
            result.unknown_tokens,
            labels=[row[0].label for row in result.labels],
            confidences=[row[0].confidence for row in result.labels],
        )
        return ClassifyResponse(
            predictions=[
                [s.LabelScore(label=x.label, confidence=x.confidence) for x in row]
                for row in result.labels
            ],
            model=model.name,
            model_version=model.manifest.version,
            tokens=result.token_counts,
            truncated=result.truncated,
        )

    def zero_shot(self, req: ZeroShotRequest) -> ZeroShotResponse:
        if self.zero_shot_model is None:
            raise ModelNotFoundError(f"{self.model.name} has no sentence embeddings for zero-shot")
        model = self._pick()
        zero_shot_model = self._zero_shot[id(model)]  # both versions can (checked at load)
        settings = self.settings
        check_text(req.text, settings, "text")
        check_texts(
            req.labels,
            settings,
            "labels",
            max_items=settings.max_labels,
            max_chars=settings.max_label_chars,
        )
        template = req.hypothesis_template
        if "{}" not in template:
            raise InvalidInputError(
                "hypothesis_template must contain {} where the label goes",
                param="hypothesis_template",
            )
        check_text(template, settings, "hypothesis_template", max_chars=settings.max_template_chars)
        # Every limit of the phrases is checked from the lengths before any phrase is made:
        # the template is expanded once per label, so its {}s multiply the labels' length.
        chars = len(req.text) + sum(zeroshot.phrase_chars(template, x) for x in req.labels)
        what = "text and labels as phrased by hypothesis_template"
        check_request_chars(chars, settings, "labels", what)
        seen: dict[str, int] = {}
        for index, label in enumerate(req.labels):
            if label in seen:
                raise DuplicateLabelError(
                    f"labels[{index}] repeats labels[{seen[label]}] ({label!r})",
                    param=f"labels[{index}]",
                )
            seen[label] = index
        phrases = [zeroshot.phrase(template, label) for label in req.labels]
        tokens = model.tokenize_texts([req.text, *phrases]).encoded.lengths
        check_request_tokens(sum(tokens), settings, "labels", what)
        handled = zero_shot_model.handle(
            zeroshot.ZeroShotRequest(
                req.text, req.labels, req.multi_label, req.hypothesis_template, req.temperature
            )
        )
        self.telemetry.stages(handled.timings, 1 + len(req.labels))
        return ZeroShotResponse(
            labels=[
                ZeroShotScore(label=x.label, score=x.score, similarity=x.similarity)
                for x in handled.output
            ],
            multi_label=req.multi_label,
            model=model.name,
            model_version=model.manifest.version,
        )

    def health(self) -> s.HealthResponse:
        return s.HealthResponse.serving(self.model.manifest)

    def model_info(self) -> ClassifierInfo:
        m = self.model.manifest
        return ClassifierInfo(
            name=m.name,
            version=m.version,
            task=m.task,
            labels=self.model.labels,
            max_seq_length=self.model.max_seq_length,
            sha256=m.digest,
            source=m.source.model_dump(),
            evaluation=m.evaluation.model_dump() if m.evaluation else None,
            zero_shot=self.model.can_embed,
        )
