"""Batch jobs in `make bench`: the pipeline against the raw model, memory, cost on Lambda.

One JSONL job of ``LAMINA_BENCH_BATCH_LINES`` lines (default 20,000; ``{"id", "text"}`` per
line, texts from ``infra.bench.corpus.job_texts``), measured on one machine with one thread
count (the CPUs available) for everything that embeds:

1. Raw model: ``OnnxEmbedder.embed`` (the int8 variant the worker image bakes) over all
   the job's texts, called once per chunk with exactly the chunks the submit step cuts
   (same texts, same sizes), then in one call.
2. Pipeline: ``lamina_tools.local_batch.run_local`` end to end on the same file with the same loaded
   model: the submit step in a thread streaming the file into the in-memory queue, the worker
   handler (Powertools partial batch response) polled as Lambda's event source does, parts
   written to a local directory standing in for S3, the manifest updated by compare-and-swap,
   finalization. Its throughput over the raw model's is the target (>= 90%).
3. Spread: ``LAMINA_BENCH_BATCH_REPEATS`` interleaved repeats of (1, chunked) and (2) on the
   first ``LAMINA_BENCH_BATCH_REPEAT_LINES`` lines (default 5,000).
4. Memory: the submit step alone on ``LINES`` and ``10 x LINES`` lines, each in a fresh process
   with a queue that only counts (``infra.bench.batchproc submit``), and one worker process
   (``infra.bench.batchproc worker``: model loaded, one SQS event per chunk message as with
   template.yaml's default BatchSize 1) over the first ``LAMINA_BENCH_BATCH_WORKER_LINES``
   lines (default 5,000), with 1 intra-op thread.
5. Cost per million embeddings on Lambda, from the worker's measured seconds per embedding at
   1 thread (``infra.bench.batch_results.cost``).

``python -m infra.bench.batch`` runs it alone and prints the "Batch jobs" section of
docs/benchmarks.md on stdout (``--json FILE`` writes the results instead, for
``infra.bench.run``). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from infra.bench.batch_results import (
    WORKER_BATCH_SIZE,
    BatchConfig,
    BatchResults,
    JobStats,
    Padding,
    PipelineRun,
    Repeat,
    Speed,
    SubmitRun,
    WorkerRun,
    cut,
)
from infra.bench.corpus import job_line, job_texts
from infra.bench.env import apply_quiet_env, child_env
from infra.bench.measure import REPO_ROOT, RESULT_PREFIX, BenchError, CpuMeter, json_from_child
from infra.bench.report import batch_section
from lamina_tools.queues import SendOnlyQueue

# --- helpers -----------------------------------------------------------------------------------

T = TypeVar("T")
_STARTED = time.perf_counter()


def log(message: str) -> None:
    print(
        f"[bench batch {time.perf_counter() - _STARTED:6.1f} s] {message}",
        file=sys.stderr,
        flush=True,
    )


def timed(texts: int, step: Callable[[], T]) -> tuple[Speed, T]:
    meter = CpuMeter()
    start = time.perf_counter()
    value = step()
    seconds = time.perf_counter() - start
    return Speed(texts=texts, seconds=seconds, others_cores=meter.stop().others_cores), value


def write_job(path: Path, texts: Sequence[str]) -> int:
    """Write ``texts`` as a JSONL job; returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for index, text in enumerate(texts):
            out.write(job_line(index, text))
    return path.stat().st_size


def run_child(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a batchproc child (stderr passes through); return its BENCH_RESULT JSON."""
    proc = subprocess.run(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise BenchError(f"{' '.join(command)} failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    return result


def slices(sizes: Sequence[int]) -> Iterator[slice]:
    start = 0
    for size in sizes:
        yield slice(start, start + size)
        start += size


@contextmanager
def scratch(name: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"lamina-bench-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def padding(lengths: Sequence[int], sizes: Sequence[int], budget: int, most: int) -> Padding:
    from lamina.inference.batching import plan_batches

    def planned(part: Sequence[int]) -> tuple[int, int]:
        runs = plan_batches(part, budget, most)
        return len(runs), sum(len(run) * max(part[i] for i in run) for run in runs)

    real = sum(lengths)
    chunks = [planned(lengths[part]) for part in slices(sizes)]
    one_runs, one_padded = planned(lengths)
    return Padding(
        chunk_runs=sum(runs for runs, _ in chunks),
        chunk_padding=sum(padded for _, padded in chunks) / real - 1,
        one_runs=one_runs,
        one_padding=one_padded / real - 1,
    )


# --- the measurements ------------------------------------------------------------------------


def measure_submit(lines: int, texts: Sequence[str]) -> SubmitRun:
    """The submit step alone on a job of ``lines`` lines (``texts`` stretched by job_texts)."""
    with scratch("submit") as workdir:
        key = f"incoming/submit-{lines}.jsonl"
        source = workdir / key
        if lines <= len(texts):
            size = write_job(source, texts[:lines])
        else:
            size = write_job(source, job_texts(lines))
        command = [sys.executable, "-m", "infra.bench.batchproc", "submit"]
        command += ["--workdir", str(workdir), "--key", key]
        child = run_child(command, child_env(1))
    return SubmitRun(
        lines=child["lines"],
        input_bytes=size,
        seconds=child["seconds"],
        chunks=child["chunks"],
        send_calls=child["send_calls"],
        imports_rss_mb=child["imports_rss_mb"],
        rss_mb=child["rss_mb"],
        ru_maxrss_mb=child["ru_maxrss_mb"],
    )


def plan_chunks(texts: Sequence[str]) -> tuple[list[int], list[int]]:
    """The submit step's chunks of a job of ``texts``: records and bytes per chunk, in chunk
    order (the real ``submit_job`` on a local bucket, each message parsed back)."""
    from lamina.batch.submit import ChunkMessage, submit_job
    from lamina.errors import JobError
    from lamina.storage import LocalObjects

    found: dict[int, tuple[int, int]] = {}
    lock = threading.Lock()

    def keep(bodies: Sequence[str]) -> None:
        for body in bodies:
            message = ChunkMessage.model_validate_json(body)
            with lock:
                found[message.chunk] = (len(message.records), len(body.encode("utf-8")))

    with scratch("plan") as workdir:
        key = "incoming/plan.jsonl"
        write_job(workdir / key, texts)
        manifest = submit_job(LocalObjects(workdir, error=JobError), SendOnlyQueue(keep), key)
    if manifest.chunks != len(found) or sorted(found) != list(range(len(found))):
        raise BenchError(f"the submit step sent {len(found)} chunks, its manifest says "
                         f"{manifest.chunks}")  # fmt: skip
    ordered = [found[n] for n in range(len(found))]
    return [records for records, _ in ordered], [size for _, size in ordered]


def measure_worker(config: BatchConfig, texts: Sequence[str], sizes: Sequence[int]) -> WorkerRun:
    """One worker process, 1 thread, over the first ``worker_lines`` lines as one job."""
    from lamina.batch.jobs import read_job_manifest
    from lamina.batch.submit import submit_job
    from lamina.errors import JobError
    from lamina.storage import LocalObjects

    lines = config.worker_lines
    with scratch("worker") as workdir:
        store = LocalObjects(workdir / "bucket", error=JobError)
        key = "incoming/worker.jsonl"
        write_job(workdir / "bucket" / key, texts[:lines])
        spool = workdir / "messages.jsonl"
        with spool.open("w", encoding="utf-8") as out:
            lock = threading.Lock()

            def keep(bodies: Sequence[str]) -> None:
                with lock:
                    for body in bodies:
                        out.write(json.dumps(body, ensure_ascii=False) + "\n")

            manifest = submit_job(store, SendOnlyQueue(keep), key)
        if manifest.chunks != len(cut(sizes, lines)):
            raise BenchError(f"the worker job has {manifest.chunks} chunks, expected {sizes}")
        command = [sys.executable, "-m", "infra.bench.batchproc", "worker"]
        command += ["--workdir", str(workdir / "bucket"), "--spool", str(spool)]
        command += ["--model-dir", config.model_dir, "--threads", "1"]
        command += ["--batch-size", str(WORKER_BATCH_SIZE)]
        meter = CpuMeter()
        child = run_child(command, child_env(1))
        others = meter.stop().others_cores
        final = read_job_manifest(store, manifest.job_id)
    if final.status != "succeeded" or final.ok != lines:
        raise BenchError(f"the worker job ended {final.status} with {final.ok}/{lines} vectors")
    return WorkerRun(
        lines=lines,
        chunks=child["chunks"],
        threads=1,
        invocations=child["invocations"],
        requests=child["requests"],
        load_s=child["load_s"],
        embed_seconds=child["embed_seconds"],
        imports_rss_mb=child["imports_rss_mb"],
        loaded_rss_mb=child["loaded_rss_mb"],
        rss_mb=child["rss_mb"],
        ru_maxrss_mb=child["ru_maxrss_mb"],
        others_cores=others,
    )


def run_pipeline(source: Path, embedder: Any) -> PipelineRun:
    from lamina.settings import Settings
    from lamina_tools.local_batch import run_local

    lines = sum(1 for _ in source.open("rb"))
    with scratch("pipeline") as workdir:
        speed, run = timed(lines, lambda: run_local(source, workdir, embedder, Settings()))
    m = run.manifest
    if m.status != "succeeded" or m.ok != lines or run.dead_letters:
        raise BenchError(f"the pipeline ended {m.status} with {m.ok}/{lines} vectors")
    return PipelineRun(
        speed=speed,
        status=m.status,
        ok=m.ok,
        lines=m.lines or 0,
        chunks=m.chunks or 0,
        embed_seconds=m.embed_seconds,
        submit_seconds=m.submit_seconds or 0.0,
        handler_batches=run.stats.batches,
    )


def first_part_vectors(source: Path, embedder: Any) -> np.ndarray:
    """Run the pipeline on ``source`` (one chunk) and read its part's vectors back."""
    from lamina.batch.jobs import JobKeys
    from lamina.settings import Settings
    from lamina_tools.local_batch import run_local

    with scratch("check") as workdir:
        run = run_local(source, workdir, embedder, Settings())
        part = workdir / JobKeys(run.manifest.job_id).part(0, "jsonl")
        rows = [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
    rows.sort(key=lambda row: row["line"])
    return np.asarray([row["embedding"] for row in rows], dtype=np.float32)


def measure(config: BatchConfig) -> BatchResults:
    from lamina.inference.embedder import OnnxEmbedder

    started = time.perf_counter()
    log(f"{config.lines:,} job texts")
    texts = job_texts(config.lines)

    submit_runs: list[SubmitRun] = []
    for lines in config.submit_lines:
        log(f"submit step alone, {lines:,} lines, fresh process")
        submit_runs.append(measure_submit(lines, texts))
    sizes, message_bytes = plan_chunks(texts)

    model_dir = Path(config.model_dir)
    embedder = OnnxEmbedder.load(model_dir, intra_op_threads=config.threads)
    embedder.embed(texts[:64])

    def raw_chunks(count: int) -> tuple[Speed, np.ndarray]:
        chunks = cut(sizes, count)

        def step() -> np.ndarray:
            first = None
            for part in slices(chunks):
                vectors = embedder.embed(texts[part]).vectors
                first = vectors if first is None else first
            assert first is not None
            return first

        return timed(count, step)

    with scratch("jobs") as jobs:
        source = jobs / "job.jsonl"
        size = write_job(source, texts)
        small = jobs / "job-small.jsonl"
        write_job(small, texts[: config.repeat_lines])
        first = jobs / "job-first-chunk.jsonl"
        write_job(first, texts[: sizes[0]])

        log(f"raw model, {len(sizes)} calls of the pipeline's chunk sizes, {config.lines:,} texts")
        raw, raw_first = raw_chunks(config.lines)
        log(f"  {raw.per_s:.1f} texts/s")
        log(f"pipeline (run_local), {config.lines:,} lines")
        pipeline = run_pipeline(source, embedder)
        log(f"  {pipeline.speed.per_s:.1f} texts/s, {pipeline.speed.per_s / raw.per_s:.1%} of raw")
        log(f"raw model, one call, {config.lines:,} texts")
        raw_one, result = timed(config.lines, lambda: embedder.embed(texts))
        log(f"  {raw_one.per_s:.1f} texts/s")
        tokens = result.token_counts
        padded = padding(tokens, sizes, embedder.token_budget, embedder.max_run_batch)
        truncated = sum(result.truncated)
        del result
        diff = float(np.abs(first_part_vectors(first, embedder) - raw_first).max())

        repeats: list[Repeat] = []
        for i in range(config.repeats):
            log(f"repeat {i + 1}/{config.repeats}: raw and pipeline, {config.repeat_lines:,} lines")
            if i % 2 == 0:
                raw_r, _ = raw_chunks(config.repeat_lines)
                pipe_r = run_pipeline(small, embedder)
            else:
                pipe_r = run_pipeline(small, embedder)
                raw_r, _ = raw_chunks(config.repeat_lines)
            repeats.append(Repeat(raw=raw_r, pipeline=pipe_r))
            log(f"  raw {raw_r.per_s:.1f}, pipeline {pipe_r.speed.per_s:.1f} texts/s")

    log(f"one worker process, 1 thread, {config.worker_lines:,} lines")
    worker = measure_worker(config, texts, sizes)
    chars = [len(text) for text in texts]
    job = JobStats(
        lines=config.lines,
        input_bytes=size,
        distinct_texts=len(set(texts)),
        chars_mean=statistics.mean(chars),
        chars_median=statistics.median(chars),
        chars_max=max(chars),
        tokens_mean=statistics.mean(tokens),
        tokens_median=statistics.median(tokens),
        tokens_max=max(tokens),
        truncated=truncated,
        chunks=len(sizes),
        records_per_chunk=sizes,
        message_bytes=message_bytes,
    )
    return BatchResults(
        config=config,
        duration_s=time.perf_counter() - started,
        job=job,
        raw_chunks=raw,
        raw_one=raw_one,
        padding=padded,
        pipeline=pipeline,
        max_abs_diff=diff,
        repeats=repeats,
        submit=submit_runs,
        worker=worker,
    )


KEPT = REPO_ROOT / "build" / "bench" / "batch-results.json"


def run_in_child(model_dir: Path, threads: int) -> BatchResults:
    """``measure`` in a fresh process (no PyTorch, no other model loaded), for infra.bench.run."""
    text = json_from_child("infra.bench.batch", model_dir, threads, KEPT)
    return BatchResults.model_validate_json(text)


def main(argv: Sequence[str] | None = None) -> int:
    from lamina.inference.session import available_cpus

    apply_quiet_env()
    parser = argparse.ArgumentParser(prog="python -m infra.bench.batch")
    parser.add_argument("--json", type=Path, help="write the results here (else: markdown)")
    parser.add_argument(
        "--model-dir", type=Path, default=REPO_ROOT / "build/models/all-MiniLM-L6-v2/int8"
    )
    parser.add_argument("--threads", type=int, default=0, help="0: the CPUs available")
    args = parser.parse_args(argv)
    try:
        if not (args.model_dir / "manifest.json").is_file():
            raise BenchError(f"no model in {args.model_dir}: run `make model`")
        config = BatchConfig.from_env(args.model_dir, args.threads or available_cpus())
        results = measure(config)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    if args.json is not None:
        args.json.write_text(results.model_dump_json(indent=1), encoding="utf-8")
    else:
        print(batch_section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
