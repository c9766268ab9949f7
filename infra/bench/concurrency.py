"""Many clients at once against one local server: one request at a time vs coalescing.

Two local uvicorn servers of the embedding app (``functions.embed.app:app``, as
``make serve`` runs it) on the same model, one after the other: one as Lambda's code runs
(one request's embed call at a time), one with ``LAMINA_COALESCE=true`` (concurrent
requests share embed calls: ``lamina.inference.coalesce``). Against each, ``clients``
concurrent clients (asyncio tasks, each an httpx client of one keep-alive connection) send
``POST /api/v1/embed`` with one short text (under 200 characters, from the benchmark
corpus, in turn) back to back: a closed loop, each client sends its next request
when the previous one is answered. After ``warmup_s`` of the same load, requests are timed
for ``seconds``: latency of the requests sent in that window (drained after it), throughput
of those answered in it, errors (any non-200 or transport error), and of the server process
its resident memory once ready (``VmRSS``), its peak (``VmHWM``: load and warm-up included)
and the CPUs it used; the client's CPUs too (it runs on the same machine). The answers of
both servers to the first texts are compared, to show coalescing changes no vector.

Run by ``infra.bench.run`` (``run_in_child``: a fresh process, the client only) and alone:
``python -m infra.bench.concurrency`` prints the docs/benchmarks.md section on stdout.
Environment: ``BENCH_CONCURRENCY_SECONDS`` (timed seconds per server, default 60; e.g. 5
for a quick run), ``BENCH_CONCURRENCY_WARMUP`` (seconds, default 5),
``BENCH_CONCURRENCY_CLIENTS`` (default 200), ``BENCH_CONCURRENCY_APP`` (the uvicorn app,
default ``functions.embed.app:app``). The model: ``--model-dir``, else the variant
``lamina models pick build/models/all-MiniLM-L6-v2`` serves (int8 where it passed its gate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from infra.bench.env import apply_quiet_env, child_env, cpu_info
from infra.bench.measure import REPO_ROOT, BenchError, _machine_cpu_seconds, json_from_child

APP = "functions.embed.app:app"
ROUTE = "/api/v1/embed"
SHORT_TEXT_CHARS = 200
COMPARED_TEXTS = 20  # texts whose answers are compared between the two servers
READY_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 300.0
KEPT = REPO_ROOT / "build" / "bench" / "concurrency-results.json"
ONE_AT_A_TIME = "one request at a time"
COALESCING = "coalescing (LAMINA_COALESCE=true)"


class ServerRun(BaseModel):
    """One server under the load."""

    label: str
    coalesce: bool
    requests: int  # sent in the timed window (all answered: the window is drained)
    answered_in_window: int
    errors: int
    error_kinds: dict[str, int]
    seconds: float  # the timed window
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    requests_per_s: float  # answered (200) in the window / window
    texts_per_s: float
    rss_ready_mb: float  # VmRSS once /health answered
    peak_rss_mb: float  # VmHWM at the end: the process's peak since exec
    server_cpus: float  # the server's CPU seconds per second of the window
    client_cpus: float  # this process's (the load generator's)
    other_cpus: float  # everything else on the machine (other jobs of a shared host)


class ConcurrencyResults(BaseModel):
    model_dir: str
    app: str
    clients: int
    seconds: float
    warmup_s: float
    threads: int  # ONNX Runtime intra-op threads of each server
    texts: int  # distinct texts the clients cycle through
    chars_mean: float
    cpu: str
    runs: list[ServerRun]
    compared: int  # texts answered by both servers and compared
    max_abs_diff: float  # largest |difference| between their vectors


class Config(BaseModel):
    model_dir: Path
    threads: int
    seconds: float
    warmup_s: float
    clients: int
    app: str

    @classmethod
    def from_env(cls, model_dir: Path, threads: int) -> Config:
        def number(name: str, default: float) -> float:
            raw = os.environ.get(name, "").strip() or str(default)
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if value <= 0:
                raise BenchError(f"{name} must be a positive number, not {raw!r}")
            return value

        return cls(
            model_dir=model_dir,
            threads=threads,
            seconds=number("BENCH_CONCURRENCY_SECONDS", 60),
            warmup_s=number("BENCH_CONCURRENCY_WARMUP", 5),
            clients=int(number("BENCH_CONCURRENCY_CLIENTS", 200)),
            app=os.environ.get("BENCH_CONCURRENCY_APP", "").strip() or APP,
        )


def picked_model(root: Path = REPO_ROOT / "build" / "models" / "all-MiniLM-L6-v2") -> Path:
    """The variant of ``root`` that ``make serve`` serves (``lamina models pick``)."""
    from lamina_tools.models.build import pick_variant

    try:
        path, _ = pick_variant(root)
    except Exception as exc:
        raise BenchError(f"no servable variant in {root} ({exc}): run `make model`") from exc
    return path


def short_texts() -> list[str]:
    from infra.bench.corpus import bench_corpus

    return [text for text in bench_corpus(2000) if len(text) < SHORT_TEXT_CHARS]


# --- the server ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    raise BenchError(f"no {field} in /proc/{pid}/status")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Server:
    """``uvicorn <app>`` in a child process on a free port, the model in ``MODEL_URI``."""

    def __init__(self, config: Config, *, coalesce: bool) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = child_env(config.threads, model_uri=str(config.model_dir))
        env.pop("LAMINA_MODELS", None)  # MODEL_URI: this one model only
        env["LAMINA_COALESCE"] = "true" if coalesce else "false"
        command = [sys.executable, "-m", "uvicorn", config.app, "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  # closed by stop()
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the server exited ({self.process.returncode}):\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise BenchError(f"the server did not answer /health in {READY_TIMEOUT_S:.0f} s")

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# --- the clients ---------------------------------------------------------------------------


class _Load:
    """What the clients saw: (start, end, status or error kind) per request."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self.next = 0
        self.records: list[tuple[float, float, str]] = []
        self.answers: dict[str, list[float]] = {}  # the first answer to each compared text
        self.compared = set(texts[:COMPARED_TEXTS])
        self.stop_at = float("inf")


async def _client(http: Any, load: _Load) -> None:
    import httpx

    while True:
        start = time.perf_counter()
        if start >= load.stop_at:
            return
        text = load.texts[load.next % len(load.texts)]
        load.next += 1
        try:
            response = await http.post(ROUTE, json={"text": text})
            outcome = str(response.status_code)
            if response.status_code == 200 and text in load.compared:
                load.answers.setdefault(text, response.json()["embedding"])
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        load.records.append((start, time.perf_counter(), outcome))


async def _drive(url: str, clients: int, warmup_s: float, seconds: float, load: _Load) -> float:
    """Run the clients through warm-up and the timed window; return the window's start.

    Each client has its own ``httpx.AsyncClient`` of one keep-alive connection: one client
    of 200 connections spends most of a CPU in httpcore's pool, which matches waiting
    requests to connections in O(requests x connections) on every request (~100 requests/s
    at 200 connections, the load generator the bottleneck, on the 2-vCPU dev host).
    ``verify=False``: plain HTTP, and no CA bundle loaded 200 times.
    """
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
    https = [
        httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout, verify=False)
        for _ in range(clients)
    ]
    try:
        window = time.perf_counter() + warmup_s
        load.stop_at = window + seconds
        await asyncio.gather(*(_client(http, load) for http in https))
    finally:
        for http in https:
            await http.aclose()
    return window


def measure_server(
    config: Config, texts: Sequence[str], *, coalesce: bool
) -> tuple[ServerRun, dict[str, list[float]]]:
    server = Server(config, coalesce=coalesce)
    try:
        server.wait_ready()
        pid = server.process.pid
        rss_ready = _status_kb(pid, "VmRSS") / 1024
        load = _Load(texts)
        cpu = (_cpu_seconds(pid), _own_cpu_seconds(), _machine_cpu_seconds()[0])
        window = asyncio.run(
            _drive(server.url, config.clients, config.warmup_s, config.seconds, load)
        )
        # CPU over the whole drive (warm-up included): the same load throughout
        elapsed = config.warmup_s + config.seconds
        server_cpus = (_cpu_seconds(pid) - cpu[0]) / elapsed
        client_cpus = (_own_cpu_seconds() - cpu[1]) / elapsed
        machine_cpus = (_machine_cpu_seconds()[0] - cpu[2]) / elapsed
        peak = _status_kb(pid, "VmHWM") / 1024
    finally:
        server.stop()
    end = window + config.seconds
    timed = [r for r in load.records if window <= r[0] < end]
    if not timed:
        raise BenchError(f"no request was sent in the timed window against {server.url}")
    ok = [r for r in timed if r[2] == "200"]
    errors = Counter(r[2] for r in timed if r[2] != "200")
    answered = sum(1 for r in load.records if window <= r[1] < end and r[2] == "200")
    latencies = np.asarray([(r[1] - r[0]) * 1e3 for r in ok or timed], dtype=np.float64)
    return (
        ServerRun(
            label=COALESCING if coalesce else ONE_AT_A_TIME,
            coalesce=coalesce,
            requests=len(timed),
            answered_in_window=answered,
            errors=sum(errors.values()),
            error_kinds=dict(errors),
            seconds=config.seconds,
            p50_ms=float(np.percentile(latencies, 50)),
            p95_ms=float(np.percentile(latencies, 95)),
            p99_ms=float(np.percentile(latencies, 99)),
            mean_ms=float(latencies.mean()),
            max_ms=float(latencies.max()),
            requests_per_s=answered / config.seconds,
            texts_per_s=answered / config.seconds,  # one text per request
            rss_ready_mb=rss_ready,
            peak_rss_mb=peak,
            server_cpus=server_cpus,
            client_cpus=client_cpus,
            other_cpus=max(0.0, machine_cpus - server_cpus - client_cpus),
        ),
        load.answers,
    )


def measure(config: Config) -> ConcurrencyResults:

    texts = short_texts()
    runs, answers = [], []
    for coalesce in (False, True):
        label = COALESCING if coalesce else ONE_AT_A_TIME
        seconds = f"{config.warmup_s:.0f} + {config.seconds:.0f} s"
        print(f"[concurrency] {label}: {config.clients} clients, {seconds}", file=sys.stderr)
        run, answered = measure_server(config, texts, coalesce=coalesce)
        runs.append(run)
        answers.append(answered)
    both = sorted(set(answers[0]) & set(answers[1]))
    diff = max(
        (float(np.abs(np.subtract(answers[0][t], answers[1][t])).max()) for t in both),
        default=float("nan"),
    )
    model, flags = cpu_info()
    model_dir = config.model_dir
    return ConcurrencyResults(
        model_dir=str(model_dir.relative_to(REPO_ROOT))
        if model_dir.is_relative_to(REPO_ROOT)
        else str(model_dir),
        app=config.app,
        clients=config.clients,
        seconds=config.seconds,
        warmup_s=config.warmup_s,
        threads=config.threads,
        texts=len(texts),
        chars_mean=statistics.mean(len(t) for t in texts),
        cpu=f"{model}; {flags}",
        runs=runs,
        compared=len(both),
        max_abs_diff=diff,
    )


def run_in_child(model_dir: Path, threads: int) -> ConcurrencyResults:
    """``measure`` in a fresh process (the load generator alone), for infra.bench.run."""
    text = json_from_child("infra.bench.concurrency", model_dir, threads, KEPT)
    return ConcurrencyResults.model_validate_json(text)


# --- docs/benchmarks.md ----------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _errors(r: ServerRun) -> str:
    kinds = ", ".join(f"{kind}: {n:,}" for kind, n in sorted(r.error_kinds.items()))
    return f"{r.errors:,} ({kinds})" if r.errors else "0"


def section(c: ConcurrencyResults) -> str:
    """The "Concurrent clients" section of docs/benchmarks.md."""
    rows = [
        [
            r.label,
            f"{r.p50_ms:,.1f}",
            f"{r.p95_ms:,.1f}",
            f"{r.p99_ms:,.1f}",
            f"{r.max_ms:,.0f}",
            f"{r.requests_per_s:,.0f}",
            f"{r.texts_per_s:,.0f}",
            _errors(r),
            f"{r.requests:,}",
            f"{r.rss_ready_mb:.0f} / {r.peak_rss_mb:.0f}",
            f"{r.server_cpus:.2f} / {r.client_cpus:.2f} / {r.other_cpus:.2f}",
        ]
        for r in c.runs
    ]  # fmt: skip
    header = ["server", "p50 ms", "p95 ms", "p99 ms", "max ms", "requests/s", "texts/s",
              "errors", "requests timed", "RSS ready / peak, MB",
              "CPUs: server / client / other jobs"]  # fmt: skip
    by = {r.coalesce: r for r in c.runs}
    ratio = ""
    if True in by and False in by and by[False].requests_per_s and by[True].p50_ms:
        ratio = (
            f" Coalescing: {by[True].requests_per_s / by[False].requests_per_s:.2f}x the "
            f"throughput, p50 {by[False].p50_ms / by[True].p50_ms:.1f}x lower, p99 "
            f"{by[False].p99_ms / by[True].p99_ms:.1f}x lower."
        )
    same = (
        f"The two servers' answers to {c.compared} texts: max |difference| "
        f"{c.max_abs_diff:.3g} (coalescing changes no vector)."
        if c.compared
        else "No text was answered by both servers, so no vectors were compared."
    )
    return (
        "## Concurrent clients (local server)\n\n"
        f"`python -m infra.bench.concurrency`: {c.clients} concurrent clients (asyncio tasks, "
        "each an httpx client of one keep-alive connection) send `POST /api/v1/embed` with "
        f"one short text each (the corpus' {c.texts:,} texts under {SHORT_TEXT_CHARS} characters, "
        f"{c.chars_mean:.0f} on average, in turn), each its next request as soon as the "
        f"previous one is answered, for {c.warmup_s:.0f} s of warm-up then {c.seconds:.0f} s "
        f"timed, against a local uvicorn server of `{c.app}` on `{c.model_dir}` "
        f"({c.threads} ONNX Runtime threads): one server as Lambda's code runs (one request "
        "at a time), then one with `LAMINA_COALESCE=true` (requests that arrive together "
        "share one embed call: `lamina.inference.coalesce`, docs/performance.md). Latency "
        "of the requests sent in the timed window; throughput of those answered in it; the "
        "server's resident memory once ready and its peak (`VmHWM`, load included); CPUs "
        "used by the server, by the load generator, which runs on the same machine "
        f"({c.cpu}) and takes its share of the CPUs from the server, and by other jobs of the "
        f"machine (a busy machine shrinks what batching gains: docs/performance.md).{ratio}\n\n"
        + _table(header, rows)
        + "\n\n"
        + same
    )


def main(argv: Sequence[str] | None = None) -> int:
    from lamina.inference.session import available_cpus

    apply_quiet_env()
    parser = argparse.ArgumentParser(prog="python -m infra.bench.concurrency")
    parser.add_argument("--json", type=Path, help="write the results here (else: markdown)")
    parser.add_argument("--model-dir", type=Path, help="default: what `make serve` picks")
    parser.add_argument("--threads", type=int, default=0, help="0: the CPUs available")
    args = parser.parse_args(argv)
    try:
        model_dir = args.model_dir or picked_model()
        if not (model_dir / "manifest.json").is_file():
            raise BenchError(f"no model in {model_dir}: run `make model`")
        config = Config.from_env(model_dir.resolve(), args.threads or available_cpus())
        results = measure(config)
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
