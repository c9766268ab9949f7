"""A job's state in the bucket: its manifest, its parts, its errors, its completion marker.

Layout under ``jobs/<job_id>/``::

    manifest.json              status, options, counts, which chunks are done or failed
    parts/<chunk>.jsonl        {"id", "line", "model", "embedding"} per embedded record (or .npz)
    windows/<chunk>.jsonl      windows=true: one row per window of each record (or .npz)
    spill/<line>.txt           texts too large for a queue message (the message refers to them)
    errors/input.jsonl         lines the submit step rejected (written by submit)
    errors/chunk-<chunk>.jsonl records of a chunk given up after the last receive
    errors/refused-<chunk>.jsonl  records of a done chunk the worker refused (long_text=reject)
    errors.jsonl               every rejected record, one per line (written at the end)
    _SUCCESS | _FAILED         written last: the job is over (the final counts inside)

The manifest is the one object several writers touch (the submit function and every
worker), so it is only ever changed by compare-and-swap (``update``): read it with its
ETag, change it, write it back if the ETag still matches, else retry. Chunk completion
is a bit per chunk, so a redelivered message changes nothing the second time; the
writer whose change completes the job (or any later one that finds it complete but not
finalized) finalizes it. Every key is deterministic, so redoing any step rewrites the
same objects.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from lamina.errors import JobNotFoundError
from lamina.storage import ObjectStore

INCOMING_PREFIX = "incoming/"
JOBS_PREFIX = "jobs/"
JOB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,60}-[0-9a-f]{12}$"
_JOB_ID = re.compile(JOB_ID_PATTERN)
# A search collection's name (lamina.search.index checks it with this pattern too): it
# becomes part of a table name, so lower case, digits and _, a letter first.
COLLECTION_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"

Status = Literal["submitted", "running", "succeeded", "partially_failed", "failed"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "partially_failed", "failed"})
OutputFormat = Literal["jsonl", "npz"]
# The embedder's option types (lamina.inference.embedder.InputType / LongText), spelled
# again here: the submit function must not import lamina.inference (a unit test checks
# that both spell the same values).
InputType = Literal["query", "passage"]
LongText = Literal["truncate", "reject", "split"]
LoadStatus = Literal["queued", "loading", "loaded", "failed"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def job_id_for(location: str, etag: str, version_id: str | None = None) -> str:
    """The job of one input object version: the same upload always maps to the same job
    (a duplicate S3 event re-finds it). A new upload under the same key gets a new job if
    its content differs or, in a versioned bucket (the stack's is), in any case."""
    stem = PurePosixPath(location).stem.lower()
    stem = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:40] or "job"
    identity = f"{location}@{etag.strip(chr(34))}" + (f"#{version_id}" if version_id else "")
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return f"{stem}-{digest}"


def owner_of(principal: str | None) -> str | None:
    """The IAM identity behind a principal, as the S3 event and API Gateway name it: an IAM
    user's id (``AIDA...``), or a role's (``AROA...``) without the session name, so every
    session of one role is one owner. S3 writes ``AWS:AIDA...`` or ``AWS:AROA...:session``;
    API Gateway's IAM authorizer ``AIDA...`` or ``AROA...:session``. None or "" -> None."""
    if not principal:
        return None
    return principal.removeprefix("AWS:").split(":", 1)[0] or None


def check_job_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):  # match(): "$" also matches before a final "\n"
        raise JobNotFoundError(f"{job_id!r} is not a lamina job id")
    return job_id


class JobKeys:
    """Every object key of one job."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.root = f"{JOBS_PREFIX}{job_id}/"
        self.manifest = self.root + "manifest.json"
        self.errors = self.root + "errors.jsonl"
        self.input_errors = self.root + "errors/input.jsonl"
        self.success = self.root + "_SUCCESS"
        self.failure = self.root + "_FAILED"
        self.parts = self.root + "parts/"
        self.windows = self.root + "windows/"

    def part(self, chunk: int, fmt: str) -> str:
        return f"{self.parts}{chunk:06d}.{fmt}"

    def window_part(self, chunk: int, fmt: str) -> str:
        return f"{self.windows}{chunk:06d}.{fmt}"

    def spill(self, line: int) -> str:
        """The text of the record on ``line``, when it is too large for a queue message."""
        return f"{self.root}spill/{line:012d}.txt"

    def chunk_errors(self, chunk: int) -> str:
        return f"{self.root}errors/chunk-{chunk:06d}.jsonl"

    def refused_errors(self, chunk: int) -> str:
        return f"{self.root}errors/refused-{chunk:06d}.jsonl"


# --------------------------------------------------------------------------------------
# chunk bitmaps: bit n set = chunk n is in that state


def _bits(encoded: str) -> bytearray:
    return bytearray(base64.b64decode(encoded)) if encoded else bytearray()


def bit_is_set(encoded: str, n: int) -> bool:
    bits = _bits(encoded)
    return n // 8 < len(bits) and bool(bits[n // 8] >> (n % 8) & 1)


def set_bit(encoded: str, n: int, value: bool) -> str:
    bits = _bits(encoded)
    if len(bits) <= n // 8:
        bits.extend(bytes(n // 8 + 1 - len(bits)))
    if value:
        bits[n // 8] |= 1 << (n % 8)
    else:
        bits[n // 8] &= ~(1 << (n % 8)) & 0xFF
    return base64.b64encode(bytes(bits)).decode("ascii")


def set_bits(encoded: str) -> Iterator[int]:
    for index, byte in enumerate(_bits(encoded)):
        for bit in range(8):
            if byte >> bit & 1:
                yield index * 8 + bit


# --------------------------------------------------------------------------------------
# the manifest


class InputRef(BaseModel):
    uri: str
    key: str
    etag: str
    version_id: str | None = None
    size: int
    format: str


class LoadState(BaseModel):
    """Where a job's load into its search collection is (``lamina.batch.loading``): queued
    when the job finished with vectors, loaded part by part (``next_chunk`` is the cursor: the
    parts of lower chunks are in the collection), then loaded or failed."""

    model_config = ConfigDict(extra="ignore")

    status: LoadStatus = "queued"
    next_chunk: int = Field(
        default=0, description="The parts of chunks below this one are in the collection."
    )
    parts: int = Field(default=0, description="Parts loaded.")
    inserted: int = Field(default=0, description="Items that were not in the collection.")
    updated: int = Field(default=0, description="Items whose vector, text or metadata changed.")
    unchanged: int = Field(default=0, description="Items already there as they are.")
    messages: int = Field(
        default=0, description="Load messages worked on (a long load continues in a new one)."
    )
    seconds: float = Field(default=0.0, description="Time spent loading (all messages).")
    error: str | None = Field(default=None, description="Why the load failed, if it did.")
    queued_at: str = Field(default_factory=now_iso)
    started_at: str | None = None
    finished_at: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def items(self) -> int:
        """Items loaded (inserted, updated or unchanged)."""
        return self.inserted + self.updated + self.unchanged


class JobManifest(BaseModel):
    """``jobs/<job_id>/manifest.json``. ``lines`` and ``chunks`` are known once the submit
    step has read the whole input (``submit_done``); until then they are null."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = 1
    job_id: str
    status: Status = "submitted"
    input: InputRef
    output_format: OutputFormat = "jsonl"
    normalize: bool = True
    # The options (docs/batch.md, "Options"). A manifest written before they existed reads
    # as what such jobs did: the worker's model, no prompt, truncated, no window rows.
    model: str | None = Field(
        default=None,
        description="The model the job names (null: the worker's default, filled in by the "
        "first chunk done).",
    )
    input_type: InputType | None = Field(
        default=None, description="The prompt put before each text (null: none)."
    )
    long_text: LongText = "truncate"
    windows: bool = Field(default=False, description="One row per window in windows/ too.")
    collection: str | None = Field(
        default=None,
        description="The search collection the job loads itself into when it finishes with "
        "vectors (null: none; docs/search.md).",
    )
    load: LoadState | None = Field(
        default=None,
        description="The load into ``collection``: null until the job finished and its load "
        "was queued.",
    )
    owner: str | None = Field(
        default=None,
        description="Who uploaded the input (``owner_of`` the S3 event's principal: an IAM "
        "user or role id); with IAM auth only that identity may read the job's status. "
        "Null: not known (a local job, an event without one).",
    )
    submit_done: bool = False
    lines: int | None = Field(default=None, description="Input records (lines; CSV rows).")
    invalid: int = Field(default=0, description="Records the submit step rejected.")
    chunks: int | None = None
    spilled: int = Field(
        default=0, description="Texts too large for a queue message, written to spill/."
    )
    chunks_done: int = 0
    chunks_failed: int = 0
    ok: int = Field(default=0, description="Records with a vector in parts/.")
    chunk_failed_records: int = Field(default=0, description="Records of failed chunks.")
    refused: int = Field(
        default=0,
        description="Records of done chunks the worker refused (long_text=reject: over the "
        "model's token limit).",
    )
    window_rows: int = Field(default=0, description="Rows in windows/ (windows=true).")
    done_bits: str = ""
    failed_bits: str = ""
    refused_bits: str = ""  # done chunks with an errors/refused-<chunk>.jsonl
    model_versions: list[str] = Field(default_factory=list)
    model_fingerprints: dict[str, str] = Field(
        default_factory=dict,
        description="name/version -> the model's fingerprint (manifest sha256), as the "
        "workers that embedded the chunks report it (what a search collection checks).",
    )
    submitted_at: str = Field(default_factory=now_iso)
    submit_finished_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    submit_seconds: float | None = None
    embed_seconds: float = Field(default=0.0, description="Sum of the workers' model time.")
    error: str | None = None
    aborted: bool = Field(
        default=False,
        description="The job could not run at all (fail_job): its input could not be read, "
        "its options are invalid, or no worker serves its model.",
    )
    finalized: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed(self) -> int:
        """Records that got no vector: rejected lines, the records of failed chunks, and the
        records the worker refused."""
        return self.invalid + self.chunk_failed_records + self.refused

    @property
    def complete(self) -> bool:
        """Every chunk is accounted for (done or failed) and the input was read whole."""
        return (
            self.submit_done
            and self.chunks is not None
            and self.chunks_done + self.chunks_failed == self.chunks
        )

    def to_json(self) -> bytes:
        return (self.model_dump_json(indent=2) + "\n").encode("utf-8")

    def summary(self) -> dict[str, object]:
        """What status commands and the API show: everything but the bitmaps."""
        data = self.model_dump(exclude={"done_bits", "failed_bits", "refused_bits"})
        keys = JobKeys(self.job_id)
        data["output"] = {"parts": keys.parts, "errors": keys.errors}
        if self.windows:
            data["output"]["windows"] = keys.windows
        return data


def read_job_manifest(store: ObjectStore, job_id: str) -> JobManifest:
    found = store.get(JobKeys(check_job_id(job_id)).manifest)
    if found is None:
        raise JobNotFoundError(f"no job {job_id} in {store.url()}")
    return JobManifest.model_validate_json(found[0])


def update(
    store: ObjectStore, job_id: str, change: Callable[[JobManifest], bool]
) -> tuple[JobManifest, JobManifest]:
    """Apply ``change`` to the manifest by compare-and-swap (``ObjectStore.update``,
    retried while other writers win); (before, after).

    ``change`` mutates the manifest it is given and returns whether it changed anything;
    it may run several times (once per attempt), so it must only depend on its argument.
    """

    def edit(found: bytes | None) -> tuple[bytes | None, tuple[JobManifest, JobManifest]]:
        if found is None:
            raise JobNotFoundError(f"no job {job_id} in {store.url()}")
        before = JobManifest.model_validate_json(found)
        after = before.model_copy(deep=True)
        return (after.to_json() if change(after) else None), (before, after)

    return store.update(JobKeys(job_id).manifest, edit, content_type="application/json")


# --------------------------------------------------------------------------------------
# chunk outcomes and completion


def chunk_done(
    store: ObjectStore,
    job_id: str,
    chunk: int,
    records: int,
    model: str,
    embed_seconds: float,
    *,
    refused: int = 0,
    window_rows: int = 0,
    fingerprint: str | None = None,
) -> JobManifest:
    """Record that ``chunk`` has its part (``records`` rows; ``refused`` more records of it
    are in ``errors/refused-<chunk>.jsonl``, written before); finalize the job if that
    completes it. ``model`` is ``name/version``."""
    keys = JobKeys(job_id)

    def change(m: JobManifest) -> bool:
        if bit_is_set(m.done_bits, chunk):
            return False  # a redelivery: counted already
        if m.aborted:
            return False  # the whole job failed (fail_job): nothing to count into
        if bit_is_set(m.failed_bits, chunk):  # redriven after it was given up
            m.failed_bits = set_bit(m.failed_bits, chunk, False)
            m.chunks_failed -= 1
            m.chunk_failed_records -= records + refused
            m.finalized = False
            m.load = None  # the job gains a part: its load runs again once it is final
        m.done_bits = set_bit(m.done_bits, chunk, True)
        m.chunks_done += 1
        m.ok += records
        if refused:
            m.refused += refused
            m.refused_bits = set_bit(m.refused_bits, chunk, True)
        m.window_rows += window_rows
        m.embed_seconds = round(m.embed_seconds + embed_seconds, 3)
        if model not in m.model_versions:
            m.model_versions.append(model)
        if fingerprint is not None:
            m.model_fingerprints.setdefault(model, fingerprint)
        name = model.rsplit("/", 1)[0]  # none named: the worker's default; else its spelling
        if m.model is None or m.model.lower() == name.lower():
            m.model = name
        m.started_at = m.started_at or now_iso()
        if m.status == "submitted" or m.status in TERMINAL:
            m.status = "running"
        return True

    before, after = update(store, job_id, change)
    if bit_is_set(before.failed_bits, chunk):
        store.delete(keys.chunk_errors(chunk))
    return finalize_if_complete(store, after)


def chunk_failed(
    store: ObjectStore, job_id: str, chunk: int, rows: list[dict[str, object]], reason: str
) -> JobManifest:
    """Give up on ``chunk``: its records go to the errors, the job may complete."""
    keys = JobKeys(job_id)
    current = read_job_manifest(store, job_id)
    if bit_is_set(current.done_bits, chunk) or bit_is_set(current.failed_bits, chunk):
        return finalize_if_complete(store, current)  # decided already: no stray error file
    lines = "".join(json.dumps({**row, "error": reason}, ensure_ascii=False) + "\n" for row in rows)
    store.put(keys.chunk_errors(chunk), lines.encode("utf-8"), content_type="application/x-ndjson")

    def change(m: JobManifest) -> bool:
        if bit_is_set(m.done_bits, chunk) or bit_is_set(m.failed_bits, chunk):
            return False
        m.failed_bits = set_bit(m.failed_bits, chunk, True)
        m.chunks_failed += 1
        m.chunk_failed_records += len(rows)
        m.started_at = m.started_at or now_iso()
        if m.status == "submitted":
            m.status = "running"
        return True

    _, after = update(store, job_id, change)
    return finalize_if_complete(store, after)


def final_status(m: JobManifest) -> Status:
    if m.aborted or not m.lines or m.ok == 0:
        return "failed"
    return "partially_failed" if m.failed else "succeeded"


def finalize_if_complete(store: ObjectStore, seen: JobManifest) -> JobManifest:
    """Write errors.jsonl, the final manifest, then _SUCCESS or _FAILED, if the job is
    complete and not finalized yet. Safe to run twice or concurrently: every writer
    writes the same content, and a chunk redriven meanwhile makes it start over.

    A finalized job without a marker (the writer died between the final manifest and the
    marker; its message or event came back) gets its marker now."""
    if seen.finalized:
        keys = JobKeys(seen.job_id)
        if store.head(keys.success) is None and store.head(keys.failure) is None:
            current = read_job_manifest(store, seen.job_id)
            if current.finalized:
                write_marker(store, current)
            return current
        return seen
    if not seen.complete:
        return seen
    write_errors(store, seen)

    def change(m: JobManifest) -> bool:
        if m.finalized or (m.done_bits, m.failed_bits) != (seen.done_bits, seen.failed_bits):
            return False
        m.status = final_status(m)
        if not m.aborted:
            m.error = None  # a redriven job may no longer be failed: say why afresh
        if m.status == "failed" and m.error is None:
            m.error = (
                "the input has no records"
                if not m.lines
                else "no record got a vector: every line is in errors.jsonl"
            )
        m.finalized = True
        m.finished_at = now_iso()
        return True

    _, after = update(store, seen.job_id, change)
    if not after.finalized:  # something changed under us: look again
        return finalize_if_complete(store, after)
    if (after.done_bits, after.failed_bits) != (seen.done_bits, seen.failed_bits):
        # Another writer finalized newer chunk states (a redriven chunk) and our
        # errors.jsonl, from the older ones, may have landed after theirs: write it again
        # from the final states.
        write_errors(store, after)
    write_marker(store, after)
    return after


def write_errors(store: ObjectStore, m: JobManifest) -> None:
    """errors.jsonl of ``m``'s chunk states: the submit step's rejected lines, then the
    records of every failed chunk and those the worker refused in a done one, in chunk
    order (streamed through a temporary file)."""
    keys = JobKeys(m.job_id)
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as spool:
        failed, refused = set(set_bits(m.failed_bits)), set(set_bits(m.refused_bits))
        sources = [keys.input_errors] + [
            keys.chunk_errors(n) if n in failed else keys.refused_errors(n)
            for n in sorted(failed | refused)
        ]
        for key in sources:
            if store.head(key) is not None:
                for block in store.stream(key):
                    spool.write(block)
        spool.flush()
        store.upload(keys.errors, Path(spool.name), content_type="application/x-ndjson")


def write_marker(store: ObjectStore, m: JobManifest) -> None:
    keys = JobKeys(m.job_id)
    marker, other = (
        (keys.success, keys.failure) if m.status == "succeeded" else (keys.failure, keys.success)
    )
    body = json.dumps(
        {"status": m.status, "lines": m.lines, "ok": m.ok, "failed": m.failed, "error": m.error}
    )
    # The other marker goes first: a failure in between leaves no marker (which the next
    # finalize_if_complete writes), never both.
    store.delete(other)
    store.put(marker, body.encode("utf-8"), content_type="application/json")


def fail_job(store: ObjectStore, job_id: str, reason: str) -> JobManifest:
    """The whole job cannot run (its input cannot be read, its options are invalid, no
    worker serves its model): mark it failed, finalized."""

    def change(m: JobManifest) -> bool:
        if m.finalized and m.status == "failed":
            return False
        m.error = reason
        m.aborted = True
        m.status = "failed"
        m.submit_done = True
        m.finalized = True
        m.finished_at = now_iso()
        return True

    _, after = update(store, job_id, change)
    store.put(JobKeys(job_id).errors, b"", content_type="application/x-ndjson")
    write_marker(store, after)
    return after
