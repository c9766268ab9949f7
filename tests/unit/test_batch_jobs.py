"""A job's state in the bucket: bitmaps, ids, compare-and-swap updates, chunk outcomes,
completion; and the submit and worker steps on a local directory (no AWS, no model)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from lamina import storage
from lamina.batch import jobs
from lamina.batch.handlers import WorkerHandler
from lamina.batch.jobs import (
    JOB_ID_PATTERN,
    InputRef,
    JobKeys,
    JobManifest,
    bit_is_set,
    check_job_id,
    chunk_done,
    chunk_failed,
    fail_job,
    final_status,
    finalize_if_complete,
    job_id_for,
    read_job_manifest,
    set_bit,
    set_bits,
    update,
)
from lamina.batch.queues import SQS_MAX_BYTES
from lamina.batch.submit import (
    ChunkLimits,
    ChunkMessage,
    JobOptions,
    SpilledText,
    job_options,
    metadata_options,
    submit_job,
)
from lamina.batch.worker import ChunkWorker
from lamina.errors import JobError, JobInputError, JobNotFoundError
from lamina.inference.embedder import Window
from lamina.storage import LocalObjects
from lamina_tools.queues import MemoryQueue
from tests.batch_helpers import (
    E5_PROMPTS,
    FakeEmbedder,
    PoisonEmbedder,
    assert_accounted,
    check_spans,
    csv_bytes,
    drain,
    final_manifest,
    jsonl,
    korean_and_english,
    marker,
    part_keys,
    read_errors,
    read_rows,
    read_window_rows,
    sqs_event,
)

JOB = "input-0123456789ab"


@pytest.fixture
def store(tmp_path: Path) -> LocalObjects:
    return LocalObjects(tmp_path / "bucket", error=JobError)


def new_job(
    store: LocalObjects,
    *,
    chunks: int | None = 2,
    lines: int | None = 5,
    invalid: int = 0,
    job_id: str = JOB,
) -> JobManifest:
    """A job whose submit step is over (unless ``chunks`` is None) and no chunk done."""
    manifest = JobManifest(
        job_id=job_id,
        input=InputRef(
            uri="s3://b/incoming/input.jsonl",
            key="incoming/input.jsonl",
            etag='"e"',
            size=1,
            format="jsonl",
        ),
        submit_done=chunks is not None,
        lines=lines,
        invalid=invalid,
        chunks=chunks,
        status="running" if chunks else "submitted",
    )
    assert store.put(JobKeys(job_id).manifest, manifest.to_json(), if_none_match=True)
    return manifest


def exists(store: LocalObjects, key: str) -> bool:
    return store.head(key) is not None


# ---- bitmaps ---------------------------------------------------------------------------------


def test_bitmaps_set_clear_iterate() -> None:
    bits = ""
    assert not bit_is_set(bits, 0)
    assert list(set_bits(bits)) == []
    for n in (0, 7, 8, 9, 63, 1000, 12_345):
        bits = set_bit(bits, n, True)
    assert list(set_bits(bits)) == [0, 7, 8, 9, 63, 1000, 12_345]
    assert all(bit_is_set(bits, n) for n in (0, 7, 8, 9, 63, 1000, 12_345))
    assert not any(bit_is_set(bits, n) for n in (1, 6, 10, 64, 999, 1001, 12_344, 99_999))
    bits = set_bit(bits, 8, False)
    bits = set_bit(bits, 12_345, False)
    bits = set_bit(bits, 50_000, False)  # clearing a bit never set is harmless
    assert list(set_bits(bits)) == [0, 7, 9, 63, 1000]
    assert set_bit(bits, 7, True) == bits, "setting a set bit changes nothing"
    every = ""
    for n in range(100):
        every = set_bit(every, n, True)
    assert list(set_bits(every)) == list(range(100))
    assert json.dumps(every).isascii()  # it lives in the JSON manifest


# ---- job ids ---------------------------------------------------------------------------------


def test_job_id_is_deterministic_per_object_version() -> None:
    a = job_id_for("s3://bucket/incoming/My Data+v2.JSONL", '"0123abcd"')
    assert a == job_id_for("s3://bucket/incoming/My Data+v2.JSONL", '"0123abcd"')
    assert a == job_id_for("s3://bucket/incoming/My Data+v2.JSONL", "0123abcd"), "quotes"
    assert a.startswith("my-data-v2-")
    assert a != job_id_for("s3://bucket/incoming/My Data+v2.JSONL", '"0123abce"')
    assert a != job_id_for("s3://other/incoming/My Data+v2.JSONL", '"0123abcd"')


@pytest.mark.parametrize(
    "location",
    [
        "s3://b/incoming/x.jsonl",
        "s3://b/incoming/갈비탕.jsonl",
        "s3://b/incoming/.jsonl",
        "s3://b/incoming/---.csv",
        "s3://b/incoming/" + "long name " * 20 + ".txt",
        "/tmp/jobs/incoming/UPPER_case.txt",
    ],
)
def test_job_ids_are_valid_job_ids(location: str) -> None:
    job_id = job_id_for(location, "etag")
    assert check_job_id(job_id) == job_id
    assert len(job_id) <= 62


@pytest.mark.parametrize(
    "job_id",
    [
        "",
        "x",
        "../x-0123456789ab",
        "a/b-0123456789ab",
        "x-0123456789ab/../../y",
        "x-0123456789ab\n",
        "X-0123456789AB",
        "-x-0123456789ab",
        "x-0123456789a",
        "x_0123456789ab",
        "x-0123456789ab ",
        "jobs/x-0123456789ab",
        "x" * 70 + "-0123456789ab",
    ],
)
def test_check_job_id_rejects_what_is_not_a_job_id(job_id: str) -> None:
    with pytest.raises(JobNotFoundError, match="is not a lamina job id"):
        check_job_id(job_id)


def test_job_id_pattern_is_the_one_check_job_id_uses() -> None:
    import re

    assert re.fullmatch(JOB_ID_PATTERN, JOB)
    assert check_job_id(JOB) == JOB


# ---- the manifest ----------------------------------------------------------------------------


def test_read_manifest_missing_or_bad_id(store: LocalObjects) -> None:
    with pytest.raises(JobNotFoundError, match="no job"):
        read_job_manifest(store, JOB)
    with pytest.raises(JobNotFoundError, match="not a lamina job id"):
        read_job_manifest(store, "../etc")
    new_job(store)
    assert read_job_manifest(store, JOB).job_id == JOB


def test_summary_hides_the_bitmaps_and_counts_failed(store: LocalObjects) -> None:
    m = new_job(store, lines=10, invalid=2)
    m.done_bits = set_bit("", 3, True)
    m.chunk_failed_records = 3
    summary = m.summary()
    assert "done_bits" not in summary
    assert "failed_bits" not in summary
    assert summary["failed"] == 5
    assert summary["output"] == {
        "parts": f"jobs/{JOB}/parts/",
        "errors": f"jobs/{JOB}/errors.jsonl",
    }
    assert json.loads(m.to_json())["failed"] == 5


# ---- update: compare-and-swap ----------------------------------------------------------------


def test_update_under_contention_loses_no_increment(store: LocalObjects) -> None:
    new_job(store)
    threads, each = 8, 30
    calls = [0]

    def bump(m: JobManifest) -> bool:
        calls[0] += 1
        m.ok += 1
        return True

    def work() -> None:
        for _ in range(each):
            update(store, JOB, bump)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert read_job_manifest(store, JOB).ok == threads * each
    assert calls[0] >= threads * each


class InterferingStore(LocalObjects):
    """Runs ``interfere`` right before the first conditional write: another writer wins."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.interfere: Any = None

    def put(self, key: str, body: bytes, **kwargs: Any) -> bool:
        if kwargs.get("if_match") is not None and self.interfere is not None:
            interfere, self.interfere = self.interfere, None
            interfere()
        return super().put(key, body, **kwargs)


def test_update_retries_on_a_lost_race_and_keeps_both_changes(tmp_path: Path) -> None:
    store = InterferingStore(tmp_path)
    other = LocalObjects(tmp_path, error=JobError)
    new_job(other)

    def seven(m: JobManifest) -> bool:
        m.invalid = 7
        return True

    store.interfere = lambda: update(other, JOB, seven)
    attempts: list[int] = []

    def change(m: JobManifest) -> bool:
        attempts.append(m.invalid)
        m.ok += 1
        return True

    before, after = update(store, JOB, change)
    assert attempts == [0, 7], "the change ran again on the newer manifest"
    assert (before.invalid, after.invalid, after.ok) == (7, 7, 1)
    stored = read_job_manifest(store, JOB)
    assert (stored.invalid, stored.ok) == (7, 1)


def test_update_without_a_change_writes_nothing(store: LocalObjects) -> None:
    new_job(store)
    key = JobKeys(JOB).manifest
    etag = store.head(key)
    before, after = update(store, JOB, lambda m: False)
    assert before == after
    assert store.head(key) == etag


def test_update_gives_up_after_too_many_conflicts(
    store: LocalObjects, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_job(store)
    monkeypatch.setattr(storage, "time", SimpleNamespace(sleep=lambda seconds: None))
    monkeypatch.setattr(store, "put", lambda *args, **kwargs: False)
    with pytest.raises(JobError, match="too many concurrent writers"):
        update(store, JOB, lambda m: True)


def test_update_of_a_missing_job(store: LocalObjects) -> None:
    with pytest.raises(JobNotFoundError):
        update(store, JOB, lambda m: True)


# ---- chunk outcomes --------------------------------------------------------------------------


def test_concurrent_chunk_done_counts_exactly_and_finalizes_once(store: LocalObjects) -> None:
    chunks = 120
    sizes = {n: n % 7 + 1 for n in range(chunks)}
    new_job(store, chunks=chunks, lines=sum(sizes.values()))

    def work(mine: list[int]) -> None:
        for n in mine:
            chunk_done(store, JOB, n, sizes[n], "m/1", 0.001)

    workers = [threading.Thread(target=work, args=(list(range(k, chunks, 6)),)) for k in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    m = final_manifest(store, JOB)
    assert m.chunks_done == chunks
    assert m.ok == sum(sizes.values())
    assert list(set_bits(m.done_bits)) == list(range(chunks))
    assert m.status == "succeeded"
    assert m.model_versions == ["m/1"]
    assert m.embed_seconds == pytest.approx(0.12, abs=0.002)
    assert m.started_at is not None
    assert m.finished_at is not None
    assert marker(store, JOB) == (
        "_SUCCESS",
        {"status": "succeeded", "lines": m.lines, "ok": m.ok, "failed": 0, "error": None},
    )
    assert read_errors(store, JOB) == []


def test_chunk_done_twice_counts_once(store: LocalObjects) -> None:
    new_job(store, chunks=2, lines=5)
    first = chunk_done(store, JOB, 0, 3, "m/1", 0.5)
    assert (first.chunks_done, first.ok, first.status, first.finalized) == (1, 3, "running", False)
    again = chunk_done(store, JOB, 0, 3, "m/2", 0.5)
    assert (again.chunks_done, again.ok, again.embed_seconds) == (1, 3, 0.5)
    assert again.model_versions == ["m/1"]
    assert read_job_manifest(store, JOB) == first


def test_chunk_failed_then_redriven_moves_counts_and_refinalizes(store: LocalObjects) -> None:
    keys = JobKeys(JOB)
    new_job(store, chunks=2, lines=5)
    chunk_done(store, JOB, 0, 3, "m/1", 0.1)
    rows: list[dict[str, object]] = [{"line": 4, "id": "d"}, {"line": 5, "id": "e"}]
    failed = chunk_failed(store, JOB, 1, rows, "chunk 1 failed 5 times: RuntimeError: boom")
    assert failed.status == "partially_failed"
    assert (failed.ok, failed.failed, failed.chunks_failed, failed.finalized) == (3, 2, 1, True)
    assert marker(store, JOB)[0] == "_FAILED"
    assert marker(store, JOB)[1]["status"] == "partially_failed"
    reason = "chunk 1 failed 5 times: RuntimeError: boom"
    assert read_errors(store, JOB) == [
        {"line": 4, "id": "d", "error": reason},
        {"line": 5, "id": "e", "error": reason},
    ]

    redriven = chunk_done(store, JOB, 1, 2, "m/1", 0.1)  # the DLQ message came back
    assert redriven.status == "succeeded"
    assert (redriven.ok, redriven.failed, redriven.chunks_done, redriven.chunks_failed) == (
        5,
        0,
        2,
        0,
    )
    assert redriven.chunk_failed_records == 0
    assert redriven.finalized
    assert not bit_is_set(redriven.failed_bits, 1)
    assert marker(store, JOB) == (
        "_SUCCESS",
        {"status": "succeeded", "lines": 5, "ok": 5, "failed": 0, "error": None},
    )
    assert not exists(store, keys.failure)
    assert not exists(store, keys.chunk_errors(1))
    assert read_errors(store, JOB) == []
    assert read_job_manifest(store, JOB) == redriven


def test_a_stale_finalizer_does_not_leave_old_errors_behind(store: LocalObjects) -> None:
    """Finalizer A saw chunk 1 failed; before its errors.jsonl landed, chunk 1 was redriven
    and finalizer B finished the job as succeeded. A's late write must not win."""
    new_job(store, chunks=2, lines=5)
    chunk_done(store, JOB, 0, 3, "m/1", 0.1)
    rows: list[dict[str, object]] = [{"line": 4, "id": "d"}, {"line": 5, "id": "e"}]
    finalized = chunk_failed(store, JOB, 1, rows, "boom")
    stale = finalized.model_copy(update={"finalized": False, "status": "running"})
    assert chunk_done(store, JOB, 1, 2, "m/1", 0.1).status == "succeeded"  # B
    assert read_errors(store, JOB) == []
    store.put(JobKeys(JOB).chunk_errors(1), b'{"line": 4, "id": "d", "error": "boom"}\n')

    after = jobs.finalize_if_complete(store, stale)  # A, late: its CAS loses
    assert (after.status, after.finalized) == ("succeeded", True)
    assert read_errors(store, JOB) == [], "errors.jsonl is the final states', not A's"
    assert marker(store, JOB)[0] == "_SUCCESS"


def test_giving_up_a_chunk_already_done_writes_no_error_file(store: LocalObjects) -> None:
    new_job(store, chunks=1, lines=1)
    chunk_done(store, JOB, 0, 1, "m/1", 0.1)
    m = chunk_failed(store, JOB, 0, [{"line": 1, "id": "a"}], "late give-up")
    assert (m.status, m.chunks_failed) == ("succeeded", 0)
    assert not exists(store, JobKeys(JOB).chunk_errors(0))


def test_redrive_keeps_the_input_errors(store: LocalObjects) -> None:
    keys = JobKeys(JOB)
    new_job(store, chunks=2, lines=6, invalid=1)
    input_error = {"line": 2, "id": None, "error": "blank line"}
    store.put(keys.input_errors, (json.dumps(input_error) + "\n").encode())
    chunk_failed(store, JOB, 0, [{"line": 1, "id": 1}], "gave up")
    chunk_done(store, JOB, 1, 4, "m/1", 0.1)
    assert read_errors(store, JOB) == [input_error, {"line": 1, "id": 1, "error": "gave up"}]
    m = chunk_done(store, JOB, 0, 1, "m/1", 0.1)
    assert (m.status, m.ok, m.failed) == ("partially_failed", 5, 1)
    assert read_errors(store, JOB) == [input_error]
    assert marker(store, JOB)[1] == {
        "status": "partially_failed",
        "lines": 6,
        "ok": 5,
        "failed": 1,
        "error": None,
    }


def test_chunk_failed_twice_or_after_done_changes_nothing(store: LocalObjects) -> None:
    new_job(store, chunks=3, lines=3)
    chunk_done(store, JOB, 0, 1, "m/1", 0.1)
    after_done = chunk_failed(store, JOB, 0, [{"line": 1, "id": 1}], "late give-up")
    assert (after_done.chunks_done, after_done.chunks_failed, after_done.ok) == (1, 0, 1)
    once = chunk_failed(store, JOB, 1, [{"line": 2, "id": 2}], "x")
    twice = chunk_failed(store, JOB, 1, [{"line": 2, "id": 2}], "x")
    assert once == twice
    assert (twice.chunks_failed, twice.chunk_failed_records) == (1, 1)
    final = chunk_done(store, JOB, 2, 1, "m/1", 0.1)
    assert (final.status, final.ok, final.failed, final.lines) == ("partially_failed", 2, 1, 3)
    assert read_errors(store, JOB) == [{"line": 2, "id": 2, "error": "x"}]


class MarkerOutage:
    """``write_marker`` failing once (an S3 error after the final manifest was written)."""

    def __init__(self) -> None:
        self.failures = 0
        self.real = jobs.write_marker

    def __call__(self, store: Any, m: JobManifest) -> None:
        if self.failures == 0:
            self.failures += 1
            raise JobError("cannot write _SUCCESS: InternalError")
        self.real(store, m)


def test_a_redelivery_writes_the_marker_a_failed_finalization_left_out(
    store: LocalObjects, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_job(store, chunks=1, lines=2)
    monkeypatch.setattr(jobs, "write_marker", MarkerOutage())
    with pytest.raises(JobError, match="InternalError"):
        chunk_done(store, JOB, 0, 2, "m/1", 0.1)  # the message will come back
    assert read_job_manifest(store, JOB).finalized
    assert not exists(store, JobKeys(JOB).success)
    m = chunk_done(store, JOB, 0, 2, "m/1", 0.1)  # the redelivery
    assert (m.status, m.ok) == ("succeeded", 2)
    assert marker(store, JOB)[0] == "_SUCCESS"


class SuccessMarkerOutage(LocalObjects):
    """Refuses the first write of _SUCCESS (an S3 error between the two marker writes)."""

    refused = False

    def put(self, key: str, body: bytes, **kwargs: Any) -> bool:
        if key.endswith("/_SUCCESS") and not self.refused:
            self.refused = True
            raise JobError("cannot write _SUCCESS: InternalError")
        return super().put(key, body, **kwargs)


def test_a_marker_outage_during_a_redrive_never_leaves_both_markers(tmp_path: Path) -> None:
    store = SuccessMarkerOutage(tmp_path / "bucket")
    new_job(store, chunks=1, lines=1)
    chunk_failed(store, JOB, 0, [{"line": 1, "id": "a"}], "boom")
    assert marker(store, JOB)[0] == "_FAILED"
    with pytest.raises(JobError, match="InternalError"):
        chunk_done(store, JOB, 0, 1, "m/1", 0.1)  # the redriven chunk succeeds
    keys = JobKeys(JOB)
    assert not exists(store, keys.failure), "the old verdict is gone"
    assert not exists(store, keys.success)
    done = chunk_done(store, JOB, 0, 1, "m/1", 0.1)  # redelivered
    assert (done.status, done.error) == ("succeeded", None), "a failed job can be redriven"
    assert marker(store, JOB)[0] == "_SUCCESS"
    assert not exists(store, keys.failure)


def test_a_retried_submit_writes_the_marker_a_failed_fail_job_left_out(
    store: LocalObjects, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put("incoming/x.json", b"{}")
    queue, _ = pipeline(store)
    monkeypatch.setattr(jobs, "write_marker", MarkerOutage())
    with pytest.raises(JobError, match="InternalError"):
        submit_job(store, queue, "incoming/x.json")
    m = submit_job(store, queue, "incoming/x.json")  # Lambda retries the S3 event
    assert (m.status, m.finalized) == ("failed", True)
    assert marker(store, m.job_id)[0] == "_FAILED"


def test_a_finalized_job_with_its_marker_is_not_rewritten(store: LocalObjects) -> None:
    new_job(store, chunks=1, lines=1)
    chunk_done(store, JOB, 0, 1, "m/1", 0.1)
    store.put(JobKeys(JOB).success, b"original")
    chunk_done(store, JOB, 0, 1, "m/1", 0.1)
    assert store.get(JobKeys(JOB).success) == (b"original", LocalObjects._etag(b"original"))


def test_not_complete_until_submit_is_done(store: LocalObjects) -> None:
    """Workers may finish every chunk sent so far before the submit step has read the
    whole input: the job must not finalize then."""
    new_job(store, chunks=None, lines=None)
    m = chunk_done(store, JOB, 0, 2, "m/1", 0.1)
    assert (m.status, m.finalized) == ("running", False)
    assert finalize_if_complete(store, m) == m
    assert not exists(store, JobKeys(JOB).success)
    assert not exists(store, JobKeys(JOB).errors)


def test_chunk_outcome_for_a_missing_job(store: LocalObjects) -> None:
    with pytest.raises(JobNotFoundError):
        chunk_done(store, JOB, 0, 1, "m/1", 0.1)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"lines": 3, "ok": 3}, "succeeded"),
        ({"lines": 3, "ok": 2, "invalid": 1}, "partially_failed"),
        ({"lines": 3, "ok": 2, "chunk_failed_records": 1}, "partially_failed"),
        ({"lines": 3, "ok": 0, "invalid": 3}, "failed"),
        ({"lines": 3, "ok": 0, "chunk_failed_records": 3}, "failed"),
        ({"lines": 0, "ok": 0}, "failed"),
        ({"lines": None, "ok": 0}, "failed"),
        ({"lines": 3, "ok": 3, "error": "bad header", "aborted": True}, "failed"),
    ],
)
def test_final_status(fields: dict[str, Any], status: str) -> None:
    m = JobManifest(
        job_id=JOB, input=InputRef(uri="u", key="k", etag="e", size=0, format="jsonl"), **fields
    )
    assert final_status(m) == status


def test_fail_job(store: LocalObjects) -> None:
    new_job(store, chunks=None, lines=None)
    m = fail_job(store, JOB, "CSV header must name an id and a text column")
    assert (m.status, m.finalized, m.submit_done) == ("failed", True, True)
    assert m.error == "CSV header must name an id and a text column"
    assert m.finished_at is not None
    assert marker(store, JOB) == (
        "_FAILED",
        {"status": "failed", "lines": None, "ok": 0, "failed": 0, "error": m.error},
    )
    assert read_errors(store, JOB) == []
    assert fail_job(store, JOB, "again") == m, "failing a failed job changes nothing"


# ---- submit and worker on a local directory (a fake model) -----------------------------------


def pipeline(store: LocalObjects, **worker: Any) -> tuple[MemoryQueue, WorkerHandler]:
    queue = MemoryQueue(capacity=1000)
    embedder = worker.pop("embedder", FakeEmbedder())
    handler = WorkerHandler(ChunkWorker(store, embedder, max_receive_count=5, **worker))
    return queue, handler


def test_local_job_end_to_end(store: LocalObjects) -> None:
    rows: list[object] = [{"id": f"r{n}", "text": f"text number {n}"} for n in range(1, 9)]
    rows.insert(2, {"id": "r1", "text": "duplicate"})  # line 3
    rows.insert(5, {"id": 9})  # line 6
    store.put("incoming/in.jsonl", jsonl(rows) + b"not json\n")  # line 11
    queue, handler = pipeline(store)
    submitted = submit_job(store, queue, "incoming/in.jsonl", limits=ChunkLimits(max_records=3))
    assert (submitted.lines, submitted.invalid, submitted.chunks) == (11, 3, 3)
    assert (submitted.status, submitted.submit_done, submitted.finalized) == (
        "running",
        True,
        False,
    )
    assert submitted.input.format == "jsonl"
    assert queue.depth() == (3, 0)

    stats = drain(queue, handler)
    assert (stats.succeeded, stats.failed) == (3, 0)
    m = final_manifest(store, submitted.job_id)
    assert (m.status, m.ok, m.failed, m.chunks_done) == ("partially_failed", 8, 3, 3)
    assert m.model_versions == ["fake/1"]
    assert [(e["line"], e["id"]) for e in read_errors(store, m.job_id)] == [
        (3, "r1"),
        (6, 9),
        (11, None),
    ]
    out = read_rows(store, m.job_id)
    assert [(row.id, row.line) for row in out] == [
        ("r1", 1), ("r2", 2), ("r3", 4), ("r4", 5), ("r5", 7), ("r6", 8), ("r7", 9), ("r8", 10),
    ]  # fmt: skip
    fake = FakeEmbedder()
    for row in out:
        expected = fake.vector(f"text number {str(row.id)[1:]}")
        np.testing.assert_allclose(row.embedding, expected, rtol=0, atol=1e-7)


def test_duplicate_event_sends_nothing_twice(store: LocalObjects) -> None:
    store.put("incoming/a.txt", b"one\ntwo\n")
    queue, handler = pipeline(store)
    first = submit_job(store, queue, "incoming/a.txt")
    drain(queue, handler)
    again = submit_job(store, queue, "incoming/a.txt")
    assert again.job_id == first.job_id
    assert queue.depth() == (0, 0), "a submitted job is not submitted again"
    assert again == read_job_manifest(store, first.job_id)
    assert again.status == "succeeded"

    store.put("incoming/a.txt", b"one\ntwo\nthree\n")  # a new upload: a new job
    third = submit_job(store, queue, "incoming/a.txt")
    assert third.job_id != first.job_id
    assert third.lines == 3


class FlakyQueue(MemoryQueue):
    """Refuses the ``fail_on``-th send (a queue outage in the middle of a submit)."""

    fail_on = 2
    sends = 0

    def send(self, bodies: Any) -> None:
        self.sends += 1
        if self.sends == self.fail_on:
            raise JobError("SQS is down")
        super().send(bodies)


def test_a_retried_submit_resends_the_same_chunks_and_nothing_is_doubled(
    store: LocalObjects,
) -> None:
    store.put("incoming/big.txt", b"".join(b"line %d\n" % n for n in range(1, 31)))
    queue = FlakyQueue(capacity=1000)
    _, handler = pipeline(store)
    limits = ChunkLimits(max_records=1)  # 30 chunks: three SendMessageBatch calls
    with pytest.raises(JobError, match="SQS is down"):
        submit_job(store, queue, "incoming/big.txt", limits=limits)
    sent_before = queue.depth()[0]
    # calls run concurrently (send_all): some went out before the failure stopped the rest
    assert sent_before in (10, 20)
    drain(queue, handler)  # workers finish the first chunks before the retry
    info = store.head("incoming/big.txt")
    assert info is not None
    job_id = job_id_for(store.url("incoming/big.txt"), info.etag)
    assert read_job_manifest(store, job_id).submit_done is False

    retried = submit_job(store, queue, "incoming/big.txt", limits=limits)  # Lambda's retry
    assert (retried.lines, retried.chunks) == (30, 30)
    drain(queue, handler)
    m = final_manifest(store, job_id)
    assert (m.status, m.ok, m.chunks_done) == ("succeeded", 30, 30)
    assert [row.line for row in read_rows(store, job_id)] == list(range(1, 31))


def test_a_record_too_large_for_a_message_is_a_line_error(store: LocalObjects) -> None:
    """A CSV id may hold 128 K characters; escaped control characters take 6 bytes each in
    JSON: the record cannot be sent, but the rest of the job must go on."""
    huge_id = "\x01" * 100_000
    data = b"id,text\n1,fine\n" + huge_id.encode() + b",hello\n2,also fine\n"
    store.put("incoming/wide.csv", data)
    queue, handler = pipeline(store)
    m = submit_job(store, queue, "incoming/wide.csv")
    assert (m.lines, m.invalid, m.chunks) == (3, 1, 1)
    drain(queue, handler)
    m = final_manifest(store, m.job_id)
    assert (m.status, m.ok, m.failed) == ("partially_failed", 2, 1)
    (error,) = read_errors(store, m.job_id)
    assert (error["line"], error["id"]) == (3, huge_id)
    assert error["error"].startswith("record needs 600")
    assert error["error"].endswith(f" bytes in a queue message (limit {SQS_MAX_BYTES})")
    assert [row.id for row in read_rows(store, m.job_id)] == ["1", "2"]


def test_a_submit_retried_after_a_crash_in_finalization_finalizes(
    store: LocalObjects, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The submit step's last write (finalizing a job whose chunks are all done, or that
    has none) fails; Lambda retries the event: the retry must finish the job, not skip
    it as already submitted."""
    from lamina.batch import submit as submit_module

    store.put("incoming/bad.jsonl", b"{}\n[]\n")  # no valid line: no chunk, no worker
    queue, _ = pipeline(store)

    def s3_down(*args: Any) -> JobManifest:
        raise JobError("cannot write: InternalError")

    with monkeypatch.context() as patch:
        patch.setattr(submit_module, "finalize_if_complete", s3_down)
        with pytest.raises(JobError, match="InternalError"):
            submit_job(store, queue, "incoming/bad.jsonl")
    retried = submit_job(store, queue, "incoming/bad.jsonl")
    assert (retried.status, retried.finalized) == ("failed", True)
    assert marker(store, retried.job_id)[0] == "_FAILED"
    assert [e["line"] for e in read_errors(store, retried.job_id)] == [1, 2]


def test_empty_input_is_a_failed_job(store: LocalObjects) -> None:
    store.put("incoming/empty.jsonl", b"")
    queue, _ = pipeline(store)
    m = submit_job(store, queue, "incoming/empty.jsonl")
    assert (m.status, m.lines, m.chunks, m.finalized) == ("failed", 0, 0, True)
    assert m.error == "the input has no records"
    name, body = marker(store, m.job_id)
    assert (name, body["error"]) == ("_FAILED", "the input has no records")
    assert queue.depth() == (0, 0)


def test_all_lines_invalid_is_a_failed_job_with_every_line_in_errors(store: LocalObjects) -> None:
    store.put("incoming/bad.jsonl", b"{}\n[]\n\n")
    queue, _ = pipeline(store)
    m = submit_job(store, queue, "incoming/bad.jsonl")
    assert (m.status, m.lines, m.invalid, m.ok) == ("failed", 3, 3, 0)
    assert m.error == "no record got a vector: every line is in errors.jsonl"
    assert [e["line"] for e in read_errors(store, m.job_id)] == [1, 2, 3]
    assert marker(store, m.job_id)[0] == "_FAILED"


@pytest.mark.parametrize(
    ("key", "data", "message"),
    [
        ("incoming/data.json", b'{"id": 1, "text": "a"}\n', "unsupported input"),
        ("incoming/data.csv", csv_bytes(["key", "body"], [["1", "a"]]), "CSV header must name"),
    ],
)
def test_input_that_cannot_be_read_fails_the_job(
    store: LocalObjects, key: str, data: bytes, message: str
) -> None:
    store.put(key, data)
    queue, _ = pipeline(store)
    m = submit_job(store, queue, key)
    assert (m.status, m.finalized) == ("failed", True)
    assert m.error is not None
    assert message in m.error
    name, body = marker(store, m.job_id)
    assert name == "_FAILED"
    assert message in body["error"]
    assert queue.depth() == (0, 0)


def test_worker_gives_a_chunk_up_only_on_its_last_receive(store: LocalObjects) -> None:
    new_job(store, chunks=1, lines=2)
    body = ChunkMessage(job=JOB, chunk=0, records=[(1, 1, "POISON"), (2, 2, "fine")])
    worker = ChunkWorker(store, PoisonEmbedder(FakeEmbedder()), max_receive_count=3)
    for receive in (1, 2):
        with pytest.raises(RuntimeError, match="poisoned"):
            worker.process(body.model_dump_json(), receive)
        assert not exists(store, JobKeys(JOB).chunk_errors(0))
        assert read_job_manifest(store, JOB).chunks_failed == 0
    with pytest.raises(RuntimeError, match="poisoned"):
        worker.process(body.model_dump_json(), 3)  # still raised: the message goes to the DLQ
    m = read_job_manifest(store, JOB)
    assert (m.status, m.chunks_failed, m.failed, m.ok) == ("failed", 1, 2, 0)
    errors = read_errors(store, JOB)
    assert [(e["line"], e["id"]) for e in errors] == [(1, 1), (2, 2)]
    assert errors[0]["error"].startswith("chunk 0 failed 3 times: RuntimeError: poisoned")
    assert not exists(store, JobKeys(JOB).part(0, "jsonl"))


def test_worker_redelivery_rewrites_the_same_part(store: LocalObjects) -> None:
    new_job(store, chunks=2, lines=3)
    worker = ChunkWorker(store, FakeEmbedder(), max_receive_count=5)
    body = ChunkMessage(job=JOB, chunk=1, records=[(2, "b", "bee"), (3, "c", "sea")])
    assert worker.process(body.model_dump_json(), 1) == 2
    part = store.get(JobKeys(JOB).part(1, "jsonl"))
    assert worker.process(body.model_dump_json(), 2) == 2
    assert store.get(JobKeys(JOB).part(1, "jsonl")) == part
    m = read_job_manifest(store, JOB)
    assert (m.ok, m.chunks_done) == (2, 1)
    assert [info.key for info in store.list(JobKeys(JOB).parts)] == [JobKeys(JOB).part(1, "jsonl")]


def test_worker_refuses_a_message_that_is_not_a_chunk(store: LocalObjects) -> None:
    worker = ChunkWorker(store, FakeEmbedder(), max_receive_count=5)
    with pytest.raises(JobError, match="not a lamina chunk message"):
        worker.process('{"hello": "world"}', 5)
    assert list(store.list("")) == []


def test_worker_writes_nothing_for_a_job_that_is_not_there(store: LocalObjects) -> None:
    worker = ChunkWorker(store, FakeEmbedder(), max_receive_count=5)
    body = ChunkMessage(job="gone-0123456789ab", chunk=0, records=[(1, "a", "text")])
    for receive in (1, 5):  # the last receive too: no job, nothing to give up into
        with pytest.raises(JobNotFoundError, match="gone-0123456789ab"):
            worker.process(body.model_dump_json(), receive)
    assert list(store.list("")) == [], "no stray part or error file"


def test_worker_refuses_a_chunk_whose_job_id_is_a_path(store: LocalObjects) -> None:
    worker = ChunkWorker(store, FakeEmbedder(), max_receive_count=5)
    body = ChunkMessage(job="../../etc-0123456789ab", chunk=0, records=[(1, "a", "text")])
    with pytest.raises(JobNotFoundError, match="not a lamina job id"):
        worker.process(body.model_dump_json(), 1)
    assert list(store.list("")) == []


def test_a_batch_where_every_chunk_fails_is_still_a_partial_batch_response(
    store: LocalObjects,
) -> None:
    store.put("incoming/p.jsonl", jsonl([{"id": n, "text": f"POISON {n}"} for n in range(4)]))
    queue, handler = pipeline(store, embedder=PoisonEmbedder(FakeEmbedder()))
    submit_job(store, queue, "incoming/p.jsonl", limits=ChunkLimits(max_records=2))
    messages = queue.receive(10, 0, 60)
    assert len(messages) == 2
    response = handler(sqs_event(messages, queue.arn))  # no exception: not a Lambda error
    assert response == {"batchItemFailures": [{"itemIdentifier": m.message_id} for m in messages]}


# ---- job options: model, input type, long texts, windows -------------------------------------


def two_models() -> dict[str, FakeEmbedder]:
    """A MiniLM-like model (no prompts) and an e5-like one (prompts), 1,000-char "limit"."""
    return {
        "mini": FakeEmbedder(name="mini"),
        "e5": FakeEmbedder(name="e5", prompts=E5_PROMPTS),
    }


def run(
    store: LocalObjects,
    key: str,
    data: bytes,
    *,
    embedders: dict[str, FakeEmbedder] | None = None,
    options: dict[str, str] | None = None,
    served: list[str] | None = None,
    default: str | None = None,
    **submit: Any,
) -> JobManifest:
    """Submit ``data`` at ``key`` and work the queue off with a worker holding ``embedders``."""
    store.put(key, data)
    queue = MemoryQueue(capacity=1000)
    models = embedders or two_models()
    worker = ChunkWorker(store, dict(models), max_receive_count=5, default=default)
    m = submit_job(store, queue, key, options=options, served=served, **submit)
    drain(queue, WorkerHandler(worker))
    return read_job_manifest(store, m.job_id)


def test_the_literal_types_are_the_embedders() -> None:
    """jobs.py spells InputType and LongText again (the submit path imports no inference)."""
    from typing import get_args

    from lamina.inference import embedder

    assert get_args(jobs.InputType) == get_args(embedder.InputType)
    assert get_args(jobs.LongText) == get_args(embedder.LongText)


def test_job_options_defaults_and_values() -> None:
    assert job_options({}) == JobOptions(
        output_format="jsonl", model=None, input_type="passage", long_text="truncate"
    )
    chosen = job_options(
        {"output": "NPZ", "model": "E5", "input-type": " Query ", "long-text": "split",
         "windows": "true"},
        served=["mini", "e5"],
    )  # fmt: skip
    assert chosen == JobOptions(
        output_format="npz", model="e5", input_type="query", long_text="split", windows=True
    )
    assert job_options({"input-type": "none"}).input_type is None
    assert job_options({}, served=["mini", "e5"]).model == "mini", "the first is the default"
    assert job_options({}, served=["mini", "e5"], default_model="e5").model == "e5"
    assert job_options({"output": "parquet"}).output_format == "jsonl", "lenient, as before"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"input-type": "document"}, "input-type 'document' is not one of query, passage, none"),
        ({"long-text": "chop"}, "long-text 'chop' is not one of truncate, reject, split"),
        ({"windows": "maybe"}, "windows 'maybe' is not one of true, 1, yes, false, 0, no"),
        ({"windows": "true"}, "windows needs long-text split"),
        ({"windows": "1", "long-text": "reject"}, "windows needs long-text split"),
        ({"model": "no such model"}, "model 'no such model' is not a model name"),
        (
            {"model": "gpt-4"},
            "model 'gpt-4' is not served by the batch workers; served: 'mini', 'e5'",
        ),
    ],
)
def test_job_options_refuse_bad_values_clearly(values: dict[str, str], message: str) -> None:
    with pytest.raises(JobInputError, match=r"^invalid job options: ") as caught:
        job_options(values, served=["mini", "e5"])
    assert message in caught.value.message


def test_metadata_options_reads_the_lamina_keys() -> None:
    metadata = {"lamina-model": "e5", "lamina-long-text": "split", "other": "x"}
    assert metadata_options(metadata) == {"model": "e5", "long-text": "split"}


def test_a_job_on_the_named_model_with_its_prompt(store: LocalObjects) -> None:
    texts = {f"p{n}": f"passage number {n}" for n in range(5)}
    m = run(
        store,
        "incoming/e5.jsonl",
        jsonl({"id": k, "text": t} for k, t in texts.items()),
        options={"model": "E5", "input-type": "passage"},
        served=["mini", "e5"],
        limits=ChunkLimits(max_records=2),
    )
    assert (m.status, m.model, m.input_type, m.long_text, m.windows) == (
        "succeeded", "e5", "passage", "truncate", False,
    )  # fmt: skip
    assert m.model_versions == ["e5/1"]
    rows = read_rows(store, m.job_id)
    e5 = FakeEmbedder(name="e5", prompts=E5_PROMPTS)
    expected = e5.embed(list(texts.values()), input_type="passage").vectors
    assert [row.model for row in rows] == ["e5/1"] * 5
    np.testing.assert_array_equal(np.stack([row.embedding for row in rows]), expected)
    assert not np.allclose(expected, e5.embed(list(texts.values())).vectors), "the prompt counts"


def test_input_type_defaults_to_passage_and_none_is_the_raw_text(store: LocalObjects) -> None:
    e5 = FakeEmbedder(name="e5", prompts=E5_PROMPTS)
    default = run(store, "incoming/a.txt", b"alpha\nbeta\n", embedders={"e5": e5})
    assert default.input_type == "passage"
    assert default.model == "e5", "the worker's default, filled in by the first chunk"
    rows = read_rows(store, default.job_id)
    np.testing.assert_array_equal(rows[0].embedding, e5.vector("passage: alpha"))
    raw = run(
        store, "incoming/b.txt", b"alpha\n", embedders={"e5": e5}, options={"input-type": "none"}
    )
    assert raw.input_type is None
    np.testing.assert_array_equal(read_rows(store, raw.job_id)[0].embedding, e5.vector("alpha"))
    # A model without prompts ignores the input type: the same vectors as before it existed.
    mini = FakeEmbedder(name="mini")
    plain = run(store, "incoming/c.txt", b"alpha\n", embedders={"mini": mini})
    np.testing.assert_array_equal(read_rows(store, plain.job_id)[0].embedding, mini.vector("alpha"))


def test_the_default_model_is_the_workers_or_the_named_default(store: LocalObjects) -> None:
    m = run(store, "incoming/a.txt", b"one\n", default="e5")
    assert (m.model, m.model_versions) == ("e5", ["e5/1"])
    m = run(store, "incoming/b.txt", b"two\n", served=["mini", "e5"], default_model="e5")
    assert m.model == "e5"


def test_an_unknown_model_fails_at_submit_when_the_names_are_known(store: LocalObjects) -> None:
    store.put("incoming/x.txt", b"one\ntwo\n")
    queue = MemoryQueue(capacity=10)
    m = submit_job(store, queue, "incoming/x.txt", options={"model": "gpt-4"}, served=["mini"])
    assert (m.status, m.finalized, m.aborted) == ("failed", True, True)
    assert m.error == (
        "invalid job options: model 'gpt-4' is not served by the batch workers; served: 'mini'"
    )
    assert marker(store, m.job_id) == (
        "_FAILED", {"status": "failed", "lines": None, "ok": 0, "failed": 0, "error": m.error},
    )  # fmt: skip
    assert queue.depth() == (0, 0), "nothing is queued"
    again = submit_job(store, queue, "incoming/x.txt", options={"model": "gpt-4"}, served=["mini"])
    assert again == read_job_manifest(store, m.job_id), "a duplicate event changes nothing"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"long-text": "chop"}, "long-text 'chop' is not one of truncate, reject, split"),
        ({"windows": "true"}, "windows needs long-text split"),
    ],
)
def test_a_bad_option_fails_the_job_clearly(
    store: LocalObjects, options: dict[str, str], message: str
) -> None:
    store.put("incoming/x.txt", b"one\n")
    m = submit_job(store, MemoryQueue(), "incoming/x.txt", options=options)
    assert (m.status, m.aborted) == ("failed", True)
    assert m.error is not None
    assert message in m.error
    assert marker(store, m.job_id)[0] == "_FAILED"


def test_an_unknown_model_fails_the_job_in_the_worker(store: LocalObjects) -> None:
    """The submit function loads no model (and may not know the names): the worker checks
    the name, and fails the job at once, with the reason in its manifest (no retries)."""
    store.put("incoming/x.jsonl", jsonl({"id": n, "text": f"t{n}"} for n in range(5)))
    queue = MemoryQueue(capacity=10)
    m = submit_job(
        store, queue, "incoming/x.jsonl", options={"model": "gpt-4"}, limits=ChunkLimits(2)
    )
    assert (m.status, m.model, m.chunks) == ("running", "gpt-4", 3)
    models = two_models()
    stats = drain(queue, WorkerHandler(ChunkWorker(store, dict(models), max_receive_count=5)))
    assert (stats.succeeded, stats.failed) == (3, 0), "no retry: the messages are deleted"
    m = read_job_manifest(store, m.job_id)
    assert (m.status, m.finalized, m.aborted, m.ok) == ("failed", True, True, 0)
    assert m.error == "model 'gpt-4' is not served by the batch worker; served: 'mini', 'e5'"
    assert marker(store, m.job_id)[1]["error"] == m.error
    assert not any(model.calls for model in models.values())
    assert part_keys(store, m.job_id) == []


def test_reject_refuses_the_long_texts_one_by_one(store: LocalObjects) -> None:
    rows = [{"id": n, "text": ("long " * 300 if n in (2, 5) else f"short {n}")} for n in range(7)]
    m = run(
        store,
        "incoming/r.jsonl",
        jsonl(rows),
        options={"long-text": "reject"},
        limits=ChunkLimits(max_records=3),
    )
    assert (m.status, m.lines, m.ok, m.refused, m.failed) == ("partially_failed", 7, 5, 2, 2)
    assert_accounted(m)
    assert [row.id for row in read_rows(store, m.job_id)] == [0, 1, 3, 4, 6]
    errors = read_errors(store, m.job_id)
    assert [(e["line"], e["id"]) for e in errors] == [(3, 2), (6, 5)]
    assert errors[0]["error"] == (
        "text is longer than the model's 256 tokens (mini/1; long_text=reject)"
    )


def test_a_refused_record_counts_once_and_a_redriven_chunk_moves_its_records(
    store: LocalObjects,
) -> None:
    new_job(store, chunks=1, lines=4)
    chunk_failed(store, JOB, 0, [{"line": n, "id": n} for n in range(1, 5)], "boom")
    assert read_job_manifest(store, JOB).chunk_failed_records == 4
    store.put(JobKeys(JOB).refused_errors(0), b'{"line": 2, "id": 2, "error": "too long"}\n')
    m = chunk_done(store, JOB, 0, 3, "fake/1", 0.1, refused=1)
    assert (m.ok, m.refused, m.chunk_failed_records, m.failed, m.status) == (
        3, 1, 0, 1, "partially_failed",
    )  # fmt: skip
    assert read_errors(store, JOB) == [{"line": 2, "id": 2, "error": "too long"}]
    again = chunk_done(store, JOB, 0, 3, "fake/1", 0.1, refused=1)
    assert (again.ok, again.refused) == (3, 1), "a redelivery counts nothing twice"


@pytest.mark.parametrize("out", ["jsonl", "npz"])
def test_a_150000_character_document_is_split_spilled_and_windowed(
    store: LocalObjects, out: str
) -> None:
    """265 kB of UTF-8 on one line (over the 200,000-byte line limit without split) and in
    a message (over SQS's 256 KiB): the text is spilled to the job's prefix, the message
    refers to it, the worker reads it back; one row per text and one per window."""
    doc = korean_and_english()
    assert len(doc.encode("utf-8")) > SQS_MAX_BYTES
    e5 = FakeEmbedder(name="e5", prompts=E5_PROMPTS, max_chars=4000, overlap=500)
    texts = {"short": "a short note", "doc": doc, "after": "x" * 4500}
    m = run(
        store,
        "incoming/long.jsonl",
        jsonl({"id": k, "text": t} for k, t in texts.items()),
        embedders={"e5": e5},
        options={"long-text": "split", "windows": "true", "output": out},
    )
    assert (m.status, m.ok, m.failed, m.spilled, m.long_text, m.windows) == (
        "succeeded", 3, 0, 1, "split", True,
    )  # fmt: skip
    assert m.chunks == 3, "the document's windows make a chunk of their own"
    spill = store.get(JobKeys(m.job_id).spill(2))
    assert spill is not None
    assert spill[0].decode("utf-8") == doc
    rows = read_rows(store, m.job_id)
    assert [row.id for row in rows] == list(texts)
    windows = read_window_rows(store, m.job_id)
    assert m.window_rows == len(windows)
    for row in rows:
        text = texts[str(row.id)]
        own = [w for w in windows if w.id == row.id]
        check_spans(text, own)
        assert all(w.line == row.line and w.model == "e5/1" for w in own)
        for w in own:  # each window is the prompt + text[start:end], embedded as a text
            np.testing.assert_array_equal(
                w.embedding, e5.vector("passage: " + text[w.start : w.end])
            )
            assert w.tokens == e5.tokens("passage: " + text[w.start : w.end])
        np.testing.assert_allclose(
            row.embedding,
            FakeEmbedder.mean([Window(w.start, w.end, w.tokens, w.embedding) for w in own]),
            atol=1e-7,
        )
    assert [len([w for w in windows if w.id == k]) for k in texts] == [1, 43, 2]


def test_split_limits_and_the_line_limit(store: LocalObjects) -> None:
    lines = [
        {"id": "fits", "text": "x" * 2500},
        {"id": "over", "text": "x" * 3001},
    ]
    plain = run(
        store, "incoming/a.jsonl", jsonl(lines), max_text_chars=2000, max_split_text_chars=3000
    )
    assert [(e["id"], e["error"]) for e in read_errors(store, plain.job_id)] == [
        ("fits", "text has 2500 characters (limit 2000; long_text=split accepts up to 3000)"),
        ("over", "text has 3001 characters (limit 2000; long_text=split accepts up to 3000)"),
    ]
    split = run(
        store,
        "incoming/b.jsonl",
        jsonl(lines),
        options={"long-text": "split"},
        max_text_chars=2000,
        max_split_text_chars=3000,
    )
    assert [(e["id"], e["error"]) for e in read_errors(store, split.job_id)] == [
        ("over", "text has 3001 characters (limit 3000)")
    ]
    assert [row.id for row in read_rows(store, split.job_id)] == ["fits"]


def test_a_long_line_fits_with_split_only(store: LocalObjects) -> None:
    doc = korean_and_english(100_000)  # ~170 kB, written with \u escapes: ~550 kB
    line = json.dumps({"id": 1, "text": doc}).encode() + b"\n"
    assert len(line) > 200_000
    plain = run(store, "incoming/a.jsonl", line)
    assert read_errors(store, plain.job_id) == [
        {"line": 1, "id": None, "error": "line is longer than 200000 bytes"}
    ]
    split = run(store, "incoming/b.jsonl", line, options={"long-text": "split"})
    assert (split.ok, split.spilled) == (1, 0), "170 kB of UTF-8 fits in a message"


def test_a_spilled_text_that_is_missing_fails_its_chunk(store: LocalObjects) -> None:
    new_job(store, chunks=1, lines=1)
    body = ChunkMessage(job=JOB, chunk=0, records=[(1, "doc", SpilledText(spilled=10))])
    worker = ChunkWorker(store, FakeEmbedder(), max_receive_count=2)
    with pytest.raises(JobError, match=r"the text of line 1 is not at .*spill/000000000001.txt"):
        worker.process(body.model_dump_json(), 1)
    store.put(JobKeys(JOB).spill(1), b"0123456789")
    assert worker.process(body.model_dump_json(), 2) == 1


def test_an_old_manifest_and_old_messages_still_work(store: LocalObjects) -> None:
    """A job submitted before the options: its manifest has none of their fields and its
    messages neither; a worker holding several models embeds them as before (its default
    model, no prompt, truncated)."""
    manifest = new_job(store, chunks=1, lines=2)
    old = json.loads(manifest.to_json())
    for name in ("model", "input_type", "long_text", "windows", "refused", "window_rows",
                 "refused_bits", "spilled"):  # fmt: skip
        old.pop(name)
    store.put(JobKeys(JOB).manifest, json.dumps(old).encode())
    read = read_job_manifest(store, JOB)
    assert (read.model, read.input_type, read.long_text, read.windows, read.refused) == (
        None, None, "truncate", False, 0,
    )  # fmt: skip
    models = {"e5": FakeEmbedder(name="e5", prompts=E5_PROMPTS), "mini": FakeEmbedder(name="mini")}
    worker = ChunkWorker(store, dict(models), max_receive_count=5)
    body = f'{{"job": "{JOB}", "chunk": 0, "out": "jsonl", "normalize": true, '
    body += '"records": [[1, "a", "alpha"], [2, "b", "beta"]]}'
    assert worker.process(body, 1) == 2
    m = final_manifest(store, JOB)
    assert (m.status, m.model, m.model_versions) == ("succeeded", "e5", ["e5/1"])
    rows = read_rows(store, JOB)
    np.testing.assert_array_equal(rows[0].embedding, models["e5"].vector("alpha"))
    assert models["e5"].options == [
        {"long_text": "truncate", "input_type": None, "max_tokens": None}
    ]


def test_a_split_job_accepts_200000_characters_unless_the_setting_says_otherwise() -> None:
    """The API's LAMINA_MAX_SPLIT_TEXT_CHARS default bounds a request's time; a job's text is
    bounded by the worker's timeout, so the batch functions allow more unless it is set."""
    from lamina.batch.handlers import split_text_limit
    from lamina.settings import Settings

    assert split_text_limit(Settings.from_env({})) == 200_000
    assert split_text_limit(Settings.from_env({"LAMINA_MAX_SPLIT_TEXT_CHARS": "300000"})) == 300_000
