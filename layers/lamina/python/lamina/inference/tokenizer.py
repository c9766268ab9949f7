"""HF ``tokenizers`` wrapper that enforces the model's own limits.

all-MiniLM-L6-v2's ``tokenizer.json`` bakes in fixed padding to 128 and truncation at
128; the model's real limit is ``max_seq_length`` (256). We switch padding off (batches
are padded dynamically to their longest text) and truncate at ``max_seq_length``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer


@dataclass(frozen=True)
class Encoded:
    """Token ids of a batch of texts, unpadded, with truncation flags."""

    ids: list[list[int]]
    truncated: list[bool]

    @property
    def lengths(self) -> list[int]:
        return [len(row) for row in self.ids]


class TextTokenizer:
    def __init__(self, path: Path, max_length: int) -> None:
        tokenizer = Tokenizer.from_file(str(path))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, texts: Sequence[str]) -> Encoded:
        encodings: list[Encoding] = self._tokenizer.encode_batch(list(texts))
        return Encoded(
            ids=[enc.ids for enc in encodings],
            truncated=[bool(enc.overflowing) for enc in encodings],
        )

    def tokens(self, text: str) -> tuple[list[int], list[str], bool]:
        """Ids, token strings and truncation flag of one text (for /api/v1/tokenize)."""
        enc = self._tokenizer.encode(text)
        return list(enc.ids), list(enc.tokens), bool(enc.overflowing)


def pad_batch(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id rows to the longest; return (input_ids, attention_mask) as int64."""
    width = max(len(row) for row in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask
