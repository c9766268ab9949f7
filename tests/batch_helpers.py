"""Helpers shared by the batch job tests: input files, events, AWS set-up, reading results.

Nothing here loads the model: ``FakeEmbedder`` stands in for it where vectors only need to
be deterministic (with prompts, a token limit and windows of its own, so the options can be
checked), ``PoisonEmbedder`` wraps any embedder and fails on a marker text.
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
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
from lamina.errors import RequestTooManyTokensError, TextTooLongError
from lamina.inference.embedder import (
    Embedder,
    EmbeddingResult,
    InputType,
    LongText,
    TokenizeResult,
    Window,
)
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


def korean_and_english(chars: int = 150_000) -> str:
    """A long document, two Korean sentences to one English: 150,000 characters are 265 kB
    of UTF-8, over SQS's 256 KiB message limit (437 kB as JSON with \\u escapes)."""
    ko = "김치찌개는 잘 익은 김치와 돼지고기, 두부를 넣고 끓인 한국의 대표적인 찌개다. "
    en = "Batch jobs embed long documents in overlapping windows of the model's limit. "
    return ((ko * 2 + en) * (chars // len(ko + ko + en) + 1))[:chars]


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


def fake_manifest(
    dim: int = 8,
    *,
    name: str = "fake",
    version: str = "1",
    prompts: dict[Any, str] | None = None,
) -> Manifest:
    return Manifest(
        name=name,
        version=version,
        variant="fp32",
        quantization="none",
        embedding_dim=dim,
        max_seq_length=256,
        pooling="mean",
        normalize=True,
        prompts=prompts,
        opset=17,
        source=SourceInfo(model_id="x/y", package="p", package_version="1", license="MIT"),
        files=[],
        created_at="2026-01-01T00:00:00+00:00",
    )


E5_PROMPTS = {"query": "query: ", "passage": "passage: "}


class FakeEmbedder(Embedder):
    """Deterministic vectors from each text's bytes (no model); counts its calls.

    Its own rules stand in for a model's: ``prompts`` as a manifest's (the prompt is part of
    the text a vector is made from); a text over ``max_chars`` characters is "over the
    token limit" (truncated: flagged only, its vector is the whole text's; reject:
    TextTooLongError; split: windows of ``max_chars`` characters sharing ``overlap``, and
    the text's vector their token-weighted mean, tokens = words + 2)."""

    def __init__(
        self,
        dim: int = 8,
        *,
        name: str = "fake",
        prompts: dict[Any, str] | None = None,
        max_chars: int = 1000,
        overlap: int = 100,
    ) -> None:
        self.manifest = fake_manifest(dim, name=name, prompts=prompts)
        self.max_chars = max_chars
        self.overlap = overlap
        self.calls: list[list[str]] = []
        self.options: list[dict[str, object]] = []

    def vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest())
        values = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return values / np.linalg.norm(values)

    @staticmethod
    def tokens(text: str) -> int:
        return len(text.split()) + 2

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The windows of ``text`` in split mode: ``[start, end)`` character spans."""
        if len(text) <= self.max_chars:
            return [(0, len(text))]
        spans, start = [], 0
        while start + self.max_chars < len(text):
            spans.append((start, start + self.max_chars))
            start += self.max_chars - self.overlap
        spans.append((start, len(text)))
        return spans

    def embed(
        self,
        texts: Sequence[str],
        *,
        normalize: bool = True,
        truncate: bool = True,
        long_text: LongText | None = None,
        input_type: InputType | None = None,
        max_tokens: int | None = None,
    ) -> EmbeddingResult:
        self.calls.append(list(texts))
        mode = long_text or ("truncate" if truncate else "reject")
        self.options.append({"long_text": mode, "input_type": input_type, "max_tokens": max_tokens})
        prompt = self.prompt(input_type)
        if mode == "reject":
            for index, text in enumerate(texts):
                if len(text) > self.max_chars:
                    raise TextTooLongError(f"text {index} is too long", index=index)
        total = sum(self.tokens(prompt + text) for text in texts)
        if max_tokens is not None and total > max_tokens:
            raise RequestTooManyTokensError(f"{total} tokens > {max_tokens}")
        if mode != "split":
            return EmbeddingResult(
                vectors=np.stack([self.vector(prompt + text) for text in texts]),
                token_counts=[self.tokens(prompt + text) for text in texts],
                truncated=[len(text) > self.max_chars for text in texts],
                timings=StageTimings(),
                runs=1,
            )
        windows = [
            [
                Window(a, b, self.tokens(prompt + text[a:b]), self.vector(prompt + text[a:b]))
                for a, b in self.spans(text)
            ]
            for text in texts
        ]
        vectors = np.stack([self.mean(ws) for ws in windows])
        return EmbeddingResult(
            vectors=vectors,
            token_counts=[sum(w.tokens for w in ws) for ws in windows],
            truncated=[False] * len(texts),
            timings=StageTimings(),
            runs=1,
            windows=windows,
        )

    @staticmethod
    def mean(windows: Sequence[Window]) -> np.ndarray:
        """A split text's vector from its windows, as OnnxEmbedder makes it."""
        if len(windows) == 1:
            return windows[0].vector
        weights = np.array([w.tokens for w in windows], dtype=np.float64)
        block = np.stack([w.vector for w in windows]).astype(np.float64)
        mean: np.ndarray = (weights @ block) / weights.sum()
        return np.asarray(mean / np.linalg.norm(mean), dtype=np.float32)

    def tokenize(self, text: str, input_type: InputType | None = None) -> TokenizeResult:
        return TokenizeResult(
            ids=[], tokens=(self.prompt(input_type) + text).split(), truncated=False
        )


class PoisonEmbedder(Embedder):
    """``inner``, except that a chunk holding a text that contains ``marker`` raises."""

    def __init__(self, inner: Embedder, marker: str = "POISON") -> None:
        self.inner = inner
        self.marker = marker
        self.manifest = inner.manifest
        self.failures = 0

    def embed(
        self,
        texts: Sequence[str],
        *,
        normalize: bool = True,
        truncate: bool = True,
        long_text: LongText | None = None,
        input_type: InputType | None = None,
        max_tokens: int | None = None,
    ) -> EmbeddingResult:
        if any(self.marker in text for text in texts):
            self.failures += 1
            raise RuntimeError(f"poisoned chunk ({self.marker})")
        return self.inner.embed(
            texts,
            normalize=normalize,
            truncate=truncate,
            long_text=long_text,
            input_type=input_type,
            max_tokens=max_tokens,
        )

    def tokenize(self, text: str, input_type: InputType | None = None) -> TokenizeResult:
        return self.inner.tokenize(text, input_type)


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
    model: str | None = None


@dataclass(frozen=True)
class WindowRow:
    id: object
    line: int
    window: int
    start: int
    end: int
    tokens: int
    embedding: np.ndarray
    model: str | None = None


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
                assert sorted(npz.files) == ["embeddings", "ids", "lines", "model"], npz.files
                model = str(npz["model"])
                rows += [
                    PartRow(str(i), int(line), vector, model)
                    for i, line, vector in zip(
                        npz["ids"], npz["lines"], npz["embeddings"], strict=True
                    )
                ]
        else:
            for text in data.decode("utf-8").splitlines():
                row = json.loads(text)
                assert list(row) == ["id", "line", "model", "embedding"], row
                rows.append(
                    PartRow(
                        row["id"],
                        row["line"],
                        np.array(row["embedding"], dtype=np.float32),
                        row["model"],
                    )
                )
    return rows


WINDOW_FIELDS = ["id", "line", "window", "start", "end", "tokens", "model", "embedding"]


def read_window_rows(store: ObjectStore, job_id: str) -> list[WindowRow]:
    """Every row of a job's ``windows/`` parts, in chunk order; jsonl or npz."""
    rows: list[WindowRow] = []
    for info in store.list(JobKeys(job_id).windows):
        found = store.get(info.key)
        assert found is not None, info.key
        if info.key.endswith(".npz"):
            with np.load(io.BytesIO(found[0]), allow_pickle=False) as npz:
                names = ["embeddings", "ends", "ids", "lines", "model", "starts", "tokens"]
                assert sorted(npz.files) == sorted([*names, "windows"]), npz.files
                model = str(npz["model"])
                columns = [npz[name].tolist() for name in ("ids", "lines", "windows", "starts")]
                columns += [npz["ends"].tolist(), npz["tokens"].tolist()]
                for (rid, line, window, start, end, tokens), vector in zip(
                    zip(*columns, strict=True), npz["embeddings"], strict=True
                ):
                    rows.append(WindowRow(rid, line, window, start, end, tokens, vector, model))
        else:
            for text in found[0].decode("utf-8").splitlines():
                row = json.loads(text)
                assert list(row) == WINDOW_FIELDS, row
                vector = np.array(row.pop("embedding"), dtype=np.float32)
                rows.append(WindowRow(**row, embedding=vector))
    return rows


def check_spans(text: str, rows: Sequence[WindowRow]) -> None:
    """A text's windows, in order, cover it from its first character to its last: each a
    non-empty span inside the text, the first at 0, the last at its end, each starting after
    the previous one starts and at or before it ends (consecutive windows meet or overlap)."""
    assert [row.window for row in rows] == list(range(len(rows)))
    assert rows[0].start == 0
    assert rows[-1].end == len(text)
    for row in rows:
        assert 0 <= row.start < row.end <= len(text), row
        assert text[row.start : row.end].strip(), "a window holds text"
    for before, after in itertools.pairwise(rows):
        assert before.start < after.start <= before.end, (before, after)


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
