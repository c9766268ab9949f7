"""lamina's ONNX models against sentence-transformers' vectors (tests/fixtures/golden_minilm.json).

The corpus holds multilingual sentences and texts of exactly 127, 128, 255, 256, 257 and
600 tokens, where padding and truncation bugs show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.inference.embedder import OnnxEmbedder
from lamina_tools.models.reference import LONG_TEXT_TOKENS


@pytest.fixture(scope="module")
def fp32(fp32_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(fp32_dir)


@pytest.fixture(scope="module")
def int8(int8_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(int8_dir)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sims: np.ndarray = np.sum(a * b, axis=1) / (
        np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    )
    return sims


def test_fp32_matches_sentence_transformers(
    fp32: OnnxEmbedder, golden: tuple[list[str], np.ndarray]
) -> None:
    texts, reference = golden
    result = fp32.embed(texts)
    sims = cosines(result.vectors, reference)
    worst = int(np.argmin(sims))
    assert sims.min() >= 0.9999, f"text {worst} ({texts[worst][:40]!r}) cosine {sims[worst]}"


def test_fp32_single_texts_match_batched(
    fp32: OnnxEmbedder, golden: tuple[list[str], np.ndarray]
) -> None:
    """Dynamic padding must not change a text's vector: alone == inside any batch."""
    texts, _ = golden
    batched = fp32.embed(texts).vectors
    for i in range(0, len(texts), 5):
        alone = fp32.embed([texts[i]]).vectors[0]
        np.testing.assert_allclose(alone, batched[i], atol=2e-5)


def test_long_texts_are_cut_at_256_not_128(
    fp32: OnnxEmbedder, golden: tuple[list[str], np.ndarray]
) -> None:
    texts, _ = golden
    long_texts = texts[-len(LONG_TEXT_TOKENS) :]
    result = fp32.embed(long_texts)
    expected = [min(n, 256) for n in LONG_TEXT_TOKENS]
    assert result.token_counts == expected
    assert result.truncated == [n > 256 for n in LONG_TEXT_TOKENS]


def test_int8_stays_close(int8: OnnxEmbedder, golden: tuple[list[str], np.ndarray]) -> None:
    texts, reference = golden
    sims = cosines(int8.embed(texts).vectors, reference)
    assert sims.mean() >= 0.98
    assert sims.min() >= 0.95


def test_unnormalized_vectors_are_the_mean_pool(fp32: OnnxEmbedder) -> None:
    raw = fp32.embed(["a plain sentence"], normalize=False).vectors[0]
    unit = fp32.embed(["a plain sentence"], normalize=True).vectors[0]
    assert abs(float(np.linalg.norm(raw)) - 1.0) > 0.01
    np.testing.assert_allclose(raw / np.linalg.norm(raw), unit, atol=1e-6)


def test_token_budget_bounds_every_run(fp32_dir: Path) -> None:
    small = OnnxEmbedder.load(fp32_dir, token_budget=300, max_run_batch=4, warmup=False)
    texts = ["short"] * 9 + ["word " * 300]
    result = small.embed(texts)
    # The 256-token text alone (2 x 256 > 300), 9 short texts in runs of at most 4: 1 + 3.
    assert result.runs == 4
    reference = OnnxEmbedder.load(fp32_dir, warmup=False).embed(texts).vectors
    np.testing.assert_allclose(result.vectors, reference, atol=2e-5)
