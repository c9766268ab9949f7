"""A text gets the same vector, bit for bit, alone or in any batch (issue 12's "one model,
one set of vectors" on one host): the API embeds one text, the batch worker a thousand
with padding to the longest. The int8 graph sums its softmax with a MatMul, which adds in
order along the keys, so padding adds exact zeros at the end (ReduceSum did not: 13 of 60
texts matched before)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.inference.embedder import OnnxEmbedder
from lamina_tools.models import build
from lamina_tools.models.corpus import retrieval_corpus


@pytest.fixture(scope="module")
def texts() -> list[str]:
    corpus = retrieval_corpus(2000)
    by_length = sorted(corpus, key=len)
    # short, medium and the longest texts, so every batch pads most of its texts
    return [*build.FIDELITY_TEXTS, *by_length[:10], *by_length[1000:1010], *by_length[-6:]]


@pytest.mark.parametrize("variant", ["int8", "fp32"])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_text_gets_the_same_bits_alone_and_in_a_batch(
    variant: str, threads: int, texts: list[str], int8_dir: Path
) -> None:
    model = OnnxEmbedder.load(
        int8_dir.parent / variant, verify=False, warmup=False, intra_op_threads=threads
    )
    alone = np.stack([model.embed([text]).vectors[0] for text in texts])
    batched = model.embed(texts).vectors
    reversed_batch = model.embed(texts[::-1]).vectors[::-1]
    differ = [i for i in range(len(texts)) if not np.array_equal(alone[i], batched[i])]
    assert differ == [], f"{len(differ)} of {len(texts)} texts differ alone vs batched: {differ}"
    np.testing.assert_array_equal(batched, reversed_batch)
