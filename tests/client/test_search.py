"""search, recommend and job against the stub of their contract (tests/client/stub.py):
the requests the client sends, the results it makes of the answers, and how each error
status maps to an exception (and whether it is retried)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from lamina_client import (
    AsyncLaminaClient,
    BadRequestError,
    ConflictError,
    LaminaClient,
    NotFoundError,
    SearchHit,
    SearchResults,
    ServiceUnavailableError,
)
from tests.client.conftest import FAST
from tests.client.stub import DIM, FINGERPRINT, JOB_ID, StubState, fake_vector

SEARCH, RECOMMEND = "/api/v1/search", "/api/v1/recommend"
Stub = tuple[str, StubState]


def test_search_by_query_sends_the_contract_and_reads_the_hits(stub: Stub) -> None:
    url, state = stub
    with LaminaClient(url) as client:
        hits = client.search("recipes", query="김치찌개", top_k=2, filter={"cuisine": "korean"})
    assert isinstance(hits, SearchResults)
    assert (hits.collection, hits.model, hits.model_version) == ("recipes", "all-MiniLM-L6-v2", "1")
    assert (hits.fingerprint, hits.missing) == (None, [])  # the brief's contract has neither
    assert len(hits) == 2
    assert all(isinstance(hit, SearchHit) for hit in hits)
    assert all(hit.metadata["cuisine"] == "korean" for hit in hits)
    assert hits[0].score >= hits[1].score
    assert isinstance(hits[0].text, str)
    (call,) = state.calls
    assert call.json() == {
        "collection": "recipes",
        "top_k": 2,
        "query": "김치찌개",
        "filter": {"cuisine": "korean"},
    }


def test_search_by_vector(stub: Stub) -> None:
    url, state = stub
    vector = np.array(fake_vector("Pad thai with shrimp"), dtype=np.float32)  # numpy is fine
    with LaminaClient(url) as client:
        hits = client.search("recipes", vector=vector)
        assert hits[0].id == "r6"
        assert len(hits) == 6  # top_k 10, six recipes
        with pytest.raises(ValueError, match="exactly one"):
            client.search("recipes", query="soup", vector=[0.1] * DIM)
        with pytest.raises(ValueError, match="exactly one"):
            client.search("recipes")
    sent = state.calls[0].json()
    assert set(sent) == {"collection", "vector", "top_k"}
    assert sent["top_k"] == 10
    assert len(state.calls) == 1  # the bad calls were refused before any request


def test_recommend_sends_its_defaults(stub: Stub) -> None:
    url, state = stub
    with LaminaClient(url) as client:
        hits = client.recommend("recipes", liked=["r1"], top_k=3)
        assert "r1" not in [hit.id for hit in hits]  # exclude_seen
        seen = client.recommend(
            "recipes", liked=["r1", "r404"], disliked=["r3"], exclude_seen=False
        )
        assert seen[0].id == "r1"
        assert (seen.fingerprint, seen.missing) == (FINGERPRINT, ["r404"])
        with pytest.raises(TypeError):
            client.recommend("recipes", liked="r1")
    assert state.calls[0].json() == {
        "collection": "recipes",
        "liked": ["r1"],
        "disliked": [],
        "top_k": 3,
        "exclude_seen": True,
    }
    assert state.calls[1].json()["disliked"] == ["r3"]


def test_404_and_409_are_raised_at_once(stub: Stub) -> None:
    url, state = stub
    with LaminaClient(url, **FAST) as client:
        with pytest.raises(NotFoundError) as missing:
            client.search("nope", query="soup")
        with pytest.raises(NotFoundError):
            client.recommend("nope", liked=["r1"])
        with pytest.raises(ConflictError) as mismatch:
            client.search("recipes", vector=[0.5] * 768)
    assert missing.value.status_code == 404
    assert (missing.value.code, missing.value.param) == ("collection_not_found", "collection")
    assert len(missing.value.request_id or "") == 32  # the stub's x-request-id
    assert (mismatch.value.status_code, mismatch.value.code) == (409, "model_mismatch")
    assert isinstance(mismatch.value, BadRequestError)
    assert "768" in mismatch.value.message
    assert [c.path for c in state.calls] == [SEARCH, RECOMMEND, SEARCH]  # no retries


def test_a_validation_error_names_the_field(stub: Stub) -> None:
    url, state = stub
    with LaminaClient(url) as client, pytest.raises(BadRequestError) as caught:
        client.search("recipes", query="soup", top_k=0)
    assert (caught.value.status_code, caught.value.code) == (422, "validation_error")
    assert caught.value.param == "top_k"
    assert state.count(SEARCH) == 1


def test_503_index_unavailable_is_retried_after_retry_after(stub: Stub) -> None:
    url, state = stub
    state.cold_failures = 1
    with LaminaClient(url, **FAST) as client:
        began = time.monotonic()
        hits = client.search("cold", query="bibimbap")
        assert time.monotonic() - began >= 0.95  # Retry-After: 1
    assert hits.collection == "cold"
    assert state.count(SEARCH) == 2
    # Still unavailable after the last attempt: the error, with what the server said.
    state.reset()
    state.cold_failures = 5
    client = LaminaClient(url, max_attempts=2, **FAST)
    with client, pytest.raises(ServiceUnavailableError) as caught:
        client.recommend("cold", liked=["r2"])
    error = caught.value
    assert (error.status_code, error.code, error.retry_after) == (503, "index_unavailable", 1.0)
    assert error.retryable
    assert state.count(RECOMMEND) == 2


def test_search_not_configured_is_not_retried_nor_a_fallback(stub: Stub) -> None:
    url, state = stub
    calls: list[str] = []
    client = LaminaClient(url, fallback=lambda name, *_: calls.append(name), **FAST)
    with client, pytest.raises(ServiceUnavailableError) as caught:
        client.search("unconfigured", query="soup")
    assert caught.value.code == "search_not_configured"
    assert not caught.value.retryable
    assert state.count(SEARCH) == 1
    assert calls == []


def test_job_status(stub: Stub) -> None:
    url, _ = stub
    with LaminaClient(url) as client:
        job = client.job(JOB_ID)
        with pytest.raises(NotFoundError) as caught:
            client.job("0" * 32)
    assert (job.job_id, job.status, job.finished) == (JOB_ID, "running", False)
    assert (job.counts.ok, job.counts.lines, job.counts.chunks_done) == (100, None, 1)
    assert job.model_versions == ["all-MiniLM-L6-v2/1"]
    assert job.finished_at is None
    assert (caught.value.code, caught.value.param) == ("job_not_found", "job_id")


def test_async_search_recommend_and_errors(stub: Stub) -> None:
    url, state = stub
    state.cold_failures = 1

    async def main() -> None:
        async with AsyncLaminaClient(url, **FAST) as client:
            hits = await client.search("recipes", query="pizza", filter={"cuisine": "italian"})
            assert {hit.id for hit in hits} == {"r3", "r4"}
            liked = await client.recommend("cold", liked=["r3"], top_k=1)
            assert len(liked) == 1
            with pytest.raises(NotFoundError):
                await client.search("nope", vector=[0.0] * DIM)
            assert (await client.job(JOB_ID)).counts.failed == 1

    asyncio.run(main())
    assert state.count(RECOMMEND) == 2  # the cold index's 503, then the answer
