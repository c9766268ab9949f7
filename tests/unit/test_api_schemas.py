"""What the OpenAPI documents promise, checked where it is decided: the non-blank pattern is
the server's empty-text check for every code point, limits come from settings, and the
zero-shot softmax gives no NaN or inf at any temperature the schema allows (or below)."""

from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import pytest

from lamina.api.schemas import LIMITS_KEY, NON_BLANK, apply_limits, limits
from lamina.api.validation import EmptyTextError, check_text
from lamina.inference.zeroshot import softmax
from lamina.settings import Settings


def test_non_blank_pattern_is_str_isspace_for_every_code_point() -> None:
    pattern = re.compile(NON_BLANK)
    disagree = [
        hex(point)
        for point in range(sys.maxunicode + 1)
        if (pattern.search(chr(point)) is None) != chr(point).isspace()
    ]
    assert disagree == []


@pytest.mark.parametrize("text", ["", " ", "\t\n", "\x1c\x1f", "\u3000\u2028", "\x85\xa0"])
def test_blank_texts_are_refused(text: str) -> None:
    assert not text.strip()
    with pytest.raises(EmptyTextError):
        check_text(text, Settings(), "text")


@pytest.mark.parametrize("text", ["a", " a ", "\ufeff", "\u200b", "\x00"])
def test_texts_with_a_non_space_pass(text: str) -> None:
    assert text.strip()
    check_text(text, Settings(), "text")


def test_limits_are_written_from_settings() -> None:
    settings = Settings(max_batch_items=7, max_text_chars=99)
    document = {
        "a": {"type": "string", **limits(maxLength="max_text_chars")},
        "b": [{"type": "array", **limits(maxItems=("max_batch_items", -1))}],
    }
    apply_limits(document, settings)
    assert document == {
        "a": {"type": "string", "maxLength": 99},
        "b": [{"type": "array", "maxItems": 6}],
    }
    assert LIMITS_KEY not in str(document)


@pytest.mark.parametrize("temperature", [5e-324, 1e-300, 1e-3, 0.05, 1.0, 10.0, 1e308])
def test_softmax_is_finite_and_sums_to_one(temperature: float) -> None:
    similarities = np.array([0.18, 0.18, 0.10, -1.0, 1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = softmax(similarities, temperature)
    assert np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores.sum() == pytest.approx(1)
    assert scores[4] == scores[5] == scores.max()


def test_softmax_refuses_a_temperature_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        softmax(np.array([0.5]), 0.0)
