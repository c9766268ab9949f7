"""The benchmark corpus: ``lamina_tools.models.corpus.retrieval_corpus``, the quality gate's texts.

``bench_corpus(n)`` is the library's ``retrieval_corpus(n)`` (2,000 texts by default: English
docstring paragraphs and support queries, 25% non-English text in 11 scripts, the reference
SENTENCES; see that module for exactly what it is), so ``make bench`` measures speed and
quality on the same texts that ``lamina models build`` gates every variant on.

``job_texts`` stretches the same pool to any length for the batch-job benchmark (``job_line``
writes one JSONL input line).
"""

from __future__ import annotations

import hashlib
import json
import re

from lamina_tools.models.corpus import (
    DEFAULT_SIZE,
    STDLIB_MODULES,
    CorpusText,
    corpus_entries,
    retrieval_corpus,
    stdlib_paragraphs,
)

__all__ = [
    "STDLIB_MODULES",
    "CorpusText",
    "bench_corpus",
    "corpus_entries",
    "job_line",
    "job_texts",
    "non_english_count",
    "stdlib_paragraphs",
]


def bench_corpus(n: int = DEFAULT_SIZE) -> list[str]:
    """``n`` texts: the quality gate's retrieval corpus (``retrieval_corpus(n)``)."""
    return retrieval_corpus(n)


def non_english_count(n: int = DEFAULT_SIZE) -> int:
    """How many of ``bench_corpus(n)`` are non-English texts (the reference SENTENCES, which
    mix languages, are not counted)."""
    return sum(entry.source == "non-english" for entry in corpus_entries(n))


# --- batch jobs ------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
JOB_MAX_CHARS = 1500


def job_texts(n: int) -> list[str]:
    """``n`` texts for a batch job, built from the pool of ``bench_corpus()`` (its 2,000
    texts), varied so a long job is not one text list repeated.

    Round 0 is the pool once, in SHA-256 order. Every later round takes the pool in another
    SHA-256 order (of the round and the index) and varies each text by a hash-chosen kind: half
    are kept as they are, a quarter are cut to their first half of sentences, a quarter are
    joined with the next text of the round (when the two fit in 1,500 characters). Texts repeat,
    which costs the model the same as distinct texts: nothing in lamina caches vectors.
    Deterministic for a given Python and Faker version.
    """
    pool = bench_corpus()
    out: list[str] = []
    round_ = 0
    while len(out) < n:
        seed = round_
        order = sorted(
            range(len(pool)), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest()
        )
        for k, i in enumerate(order[: n - len(out)]):
            text = pool[i]
            if round_ > 0:
                kind = hashlib.sha256(f"kind {round_}:{i}".encode()).digest()[0] % 4
                if kind == 1:
                    sentences = _SENTENCE_END.split(text)
                    text = " ".join(sentences[: (len(sentences) + 1) // 2])
                elif kind == 2:
                    following = pool[order[(k + 1) % len(order)]]
                    if len(text) + 1 + len(following) <= JOB_MAX_CHARS:
                        text = f"{text} {following}"
            out.append(text)
        round_ += 1
    return out


def job_line(index: int, text: str) -> str:
    """One line of a JSONL job input: ``{"id": "doc-0000042", "text": ...}`` and a newline."""
    return json.dumps({"id": f"doc-{index:07d}", "text": text}, ensure_ascii=False) + "\n"
