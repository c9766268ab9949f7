"""One embedding request's account: which model answered, what it read, where the time went.

Every embedding route (seed, OpenAI, TEI) answers with the headers TEI's users read, plus the
model's identity, so a client can tell which model made its vectors::

    x-compute-type: cpu                 x-compute-time: 12      (ms, the whole request)
    x-compute-characters: 31            x-compute-tokens: 11
    x-total-time: 12                    x-tokenization-time: 0  (ms)
    x-queue-time: 0 (ms)                x-inference-time: 9     (ms)
    x-model-name: all-MiniLM-L6-v2      x-model-version: 1.0.0-int8
    x-model-fingerprint: <sha256 over the model's files, as /api/v1/model-info's sha256>

A request may send ``x-expect-model-fingerprint: <sha256>``: when another model would
answer (a new version behind the same name, another default), it gets 409 model_mismatch
before anything is computed, instead of vectors that do not belong in its index.

How it travels: the route puts a ``Call`` in a context variable (``begin``), the service
reads the expectation when it picks the model and adds what each model run read and took
(``record``); the route turns it into headers. The ``Call`` object itself is shared, so this
also works when the service runs in a worker thread (contexts are copied into threads; the
object they point to is the same).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from lamina.errors import InvalidInputError, ModelMismatchError
from lamina.inference.lifecycle import StageTimings
from lamina.models.manifest import Manifest
from lamina.settings import Settings

EXPECT_HEADER = "x-expect-model-fingerprint"
FINGERPRINT_PATTERN = "^[0-9a-fA-F]{64}$"

_CURRENT: ContextVar[Call | None] = ContextVar("lamina_embedding_call", default=None)


@dataclass
class Call:
    """What one request asked for and what it cost (filled in by the service)."""

    expect_fingerprint: str | None = None
    began: float = field(default_factory=time.perf_counter)
    manifest: Manifest | None = None
    fingerprint: str = ""
    characters: int = 0
    tokens: int = 0
    tokenization_ms: float = 0.0
    inference_ms: float = 0.0
    queue_ms: float = 0.0

    def headers(self) -> dict[str, str]:
        total = f"{(time.perf_counter() - self.began) * 1e3:.0f}"
        out = {
            "x-compute-type": "cpu",
            "x-compute-time": total,
            "x-compute-characters": str(self.characters),
            "x-compute-tokens": str(self.tokens),
            "x-total-time": total,
            "x-tokenization-time": f"{self.tokenization_ms:.0f}",
            "x-queue-time": f"{self.queue_ms:.0f}",
            "x-inference-time": f"{self.inference_ms:.0f}",
        }
        if self.manifest is not None:
            out["x-model-name"] = self.manifest.name
            out["x-model-version"] = self.manifest.version
            out["x-model-fingerprint"] = self.fingerprint
        return out


def concurrent_requests(settings: Settings) -> int:
    """How many requests one process works on at once: 1 on Lambda (one per sandbox); with
    LAMINA_COALESCE (the local server) as many as its worker threads, enough for every
    caller of the largest coalesced group to wait at once."""
    if not settings.coalesce:
        return 1
    return max(settings.max_batch_items, settings.coalesce_max_texts, 256)


def begin(expect_fingerprint: str | None) -> Call:
    """Start the account of the current request (the route calls it first)."""
    if expect_fingerprint is not None and not re.fullmatch(FINGERPRINT_PATTERN, expect_fingerprint):
        raise InvalidInputError(
            f"{EXPECT_HEADER} must be a model fingerprint: 64 hex digits (the sha256 of "
            "GET /api/v1/model-info)",
            param=EXPECT_HEADER,
        )
    call = Call(expect_fingerprint=expect_fingerprint.lower() if expect_fingerprint else None)
    _CURRENT.set(call)
    return call


def expected_fingerprint() -> str | None:
    """The fingerprint the current request expects (``x-expect-model-fingerprint``), if any."""
    call = _CURRENT.get()
    return None if call is None else call.expect_fingerprint


def answered_by(manifest: Manifest, fingerprint: str) -> None:
    """The request will be answered by this model: 409 if the caller expects another one."""
    call = _CURRENT.get()
    if call is None:
        return
    if call.expect_fingerprint is not None and call.expect_fingerprint != fingerprint:
        raise ModelMismatchError(
            f"the request expects model fingerprint {call.expect_fingerprint}, but "
            f"{manifest.name} {manifest.version} (fingerprint {fingerprint}) would answer; "
            "GET /v1/models lists what is served",
            param=EXPECT_HEADER,
        )
    call.manifest = manifest
    call.fingerprint = fingerprint


def record(texts: Sequence[str], tokens: int, timings: StageTimings, queue_ms: float) -> None:
    """Add one model run of this request to its account."""
    call = _CURRENT.get()
    if call is None:
        return
    call.characters += sum(len(text) for text in texts)
    call.tokens += tokens
    call.tokenization_ms += timings.preprocess_ms
    call.inference_ms += timings.inference_ms
    call.queue_ms += queue_ms


# The response headers above, for the OpenAPI document of every embedding route.
RESPONSE_HEADERS: dict[str, dict[str, object]] = {
    name: {"description": description, "schema": {"type": kind}}
    for name, kind, description in (
        ("x-compute-type", "string", "Always cpu."),
        ("x-compute-time", "integer", "Milliseconds the request took, until the answer."),
        ("x-compute-characters", "integer", "Characters embedded."),
        ("x-compute-tokens", "integer", "Tokens the model read (prompts included)."),
        ("x-total-time", "integer", "Same as x-compute-time."),
        ("x-tokenization-time", "integer", "Milliseconds spent tokenizing."),
        ("x-queue-time", "integer", "Milliseconds spent waiting for a shared model run."),
        ("x-inference-time", "integer", "Milliseconds spent in ONNX Runtime."),
        ("x-model-name", "string", "The model that answered."),
        ("x-model-version", "string", "Its version."),
        ("x-model-fingerprint", "string", "Its fingerprint: sha256 over its files."),
    )
}
