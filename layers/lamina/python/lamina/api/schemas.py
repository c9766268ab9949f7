"""Request and response pieces every API feature shares; every field is described for OpenAPI.

Each feature keeps its own models in ``lamina.api.<feature>.schemas``. Input models only
check shape and type (strict: a number is not a text). Limits that come from settings (item
count, characters) are checked by ``lamina.api.validation``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lamina.inference.embedder import InputType as InputType
from lamina.inference.embedder import LongText as LongText
from lamina.models.manifest import Manifest

TRUNCATE = Field(
    default=True,
    description=(
        "Cut texts longer than the model's token limit (the response says which were cut). "
        "false: reject them with 422 text_too_long instead."
    ),
)


MODEL = Field(
    default=None,
    description="Which served model (GET /v1/models lists them; a model's name or upstream "
    "id, any case). Unset: the deployment's default (LAMINA_DEFAULT_MODEL).",
    examples=["multilingual-e5-small"],
)
INPUT_TYPE = Field(
    default=None,
    description="query or passage: prepend the model's own prompt for that kind of text "
    "(multilingual-e5-small: 'query: ' / 'passage: '; search queries as query, the "
    "documents searched as passage). Unset: the text as sent. Models without prompts "
    "ignore it. The prompt's tokens count in `tokens`/usage.",
)
LONG_TEXT = Field(
    default=None,
    description="What to do with a text longer than the model's token limit: truncate "
    "(cut it; the response says which were cut), reject (422 text_too_long), or split "
    "(embed it as overlapping windows of the limit and return the token-weighted mean of "
    "their vectors; texts may then be up to LAMINA_MAX_SPLIT_TEXT_CHARS characters "
    "together). Unset: truncate, or reject when `truncate` is false.",
)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="ok when the model is loaded and serving.")
    model_loaded: bool = Field(description="Whether the model is loaded.")
    model: str = Field(description="Model name.")
    model_version: str = Field(description="Model version.")

    @classmethod
    def serving(cls, manifest: Manifest) -> HealthResponse:
        """The answer of a function whose model ``manifest`` is loaded and serving."""
        return cls(
            status="ok", model_loaded=True, model=manifest.name, model_version=manifest.version
        )


# --- classification (text and image classifiers share the answer's shape) -------------


class LabelScore(BaseModel):
    label: str = Field(description="A label of the model's labels_file.")
    confidence: float = Field(
        ge=0, le=1, description="The model's probability of this label (all labels sum to 1)."
    )
