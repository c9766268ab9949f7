"""The official `openai` client, unchanged, against a live local server (uvicorn subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(fp32_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MODEL_URI": str(fp32_dir), "POWERTOOLS_METRICS_DISABLED": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "functions.embed.app:app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            assert proc.stderr is not None
            pytest.fail(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("server did not start within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)


def test_models_list(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == ["all-MiniLM-L6-v2"]


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
