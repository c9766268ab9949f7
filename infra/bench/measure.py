"""Measurements: throughput, agreement of vectors, single-text latency, cold starts.

In-process measurements take plain callables, so the same code times sentence-transformers and
lamina. Whole-app latency and cold starts run in child processes (``applatency``, ``coldstart``).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Encode = Callable[[list[str]], Vectors]
REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_PREFIX = "BENCH_RESULT"  # the children's result line (coldstart.py, applatency.py)


class BenchError(RuntimeError):
    """Something the benchmark needs could not run."""


def json_from_child(module: str, model_dir: Path | None, threads: int | None, kept: Path) -> str:
    """Run ``python -m module --json OUT [--model-dir DIR --threads N]`` in a fresh process
    (nothing else loaded), keep its JSON at ``kept`` (to render its section again without a
    rerun) and return it. Without a model directory and threads the child gets the quiet
    environment and picks its own (the search and query-model phases)."""
    from infra.bench.env import QUIET_ENV, child_env

    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, "-m", module, "--json", str(out)]
        env = {**os.environ, **QUIET_ENV}
        if model_dir is not None and threads is not None:
            command += ["--model-dir", str(model_dir), "--threads", str(threads)]
            env = child_env(threads)
        proc = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False)
        if proc.returncode != 0 or not out.is_file():
            raise BenchError(f"{module} failed (exit {proc.returncode})")
        text = out.read_text(encoding="utf-8")
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(text, encoding="utf-8")
    return text


@dataclass(frozen=True)
class Spread:
    """Median and range of repeated measurements."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))


@dataclass(frozen=True)
class Throughput:
    sentences_per_s: Spread
    seconds: Spread
    vectors: Vectors  # of the last repeat, in corpus order


@dataclass(frozen=True)
class Agreement:
    mean: float
    minimum: float
    p1: float  # 1st percentile
    below_9999: int  # texts with cosine < 0.9999


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    mean_ms: float
    requests: int

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Latency:
        values = np.asarray(samples_ms, dtype=np.float64)
        return cls(
            p50_ms=float(np.percentile(values, 50)),
            p99_ms=float(np.percentile(values, 99)),
            mean_ms=float(values.mean()),
            requests=len(values),
        )


@dataclass(frozen=True)
class ColdStart:
    seconds: Spread  # child's own clock: first line -> first answer
    wall_s: Spread  # parent's clock around the whole subprocess, interpreter start included
    imports_s: float  # medians of the phases
    load_s: float
    first_s: float
    imports_rss_mb: float  # median RSS once the libraries are imported
    rss_mb: Spread  # VmHWM of the child
    ru_maxrss_mb: Spread  # getrusage(RUSAGE_SELF).ru_maxrss of the child
    loaded_rss_mb: float = -1.0  # median RSS once the model is loaded (-1: not reported)


# --- CPU contention -------------------------------------------------------------------------


@dataclass(frozen=True)
class Contention:
    """CPU time other processes (and the hypervisor) took while one phase ran."""

    wall_s: float
    others_cores: float  # average CPUs busy with processes other than the benchmark's
    steal_cores: float  # average CPUs stolen by the hypervisor


def _machine_cpu_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    ticks = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / ticks, steal / ticks


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CpuMeter:
    """Measure what else ran on the machine between ``start()`` and ``stop()``."""

    def __init__(self) -> None:
        self._start = (time.perf_counter(), *_machine_cpu_seconds(), _own_cpu_seconds())

    def stop(self) -> Contention:
        wall0, busy0, steal0, own0 = self._start
        wall = time.perf_counter() - wall0
        busy, steal = _machine_cpu_seconds()
        others = (busy - busy0) - (_own_cpu_seconds() - own0)
        return Contention(wall, max(0.0, others) / wall, (steal - steal0) / wall)


# --- throughput and agreement ------------------------------------------------------------


def chunked(encode: Encode, size: int) -> Encode:
    """Call ``encode`` on consecutive chunks of ``size`` texts, as a client batching by hand."""

    def run(texts: list[str]) -> Vectors:
        parts = [encode(texts[i : i + size]) for i in range(0, len(texts), size)]
        return np.concatenate(parts).astype(np.float32, copy=False)

    return run


def throughput(
    encoders: Mapping[str, Encode], texts: list[str], repeats: int
) -> dict[str, Throughput]:
    """Time each encoder over all ``texts`` ``repeats`` times, interleaved (after one warm-up)."""
    for encode in encoders.values():
        encode(texts[:64])
    seconds: dict[str, list[float]] = {name: [] for name in encoders}
    vectors: dict[str, Vectors] = {}
    for _ in range(repeats):
        for name, encode in encoders.items():
            start = time.perf_counter()
            vectors[name] = encode(texts)
            seconds[name].append(time.perf_counter() - start)
    return {
        name: Throughput(
            sentences_per_s=Spread.of([len(texts) / s for s in seconds[name]]),
            seconds=Spread.of(seconds[name]),
            vectors=vectors[name],
        )
        for name in encoders
    }


def agreement(vectors: Vectors, reference: Vectors) -> Agreement:
    """Row-wise cosine similarity of ``vectors`` to ``reference``."""
    a = vectors.astype(np.float64)
    b = reference.astype(np.float64)
    cos = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return Agreement(
        mean=float(cos.mean()),
        minimum=float(cos.min()),
        p1=float(np.percentile(cos, 1)),
        below_9999=int((cos < 0.9999).sum()),
    )


# --- single-text latency -------------------------------------------------------------------


def request_texts(texts: Sequence[str], warmup: int, requests: int) -> tuple[list[str], list[str]]:
    """Warm-up and timed texts, cycling through ``texts``: the same for every contender."""
    stream = list(islice(cycle(texts), warmup + requests))
    return stream[:warmup], stream[warmup:]


def latency_in_process(
    call: Callable[[str], object], warmup: list[str], timed: list[str]
) -> Latency:
    for text in warmup:
        call(text)
    samples: list[float] = []
    for text in timed:
        start = time.perf_counter()
        call(text)
        samples.append((time.perf_counter() - start) * 1e3)
    return Latency.of(samples)


def latency_through_app(
    env: Mapping[str, str], warmup: list[str], timed: list[str]
) -> tuple[Latency, Latency]:
    """Whole-app latency of POST /api/v1/embed and of GET /health (the stack without the
    model), measured by ``infra.bench.applatency`` in a child process."""
    command = [sys.executable, "-m", "infra.bench.applatency"]
    spec = json.dumps({"warmup": warmup, "timed": timed})
    result, _ = run_child(command, env, stdin=spec)
    return Latency.of(result["embed_ms"]), Latency.of(result["health_ms"])


# --- child processes -------------------------------------------------------------------------


def run_child(
    command: list[str], env: Mapping[str, str], stdin: str | None = None
) -> tuple[dict[str, Any], float]:
    """Run ``command`` from the repo root; return its ``BENCH_RESULT`` JSON and the wall time."""
    start = time.perf_counter()
    proc = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise BenchError(f"{' '.join(command)} failed (exit {proc.returncode}):\n{tail}")
    parsed: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    return parsed, wall


def cold_starts(
    contenders: Mapping[str, tuple[str, Path]], env: Mapping[str, str], threads: int, runs: int
) -> dict[str, ColdStart]:
    """Fresh processes of ``infra/bench/coldstart.py`` per contender (name -> kind, model dir).

    Runs are interleaved (a, b, c, a, b, c, ...) so that drifting background load hits all
    contenders alike.
    """
    script = REPO_ROOT / "infra" / "bench" / "coldstart.py"
    results: dict[str, list[tuple[dict[str, Any], float]]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, (kind, model_dir) in contenders.items():
            command = [sys.executable, str(script), "--kind", kind, "--model-dir", str(model_dir)]
            command += ["--threads", str(threads)]
            results[name].append(run_child(command, env))
    return {name: _summarize_cold(runs_of) for name, runs_of in results.items()}


def _summarize_cold(results: list[tuple[dict[str, Any], float]]) -> ColdStart:
    children = [child for child, _ in results]
    return ColdStart(
        seconds=Spread.of([c["seconds"] for c in children]),
        wall_s=Spread.of([wall for _, wall in results]),
        imports_s=statistics.median(c["imports_s"] for c in children),
        load_s=statistics.median(c["load_s"] for c in children),
        first_s=statistics.median(c["first_s"] for c in children),
        imports_rss_mb=statistics.median(c["imports_rss_mb"] for c in children),
        rss_mb=Spread.of([c["rss_mb"] for c in children]),
        ru_maxrss_mb=Spread.of([c["ru_maxrss_mb"] for c in children]),
        loaded_rss_mb=statistics.median(c.get("loaded_rss_mb", -1.0) for c in children),
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
