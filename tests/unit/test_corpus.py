"""The retrieval corpus (quality gate + benchmark): size, mix of languages and scripts,
determinism, and the calibration texts staying out of it."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import pytest

from infra.bench.corpus import bench_corpus, job_texts, non_english_count
from lamina_tools.models.corpus import (
    LOCALES,
    NON_ENGLISH_SHARE,
    CorpusText,
    calibration_texts,
    corpus_entries,
    retrieval_corpus,
)
from lamina_tools.models.reference import SENTENCES


@pytest.fixture(scope="module")
def entries() -> list[CorpusText]:
    return corpus_entries(2000)


def scripts(text: str) -> set[str]:
    """First word of the Unicode name of each letter: LATIN, CJK, HANGUL, CYRILLIC..."""
    return {unicodedata.name(ch, "?").split()[0] for ch in text if ch.isalpha()}


def test_two_thousand_distinct_texts_same_as_the_benchmark(entries: list[CorpusText]) -> None:
    texts = [e.text for e in entries]
    assert len(texts) == 2000
    assert len(set(texts)) == 2000
    assert texts == retrieval_corpus(2000) == bench_corpus(2000)


def test_mix_of_sources(entries: list[CorpusText]) -> None:
    sources = Counter(e.source for e in entries)
    assert sources["non-english"] == round(2000 * NON_ENGLISH_SHARE) == non_english_count(2000)
    assert sources["reference"] == len(set(SENTENCES))
    assert 300 <= sources["intent"] <= 400
    assert sources["stdlib"] >= 1000


def test_every_locale_and_many_scripts(entries: list[CorpusText]) -> None:
    languages = Counter(e.language for e in entries if e.source == "non-english")
    assert set(languages) == {locale for locale, _ in LOCALES}
    seen: set[str] = set()
    for entry in entries:
        if entry.source == "non-english":
            seen |= scripts(entry.text)
    expected = {"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "CYRILLIC", "ARABIC", "HEBREW"}
    assert expected | {"GREEK", "THAI", "BENGALI", "LATIN"} <= seen


def test_korean_texts_are_hangul(entries: list[CorpusText]) -> None:
    korean = [e.text for e in entries if e.language == "ko_KR"]
    assert korean
    for text in korean:
        letters = [ch for ch in text if ch.isalpha()]
        hangul = sum(unicodedata.name(ch, "").startswith("HANGUL") for ch in letters)
        assert hangul / len(letters) > 0.9, text


def test_lengths_vary(entries: list[CorpusText]) -> None:
    lengths = sorted(len(e.text) for e in entries)
    assert lengths[0] < 20
    assert lengths[len(lengths) // 2] < 200
    assert lengths[-1] > 1000
    non_english = [len(e.text) for e in entries if e.source == "non-english"]
    assert min(non_english) < 60
    assert max(non_english) > 400


def test_deterministic_and_prefix_stable() -> None:
    assert retrieval_corpus(1000) == retrieval_corpus(1000)
    # a bigger corpus keeps every non-English text and stdlib paragraph of a smaller one
    big = {e.text: e for e in corpus_entries(2400)}
    kept = [e for e in corpus_entries(2000) if e.source in ("non-english", "stdlib")]
    assert all(e.text in big for e in kept)


def test_calibration_texts_are_outside_the_gate_corpus() -> None:
    calibration = calibration_texts(128)
    assert len(calibration) == len(set(calibration)) == 128
    assert not set(calibration) & set(retrieval_corpus(2000))
    assert any(re.search(r"[^\x00-\x7f]", text) for text in calibration)


def test_job_texts_still_vary_the_pool() -> None:
    texts = job_texts(2500)
    assert len(texts) == 2500
    assert texts[:2000] != retrieval_corpus(2000)  # round 0 is the pool in hash order
    assert set(texts[:2000]) == set(retrieval_corpus(2000))
    assert set(texts[2000:]) - set(texts[:2000])  # later rounds cut or join texts


def test_corpus_does_not_depend_on_what_the_process_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Libraries patch the standard library when imported (transformers adds
    ``logging.Logger.warning_advice``, others replace module functions): the gate's and the
    bench's texts must not change with that (issue 12)."""
    import logging
    import textwrap

    before = retrieval_corpus(2000)
    before_calibration = calibration_texts(64)

    def warning_advice(self: logging.Logger) -> None:
        """Patched in by a library: a docstring paragraph that is long enough to count."""

    def dedent(text: str) -> str:
        """A replacement for textwrap.dedent whose docstring differs from the original."""
        return text

    monkeypatch.setattr(logging.Logger, "warning_advice", warning_advice, raising=False)
    monkeypatch.setattr(textwrap, "dedent", dedent)
    dedent.__module__ = "textwrap"  # as if the module had defined it
    assert retrieval_corpus(2000) == before
    assert calibration_texts(64) == before_calibration
