"""Vector search on PostgreSQL + pgvector: load, HNSW build, size, query latency and recall.

A PostgreSQL cluster of its own (``infra/local/postgres.sh start`` in a temporary directory,
on a free port of 127.0.0.1; stopped and removed at the end, whatever happens) gets
``BENCH_SEARCH_VECTORS`` (default 100,000) synthetic 384-dimensional vectors through
lamina's own ``PgVectorIndex`` (``lamina.search.pg``), the code ``lamina index load`` and
the search API run:

1. Load: ``upsert`` of every item into a new collection (binary COPY into a staging table,
   then INSERT ... ON CONFLICT, 5,000 rows per transaction), timed; then ``VACUUM ANALYZE``
   (what autovacuum does a minute later: done here so the planner's statistics, and the
   plans below, do not depend on when autovacuum wakes up).
2. ``build_index``: the HNSW index (vector_cosine_ops, m 16, ef_construction 64), timed;
   the table's and the index's size on disk.
3. Queries: 500 held-out vectors of the same distribution (none of them in the index),
   ``search(top_k=10)`` one at a time, at ``hnsw.ef_search`` 40, 100 and 200, and with the
   metadata filter ``{"bucket": 3}`` (a tenth of the items) at the default 100 and 200; latency
   p50/p99 (what the API's call costs: a pooled connection, its transaction, the settings
   and the query) and recall@10 against the exact top 10 (numpy, brute-force cosine in
   float64 over the same float32 vectors; for the filter, within the bucket). 100 more
   held-out queries warm each setting up first, untimed. EXPLAIN shows the plan.
4. Re-load: ``upsert`` of the same items again, timed: an idempotent load reports
   0 inserted, 0 updated, N unchanged.
5. Indexed load: the first ``INDEXED_LOAD_ITEMS`` items into a second collection whose HNSW
   index exists before any row goes in, in parts of ``PART_ITEMS`` (one upsert per part),
   timed: what a batch job that loads itself does (``lamina.search.jobload``: each part
   indexes its own rows, so no one statement outlasts a Lambda invocation), next to
   step 1 + 2 (load, then build), what ``lamina index load`` does.

The data (``dataset``): real sentence embeddings are neither uniform noise nor a few tight
blobs; they are anisotropic (a few directions carry most of the variance) and clustered by
topic. So: a fixed-seed Gaussian mixture of 1,000 components in a 384-dimensional space
whose variance falls off as a power law, eigenvalue_j ~ j^-0.87 in a random orthonormal
basis (the slope all-MiniLM-L6-v2's embeddings of the benchmark corpus show: their top
100 principal directions hold 74% of the variance, and so do these), plus a shared offset
of length 0.3 (real embeddings share a mean direction: random pairs have a cosine of
about 0.05 rather than 0). Centroids c_k ~ N(0, S) with S = Q diag(j^-0.87) Q^T scaled to
trace 1; an item is normalize(mu + c_k + 1.25 z), z ~ N(0, S), k uniform. The spread 1.25
gives neighbour cosines like real embeddings' (at 100,000 items a query's nearest item
about 0.59, its 10th 0.52, the 11th only 0.004 below) and clusters that overlap a little
(96% of an exact top 10 come from the query's own component): finding the top 10 takes
graph search among ~100 near-equidistant members, not just finding the right cluster.

Run by ``infra.bench.run`` (``run_in_child``: a fresh process) and alone:
``python -m infra.bench.search`` prints the docs/benchmarks.md section on stdout (and the
results as JSON on stderr). Environment: ``BENCH_SEARCH_VECTORS`` (items, default 100,000;
e.g. 10000 for a quick run; 0 makes ``infra.bench.run`` skip the phase).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from infra.bench.env import apply_quiet_env, cpu_info
from infra.bench.measure import REPO_ROOT, BenchError, json_from_child, markdown_table
from infra.local.postgres import PostgresError, start_postgres, stop_postgres

KEPT = REPO_ROOT / "build" / "bench" / "search-results.json"
STOP_TIMEOUT_S = 120.0

VECTORS_ENV = "BENCH_SEARCH_VECTORS"
DEFAULT_VECTORS = 100_000
MIN_VECTORS = 1_000  # the filter keeps a tenth: still many times top_k
DIM = 384
CENTROIDS = 1_000
SPECTRUM = 0.87  # eigenvalue_j ~ j^-SPECTRUM
SPREAD = 1.25  # an item's offset from its centroid, relative to the centroids' own spread
OFFSET = 0.3  # length of the shared mean direction
SEED = 384_100
QUERIES = 500
WARMUP_QUERIES = 100
TOP_K = 10
EF_SEARCHES = (40, 100, 200)
# The filter at LAMINA_SEARCH_EF_SEARCH's default and at these multiples of it: a filter
# that keeps a tenth of the items sends the scan ten times further down the ranking.
FILTERED_EF_FACTORS = (1, 2)
BUCKETS = 10
FILTER = {"bucket": 3}
COLLECTION = "bench"
INDEXED_COLLECTION = "bench_indexed"
INDEXED_LOAD_ITEMS = 20_000  # step 5: enough parts for a steady rate, a bounded time
PART_ITEMS = 1000  # a batch job's part: LAMINA_CHUNK_MAX_RECORDS' default
RECALL_FLOOR = 0.8  # a query whose recall@10 is below this is counted as poor
RECALL_TARGET = 0.95  # mean recall@10 the default ef_search should reach (a report target)


# --- results -------------------------------------------------------------------------------


class QueryRun(BaseModel):
    """One query setting over the held-out queries."""

    label: str
    ef_search: int
    filtered: bool
    queries: int
    candidates: int  # items the query may return (the filter's bucket, or all)
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    recall: float  # mean recall@10 against the exact top 10
    min_recall: float
    poor: int  # queries with recall@10 below RECALL_FLOOR
    poor_own_cluster: float | None = None  # share of the poor queries' results from their component
    plan: str  # EXPLAIN's scan of the table


class Step(BaseModel):
    seconds: float
    server_cpus: float  # PostgreSQL's CPU seconds (all its processes) per second of the step
    client_cpus: float  # this process's


class DataStats(BaseModel):
    """What the synthetic data looks like, from the exact top 10 of the queries."""

    top1_cosine: float  # mean over the queries
    top10_cosine: float  # mean cosine of the 10th neighbour
    gap_10_11: float  # mean cosine gap between the 10th and the 11th neighbour
    own_cluster: float  # share of the exact top 10 from the query's own mixture component
    random_pair_cosine: float  # mean cosine of random pairs of items
    variance_top100: float  # share of the variance in the top 100 principal directions


class SearchResults(BaseModel):
    vectors: int
    dim: int
    centroids: int
    spectrum: float
    spread: float
    offset: float
    seed: int
    queries: int
    warmup_queries: int
    top_k: int
    buckets: int
    data: DataStats
    load: Step
    loaded: tuple[int, int, int]  # inserted, updated, unchanged
    vacuum_analyze: Step
    build: Step
    reload: Step
    reloaded: tuple[int, int, int]
    indexed_load: Step | None = None  # step 5 (None in results from before it existed)
    indexed_items: int = 0
    slowest_part_s: float = 0.0
    table_bytes: int  # pg_total_relation_size: heap, TOAST and every index
    heap_bytes: int  # pg_relation_size of the table alone
    hnsw_bytes: int  # pg_relation_size of the HNSW index
    other_index_bytes: int  # primary key and the metadata GIN index
    runs: list[QueryRun]
    default_ef_search: int  # LAMINA_SEARCH_EF_SEARCH's default
    postgres: str
    pgvector: str
    settings: dict[str, str]  # SHOW of the server settings that matter here
    index_options: str  # the HNSW index's reloptions (m, ef_construction)
    cpu: str
    duration_s: float
    server_cpu_seconds: float  # PostgreSQL's processes, from its start to its stop

    def run(self, ef_search: int, *, filtered: bool = False) -> QueryRun | None:
        return next(
            (r for r in self.runs if r.ef_search == ef_search and r.filtered == filtered), None
        )


# --- the data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    vectors: np.ndarray  # (n, DIM) float32, unit length
    labels: np.ndarray  # (n,) mixture component of each item
    queries: np.ndarray  # (QUERIES, DIM)
    query_labels: np.ndarray
    warmup: np.ndarray  # (WARMUP_QUERIES, DIM), never scored


def dataset(n: int, seed: int = SEED) -> Dataset:
    """``n`` items, then the queries, then the warm-up queries: one fixed-seed draw of the
    mixture the module docstring describes."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    scale = np.arange(1, DIM + 1, dtype=np.float64) ** (-SPECTRUM / 2)
    scale /= np.sqrt(np.sum(scale**2))  # trace of the covariance: 1
    basis = (q * scale).T.astype(np.float32)  # g @ basis ~ N(0, Q diag(scale^2) Q^T)
    centroids = rng.standard_normal((CENTROIDS, DIM), dtype=np.float32) @ basis
    offset = rng.standard_normal(DIM).astype(np.float32)
    offset *= OFFSET / np.linalg.norm(offset)
    total = n + QUERIES + WARMUP_QUERIES
    labels = rng.integers(0, CENTROIDS, total)
    points = np.empty((total, DIM), dtype=np.float32)
    for start in range(0, total, 20_000):  # bounded temporaries
        part = slice(start, min(start + 20_000, total))
        noise = rng.standard_normal((part.stop - part.start, DIM), dtype=np.float32) @ basis
        block = offset + centroids[labels[part]] + SPREAD * noise
        points[part] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return Dataset(
        vectors=points[:n],
        labels=labels[:n],
        queries=points[n : n + QUERIES],
        query_labels=labels[n : n + QUERIES],
        warmup=points[n + QUERIES :],
    )


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact ``k`` nearest rows of ``vectors`` by cosine (unit vectors: the dot product)
    for each query, best first, and their scores: candidates from float32, ranked in float64."""
    wide = min(k + 20, len(vectors))
    found = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float64)
    for start in range(0, len(queries), 100):
        part = queries[start : start + 100]
        rough = part @ vectors.T
        candidates = np.argpartition(-rough, wide - 1, axis=1)[:, :wide]
        exact = np.einsum(
            "qd,qcd->qc", part.astype(np.float64), vectors[candidates].astype(np.float64)
        )
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        found[start : start + len(part)] = np.take_along_axis(candidates, order, axis=1)
        scores[start : start + len(part)] = np.take_along_axis(exact, order, axis=1)
    return found, scores


def data_stats(data: Dataset, top: np.ndarray, scores: np.ndarray) -> DataStats:
    """``top``, ``scores``: the queries' exact top TOP_K + 1 (``exact_top``)."""
    own = data.labels[top[:, :TOP_K]] == data.query_labels[:, None]
    sample = data.vectors[: min(2000, len(data.vectors))].astype(np.float64)
    half = len(sample) // 2
    pairs = np.sum(sample[:half] * sample[half : 2 * half], axis=1)
    centred = sample - sample.mean(axis=0)
    eigen = np.linalg.svd(centred, compute_uv=False) ** 2
    return DataStats(
        top1_cosine=float(scores[:, 0].mean()),
        top10_cosine=float(scores[:, TOP_K - 1].mean()),
        gap_10_11=float((scores[:, TOP_K - 1] - scores[:, TOP_K]).mean()),
        own_cluster=float(own.mean()),
        random_pair_cosine=float(pairs.mean()),
        variance_top100=float(eigen[:100].sum() / eigen.sum()),
    )


# --- the cluster ---------------------------------------------------------------------------


@contextmanager
def cluster() -> Iterator[tuple[str, Path]]:
    """A cluster of its own in a new temporary directory, on a free port: yields its DSN and
    its directory; stopped and removed on the way out, whatever happened."""
    directory = Path(tempfile.mkdtemp(prefix="lamina-bench-search-"))
    try:
        try:
            dsn = start_postgres(directory)
        except PostgresError as exc:
            raise BenchError(str(exc)) from exc
        yield dsn, directory
    except BaseException:
        try:
            _remove(directory)
        except BenchError as exc:  # the first error is the one to see; this one too
            print(f"bench: error: {exc}", file=sys.stderr)
        raise
    _remove(directory)


def _remove(directory: Path) -> None:
    """Stop the cluster in ``directory`` and delete it (and its relocated home, if the
    script had to put it under /var/tmp/lamina-pg: docs/postgres.md)."""
    pgdata = directory / "pgdata"
    home = pgdata.resolve().parent if pgdata.is_symlink() else None
    try:
        stop_postgres(directory, timeout=STOP_TIMEOUT_S)
    except PostgresError as exc:  # leave the files: they show what went wrong
        raise BenchError(str(exc)) from exc
    shutil.rmtree(directory, ignore_errors=True)
    if home is not None and home.parent == Path("/var/tmp/lamina-pg"):
        shutil.rmtree(home, ignore_errors=True)


def _stat_fields(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def server_cpu_seconds(directory: Path) -> float:
    """CPU seconds of the cluster's processes: the postmaster, its live children, and its
    finished ones (parallel build workers, closed connections: the postmaster's cutime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    postmaster = (directory / "pgdata" / "postmaster.pid").read_text().split()[0]
    fields = _stat_fields(postmaster)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or entry.name == postmaster:
            continue
        try:
            fields = _stat_fields(entry.name)
        except OSError:  # gone meanwhile
            continue
        if fields[1] == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@contextmanager
def timed(directory: Path, into: dict[str, Step], name: str) -> Iterator[None]:
    start = (time.perf_counter(), server_cpu_seconds(directory), _own_cpu_seconds())
    yield
    wall = time.perf_counter() - start[0]
    into[name] = Step(
        seconds=wall,
        server_cpus=(server_cpu_seconds(directory) - start[1]) / wall,
        client_cpus=(_own_cpu_seconds() - start[2]) / wall,
    )


# --- the measurements ----------------------------------------------------------------------


def _plan(dsn: str, table: str, vector: np.ndarray, ef_search: int, filtered: bool) -> str:
    """How PostgreSQL scans the table for ``PgVectorIndex.search``'s statement (the same
    SQL and settings, EXPLAIN'd)."""
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg import sql
    from psycopg.types.json import Jsonb

    condition = sql.SQL(" WHERE metadata @> %s") if filtered else sql.SQL("")
    statement = sql.SQL(
        "EXPLAIN (FORMAT JSON) SELECT id, 1 - (embedding <=> %s) AS score, text, metadata"
        " FROM {}{} ORDER BY embedding <=> %s LIMIT %s"
    ).format(sql.Identifier(table), condition)
    query = np.asarray(vector, dtype=np.float32)
    params: list[Any] = [query, *([Jsonb(FILTER)] if filtered else []), query, TOP_K]
    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
        if filtered:
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'strict_order', true)")
        row = conn.execute(statement, params).fetchone()
    assert row is not None
    plan = row[0][0]["Plan"] if isinstance(row[0], list) else json.loads(row[0])[0]["Plan"]
    steps: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        kind = node["Node Type"]
        if "Index Name" in node:
            kind += f" using {node['Index Name']}"
        if kind != "Limit":
            steps.append(kind)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return " > ".join(steps)


def measure_queries(
    index: Any,
    data: Dataset,
    truth: np.ndarray,
    ids: np.ndarray,
    *,
    label: str,
    ef_search: int,
    where: dict[str, Any] | None,
    plan: str,
    candidates: int,
) -> QueryRun:
    for vector in data.warmup:
        index.search(COLLECTION, vector, TOP_K, where=where)
    latencies, recalls, own = [], [], []
    for vector, exact, label_of_query in zip(data.queries, truth, data.query_labels, strict=True):
        start = time.perf_counter()
        hits = index.search(COLLECTION, vector, TOP_K, where=where)
        latencies.append((time.perf_counter() - start) * 1e3)
        found = [int(hit.id) for hit in hits]
        recalls.append(len(set(found) & set(ids[exact].tolist())) / TOP_K)
        own.append(float(np.mean(data.labels[found] == label_of_query)) if found else 0.0)
    ms = np.asarray(latencies)
    recall = np.asarray(recalls)
    poor = recall < RECALL_FLOOR
    return QueryRun(
        label=label,
        ef_search=ef_search,
        filtered=where is not None,
        queries=len(ms),
        candidates=candidates,
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        mean_ms=float(ms.mean()),
        max_ms=float(ms.max()),
        recall=float(recall.mean()),
        min_recall=float(recall.min()),
        poor=int(np.sum(poor)),
        poor_own_cluster=float(np.mean(np.asarray(own)[poor])) if poor.any() else None,
        plan=plan,
    )


def _server_facts(dsn: str, table: str) -> dict[str, Any]:
    import psycopg

    hnsw = f"{table}_hnsw"
    with psycopg.connect(dsn) as conn:

        def one(query: str, *params: Any) -> Any:
            row = conn.execute(query, params).fetchone()
            assert row is not None
            return row[0]

        one("SELECT '[1]'::vector")  # loads pgvector here, and with it its settings (hnsw.*)
        settings = {
            name: str(one(f"SHOW {name}"))
            for name in (
                "maintenance_work_mem",
                "max_parallel_maintenance_workers",
                "shared_buffers",
                "work_mem",
                "hnsw.ef_search",
                "hnsw.max_scan_tuples",
            )
        }
        total = int(one("SELECT pg_total_relation_size(%s::regclass)", table))
        heap = int(one("SELECT pg_relation_size(%s::regclass)", table))
        index = int(one("SELECT pg_relation_size(%s::regclass)", hnsw))
        options = one("SELECT reloptions FROM pg_class WHERE relname = %s", hnsw)
        return {
            "settings": settings,
            "table_bytes": total,
            "heap_bytes": heap,
            "hnsw_bytes": index,
            "index_options": ", ".join(options or []),
            "postgres": str(one("SHOW server_version")).split()[0],
            "pgvector": str(one("SELECT extversion FROM pg_extension WHERE extname = 'vector'")),
        }


def default_ef_search() -> int:
    from lamina.settings import Settings

    default = Settings.model_fields["search_ef_search"].default
    return int(default)


def _vacuum_analyze(dsn: str, table: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))


def measure(vectors: int) -> SearchResults:
    from lamina.search.index import Item, ModelIdentity
    from lamina.search.pg import PgVectorIndex, table_of

    started = time.perf_counter()

    def say(message: str) -> None:
        elapsed = time.perf_counter() - started
        print(f"[search {elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)

    say(f"generating {vectors:,} + {QUERIES + WARMUP_QUERIES} vectors of {DIM} dimensions")
    data = dataset(vectors)
    ids = np.arange(vectors)
    top, scores = exact_top(data.vectors, data.queries, TOP_K + 1)
    stats = data_stats(data, top, scores)
    truth = top[:, :TOP_K]
    in_bucket = ids[ids % BUCKETS == FILTER["bucket"]]
    bucket_truth, _ = exact_top(data.vectors[in_bucket], data.queries, TOP_K)
    items = [
        Item(id=str(i), vector=data.vectors[i], metadata={"bucket": i % BUCKETS})
        for i in range(vectors)
    ]
    model = ModelIdentity(
        "bench-synthetic", "1", hashlib.sha256(b"lamina bench search synthetic").hexdigest()
    )
    table = table_of(COLLECTION)
    steps: dict[str, Step] = {}
    runs: list[QueryRun] = []
    default_ef = default_ef_search()
    with cluster() as (dsn, directory):
        say("cluster started")
        loader = PgVectorIndex(dsn, pool_size=1, timeout_ms=600_000)  # as `lamina index`
        try:
            loader.create_collection(COLLECTION, model, DIM)
            say("load: upsert (COPY + INSERT ... ON CONFLICT)")
            with timed(directory, steps, "load"):
                loaded = loader.upsert(COLLECTION, items, model)
            say("VACUUM ANALYZE")
            with timed(directory, steps, "vacuum"):
                _vacuum_analyze(dsn, table)
            say("HNSW build")
            with timed(directory, steps, "build"):
                loader.build_index(COLLECTION)
            settings: list[tuple[str, int, dict[str, Any] | None, np.ndarray, np.ndarray]] = [
                (f"top {TOP_K}", ef, None, truth, ids) for ef in EF_SEARCHES
            ]
            settings += [
                (f"top {TOP_K}, filter bucket = {FILTER['bucket']}", ef, dict(FILTER),
                 bucket_truth, in_bucket)
                for ef in (default_ef * factor for factor in FILTERED_EF_FACTORS)
            ]  # fmt: skip
            for label, ef, where, exact, pool in settings:
                say(f"queries: {label}, ef_search {ef}")
                index = PgVectorIndex(dsn, pool_size=1, timeout_ms=60_000, ef_search=ef)
                try:
                    plan = _plan(dsn, table, data.queries[0], ef, where is not None)
                    runs.append(
                        measure_queries(
                            index, data, exact, pool, label=label, ef_search=ef, where=where,
                            plan=plan, candidates=len(pool),
                        )
                    )  # fmt: skip
                finally:
                    index.close()
            say("re-load of the same items")
            with timed(directory, steps, "reload"):
                reloaded = loader.upsert(COLLECTION, items, model)
            facts = _server_facts(dsn, table)
            indexed_items = min(INDEXED_LOAD_ITEMS, vectors)
            say(f"indexed load: {indexed_items:,} items in parts of {PART_ITEMS}")
            loader.create_collection(INDEXED_COLLECTION, model, DIM)
            loader.build_index(INDEXED_COLLECTION)  # on the empty table, as the pipeline does
            slowest = 0.0
            with timed(directory, steps, "indexed"):
                for start in range(0, indexed_items, PART_ITEMS):
                    part = time.perf_counter()
                    end = min(start + PART_ITEMS, indexed_items)
                    loader.upsert(INDEXED_COLLECTION, items[start:end], model)
                    slowest = max(slowest, time.perf_counter() - part)
        finally:
            loader.close()
        server_cpu = server_cpu_seconds(directory)
        say("stopping the cluster")
    model_name, flags = cpu_info()
    return SearchResults(
        vectors=vectors,
        dim=DIM,
        centroids=CENTROIDS,
        spectrum=SPECTRUM,
        spread=SPREAD,
        offset=OFFSET,
        seed=SEED,
        queries=QUERIES,
        warmup_queries=WARMUP_QUERIES,
        top_k=TOP_K,
        buckets=BUCKETS,
        data=stats,
        load=steps["load"],
        loaded=(loaded.inserted, loaded.updated, loaded.unchanged),
        vacuum_analyze=steps["vacuum"],
        build=steps["build"],
        reload=steps["reload"],
        reloaded=(reloaded.inserted, reloaded.updated, reloaded.unchanged),
        indexed_load=steps["indexed"],
        indexed_items=indexed_items,
        slowest_part_s=slowest,
        table_bytes=facts["table_bytes"],
        heap_bytes=facts["heap_bytes"],
        hnsw_bytes=facts["hnsw_bytes"],
        other_index_bytes=facts["table_bytes"] - facts["heap_bytes"] - facts["hnsw_bytes"],
        runs=runs,
        default_ef_search=default_ef,
        postgres=facts["postgres"],
        pgvector=facts["pgvector"],
        settings=facts["settings"],
        index_options=facts["index_options"],
        cpu=f"{model_name}; {flags}",
        duration_s=time.perf_counter() - started,
        server_cpu_seconds=server_cpu,
    )


def vectors_from_env() -> int:
    """BENCH_SEARCH_VECTORS: 0 (skip the phase) or at least MIN_VECTORS."""
    raw = os.environ.get(VECTORS_ENV, "").strip() or str(DEFAULT_VECTORS)
    if not raw.isdigit() or 0 < int(raw) < MIN_VECTORS:
        raise BenchError(f"{VECTORS_ENV} must be 0 or at least {MIN_VECTORS:,}, not {raw!r}")
    return int(raw)


def run_in_child() -> SearchResults:
    """``measure`` in a fresh process (its vectors and PostgreSQL's client libraries out of
    the benchmark's own memory), for infra.bench.run; its JSON is kept at KEPT."""
    return SearchResults.model_validate_json(
        json_from_child("infra.bench.search", None, None, KEPT)
    )


# --- docs/benchmarks.md ----------------------------------------------------------------------


_table = markdown_table


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f}"


def _counts(c: tuple[int, int, int]) -> str:
    return f"{c[0]:,} inserted, {c[1]:,} updated, {c[2]:,} unchanged"


def _advice(s: SearchResults) -> str:
    """What the runs say about LAMINA_SEARCH_EF_SEARCH."""
    plain = sorted((r for r in s.runs if not r.filtered), key=lambda r: r.ef_search)
    default = s.run(s.default_ef_search)
    if default is None or not plain:
        return ""
    text = (
        f"**`LAMINA_SEARCH_EF_SEARCH`**: at the default, {s.default_ef_search}, "
        f"{default.recall:.3f} of the exact top {s.top_k} come back, at p50 "
        f"{default.p50_ms:.2f} ms and p99 {default.p99_ms:.2f} ms per query. "
    )
    for r in plain:
        if r.ef_search < s.default_ef_search:
            text += (
                f"{r.ef_search} takes {r.p50_ms / default.p50_ms:.0%} of the default's p50 "
                f"({r.p50_ms:.2f} ms) for a recall of {r.recall:.3f}. "
            )
        elif r.ef_search > s.default_ef_search:
            text += (
                f"{r.ef_search} raises recall to {r.recall:.3f} for "
                f"{r.p50_ms / default.p50_ms:.1f}x the default's p50 ({r.p50_ms:.2f} ms). "
            )
    enough = next((r for r in plain if r.recall >= RECALL_TARGET), None)
    if enough is None:
        text += f"No setting reached recall {RECALL_TARGET} on this data. "
    elif enough.ef_search < s.default_ef_search:
        text += (
            f"{enough.ef_search} already reaches {RECALL_TARGET}: a lower setting is an option "
            "where latency matters more than the last neighbours. "
        )
    elif enough.ef_search == s.default_ef_search:
        text += f"The default is the smallest of these that reaches {RECALL_TARGET}. "
    else:
        text += f"The default misses {RECALL_TARGET}; {enough.ef_search} reaches it. "
    poor = [r for r in plain if r.poor]
    if poor:
        text += (
            "Recall is not spread evenly: "
            + ", ".join(f"{r.poor} of {r.queries} queries at {r.ef_search}" for r in poor)
            + f" got less than {RECALL_FLOOR:.0%} of their top {s.top_k}"
        )
        own = [r.poor_own_cluster for r in poor if r.poor_own_cluster is not None]
        if own:
            text += (
                f"; only {statistics.mean(own):.0%} of what those found came from the "
                f"query's own mixture component ({s.data.own_cluster:.0%} of an exact top "
                f"{s.top_k} do): the graph search ended in another cluster"
            )
        text += ". "
    filtered = sorted((r for r in s.runs if r.filtered), key=lambda r: r.ef_search)
    if filtered:
        text += (
            f"With the filter ({_share(s)} of the items), "
            + ", ".join(
                f"{r.ef_search} gives recall {r.recall:.3f} (p50 {r.p50_ms:.2f}, p99 "
                f"{r.p99_ms:.2f} ms{'' if 'hnsw' in r.plan else ', exact: no HNSW'})"
                for r in filtered
            )
            + ". "
        )
        low = [r for r in filtered if "hnsw" in r.plan and r.recall < RECALL_TARGET]
        if low:
            text += (
                f"Through the HNSW index a filter that keeps {_share(s)} items must find "
                f"{s.top_k} that pass about {s.buckets} times further down the whole "
                "index's ranking than an unfiltered query, where the graph search is less "
                "exact: a selective filter needs a larger setting for the same recall. "
            )
    return text + (
        "Recall depends on the data: an index of real embeddings should be measured with "
        "its own queries before the setting is changed."
    )


def _share(s: SearchResults) -> str:
    return f"1 in {s.buckets}"


def _filtered_note(s: SearchResults) -> str:
    runs = [r for r in s.runs if r.filtered]
    if not runs:
        return ""
    text = f"The filter `bucket = 3` keeps {_share(s)} items ({runs[0].candidates:,}). "
    hnsw = [str(r.ef_search) for r in runs if "hnsw" in r.plan]
    other = [str(r.ef_search) for r in runs if "hnsw" not in r.plan]
    if hnsw:
        text += (
            f"At ef_search {' and '.join(hnsw)} PostgreSQL scans the HNSW index and checks "
            "the filter on each row it finds (`hnsw.iterative_scan = strict_order` resumes "
            "the scan until enough rows pass, up to `hnsw.max_scan_tuples` = "
            f"{s.settings.get('hnsw.max_scan_tuples', '?')}). "
        )
    if other:
        text += (
            f"At ef_search {' and '.join(other)} the planner prices the HNSW scan higher "
            "than reading the filter's rows through the metadata GIN index and sorting them "
            "by distance, which is exact (recall 1) but grows with the rows the filter "
            "keeps. "
        )
    return text


def section(s: SearchResults) -> str:
    """The "Vector search (PostgreSQL + pgvector)" section of docs/benchmarks.md."""
    d = s.data
    m = s.settings
    setup = _table(
        ["step", "seconds", "items/s", "PostgreSQL CPUs", "client CPUs", "result"],
        [
            [
                "load: `upsert` (binary COPY + INSERT ... ON CONFLICT, 5,000 per transaction)",
                f"{s.load.seconds:.1f}",
                f"{s.vectors / s.load.seconds:,.0f}",
                f"{s.load.server_cpus:.2f}",
                f"{s.load.client_cpus:.2f}",
                _counts(s.loaded),
            ],
            [
                "`VACUUM ANALYZE` (what autovacuum would do)",
                f"{s.vacuum_analyze.seconds:.1f}",
                "",
                f"{s.vacuum_analyze.server_cpus:.2f}",
                "",
                "",
            ],
            [
                "`build_index`: HNSW",
                f"{s.build.seconds:.1f}",
                f"{s.vectors / s.build.seconds:,.0f}",
                f"{s.build.server_cpus:.2f}",
                "",
                f"index {_mb(s.hnsw_bytes)} MB",
            ],
            [
                "re-load of the same items",
                f"{s.reload.seconds:.1f}",
                f"{s.vectors / s.reload.seconds:,.0f}",
                f"{s.reload.server_cpus:.2f}",
                f"{s.reload.client_cpus:.2f}",
                _counts(s.reloaded),
            ],
            *(
                [
                    [
                        f"indexed load: {s.indexed_items:,} items into a collection whose "
                        f"HNSW index exists, {PART_ITEMS:,} per upsert (a job loading itself)",
                        f"{s.indexed_load.seconds:.1f}",
                        f"{s.indexed_items / s.indexed_load.seconds:,.0f}",
                        f"{s.indexed_load.server_cpus:.2f}",
                        f"{s.indexed_load.client_cpus:.2f}",
                        f"slowest part {s.slowest_part_s:.2f} s",
                    ]
                ]
                if s.indexed_load is not None
                else []
            ),
        ],
    )
    queries = _table(
        ["query", "ef_search", "p50 ms", "p95 ms", "p99 ms", "max ms", f"recall@{s.top_k}",
         "worst query's recall", "poor queries", "plan"],
        [
            [
                r.label,
                f"{r.ef_search}" + (" (default)" if r.ef_search == s.default_ef_search else ""),
                f"{r.p50_ms:.2f}",
                f"{r.p95_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.max_ms:.1f}",
                f"{r.recall:.3f}",
                f"{r.min_recall:.1f}",
                f"{r.poor}",
                f"`{r.plan}`",
            ]
            for r in s.runs
        ],
    )  # fmt: skip
    idempotent = (
        "The re-load wrote nothing: every item came back unchanged, as an idempotent load should."
        if s.reloaded == (0, 0, s.vectors)
        else f"**The re-load was not idempotent**: {_counts(s.reloaded)} (expected "
        f"0 inserted, 0 updated, {s.vectors:,} unchanged)."
    )
    intro = (
        "## Vector search (PostgreSQL + pgvector)\n\n"
        f"`python -m infra.bench.search`: PostgreSQL {s.postgres} with pgvector {s.pgvector} "
        "(`infra/local/postgres.sh`, a cluster of the benchmark's own on 127.0.0.1, "
        f"docs/postgres.md) on the same machine (CPU: {s.cpu}), driven through lamina's "
        "`PgVectorIndex` (`lamina.search.pg`, what `lamina index load` and "
        f"`POST /api/v1/search` run). This section took {s.duration_s:.0f} s (PostgreSQL "
        f"used {s.server_cpu_seconds:.0f} CPU seconds of it). It also runs alone: "
        "`BENCH_SEARCH_VECTORS=10000 .venv/bin/python -m infra.bench.search` for a quick "
        "look (`BENCH_SEARCH_VECTORS=0 make bench` skips it)."
    )
    data = (
        f"**Data**: {s.vectors:,} synthetic vectors of {s.dim} dimensions, unit length, ids "
        f'`0`..`{s.vectors - 1}`, metadata `{{"bucket": id % {s.buckets}}}`, no text. A '
        f"fixed-seed ({s.seed}) Gaussian mixture of {s.centroids:,} components, shaped like "
        "real sentence embeddings rather than uniform noise: variance falling off as a "
        f"power law (eigenvalue_j ~ j^-{s.spectrum} in a random orthonormal basis, the "
        "slope of all-MiniLM-L6-v2's embeddings of the benchmark corpus; the top 100 "
        f"directions hold {d.variance_top100:.0%} of the variance) plus a shared offset of "
        f"length {s.offset}. Centroids c_k ~ N(0, S), S = Q diag(j^-{s.spectrum}) Q^T scaled "
        f"to trace 1; an item is normalize(mu + c_k + {s.spread} z), z ~ N(0, S), k "
        f"uniform. Random pairs of items have a mean cosine of {d.random_pair_cosine:.3f}; "
        f"a query's nearest item {d.top1_cosine:.3f}, its 10th {d.top10_cosine:.3f}, and "
        f"the 10th and 11th differ by {d.gap_10_11:.4f} on average; "
        f"{d.own_cluster:.0%} of a query's exact top {s.top_k} are from its own component "
        "(the spread is wide enough that finding them takes graph search, not just the "
        f"right cluster). **Queries**: {s.queries} further draws of the same mixture, none "
        f"of them in the index, `search(top_k={s.top_k})` one at a time on one pooled "
        "connection (latency is the whole call: its transaction, `hnsw.ef_search` and the "
        f"query), after {s.warmup_queries} other untimed queries per setting. Recall@"
        f"{s.top_k}: the share of the exact top {s.top_k} (numpy, brute-force cosine in "
        "float64 over the same float32 vectors; for the filter, within the bucket) that "
        "came back, averaged over the queries."
    )
    settings = (
        f"**Settings**: HNSW `{s.index_options}` (vector_cosine_ops), "
        f"`maintenance_work_mem` {m.get('maintenance_work_mem', '?')}, "
        f"`max_parallel_maintenance_workers` {m.get('max_parallel_maintenance_workers', '?')}, "
        f"`shared_buffers` {m.get('shared_buffers', '?')}, `work_mem` "
        f"{m.get('work_mem', '?')} (`SHOW`, as `infra/local/postgres.sh` sets them)."
    )
    disk = (
        f"On disk: {_mb(s.table_bytes)} MB for the table with its indexes "
        f"(`pg_total_relation_size`): the rows {_mb(s.heap_bytes)} MB, the HNSW index "
        f"{_mb(s.hnsw_bytes)} MB (`pg_relation_size`), the primary key and the metadata "
        f"GIN index {_mb(s.other_index_bytes)} MB; the raw float32 vectors are "
        f"{_mb(s.vectors * s.dim * 4)} MB. {idempotent}"
    )
    notes = (
        f"Poor queries: those with recall@{s.top_k} under {RECALL_FLOOR}. Plan: EXPLAIN of "
        "the same statement with the same settings. " + _filtered_note(s)
    )
    parts = [intro, data, settings, setup, disk, queries, notes.rstrip(), _advice(s)]
    return "\n\n".join(part for part in parts if part)


def main(argv: Sequence[str] | None = None) -> int:
    apply_quiet_env()
    parser = argparse.ArgumentParser(prog="python -m infra.bench.search")
    parser.add_argument("--json", type=Path, help="write the results here (else: markdown)")
    parser.add_argument(
        "--render", type=Path, help="print the section of results kept earlier (--json, KEPT)"
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        print(section(SearchResults.model_validate_json(args.render.read_text("utf-8"))))
        return 0
    try:
        vectors = vectors_from_env()
        if vectors == 0:
            raise BenchError(f"{VECTORS_ENV}=0: nothing to measure (it skips the phase)")
        results = measure(vectors)
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
