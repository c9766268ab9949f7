"""HF ``tokenizers`` wrapper that enforces the model's own limits.

all-MiniLM-L6-v2's ``tokenizer.json`` bakes in fixed padding to 128 and truncation at
128; the model's real limit is ``max_seq_length`` (256). We switch padding off (batches
are padded dynamically to their longest text) and truncate at ``max_seq_length``.

Truncation is ours, not the tokenizer's: one ``Tokenizer`` (XLM-R's takes about 250 MB)
serves both the truncated encodings of ``encode`` and the whole ones that long-text
splitting needs (``encode_whole``, ``spans``), so none is configured on it. ``encode`` cuts
an over-long text exactly as ``enable_truncation(max_length)`` did: the text's tokens are
cut to ``max_length`` minus the special tokens, then the post-processor adds those.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

SPAN_PIECE_CHARS = 32_768  # characters tokenized at once by TextTokenizer.spans
_PIECES_PER_CALL = 4  # pieces per encode_batch call (in parallel, within the memory above)
_WORD_END = re.compile(r"\S(?=\s)")  # a character after which whitespace begins


@dataclass(frozen=True)
class Encoded:
    """Token ids of a batch of texts, unpadded, with truncation flags."""

    ids: list[list[int]]
    truncated: list[bool]

    @property
    def lengths(self) -> list[int]:
        return [len(row) for row in self.ids]

    def unknown(self, unk_id: int | None) -> list[int]:
        """How many of each row's ids are the unknown token (0s when the model has none)."""
        if unk_id is None:
            return [0] * len(self.ids)
        return [row.count(unk_id) for row in self.ids]


@dataclass(frozen=True)
class TokenSpans:
    """Where the tokens of one text come from (its own tokens only: no special tokens).

    ``starts[i]:ends[i]`` is token ``i``'s character span in the text; ``word_starts[i]``
    is True where token ``i`` begins a word of the tokenizer's pre-tokenizer (a cut there
    re-tokenizes the same on both sides).
    """

    starts: np.ndarray  # (n,) int64
    ends: np.ndarray  # (n,) int64
    word_starts: np.ndarray  # (n,) bool

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def from_offsets(
        cls, offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None]
    ) -> TokenSpans:
        n = len(offsets)
        pairs = np.asarray(offsets, dtype=np.int64).reshape(n, 2)
        words = np.fromiter((-1 if w is None else w for w in word_ids), dtype=np.int64, count=n)
        word_starts = np.ones(n, dtype=bool)
        word_starts[1:] = (words[1:] != words[:-1]) | (words[1:] < 0)
        return cls(pairs[:, 0].copy(), pairs[:, 1].copy(), word_starts)


class TextTokenizer:
    def __init__(self, path: Path, max_length: int) -> None:
        tokenizer = Tokenizer.from_file(str(path))
        tokenizer.no_padding()
        tokenizer.no_truncation()  # encode() truncates (see the module docstring)
        self._tokenizer = tokenizer
        self.max_length = max_length
        self.special_tokens: int = tokenizer.num_special_tokens_to_add(False)
        self.unk_id = unknown_token_id(tokenizer)

    def _truncated(self, text: str) -> Encoding:
        """``text`` cut to ``max_length`` tokens, special tokens included."""
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        enc.truncate(max(0, self.max_length - self.special_tokens))
        cut: Encoding = self._tokenizer.post_process(enc)
        return cut

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Ids of ``texts`` with special tokens, each cut to ``max_length``."""
        encodings: list[Encoding] = self._tokenizer.encode_batch(list(texts))
        ids: list[list[int]] = []
        truncated: list[bool] = []
        for text, enc in zip(texts, encodings, strict=True):
            too_long = len(enc.ids) > self.max_length
            ids.append(self._truncated(text).ids if too_long else enc.ids)
            truncated.append(too_long)
        return Encoded(ids=ids, truncated=truncated)

    def encode_whole(self, texts: Sequence[str]) -> Encoded:
        """Ids of ``texts`` with special tokens, never cut (lengths may exceed the limit).

        Offsets are not tracked (``encode_batch_fast``, tokenizers >= 0.21): the same ids,
        a third less memory on a long text.
        """
        encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        encodings: list[Encoding] = encode(list(texts))
        ids = [enc.ids for enc in encodings]
        return Encoded(ids=ids, truncated=[False] * len(ids))

    def spans(self, text: str) -> TokenSpans:
        """Character spans and word starts of every token of ``text`` (no special tokens).

        The text is tokenized in pieces of at most ``SPAN_PIECE_CHARS`` (``text_pieces``),
        a few at a time, so memory follows the piece, not the text: tokenizing one long
        string holds about 200 bytes per character at its peak (200 MB for a million).
        Pieces end before a run of whitespace, where no pre-tokenizer joins two words, so
        the tokens are the whole text's; a piece without such a place (a long run of text
        without spaces) is cut where it must, and there the tokens near the cut may differ
        from the whole text's.
        """
        pieces = text_pieces(text, SPAN_PIECE_CHARS)
        parts: list[TokenSpans] = []
        for group in range(0, len(pieces), _PIECES_PER_CALL):
            batch = pieces[group : group + _PIECES_PER_CALL]
            encodings: list[Encoding] = self._tokenizer.encode_batch(
                [text[start:end] for start, end, _ in batch], add_special_tokens=False
            )
            for (start, _, clean), enc in zip(batch, encodings, strict=True):
                part = TokenSpans.from_offsets(enc.offsets, enc.word_ids)
                if len(part):
                    part.starts[:] += start
                    part.ends[:] += start
                    part.word_starts[0] = clean or start == 0
                    parts.append(part)
        if not parts:
            return TokenSpans.from_offsets([], [])
        if len(parts) == 1:
            return parts[0]
        return TokenSpans(
            np.concatenate([part.starts for part in parts]),
            np.concatenate([part.ends for part in parts]),
            np.concatenate([part.word_starts for part in parts]),
        )

    def prefix_tokens(self, prefix: str) -> int:
        """How many tokens ``prefix`` adds in front of a text (a prompt such as ``query: ``)."""
        if not prefix:
            return 0
        probe = "a"
        plain = self._tokenizer.encode(probe, add_special_tokens=False)
        prefixed = self._tokenizer.encode(prefix + probe, add_special_tokens=False)
        return max(0, len(prefixed.ids) - len(plain.ids))

    def tokens(self, text: str) -> tuple[list[int], list[str], bool]:
        """Ids, token strings and truncation flag of one text (for /api/v1/tokenize)."""
        enc = self._tokenizer.encode(text)
        too_long = len(enc.ids) > self.max_length
        if too_long:
            enc = self._truncated(text)
        return list(enc.ids), list(enc.tokens), too_long


def unknown_token_id(tokenizer: Tokenizer) -> int | None:
    """The id of the token that stands for text the vocabulary cannot spell (WordPiece's
    ``[UNK]``, SentencePiece's ``<unk>``), or None. A text full of them (Korean into an
    English vocabulary) reaches the model as noise: drift monitoring counts them."""
    model = tokenizer.model
    token = getattr(model, "unk_token", None)  # WordPiece, BPE
    if isinstance(token, str):
        found = tokenizer.token_to_id(token)
        return None if found is None else int(found)
    unk_id = getattr(model, "unk_id", None)  # Unigram
    return unk_id if isinstance(unk_id, int) else None


def text_pieces(text: str, size: int) -> list[tuple[int, int, bool]]:
    """``text`` as consecutive pieces ``(start, end, clean)`` of at most ``size`` characters.

    A piece ends where a run of whitespace begins (the next piece starts with it; ``clean``
    is True for a piece that starts so, or starts the text), searched for in the second half
    of the piece; without one there, the piece is ``size`` characters long and the next
    piece is not ``clean`` (it starts inside a word).
    """
    if size < 2:
        raise ValueError(f"a piece must hold at least 2 characters, not {size}")
    pieces: list[tuple[int, int, bool]] = []
    start, clean = 0, True
    while len(text) - start > size:
        limit = start + size
        last = deque(_WORD_END.finditer(text, start + size // 2, limit + 1), maxlen=1)
        match = last[0] if last else None
        end = match.start() + 1 if match else limit
        pieces.append((start, end, clean))
        start, clean = end, match is not None
    pieces.append((start, len(text), clean))
    return pieces


def pad_batch(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id rows to the longest; return (input_ids, attention_mask) as int64."""
    width = max(len(row) for row in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask
