"""The load state of a job that loads itself into a search collection
(lamina.batch.loading): the option at submit, when a load is due, the message, the cursor,
and what a failure records. The loading itself (a real database) is in
tests/integration/test_search_jobload.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lamina.batch.jobs import (
    COLLECTION_PATTERN,
    InputRef,
    JobKeys,
    JobManifest,
    LoadState,
    chunk_done,
    read_job_manifest,
    update,
)
from lamina.batch.loading import (
    LoadMessage,
    deadline_clock,
    load_due,
    load_failed,
    load_finished,
    load_started,
    part_loaded,
    queue_load,
)
from lamina.batch.submit import ChunkMessage, job_options
from lamina.batch.worker import load_message
from lamina.errors import JobError, JobInputError
from lamina.search.index import check_collection_name
from lamina.storage import LocalObjects
from lamina_tools.queues import MemoryQueue

JOB = "input-0123456789ab"


@pytest.fixture
def store(tmp_path: Path) -> LocalObjects:
    return LocalObjects(tmp_path / "bucket", error=JobError)


def finished_job(store: LocalObjects, *, collection: str | None = "docs") -> JobManifest:
    """A job with two chunks, both done: succeeded and finalized."""
    manifest = JobManifest(
        job_id=JOB,
        input=InputRef(
            uri="s3://b/incoming/in.jsonl", key="incoming/in.jsonl", etag='"e"', size=1,
            format="jsonl",
        ),
        submit_done=True, lines=4, chunks=2, status="running", collection=collection,
    )  # fmt: skip
    assert store.put(JobKeys(JOB).manifest, manifest.to_json(), if_none_match=True)
    chunk_done(store, JOB, 0, 2, "m/1", 0.1, fingerprint="f" * 64)
    return chunk_done(store, JOB, 1, 2, "m/1", 0.1, fingerprint="f" * 64)


def test_the_collection_option_is_checked_at_submit() -> None:
    assert job_options({"collection": "recipes_ko"}, search=True).collection == "recipes_ko"
    assert job_options({}).collection is None
    assert job_options({"collection": "  "}).collection is None
    for bad in ("Recipes", "1st", "a-b", "x" * 41, "lamina items", "r;drop"):
        with pytest.raises(JobInputError, match="is not a collection name"):
            job_options({"collection": bad}, search=True)
    with pytest.raises(JobInputError, match=r"no search database.*SearchSecretArn"):
        job_options({"collection": "recipes"}, search=False)
    # Unknown (None: the local CLI checking its flags) accepts a good name.
    assert job_options({"collection": "recipes"}).collection == "recipes"


def test_the_batch_and_search_packages_agree_on_collection_names() -> None:
    for name in ("a", "recipes_ko", "x" * 40):
        assert re.fullmatch(COLLECTION_PATTERN, name)
        assert check_collection_name(name) == name
        job_options({"collection": name})


def test_a_load_is_due_once_the_job_is_final_with_vectors(store: LocalObjects) -> None:
    m = finished_job(store)
    assert (m.status, m.finalized) == ("succeeded", True)
    assert load_due(m)
    assert not load_due(m.model_copy(update={"collection": None}))
    assert not load_due(m.model_copy(update={"finalized": False}))
    assert not load_due(m.model_copy(update={"status": "failed"}))
    assert not load_due(m.model_copy(update={"aborted": True}))
    assert not load_due(m.model_copy(update={"load": LoadState()}))


def test_queue_load_sends_one_message_and_marks_the_load_queued(store: LocalObjects) -> None:
    queue = MemoryQueue()
    m = queue_load(store, queue, finished_job(store))
    assert m.load is not None
    assert m.load.status == "queued"
    assert read_job_manifest(store, JOB).load == m.load
    (message,) = queue.receive(10, 0, 30)
    assert LoadMessage.model_validate_json(message.body) == LoadMessage(load=JOB)
    # Not due any more: nothing more is sent.
    queue_load(store, queue, read_job_manifest(store, JOB))
    assert queue.depth() == (0, 1)


def test_no_load_for_a_job_without_a_collection(store: LocalObjects) -> None:
    queue = MemoryQueue()
    assert queue_load(store, queue, finished_job(store, collection=None)).load is None
    assert queue.depth() == (0, 0)


def test_the_cursor_counts_each_part_once(store: LocalObjects) -> None:
    queue_load(store, MemoryQueue(), finished_job(store))
    assert load_started(store, JOB).load.status == "loading"  # type: ignore[union-attr]
    part_loaded(store, JOB, 0, (2, 0, 0), 0.5)
    part_loaded(store, JOB, 0, (0, 0, 2), 0.5)  # the same part again (a duplicate message)
    m = part_loaded(store, JOB, 1, (1, 1, 0), 0.25)
    assert m.load is not None
    assert (m.load.next_chunk, m.load.parts) == (2, 2)
    assert (m.load.inserted, m.load.updated, m.load.unchanged, m.load.items) == (3, 1, 0, 4)
    assert m.load.seconds == 0.75
    m = load_finished(store, JOB)
    assert m.load is not None
    assert (m.load.status, m.load.messages) == ("loaded", 1)
    # A loaded load stays loaded: a late message starts nothing, a late failure is ignored.
    assert load_started(store, JOB).load == m.load
    assert load_failed(store, JOB, "late").load == m.load


def test_a_message_taken_before_the_load_is_marked_still_loads(store: LocalObjects) -> None:
    """queue_load sends first, then marks the load queued: a worker can take the message in
    between (seen over real processes: the load was then skipped and stayed queued)."""
    m = finished_job(store)
    assert m.load is None
    started = load_started(store, JOB)  # the worker, before queue_load's mark
    assert started.load is not None
    assert started.load.status == "loading"
    # queue_load's mark, after the worker: the load is not due any more, nothing changes.
    queue = MemoryQueue()
    after = queue_load(store, queue, m)  # m: what the sender saw before it sent
    assert read_job_manifest(store, JOB).load == started.load
    assert after.load is not None
    assert after.load.status == "loading"

    # A job whose load was reset (a redriven chunk: not final) starts nothing.
    def reset(current: JobManifest) -> bool:
        current.load, current.finalized = None, False
        return True

    update(store, JOB, reset)
    assert load_started(store, JOB).load is None


def test_a_failed_load_restarts_from_its_cursor(store: LocalObjects) -> None:
    queue_load(store, MemoryQueue(), finished_job(store))
    load_started(store, JOB)
    part_loaded(store, JOB, 0, (2, 0, 0), 0.1)
    m = load_failed(store, JOB, "the search database did not answer")
    assert m.load is not None
    assert (m.load.status, m.load.error, m.load.next_chunk) == (
        "failed", "the search database did not answer", 1,
    )  # fmt: skip
    m = load_started(store, JOB)  # the message redriven
    assert m.load is not None
    assert (m.load.status, m.load.error, m.load.next_chunk, m.load.messages) == (
        "loading", None, 1, 2,
    )  # fmt: skip


def test_a_load_that_could_not_be_queued_records_why(store: LocalObjects) -> None:
    finished_job(store)
    m = load_failed(store, JOB, "no queue")
    assert m.load is not None
    assert (m.load.status, m.load.error) == ("failed", "no queue")
    assert load_failed(store, JOB, "x").load is not None
    finished = read_job_manifest(store, JOB)
    assert finished.status == "succeeded"  # the job's own status is untouched


def test_load_messages_are_told_from_chunk_messages() -> None:
    assert load_message('{"load":"' + JOB + '"}') == LoadMessage(load=JOB)
    assert load_message('{ "load" : "' + JOB + '" }') == LoadMessage(load=JOB)
    chunk = ChunkMessage(job=JOB, chunk=0, records=[(1, "a", 'text with "load" in it')])
    assert load_message(chunk.model_dump_json()) is None
    assert load_message('{"load": "x", "chunk": 1}') is None  # not exactly a load message
    assert load_message("not json") is None


def test_the_invocation_clock() -> None:
    assert deadline_clock(None)() == float("inf")
    left = deadline_clock(30.0)()
    assert 29.0 < left <= 30.0
    assert deadline_clock(0.0)() <= 0.0
