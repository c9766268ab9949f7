"""Checks of request texts against the deployment's limits (from Settings).

The OpenAPI document states the same limits (``lamina.api.schemas``: ``NON_BLANK``,
``Text``, ``SplitText``, ``BATCH``), so a schema-valid text passes these checks unless a
limit the schema cannot state applies (the characters of all texts together with split).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lamina.api.schemas import NON_BLANK
from lamina.errors import InvalidInputError, RequestTooManyTokensError
from lamina.settings import Settings

# The documented pattern itself: a text is empty exactly when the document says it is.
_NON_BLANK = re.compile(NON_BLANK)


class TooManyItemsError(InvalidInputError):
    code = "too_many_items"


class EmptyTextError(InvalidInputError):
    code = "empty_text"


class TextTooManyCharsError(InvalidInputError):
    code = "text_too_many_chars"


class RequestTooManyCharsError(InvalidInputError):
    code = "request_too_many_chars"


def check_request_chars(total: int, settings: Settings, param: str, what: str) -> None:
    """LAMINA_MAX_REQUEST_CHARS: the characters a request has the model read, together
    (``what`` says what was counted); checked before anything is tokenized."""
    if total > settings.max_request_chars:
        raise RequestTooManyCharsError(
            f"{what} have {total} characters together; this deployment accepts at most "
            f"{settings.max_request_chars} per request",
            param=param,
        )


def check_request_tokens(total: int, settings: Settings, param: str, what: str) -> None:
    """LAMINA_MAX_REQUEST_TOKENS: the tokens a request has the model run, together;
    checked before the model runs."""
    if total > settings.max_request_tokens:
        raise RequestTooManyTokensError(
            f"{what} are {total} tokens together; this deployment runs at most "
            f"{settings.max_request_tokens} per request",
            param=param,
        )


def check_texts(
    texts: Sequence[str],
    settings: Settings,
    param: str,
    *,
    split: bool = False,
    max_items: int | None = None,
    max_chars: int | None = None,
) -> None:
    """Raise a 422-mapped error naming the first offending item (``param[i]``).

    ``split`` (long_text=split): a text may be longer than LAMINA_MAX_TEXT_CHARS, since it
    is embedded window by window, but all texts of the request together stay within
    LAMINA_MAX_SPLIT_TEXT_CHARS (that bounds the request's time). Whatever the mode, the
    texts together stay within LAMINA_MAX_REQUEST_CHARS (that bounds tokenizing).
    """
    most = settings.max_batch_items if max_items is None else max_items
    if len(texts) > most:
        raise TooManyItemsError(
            f"{len(texts)} {'texts' if max_items is None else param} sent; this deployment "
            f"accepts at most {most} per request",
            param=param,
        )
    for index, text in enumerate(texts):
        check_text(text, settings, f"{param}[{index}]", split=split, max_chars=max_chars)
    total = sum(len(text) for text in texts)
    if split and total > settings.max_split_text_chars:
        raise TextTooManyCharsError(
            f"{param} have {total} characters together; with long_text=split the limit is "
            f"{settings.max_split_text_chars} per request",
            param=param,
        )
    check_request_chars(total, settings, param, param)


def check_text(
    text: str, settings: Settings, param: str, *, split: bool = False, max_chars: int | None = None
) -> None:
    """``max_chars``: a limit of its own (a zero-shot label's) instead of the text's."""
    if _NON_BLANK.search(text) is None:  # i.e. not text.strip(): only whitespace, or nothing
        raise EmptyTextError(f"{param} is empty or only whitespace", param=param)
    if max_chars is not None:
        if len(text) > max_chars:
            raise TextTooManyCharsError(
                f"{param} has {len(text)} characters; the limit is {max_chars}", param=param
            )
        return
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
