"""The embedding function serving two models: `model` picks one, prompts, long texts.

``multi_client`` serves all-MiniLM-L6-v2 (fp32, the default: listed first) and
multilingual-e5-small (q4), as `make serve` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.inference.embedder import OnnxEmbedder
from tests.conftest import import_app

E5 = "multilingual-e5-small"
MINILM = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def e5(e5_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(e5_dir)


def _post(client: Any, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_both_models_are_listed(multi_client: Any) -> None:
    models = multi_client.get("/v1/models").json()["data"]
    assert [m["id"] for m in models] == [MINILM, E5]  # the default first
    info = multi_client.get("/api/v1/model-info").json()
    assert info["name"] == MINILM
    assert info["max_seq_length"] == 256
    assert info["prompts"] == {}
    served = {m["name"]: m for m in info["models"]}
    assert served[E5]["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert served[E5]["max_seq_length"] == 512
    assert not served[E5]["default"]
    assert served[MINILM]["default"]
    e5_info = multi_client.get("/api/v1/model-info", params={"model": E5}).json()
    assert e5_info["name"] == E5
    assert e5_info["variant"] == "q4"
    assert e5_info["source"]["model_id"] == "intfloat/multilingual-e5-small"


@pytest.mark.parametrize("name", [E5, "intfloat/multilingual-e5-small", "Multilingual-E5-Small"])
def test_model_picks_one(multi_client: Any, e5: OnnxEmbedder, name: str) -> None:
    body = _post(multi_client, "/api/v1/embed", {"text": "갈비탕", "model": name})
    assert body["model"] == E5
    assert body["dim"] == 384
    expected = e5.embed(["갈비탕"]).vectors[0]
    np.testing.assert_allclose(body["embedding"], expected, atol=1e-6)
    default = _post(multi_client, "/api/v1/embed", {"text": "갈비탕"})
    assert default["model"] == MINILM


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/embed", {"text": "x", "model": "bge-m3"}),
        ("/api/v1/embed-batch", {"texts": ["x"], "model": "bge-m3"}),
        ("/api/v1/similarity", {"query": "x", "candidates": ["y"], "model": "bge-m3"}),
        ("/api/v1/tokenize", {"text": "x", "model": "bge-m3"}),
        ("/v1/embeddings", {"input": "x", "model": "bge-m3"}),
    ],
)
def test_unknown_model_is_404_listing_the_served(
    multi_client: Any, path: str, body: dict[str, Any]
) -> None:
    error = _post(multi_client, path, body, 404)["error"]
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert MINILM in error["message"]
    assert E5 in error["message"]
    missing = multi_client.get("/api/v1/model-info", params={"model": "bge-m3"})
    assert missing.status_code == 404


def test_input_type_applies_the_model_prompt(multi_client: Any, e5: OnnxEmbedder) -> None:
    query = _post(
        multi_client, "/api/v1/embed", {"text": "갈비탕", "model": E5, "input_type": "query"}
    )
    bare = _post(multi_client, "/api/v1/embed", {"text": "갈비탕", "model": E5})
    assert query["tokens"] > bare["tokens"]
    expected = e5.embed(["갈비탕"], input_type="query").vectors[0]
    np.testing.assert_allclose(query["embedding"], expected, atol=1e-6)
    # A model without prompts ignores it.
    minilm = _post(multi_client, "/api/v1/embed", {"text": "soup", "input_type": "query"})
    plain = _post(multi_client, "/api/v1/embed", {"text": "soup"})
    assert minilm["embedding"] == plain["embedding"]
    assert minilm["tokens"] == plain["tokens"]
    tokens = _post(
        multi_client, "/api/v1/tokenize", {"text": "갈비탕", "model": E5, "input_type": "passage"}
    )
    assert tokens["model"] == E5
    assert tokens["max_tokens"] == 512
    assert "▁passage" in tokens["tokens"] or "▁pass" in tokens["tokens"]
    bad = _post(multi_client, "/api/v1/embed", {"text": "x", "input_type": "document"}, 422)
    assert bad["error"]["code"] == "validation_error"


def test_openai_extension_fields(multi_client: Any, e5: OnnxEmbedder) -> None:
    body = _post(
        multi_client,
        "/v1/embeddings",
        {"input": ["김치찌개", "된장찌개"], "model": E5, "input_type": "passage"},
    )
    assert body["model"] == E5
    expected = e5.embed(["김치찌개", "된장찌개"], input_type="passage")
    assert body["usage"]["prompt_tokens"] == expected.total_tokens
    got = np.array([item["embedding"] for item in body["data"]])
    np.testing.assert_allclose(got, expected.vectors, atol=1e-6)


def test_similarity_embeds_query_and_candidates_with_their_prompts(
    multi_client: Any, e5: OnnxEmbedder
) -> None:
    candidates = [
        "된장찌개: 된장을 풀어 두부와 애호박을 넣고 끓인 구수한 찌개",
        "김치찌개: 잘 익은 김치와 돼지고기로 끓인 얼큰한 찌개",
        "갈비탕: 소갈비를 오래 끓인 맑은 국물 요리",
    ]
    body = _post(
        multi_client,
        "/api/v1/similarity",
        {"query": "돼지고기 넣은 매운 김치 국물", "candidates": candidates, "model": E5},
    )
    assert body["model"] == E5
    assert body["results"][0]["index"] == 1
    query = e5.embed(["돼지고기 넣은 매운 김치 국물"], input_type="query").vectors[0]
    docs = e5.embed(candidates, input_type="passage").vectors
    assert body["results"][0]["score"] == pytest.approx(float(docs[1] @ query), abs=1e-5)


def test_long_text_split_through_the_api(multi_client: Any) -> None:
    long_text = " ".join(["김치찌개는 잘 익은 김치와 돼지고기로 끓인다."] * 400)  # > 512 tokens
    split = _post(
        multi_client,
        "/api/v1/embed-batch",
        {"texts": [long_text, "짧은 글"], "model": E5, "long_text": "split"},
    )
    assert split["windows"][0] > 1
    assert split["windows"][1] == 1
    assert split["truncated"] == [False, False]
    cut = _post(multi_client, "/api/v1/embed", {"text": long_text, "model": E5})
    assert cut["truncated"]
    assert cut["tokens"] == 512
    assert cut["windows"] == 1
    assert split["tokens"] > cut["tokens"]
    rejected = _post(
        multi_client, "/api/v1/embed", {"text": long_text, "model": E5, "long_text": "reject"}, 422
    )
    assert rejected["error"]["code"] == "text_too_long"
    same_as_truncate_false = _post(
        multi_client, "/api/v1/embed", {"text": long_text, "model": E5, "truncate": False}, 422
    )
    assert same_as_truncate_false["error"]["code"] == "text_too_long"
    conflict = _post(
        multi_client,
        "/api/v1/embed",
        {"text": "x", "truncate": True, "long_text": "split"},
        422,
    )
    assert conflict["error"]["param"] == "long_text"


def test_split_accepts_texts_over_the_character_limit(multi_client: Any) -> None:
    text = "The recipe service embeds long documents. " * 600  # 25,200 characters
    plain = _post(multi_client, "/api/v1/embed", {"text": text}, 422)["error"]
    assert plain["code"] == "text_too_many_chars"
    assert "long_text=split" in plain["message"]
    split = _post(multi_client, "/api/v1/embed", {"text": text, "long_text": "split"})
    assert split["windows"] > 1
    assert np.isfinite(split["embedding"]).all()


def test_default_model_is_a_setting(fp32_dir: Path, e5_dir: Path) -> None:
    from fastapi.testclient import TestClient

    app = import_app(
        "functions.embed.app",
        {"LAMINA_MODELS": f"{fp32_dir},{e5_dir}", "LAMINA_DEFAULT_MODEL": E5},
        keep=False,
    )
    with TestClient(app) as client:
        assert _post(client, "/api/v1/embed", {"text": "x"})["model"] == E5
        assert client.get("/v1/models").json()["data"][0]["id"] == E5
        assert client.get("/api/v1/model-info").json()["name"] == E5


def test_an_unknown_default_model_is_refused_at_cold_start(fp32_dir: Path) -> None:
    from fastapi.testclient import TestClient

    app = import_app(
        "functions.embed.app",
        {"MODEL_URI": str(fp32_dir), "LAMINA_DEFAULT_MODEL": "bge-m3"},
        keep=False,
    )
    with TestClient(app) as client:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "model_unavailable"
