"""``lamina jobs ...``: batch embedding jobs from the command line.

    lamina jobs submit FILE [OPTIONS] [--wait]              upload to incoming/, print the job id
    lamina jobs status JOB [--json]                         counts and status
    lamina jobs download JOB [-o OUT] [--errors FILE]       vectors (and errors) to local files
    lamina jobs run FILE --local [--workdir DIR] [-o OUT]   the whole pipeline on this machine
    lamina jobs run FILE [OPTIONS]                          submit, wait, download (AWS)
    lamina jobs worker --queue-url URL [--model DIR ...]    poll SQS like Lambda, run the worker
    lamina jobs redrive --dlq-url URL --queue-url URL       move dead letters back to the queue

Job OPTIONS (sent as the input's S3 metadata, x-amz-meta-lamina-<option>; docs/batch.md):
--format jsonl|npz, --model NAME, --input-type query|passage|none (default passage),
--long-text truncate|reject|split (default truncate), --windows (with --long-text split).

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

from lamina.errors import JobError, JobInputError
from lamina_tools.console import aws_options, progress_bar

if TYPE_CHECKING:
    from lamina.batch.jobs import JobManifest
    from lamina.inference.embedder import OnnxEmbedder
    from lamina.settings import Settings
    from lamina.storage import ObjectStore

DEFAULT_MODEL = Path("build/models/all-MiniLM-L6-v2/fp32")
DEFAULT_WORKDIR = Path("build/jobs")
EXIT_PARTIAL = 3
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad flags, found after parsing (a bad option value, a model that is not there)."""


def _usage(message: str) -> int:
    print(f"lamina: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def job_option_values(args: argparse.Namespace) -> dict[str, str]:
    """The job options the flags set, as the S3 metadata spells them (``lamina-`` dropped);
    UsageError if they are invalid (checked here, before anything is uploaded)."""
    from lamina.batch.submit import job_options

    values = {"output": args.format}
    if args.model and not (getattr(args, "local", False) and _is_location(args.model)):
        values["model"] = args.model  # --local --model DIR: the name comes from the model
    if args.input_type:
        values["input-type"] = args.input_type
    if args.long_text:
        values["long-text"] = args.long_text
    if args.windows:
        values["windows"] = "true"
    if args.collection:
        values["collection"] = args.collection
    try:
        job_options(values)
    except JobInputError as exc:
        raise UsageError(exc.message) from exc
    return values


def _s3(args: argparse.Namespace) -> ObjectStore:
    from lamina.storage import S3Objects

    if not args.bucket:
        raise JobError("no bucket: pass --bucket or set LAMINA_BATCH_BUCKET")
    return S3Objects(args.bucket, endpoint_url=args.endpoint_url, error=JobError)


def _exit_code(m: JobManifest) -> int:
    if m.load is not None and m.load.status == "failed":
        return 1
    return {"succeeded": 0, "partially_failed": EXIT_PARTIAL}.get(m.status, 1)


def _settled(m: JobManifest) -> bool:
    """The job is over, and so is its load into a collection if it has one to do."""
    from lamina.batch.loading import LOADABLE

    if not m.finalized:
        return False
    if m.collection is None or m.aborted or m.status not in LOADABLE:
        return True
    return m.load is not None and m.load.status in ("loaded", "failed")


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
    if m.collection is not None and not m.aborted and m.status != "failed":
        load = m.load
        if load is None:
            text += f"; then loads into {m.collection}"
        else:
            text += (
                f"; load into {m.collection}: {load.status}, {load.items} items "
                f"({load.inserted} inserted, {load.updated} updated, {load.unchanged} unchanged)"
            )
            if load.error:
                text += f" - {load.error}"
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
        if _settled(m):
            return m
        if time.monotonic() > deadline:
            state: str = m.status
            if m.finalized:
                state += f", its load into {m.collection} not done"
            raise JobError(f"job {job_id} is still {state} after {timeout:.0f} s")
        time.sleep(interval)


# ---- commands ----------------------------------------------------------------------------


def _submit_file(args: argparse.Namespace, store: ObjectStore) -> str:
    from lamina.batch.jobs import INCOMING_PREFIX, job_id_for
    from lamina.batch.records import input_format
    from lamina.batch.submit import METADATA_PREFIX
    from lamina.storage import TransferProgress

    values = job_option_values(args)
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
        metadata={METADATA_PREFIX + name: value for name, value in values.items()},
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
    try:
        job_option_values(args)
    except UsageError as exc:
        return _usage(str(exc))
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
    from lamina_tools.results import download, download_windows

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
    text = f"{describe(m)}\nvectors: {out}" + (f"\nerrors: {args.errors}" if args.errors else "")
    if args.windows:
        if not m.windows:
            raise JobError(f"job {m.job_id} has no window rows (it was not run with --windows)")
        download_windows(store, m, Path(args.windows), progress=_progress(args))
        text += f"\nwindows: {args.windows}"
    print(text)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from lamina_tools.results import download, download_windows

    source = Path(args.file)
    try:
        values = job_option_values(args)
    except UsageError as exc:
        return _usage(str(exc))
    if args.local:
        from lamina.batch.submit import job_options
        from lamina.settings import Settings
        from lamina_tools.local_batch import run_local

        settings = Settings.from_env()
        try:
            embedders, default, chosen = _local_models(args.model, settings)
            if chosen is not None:
                values["model"] = chosen
            job_options(values, served=list(embedders), default_model=default)
        except (UsageError, JobInputError) as exc:
            return _usage(exc.message if isinstance(exc, JobInputError) else str(exc))
        loader = None
        if args.collection:
            if not args.dsn:
                return _usage(
                    "--collection needs a database: pass --dsn or set LAMINA_SEARCH_DSN "
                    "(`make pg` starts a local one and prints its DSN)"
                )
            from lamina.search.jobload import JobCollectionLoader
            from lamina_tools.index_cli import open_loading_index

            loader = JobCollectionLoader(open_loading_index(args.dsn))
        workdir = Path(args.workdir)
        started = time.perf_counter()
        try:
            run = run_local(
                source,
                workdir,
                embedders,
                settings,
                out=args.format,
                options=values,
                default=default,
                loader=loader,
            )
        finally:
            if loader is not None:
                loader.index.close()
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
    npz = m.output_format == "npz"
    out = Path(args.output or f"{m.job_id}.{'npz.d' if npz else 'jsonl'}")
    errors = out / "errors.jsonl" if npz else out.with_name(_stem(out) + ".errors.jsonl")
    download(store, m.job_id, out, errors=errors, progress=_progress(args))
    print(f"vectors: {out}\nerrors: {errors}")
    if m.windows and not m.aborted:
        windows = out / "windows" if npz else out.with_name(_stem(out) + ".windows.jsonl")
        download_windows(store, m, windows, progress=_progress(args))
        print(f"windows: {windows}")
    return _exit_code(m)


def _stem(path: Path) -> str:
    return path.name.removesuffix(".jsonl")


def _is_location(model: str) -> bool:
    """A model directory or a store URI, rather than a served model's name."""
    return "://" in model or Path(model).is_dir()


def _load(uris: list[str], settings: Settings) -> dict[str, OnnxEmbedder]:
    """Each model at ``uris`` (directories or s3:// store URIs), by manifest name."""
    from lamina.inference.embedder import OnnxEmbedder
    from lamina.inference.load import load_model

    models: dict[str, OnnxEmbedder] = {}
    for uri in uris:
        if Path(uri) == DEFAULT_MODEL and not (DEFAULT_MODEL / "manifest.json").is_file():
            raise UsageError(f"no model at {DEFAULT_MODEL}: run `make model`, or pass --model DIR")
        model = load_model(OnnxEmbedder, settings, None, uri)
        if model.manifest.name in models:
            raise UsageError(f"two models are named {model.manifest.name!r}")
        models[model.manifest.name] = model
    return models


def _configured(settings: Settings) -> list[str]:
    """$LAMINA_MODELS, else $MODEL_URI, else the built default."""
    if settings.models or settings.model_uri:
        return settings.model_uris()
    return [str(DEFAULT_MODEL)]


def _local_models(
    model: str | None, settings: Settings
) -> tuple[dict[str, OnnxEmbedder], str | None, str | None]:
    """The models of a local run: (by name, the default, the job's model if --model was a
    location). ``--model DIR`` (or an s3:// store URI) loads that one model; else the
    configured ones ($LAMINA_MODELS, else $MODEL_URI, else the built MiniLM), among which
    ``--model NAME`` picks (UsageError naming them if it is not there)."""
    if model and _is_location(model):
        loaded = _load([model], settings)
        name = next(iter(loaded))
        return loaded, name, name
    loaded = _load(_configured(settings), settings)
    names = {name.lower(): name for name in loaded}
    if model and model.lower() not in names:
        raise UsageError(
            f"model {model!r} is neither a model directory nor one of the local models "
            f"({', '.join(loaded)}): pass its directory (e.g. --model "
            "build/models/multilingual-e5-small/q4) or list it in LAMINA_MODELS"
        )
    default = settings.default_model if (settings.default_model or "").lower() in names else None
    return loaded, names[default.lower()] if default else None, None


def _cmd_worker(args: argparse.Namespace) -> int:
    from lamina.batch.handlers import WorkerHandler
    from lamina.batch.queues import SqsQueue
    from lamina.batch.worker import ChunkWorker
    from lamina.observability import get_telemetry
    from lamina.search.jobload import loader_from_settings
    from lamina.settings import Settings
    from lamina.storage import S3Objects
    from lamina_tools.poller import PollStats, poll_once

    if not args.bucket:
        raise JobError("no bucket: pass --bucket or set LAMINA_BATCH_BUCKET")
    if not args.queue_url:
        raise JobError("no queue: pass --queue-url or set LAMINA_BATCH_QUEUE_URL")
    settings = Settings.from_env()
    try:
        embedders = _load(args.model or _configured(settings), settings)
    except UsageError as exc:
        return _usage(str(exc))
    names = {name.lower() for name in embedders}
    default = settings.default_model if (settings.default_model or "").lower() in names else None
    store = S3Objects(args.bucket, endpoint_url=args.endpoint_url, error=JobError)
    queue = SqsQueue(args.queue_url, endpoint_url=_sqs_endpoint(args))
    telemetry = get_telemetry(settings)
    worker = ChunkWorker(
        store,
        embedders,
        max_receive_count=settings.max_receive_count,
        telemetry=telemetry,
        default=default,
        queue=queue,
        loader=loader_from_settings(settings, telemetry),  # LAMINA_SEARCH_DSN, if set
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
    upload.add_argument(
        "--model",
        help="a served model's name (default: the workers' default model); with --local also "
        f"a model directory or s3:// store URI (default: $LAMINA_MODELS, $MODEL_URI, "
        f"{DEFAULT_MODEL})",
    )
    upload.add_argument(
        "--input-type",
        choices=["query", "passage", "none"],
        help="the prompt put before each text, for a model that has prompts (e5's "
        "'passage: '); none: the text as it is (default: passage)",
    )
    upload.add_argument(
        "--long-text",
        choices=["truncate", "reject", "split"],
        help="a text over the model's token limit is cut (truncate, the default), refused "
        "(reject: an error line), or embedded whole in windows (split: texts up to "
        "LAMINA_MAX_SPLIT_TEXT_CHARS characters)",
    )
    upload.add_argument(
        "--windows",
        action="store_true",
        help="with --long-text split: also write one row per window (its character span)",
    )
    upload.add_argument(
        "--collection",
        help="when the job is done, it loads its vectors, texts and metadata into this search "
        "collection (created if new; docs/search.md); waiting for the job waits for the load",
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
        "--windows", help="also write the window rows here (a job run with --windows)"
    )
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
    run.add_argument("-o", "--output", help="where the vectors go (default: <job id>.jsonl)")
    run.add_argument(
        "--dsn",
        default=os.environ.get("LAMINA_SEARCH_DSN"),
        help="--local --collection: the PostgreSQL with pgvector (default: $LAMINA_SEARCH_DSN)",
    )
    run.set_defaults(func=_cmd_run)

    worker = commands.add_parser(
        "worker", parents=[aws], help="poll an SQS queue and run the worker like Lambda does"
    )
    worker.add_argument(
        "--queue-url", default=os.environ.get("LAMINA_BATCH_QUEUE_URL"), required=False
    )
    worker.add_argument(
        "--model",
        action="append",
        help="a model directory or s3:// store URI, once per model (default: $LAMINA_MODELS, "
        f"$MODEL_URI, {DEFAULT_MODEL})",
    )
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
