"""The embedding function speaks Hugging Face Text Embeddings Inference's API (TEI): the real
clients, unchanged (huggingface_hub's InferenceClient.feature_extraction, sync and async,
and LangChain's embeddings), against a live local server serving both models as `make serve`
does; their vectors must be the seed API's. Plus TEI's /info, its error body, the timing and
model headers of every embedding route and the fingerprint precondition (409)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.live import live_server, run_client

pytestmark = pytest.mark.slow

KOREAN = "갈비탕 만드는 법"
TIMING_HEADERS = (
    "x-compute-time",
    "x-compute-characters",
    "x-compute-tokens",
    "x-total-time",
    "x-tokenization-time",
    "x-queue-time",
    "x-inference-time",
)


@pytest.fixture(scope="module")
def server(fp32_dir: Path, e5_dir: Path) -> Iterator[str]:
    with live_server("functions.embed.app", {"LAMINA_MODELS": f"{fp32_dir},{e5_dir}"}) as url:
        yield url


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


def seed(http: httpx.Client, texts: list[str], **options: Any) -> np.ndarray:
    response = http.post("/api/v1/embed-batch", json={"texts": texts, **options})
    assert response.status_code == 200, response.text
    return np.array(response.json()["embeddings"], dtype=np.float32)


@pytest.fixture(scope="module")
def clients(server: str) -> dict[str, Any]:
    done = run_client("tei_clients.py", server)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_huggingface_hub_feature_extraction(clients: dict[str, Any], http: httpx.Client) -> None:
    single = np.array(clients["hf_single"], dtype=np.float32)
    assert single.shape == (1, 384)  # TEI answers a single text as a list of one vector
    np.testing.assert_allclose(single, seed(http, [KOREAN]), atol=1e-6)
    batch = np.array(clients["hf_batch"], dtype=np.float32)
    np.testing.assert_allclose(batch, seed(http, ["김치찌개", "The quick brown fox"]), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    raw = np.array(clients["hf_unnormalized"], dtype=np.float32)
    np.testing.assert_allclose(raw, seed(http, ["hello"], normalize=False), atol=1e-5)
    assert abs(float(np.linalg.norm(raw)) - 1.0) > 1e-3  # really not normalized
    np.testing.assert_allclose(
        np.array(clients["hf_base_url"], dtype=np.float32), seed(http, ["hello"]), atol=1e-6
    )
    for text, vector in zip("abc", clients["hf_async"], strict=True):
        np.testing.assert_allclose(
            np.array(vector, dtype=np.float32), seed(http, [text]), atol=1e-6
        )


def test_huggingface_hub_sees_tei_errors(clients: dict[str, Any]) -> None:
    bad = clients["hf_bad_prompt"]
    assert bad["status"] == 422
    assert bad["body"]["error_type"] == "validation"
    assert "no-such-prompt" in bad["body"]["error"]


def test_langchain_embeddings(clients: dict[str, Any], http: httpx.Client) -> None:
    documents = np.array(clients["lc_documents"], dtype=np.float32)
    np.testing.assert_allclose(
        documents, seed(http, ["김치찌개", "The quick brown fox"]), atol=1e-6
    )
    query = np.array(clients["lc_query"], dtype=np.float32)
    np.testing.assert_allclose(query[None, :], seed(http, [KOREAN]), atol=1e-6)


def test_prompt_name_is_input_type(http: httpx.Client) -> None:
    texts = ["돼지고기 넣은 매운 김치 국물"]
    response = http.post(
        "/embed",
        json={"inputs": texts, "prompt_name": "query", "model": "multilingual-e5-small"},
    )
    assert response.status_code == 200, response.text
    expected = seed(http, texts, model="multilingual-e5-small", input_type="query")
    np.testing.assert_allclose(np.array(response.json(), dtype=np.float32), expected, atol=1e-6)
    plain = seed(http, texts, model="multilingual-e5-small")
    assert not np.allclose(expected, plain, atol=1e-3)  # the prompt changes the vector


def test_root_route_and_dimensions(http: httpx.Client) -> None:
    response = http.post("/", json={"inputs": ["hello", "world"], "dimensions": 64})
    assert response.status_code == 200, response.text
    vectors = np.array(response.json(), dtype=np.float32)
    assert vectors.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    full = seed(http, ["hello", "world"])
    cut = full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, cut, atol=1e-6)
    assert http.get("/").status_code == 200  # TEI's GET / is its health check


def test_info(http: httpx.Client) -> None:
    info = http.get("/info").json()
    model_info = http.get("/api/v1/model-info").json()
    assert info["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["model_sha"] == model_info["sha256"]
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_input_length"] == 256
    assert info["max_client_batch_size"] == model_info["limits"]["max_batch_items"]
    assert info["auto_truncate"] is True


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"inputs": []}, 422, "at least 1 item"),
        ({"inputs": "   "}, 422, "whitespace"),
        ({"inputs": [1, 2]}, 422, "string"),
        ({"inputs": "a", "truncation_direction": "left"}, 422, "right"),
        ({"inputs": "word " * 600, "truncate": False}, 422, "256 tokens"),
        ({"inputs": "a", "prompt_name": "query"}, 422, "prompts: none"),
        ({"inputs": "a", "dimensions": 385}, 422, "at most 384"),
        ({"inputs": "a", "model": "no-such-model"}, 404, "not served"),
    ],
)
def test_tei_bad_input(
    http: httpx.Client, body: dict[str, Any], status: int, fragment: str
) -> None:
    response = http.post("/embed", json=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) == {"error", "error_type"}  # TEI's error body
    assert error["error_type"] == "validation"
    assert fragment in error["error"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/embed", {"text": KOREAN}),
        ("/api/v1/embed-batch", {"texts": [KOREAN, "hello"]}),
        ("/api/v1/similarity", {"query": "soup", "candidates": ["beef soup", "car"]}),
        ("/v1/embeddings", {"input": [KOREAN], "model": "all-MiniLM-L6-v2"}),
        ("/embed", {"inputs": KOREAN}),
    ],
)
def test_every_embedding_route_says_which_model_answered(
    http: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    info = http.get("/api/v1/model-info").json()
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    headers = response.headers
    assert headers["x-model-name"] == "all-MiniLM-L6-v2"
    assert headers["x-model-version"] == info["version"]
    assert headers["x-model-fingerprint"] == info["sha256"]
    for name in TIMING_HEADERS:
        assert int(headers[name]) >= 0, name
    assert int(headers["x-compute-tokens"]) > 0
    texts = body.get("text") or body.get("texts") or body.get("input") or body.get("inputs")
    if isinstance(texts, str):
        texts = [texts]
    if path != "/api/v1/similarity":
        assert int(headers["x-compute-characters"]) == sum(len(t) for t in texts or [])


def test_expected_fingerprint(http: httpx.Client) -> None:
    models = {m["name"]: m for m in http.get("/api/v1/model-info").json()["models"]}
    e5 = http.get("/api/v1/model-info", params={"model": "multilingual-e5-small"}).json()
    mini = http.get("/api/v1/model-info").json()
    assert "multilingual-e5-small" in models
    ok = http.post(
        "/api/v1/embed",
        json={"text": "a", "model": "multilingual-e5-small"},
        headers={"x-expect-model-fingerprint": e5["sha256"]},
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-model-fingerprint"] == e5["sha256"]
    # The default model answers a request that names none: not the one this caller expects.
    wrong = http.post(
        "/v1/embeddings",
        json={"input": "a", "model": "all-MiniLM-L6-v2"},
        headers={"x-expect-model-fingerprint": e5["sha256"]},
    )
    assert wrong.status_code == 409, wrong.text
    error = wrong.json()["error"]
    assert error["code"] == "model_mismatch"
    assert mini["sha256"] in error["message"]
    tei = http.post(
        "/embed", json={"inputs": "a"}, headers={"x-expect-model-fingerprint": e5["sha256"]}
    )
    assert tei.status_code == 409
    assert tei.json()["error_type"] == "validation"
    malformed = http.post(
        "/api/v1/embed", json={"text": "a"}, headers={"x-expect-model-fingerprint": "abc"}
    )
    assert malformed.status_code == 422


def test_wrong_method_lists_every_route_of_the_path(http: httpx.Client) -> None:
    """GET / and POST / are two routes: a 405 on / names both in Allow (Starlette's own
    answer names only the first route it matched)."""
    response = http.request("PUT", "/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error_type"] == "validation"
    assert http.delete("/api/v1/embed").headers["allow"] == "POST"
