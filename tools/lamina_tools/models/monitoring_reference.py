"""Drift monitoring's reference samples, made at build time (``REFERENCE_FILE``).

Every model that drift monitoring watches carries, in its directory, a sample of the
records the serving functions write for sampled requests (``lamina.monitoring.samples``),
made at build time by the model itself from data representative of what it was built for.
The scheduled drift check compares recent traffic with it (``lamina.monitoring.drift``).

Which data, per model (for the embedding models ``reference_texts``, and ``holdout_texts``
gives more of the same distribution, never one of the reference's texts, for tests that
need a stable stream; the classifiers' builders pass their own, so this module imports
neither of them):

- **all-MiniLM-L6-v2** (English): the English part of the build's retrieval corpus
  (``corpus_entries(2000)``: the intent queries and standard library paragraphs whose text
  is ASCII, so the few non-English intent queries are left out), in the corpus' SHA-256
  order; the first ``REFERENCE_SIZE`` are the reference, the rest the holdout. Korean
  traffic then shows as drift.
- **multilingual-e5-small** (~100 languages): the whole mixed corpus (reference sentences,
  non-English texts in 20 locales Korean included, intent queries, stdlib paragraphs), same
  split. Embedded as passages (``EMBEDDING_INPUT_TYPE``, the ``passage: `` prompt), as the
  build's quality gate embeds them.
- **intent-classifier**: the queries it is evaluated on at build (``intent_corpus.txt``),
  in SHA-256 order: the first 256 are the reference, the other 128 the holdout
  (``lamina_tools.models.intent.monitoring_queries``).
- **spam-detector**: its held-out stream (``generate(n, HELD_OUT_SEED)``, never trained on):
  the first 500 messages are the reference, the next ones the holdout
  (``lamina_tools.models.spam.monitoring_messages``). The generator repeats its short
  templates, so a holdout message can have the same text as a reference message (about 4%
  do), as independent draws of the same stream do.

Records are the sampler's (variant ``control``): text statistics with the embedding
(embedding models) or the top label and its probability (classifiers), or the tabular row
of ``FEATURES`` with the predicted label and its probability (spam detector). They are
deterministic: fixed texts in a fixed order, embedded in the same batches, vectors rounded
to 5 decimals. Each ``write_*_reference`` writes ``REFERENCE_FILE`` into a directory whose
manifest is already written, lists it in ``files`` and rewrites the manifest with
``monitoring``; the builders call it before renaming the staged directory into place.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from lamina.models.manifest import (
    Manifest,
    MonitoringSpec,
    file_entry,
    read_labels,
    read_manifest,
    write_manifest,
)
from lamina.monitoring.inputs import text_stats
from lamina.monitoring.samples import REFERENCE_FILE, row_records, text_records, to_jsonl
from lamina_tools.models.corpus import DEFAULT_SIZE, CorpusText, corpus_entries

MINILM: Final = "all-MiniLM-L6-v2"
E5: Final = "multilingual-e5-small"
INTENT: Final = "intent-classifier"
SPAM: Final = "spam-detector"
MODELS = (MINILM, E5, INTENT, SPAM)

VARIANT: Final = "control"  # lamina.api.variants.CONTROL: the build's own model
REFERENCE_SIZE = 500  # records per reference (vectors: ~3.5 KB each, ~1.8 MB per file)
CORPUS_SIZE = DEFAULT_SIZE  # the retrieval corpus the embedding references come from
# e5 was trained with prompts: its reference (and a stream compared with it) is embedded as
# passages, as the quality gate does. Models without prompts ignore it.
EMBEDDING_INPUT_TYPE: Final = "passage"
SPAM_FEATURE_INPUT: Final = "features"


# --- the texts ----------------------------------------------------------------------------


def _english(entry: CorpusText) -> bool:
    """An English text of the corpus: an intent query or stdlib paragraph, ASCII only."""
    return entry.source in ("intent", "stdlib") and entry.text.isascii()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def _pool(model_name: str) -> tuple[tuple[str, ...], int]:
    """A text model's texts in their fixed order, and how many of the first are the
    reference (the rest is the holdout)."""
    if model_name == MINILM:
        entries = corpus_entries(CORPUS_SIZE)  # already in SHA-256 order
        return tuple(e.text for e in entries if _english(e)), REFERENCE_SIZE
    if model_name == E5:
        return tuple(e.text for e in corpus_entries(CORPUS_SIZE)), REFERENCE_SIZE
    raise ValueError(
        f"no reference texts for {model_name!r} here (embedding models: {MINILM}, {E5}); the "
        "classifiers' are lamina_tools.models.intent.monitoring_queries and "
        "lamina_tools.models.spam.monitoring_messages"
    )


def reference_texts(model_name: str) -> list[str]:
    """The texts of an embedding model's reference sample, in the order of its records."""
    texts, size = _pool(model_name)
    return list(texts[:size])


def holdout_texts(model_name: str, n: int) -> list[str]:
    """``n`` texts of the same distribution as an embedding model's reference, none of them
    in it: a stable stream for drift tests.

    Available: all-MiniLM-L6-v2 954, multilingual-e5-small 1,500. ValueError beyond.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    texts, size = _pool(model_name)
    rest = texts[size:]
    if n > len(rest):
        raise ValueError(f"{model_name} has {len(rest)} holdout texts, {n} asked for")
    return list(rest[:n])


# --- the records --------------------------------------------------------------------------


def embedding_records(model_dir: Path, manifest: Manifest) -> list[dict[str, Any]]:
    """The reference records of an embedding model: statistics and unit vectors."""
    from lamina.inference.embedder import OnnxEmbedder

    texts = reference_texts(manifest.name)
    embedder = OnnxEmbedder.load(model_dir)
    result = embedder.embed(texts, normalize=True, input_type=EMBEDDING_INPUT_TYPE)
    stats = text_stats(texts, result.token_counts, result.truncated, result.unknown_tokens)
    return text_records(
        manifest.name, manifest.version, VARIANT, stats, vectors=result.vectors.tolist()
    )


def classifier_records(
    model_dir: Path, manifest: Manifest, texts: Sequence[str]
) -> list[dict[str, Any]]:
    """The reference records of a text classifier on ``texts``: statistics, top label, its
    probability."""
    from lamina.inference.classifier import OnnxTextClassifier

    classifier = OnnxTextClassifier.load(model_dir)
    result = classifier.classify(texts, top_k=1)
    stats = text_stats(texts, result.token_counts, result.truncated, result.unknown_tokens)
    return text_records(
        manifest.name,
        manifest.version,
        VARIANT,
        stats,
        labels=[row[0].label for row in result.labels],
        confidences=[row[0].confidence for row in result.labels],
    )


def tabular_records(
    model_dir: Path,
    manifest: Manifest,
    feature_input: str,
    names: Sequence[str],
    matrix: np.ndarray,
) -> list[dict[str, Any]]:
    """The reference records of a tabular classifier: its feature rows (``feature_input``,
    columns ``names``), the top label (of ``probabilities``) and its probability."""
    from lamina.inference.session import create_session

    session = create_session(model_dir / manifest.model_file, 1)
    (probabilities,) = session.run(["probabilities"], {feature_input: matrix})
    labels = read_labels(model_dir, manifest)
    best = probabilities.argmax(axis=1)
    return row_records(
        manifest.name,
        manifest.version,
        VARIANT,
        names,
        matrix.astype(np.float64).tolist(),
        labels=[labels[int(i)] for i in best],
        confidences=[float(probabilities[row, int(i)]) for row, i in enumerate(best)],
    )


# --- the directory ------------------------------------------------------------------------


def attach_reference(
    model_dir: Path,
    manifest: Manifest,
    records: Sequence[dict[str, Any]],
    monitoring: MonitoringSpec,
) -> Manifest:
    """Write ``records`` as ``REFERENCE_FILE``, list it in ``files`` (sorted by path, as the
    builders list theirs) and rewrite the manifest with ``monitoring``; return it."""
    path = model_dir / REFERENCE_FILE
    path.write_bytes(to_jsonl(records))
    path.chmod(0o644)  # Lambda runs the function as a non-root user
    files = [entry for entry in manifest.files if entry.path != REFERENCE_FILE]
    files.append(file_entry(model_dir, REFERENCE_FILE))
    updated = manifest.model_copy(
        update={"files": sorted(files, key=lambda e: e.path), "monitoring": monitoring}
    )
    write_manifest(model_dir, updated)
    return updated


def write_embedding_reference(model_dir: Path) -> Manifest:
    """The reference sample of a built embedding model (all-MiniLM-L6-v2, e5)."""
    manifest = read_manifest(model_dir)
    records = embedding_records(model_dir, manifest)
    return attach_reference(
        model_dir, manifest, records, MonitoringSpec(reference_file=REFERENCE_FILE)
    )


def write_classifier_reference(model_dir: Path, texts: Sequence[str]) -> Manifest:
    """The reference sample of a built text classifier (intent-classifier), on ``texts``."""
    manifest = read_manifest(model_dir)
    records = classifier_records(model_dir, manifest, texts)
    return attach_reference(
        model_dir, manifest, records, MonitoringSpec(reference_file=REFERENCE_FILE)
    )


def write_tabular_reference(
    model_dir: Path,
    names: Sequence[str],
    rows: Sequence[Sequence[float]],
    feature_input: str = SPAM_FEATURE_INPUT,
) -> Manifest:
    """The reference sample of a built tabular classifier (spam-detector): ``rows`` of its
    ``feature_input``, whose columns are ``names``."""
    manifest = read_manifest(model_dir)
    # float32, as the model reads them and as the serving function samples them
    matrix = np.asarray(rows, dtype=np.float32)
    records = tabular_records(model_dir, manifest, feature_input, list(names), matrix)
    spec = MonitoringSpec(
        reference_file=REFERENCE_FILE, feature_input=feature_input, features=list(names)
    )
    return attach_reference(model_dir, manifest, records, spec)
