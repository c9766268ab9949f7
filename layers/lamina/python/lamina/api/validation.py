"""Checks of request texts against the deployment's limits (from Settings).

The OpenAPI document states the same limits (``lamina.api.schemas``: ``NON_BLANK``,
``Text``, ``SplitText``, ``BATCH``), so a schema-valid text passes these checks unless a
limit the schema cannot state applies (the characters of all texts together with split).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lamina.api.schemas import NON_BLANK
from lamina.errors import InvalidInputError
from lamina.settings import Settings

# The documented pattern itself: a text is empty exactly when the document says it is.
_NON_BLANK = re.compile(NON_BLANK)


class TooManyItemsError(InvalidInputError):
    code = "too_many_items"


class EmptyTextError(InvalidInputError):
    code = "empty_text"


class TextTooManyCharsError(InvalidInputError):
    code = "text_too_many_chars"


def check_texts(
    texts: Sequence[str], settings: Settings, param: str, *, split: bool = False
) -> None:
    """Raise a 422-mapped error naming the first offending item (``param[i]``).

    ``split`` (long_text=split): a text may be longer than LAMINA_MAX_TEXT_CHARS, since it
    is embedded window by window, but all texts of the request together stay within
    LAMINA_MAX_SPLIT_TEXT_CHARS (that bounds the request's time).
    """
    if len(texts) > settings.max_batch_items:
        raise TooManyItemsError(
            f"{len(texts)} texts sent; this deployment accepts at most "
            f"{settings.max_batch_items} per request",
            param=param,
        )
    for index, text in enumerate(texts):
        check_text(text, settings, f"{param}[{index}]", split=split)
    total = sum(len(text) for text in texts)
    if split and total > settings.max_split_text_chars:
        raise TextTooManyCharsError(
            f"{param} have {total} characters together; with long_text=split the limit is "
            f"{settings.max_split_text_chars} per request",
            param=param,
        )


def check_text(text: str, settings: Settings, param: str, *, split: bool = False) -> None:
    if _NON_BLANK.search(text) is None:  # i.e. not text.strip(): only whitespace, or nothing
        raise EmptyTextError(f"{param} is empty or only whitespace", param=param)
    limit = settings.max_split_text_chars if split else settings.max_text_chars
    if len(text) > limit:
        hint = (
            f" (long_text=split accepts up to {settings.max_split_text_chars})"
            if not split and settings.max_split_text_chars > limit
            else ""
        )
        raise TextTooManyCharsError(
            f"{param} has {len(text)} characters; the limit is {limit}{hint}", param=param
        )
