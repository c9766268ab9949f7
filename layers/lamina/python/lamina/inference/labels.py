"""Postprocess shared by every classifier: probabilities -> sorted (label, confidence) lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelScore:
    label: str
    confidence: float


def top_k(
    probabilities: np.ndarray, labels: Sequence[str], k: int | None
) -> list[list[LabelScore]]:
    """Per row, the ``k`` most likely labels (all when None), most likely first.

    Ties keep the labels' column order (a stable sort), so answers are reproducible.
    """
    if probabilities.ndim != 2 or probabilities.shape[1] != len(labels):
        raise ValueError(
            f"probabilities of shape {probabilities.shape} do not match {len(labels)} labels"
        )
    count = len(labels) if k is None else max(1, min(k, len(labels)))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :count]
    return [
        [LabelScore(labels[j], float(row[j])) for j in ranked]
        for row, ranked in zip(probabilities, order, strict=True)
    ]
