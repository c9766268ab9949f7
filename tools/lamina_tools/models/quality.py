"""The quality gate every embedding variant passes before ``lamina models build`` writes it.

A faster variant (quantized, pruned...) is only worth serving if it answers like the model
it replaces, both text by text and for retrieval. The gate compares a variant's vectors with
the reference's (lamina's fp32 ONNX model) on the retrieval corpus
(``lamina_tools.models.corpus``, >= 2,000 texts):

- **mean cosine** and **min cosine** of each text's vector with its reference vector: the
  mean catches a variant that is a little off everywhere, the min one that breaks on some
  kind of text (a script, very long or very short texts);
- **top-k neighbour overlap**: for each text, its k nearest *other* texts by cosine under
  the variant and under the reference; the mean of |A ∩ B| / k. Cosines near 1 can still
  reorder close neighbours, and neighbours are what a retrieval user sees.

Pure numpy: no build-time library, so tests and the build share it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lamina.errors import LaminaError
from lamina.inference.pooling import row_cosines, unit_rows


class QualityGateError(LaminaError):
    """A variant's vectors are too far from the reference's: it must not be built."""

    code = "quality_gate_failed"


@dataclass(frozen=True)
class GateThresholds:
    """What a variant must reach (issue 7); tests inject stricter or looser ones."""

    mean_cosine: float = 0.995
    min_cosine: float = 0.98
    top_k_overlap: float = 0.95
    k: int = 10
    min_texts: int = 2000


DEFAULT_THRESHOLDS = GateThresholds()


@dataclass(frozen=True)
class GateMetrics:
    texts: int
    k: int
    mean_cosine: float
    min_cosine: float
    top_k_overlap: float


def nearest_neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    """(n, k) indices of each row's k most cosine-similar other rows (any order within k)."""
    n = vectors.shape[0]
    if not 0 < k < n:
        raise ValueError(f"k must be in 1..{n - 1} for {n} vectors, got {k}")
    unit = unit_rows(vectors)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)  # a text is not its own neighbour
    result: np.ndarray = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    return result


def top_k_overlap(candidate: np.ndarray, reference: np.ndarray, k: int = 10) -> float:
    """Mean over texts of |candidate's k nearest ∩ reference's k nearest| / k."""
    if candidate.shape != reference.shape:
        raise ValueError(f"shapes differ: {candidate.shape} vs {reference.shape}")
    ours = nearest_neighbours(candidate, k)
    theirs = nearest_neighbours(reference, k)
    shared = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ours, theirs, strict=True)]
    return float(np.mean(shared)) / k


def measure(candidate: np.ndarray, reference: np.ndarray, k: int = 10) -> GateMetrics:
    """All of the gate's metrics for one variant against the reference vectors."""
    cosines = row_cosines(candidate, reference)
    return GateMetrics(
        texts=int(candidate.shape[0]),
        k=k,
        mean_cosine=float(cosines.mean()),
        min_cosine=float(cosines.min()),
        top_k_overlap=top_k_overlap(candidate, reference, k),
    )


def failures(metrics: GateMetrics, thresholds: GateThresholds = DEFAULT_THRESHOLDS) -> list[str]:
    """One line per missed threshold, saying by how much; empty when the variant passes."""
    missed: list[str] = []
    if metrics.texts < thresholds.min_texts:
        missed.append(f"only {metrics.texts} texts compared, the gate needs {thresholds.min_texts}")
    if metrics.k != thresholds.k:
        missed.append(f"neighbours measured at k={metrics.k}, the gate uses k={thresholds.k}")
    checks = (
        ("mean cosine", metrics.mean_cosine, thresholds.mean_cosine),
        ("min cosine", metrics.min_cosine, thresholds.min_cosine),
        (f"top-{thresholds.k} overlap", metrics.top_k_overlap, thresholds.top_k_overlap),
    )
    for name, value, floor in checks:
        if value < floor:
            missed.append(f"{name} {value:.6f} < {floor} (short by {floor - value:.6f})")
    return missed


def enforce(
    variant: str, metrics: GateMetrics, thresholds: GateThresholds = DEFAULT_THRESHOLDS
) -> None:
    """Raise QualityGateError naming every missed threshold; return if the variant passes."""
    missed = failures(metrics, thresholds)
    if missed:
        raise QualityGateError(
            f"variant {variant} failed the quality gate against the fp32 reference on "
            f"{metrics.texts} texts: " + "; ".join(missed)
        )
