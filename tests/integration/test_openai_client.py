"""The official `openai` client, unchanged, against a live local server (uvicorn subprocess)
serving both embedding models, as `make serve` does."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

from tests.live import live_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(fp32_dir: Path, e5_dir: Path) -> Iterator[str]:
    with live_server("functions.embed.app", {"LAMINA_MODELS": f"{fp32_dir},{e5_dir}"}) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)


def test_models_list(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == ["all-MiniLM-L6-v2", "multilingual-e5-small"]


def test_embeddings_match_seed_api(client: openai.OpenAI, server: str) -> None:
    import httpx

    texts = ["갈비탕", "The quick brown fox"]
    result = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)
    assert [item.index for item in result.data] == [0, 1]
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0
    seed = httpx.post(f"{server}/api/v1/embed-batch", json={"texts": texts}).json()
    np.testing.assert_allclose(
        [item.embedding for item in result.data], seed["embeddings"], atol=1e-6
    )


def test_float_format_and_dimensions(client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="all-MiniLM-L6-v2", input="hello", encoding_format="float", dimensions=128
    )
    vector = np.array(result.data[0].embedding)
    assert vector.shape == (128,)
    assert abs(np.linalg.norm(vector) - 1.0) < 1e-5


def test_errors_surface_as_openai_exceptions(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert "not served here" in str(not_found.value)
    with pytest.raises(openai.UnprocessableEntityError):
        client.embeddings.create(model="all-MiniLM-L6-v2", input="   ")


def test_multilingual_model_with_prompts(client: openai.OpenAI, server: str) -> None:
    """`input_type` goes through the client's extra_body; base64 decodes to the same vectors."""
    import httpx

    docs = ["김치찌개: 김치와 돼지고기로 끓인 찌개", "된장찌개: 된장을 풀어 끓인 찌개"]
    passages = client.embeddings.create(
        model="multilingual-e5-small", input=docs, extra_body={"input_type": "passage"}
    )
    query = client.embeddings.create(
        model="multilingual-e5-small",
        input="김치찌개 레시피",
        encoding_format="base64",
        extra_body={"input_type": "query"},
    )
    vectors = np.array([item.embedding for item in passages.data])
    # base64 asked for explicitly: the client leaves the string as is (its type says list)
    encoded: Any = query.data[0].embedding
    assert isinstance(encoded, str)
    q = np.frombuffer(base64.b64decode(encoded), dtype="<f4")
    assert vectors.shape == (2, 384)
    assert q.shape == (384,)
    assert q @ vectors[0] > q @ vectors[1]
    seed = httpx.post(
        f"{server}/api/v1/embed-batch",
        json={"texts": docs, "model": "multilingual-e5-small", "input_type": "passage"},
    ).json()
    np.testing.assert_allclose(vectors, seed["embeddings"], atol=1e-6)
    assert passages.usage.prompt_tokens == seed["tokens"]
