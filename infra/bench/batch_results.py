"""The batch-job benchmark's data: its configuration, its results, Lambda's prices, the cost.

``infra.bench.batch`` measures and fills these in; ``infra.bench.report`` renders them (the
"Batch jobs" section of docs/benchmarks.md). They sit here, below both, because the batch
module's command line prints that section: were they in ``infra.bench.batch``, the report
would import the module that imports it, a cycle.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from infra.bench.measure import BenchError

# --- configuration ---------------------------------------------------------------------------

# Messages per worker invocation (the event source's BatchSize): template.yaml's default is 1
# (a chunk is already up to 1,000 records); 10 is SQS's largest batch without a window.
WORKER_BATCH_SIZE = 1
LARGE_BATCH_SIZE = 10
WORKER_MEMORY_MB = (2048, 1769)  # the worker's default memory size, and 1 full vCPU
FULL_VCPU_MB = 1769
PRICE_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_REQUEST = 0.20 / 1e6  # Lambda invocations
PRICE_SQS_REQUEST = 0.40 / 1e6
PRICE_S3_PUT = 0.005 / 1000
PRICE_S3_GET = 0.0004 / 1000
SQS_BILLING_UNIT = 64 * 1024  # SQS bills each 64 KiB of a request's payload as one request


def _number(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "") or str(default)
    if not raw.isdigit() or int(raw) < minimum:
        raise BenchError(f"{name} must be an integer >= {minimum}, not {raw!r}")
    return int(raw)


class BatchConfig(BaseModel):
    lines: int
    repeat_lines: int
    repeats: int
    worker_lines: int
    model_dir: str
    threads: int

    @property
    def submit_lines(self) -> list[int]:
        return [self.lines, 10 * self.lines]

    @classmethod
    def from_env(cls, model_dir: Path, threads: int) -> BatchConfig:
        lines = _number("LAMINA_BENCH_BATCH_LINES", 20_000)
        return cls(
            lines=lines,
            repeat_lines=min(lines, _number("LAMINA_BENCH_BATCH_REPEAT_LINES", 5_000)),
            repeats=_number("LAMINA_BENCH_BATCH_REPEATS", 3),
            worker_lines=min(lines, _number("LAMINA_BENCH_BATCH_WORKER_LINES", 5_000)),
            model_dir=str(model_dir),
            threads=threads,
        )


# --- results ---------------------------------------------------------------------------------


class Speed(BaseModel):
    """One timed pass over ``texts`` texts, and what else used the CPUs meanwhile."""

    texts: int
    seconds: float
    others_cores: float

    @property
    def per_s(self) -> float:
        return self.texts / self.seconds


class PipelineRun(BaseModel):
    speed: Speed
    status: str
    ok: int
    lines: int
    chunks: int
    embed_seconds: float  # the workers' model time, summed (manifest)
    submit_seconds: float
    handler_batches: int  # worker invocations (events of up to 10 messages)

    @property
    def model_share(self) -> float:
        """Model time over wall time: the pipeline's throughput over the raw model's, as far
        as this one run can tell (drift between runs does not enter it)."""
        return self.embed_seconds / self.speed.seconds


class Repeat(BaseModel):
    raw: Speed
    pipeline: PipelineRun

    @property
    def ratio(self) -> float:
        return self.pipeline.speed.per_s / self.raw.per_s


class JobStats(BaseModel):
    lines: int
    input_bytes: int
    distinct_texts: int
    chars_mean: float
    chars_median: float
    chars_max: int
    tokens_mean: float
    tokens_median: float
    tokens_max: int
    truncated: int
    chunks: int
    records_per_chunk: list[int]
    message_bytes: list[int]


class SubmitRun(BaseModel):
    lines: int
    input_bytes: int
    seconds: float
    chunks: int
    send_calls: int
    imports_rss_mb: float
    rss_mb: float  # VmHWM
    ru_maxrss_mb: float


class WorkerRun(BaseModel):
    lines: int
    chunks: int
    threads: int
    invocations: list[dict[str, float]]  # messages, records, seconds
    requests: dict[str, int]  # "PUT part", "GET manifest", ...
    load_s: float
    embed_seconds: float
    imports_rss_mb: float
    loaded_rss_mb: float
    rss_mb: float
    ru_maxrss_mb: float
    others_cores: float

    @property
    def seconds(self) -> float:
        return sum(item["seconds"] for item in self.invocations)

    @property
    def seconds_per_embedding(self) -> float:
        return self.seconds / self.lines

    def per_chunk(self, request: str) -> float:
        return self.requests.get(request, 0) / self.chunks


class Padding(BaseModel):
    """Padded tokens over real ones in the ONNX runs lamina plans (``plan_batches``), for the
    chunk-sized calls and for one call over the whole job."""

    chunk_runs: int
    chunk_padding: float  # padded tokens / real tokens - 1
    one_runs: int
    one_padding: float


class BatchResults(BaseModel):
    config: BatchConfig
    duration_s: float
    job: JobStats
    raw_chunks: Speed
    raw_one: Speed
    padding: Padding | None = None
    pipeline: PipelineRun
    max_abs_diff: float  # pipeline part 0 vs the raw model's first chunk
    repeats: list[Repeat]
    submit: list[SubmitRun]
    worker: WorkerRun

    @property
    def ratio(self) -> float:
        return self.pipeline.speed.per_s / self.raw_chunks.per_s


# --- cost --------------------------------------------------------------------------------------


class CostColumn(BaseModel):
    arch: str
    memory_mb: int
    gb_s: float
    compute: float
    requests: float
    sqs: float
    s3_put: float
    s3_get: float

    @property
    def total(self) -> float:
        return self.compute + self.requests + self.sqs + self.s3_put + self.s3_get


class Cost(BaseModel):
    seconds_per_embedding: float
    chunks_per_million: float
    invocations_per_million: float  # at WORKER_BATCH_SIZE
    sqs_requests_per_million: float
    puts_per_chunk: float
    gets_per_chunk: float
    columns: list[CostColumn]
    sqs_units_per_chunk: float  # with SQS's 64 KiB rule, for the note


def cost(r: BatchResults) -> Cost:
    """Cost per million embeddings on Lambda, from the worker's seconds per embedding."""
    w = r.worker
    chunks = 1e6 * r.job.chunks / r.job.lines
    invocations = chunks / WORKER_BATCH_SIZE
    sqs = 3 * chunks  # send + receive + delete per chunk
    puts = w.per_chunk("PUT part") + w.per_chunk("PUT manifest")
    gets = w.per_chunk("GET manifest")
    columns = []
    for arch, price in PRICE_GB_S.items():
        for memory in WORKER_MEMORY_MB:
            gb_s = w.seconds_per_embedding * 1e6 * memory / 1024
            columns.append(
                CostColumn(
                    arch=arch,
                    memory_mb=memory,
                    gb_s=gb_s,
                    compute=gb_s * price,
                    requests=invocations * PRICE_REQUEST,
                    sqs=sqs * PRICE_SQS_REQUEST,
                    s3_put=puts * chunks * PRICE_S3_PUT,
                    s3_get=gets * chunks * PRICE_S3_GET,
                )
            )
    mean_bytes = statistics.mean(r.job.message_bytes)
    units = math.ceil(mean_bytes / SQS_BILLING_UNIT)
    # send (one message per SendMessageBatch at this size) + receive + delete
    return Cost(
        seconds_per_embedding=w.seconds_per_embedding,
        chunks_per_million=chunks,
        invocations_per_million=invocations,
        sqs_requests_per_million=sqs,
        puts_per_chunk=puts,
        gets_per_chunk=gets,
        columns=columns,
        sqs_units_per_chunk=2 * units + 1,
    )


# --- helpers -----------------------------------------------------------------------------------


def cut(records_per_chunk: Sequence[int], lines: int) -> list[int]:
    """The chunks of the first ``lines`` lines: the chunker is greedy, so a prefix of the
    input is cut as the whole input is, its last chunk ending early."""
    sizes: list[int] = []
    for size in records_per_chunk:
        if sum(sizes) + size >= lines:
            sizes.append(lines - sum(sizes))
            break
        sizes.append(size)
    return sizes
