"""`sam local start-api`: the seed service's curl commands and the official `openai` client.

The API runs the function's real image behind SAM's local API Gateway (the template's HTTP API
routes), one warm container started at launch (`--warm-containers EAGER`), as `make local-api`
does.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.container.conftest import MEASUREMENTS, LocalApi
from tests.live import ROOT, run_client

pytestmark = pytest.mark.slow

SEED_TEXTS = ["갈비탕", "김치찌개", "된장찌개"]
TIMEOUT = httpx.Timeout(60.0)


def unit_vectors(vectors: list[list[float]]) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float64)
    assert array.shape[1] == 384
    np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-3)
    return array


def test_seed_health(local_api: LocalApi) -> None:
    # curl http://localhost:PORT/health
    response = httpx.get(f"{local_api.url}/health", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["model_loaded"] is True


def test_seed_embed(local_api: LocalApi) -> None:
    # curl -X POST http://localhost:PORT/api/v1/embed -H "Content-Type: application/json" \
    #   -d '{"text": "갈비탕", "normalize": true}'
    response = httpx.post(
        f"{local_api.url}/api/v1/embed",
        json={"text": "갈비탕", "normalize": True},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dim"] == 384
    assert body["normalized"] is True
    unit_vectors([body["embedding"]])


def test_seed_embed_batch(local_api: LocalApi) -> None:
    # curl -X POST http://localhost:PORT/api/v1/embed-batch -H "Content-Type: application/json" \
    #   -d '{"texts": ["갈비탕", "김치찌개", "된장찌개"], "normalize": true}'
    response = httpx.post(
        f"{local_api.url}/api/v1/embed-batch",
        json={"texts": SEED_TEXTS, "normalize": True},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 3
    assert body["dim"] == 384
    unit_vectors(body["embeddings"])


def test_seed_model_info(local_api: LocalApi) -> None:
    # curl http://localhost:PORT/api/v1/model-info
    response = httpx.get(f"{local_api.url}/api/v1/model-info", timeout=TIMEOUT)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "all-MiniLM-L6-v2"
    assert body["dim"] == 384
    assert body["variant"] == "int8"  # the production variant the image bakes in


def test_vectors_match_sentence_transformers(
    local_api: LocalApi, golden: tuple[list[str], np.ndarray]
) -> None:
    """The image's vectors (the int8 production variant) against sentence-transformers'
    (tests/fixtures/golden_minilm.json), held to the build's quality gate: mean cosine
    >= 0.995, each >= 0.98 (lamina_tools.models.quality)."""
    texts, reference = golden
    response = httpx.post(
        f"{local_api.url}/api/v1/embed-batch", json={"texts": texts}, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    vectors = unit_vectors(response.json()["embeddings"])
    cosines = np.sum(vectors * reference, axis=1) / np.linalg.norm(reference, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.98, f"{texts[worst][:40]!r}: cosine {cosines[worst]}"
    assert cosines.mean() >= 0.995


def test_openai_client(local_api: LocalApi) -> None:
    client = openai.OpenAI(base_url=f"{local_api.url}/v1", api_key="x", max_retries=0)
    result = client.embeddings.create(model="all-MiniLM-L6-v2", input=SEED_TEXTS)
    assert [item.index for item in result.data] == [0, 1, 2]
    assert result.model == "all-MiniLM-L6-v2"
    assert result.usage.prompt_tokens > 0
    vectors = unit_vectors([item.embedding for item in result.data])
    seed = httpx.post(
        f"{local_api.url}/api/v1/embed-batch", json={"texts": SEED_TEXTS}, timeout=TIMEOUT
    ).json()
    np.testing.assert_allclose(vectors, np.asarray(seed["embeddings"]), atol=1e-6)


def test_tei_clients_through_the_gateway(local_api: LocalApi) -> None:
    """huggingface_hub and LangChain, unchanged, through the HTTP API's TEI routes (POST /,
    POST /embed, GET /info), and the model headers survive the gateway."""
    done = run_client("tei_clients.py", local_api.url)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    seed = httpx.post(
        f"{local_api.url}/api/v1/embed-batch",
        json={"texts": ["김치찌개", "The quick brown fox"]},
        timeout=TIMEOUT,
    )
    np.testing.assert_allclose(np.asarray(got["hf_batch"]), seed.json()["embeddings"], atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(got["lc_documents"]), seed.json()["embeddings"], atol=1e-6
    )
    info = httpx.get(f"{local_api.url}/info", timeout=TIMEOUT).json()
    assert seed.headers["x-model-fingerprint"] == info["model_sha"]
    assert int(seed.headers["x-compute-tokens"]) > 0


def test_warm_latency(local_api: LocalApi) -> None:
    """Warm requests through SAM's local API Gateway: measured, bounded loosely."""
    payload: dict[str, Any] = {"text": "How do I reset my password?", "normalize": True}
    times = []
    for _ in range(20):
        started = time.perf_counter()
        response = httpx.post(f"{local_api.url}/api/v1/embed", json=payload, timeout=TIMEOUT)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    p50 = statistics.median(times)
    MEASUREMENTS["sam local start-api: warm POST /api/v1/embed round trip, ms"] = (
        f"p50 {p50:.0f}, max {max(times):.0f} (n={len(times)})"
    )
    # SAM's local gateway adds tens of ms; seconds would mean a cold start per request.
    assert p50 < 1000
    # The emulator's REPORT lines for warm invocations (SAM relays them to its log).
    durations = [
        float(m)
        for m in re.findall(
            r"^REPORT RequestId: \S+\s+Duration: ([\d.]+) ms",
            local_api.log.read_text(errors="replace"),
            flags=re.MULTILINE,
        )
    ]
    if durations:
        MEASUREMENTS["sam local start-api: warm invocation Duration (REPORT), ms"] = (
            f"median {statistics.median(durations):.1f} (n={len(durations)})"
        )


def test_tritonclient_binary_tensors_through_the_gateway(local_api: LocalApi) -> None:
    """NVIDIA's tritonclient, default options (no Content-Type, binary tensors both ways),
    through the HTTP API's /v2 routes to the ONNX function's image (the spam detector): the
    binary body reaches the function base64-encoded and the binary answer comes back whole."""
    import onnxruntime as ort

    from tests.integration.test_oip_clients import as_array

    done = run_client("oip_tritonclient.py", local_api.url.removeprefix("http://"), "spam-detector")
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["server_metadata"]["extensions"] == ["binary_tensor_data"]
    case = got["cases"]["spam_binary"]
    assert all("binary_data_size" in o["parameters"] for o in case["response"]["outputs"])
    session = ort.InferenceSession(
        str(ROOT / "build/models/spam-detector/model.onnx"), providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    expected = session.run(names, {"features": as_array(case["inputs"]["features"])})
    for name, want in zip(names, expected, strict=True):
        np.testing.assert_array_equal(as_array(case["outputs"][name]), want, err_msg=name)
