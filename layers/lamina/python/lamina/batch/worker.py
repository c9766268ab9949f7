"""The worker step: one chunk message in, one part out, the job's manifest updated.

The worker holds every model of the deployment (``LAMINA_MODELS``, else ``MODEL_URI``) and
embeds each chunk with the one its message names (none: the default,
``LAMINA_DEFAULT_MODEL`` or the first), with the message's options: the input type's
prompt, what to do with a text over the model's token limit (truncate it; refuse it, a
per-record error; or split it into windows, and then write a row per window too).

A part's key depends only on the job and the chunk number, so a redelivered message
rewrites the same object: rows are never duplicated. A chunk that still fails on its
last receive (``max_receive_count``, the queue's redrive setting) is given up *before*
the message moves to the dead-letter queue: its records go to the job's errors, so the
job can finish (partially failed) and ``ok + failed == lines`` holds. Redriving the
message later (``lamina jobs redrive``) turns the chunk back into a done one. A message
naming a model no worker holds fails its job at once (``fail_job``): no retry can help.

The same queue carries a job's *load message* when the job names a search collection
(``lamina.batch.loading``): the worker that finalizes such a job queues it, and the worker
that receives it loads the job into its collection with the ``loader`` it was given (the
function wires ``lamina.search.jobload``; the batch package knows no database).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from lamina.batch.jobs import (
    JobKeys,
    JobManifest,
    bit_is_set,
    check_job_id,
    chunk_done,
    chunk_failed,
    fail_job,
    read_job_manifest,
)
from lamina.batch.loading import (
    JobLoader,
    LoadMessage,
    TimeLeft,
    deadline_clock,
    load_due,
    load_failed,
    queue_load,
)
from lamina.batch.queues import WorkQueue
from lamina.batch.records import RecordId
from lamina.batch.submit import ChunkMessage, SpilledText
from lamina.errors import (
    ConfigurationError,
    IndexUnavailableError,
    InvalidInputError,
    JobError,
    JobInputError,
    JobNotFoundError,
    ModelMismatchError,
    SearchNotConfiguredError,
)
from lamina.inference.embedder import Embedder, EmbeddingResult, LongText
from lamina.observability import MetricName, Telemetry
from lamina.storage import ObjectStore

Row = tuple[int, RecordId]  # (line, id) of an embedded record
WindowRow = tuple[int, RecordId, int, int, int, int]  # line, id, window, start, end, tokens


def _finite(vectors: np.ndarray) -> None:
    if not np.isfinite(vectors).all():
        raise JobError("the model produced non-finite values")


def _floats(vectors: np.ndarray) -> list[str]:
    """Each vector as JSON floats with 9 significant digits, which read back as exactly the
    same float32 (half the bytes of Python's repr)."""
    template = ",".join(["{:.9g}"] * vectors.shape[1])
    return [template.format(*vector) for vector in vectors.tolist()]


def encode_jsonl(rows: Sequence[Row], vectors: np.ndarray, model: str) -> bytes:
    """``{"id", "line", "model", "embedding"}`` per record; ``model`` is ``name/version``."""
    _finite(vectors)
    tag = json.dumps(model)
    lines = [
        f'{{"id": {json.dumps(record_id, ensure_ascii=False)}, "line": {line}, '
        f'"model": {tag}, "embedding": [{floats}]}}\n'
        for (line, record_id), floats in zip(rows, _floats(vectors), strict=True)
    ]
    return "".join(lines).encode("utf-8")


def encode_npz(rows: Sequence[Row], vectors: np.ndarray, model: str) -> bytes:
    """An ``.npz`` with ``ids`` (as strings), ``lines`` (int64), ``embeddings`` (float32)
    and ``model`` (a 0-d string: every row of a part comes from one model)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.array([str(record_id) for _, record_id in rows], dtype=str),
        lines=np.array([line for line, _ in rows], dtype=np.int64),
        embeddings=vectors.astype(np.float32, copy=False),
        model=np.array(model),
    )
    return buffer.getvalue()


def encode_windows_jsonl(rows: Sequence[WindowRow], vectors: np.ndarray, model: str) -> bytes:
    """``{"id", "line", "window", "start", "end", "tokens", "model", "embedding"}`` per
    window: ``text[start:end]`` (characters) is what window ``window`` (0-based) embedded."""
    _finite(vectors)
    tag = json.dumps(model)
    lines = [
        f'{{"id": {json.dumps(record_id, ensure_ascii=False)}, "line": {line}, '
        f'"window": {window}, "start": {start}, "end": {end}, "tokens": {tokens}, '
        f'"model": {tag}, "embedding": [{floats}]}}\n'
        for (line, record_id, window, start, end, tokens), floats in zip(
            rows, _floats(vectors), strict=True
        )
    ]
    return "".join(lines).encode("utf-8")


def encode_windows_npz(rows: Sequence[WindowRow], vectors: np.ndarray, model: str) -> bytes:
    """``ids``, ``lines``, ``windows``, ``starts``, ``ends``, ``tokens`` (int64 but ids),
    ``embeddings`` (float32) and ``model``, one entry per window."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.array([str(record_id) for record_id in columns[1]], dtype=str),
        lines=np.array(columns[0], dtype=np.int64),
        windows=np.array(columns[2], dtype=np.int64),
        starts=np.array(columns[3], dtype=np.int64),
        ends=np.array(columns[4], dtype=np.int64),
        tokens=np.array(columns[5], dtype=np.int64),
        embeddings=vectors.astype(np.float32, copy=False),
        model=np.array(model),
    )
    return buffer.getvalue()


ENCODERS = {"jsonl": encode_jsonl, "npz": encode_npz}
WINDOW_ENCODERS = {"jsonl": encode_windows_jsonl, "npz": encode_windows_npz}
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "npz": "application/octet-stream"}


def model_id(embedder: Embedder) -> str:
    """``name/version``: what the manifest's ``model_versions`` and each row say."""
    return f"{embedder.manifest.name}/{embedder.manifest.version}"


# Errors that no retry of a load message can mend: the load fails at once.
PERMANENT_LOAD_ERRORS = (
    InvalidInputError,
    ModelMismatchError,
    JobInputError,
    SearchNotConfiguredError,
)


def load_message(body: str) -> LoadMessage | None:
    """``body`` as a load message, or None if it is not one (a chunk, or not ours)."""
    if '"load"' not in body[:256]:  # a chunk message starts with its job and chunk
        return None
    try:
        return LoadMessage.model_validate_json(body)
    except ValidationError:
        return None


class ChunkWorker:
    """Embeds chunks with the models it holds and writes them to one store; loads the jobs
    that name a collection with ``loader`` (None: such a job's load fails, saying why)."""

    def __init__(
        self,
        store: ObjectStore,
        embedders: Embedder | Mapping[str, Embedder],
        *,
        max_receive_count: int,
        telemetry: Telemetry | None = None,
        default: str | None = None,
        queue: WorkQueue | None = None,
        loader: JobLoader | None = None,
    ) -> None:
        """``embedders``: by name (one embedder: under its manifest name); ``default``: the
        model of a message that names none (None: the first); ``queue``: where load
        messages go (the batch queue); ``loader``: what loads a job into its collection."""
        if isinstance(embedders, Embedder):
            embedders = {embedders.manifest.name: embedders}
        if not embedders:
            raise ConfigurationError("the batch worker has no model")
        self.store = store
        self.embedders = dict(embedders)
        self._names = {name.lower(): name for name in self.embedders}
        chosen = default or next(iter(self.embedders))
        if chosen.lower() not in self._names:
            raise ConfigurationError(
                f"default model {chosen!r} is not among the worker's models: {self.served}"
            )
        self.default = self._names[chosen.lower()]
        self.max_receive_count = max_receive_count
        self.telemetry = telemetry
        self.queue = queue
        self.loader = loader
        # What is left of the current invocation (WorkerHandler sets it per invocation).
        self.time_left: TimeLeft = deadline_clock(None)

    @property
    def embedder(self) -> Embedder:
        """The default model."""
        return self.embedders[self.default]

    @property
    def served(self) -> str:
        return ", ".join(repr(name) for name in self.embedders)

    def resolve(self, model: str | None) -> Embedder | None:
        """The model a message names (its name, any case), the default for none; None if
        this worker does not hold it."""
        if model is None:
            return self.embedder
        name = self._names.get(model.lower())
        return None if name is None else self.embedders[name]

    def process(self, body: str, receive_count: int) -> int:
        """Embed one chunk and record it; returns the records written. Raises on failure
        (the message is retried), after giving the chunk up on its last receive.

        A load message loads its job into its collection instead (0 records written)."""
        load = load_message(body)
        if load is not None:
            self.load(load.load, receive_count)
            return 0
        try:
            message = ChunkMessage.model_validate_json(body)
        except ValidationError as exc:
            # Not ours (or corrupt): no job to account it to. It reaches the DLQ.
            raise JobError(f"not a lamina chunk message: {exc.error_count()} problem(s)") from exc
        check_job_id(message.job)
        if self.store.head(JobKeys(message.job).manifest) is None:
            # No job to write into (deleted, or a message from another bucket's jobs): write
            # nothing, so no stray part appears; the message reaches the DLQ.
            raise JobNotFoundError(
                f"chunk {message.chunk} names job {message.job}, which is not here"
            )
        embedder = self.resolve(message.model)
        if embedder is None:
            self._unknown_model(message)
            return 0
        try:
            return self._embed_and_write(message, embedder)
        except Exception as exc:
            if receive_count >= self.max_receive_count:
                self._give_up(message, receive_count, exc)
            raise

    def _texts(self, message: ChunkMessage) -> list[str]:
        """The chunk's texts, a spilled one read back from the job's ``spill/``."""
        texts: list[str] = []
        for line, _, text in message.records:
            if isinstance(text, SpilledText):
                key = JobKeys(message.job).spill(line)
                found = self.store.get(key)
                if found is None or len(found[0]) != text.spilled:
                    size = "missing" if found is None else f"{len(found[0])} bytes"
                    raise JobError(
                        f"the text of line {line} is not at {key} ({size}, expected "
                        f"{text.spilled} bytes)"
                    )
                text = found[0].decode("utf-8")
            texts.append(text)
        return texts

    def _embed_and_write(self, message: ChunkMessage, embedder: Embedder) -> int:
        keys = JobKeys(message.job)
        texts = self._texts(message)
        start = time.perf_counter()
        mode: LongText = message.long_text
        # reject: embed truncated, then refuse the texts that were cut (one pass, no retry).
        result = embedder.embed(
            texts,
            normalize=message.normalize,
            long_text="truncate" if mode == "reject" else mode,
            input_type=message.input_type,
        )
        seconds = time.perf_counter() - start
        model = model_id(embedder)
        kept = [i for i in range(len(texts)) if not (mode == "reject" and result.truncated[i])]
        refused = len(texts) - len(kept)
        if refused:
            reason = (
                f"text is longer than the model's {embedder.manifest.max_seq_length} tokens "
                f"({model}; long_text=reject)"
            )
            rows = "".join(
                json.dumps({"line": line, "id": rid, "error": reason}, ensure_ascii=False) + "\n"
                for i, (line, rid, _) in enumerate(message.records)
                if result.truncated[i]
            )
            self.store.put(
                keys.refused_errors(message.chunk),
                rows.encode("utf-8"),
                content_type="application/x-ndjson",
            )
        window_rows = self._write_windows(message, result, model) if message.windows else 0
        embedded = [(message.records[i][0], message.records[i][1]) for i in kept]
        data = ENCODERS[message.out](embedded, result.vectors[kept], model)
        self.store.put(
            keys.part(message.chunk, message.out), data, content_type=CONTENT_TYPES[message.out]
        )
        after = chunk_done(
            self.store,
            message.job,
            message.chunk,
            len(kept),
            model,
            seconds,
            refused=refused,
            window_rows=window_rows,
            fingerprint=embedder.manifest.digest,
        )
        self.queue_load(after)
        if self.telemetry is not None:
            if len(self.embedders) > 1:
                self.telemetry.serving(embedder.manifest)
            self.telemetry.stages(result.timings, len(result.token_counts), result.total_tokens)
            self.telemetry.metrics.add_metric(MetricName.RECORDS_EMBEDDED, "Count", len(kept))
        return len(kept)

    def _write_windows(self, message: ChunkMessage, result: EmbeddingResult, model: str) -> int:
        """``windows/<chunk>``: a row per window of every text (split mode); their count."""
        if result.windows is None:
            raise JobError("windows were asked for, but the model returned none (not split)")
        rows: list[WindowRow] = []
        vectors: list[np.ndarray] = []
        for (line, record_id, _), windows in zip(message.records, result.windows, strict=True):
            for index, window in enumerate(windows):
                rows.append((line, record_id, index, window.start, window.end, window.tokens))
                vectors.append(window.vector)
        matrix = np.stack(vectors) if vectors else result.vectors[:0]
        self.store.put(
            JobKeys(message.job).window_part(message.chunk, message.out),
            WINDOW_ENCODERS[message.out](rows, matrix, model),
            content_type=CONTENT_TYPES[message.out],
        )
        return len(rows)

    def _unknown_model(self, message: ChunkMessage) -> None:
        """A model no worker here holds: no retry can embed the chunk, so the job fails now,
        with the reason in its manifest (unless this chunk was counted already)."""
        reason = f"model {message.model!r} is not served by the batch worker; served: {self.served}"
        current = read_job_manifest(self.store, message.job)
        if bit_is_set(current.done_bits, message.chunk) or current.aborted:
            return
        fail_job(self.store, message.job, reason)
        if self.telemetry is not None:
            self.telemetry.logger.error(
                "job failed: unknown model", extra={"job": message.job, "reason": reason}
            )

    def _give_up(self, message: ChunkMessage, receive_count: int, exc: Exception) -> None:
        reason = f"chunk {message.chunk} failed {receive_count} times: {type(exc).__name__}: {exc}"
        rows: list[dict[str, object]] = [
            {"line": line, "id": rid} for line, rid, _ in message.records
        ]
        try:
            self.queue_load(chunk_failed(self.store, message.job, message.chunk, rows, reason))
        except Exception as failure:  # the message still goes to the DLQ; say why loudly
            if self.telemetry is not None:
                self.telemetry.logger.exception(
                    "cannot record a failed chunk",
                    extra={"job": message.job, "error": str(failure)},
                )
            return
        if self.telemetry is not None:
            self.telemetry.logger.error(
                "chunk given up",
                extra={"job": message.job, "chunk": message.chunk, "reason": reason},
            )
            self.telemetry.chunk_failed()

    # --- loading a finished job into its collection (lamina.batch.loading) ----------------

    def queue_load(self, m: JobManifest) -> None:
        """Queue ``m``'s load if it is due (this worker finalized a job with a collection)."""
        if not load_due(m):
            return
        if self.queue is None:
            load_failed(
                self.store,
                m.job_id,
                "the batch worker has no queue to queue the load on (LAMINA_BATCH_QUEUE_URL): "
                f"load the job with `lamina index load {m.collection} {m.job_id}`",
            )
            return
        queue_load(self.store, self.queue, m)

    def load(self, job_id: str, receive_count: int) -> None:
        """Work on a load message: load the job's parts until done or out of time (then the
        message goes out again). Permanent errors fail the load; others are retried, and
        fail it on the last receive."""
        check_job_id(job_id)
        if self.loader is None:
            self._load_failed(
                job_id,
                "the batch workers have no search database (LAMINA_SEARCH_DSN or "
                "LAMINA_SEARCH_SECRET_ARN; on AWS the stack's SearchSecretArn): load the job "
                "with `lamina index load`",
            )
            return
        # Without a queue to continue on, a load runs to the end in one message.
        time_left = self.time_left if self.queue is not None else deadline_clock(None)
        try:
            done = self.loader(self.store, job_id, time_left)
        except PERMANENT_LOAD_ERRORS as exc:
            self._load_failed(job_id, exc.message)
            return
        except Exception as exc:
            if receive_count >= self.max_receive_count:
                # The exception's text may name hosts or paths: the log has it, the job's
                # status (which API callers read) says what happened and what to do.
                cause = (
                    "the search database did not answer"
                    if isinstance(exc, IndexUnavailableError)
                    else "see the batch worker's log"
                )
                self._load_failed(
                    job_id,
                    f"the load failed {receive_count} times ({type(exc).__name__}: {cause}); "
                    "`lamina jobs redrive` retries it from where it stopped",
                )
            if self.telemetry is not None:
                self.telemetry.logger.warning(
                    "collection load failed, to be retried",
                    extra={"job": job_id, "receive_count": receive_count, "error": repr(exc)},
                )
            raise
        if not done:
            assert self.queue is not None
            self.queue.send([LoadMessage(load=job_id).model_dump_json()])

    def _load_failed(self, job_id: str, reason: str) -> None:
        m = load_failed(self.store, job_id, reason)
        if self.telemetry is not None:
            self.telemetry.logger.error(
                "collection load failed",
                extra={"job": job_id, "collection": m.collection, "reason": reason},
            )
            self.telemetry.load_failed()


def record_handler(worker: ChunkWorker) -> Any:
    """A Powertools batch record handler (one SQS record) bound to ``worker``."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    def handle(record: SQSRecord) -> int:
        return worker.process(record.body, int(record.attributes.approximate_receive_count))

    return handle
