"""Retrieval quality of an embedding model on the sets of ``infra.bench.retrieval_sets``.

``evaluate(dataset, embed)`` embeds every document (input type "passage") and every query
(input type "query"), ranks all documents of the set by cosine for each query and reports
recall@1, recall@5 and MRR (the reciprocal rank of the first relevant document, averaged over
queries), overall, by query kind (``QUERY_KINDS``: the dish named, its ingredients, or a
description; sets whose queries have a kind), by query language, and for same-language vs
cross-language queries.

Ties count against the model: a relevant document scoring within ``TIE_TOLERANCE`` of a
non-relevant one is ranked after it. A model that maps many texts to the same vector (an
English-only vocabulary reading Korean as [UNK]) gets no credit from document order.

``python -m infra.bench.retrieval --model-dir DIR [--model-dir DIR ...]`` loads each model
directory with ``OnnxEmbedder.load`` and prints a Markdown table (``markdown_table``: one row
per model and one per model and query kind, columns set x metric) for docs/benchmarks.md, then
the per-kind (``kind_table``) and per-language (``language_table``) breakdowns of each set.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from infra.bench.retrieval_sets import DATA_DIR, QUERY_KINDS, SET_NAMES, check_set, set_path

if TYPE_CHECKING:
    from lamina.inference.embedder import OnnxEmbedder

__all__ = [
    "Dataset",
    "Document",
    "Embed",
    "InputType",
    "Metrics",
    "Query",
    "RetrievalScores",
    "evaluate",
    "kind_table",
    "language_table",
    "load_dataset",
    "main",
    "markdown_table",
    "model_embed",
    "ranks",
]

InputType = Literal["query", "passage"]
Embed = Callable[[list[str], InputType], np.ndarray]

TIE_TOLERANCE = 1e-6
METRICS = (("recall@1", "recall_at_1"), ("recall@5", "recall_at_5"), ("MRR", "mrr"))


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    lang: str


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    lang: str
    relevant: tuple[str, ...]
    kind: str | None = None  # one of QUERY_KINDS, in sets that give one


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    documents: tuple[Document, ...]
    queries: tuple[Query, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dataset:
        check_set(data)
        return cls(
            name=data["name"],
            description=data["description"],
            documents=tuple(Document(d["id"], d["text"], d["lang"]) for d in data["documents"]),
            queries=tuple(
                Query(q["id"], q["text"], q["lang"], tuple(q["relevant"]), q.get("kind"))
                for q in data["queries"]
            ),
        )

    def only(self, languages: Iterable[str], name: str | None = None) -> Dataset:
        """The part of the set in ``languages``: their documents, and the queries in them
        whose relevant documents are all kept."""
        keep = set(languages)
        documents = tuple(d for d in self.documents if d.lang in keep)
        kept = {d.id for d in documents}
        queries = tuple(
            q for q in self.queries if q.lang in keep and all(r in kept for r in q.relevant)
        )
        label = name or f"{self.name} ({', '.join(sorted(keep))})"
        return Dataset(label, self.description, documents, queries)

    def document_lang(self, doc_id: str) -> str:
        return next(d.lang for d in self.documents if d.id == doc_id)


@dataclass(frozen=True)
class Metrics:
    queries: int
    recall_at_1: float
    recall_at_5: float
    mrr: float

    @classmethod
    def of(cls, query_ranks: Sequence[Sequence[int]]) -> Metrics:
        """From each query's ranks of its relevant documents (1-based)."""
        if not query_ranks:
            return cls(0, float("nan"), float("nan"), float("nan"))

        def recall(k: int) -> float:
            return float(np.mean([np.mean([r <= k for r in ranks]) for ranks in query_ranks]))

        return cls(
            queries=len(query_ranks),
            recall_at_1=recall(1),
            recall_at_5=recall(5),
            mrr=float(np.mean([1.0 / min(ranks) for ranks in query_ranks])),
        )


@dataclass(frozen=True)
class RetrievalScores:
    dataset: str
    documents: int
    overall: Metrics
    by_kind: dict[str, Metrics]  # by query kind (QUERY_KINDS order); empty if queries have none
    by_language: dict[str, Metrics]  # by query language
    by_language_match: dict[str, Metrics]  # "same-language" / "cross-language" queries
    ranks: dict[str, tuple[int, ...]] = field(repr=False)  # query id -> ranks of relevant docs

    @property
    def recall_at_1(self) -> float:
        return self.overall.recall_at_1

    @property
    def recall_at_5(self) -> float:
        return self.overall.recall_at_5

    @property
    def mrr(self) -> float:
        return self.overall.mrr


def load_dataset(name: str, data_dir: Path = DATA_DIR) -> Dataset:
    """A set by name (``korean``, ``mixed``) from ``data_dir``, or from a path to a JSON file."""
    path = Path(name) if name.endswith(".json") else set_path(name, data_dir)
    if not path.is_file():
        known = ", ".join(SET_NAMES)
        raise FileNotFoundError(
            f"no retrieval set at {path} (sets: {known}; `python -m infra.bench.retrieval_sets` "
            "writes them)"
        )
    return Dataset.from_json(json.loads(path.read_text(encoding="utf-8")))


def ranks(scores: np.ndarray, relevant: Sequence[int]) -> tuple[int, ...]:
    """1-based ranks of the ``relevant`` columns in one row of ``scores``, best first.

    The i-th best relevant document's rank is i + 1 + the number of non-relevant documents
    scoring at least its score minus ``TIE_TOLERANCE`` (ties count against the model).
    """
    mask = np.zeros(scores.shape[0], dtype=bool)
    mask[list(relevant)] = True
    others = scores[~mask]
    found = sorted((float(scores[i]) for i in relevant), reverse=True)
    return tuple(
        i + 1 + int(np.count_nonzero(others >= score - TIE_TOLERANCE))
        for i, score in enumerate(found)
    )


def _unit_rows(vectors: np.ndarray, what: str, expected: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != expected:
        raise ValueError(f"embed returned shape {array.shape} for {expected} {what}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1.0, norms)  # cosine, whatever embed returns


def evaluate(dataset: Dataset, embed: Embed) -> RetrievalScores:
    """Score ``embed`` on ``dataset``: every query against every document of the set."""
    doc_vectors = _unit_rows(
        embed([d.text for d in dataset.documents], "passage"), "documents", len(dataset.documents)
    )
    query_vectors = _unit_rows(
        embed([q.text for q in dataset.queries], "query"), "queries", len(dataset.queries)
    )
    similarity = query_vectors @ doc_vectors.T
    position = {d.id: i for i, d in enumerate(dataset.documents)}
    lang = {d.id: d.lang for d in dataset.documents}
    per_query: dict[str, tuple[int, ...]] = {}
    for row, query in zip(similarity, dataset.queries, strict=True):
        per_query[query.id] = ranks(row, [position[r] for r in query.relevant])

    def metrics(queries: Iterable[Query]) -> Metrics:
        return Metrics.of([per_query[q.id] for q in queries])

    def match(query: Query) -> str:
        same = all(lang[r] == query.lang for r in query.relevant)
        return "same-language" if same else "cross-language"

    queries = dataset.queries
    present = {q.kind for q in queries if q.kind is not None}
    kinds = [k for k in QUERY_KINDS if k in present] + sorted(present - set(QUERY_KINDS))
    languages = sorted({q.lang for q in queries})
    matches = [
        m for m in ("same-language", "cross-language") if any(match(q) == m for q in queries)
    ]
    return RetrievalScores(
        dataset=dataset.name,
        documents=len(dataset.documents),
        overall=metrics(queries),
        by_kind={k: metrics(q for q in queries if q.kind == k) for k in kinds},
        by_language={code: metrics(q for q in queries if q.lang == code) for code in languages},
        by_language_match={m: metrics(q for q in queries if match(q) == m) for m in matches},
        ranks=per_query,
    )


# --- models -----------------------------------------------------------------------------------


def model_embed(model: OnnxEmbedder) -> Embed:
    """``embed`` for ``evaluate`` from a loaded embedder: unit vectors, with the model's
    prompt for the input type (e5: "query: " / "passage: ").

    ``OnnxEmbedder.embed`` takes ``input_type`` (and prepends ``manifest.prompts[input_type]``)
    in newer lamina; with an older one the prompt is prepended here.
    """
    method: Callable[..., Any] = model.embed
    takes_input_type = "input_type" in inspect.signature(method).parameters
    prompts: dict[str, str] = dict(getattr(model.manifest, "prompts", None) or {})

    def embed(texts: list[str], input_type: InputType) -> np.ndarray:
        if takes_input_type:
            result = method(texts, normalize=True, input_type=input_type)
        else:
            prefix = prompts.get(input_type, "")
            result = method([prefix + text for text in texts], normalize=True)
        return np.asarray(result.vectors)

    return embed


def model_label(model: OnnxEmbedder) -> str:
    return f"{model.manifest.name} {model.manifest.variant}"


# --- reports ----------------------------------------------------------------------------------


def _number(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.3f}"


def _set_columns(results: dict[str, dict[str, RetrievalScores]]) -> dict[str, RetrievalScores]:
    """Every set of ``results`` in first-seen order, with the first scores seen for it."""
    sets: dict[str, RetrievalScores] = {}
    for by_set in results.values():
        for name, scores in by_set.items():
            sets.setdefault(name, scores)
    return sets


def _kinds(scores: Iterable[RetrievalScores]) -> list[str]:
    kinds: list[str] = []
    for found in scores:
        kinds.extend(k for k in found.by_kind if k not in kinds)
    return kinds


def _metric_cells(found: Metrics | None) -> list[str]:
    return [
        _number(getattr(found, attribute) if found else float("nan")) for _, attribute in METRICS
    ]


def markdown_table(results: dict[str, dict[str, RetrievalScores]], *, kinds: bool = True) -> str:
    """A Markdown table: one row per model (outer key), for each set (inner key, in first-seen
    order) the columns recall@1, recall@5 and MRR; with ``kinds``, after each model's row one
    row per query kind ("model: name"), "-" in the sets without that kind. The note under it
    says how many queries and documents each set has, and how many queries of each kind."""
    sets = _set_columns(results)
    all_kinds = _kinds(s for by_set in results.values() for s in by_set.values()) if kinds else []
    header = ["model"] + [f"{name} {metric}" for name in sets for metric, _ in METRICS]
    lines = [
        "| " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * (len(header) - 1),
    ]
    for model, by_set in results.items():
        cells = [model]
        for name in sets:
            found = by_set.get(name)
            cells.extend(_metric_cells(found.overall if found else None))
        lines.append("| " + " | ".join(cells) + " |")
        for kind in all_kinds:
            cells = [f"{model}: {kind}"]
            for name in sets:
                found = by_set.get(name)
                cells.extend(_metric_cells(found.by_kind.get(kind) if found else None))
            lines.append("| " + " | ".join(cells) + " |")
    notes = []
    for name, scores in sets.items():
        note = f"{name}: {scores.overall.queries} q / {scores.documents} docs"
        if all_kinds and scores.by_kind:
            note += " (" + ", ".join(f"{k} {m.queries}" for k, m in scores.by_kind.items()) + ")"
        notes.append(note)
    return "\n".join(lines) + f"\n\nSets: {'; '.join(notes)}.\n"


def kind_table(results: dict[str, dict[str, RetrievalScores]], set_name: str) -> str:
    """Recall@1, recall@5 and MRR of every model on ``set_name``, overall ("all") and by query
    kind: one row per model and kind. Empty if the set's queries have no kind."""
    present = [by_set[set_name] for by_set in results.values() if set_name in by_set]
    kinds = _kinds(present)
    if not kinds:
        return ""
    header = ["model", "kind", "queries", *(metric for metric, _ in METRICS)]
    lines = ["| " + " | ".join(header) + " |", "| --- | --- |" + " ---: |" * (1 + len(METRICS))]
    for model, by_set in results.items():
        scores = by_set.get(set_name)
        if scores is None:
            continue
        for kind, found in [("all", scores.overall), *scores.by_kind.items()]:
            cells = [model, kind, str(found.queries), *_metric_cells(found)]
            lines.append("| " + " | ".join(cells) + " |")
    return f"{set_name}: by query kind\n\n" + "\n".join(lines) + "\n"


def language_table(results: dict[str, dict[str, RetrievalScores]], set_name: str) -> str:
    """Recall@1 / MRR of every model on ``set_name``: same- vs cross-language queries, then by
    query language."""
    groups: list[str] = []
    for by_set in results.values():
        scores = by_set.get(set_name)
        if scores is None:
            continue
        for key in [*scores.by_language_match, *scores.by_language]:
            if key not in groups:
                groups.append(key)
    header = ["model", *groups]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * len(groups)]
    for model, by_set in results.items():
        scores = by_set.get(set_name)
        if scores is None:
            continue
        table = {**scores.by_language_match, **scores.by_language}
        cells = [model]
        for key in groups:
            m = table.get(key)
            cells.append(
                "-" if m is None else f"{_number(m.recall_at_1)} / {_number(m.mrr)} ({m.queries})"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return f"{set_name}: recall@1 / MRR (queries) by query language\n\n" + "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Retrieval quality (recall@1, recall@5, MRR) of embedding models."
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        action="append",
        required=True,
        help="a built model directory (manifest.json, model.onnx, tokenizer.json); repeatable",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        choices=SET_NAMES,
        help="a retrieval set (default: all)",
    )
    args = parser.parse_args(argv)

    from lamina.inference.embedder import OnnxEmbedder

    datasets = [load_dataset(name) for name in (args.sets or SET_NAMES)]
    results: dict[str, dict[str, RetrievalScores]] = {}
    for model_dir in args.model_dir:
        if not (model_dir / "manifest.json").is_file():
            print(f"error: no model directory at {model_dir}", file=sys.stderr)
            return 2
        model = OnnxEmbedder.load(model_dir)
        embed = model_embed(model)
        label = model_label(model)
        if label in results:
            label = f"{label} ({model_dir})"
        results[label] = {dataset.name: evaluate(dataset, embed) for dataset in datasets}
    print(markdown_table(results))
    for dataset in datasets:
        by_kind = kind_table(results, dataset.name)
        if by_kind:
            print(by_kind)
        print(language_table(results, dataset.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
