"""A batch job end to end over real processes: a moto server for S3 and SQS, the CLI
uploading the input, the S3 notification moto delivers fed to the submit function's
handler in its own process, two worker processes polling the queue the way Lambda's
event source mapping does, and the CLI reading status and results back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3  # type: ignore[import-untyped]
import numpy as np
import pytest

from lamina.inference.embedder import OnnxEmbedder
from tests.moto_server import boto3_credentials, moto_server, subprocess_env

pytestmark = pytest.mark.slow

BUCKET = "lamina-batch-e2e"
CHUNK = 50  # records per chunk: 600 lines make 12 chunks, so both workers get some
# Lines (1-based) that must be rejected, and why.
BAD = {
    7: ("{not json", "invalid JSON"),
    120: (json.dumps({"id": "doc-3", "text": "the same id again"}), "duplicate id"),
    333: (json.dumps({"id": "empty", "text": "   "}), "empty text"),
    599: (json.dumps({"text": "no id"}), "missing id"),
}
LINES = 600

SUBMIT = """
import json, os, sys, types
from functions.batch_submit.handler import handler
context = types.SimpleNamespace(
    function_name="lamina-batch-submit", memory_limit_in_mb=512, aws_request_id="req-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:lamina-batch-submit",
)
result = handler(json.load(sys.stdin), context)
with open(os.environ["RESULT"], "w") as out:
    json.dump(result, out)
"""


@dataclass
class Aws:
    endpoint: str
    queue_url: str
    dlq_url: str
    events_url: str
    env: dict[str, str]

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, **boto3_credentials())


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aws]:
    """The stack's batch resources on a moto server: bucket, work queue with its DLQ
    (maxReceiveCount 5), and the bucket's notifications on incoming/ to an events queue."""
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        s3 = boto3.client("s3", endpoint_url=url, **boto3_credentials())
        sqs = boto3.client("sqs", endpoint_url=url, **boto3_credentials())
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(  # as the stack's bucket: a job per uploaded version
            Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
        )
        dlq_url = sqs.create_queue(QueueName="lamina-batch-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": "5"}
        queue_url = sqs.create_queue(
            QueueName="lamina-batch",
            Attributes={"VisibilityTimeout": "60", "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        events_url = sqs.create_queue(QueueName="lamina-batch-events")["QueueUrl"]
        events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": events_arn["Attributes"]["QueueArn"],
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}
                        },
                    }
                ]
            },
        )
        env = subprocess_env(url) | {
            "LAMINA_BATCH_BUCKET": BUCKET,
            "LAMINA_BATCH_QUEUE_URL": queue_url,
            "LAMINA_CHUNK_MAX_RECORDS": str(CHUNK),
            "LAMINA_INTRA_OP_THREADS": "1",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "lamina-batch-e2e",
        }
        yield Aws(url, queue_url, dlq_url, events_url, env)


def lamina(
    aws: Aws, *argv: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``lamina jobs ARGV`` against the moto server (``env``: more variables)."""
    return subprocess.run(
        [sys.executable, "-m", "lamina_tools.cli", "jobs", *argv],
        env=aws.env | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def s3_events(aws: Aws, timeout: float = 20) -> list[dict[str, Any]]:
    """The ObjectCreated notifications moto delivered (its s3:TestEvent is dropped)."""
    sqs = aws.client("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=aws.events_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        events = [json.loads(m["Body"]) for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=aws.events_url, ReceiptHandle=m["ReceiptHandle"])
        events = [e for e in events if e.get("Event") != "s3:TestEvent"]
        if events:
            return events
    pytest.fail("moto delivered no S3 notification for the upload")


def run_submit(
    aws: Aws, event: dict[str, Any], tmp_path: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """The submit function's handler on ``event``, in its own process (``env``: more
    variables); its result."""
    result = tmp_path / "submit-result.json"
    done = subprocess.run(
        [sys.executable, "-c", SUBMIT],
        input=json.dumps(event),
        env=aws.env | (env or {}) | {"RESULT": str(result)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(result.read_text()))


def start_workers(
    aws: Aws,
    models: Path | list[Path],
    n: int,
    idle_exit: int,
    env: dict[str, str] | None = None,
) -> list[subprocess.Popen[str]]:
    """``n`` worker processes, each holding ``models`` (the first is the default); ``env``:
    more variables."""
    argv = [sys.executable, "-m", "lamina_tools.cli", "jobs", "worker"]
    for model in models if isinstance(models, list) else [models]:
        argv += ["--model", str(model)]
    argv += ["--idle-exit", str(idle_exit), "--retry-delay", "0", "--batch-size", "5"]
    return [
        subprocess.Popen(
            argv,
            env=aws.env | (env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]


def finish(workers: list[subprocess.Popen[str]]) -> list[dict[str, int]]:
    stats = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
        stats.append(json.loads(out.strip().splitlines()[-1]))
    return stats


def write_input(path: Path) -> dict[str, str]:
    """600 lines, 4 of them bad (BAD); returns the valid records' id -> text, in order."""
    valid: dict[str, str] = {}
    lines = []
    for number in range(1, LINES + 1):
        if number in BAD:
            lines.append(BAD[number][0])
            continue
        record_id = f"doc-{number}"
        text = f"Record {number}: " + " ".join(["batch", "embedding", "jobs"][: 1 + number % 3])
        valid[record_id] = text
        lines.append(json.dumps({"id": record_id, "text": text}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return valid


def test_upload_to_results_over_real_processes(aws: Aws, fp32_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "daily docs+v1.jsonl"  # a space and a plus: S3 URL-encodes the key
    valid = write_input(source)

    submitted = lamina(aws, "submit", str(source), "--progress")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert f"upload incoming/daily docs+v1.jsonl: {source.stat().st_size / 1e3:.1f} kB" in (
        submitted.stderr
    )

    (event,) = s3_events(aws)
    raw_key = event["Records"][0]["s3"]["object"]["key"]  # URL-encoded, as on AWS
    assert raw_key.endswith("daily+docs%2Bv1.jsonl"), raw_key
    workers = start_workers(aws, fp32_dir, 2, idle_exit=6)
    result = run_submit(aws, event, tmp_path)
    assert result["jobs"] == [
        {"job_id": job_id, "key": "incoming/daily docs+v1.jsonl", "status": "running"}
    ]

    deadline = time.monotonic() + 150
    while True:
        status = lamina(aws, "status", job_id, "--json")
        assert status.returncode == 0, status.stderr
        summary = json.loads(status.stdout)
        if summary["finalized"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    stats = finish(workers)

    assert summary["status"] == "partially_failed", summary
    assert summary["lines"] == LINES
    assert summary["ok"] == len(valid) == LINES - len(BAD)
    assert summary["failed"] == summary["invalid"] == len(BAD)
    assert summary["ok"] + summary["failed"] == summary["lines"]
    assert summary["chunks"] == summary["chunks_done"] == -(-len(valid) // CHUNK)
    assert summary["model_versions"] == ["all-MiniLM-L6-v2/1"]
    # Every chunk was processed once and deleted; no message failed.
    assert sum(s["succeeded"] for s in stats) == summary["chunks"]
    assert sum(s["failed"] for s in stats) == 0

    out, errors = tmp_path / "vectors.jsonl", tmp_path / "errors.jsonl"
    downloaded = lamina(aws, "download", job_id, "-o", str(out), "--errors", str(errors))
    assert downloaded.returncode == 0, downloaded.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == list(valid)  # every valid record once, in order
    vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
    expected = OnnxEmbedder.load(fp32_dir).embed(list(valid.values())).vectors
    assert vectors.shape == (len(valid), 384)
    assert float((vectors * expected).sum(axis=1).min()) > 0.9999
    rejected = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["error"].split(":")[0]) for r in rejected] == [
        (line, reason) for line, (_, reason) in sorted(BAD.items())
    ]

    # S3 delivers events at least once: the same event again finds the same job, done.
    again = run_submit(aws, event, tmp_path)
    assert again["jobs"] == [
        {"job_id": job_id, "key": "incoming/daily docs+v1.jsonl", "status": "partially_failed"}
    ]
    assert (
        aws.client("sqs").get_queue_attributes(
            QueueUrl=aws.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )


def queue_depth(aws: Aws, url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_poison_message_reaches_the_dlq_and_redrive_moves_it_back(aws: Aws, fp32_dir: Path) -> None:
    aws.client("sqs").send_message(QueueUrl=aws.queue_url, MessageBody='{"not": "a chunk"}')
    (worker,) = start_workers(aws, fp32_dir, 1, idle_exit=4)
    (stats,) = finish([worker])
    assert stats["failed"] == 5  # five receives, each answered as a batch item failure
    assert stats["succeeded"] == 0
    assert queue_depth(aws, aws.queue_url) == 0
    assert queue_depth(aws, aws.dlq_url) == 1

    moved = lamina(aws, "redrive", "--dlq-url", aws.dlq_url, "--queue-url", aws.queue_url)
    assert moved.returncode == 0, moved.stderr
    assert "moved 1 message(s)" in moved.stdout
    assert queue_depth(aws, aws.dlq_url) == 0
    message = aws.client("sqs").receive_message(QueueUrl=aws.queue_url)["Messages"][0]
    assert message["Body"] == '{"not": "a chunk"}'


def test_cli_errors_are_clear(aws: Aws, tmp_path: Path) -> None:
    missing = lamina(aws, "status", "nope-0123456789ab")
    assert missing.returncode == 1
    assert "no job nope-0123456789ab" in missing.stderr
    bad = tmp_path / "input.parquet"
    bad.write_text("x")
    refused = lamina(aws, "submit", str(bad))
    assert refused.returncode == 1
    assert "unsupported input" in refused.stderr


# ---- job options over real processes ---------------------------------------------------------

E5 = "multilingual-e5-small"
TEXTS = {
    "ko-1": "김치찌개는 잘 익은 김치와 돼지고기로 끓인다.",
    "en-1": "Kimchi stew is made with well-fermented kimchi and pork.",
    "ko-2": "배치 작업은 긴 문서를 창으로 나누어 임베딩한다.",
    "ja-1": "東京の天気は晴れ、最高気温は二十五度の予報です。",
}


def events_for(aws: Aws, n: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while len(events) < n:
        events += s3_events(aws)
    return events


def wait_finalized(aws: Aws, job_id: str, timeout: float = 150) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = lamina(aws, "status", job_id, "--json")
        assert status.returncode == 0, status.stderr
        summary: dict[str, Any] = json.loads(status.stdout)
        if summary["finalized"] or time.monotonic() > deadline:
            return summary
        time.sleep(1)


def test_an_e5_job_and_an_unknown_model_over_real_processes(
    aws: Aws, fp32_dir: Path, e5_dir: Path, tmp_path: Path
) -> None:
    """`lamina jobs submit --model --input-type` sets the object's metadata; the submit
    function records the options; workers holding both models embed with e5 and its
    passage prompt (the API path's vectors, bit for bit); a job naming a model no worker
    holds fails with the reason in its manifest."""
    source = tmp_path / "ko docs.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": k, "text": t}, ensure_ascii=False) + "\n" for k, t in TEXTS.items()
        ),
        encoding="utf-8",
    )
    submitted = lamina(aws, "submit", str(source), "--model", E5, "--input-type", "passage")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    unknown = tmp_path / "gpt.txt"
    unknown.write_text("one\ntwo\n")
    refused = lamina(aws, "submit", str(unknown), "--model", "gpt-4")
    assert refused.returncode == 0, refused.stderr
    unknown_id = refused.stdout.strip()

    events = events_for(aws, 2)
    workers = start_workers(aws, [fp32_dir, e5_dir], 1, idle_exit=8)
    for event in events:
        run_submit(aws, event, tmp_path)
    summary = wait_finalized(aws, job_id)
    failed = wait_finalized(aws, unknown_id)
    finish(workers)

    assert (summary["status"], summary["ok"], summary["model"], summary["input_type"]) == (
        "succeeded", len(TEXTS), E5, "passage",
    )  # fmt: skip
    assert summary["model_versions"] == [f"{E5}/1-q4"]
    out = tmp_path / "ko.jsonl"
    downloaded = lamina(aws, "download", job_id, "-o", str(out))
    assert downloaded.returncode == 0, downloaded.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == list(TEXTS)
    assert {row["model"] for row in rows} == {f"{E5}/1-q4"}
    vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
    expected = OnnxEmbedder.load(e5_dir).embed(list(TEXTS.values()), input_type="passage")
    np.testing.assert_array_equal(vectors, expected.vectors)

    assert (failed["status"], failed["ok"]) == ("failed", 0)
    assert failed["error"] == (
        f"model 'gpt-4' is not served by the batch worker; served: 'all-MiniLM-L6-v2', '{E5}'"
    )
    status = lamina(aws, "status", unknown_id)
    assert "is not served by the batch worker" in status.stdout
    assert queue_depth(aws, aws.dlq_url) == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--windows"], "windows needs long-text split"),
        (["--long-text", "chop"], "invalid choice: 'chop'"),
        (["--input-type", "document"], "invalid choice: 'document'"),
        (["--model", "no such model"], "model 'no such model' is not a model name"),
    ],
)
def test_bad_job_options_exit_2_before_anything_is_uploaded(
    aws: Aws, tmp_path: Path, flags: list[str], message: str
) -> None:
    source = tmp_path / "x.txt"
    source.write_text("one\n")
    done = lamina(aws, "submit", str(source), *flags)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_run_local_with_the_e5_model_as_the_readme_shows(
    e5_dir: Path, fp32_dir: Path, tmp_path: Path
) -> None:
    """README's command: a directory for --model (the job's model is its manifest's name),
    --input-type passage; and a model name that is not among the local models exits 2."""
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "ko.jsonl"
    argv = [sys.executable, "-m", "lamina_tools.cli", "jobs", "run", "docs/examples/batch.jsonl"]
    argv += ["--local", "--workdir", str(tmp_path / "jobs")]
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_URI", "LAMINA_MODELS")}
    done = subprocess.run(
        [*argv, "--model", str(e5_dir), "--input-type", "passage", "-o", str(out)],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # partially failed: 3 of its 18 lines are bad
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 15
    assert {row["model"] for row in rows} == {f"{E5}/1-q4"}
    texts: dict[str, str] = {}
    for line in (root / "docs/examples/batch.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            texts.setdefault(json.loads(line)["id"], json.loads(line)["text"])  # first wins
        except (ValueError, KeyError, TypeError):
            continue
    expected = OnnxEmbedder.load(e5_dir).embed(
        [texts[row["id"]] for row in rows], input_type="passage"
    )
    np.testing.assert_array_equal(
        np.array([r["embedding"] for r in rows], np.float32), expected.vectors
    )

    unknown = subprocess.run(
        [*argv, "--model", E5, "-o", str(tmp_path / "x.jsonl")],
        cwd=root, env=env | {"MODEL_URI": str(fp32_dir)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert unknown.returncode == 2, unknown.stderr
    assert f"model '{E5}' is neither a model directory nor one of the local models" in (
        unknown.stderr
    )


# ---- a job that loads itself into a search collection ----------------------------------------

RECIPES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "recipes.jsonl"
LOAD_CHUNK = 5  # records per chunk for this job: the 20 recipes make 4 parts


def wait_loaded(aws: Aws, job_id: str, timeout: float = 150) -> dict[str, Any]:
    """The job's summary once its load is over (loaded or failed), or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        status = lamina(aws, "status", job_id, "--json")
        assert status.returncode == 0, status.stderr
        summary: dict[str, Any] = json.loads(status.stdout)
        load = summary.get("load") or {}
        if load.get("status") in ("loaded", "failed") or time.monotonic() > deadline:
            return summary
        time.sleep(1)


@pytest.fixture
def recipes_e2e(postgres_dsn: str) -> Iterator[str]:
    """The collection the test loads (dropped afterwards: the session's database is shared)."""
    from lamina.search.pg import PgVectorIndex

    yield "recipes_e2e"
    index = PgVectorIndex(postgres_dsn)
    try:
        index.drop_collection("recipes_e2e")
    finally:
        index.close()


def test_a_job_submitted_with_a_collection_loads_itself_over_real_processes(
    aws: Aws, fp32_dir: Path, tmp_path: Path, postgres_dsn: str, recipes_e2e: str
) -> None:
    """`lamina jobs submit --collection`: the submit function (with a database configured)
    records the collection, the worker processes embed the chunks, the one that finalizes
    the job queues its load, a worker loads it into PostgreSQL; the CLI shows the load, and
    the table holds the job's vectors with the input's texts and metadata. A submit
    function without a database refuses the collection: that job fails at submit."""
    import psycopg

    search = {"LAMINA_SEARCH_DSN": postgres_dsn}
    records = [json.loads(line) for line in RECIPES.read_text(encoding="utf-8").splitlines()]
    source = tmp_path / "recipes-e2e.jsonl"
    source.write_bytes(RECIPES.read_bytes())
    nodb = tmp_path / "recipes-nodb.jsonl"
    nodb.write_bytes(RECIPES.read_bytes())
    workers: list[subprocess.Popen[str]] = []
    try:
        submitted = lamina(aws, "submit", str(source), "--collection", recipes_e2e)
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip()
        refused = lamina(aws, "submit", str(nodb), "--collection", "recipes_nodb")
        assert refused.returncode == 0, refused.stderr
        nodb_id = refused.stdout.strip()
        events = {  # by key (URL-encoded in the event, as on AWS)
            unquote_plus(e["Records"][0]["s3"]["object"]["key"]): e for e in events_for(aws, 2)
        }
        assert set(events) == {"incoming/recipes-e2e.jsonl", "incoming/recipes-nodb.jsonl"}

        # idle_exit well past the slowest gap between two messages on a busy machine (the
        # submit step may finalize the job, and queue its load, seconds after the last chunk)
        workers = start_workers(aws, fp32_dir, 2, idle_exit=20, env=search)
        chunked = search | {"LAMINA_CHUNK_MAX_RECORDS": str(LOAD_CHUNK)}
        result = run_submit(aws, events["incoming/recipes-e2e.jsonl"], tmp_path, env=chunked)
        assert result["jobs"] == [
            {"job_id": job_id, "key": "incoming/recipes-e2e.jsonl", "status": "running"}
        ]
        no_database = run_submit(aws, events["incoming/recipes-nodb.jsonl"], tmp_path)
        assert no_database["jobs"] == [
            {"job_id": nodb_id, "key": "incoming/recipes-nodb.jsonl", "status": "failed"}
        ]

        summary = wait_loaded(aws, job_id)
        stats = finish(workers)
    finally:
        for worker in workers:  # a failed assertion above leaves them polling
            if worker.poll() is None:
                worker.kill()
                worker.communicate()

    assert (summary["status"], summary["ok"], summary["failed"]) == ("succeeded", 20, 0)
    assert summary["chunks"] == summary["chunks_done"] == 20 // LOAD_CHUNK
    assert summary["collection"] == "recipes_e2e"
    load = summary["load"]
    assert load is not None, summary
    assert load["status"] == "loaded", load
    assert (load["items"], load["inserted"], load["updated"], load["unchanged"]) == (
        20, 20, 0, 0,
    )  # fmt: skip
    assert load["parts"] == 20 // LOAD_CHUNK
    assert load["error"] is None
    assert load["finished_at"] is not None
    # Four chunks and one load message (or more, should a load continue), none failed.
    assert sum(s["succeeded"] for s in stats) >= summary["chunks"] + 1
    assert sum(s["failed"] for s in stats) == 0

    human = lamina(aws, "status", job_id)
    assert human.returncode == 0, human.stderr
    assert "load into recipes_e2e: loaded, 20 items (20 inserted, 0 updated" in human.stdout

    failed = lamina(aws, "status", nodb_id, "--json")
    assert failed.returncode == 0, failed.stderr
    refusal = json.loads(failed.stdout)
    assert (refusal["status"], refusal["finalized"], refusal["ok"]) == ("failed", True, 0)
    assert refusal["chunks_done"] == 0  # refused at submit: nothing was queued
    assert "SearchSecretArn" in (refusal["error"] or ""), refusal["error"]
    assert refusal["load"] is None

    out = tmp_path / "recipes.vectors.jsonl"
    downloaded = lamina(aws, "download", job_id, "-o", str(out))
    assert downloaded.returncode == 0, downloaded.stderr
    parts = {
        row["id"]: np.asarray(row["embedding"], dtype=np.float32)
        for row in map(json.loads, out.read_text(encoding="utf-8").splitlines())
    }
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT id, embedding::text, text, metadata FROM lamina_items_recipes_e2e"
        ).fetchall()
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'lamina_items_%'"
            ).fetchall()
        }
    assert "lamina_items_recipes_nodb" not in tables
    items = {rid: (vector, text, metadata) for rid, vector, text, metadata in rows}
    assert len(rows) == len(items) == 20
    assert set(items) == set(parts) == {r["id"] for r in records}
    for record in records:
        vector, text, metadata = items[record["id"]]
        np.testing.assert_allclose(
            np.asarray(json.loads(vector), dtype=np.float32),
            parts[record["id"]],
            rtol=0,
            atol=1e-6,
        )
        assert text == record["text"]
        assert metadata == {k: v for k, v in record.items() if k not in ("id", "text")}
