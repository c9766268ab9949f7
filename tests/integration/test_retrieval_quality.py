"""Retrieval quality of the built models on the evaluation sets (infra/bench/data/retrieval-*).

all-MiniLM-L6-v2 has an English WordPiece vocabulary: Korean becomes [UNK] and loose jamo,
so it cannot do the Korean recipe search; it does well on the English part of the mixed set.
multilingual-e5-small (q4) reads Korean. The Korean set's queries have a kind: the dish named
("김치 찌개 만드는법"), its ingredients with the cooking method or taste ("소고기 무 넣고 맑게
끓인 국"), or a riddle-like description; every model is measured per kind.

The floors (E5_FLOORS, MINILM_FLOORS) sit a margin below the scores measured when the test was
written (in the comments), so that only a real regression fails. They are not the product
targets (E5_TARGETS): the q4 model reaches them on the queries users mostly type (names and
ingredients, in Korean), not on the descriptions or the English queries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infra.bench.retrieval import (
    Dataset,
    Embed,
    Metrics,
    RetrievalScores,
    evaluate,
    load_dataset,
    model_embed,
)
from infra.bench.retrieval_sets import QUERY_KINDS, SET_NAMES
from lamina.inference.embedder import OnnxEmbedder

KINDS = ("all", *QUERY_KINDS)  # "all": the whole Korean set

# Measured on 2026-12-04, q4, Korean set 294 queries (name 98, ingredients 63, description 133;
# 21 of them English: 18 name, 3 ingredients):
#   all          recall@1 0.575  recall@5 0.745  MRR 0.655
#   name         recall@1 0.694  recall@5 0.776  MRR 0.734
#   ingredients  recall@1 0.889  recall@5 0.968  MRR 0.922
#   description  recall@1 0.338  recall@5 0.617  MRR 0.470
# The Korean queries alone: name recall@1 0.850 (80), ingredients 0.933 (60); the English
# queries all miss at rank 1 (MRR 0.062). Mixed set: recall@5 0.835, same-language recall@1
# 0.962.
E5_FLOORS = {
    "all": {"recall@1": 0.50, "recall@5": 0.65, "MRR": 0.57},
    "name": {"recall@1": 0.60, "recall@5": 0.68, "MRR": 0.64},
    "ingredients": {"recall@1": 0.80, "recall@5": 0.90, "MRR": 0.85},
    "description": {"recall@1": 0.27, "recall@5": 0.52, "MRR": 0.39},
}
E5_KOREAN_QUERY_FLOORS = {"name": 0.75, "ingredients": 0.85}  # recall@1, Korean queries only
E5_MIXED_FLOORS = {"recall@5": 0.75, "same-language recall@1": 0.90}
# What the recipe search asked for: met on Korean name and ingredients queries only.
E5_TARGETS = {"korean recall@1": 0.8, "korean MRR": 0.85, "mixed recall@5": 0.9}

# Measured on 2026-12-04 (fp32 / int8), Korean set:
#   all          recall@1 0.088 / 0.092  recall@5 0.204 / 0.197  MRR 0.157 / 0.158
#   name         recall@1 0.071 / 0.061  recall@5 0.235 / 0.184  MRR 0.140 / 0.130
#   ingredients  recall@1 0.222 / 0.254  recall@5 0.444 / 0.460  MRR 0.344 / 0.360
#   description  recall@1 0.038 / 0.038  recall@5 0.068 / 0.083  MRR 0.081 / 0.082
# Ingredient queries share whole words (the jamo and [UNK] runs of 고추장, 두부) with their
# document, hence the better scores; recall@1 is too small elsewhere for a floor.
MINILM_FLOORS = {
    "all": {"recall@5": 0.15, "MRR": 0.12},
    "name": {"recall@5": 0.13, "MRR": 0.09},
    "ingredients": {"recall@1": 0.15, "recall@5": 0.35, "MRR": 0.27},
    "description": {"recall@5": 0.04, "MRR": 0.05},
}
METRIC_NAMES = {"recall@1": "recall_at_1", "recall@5": "recall_at_5", "MRR": "mrr"}


def by_kind(scores: RetrievalScores) -> dict[str, Metrics]:
    return {"all": scores.overall, **scores.by_kind}


def below(floors: dict[str, dict[str, float]], scores: RetrievalScores) -> dict[str, float]:
    """The "kind metric" values under their floor."""
    found = by_kind(scores)
    return {
        f"{kind} {metric}": round(value, 3)
        for kind, metrics in floors.items()
        for metric, floor in metrics.items()
        if (value := getattr(found[kind], METRIC_NAMES[metric])) < floor
    }


@pytest.fixture(scope="module")
def datasets() -> dict[str, Dataset]:
    return {name: load_dataset(name) for name in SET_NAMES}


def test_the_korean_set_has_every_kind(datasets: dict[str, Dataset]) -> None:
    kinds = {q.kind for q in datasets["korean"].queries}
    assert kinds == set(QUERY_KINDS)


# --- all-MiniLM-L6-v2 --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm(fp32_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(fp32_dir)


@pytest.fixture(scope="module")
def minilm_embed(minilm: OnnxEmbedder) -> Embed:
    return model_embed(minilm)


@pytest.fixture(scope="module")
def minilm_scores(minilm_embed: Embed, datasets: dict[str, Dataset]) -> dict[str, RetrievalScores]:
    """fp32, on every set."""
    return {name: evaluate(dataset, minilm_embed) for name, dataset in datasets.items()}


@pytest.fixture(scope="module")
def minilm_korean(
    minilm_scores: dict[str, RetrievalScores], int8_dir: Path, datasets: dict[str, Dataset]
) -> dict[str, RetrievalScores]:
    """fp32 and int8 on the Korean set."""
    int8 = model_embed(OnnxEmbedder.load(int8_dir))
    return {"fp32": minilm_scores["korean"], "int8": evaluate(datasets["korean"], int8)}


def test_minilm_cannot_do_the_korean_recipe_search(
    minilm_korean: dict[str, RetrievalScores],
) -> None:
    for variant, korean in minilm_korean.items():
        assert korean.recall_at_1 < 0.2, (variant, korean.overall)  # measured 0.09
        assert korean.mrr < 0.25, (variant, korean.overall)  # measured 0.16
        assert korean.by_language["en"].recall_at_1 < 0.2  # English queries, Korean documents
        for kind in ("name", "description"):
            assert korean.by_kind[kind].recall_at_1 < 0.15, (variant, kind)  # 0.07, 0.04
        assert korean.by_kind["ingredients"].recall_at_1 < 0.4, variant  # 0.22 / 0.25


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_minilm_floors_per_kind(variant: str, minilm_korean: dict[str, RetrievalScores]) -> None:
    korean = minilm_korean[variant]
    under = below(MINILM_FLOORS, korean)
    assert not under, f"{variant} below the floors {MINILM_FLOORS}: {under}"


def test_minilm_reads_korean_as_unknown_tokens(
    minilm: OnnxEmbedder, minilm_embed: Embed, datasets: dict[str, Dataset]
) -> None:
    documents = datasets["korean"].documents
    words = [w for d in documents for w in d.text.split() if any("가" <= c <= "힣" for c in w)]
    unknown = [w for w in words if minilm.tokenize(w).tokens[1:-1] == ["[UNK]"]]
    assert len(unknown) >= 0.2 * len(words)  # measured 33%; the rest become loose jamo

    # So the Korean documents crowd together, unlike English ones.
    def mean_pairwise_cosine(texts: list[str]) -> float:
        vectors = minilm_embed(texts, "passage")
        similarity = vectors @ vectors.T
        return float(similarity[np.triu_indices(len(texts), 1)].mean())

    korean = mean_pairwise_cosine([d.text for d in documents])
    english = mean_pairwise_cosine([d.text for d in datasets["mixed"].only({"en"}).documents])
    assert korean > 0.5, korean  # measured 0.70
    assert english < 0.2, english  # measured 0.04
    assert korean > 5 * english


def test_minilm_does_well_on_the_english_part_of_the_mixed_set(
    minilm_embed: Embed, minilm_scores: dict[str, RetrievalScores], datasets: dict[str, Dataset]
) -> None:
    english = evaluate(datasets["mixed"].only({"en"}), minilm_embed)
    assert english.overall.queries >= 15
    assert english.recall_at_1 >= 0.85, english.overall  # measured 1.0
    assert english.mrr >= 0.9, english.overall

    # The same English queries ranked against all 155 documents in 11 languages.
    mixed = minilm_scores["mixed"]
    languages = {d.id: d.lang for d in datasets["mixed"].documents}
    in_english = [
        mixed.ranks[q.id][0]
        for q in datasets["mixed"].queries
        if q.lang == "en" and languages[q.relevant[0]] == "en"
    ]
    assert np.mean([rank <= 5 for rank in in_english]) >= 0.9, in_english  # measured 1.0


def test_minilm_cannot_cross_languages(minilm_scores: dict[str, RetrievalScores]) -> None:
    cross = minilm_scores["mixed"].by_language_match["cross-language"]
    assert cross.queries >= 100
    assert cross.recall_at_1 < 0.25, cross  # measured 0.07


# --- multilingual-e5-small ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def e5_embed(e5_dir: Path) -> Embed:
    model = OnnxEmbedder.load(e5_dir)
    assert model.manifest.prompts, "e5 was trained with query/passage prompts"
    return model_embed(model)


@pytest.fixture(scope="module")
def e5_scores(e5_embed: Embed, datasets: dict[str, Dataset]) -> dict[str, RetrievalScores]:
    return {name: evaluate(dataset, e5_embed) for name, dataset in datasets.items()}


def test_multilingual_e5_floors_per_kind(e5_scores: dict[str, RetrievalScores]) -> None:
    korean = e5_scores["korean"]
    under = below(E5_FLOORS, korean)
    measured = {
        kind: f"{m.recall_at_1:.3f} / {m.recall_at_5:.3f} / {m.mrr:.3f}"
        for kind, m in by_kind(korean).items()
    }
    assert not under, f"below the floors {E5_FLOORS}: {under} (r@1 / r@5 / MRR: {measured})"


def test_multilingual_e5_finds_korean_names_and_ingredients(
    e5_embed: Embed, datasets: dict[str, Dataset]
) -> None:
    """On what users mostly type, in Korean, e5 reaches the recall@1 the search asked for."""
    korean = evaluate(datasets["korean"].only({"ko"}), e5_embed)
    for kind, floor in E5_KOREAN_QUERY_FLOORS.items():
        found = korean.by_kind[kind]
        assert found.queries >= 40, kind
        assert found.recall_at_1 >= floor, (kind, found)  # measured 0.850 / 0.933


def test_multilingual_e5_retrieves_across_languages(
    e5_scores: dict[str, RetrievalScores], minilm_scores: dict[str, RetrievalScores]
) -> None:
    mixed = e5_scores["mixed"]
    measured = {
        "recall@5": mixed.recall_at_5,
        "same-language recall@1": mixed.by_language_match["same-language"].recall_at_1,
    }
    under = {k: round(v, 3) for k, v in measured.items() if v < E5_MIXED_FLOORS[k]}
    assert not under, f"below the floors {E5_MIXED_FLOORS}: {under} (all: {measured})"
    assert (
        mixed.by_language_match["cross-language"].mrr
        >= 2 * minilm_scores["mixed"].by_language_match["cross-language"].mrr
    )


def test_multilingual_e5_beats_minilm_on_korean_per_kind(
    e5_scores: dict[str, RetrievalScores], minilm_korean: dict[str, RetrievalScores]
) -> None:
    """Far better than the English-only model where it matters: overall and on every kind
    (the closest: ingredients, MRR 0.922 vs 0.360, recall@1 0.889 vs 0.254)."""
    e5 = by_kind(e5_scores["korean"])
    for variant, scores in minilm_korean.items():
        minilm = by_kind(scores)
        for kind in KINDS:
            assert e5[kind].mrr >= 2 * minilm[kind].mrr, (variant, kind, e5[kind], minilm[kind])
            assert e5[kind].recall_at_1 >= minilm[kind].recall_at_1 + 0.25, (variant, kind)
    assert e5["all"].mrr >= 4 * by_kind(minilm_korean["fp32"])["all"].mrr  # 0.655 vs 0.157
