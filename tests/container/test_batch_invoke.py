"""The batch functions as SAM CLI runs them, against a moto server on the host.

- ``BatchWorkerFunction``: the real image (the embedding image with the worker's command)
  under ``sam local invoke`` with SQS events that ``sam local generate-event sqs
  receive-message`` prints, carrying a chunk that ``lamina.batch.submit.submit_job`` queued:
  the partial batch response, the part in S3, the finalized manifest; a poison record next
  to a good one comes back alone in ``batchItemFailures``.
- ``BatchSubmitFunction``: the zip package and the lamina layer that ``sam build`` made with
  the makefile builder, on the python3.13 runtime image (with podman the stand-in, named
  with ``--invoke-image BatchSubmitFunction=<stand-in>``: SAM's default,
  public.ecr.aws/lambda/python:3.13-x86_64, is not on this machine), fed ``sam local
  generate-event s3 put``; its chunk is then received from moto's SQS and handed to the
  worker: the whole pipeline through SAM.
- A job that names a search collection (``x-amz-meta-lamina-collection``): the worker that
  finalizes it queues its load message on moto's SQS; the worker, invoked with that message,
  loads the job into a real PostgreSQL with pgvector (the ``postgres_dsn`` session fixture).

Networking: moto listens on the host at the gateway of the engine's default bridge network
(podman: 10.88.0.1), which containers reach. SAM passes a function only the variables its
template declares, so the tests invoke a copy of the built template whose batch functions
also declare ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_SQS`` (boto3 reads them); the
values come from ``--env-vars``. They also declare ``LAMINA_SEARCH_DSN``; the load test sets it
to the database as a container reaches it: the cluster listens on 127.0.0.1 only (its
pg_hba too), so the test runs a TCP relay on the gateway that forwards to it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import numpy as np
import psycopg
import pytest
from cfnlint.decode import decode
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lamina.batch.jobs import JobKeys, JobManifest
from lamina.batch.queues import SqsQueue
from lamina.batch.submit import submit_job
from lamina.errors import JobError
from lamina.search.pg import PgVectorIndex
from lamina.storage import S3Objects
from lamina_tools.queues import SendOnlyQueue
from tests.container.conftest import LOG_DIR, MEASUREMENTS, ROOT, Stack
from tests.container.test_sam_invoke import REPORT
from tests.moto_server import boto3_credentials, moto_server

pytestmark = pytest.mark.slow

BUCKET = "lamina-batch-local"
QUEUE = "lamina-batch-local"
WORKER = "BatchWorkerFunction"
SUBMIT = "BatchSubmitFunction"
# Variables the local template adds to the batch functions (values from --env-vars).
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS")
LOCAL_VARIABLES = (*ENDPOINT_VARIABLES, "LAMINA_SEARCH_DSN")
TEXTS = ["beef soup recipe", "kimchi stew", "car repair manual", "hello world", "갈비탕"]
NOT_IN_LAYER = ("numpy", "onnxruntime", "tokenizers", "fastapi", "starlette", "mangum", "torch")

WALL_S: dict[str, list[float]] = {WORKER: [], SUBMIT: []}
DURATION_MS: dict[str, list[float]] = {WORKER: [], SUBMIT: []}


def bridge_gateway(stack: Stack) -> str:
    """The host's address on the engine's default container network."""
    if stack.engine == "podman":
        args = ["network", "inspect", "podman", "--format", "{{range .Subnets}}{{.Gateway}}{{end}}"]
    else:
        args = [
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        ]
    gateway = stack.run(stack.engine, *args).stdout.strip().split()[0]
    socket.inet_aton(gateway)  # an IPv4 address, or fail here
    return gateway


def free_port_on(address: str) -> tuple[str, int]:
    """A free port on ``address`` (or on every interface when the bridge is not up yet)."""
    for bind in (address, "0.0.0.0"):
        try:
            with socket.socket() as sock:
                sock.bind((bind, 0))
                port: int = sock.getsockname()[1]
                return bind, port
        except OSError:
            continue
    pytest.fail(f"cannot bind a port on {address}", pytrace=False)


@dataclass(frozen=True)
class Moto:
    url: str  # as containers (and this process) reach it: http://<gateway>:<port>
    s3: Any
    sqs: Any
    queue_url: str


@pytest.fixture(scope="module")
def moto(stack: Stack) -> Iterator[Moto]:
    """``moto_server`` from the venv, on the bridge gateway; the bucket and the queue."""
    gateway = bridge_gateway(stack)
    bind, port = free_port_on(gateway)
    with moto_server(LOG_DIR, bind, port=port, url_host=gateway, log_name="batch-moto.log") as url:
        s3 = boto3.client("s3", endpoint_url=url, **boto3_credentials())
        sqs = boto3.client("sqs", endpoint_url=url, **boto3_credentials())
        s3.create_bucket(Bucket=BUCKET)
        queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        yield Moto(url=url, s3=s3, sqs=sqs, queue_url=queue_url)


@pytest.fixture(scope="module")
def local_template(stack: Stack) -> Path:
    """The built template, with the endpoint variables and LAMINA_SEARCH_DSN declared on the
    batch functions (empty unless --env-vars sets them: lamina ignores an empty one)."""
    built, problems = decode(str(ROOT / ".aws-sam/build/template.yaml"))
    assert built is not None, problems
    for name in (WORKER, SUBMIT):
        variables = built["Resources"][name]["Properties"]["Environment"]["Variables"]
        variables.update(dict.fromkeys(LOCAL_VARIABLES, ""))
    # Next to the built template: CodeUri / ContentUri are relative to it.
    path = ROOT / ".aws-sam/build/template.batch-local.json"
    path.write_text(json.dumps(built, indent=1))
    return path


@pytest.fixture(scope="module")
def env_vars(moto: Moto, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both batch functions: moto's bucket and endpoints, and moto's queue in place of the
    template's LAMINA_BATCH_QUEUE_URL (``!Ref BatchQueue``, which SAM local resolves to the
    logical id, "BatchQueue"): the submit step queues chunks there, the worker load messages."""
    shared = {
        "LAMINA_BATCH_BUCKET": BUCKET,
        "LAMINA_BATCH_QUEUE_URL": moto.queue_url,
        **dict.fromkeys(ENDPOINT_VARIABLES, moto.url),
    }
    path = tmp_path_factory.mktemp("batch-env") / "env.json"
    path.write_text(json.dumps({WORKER: shared, SUBMIT: shared}))
    return path


def generate_event(stack: Stack, *args: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        stack.run(stack.sam, "local", "generate-event", *args).stdout
    )
    return event


def without_credentials(stack: Stack) -> Stack:
    """SAM CLI with no AWS credentials at all. With some it asks STS for the account id
    (seconds of timeouts here, and a call to AWS); with none it uses 123456789012 at once and
    hands the function placeholder credentials, which moto accepts."""
    env = {k: v for k, v in stack.env.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    return dataclasses.replace(stack, env=env)


def invoke(
    stack: Stack,
    template: Path,
    env_vars: Path,
    function: str,
    event: dict[str, Any],
    tmp: Path,
    *,
    log_name: str | None = None,
) -> dict[str, Any]:
    """One `sam local invoke` (a fresh container); the function's JSON response. The
    invocation's stderr (SAM's lines and the function's logs) goes to LOG_DIR/``log_name``."""
    event_file = tmp / f"{function}-event.json"
    event_file.write_text(json.dumps(event, ensure_ascii=False))
    args: list[str | Path] = [stack.sam, "local", "invoke", function, "--template", template]
    args += ["--event", event_file, "--env-vars", env_vars]
    if stack.engine == "podman":
        args.append("--skip-pull-image")  # no registry: the runtime image is the stand-in
        # A zip function: on the stand-in (--invoke-image <function>=STANDIN_IMAGE), not on
        # SAM's default public.ecr.aws/lambda/python:3.13-x86_64. Image functions: nothing.
        args += stack.invoke_images(function)
    started = time.monotonic()
    done = without_credentials(stack).run(*args)
    WALL_S[function].append(time.monotonic() - started)
    if log_name is not None:
        (LOG_DIR / log_name).write_text(done.stderr)
    if report := REPORT.search(done.stderr):
        DURATION_MS[function].append(float(report["duration"]))
    record_measurements()
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no response on stdout:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    response: dict[str, Any] = json.loads(lines[-1])
    assert "errorMessage" not in response, f"{response}\n--- stderr\n{done.stderr[-4000:]}"
    return response


def record_measurements() -> None:
    for function, walls in WALL_S.items():
        if not walls:
            continue
        text = f"median {statistics.median(walls):.1f} s, max {max(walls):.1f} s (n={len(walls)})"
        if durations := DURATION_MS[function]:
            median = statistics.median(durations)
            text += f"; REPORT Duration (cold, init included) median {median:.0f} ms"
        MEASUREMENTS[f"sam local invoke {function}: wall time"] = text


def put_input(moto: Moto, key: str, lines: list[str]) -> None:
    moto.s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode("utf-8"))


def read(moto: Moto, key: str) -> bytes:
    body: bytes = moto.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def manifest(moto: Moto, job_id: str) -> JobManifest:
    return JobManifest.model_validate_json(read(moto, JobKeys(job_id).manifest))


def check_part(moto: Moto, job_id: str, expected_ids: list[Any]) -> None:
    rows = [json.loads(line) for line in read(moto, JobKeys(job_id).part(0, "jsonl")).splitlines()]
    assert [row["id"] for row in rows] == expected_ids  # one row per record, in input order
    for row in rows:
        vector = np.asarray(row["embedding"], dtype=np.float64)
        assert vector.shape == (384,)
        assert np.all(np.isfinite(vector))
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3


def sqs_event(stack: Stack, records: list[tuple[str, str]]) -> dict[str, Any]:
    """SAM's SQS sample event with one record per (messageId, body)."""
    event = generate_event(stack, "sqs", "receive-message")
    [sample] = event["Records"]
    event["Records"] = [
        {**copy.deepcopy(sample), "messageId": message_id, "body": body}
        for message_id, body in records
    ]
    return event


class TcpRelay:
    """Forwards every connection made to ``listen`` (port 0: a free one) to ``target``: a
    thread accepts, two threads per connection copy bytes, one each way. ``close`` stops
    accepting, cuts the open connections and joins every thread."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(listen)
        self.server.settimeout(0.2)  # the accept loop looks at the stop flag this often
        host, port = self.server.getsockname()[:2]
        self.address: tuple[str, int] = (str(host), int(port))
        self.connections = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="tcp-relay", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError as exc:
                self.errors.append(f"connect {self.target}: {exc}")
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self.connections += 1
                self._sockets += [client, upstream]
                for src, dst in ((client, upstream), (upstream, client)):
                    pump = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                    self._threads.append(pump)
                    pump.start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass  # the other side went away, or close() cut the connection
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)  # pass the end of the stream on

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        self._acceptor.join(timeout=10)
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(timeout=10)
        alive = [t.name for t in [self._acceptor, *threads] if t.is_alive()]
        assert not alive, f"relay threads still running: {alive}"


@dataclass(frozen=True)
class ContainerDatabase:
    dsn: str  # the session's database as the containers reach it: through the relay
    relay: TcpRelay


@pytest.fixture
def container_database(stack: Stack, postgres_dsn: str) -> Iterator[ContainerDatabase]:
    """The ``postgres_dsn`` cluster (127.0.0.1 only) behind a relay on the bridge gateway
    (or every interface while the bridge is not up: as moto's port), for the length of a
    test; the DSN is the session's with the relay's host and port."""
    params = conninfo_to_dict(postgres_dsn)
    target = (str(params["host"]), int(str(params["port"])))
    gateway = bridge_gateway(stack)
    relay: TcpRelay | None = None
    for bind in (gateway, "0.0.0.0"):
        try:
            relay = TcpRelay((bind, 0), target)
            break
        except OSError:
            continue
    if relay is None:
        pytest.fail(f"cannot bind a port on {gateway}", pytrace=False)
    try:
        dsn = make_conninfo(postgres_dsn, host=gateway, port=str(relay.address[1]))
        yield ContainerDatabase(dsn=dsn, relay=relay)
    finally:
        relay.close()


def test_worker_invoke_writes_the_part_and_reports_only_the_poison_record(
    stack: Stack, moto: Moto, local_template: Path, env_vars: Path, tmp_path: Path
) -> None:
    key = "incoming/worker.jsonl"
    put_input(moto, key, [json.dumps({"id": f"doc-{i}", "text": t}) for i, t in enumerate(TEXTS)])
    bodies: list[str] = []  # what the submit step sends; delivery is this test's business
    queue = SendOnlyQueue(bodies.extend)
    submitted = submit_job(S3Objects(BUCKET, client=moto.s3, error=JobError), queue, key)
    assert (submitted.status, submitted.chunks, len(bodies)) == ("running", 1, 1)
    ids = [f"doc-{i}" for i in range(len(TEXTS))]

    good = sqs_event(stack, [("0a1b2c3d-good", bodies[0])])
    response = invoke(stack, local_template, env_vars, WORKER, good, tmp_path)
    assert response == {"batchItemFailures": []}
    check_part(moto, submitted.job_id, ids)
    done = manifest(moto, submitted.job_id)
    assert (done.status, done.finalized, done.lines, done.ok, done.failed) == (
        "succeeded",
        True,
        len(TEXTS),
        len(TEXTS),
        0,
    )
    # The image bakes the int8 production variant in (functions/Dockerfile).
    assert done.model_versions == ["all-MiniLM-L6-v2/1-int8"]
    assert json.loads(read(moto, JobKeys(submitted.job_id).success))["ok"] == len(TEXTS)

    # The same chunk again (a redelivery) next to a message that is not a chunk at all.
    poison = "9f8e7d6c-poison"
    mixed = sqs_event(
        stack, [("0a1b2c3d-good", bodies[0]), (poison, "this is not a chunk message")]
    )
    response = invoke(stack, local_template, env_vars, WORKER, mixed, tmp_path)
    assert response == {"batchItemFailures": [{"itemIdentifier": poison}]}
    check_part(moto, submitted.job_id, ids)  # rewritten, not appended
    again = manifest(moto, submitted.job_id)
    assert (again.status, again.ok, again.chunks_done) == ("succeeded", len(TEXTS), 1)


def test_submit_invoke_then_worker_invoke_run_a_job(
    stack: Stack, moto: Moto, local_template: Path, env_vars: Path, tmp_path: Path
) -> None:
    """S3 put event -> submit (zip + layer) -> a chunk in moto's SQS -> worker -> job done."""
    key = "incoming/pipeline.jsonl"
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(TEXTS)]
    lines.insert(2, json.dumps({"id": "blank", "text": "   "}))  # line 3: rejected
    put_input(moto, key, lines)
    event = generate_event(stack, "s3", "put", "--bucket", BUCKET, "--key", key)

    response = invoke(stack, local_template, env_vars, SUBMIT, event, tmp_path)
    [job] = response["jobs"]
    assert (job["key"], job["status"]) == (key, "running")
    submitted = manifest(moto, job["job_id"])
    assert (submitted.lines, submitted.invalid, submitted.chunks) == (len(lines), 1, 1)
    rejected = [json.loads(x) for x in read(moto, JobKeys(job["job_id"]).input_errors).splitlines()]
    assert [(r["line"], r["id"]) for r in rejected] == [(3, "blank")]

    queue = SqsQueue(moto.queue_url, client=moto.sqs)
    messages = queue.receive(10, 1, 60)
    assert len(messages) == 1
    assert json.loads(messages[0].body)["job"] == job["job_id"]
    records = [m.lambda_record(queue.arn) for m in messages]
    response = invoke(stack, local_template, env_vars, WORKER, {"Records": records}, tmp_path)
    assert response == {"batchItemFailures": []}
    queue.delete(messages)  # what Lambda's poller does with the messages that succeeded

    check_part(moto, job["job_id"], list(range(len(TEXTS))))
    done = manifest(moto, job["job_id"])
    assert (done.status, done.finalized) == ("partially_failed", True)
    assert (done.ok, done.failed, done.ok + done.failed) == (len(TEXTS), 1, len(lines))
    assert [
        json.loads(x)["line"] for x in read(moto, JobKeys(job["job_id"]).errors).splitlines()
    ] == [3]


def stored_items(dsn: str, collection: str) -> dict[str, tuple[np.ndarray, str | None, Any]]:
    """Every row of a collection's table, read with plain SQL: id -> (vector, text, metadata)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT id, embedding::text, text, metadata FROM lamina_items_{collection}"
        ).fetchall()
    return {
        rid: (np.asarray(json.loads(vector), dtype=np.float64), text, metadata)
        for rid, vector, text, metadata in rows
    }


def test_worker_invoke_loads_a_job_into_its_collection(
    stack: Stack,
    moto: Moto,
    local_template: Path,
    env_vars: Path,
    container_database: ContainerDatabase,
    postgres_dsn: str,
    tmp_path: Path,
) -> None:
    """A job naming a collection: its chunk through the worker (which queues the load
    message on moto's SQS), then the load message through the worker, which loads the job
    into PostgreSQL with pgvector (reached through the relay)."""
    collection = "sam_invoke_load"
    key = "incoming/load.jsonl"
    records: list[dict[str, Any]] = [
        {"id": f"load-{i}", "text": t, "lang": "ko" if i == 4 else "en", "n": i}
        for i, t in enumerate(TEXTS)
    ]
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    moto.s3.put_object(
        Bucket=BUCKET, Key=key, Body=body, Metadata={"lamina-collection": collection}
    )
    # The worker's variables, with the database as the container reaches it.
    variables = json.loads(env_vars.read_text())
    variables[WORKER]["LAMINA_SEARCH_DSN"] = container_database.dsn
    load_env = tmp_path / "env-load.json"
    load_env.write_text(json.dumps(variables))

    queue = SqsQueue(moto.queue_url, client=moto.sqs)
    assert queue.depth() == (0, 0)  # nothing left behind by the other tests
    index = PgVectorIndex(postgres_dsn, pool_size=1, timeout_ms=60_000)
    try:
        submitted = submit_job(
            S3Objects(BUCKET, client=moto.s3, error=JobError), queue, key, search=True
        )
        assert (submitted.status, submitted.chunks, submitted.collection) == (
            "running",
            1,
            collection,
        )
        chunks = queue.receive(10, 1, 120)
        assert [json.loads(m.body)["job"] for m in chunks] == [submitted.job_id]
        event = {"Records": [m.lambda_record(queue.arn) for m in chunks]}
        response = invoke(stack, local_template, load_env, WORKER, event, tmp_path)
        assert response == {"batchItemFailures": []}
        queue.delete(chunks)
        finished = manifest(moto, submitted.job_id)
        assert (finished.status, finished.finalized) == ("succeeded", True)
        assert finished.load is not None, finished
        assert finished.load.status == "queued"

        # The load message the worker queued on moto's SQS, handed to a new invocation.
        loads = queue.receive(10, 5, 120)
        assert [json.loads(m.body) for m in loads] == [{"load": submitted.job_id}]
        event = sqs_event(stack, [(loads[0].message_id, loads[0].body)])
        response = invoke(
            stack, local_template, load_env, WORKER, event, tmp_path, log_name="batch-load.log"
        )
        assert response == {"batchItemFailures": []}
        queue.delete(loads)
        assert queue.depth() == (0, 0)  # done in one message: no continuation
        assert container_database.relay.connections >= 1, container_database.relay.errors

        m = manifest(moto, submitted.job_id)
        assert m.status == "succeeded"  # a load never changes the job's status
        assert m.load is not None, m
        assert (m.load.status, m.load.items, m.load.inserted, m.load.parts) == (
            "loaded",
            len(records),
            len(records),
            1,
        )
        assert m.load.error is None

        part = [
            json.loads(line)
            for line in read(moto, JobKeys(submitted.job_id).part(0, "jsonl")).splitlines()
        ]
        vectors = {row["id"]: np.asarray(row["embedding"], dtype=np.float64) for row in part}
        items = stored_items(postgres_dsn, collection)
        assert sorted(items) == sorted(vectors) == sorted(r["id"] for r in records)
        for record in records:
            vector, text, metadata = items[record["id"]]
            np.testing.assert_allclose(vector, vectors[record["id"]], rtol=0, atol=1e-6)
            assert text == record["text"]
            assert metadata == {"lang": record["lang"], "n": record["n"]}
        found = index.collection(collection, count=True)
        assert found.count == len(records)
        assert found.indexed
    finally:
        index.drop_collection(collection)
        index.close()


def test_zip_artifacts_hold_no_model_stack(stack: Stack) -> None:
    """What sam build's makefile builder made: the submit package is two modules; the layer
    is lamina + Powertools + pydantic for CPython 3.13 x86_64, nothing of the model stack."""
    build = ROOT / ".aws-sam/build"
    package = build / SUBMIT
    files = sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file())
    assert files == [
        "functions/__init__.py",
        "functions/batch_submit/__init__.py",
        "functions/batch_submit/handler.py",
    ]
    layer = build / "LaminaLayer" / "python"
    top = {p.name for p in layer.iterdir()}
    assert {"lamina", "aws_lambda_powertools", "pydantic", "pydantic_core", "aws_xray_sdk"} <= top
    assert not {name for name in NOT_IN_LAYER if name in top}, top
    assert not list(layer.rglob("__pycache__"))
    [core] = list((layer / "pydantic_core").glob("_pydantic_core.*.so"))
    assert "cpython-313-x86_64-linux-gnu" in core.name
    size = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file())
    MEASUREMENTS["lamina layer (unzipped)"] = (
        f"{size / 1e6:.1f} MB, {len(top)} entries; submit package "
        f"{sum((package / f).stat().st_size for f in files)} bytes"
    )
