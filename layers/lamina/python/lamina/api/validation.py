"""Checks of request texts against the deployment's limits (from Settings)."""

from __future__ import annotations

from collections.abc import Sequence

from lamina.errors import InvalidInputError
from lamina.settings import Settings


class TooManyItemsError(InvalidInputError):
    code = "too_many_items"


class EmptyTextError(InvalidInputError):
    code = "empty_text"


class TextTooManyCharsError(InvalidInputError):
    code = "text_too_many_chars"


def check_texts(texts: Sequence[str], settings: Settings, param: str) -> None:
    """Raise a 422-mapped error naming the first offending item (``param[i]``)."""
    if len(texts) > settings.max_batch_items:
        raise TooManyItemsError(
            f"{len(texts)} texts sent; this deployment accepts at most "
            f"{settings.max_batch_items} per request",
            param=param,
        )
    for index, text in enumerate(texts):
        check_text(text, settings, f"{param}[{index}]")


def check_text(text: str, settings: Settings, param: str) -> None:
    if not text.strip():
        raise EmptyTextError(f"{param} is empty or only whitespace", param=param)
    if len(text) > settings.max_text_chars:
        raise TextTooManyCharsError(
            f"{param} has {len(text)} characters; the limit is {settings.max_text_chars}",
            param=param,
        )
