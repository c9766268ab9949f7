"""Length-aware batching under a token budget.

Texts are sorted by token count so that a batch holds texts of similar length (one long
text never pads a batch of short ones), and each batch is capped so that
``len(batch) * longest_in_batch <= token_budget``: the padded tensor, and so the memory
of one ONNX run, stays bounded whatever the request.
"""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(lengths: Sequence[int], token_budget: int, max_batch: int) -> list[list[int]]:
    """Group indices of ``lengths`` into batches; every index appears exactly once.

    A single text longer than the budget still gets a batch of its own.
    """
    if token_budget < 1 or max_batch < 1:
        raise ValueError("token_budget and max_batch must be positive")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        length = max(1, lengths[index])
        # Sorted longest first, so the first item of a batch sets its padded width.
        if current and (len(current) >= max_batch or (len(current) + 1) * longest > token_budget):
            batches.append(current)
            current = []
        if not current:
            longest = length
        current.append(index)
    if current:
        batches.append(current)
    return batches
