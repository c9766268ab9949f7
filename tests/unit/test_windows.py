"""Planning the windows of a long text (split mode), on synthetic token offsets: coverage,
overlap, character spans, the token limit, and the re-planning when a window's input comes
out longer than planned. The model's side is tests/integration/test_long_texts.py."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from lamina.inference.embedder import WINDOW_OVERLAP, fit_windows, plan_windows, window_spans
from lamina.inference.tokenizer import Encoded, TokenSpans, text_pieces


def check_plan(
    word_starts: Sequence[bool] | np.ndarray, size: int, overlap: int = WINDOW_OVERLAP
) -> list[tuple[int, int]]:
    """plan_windows, with every promise of its docstring asserted."""
    windows = plan_windows(np.asarray(word_starts, dtype=bool), size, overlap)
    n = len(word_starts)
    shared = max(0, min(overlap, size // 4))
    assert windows[0][0] == 0
    assert windows[-1][1] == n
    for a, b in windows:
        assert 0 < b - a <= size or n == 0
    for (a, b), (c, d) in itertools.pairwise(windows):
        assert a < c
        assert b < d
        assert shared <= b - c <= 2 * shared  # the overlap, in tokens
    covered = np.zeros(n, dtype=bool)
    for a, b in windows:
        covered[a:b] = True
    assert covered.all()
    return windows


def every_token_a_word(n: int) -> list[bool]:
    return [True] * n


def words_of(lengths: Sequence[int]) -> list[bool]:
    flags: list[bool] = []
    for length in lengths:
        flags.extend([True] + [False] * (length - 1))
    return flags


# ---- plan_windows ------------------------------------------------------------------------


def test_a_text_at_the_limit_is_one_window() -> None:
    assert check_plan(every_token_a_word(254), 254) == [(0, 254)]


def test_one_token_over_the_limit_makes_two_windows_sharing_the_overlap() -> None:
    windows = check_plan(every_token_a_word(255), 254)
    assert windows == [(0, 254), (254 - WINDOW_OVERLAP, 255)]


def test_an_empty_or_tiny_text_is_one_window() -> None:
    assert plan_windows(np.zeros(0, dtype=bool), 10) == [(0, 0)]
    assert check_plan([True], 10) == [(0, 1)]


def test_windows_of_single_token_words_are_full_and_overlap_exactly() -> None:
    windows = check_plan(every_token_a_word(1000), 100, 10)
    assert all(b - a == 100 for a, b in windows[:-1])
    assert all(b - c == 10 for (_, b), (c, _) in itertools.pairwise(windows))
    assert [a for a, _ in windows] == [0, 90, 180, 270, 360, 450, 540, 630, 720, 810, 900]


def test_cuts_fall_between_words_when_a_word_boundary_is_near() -> None:
    flags = words_of([3] * 400)  # 1200 tokens, words of 3
    windows = check_plan(flags, 100, 10)
    for a, b in windows:
        assert flags[a], f"window starts inside a word at {a}"
        assert b == len(flags) or flags[b], f"window ends inside a word at {b}"


def test_a_word_longer_than_a_window_is_cut_between_its_tokens() -> None:
    flags = words_of([2, 500, 2])  # one word of 500 tokens
    windows = check_plan(flags, 64, 8)
    assert len(windows) > 500 // 64
    inside = [b for _, b in windows[:-1] if not flags[b]]
    assert inside, "the long word must be cut inside"


def test_a_word_boundary_too_far_back_is_not_used() -> None:
    # A word boundary 40 tokens before the nominal cut: farther than the overlap (10), so
    # the window keeps its full size and cuts inside the word.
    flags = words_of([60, 200])
    windows = check_plan(flags, 100, 10)
    assert windows[0] == (0, 100)


def test_small_windows_share_a_quarter_and_one_token_windows_share_nothing() -> None:
    assert check_plan(every_token_a_word(20), 8, 32)[:2] == [(0, 8), (6, 14)]
    assert check_plan(every_token_a_word(5), 1) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        plan_windows(every_token_a_word(3), 0)


@pytest.mark.parametrize("seed", range(40))
def test_random_texts_keep_every_promise(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [
        rng.choice([1, 1, 1, 2, 3, 5, rng.randint(1, 120)]) for _ in range(rng.randint(1, 600))
    ]
    size = rng.choice([1, 2, 3, 4, 7, 16, 50, 126, 254, 508])
    check_plan(words_of(lengths), size, rng.choice([0, 1, 8, 32, 64]))


def test_a_million_tokens_plan_quickly() -> None:
    flags = np.asarray(words_of([1, 2, 1, 3, 1] * 125_000))  # 1,000,000 tokens
    windows = check_plan(flags, 254)
    assert (
        1_000_000 / (254 - WINDOW_OVERLAP) <= len(windows) <= 1_000_000 / (254 - 3 * WINDOW_OVERLAP)
    )


# ---- character spans ---------------------------------------------------------------------


def spans_of(text: str) -> TokenSpans:
    """Whitespace-separated words as tokens, each word a token (a toy tokenizer)."""
    offsets: list[tuple[int, int]] = []
    word_ids: list[int | None] = []
    position = 0
    for index, word in enumerate(text.split()):
        start = text.index(word, position)
        offsets.append((start, start + len(word)))
        word_ids.append(index)
        position = start + len(word)
    return TokenSpans.from_offsets(offsets, word_ids)


def test_spans_run_from_the_first_token_to_the_last_and_skip_a_whitespace_tail() -> None:
    text = "  " + " ".join(f"w{i}" for i in range(30)) + " \n\t  "
    spans = spans_of(text)
    ranges = plan_windows(spans.word_starts, 8, 2)
    chars = window_spans(spans, ranges)
    assert chars[0][0] == 2  # the first token, not the leading whitespace
    assert chars[-1][1] == len(text.rstrip())  # ends with the last token
    for (start, end), (a, b) in zip(chars, ranges, strict=True):
        assert text[start:end].split() == text.split()[a:b]
    for (_, end), (start, _) in itertools.pairwise(chars):
        assert start < end  # consecutive windows overlap: nothing lost between them


def test_spans_take_min_and_max_of_overlapping_token_offsets() -> None:
    # SentencePiece's lone "▁" shares its character with the next token: (0, 1), (0, 2).
    spans = TokenSpans.from_offsets([(0, 1), (0, 2), (2, 3), (3, 5)], [0, 0, 0, 1])
    assert window_spans(spans, [(0, 2), (1, 4)]) == [(0, 2), (0, 5)]
    assert spans.word_starts.tolist() == [True, False, False, True]


def test_word_starts_treat_tokens_without_a_word_as_their_own() -> None:
    spans = TokenSpans.from_offsets([(0, 1), (1, 2), (2, 3), (3, 4)], [0, None, None, 1])
    assert spans.word_starts.tolist() == [True, True, True, True]


# ---- fit_windows: re-planning when inputs come out longer ------------------------------


def encoder(
    text: str, *, specials: int = 2, extra: int = 0, calls: list[list[tuple[int, int]]]
) -> Callable[[list[tuple[int, int]]], Encoded]:
    """Toy model inputs: a window's words, ``specials`` and ``extra`` more tokens (what a
    tokenizer whose tokens change at a cut would add); ``calls`` records each call."""

    def encode(chars: list[tuple[int, int]]) -> Encoded:
        calls.append(chars)
        ids = [[0] * (len(text[s:e].split()) + specials + extra) for s, e in chars]
        return Encoded(ids, [False] * len(ids))

    return encode


def test_fit_windows_plans_once_when_windows_tokenize_as_planned() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    calls: list[list[tuple[int, int]]] = []
    encode = encoder(text, calls=calls)
    chars, encoded = fit_windows(spans_of(text), 14, 16, encode, overlap=2)
    assert len(calls) == 1
    assert max(encoded.lengths) == 16
    assert chars == calls[0]


def test_fit_windows_shrinks_windows_that_come_out_over_the_limit() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    calls: list[list[tuple[int, int]]] = []
    encode = encoder(text, extra=3, calls=calls)  # every input 3 tokens longer than planned
    chars, encoded = fit_windows(spans_of(text), 14, 16, encode, overlap=2)
    assert len(calls) == 2
    assert max(encoded.lengths) <= 16
    assert len(encoded.ids) == len(chars)
    assert chars[0][0] == 0
    assert chars[-1][1] == len(text)


def test_fit_windows_gives_up_when_nothing_fits() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    calls: list[list[tuple[int, int]]] = []
    encode = encoder(text, extra=100, calls=calls)
    with pytest.raises(ValueError, match="at most 16 tokens"):
        fit_windows(spans_of(text), 14, 16, encode, overlap=2)


# ---- text_pieces: tokenizing a long text in bounded pieces ------------------------------


def test_pieces_cover_the_text_and_end_before_whitespace() -> None:
    rng = random.Random(7)
    text = " ".join(
        rng.choice(["ab", "cdefg", "h", "ijklmnopq", "\n\n", "김치"]) for _ in range(5000)
    )
    pieces = text_pieces(text, 100)
    assert "".join(text[a:b] for a, b, _ in pieces) == text
    assert all(b - a <= 100 for a, b, _ in pieces)
    assert all(clean for _, _, clean in pieces)
    for _, end, _ in pieces[:-1]:
        assert not text[end - 1].isspace()
        assert text[end].isspace()


def test_pieces_of_a_text_without_spaces_are_cut_where_they_must() -> None:
    text = "東京の天気は晴れ" * 100
    pieces = text_pieces(text, 64)
    assert "".join(text[a:b] for a, b, _ in pieces) == text
    assert [b - a for a, b, _ in pieces[:-1]] == [64] * (len(pieces) - 1)
    assert pieces[0][2]
    assert not any(clean for _, _, clean in pieces[1:])


def test_a_short_text_is_one_piece() -> None:
    assert text_pieces("short text", 100) == [(0, 10, True)]
    assert text_pieces("", 100) == [(0, 0, True)]
    with pytest.raises(ValueError, match="at least 2 characters"):
        text_pieces("abc", 1)
