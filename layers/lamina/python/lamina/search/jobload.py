"""The batch worker's loader: a finished job into the search collection it names
(``lamina.batch.loading`` has the protocol, the manifest's load state and the messages).

Part by part, from the load's cursor on: each part's rows are joined with the job input's
records (text and metadata, as ``lamina index load`` does) and upserted, then the cursor
moves past it. The collection is created on the first load with the job's model; its HNSW
index is created *before* any row goes in, so every part's upsert indexes its own rows and
takes a bounded time (one ``CREATE INDEX`` over millions of rows could outlast a Lambda
invocation; ``lamina index load``, which has no such limit, builds after loading, faster).
"""

from __future__ import annotations

import time

from lamina.batch.jobs import JobManifest
from lamina.batch.loading import (
    LOAD_RESERVE_S,
    TimeLeft,
    load_finished,
    load_started,
    part_loaded,
)
from lamina.errors import InvalidInputError
from lamina.observability import Telemetry
from lamina.search.index import VectorIndex
from lamina.search.load import input_records, job_model, job_parts, joined, part_rows
from lamina.settings import Settings
from lamina.storage import ObjectStore

# A load's statements (a part's COPY and upsert, the index on an existing collection) may
# take longer than a search: the API's LAMINA_SEARCH_TIMEOUT_MS is for queries.
LOAD_STATEMENT_TIMEOUT_MS = 300_000


class JobCollectionLoader:
    """Loads a job into its collection (``lamina.batch.loading.JobLoader``)."""

    def __init__(self, index: VectorIndex, telemetry: Telemetry | None = None) -> None:
        self.index = index
        self.telemetry = telemetry

    def __call__(self, store: ObjectStore, job_id: str, time_left: TimeLeft) -> bool:
        m = load_started(store, job_id)
        if m.load is None or m.load.status != "loading" or m.collection is None:
            return True  # loaded already, or reset by a redriven chunk: nothing to do here
        if m.status not in ("succeeded", "partially_failed"):
            raise InvalidInputError(f"job {job_id} is {m.status}: it has no vectors to load")
        model = job_model(m)
        todo = [(chunk, key) for chunk, key in job_parts(store, m) if chunk >= m.load.next_chunk]
        if todo:
            self._prepare(store, m, todo[0][1])
        records = input_records(store, m)  # one stream for every part: parts are in order
        slowest = 0.0
        for n, (chunk, key) in enumerate(todo):
            if n and time_left() < LOAD_RESERVE_S + 2 * slowest:
                self._log("collection load continues in a new message", m, chunk=chunk)
                return False
            started = time.perf_counter()
            result = self.index.upsert(
                m.collection, joined(part_rows(store, m, key), records), model
            )
            seconds = time.perf_counter() - started
            slowest = max(slowest, seconds)
            part_loaded(
                store, job_id, chunk, (result.inserted, result.updated, result.unchanged), seconds
            )
            if self.telemetry is not None:
                self.telemetry.items_loaded(result.total)
        final = load_finished(store, job_id)
        self._log("collection loaded", final)
        return True

    def _prepare(self, store: ObjectStore, m: JobManifest, first_part: str) -> None:
        """The collection (created with the job's model if new; ModelMismatchError if it
        holds another's vectors) and its HNSW index, before any row goes in."""
        assert m.collection is not None
        first = next(part_rows(store, m, first_part), None)
        if first is None:
            return  # an empty part: the next one creates it
        self.index.create_collection(m.collection, job_model(m), int(first[2].shape[0]))
        self.index.build_index(m.collection)

    def _log(self, message: str, m: JobManifest, **extra: object) -> None:
        if self.telemetry is None or m.load is None:
            return
        self.telemetry.logger.info(
            message,
            extra={
                "job": m.job_id,
                "collection": m.collection,
                "items": m.load.items,
                "inserted": m.load.inserted,
                "updated": m.load.updated,
                "unchanged": m.load.unchanged,
                "parts": m.load.parts,
                **extra,
            },
        )


def loader_from_settings(
    settings: Settings, telemetry: Telemetry | None = None
) -> JobCollectionLoader | None:
    """The loader the settings' database makes (one connection, opened on the first load),
    or None when search is not configured."""
    from lamina.search.config import open_index

    index = open_index(
        settings.model_copy(
            update={
                "search_pool_size": 1,
                "search_timeout_ms": max(settings.search_timeout_ms, LOAD_STATEMENT_TIMEOUT_MS),
            }
        )
    )
    return None if index is None else JobCollectionLoader(index, telemetry)
