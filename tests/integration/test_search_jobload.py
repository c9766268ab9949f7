"""A batch job that loads itself into a search collection (lamina.batch.loading,
lamina.search.jobload): the submit and worker handlers on moto's S3 and SQS (in process),
the real model, a real PostgreSQL with pgvector. What the pipeline loaded is checked
against the job's own parts and input, row by row; failures (another model's collection,
a database that does not answer, no database at all) end as the docs say; long loads
continue in new messages and count every item once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import numpy as np
import psycopg
import pytest
from moto import mock_aws

from lamina.batch.handlers import SubmitHandler, WorkerHandler
from lamina.batch.jobs import JobManifest, read_job_manifest
from lamina.batch.loading import LoadMessage, queue_load
from lamina.batch.queues import SqsQueue
from lamina.batch.worker import ChunkWorker
from lamina.errors import JobError
from lamina.inference.embedder import Embedder, OnnxEmbedder
from lamina.observability import Telemetry, get_telemetry
from lamina.search.index import Item, ModelIdentity
from lamina.search.jobload import JobCollectionLoader
from lamina.search.pg import PgVectorIndex
from lamina.settings import Settings
from lamina.storage import S3Objects
from lamina_tools.poller import PollStats, poll_once
from tests.batch_helpers import (
    PoisonEmbedder,
    create_queue_with_dlq,
    dlq_bodies,
    fake_aws_env,
    jsonl,
    read_rows,
    s3_put_event,
)
from tests.conftest import LambdaContext

BUCKET = "lamina-batch-load"
MAX_RECEIVES = 3
CHUNK = 4  # records per chunk: the 20 recipes make 5 parts
RECIPES = Path(__file__).resolve().parents[1].parent / "docs" / "examples" / "recipes.jsonl"


@pytest.fixture(scope="module")
def embedder(fp32_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(fp32_dir)


@pytest.fixture(scope="module")
def telemetry() -> Telemetry:
    return get_telemetry(Settings.from_env({"POWERTOOLS_SERVICE_NAME": "lamina-load-test"}))


@pytest.fixture
def index(postgres_dsn: str) -> Iterator[PgVectorIndex]:
    found = PgVectorIndex(postgres_dsn, pool_size=1, timeout_ms=60_000)
    yield found
    for collection in found.collections():
        found.drop_collection(collection.name)
    found.close()


@dataclass
class Pipeline:
    s3: Any
    sqs: Any
    store: S3Objects
    queue: SqsQueue
    dlq_url: str
    settings: Settings
    telemetry: Telemetry

    def upload(self, key: str, data: bytes, **metadata: str) -> str:
        """Put an input under incoming/ and run the submit handler on its S3 event; the
        job id."""
        put = self.s3.put_object(
            Bucket=BUCKET,
            Key=key,
            Body=data,
            Metadata={f"lamina-{name.replace('_', '-')}": v for name, v in metadata.items()},
        )
        handler = SubmitHandler(self.store, self.queue, self.settings, self.telemetry)
        result = handler(s3_put_event(BUCKET, key, size=len(data), etag=put["ETag"]))
        (job,) = result["jobs"]
        return str(job["job_id"])

    def worker(
        self, embedder: Embedder, loader: JobCollectionLoader | None, *, queue: bool = True
    ) -> WorkerHandler:
        return WorkerHandler(
            ChunkWorker(
                self.store,
                embedder,
                max_receive_count=MAX_RECEIVES,
                telemetry=self.telemetry,
                queue=self.queue if queue else None,
                loader=loader,
            )
        )

    def manifest(self, job_id: str) -> JobManifest:
        return read_job_manifest(self.store, job_id)


@pytest.fixture
def pipeline(
    monkeypatch: pytest.MonkeyPatch, postgres_dsn: str, telemetry: Telemetry
) -> Iterator[Pipeline]:
    fake_aws_env(monkeypatch)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        queue_url, dlq_url = create_queue_with_dlq(
            sqs, "lamina-batch", max_receive_count=MAX_RECEIVES, visibility_s=60
        )
        settings = Settings(
            batch_bucket=BUCKET,
            batch_queue_url=queue_url,
            chunk_max_records=CHUNK,
            max_receive_count=MAX_RECEIVES,
            search_dsn=postgres_dsn,  # the submit step only checks that one is configured
        )
        yield Pipeline(
            s3,
            sqs,
            S3Objects(BUCKET, client=s3, error=JobError),
            SqsQueue(queue_url, client=sqs),
            dlq_url,
            settings,
            telemetry,
        )


class ShortContext(LambdaContext):
    """An invocation with no time to spare: a load does one part per message."""

    def get_remaining_time_in_millis(self) -> int:
        return 0


def run(
    pipeline: Pipeline,
    handler: WorkerHandler,
    context: Any = None,
    max_rounds: int = 100,
    *,
    drain: bool = True,
) -> PollStats:
    """Poll the queue into ``handler`` (a failed message comes back at once, and goes to the
    DLQ after MAX_RECEIVES) until it is empty (``drain=False``: for ``max_rounds`` rounds)."""
    stats = PollStats()
    for _ in range(max_rounds):
        received = poll_once(
            pipeline.queue, handler, stats, batch_size=10, wait_s=0, retry_delay_s=0,
            context=context,
        )  # fmt: skip
        if received == 0 and pipeline.queue.depth() == (0, 0):
            return stats
    if drain:
        pytest.fail(f"the queue did not drain in {max_rounds} rounds: {stats}")
    return stats


def recipes() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RECIPES.read_text(encoding="utf-8").splitlines()]


def stored(dsn: str, collection: str) -> dict[str, tuple[np.ndarray, str | None, dict[str, Any]]]:
    """Every item of a collection, read with plain SQL: id -> (vector, text, metadata)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT id, embedding::text, text, metadata FROM lamina_items_{collection}"
        ).fetchall()
    return {
        rid: (np.asarray(json.loads(vector), dtype=np.float32), text, metadata)
        for rid, vector, text, metadata in rows
    }


def check_collection(
    pipeline: Pipeline, dsn: str, job_id: str, collection: str, records: list[dict[str, Any]]
) -> None:
    """The collection holds exactly the job's rows: each part's vector, the input's text, the
    input's other fields as metadata."""
    items = stored(dsn, collection)
    parts = {str(row.id): row.embedding for row in read_rows(pipeline.store, job_id)}
    assert set(items) == set(parts) == {r["id"] for r in records}
    for record in records:
        vector, text, metadata = items[record["id"]]
        np.testing.assert_allclose(vector, parts[record["id"]], rtol=0, atol=1e-6)
        assert text == record["text"]
        assert metadata == {k: v for k, v in record.items() if k not in ("id", "text")}


def test_a_job_with_a_collection_loads_itself_when_it_succeeds(
    pipeline: Pipeline, embedder: Embedder, index: PgVectorIndex, postgres_dsn: str
) -> None:
    data = RECIPES.read_bytes()
    job_id = pipeline.upload("incoming/recipes.jsonl", data, collection="recipes_auto")
    assert pipeline.manifest(job_id).collection == "recipes_auto"
    stats = run(pipeline, pipeline.worker(embedder, JobCollectionLoader(index)))

    m = pipeline.manifest(job_id)
    assert m.status == "succeeded"
    assert m.chunks == 5
    assert m.load is not None, m
    assert (m.load.status, m.load.items, m.load.inserted, m.load.parts) == ("loaded", 20, 20, 5)
    assert m.load.error is None
    assert m.load.finished_at is not None
    assert stats.succeeded == 5 + 1  # five chunks, one load message
    check_collection(pipeline, postgres_dsn, job_id, "recipes_auto", recipes())
    found = index.collection("recipes_auto", count=True)
    assert found.indexed
    assert found.count == 20
    assert found.model == ModelIdentity(
        embedder.manifest.name, embedder.manifest.version, embedder.manifest.digest
    )
    # Searching it finds an item by its own vector first.
    vector = stored(postgres_dsn, "recipes_auto")["r-kimchi-jjigae"][0]
    assert index.search("recipes_auto", vector, 1)[0].id == "r-kimchi-jjigae"


def test_a_long_load_continues_in_new_messages_and_counts_every_item_once(
    pipeline: Pipeline, embedder: Embedder, index: PgVectorIndex, postgres_dsn: str
) -> None:
    job_id = pipeline.upload("incoming/recipes.jsonl", RECIPES.read_bytes(), collection="slow")
    handler = pipeline.worker(embedder, JobCollectionLoader(index))
    stats = run(pipeline, handler, ShortContext())
    m = pipeline.manifest(job_id)
    assert m.load is not None
    assert m.load.status == "loaded", m.load
    # One part per message: the first message and four continuations.
    assert (m.load.messages, m.load.parts, m.load.items, m.load.inserted) == (5, 5, 20, 20)
    assert stats.succeeded == 5 + 5
    check_collection(pipeline, postgres_dsn, job_id, "slow", recipes())

    # A duplicated load message (SQS delivers at least once) changes nothing.
    pipeline.queue.send([LoadMessage(load=job_id).model_dump_json()])
    run(pipeline, handler)
    again = pipeline.manifest(job_id)
    assert again.load == m.load
    assert len(stored(postgres_dsn, "slow")) == 20


def test_a_duplicate_load_message_mid_load_does_not_count_twice(
    pipeline: Pipeline, embedder: Embedder, index: PgVectorIndex
) -> None:
    """Two load messages for one job (two workers finalized it at once, or a redelivery)
    both run: the rows are upserted twice, each part is counted once."""
    job_id = pipeline.upload("incoming/recipes.jsonl", RECIPES.read_bytes(), collection="twice")
    handler = pipeline.worker(embedder, JobCollectionLoader(index))
    run(pipeline, handler, ShortContext(), max_rounds=2, drain=False)
    m = pipeline.manifest(job_id)
    assert m.load is not None
    assert (m.load.status, m.load.parts < 5) == ("loading", True), m.load
    pipeline.queue.send([LoadMessage(load=job_id).model_dump_json()])
    run(pipeline, handler, ShortContext())
    m = pipeline.manifest(job_id)
    assert m.load is not None
    assert m.load.status == "loaded"
    assert (m.load.parts, m.load.items, m.load.inserted) == (5, 20, 20)
    assert index.collection("twice", count=True).count == 20


def test_another_models_collection_fails_the_load_not_the_job(
    pipeline: Pipeline,
    embedder: Embedder,
    e5_dir: Path,
    index: PgVectorIndex,
    postgres_dsn: str,
) -> None:
    e5 = OnnxEmbedder.load(e5_dir)
    other = ModelIdentity(e5.manifest.name, e5.manifest.version, e5.manifest.digest)
    index.create_collection("taken", other, 384)
    index.upsert("taken", [Item("keep", np.ones(384, dtype=np.float32))], other)
    job_id = pipeline.upload("incoming/recipes.jsonl", RECIPES.read_bytes(), collection="taken")
    stats = run(pipeline, pipeline.worker(embedder, JobCollectionLoader(index)))
    m = pipeline.manifest(job_id)
    assert m.status == "succeeded"
    assert m.ok == 20
    assert m.load is not None
    assert m.load.status == "failed"
    assert "multilingual-e5-small" in (m.load.error or ""), m.load.error
    assert stats.failed == 0  # permanent: no retry, nothing in the DLQ
    assert dlq_bodies(pipeline.sqs, pipeline.dlq_url) == []
    assert set(stored(postgres_dsn, "taken")) == {"keep"}


def test_a_database_that_does_not_answer_fails_the_load_after_the_retries_and_redrive_resumes(
    pipeline: Pipeline, embedder: Embedder, index: PgVectorIndex, postgres_dsn: str
) -> None:
    down = PgVectorIndex("postgresql://lamina@127.0.0.1:9/lamina", timeout_ms=1000)
    job_id = pipeline.upload("incoming/recipes.jsonl", RECIPES.read_bytes(), collection="later")
    stats = run(pipeline, pipeline.worker(embedder, JobCollectionLoader(down)))
    down.close()
    m = pipeline.manifest(job_id)
    assert m.status == "succeeded"
    assert m.load is not None
    assert m.load.status == "failed"
    assert m.load.error is not None
    assert m.load.error == (
        f"the load failed {MAX_RECEIVES} times (IndexUnavailableError: the search database did "
        "not answer); `lamina jobs redrive` retries it from where it stopped"
    )  # no host, no port: those are in the worker's log
    assert stats.failed == MAX_RECEIVES
    (body,) = dlq_bodies(pipeline.sqs, pipeline.dlq_url)
    assert json.loads(body) == {"load": job_id}

    # `lamina jobs redrive` puts the message back; with the database up, the load finishes.
    pipeline.queue.send([body])
    run(pipeline, pipeline.worker(embedder, JobCollectionLoader(index)))
    m = pipeline.manifest(job_id)
    assert m.load is not None
    assert (m.load.status, m.load.items, m.load.error) == (
        "loaded",
        20,
        None,
    )
    check_collection(pipeline, postgres_dsn, job_id, "later", recipes())


def test_a_redriven_chunk_loads_its_items_once_the_job_is_whole_again(
    pipeline: Pipeline, embedder: Embedder, index: PgVectorIndex, postgres_dsn: str
) -> None:
    rows = recipes()
    rows[9] = {**rows[9], "text": rows[9]["text"] + " POISON"}
    data = jsonl(rows)
    job_id = pipeline.upload("incoming/poisoned.jsonl", data, collection="mended")
    run(pipeline, pipeline.worker(PoisonEmbedder(embedder), JobCollectionLoader(index)))
    m = pipeline.manifest(job_id)
    assert m.status == "partially_failed"
    assert m.ok == 16
    assert m.load is not None
    assert (m.load.status, m.load.items) == ("loaded", 16)
    assert len(stored(postgres_dsn, "mended")) == 16

    (body,) = dlq_bodies(pipeline.sqs, pipeline.dlq_url)
    pipeline.queue.send([body])  # redriven, to a worker that can embed it
    run(pipeline, pipeline.worker(embedder, JobCollectionLoader(index)))
    m = pipeline.manifest(job_id)
    assert m.status == "succeeded"
    assert m.ok == 20
    assert m.load is not None
    assert m.load.status == "loaded"
    # The load ran again over the whole job: 4 new items, the 16 others as they were.
    assert (m.load.inserted, m.load.unchanged, m.load.items) == (4, 16, 20)
    check_collection(pipeline, postgres_dsn, job_id, "mended", rows)


def test_a_job_without_vectors_is_not_loaded(
    pipeline: Pipeline, embedder: Embedder, index: PgVectorIndex
) -> None:
    job_id = pipeline.upload("incoming/bad.jsonl", b"{not json\n", collection="never")
    run(pipeline, pipeline.worker(embedder, JobCollectionLoader(index)))
    m = pipeline.manifest(job_id)
    assert m.status == "failed"
    assert m.finalized
    assert m.load is None
    assert [c.name for c in index.collections()] == []


def test_a_worker_without_a_database_fails_the_load_saying_so(
    pipeline: Pipeline, embedder: Embedder
) -> None:
    job_id = pipeline.upload("incoming/recipes.jsonl", RECIPES.read_bytes(), collection="nodb")
    run(pipeline, pipeline.worker(embedder, None))
    m = pipeline.manifest(job_id)
    assert m.status == "succeeded"
    assert m.load is not None
    assert m.load.status == "failed"
    assert m.load.error is not None
    assert "no search database" in m.load.error
    assert "lamina index load" in m.load.error


def test_the_submit_step_refuses_a_collection_it_cannot_load(
    pipeline: Pipeline, embedder: Embedder
) -> None:
    """Without a database configured, or with a name no table can have, the job fails at
    submit, saying which option and why (nothing is embedded)."""
    pipeline.settings = pipeline.settings.model_copy(update={"search_dsn": None})
    job_id = pipeline.upload("incoming/a.jsonl", RECIPES.read_bytes(), collection="recipes")
    m = pipeline.manifest(job_id)
    assert m.status == "failed"
    assert m.error is not None
    assert "SearchSecretArn" in m.error, m.error
    assert "lamina index load" in m.error, m.error

    pipeline.settings = pipeline.settings.model_copy(update={"search_dsn": "postgresql://x"})
    job_id = pipeline.upload("incoming/b.jsonl", RECIPES.read_bytes(), collection="Bad-Name")
    m = pipeline.manifest(job_id)
    assert m.status == "failed"
    assert m.error is not None
    assert "collection 'Bad-Name' is not a collection name" in m.error, m.error
    assert pipeline.queue.depth() == (0, 0)


def test_a_duplicate_s3_event_queues_a_load_that_was_never_sent(
    pipeline: Pipeline, embedder: Embedder, index: PgVectorIndex
) -> None:
    """A worker that died between finalizing the job and queueing its load leaves the load
    unqueued; the next one to look (here a duplicate S3 event) queues it."""
    job_id = pipeline.upload("incoming/recipes.jsonl", RECIPES.read_bytes(), collection="late")
    run(pipeline, pipeline.worker(embedder, None, queue=False))  # cannot queue: the load fails
    m = pipeline.manifest(job_id)
    assert m.load is not None
    assert m.load.status == "failed"
    assert "LAMINA_BATCH_QUEUE_URL" in (m.load.error or "")

    # Undo the load state, as if the worker had died before queueing it.
    def forget(manifest: JobManifest) -> bool:
        manifest.load = None
        return True

    from lamina.batch.jobs import update

    update(pipeline.store, job_id, forget)
    again = pipeline.upload("incoming/recipes.jsonl", RECIPES.read_bytes(), collection="late")
    assert again != job_id  # a new upload version is a new job; the first one's event:
    handler = SubmitHandler(pipeline.store, pipeline.queue, pipeline.settings, pipeline.telemetry)
    version = pipeline.manifest(job_id).input.version_id
    handler.submit("incoming/recipes.jsonl", version)
    loaded = pipeline.manifest(job_id)
    assert loaded.load is not None
    assert loaded.load.status == "queued"
    run(pipeline, pipeline.worker(embedder, JobCollectionLoader(index)))
    assert pipeline.manifest(job_id).load.status == "loaded"  # type: ignore[union-attr]
    assert pipeline.manifest(again).load.status == "loaded"  # type: ignore[union-attr]
    # queue_load on a job whose load is queued already sends nothing.
    assert queue_load(pipeline.store, pipeline.queue, pipeline.manifest(job_id)).load is not None
    assert pipeline.queue.depth() == (0, 0)
