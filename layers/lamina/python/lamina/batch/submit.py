"""The submit step: one input object in, chunk messages out, the job's manifest written.

Memory stays flat whatever the input size: the object is streamed, rejected lines are
spooled to a temporary file, and each chunk is sent as soon as it is full. Running the
step twice for the same upload (S3 may deliver an event twice; Lambda retries a failed
async invocation) sends the same chunks under the same numbers, which workers turn into
the same parts: nothing is duplicated.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, Protocol, cast, get_args

from pydantic import BaseModel, ConfigDict

from lamina.batch.jobs import (
    COLLECTION_PATTERN,
    InputRef,
    InputType,
    JobKeys,
    JobManifest,
    LongText,
    OutputFormat,
    fail_job,
    finalize_if_complete,
    job_id_for,
    now_iso,
    owner_of,
    update,
)
from lamina.batch.loading import queue_load
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

# The longest physical line read whole (jsonl, txt; each line of a csv row). A text within
# the 20,000-character limit takes at most 80 kB of UTF-8. With long_text=split a text may
# be far longer, so the limit grows by SPLIT_BYTES_PER_CHAR per character allowed
# (LAMINA_MAX_SPLIT_TEXT_CHARS): room for any text under the character limit, even one
# spelled with \u escapes (12 bytes for a character outside the BMP).
MAX_LINE_BYTES = 200_000
# The largest input object read (its size as S3 reports it, checked before a byte is read;
# LAMINA_BATCH_MAX_INPUT_BYTES): what the submit function parses in its 15 minutes with
# room to spare, and what its duplicate-id set holds in 1,769 MB for records of 80 bytes
# or more (25 million: docs/batch.md, "Memory and limits").
MAX_INPUT_BYTES = 2_000_000_000
# The most records (lines; csv rows) one input may hold (LAMINA_BATCH_MAX_RECORDS): small
# records pack many more than 25 million into 2 GB (a csv row "1,a" is 4 bytes), and the
# duplicate-id set grows with their count, not their bytes. 25 million: ~805 MB of id set at
# its peak (a 2^26-slot table while the 2^25 one is copied).
MAX_RECORDS = 25_000_000
# The most invalid lines one input may hold (LAMINA_BATCH_MAX_LINE_ERRORS): each is spooled
# to /tmp (the submit function's EphemeralStorage, 2 GB) for errors/input.jsonl, about 100-300
# bytes apiece; a file that is mostly errors is the wrong file or the wrong format.
MAX_LINE_ERRORS = 1_000_000
SPLIT_BYTES_PER_CHAR = 12
# The longest text a long_text=split job accepts unless LAMINA_MAX_SPLIT_TEXT_CHARS is set
# for the function: more than the API's default, which bounds one request's time, while a
# job's text is bounded by the worker's timeout (a chunk of its own, docs/batch.md).
BATCH_MAX_SPLIT_TEXT_CHARS = 200_000
# The most tokens a model reads of one text: multilingual-e5-small's 512 (MiniLM reads
# 256). Tokens are estimated without a tokenizer as UTF-8 bytes / 3: more than WordPiece or
# SentencePiece give on most text (English ~ bytes / 4.5, CJK about 1 per 3-byte character).
MAX_TOKENS_PER_TEXT = 512
# long_text=split reads the whole text, in windows that share 32-64 tokens and each add the
# special tokens and the prompt (up to 26% more tokens than the text has, with MiniLM's
# 254-token windows), and Hangul under MiniLM's WordPiece (NFD jamo) is ~1.35 tokens per
# character. On a 150,000-character Korean and English text: 116,271 tokens read by
# MiniLM, 77,112 by e5; estimated 128,829.
SPLIT_TOKEN_FACTOR = 1.5

# S3 object metadata (x-amz-meta-lamina-<option>) and the CLI flags (--<option>) that set a
# job's options; their values and defaults are JobOptions' (docs/batch.md, "Options").
METADATA_PREFIX = "lamina-"
OPTION_NAMES = ("output", "model", "input-type", "long-text", "windows", "collection")
OUTPUT_FORMAT_METADATA = "lamina-output"  # x-amz-meta-lamina-output: jsonl | npz
MODEL_METADATA = "lamina-model"  # a served model's name
INPUT_TYPE_METADATA = "lamina-input-type"  # query | passage | none
LONG_TEXT_METADATA = "lamina-long-text"  # truncate | reject | split
WINDOWS_METADATA = "lamina-windows"  # true | false
COLLECTION_METADATA = "lamina-collection"  # a search collection the job loads itself into
# A batch job embeds documents: passage is the prompt a model with prompts (e5) was
# trained with for them, and a model without prompts (MiniLM) ignores it.
DEFAULT_INPUT_TYPE: InputType = "passage"
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # a manifest's name
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


log = logging.getLogger(__name__)


class Logger(Protocol):
    """What the submit step logs an unexpected failure with: a ``logging.Logger`` or
    Powertools' ``Logger``."""

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None: ...


def estimate_tokens(text: str, *, split: bool = False) -> int:
    """Tokens the model will read from ``text``, estimated without a tokenizer: at most one
    window's worth, unless ``split`` (then every window of the text counts)."""
    tokens = len(text.encode("utf-8")) // 3 + 2
    if split and tokens > MAX_TOKENS_PER_TEXT:
        return int(tokens * SPLIT_TOKEN_FACTOR)
    return min(MAX_TOKENS_PER_TEXT, tokens)


class JobOptions(BaseModel):
    """How a job's records are embedded and written: from the input object's metadata (or
    the local runner's flags), checked once, recorded in the manifest and every message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    output_format: OutputFormat = "jsonl"
    normalize: bool = True
    model: str | None = None  # None: the worker's default model
    input_type: InputType | None = DEFAULT_INPUT_TYPE  # None: the text as it is
    long_text: LongText = "truncate"
    windows: bool = False
    collection: str | None = None  # None: the job loads itself into no collection


def _choice(name: str, value: str, allowed: Sequence[str], problems: list[str]) -> str | None:
    folded = value.strip().lower()
    if folded in allowed:
        return folded
    problems.append(
        f"{name} {value!r} is not one of {', '.join(allowed)}"
        f" (x-amz-meta-{METADATA_PREFIX}{name}, --{name})"
    )
    return None


def job_options(
    values: Mapping[str, str],
    *,
    normalize: bool = True,
    served: Sequence[str] | None = None,
    default_model: str | None = None,
    search: bool | None = None,
) -> JobOptions:
    """The options ``values`` name (option -> value as the metadata spells it, e.g.
    ``{"model": "multilingual-e5-small", "input-type": "passage"}``); JobInputError naming
    every bad value. ``served``: the model names the workers hold, when known here (the
    submit function loads no model): a model is then checked against them (any case) and
    spelled as they spell it. ``default_model``: the job's model when it names none (else
    the first of ``served``, else None: the worker's default). ``search``: whether the
    deployment has a search database, when known here: a collection is refused without one."""
    problems: list[str] = []
    # An unknown output format falls back to jsonl, as it always has.
    output = values.get("output", "jsonl").strip().lower()
    input_type = _choice(
        "input-type",
        values.get("input-type", DEFAULT_INPUT_TYPE),
        [*get_args(InputType), "none"],
        problems,
    )
    long_text = _choice(
        "long-text", values.get("long-text", "truncate"), get_args(LongText), problems
    )
    windows = _choice("windows", values.get("windows", "false"), [*_TRUE, *_FALSE], problems)
    if windows in _TRUE and long_text not in (None, "split"):
        problems.append("windows needs long-text split (without it a text is one window)")
    model = values.get("model", "").strip() or default_model
    if model is not None:
        if not MODEL_NAME.fullmatch(model):
            problems.append(
                f"model {model!r} is not a model name (a served model's, e.g. "
                "multilingual-e5-small; a model directory only with lamina jobs run --local)"
            )
        elif served is not None:
            by_name = {name.lower(): name for name in served}
            if model.lower() in by_name:
                model = by_name[model.lower()]
            else:
                problems.append(
                    f"model {model!r} is not served by the batch workers; served: "
                    + ", ".join(repr(name) for name in served)
                )
    elif served:
        model = served[0]
    collection = values.get("collection", "").strip() or None
    if collection is not None:
        if not re.fullmatch(COLLECTION_PATTERN, collection):
            problems.append(
                f"collection {collection!r} is not a collection name: lower-case letters, "
                "digits and _, a letter first, at most 40 characters"
                f" (x-amz-meta-{COLLECTION_METADATA}, --collection)"
            )
        elif search is False:
            problems.append(
                f"collection {collection!r}: this deployment has no search database (the "
                "stack's SearchSecretArn; locally LAMINA_SEARCH_DSN), so a job cannot load "
                "itself; embed without it and load the job with `lamina index load`"
            )
    if problems:
        raise JobInputError("invalid job options: " + "; ".join(problems))
    return JobOptions(
        output_format=cast(OutputFormat, output if output in ("jsonl", "npz") else "jsonl"),
        normalize=normalize,
        model=model,
        input_type=None if input_type == "none" else cast(InputType, input_type),
        long_text=cast(LongText, long_text),
        windows=windows in _TRUE,
        collection=collection,
    )


def metadata_options(metadata: Mapping[str, str]) -> dict[str, str]:
    """The job options among an object's user metadata (its ``lamina-<option>`` keys)."""
    return {
        name: metadata[METADATA_PREFIX + name]
        for name in OPTION_NAMES
        if METADATA_PREFIX + name in metadata
    }


class SpilledText(BaseModel):
    """In a message, a record's text that did not fit in it: the text is the object
    ``JobKeys.spill(line)``, derived from the job and the line (a message cannot point
    anywhere else)."""

    model_config = ConfigDict(extra="forbid")

    spilled: int  # the text's size in bytes (UTF-8)


class ChunkMessage(BaseModel):
    """The body of one queue message: a chunk of a job, records in input order.

    A message without the option fields (sent before they existed) means what it meant
    then: the worker's default model, no prompt, truncated, no window rows."""

    model_config = ConfigDict(extra="forbid")

    job: str
    chunk: int
    out: OutputFormat = "jsonl"
    normalize: bool = True
    model: str | None = None
    input_type: InputType | None = None
    long_text: LongText = "truncate"
    windows: bool = False
    records: list[tuple[int, RecordId, str | SpilledText]]


class RecordTooLargeError(JobError):
    """One record's message would exceed the queue's byte limit: a line error, not a job
    error (a CSV id may be 128 K characters, and JSON escaping makes them up to 6 bytes)."""


@dataclass
class ChunkLimits:
    max_records: int = 1000
    token_budget: int = 65_536
    max_bytes: int = SQS_MAX_BYTES


Spill = Callable[[Record], None]


class Chunker:
    """Groups records into message bodies under the record, token and byte limits. The text
    of a record too large for a message is handed to ``spill`` (which writes it to the job's
    ``spill/``) and the message carries a ``SpilledText`` in its place."""

    def __init__(
        self, job_id: str, options: JobOptions, limits: ChunkLimits, spill: Spill | None = None
    ) -> None:
        self.limits = limits
        self.count = 0
        self.spilled = 0
        self._split = options.long_text == "split"
        self._spill = spill
        self._head = json.dumps(
            {
                "job": job_id,
                "chunk": 0,
                "out": options.output_format,
                "normalize": options.normalize,
                "model": options.model,
                "input_type": options.input_type,
                "long_text": options.long_text,
                "windows": options.windows,
            }
        )
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
        tokens = estimate_tokens(record.text, split=self._split)
        overhead = len(self._head) + 32
        if overhead + size > self.limits.max_bytes and self._spill is not None:
            ref = SpilledText(spilled=len(record.text.encode("utf-8")))
            spilled = json.dumps([record.line, record.id, ref.model_dump()], ensure_ascii=False)
            spilled_size = len(spilled.encode("utf-8")) + 1
            if overhead + spilled_size <= self.limits.max_bytes:  # else: the id is too large
                self._spill(record)
                self.spilled += 1
                encoded, size = spilled, spilled_size
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
    store: ObjectStore,
    key: str,
    version_id: str | None,
    choose: Callable[[Mapping[str, str]], JobOptions],
    owner: str | None = None,
) -> tuple[JobManifest, bool, str | None]:
    """The job for the object at ``key`` (created if new); True if it still needs the
    submit step (False: a duplicate event for a job already submitted); and why its options
    are refused, if they are (the job is then created with the defaults, to be failed)."""
    info = store.head(key, version_id)
    if info is None:
        raise JobError(f"input {store.url(key)} does not exist (deleted before it was read?)")
    job_id = job_id_for(store.url(key), info.etag, info.version_id)
    keys = JobKeys(job_id)
    existing = store.get(keys.manifest)
    if existing is not None:
        manifest = JobManifest.model_validate_json(existing[0])
        return manifest, not manifest.submit_done, None
    refused = None
    try:
        options = choose(info.metadata)
    except JobInputError as exc:
        options, refused = JobOptions(), exc.message
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
        output_format=options.output_format,
        normalize=options.normalize,
        model=options.model,
        input_type=options.input_type,
        long_text=options.long_text,
        windows=options.windows,
        collection=options.collection,
        owner=owner,
    )
    if not store.put(
        keys.manifest, manifest.to_json(), content_type="application/json", if_none_match=True
    ):  # another submit of the same upload won the race: it does the work
        found = store.get(keys.manifest)
        assert found is not None
        return JobManifest.model_validate_json(found[0]), False, None
    return manifest, True, refused


def manifest_options(m: JobManifest) -> JobOptions:
    """The options a job's manifest records."""
    return JobOptions(
        output_format=m.output_format,
        normalize=m.normalize,
        model=m.model,
        input_type=m.input_type,
        long_text=m.long_text,
        windows=m.windows,
        collection=m.collection,
    )


def submit_job(
    store: ObjectStore,
    queue: WorkQueue,
    key: str,
    *,
    limits: ChunkLimits | None = None,
    max_text_chars: int = 20_000,
    max_split_text_chars: int = BATCH_MAX_SPLIT_TEXT_CHARS,
    out: OutputFormat | None = None,
    normalize: bool = True,
    options: Mapping[str, str] | None = None,
    served: Sequence[str] | None = None,
    default_model: str | None = None,
    version_id: str | None = None,
    max_input_bytes: int = MAX_INPUT_BYTES,
    max_records: int = MAX_RECORDS,
    max_line_errors: int = MAX_LINE_ERRORS,
    owner: str | None = None,
    search: bool | None = None,
    logger: Logger | None = None,
) -> JobManifest:
    """Read ``key`` (its ``version_id``, if given: the one the S3 event names) from
    ``store``, queue its chunks, and return the job's manifest.

    The job's options come from the object's metadata (``x-amz-meta-lamina-<option>``);
    ``options`` (the same names: ``{"model": ..., "long-text": ...}``) and ``out`` override
    it; ``served``, ``default_model`` and ``search`` as in ``job_options``. A job that
    names a collection and is finalized here (its workers were done first) has its load
    queued here (``lamina.batch.loading``). Invalid options fail the
    job, its manifest's ``error`` saying why; so does an input over ``max_input_bytes``,
    ``max_records`` records or ``max_line_errors`` invalid lines (the invalid lines read
    until then are still written to errors/input.jsonl).

    Once the job exists, it cannot be left ``submitted``: a storage or queue error
    (JobError) propagates, for Lambda to retry the event (the retry redoes the step); any
    other exception is a bug or hostile input the step did not expect, which a retry would
    only repeat: it is logged (``logger``, else this module's) with its traceback and the
    job fails, its ``error`` naming the exception's type only (no message: it may hold
    bucket names or paths)."""
    started = time.perf_counter()

    def choose(metadata: Mapping[str, str]) -> JobOptions:
        values = metadata_options(metadata) | dict(options or {})
        if out is not None:
            values["output"] = out
        return job_options(
            values,
            normalize=normalize,
            served=served,
            default_model=default_model,
            search=search,
        )

    manifest, todo, refused = _start(store, key, version_id, choose, owner_of(owner))
    if not todo:  # submitted already; finish it if that attempt died before finalizing
        return queue_load(store, queue, finalize_if_complete(store, manifest))
    job_id = manifest.job_id
    if refused is not None:
        return fail_job(store, job_id, refused)
    try:
        fmt = input_format(key)
    except JobInputError as exc:
        return fail_job(store, job_id, exc.message)
    if manifest.input.size > max_input_bytes:
        return fail_job(store, job_id, _too_large(manifest.input.size, max_input_bytes))
    try:
        after = _read_and_queue(
            store,
            queue,
            manifest,
            fmt,
            limits=limits,
            max_text_chars=max_text_chars,
            max_split_text_chars=max_split_text_chars,
            max_input_bytes=max_input_bytes,
            max_records=max_records,
            max_line_errors=max_line_errors,
            started=started,
        )
    except JobError:
        raise  # S3 or SQS: Lambda retries the event, and the retry redoes this step
    except Exception as exc:
        (logger or log).exception(
            "submit step failed unexpectedly: the job is failed",
            exc_info=exc,
            extra={"job": job_id, "key": key, "error_type": type(exc).__name__},
        )
        return fail_job(
            store,
            job_id,
            f"the submit step failed unexpectedly ({type(exc).__name__}) and the job was "
            f"stopped; upload the file again to retry, and report job {job_id} if it fails "
            "the same way",
        )
    return queue_load(store, queue, after)


def _too_large(size: int, limit: int) -> str:
    return (
        f"the input is {size} bytes, over the limit of {limit}"
        " (LAMINA_BATCH_MAX_INPUT_BYTES): split it into smaller files"
    )


def _bounded(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """``chunks``, or JobInputError once they add up to more than ``limit`` bytes (the
    size S3 reported was checked first: this holds whatever the store says)."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise JobInputError(
                f"the input has more than {limit} bytes (LAMINA_BATCH_MAX_INPUT_BYTES):"
                " split it into smaller files"
            )
        yield chunk


def _read_and_queue(
    store: ObjectStore,
    queue: WorkQueue,
    manifest: JobManifest,
    fmt: str,
    *,
    limits: ChunkLimits | None,
    max_text_chars: int,
    max_split_text_chars: int,
    max_input_bytes: int,
    max_records: int,
    max_line_errors: int,
    started: float,
) -> JobManifest:
    """The submit step proper, for a new job: stream the input, queue its chunks, write
    errors/input.jsonl and the manifest's counts."""
    job_id = manifest.job_id
    keys = JobKeys(job_id)
    key = manifest.input.key

    split = manifest.long_text == "split"
    reader = RecordReader(
        fmt,
        max_line_bytes=MAX_LINE_BYTES
        + (SPLIT_BYTES_PER_CHAR * max_split_text_chars if split else 0),
        max_text_chars=max_split_text_chars if split else max_text_chars,
        split_text_chars=None if split else max_split_text_chars,
        max_records=max_records,
    )

    def spill(record: Record) -> None:
        store.put(
            keys.spill(record.line),
            record.text.encode("utf-8"),
            content_type="text/plain; charset=utf-8",
        )

    chunker = Chunker(job_id, manifest_options(manifest), limits or ChunkLimits(), spill)
    rejected = 0
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as spool:

        def reject(error: LineError) -> None:
            nonlocal rejected
            if rejected >= max_line_errors:
                raise JobInputError(
                    f"more than {max_line_errors} lines of the input are invalid "
                    "(LAMINA_BATCH_MAX_LINE_ERRORS): is it the right file, in the format its "
                    "extension says? The first ones are in the job's errors"
                )
            rejected += 1
            spool.write(json.dumps(error.to_json(), ensure_ascii=False).encode() + b"\n")

        def bodies() -> Iterator[str]:
            stream = store.stream(key, manifest.input.version_id)
            for item in reader.read(_bounded(stream, max_input_bytes)):
                if isinstance(item, LineError):
                    reject(item)
                    continue
                try:
                    body = chunker.add(item)
                except RecordTooLargeError as exc:  # not the whole job: this line only
                    reject(LineError(item.line, exc.message, item.id))
                    continue
                if body is not None:
                    yield body
            last = chunker.flush()
            if last is not None:
                yield last

        def write_errors() -> None:
            spool.flush()
            store.upload(keys.input_errors, Path(spool.name), content_type="application/x-ndjson")

        try:
            send_all(queue, batches(bodies()))
        except JobInputError as exc:
            if rejected:
                write_errors()  # what was found wrong so far, for the person who fixes it
            return fail_job(store, job_id, exc.message)
        write_errors()

    seconds = round(time.perf_counter() - started, 3)

    def done(m: JobManifest) -> bool:
        m.lines, m.invalid, m.chunks = reader.count, rejected, chunker.count
        m.spilled = chunker.spilled
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


class S3Upload(NamedTuple):
    bucket: str
    key: str
    version_id: str | None
    principal: str | None  # userIdentity.principalId: who wrote the object


def s3_event_keys(event: dict[str, Any]) -> Iterator[S3Upload]:
    """Bucket, key, version id (or None) and uploader of each ObjectCreated record of an S3
    event notification; test events (``s3:TestEvent``) yield nothing. Keys arrive
    URL-encoded (``a+b`` is ``a b``)."""
    from urllib.parse import unquote_plus

    if event.get("Event") == "s3:TestEvent":
        return
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        version = s3["object"].get("versionId") or None
        principal = (record.get("userIdentity") or {}).get("principalId")
        yield S3Upload(
            s3["bucket"]["name"],
            unquote_plus(s3["object"]["key"]),
            version,
            principal if isinstance(principal, str) else None,
        )
