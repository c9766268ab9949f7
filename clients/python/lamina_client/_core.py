"""What the sync and async clients share: settings, request bodies, answer parsing, the
retry policy, deadlines and how a batch is split. No I/O here."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx

from lamina_client._version import __version__
from lamina_client.errors import (
    AuthenticationError,
    BadRequestError,
    LaminaConnectionError,
    LaminaError,
    LaminaTimeoutError,
    error_from_response,
)
from lamina_client.types import (
    DEFAULT_LIMITS,
    BatchLimits,
    Classification,
    Embedding,
    Filter,
    InputType,
    JobCounts,
    JobStatus,
    LabelScore,
    SearchHit,
    SearchResults,
    ZeroShotResult,
    ZeroShotScore,
)

log = logging.getLogger("lamina_client")
T = TypeVar("T")

USER_AGENT = f"lamina-client/{__version__}"
# Called with the method's name, its arguments and the last error when a call fails for a
# reason retries are for (connection, timeout, 429, 5xx) and every attempt failed; its return
# value is the call's. The async client awaits it if it returns an awaitable.
Fallback = Callable[[str, Mapping[str, Any], LaminaError], Any]
# classify's top_k: an int, "all" (every label), or None (the server's default, 5).
TopK = int | Literal["all"] | None
# Errors of an embed-batch request that a smaller request avoids: the server counts tokens
# (only it can), and its limits may have been lowered since the client read them.
SPLITTABLE = frozenset({"request_too_many_tokens", "request_too_many_chars", "too_many_items"})


@dataclass(frozen=True)
class Config:
    base_url: str
    classify_url: str
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    deadline: float | None = 60.0
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_concurrency: int = 4
    fallback: Fallback | None = None
    limits: BatchLimits = field(default_factory=BatchLimits)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError("deadline must be positive (or None: no deadline)")

    def url(self, call: Call) -> str:
        base = self.classify_url if call.service == "classify" else self.base_url
        return base.rstrip("/") + call.path

    def request_headers(self) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, "Accept": "application/json", **self.headers}

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^(attempt-1))], but at least the
        server's Retry-After."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return max(random.uniform(0.0, ceiling), retry_after or 0.0)

    def next_wait(self, error: LaminaError, attempt: int, deadline: Deadline) -> float | None:
        """How long to wait before attempt ``attempt + 1``; None: give up and raise."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        wait = self.backoff(attempt, error.retry_after)
        left = deadline.remaining()
        if left is not None and wait + MIN_ATTEMPT_S >= left:
            return None  # no time left for another attempt: the last error is the answer
        log.info("lamina: attempt %d failed (%s); retrying in %.2f s", attempt, error, wait)
        return wait


# An attempt with less time than this left is not started.
MIN_ATTEMPT_S = 0.01


@dataclass(frozen=True)
class Call:
    """One HTTP request of the API (retried as a whole)."""

    method: str
    path: str
    json: Any = None
    service: Literal["api", "classify"] = "api"


class Deadline:
    """A method call's overall time budget (None: unbounded), over all its attempts."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._at = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        return None if self._at is None else self._at - time.monotonic()

    @property
    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def error(self) -> LaminaTimeoutError:
        return LaminaTimeoutError(f"the call's deadline of {self.seconds:g} s passed")

    def timeout(self, config: Config) -> httpx.Timeout:
        """The attempt's timeouts: the configured ones, cut to the time left."""
        left = self.remaining()
        if left is not None and left <= MIN_ATTEMPT_S:
            raise self.error()

        def cut(value: float) -> float:
            return value if left is None else min(value, left)

        connect, read = cut(config.connect_timeout), cut(config.read_timeout)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def decode(call: Call, status: int, headers: Mapping[str, str], content: bytes) -> Any:
    """The JSON of a 2xx answer; the error of any other."""
    if not 200 <= status < 300:
        raise error_from_response(status, headers, content)
    try:
        return json.loads(content)
    except ValueError:
        raise LaminaError(
            f"{call.method} {call.path} answered {status} with a body that is not JSON",
            status_code=status,
            request_id=headers.get("x-request-id"),
        ) from None


def transport_error(call: Call, exc: httpx.RequestError) -> LaminaError:
    """A timeout or a failed connection (retried); another failure to send (not)."""
    what = f"{call.method} {call.path}: {type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, httpx.TimeoutException):
        return LaminaTimeoutError(what)
    if isinstance(exc, httpx.TransportError):
        return LaminaConnectionError(what)
    return LaminaError(what)


# --- request bodies ---------------------------------------------------------------------


def _texts(value: Iterable[str], name: str) -> list[str]:
    if isinstance(value, str):
        raise TypeError(f"{name} is a list of strings, not one string")
    return list(value)


def _options(model: str | None, input_type: InputType | None, normalize: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"normalize": normalize}
    if model is not None:
        body["model"] = model
    if input_type is not None:
        body["input_type"] = input_type
    return body


def embed_call(text: str, model: str | None, input_type: InputType | None, normalize: bool) -> Call:
    return Call("POST", "/api/v1/embed", {"text": text, **_options(model, input_type, normalize)})


def embed_batch_call(
    texts: Sequence[str], model: str | None, input_type: InputType | None, normalize: bool
) -> Call:
    body = {"texts": list(texts), **_options(model, input_type, normalize)}
    return Call("POST", "/api/v1/embed-batch", body)


def search_call(
    collection: str,
    query: str | None,
    vector: Iterable[float] | None,
    top_k: int,
    filter: Filter | None,
) -> Call:
    if (query is None) == (vector is None):
        raise ValueError("search takes exactly one of query and vector")
    body: dict[str, Any] = {"collection": collection, "top_k": top_k}
    if query is not None:
        body["query"] = query
    else:
        assert vector is not None
        body["vector"] = [float(x) for x in vector]  # numpy arrays too
    if filter is not None:
        body["filter"] = dict(filter)
    return Call("POST", "/api/v1/search", body)


def recommend_call(
    collection: str,
    liked: Iterable[str],
    disliked: Iterable[str],
    top_k: int,
    exclude_seen: bool,
    filter: Filter | None,
) -> Call:
    body: dict[str, Any] = {
        "collection": collection,
        "liked": _texts(liked, "liked"),
        "disliked": _texts(disliked, "disliked"),
        "top_k": top_k,
        "exclude_seen": exclude_seen,
    }
    if filter is not None:
        body["filter"] = dict(filter)
    return Call("POST", "/api/v1/recommend", body)


def classify_call(texts_or_text: str | Iterable[str], top_k: TopK) -> Call:
    body: dict[str, Any] = (
        {"text": texts_or_text}
        if isinstance(texts_or_text, str)
        else {"texts": list(texts_or_text)}
    )
    if top_k == "all":
        body["top_k"] = None  # the server's null: every label
    elif top_k is not None:
        body["top_k"] = top_k
    return Call("POST", "/api/v1/classify", body, service="classify")


def zero_shot_call(
    text: str, labels: Iterable[str], hypothesis_template: str | None, multi_label: bool
) -> Call:
    body: dict[str, Any] = {
        "text": text,
        "labels": _texts(labels, "labels"),
        "multi_label": multi_label,
    }
    if hypothesis_template is not None:
        body["hypothesis_template"] = hypothesis_template
    return Call("POST", "/api/v1/classify/zero-shot", body, service="classify")


def job_call(job_id: str) -> Call:
    from urllib.parse import quote

    return Call("GET", f"/api/v1/jobs/{quote(job_id, safe='')}")


OPENAPI = Call("GET", "/openapi.json")


# --- answers ------------------------------------------------------------------------------


def parsing(call: Call, parse: Callable[[Any], T]) -> Callable[[Any], T]:
    """``parse``, with a LaminaError (not a KeyError) for an answer of another shape."""

    def run(body: Any) -> T:
        try:
            return parse(body)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise LaminaError(
                f"{call.method} {call.path}: unexpected answer ({type(exc).__name__}: {exc})"
            ) from exc

    return run


def parse_embedding(body: Any) -> Embedding:
    return Embedding(
        vector=[float(x) for x in body["embedding"]],
        model=str(body["model"]),
        model_version=str(body["model_version"]),
        normalized=bool(body["normalized"]),
        truncated=bool(body["truncated"]),
        tokens=int(body["tokens"]),
        windows=int(body.get("windows", 1)),
    )


def parse_embeddings(body: Any) -> list[Embedding]:
    vectors = body["embeddings"]
    windows = body.get("windows") or [1] * len(vectors)
    return [
        Embedding(
            vector=[float(x) for x in vector],
            model=str(body["model"]),
            model_version=str(body["model_version"]),
            normalized=bool(body["normalized"]),
            truncated=bool(truncated),
            windows=int(window),
        )
        for vector, truncated, window in zip(vectors, body["truncated"], windows, strict=True)
    ]


def parse_search(body: Any) -> SearchResults:
    hits = [
        SearchHit(
            id=str(hit["id"]),
            score=float(hit["score"]),
            text=hit.get("text"),
            metadata=dict(hit.get("metadata") or {}),
        )
        for hit in body["results"]
    ]
    return SearchResults(
        hits,
        collection=str(body["collection"]),
        model=str(body["model"]),
        model_version=str(body["model_version"]),
        fingerprint=body.get("fingerprint"),
        missing=[str(x) for x in body.get("missing") or ()],
    )


def parse_classify(body: Any) -> list[Classification]:
    return [
        Classification(
            labels=[LabelScore(str(x["label"]), float(x["confidence"])) for x in labels],
            tokens=int(tokens),
            truncated=bool(truncated),
            model=str(body["model"]),
            model_version=str(body["model_version"]),
        )
        for labels, tokens, truncated in zip(
            body["predictions"], body["tokens"], body["truncated"], strict=True
        )
    ]


def parse_zero_shot(body: Any) -> ZeroShotResult:
    return ZeroShotResult(
        labels=[
            ZeroShotScore(str(x["label"]), float(x["score"]), float(x["similarity"]))
            for x in body["labels"]
        ],
        multi_label=bool(body["multi_label"]),
        model=str(body["model"]),
        model_version=str(body["model_version"]),
    )


def parse_job(body: Any) -> JobStatus:
    counts = body["counts"]
    return JobStatus(
        job_id=str(body["job_id"]),
        status=body["status"],
        finished=bool(body["finished"]),
        input=str(body["input"]),
        input_format=str(body["input_format"]),
        output_format=str(body["output_format"]),
        counts=JobCounts(
            lines=counts.get("lines"),
            ok=int(counts["ok"]),
            failed=int(counts["failed"]),
            rejected=int(counts["rejected"]),
            chunks=counts.get("chunks"),
            chunks_done=int(counts["chunks_done"]),
            chunks_failed=int(counts["chunks_failed"]),
        ),
        model_versions=[str(x) for x in body["model_versions"]],
        submitted_at=str(body["submitted_at"]),
        started_at=body.get("started_at"),
        finished_at=body.get("finished_at"),
        error=body.get("error"),
        parts=str(body["parts"]),
        errors=str(body["errors"]),
    )


# --- batches ------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_limits(document: Any) -> BatchLimits:
    """The embed-batch limits an OpenAPI document states (missing ones None).

    ``EmbedBatchRequest.texts``: ``maxItems``, ``x-max-request-chars``,
    ``x-max-request-tokens``. Its ``items.maxLength`` is the limit of long_text=split
    (LAMINA_MAX_SPLIT_TEXT_CHARS); a text sent without split (as this client sends them) is
    bounded by LAMINA_MAX_TEXT_CHARS, which the document states as the ``maxLength`` of
    the plain texts of other routes (``TokenizeRequest.text``, ``SimilarityRequest.query``):
    the smallest of these is the per-text limit.
    """
    schemas = document.get("components", {}).get("schemas", {})
    texts = schemas.get("EmbedBatchRequest", {}).get("properties", {}).get("texts", {})
    per_text = [_int(texts.get("items", {}).get("maxLength"))]
    for model, prop in (("TokenizeRequest", "text"), ("SimilarityRequest", "query")):
        schema = schemas.get(model, {}).get("properties", {}).get(prop, {})
        per_text.append(_int(schema.get("maxLength")))
    known = [n for n in per_text if n is not None]
    return BatchLimits(
        max_items=_int(texts.get("maxItems")),
        max_request_chars=_int(texts.get("x-max-request-chars")),
        max_text_chars=min(known) if known else None,
        max_request_tokens=_int(texts.get("x-max-request-tokens")),
    )


def limits_from(document: Any, error: LaminaError | None) -> tuple[BatchLimits, bool]:
    """The server's limits from its OpenAPI document (or, if it could not be read, lamina's
    defaults), and whether to keep them for later calls."""
    if error is not None:
        log.warning("lamina: cannot read the server's limits (%s); using the defaults", error)
        return DEFAULT_LIMITS, not isinstance(error, AuthenticationError)
    try:
        found = parse_limits(document)
    except AttributeError:
        found = BatchLimits()
    if not found.complete:
        log.warning("lamina: the OpenAPI document lacks embed-batch limits; using defaults")
    return found.merged(DEFAULT_LIMITS), True


def plan_batches(texts: Sequence[str], limits: BatchLimits) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` slices of ``texts``, each within ``limits`` (most items,
    most characters together), as few as greedily fit. A text over the per-text limit is a
    ``BadRequestError`` (``text_too_many_chars``, param ``texts[i]``) before any request."""
    most_items = limits.max_items or DEFAULT_LIMITS.max_items or 1
    most_chars = limits.max_request_chars
    per_text = limits.max_text_chars
    if most_chars is not None:
        per_text = most_chars if per_text is None else min(per_text, most_chars)
    slices: list[tuple[int, int]] = []
    start, chars = 0, 0
    for index, text in enumerate(texts):
        size = len(text)
        if per_text is not None and size > per_text:
            raise BadRequestError(
                f"texts[{index}] has {size} characters; the server accepts at most {per_text} "
                "per text",
                code="text_too_many_chars",
                param=f"texts[{index}]",
            )
        full = index - start >= most_items or (most_chars is not None and chars + size > most_chars)
        if full and index > start:
            slices.append((start, index))
            start, chars = index, 0
        chars += size
    if len(texts) > start:
        slices.append((start, len(texts)))
    return slices


def halves(start: int, end: int) -> tuple[tuple[int, int], tuple[int, int]]:
    middle = (start + end) // 2
    return (start, middle), (middle, end)


def splittable(error: BadRequestError, start: int, end: int) -> bool:
    """Whether a sub-request's error is one a smaller request avoids."""
    return error.code in SPLITTABLE and end - start > 1


def as_texts(texts: Iterable[str]) -> list[str]:
    return _texts(texts, "texts")
