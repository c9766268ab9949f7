"""Request and response models of the embedding API (the seed API /api/v1 and the
OpenAI-compatible /v1); every field is described for OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from lamina.api.schemas import (
    BATCH,
    BUDGET,
    INPUT_TYPE,
    LONG_TEXT,
    MODEL,
    REQUEST_BUDGET,
    SPLIT_TEXT,
    TRUNCATE,
    Input,
    InputType,
    LongText,
    PositiveInt,
    SplitText,
    Text,
    limits,
)

NORMALIZE = Field(default=True, description="L2-normalize each vector (unit length).")


# --- seed API (/api/v1) -----------------------------------------------------------------


# truncate and long_text together must agree (else 422 invalid_input, param long_text):
# truncate=true with long_text reject or split, or truncate=false with long_text=truncate,
# is a contradiction (``lamina.api.embeddings.service.long_text_mode``).
CONTRADICTIONS: dict[str, Any] = {
    "not": {
        "anyOf": [
            {
                "required": ["truncate", "long_text"],
                "properties": {
                    "truncate": {"const": True},
                    "long_text": {"enum": ["reject", "split"]},
                },
            },
            {
                "required": ["truncate", "long_text"],
                "properties": {"truncate": {"const": False}, "long_text": {"const": "truncate"}},
            },
        ]
    }
}


class TextOptions(Input):
    """The options every embedding request shares."""

    model_config = ConfigDict(json_schema_extra=CONTRADICTIONS)

    model: StrictStr | None = MODEL
    input_type: InputType | None = INPUT_TYPE
    normalize: StrictBool = NORMALIZE
    truncate: StrictBool = TRUNCATE
    long_text: LongText | None = LONG_TEXT


class EmbedRequest(TextOptions):
    text: SplitText = Field(
        description=f"Text to embed. {SPLIT_TEXT} With long_text=split, its windows are at most "
        "LAMINA_MAX_REQUEST_TOKENS tokens together (422 request_too_many_tokens).",
        examples=["갈비탕"],
    )


class EmbedResponse(BaseModel):
    embedding: list[float] = Field(description="The embedding vector.")
    dim: int = Field(description="Length of the vector.")
    model: str = Field(description="Model name.")
    model_version: str = Field(description="Model version.")
    normalized: bool = Field(description="Whether the vector is L2-normalized.")
    tokens: int = Field(
        description="Tokens the model read, prompt and special tokens included (split: "
        "over all windows)."
    )
    truncated: bool = Field(description="Whether the text was cut at the token limit.")
    windows: int = Field(
        default=1, description="How many windows the text was embedded in (split: 1 or more)."
    )


class EmbedBatchRequest(TextOptions):
    texts: list[SplitText] = Field(
        min_length=1,
        description="Texts to embed, in order: at most LAMINA_MAX_BATCH_ITEMS (this document's "
        f"maxItems). Each: {SPLIT_TEXT} {REQUEST_BUDGET}",
        examples=[["갈비탕", "김치찌개"]],
        json_schema_extra=BATCH,
    )


class EmbedBatchResponse(BaseModel):
    embeddings: list[list[float]] = Field(description="One vector per text, in input order.")
    dim: int = Field(description="Length of each vector.")
    count: int = Field(description="Number of vectors.")
    model: str = Field(description="Model name.")
    model_version: str = Field(description="Model version.")
    normalized: bool = Field(description="Whether the vectors are L2-normalized.")
    tokens: int = Field(description="Tokens read over all texts.")
    truncated: list[bool] = Field(description="Per text: whether it was cut at the token limit.")
    windows: list[int] = Field(
        default_factory=list, description="Per text: how many windows it was embedded in."
    )


class SimilarityRequest(Input):
    model: StrictStr | None = MODEL
    query: Text = Field(
        description="The text to compare against the candidates (embedded as a query: with "
        "the model's query prompt, if it has one; the candidates with its passage prompt).",
        examples=["김치찌개 레시피"],
    )
    candidates: list[Text] = Field(
        min_length=1,
        description="Texts to rank: with the query, at most LAMINA_MAX_BATCH_ITEMS texts. "
        + REQUEST_BUDGET.replace("a request's texts are", "the query and the candidates are"),
        examples=[["김치찌개: 김치와 돼지고기로 끓인 찌개", "된장찌개: 된장을 풀어 끓인 찌개"]],
        json_schema_extra=limits(maxItems=("max_batch_items", -1), **BUDGET),
    )
    top_k: PositiveInt = Field(
        default=10,
        description="How many best candidates to return (at most the number of candidates).",
    )


class ScoredCandidate(BaseModel):
    index: int = Field(description="Position of the candidate in the request.")
    text: str = Field(description="The candidate text.")
    score: float = Field(description="Cosine similarity to the query, in [-1, 1].")


class SimilarityResponse(BaseModel):
    results: list[ScoredCandidate] = Field(description="Best candidates first.")
    model: str = Field(description="Model name.")


class TokenizeRequest(Input):
    model: StrictStr | None = MODEL
    input_type: InputType | None = INPUT_TYPE
    text: Text = Field(description="Text to tokenize.", examples=["갈비탕"])


class TokenizeResponse(BaseModel):
    ids: list[int] = Field(description="Token ids the model reads, special tokens included.")
    tokens: list[str] = Field(description="The tokens as strings.")
    count: int = Field(description="Number of tokens.")
    truncated: bool = Field(description="Whether the text is longer than the model's limit.")
    max_tokens: int = Field(description="The model's token limit.")
    model: str = Field(default="", description="The model whose tokenizer answered.")


class QualityInfo(BaseModel):
    reference: str = Field(description="What the model was compared with at build time.")
    corpus_size: int = Field(description="Texts compared.")
    mean_cosine: float = Field(description="Mean cosine similarity to the reference.")
    min_cosine: float = Field(description="Lowest cosine similarity to the reference.")


class ServedModel(BaseModel):
    name: str = Field(description="Model name: pass it as `model`.")
    version: str = Field(description="Model version.")
    model_id: str = Field(description="Upstream model id (also accepted as `model`).")
    dim: int = Field(description="Embedding dimension.")
    max_seq_length: int = Field(description="Token limit, special tokens included.")
    prompts: dict[str, str] = Field(description="input_type -> prefix; empty: no prompts.")
    default: bool = Field(description="Whether requests that name no model get this one.")


class ModelInfoResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str = Field(description="Model name.")
    version: str = Field(description="Model version.")
    variant: str = Field(description="fp32, int8 or q4.")
    quantization: str = Field(description="none, or how the weights were quantized.")
    dim: int = Field(description="Embedding dimension.")
    max_seq_length: int = Field(description="Token limit, special tokens included.")
    pooling: str = Field(description="How token vectors are pooled.")
    normalize_default: bool = Field(description="Whether vectors are normalized by default.")
    sha256: str = Field(
        description="Fingerprint of the model: sha256 over every file's path and sha256 "
        "(manifest.json lists them)."
    )
    source: dict[str, str] = Field(description="Where the weights came from, and their license.")
    quality: QualityInfo | None = Field(description="Build-time agreement with the reference.")
    runtime: dict[str, str | int] = Field(description="Inference runtime and its settings.")
    limits: dict[str, int] = Field(description="Request limits of this deployment.")
    prompts: dict[str, str] = Field(
        default_factory=dict, description="input_type -> prefix; empty: no prompts."
    )
    models: list[ServedModel] = Field(
        default_factory=list,
        description="Every model this function serves (?model=NAME shows one in full).",
    )


# --- OpenAI-compatible API (/v1) --------------------------------------------------------


class OpenAIEmbeddingsRequest(Input):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients may send fields we do not use

    input: SplitText | Annotated[list[SplitText], Field(min_length=1, json_schema_extra=BATCH)] = (
        Field(
            description="A text or a list of texts (at most LAMINA_MAX_BATCH_ITEMS). Each: "
            + SPLIT_TEXT
            + " "
            + REQUEST_BUDGET,
            examples=["갈비탕"],
        )
    )
    model: StrictStr = Field(
        description="Model id, as listed by GET /v1/models (404 model_not_found otherwise).",
        examples=["all-MiniLM-L6-v2"],
    )
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="float: JSON numbers; base64: little-endian float32 bytes."
    )
    dimensions: PositiveInt | None = Field(
        default=None,
        description="Keep only the first N dimensions (re-normalized); at most the model's "
        "dimension (`dim` in GET /api/v1/model-info; more is a 422 naming dimensions).",
    )
    user: StrictStr | None = Field(default=None, description="Accepted and ignored.")
    # Extensions (the openai client sends them with extra_body={...}).
    input_type: InputType | None = INPUT_TYPE
    long_text: LongText | None = LONG_TEXT


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int = Field(description="Position of the input.")
    embedding: list[float] | str = Field(description="The vector, or base64 of float32 bytes.")


class OpenAIUsage(BaseModel):
    prompt_tokens: int = Field(description="Tokens read, special tokens included.")
    total_tokens: int = Field(description="Same as prompt_tokens for embeddings.")


class OpenAIEmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding] = Field(description="One embedding per input, in order.")
    model: str = Field(description="The model that produced them.")
    usage: OpenAIUsage = Field(description="Tokens counted for this request.")


class OpenAIModel(BaseModel):
    id: str = Field(description="Model id to pass as `model`.")
    object: Literal["model"] = "model"
    created: int = Field(description="Build time, Unix seconds.")
    owned_by: str = Field(description="Who serves it.")
    version: str = Field(description="Model version (lamina extension; clients ignore it).")
    sha256: str = Field(description="Model fingerprint, as in /api/v1/model-info (extension).")


class OpenAIModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel] = Field(description="The models this function serves.")
