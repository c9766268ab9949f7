"""Batch jobs against moto's in-process S3 and SQS (``mock_aws``) with the real model: the
submit handler fed SAM's S3 event, the worker handler fed SQS events of received messages
(partial batch responses), redelivery, a poison chunk reaching the DLQ, every format."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import numpy as np
import pytest
from moto import mock_aws

from lamina.batch.handlers import SubmitHandler, WorkerHandler
from lamina.batch.jobs import JobKeys, JobManifest, read_job_manifest
from lamina.batch.queues import Message, SqsQueue
from lamina.batch.submit import ChunkMessage, submit_job
from lamina.batch.worker import ChunkWorker
from lamina.errors import JobError
from lamina.inference.embedder import Embedder, OnnxEmbedder
from lamina.observability import Telemetry, get_telemetry
from lamina.settings import Settings
from lamina.storage import S3Objects
from lamina_tools.poller import PollStats, poll_once
from tests.batch_helpers import (
    S3_TEST_EVENT,
    PoisonEmbedder,
    check_spans,
    create_queue_with_dlq,
    csv_bytes,
    dlq_bodies,
    drain,
    fake_aws_env,
    final_manifest,
    jsonl,
    korean_and_english,
    marker,
    part_keys,
    read_errors,
    read_rows,
    read_window_rows,
    s3_put_event,
    sqs_event,
)
from tests.conftest import LambdaContext

BUCKET = "lamina-batch-test"
MAX_RECEIVES = 5
DIM = 384


@pytest.fixture(scope="module")
def embedder(fp32_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(fp32_dir)


@pytest.fixture(scope="module")
def telemetry() -> Telemetry:
    return get_telemetry(Settings.from_env({"POWERTOOLS_SERVICE_NAME": "lamina-batch-test"}))


@dataclass
class Aws:
    s3: Any
    sqs: Any
    store: S3Objects
    queue: SqsQueue
    dlq_url: str
    settings: Settings

    def put(self, key: str, data: bytes, **extra: Any) -> str:
        """Upload an input object; its ETag."""
        return str(self.s3.put_object(Bucket=BUCKET, Key=key, Body=data, **extra)["ETag"])

    def receive_all(self, expected: int) -> list[Message]:
        """Every message on the queue, each received once (visibility 60 s)."""
        got: list[Message] = []
        for _ in range(20):
            got += self.queue.receive(10, 0, 60)
            if len(got) >= expected:
                break
        assert len(got) == expected, f"received {len(got)} messages, expected {expected}"
        return got


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    fake_aws_env(monkeypatch)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        queue_url, dlq_url = create_queue_with_dlq(
            sqs, "lamina-batch", max_receive_count=MAX_RECEIVES, visibility_s=60
        )
        settings = Settings(
            batch_bucket=BUCKET,
            batch_queue_url=queue_url,
            chunk_max_records=4,
            max_receive_count=MAX_RECEIVES,
            max_text_chars=2000,
        )
        yield Aws(
            s3,
            sqs,
            S3Objects(BUCKET, client=s3, error=JobError),
            SqsQueue(queue_url, client=sqs),
            dlq_url,
            settings,
        )


@pytest.fixture
def submit(aws: Aws, telemetry: Telemetry) -> SubmitHandler:
    return SubmitHandler(aws.store, aws.queue, aws.settings, telemetry)


def worker_handler(aws: Aws, embedder: Embedder, telemetry: Telemetry) -> WorkerHandler:
    return WorkerHandler(
        ChunkWorker(aws.store, embedder, max_receive_count=MAX_RECEIVES, telemetry=telemetry)
    )


def only_job(result: dict[str, Any]) -> str:
    (job,) = result["jobs"]
    return str(job["job_id"])


def check_vectors(aws: Aws, embedder: Embedder, job_id: str, texts: Mapping[Any, str]) -> None:
    """One row per valid record, in input order across parts, each the model's vector."""
    rows = read_rows(aws.store, job_id)
    assert [row.id for row in rows] == list(texts)
    assert [row.line for row in rows] == sorted(row.line for row in rows)
    expected = embedder.embed(list(texts.values())).vectors
    for row, vector in zip(rows, expected, strict=True):
        assert row.embedding.shape == (DIM,)
        cosine = float(np.dot(row.embedding, vector) / np.linalg.norm(row.embedding))
        assert cosine > 0.9999, (row.id, cosine)


# ---- the submit handler and S3 events --------------------------------------------------------


def test_submit_handler_takes_the_s3_event_of_an_incoming_object(
    aws: Aws, submit: SubmitHandler, lambda_context: LambdaContext
) -> None:
    key = "incoming/my data+v2.jsonl"  # the event spells it incoming/my+data%2Bv2.jsonl
    rows = [{"id": n, "text": f"sentence {n}"} for n in range(1, 10)]
    etag = aws.put(key, jsonl(rows))
    event = s3_put_event(BUCKET, key, etag=etag)
    assert event["Records"][0]["s3"]["object"]["key"] == "incoming/my+data%2Bv2.jsonl"

    result = submit(event, lambda_context)
    job_id = only_job(result)
    assert result["jobs"][0]["key"] == key
    assert result["jobs"][0]["status"] == "running"
    assert job_id.startswith("my-data-v2-")
    m = read_job_manifest(aws.store, job_id)
    assert (m.input.key, m.input.etag, m.input.format) == (key, etag, "jsonl")
    assert (m.lines, m.invalid, m.chunks, m.submit_done) == (9, 0, 3, True)
    assert aws.queue.depth() == (3, 0)
    bodies = [ChunkMessage.model_validate_json(m.body) for m in aws.receive_all(3)]
    assert sorted(b.chunk for b in bodies) == [0, 1, 2]
    assert all(b.job == job_id for b in bodies)

    # S3 may deliver the same event twice: the same job, nothing sent again
    assert only_job(submit(event, lambda_context)) == job_id
    assert aws.queue.depth() == (0, 3)


def test_submit_handler_ignores_test_events_and_keys_outside_incoming(
    aws: Aws, submit: SubmitHandler
) -> None:
    assert submit(S3_TEST_EVENT) == {"jobs": []}
    keys = ("outgoing/x.jsonl", "jobs/x-0123456789ab/parts/000000.jsonl", "x.jsonl")
    for key in keys:
        aws.put(key, jsonl([{"id": 1, "text": "a"}]))
        assert submit(s3_put_event(BUCKET, key)) == {"jobs": []}
    aws.put("incoming/", b"")  # the S3 console's "Create folder" placeholder
    assert submit(s3_put_event(BUCKET, "incoming/")) == {"jobs": []}
    removed = s3_put_event(BUCKET, "incoming/gone.jsonl")
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert submit(removed) == {"jobs": []}
    assert aws.queue.depth() == (0, 0)
    assert [info.key for info in aws.store.list("jobs/")] == [
        "jobs/x-0123456789ab/parts/000000.jsonl"
    ], "no job was created"


# ---- the worker handler: partial batch responses and redelivery -------------------------------


def test_partial_batch_failure_names_exactly_the_failed_messages(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, telemetry: Telemetry,
    lambda_context: LambdaContext,
) -> None:  # fmt: skip
    texts = ["alpha", "beta", "gamma", "delta", "POISON pill", "zeta", "eta", "theta", "iota"]
    key = "incoming/batch.txt"
    aws.put(key, "\n".join(texts).encode())
    job_id = only_job(submit(s3_put_event(BUCKET, key)))  # chunks of 4: 0-3, 4-7, 8
    ghost = ChunkMessage(job="ghost-0123456789ab", chunk=0, records=[(1, 1, "no such job")])
    aws.queue.send([ghost.model_dump_json(), "this is not a chunk"])
    messages = aws.receive_all(5)
    chunk_of = {
        m.message_id: ChunkMessage.model_validate_json(m.body).chunk
        if m.body.startswith("{") and "ghost" not in m.body
        else None
        for m in messages
    }
    bad = [m.message_id for m in messages if chunk_of[m.message_id] in (None, 1)]
    assert len(bad) == 3

    handler = worker_handler(aws, PoisonEmbedder(embedder), telemetry)
    response = handler(sqs_event(messages, aws.queue.arn), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": mid} for mid in bad]}

    m = read_job_manifest(aws.store, job_id)
    assert (m.chunks_done, m.ok, m.chunks_failed, m.finalized) == (2, 5, 0, False)
    assert [k.rsplit("/", 1)[1] for k in part_keys(aws.store, job_id)] == [
        "000000.jsonl",
        "000002.jsonl",
    ]


def test_redelivery_rewrites_the_same_part_and_counts_once(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, telemetry: Telemetry
) -> None:
    key = "incoming/again.jsonl"
    aws.put(key, jsonl([{"id": f"d{n}", "text": f"document {n}"} for n in range(6)]))
    job_id = only_job(submit(s3_put_event(BUCKET, key)))  # chunks: 4 + 2
    handler = worker_handler(aws, embedder, telemetry)
    first = next(m for m in aws.receive_all(2) if '"chunk": 0' in m.body)
    assert handler(sqs_event([first], aws.queue.arn)) == {"batchItemFailures": []}
    part_key = JobKeys(job_id).part(0, "jsonl")
    part = aws.store.get(part_key)
    before = read_job_manifest(aws.store, job_id)
    assert (before.ok, before.chunks_done) == (4, 1)

    # the message comes back (the delete was lost, or the timeout ran out): receive it again
    aws.queue.release([first], 0)
    again = next(m for m in aws.queue.receive(10, 0, 60) if m.message_id == first.message_id)
    assert again.receive_count == 2
    assert handler(sqs_event([again], aws.queue.arn)) == {"batchItemFailures": []}
    after = read_job_manifest(aws.store, job_id)
    assert after == before, "a redelivered chunk changes nothing in the manifest"
    assert part_keys(aws.store, job_id) == [part_key], "the same key, no second part"
    rows = read_rows(aws.store, job_id)
    assert [(r.id, r.line) for r in rows] == [("d0", 1), ("d1", 2), ("d2", 3), ("d3", 4)]
    assert part is not None
    previous = [json.loads(line) for line in part[0].splitlines()]
    for row, old in zip(rows, previous, strict=True):
        np.testing.assert_allclose(row.embedding, old["embedding"], atol=1e-6)


# ---- poison chunk to the DLQ, and back -------------------------------------------------------


def test_a_poison_chunk_reaches_the_dlq_and_the_job_still_finishes(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, telemetry: Telemetry
) -> None:
    rows: list[object] = [{"id": f"r{n}", "text": f"record number {n}"} for n in range(1, 11)]
    rows[5] = {"id": "r6", "text": "POISON in the sixth record"}  # chunk 1 (lines 5-8)
    rows.append({"id": "r1", "text": "a duplicate id"})  # line 11: rejected at submit
    key = "incoming/poison.jsonl"
    aws.put(key, jsonl(rows))
    job_id = only_job(submit(s3_put_event(BUCKET, key)))
    poisoned = PoisonEmbedder(embedder)
    handler = worker_handler(aws, poisoned, telemetry)

    stats = PollStats()
    for _ in range(40):
        if aws.queue.depth() == (0, 0):
            break
        poll_once(aws.queue, handler, stats, wait_s=0, visibility_s=60, retry_delay_s=0)
    assert aws.queue.depth() == (0, 0), stats
    assert poisoned.failures == MAX_RECEIVES, "tried on every receive, then dead-lettered"

    (dead,) = dlq_bodies(aws.sqs, aws.dlq_url)
    dead_chunk = ChunkMessage.model_validate_json(dead)
    assert (dead_chunk.job, dead_chunk.chunk) == (job_id, 1)

    m = final_manifest(aws.store, job_id)
    assert (m.status, m.lines, m.ok, m.invalid, m.chunk_failed_records) == (
        "partially_failed", 11, 6, 1, 4,
    )  # fmt: skip
    errors = read_errors(aws.store, job_id)
    assert [(e["line"], e["id"]) for e in errors] == [
        (11, "r1"),
        (5, "r5"),
        (6, "r6"),
        (7, "r7"),
        (8, "r8"),
    ]
    assert errors[0]["error"] == "duplicate id: an earlier line has the same id"
    reason = "chunk 1 failed 5 times: RuntimeError: poisoned chunk (POISON)"
    assert all(e["error"] == reason for e in errors[1:])
    assert marker(aws.store, job_id) == (
        "_FAILED",
        {"status": "partially_failed", "lines": 11, "ok": 6, "failed": 5, "error": None},
    )

    # redrive: the DLQ message goes back to the queue, a healthy worker embeds it
    aws.queue.send([dead])
    drain(aws.queue, worker_handler(aws, embedder, telemetry))
    m = final_manifest(aws.store, job_id)
    assert (m.status, m.ok, m.failed, m.chunks_failed) == ("partially_failed", 10, 1, 0)
    assert [(e["line"], e["id"]) for e in read_errors(aws.store, job_id)] == [(11, "r1")]
    texts = {f"r{n}": f"record number {n}" for n in range(1, 11)}
    texts["r6"] = "POISON in the sixth record"
    check_vectors(aws, embedder, job_id, texts)


# ---- whole jobs, every format ----------------------------------------------------------------


def run_job(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, telemetry: Telemetry, key: str
) -> JobManifest:
    job_id = only_job(submit(s3_put_event(BUCKET, key)))
    drain(aws.queue, worker_handler(aws, embedder, telemetry))
    return final_manifest(aws.store, job_id)


def test_jsonl_job_with_malformed_lines(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, telemetry: Telemetry
) -> None:
    lines = [
        json.dumps({"id": 1, "text": "The cat sat on the mat."}),
        "{broken json",
        json.dumps({"id": "two", "text": "갈비탕은 맛있다"}),
        json.dumps({"id": 3}),
        json.dumps({"text": "no id here"}),
        json.dumps({"id": 4, "text": "   "}),
        json.dumps({"id": "two", "text": "duplicate"}),
        "",
        json.dumps({"id": 5, "text": "A longer sentence about embeddings " * 10}),
        json.dumps({"id": 6, "text": "x" * 2001}),
        json.dumps({"id": 7, "text": "Rows stay in input order across parts."}),
        json.dumps({"id": 8, "text": "The last line has no newline."}),
    ]
    aws.put("incoming/mixed.jsonl", "\n".join(lines).encode())
    m = run_job(aws, submit, embedder, telemetry, "incoming/mixed.jsonl")
    assert (m.status, m.lines, m.ok, m.invalid, m.chunks) == ("partially_failed", 12, 5, 7, 2)
    assert m.model_versions == [f"{embedder.manifest.name}/{embedder.manifest.version}"]
    errors = {e["line"]: e for e in read_errors(aws.store, m.job_id)}
    assert sorted(errors) == [2, 4, 5, 6, 7, 8, 10]
    assert errors[2]["error"].startswith("invalid JSON")
    assert (errors[4]["id"], errors[4]["error"]) == (3, "missing text")
    assert errors[5]["error"] == "missing id"
    assert (errors[6]["id"], errors[6]["error"]) == (4, "empty text")
    assert errors[7]["id"] == "two"
    assert errors[7]["error"] == "duplicate id: an earlier line has the same id"
    assert errors[8]["error"] == "blank line"
    assert errors[10]["error"] == (
        "text has 2001 characters (limit 2000; long_text=split accepts up to 200000)"
    )
    assert marker(aws.store, m.job_id)[0] == "_FAILED"
    texts = {json.loads(lines[n])["id"]: json.loads(lines[n])["text"] for n in (0, 2, 8, 10, 11)}
    check_vectors(aws, embedder, m.job_id, texts)


def test_a_clean_job_succeeds(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, telemetry: Telemetry
) -> None:
    texts = {f"k{n}": f"clean sentence {n}" for n in range(10)}
    aws.put("incoming/clean.jsonl", jsonl({"id": k, "text": t} for k, t in texts.items()))
    m = run_job(aws, submit, embedder, telemetry, "incoming/clean.jsonl")
    assert (m.status, m.ok, m.failed, m.chunks, m.chunks_done) == ("succeeded", 10, 0, 3, 3)
    assert m.started_at is not None
    assert m.finished_at is not None
    assert m.embed_seconds > 0
    assert marker(aws.store, m.job_id) == (
        "_SUCCESS",
        {"status": "succeeded", "lines": 10, "ok": 10, "failed": 0, "error": None},
    )
    assert read_errors(aws.store, m.job_id) == []
    check_vectors(aws, embedder, m.job_id, texts)


def test_csv_job(aws: Aws, submit: SubmitHandler, embedder: Embedder, telemetry: Telemetry) -> None:
    data = csv_bytes(
        ["Text", "lang", "ID"],
        [
            ["first row", "en", "a"],
            ["a text\nover two lines", "en", "b"],
            ["", "en", "c"],
            ["kimchi stew, spicy", "en", "d"],
            ["duplicate", "en", "a"],
            ["김치찌개", "ko", "e"],
        ],
    )
    aws.put("incoming/table.csv", data + b"only-one-column\n")
    m = run_job(aws, submit, embedder, telemetry, "incoming/table.csv")
    assert (m.status, m.lines, m.ok, m.invalid) == ("partially_failed", 7, 4, 3)
    assert m.input.format == "csv"
    errors = [(e["line"], e["id"], e["error"]) for e in read_errors(aws.store, m.job_id)]
    assert errors == [
        (5, "c", "empty text"),
        (7, "a", "duplicate id: an earlier line has the same id"),
        (9, None, "row has 1 columns, the header has 3"),
    ]
    assert [row.line for row in read_rows(aws.store, m.job_id)] == [2, 3, 6, 8]
    texts = {"a": "first row", "b": "a text\nover two lines", "d": "kimchi stew, spicy"}
    check_vectors(aws, embedder, m.job_id, {**texts, "e": "김치찌개"})


def test_txt_job(aws: Aws, submit: SubmitHandler, embedder: Embedder, telemetry: Telemetry) -> None:
    aws.put("incoming/notes.txt", b"first note\r\n\r\nthird note\r\nfourth\r\nfifth")
    m = run_job(aws, submit, embedder, telemetry, "incoming/notes.txt")
    assert (m.status, m.lines, m.ok, m.invalid) == ("partially_failed", 5, 4, 1)
    assert read_errors(aws.store, m.job_id) == [{"line": 2, "id": 2, "error": "empty text"}]
    texts = {1: "first note", 3: "third note", 4: "fourth", 5: "fifth"}
    check_vectors(aws, embedder, m.job_id, texts)


def test_npz_output(aws: Aws, embedder: Embedder, telemetry: Telemetry) -> None:
    texts = {n: f"compact binary row {n}" for n in range(1, 7)}
    aws.put("incoming/vectors.txt", "\n".join(texts.values()).encode())
    m = submit_job(aws.store, aws.queue, "incoming/vectors.txt", out="npz")
    assert m.output_format == "npz"
    drain(aws.queue, worker_handler(aws, embedder, telemetry))
    m = final_manifest(aws.store, m.job_id)
    assert m.status == "succeeded"
    keys = part_keys(aws.store, m.job_id)
    assert keys == [JobKeys(m.job_id).part(0, "npz")]
    found = aws.store.get(keys[0])
    assert found is not None
    with np.load(io.BytesIO(found[0]), allow_pickle=False) as npz:
        assert sorted(npz.files) == ["embeddings", "ids", "lines", "model"]
        assert str(npz["model"]) == f"{embedder.manifest.name}/{embedder.manifest.version}"
        assert npz["embeddings"].dtype == np.float32
        assert npz["embeddings"].shape == (6, DIM)
        assert npz["ids"].tolist() == [str(n) for n in texts]
        assert npz["lines"].tolist() == list(texts)
        np.testing.assert_allclose(
            npz["embeddings"], embedder.embed(list(texts.values())).vectors, atol=1e-5
        )


def test_npz_chosen_by_object_metadata(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, telemetry: Telemetry
) -> None:
    aws.put("incoming/meta.txt", b"one\ntwo\n", Metadata={"lamina-output": "npz"})
    m = run_job(aws, submit, embedder, telemetry, "incoming/meta.txt")
    assert m.output_format == "npz"
    assert [row.id for row in read_rows(aws.store, m.job_id)] == ["1", "2"]
    check_vectors(aws, embedder, m.job_id, {"1": "one", "2": "two"})


@pytest.mark.parametrize(
    ("key", "data", "message"),
    [
        (
            "incoming/data.json",
            b'{"id": 1, "text": "a"}\n',
            "unsupported input 'incoming/data.json': the name must end with one of",
        ),
        (
            "incoming/table.csv",
            b"identifier,body\n1,hello\n",
            "CSV header must name an id and a text column",
        ),
    ],
)
def test_unreadable_input_fails_the_job_clearly(
    aws: Aws, submit: SubmitHandler, key: str, data: bytes, message: str
) -> None:
    aws.put(key, data)
    result = submit(s3_put_event(BUCKET, key))
    assert result["jobs"][0]["status"] == "failed"
    m = read_job_manifest(aws.store, only_job(result))
    assert (m.status, m.finalized, m.ok) == ("failed", True, 0)
    assert m.error is not None
    assert message in m.error
    name, body = marker(aws.store, m.job_id)
    assert name == "_FAILED"
    assert body["status"] == "failed"
    assert message in body["error"]
    assert aws.queue.depth() == (0, 0)


# ---- several models and the job options ------------------------------------------------------

E5 = "multilingual-e5-small"


@pytest.fixture(scope="module")
def e5(e5_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(e5_dir)


def run_with(aws: Aws, submit: SubmitHandler, handler: WorkerHandler, key: str) -> JobManifest:
    """Submit the S3 event of ``key``, drain the queue into ``handler``; the job's manifest."""
    job_id = only_job(submit(s3_put_event(BUCKET, key)))
    drain(aws.queue, handler)
    return read_job_manifest(aws.store, job_id)


def both_models(aws: Aws, embedder: Embedder, e5: Embedder, telemetry: Telemetry) -> WorkerHandler:
    """The worker as the function builds it from LAMINA_MODELS: MiniLM (the default), e5."""
    models = {embedder.manifest.name: embedder, e5.manifest.name: e5}
    return WorkerHandler(
        ChunkWorker(aws.store, models, max_receive_count=MAX_RECEIVES, telemetry=telemetry)
    )


def test_an_e5_passage_job_gets_the_api_paths_vectors(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, e5: Embedder, telemetry: Telemetry
) -> None:
    """Options from the object's metadata; the worker holds both models and embeds with the
    one the job names: the vectors are the embedder's for the same texts and input type,
    bit for bit (the API path: ``embedder.embed(texts, input_type="passage")``)."""
    texts = {
        "ko-1": "김치찌개는 잘 익은 김치와 돼지고기로 끓인다.",
        "ko-2": "서울의 지하철은 아침 여덟 시에 가장 붐빈다.",
        "en-1": "Kimchi stew is made with well-fermented kimchi and pork.",
        "ja-1": "東京の天気は晴れ、最高気温は二十五度の予報です。",
        "en-2": "The subway in Seoul is most crowded at eight in the morning.",
        "ko-3": "배치 작업은 긴 문서를 창으로 나누어 임베딩한다.",
    }
    key = "incoming/ko.jsonl"
    aws.put(
        key,
        jsonl({"id": k, "text": t} for k, t in texts.items()),
        Metadata={"lamina-model": E5.upper(), "lamina-input-type": "passage"},
    )
    m = run_with(aws, submit, both_models(aws, embedder, e5, telemetry), key)
    assert (m.status, m.ok, m.chunks) == ("succeeded", 6, 2)
    assert (m.model, m.input_type, m.long_text, m.windows) == (E5, "passage", "truncate", False)
    assert m.model_versions == [f"{E5}/{e5.manifest.version}"]
    rows = read_rows(aws.store, m.job_id)
    assert [row.id for row in rows] == list(texts)
    assert {row.model for row in rows} == {f"{E5}/{e5.manifest.version}"}
    vectors = np.stack([row.embedding for row in rows])
    assert vectors.shape == (6, e5.dim)
    np.testing.assert_array_equal(
        vectors, e5.embed(list(texts.values()), input_type="passage").vectors
    )
    raw = e5.embed(list(texts.values())).vectors  # the prompt matters
    assert float((vectors * raw).sum(axis=1).max()) < 0.999


def test_a_job_without_options_is_embedded_as_before(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, e5: Embedder, telemetry: Telemetry
) -> None:
    """No metadata: the worker's default model (MiniLM, no prompts: "passage" changes
    nothing), truncated, no windows; the vectors are those the job always got."""
    texts = {n: f"plain sentence {n}" for n in range(1, 4)}
    aws.put("incoming/plain.txt", "\n".join(texts.values()).encode())
    m = run_with(aws, submit, both_models(aws, embedder, e5, telemetry), "incoming/plain.txt")
    assert (m.status, m.model, m.input_type) == ("succeeded", embedder.manifest.name, "passage")
    rows = read_rows(aws.store, m.job_id)
    np.testing.assert_array_equal(
        np.stack([row.embedding for row in rows]), embedder.embed(list(texts.values())).vectors
    )


def test_a_150000_character_document_in_split_mode_with_windows(
    aws: Aws,
    submit: SubmitHandler,
    embedder: Embedder,
    e5: Embedder,
    telemetry: Telemetry,
    tmp_path: Path,
) -> None:
    """A 150,000-character Korean and English document (265 kB of UTF-8: over the line
    limit without split, and over SQS's 256 KiB, which moto enforces): spilled to the job's
    prefix, read back by the worker, embedded whole in windows. One row for the text (the
    token-weighted mean of its windows) and one per window, whose span covers the text."""
    doc = korean_and_english()
    texts = {"doc": doc, "note": "짧은 메모: a short note"}
    key = "incoming/long.jsonl"
    aws.put(
        key,
        jsonl({"id": k, "text": t} for k, t in texts.items()),
        Metadata={"lamina-model": E5, "lamina-long-text": "split", "lamina-windows": "true"},
    )
    m = run_with(aws, submit, both_models(aws, embedder, e5, telemetry), key)
    assert (m.status, m.ok, m.failed, m.spilled) == ("succeeded", 2, 0, 1)
    assert (m.model, m.input_type, m.long_text, m.windows) == (E5, "passage", "split", True)
    assert aws.store.head(JobKeys(m.job_id).spill(1)) is not None
    rows = read_rows(aws.store, m.job_id)
    windows = read_window_rows(aws.store, m.job_id)
    assert [row.id for row in rows] == ["doc", "note"]
    assert m.window_rows == len(windows)
    own = [w for w in windows if w.id == "doc"]
    assert len(own) > 100, "512-token windows of ~78,000 tokens"
    check_spans(doc, own)
    assert all(a.start < b.start < a.end for a, b in itertools.pairwise(own)), "they overlap"
    assert all(w.tokens <= 512 for w in own)
    # A window is the text[start:end] the model read: the same vector as that text embedded
    # on its own, with the same input type.
    sample = [own[0], own[len(own) // 2], own[-1]]
    alone = e5.embed([doc[w.start : w.end] for w in sample], input_type="passage")
    np.testing.assert_array_equal(np.stack([w.embedding for w in sample]), alone.vectors)
    assert [w.tokens for w in sample] == alone.token_counts
    # The text's row: the token-weighted mean of its windows, normalized.
    weights = np.array([w.tokens for w in own], dtype=np.float64)
    mean = weights @ np.stack([w.embedding for w in own]).astype(np.float64) / weights.sum()
    np.testing.assert_allclose(rows[0].embedding, mean / np.linalg.norm(mean), atol=1e-6)
    # The short note fits: one window spanning it, its vector the text's, as in truncate.
    (note,) = [w for w in windows if w.id == "note"]
    assert (note.window, note.start, note.end) == (0, 0, len(texts["note"]))
    expected = e5.embed([texts["note"]], input_type="passage").vectors[0]
    np.testing.assert_array_equal(rows[1].embedding, expected)
    np.testing.assert_array_equal(note.embedding, expected)
    # `lamina jobs download --windows`: every window row, in input order, in one file.
    from lamina_tools.results import download_windows

    out = tmp_path / "long.windows.jsonl"
    written = download_windows(aws.store, m, out)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written == len(lines) == m.window_rows
    assert [(r["id"], r["window"], r["start"], r["end"], r["tokens"]) for r in lines] == [
        (w.id, w.window, w.start, w.end, w.tokens) for w in windows
    ]


def test_an_unknown_model_fails_the_job_clearly(
    aws: Aws, submit: SubmitHandler, embedder: Embedder, e5: Embedder, telemetry: Telemetry
) -> None:
    """The submit function loads no model: where it does not know the served names, the
    worker refuses the model and fails the job at once (no retries, nothing in the DLQ)."""
    aws.put("incoming/gpt.txt", b"one\ntwo\n", Metadata={"lamina-model": "gpt-4"})
    m = run_with(aws, submit, both_models(aws, embedder, e5, telemetry), "incoming/gpt.txt")
    assert (m.status, m.finalized, m.ok) == ("failed", True, 0)
    assert m.error == (
        f"model 'gpt-4' is not served by the batch worker; served: '{embedder.manifest.name}', "
        f"'{E5}'"
    )
    assert marker(aws.store, m.job_id)[0] == "_FAILED"
    assert dlq_bodies(aws.sqs, aws.dlq_url) == []

    # Where it knows them, the submit step refuses the job before queuing anything.
    knowing = SubmitHandler(
        aws.store, aws.queue, aws.settings, telemetry, served=[embedder.manifest.name, E5]
    )
    aws.put("incoming/gpt2.txt", b"one\n", Metadata={"lamina-model": "gpt-4"})
    result = knowing(s3_put_event(BUCKET, "incoming/gpt2.txt"))
    assert result["jobs"][0]["status"] == "failed"
    refused = read_job_manifest(aws.store, only_job(result))
    assert refused.error is not None
    assert "model 'gpt-4' is not served by the batch workers" in refused.error
    assert aws.queue.depth() == (0, 0)


def test_a_bad_option_in_the_metadata_fails_the_job_clearly(
    aws: Aws, submit: SubmitHandler
) -> None:
    aws.put("incoming/bad.txt", b"one\n", Metadata={"lamina-long-text": "chop"})
    m = read_job_manifest(aws.store, only_job(submit(s3_put_event(BUCKET, "incoming/bad.txt"))))
    assert (m.status, m.aborted) == ("failed", True)
    assert m.error == (
        "invalid job options: long-text 'chop' is not one of truncate, reject, split "
        "(x-amz-meta-lamina-long-text, --long-text)"
    )
    assert aws.queue.depth() == (0, 0)
