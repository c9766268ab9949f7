"""`sam local invoke` of the classifier and Open Inference Protocol functions: each runs
its own image (the shared Dockerfile with its model baked in, its own ImageConfig.Command)
in a fresh container, on HTTP API (payload v2) events like API Gateway's, good and bad.

The image classifier gets its PNG as a binary body: base64 in the event with
``isBase64Encoded: true``, as an HTTP API delivers any body that is not text.
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import api_event
from tests.container.conftest import MEASUREMENTS, Stack, built_image

pytestmark = pytest.mark.slow


def invoke(
    stack: Stack, function: str, event: dict[str, Any], tmp_path: Path
) -> tuple[int, dict[str, Any]]:
    """One `sam local invoke FUNCTION`: the response's status and JSON body."""
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event, ensure_ascii=False))
    started = time.monotonic()
    done = stack.run(stack.sam, "local", "invoke", function, "--event", event_file)
    MEASUREMENTS[f"sam local invoke {function}: wall time, s"] = f"{time.monotonic() - started:.1f}"
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith('{"statusCode"')]
    assert lines, f"no Lambda response on stdout:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    response: dict[str, Any] = json.loads(lines[-1])
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"] == "application/json"
    return int(response["statusCode"]), json.loads(response["body"])


def digit_png(index: int) -> tuple[bytes, int]:
    """A digit of scikit-learn's dataset drawn as a 32 x 32 PNG, dark ink on white."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    ink = digits.images[index] / 16.0
    pixels = (255 - np.round(ink * 255)).astype(np.uint8)
    image = Image.fromarray(pixels, mode="L").resize((32, 32), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue(), int(digits.target[index])


def binary_event(path: str, data: bytes, content_type: str) -> dict[str, Any]:
    event = api_event("http", "POST", path, base64.b64encode(data).decode())
    event["isBase64Encoded"] = True
    event["headers"] = {"content-type": content_type}
    return event


def test_every_model_function_has_its_own_image(stack: Stack) -> None:
    images = {fn: built_image(fn) for fn in ("ClassifyFunction", "ImageClassifyFunction")}
    images["OnnxFunction"] = built_image("OnnxFunction")
    assert len({*images.values(), stack.image}) == 4, images


def test_classify(stack: Stack, tmp_path: Path) -> None:
    event = api_event(
        "http",
        "POST",
        "/api/v1/classify",
        {"texts": ["Can you connect me to a human?", "what is the weather like"], "top_k": 3},
    )
    status, body = invoke(stack, "ClassifyFunction", event, tmp_path)
    assert status == 200, body
    first, second = body["predictions"]
    assert first[0]["label"] == "connect_to_human"
    assert second[0]["label"] == "weather"
    assert all(len(row) == 3 for row in body["predictions"])
    assert first[0]["confidence"] >= first[1]["confidence"] >= first[2]["confidence"]


def test_zero_shot_and_bad_input(stack: Stack, tmp_path: Path) -> None:
    event = api_event(
        "http",
        "POST",
        "/api/v1/classify/zero-shot",
        {"text": "My credit card was stolen", "labels": ["banking", "cooking", "sports"]},
    )
    status, body = invoke(stack, "ClassifyFunction", event, tmp_path)
    assert status == 200, body
    assert body["labels"][0]["label"] == "banking"
    assert abs(sum(x["score"] for x in body["labels"]) - 1) < 1e-6
    bad = api_event("http", "POST", "/api/v1/classify", {"texts": []})
    status, body = invoke(stack, "ClassifyFunction", bad, tmp_path)
    assert status == 422
    assert body["error"]["param"] == "texts"


def test_image_classify_binary_body(stack: Stack, tmp_path: Path) -> None:
    png, digit = digit_png(7)
    status, body = invoke(
        stack,
        "ImageClassifyFunction",
        binary_event("/api/v1/classify-image", png, "image/png"),
        tmp_path,
    )
    assert status == 200, body
    assert body["predictions"][0][0]["label"] == str(digit)
    corrupt = binary_event("/api/v1/classify-image", png[: len(png) // 2], "image/png")
    status, body = invoke(stack, "ImageClassifyFunction", corrupt, tmp_path)
    assert status == 422, body
    assert body["error"]["code"] == "invalid_image"


def test_onnx_open_inference_protocol(stack: Stack, tmp_path: Path) -> None:
    from lamina_tools.models.spam import features

    status, meta = invoke(
        stack, "OnnxFunction", api_event("http", "GET", "/v2/models/spam-detector"), tmp_path
    )
    assert status == 200, meta
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 5]}]
    texts = ["see you at lunch tomorrow", "WIN A FREE PRIZE NOW!!! click http://x.example/win"]
    request: dict[str, Any] = {
        "inputs": [
            {
                "name": "features",
                "shape": [2, 5],
                "datatype": "FP32",
                "data": [features(t) for t in texts],
            }
        ],
        "outputs": [{"name": "probabilities"}],
    }
    event = api_event("http", "POST", "/v2/models/spam-detector/infer", request)
    status, body = invoke(stack, "OnnxFunction", event, tmp_path)
    assert status == 200, body
    (output,) = body["outputs"]
    probabilities = np.asarray(output["data"]).reshape(output["shape"])
    assert probabilities[0, 1] < 0.5 < probabilities[1, 1]
    request["inputs"][0]["datatype"] = "INT64"
    event = api_event("http", "POST", "/v2/models/spam-detector/infer", request)
    status, body = invoke(stack, "OnnxFunction", event, tmp_path)
    assert status == 400
    assert "features" in body["error"]
