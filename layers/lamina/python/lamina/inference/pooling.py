"""Postprocessing of token vectors (pooling, L2 normalization, Matryoshka-style truncation)
and comparing vectors row by row (the fidelity check at warm-up, the build's quality gate)."""

from __future__ import annotations

import numpy as np

_EPS = 1e-12  # the eps of torch.nn.functional.normalize, which sentence-transformers uses


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of token vectors over the attention mask: (B, L, H), (B, L) -> (B, H)."""
    weights = mask.astype(np.float32)[:, :, None]
    summed = np.einsum("blh,blk->bh", hidden, weights)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    pooled: np.ndarray = (summed / counts).astype(np.float32, copy=False)
    return pooled


def cls_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    del mask
    return np.ascontiguousarray(hidden[:, 0, :], dtype=np.float32)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = (vectors / np.maximum(norms, _EPS)).astype(np.float32, copy=False)
    return unit


def truncate_dimensions(vectors: np.ndarray, dimensions: int, *, normalize: bool) -> np.ndarray:
    """Keep the first ``dimensions`` values of each vector, re-normalizing if asked."""
    cut = np.ascontiguousarray(vectors[:, :dimensions])
    return l2_normalize(cut) if normalize else cut


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero), as float64 for stable sums."""
    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: np.ndarray = matrix / np.where(norms == 0, 1.0, norms)
    return result


def row_cosines(candidate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine of each candidate row with the reference row of the same index."""
    if candidate.shape != reference.shape:
        raise ValueError(f"shapes differ: {candidate.shape} vs {reference.shape}")
    result: np.ndarray = np.sum(unit_rows(candidate) * unit_rows(reference), axis=1)
    return result
