from __future__ import annotations

import random

import pytest

from lamina.inference.batching import plan_batches


@pytest.mark.parametrize("seed", range(20))
def test_every_index_once_and_budget_respected(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.randint(1, 256) for _ in range(rng.randint(1, 300))]
    budget, max_batch = rng.choice([512, 2048, 8192]), rng.choice([1, 8, 64])
    batches = plan_batches(lengths, budget, max_batch)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= max_batch
        width = max(lengths[i] for i in batch)
        assert len(batch) == 1 or len(batch) * width <= budget


def test_long_text_does_not_pad_short_ones() -> None:
    lengths = [5] * 10 + [256]
    batches = plan_batches(lengths, token_budget=8192, max_batch=64)
    # Sorted by length: the short texts share batches whose width is 5.
    for batch in batches:
        if 10 not in batch:
            assert max(lengths[i] for i in batch) == 5


def test_oversized_single_text_gets_its_own_batch() -> None:
    assert plan_batches([1000, 3], token_budget=512, max_batch=8) == [[0], [1]]


def test_rejects_nonpositive_limits() -> None:
    with pytest.raises(ValueError, match="positive"):
        plan_batches([1], 0, 1)


def padding(lengths: list[int], batches: list[list[int]]) -> float:
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return 1 - sum(lengths) / padded


@pytest.mark.parametrize("seed", range(10))
def test_no_batch_holds_mostly_padding(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.choice([rng.randint(5, 30), rng.randint(30, 256)]) for _ in range(64)]
    batches = plan_batches(lengths, 8192, 64)
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        for i in batch:
            assert lengths[i] >= 0.8 * longest or longest - lengths[i] <= 8
    assert padding(lengths, batches) < padding(lengths, plan_batches(lengths, 8192, 64, min_fill=0))


def test_short_texts_stay_together() -> None:
    # 10 .. 17 tokens: under the 8-token gap, one run, whatever the ratio.
    lengths = list(range(10, 18))
    assert plan_batches(lengths, 8192, 64) == [list(reversed(range(8)))]


def test_the_padding_rule_splits_a_long_and_a_short_text() -> None:
    assert plan_batches([100, 20], 8192, 64) == [[0], [1]]
    assert plan_batches([100, 20], 8192, 64, min_fill=0) == [[0, 1]]
