"""classify and zero_shot against the classify function's app on the built intent classifier:
the sync client over HTTP to a live server at ``classify_url``, the async one through
httpx's ASGI transport (an injected httpx client)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lamina_client import (
    AsyncLaminaClient,
    BadRequestError,
    Classification,
    LaminaClient,
    ZeroShotResult,
)
from tests.conftest import ROOT, import_app

INTENT_DIR = ROOT / "build" / "models" / "intent-classifier"
LABELS = ["cooking", "banking", "football", "weather"]


@pytest.fixture(scope="module")
def classify_app() -> Any:
    if not (INTENT_DIR / "manifest.json").is_file():
        pytest.fail(f"no built model at {INTENT_DIR}: run `make models` first", pytrace=False)
    return import_app("functions.classify.app", {"MODEL_URI": str(INTENT_DIR)}, keep=False)


@pytest.fixture(scope="module")
def client(classify_app: Any) -> Iterator[LaminaClient]:
    """The classify function under uvicorn (as `make serve-classify` runs it), reached over
    HTTP through classify_url: another base URL than the embedding API's."""
    from tests.live import live_server

    with (
        live_server("functions.classify.app", {"MODEL_URI": str(INTENT_DIR)}) as url,
        LaminaClient("http://embed.invalid", classify_url=url) as lamina,
    ):
        yield lamina


def test_classify_one_text(client: LaminaClient) -> None:
    result = client.classify("Can you connect me to a human?")
    assert isinstance(result, Classification)
    assert result.label == "connect_to_human"
    assert len(result.labels) == 5  # the server's default top_k
    confidences = [x.confidence for x in result.labels]
    assert confidences == sorted(confidences, reverse=True)
    assert (result.model, result.truncated) == ("intent-classifier", False)
    assert result.tokens > 2


def test_classify_texts_every_label(client: LaminaClient) -> None:
    texts = ["how do i renew my policy", "book me a flight to paris", "asdf qwer"]
    results = client.classify(texts, top_k="all")
    assert len(results) == 3
    for row in results:
        assert len(row.labels) == 157
        assert sum(x.confidence for x in row.labels) == pytest.approx(1.0, abs=1e-9)
    two = client.classify(texts, top_k=2)
    assert [r.labels[0].label for r in two] == [r.label for r in results]
    assert all(len(r.labels) == 2 for r in two)


def test_classify_errors_name_the_text(client: LaminaClient) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.classify(["fine", "  "])
    assert (caught.value.status_code, caught.value.param) == (422, "texts[1]")


def test_zero_shot(client: LaminaClient) -> None:
    result = client.zero_shot("My credit card was stolen and I need a new one", LABELS)
    assert isinstance(result, ZeroShotResult)
    assert result.label == "banking"
    assert not result.multi_label
    assert sum(x.score for x in result.labels) == pytest.approx(1.0)
    multi = client.zero_shot(
        "Pasta night in Rome",
        ["pizza", "travel", "italy"],
        multi_label=True,
        hypothesis_template="This text is about {}.",
    )
    assert multi.multi_label
    assert {x.label for x in multi.labels} == {"pizza", "travel", "italy"}
    assert all(-1 <= x.similarity <= 1 for x in multi.labels)
    with pytest.raises(BadRequestError) as caught:
        client.zero_shot("text", ["a", "b"], hypothesis_template="no placeholder")
    assert caught.value.param == "hypothesis_template"


def test_async_classify(classify_app: Any) -> None:
    async def main() -> tuple[Classification, list[Classification], ZeroShotResult]:
        transport = httpx.ASGITransport(app=classify_app)
        async with httpx.AsyncClient(transport=transport) as http:
            client = AsyncLaminaClient("http://testserver", http_client=http)
            one = await client.classify("What is the weather tomorrow?", top_k=1)
            many = await client.classify(("hi", "transfer $50 to savings"))
            zero = await client.zero_shot("Where is my package?", ["shipping", "cooking"])
            return one, many, zero

    one, many, zero = asyncio.run(main())
    assert len(one.labels) == 1
    assert len(many) == 2
    assert zero.label == "shipping"
