"""Drift monitoring's reference samples in the built model directories (`make models`).

Each monitored model carries ``reference-sample.jsonl`` (``lamina_tools.models.
monitoring_reference``): listed and hashed in its manifest, the sampler's records, made
from the texts ``reference_texts`` names (and never from ``holdout_texts``').
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.models.manifest import Manifest, file_sha256, read_labels, read_manifest
from lamina.monitoring.inputs import dominant_script
from lamina.monitoring.samples import REFERENCE_FILE, parse_jsonl
from lamina_tools.models import intent, spam
from lamina_tools.models import monitoring_reference as mr
from lamina_tools.models.spam import FEATURES, LABELS, features
from tests.conftest import E5_ROOT, MODEL_ROOT, ROOT

BUILT = {
    "minilm-fp32": MODEL_ROOT / "fp32",
    "minilm-int8": MODEL_ROOT / "int8",
    "e5": E5_ROOT / "q4",
    "intent": ROOT / "build/models/intent-classifier",
    "spam": ROOT / "build/models/spam-detector",
}
EMBEDDING = ("minilm-fp32", "minilm-int8", "e5")
TEXT = (*EMBEDDING, "intent")
RECORD_KEYS = {"model", "version", "variant", "kind"}
TEXT_KEYS = RECORD_KEYS | {"chars", "tokens", "truncated", "unk", "scripts"}
MAX_BYTES = 2 * 1024 * 1024


def built(key: str) -> Path:
    path = BUILT[key]
    if not (path / "manifest.json").is_file():
        pytest.fail(f"no built model at {path}: run `make models` first", pytrace=False)
    return path


@functools.cache
def loaded(key: str) -> tuple[Manifest, list[dict[str, Any]]]:
    """The model's manifest and its reference sample's records (read once per session)."""
    path = built(key)
    records, bad = parse_jsonl((path / REFERENCE_FILE).read_bytes())
    assert bad == 0, f"{bad} lines of {path / REFERENCE_FILE} are not JSON objects"
    return read_manifest(path), records


@pytest.mark.parametrize("key", list(BUILT))
def test_reference_file_is_listed_and_hashed(key: str) -> None:
    path = built(key)
    manifest = read_manifest(path)
    assert manifest.monitoring is not None
    assert manifest.monitoring.reference_file == REFERENCE_FILE
    entry = manifest.file(REFERENCE_FILE)
    reference = path / REFERENCE_FILE
    assert entry.sha256 == file_sha256(reference)
    assert entry.size == reference.stat().st_size < MAX_BYTES
    assert reference.stat().st_mode & 0o777 == 0o644
    paths = [e.path for e in manifest.files]
    assert paths == sorted(paths)


@pytest.mark.parametrize("key", list(BUILT))
def test_records_name_the_model_and_the_control_variant(key: str) -> None:
    manifest, records = loaded(key)
    expected = intent.MONITORING_REFERENCE_SIZE if key == "intent" else mr.REFERENCE_SIZE
    assert len(records) == expected
    assert {(r["model"], r["version"], r["variant"]) for r in records} == {
        (manifest.name, manifest.version, "control")
    }


@pytest.mark.parametrize("key", TEXT)
def test_text_records_are_the_reference_texts(key: str) -> None:
    manifest, records = loaded(key)
    output = {"vector"} if key in EMBEDDING else {"label", "confidence"}
    for record in records:
        assert set(record) == TEXT_KEYS | output
        assert record["kind"] == "text"
        assert 0 <= record["unk"] <= record["tokens"] <= (manifest.max_seq_length or 0)
        assert isinstance(record["truncated"], bool)
        assert set(record["scripts"]) == {"hangul", "latin", "han", "cyrillic", "other"}
    if key == "intent":
        texts, rest = intent.monitoring_queries()
        holdout = rest[:100]
    else:
        texts, holdout = mr.reference_texts(manifest.name), mr.holdout_texts(manifest.name, 100)
    assert [r["chars"] for r in records] == [len(text) for text in texts]
    assert len(holdout) == 100
    assert not set(holdout) & set(texts)


@pytest.mark.parametrize("key", EMBEDDING)
def test_embedding_records_hold_unit_vectors_of_the_model(key: str) -> None:
    manifest, records = loaded(key)
    vectors = np.asarray([r["vector"] for r in records], dtype=np.float64)
    assert vectors.shape == (len(records), manifest.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert manifest.monitoring is not None
    assert manifest.monitoring.features is None


def test_intent_records_hold_a_label_and_its_confidence() -> None:
    manifest, records = loaded("intent")
    labels = set(read_labels(built("intent"), manifest))
    assert {r["label"] for r in records} <= labels
    assert all(0 < r["confidence"] <= 1 for r in records)
    assert len({r["label"] for r in records}) > 20  # the corpus spans many intents


def test_spam_records_are_feature_rows_with_the_prediction() -> None:
    manifest, records = loaded("spam")
    assert manifest.monitoring is not None
    assert manifest.monitoring.feature_input == "features"
    assert manifest.monitoring.features == list(FEATURES)
    rows = [features(text) for text in spam.monitoring_messages(0, 500)]
    for record, row in zip(records, rows, strict=True):
        assert set(record) == RECORD_KEYS | {"features", "label", "confidence"}
        assert record["kind"] == "tabular"
        assert list(record["features"]) == list(FEATURES)
        np.testing.assert_allclose(list(record["features"].values()), row, rtol=1e-6)
        assert record["label"] in LABELS
        assert 0.5 <= record["confidence"] <= 1
    assert set(Counter(r["label"] for r in records)) == set(LABELS)
    # the holdout: the held-out stream's next messages, a stream (longer ones extend shorter)
    holdout = spam.monitoring_messages(500, 700)
    assert holdout[:50] == spam.monitoring_messages(500, 550)
    assert holdout[:50] != spam.monitoring_messages(0, 50)


def hangul_dominant(key: str) -> int:
    return sum(dominant_script(r["scripts"]) == "hangul" for r in loaded(key)[1])


def test_minilm_reference_is_english_and_e5s_has_korean() -> None:
    assert hangul_dominant("minilm-fp32") == hangul_dominant("minilm-int8") == 0
    assert hangul_dominant("e5") > 0
    scripts = Counter(dominant_script(r["scripts"]) for r in loaded("e5")[1])
    assert len(scripts) >= 4  # latin, hangul, han, cyrillic, ...


def test_reference_files_are_json_lines() -> None:
    """One object per line, UTF-8, no NaN (what the drift check reads)."""
    for key in BUILT:
        raw = (built(key) / REFERENCE_FILE).read_bytes()
        assert raw.endswith(b"\n")
        for line in raw.decode("utf-8").splitlines():
            assert isinstance(json.loads(line), dict)
            assert "NaN" not in line
