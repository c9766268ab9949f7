"""CoalescingEmbedder with a fake embedder: concurrent calls share one embedder call, each
caller gets its own rows (or its own error), options never mix, caps hold, idle adds no wait.

Calls pile up deterministically: ``GatedEmbedder`` holds its first call until the test has
queued the others (``CoalescingEmbedder.waiting``), then lets everything run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from lamina.errors import RequestTooManyTokensError, TextTooLongError
from lamina.inference.coalesce import CoalescingEmbedder
from lamina.inference.embedder import EmbeddingResult, InputType, LongText
from tests.batch_helpers import E5_PROMPTS, FakeEmbedder

TIMEOUT = 10.0
Calls = list[tuple[list[str], dict[str, Any]]]  # each caller's texts and options


class GatedEmbedder(FakeEmbedder):
    """A FakeEmbedder whose first call waits for ``release`` (so others queue meanwhile)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: set[str] = set()

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
        self.threads.add(threading.current_thread().name)
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(TIMEOUT), "the test never released the gate"
        result = super().embed(
            texts, normalize=normalize, truncate=truncate, long_text=long_text,
            input_type=input_type, max_tokens=max_tokens,
        )  # fmt: skip
        if not normalize:
            return EmbeddingResult(
                vectors=result.vectors * 2,  # "unnormalized": tells the options apart
                token_counts=result.token_counts,
                truncated=result.truncated,
                timings=result.timings,
                runs=result.runs,
                windows=result.windows,
            )
        return result


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


def wait_queued(coalescer: CoalescingEmbedder, count: int) -> None:
    wait_until(lambda: coalescer.waiting == count, f"{count} calls are queued")


def piled_up(
    coalescer: CoalescingEmbedder,
    gated: GatedEmbedder,
    calls: Calls,
) -> list[Future[EmbeddingResult]]:
    """Hold the embedder on a first call, queue ``calls`` from threads, then release."""
    pool = ThreadPoolExecutor(max_workers=len(calls) + 1)
    first = pool.submit(coalescer.embed, ["the first call"])
    assert gated.entered.wait(TIMEOUT)
    futures: list[Future[EmbeddingResult]] = []
    for texts, options in calls:
        futures.append(pool.submit(coalescer.embed, texts, **options))
        # one at a time, so the queue's order is the list's
        wait_queued(coalescer, len(futures))
    gated.release.set()
    first.result(TIMEOUT)
    for future in futures:
        future.exception(TIMEOUT)
    pool.shutdown()
    return futures


def expected(fake: FakeEmbedder, texts: Sequence[str], prompt: str = "") -> np.ndarray:
    return np.stack([fake.vector(prompt + text) for text in texts])


def test_concurrent_calls_share_one_call_and_each_gets_its_own_rows_in_order() -> None:
    gated = GatedEmbedder()
    coalescer = CoalescingEmbedder(gated, max_texts=1000, max_chars=1_000_000)
    calls: Calls = [([f"caller {i} text {j}" for j in range(1 + i % 3)], {}) for i in range(40)]
    futures = piled_up(coalescer, gated, calls)
    assert len(gated.calls) == 2  # the held first call, then all 40 together
    assert len(gated.calls[1]) == sum(len(texts) for texts, _ in calls)
    for (texts, _), future in zip(calls, futures, strict=True):
        result = future.result()
        np.testing.assert_array_equal(result.vectors, expected(gated, texts))
        assert result.token_counts == [gated.tokens(text) for text in texts]
        assert result.truncated == [False] * len(texts)
        assert result.vectors.flags.owndata  # a copy: does not pin the group's array
    assert coalescer.stats.largest == 40
    assert coalescer.stats.calls == 41
    assert gated.threads == {"lamina-coalesce-fake"}  # the embedder runs on the worker only
    coalescer.close()


def test_many_threads_without_a_gate_all_get_their_own_vectors() -> None:
    fake = FakeEmbedder()
    with CoalescingEmbedder(fake) as coalescer, ThreadPoolExecutor(max_workers=64) as pool:
        texts = [[f"text {i}", f"second {i}"] for i in range(500)]
        results = list(pool.map(coalescer.embed, texts))
    for mine, result in zip(texts, results, strict=True):
        np.testing.assert_array_equal(result.vectors, expected(fake, mine))
    assert coalescer.stats.calls == 500
    assert sum(len(call) for call in fake.calls) == 1000


def test_one_bad_call_fails_alone() -> None:
    gated = GatedEmbedder(max_chars=50)
    coalescer = CoalescingEmbedder(gated)
    reject = {"long_text": "reject"}
    calls = [
        (["fine a", "fine b"], reject),
        (["fine c", "x" * 51, "fine d"], reject),  # its text 1 is over the limit
        (["fine e"], reject),
    ]
    futures = piled_up(coalescer, gated, calls)
    error = futures[1].exception()
    assert isinstance(error, TextTooLongError)
    assert error.index == 1  # an index into its own texts, not the group's
    np.testing.assert_array_equal(futures[0].result().vectors, expected(gated, calls[0][0]))
    np.testing.assert_array_equal(futures[2].result().vectors, expected(gated, calls[2][0]))
    assert coalescer.stats.fallbacks == 1
    # held call, the failed group of 3, then each of the 3 alone
    assert [len(call) for call in gated.calls] == [1, 6, 2, 3, 1]
    coalescer.close()


def test_options_are_never_mixed() -> None:
    gated = GatedEmbedder(prompts=E5_PROMPTS, max_chars=20)
    coalescer = CoalescingEmbedder(gated)
    options: list[dict[str, Any]] = [
        {},
        {"input_type": "query"},
        {"input_type": "passage"},
        {"normalize": False},
        {"long_text": "split"},
        {"truncate": False},  # the same key as long_text="reject"
        {"long_text": "reject"},
        {"long_text": "truncate"},  # the same key as the default
    ]
    calls = [([f"call {i} {'word ' * (i % 4)}"], option) for i, option in enumerate(options * 3)]
    futures = piled_up(coalescer, gated, calls)
    for (texts, option), future in zip(calls, futures, strict=True):
        result = future.result()
        prompt = gated.prompt(option.get("input_type"))
        if option.get("long_text") == "split":
            assert result.windows is not None
            assert len(result.windows) == 1
            np.testing.assert_array_equal(
                result.vectors[0], gated.mean(result.windows[0])
            )  # fmt: skip
        else:
            want = expected(gated, texts, prompt) * (1 if option.get("normalize", True) else 2)
            np.testing.assert_array_equal(result.vectors, want)
            assert result.windows is None
    groups = list(zip(gated.calls[1:], gated.options[1:], strict=True))
    # 8 options, 6 keys: the two pairs of equivalent options share their groups
    assert len(groups) == 6
    for texts, option in groups:
        members = [call for call in calls if call[0][0] in texts]
        assert len(members) == len(texts)
        modes = {
            (
                m[1].get("normalize", True),
                m[1].get("input_type"),
                m[1].get("long_text") or ("truncate" if m[1].get("truncate", True) else "reject"),
            )
            for m in members
        }
        assert len(modes) == 1, f"one group mixed options: {modes}"
        (_, input_type, mode) = modes.pop()
        assert option == {"long_text": mode, "input_type": input_type, "max_tokens": None}
    coalescer.close()


def test_caps_on_texts_and_characters() -> None:
    gated = GatedEmbedder()
    coalescer = CoalescingEmbedder(gated, max_texts=5, max_chars=100)
    calls: Calls = [([f"short {i:02d}"], {}) for i in range(12)]  # 8 characters each
    calls.insert(3, (["y" * 60, "z" * 30], {}))  # 90 characters, 2 texts
    calls.insert(6, ([f"many {i}" for i in range(7)], {}))  # more texts than the cap: alone
    futures = piled_up(coalescer, gated, calls)
    for (texts, _), future in zip(calls, futures, strict=True):
        np.testing.assert_array_equal(future.result().vectors, expected(gated, texts))
    groups = gated.calls[1:]
    for group in groups:
        assert len(group) <= 5 or group == calls[6][0]
        assert sum(map(len, group)) <= 100 or group == calls[6][0]
    assert calls[6][0] in groups  # the oversized call ran, alone
    # in queue order, the oldest waiting call leads every group; calls that do not fit wait
    assert groups == [
        [f"short {i:02d}" for i in range(5)],  # 5 texts; the 90 characters did not fit
        ["y" * 60, "z" * 30, "short 05"],  # 98 characters
        [f"many {i}" for i in range(7)],
        [f"short {i:02d}" for i in range(6, 11)],
        ["short 11"],
    ]
    coalescer.close()


def test_a_lone_call_runs_at_once() -> None:
    fake = FakeEmbedder()
    with CoalescingEmbedder(fake) as coalescer:
        coalescer.embed(["warm the worker"])
        took = []
        for i in range(50):
            start = time.perf_counter()
            result = coalescer.embed([f"alone {i}"])
            took.append(time.perf_counter() - start)
            np.testing.assert_array_equal(result.vectors, expected(fake, [f"alone {i}"]))
    assert fake.calls[1:] == [[f"alone {i}"] for i in range(50)]  # one call each, no company
    # a thread hand-off, not a wait for company (generous for a loaded CI machine)
    assert sorted(took)[len(took) // 2] < 0.005


def test_errors_outside_the_queue_and_delegation() -> None:
    fake = GatedEmbedder(prompts=E5_PROMPTS)
    fake.entered.set()  # no gate
    coalescer = CoalescingEmbedder(fake)
    with pytest.raises(ValueError, match="at least one array"):  # the fake's own error
        coalescer.embed([])
    assert fake.threads == {threading.current_thread().name}  # inline, not queued
    with pytest.raises(ValueError, match="long_text"):
        coalescer.embed(["a"], long_text="chop")  # type: ignore[arg-type]
    assert coalescer.manifest is fake.manifest
    assert coalescer.dim == fake.dim
    assert coalescer.prompt("query") == "query: "
    assert coalescer.tokenize("hi", "passage").tokens == ["passage:", "hi"]
    assert coalescer.overlap == fake.overlap  # anything else: the wrapped embedder's
    with pytest.raises(AttributeError):
        _ = coalescer.no_such_attribute
    with pytest.raises(ValueError, match="positive"):
        CoalescingEmbedder(fake, max_texts=0)
    coalescer.close()


def test_close_answers_the_queue_then_runs_calls_directly() -> None:
    gated = GatedEmbedder()
    coalescer = CoalescingEmbedder(gated)
    pool = ThreadPoolExecutor(max_workers=4)
    first = pool.submit(coalescer.embed, ["held"])
    assert gated.entered.wait(TIMEOUT)
    queued = pool.submit(coalescer.embed, ["queued"])
    wait_queued(coalescer, 1)
    closing = pool.submit(coalescer.close)
    time.sleep(0.05)
    assert not closing.done()  # close waits for the queue to be answered
    gated.release.set()
    closing.result(TIMEOUT)
    assert first.result(TIMEOUT).vectors.shape == (1, gated.dim)
    assert queued.result(TIMEOUT).vectors.shape == (1, gated.dim)
    assert not any(t.name == "lamina-coalesce-fake" for t in threading.enumerate())
    coalescer.embed(["after close"])  # on this thread, directly
    assert threading.current_thread().name in gated.threads
    pool.shutdown()


def test_a_dropped_wrapper_stops_its_worker() -> None:
    import gc

    coalescer = CoalescingEmbedder(FakeEmbedder(name="dropped"))
    coalescer.embed(["start the worker"])
    assert any(t.name == "lamina-coalesce-dropped" for t in threading.enumerate())
    del coalescer
    gc.collect()
    wait_until(
        lambda: not any(t.name == "lamina-coalesce-dropped" for t in threading.enumerate()),
        "the worker stopped",
    )


# ---- the request's token budget ---------------------------------------------------------


class LimitedEmbedder(FakeEmbedder):
    """A FakeEmbedder with a model's token limit per text (what bounds a call's tokens)."""

    max_seq_length = 8


def test_a_call_that_may_exceed_its_token_budget_runs_alone_and_is_refused() -> None:
    """LAMINA_MAX_REQUEST_TOKENS through the coalescer: a call whose texts could be more
    tokens than its budget (4 texts x 8 > 20) is not merged with others, so its own check
    runs before any model run, and it is refused when it does exceed it."""
    fake = LimitedEmbedder()
    with CoalescingEmbedder(fake) as coalescer:
        long_words = " ".join(["w"] * 6)  # 8 tokens each
        with pytest.raises(RequestTooManyTokensError):
            coalescer.embed([long_words] * 4, max_tokens=20)
        assert fake.options[-1]["max_tokens"] == 20, "checked by the embedder, alone"
        ok = coalescer.embed(["a", "b"], max_tokens=20)  # 2 x 8 <= 20: may coalesce
        assert ok.total_tokens == 6
        assert coalescer.stats.calls == 1, "only the call that fits went through the queue"
        split = coalescer.embed(["a"], long_text="split", max_tokens=20)
        assert split.total_tokens == 3
        assert fake.options[-1] == {"long_text": "split", "input_type": None, "max_tokens": 20}
        assert coalescer.stats.calls == 1, "split mode has no bound: never queued with one"
