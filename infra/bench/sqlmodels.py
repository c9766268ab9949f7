"""Query models (manifest task ``sql``, run by DuckDB) beside an ONNX model on the generic
function: cold start, query latency and memory of ``listing-ranker``, with the spam detector
(an ONNX graph served by the same function) measured the same way in the same run.

1. Cold start: fresh processes of ``infra/bench/coldstart.py``, ``BENCH_SQL_COLD_RUNS``
   (default 5) of each, interleaved: the model alone (kind ``sql``: ``SqlModel.from_settings``,
   files verified, tables loaded into DuckDB, the database sealed, its columns checked; kind
   ``onnx``: ``OnnxModel.from_settings``, files verified, session created and run once on
   zeros), then one answer; and the whole function (kind ``oip``: functions/onnx's Lambda
   handler imported with ``LAMINA_MODELS`` set to one model, or to both as deployed, then one
   request per model through it). Time from the child's first line (before any import) to
   imports done, model loaded and first answer; RSS once imported, once loaded, and the peak.
2. Query latency: one process (this one) imports the function's handler on both models, as
   deployed (``LAMINA_MODELS``=spam-detector,listing-ranker; ``LAMINA_INTRA_OP_THREADS`` 0,
   the function's default: ONNX Runtime on every CPU available, DuckDB on one thread), then
   ``BENCH_SQL_REQUESTS`` (default 500) requests of each contender after ``WARMUP`` untimed
   ones, in ``ROUNDS`` blocks taken in turn: at the model (``SqlModel.predict``, the same with
   DuckDB on every CPU, ``SqlModel.infer`` on the protocol's tensors, the spam detector's
   ``OnnxModel.infer``, and ``SqlModel.predict`` right after an untimed ``OnnxModel.infer``:
   one process serves both, and ONNX Runtime's intra-op threads spin on after a run) and
   through the handler (API Gateway HTTP API events: Powertools,
   Mangum, FastAPI, the model, JSON) for ``POST /api/v1/models/listing-ranker/predict``,
   ``POST /v2/models/listing-ranker/infer``, ``POST /v2/models/spam-detector/infer`` and
   ``GET /v2/health/live`` (the stack without a model). The listing-ranker requests vary:
   every region in turn, ``top_k``, ``min_reviews`` and ``min_rooms`` drawn with a fixed seed;
   the spam detector's are the features of distinct synthetic messages. Events are built
   before the clock starts; every answer is checked after it stops (the predict route's rows
   against ``SqlModel.predict``'s).
3. Data: rows, columns and bytes of each table (files as pinned; in DuckDB's memory,
   ``duckdb_memory()``, after loading them as the model does).

Run by ``infra.bench.run`` (``run_in_child``: a fresh process) and alone:
``python -m infra.bench.sqlmodels`` prints the docs/benchmarks.md section on stdout (and the
results as JSON on stderr); ``--render FILE`` prints the section of results kept earlier (KEPT).
Environment: ``BENCH_SQL`` (0: ``infra.bench.run`` skips the phase), ``BENCH_SQL_REQUESTS``,
``BENCH_SQL_COLD_RUNS``. listing-ranker is built into build/models if missing (a second);
the spam detector must be built (``make models``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from infra.bench.env import QUIET_ENV, apply_quiet_env, cpu_info
from infra.bench.measure import (
    REPO_ROOT,
    BenchError,
    ColdStart,
    CpuMeter,
    cold_starts,
    json_from_child,
    markdown_table,
)

KEPT = REPO_ROOT / "build" / "bench" / "sql-results.json"
RANKER_DIR = REPO_ROOT / "build" / "models" / "listing-ranker"
SPAM_DIR = REPO_ROOT / "build" / "models" / "spam-detector"
RANKER = "listing-ranker"
SPAM = "spam-detector"

SKIP_ENV = "BENCH_SQL"
REQUESTS_ENV = "BENCH_SQL_REQUESTS"
COLD_RUNS_ENV = "BENCH_SQL_COLD_RUNS"
DEFAULT_REQUESTS = 500
DEFAULT_COLD_RUNS = 5
WARMUP = 50
ROUNDS = 5  # blocks of each contender's timed requests, in turn
SEED = 20_260_105
SPAM_SEED = 7  # the messages: not the detector's training (1) or held-out (2) seeds
TOP_K = (1, 5, 10, 20, 50, 100)
MIN_REVIEWS = (1, 3, 5, 10, 20)
MIN_ROOMS = (1, 1, 2, 3)
BUSY_CPUS = 0.25  # other processes' average CPU use above which the section says so
VERSIONED = ("duckdb", "onnxruntime", "fastapi", "mangum", "aws-lambda-powertools")

# Rows of the tables, in order; "model" rows call the loaded model, "app" rows the handler.
LAT_PREDICT = f"{RANKER}: `SqlModel.predict`"
LAT_PREDICT_N = f"{RANKER}: `SqlModel.predict`, DuckDB on every CPU"
LAT_SQL_INFER = f"{RANKER}: `SqlModel.infer` (tensors)"
LAT_SPAM_INFER = f"{SPAM}: `OnnxModel.infer`"
LAT_PREDICT_AFTER_ONNX = f"{RANKER}: `SqlModel.predict` right after a {SPAM} `OnnxModel.infer`"
LAT_APP_PREDICT = f"{RANKER}: POST /api/v1/models/{RANKER}/predict"
LAT_APP_SQL_INFER = f"{RANKER}: POST /v2/models/{RANKER}/infer"
LAT_APP_SPAM_INFER = f"{SPAM}: POST /v2/models/{SPAM}/infer"
LAT_APP_LIVE = "GET /v2/health/live (no model)"
COLD_SQL = f"{RANKER}: `SqlModel` alone"
COLD_ONNX = f"{SPAM}: `OnnxModel` alone"
COLD_APP_SQL = f"{RANKER}: whole function"
COLD_APP_ONNX = f"{SPAM}: whole function"
COLD_APP_BOTH = "both: whole function (as deployed)"


# --- results -------------------------------------------------------------------------------


class Table(BaseModel):
    name: str
    format: str  # parquet or csv
    file_bytes: int
    rows: int
    columns: int


class Cold(BaseModel):
    """Fresh processes of one kind: medians, and the slowest (or largest) run."""

    label: str
    kind: str  # coldstart.py's --kind
    runs: int
    seconds: float  # child's clock: first line (before imports) -> first answer, median
    seconds_max: float
    wall_s: float  # parent's clock around the process (interpreter start included), median
    wall_max_s: float
    imports_s: float
    load_s: float
    first_s: float
    imports_rss_mb: float
    loaded_rss_mb: float
    peak_rss_mb: float  # VmHWM, median
    peak_rss_max_mb: float

    @classmethod
    def of(cls, label: str, kind: str, runs: int, c: ColdStart) -> Cold:
        return cls(
            label=label,
            kind=kind,
            runs=runs,
            seconds=c.seconds.median,
            seconds_max=c.seconds.high,
            wall_s=c.wall_s.median,
            wall_max_s=c.wall_s.high,
            imports_s=c.imports_s,
            load_s=c.load_s,
            first_s=c.first_s,
            imports_rss_mb=c.imports_rss_mb,
            loaded_rss_mb=c.loaded_rss_mb,
            peak_rss_mb=c.rss_mb.median,
            peak_rss_max_mb=c.rss_mb.high,
        )


class Latency(BaseModel):
    label: str
    where: str  # "model" or "app"
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, label: str, where: str, samples_ms: Sequence[float]) -> Latency:
        values = np.asarray(samples_ms, dtype=np.float64)
        p50, p95, p99 = (float(x) for x in np.percentile(values, [50, 95, 99]))
        return cls(
            label=label,
            where=where,
            requests=len(values),
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
            mean_ms=float(values.mean()),
            max_ms=float(values.max()),
        )


class SqlResults(BaseModel):
    ranker_dir: str
    spam_dir: str
    ranker_version: str
    tables: list[Table]
    memory_bytes: int  # the tables in DuckDB's memory (duckdb_memory(): IN_MEMORY_TABLE)
    query_bytes: int
    max_rows: int
    timeout_ms: int
    memory_limit_mb: int  # LAMINA_SQL_MEMORY_LIMIT_MB in effect
    threads: int  # CPUs available: ONNX Runtime's threads, and DuckDB's in the "every CPU" row
    requests: int
    warmup: int
    rounds: int = ROUNDS
    cold_runs: int
    regions: list[str]
    top_k: list[int]
    min_reviews: list[int]
    min_rooms: list[int]
    rows_mean: float  # rows a timed listing-ranker request returned
    rows_max: int
    predict_body_bytes: float  # mean size of the predict route's JSON answer
    mismatches: int  # predict-route answers whose rows differ from SqlModel.predict's
    cold: list[Cold]
    latency: list[Latency]
    versions: dict[str, str]
    cpu: str
    duration_s: float
    # CPUs other processes of the machine used on average (/proc/stat minus this process and
    # its children): a busy machine widens the tails
    other_cpus_cold: float = 0.0
    other_cpus_latency: float = 0.0

    def lat(self, label: str) -> Latency | None:
        return next((r for r in self.latency if r.label == label), None)

    def cold_of(self, label: str) -> Cold | None:
        return next((c for c in self.cold if c.label == label), None)


# --- settings and models -------------------------------------------------------------------


def enabled() -> bool:
    """BENCH_SQL=0 skips the phase in infra.bench.run."""
    return os.environ.get(SKIP_ENV, "").strip() != "0"


def _number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise BenchError(f"{name} must be a positive integer, not {raw!r}")
    return int(raw)


def ensure_models() -> None:
    """The two model directories: listing-ranker built if missing (about a second; the
    build checks its rankings against Python), the spam detector required."""
    if not (SPAM_DIR / "manifest.json").is_file():
        raise BenchError(
            f"no spam detector at {SPAM_DIR}: run `make models` (or `lamina models build "
            "--model spam-detector`)"
        )
    if not (RANKER_DIR / "manifest.json").is_file():
        print(f"bench: building {RANKER} into {RANKER_DIR}", file=sys.stderr, flush=True)
        from lamina_tools.models import listings

        try:
            listings.build(RANKER_DIR)
        except Exception as exc:
            raise BenchError(
                f"cannot build {RANKER} ({exc}): run `lamina models build --model {RANKER}`"
            ) from exc


def _short(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def data_stats(model: Any) -> tuple[list[Table], int]:
    """Each table of ``model`` (a SqlModel): its file's size, and rows and columns once
    loaded into a DuckDB database of this function's own the way the model loads it; and
    the bytes DuckDB holds for them in memory."""
    import duckdb

    tables: list[Table] = []
    db = duckdb.connect(":memory:")
    try:
        for t in model.spec.tables:
            if t.file is None:
                raise BenchError(f"table {t.name} is an S3 object: the bench reads files")
            path = model.model_dir / t.file
            reader = (
                f"read_parquet({_literal(str(path))})"
                if t.format == "parquet"
                else f"read_csv({_literal(str(path))}, header = true)"
            )
            db.execute(f'CREATE TABLE "{t.name}" AS SELECT * FROM {reader}')
            row = db.execute(
                "SELECT column_count FROM duckdb_tables() WHERE table_name = ?",
                [t.name],
            ).fetchone()
            assert row is not None
            count = db.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()
            assert count is not None
            tables.append(
                Table(
                    name=t.name,
                    format=t.format,
                    file_bytes=path.stat().st_size,
                    rows=int(count[0]),
                    columns=int(row[0]),
                )
            )
        memory = db.execute(
            "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'"
        ).fetchone()
    finally:
        db.close()
    return tables, int(memory[0]) if memory else 0


# --- cold start ----------------------------------------------------------------------------


def measure_cold(runs: int) -> list[Cold]:
    """Fresh processes, interleaved; ``--threads 0``: LAMINA_INTRA_OP_THREADS as deployed."""
    contenders = {
        COLD_SQL: ("sql", RANKER_DIR),
        COLD_ONNX: ("onnx", SPAM_DIR),
        COLD_APP_SQL: ("oip", RANKER_DIR),
        COLD_APP_ONNX: ("oip", SPAM_DIR),
        COLD_APP_BOTH: ("oip", Path(f"{SPAM_DIR},{RANKER_DIR}")),
    }
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_URI", "LAMINA_MODELS")}
    measured = cold_starts(contenders, {**env, **QUIET_ENV}, 0, runs)
    return [Cold.of(label, contenders[label][0], runs, cold) for label, cold in measured.items()]


# --- latency -------------------------------------------------------------------------------


def ranker_requests(model: Any, n: int) -> list[dict[str, Any]]:
    """``n`` parameter sets for listing-ranker: every region in turn, the rest drawn with a
    fixed seed."""
    region = next(p for p in model.spec.parameters if p.name == "region")
    regions = list(region.allowed or [])
    if not regions:
        raise BenchError(f"{RANKER}'s region parameter lists no allowed values")
    rng = random.Random(SEED)
    return [
        {
            "region": regions[i % len(regions)],
            "top_k": rng.choice(TOP_K),
            "min_reviews": rng.choice(MIN_REVIEWS),
            "min_rooms": rng.choice(MIN_ROOMS),
        }
        for i in range(n)
    ]


def spam_rows(n: int) -> list[list[float]]:
    from lamina_tools.models.spam import features, generate

    return [features(text) for text, _ in generate(n, SPAM_SEED)]


@dataclass
class Contender:
    label: str
    where: str
    args: list[Any]  # one per request, built before the clock starts
    call: Callable[[Any], Any]
    check: Callable[[int, Any], object]  # request index, answer; raises if wrong
    samples: list[float]
    before: Callable[[int], object] | None = None  # untimed, just before request i


def _run(c: Contender, indexes: range) -> None:
    for i in indexes:
        arg = c.args[i]
        if c.before is not None:
            c.before(i)
        start = time.perf_counter()
        answer = c.call(arg)
        elapsed = time.perf_counter() - start
        c.check(i, answer)
        c.samples.append(elapsed * 1e3)


def _in_rounds(contenders: Sequence[Contender], warmup: int, rounds: int) -> None:
    """Each contender's warm-up, then its timed requests in ``rounds`` blocks, one block of
    every contender per round: drifting load hits all alike, and no call runs right after
    another contender's (ONNX Runtime's threads spin on after a run: a DuckDB query that
    follows at once shares the CPUs with them; the "right after" row measures that)."""
    for c in contenders:
        _run(c, range(warmup))
        c.samples.clear()
    total = len(contenders[0].args)
    bounds = [warmup + (total - warmup) * k // rounds for k in range(rounds + 1)]
    for start, stop in itertools.pairwise(bounds):
        for c in contenders:
            _run(c, range(start, stop))


def measure_latency(requests: int, threads: int) -> dict[str, Any]:
    """Both models in one function, as deployed; returns the latency rows and what the
    section reports about the requests and the data."""
    os.environ.pop("MODEL_URI", None)
    os.environ["LAMINA_MODELS"] = f"{SPAM_DIR},{RANKER_DIR}"
    os.environ["LAMINA_INTRA_OP_THREADS"] = "0"  # the function's default
    # A function of several models prints each load time as an EMF line on stdout even
    # under POWERTOOLS_METRICS_DISABLED (single_metric): kept off this module's stdout.
    with contextlib.redirect_stdout(sys.stderr):
        from functions.onnx.app import served
        from functions.onnx.handler import handler
    from infra.bench.lambda_event import LambdaContext, http_api_event, ok_body
    from lamina.inference.onnx_model import InferRequest, InputTensor
    from lamina.inference.sql_model import SqlModel

    service = served.slot.get()
    ranker = service.models[RANKER]
    spam = service.models[SPAM]
    if not isinstance(ranker, SqlModel):
        raise BenchError(f"{RANKER_DIR} is not a query model")
    every_cpu = SqlModel.from_settings(
        RANKER_DIR,
        verify=True,
        settings=served.settings.model_copy(update={"intra_op_threads": threads}),
    )
    context = LambdaContext(function_name="lamina-bench-onnx")
    total = WARMUP + requests
    params = ranker_requests(ranker, total)
    expected = [ranker.predict(p).rows for p in params]  # untimed: what every route must give
    datatypes = {p.name: p.datatype for p in ranker.spec.parameters}
    spam_input = spam.inputs[0]
    features = spam_rows(total)

    def sql_tensors(p: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"name": k, "datatype": datatypes[k], "shape": [1], "data": [v]} for k, v in p.items()
        ]

    def spam_tensor(row: list[float]) -> dict[str, Any]:
        return {"name": spam_input.name, "datatype": "FP32", "shape": [1, len(row)], "data": row}

    def tensors(body: list[dict[str, Any]]) -> InferRequest:
        return InferRequest([InputTensor(t["name"], t["datatype"], t["shape"], t["data"])
                             for t in body])  # fmt: skip

    def event(method: str, path: str, body: dict[str, Any] | None, i: int) -> dict[str, Any]:
        return http_api_event(method, path, body, f"bench-sql-{i}")

    def send(e: dict[str, Any]) -> dict[str, Any]:
        return handler(e, context)

    def count_is(i: int, n: int, what: str) -> None:
        if n != len(expected[i]):
            raise RuntimeError(f"{what}: {n} rows for {params[i]}, not {len(expected[i])}")

    mismatches = [0]
    body_bytes: list[int] = []

    def check_predict_route(i: int, response: dict[str, Any]) -> None:
        body = ok_body(response)
        count_is(i, body["row_count"], "the predict route")
        if [tuple(row.values()) for row in body["rows"]] != expected[i]:
            mismatches[0] += 1
        body_bytes.append(len(response["body"]))

    def check_infer_route(i: int, response: dict[str, Any]) -> None:
        count_is(i, ok_body(response)["outputs"][0]["shape"][0], "the infer route")

    def check_spam_route(_: int, response: dict[str, Any]) -> None:
        if ok_body(response)["outputs"][0]["shape"][0] != 1:
            raise RuntimeError("the spam detector did not answer one row")

    def check_spam(_: int, result: Any) -> None:
        if result.outputs[0].shape[0] != 1:
            raise RuntimeError("the spam detector did not answer one row")

    route = f"/api/v1/models/{RANKER}/predict"
    spam_requests = [tensors([spam_tensor(f)]) for f in features]
    contenders = [
        Contender(LAT_PREDICT, "model", params, ranker.predict,
                  lambda i, r: count_is(i, len(r.rows), "SqlModel.predict"), []),
        Contender(LAT_PREDICT_N, "model", params, every_cpu.predict,
                  lambda i, r: count_is(i, len(r.rows), "SqlModel.predict"), []),
        Contender(LAT_SQL_INFER, "model", [tensors(sql_tensors(p)) for p in params],
                  ranker.infer, lambda i, r: count_is(i, r.outputs[0].shape[0], "infer"), []),
        Contender(LAT_SPAM_INFER, "model", spam_requests, spam.infer, check_spam, []),
        Contender(LAT_PREDICT_AFTER_ONNX, "model", params, ranker.predict,
                  lambda i, r: count_is(i, len(r.rows), "SqlModel.predict"), [],
                  before=lambda i: spam.infer(spam_requests[i])),
        Contender(LAT_APP_PREDICT, "app",
                  [event("POST", route, {"parameters": p}, i) for i, p in enumerate(params)],
                  send, check_predict_route, []),
        Contender(LAT_APP_SQL_INFER, "app",
                  [event("POST", f"/v2/models/{RANKER}/infer", {"inputs": sql_tensors(p)}, i)
                   for i, p in enumerate(params)],
                  send, check_infer_route, []),
        Contender(LAT_APP_SPAM_INFER, "app",
                  [event("POST", f"/v2/models/{SPAM}/infer", {"inputs": [spam_tensor(f)]}, i)
                   for i, f in enumerate(features)],
                  send, check_spam_route, []),
        Contender(LAT_APP_LIVE, "app",
                  [event("GET", "/v2/health/live", None, i) for i in range(total)],
                  send, lambda _, r: ok_body(r), []),
    ]  # fmt: skip
    _in_rounds(contenders, WARMUP, ROUNDS)
    rows = [len(r) for r in expected[WARMUP:]]
    tables, memory = data_stats(ranker)
    every_cpu.close()
    return {
        "latency": [Latency.of(c.label, c.where, c.samples) for c in contenders],
        "rows_mean": statistics.mean(rows),
        "rows_max": max(rows),
        "predict_body_bytes": statistics.mean(body_bytes[WARMUP:]),
        "mismatches": mismatches[0],
        "tables": tables,
        "memory_bytes": memory,
        "ranker": ranker,
        "regions": sorted({p["region"] for p in params}, key=[p["region"] for p in params].index),
        "memory_limit_mb": served.settings.sql_memory_limit_mb,
    }


def measure() -> SqlResults:
    started = time.perf_counter()
    requests = _number(REQUESTS_ENV, DEFAULT_REQUESTS)
    cold_runs = _number(COLD_RUNS_ENV, DEFAULT_COLD_RUNS)
    ensure_models()
    from lamina.inference.session import available_cpus

    threads = available_cpus()
    meter = CpuMeter()
    cold = measure_cold(cold_runs)  # first: nothing loaded here yet
    cold_contention = meter.stop()
    meter = CpuMeter()
    lat = measure_latency(requests, threads)
    latency_contention = meter.stop()
    ranker = lat["ranker"]
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    model_name, flags = cpu_info()
    return SqlResults(
        ranker_dir=_short(RANKER_DIR),
        spam_dir=_short(SPAM_DIR),
        ranker_version=ranker.manifest.version,
        tables=lat["tables"],
        memory_bytes=lat["memory_bytes"],
        query_bytes=(RANKER_DIR / ranker.manifest.model_file).stat().st_size,
        max_rows=ranker.spec.max_rows,
        timeout_ms=ranker.spec.timeout_ms,
        memory_limit_mb=lat["memory_limit_mb"],
        threads=threads,
        requests=requests,
        warmup=WARMUP,
        rounds=ROUNDS,
        cold_runs=cold_runs,
        regions=lat["regions"],
        top_k=sorted(set(TOP_K)),
        min_reviews=sorted(set(MIN_REVIEWS)),
        min_rooms=sorted(set(MIN_ROOMS)),
        rows_mean=lat["rows_mean"],
        rows_max=lat["rows_max"],
        predict_body_bytes=lat["predict_body_bytes"],
        mismatches=lat["mismatches"],
        cold=cold,
        latency=lat["latency"],
        versions=versions,
        cpu=f"{model_name}; {flags}",
        duration_s=time.perf_counter() - started,
        other_cpus_cold=cold_contention.others_cores,
        other_cpus_latency=latency_contention.others_cores,
    )


def run_in_child() -> SqlResults:
    """``measure`` in a fresh process (no PyTorch, no other model loaded), for
    infra.bench.run; its JSON is kept at KEPT."""
    return SqlResults.model_validate_json(
        json_from_child("infra.bench.sqlmodels", None, None, KEPT)
    )


# --- docs/benchmarks.md ----------------------------------------------------------------------


_table = markdown_table


def _kb(n: float) -> str:
    return f"{n / 1024:,.0f} KiB" if n < 2**20 else f"{n / 2**20:,.1f} MiB"


def _values(values: Sequence[object]) -> str:
    return ", ".join(str(v) for v in values)


def _comparison(s: SqlResults) -> str:
    """What the rows say, in numbers: the SQL model against the ONNX one."""
    text = ""
    predict, spam = s.lat(LAT_APP_PREDICT), s.lat(LAT_APP_SPAM_INFER)
    model, onnx, live = s.lat(LAT_PREDICT), s.lat(LAT_SPAM_INFER), s.lat(LAT_APP_LIVE)
    if predict and spam and model and onnx:
        text += (
            f"Through the function, a listing-ranker query takes p50 {predict.p50_ms:.2f} ms "
            f"(p99 {predict.p99_ms:.2f} ms), {predict.p50_ms / spam.p50_ms:.1f}x the spam "
            f"detector's p50 ({spam.p50_ms:.2f} ms, p99 {spam.p99_ms:.2f} ms). At the model "
            f"the query (a join and aggregation over {sum(t.rows for t in s.tables):,} rows) "
            f"takes p50 {model.p50_ms:.2f} ms, the spam detector's graph {onnx.p50_ms:.3f} ms"
        )
        text += f"; the stack alone (GET /v2/health/live) {live.p50_ms:.2f} ms. " if live else ". "
    every = s.lat(LAT_PREDICT_N)
    if model and every:
        text += (
            f"DuckDB on {s.threads} threads instead of one: p50 {every.p50_ms:.2f} ms "
            f"against {model.p50_ms:.2f} ms. "
        )
    after = s.lat(LAT_PREDICT_AFTER_ONNX)
    if model and after:
        text += (
            f"A query right after a spam-detector run in the same process: p50 "
            f"{after.p50_ms:.2f} ms, p95 {after.p95_ms:.2f} ms (alone {model.p50_ms:.2f} and "
            f"{model.p95_ms:.2f} ms): ONNX Runtime's intra-op threads spin on for a while "
            "after a run (`session.intra_op.allow_spinning`, lamina.inference.session) and "
            f"share the {s.threads} CPUs with DuckDB's thread. "
        )
    sql, onnx_cold = s.cold_of(COLD_APP_SQL), s.cold_of(COLD_APP_ONNX)
    alone, onnx_alone = s.cold_of(COLD_SQL), s.cold_of(COLD_ONNX)
    if sql and onnx_cold:
        text += (
            f"Cold, the function on listing-ranker answers after {sql.seconds:.2f} s "
            f"(median; on the spam detector {onnx_cold.seconds:.2f} s) and peaks at "
            f"{sql.peak_rss_mb:.0f} MB ({onnx_cold.peak_rss_mb:.0f} MB)"
        )
        if alone and onnx_alone:
            text += (
                f"; alone, `SqlModel` takes {alone.imports_s:.2f} s to import (DuckDB, and "
                "ONNX Runtime, which `lamina.inference` brings along) and "
                f"{alone.load_s * 1e3:.0f} ms to load, and holds "
                f"{alone.loaded_rss_mb - alone.imports_rss_mb:.0f} MB more once loaded "
                f"(`OnnxModel`: {onnx_alone.imports_s:.2f} s, {onnx_alone.load_s * 1e3:.0f} ms, "
                f"{onnx_alone.loaded_rss_mb - onnx_alone.imports_rss_mb:.0f} MB)"
            )
        text += ". "
    return text.strip()


def section(s: SqlResults) -> str:
    """The "Query models (DuckDB)" section of docs/benchmarks.md."""
    tables = ", ".join(
        f"`{t.name}` {t.rows:,} rows x {t.columns} columns ({t.format}, {_kb(t.file_bytes)})"
        for t in s.tables
    )
    intro = (
        "## Query models (DuckDB) beside an ONNX model\n\n"
        f"`python -m infra.bench.sqlmodels`: `{s.ranker_dir}` (listing-ranker version "
        f"{s.ranker_version}, manifest task `sql`, docs/sql-models.md) and `{s.spam_dir}` "
        "(an ONNX graph, 5 features to a label and two probabilities) on the generic "
        "function (`functions/onnx`), on the same machine (CPU: "
        f"{s.cpu}); DuckDB {s.versions.get('duckdb', '?')}, ONNX Runtime "
        f"{s.versions.get('onnxruntime', '?')}. This section took {s.duration_s:.0f} s. "
        "It also runs alone: `.venv/bin/python -m infra.bench.sqlmodels` "
        f"(`{REQUESTS_ENV}=100 {COLD_RUNS_ENV}=2` for a quick look; `{SKIP_ENV}=0 make bench` "
        "skips it)."
    )
    data = (
        f"**Data**: {tables}; in DuckDB's memory {_kb(s.memory_bytes)} once loaded "
        f"(`duckdb_memory()`); the query {s.query_bytes:,} bytes (`max_rows` {s.max_rows}, "
        f"`timeout_ms` {s.timeout_ms:,}, `LAMINA_SQL_MEMORY_LIMIT_MB` {s.memory_limit_mb}). "
        f"**Requests**: {s.requests:,} timed per row after {s.warmup} untimed, in "
        f"{s.rounds} blocks, one block of every row per round; listing-ranker's parameters: every "
        f"region in turn ({_values(s.regions)}), `top_k` from {_values(s.top_k)}, "
        f"`min_reviews` from {_values(s.min_reviews)}, `min_rooms` from "
        f"{_values(s.min_rooms)} (fixed seed), {s.rows_mean:.1f} rows per answer on average "
        f"(at most {s.rows_max}; the predict route's JSON {s.predict_body_bytes / 1024:.1f} KiB "
        "on average); the spam detector's: the features of a different synthetic message "
        "each time."
    )
    settings = (
        "**Settings**: as deployed, both models in one process (`LAMINA_MODELS`), "
        f"`LAMINA_INTRA_OP_THREADS` 0: ONNX Runtime on the {s.threads} CPUs available, "
        "DuckDB on one thread (a query model takes `LAMINA_INTRA_OP_THREADS` or 1); the "
        f"second row runs DuckDB on {s.threads} threads. Other processes of the machine "
        f"used {s.other_cpus_cold:.2f} CPUs on average during the cold starts and "
        f"{s.other_cpus_latency:.2f} during the latency runs"
        + (
            ": they compete with these threads, so the tails (p95, p99, max) are pessimistic."
            if max(s.other_cpus_cold, s.other_cpus_latency) > BUSY_CPUS
            else "."
        )
    )
    cold_rows = [
        [
            c.label,
            f"{c.seconds:.3f} / {c.seconds_max:.3f}",
            f"{c.wall_s:.3f} / {c.wall_max_s:.3f}",
            f"{c.imports_s:.3f}",
            f"{c.load_s:.3f}",
            f"{c.first_s * 1e3:.1f}",
            f"{c.imports_rss_mb:.0f}",
            f"{c.loaded_rss_mb:.0f}",
            f"{c.peak_rss_mb:.0f} / {c.peak_rss_max_mb:.0f}",
        ]
        for c in s.cold
    ]
    cold = (
        f"**Cold start**: {s.cold_runs} fresh process{'es' if s.cold_runs != 1 else ''} of "
        "each (`infra/bench/coldstart.py`, "
        "interleaved). *Alone*: the model directory loaded as the function's loader does "
        "(`SqlModel.from_settings`: every file's sha256 verified, the tables loaded into an "
        "in-memory DuckDB database, the database sealed and the query's columns checked; "
        "`OnnxModel.from_settings`: files verified, session created and run once on zeros), "
        "then one answer (`predict(region=seoul)`; `infer` on zeros). *Whole function*: "
        "functions/onnx's Lambda handler imported with `LAMINA_MODELS` set (settings, "
        "loader, app), then one API Gateway request per model through it (`POST .../predict`; "
        "`POST /v2/.../infer` on zeros). Seconds from the process's first line (before any "
        "import) to the first answer, median / max, and the parent's wall clock around the "
        "process (interpreter start-up included); the phases are medians; RSS (MB) once "
        "imported and once loaded (medians), and the peak (`VmHWM`), median / max.\n\n"
        + _table(
            ["process", "first answer, s", "wall, s", "imports, s", "load, s",
             "first answer, ms", "RSS imported", "RSS loaded", "peak RSS"],
            cold_rows,
        )
    )  # fmt: skip
    lat_rows = [
        [
            r.label,
            "model" if r.where == "model" else "handler",
            f"{r.p50_ms:.3f}",
            f"{r.p95_ms:.3f}",
            f"{r.p99_ms:.3f}",
            f"{r.mean_ms:.3f}",
            f"{r.max_ms:.1f}",
        ]
        for r in s.latency
    ]
    agree = (
        "Every predict-route answer had the rows `SqlModel.predict` gives for its parameters."
        if s.mismatches == 0
        else f"**{s.mismatches} predict-route answers differed** from `SqlModel.predict`'s rows."
    )
    latency = (
        "**Query latency** (ms): at the model (the loaded objects the function serves, "
        "called directly) and through the function's Lambda handler in process (API Gateway "
        "HTTP API events; Powertools, Mangum, FastAPI, the model, JSON; events built before "
        "the clock starts, answers checked after it stops). " + agree + "\n\n"
        + _table(["call", "at", "p50", "p95", "p99", "mean", "max"], lat_rows)
    )  # fmt: skip
    parts = [intro, data, settings, cold, latency, _comparison(s)]
    return "\n\n".join(part for part in parts if part)


def main(argv: Sequence[str] | None = None) -> int:
    apply_quiet_env()
    parser = argparse.ArgumentParser(prog="python -m infra.bench.sqlmodels")
    parser.add_argument("--json", type=Path, help="write the results here (else: markdown)")
    parser.add_argument(
        "--render", type=Path, help="print the section of results kept earlier (--json, KEPT)"
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        print(section(SqlResults.model_validate_json(args.render.read_text("utf-8"))))
        return 0
    try:
        results = measure()
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    if args.json is not None:
        args.json.write_text(results.model_dump_json(indent=1), encoding="utf-8")
    else:
        print(section(results))
        print(json.dumps(results.model_dump(), indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
