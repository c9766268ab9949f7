"""Run a whole batch job on one machine: ``lamina jobs run FILE --local``.

The same submit step, worker handler and job bookkeeping as on AWS; a directory stands in
for the bucket (``LocalObjects``) and an in-memory queue with SQS's delivery rules for SQS
(``MemoryQueue``). The submit step runs in a thread while the worker polls, so memory
stays bounded by the queue's capacity, not the input's size.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lamina.batch.handlers import WorkerHandler, chunk_limits, split_text_limit
from lamina.batch.jobs import INCOMING_PREFIX, JobManifest, OutputFormat, read_job_manifest
from lamina.batch.loading import JobLoader
from lamina.batch.submit import submit_job
from lamina.batch.worker import ChunkWorker
from lamina.errors import JobError
from lamina.inference.embedder import Embedder
from lamina.observability import Telemetry
from lamina.settings import Settings
from lamina.storage import LocalObjects
from lamina_tools.poller import PollStats, poll
from lamina_tools.queues import MemoryQueue


@dataclass
class LocalRun:
    manifest: JobManifest
    store: LocalObjects
    stats: PollStats
    dead_letters: int


def run_local(
    source: Path,
    workdir: Path,
    embedders: Embedder | Mapping[str, Embedder],
    settings: Settings,
    *,
    telemetry: Telemetry | None = None,
    out: OutputFormat = "jsonl",
    options: Mapping[str, str] | None = None,
    default: str | None = None,
    on_progress: Callable[[JobManifest], None] | None = None,
    loader: JobLoader | None = None,
) -> LocalRun:
    """Submit ``source`` as a job under ``workdir`` and work it off; returns when the job
    is over (every chunk done or given up).

    ``embedders``: the worker's models (by name); ``default``: the one a job that names
    none gets (None: LAMINA_DEFAULT_MODEL if it is one of them, else the first);
    ``options``: the job's options as the S3 metadata spells them (``{"model": ...,
    "input-type": ..., "long-text": ..., "windows": ...}``). The submit step knows the
    models here, so a job naming another fails at submit. ``loader``: what loads a job
    that names a collection (``options["collection"]``) once it is done, through the same
    queue as on AWS (None: such a job is refused at submit)."""
    if not source.is_file():
        raise JobError(f"{source} is not a file")
    worker_models = (
        {embedders.manifest.name: embedders} if isinstance(embedders, Embedder) else embedders
    )
    served = list(worker_models)
    if default is None and settings.default_model in served:
        default = settings.default_model
    store = LocalObjects(workdir, error=JobError)
    # A directory has no object versions: the same content under the same key is the same
    # job. The key names the options and models, so a run with other ones is another job
    # (rather than the earlier run's results).
    identity = json.dumps([out, sorted((options or {}).items()), served, default])
    key = f"{INCOMING_PREFIX}{hashlib.sha256(identity.encode()).hexdigest()[:8]}/{source.name}"
    store.upload(key, source, content_type="application/octet-stream")
    queue = MemoryQueue(max_receive_count=settings.max_receive_count)
    worker = ChunkWorker(
        store,
        worker_models,
        max_receive_count=settings.max_receive_count,
        telemetry=telemetry,
        default=default,
        queue=queue,
        loader=loader,
    )
    handler = WorkerHandler(worker)

    submitted: list[JobManifest] = []
    failure: list[BaseException] = []

    def submit() -> None:
        try:
            submitted.append(
                submit_job(
                    store,
                    queue,
                    key,
                    limits=chunk_limits(settings),
                    max_text_chars=settings.max_text_chars,
                    max_split_text_chars=split_text_limit(settings),
                    out=out,
                    options=options,
                    served=served,
                    default_model=worker.default,
                    search=loader is not None,
                )
            )
        except BaseException as exc:  # reported by the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=submit, name="lamina-submit", daemon=True)
    thread.start()
    rounds = 0

    def stop() -> bool:
        nonlocal rounds
        rounds += 1
        if on_progress is not None and submitted and rounds % 5 == 0:
            on_progress(read_job_manifest(store, submitted[0].job_id))
        return not thread.is_alive() and queue.depth() == (0, 0)

    stats = poll(queue, handler, stop=stop, wait_s=0.2, retry_delay_s=0)
    thread.join()
    if failure:
        raise failure[0]
    manifest = read_job_manifest(store, submitted[0].job_id)
    return LocalRun(manifest, store, stats, len(queue.dead_letters))
