"""``lamina jobs ...``: batch embedding jobs from the command line.

    lamina jobs submit FILE [--format jsonl|npz] [--wait]   upload to incoming/, print the job id
    lamina jobs status JOB [--json]                         counts and status
    lamina jobs download JOB [-o OUT] [--errors FILE]       vectors (and errors) to local files
    lamina jobs run FILE --local [--workdir DIR] [-o OUT]   the whole pipeline on this machine
    lamina jobs run FILE                                    submit, wait, download (AWS)
    lamina jobs worker --queue-url URL                      poll SQS like Lambda, run the worker
    lamina jobs redrive --dlq-url URL --queue-url URL       move dead letters back to the queue

AWS commands take --bucket (default $LAMINA_BATCH_BUCKET) and --endpoint-url (default
$AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL, e.g. a moto server).
Exit codes: 0 success (the job succeeded), 1 an error or a failed job, 3 a job that
finished partially failed (its errors.jsonl lists every rejected line), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import JobError
from lamina_tools.console import aws_options, progress_bar

if TYPE_CHECKING:
    from lamina.batch.jobs import JobManifest
    from lamina.inference.embedder import OnnxEmbedder
    from lamina.settings import Settings
    from lamina.storage import ObjectStore

DEFAULT_MODEL = Path("build/models/all-MiniLM-L6-v2/fp32")
DEFAULT_WORKDIR = Path("build/jobs")
EXIT_PARTIAL = 3


def _s3(args: argparse.Namespace) -> ObjectStore:
    from lamina.storage import S3Objects

    if not args.bucket:
        raise JobError("no bucket: pass --bucket or set LAMINA_BATCH_BUCKET")
    return S3Objects(args.bucket, endpoint_url=args.endpoint_url, error=JobError)


def _exit_code(m: JobManifest) -> int:
    return {"succeeded": 0, "partially_failed": EXIT_PARTIAL}.get(m.status, 1)


def describe(m: JobManifest) -> str:
    """One line a human reads: status, chunks and counts."""
    chunks = f"{m.chunks_done + m.chunks_failed}/{m.chunks if m.chunks is not None else '?'}"
    lines = m.lines if m.lines is not None else "?"
    text = (
        f"{m.job_id}: {m.status}, chunks {chunks} ({m.chunks_failed} failed), "
        f"lines {lines}: {m.ok} ok, {m.failed} failed"
    )
    if m.error:
        text += f" - {m.error}"
    return text


def _progress(
    args: argparse.Namespace, verb: str = "download"
) -> Callable[[str, int, int], None] | None:
    return progress_bar(args, verb)


def _wait(store: ObjectStore, job_id: str, timeout: float, interval: float = 2.0) -> JobManifest:
    from lamina.batch.jobs import read_job_manifest

    deadline = time.monotonic() + timeout
    last = ""
    while True:
        m = read_job_manifest(store, job_id)
        line = describe(m)
        if line != last:
            print(line, file=sys.stderr)
            last = line
        if m.finalized:
            return m
        if time.monotonic() > deadline:
            raise JobError(f"job {job_id} is still {m.status} after {timeout:.0f} s")
        time.sleep(interval)


# ---- commands ----------------------------------------------------------------------------


def _submit_file(args: argparse.Namespace, store: ObjectStore) -> str:
    from lamina.batch.jobs import INCOMING_PREFIX, job_id_for
    from lamina.batch.records import input_format
    from lamina.batch.submit import OUTPUT_FORMAT_METADATA
    from lamina.storage import TransferProgress

    source = Path(args.file)
    if not source.is_file():
        raise JobError(f"{source} is not a file")
    input_format(source.name)  # refuse an unsupported format before uploading it
    key = INCOMING_PREFIX + (args.key or source.name)
    transfer = TransferProgress(key, source.stat().st_size, _progress(args, "upload"))
    transfer.start()
    store.upload(
        key,
        source,
        content_type="application/octet-stream",
        metadata={OUTPUT_FORMAT_METADATA: args.format},
        callback=transfer,
    )
    transfer.finish()
    info = store.head(key)
    if info is None:
        raise JobError(f"{store.url(key)} vanished right after upload")
    job_id = job_id_for(store.url(key), info.etag, info.version_id)
    print(job_id)
    return job_id


def _cmd_submit(args: argparse.Namespace) -> int:
    store = _s3(args)
    job_id = _submit_file(args, store)
    if not args.wait:
        return 0
    _await_manifest(store, job_id, args.timeout)
    return _exit_code(_wait(store, job_id, args.timeout))


def _await_manifest(store: ObjectStore, job_id: str, timeout: float) -> None:
    """The submit function creates the manifest a moment after the upload."""
    from lamina.batch.jobs import JobKeys

    deadline = time.monotonic() + min(timeout, 120)
    while store.head(JobKeys(job_id).manifest) is None:
        if time.monotonic() > deadline:
            raise JobError(
                f"no job {job_id} yet: is the bucket's S3 notification wired to the submit "
                "function?"
            )
        time.sleep(1)


def _cmd_status(args: argparse.Namespace) -> int:
    from lamina.batch.jobs import read_job_manifest

    m = read_job_manifest(_s3(args), args.job_id)
    print(json.dumps(m.summary(), indent=2) if args.json else describe(m))
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from lamina_tools.results import download

    store = _s3(args)
    out = Path(args.output or f"{args.job_id}.jsonl")
    m = download(
        store,
        args.job_id,
        out,
        errors=Path(args.errors) if args.errors else None,
        allow_unfinished=args.partial,
        progress=_progress(args),
    )
    print(f"{describe(m)}\nvectors: {out}" + (f"\nerrors: {args.errors}" if args.errors else ""))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from lamina_tools.results import download

    source = Path(args.file)
    if args.local:
        from lamina.settings import Settings
        from lamina_tools.local_batch import run_local

        settings = Settings.from_env()
        embedder = _load_model(args, settings)
        workdir = Path(args.workdir)
        started = time.perf_counter()
        run = run_local(source, workdir, embedder, settings, out=args.format)
        m = run.manifest
        seconds = time.perf_counter() - started
        store: ObjectStore = run.store
        print(f"{describe(m)} in {seconds:.1f} s")
        print(f"job files: {workdir / 'jobs' / m.job_id}")
    else:
        store = _s3(args)
        job_id = _submit_file(args, store)
        _await_manifest(store, job_id, args.timeout)
        m = _wait(store, job_id, args.timeout)
    out = Path(args.output or f"{m.job_id}.{'jsonl' if m.output_format == 'jsonl' else 'npz.d'}")
    errors = (
        out.with_name(out.name.removesuffix(".jsonl") + ".errors.jsonl")
        if m.output_format == "jsonl"
        else out / "errors.jsonl"
    )
    download(store, m.job_id, out, errors=errors, progress=_progress(args))
    print(f"vectors: {out}\nerrors: {errors}")
    return _exit_code(m)


def _load_model(args: argparse.Namespace, settings: Settings) -> OnnxEmbedder:
    """--model, else $MODEL_URI (a directory or an s3:// store URI), else the built default."""
    from lamina.inference.embedder import OnnxEmbedder
    from lamina.inference.load import load_model

    uri = args.model or settings.model_uri or str(DEFAULT_MODEL)
    if uri == str(DEFAULT_MODEL) and not (DEFAULT_MODEL / "manifest.json").is_file():
        raise JobError(f"no model at {DEFAULT_MODEL}: run `make model`, or pass --model DIR")
    return load_model(OnnxEmbedder, settings, None, uri)


def _cmd_worker(args: argparse.Namespace) -> int:
    from lamina.batch.handlers import WorkerHandler
    from lamina.batch.queues import SqsQueue
    from lamina.batch.worker import ChunkWorker
    from lamina.observability import get_telemetry
    from lamina.settings import Settings
    from lamina.storage import S3Objects
    from lamina_tools.poller import PollStats, poll_once

    if not args.bucket:
        raise JobError("no bucket: pass --bucket or set LAMINA_BATCH_BUCKET")
    if not args.queue_url:
        raise JobError("no queue: pass --queue-url or set LAMINA_BATCH_QUEUE_URL")
    settings = Settings.from_env()
    embedder = _load_model(args, settings)
    store = S3Objects(args.bucket, endpoint_url=args.endpoint_url, error=JobError)
    queue = SqsQueue(args.queue_url, endpoint_url=_sqs_endpoint(args))
    worker = ChunkWorker(
        store,
        embedder,
        max_receive_count=settings.max_receive_count,
        telemetry=get_telemetry(settings),
    )
    handler = WorkerHandler(worker)
    stats = PollStats()
    idle_since = time.monotonic()
    print(f"worker polling {args.queue_url}", file=sys.stderr, flush=True)
    while True:
        received = poll_once(
            queue,
            handler,
            stats,
            batch_size=args.batch_size,
            wait_s=1,
            visibility_s=args.visibility,
            retry_delay_s=args.retry_delay,
        )
        if received:
            idle_since = time.monotonic()
        elif args.idle_exit and time.monotonic() - idle_since > args.idle_exit:
            break
    print(json.dumps(stats.__dict__), flush=True)
    return 0


def _sqs_endpoint(args: argparse.Namespace) -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_SQS") or args.endpoint_url


def _cmd_redrive(args: argparse.Namespace) -> int:
    from lamina.batch.queues import SqsQueue

    if not args.queue_url:
        raise JobError("no queue: pass --queue-url or set LAMINA_BATCH_QUEUE_URL")
    endpoint = _sqs_endpoint(args)
    dlq = SqsQueue(args.dlq_url, endpoint_url=endpoint)
    target = SqsQueue(args.queue_url, endpoint_url=endpoint)
    moved = 0
    while args.max is None or moved < args.max:
        messages = dlq.receive(min(10, (args.max or 10) - moved) or 1, 1, 60)
        if not messages:
            break
        target.send([message.body for message in messages])
        dlq.delete(messages)  # after the send: a crash in between duplicates, never loses
        moved += len(messages)
    print(f"moved {moved} message(s) from {args.dlq_url} to {args.queue_url}")
    return 0


def add_jobs_commands(groups: Any) -> None:
    """Register ``lamina jobs ...`` on the root parser's subcommands."""
    aws = aws_options("LAMINA_BATCH_BUCKET", "the batch bucket")
    upload = argparse.ArgumentParser(add_help=False)
    upload.add_argument("file", help="input: .jsonl ({id, text} per line), .csv (id,text) or .txt")
    upload.add_argument(
        "--format", choices=["jsonl", "npz"], default="jsonl", help="output format of the parts"
    )
    upload.add_argument("--key", help="object name under incoming/ (default: the file's name)")
    upload.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait for the job (default 3600)"
    )

    jobs = groups.add_parser("jobs", help="batch embedding jobs (S3 -> SQS -> Lambda -> S3)")
    commands = jobs.add_subparsers(dest="command", required=True)

    submit = commands.add_parser(
        "submit", parents=[aws, upload], help="upload a file to incoming/ and print its job id"
    )
    submit.add_argument("--wait", action="store_true", help="wait until the job is over")
    submit.set_defaults(func=_cmd_submit)

    status = commands.add_parser("status", parents=[aws], help="a job's status and counts")
    status.add_argument("job_id", metavar="JOB")
    status.add_argument("--json", action="store_true", help="the whole status as JSON")
    status.set_defaults(func=_cmd_status)

    download = commands.add_parser(
        "download", parents=[aws], help="merge a job's parts into one local file"
    )
    download.add_argument("job_id", metavar="JOB")
    download.add_argument("-o", "--output", help="output file (npz jobs: a directory)")
    download.add_argument("--errors", help="also write the job's errors.jsonl here")
    download.add_argument(
        "--partial", action="store_true", help="download what is there before the job is over"
    )
    download.set_defaults(func=_cmd_download)

    run = commands.add_parser(
        "run", parents=[aws, upload], help="run a job and download its results"
    )
    run.add_argument(
        "--local", action="store_true", help="on this machine: no AWS, a directory for S3"
    )
    run.add_argument(
        "--workdir", default=str(DEFAULT_WORKDIR), help="--local: the bucket's stand-in"
    )
    run.add_argument(
        "--model", help=f"--local: model directory (default: $MODEL_URI, {DEFAULT_MODEL})"
    )
    run.add_argument("-o", "--output", help="where the vectors go (default: <job id>.jsonl)")
    run.set_defaults(func=_cmd_run)

    worker = commands.add_parser(
        "worker", parents=[aws], help="poll an SQS queue and run the worker like Lambda does"
    )
    worker.add_argument(
        "--queue-url", default=os.environ.get("LAMINA_BATCH_QUEUE_URL"), required=False
    )
    worker.add_argument("--model", help=f"model directory (default: $MODEL_URI, {DEFAULT_MODEL})")
    worker.add_argument("--batch-size", type=int, default=10, help="messages per invocation")
    worker.add_argument("--visibility", type=int, default=120, help="visibility timeout (s)")
    worker.add_argument("--retry-delay", type=int, default=1, help="seconds before a retry")
    worker.add_argument(
        "--idle-exit", type=float, default=0, help="exit after this many idle seconds"
    )
    worker.set_defaults(func=_cmd_worker)

    redrive = commands.add_parser(
        "redrive", parents=[aws], help="move messages from the dead-letter queue back"
    )
    redrive.add_argument("--dlq-url", required=True)
    redrive.add_argument(
        "--queue-url", default=os.environ.get("LAMINA_BATCH_QUEUE_URL"), required=False
    )
    redrive.add_argument("--max", type=int, help="move at most this many")
    redrive.set_defaults(func=_cmd_redrive)
