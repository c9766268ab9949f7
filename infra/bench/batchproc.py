"""The batch benchmark's child processes: the submit step alone, and one worker.

Run by ``infra.bench.batch`` from the repository root, each in a fresh process so that its peak
memory is its own (``VmHWM`` of /proc/self/status: the peak resident set since exec).

``python -m infra.bench.batchproc submit --workdir DIR --key incoming/NAME.jsonl``
    The submit step (``lamina.batch.submit.submit_job``) over the object ``KEY`` of a local
    bucket (``LocalObjects(DIR)``), sending to a queue that only counts: no worker, nothing
    kept. Reports the lines, the chunks (bytes of each message) and the seconds.

``python -m infra.bench.batchproc worker --workdir DIR --spool FILE --model-dir M --threads T``
    One worker as on Lambda: load the model (``OnnxEmbedder.load``, ``T`` intra-op threads),
    then call the worker handler (``WorkerHandler``: Powertools partial batch response) with
    SQS events of up to ``--batch-size`` messages read from ``FILE`` (one JSON-encoded message
    body per line, as the submit step sent them), one event at a time, each timed. The bucket
    counts its requests (PUTs and GETs by kind of key).

Both print one ``BENCH_RESULT`` line of JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infra.bench.env import apply_quiet_env

RESULT_PREFIX = "BENCH_RESULT"


def status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def key_kind(key: str) -> str:
    """What a bucket request was about: manifest, part, or other."""
    if key.endswith("/manifest.json"):
        return "manifest"
    if "/parts/" in key:
        return "part"
    return "other"


def submit(workdir: Path, key: str) -> dict[str, Any]:
    from lamina.batch.submit import submit_job
    from lamina.errors import JobError
    from lamina.storage import LocalObjects
    from lamina_tools.queues import SendOnlyQueue

    imports_rss = status_mb("VmRSS")

    calls = 0
    sizes: list[int] = []
    lock = threading.Lock()

    def count(bodies: Sequence[str]) -> None:
        """Counts what the submit step sends and drops it (called from several threads)."""
        nonlocal calls
        with lock:
            calls += 1
            sizes.extend(len(body.encode("utf-8")) for body in bodies)

    queue = SendOnlyQueue(count, arn="arn:aws:sqs:local:000000000000:bench")
    start = time.perf_counter()
    manifest = submit_job(LocalObjects(workdir, error=JobError), queue, key)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "lines": manifest.lines,
        "invalid": manifest.invalid,
        "chunks": manifest.chunks,
        "send_calls": calls,
        "message_bytes": sizes,
        "imports_rss_mb": imports_rss,
        "rss_mb": status_mb("VmHWM"),
        "ru_maxrss_mb": ru_maxrss_mb(),
    }


def _spooled(path: Path, batch_size: int) -> Iterator[list[str]]:
    group: list[str] = []
    with path.open(encoding="utf-8") as spool:
        for line in spool:
            group.append(json.loads(line))
            if len(group) == batch_size:
                yield group
                group = []
    if group:
        yield group


def worker(
    workdir: Path, spool: Path, model_dir: Path, threads: int, batch_size: int
) -> dict[str, Any]:
    from lamina.batch.handlers import WorkerHandler
    from lamina.batch.jobs import read_job_manifest
    from lamina.batch.queues import Message
    from lamina.batch.submit import ChunkMessage
    from lamina.batch.worker import ChunkWorker
    from lamina.inference.embedder import OnnxEmbedder
    from lamina.storage import LocalObjects

    imports_rss = status_mb("VmRSS")

    class CountingObjects(LocalObjects):
        """A local bucket that counts PUTs (put, upload) and GETs (get, head) by key kind."""

        def __init__(self, root: Path) -> None:
            super().__init__(root)
            self.requests: Counter[str] = Counter()
            self._inside = 0  # LocalObjects' own calls (a conditional put reads first): not S3's

        @contextmanager
        def _request(self, name: str) -> Iterator[None]:
            if not self._inside:
                self.requests[name] += 1
            self._inside += 1
            try:
                yield
            finally:
                self._inside -= 1

        # Pass-through signatures: they follow LocalObjects' whatever it grows.
        def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
            with self._request(f"GET {key_kind(key)}"):
                return super().get(key, *args, **kwargs)

        def head(self, key: str, *args: Any, **kwargs: Any) -> Any:
            with self._request(f"GET {key_kind(key)}"):
                return super().head(key, *args, **kwargs)

        def put(self, key: str, *args: Any, **kwargs: Any) -> Any:
            with self._request(f"PUT {key_kind(key)}"):
                return super().put(key, *args, **kwargs)

        def upload(self, key: str, *args: Any, **kwargs: Any) -> Any:
            with self._request(f"PUT {key_kind(key)}"):
                return super().upload(key, *args, **kwargs)

    start = time.perf_counter()
    embedder = OnnxEmbedder.load(model_dir, intra_op_threads=threads)
    load_s = time.perf_counter() - start
    loaded_rss = status_mb("VmRSS")
    store = CountingObjects(workdir)
    handler = WorkerHandler(ChunkWorker(store, embedder, max_receive_count=5))
    arn = "arn:aws:sqs:local:000000000000:bench"
    invocations: list[dict[str, Any]] = []
    job = ""
    for number, bodies in enumerate(_spooled(spool, batch_size)):
        now_ms = int(time.time() * 1000)
        messages = [
            Message(f"m-{number}-{i}", f"r-{number}-{i}", body, 1, now_ms)
            for i, body in enumerate(bodies)
        ]
        event = {"Records": [message.lambda_record(arn) for message in messages]}
        records = 0
        for body in bodies:
            chunk = ChunkMessage.model_validate_json(body)
            records += len(chunk.records)
            job = chunk.job
        start = time.perf_counter()
        response = handler(event, None)
        seconds = time.perf_counter() - start
        if response.get("batchItemFailures"):
            raise RuntimeError(f"the worker failed chunks: {response['batchItemFailures']}")
        invocations.append({"messages": len(bodies), "records": records, "seconds": seconds})
    requests = dict(store.requests)  # before reading the manifest ourselves
    manifest = read_job_manifest(store, job)
    return {
        "invocations": invocations,
        "requests": requests,
        "load_s": load_s,
        "status": manifest.status,
        "ok": manifest.ok,
        "lines": manifest.lines,
        "chunks": manifest.chunks,
        "embed_seconds": manifest.embed_seconds,
        "imports_rss_mb": imports_rss,
        "loaded_rss_mb": loaded_rss,
        "rss_mb": status_mb("VmHWM"),
        "ru_maxrss_mb": ru_maxrss_mb(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    apply_quiet_env()
    parser = argparse.ArgumentParser(prog="python -m infra.bench.batchproc")
    sub = parser.add_subparsers(dest="kind", required=True)
    s = sub.add_parser("submit")
    s.add_argument("--workdir", type=Path, required=True)
    s.add_argument("--key", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--workdir", type=Path, required=True)
    w.add_argument("--spool", type=Path, required=True)
    w.add_argument("--model-dir", type=Path, required=True)
    w.add_argument("--threads", type=int, default=1)
    w.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args(argv)
    if args.kind == "submit":
        result = submit(args.workdir, args.key)
    else:
        result = worker(args.workdir, args.spool, args.model_dir, args.threads, args.batch_size)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
