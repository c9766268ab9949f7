"""The embedding image carries two models: all-MiniLM-L6-v2 (int8, the default) and
multilingual-e5-small (q4); requests pick one with ``model``.

Checked on the built images: where each model lands (and that the classify, image and ONNX
images carry only their own: the ONNX one the spam detector and the SQL model
listing-ranker), what the two embedding models add to the shared layers,
both served through `sam local start-api` and `sam local invoke` with the template's
environment, and the cold start and memory of the image loading both models against one.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.conftest import api_event
from tests.container.conftest import LOG_DIR, MEASUREMENTS, LocalApi, Stack, built_image, free_port
from tests.container.test_image import INVOKE_PATH, LAMBDA_USER, image_size, invoke_rie
from tests.container.test_sam_invoke import generate_event, invoke

pytestmark = pytest.mark.slow

MINILM = "all-MiniLM-L6-v2"
E5 = "multilingual-e5-small"
MINILM_IN_IMAGE = "/opt/ml/model"
E5_IN_IMAGE = "/opt/ml/models/multilingual-e5-small"
LISTINGS_IN_IMAGE = "/opt/ml/models/listing-ranker"
TIMEOUT = httpx.Timeout(120.0)
# Two Korean stews, one syllable apart: MiniLM's English WordPiece vocabulary reads both as
# [UNK]-heavy sequences (cosine > 0.99); the multilingual model tells them apart.
STEWS = ["김치찌개", "된장찌개"]

# What the two embedding models add to the layers every image shares (the embed image
# against the image classifier's, target `model`, whose digits classifier weighs 0.2 MB; not
# the ONNX function's, which carries DuckDB besides): measured 143 MB (MiniLM int8 59 MB +
# multilingual-e5-small q4 84 MB); budget ~20% above.
MAX_EMBEDDING_MODEL_LAYERS_MB = 172
# Lambda gives init 10 s before it starts over within the first invocation (on-demand
# functions): both models must load well inside it.
MAX_INIT_MS = 10_000

LIST_MODELS = """
import json, pathlib
found = {}
for manifest in sorted(pathlib.Path("/opt/ml").rglob("manifest.json")):
    data = json.loads(manifest.read_text())
    found[str(manifest.parent)] = [data["name"], data["variant"]]
print(json.dumps(found))
"""


def baked(stack: Stack, image: str) -> dict[str, list[str]]:
    """Model directories under /opt/ml in ``image``: path -> [manifest name, variant]."""
    done = stack.run(
        stack.engine, "run", "--rm", "--entrypoint", "python3", image, "-c", LIST_MODELS
    )
    found: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_embed_image_carries_both_models(stack: Stack) -> None:
    assert baked(stack, stack.image) == {
        MINILM_IN_IMAGE: [MINILM, "int8"],
        E5_IN_IMAGE: [E5, "q4"],
    }
    # The batch worker runs the same image.
    assert built_image("BatchWorkerFunction") == stack.image


@pytest.mark.parametrize(
    ("function", "models"),
    [
        ("ClassifyFunction", {MINILM_IN_IMAGE: "intent-classifier"}),
        ("ImageClassifyFunction", {MINILM_IN_IMAGE: "digits-classifier"}),
        ("OnnxFunction", {MINILM_IN_IMAGE: "spam-detector", LISTINGS_IN_IMAGE: "listing-ranker"}),
    ],
)
def test_other_images_carry_only_their_model(
    stack: Stack, function: str, models: dict[str, str]
) -> None:
    found = baked(stack, built_image(function))
    assert {path: name for path, (name, _) in found.items()} == models, found


def test_embedding_models_layer_budget(stack: Stack) -> None:
    """The embed image = the shared layers + both embedding models, within budget; the
    smallest other image (the image classifier's, target `model`) = the same shared layers +
    0.2 MB (the digits classifier)."""
    embed = image_size(stack, stack.image)
    other = image_size(stack, built_image("ImageClassifyFunction"))
    models_mb = (embed - other) / 1e6
    MEASUREMENTS["embedding models' layers (embed image - image classifier's image)"] = (
        f"{models_mb:.0f} MB (budget {MAX_EMBEDDING_MODEL_LAYERS_MB} MB); embed image "
        f"{embed / 1e6:.0f} MB, image classifier's image {other / 1e6:.0f} MB"
    )
    assert 0 < models_mb <= MAX_EMBEDDING_MODEL_LAYERS_MB
    assert embed < 10 * 1024**3  # Lambda's limit on an image, uncompressed


def unit_rows(vectors: list[list[float]]) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float64)
    assert array.shape[1] == 384
    np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-3)
    return array


def test_v1_models_lists_both(local_api: LocalApi) -> None:
    response = httpx.get(f"{local_api.url}/v1/models", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert [m["id"] for m in response.json()["data"]] == [MINILM, E5]  # the default first


def test_multilingual_model_tells_korean_stews_apart(local_api: LocalApi) -> None:
    cosines = {}
    for model in (MINILM, E5):
        response = httpx.post(
            f"{local_api.url}/api/v1/embed-batch",
            json={"texts": STEWS, "model": model},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == model
        assert body["dim"] == 384
        first, second = unit_rows(body["embeddings"])
        cosines[model] = float(first @ second)
    MEASUREMENTS["cosine(김치찌개, 된장찌개)"] = ", ".join(
        f"{m} {c:.4f}" for m, c in cosines.items()
    )
    assert cosines[MINILM] > 0.99
    assert cosines[E5] < 0.97
    assert cosines[E5] < cosines[MINILM] - 0.03
    # A request that names no model still gets MiniLM (existing clients).
    default = httpx.post(
        f"{local_api.url}/api/v1/embed", json={"text": STEWS[0]}, timeout=TIMEOUT
    ).json()
    assert default["model"] == MINILM


def test_tokenize_with_each_model(local_api: LocalApi) -> None:
    tokens = {}
    for model in (MINILM, E5):
        response = httpx.post(
            f"{local_api.url}/api/v1/tokenize",
            json={"text": STEWS[0], "model": model},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        tokens[model] = response.json()["tokens"]
    assert tokens[MINILM] == ["[CLS]", "[UNK]", "[SEP]"]  # the whole word is unknown
    assert "<unk>" not in tokens[E5]
    assert len(tokens[E5]) > 3


def test_openai_client_picks_the_multilingual_model(local_api: LocalApi) -> None:
    client = openai.OpenAI(base_url=f"{local_api.url}/v1", api_key="x", max_retries=0)
    result = client.embeddings.create(model=E5, input=STEWS)
    assert result.model == E5
    unit_rows([item.embedding for item in result.data])
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-model", input=STEWS)


def test_sam_local_invoke_multilingual(stack: Stack, tmp_path: Path) -> None:
    """One cold `sam local invoke EmbedFunction` with the template's environment (both
    models from LAMINA_MODELS), asking for the multilingual model."""
    event = generate_event(stack, "http", "POST", "/api/v1/embed", {"text": STEWS[0], "model": E5})
    response, _ = invoke(stack, event, tmp_path)
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert body["model"] == E5
    assert body["dim"] == 384
    unit_rows([body["embedding"]])


PEAK_RSS = "cat /proc/[0-9]*/status 2>/dev/null | grep VmHWM"


def cold_start(stack: Stack, models: str, label: str) -> dict[str, Any]:
    """Run the embed image with LAMINA_MODELS=``models`` on Lambda's read-only filesystem
    (2,048 MB), one request per served model; the emulator's INIT REPORT, each model's
    load time, the runtime's peak resident memory."""
    port = free_port()
    started = stack.run(
        stack.engine,
        "run",
        "--detach",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--user",
        LAMBDA_USER,
        "--memory",
        "2048m",
        "--env",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=2048",
        "--env",
        f"LAMINA_MODELS={models}",
        "--publish",
        f"127.0.0.1:{port}:8080",
        stack.image,
    )
    container = started.stdout.strip().splitlines()[-1]
    try:
        url = f"http://127.0.0.1:{port}{INVOKE_PATH}"
        deadline = time.monotonic() + 120
        served = [MINILM if path == MINILM_IN_IMAGE else E5 for path in models.split(",")]
        for model in served:
            event = api_event(
                "http", "POST", "/api/v1/embed-batch", {"texts": STEWS * 16, "model": model}
            )
            result = invoke_rie(url, event, deadline)
            assert result["statusCode"] == 200, result
        hwm = stack.run(stack.engine, "exec", container, "sh", "-c", PEAK_RSS).stdout
        fetched = stack.run(stack.engine, "logs", container)
        logs = fetched.stdout + fetched.stderr
        (LOG_DIR / f"cold-start-{label}.log").write_text(logs)
    finally:
        stack.run(stack.engine, "rm", "--force", container, check=False)
    init = re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", logs)
    assert init, f"no INIT REPORT in {LOG_DIR / f'cold-start-{label}.log'}"
    loads = dict(
        re.findall(r'"message":"model loaded".*?"model":"([\w.-]+)".*?"load_ms":([\d.]+)', logs)
    )
    return {
        "init_ms": float(init[1]),
        "load_ms": {m: float(v) for m, v in loads.items()},
        "rss_mb": max(int(kb) for kb in re.findall(r"VmHWM:\s+(\d+)", hwm)) / 1024,
    }


def test_cold_start_both_models_against_one(stack: Stack) -> None:
    """Init time and memory of the image loading both models, MiniLM alone, e5 alone (the
    template's EmbeddingModels parameter). Measured; bounded by Lambda's 10 s init and the
    default memory size."""
    configs = {
        "both": f"{MINILM_IN_IMAGE},{E5_IN_IMAGE}",
        MINILM: MINILM_IN_IMAGE,
        E5: E5_IN_IMAGE,
    }
    found = {label: cold_start(stack, models, label) for label, models in configs.items()}
    for label, got in found.items():
        loads = ", ".join(f"{m} {ms:.0f} ms" for m, ms in got["load_ms"].items())
        MEASUREMENTS[f"cold start, embed image loading {label}"] = (
            f"INIT REPORT {got['init_ms']:.0f} ms (model loads: {loads}), "
            f"peak RSS {got['rss_mb']:.0f} MiB"
        )
        assert got["init_ms"] < MAX_INIT_MS, (label, got)
    assert set(found["both"]["load_ms"]) == {MINILM, E5}
    # Both models fit the template's default MemorySize (2,048 MB) with room to spare.
    assert found["both"]["rss_mb"] < 2048 * 0.75, found
