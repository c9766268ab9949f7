"""Requests that arrive together are embedded together: one embedder call for many callers.

A local server under concurrency (``make serve``, ``LAMINA_COALESCE=true``) runs its embed
routes in a thread pool, so many requests call ``Embedder.embed`` at once. One at a time,
each short request is one ONNX run of one text: on 2 vCPUs MiniLM int8 embeds ~450 such
texts/s, against ~1,100 texts/s when 8 or more short texts share a call
(docs/performance.md, "Coalescing concurrent requests"). ``CoalescingEmbedder`` wraps an
embedder and gives every waiting caller a share of one call instead.

**How.** Callers put their call in a queue and block. One worker thread takes the oldest
waiting call and, in queue order, every other waiting call with the same options (the
key: ``normalize``, the long-text mode, ``input_type``) while the group stays within
``max_texts`` texts and ``max_chars`` characters; embeds the group's texts in ONE call of
the wrapped embedder (which plans its own ONNX runs under the token budget and
``max_run_batch``, as for any request); and hands each caller its rows. A call too large
for the caps alone still runs, alone. Calls that do not fit stay queued in order, and the
oldest waiting call always leads the next group, so none waits more than one group per
call ahead of it.

**No added wait.** The worker never waits for company: a lone request runs as soon as it
arrives (the cost is one thread hand-off, tens of microseconds). Requests pile up only
while a call is running ("natural batching"), so the group size follows the load: one
text when idle, up to the caps under 200 concurrent clients, and a request's latency is
bounded by the call in progress plus its own group's, not by a queue of single runs.

**Failures stay with their caller.** If the group's call raises (one request's text is
too long under ``long_text="reject"``, an invalid input), every call of the group is run
again alone, so each caller gets its own result or its own exception (with indexes into
its own texts): one bad request never fails another.

**Results.** Each caller gets an ``EmbeddingResult`` of its own texts only, in its input
order: its rows of ``vectors`` (copied, so a kept result does not pin the group's
array), ``token_counts``, ``truncated``, ``windows`` and ``unknown_tokens``. ``runs`` and
``timings`` are those of the group's call, shared by every caller in it: the ONNX runs its
texts went through and the time each stage took for the whole group (the time the caller's
texts spent in each stage, not a cost attributable to this caller alone). The time a caller
waited in the queue before its group started is not in ``timings``.

**Same vectors.** A text's vector does not depend on which texts share its ONNX runs: the
int8 graph quantizes activations per token (one scale per row, docs/performance.md, "The
same bits alone or in a batch"), fp32 and e5's q4 (``MatMulNBits``) compute a row
independently of the others, and padding adds exact zeros. Measured on an AMD EPYC (Zen
5; avx2, avx512f, avx512_vnni, avx_vnni) at 1 and 2 threads: 200 corpus texts embedded
alone and in one call of all 200 are bit-identical (max |difference| 0) for MiniLM int8,
MiniLM fp32 and multilingual-e5-small q4 (``tests/integration/test_coalesce_model.py``
checks coalesced calls against solo calls bit for bit).

**Bounded memory.** The queue holds at most one call per blocked caller thread (the
server's thread pool bounds those), and a group at most ``max_texts`` texts and
``max_chars`` characters beyond its first call; the wrapped embedder bounds each ONNX
run's memory as for any request.

**Shutdown.** ``close()`` stops taking new calls into the queue (later ones run directly on
the wrapped embedder, on the caller's thread), lets the worker finish every queued call,
and joins it. The worker is a daemon thread started at the first call; it holds no
reference to the wrapper, so a wrapper that is dropped without ``close()`` shuts its
worker down too. Everything else (``manifest``, ``dim``, ``prompt``, ``tokenize``,
``warm_up``, any other attribute) is the wrapped embedder's.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.inference.embedder import (
    Embedder,
    EmbeddingResult,
    EmbedRequest,
    InputType,
    LongText,
    TokenizeResult,
)
from lamina.models.manifest import Manifest

__all__ = ["DEFAULT_MAX_CHARS", "DEFAULT_MAX_TEXTS", "CoalesceStats", "CoalescingEmbedder"]

log = logging.getLogger("lamina.model")

DEFAULT_MAX_TEXTS = 64
"""Most texts in one coalesced call: ``max_run_batch``'s default, so a group of short
texts is one to a few ONNX runs under the token budget (about 60 ms for 64 short texts,
MiniLM int8, 2 vCPUs), and a caller's latency stays near one such call."""

DEFAULT_MAX_CHARS = 32_768
"""Most characters in one coalesced call: about one ``batch_token_budget`` (8,192 tokens)
of English text, so one group is a bounded amount of work whatever its texts' lengths."""

_Key = tuple[bool, LongText, InputType | None]


@dataclass(eq=False)
class _Call:
    """One caller's request, waiting in the queue until the worker answers it."""

    texts: Sequence[str]
    key: _Key
    chars: int
    done: threading.Event = field(default_factory=threading.Event)
    result: EmbeddingResult | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class CoalesceStats:
    """Counters since the wrapper was created."""

    calls: int  # callers' calls answered through the queue
    groups: int  # calls of the wrapped embedder for them (coalesced or alone)
    fallbacks: int  # groups whose call raised, so their calls were run again alone
    largest: int  # most callers' calls in one group


class _Worker:
    """The queue and the thread that empties it. Holds no reference to the wrapper."""

    def __init__(self, embedder: Embedder, max_texts: int, max_chars: int) -> None:
        self.embedder = embedder
        self.max_texts = max_texts
        self.max_chars = max_chars
        self._cond = threading.Condition()
        self._waiting: deque[_Call] = deque()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.calls = self.groups = self.fallbacks = self.largest = 0

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def in_worker(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, call: _Call) -> bool:
        """Queue ``call`` (False once closed: the caller runs it itself)."""
        with self._cond:
            if self._closed:
                return False
            self._waiting.append(call)
            if self._thread is None:
                name = f"lamina-coalesce-{self.embedder.manifest.name}"
                self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return True

    def close(self, timeout: float | None = None) -> None:
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if not self._waiting:  # closed and drained
                    return
                group = self._take()
            self._run(group)

    def _take(self) -> list[_Call]:
        """The oldest waiting call and, in order, every waiting call that may join it."""
        first = self._waiting.popleft()
        group, texts, chars = [first], len(first.texts), first.chars
        left: deque[_Call] = deque()
        for call in self._waiting:
            if (
                call.key == first.key
                and texts + len(call.texts) <= self.max_texts
                and chars + call.chars <= self.max_chars
            ):
                group.append(call)
                texts += len(call.texts)
                chars += call.chars
            else:
                left.append(call)
        self._waiting = left
        return group

    def _run(self, group: list[_Call]) -> None:
        try:
            self.groups += 1
            self.calls += len(group)
            self.largest = max(self.largest, len(group))
            if len(group) == 1:
                self._alone(group[0])
                return
            normalize, mode, input_type = group[0].key
            texts = [text for call in group for text in call.texts]
            try:
                result = self.embedder.embed(
                    texts, normalize=normalize, long_text=mode, input_type=input_type
                )
            except Exception as exc:  # someone's bad input (or worse): each call on its own
                self.fallbacks += 1
                log.debug("coalesced call of %d requests failed (%s): alone", len(group), exc)
                for call in group:
                    self._alone(call)
                return
            start = 0
            for call in group:
                stop = start + len(call.texts)
                call.result = _rows(result, start, stop)
                start = stop
        finally:
            for call in group:
                if call.result is None and call.error is None:  # never leave a caller hanging
                    call.error = RuntimeError("the coalescing worker failed to answer")
                call.done.set()

    def _alone(self, call: _Call) -> None:
        normalize, mode, input_type = call.key
        try:
            call.result = self.embedder.embed(
                call.texts, normalize=normalize, long_text=mode, input_type=input_type
            )
        except BaseException as exc:  # the caller's own error, raised in the caller's thread
            call.error = exc


def _rows(result: EmbeddingResult, start: int, stop: int) -> EmbeddingResult:
    """A caller's share of a group's result: rows ``start:stop``; runs and timings shared."""
    return dataclasses.replace(
        result,
        vectors=result.vectors[start:stop].copy(),
        token_counts=result.token_counts[start:stop],
        truncated=result.truncated[start:stop],
        windows=None if result.windows is None else result.windows[start:stop],
        unknown_tokens=None if result.unknown_tokens is None else result.unknown_tokens[start:stop],
    )


class CoalescingEmbedder(Embedder):
    """``embedder``, with concurrent ``embed`` calls of the same options run as one call.

    Thread-safe; see the module docstring for what callers get and why the vectors are
    unchanged. ``max_texts`` and ``max_chars`` cap a group (a call larger than that
    alone still runs, alone).
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_texts: int = DEFAULT_MAX_TEXTS,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        if max_texts < 1 or max_chars < 1:
            raise ValueError("max_texts and max_chars must be positive")
        self.embedder = embedder
        self.manifest: Manifest = embedder.manifest
        self._worker = _Worker(embedder, max_texts, max_chars)
        self._finalizer = weakref.finalize(self, self._worker.close, 0)

    # --- delegated ------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def prompt(self, input_type: InputType | None) -> str:
        return self.embedder.prompt(input_type)

    def tokenize(self, text: str, input_type: InputType | None = None) -> TokenizeResult:
        return self.embedder.tokenize(text, input_type)

    def __getattr__(self, name: str) -> Any:
        # Only for what this class does not define (warm_up, model_dir, max_seq_length...).
        if name in ("embedder", "_worker", "_finalizer"):  # not yet set: no recursion
            raise AttributeError(name)
        return getattr(self.embedder, name)

    # --- coalesced ------------------------------------------------------------------------

    @property
    def max_texts(self) -> int:
        return self._worker.max_texts

    @property
    def max_chars(self) -> int:
        return self._worker.max_chars

    @property
    def waiting(self) -> int:
        """Calls queued now, not yet taken into a group."""
        return self._worker.waiting

    @property
    def stats(self) -> CoalesceStats:
        w = self._worker
        return CoalesceStats(w.calls, w.groups, w.fallbacks, w.largest)

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
        """The wrapped embedder's ``embed``, possibly in one call with concurrent callers'.

        A call with a token budget it might exceed runs alone, so the budget is checked
        before its model run as without coalescing; a call coalesces only when its texts
        cannot exceed the budget (each is cut at the model's limit, so ``len(texts) *
        max_seq_length`` bounds them; in split mode nothing does)."""
        mode = EmbedRequest(texts, normalize, truncate, long_text, input_type).mode
        worker = self._worker
        if not texts or worker.in_worker() or not self._fits(texts, mode, max_tokens):
            # The embedder's own error; no re-entry deadlock; its own budget check.
            return self.embedder.embed(
                texts,
                normalize=normalize,
                long_text=mode,
                input_type=input_type,
                max_tokens=max_tokens,
            )
        call = _Call(texts, (normalize, mode, input_type), sum(len(text) for text in texts))
        if not worker.submit(call):  # closed: no coalescing any more, still an answer
            return self.embedder.embed(
                texts, normalize=normalize, long_text=mode, input_type=input_type
            )
        call.done.wait()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _fits(self, texts: Sequence[str], mode: LongText, max_tokens: int | None) -> bool:
        """Whether ``texts`` are within ``max_tokens`` whatever they hold."""
        if max_tokens is None:
            return True
        limit = getattr(self.embedder, "max_seq_length", None)
        return mode != "split" and isinstance(limit, int) and len(texts) * limit <= max_tokens

    def close(self, timeout: float | None = None) -> None:
        """Answer every queued call, stop the worker; later calls run unbatched."""
        self._worker.close(timeout)

    def __enter__(self) -> CoalescingEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
