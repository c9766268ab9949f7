"""lamina-client against a live embedding server, with faults injected between the two
(tests/client/faultproxy.py): retries recover, a 4xx is raised at once, the deadline holds,
the fallback answers when nothing else does, and embed_batch splits any number of texts
into requests within the server's limits and puts the vectors back in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from lamina_client import (
    AsyncLaminaClient,
    BadRequestError,
    BatchLimits,
    Embedding,
    LaminaClient,
    LaminaConnectionError,
    LaminaError,
    LaminaTimeoutError,
    RateLimitedError,
    ServiceUnavailableError,
)
from tests.client.conftest import FAST, MAX_REQUEST_TOKENS
from tests.client.faultproxy import FaultProxy

pytestmark = pytest.mark.slow

EMBED = "/api/v1/embed"
BATCH = "/api/v1/embed-batch"
TEXT = "Kimchi stew with pork and tofu"
KOREAN = [
    "김치찌개 끓이는 법",
    "된장찌개: 된장과 두부로 끓인 찌개",
    "비빔밥에 고추장을 넣는다",
    "갈비탕",
]


def vectors(embeddings: list[Embedding]) -> np.ndarray:
    return np.array([e.vector for e in embeddings], dtype=np.float64)


def embed_one_by_one(url: str, texts: list[str]) -> list[Embedding]:
    """Each text on its own (POST /api/v1/embed), 8 requests at a time."""

    async def main() -> list[Embedding]:
        async with AsyncLaminaClient(url) as client:
            slots = asyncio.Semaphore(8)

            async def one(text: str) -> Embedding:
                async with slots:
                    return await client.embed(text)

            return list(await asyncio.gather(*(one(text) for text in texts)))

    return asyncio.run(main())


@pytest.fixture(scope="module")
def direct(live_url: str) -> Any:
    """A client straight to the server, for the reference vectors."""
    with LaminaClient(live_url) as client:
        yield client


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("drop", {"times": 2}),  # the connection closes before any answer
        ("cut", {"times": 1}),  # half an answer, then the connection closes
        ("status", {"times": 3, "status": 503}),  # API Gateway's 503, no Retry-After
        ("status", {"times": 2, "status": 429}),  # API Gateway's throttling
        ("status", {"times": 1, "status": 502}),
        ("delay", {"times": 1, "seconds": 1.5}),  # over the read timeout
    ],
    ids=["drop", "cut", "503", "429", "502", "read-timeout"],
)
def test_retries_recover_with_the_same_vector(
    proxy: FaultProxy, direct: LaminaClient, kind: Any, options: dict[str, Any]
) -> None:
    expected = direct.embed(TEXT)
    proxy.inject(kind, path=EMBED, **options)
    with LaminaClient(proxy.url, read_timeout=0.5, max_attempts=4, **FAST) as client:
        got = client.embed(TEXT)
    assert got.vector == expected.vector
    assert (got.model, got.tokens) == (expected.model, expected.tokens)
    assert proxy.count(EMBED) == options["times"] + 1


@pytest.mark.parametrize(
    ("status", "error"), [(503, ServiceUnavailableError), (429, RateLimitedError)]
)
def test_retry_after_is_honoured(
    proxy: FaultProxy, direct: LaminaClient, status: int, error: type[LaminaError]
) -> None:
    expected = direct.embed(TEXT)
    proxy.inject("status", path=EMBED, status=status, retry_after="1")
    began = time.monotonic()
    with LaminaClient(proxy.url, **FAST) as client:
        assert client.embed(TEXT).vector == expected.vector
    assert time.monotonic() - began >= 0.95
    assert proxy.count(EMBED) == 2
    # With no attempt left, the error says what the server said.
    proxy.inject("status", path=EMBED, status=status, retry_after="1", times=5)
    with LaminaClient(proxy.url, max_attempts=1) as client, pytest.raises(error) as caught:
        client.embed(TEXT)
    assert caught.value.status_code == status
    assert caught.value.retry_after == 1.0


def test_a_4xx_is_raised_at_once_never_retried(proxy: FaultProxy) -> None:
    fallback_calls: list[Any] = []
    client = LaminaClient(proxy.url, fallback=lambda *a: fallback_calls.append(a))
    with client, pytest.raises(BadRequestError) as caught:
        client.embed("   ")
    error = caught.value
    assert (error.status_code, error.code, error.param) == (422, "empty_text", "text")
    assert error.request_id is not None
    assert len(error.request_id) == 32  # the response's x-request-id
    assert error.request_id in str(error)
    assert not error.retryable
    assert proxy.count(EMBED) == 1
    assert fallback_calls == []  # a caller's error is not the service failing


def test_the_deadline_holds_over_slow_answers_and_retries(proxy: FaultProxy) -> None:
    # Every answer takes 5 s; the read timeout (30 s) would wait: the deadline does not.
    proxy.inject("delay", path=EMBED, seconds=5, times=100)
    with LaminaClient(proxy.url, deadline=1.0, max_attempts=10, **FAST) as client:
        began = time.monotonic()
        with pytest.raises(LaminaTimeoutError):
            client.embed(TEXT)
        assert time.monotonic() - began < 2.0
    # 503 after 503: attempts and waits stop at the deadline.
    proxy.reset()
    proxy.inject("status", path=EMBED, status=503, times=1000)
    with LaminaClient(proxy.url, deadline=1.0, max_attempts=1000, backoff_base=0.1) as client:
        began = time.monotonic()
        with pytest.raises(ServiceUnavailableError):
            client.embed(TEXT)
        assert time.monotonic() - began < 1.5
    assert proxy.count(EMBED) > 2
    # A Retry-After longer than the time left: no waiting for nothing.
    proxy.reset()
    proxy.inject("status", path=EMBED, status=503, retry_after="30", times=10)
    with LaminaClient(proxy.url, deadline=5.0) as client:
        began = time.monotonic()
        with pytest.raises(ServiceUnavailableError) as caught:
            client.embed(TEXT)
        assert time.monotonic() - began < 1.0
    assert caught.value.retry_after == 30.0
    assert proxy.count(EMBED) == 1


def test_the_fallback_answers_when_every_attempt_fails(proxy: FaultProxy) -> None:
    proxy.inject("drop", path=EMBED, times=100)
    calls: list[tuple[str, dict[str, Any], LaminaError]] = []

    def fallback(method: str, arguments: Mapping[str, Any], error: LaminaError) -> str:
        calls.append((method, dict(arguments), error))
        return "cached"

    with LaminaClient(proxy.url, max_attempts=3, fallback=fallback, **FAST) as client:
        assert client.embed(TEXT, input_type="query") == "cached"  # type: ignore[comparison-overlap]
    ((method, arguments, error),) = calls
    assert method == "embed"
    assert arguments == {"text": TEXT, "model": None, "input_type": "query", "normalize": True}
    assert isinstance(error, LaminaConnectionError)
    assert proxy.count(EMBED) == 3
    # Without a fallback, the last error.
    with (
        LaminaClient(proxy.url, max_attempts=2, **FAST) as client,
        pytest.raises(LaminaConnectionError),
    ):
        client.embed(TEXT)


def test_embed_batch_splits_600_texts_and_keeps_their_order(
    proxy: FaultProxy, direct: LaminaClient
) -> None:
    texts = [
        f"recipe {i}: {['stew', 'noodles', 'salad', 'rice'][i % 4]} number {i}" for i in range(600)
    ]
    with LaminaClient(proxy.url) as client:
        batch = client.embed_batch(texts)
        assert client.embed_batch(texts[:3])[0].vector == batch[0].vector
    assert len(batch) == 600
    assert proxy.count("/openapi.json") == 1  # the limits, read once
    # 256 texts per request at most (the document's maxItems): 256 + 256 + 88, then 3.
    assert [len(s.json()["texts"]) for s in proxy.requests(BATCH)] == [256, 256, 88, 3]
    singles = embed_one_by_one(direct.config.base_url, texts)
    np.testing.assert_allclose(vectors(batch), vectors(singles), atol=1e-6, rtol=0)
    assert all(b.model == "all-MiniLM-L6-v2" and b.tokens is None for b in batch)


def test_embed_batch_splits_by_characters(proxy: FaultProxy, direct: LaminaClient) -> None:
    texts = [f"{i:03d} " + "word " * 19 for i in range(50)]  # 99 characters each
    limits = BatchLimits(max_request_chars=1000)  # the rest from the server
    with LaminaClient(proxy.url, limits=limits) as client:
        assert client.batch_limits() == BatchLimits(
            max_items=256,  # the server's, from its OpenAPI document
            max_request_chars=1000,  # ours
            max_text_chars=20_000,  # LAMINA_MAX_TEXT_CHARS, not split's 50,000
            max_request_tokens=MAX_REQUEST_TOKENS,
        )
        batch = client.embed_batch(texts)
    assert [len(s.json()["texts"]) for s in proxy.requests(BATCH)] == [10, 10, 10, 10, 10]
    np.testing.assert_allclose(vectors(batch), vectors(direct.embed_batch(texts)), atol=1e-6)


def test_a_request_over_the_token_budget_is_halved(proxy: FaultProxy, direct: LaminaClient) -> None:
    # 24 texts cut at MiniLM's 256 tokens: 6144 tokens, over the server's 4096 (conftest).
    texts = [f"text {i} " + "lorem ipsum dolor " * 100 for i in range(24)]
    with LaminaClient(proxy.url) as client:
        batch = client.embed_batch(texts)
    assert [len(s.json()["texts"]) for s in proxy.requests(BATCH)] == [24, 12, 12]
    assert all(e.truncated for e in batch)
    singles = embed_one_by_one(direct.config.base_url, texts)
    np.testing.assert_allclose(vectors(batch), vectors(singles), atol=1e-6, rtol=0)


def test_a_text_over_the_limit_is_refused_before_any_request(proxy: FaultProxy) -> None:
    with LaminaClient(proxy.url) as client, pytest.raises(BadRequestError) as caught:
        client.embed_batch(["ok", "fine", "x" * 20_001])
    assert (caught.value.code, caught.value.param) == ("text_too_many_chars", "texts[2]")
    assert "texts[2]" in str(caught.value)
    assert caught.value.status_code is None  # the client's own refusal
    assert proxy.count(BATCH) == 0


def test_the_servers_errors_name_the_callers_index(proxy: FaultProxy) -> None:
    texts = ["fine"] * 300
    texts[290] = " \t "
    with LaminaClient(proxy.url) as client, pytest.raises(BadRequestError) as caught:
        client.embed_batch(texts)
    assert (caught.value.status_code, caught.value.code) == (422, "empty_text")
    assert caught.value.param == "texts[290]"  # the server said texts[34] of the second request
    assert "texts[290]" in caught.value.message
    assert proxy.count(BATCH) == 2


def test_korean_texts_through_faults(proxy: FaultProxy, direct: LaminaClient) -> None:
    e5 = "multilingual-e5-small"
    expected = [direct.embed(t, model=e5, input_type="passage") for t in KOREAN]
    proxy.inject("drop", path=BATCH)
    proxy.inject("status", path=EMBED, status=503)
    with LaminaClient(proxy.url, **FAST) as client:
        batch = client.embed_batch(KOREAN, model=e5, input_type="passage")
        query = client.embed("김치찌개 레시피", model=e5, input_type="query")
    assert [e.model for e in batch] == [e5] * len(KOREAN)
    assert batch[0].dim == query.dim == 384
    np.testing.assert_allclose(vectors(batch), vectors(expected), atol=1e-6, rtol=0)
    # The query is nearest the recipe it asks for.
    scores = vectors(batch) @ np.array(query.vector)
    assert int(np.argmax(scores)) == 0
    sent = proxy.requests(BATCH)[-1].json()
    assert (sent["texts"], sent["input_type"]) == (KOREAN, "passage")


# --- the async client -------------------------------------------------------------------


def test_async_embed_batch_runs_requests_concurrently_through_faults(
    proxy: FaultProxy, direct: LaminaClient
) -> None:
    texts = [f"line {i} of the menu" for i in range(600)]
    expected = direct.embed_batch(texts)
    proxy.inject("drop", path=BATCH, times=2)
    proxy.inject("delay", path=BATCH, seconds=0.3, times=100)

    async def main() -> list[Embedding]:
        limits = BatchLimits(max_items=100)  # 6 requests
        async with AsyncLaminaClient(proxy.url, limits=limits, max_concurrency=3, **FAST) as client:
            return await client.embed_batch(texts)

    batch = asyncio.run(main())
    np.testing.assert_allclose(vectors(batch), vectors(expected), atol=1e-6, rtol=0)
    assert proxy.count(BATCH) == 6 + 2
    assert proxy.max_in_flight == 3  # concurrent, and bounded


def test_async_retries_deadline_and_fallback(proxy: FaultProxy, direct: LaminaClient) -> None:
    expected = direct.embed(TEXT)

    async def fallback(method: str, arguments: Mapping[str, Any], error: LaminaError) -> str:
        return f"fallback for {method}: {type(error).__name__}"

    async def main() -> None:
        proxy.inject("status", path=EMBED, status=503, times=2)
        async with AsyncLaminaClient(proxy.url, **FAST) as client:
            assert (await client.embed(TEXT)).vector == expected.vector
            with pytest.raises(BadRequestError):
                await client.embed("")
        assert proxy.count(EMBED) == 4
        proxy.inject("delay", path=EMBED, seconds=5, times=100)
        async with AsyncLaminaClient(proxy.url, deadline=0.5, max_attempts=5) as client:
            began = time.monotonic()
            with pytest.raises(LaminaTimeoutError):
                await client.embed(TEXT)
            assert time.monotonic() - began < 1.0
            answer = await client.with_options(fallback=fallback).embed(TEXT)
            assert answer == "fallback for embed: LaminaTimeoutError"  # type: ignore[comparison-overlap]

    asyncio.run(main())
