"""Helpers shared by the batch job tests: input files, events, AWS set-up, reading results.

Nothing here loads the model: ``FakeEmbedder`` stands in for it where vectors only need to
be deterministic, ``PoisonEmbedder`` wraps any embedder and fails on a marker text.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import numpy as np
import pytest

from lamina.batch.jobs import JobKeys, JobManifest, read_job_manifest
from lamina.batch.queues import Message, WorkQueue
from lamina.inference.embedder import Embedder, EmbeddingResult, TokenizeResult
from lamina.inference.lifecycle import StageTimings
from lamina.models.manifest import Manifest, SourceInfo
from lamina.storage import ObjectStore
from lamina_tools.poller import Handler, PollStats, poll_once

EVENTS = Path(__file__).with_name("events")
REGION = "us-east-1"

# ---- input files ---------------------------------------------------------------------------


def jsonl(rows: Iterable[object]) -> bytes:
    """One JSON value per line (objects, or anything else to make a malformed line)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def chunked(data: bytes, size: int) -> list[bytes]:
    """``data`` cut every ``size`` bytes: what ``ObjectStore.stream`` yields, smaller."""
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


# ---- events --------------------------------------------------------------------------------


def s3_put_event(bucket: str, key: str, *, size: int = 0, etag: str = "") -> dict[str, Any]:
    """The S3 ObjectCreated:Put notification SAM generates (tests/events/s3_put.json) for
    ``key``, URL-encoded the way S3 encodes keys in events (a space is ``+``)."""
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / "s3_put.json").read_text()))
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["s3"]["object"].update(key=quote_plus(key, safe="/"), size=size, eTag=etag.strip('"'))
    return event


S3_TEST_EVENT: dict[str, Any] = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-01-01T00:00:00.000Z",
    "Bucket": "lamina-batch-test",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


def sqs_event(messages: Sequence[Message], source_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS poller sends a function for these received messages."""
    return {"Records": [message.lambda_record(source_arn, REGION) for message in messages]}


# ---- AWS (moto) ----------------------------------------------------------------------------


def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region, no endpoint override: boto3 talks to ``mock_aws``."""
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def create_queue_with_dlq(
    sqs: Any, name: str, *, max_receive_count: int = 5, visibility_s: int = 60
) -> tuple[str, str]:
    """A queue whose RedrivePolicy moves a message to ``<name>-dlq`` on the receive after
    ``max_receive_count``; (queue URL, DLQ URL)."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    url = sqs.create_queue(
        QueueName=name,
        Attributes={"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": str(visibility_s)},
    )["QueueUrl"]
    return url, dlq_url


def dlq_bodies(sqs: Any, dlq_url: str) -> list[str]:
    """Every message in a queue (received with a visibility timeout, so each once)."""
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        if not got.get("Messages"):
            return bodies
        bodies += [item["Body"] for item in got["Messages"]]


# ---- embedders -----------------------------------------------------------------------------


def fake_manifest(dim: int = 8, *, name: str = "fake", version: str = "1") -> Manifest:
    return Manifest(
        name=name,
        version=version,
        variant="fp32",
        quantization="none",
        embedding_dim=dim,
        max_seq_length=256,
        pooling="mean",
        normalize=True,
        opset=17,
        source=SourceInfo(model_id="x/y", package="p", package_version="1", license="MIT"),
        files=[],
        created_at="2026-01-01T00:00:00+00:00",
    )


class FakeEmbedder(Embedder):
    """Deterministic vectors from each text's bytes (no model); counts its calls."""

    def __init__(self, dim: int = 8) -> None:
        self.manifest = fake_manifest(dim)
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(text.encode("utf-8")[:16].ljust(16, b"\0"), "little") ^ len(text)
        values = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return values / np.linalg.norm(values)

    def embed(
        self, texts: Sequence[str], *, normalize: bool = True, truncate: bool = True
    ) -> EmbeddingResult:
        self.calls.append(list(texts))
        vectors = np.stack([self.vector(text) for text in texts])
        return EmbeddingResult(
            vectors=vectors,
            token_counts=[len(text.split()) + 2 for text in texts],
            truncated=[False] * len(texts),
            timings=StageTimings(),
            runs=1,
        )

    def tokenize(self, text: str) -> TokenizeResult:
        return TokenizeResult(ids=[], tokens=text.split(), truncated=False)


class PoisonEmbedder(Embedder):
    """``inner``, except that a chunk holding a text that contains ``marker`` raises."""

    def __init__(self, inner: Embedder, marker: str = "POISON") -> None:
        self.inner = inner
        self.marker = marker
        self.manifest = inner.manifest
        self.failures = 0

    def embed(
        self, texts: Sequence[str], *, normalize: bool = True, truncate: bool = True
    ) -> EmbeddingResult:
        if any(self.marker in text for text in texts):
            self.failures += 1
            raise RuntimeError(f"poisoned chunk ({self.marker})")
        return self.inner.embed(texts, normalize=normalize, truncate=truncate)

    def tokenize(self, text: str) -> TokenizeResult:
        return self.inner.tokenize(text)


# ---- running and reading jobs --------------------------------------------------------------


def drain(
    queue: WorkQueue,
    handler: Handler,
    *,
    until: Callable[[], bool] | None = None,
    max_rounds: int = 200,
    batch_size: int = 10,
) -> PollStats:
    """Poll ``queue`` into ``handler`` (failed messages come back at once) until the queue
    is empty, or ``until()`` holds; fails the test after ``max_rounds`` rounds."""
    stats = PollStats()
    for _ in range(max_rounds):
        if until is not None and until():
            return stats
        received = poll_once(
            queue, handler, stats, batch_size=batch_size, wait_s=0, retry_delay_s=0
        )
        if until is None and received == 0 and queue.depth() == (0, 0):
            return stats
    pytest.fail(f"the queue did not drain in {max_rounds} rounds: {stats}")


@dataclass(frozen=True)
class PartRow:
    id: object
    line: int
    embedding: np.ndarray


def part_keys(store: ObjectStore, job_id: str) -> list[str]:
    return [info.key for info in store.list(JobKeys(job_id).parts)]


def read_rows(store: ObjectStore, job_id: str) -> list[PartRow]:
    """Every row of every part of a job, parts in key (chunk) order; jsonl or npz."""
    rows: list[PartRow] = []
    for key in part_keys(store, job_id):
        found = store.get(key)
        assert found is not None, key
        data = found[0]
        if key.endswith(".npz"):
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                rows += [
                    PartRow(str(i), int(line), vector)
                    for i, line, vector in zip(
                        npz["ids"], npz["lines"], npz["embeddings"], strict=True
                    )
                ]
        else:
            for text in data.decode("utf-8").splitlines():
                row = json.loads(text)
                assert set(row) == {"id", "line", "embedding"}, row
                rows.append(
                    PartRow(row["id"], row["line"], np.array(row["embedding"], dtype=np.float32))
                )
    return rows


def read_errors(store: ObjectStore, job_id: str) -> list[dict[str, Any]]:
    found = store.get(JobKeys(job_id).errors)
    assert found is not None, "errors.jsonl is missing"
    return [json.loads(line) for line in found[0].decode("utf-8").splitlines()]


def marker(store: ObjectStore, job_id: str) -> tuple[str, dict[str, Any]]:
    """Which marker the job has (``_SUCCESS`` or ``_FAILED``, exactly one) and its body."""
    keys = JobKeys(job_id)
    found = {
        name: store.get(key)
        for name, key in (("_SUCCESS", keys.success), ("_FAILED", keys.failure))
    }
    present = {name: value for name, value in found.items() if value is not None}
    assert len(present) == 1, f"expected exactly one marker, found {sorted(present)}"
    ((name, value),) = present.items()
    return name, json.loads(value[0])


def assert_accounted(manifest: JobManifest) -> None:
    """Every input line is either embedded or failed, and the manifest says it is over."""
    assert manifest.lines is not None
    assert manifest.ok + manifest.failed == manifest.lines, manifest.summary()
    assert manifest.finalized, manifest.summary()


def final_manifest(store: ObjectStore, job_id: str) -> JobManifest:
    manifest = read_job_manifest(store, job_id)
    assert_accounted(manifest)
    return manifest


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
