"""Request and response models of text classification and zero-shot; described for OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    field_validator,
    model_validator,
)

from lamina.api import schemas as s

DEFAULT_TOP_K = 5
ZERO_SHOT_TEMPERATURE = 0.05
# The softmax temperature's range: below MIN the scores of a tie would be all that differs
# (and 5e-324 made the softmax NaN); above MAX every label scores the same.
MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 10.0


# --- request and response models --------------------------------------------------------


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=s.exactly_one("text", "texts"))

    text: s.Text | None = Field(
        default=None,
        json_schema_extra=s.without_null(),
        description="One text (send exactly one of text and texts). Not empty or only "
        "whitespace; at most LAMINA_MAX_TEXT_CHARS characters.",
        examples=["Hi, who are you?"],
    )
    texts: Annotated[list[s.Text], Field(min_length=1)] | None = Field(
        default=None,
        description="Several texts, answered in order: at most LAMINA_MAX_BATCH_ITEMS, of "
        "at most LAMINA_MAX_REQUEST_CHARS characters together (422 request_too_many_chars).",
        examples=[["Hi, who are you?", "What is the weather tomorrow?"]],
        json_schema_extra=s.without_null(**s.BATCH),
    )
    top_k: s.PositiveInt | None = Field(
        default=DEFAULT_TOP_K,
        description="How many labels per text, most likely first (capped at the number of "
        "labels); null: every label. Confidences are over all labels, so the full list sums "
        "to 1.",
    )
    truncate: StrictBool = s.TRUNCATE

    _not_null = field_validator("text", "texts", mode="before")(s.not_null)

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

    text: s.Text = Field(
        description="The text to label: not empty or only whitespace; at most "
        "LAMINA_MAX_TEXT_CHARS characters.",
        examples=["My card was stolen"],
    )
    labels: list[s.LabelText] = Field(
        min_length=1,
        description="Candidate labels, distinct (422 duplicate_label), in any words: at most "
        "LAMINA_MAX_LABELS (422 too_many_items), each not empty or only whitespace and at "
        "most LAMINA_MAX_LABEL_CHARS characters (422 text_too_many_chars). The text and every "
        "label as phrased by hypothesis_template are at most LAMINA_MAX_REQUEST_CHARS "
        "characters together (422 request_too_many_chars, counted before any phrase is made) "
        "and LAMINA_MAX_REQUEST_TOKENS tokens (422 request_too_many_tokens, counted before the "
        "model runs).",
        examples=[["banking", "travel", "cooking"]],
        json_schema_extra={"uniqueItems": True, **s.LABELS},
    )
    multi_label: StrictBool = Field(
        default=False,
        description="false: the labels compete, scores are a softmax over them and sum to 1. "
        "true: each label is scored on its own (its cosine similarity, clipped to 0..1).",
    )
    hypothesis_template: s.TemplateText = Field(
        default="{}",
        description="How a label is phrased before it is embedded; {} is the label (every {} "
        "is replaced), e.g. 'This text is about {}.'; at most LAMINA_MAX_TEMPLATE_CHARS "
        "characters (422 text_too_many_chars). Each {} adds a label's characters to the "
        "request's LAMINA_MAX_REQUEST_CHARS.",
    )
    temperature: StrictFloat = Field(
        default=ZERO_SHOT_TEMPERATURE,
        ge=MIN_TEMPERATURE,
        le=MAX_TEMPERATURE,
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
