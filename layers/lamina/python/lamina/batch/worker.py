"""The worker step: one chunk message in, one part out, the job's manifest updated.

A part's key depends only on the job and the chunk number, so a redelivered message
rewrites the same object: rows are never duplicated. A chunk that still fails on its
last receive (``max_receive_count``, the queue's redrive setting) is given up *before*
the message moves to the dead-letter queue: its records go to the job's errors, so the
job can finish (partially failed) and ``ok + failed == lines`` holds. Redriving the
message later (``lamina jobs redrive``) turns the chunk back into a done one.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from lamina.batch.jobs import JobKeys, check_job_id, chunk_done, chunk_failed
from lamina.batch.records import RecordId
from lamina.batch.submit import ChunkMessage
from lamina.errors import JobError, JobNotFoundError
from lamina.inference.embedder import Embedder
from lamina.observability import MetricName, Telemetry
from lamina.storage import ObjectStore


def encode_jsonl(records: Sequence[tuple[int, RecordId, str]], vectors: np.ndarray) -> bytes:
    """``{"id", "line", "embedding"}`` per record. Floats are written with 9 significant
    digits, which read back as exactly the same float32 (half the bytes of Python's repr)."""
    if not np.isfinite(vectors).all():
        raise JobError("the model produced non-finite values")
    template = ",".join(["{:.9g}"] * vectors.shape[1])
    lines = [
        f'{{"id": {json.dumps(record_id, ensure_ascii=False)}, "line": {line}, '
        f'"embedding": [{template.format(*vector)}]}}\n'
        for (line, record_id, _), vector in zip(records, vectors.tolist(), strict=True)
    ]
    return "".join(lines).encode("utf-8")


def encode_npz(records: Sequence[tuple[int, RecordId, str]], vectors: np.ndarray) -> bytes:
    """An ``.npz`` with ``ids`` (as strings), ``lines`` (int64) and ``embeddings`` (float32)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.array([str(record_id) for _, record_id, _ in records]),
        lines=np.array([line for line, _, _ in records], dtype=np.int64),
        embeddings=vectors.astype(np.float32, copy=False),
    )
    return buffer.getvalue()


ENCODERS = {"jsonl": encode_jsonl, "npz": encode_npz}
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "npz": "application/octet-stream"}


class ChunkWorker:
    """Embeds chunks with one loaded model and writes them to one store."""

    def __init__(
        self,
        store: ObjectStore,
        embedder: Embedder,
        *,
        max_receive_count: int,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.max_receive_count = max_receive_count
        self.telemetry = telemetry
        self.model = f"{embedder.manifest.name}/{embedder.manifest.version}"

    def process(self, body: str, receive_count: int) -> int:
        """Embed one chunk and record it; returns the records written. Raises on failure
        (the message is retried), after giving the chunk up on its last receive."""
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
        try:
            return self._embed_and_write(message)
        except Exception as exc:
            if receive_count >= self.max_receive_count:
                self._give_up(message, receive_count, exc)
            raise

    def _embed_and_write(self, message: ChunkMessage) -> int:
        start = time.perf_counter()
        result = self.embedder.embed(
            [text for _, _, text in message.records], normalize=message.normalize
        )
        seconds = time.perf_counter() - start
        data = ENCODERS[message.out](message.records, result.vectors)
        self.store.put(
            JobKeys(message.job).part(message.chunk, message.out),
            data,
            content_type=CONTENT_TYPES[message.out],
        )
        chunk_done(
            self.store, message.job, message.chunk, len(message.records), self.model, seconds
        )
        if self.telemetry is not None:
            self.telemetry.stages(result.timings, len(result.token_counts), result.total_tokens)
            self.telemetry.metrics.add_metric(
                MetricName.RECORDS_EMBEDDED, "Count", len(message.records)
            )
        return len(message.records)

    def _give_up(self, message: ChunkMessage, receive_count: int, exc: Exception) -> None:
        reason = f"chunk {message.chunk} failed {receive_count} times: {type(exc).__name__}: {exc}"
        rows: list[dict[str, object]] = [
            {"line": line, "id": rid} for line, rid, _ in message.records
        ]
        try:
            chunk_failed(self.store, message.job, message.chunk, rows, reason)
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


def record_handler(worker: ChunkWorker) -> Any:
    """A Powertools batch record handler (one SQS record) bound to ``worker``."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    def handle(record: SQSRecord) -> int:
        return worker.process(record.body, int(record.attributes.approximate_receive_count))

    return handle
