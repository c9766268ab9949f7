from __future__ import annotations

import numpy as np

from lamina.inference.pooling import l2_normalize, mean_pool, truncate_dimensions


def test_mean_pool_ignores_padding() -> None:
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(2, 5, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = mean_pool(hidden, mask)
    np.testing.assert_allclose(pooled[0], hidden[0, :3].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(pooled[1], hidden[1].mean(axis=0), rtol=1e-6)
    assert pooled.dtype == np.float32


def test_l2_normalize_unit_length_and_zero_safe() -> None:
    vectors = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    out = l2_normalize(vectors)
    np.testing.assert_allclose(out[0], [0.6, 0.8], rtol=1e-6)
    assert np.all(np.isfinite(out[1]))


def test_truncate_dimensions_renormalizes() -> None:
    vectors = l2_normalize(np.arange(1, 9, dtype=np.float32).reshape(2, 4))
    cut = truncate_dimensions(vectors, 2, normalize=True)
    assert cut.shape == (2, 2)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), [1.0, 1.0], rtol=1e-6)
    raw = truncate_dimensions(vectors, 2, normalize=False)
    np.testing.assert_array_equal(raw, vectors[:, :2])
