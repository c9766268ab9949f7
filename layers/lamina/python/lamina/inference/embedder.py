"""The text embedder: one interface, one ONNX Runtime implementation.

Its lifecycle is every lamina model's (``lamina.inference.lifecycle``):
initialize (load once per process, check the vectors against the build host's, which
also warms up) -> preprocess (prepend the input type's prompt, tokenize, split long texts
into windows, plan batches) -> inference (ONNX runs; each run's ``last_hidden_state`` is
pooled as soon as it comes out, so memory holds one run's hidden states at a time)
-> postprocess (L2-normalize; average a split text's windows).

Prompts. A model trained with prefixes (e5: ``"query: "``, ``"passage: "``) lists them in
its manifest (``Manifest.prompts``); ``input_type`` prepends one to every text, and the
prompt's tokens count as tokens the model read. ``input_type=None`` embeds the raw text,
without a prefix, even for a model that has prompts (its fidelity texts are embedded so);
a model without prompts ignores ``input_type``.

Long texts (``long_text``): ``"truncate"`` keeps the first ``max_seq_length`` tokens
(prompt and special tokens included), ``"reject"`` raises TextTooLongError, ``"split"``
embeds the whole text in windows:

- a text that fits is one window spanning the whole text, embedded exactly as in
  ``"truncate"`` mode (the same token ids, so the same vector bits);
- a longer text is tokenized once on its own (no prompt, no special tokens; in pieces, see
  below) for its tokens' character offsets, and cut into windows of consecutive tokens
  (``plan_windows``): each as long as the limit allows once the prompt and the special
  tokens are added, consecutive windows sharing ``WINDOW_OVERLAP`` to
  ``2 * WINDOW_OVERLAP`` tokens, the first starting at the text's first token and the last
  ending with its last token. A window is cut at word boundaries where
  one is near, so its text re-tokenizes as it did inside the whole text. Each window is fed
  to the model as a normal input: prompt + ``text[start:end]`` with the special tokens
  (``start``/``end`` come from the tokenizer's character offsets); a window whose input
  still comes out over the limit (a tokenizer whose tokens change at a cut) makes the
  text's windows be planned again, smaller by the excess (``fit_windows``);
- the text's vector is the token-weighted mean of its windows' vectors (``Window.vector``,
  unit vectors when ``normalize``; weights ``Window.tokens``, the tokens the model read for
  the window), computed in float64, then L2-normalized when ``normalize``. Weighting unit
  vectors makes each window count by its length, not by its norm; with
  ``normalize=False`` it is the weighted mean of the raw pooled window vectors. Tokens in
  an overlap count in both windows.

All windows of all texts of one call go through the same length-aware batching as texts
do (``plan_batches`` under the token budget), so the ONNX runs' memory stays bounded
whatever the texts' lengths. A long text is tokenized twice, each pass linear in its
length and in pieces of bounded size: for its token offsets (``TextTokenizer.spans``),
then as windows. A million characters take about 2 s of preprocess and 40 MB of peak
memory beyond the loaded model on a dev host (MiniLM's tokenizer), before the model runs.
"""

from __future__ import annotations

import dataclasses
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from lamina.errors import (
    InvalidInputError,
    ModelFidelityError,
    ModelLoadError,
    RequestTooManyTokensError,
)
from lamina.inference.cpu import cpu_info
from lamina.inference.lifecycle import StageTimings
from lamina.inference.pooling import cls_pool, l2_normalize, mean_pool, row_cosines
from lamina.inference.text import TextModel, TokenizedTexts, TokenizeResult, require_texts
from lamina.inference.tokenizer import Encoded, TokenSpans
from lamina.models.manifest import Manifest

__all__ = [
    "WINDOW_OVERLAP",
    "EmbedRequest",
    "Embedder",
    "EmbeddingResult",
    "InputType",
    "LongText",
    "OnnxEmbedder",
    "TokenizeResult",
    "Window",
    "fit_windows",
    "plan_windows",
    "window_spans",
]

InputType = Literal["query", "passage"]
LongText = Literal["truncate", "reject", "split"]

WINDOW_OVERLAP = 32
"""Tokens two consecutive windows of a split text share, at least (at most twice as many).

About a sentence: a sentence cut by a window's end is read whole, or nearly, at the start of
the next window. The overlap is paid for in compute: with MiniLM's 254-token windows the
model reads about 15% more tokens than the text has, with e5's 508 (after "passage: ")
about 7%; an eighth of the window instead would double e5's cost for context it mostly
does not need. Counted in the text's own tokenization. A window starts at the beginning of
the word that holds its ``end - WINDOW_OVERLAP``-th token when that word starts at most
``WINDOW_OVERLAP`` tokens earlier (hence up to twice as many). Windows shorter than 4 *
WINDOW_OVERLAP tokens share a quarter of their length (none below 4 tokens).
"""

_FIT_ROUNDS = 8  # plannings of one text's windows before giving up (one is the rule)
_CHECKED_CHARS_PER_TOKEN = 32  # longer texts are checked from their tokens (_windows)
_WINDOWS_PER_CALL = 64  # windows tokenized at once


@dataclass(frozen=True)
class Window:
    """One model input of a text: ``text[start:end]``, after the prompt if any."""

    start: int  # character span [start, end) in the original text (prompt not counted)
    end: int
    tokens: int  # tokens the model read for this window (prompt and special tokens included)
    vector: np.ndarray = field(repr=False, compare=False)  # (dim,) float32; unit if normalize


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: np.ndarray  # (n, dim) float32, in input order; split: windows' weighted mean
    token_counts: list[int]  # tokens the model read per text (prompt, special tokens
    # included; after truncation; split: summed over the text's windows)
    truncated: list[bool]  # always False in split mode
    timings: StageTimings
    runs: int  # ONNX runs (batches) used
    windows: list[list[Window]] | None = None  # split mode only: each text's, in order
    # unknown-token ids among each text's tokens ([UNK]: what its vocabulary cannot spell)
    unknown_tokens: list[int] | None = None

    @property
    def total_tokens(self) -> int:
        return sum(self.token_counts)


@dataclass(frozen=True)
class EmbedRequest:
    texts: Sequence[str]
    normalize: bool = True
    truncate: bool = True
    long_text: LongText | None = None  # None: "truncate" if truncate else "reject"
    input_type: InputType | None = None
    max_tokens: int | None = None  # the request's token budget (checked before the run)

    @property
    def mode(self) -> LongText:
        if self.long_text is None:
            return "truncate" if self.truncate else "reject"
        if self.long_text not in get_args(LongText):
            raise ValueError(
                f"long_text must be one of {get_args(LongText)}, not {self.long_text!r}"
            )
        return self.long_text


@dataclass(frozen=True)
class _Split:
    """A text's windows in split mode: rows ``first ..`` of the model inputs, one per span."""

    first: int
    spans: list[tuple[int, int]]


@dataclass(frozen=True)
class _Prepared:
    """Preprocess output: the model inputs, and what postprocess needs to answer."""

    tokens: TokenizedTexts
    normalize: bool
    splits: list[_Split] | None = None  # split mode: the texts' windows (rows of tokens)


@dataclass(frozen=True)
class _Pooled:
    """Inference output: pooled (not yet normalized) vectors and what postprocess reports."""

    vectors: np.ndarray
    prepared: _Prepared


# ---- windows of a long text (pure logic) -------------------------------------------------


def plan_windows(
    word_starts: np.ndarray | Sequence[bool], size: int, overlap: int = WINDOW_OVERLAP
) -> list[tuple[int, int]]:
    """Token ranges ``[a, b)`` of the windows of a text of ``len(word_starts)`` tokens.

    Every window has at most ``size`` tokens; the first starts at 0, the last ends at the
    last token; consecutive windows share ``overlap`` to ``2 * overlap`` tokens (``overlap``
    clamped to ``size // 4``). Where a cut falls inside a word, the window ends before that
    word (losing at most ``overlap`` tokens) and the next starts at its first token (at most
    ``overlap`` tokens earlier); a longer word is cut between its tokens.
    """
    if size < 1:
        raise ValueError(f"a window must hold at least one token, not {size}")
    flags = np.asarray(word_starts, dtype=bool)
    n = len(flags)
    if n <= size:
        return [(0, n)]
    overlap = max(0, min(overlap, size // 4))
    starts = np.flatnonzero(flags)

    def word_start_in(low: int, high: int) -> int | None:
        """The last word start in [low, high], if any."""
        if high < low:
            return None
        at = int(np.searchsorted(starts, high, side="right")) - 1
        return int(starts[at]) if at >= 0 and starts[at] >= low else None

    windows: list[tuple[int, int]] = []
    a = 0
    while n - a > size:
        end = a + size  # < n
        b = end
        if not flags[end]:  # the cut falls inside a word: end before it, if it is near
            word = word_start_in(max(a + 1, end - overlap), end - 1)
            b = end if word is None else word
        windows.append((a, b))
        nominal = b - overlap
        word = word_start_in(max(a + 1, nominal - overlap), nominal)
        a = nominal if word is None else word
    windows.append((a, n))
    return windows


def window_spans(spans: TokenSpans, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of token ranges: from the first character of their
    tokens to the last (a token's span may overlap its neighbour's, e.g. SentencePiece's
    lone ``▁``, hence min and max)."""
    return [
        (int(spans.starts[a:b].min()), int(spans.ends[a:b].max())) if b > a else (0, 0)
        for a, b in ranges
    ]


def fit_windows(
    spans: TokenSpans,
    size: int,
    limit: int,
    encode: Callable[[list[tuple[int, int]]], Encoded],
    overlap: int = WINDOW_OVERLAP,
) -> tuple[list[tuple[int, int]], Encoded]:
    """A text's windows whose model inputs (``encode(char spans)``) hold at most ``limit``
    tokens each: their char spans and encodings.

    ``size`` is the text tokens a window may hold (``limit`` less the prompt and special
    tokens). A window cut at word boundaries re-tokenizes to as many tokens as it had in
    the whole text, so one planning is the rule; otherwise (a cut inside a word, a
    tokenizer that marks the start of a text) the windows are planned again with ``size``
    smaller by the largest excess. ValueError if that does not converge.
    """
    for _ in range(_FIT_ROUNDS):
        if size < 1:
            break
        chars = window_spans(spans, plan_windows(spans.word_starts, size, overlap))
        encoded = encode(chars)
        excess = max(encoded.lengths) - limit
        if excess <= 0:
            return chars, encoded
        size -= excess
    raise ValueError(f"cannot cut the text into windows of at most {limit} tokens")


# ---- the embedder ------------------------------------------------------------------------


class Embedder(ABC):
    """Turns texts into vectors. Implementations load once and are safe to reuse."""

    manifest: Manifest

    @property
    def dim(self) -> int:
        if self.manifest.embedding_dim is None:
            raise ModelLoadError(f"{self.manifest.name} declares no embedding_dim")
        return self.manifest.embedding_dim

    def prompt(self, input_type: InputType | None) -> str:
        """The prefix ``input_type`` puts before each text: "" without an input type, for a
        model without prompts, or for an input type the model has no prompt for."""
        if input_type is None or not self.manifest.prompts:
            return ""
        return self.manifest.prompts.get(input_type, "")

    @abstractmethod
    def embed(
        self,
        texts: Sequence[str],
        *,
        normalize: bool = True,
        truncate: bool = True,
        long_text: LongText | None = None,
        input_type: InputType | None = None,
        max_tokens: int | None = None,
    ) -> EmbeddingResult:
        """Embed ``texts``. ``long_text`` (None: ``"truncate"`` if ``truncate`` else
        ``"reject"``) says what an over-long text gets: cut, TextTooLongError, or windows;
        ``input_type`` prepends the model's prompt for it (module docstring).
        ``max_tokens``: RequestTooManyTokensError, before the model runs, if the model
        inputs are more tokens than that together (after truncation; split: all windows)."""

    @abstractmethod
    def tokenize(self, text: str, input_type: InputType | None = None) -> TokenizeResult:
        """The model's view of one text (after the input type's prompt)."""


class OnnxEmbedder(TextModel[EmbedRequest, _Prepared, _Pooled, EmbeddingResult], Embedder):
    TASK = "embedding"

    def __init__(self, model_dir: Path, manifest: Manifest, **options: int) -> None:
        super().__init__(model_dir, manifest, **options)
        self._output_name = self.output_names[0]
        self._pool = mean_pool if manifest.pooling == "mean" else cls_pool

    def warm_up(self) -> None:
        """Embed the manifest's fidelity texts and compare with the build host's vectors.

        This is also the warm-up run. A host whose kernels compute something else (an int8
        path that saturates, another runtime's arithmetic) is refused like a tampered
        file: ModelFidelityError, so the function logs it, counts ModelLoadFailures and
        answers 503 ``model_unavailable`` instead of vectors of a different model. A
        manifest without fidelity vectors (built before they existed) is warmed only.
        Fidelity texts are embedded without an input type (no prompt), truncated.
        """
        check = self.manifest.fidelity
        if check is None:
            super().warm_up()
            return
        # One text per run: no padding, so faster than the 6 as one padded batch
        # (docs/performance.md, "Cold start and the cost of a request"); a text's vector does
        # not depend on its batch, so these are the build's vectors either way.
        vectors = np.concatenate([self.embed([text]).vectors for text in check.texts])
        cosines = row_cosines(vectors, check.reference(self.dim))
        worst = int(np.argmin(cosines))
        host = cpu_info()
        floor = check.tolerance(host.machine)
        if cosines[worst] < floor:
            raise ModelFidelityError(
                f"{self.manifest.name} {self.manifest.version} computes different vectors on "
                f"this CPU than on its build host: cosine {cosines[worst]:.6f} < {floor} on "
                f"fidelity text {worst} (mean {cosines.mean():.6f} over {len(cosines)} "
                f"texts); this host: {host.describe()}; build host: {check.built_on}"
            )

    def preprocess(self, request: EmbedRequest) -> _Prepared:
        mode = request.mode
        prompt = self.prompt(request.input_type)
        if mode == "split":
            require_texts(request.texts)
            encoded, splits = self._windows(request.texts, prompt)
            prepared = _Prepared(self.batched(encoded), request.normalize, splits)
        else:
            texts = [prompt + text for text in request.texts] if prompt else request.texts
            tokens = self.tokenize_texts(texts, truncate=mode == "truncate")
            prepared = _Prepared(tokens, request.normalize)
        total = sum(prepared.tokens.encoded.lengths)
        if request.max_tokens is not None and total > request.max_tokens:
            raise RequestTooManyTokensError(
                f"the texts are {total} tokens together as the model reads them ("
                + ("all windows" if mode == "split" else f"each cut at {self.max_seq_length}")
                + f"); this deployment runs at most {request.max_tokens} per request"
            )
        return prepared

    def _windows(self, texts: Sequence[str], prompt: str) -> tuple[Encoded, list[_Split]]:
        """Every text's windows as model inputs (in text order), and where each text's are.

        Texts of at most ``_CHECKED_CHARS_PER_TOKEN`` characters per token of the limit are
        tokenized whole with their prompt, together, to see whether they fit; a longer text
        is tokenized in pieces (``TextTokenizer.spans``), and tokenized whole only if its own
        tokens fit in the limit (a prompt changes at most its first token, so one with more
        cannot fit). Windows are tokenized ``_WINDOWS_PER_CALL`` at a time. So no call
        tokenizes more than ``_CHECKED_CHARS_PER_TOKEN * limit`` characters per text at once
        (or a piece, or a group of windows), however long the texts.
        """
        limit = self.max_seq_length
        tokenizer = self._tokenizer
        room = limit - tokenizer.special_tokens - tokenizer.prefix_tokens(prompt)
        checked = [
            i for i, text in enumerate(texts) if len(text) <= _CHECKED_CHARS_PER_TOKEN * limit
        ]
        whole = tokenizer.encode_whole([prompt + texts[i] for i in checked])
        rows: dict[int, list[int]] = dict(zip(checked, whole.ids, strict=True))
        ids: list[list[int]] = []
        splits: list[_Split] = []
        for index, text in enumerate(texts):
            row = rows.pop(index, None)
            spans = None
            if row is None:
                spans = tokenizer.spans(text)
                if len(spans) <= limit:
                    row = tokenizer.encode_whole([prompt + text]).ids[0]
            if row is not None and len(row) <= limit:  # fits: the very input "truncate" feeds
                splits.append(_Split(len(ids), [(0, len(text))]))
                ids.append(row)
                continue
            encode = functools.partial(self._encode_windows, prompt, text)
            try:
                chars, encoded = fit_windows(
                    tokenizer.spans(text) if spans is None else spans, room, limit, encode
                )
            except ValueError as exc:
                raise InvalidInputError(f"text {index}: {exc}") from exc
            splits.append(_Split(len(ids), chars))
            ids.extend(encoded.ids)
        return Encoded(ids, [False] * len(ids)), splits

    def _encode_windows(self, prompt: str, text: str, chars: list[tuple[int, int]]) -> Encoded:
        """The model inputs of a text's windows: prompt + window text, special tokens."""
        ids: list[list[int]] = []
        for group in range(0, len(chars), _WINDOWS_PER_CALL):
            spans = chars[group : group + _WINDOWS_PER_CALL]
            inputs = [prompt + text[start:end] for start, end in spans]
            ids.extend(self._tokenizer.encode_whole(inputs).ids)
        return Encoded(ids, [False] * len(ids))

    def inference(self, inputs: _Prepared) -> _Pooled:
        (vectors,) = self.run_batches(
            inputs.tokens, [self._output_name], lambda out, mask: [self._pool(out[0], mask)]
        )
        return _Pooled(vectors, inputs)

    def postprocess(self, raw: _Pooled) -> EmbeddingResult:
        prepared = raw.prepared
        vectors = l2_normalize(raw.vectors) if prepared.normalize else raw.vectors
        tokens = prepared.tokens
        if prepared.splits is None:
            return EmbeddingResult(
                vectors=vectors,
                token_counts=tokens.encoded.lengths,
                truncated=tokens.encoded.truncated,
                timings=StageTimings(),  # handle() measures them; embed() fills them in
                runs=len(tokens.batches),
                unknown_tokens=tokens.encoded.unknown(self._tokenizer.unk_id),
            )
        lengths = tokens.encoded.lengths
        means = np.empty((len(prepared.splits), vectors.shape[1]), dtype=np.float32)
        windows: list[list[Window]] = []
        averaged: list[int] = []
        for index, split in enumerate(prepared.splits):
            rows = range(split.first, split.first + len(split.spans))
            windows.append(
                [
                    Window(start, end, lengths[row], vectors[row])
                    for (start, end), row in zip(split.spans, rows, strict=True)
                ]
            )
            if len(rows) == 1:  # as in "truncate" mode, bit for bit
                means[index] = vectors[split.first]
                continue
            weights = np.asarray([lengths[row] for row in rows], dtype=np.float64)
            block = vectors[rows.start : rows.stop].astype(np.float64)
            means[index] = (weights @ block) / weights.sum()
            averaged.append(index)
        if prepared.normalize and averaged:
            means[averaged] = l2_normalize(means[averaged])
        unknown = tokens.encoded.unknown(self._tokenizer.unk_id)
        return EmbeddingResult(
            vectors=means,
            unknown_tokens=[
                sum(unknown[split.first : split.first + len(split.spans)])
                for split in prepared.splits
            ],
            token_counts=[sum(window.tokens for window in text) for text in windows],
            truncated=[False] * len(windows),
            timings=StageTimings(),
            runs=len(tokens.batches),
            windows=windows,
        )

    def embed(
        self,
        texts: Sequence[str],
        *,
        normalize: bool = True,
        truncate: bool = True,
        long_text: LongText | None = None,
        input_type: InputType | None = None,
        max_tokens: int | None = None,
    ) -> EmbeddingResult:
        request = EmbedRequest(texts, normalize, truncate, long_text, input_type, max_tokens)
        handled = self.handle(request)
        return dataclasses.replace(handled.output, timings=handled.timings)

    def tokenize(self, text: str, input_type: InputType | None = None) -> TokenizeResult:
        """The model's view of one text, after the input type's prompt (/api/v1/tokenize)."""
        return super().tokenize(self.prompt(input_type) + text)
