"""Hostile input files through the real batch pipeline on moto's S3 and SQS (issue 16):
whatever a line contains, every line is accounted for (``ok + failed == lines``) or the
job fails with a reason and ``_FAILED``; it is never left ``submitted``.

The submit handler is fed SAM's S3 event, the worker handler SQS events (FakeEmbedder
stands in for the model: these tests are about the bookkeeping, not the vectors).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto import mock_aws

from lamina.batch.handlers import SubmitHandler, WorkerHandler
from lamina.batch.jobs import JobKeys, read_job_manifest
from lamina.batch.queues import SqsQueue
from lamina.batch.submit import MAX_LINE_BYTES
from lamina.batch.worker import ChunkWorker
from lamina.errors import JobError
from lamina.observability import Telemetry, get_telemetry
from lamina.settings import Settings
from lamina.storage import S3Objects
from tests.batch_helpers import (
    FakeEmbedder,
    create_queue_with_dlq,
    drain,
    fake_aws_env,
    final_manifest,
    marker,
    read_errors,
    read_rows,
    s3_put_event,
)

BUCKET = "lamina-batch-hostile"


@dataclass
class Aws:
    s3: Any
    store: S3Objects
    queue: SqsQueue
    submit: SubmitHandler
    worker: WorkerHandler

    def run(self, key: str, data: bytes) -> dict[str, Any]:
        """Upload ``data`` to ``key``, submit it, work off the queue; the submit result."""
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        (job,) = self.submit(s3_put_event(BUCKET, key))["jobs"]
        drain(self.queue, self.worker)
        return dict(job)


@pytest.fixture(scope="module")
def telemetry() -> Telemetry:
    return get_telemetry(Settings.from_env({"POWERTOOLS_SERVICE_NAME": "lamina-batch-test"}))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, telemetry: Telemetry) -> Iterator[Aws]:
    fake_aws_env(monkeypatch)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        queue_url, _ = create_queue_with_dlq(sqs, "lamina-batch", visibility_s=60)
        settings = Settings(batch_bucket=BUCKET, batch_queue_url=queue_url, chunk_max_records=4)
        store = S3Objects(BUCKET, client=s3, error=JobError)
        queue = SqsQueue(queue_url, client=sqs)
        worker = WorkerHandler(ChunkWorker(store, FakeEmbedder(), max_receive_count=5))
        yield Aws(s3, store, queue, SubmitHandler(store, queue, settings, telemetry), worker)


def padded_line(size: int, record_id: int) -> bytes:
    """A valid JSONL line of exactly ``size`` bytes (an ignored field pads it)."""
    head = b'{"id": %d, "text": "padded", "pad": "' % record_id
    return head + b"p" * (size - len(head) - 2) + b'"}'


def nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


def test_hostile_jsonl_every_line_is_accounted_for(aws: Aws) -> None:
    exact, over = padded_line(MAX_LINE_BYTES, 8), padded_line(MAX_LINE_BYTES + 1, 9)
    assert (len(exact), len(over)) == (MAX_LINE_BYTES, MAX_LINE_BYTES + 1)
    lines = [
        b'{"id": 1, "text": "first"}',
        b"[" * 90_000,  # 2: the reproduction (RecursionError, not ValueError)
        nested(20_000),  # 3: deep objects, well-formed (140 kB)
        b'{"id": 4, "text": "bad \xff\xfe bytes"}',  # invalid UTF-8
        b'{"id": {"nested": [1]}, "text": "wrong id type"}',
        b'{"id": 6, "text": ["not", "a", "string"]}',
        b'{"id": 7, "text": "lone \\ud800 surrogate"}',
        exact,  # 8: at the limit: kept
        over,  # 9: one byte over
        b'{"id": 10, "text": "' + b"{[" * 9_000 + b'"}',  # brackets inside a string: fine
        b'{"id": 11, "text": "last"}',
    ]
    job = aws.run("incoming/hostile.jsonl", b"\n".join(lines) + b"\n")
    m = final_manifest(aws.store, job["job_id"])  # asserts ok + failed == lines, finalized
    assert (m.status, m.lines, m.ok, m.failed) == ("partially_failed", 11, 4, 7)
    assert sorted(row.line for row in read_rows(aws.store, m.job_id)) == [1, 8, 10, 11]
    errors = {e["line"]: e["error"] for e in read_errors(aws.store, m.job_id)}
    assert errors == {
        2: "invalid JSON: nested too deeply",
        3: "invalid JSON: nested too deeply",
        4: "not valid UTF-8 (byte 23)",
        5: "id must be a non-empty string or an integer",
        6: "text must be a string, got list",
        7: "text is not valid Unicode (a lone surrogate escape)",
        9: f"line is longer than {MAX_LINE_BYTES} bytes",
    }
    assert marker(aws.store, m.job_id)[0] == "_FAILED"  # partially failed


def test_hostile_csv_a_giant_multiline_row_is_one_line_error(aws: Aws) -> None:
    # Row 2: 5,000 quoted fields of 1,000 bytes, each spanning a newline (5 MB): every
    # physical line and every field is small, the row is not. Row 4: one quoted text over
    # 5,000 lines (5 MB), which csv's own 131,072-character field limit stops first. Rows
    # 6/7: exactly the limit on one line, and one byte over across two lines.
    fields = b'2,"start"' + b"".join(b',"' + b"x" * 995 + b'\n"' for _ in range(5_000))
    text = b'4,"' + (b"y" * 999 + b"\n") * 5_000 + b'end"'
    head = b"6,six,"
    exact = head + b"p" * 100_000 + b"," + b"q" * (MAX_LINE_BYTES - len(head) - 100_001)
    first = b'7,seven,"' + b"p" * 100_000
    second = b"p" * (MAX_LINE_BYTES - len(first) - 1 - 2) + b'",'  # + 1: the newline
    over = first + b"\n" + second + b"q"
    assert (len(exact), len(over)) == (MAX_LINE_BYTES, MAX_LINE_BYTES + 1)
    rows = [
        b"id,text,pad,more",
        b"1,first",
        fields,  # 2: lines 3-5003
        b"3,after the giant row",
        text,  # 4: lines 5005-10005
        b"5,bad \xc3\x28 bytes",
        exact,
        over,  # 7: lines 10008-10009
        b'8,"a ""quoted"" text"',
    ]
    job = aws.run("incoming/hostile.csv", b"\n".join(rows) + b"\n")
    m = final_manifest(aws.store, job["job_id"])
    assert (m.status, m.lines, m.ok, m.failed) == ("partially_failed", 8, 4, 4)
    assert sorted(str(row.id) for row in read_rows(aws.store, m.job_id)) == ["1", "3", "6", "8"]
    errors = {e["line"]: e["error"] for e in read_errors(aws.store, m.job_id)}
    assert errors == {
        3: f"CSV row is longer than {MAX_LINE_BYTES} bytes (lines 3 to 203 at least)",
        5005: "invalid CSV: field larger than field limit (131072)",
        10006: "not valid UTF-8 (byte 6)",
        10008: f"CSV row is longer than {MAX_LINE_BYTES} bytes (lines 10008 to 10009 at least)",
    }


def test_a_declared_5_gb_input_fails_its_job_before_it_is_read(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 says the object is 5 GB (faked: moto stores the small body): the job fails at
    once with the limit in its error, nothing is read or queued."""
    real_head = aws.s3.head_object

    def head_object(**kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = real_head(**kwargs)
        if kwargs["Key"].startswith("incoming/"):
            response["ContentLength"] = 5_000_000_000
        return response

    def no_read(**kwargs: Any) -> Any:
        raise AssertionError(f"the input was read: {kwargs}")

    monkeypatch.setattr(aws.s3, "head_object", head_object)
    real_get = aws.s3.get_object
    monkeypatch.setattr(
        aws.s3,
        "get_object",
        lambda **kw: no_read(**kw) if kw["Key"].startswith("incoming/") else real_get(**kw),
    )
    job = aws.run("incoming/huge.jsonl", b'{"id": 1, "text": "tiny really"}\n')
    assert job["status"] == "failed"
    m = read_job_manifest(aws.store, job["job_id"])
    assert (m.status, m.finalized, m.aborted, m.input.size) == ("failed", True, True, 5 * 10**9)
    assert m.error == (
        "the input is 5000000000 bytes, over the limit of 2000000000"
        " (LAMINA_BATCH_MAX_INPUT_BYTES): split it into smaller files"
    )
    name, body = marker(aws.store, m.job_id)
    assert (name, body["error"]) == ("_FAILED", m.error)
    assert aws.queue.depth() == (0, 0)


def test_an_unexpected_failure_of_the_submit_step_fails_the_job(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug (here: the chunker raising) must not leave the job `submitted`: it fails, its
    error names the exception's type and no bucket or key, the log has the traceback, and
    a second delivery of the event finds it failed."""
    from lamina.batch import submit as submit_module

    def broken(self: Any, record: Any) -> None:
        raise TypeError(f"bug while chunking s3://{BUCKET}/incoming/docs.jsonl")

    monkeypatch.setattr(submit_module.Chunker, "add", broken)
    job = aws.run("incoming/docs.jsonl", b'{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n')
    assert job["status"] == "failed"
    m = read_job_manifest(aws.store, job["job_id"])
    assert (m.status, m.finalized, m.aborted) == ("failed", True, True)
    assert m.error is not None
    assert "(TypeError)" in m.error
    assert BUCKET not in m.error
    assert "incoming/" not in m.error
    name, body = marker(aws.store, m.job_id)
    assert (name, body["status"]) == ("_FAILED", "failed")
    assert aws.store.get(JobKeys(m.job_id).errors) is not None  # an (empty) errors.jsonl
    (entry,) = [r for r in caplog.records if r.getMessage().startswith("submit step failed")]
    assert (entry.levelname, getattr(entry, "job", None)) == ("ERROR", m.job_id)
    assert entry.exc_info is not None
    assert entry.exc_info[0] is TypeError

    (again,) = aws.submit(s3_put_event(BUCKET, "incoming/docs.jsonl"))["jobs"]  # redelivered
    assert (again["job_id"], again["status"]) == (m.job_id, "failed")


def test_a_storage_error_still_propagates_for_lambdas_retry(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 or SQS failing is not a bug: the invocation fails, Lambda retries the event, and
    the retry (here, once the queue is back) submits the job."""
    real_send = aws.queue.send
    monkeypatch.setattr(aws.queue, "send", lambda bodies: (_ for _ in ()).throw(JobError("down")))
    aws.s3.put_object(Bucket=BUCKET, Key="incoming/retry.txt", Body=b"one\ntwo\n")
    with pytest.raises(JobError, match="down"):
        aws.submit(s3_put_event(BUCKET, "incoming/retry.txt"))
    monkeypatch.setattr(aws.queue, "send", real_send)
    (job,) = aws.submit(s3_put_event(BUCKET, "incoming/retry.txt"))["jobs"]
    drain(aws.queue, aws.worker)
    m = final_manifest(aws.store, job["job_id"])
    assert (m.status, m.ok) == ("succeeded", 2)


def with_limits(aws: Aws, telemetry: Telemetry, **limits: int) -> Aws:
    """``aws`` whose submit handler has these settings (batch_max_records=...)."""
    import dataclasses

    settings = Settings.model_validate(
        {
            "batch_bucket": BUCKET,
            "batch_queue_url": aws.queue.url,
            "chunk_max_records": 4,
            **limits,
        }
    )
    return dataclasses.replace(aws, submit=SubmitHandler(aws.store, aws.queue, settings, telemetry))


def test_an_input_over_the_record_limit_fails_its_job(aws: Aws, telemetry: Telemetry) -> None:
    """LAMINA_BATCH_MAX_RECORDS bounds the duplicate-id set whatever the records' size (a
    csv row "1,a" is 4 bytes: 2 GB would be 500 million ids). The record after the limit
    fails the job; chunks queued before it are worked off and the job stays failed."""
    limited = with_limits(aws, telemetry, batch_max_records=20)
    rows = b"id,text\n" + b"".join(b"%d,a\n" % i for i in range(50))
    job = limited.run("incoming/tiny-rows.csv", rows)
    assert job["status"] == "failed"
    m = read_job_manifest(aws.store, job["job_id"])
    assert (m.status, m.finalized, m.aborted) == ("failed", True, True)
    assert m.error == (
        "the input has more than 20 records (LAMINA_BATCH_MAX_RECORDS): split it into smaller files"
    )
    name, body = marker(aws.store, m.job_id)
    assert (name, body["error"]) == ("_FAILED", m.error)
    assert aws.queue.depth() == (0, 0)
    within = limited.run(
        "incoming/twenty.csv", b"id,text\n" + b"".join(b"%d,a\n" % i for i in range(20))
    )
    assert within["status"] != "failed"
    done = final_manifest(aws.store, within["job_id"])
    assert (done.status, done.lines, done.ok) == ("succeeded", 20, 20)


def test_an_input_of_mostly_invalid_lines_fails_with_the_first_errors(
    aws: Aws, telemetry: Telemetry
) -> None:
    """LAMINA_BATCH_MAX_LINE_ERRORS: invalid lines are spooled to /tmp for the job's errors;
    past the limit the file is the wrong one, and the job fails with the errors found so far
    written (errors/input.jsonl), so the person who fixes the file sees what was wrong."""
    limited = with_limits(aws, telemetry, batch_max_line_errors=10)
    lines = b"".join(b"not json %d\n" % i for i in range(30))
    job = limited.run("incoming/wrong-format.jsonl", lines)
    m = read_job_manifest(aws.store, job["job_id"])
    assert (m.status, m.finalized, m.aborted) == ("failed", True, True)
    assert m.error is not None
    assert "more than 10 lines of the input are invalid (LAMINA_BATCH_MAX_LINE_ERRORS)" in m.error
    found = aws.store.get(JobKeys(m.job_id).input_errors)
    assert found is not None
    errors = [json.loads(line) for line in found[0].decode().splitlines()]
    assert [error["line"] for error in errors] == list(range(1, 11))
    assert marker(aws.store, m.job_id)[0] == "_FAILED"


def test_submit_records_the_uploader_from_the_s3_event(aws: Aws) -> None:
    """The job's owner (for the status route's owner check) is the S3 event's principal:
    the role, not the session that uploaded."""
    aws.s3.put_object(Bucket=BUCKET, Key="incoming/owned.jsonl", Body=b'{"id": 1, "text": "a"}\n')
    event = s3_put_event(BUCKET, "incoming/owned.jsonl")
    event["Records"][0]["userIdentity"]["principalId"] = "AWS:AROAEXAMPLEROLE:ci-run-17"
    (job,) = aws.submit(event)["jobs"]
    assert read_job_manifest(aws.store, job["job_id"]).owner == "AROAEXAMPLEROLE"
