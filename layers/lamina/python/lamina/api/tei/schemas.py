"""Request and response models of Hugging Face Text Embeddings Inference's API (TEI), the
part an embedding endpoint's clients call: ``POST /embed`` (and ``POST /``), ``GET /info``.

Field names, defaults and shapes follow TEI's router (``router/src/http/types.rs`` and
``router/src/lib.rs``), so ``huggingface_hub.InferenceClient.feature_extraction`` and other TEI
clients work unchanged. What lamina does not do is left out of the schema, so a request that
asks for it is a 422 rather than silently ignored: token ids as ``inputs`` and truncation from
the left.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from lamina.api.schemas import BATCH, MODEL, REQUEST_BUDGET, PositiveInt, Text

TEI_ERROR_TYPES = ("unhealthy", "backend", "overloaded", "validation", "tokenizer", "empty")

# TEI's error body, {"error": ..., "error_type": ...}, inline in the OpenAPI document (no
# component, so no pydantic adapter is built per route at cold start).
TEI_ERROR_SCHEMA: dict[str, Any] = {
    "title": "TeiError",
    "type": "object",
    "required": ["error", "error_type"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong, for a human."},
        "error_type": {"type": "string", "enum": list(TEI_ERROR_TYPES)},
    },
}


class TeiEmbedRequest(BaseModel):
    # TEI ignores fields it does not know (serde's default); so does lamina here.
    model_config = ConfigDict(extra="ignore")

    inputs: Text | Annotated[list[Text], Field(min_length=1, json_schema_extra=BATCH)] = Field(
        description="A text or a list of texts (at most LAMINA_MAX_BATCH_ITEMS; token ids are "
        "not accepted). Each: not empty or only whitespace, at most LAMINA_MAX_TEXT_CHARS "
        f"characters. {REQUEST_BUDGET}",
        examples=["갈비탕"],
    )
    normalize: StrictBool = Field(default=True, description="L2-normalize each vector.")
    truncate: StrictBool | None = Field(
        default=None,
        description="Cut texts longer than the model's token limit; false: 422 text_too_long. "
        "Unset: cut (this server runs with auto_truncate, as GET /info says).",
    )
    truncation_direction: Literal["right", "Right"] = Field(
        default="right", description="Only right (the end of the text is cut) is supported."
    )
    prompt_name: StrictStr | None = Field(
        default=None,
        description="A key of the model's prompts (GET /api/v1/model-info: multilingual-e5-small "
        "has query and passage), prepended to every text; unknown names are a 422.",
    )
    dimensions: PositiveInt | None = Field(
        default=None,
        description="Keep only the first N dimensions (re-normalized when normalize is on); "
        "at most the model's dimension (more is a 422 naming dimensions).",
    )
    model: StrictStr | None = MODEL  # lamina's extension: TEI serves one model


class TeiPooling(BaseModel):
    pooling: str = Field(description="mean or cls.")


class TeiModelType(BaseModel):
    embedding: TeiPooling = Field(description="An embedding model, and its pooling.")


class TeiInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_id: str = Field(description="The default model's upstream id.")
    model_sha: str | None = Field(
        description="lamina: the default model's fingerprint (x-model-fingerprint)."
    )
    model_dtype: str = Field(description="fp32, int8 or q4 (the served variant).")
    served_model_name: str = Field(description="The default model's name here.")
    model_type: TeiModelType = Field(description="What kind of model it is.")
    max_concurrent_requests: int = Field(description="Requests one instance takes at a time.")
    max_input_length: int = Field(description="Token limit, special tokens included.")
    max_batch_tokens: int = Field(description="Most padded tokens in one ONNX run.")
    max_batch_requests: int | None = Field(default=None, description="No separate limit.")
    max_client_batch_size: int = Field(description="Most texts per request.")
    auto_truncate: bool = Field(description="Whether texts over the limit are cut by default.")
    tokenization_workers: int = Field(description="Tokenizer threads.")
    version: str = Field(description="lamina's version.")
    sha: str | None = Field(default=None, description="Not set.")
    docker_label: str | None = Field(default=None, description="Not set.")
