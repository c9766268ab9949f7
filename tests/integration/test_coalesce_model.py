"""CoalescingEmbedder on the real models: concurrent calls get the vectors solo calls get
(bit for bit: the int8 graph quantizes per token, fp32 and q4 compute rows independently,
padding adds exact zeros; see lamina.inference.coalesce), in far fewer ONNX runs.

ONNX runs are counted at the session: every ``InferenceSession.run`` of the wrapped
embedder goes through ``CountingSession``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.errors import TextTooLongError
from lamina.inference.coalesce import CoalescingEmbedder
from lamina.inference.embedder import EmbeddingResult, OnnxEmbedder
from lamina_tools.models.corpus import retrieval_corpus
from tests.conftest import import_function

CALLERS = 64
Calls = list[tuple[list[str], dict[str, Any]]]  # each caller's texts and options


class CountingSession:
    """An ONNX Runtime session that counts its runs (and who ran them)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.runs = 0
        self.rows = 0
        self._lock = threading.Lock()

    def run(self, outputs: Any, feeds: dict[str, np.ndarray]) -> Any:
        with self._lock:
            self.runs += 1
            self.rows += len(feeds["input_ids"])
        return self._session.run(outputs, feeds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def counted(model: OnnxEmbedder) -> CountingSession:
    session = CountingSession(model._session)
    model._session = session
    return session


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """200 corpus texts: short, medium, long (some truncated at 256 tokens), 11 scripts."""
    corpus = retrieval_corpus(2000)
    return corpus[::10]


def concurrently(coalescer: CoalescingEmbedder, calls: Calls) -> list[EmbeddingResult]:
    """Every call from its own thread, all released at once."""
    start = threading.Barrier(len(calls))

    def one(call: tuple[list[str], dict[str, Any]]) -> EmbeddingResult:
        start.wait()
        return coalescer.embed(call[0], **call[1])

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def model_dirs(int8_dir: Path, e5_dir: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    return {
        "int8": (int8_dir, {}),
        "fp32": (int8_dir.parent / "fp32", {}),
        "e5 q4": (e5_dir, {"input_type": "query"}),
    }


@pytest.mark.parametrize("variant", ["int8", "fp32", "e5 q4"])
def test_coalesced_calls_get_the_solo_vectors(
    variant: str, texts: list[str], int8_dir: Path, e5_dir: Path
) -> None:
    directory, options = model_dirs(int8_dir, e5_dir)[variant]
    model = OnnxEmbedder.load(directory, verify=False, warmup=False)
    # 200 callers: 1 to 3 texts each, most alone, some in a split-mode group
    calls: Calls = []
    at = 0
    while at < len(texts):
        size = 1 + len(calls) % 3
        extra = {"long_text": "split"} if len(calls) % 7 == 0 else {}
        calls.append((texts[at : at + size], {**options, **extra}))
        at += size
    long_text = " ".join(texts)  # ~20,000 characters: many windows in split mode
    calls.append(([long_text, "and a short one"], {**options, "long_text": "split"}))
    solo = [model.embed(chunk, **option) for chunk, option in calls]
    with CoalescingEmbedder(model, max_texts=256, max_chars=100_000) as coalescer:
        together = concurrently(coalescer, calls)
        stats = coalescer.stats
    assert stats.groups < len(calls)
    for alone, shared in zip(solo, together, strict=True):
        np.testing.assert_array_equal(shared.vectors, alone.vectors)  # max |difference| 0
        assert shared.token_counts == alone.token_counts
        assert shared.truncated == alone.truncated
        if alone.windows is None:
            assert shared.windows is None
        else:
            assert shared.windows is not None
            assert [[(w.start, w.end, w.tokens) for w in ws] for ws in shared.windows] == [
                [(w.start, w.end, w.tokens) for w in ws] for ws in alone.windows
            ]


def test_64_concurrent_single_texts_take_a_few_onnx_runs(int8_dir: Path) -> None:
    model = OnnxEmbedder.load(int8_dir, verify=False)
    session = counted(model)
    calls: Calls = [([f"how do I reset my password, question {i}?"], {}) for i in range(CALLERS)]
    solo = [model.embed(chunk).vectors for chunk, _ in calls]
    assert session.runs == CALLERS  # one at a time: one run per request
    session.runs = session.rows = 0
    with CoalescingEmbedder(model) as coalescer:
        results = concurrently(coalescer, calls)
        stats = coalescer.stats
    for alone, shared in zip(solo, results, strict=True):
        np.testing.assert_array_equal(shared.vectors, alone)
    assert session.rows == CALLERS  # every text once
    # natural batching: the first arrivals run while the rest queue, then run together
    assert session.runs <= CALLERS // 8, (session.runs, stats)
    assert stats.groups == session.runs  # texts of one length: one ONNX run per group


def test_a_rejected_text_fails_only_its_own_request(int8_dir: Path) -> None:
    model = OnnxEmbedder.load(int8_dir, verify=False, warmup=False)
    too_long = "word " * 400  # over 256 tokens
    calls = [([f"fine text {i}"], {"long_text": "reject"}) for i in range(16)]
    calls[5] = (["fine", too_long], {"long_text": "reject"})
    with CoalescingEmbedder(model) as coalescer, ThreadPoolExecutor(16) as pool:
        start = threading.Barrier(len(calls))

        def one(call: tuple[list[str], dict[str, Any]]) -> Any:
            start.wait()
            try:
                return coalescer.embed(call[0], **call[1])
            except TextTooLongError as exc:
                return exc

        outcomes = list(pool.map(one, calls))
    error = outcomes[5]
    assert isinstance(error, TextTooLongError)
    assert error.index == 1
    for i, outcome in enumerate(outcomes):
        if i != 5:
            assert isinstance(outcome, EmbeddingResult)
            np.testing.assert_array_equal(outcome.vectors, model.embed(calls[i][0]).vectors)


@pytest.fixture
def coalescing_app(int8_dir: Path) -> Iterator[Any]:
    module = import_function(
        "functions.embed.app", {"MODEL_URI": str(int8_dir), "LAMINA_COALESCE": "true"}, keep=False
    )
    yield module
    module.served.slot.get().embedder.close()


def test_the_service_wraps_its_models_when_coalesce_is_on(
    coalescing_app: Any, int8_dir: Path
) -> None:
    from fastapi.testclient import TestClient

    service = coalescing_app.served.slot.get()
    assert isinstance(service.embedder, CoalescingEmbedder)
    model = OnnxEmbedder.load(int8_dir, verify=False, warmup=False)
    texts = [f"a request of its own, number {i}" for i in range(24)]
    with TestClient(coalescing_app.app) as client, ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda text: client.post("/api/v1/embed", json={"text": text}), texts)
        )
    for text, response in zip(texts, responses, strict=True):
        assert response.status_code == 200, response.text
        expected = model.embed([text]).vectors[0]
        np.testing.assert_array_equal(np.asarray(response.json()["embedding"], "f4"), expected)
