"""Vectors in JSON answers: strictly valid JSON, and every value the model's float32, bit for bit.

The embedding routes turn float32 vectors into JSON numbers (or base64 of their bytes). Any
encoder (today pydantic-core's, through FastAPI's response model) must keep two promises:
the body is standard JSON (no NaN or Infinity tokens, valid UTF-8), and parsing a number and
rounding it to float32 gives back exactly the float32 the model produced. Checked through
FastAPI's test client and through the Lambda handler (Mangum), whose body is a string.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from tests.conftest import LambdaContext, api_event


def strict_json(raw: str | bytes) -> Any:
    """Parse standard JSON only: NaN, Infinity and -Infinity are refused."""

    def refuse(token: str) -> Any:
        raise ValueError(f"non-standard JSON token {token}")

    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return json.loads(text, parse_constant=refuse)


def as_float32_bits(rows: Any) -> np.ndarray:
    """JSON numbers (parsed as Python floats) rounded to float32, as raw bits."""
    return np.asarray(rows, dtype=np.float64).astype(np.float32).view(np.uint32)


def bits(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32).view(np.uint32)


@pytest.fixture(scope="module")
def service(embed_app: Any) -> Any:
    from functions.embed.app import served

    return served.slot.get()


@pytest.fixture(scope="module")
def texts(golden: tuple[list[str], np.ndarray]) -> list[str]:
    """100 texts: the golden corpus (multilingual, up to 600 tokens) and short variations."""
    base, _ = golden
    extra = [f"{text[:60]} (variant {i})" for i, text in enumerate(base * 3)]
    return (base + extra)[:100]


def test_single_text_round_trips_to_the_same_float32(client: Any, service: Any) -> None:
    text = "How do I reset my password if I no longer have access to my email?"
    response = client.post("/api/v1/embed", json={"text": text})
    assert response.status_code == 200
    body = strict_json(response.content)
    expected = service.embedder.embed([text]).vectors[0]
    assert len(body["embedding"]) == expected.shape[0] == body["dim"]
    np.testing.assert_array_equal(as_float32_bits(body["embedding"]), bits(expected))


def test_batch_of_100_round_trips_through_the_lambda_handler(
    embed_app: Any, service: Any, texts: list[str], lambda_context: LambdaContext
) -> None:
    from functions.embed.handler import handler

    event = api_event("http", "POST", "/api/v1/embed-batch", {"texts": texts})
    response = handler(event, lambda_context)
    assert response["statusCode"] == 200
    assert not response.get("isBase64Encoded")
    body = strict_json(response["body"])
    expected = service.embedder.embed(texts).vectors
    assert body["count"] == len(texts) == expected.shape[0]
    np.testing.assert_array_equal(as_float32_bits(body["embeddings"]), bits(expected))


def test_unnormalized_vectors_round_trip_too(client: Any, service: Any, texts: list[str]) -> None:
    """Vectors without L2 normalization have larger magnitudes: still exact."""
    response = client.post("/api/v1/embed-batch", json={"texts": texts[:8], "normalize": False})
    assert response.status_code == 200
    body = strict_json(response.content)
    expected = service.embedder.embed(texts[:8], normalize=False).vectors
    assert np.abs(expected).max() > 1.0  # not unit vectors: the values are not all below 1
    np.testing.assert_array_equal(as_float32_bits(body["embeddings"]), bits(expected))


@pytest.mark.parametrize("dimensions", [None, 128])
def test_openai_floats_round_trip(
    client: Any, service: Any, texts: list[str], dimensions: int | None
) -> None:
    from lamina.inference.pooling import truncate_dimensions

    payload: dict[str, Any] = {"input": texts, "model": service.model_name}
    if dimensions is not None:
        payload["dimensions"] = dimensions
    response = client.post("/v1/embeddings", json=payload)
    assert response.status_code == 200
    body = strict_json(response.content)
    expected = service.embedder.embed(texts).vectors
    if dimensions is not None:
        expected = truncate_dimensions(expected, dimensions, normalize=True)
    assert [item["index"] for item in body["data"]] == list(range(len(texts)))
    got = [item["embedding"] for item in body["data"]]
    np.testing.assert_array_equal(as_float32_bits(got), bits(expected))


def test_openai_base64_is_the_float32_bytes(client: Any, service: Any, texts: list[str]) -> None:
    payload = {"input": texts[:10], "model": service.model_name, "encoding_format": "base64"}
    response = client.post("/v1/embeddings", json=payload)
    assert response.status_code == 200
    body = strict_json(response.content)
    expected = service.embedder.embed(texts[:10]).vectors
    got = np.stack(
        [np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in body["data"]]
    )
    np.testing.assert_array_equal(bits(got), bits(expected))


def test_serialization_share_helper_times_inside_the_request(
    embed_app: Any, texts: list[str]
) -> None:
    """infra.bench.applatency.measure_serialization: a share in (0, 1), wrappers removed."""
    import fastapi.routing
    import mangum.handlers.api_gateway

    from functions.embed.app import served
    from functions.embed.handler import handler
    from infra.bench.applatency import measure_serialization

    def current() -> tuple[Any, Any]:
        return (
            fastapi.routing.serialize_response,
            vars(mangum.handlers.api_gateway)["handle_base64_response_body"],
        )

    originals = current()
    result = measure_serialization(handler, texts[:20], runs=2, warmup=1)
    assert result["texts"] == 20
    assert result["runs"] == 2
    assert result["body_bytes"] > 20 * 384 * 5  # 384 numbers per vector, several bytes each
    share = result["share"]
    assert 0 < share["min"] <= share["median"] <= share["max"] < 1
    serializing, request = result["serialization_ms"], result["request_ms"]
    assert 0 < serializing["median"] < request["median"]
    assert current() == originals
    assert "embed_batch_response" not in vars(served.slot.get())
