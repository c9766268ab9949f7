"""Request and response models of text classification and zero-shot; described for OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from lamina.api import schemas as s

DEFAULT_TOP_K = 5
ZERO_SHOT_TEMPERATURE = 0.05

# --- request and response models --------------------------------------------------------


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StrictStr | None = Field(
        default=None, description="One text (send text or texts).", examples=["Hi, who are you?"]
    )
    texts: list[StrictStr] | None = Field(
        default=None, min_length=1, description="Several texts, answered in order."
    )
    top_k: int | None = Field(
        default=DEFAULT_TOP_K,
        ge=1,
        description="How many labels per text, most likely first (capped at the number of "
        "labels); null: every label. Confidences are over all labels, so the full list sums "
        "to 1.",
    )
    truncate: bool = s.TRUNCATE

    @model_validator(mode="after")
    def _one_of(self) -> ClassifyRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("send exactly one of text or texts")
        return self


class ClassifyResponse(BaseModel):
    predictions: list[list[s.LabelScore]] = Field(
        description="Per text, in input order: labels with confidences, most likely first."
    )
    model: str = Field(description="Model name.")
    model_version: str = Field(description="Model version.")
    tokens: list[int] = Field(description="Tokens the model read per text.")
    truncated: list[bool] = Field(description="Per text: whether it was cut at the limit.")


class ZeroShotRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(description="The text to label.", examples=["My card was stolen"])
    labels: list[StrictStr] = Field(
        min_length=1,
        description="Candidate labels (distinct), in any words.",
        examples=[["banking", "travel", "cooking"]],
    )
    multi_label: bool = Field(
        default=False,
        description="false: the labels compete, scores are a softmax over them and sum to 1. "
        "true: each label is scored on its own (its cosine similarity, clipped to 0..1).",
    )
    hypothesis_template: StrictStr = Field(
        default="{}",
        description="How a label is phrased before it is embedded; {} is the label, e.g. "
        "'This text is about {}.'",
    )
    temperature: Annotated[float, Field(gt=0, le=10)] = Field(
        default=ZERO_SHOT_TEMPERATURE,
        description="Softmax temperature over cosine similarities (single-label only).",
    )


class ZeroShotScore(BaseModel):
    label: str = Field(description="A label of the request.")
    score: float = Field(ge=0, le=1, description="The label's score (see multi_label).")
    similarity: float = Field(description="Cosine similarity of text and label, -1..1.")


class ZeroShotResponse(BaseModel):
    labels: list[ZeroShotScore] = Field(description="Every label, highest score first.")
    multi_label: bool = Field(description="Whether labels were scored independently.")
    model: str = Field(description="Model whose embeddings were compared.")
    model_version: str = Field(description="Model version.")


class ClassifierInfo(BaseModel):
    name: str = Field(description="Model name.")
    version: str = Field(description="Model version.")
    task: str = Field(description="text-classification.")
    labels: list[str] = Field(description="Every label the model scores, in column order.")
    max_seq_length: int = Field(description="Token limit, special tokens included.")
    sha256: str = Field(description="Fingerprint of the model's files (manifest digest).")
    source: dict[str, str] = Field(description="Where the weights came from, and license.")
    evaluation: dict[str, Any] | None = Field(description="Build-time checks and their scores.")
    zero_shot: bool = Field(description="Whether /api/v1/classify/zero-shot is available.")
