"""The embedding API through FastAPI's test client: seed shapes, extras, and bad input."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import numpy as np
import pytest

from lamina.settings import DEFAULT_MAX_BODY_BYTES

SEED_TEXTS = ["갈비탕", "김치찌개", "된장찌개"]


def test_health(client: Any) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["model_loaded"] is True
    assert body["model"] == "all-MiniLM-L6-v2"


def test_embed_seed_shape(client: Any) -> None:
    response = client.post("/api/v1/embed", json={"text": "갈비탕", "normalize": True})
    assert response.status_code == 200
    body = response.json()
    assert body["dim"] == 384
    assert len(body["embedding"]) == 384
    assert abs(np.linalg.norm(body["embedding"]) - 1.0) < 1e-5
    assert body["truncated"] is False
    assert body["tokens"] >= 3


def test_embed_batch_matches_single(client: Any) -> None:
    response = client.post("/api/v1/embed-batch", json={"texts": SEED_TEXTS, "normalize": True})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["dim"] == 384
    assert len(body["embeddings"]) == 3
    assert body["truncated"] == [False, False, False]
    single = client.post("/api/v1/embed", json={"text": SEED_TEXTS[1]}).json()["embedding"]
    np.testing.assert_allclose(body["embeddings"][1], single, atol=2e-5)


def test_normalize_false_returns_raw_mean_pool(client: Any) -> None:
    body = client.post("/api/v1/embed", json={"text": "hello there", "normalize": False}).json()
    assert body["normalized"] is False
    assert abs(np.linalg.norm(body["embedding"]) - 1.0) > 0.01


def test_model_info(client: Any, fp32_dir: Any) -> None:
    body = client.get("/api/v1/model-info").json()
    models = client.get("/v1/models").json()["data"]
    assert [(m["id"], m["version"], m["sha256"]) for m in models] == [
        (body["name"], body["version"], body["sha256"])
    ]
    manifest = json.loads((fp32_dir / "manifest.json").read_text())
    listing = "".join(
        f"{f['path']}\t{f['sha256']}\n" for f in sorted(manifest["files"], key=lambda f: f["path"])
    )
    assert body["name"] == manifest["name"]
    assert body["version"] == manifest["version"]
    assert body["sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    assert {f["path"] for f in manifest["files"]} == {
        "model.onnx",
        "model.onnx.data",
        "reference-sample.jsonl",  # drift monitoring's reference sample
        "tokenizer.json",
    }
    assert body["dim"] == 384
    assert body["max_seq_length"] == 256
    assert body["quality"]["min_cosine"] >= 0.9999


def test_similarity_ranks_by_cosine(client: Any) -> None:
    candidates = ["A recipe for beef soup", "How to change a car tire", "Spicy kimchi stew"]
    response = client.post(
        "/api/v1/similarity", json={"query": "soup", "candidates": candidates, "top_k": 2}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 2
    assert results[0]["score"] >= results[1]["score"]
    assert results[0]["text"] == candidates[results[0]["index"]]
    assert "car" not in results[0]["text"]
    embed = client.post(
        "/api/v1/embed-batch", json={"texts": ["soup", candidates[results[0]["index"]]]}
    ).json()["embeddings"]
    assert results[0]["score"] == pytest.approx(float(np.dot(embed[0], embed[1])), abs=1e-4)


def test_tokenize_reports_truncation(client: Any) -> None:
    short = client.post("/api/v1/tokenize", json={"text": "hello world"}).json()
    assert short["tokens"] == ["[CLS]", "hello", "world", "[SEP]"]
    assert short["count"] == 4
    assert short["truncated"] is False
    long = client.post("/api/v1/tokenize", json={"text": "word " * 400}).json()
    assert long["count"] == 256
    assert long["truncated"] is True
    assert long["max_tokens"] == 256


def test_long_text_truncated_by_default_and_rejected_on_request(client: Any) -> None:
    text = "lambda " * 400
    ok = client.post("/api/v1/embed", json={"text": text})
    assert ok.status_code == 200
    assert ok.json()["truncated"] is True
    assert ok.json()["tokens"] == 256
    rejected = client.post("/api/v1/embed-batch", json={"texts": ["fine", text], "truncate": False})
    assert rejected.status_code == 422
    error = rejected.json()["error"]
    assert error["code"] == "text_too_long"
    assert error["param"] == "texts[1]"


def test_openai_base64_and_dimensions(client: Any) -> None:
    full = client.post("/v1/embeddings", json={"input": "hi", "model": "all-MiniLM-L6-v2"}).json()
    vector = np.array(full["data"][0]["embedding"], dtype=np.float32)
    response = client.post(
        "/v1/embeddings",
        json={
            "input": ["hi", "there"],
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "encoding_format": "base64",
            "dimensions": 64,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert [item["index"] for item in body["data"]] == [0, 1]
    cut = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    assert cut.shape == (64,)
    np.testing.assert_allclose(cut, vector[:64] / np.linalg.norm(vector[:64]), atol=1e-5)
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0


def test_request_id_is_echoed(client: Any) -> None:
    response = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert client.get("/health").headers["x-request-id"]


def test_openapi_describes_every_field(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    for path in [
        "/health",
        "/api/v1/embed",
        "/api/v1/embed-batch",
        "/api/v1/model-info",
        "/api/v1/similarity",
        "/api/v1/tokenize",
        "/v1/embeddings",
        "/v1/models",
    ]:
        assert path in spec["paths"], path
    undocumented = [
        f"{name}.{field}"
        for name, schema in spec["components"]["schemas"].items()
        if not name.startswith(("HTTPValidationError", "ValidationError"))
        for field, prop in schema.get("properties", {}).items()
        if "description" not in prop and field not in {"object"}
    ]
    assert undocumented == []
    assert client.get("/docs").status_code == 200


# --- bad input: always a 4xx with the fixed error body, never a 500 -----------------------

TOO_MANY = ["x"] * 257
BAD_INPUTS: list[tuple[str, str, Any, dict[str, str] | None, int, str]] = [
    # (case, path, body, headers, status, error code)
    ("empty text", "/api/v1/embed", {"text": ""}, None, 422, "empty_text"),
    ("whitespace text", "/api/v1/embed", {"text": " \n\t "}, None, 422, "empty_text"),
    ("missing text", "/api/v1/embed", {"normalize": True}, None, 422, "validation_error"),
    ("number as text", "/api/v1/embed", {"text": 42}, None, 422, "validation_error"),
    ("null text", "/api/v1/embed", {"text": None}, None, 422, "validation_error"),
    ("unknown field", "/api/v1/embed", {"text": "a", "bogus": 1}, None, 422, "validation_error"),
    ("empty list", "/api/v1/embed-batch", {"texts": []}, None, 422, "validation_error"),
    ("non-string item", "/api/v1/embed-batch", {"texts": ["a", 3]}, None, 422, "validation_error"),
    ("nested item", "/api/v1/embed-batch", {"texts": [["a"]]}, None, 422, "validation_error"),
    ("blank item", "/api/v1/embed-batch", {"texts": ["a", "  "]}, None, 422, "empty_text"),
    ("too many items", "/api/v1/embed-batch", {"texts": TOO_MANY}, None, 422, "too_many_items"),
    ("too many chars", "/api/v1/embed", {"text": "a" * 20_001}, None, 422, "text_too_many_chars"),
    ("texts not a list", "/api/v1/embed-batch", {"texts": "abc"}, None, 422, "validation_error"),
    ("body is a list", "/api/v1/embed", ["a"], None, 422, "validation_error"),
    ("invalid JSON", "/api/v1/embed", '{"text": ', None, 400, "invalid_json"),
    (
        "text/plain",
        "/api/v1/embed",
        "hello",
        {"content-type": "text/plain"},
        415,
        "unsupported_media_type",
    ),
    (
        "no content type",
        "/api/v1/embed",
        '{"text": "a"}',
        {"content-type": ""},
        415,
        "unsupported_media_type",
    ),
    (
        "similarity top_k 0",
        "/api/v1/similarity",
        {"query": "a", "candidates": ["b"], "top_k": 0},
        None,
        422,
        "validation_error",
    ),
    (
        "similarity no candidates",
        "/api/v1/similarity",
        {"query": "a", "candidates": []},
        None,
        422,
        "validation_error",
    ),
    (
        "openai unknown model",
        "/v1/embeddings",
        {"input": "a", "model": "gpt-4"},
        None,
        404,
        "model_not_found",
    ),
    (
        "openai token arrays",
        "/v1/embeddings",
        {"input": [[1, 2]], "model": "all-MiniLM-L6-v2"},
        None,
        422,
        "validation_error",
    ),
    (
        "openai empty list",
        "/v1/embeddings",
        {"input": [], "model": "all-MiniLM-L6-v2"},
        None,
        422,
        "validation_error",
    ),
    (
        "openai bad format",
        "/v1/embeddings",
        {"input": "a", "model": "all-MiniLM-L6-v2", "encoding_format": "int8"},
        None,
        422,
        "validation_error",
    ),
    (
        "openai too many dims",
        "/v1/embeddings",
        {"input": "a", "model": "all-MiniLM-L6-v2", "dimensions": 385},
        None,
        422,
        "invalid_input",
    ),
    ("unknown path", "/api/v1/nothing", {"text": "a"}, None, 404, "not_found"),
    # Found by schemathesis (tests/integration/test_contract.py): the schema now says so too.
    ("truncate 0", "/api/v1/embed", {"text": "a", "truncate": 0}, None, 422, "validation_error"),
    (
        "normalize as a string",
        "/api/v1/embed",
        {"text": "a", "normalize": "true"},
        None,
        422,
        "validation_error",
    ),
    # U+001F and U+3000 are whitespace to str.isspace, and to the documented pattern.
    ("separators only", "/api/v1/embed", {"text": "\x1f\u3000"}, None, 422, "empty_text"),
    ("blank in batch", "/api/v1/embed-batch", {"texts": ["a", "\u2028"]}, None, 422, "empty_text"),
    (
        "blank query",
        "/api/v1/similarity",
        {"query": " ", "candidates": ["b"]},
        None,
        422,
        "empty_text",
    ),
    ("blank tokenize", "/api/v1/tokenize", {"text": "\t"}, None, 422, "empty_text"),
    (
        "truncate contradicts long_text",
        "/api/v1/embed",
        {"text": "a", "truncate": True, "long_text": "reject"},
        None,
        422,
        "invalid_input",
    ),
    (
        "similarity top_k fraction",
        "/api/v1/similarity",
        {"query": "a", "candidates": ["b"], "top_k": 2.5},
        None,
        422,
        "validation_error",
    ),
    (
        "similarity top_k string",
        "/api/v1/similarity",
        {"query": "a", "candidates": ["b"], "top_k": "3"},
        None,
        422,
        "validation_error",
    ),
    (
        "similarity query and candidates over the limit",
        "/api/v1/similarity",
        {"query": "a", "candidates": ["x"] * 256},
        None,
        422,
        "invalid_input",
    ),
    (
        "openai dimensions 0",
        "/v1/embeddings",
        {"input": "a", "model": "all-MiniLM-L6-v2", "dimensions": 0},
        None,
        422,
        "validation_error",
    ),
    (
        "openai dimensions true",
        "/v1/embeddings",
        {"input": "a", "model": "all-MiniLM-L6-v2", "dimensions": True},
        None,
        422,
        "validation_error",
    ),
    (
        "openai blank input",
        "/v1/embeddings",
        {"input": ["a", " "], "model": "all-MiniLM-L6-v2"},
        None,
        422,
        "empty_text",
    ),
    (
        "openai user not a string",
        "/v1/embeddings",
        {"input": "a", "model": "all-MiniLM-L6-v2", "user": 7},
        None,
        422,
        "validation_error",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_clear_4xx(
    client: Any, path: str, body: Any, headers: dict[str, str] | None, status: int, code: str
) -> None:
    if isinstance(body, str):
        sent = {"content-type": "application/json", **(headers or {})}
        response = client.post(path, content=body.encode(), headers=sent)
    else:
        response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["type"] == "invalid_request_error"
    assert error["request_id"] == response.headers["x-request-id"]


def test_integral_floats_are_integers(client: Any) -> None:
    """JSON Schema's integer includes 2.0, so the server takes it as 2."""
    body = {"query": "a", "candidates": ["b", "c", "d"], "top_k": 2.0}
    response = client.post("/api/v1/similarity", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 2


def test_openapi_states_the_limits(client: Any) -> None:
    """The document carries this deployment's limits (settings), as the server applies them."""
    from lamina.api.schemas import NON_BLANK
    from lamina.settings import Settings

    limits = Settings()
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    text = schemas["EmbedRequest"]["properties"]["text"]
    assert (text["minLength"], text["pattern"]) == (1, NON_BLANK)
    assert text["maxLength"] == limits.max_split_text_chars
    texts = schemas["EmbedBatchRequest"]["properties"]["texts"]
    assert (texts["minItems"], texts["maxItems"]) == (1, limits.max_batch_items)
    assert texts["items"]["maxLength"] == limits.max_split_text_chars
    similarity = schemas["SimilarityRequest"]["properties"]
    assert similarity["query"]["maxLength"] == limits.max_text_chars
    assert similarity["candidates"]["maxItems"] == limits.max_batch_items - 1
    assert similarity["top_k"]["minimum"] == 1
    assert schemas["TokenizeRequest"]["properties"]["text"]["maxLength"] == limits.max_text_chars
    assert schemas["EmbedRequest"]["properties"]["truncate"]["type"] == "boolean"
    assert "x-lamina-limits" not in json.dumps(schemas)


def test_wrong_method_is_405_json(client: Any) -> None:
    response = client.get("/api/v1/embed")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_body_over_limit_is_413_declared_or_streamed(client: Any) -> None:
    big = json.dumps({"text": "a" * (DEFAULT_MAX_BODY_BYTES + 10)}).encode()
    response = client.post(
        "/api/v1/embed", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"

    def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
        for _ in range(5):
            yield b" " * (DEFAULT_MAX_BODY_BYTES // 4)

    streamed = client.post(
        "/api/v1/embed", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_error_in_a_route_becomes_500_json(
    client: Any, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.embed.app import served

    service = served.slot.get()

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(service.embedder, "embed", explode)
    capsys.readouterr()
    response = client.post("/api/v1/embed", json={"text": "a"})
    emf = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"_aws"')
    ]
    server_errors = [blob for blob in emf if "ServerErrors" in blob]
    assert len(server_errors) == 1
    # Published with `service` alone, so the template's alarm matches any model version.
    assert server_errors[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert "boom" not in response.text
