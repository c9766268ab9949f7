"""Request and response models of the embedding API; every field is described for OpenAPI.

Input models only check shape and type (strict: a number is not a text). Limits that come
from settings (item count, characters) are checked by ``lamina.api.validation``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

NORMALIZE = Field(default=True, description="L2-normalize each vector (unit length).")
TRUNCATE = Field(
    default=True,
    description=(
        "Cut texts longer than the model's token limit (the response says which were cut). "
        "false: reject them with 422 text_too_long instead."
    ),
)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- seed API (/api/v1) -----------------------------------------------------------------


class EmbedRequest(_Input):
    text: StrictStr = Field(description="Text to embed.", examples=["갈비탕"])
    normalize: bool = NORMALIZE
    truncate: bool = TRUNCATE


class EmbedResponse(BaseModel):
    embedding: list[float] = Field(description="The embedding vector.")
    dim: int = Field(description="Length of the vector.")
    model: str = Field(description="Model name.")
    model_version: str = Field(description="Model version.")
    normalized: bool = Field(description="Whether the vector is L2-normalized.")
    tokens: int = Field(description="Tokens the model read, special tokens included.")
    truncated: bool = Field(description="Whether the text was cut at the token limit.")


class EmbedBatchRequest(_Input):
    texts: list[StrictStr] = Field(
        min_length=1, description="Texts to embed, in order.", examples=[["갈비탕", "김치찌개"]]
    )
    normalize: bool = NORMALIZE
    truncate: bool = TRUNCATE


class EmbedBatchResponse(BaseModel):
    embeddings: list[list[float]] = Field(description="One vector per text, in input order.")
    dim: int = Field(description="Length of each vector.")
    count: int = Field(description="Number of vectors.")
    model: str = Field(description="Model name.")
    model_version: str = Field(description="Model version.")
    normalized: bool = Field(description="Whether the vectors are L2-normalized.")
    tokens: int = Field(description="Tokens read over all texts.")
    truncated: list[bool] = Field(description="Per text: whether it was cut at the token limit.")


class SimilarityRequest(_Input):
    query: StrictStr = Field(description="The text to compare against the candidates.")
    candidates: list[StrictStr] = Field(min_length=1, description="Texts to rank.")
    top_k: int = Field(default=10, ge=1, description="How many best candidates to return.")


class ScoredCandidate(BaseModel):
    index: int = Field(description="Position of the candidate in the request.")
    text: str = Field(description="The candidate text.")
    score: float = Field(description="Cosine similarity to the query, in [-1, 1].")


class SimilarityResponse(BaseModel):
    results: list[ScoredCandidate] = Field(description="Best candidates first.")
    model: str = Field(description="Model name.")


class TokenizeRequest(_Input):
    text: StrictStr = Field(description="Text to tokenize.")


class TokenizeResponse(BaseModel):
    ids: list[int] = Field(description="Token ids the model reads, special tokens included.")
    tokens: list[str] = Field(description="The tokens as strings.")
    count: int = Field(description="Number of tokens.")
    truncated: bool = Field(description="Whether the text is longer than the model's limit.")
    max_tokens: int = Field(description="The model's token limit.")


class HealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="ok when the model is loaded and serving.")
    model_loaded: bool = Field(description="Whether the model is loaded.")
    model: str = Field(description="Model name.")
    model_version: str = Field(description="Model version.")


class QualityInfo(BaseModel):
    reference: str = Field(description="What the model was compared with at build time.")
    corpus_size: int = Field(description="Texts compared.")
    mean_cosine: float = Field(description="Mean cosine similarity to the reference.")
    min_cosine: float = Field(description="Lowest cosine similarity to the reference.")


class ModelInfoResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str = Field(description="Model name.")
    version: str = Field(description="Model version.")
    variant: str = Field(description="fp32 or int8.")
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


# --- OpenAI-compatible API (/v1) --------------------------------------------------------


class OpenAIEmbeddingsRequest(_Input):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients may send fields we do not use

    input: StrictStr | list[StrictStr] = Field(description="A text or a list of texts.")
    model: StrictStr = Field(description="Model id, as listed by GET /v1/models.")
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="float: JSON numbers; base64: little-endian float32 bytes."
    )
    dimensions: int | None = Field(
        default=None, ge=1, description="Keep only the first N dimensions (re-normalized)."
    )
    user: str | None = Field(default=None, description="Accepted and ignored.")


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


# ---- batch jobs ------------------------------------------------------------------------


class JobCounts(BaseModel):
    lines: int | None = Field(
        description="Input records (lines; CSV rows without the header); null until the "
        "whole input has been read."
    )
    ok: int = Field(description="Records with a vector in the job's parts.")
    failed: int = Field(description="Records without a vector: rejected lines and failed chunks.")
    rejected: int = Field(description="Lines the submit step rejected (see errors.jsonl).")
    chunks: int | None = Field(description="Chunks queued; null until the input was read.")
    chunks_done: int = Field(description="Chunks embedded and written.")
    chunks_failed: int = Field(description="Chunks given up after their last delivery.")


class JobStatusResponse(BaseModel):
    job_id: str = Field(description="The job's id (from the input's key and ETag).")
    status: Literal["submitted", "running", "succeeded", "partially_failed", "failed"] = Field(
        description="submitted -> running -> succeeded | partially_failed | failed."
    )
    finished: bool = Field(description="True once _SUCCESS or _FAILED is written.")
    input: str = Field(description="The input object's location.")
    input_format: str = Field(description="jsonl, csv or txt (from the key's extension).")
    output_format: str = Field(description="jsonl or npz: the format of the parts.")
    counts: JobCounts = Field(description="Where every input record went.")
    model_versions: list[str] = Field(
        description="Models (name/version) that embedded the chunks; more than one means a "
        "deploy happened mid-job."
    )
    submitted_at: str = Field(description="When the submit step created the job (UTC).")
    started_at: str | None = Field(description="When the first chunk was finished (UTC).")
    finished_at: str | None = Field(description="When the job was finalized (UTC).")
    error: str | None = Field(description="Why the whole job failed, if it did.")
    parts: str = Field(description="Key prefix of the result parts.")
    errors: str = Field(description="Key of errors.jsonl (one line per rejected record).")


# --- classification (text and image classifiers share the answer's shape) -------------


class LabelScore(BaseModel):
    label: str = Field(description="A label of the model's labels_file.")
    confidence: float = Field(
        ge=0, le=1, description="The model's probability of this label (all labels sum to 1)."
    )
