"""The retrieval evaluation sets (infra/bench/data/retrieval-*.json) and their metrics.

The data files must be exactly what ``python -m infra.bench.retrieval_sets`` writes, and
well-formed; the metrics are checked on hand-made vectors whose answer is known.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infra.bench import retrieval_sets
from infra.bench.retrieval import (
    TIE_TOLERANCE,
    Dataset,
    Document,
    Query,
    evaluate,
    kind_table,
    language_table,
    load_dataset,
    markdown_table,
    model_embed,
    ranks,
)
from infra.bench.retrieval_sets import (
    DATA_DIR,
    LANGUAGES,
    QUERY_KINDS,
    SET_NAMES,
    build_sets,
    set_path,
)


def load_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(set_path(name).read_text(encoding="utf-8"))
    return data


# --- the data files ---------------------------------------------------------------------------


def test_data_files_are_what_the_script_writes(tmp_path: Path) -> None:
    written = retrieval_sets.write_sets(tmp_path)
    assert sorted(path.name for path in written) == sorted(
        set_path(name).name for name in SET_NAMES
    )
    for path in written:
        committed = DATA_DIR / path.name
        assert committed.is_file(), f"{committed} missing: run python -m infra.bench.retrieval_sets"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} differs from what the script writes: run "
            "python -m infra.bench.retrieval_sets"
        )


def test_the_script_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    retrieval_sets.main(["--out", str(first)])
    retrieval_sets.main(["--out", str(second)])
    for name in SET_NAMES:
        assert set_path(name, first).read_bytes() == set_path(name, second).read_bytes()


def test_files_stay_small() -> None:
    total = sum(set_path(name).stat().st_size for name in SET_NAMES)
    assert total < 300 * 1024


@pytest.mark.parametrize("name", SET_NAMES)
def test_set_is_well_formed(name: str) -> None:
    data = load_json(name)
    assert set(data) == {"name", "description", "documents", "queries"}
    assert data["name"] == name
    assert data["description"].strip()
    for item in data["documents"]:
        assert set(item) == {"id", "text", "lang"}
    with_kind = [q for q in data["queries"] if "kind" in q]
    assert len(with_kind) in (0, len(data["queries"])), "kind on some queries only"
    for item in data["queries"]:
        assert set(item) == {"id", "text", "lang", "relevant"} | ({"kind"} if with_kind else set())
        assert list(item)[-1] == "relevant"
        if with_kind:
            assert item["kind"] in QUERY_KINDS, item

    doc_ids = [d["id"] for d in data["documents"]]
    query_ids = [q["id"] for q in data["queries"]]
    assert len(doc_ids) == len(set(doc_ids)), "duplicate document ids"
    assert len(query_ids) == len(set(query_ids)), "duplicate query ids"
    for item in data["documents"] + data["queries"]:
        assert item["text"].strip(), item["id"]
        assert item["text"] == item["text"].strip(), item["id"]
        assert re.fullmatch(r"[a-z]{2}", item["lang"]), item
        assert item["lang"] in LANGUAGES, item
    known = set(doc_ids)
    for query in data["queries"]:
        assert query["relevant"], query
        assert all(r in known for r in query["relevant"]), query
    doc_texts = {d["text"] for d in data["documents"]}
    assert len(doc_texts) == len(doc_ids), "repeated document texts"
    query_texts = [q["text"] for q in data["queries"]]
    assert len(set(query_texts)) == len(query_texts), "repeated query texts"
    assert not doc_texts & set(query_texts), "a query copies a document"


def test_korean_set_content() -> None:
    data = load_json("korean")
    documents, queries = data["documents"], data["queries"]
    assert len(documents) >= 120
    assert len(queries) >= 150
    assert {d["lang"] for d in documents} == {"ko"}
    for document in documents:  # "name — description", as the recipe site stores them
        name, _, description = document["text"].partition(" — ")
        assert name, document["id"]
        assert len(description) > 15, document["id"]
    assert all(len(q["relevant"]) == 1 for q in queries)
    languages = Counter(q["lang"] for q in queries)
    assert set(languages) == {"ko", "en"}
    assert languages["ko"] >= 0.8 * len(queries)


def test_korean_query_kinds() -> None:
    """Every query has a kind; each kind is well represented, in Korean, over many documents;
    only "name" queries may name their own dish (spaces ignored); the new kinds are short."""
    data = load_json("korean")
    names = {d["id"]: d["text"].partition(" — ")[0].replace(" ", "") for d in data["documents"]}
    queries = data["queries"]
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in QUERY_KINDS}
    for query in queries:
        by_kind[query["kind"]].append(query)
    for kind, found in by_kind.items():
        korean = [q for q in found if q["lang"] == "ko"]
        assert len(found) >= 40, (kind, len(found))
        assert len(korean) >= 40, (kind, len(korean))
        assert len({q["relevant"][0] for q in korean}) >= 40, kind  # spread over documents
    for query in by_kind["ingredients"] + by_kind["description"]:
        own = names[query["relevant"][0]]
        assert own not in query["text"].replace(" ", ""), query
    for query in by_kind["name"] + by_kind["ingredients"]:
        if query["lang"] == "ko":
            assert len(query["text"]) <= 30, query  # what users type, not a document
    # Name queries: the dish as written and in other words (spelling, colloquial names).
    korean_names = [q for q in by_kind["name"] if q["lang"] == "ko"]
    as_written = [q for q in korean_names if names[q["relevant"][0]] in q["text"].replace(" ", "")]
    assert 20 <= len(as_written) <= len(korean_names) - 20


def test_mixed_set_content() -> None:
    data = load_json("mixed")
    documents, queries = data["documents"], data["queries"]
    assert len(documents) >= 150
    assert len(queries) >= 150
    doc_languages = Counter(d["lang"] for d in documents)
    assert len(doc_languages) >= 8
    assert {"ko", "en", "ja", "zh", "es", "de", "fr", "ru"} <= set(doc_languages)
    assert all(len(q["relevant"]) == 1 for q in queries)
    lang = {d["id"]: d["lang"] for d in documents}
    cross = [q for q in queries if lang[q["relevant"][0]] != q["lang"]]
    same = [q for q in queries if lang[q["relevant"][0]] == q["lang"]]
    assert len(cross) >= 50
    assert len(same) >= 50
    assert len({(q["lang"], lang[q["relevant"][0]]) for q in cross}) >= 20  # many pairs
    topics = Counter(d["id"].split("-")[0] for d in documents)
    assert set(topics) == {"food", "travel", "tech", "health"}
    assert min(topics.values()) >= 30


def test_check_set_rejects_bad_sets() -> None:
    good = build_sets()["korean"]
    retrieval_sets.check_set(good)

    def broken(change: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(json.dumps(good))
        if change == "dup-id":
            data["documents"][1]["id"] = data["documents"][0]["id"]
        elif change == "unknown-relevant":
            data["queries"][0]["relevant"] = ["no-such-doc"]
        elif change == "empty":
            data["queries"][0]["text"] = "  "
        elif change == "lang":
            data["documents"][0]["lang"] = "kr"
        elif change == "kind":
            data["queries"][0]["kind"] = "recipe"
        elif change == "some-kinds":
            del data["queries"][0]["kind"]
        return data

    expected = {
        "dup-id": "duplicate document ids",
        "unknown-relevant": "unknown documents",
        "empty": "empty text",
        "lang": "unknown language",
        "kind": "unknown query kinds",
        "some-kinds": "some queries have a kind and some not",
    }
    for change, message in expected.items():
        with pytest.raises(ValueError, match=message):
            retrieval_sets.check_set(broken(change))


def test_load_dataset_reads_the_committed_sets() -> None:
    for name in SET_NAMES:
        dataset = load_dataset(name)
        data = load_json(name)
        assert dataset.name == name
        assert [d.id for d in dataset.documents] == [d["id"] for d in data["documents"]]
        assert [q.relevant for q in dataset.queries] == [
            tuple(q["relevant"]) for q in data["queries"]
        ]
        assert [q.kind for q in dataset.queries] == [q.get("kind") for q in data["queries"]]
    with pytest.raises(FileNotFoundError):
        load_dataset("no-such-set")


# --- metrics on hand-made vectors --------------------------------------------------------------

DIM = 8


def axis(i: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i] = 1.0
    return vector


def toy_dataset(
    relevant: list[int], query_langs: list[str] | None = None, kinds: list[str] | None = None
) -> Dataset:
    """Six documents d0..d5 (d0-d2 English, d3-d5 Korean) and one query per entry of
    ``relevant``, each with that one relevant document (and the kind in ``kinds``)."""
    langs = ["en", "en", "en", "ko", "ko", "ko"]
    documents = tuple(Document(f"d{i}", f"doc {i}", langs[i]) for i in range(6))
    query_langs = query_langs or ["en"] * len(relevant)
    query_kinds: list[str | None] = list(kinds) if kinds else [None] * len(relevant)
    queries = tuple(
        Query(f"q{i}", f"query {i}", query_langs[i], (f"d{r}",), query_kinds[i])
        for i, r in enumerate(relevant)
    )
    return Dataset("toy", "hand-made", documents, queries)


def table_embed(vectors: dict[str, np.ndarray]) -> Any:
    calls: list[str] = []

    def embed(texts: list[str], input_type: str) -> np.ndarray:
        calls.append(input_type)
        return np.stack([vectors[text] for text in texts])

    embed.calls = calls  # type: ignore[attr-defined]
    return embed


def doc_vectors() -> dict[str, np.ndarray]:
    return {f"doc {i}": axis(i) for i in range(6)}


def test_perfect_ranking_scores_one() -> None:
    dataset = toy_dataset([0, 1, 2, 3, 4, 5])
    vectors = doc_vectors() | {f"query {i}": axis(i) for i in range(6)}
    embed = table_embed(vectors)
    scores = evaluate(dataset, embed)
    assert scores.recall_at_1 == scores.recall_at_5 == scores.mrr == 1.0
    assert scores.overall.queries == 6
    assert scores.documents == 6
    assert embed.calls == ["passage", "query"]  # documents as passages, queries as queries


def test_relevant_document_always_second() -> None:
    dataset = toy_dataset([0, 1, 2, 3])
    vectors = doc_vectors()
    for i in range(4):  # closest to the next document, then to the relevant one
        wrong = (i + 1) % 6
        vectors[f"query {i}"] = 0.9 * axis(wrong) + 0.5 * axis(i)
    scores = evaluate(dataset, table_embed(vectors))
    assert scores.recall_at_1 == 0.0
    assert scores.recall_at_5 == 1.0
    assert scores.mrr == pytest.approx(0.5)
    assert set(scores.ranks.values()) == {(2,)}


def test_relevant_document_last() -> None:
    dataset = toy_dataset([5])
    vectors = doc_vectors()
    vectors["query 0"] = np.array([6, 5, 4, 3, 2, 1, 0, 0], dtype=np.float32)
    scores = evaluate(dataset, table_embed(vectors))
    assert scores.ranks["q0"] == (6,)
    assert scores.recall_at_1 == scores.recall_at_5 == 0.0
    assert scores.mrr == pytest.approx(1 / 6)


def test_mixed_ranks_average() -> None:
    # ranks 1, 2, 6 -> recall@1 1/3, recall@5 2/3, MRR (1 + 1/2 + 1/6) / 3
    dataset = toy_dataset([0, 1, 5])
    vectors = doc_vectors()
    vectors["query 0"] = axis(0)
    vectors["query 1"] = 0.9 * axis(2) + 0.5 * axis(1)
    vectors["query 2"] = np.array([6, 5, 4, 3, 2, 1, 0, 0], dtype=np.float32)
    scores = evaluate(dataset, table_embed(vectors))
    assert scores.recall_at_1 == pytest.approx(1 / 3)
    assert scores.recall_at_5 == pytest.approx(2 / 3)
    assert scores.mrr == pytest.approx((1 + 1 / 2 + 1 / 6) / 3)


def test_ties_count_against_the_model() -> None:
    # Every document the same vector (a model that reads nothing): the relevant one is last.
    dataset = toy_dataset([0, 3])
    same = axis(7)
    vectors = {f"doc {i}": same for i in range(6)} | {"query 0": same, "query 1": axis(0)}
    scores = evaluate(dataset, table_embed(vectors))
    assert scores.ranks == {"q0": (6,), "q1": (6,)}
    assert scores.recall_at_1 == 0.0
    assert scores.recall_at_5 == 0.0
    # Within the tolerance is a tie; beyond it is not.
    row = np.array([0.5, 0.5 + TIE_TOLERANCE / 2, 0.5 - 10 * TIE_TOLERANCE])
    assert ranks(row, [0]) == (2,)
    assert ranks(row, [2]) == (3,)


def test_several_relevant_documents() -> None:
    row = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    assert ranks(row, [1, 6]) == (2, 7)
    assert ranks(row, [6, 1]) == (2, 7)


def test_vectors_need_not_be_unit_rows() -> None:
    dataset = toy_dataset([0, 1])
    vectors = {f"doc {i}": (i + 1) * 3.0 * axis(i) for i in range(6)}
    vectors |= {"query 0": 7 * axis(0), "query 1": 0.2 * axis(1)}
    assert evaluate(dataset, table_embed(vectors)).recall_at_1 == 1.0


def test_breakdown_by_language_and_kind() -> None:
    # en query -> en doc (right), ko query -> ko doc (second), en query -> ko doc (right)
    dataset = toy_dataset([0, 4, 5], query_langs=["en", "ko", "en"])
    vectors = doc_vectors()
    vectors["query 0"] = axis(0)
    vectors["query 1"] = 0.9 * axis(3) + 0.5 * axis(4)
    vectors["query 2"] = axis(5)
    scores = evaluate(dataset, table_embed(vectors))
    assert set(scores.by_language) == {"en", "ko"}
    assert scores.by_language["en"].queries == 2
    assert scores.by_language["en"].recall_at_1 == 1.0
    assert scores.by_language["ko"].mrr == pytest.approx(0.5)
    assert scores.by_language_match["same-language"].queries == 2
    assert scores.by_language_match["same-language"].mrr == pytest.approx(0.75)
    assert scores.by_language_match["cross-language"].queries == 1
    assert scores.by_language_match["cross-language"].recall_at_1 == 1.0
    assert scores.by_kind == {}  # these queries have no kind


def kinds_scores() -> Any:
    """Ranks 1 (description), 2 and 6 (ingredients), 1 (name), in that order of queries."""
    dataset = toy_dataset([0, 1, 5, 3], kinds=["description", "ingredients", "ingredients", "name"])
    vectors = doc_vectors()
    vectors["query 0"] = axis(0)
    vectors["query 1"] = 0.9 * axis(2) + 0.5 * axis(1)
    vectors["query 2"] = np.array([6, 5, 4, 3, 2, 1, 0, 0], dtype=np.float32)
    vectors["query 3"] = axis(3)
    return evaluate(dataset, table_embed(vectors))


def test_breakdown_by_query_kind() -> None:
    scores = kinds_scores()
    assert list(scores.by_kind) == ["name", "ingredients", "description"]  # QUERY_KINDS order
    assert scores.by_kind["name"].queries == 1
    assert scores.by_kind["name"].recall_at_1 == 1.0
    ingredients = scores.by_kind["ingredients"]
    assert ingredients.queries == 2
    assert ingredients.recall_at_1 == 0.0
    assert ingredients.recall_at_5 == pytest.approx(0.5)
    assert ingredients.mrr == pytest.approx((1 / 2 + 1 / 6) / 2)
    assert scores.by_kind["description"].mrr == 1.0
    assert scores.overall.queries == 4


def test_only_keeps_one_part_of_a_set() -> None:
    dataset = toy_dataset([0, 4, 5], query_langs=["en", "ko", "en"])
    english = dataset.only({"en"})
    assert [d.id for d in english.documents] == ["d0", "d1", "d2"]
    assert [q.id for q in english.queries] == ["q0"]  # q2 is English but its document is not


def test_wrong_shapes_are_refused() -> None:
    dataset = toy_dataset([0])

    def short(texts: list[str], input_type: str) -> np.ndarray:
        return np.ones((len(texts) - 1, DIM), dtype=np.float32)

    with pytest.raises(ValueError, match="shape"):
        evaluate(dataset, short)


def test_markdown_table() -> None:
    dataset = toy_dataset([0, 1])
    vectors = doc_vectors() | {"query 0": axis(0), "query 1": 0.9 * axis(2) + 0.5 * axis(1)}
    scores = evaluate(dataset, table_embed(vectors))
    table = markdown_table({"model A": {"toy": scores}, "model B": {"toy": scores}})
    lines = table.splitlines()
    assert lines[0] == "| model | toy recall@1 | toy recall@5 | toy MRR |"
    assert lines[1] == "| --- | ---: | ---: | ---: |"
    assert lines[2] == "| model A | 0.500 | 1.000 | 0.750 |"
    assert lines[3].startswith("| model B |")
    assert "toy: 2 q / 6 docs" in table
    by_language = language_table({"model A": {"toy": scores}}, "toy")
    assert "| model | same-language | en |" in by_language
    assert "| model A | 0.500 / 0.750 (2) | 0.500 / 0.750 (2) |" in by_language
    assert len(lines) == 6  # no kinds, no per-kind rows
    assert kind_table({"model A": {"toy": scores}}, "toy") == ""


def test_markdown_table_rows_per_kind() -> None:
    with_kinds = kinds_scores()
    plain = evaluate(toy_dataset([0]), table_embed(doc_vectors() | {"query 0": axis(0)}))
    results = {"m": {"k": with_kinds, "p": plain}}
    lines = markdown_table(results).splitlines()
    assert lines[2] == "| m | 0.500 | 0.750 | 0.667 | 1.000 | 1.000 | 1.000 |"
    assert lines[3] == "| m: name | 1.000 | 1.000 | 1.000 | - | - | - |"
    assert lines[4] == "| m: ingredients | 0.000 | 0.500 | 0.333 | - | - | - |"
    assert lines[5] == "| m: description | 1.000 | 1.000 | 1.000 | - | - | - |"
    assert "k: 4 q / 6 docs (name 1, ingredients 2, description 1); p: 1 q / 6 docs." in lines[-1]
    # The old form, one row per model, on request.
    assert len(markdown_table(results, kinds=False).splitlines()) == 5

    table = kind_table(results, "k").splitlines()
    assert table[2] == "| model | kind | queries | recall@1 | recall@5 | MRR |"
    assert table[3] == "| --- | --- | ---: | ---: | ---: | ---: |"
    assert table[4] == "| m | all | 4 | 0.500 | 0.750 | 0.667 |"
    assert table[6] == "| m | ingredients | 2 | 0.000 | 0.500 | 0.333 |"
    assert len(table) == 8


def test_markdown_table_several_sets() -> None:
    dataset = toy_dataset([0])
    scores = evaluate(dataset, table_embed(doc_vectors() | {"query 0": axis(0)}))
    table = markdown_table({"m": {"a": scores, "b": scores}})
    header = table.splitlines()[0]
    assert header == (
        "| model | a recall@1 | a recall@5 | a MRR | b recall@1 | b recall@5 | b MRR |"
    )


# --- model_embed: with and without OnnxEmbedder.embed(input_type=...) --------------------------


class FakeResult:
    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors


class FakeManifest:
    def __init__(self, prompts: dict[str, str] | None) -> None:
        self.prompts = prompts
        self.name = "fake"
        self.variant = "fp32"


class OldModel:
    """An embedder whose embed() has no input_type (before the parameter existed)."""

    def __init__(self, prompts: dict[str, str] | None) -> None:
        self.manifest = FakeManifest(prompts)
        self.seen: list[list[str]] = []

    def embed(self, texts: list[str], *, normalize: bool = True) -> FakeResult:
        self.seen.append(list(texts))
        return FakeResult(np.ones((len(texts), DIM), dtype=np.float32))


class NewModel(OldModel):
    """An embedder whose embed() takes input_type and applies the prompt itself."""

    def embed(
        self, texts: list[str], *, normalize: bool = True, input_type: str | None = None
    ) -> FakeResult:
        self.seen.append([f"<{input_type}>{text}" for text in texts])
        return FakeResult(np.ones((len(texts), DIM), dtype=np.float32))


def test_model_embed_adds_the_prompt_when_embed_cannot() -> None:
    model = OldModel({"query": "query: ", "passage": "passage: "})
    embed = model_embed(model)  # type: ignore[arg-type]
    embed(["a"], "query")
    embed(["b"], "passage")
    assert model.seen == [["query: a"], ["passage: b"]]


def test_model_embed_without_prompts_embeds_raw_text() -> None:
    model = OldModel(None)
    model_embed(model)(["a"], "query")  # type: ignore[arg-type]
    assert model.seen == [["a"]]


def test_model_embed_passes_input_type_when_embed_takes_it() -> None:
    model = NewModel({"query": "query: ", "passage": "passage: "})
    vectors = model_embed(model)(["a", "b"], "passage")  # type: ignore[arg-type]
    assert model.seen == [["<passage>a", "<passage>b"]]  # not prefixed twice
    assert vectors.shape == (2, DIM)
