"""Length-aware batching under a token budget.

Texts are sorted by token count so that a batch holds texts of similar length (one long
text never pads a batch of short ones), and each batch is capped so that
``len(batch) * longest_in_batch <= token_budget``: the padded tensor, and so the memory
of one ONNX run, stays bounded whatever the request.

A batch also ends where the next text would be mostly padding: shorter than ``min_fill``
of the batch's longest text *and* more than ``min_gap`` tokens shorter. Without that rule,
a request of 32 varied texts ran as one batch padded to its longest, and padding was a
large share of the computed tokens on 1,000-text chunks of the benchmark corpus
(docs/performance.md, "Batching: ending a run where padding would dominate"); the gap keeps
short texts together, where one more ONNX run would cost more than the few padding tokens
it saves.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_FILL = 0.8
MIN_GAP = 8


def plan_batches(
    lengths: Sequence[int],
    token_budget: int,
    max_batch: int,
    *,
    min_fill: float = MIN_FILL,
    min_gap: int = MIN_GAP,
) -> list[list[int]]:
    """Group indices of ``lengths`` into batches; every index appears exactly once.

    A single text longer than the budget still gets a batch of its own.
    ``min_fill=0`` turns the padding rule off (budget and ``max_batch`` only).
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
        if current and (
            len(current) >= max_batch
            or (len(current) + 1) * longest > token_budget
            or (length < min_fill * longest and longest - length > min_gap)
        ):
            batches.append(current)
            current = []
        if not current:
            longest = length
        current.append(index)
    if current:
        batches.append(current)
    return batches
