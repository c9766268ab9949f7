"""Typed results: dataclasses made from the API's JSON answers.

Fields the server adds later are ignored, so a newer server does not break an older client.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

InputType = Literal["query", "passage"]
# A metadata filter of search and recommend: field -> the value it must equal.
Filter = dict[str, str | int | float | bool]


@dataclass(frozen=True, slots=True)
class Embedding:
    """One text's vector, and which model made it.

    ``tokens`` (tokens the model read) is known for ``embed``; ``embed_batch`` answers one
    total per request, so its embeddings have None.
    """

    vector: list[float]
    model: str
    model_version: str
    normalized: bool
    truncated: bool
    tokens: int | None = None
    windows: int = 1

    @property
    def dim(self) -> int:
        return len(self.vector)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A stored item that matched: its id, score (higher is closer), text and metadata."""

    id: str
    score: float
    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


class SearchResults(list[SearchHit]):
    """The hits of a search or recommendation, best first (a ``list[SearchHit]``), and
    which collection and model answered: ``fingerprint`` is the model's (None if the server
    does not say), ``missing`` the liked or disliked ids a recommendation's collection does
    not hold."""

    collection: str
    model: str
    model_version: str
    fingerprint: str | None
    missing: list[str]

    def __init__(
        self,
        hits: Iterable[SearchHit],
        *,
        collection: str,
        model: str,
        model_version: str,
        fingerprint: str | None = None,
        missing: Iterable[str] = (),
    ) -> None:
        super().__init__(hits)
        self.collection = collection
        self.model = model
        self.model_version = model_version
        self.fingerprint = fingerprint
        self.missing = list(missing)


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Classification:
    """One text's labels, most likely first (confidences are over every label)."""

    labels: list[LabelScore]
    tokens: int
    truncated: bool
    model: str
    model_version: str

    @property
    def label(self) -> str:
        """The most likely label."""
        return self.labels[0].label


@dataclass(frozen=True, slots=True)
class ZeroShotScore:
    label: str
    score: float
    similarity: float


@dataclass(frozen=True, slots=True)
class ZeroShotResult:
    """Every label of the request, highest score first."""

    labels: list[ZeroShotScore]
    multi_label: bool
    model: str
    model_version: str

    @property
    def label(self) -> str:
        """The best label."""
        return self.labels[0].label


@dataclass(frozen=True, slots=True)
class JobCounts:
    lines: int | None
    ok: int
    failed: int
    rejected: int
    chunks: int | None
    chunks_done: int
    chunks_failed: int


JobState = Literal["submitted", "running", "succeeded", "partially_failed", "failed"]


@dataclass(frozen=True, slots=True)
class JobStatus:
    """A batch job's status (``GET /api/v1/jobs/{job_id}``)."""

    job_id: str
    status: JobState
    finished: bool
    input: str
    input_format: str
    output_format: str
    counts: JobCounts
    model_versions: list[str]
    submitted_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    parts: str
    errors: str


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """What one embed-batch request may hold. ``None`` fields are read from the server's
    OpenAPI document; the client splits a larger ``embed_batch`` into requests within these.

    max_items: most texts per request (the document's ``maxItems``).
    max_request_chars: most characters of a request's texts together
        (``x-max-request-chars``).
    max_text_chars: most characters of one text (a longer one is a ``ValueError`` before
        any request).
    max_request_tokens: most tokens of a request (``x-max-request-tokens``); informative:
        only the server counts tokens, and a request over it is split in two and retried.
    """

    max_items: int | None = None
    max_request_chars: int | None = None
    max_text_chars: int | None = None
    max_request_tokens: int | None = None

    def merged(self, other: BatchLimits) -> BatchLimits:
        """These limits, with ``other``'s where these are None."""
        return BatchLimits(
            max_items=self.max_items if self.max_items is not None else other.max_items,
            max_request_chars=(
                self.max_request_chars
                if self.max_request_chars is not None
                else other.max_request_chars
            ),
            max_text_chars=(
                self.max_text_chars if self.max_text_chars is not None else other.max_text_chars
            ),
            max_request_tokens=(
                self.max_request_tokens
                if self.max_request_tokens is not None
                else other.max_request_tokens
            ),
        )

    @property
    def complete(self) -> bool:
        """Whether the limits that split a batch are all known (no document needed)."""
        return None not in (self.max_items, self.max_request_chars, self.max_text_chars)


# The server's defaults (LAMINA_MAX_BATCH_ITEMS, _REQUEST_CHARS, _TEXT_CHARS,
# _REQUEST_TOKENS): used when the OpenAPI document cannot be read (a 4xx).
DEFAULT_LIMITS = BatchLimits(
    max_items=256, max_request_chars=100_000, max_text_chars=20_000, max_request_tokens=65_536
)
