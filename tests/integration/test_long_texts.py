"""Long texts and prompts on the real all-MiniLM-L6-v2 (fp32): split mode's windows against
the model's tokenizer and vectors, "reject" and "truncate" as before, and input_type on a
copy of the model whose manifest has prompts. The planning logic alone is
tests/unit/test_windows.py."""

from __future__ import annotations

import itertools
import math
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

import lamina.inference.tokenizer as tokenizer_module
from lamina.errors import TextTooLongError
from lamina.inference.embedder import WINDOW_OVERLAP, EmbeddingResult, OnnxEmbedder, Window
from lamina.models.manifest import read_manifest, write_manifest

LIMIT = 256  # all-MiniLM-L6-v2's max_seq_length
PROMPTS = {"query": "query: ", "passage": "passage: "}

SENTENCES = [
    "The committee published its annual report on regional water management yesterday.",
    "Researchers measured how quickly the glacier retreated over the last two decades.",
    "김치찌개 끓이는 법: 돼지고기와 잘 익은 김치를 볶다가 물을 붓고 두부를 넣어 끓인다.",
    "서울의 지하철은 아침 출근 시간에 매우 붐비지만 배차 간격이 짧아 편리하다.",
    "Der Zug nach München hatte heute wegen Bauarbeiten eine Verspätung von zwanzig Minuten.",
    "Le musée propose une exposition consacrée aux peintres impressionnistes du Nord.",
    "東京の天気は晴れ、最高気温は二十五度の予報です。",
    "Пожалуйста, отправьте отчёт до пятницы, чтобы мы успели его проверить.",
    "def merge(a, b): return sorted(a + b, key=lambda item: (item.rank, item.name))",
    "Prices rose 3.5% in March (vs. 2.9% in February), according to the bureau.",
]


def mixed_text(words: int, seed: int = 3) -> str:
    """About ``words`` words of sentences in six languages and code, in paragraphs."""
    rng = random.Random(seed)
    parts: list[str] = []
    count = 0
    while count < words:
        sentence = rng.choice(SENTENCES)
        parts.append(sentence + ("\n\n" if rng.random() < 0.1 else " "))
        count += len(sentence.split())
    return "".join(parts)


@pytest.fixture(scope="module")
def model(fp32_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(fp32_dir, verify=False)


@pytest.fixture(scope="module")
def prompted(fp32_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> OnnxEmbedder:
    """The same model, its manifest listing e5-style prompts (fidelity vectors unchanged)."""
    target = tmp_path_factory.mktemp("prompted")
    manifest = read_manifest(fp32_dir)
    for entry in manifest.files:
        source = fp32_dir / entry.path
        if entry.path == manifest.tokenizer_file:
            shutil.copyfile(source, target / entry.path)
        else:
            (target / entry.path).symlink_to(source)  # 90 MB of weights: not copied
    write_manifest(target, manifest.model_copy(update={"prompts": PROMPTS}))
    # load() verifies the files and runs the fidelity check: prompts leave it unchanged.
    return OnnxEmbedder.load(target)


@pytest.fixture(scope="module")
def raw_tokenizer(fp32_dir: Path) -> Tokenizer:
    """The model's tokenizer as the ``tokenizers`` library loads it, for offsets."""
    tokenizer = Tokenizer.from_file(str(fp32_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@pytest.fixture(scope="module")
def long_text() -> str:
    return mixed_text(3000)


@pytest.fixture(scope="module")
def long_result(model: OnnxEmbedder, long_text: str) -> EmbeddingResult:
    return model.embed([long_text], long_text="split")


def weighted_mean(vectors: np.ndarray, weights: list[int], *, normalize: bool) -> np.ndarray:
    """The documented split vector: token-weighted mean, then L2-normalized if asked."""
    mean = np.average(vectors.astype(np.float64), axis=0, weights=np.asarray(weights, float))
    if normalize:
        mean = mean / np.linalg.norm(mean)
    return mean


# ---- a text that fits ---------------------------------------------------------------------


def test_a_short_text_splits_into_itself_with_the_same_bits(model: OnnxEmbedder) -> None:
    text = "  The quick brown fox jumps over the lazy dog.  "
    split = model.embed([text], long_text="split")
    truncated = model.embed([text], long_text="truncate")
    np.testing.assert_array_equal(split.vectors, truncated.vectors)
    assert split.token_counts == truncated.token_counts
    assert split.truncated == [False]
    assert split.windows == [[Window(0, len(text), truncated.token_counts[0], split.vectors[0])]]
    np.testing.assert_array_equal(split.windows[0][0].vector, truncated.vectors[0])
    assert truncated.windows is None


def test_a_text_of_exactly_the_limit_is_one_window(model: OnnxEmbedder) -> None:
    text = " ".join(["word"] * (LIMIT - 2))  # "word" is one token; + [CLS] and [SEP]
    assert len(model.tokenize(text).ids) == LIMIT
    split = model.embed([text], long_text="split")
    assert split.windows is not None
    assert len(split.windows[0]) == 1
    assert split.token_counts == [LIMIT]
    np.testing.assert_array_equal(split.vectors, model.embed([text]).vectors)

    over = model.embed([text + " word"], long_text="split")
    assert over.windows is not None
    assert [w.tokens for w in over.windows[0]] == [LIMIT, WINDOW_OVERLAP + 1 + 2]
    assert over.token_counts == [LIMIT + WINDOW_OVERLAP + 3]


# ---- a long text --------------------------------------------------------------------------


def test_long_text_windows_cover_the_text_with_the_overlap(
    long_text: str, long_result: EmbeddingResult, raw_tokenizer: Tokenizer
) -> None:
    assert len(long_text.split()) >= 3000
    assert long_result.windows is not None
    windows = long_result.windows[0]
    assert len(windows) >= 10
    offsets = raw_tokenizer.encode(long_text, add_special_tokens=False).offsets
    starts = np.array([start for start, _ in offsets])
    ends = np.array([end for _, end in offsets])
    assert windows[0].start == starts[0]
    assert windows[-1].end == ends[-1]
    covered = np.zeros(len(offsets), dtype=bool)
    for window in windows:
        covered |= (starts >= window.start) & (ends <= window.end)
    assert covered.all(), f"{(~covered).sum()} tokens in no window"
    for before, after in itertools.pairwise(windows):
        assert before.start < after.start < before.end < after.end
        shared = int(((starts >= after.start) & (ends <= before.end)).sum())
        assert WINDOW_OVERLAP <= shared <= 2 * WINDOW_OVERLAP


def test_each_window_is_a_normal_model_input(
    model: OnnxEmbedder, long_text: str, long_result: EmbeddingResult
) -> None:
    assert long_result.windows is not None
    windows = long_result.windows[0]
    for window in windows:
        view = model.tokenize(long_text[window.start : window.end])
        assert not view.truncated
        assert len(view.ids) == window.tokens <= LIMIT
    assert sum(w.tokens for w in windows[:-1]) >= (LIMIT - 8) * (len(windows) - 1)  # full
    assert long_result.token_counts == [sum(w.tokens for w in windows)]
    assert long_result.truncated == [False]


def test_the_long_text_vector_is_the_token_weighted_mean_of_its_windows(
    model: OnnxEmbedder, long_text: str, long_result: EmbeddingResult
) -> None:
    assert long_result.windows is not None
    windows = long_result.windows[0]
    alone = model.embed([long_text[w.start : w.end] for w in windows])
    assert alone.token_counts == [w.tokens for w in windows]
    for window, vector in zip(windows, alone.vectors, strict=True):
        np.testing.assert_array_equal(window.vector, vector)  # batch-invariant bits
    expected = weighted_mean(alone.vectors, alone.token_counts, normalize=True)
    np.testing.assert_allclose(long_result.vectors[0], expected, atol=1e-6)
    assert abs(float(np.linalg.norm(long_result.vectors[0])) - 1) < 1e-6
    # Not the plain mean: windows of different lengths weigh differently.
    assert len({w.tokens for w in windows}) > 1


def test_unnormalized_split_is_the_weighted_mean_of_raw_window_vectors(
    model: OnnxEmbedder, long_text: str
) -> None:
    text = long_text[:5000]
    raw = model.embed([text], long_text="split", normalize=False)
    assert raw.windows is not None
    windows = raw.windows[0]
    assert len(windows) >= 2
    alone = model.embed([text[w.start : w.end] for w in windows], normalize=False)
    expected = weighted_mean(alone.vectors, alone.token_counts, normalize=False)
    np.testing.assert_allclose(raw.vectors[0], expected, atol=1e-6)
    assert abs(float(np.linalg.norm(raw.vectors[0])) - 1) > 1e-3  # really not normalized


def test_long_and_short_texts_in_one_call(model: OnnxEmbedder, long_text: str) -> None:
    texts = ["short one", long_text[:4000], "", "another short text"]
    result = model.embed(texts, long_text="split")
    assert result.windows is not None
    assert [len(w) for w in result.windows] == [1, len(result.windows[1]), 1, 1]
    assert len(result.windows[1]) >= 2
    assert result.vectors.shape == (4, model.dim)
    assert result.token_counts[2] == 2  # "" is [CLS] [SEP]
    truncated = model.embed(texts)
    for i in (0, 2, 3):
        np.testing.assert_array_equal(result.vectors[i], truncated.vectors[i])


def test_reject_and_truncate_still_behave(model: OnnxEmbedder, long_text: str) -> None:
    texts = ["fine", long_text]
    with pytest.raises(TextTooLongError) as rejected:
        model.embed(texts, long_text="reject")
    with pytest.raises(TextTooLongError) as legacy:
        model.embed(texts, truncate=False)
    assert rejected.value.index == legacy.value.index == 1
    assert str(rejected.value) == str(legacy.value)
    assert "longer than the model's limit of 256 tokens" in str(rejected.value)
    cut = model.embed(texts)
    assert cut.truncated == [False, True]
    assert cut.token_counts[1] == LIMIT
    assert cut.windows is None
    np.testing.assert_array_equal(model.embed(texts, long_text="truncate").vectors, cut.vectors)


def test_unknown_long_text_mode_is_refused(model: OnnxEmbedder) -> None:
    with pytest.raises(ValueError, match="long_text must be one of"):
        model.embed(["x"], long_text="chunk")  # type: ignore[arg-type]


# ---- tokenizing in pieces -----------------------------------------------------------------


def test_pieces_tokenize_like_the_whole_text(
    model: OnnxEmbedder,
    long_text: str,
    raw_tokenizer: Tokenizer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enc = raw_tokenizer.encode(long_text, add_special_tokens=False)
    monkeypatch.setattr(tokenizer_module, "SPAN_PIECE_CHARS", 1000)
    spans = model._tokenizer.spans(long_text)
    assert len(spans) == len(enc.ids)
    assert spans.starts.tolist() == [start for start, _ in enc.offsets]
    assert spans.ends.tolist() == [end for _, end in enc.offsets]


def test_split_texts_without_spaces_still_fit(
    model: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No whitespace: pieces are cut inside "words", windows inside runs of characters.
    monkeypatch.setattr(tokenizer_module, "SPAN_PIECE_CHARS", 700)
    text = "東京の天気は晴れ最高気温は二十五度の予報です" * 60 + "abcdefghij" * 200
    result = model.embed([text], long_text="split")
    assert result.windows is not None
    windows = result.windows[0]
    assert len(windows) >= 4
    assert all(w.tokens <= LIMIT for w in windows)
    assert windows[0].start == 0
    assert windows[-1].end == len(text)
    for before, after in itertools.pairwise(windows):
        assert after.start < before.end


# ---- prompts ------------------------------------------------------------------------------


def test_input_type_prepends_the_prompt(
    model: OnnxEmbedder, prompted: OnnxEmbedder, fp32_dir: Path
) -> None:
    text = "how do I cook kimchi stew?"
    assert prompted.prompt("query") == "query: "
    assert prompted.prompt(None) == ""
    prompt_tokens = prompted.tokenize(text, "query").tokens[1:3]
    assert prompt_tokens == ["query", ":"]
    plain = prompted.embed([text])
    query = prompted.embed([text], input_type="query")
    passage = prompted.embed([text], input_type="passage")
    assert query.token_counts == [plain.token_counts[0] + 2]
    assert passage.token_counts == [plain.token_counts[0] + 2]
    assert not np.allclose(query.vectors, plain.vectors, atol=1e-3)
    assert not np.allclose(query.vectors, passage.vectors, atol=1e-3)
    np.testing.assert_array_equal(query.vectors, prompted.embed(["query: " + text]).vectors)
    # No input type: the raw text, as the model without prompts embeds it.
    np.testing.assert_array_equal(plain.vectors, model.embed([text]).vectors)
    assert read_manifest(fp32_dir).prompts is None


def test_input_type_is_ignored_without_prompts(model: OnnxEmbedder) -> None:
    text = "how do I cook kimchi stew?"
    assert model.prompt("query") == ""
    plain = model.embed([text])
    typed = model.embed([text], input_type="query", long_text="split")
    np.testing.assert_array_equal(typed.vectors, plain.vectors)
    assert typed.token_counts == plain.token_counts
    assert model.tokenize(text, "passage") == model.tokenize(text)


def test_split_windows_carry_the_prompt(prompted: OnnxEmbedder, long_text: str) -> None:
    text = long_text[:6000]
    result = prompted.embed([text], long_text="split", input_type="passage")
    assert result.windows is not None
    windows = result.windows[0]
    assert len(windows) >= 2
    inputs = ["passage: " + text[w.start : w.end] for w in windows]
    alone = prompted.embed(inputs)
    assert alone.token_counts == [w.tokens for w in windows]
    assert max(w.tokens for w in windows) <= LIMIT
    assert not any(alone.truncated)
    for window, vector in zip(windows, alone.vectors, strict=True):
        np.testing.assert_array_equal(window.vector, vector)
    expected = weighted_mean(alone.vectors, alone.token_counts, normalize=True)
    np.testing.assert_allclose(result.vectors[0], expected, atol=1e-6)
    assert result.token_counts == [sum(alone.token_counts)]


# ---- a very long text ---------------------------------------------------------------------


def test_a_150k_character_text_is_embedded_whole(model: OnnxEmbedder) -> None:
    # Long single-token words, so the model reads few tokens (about 12k) and the test stays
    # quick; tokenization and planning still see 150,000 characters.
    words = [
        "government",
        "information",
        "development",
        "international",
        "relationship",
        "understanding",
        "environmental",
        "organization",
        "performance",
        "technology",
        "experience",
        "management",
        "community",
        "population",
        "particular",
        "especially",
        "available",
        "significant",
    ]
    rng = random.Random(11)
    text = " ".join(rng.choice(words) for _ in range(13_000))[:150_000].rsplit(" ", 1)[0]
    assert len(text) > 140_000
    result = model.embed([text], long_text="split")
    assert result.windows is not None
    windows = result.windows[0]
    assert windows[0].start == 0
    assert windows[-1].end == len(text)
    for before, after in itertools.pairwise(windows):
        assert after.start < before.end
    assert all(w.tokens <= LIMIT for w in windows)
    # Every word is one token and starts a word, so windows share exactly WINDOW_OVERLAP.
    content = sum(w.tokens - 2 for w in windows) - WINDOW_OVERLAP * (len(windows) - 1)
    assert content == len(text.split())
    assert result.token_counts == [sum(w.tokens for w in windows)]
    vectors = np.stack([w.vector for w in windows])
    expected = weighted_mean(vectors, [w.tokens for w in windows], normalize=True)
    np.testing.assert_allclose(result.vectors[0], expected, atol=1e-6)
    first, last = model.embed([text[w.start : w.end] for w in (windows[0], windows[-1])]).vectors
    np.testing.assert_array_equal(windows[0].vector, first)
    np.testing.assert_array_equal(windows[-1].vector, last)
    assert result.timings.preprocess_ms > 0
    assert result.timings.inference_ms > 0
    # The windows ran in batches under the token budget, not all at once nor one by one.
    assert math.ceil((len(windows) - 1) * LIMIT / model.token_budget) <= result.runs
    assert result.runs < len(windows)
