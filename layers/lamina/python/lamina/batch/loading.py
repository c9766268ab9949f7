"""A job that loads itself into a search collection when it finishes (docs/search.md,
"A job that loads itself").

A job submitted with a collection (``x-amz-meta-lamina-collection``, ``--collection``)
records it in its manifest. When the job is finalized with vectors (succeeded or
partially_failed), whoever finalized it (a worker, or the submit step when the workers
finished first) queues one *load message*, ``{"load": "<job_id>"}``, on the batch queue
itself, and marks the load ``queued``. A worker that receives it loads the job's parts in
chunk order into the collection (``JobLoader``, which ``lamina.search.jobload`` implements:
the batch package knows no database), recording after each part a cursor and the counts
in the manifest (compare-and-swap, like every other manifest change). When its invocation
runs short of time it sends the message again and returns: the next one resumes at the
cursor. A redelivered or duplicated message is harmless: rows are upserted by id (the
same part again changes nothing) and a part below the cursor is not counted twice.

Failures: a permanent one (the collection holds another model's vectors, an invalid
item, the job's input replaced) fails the load at once; anything else (the database does
not answer, S3) is retried by SQS, and the load fails on the message's last receive (its
message then reaches the dead-letter queue, and ``lamina jobs redrive`` starts it again
from the cursor). A load's failure never changes the job's own status: its vectors are
in its parts either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from lamina.batch.jobs import JobManifest, LoadState, now_iso, update
from lamina.batch.queues import WorkQueue
from lamina.storage import ObjectStore

LOADABLE = ("succeeded", "partially_failed")
# Stop loading parts when less than this (plus twice the slowest part so far) is left of
# the invocation: the message is sent again and the next invocation goes on.
LOAD_RESERVE_S = 20.0

TimeLeft = Callable[[], float]


class LoadMessage(BaseModel):
    """The body of a load message: the job whose parts go into its collection."""

    model_config = ConfigDict(extra="forbid")

    load: str


class JobLoader(Protocol):
    """Loads a job's parts, from its load cursor on, into its collection; True when every
    part is in (the load is then marked loaded), False when it stopped because
    ``time_left()`` ran short (the caller queues the load message again). Raises on
    failure: ``lamina.errors.InvalidInputError`` and ``ModelMismatchError`` are permanent."""

    def __call__(self, store: ObjectStore, job_id: str, time_left: TimeLeft) -> bool: ...


def load_due(m: JobManifest) -> bool:
    """The job is finished with vectors, names a collection, and its load is not queued."""
    return (
        m.collection is not None
        and m.finalized
        and not m.aborted
        and m.status in LOADABLE
        and m.load is None
    )


def queue_load(store: ObjectStore, queue: WorkQueue, m: JobManifest) -> JobManifest:
    """If ``m``'s load is due: send its load message, then mark it queued. A writer that
    dies in between leaves it unmarked, and the next one to look (a redelivered chunk
    message) sends it again: two load messages load the same rows once."""
    if not load_due(m):
        return m
    queue.send([LoadMessage(load=m.job_id).model_dump_json()])

    def change(current: JobManifest) -> bool:
        if not load_due(current):
            return False
        current.load = LoadState()
        return True

    return update(store, m.job_id, change)[1]


def load_started(store: ObjectStore, job_id: str) -> JobManifest:
    """A load message is being worked on: queued or failed (a redriven message) -> loading.
    A load that is due but not marked yet is started too: ``queue_load`` sends the message
    before it marks the load queued, and a worker may take the message in between. A
    loaded load, or a job with none due (reset by a redriven chunk, which queues it again
    once the job is final), stays as it is: the caller then has nothing to do."""

    def change(m: JobManifest) -> bool:
        if m.load is None:
            if not load_due(m):
                return False
            m.load = LoadState()
        elif m.load.status == "loaded":
            return False
        m.load.status = "loading"
        m.load.error = None
        m.load.messages += 1
        m.load.started_at = m.load.started_at or now_iso()
        return True

    return update(store, job_id, change)[1]


def part_loaded(
    store: ObjectStore,
    job_id: str,
    chunk: int,
    counts: tuple[int, int, int],
    seconds: float,
) -> JobManifest:
    """The part of ``chunk`` is in the collection: ``counts`` (inserted, updated,
    unchanged) are added and the cursor moves past it, unless it was counted already."""

    def change(m: JobManifest) -> bool:
        if m.load is None or m.load.status != "loading" or chunk < m.load.next_chunk:
            return False
        inserted, updated, unchanged = counts
        m.load.next_chunk = chunk + 1
        m.load.parts += 1
        m.load.inserted += inserted
        m.load.updated += updated
        m.load.unchanged += unchanged
        m.load.seconds = round(m.load.seconds + seconds, 3)
        return True

    return update(store, job_id, change)[1]


def load_finished(store: ObjectStore, job_id: str) -> JobManifest:
    def change(m: JobManifest) -> bool:
        if m.load is None or m.load.status != "loading":
            return False
        m.load.status = "loaded"
        m.load.finished_at = now_iso()
        return True

    return update(store, job_id, change)[1]


def load_failed(store: ObjectStore, job_id: str, reason: str) -> JobManifest:
    """The load failed (or could not even be queued: then it has no state yet)."""

    def change(m: JobManifest) -> bool:
        if m.collection is None or (m.load is not None and m.load.status == "loaded"):
            return False
        if m.load is None:
            m.load = LoadState()
        m.load.status = "failed"
        m.load.error = reason
        m.load.finished_at = now_iso()
        return True

    return update(store, job_id, change)[1]


def deadline_clock(remaining_s: float | None) -> TimeLeft:
    """Seconds left of an invocation that had ``remaining_s`` when it started (None: no
    limit, as in the local runner)."""
    if remaining_s is None:
        return lambda: float("inf")
    deadline = time.monotonic() + remaining_s
    return lambda: deadline - time.monotonic()
