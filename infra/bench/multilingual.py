"""multilingual-e5-small beside all-MiniLM-L6-v2 (issue 14): speed, long texts, retrieval.

``infra.bench.run`` calls ``measure`` in its own phase; the cold starts (each model alone and
both in one process, as the embedding image serves them) and the single-text latencies are
rows of the run's Cold start and Latency tables. ``section`` renders this part of
docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.bench.retrieval import (
    RetrievalScores,
    evaluate,
    kind_table,
    language_table,
    load_dataset,
    markdown_table,
    model_embed,
)
from lamina.inference.embedder import EmbeddingResult, OnnxEmbedder

E5 = "lamina e5 q4"
E5_AND_INT8 = "lamina int8 + e5 q4 (one process)"
LAT_E5_MODEL = f"{E5} embedder only (input_type query)"
LAT_E5_APP = f"{E5} whole app"
CHUNK = 1000  # texts per call: the batch worker's chunk
SPLIT_TEXT_CHARS = 20_000
SETS = ("korean", "mixed")


@dataclass(frozen=True)
class SplitCost:
    chars: int
    windows: int
    tokens: int
    ms: float


@dataclass(frozen=True)
class MultilingualResults:
    model_dir: str
    texts_per_s: dict[str, float]  # contender -> texts/s on the corpus, batch path
    split: dict[str, SplitCost]  # contender -> one long text in split mode
    retrieval: dict[str, dict[str, RetrievalScores]]  # contender -> set -> scores


def _best_of(repeats: int, step: Callable[[], object]) -> float:
    """Median seconds of ``repeats`` runs of ``step``."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def long_text(corpus: list[str], chars: int = SPLIT_TEXT_CHARS) -> str:
    """The corpus' texts joined (11 scripts) up to ``chars`` characters."""
    parts: list[str] = []
    total = 0
    for text in corpus:
        parts.append(text)
        total += len(text) + 1
        if total >= chars:
            break
    return " ".join(parts)[:chars]


def measure(
    models: dict[str, Path], corpus: list[str], repeats: int, e5_label: str = E5
) -> MultilingualResults:
    """Each model of ``models`` (label -> directory): throughput on ``corpus`` (as passages
    where the model has prompts), one long text split into windows, retrieval on both sets."""
    loaded = {label: OnnxEmbedder.load(path) for label, path in models.items()}
    texts_per_s: dict[str, float] = {}
    split: dict[str, SplitCost] = {}
    retrieval: dict[str, dict[str, RetrievalScores]] = {}
    document = long_text(corpus)
    for label, model in loaded.items():

        def batch_path(model: OnnxEmbedder = model) -> None:
            for start in range(0, len(corpus), CHUNK):
                model.embed(corpus[start : start + CHUNK], input_type="passage")

        texts_per_s[label] = len(corpus) / _best_of(repeats, batch_path)

        def split_one(model: OnnxEmbedder = model) -> EmbeddingResult:
            return model.embed([document], long_text="split", input_type="passage")

        result = split_one()
        windows = result.windows[0] if result.windows else []
        ms = 1e3 * _best_of(repeats, split_one)
        split[label] = SplitCost(len(document), len(windows), result.token_counts[0], ms)
        retrieval[label] = {name: evaluate(load_dataset(name), model_embed(model)) for name in SETS}
    e5_dir = models[e5_label]
    root = Path(__file__).resolve().parents[2]
    return MultilingualResults(
        model_dir=str(e5_dir.relative_to(root) if e5_dir.is_relative_to(root) else e5_dir),
        texts_per_s=texts_per_s,
        split=split,
        retrieval=retrieval,
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def section(m: MultilingualResults, cpu: str) -> str:
    speed = _table(
        ["model", "texts/s, batch path (1,000 per call, as passages)"],
        [[label, f"{rate:.0f}"] for label, rate in m.texts_per_s.items()],
    )
    split = _table(
        ["model", "characters", "windows", "tokens read", "ms"],
        [
            [label, f"{c.chars:,}", str(c.windows), f"{c.tokens:,}", f"{c.ms:.0f}"]
            for label, c in m.split.items()
        ],
    )
    return (
        "## Multilingual model (multilingual-e5-small, q4)\n\n"
        f"`{m.model_dir}` beside all-MiniLM-L6-v2, same machine and threads ({cpu}). Its cold "
        "start and memory (alone, and in one process with MiniLM int8, as the embedding image "
        "serves both) are rows of Cold start; its single-text latency rows of Latency.\n\n"
        "**Throughput** on the corpus above (e5 with its passage prompt):\n\n"
        + speed
        + "\n\n**A long text, split** (`long_text=split`: overlapping windows of the model's "
        "limit, 256 tokens for MiniLM, 512 for e5; one text of the corpus' scripts):\n\n"
        + split
        + "\n\n**Retrieval** (`infra/bench/retrieval_sets.py` builds the sets: Korean recipe "
        "search, and a mixed set of 11 languages with same- and cross-language queries; "
        "documents embedded as passages, queries as queries; recall@k = the relevant "
        "document among the k best, MRR = mean reciprocal rank):\n\n"
        + markdown_table(m.retrieval, kinds=False)
        + "\nKorean set by kind of query (name: the dish named in the user's words; "
        "ingredients: main ingredients and method; description: situational riddles that "
        "need world knowledge):\n\n"
        + kind_table(m.retrieval, "korean")
        + "\nMixed set by query language, and same- vs cross-language:\n\n"
        + language_table(m.retrieval, "mixed")
    )
