"""The submit step: one input object in, chunk messages out, the job's manifest written.

Memory stays flat whatever the input size: the object is streamed, rejected lines are
spooled to a temporary file, and each chunk is sent as soon as it is full. Running the
step twice for the same upload (S3 may deliver an event twice; Lambda retries a failed
async invocation) sends the same chunks under the same numbers, which workers turn into
the same parts: nothing is duplicated.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from lamina.batch.jobs import (
    InputRef,
    JobKeys,
    JobManifest,
    OutputFormat,
    fail_job,
    finalize_if_complete,
    job_id_for,
    now_iso,
    update,
)
from lamina.batch.queues import SQS_MAX_BYTES, WorkQueue, batches
from lamina.batch.records import (
    FORMATS,
    LineError,
    Record,
    RecordId,
    RecordReader,
    input_format,
)
from lamina.errors import JobError, JobInputError
from lamina.storage import ObjectStore

# A record must fit in one message; a line this long cannot be a valid record anyway
# (the text limit is 20,000 characters, 80 kB of UTF-8 at most).
MAX_LINE_BYTES = 200_000
# The model reads at most 256 tokens of a text; WordPiece gives fewer tokens than
# UTF-8 bytes / 3 on real text (English ~ bytes / 4.5, CJK 1 token per 3-byte char).
MAX_TOKENS_PER_TEXT = 256
OUTPUT_FORMAT_METADATA = "lamina-output"  # x-amz-meta-lamina-output: jsonl | npz


def estimate_tokens(text: str) -> int:
    """Tokens the model will read from ``text``, estimated without a tokenizer."""
    return min(MAX_TOKENS_PER_TEXT, len(text.encode("utf-8")) // 3 + 2)


class ChunkMessage(BaseModel):
    """The body of one queue message: a chunk of a job, records in input order."""

    model_config = ConfigDict(extra="forbid")

    job: str
    chunk: int
    out: OutputFormat = "jsonl"
    normalize: bool = True
    records: list[tuple[int, RecordId, str]]


class RecordTooLargeError(JobError):
    """One record's message would exceed the queue's byte limit: a line error, not a job
    error (a CSV id may be 128 K characters, and JSON escaping makes them up to 6 bytes)."""


@dataclass
class ChunkLimits:
    max_records: int = 1000
    token_budget: int = 65_536
    max_bytes: int = SQS_MAX_BYTES


class Chunker:
    """Groups records into message bodies under the record, token and byte limits."""

    def __init__(self, job_id: str, out: str, normalize: bool, limits: ChunkLimits) -> None:
        self.limits = limits
        self.count = 0
        self._head = json.dumps({"job": job_id, "chunk": 0, "out": out, "normalize": normalize})
        self._records: list[str] = []
        self._bytes = 0
        self._tokens = 0

    def _body(self) -> str:
        head = self._head.replace('"chunk": 0', f'"chunk": {self.count}', 1)
        return head[:-1] + ', "records": [' + ",".join(self._records) + "]}"

    def add(self, record: Record) -> str | None:
        """Add a record; returns the previous chunk's body if this record starts a new one."""
        encoded = json.dumps([record.line, record.id, record.text], ensure_ascii=False)
        size = len(encoded.encode("utf-8")) + 1
        tokens = estimate_tokens(record.text)
        overhead = len(self._head) + 32
        if overhead + size > self.limits.max_bytes:
            raise RecordTooLargeError(
                f"record needs {overhead + size} bytes in a queue message"
                f" (limit {self.limits.max_bytes})"
            )
        finished = None
        if self._records and (
            len(self._records) >= self.limits.max_records
            or self._tokens + tokens > self.limits.token_budget
            or overhead + self._bytes + size > self.limits.max_bytes
        ):
            finished = self.flush()
        self._records.append(encoded)
        self._bytes += size
        self._tokens += tokens
        return finished

    def flush(self) -> str | None:
        if not self._records:
            return None
        body = self._body()
        self.count += 1
        self._records, self._bytes, self._tokens = [], 0, 0
        return body


def _start(
    store: ObjectStore, key: str, version_id: str | None, out: OutputFormat | None, normalize: bool
) -> tuple[JobManifest, bool]:
    """The job for the object at ``key`` (created if new); True if it still needs the
    submit step (False: a duplicate event for a job already submitted)."""
    info = store.head(key, version_id)
    if info is None:
        raise JobError(f"input {store.url(key)} does not exist (deleted before it was read?)")
    job_id = job_id_for(store.url(key), info.etag, info.version_id)
    keys = JobKeys(job_id)
    existing = store.get(keys.manifest)
    if existing is not None:
        manifest = JobManifest.model_validate_json(existing[0])
        return manifest, not manifest.submit_done
    chosen = out or info.metadata.get(OUTPUT_FORMAT_METADATA, "jsonl")
    if chosen not in ("jsonl", "npz"):
        chosen = "jsonl"  # an unknown option must not lose the job; jsonl is the default
    manifest = JobManifest(
        job_id=job_id,
        input=InputRef(
            uri=store.url(key),
            key=key,
            etag=info.etag,
            version_id=info.version_id,
            size=info.size,
            format=FORMATS.get(PurePosixPath(key).suffix.lower(), "unknown"),
        ),
        output_format=cast(OutputFormat, chosen),
        normalize=normalize,
    )
    if not store.put(
        keys.manifest, manifest.to_json(), content_type="application/json", if_none_match=True
    ):  # another submit of the same upload won the race: it does the work
        found = store.get(keys.manifest)
        assert found is not None
        return JobManifest.model_validate_json(found[0]), False
    return manifest, True


def submit_job(
    store: ObjectStore,
    queue: WorkQueue,
    key: str,
    *,
    limits: ChunkLimits | None = None,
    max_text_chars: int = 20_000,
    out: OutputFormat | None = None,
    normalize: bool = True,
    version_id: str | None = None,
) -> JobManifest:
    """Read ``key`` (its ``version_id``, if given: the one the S3 event names) from
    ``store``, queue its chunks, and return the job's manifest."""
    started = time.perf_counter()
    manifest, todo = _start(store, key, version_id, out, normalize)
    if not todo:  # submitted already; finish it if that attempt died before finalizing
        return finalize_if_complete(store, manifest)
    job_id = manifest.job_id
    keys = JobKeys(job_id)
    try:
        fmt = input_format(key)
    except JobInputError as exc:
        return fail_job(store, job_id, exc.message)

    reader = RecordReader(fmt, max_line_bytes=MAX_LINE_BYTES, max_text_chars=max_text_chars)
    chunker = Chunker(job_id, manifest.output_format, manifest.normalize, limits or ChunkLimits())
    rejected = 0
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as spool:

        def bodies() -> Iterator[str]:
            nonlocal rejected
            for item in reader.read(store.stream(key, manifest.input.version_id)):
                if isinstance(item, LineError):
                    rejected += 1
                    spool.write(json.dumps(item.to_json(), ensure_ascii=False).encode() + b"\n")
                    continue
                try:
                    body = chunker.add(item)
                except RecordTooLargeError as exc:  # not the whole job: this line only
                    error = LineError(item.line, exc.message, item.id)
                    rejected += 1
                    spool.write(json.dumps(error.to_json(), ensure_ascii=False).encode() + b"\n")
                    continue
                if body is not None:
                    yield body
            last = chunker.flush()
            if last is not None:
                yield last

        try:
            send_all(queue, batches(bodies()))
        except JobInputError as exc:
            return fail_job(store, job_id, exc.message)
        spool.flush()
        store.upload(keys.input_errors, Path(spool.name), content_type="application/x-ndjson")

    seconds = round(time.perf_counter() - started, 3)

    def done(m: JobManifest) -> bool:
        m.lines, m.invalid, m.chunks = reader.count, rejected, chunker.count
        m.submit_done = True
        m.submit_finished_at = now_iso()
        m.submit_seconds = seconds
        if m.status == "submitted" and chunker.count:
            m.status = "running"
        return True

    _, after = update(store, job_id, done)
    return finalize_if_complete(store, after)


SEND_THREADS = 8  # SendMessageBatch calls in flight: a 5 GB input is ~20,000 of them


def send_all(queue: WorkQueue, groups: Iterable[list[str]]) -> None:
    """Send every group, ``SEND_THREADS`` calls at a time (one call is network-bound, about
    20-50 ms); at most 2 x SEND_THREADS groups are held in memory. The first failure is
    raised once the calls in flight are done."""
    with ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="lamina-send") as pool:
        pending: set[Future[None]] = set()
        for group in groups:
            pending.add(pool.submit(queue.send, group))
            if len(pending) >= 2 * SEND_THREADS:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
        for future in pending:
            future.result()


def s3_event_keys(event: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(bucket, key, version id or None) of each ObjectCreated record of an S3 event
    notification; test events (``s3:TestEvent``) yield nothing. Keys arrive URL-encoded
    (``a+b`` is ``a b``)."""
    from urllib.parse import unquote_plus

    if event.get("Event") == "s3:TestEvent":
        return
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        version = s3["object"].get("versionId") or None
        yield s3["bucket"]["name"], unquote_plus(s3["object"]["key"]), version
