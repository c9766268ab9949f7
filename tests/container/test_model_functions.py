"""`sam local invoke` of the classifier and Open Inference Protocol functions: each runs
its own image (the shared Dockerfile with its model(s) baked in, its own
ImageConfig.Command) in a fresh container, on HTTP API (payload v2) events like API
Gateway's, good and bad. The ONNX function's image carries an ONNX graph (the spam
detector) and a SQL query model (listing-ranker, run by DuckDB).

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
from tests.container.conftest import LOG_DIR, MEASUREMENTS, Stack, built_image, free_port
from tests.container.test_image import INVOKE_PATH, LAMBDA_USER, invoke_rie

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


# listing-ranker, the SQL query model the ONNX function's image (target `generic`) carries
# beside the spam detector: its plain route and the Open Inference Protocol, one cold start
# each, through the same image and template environment (OnnxModels' default).
RANKER_COLUMNS = [
    ("rank", "INT64"),
    ("listing_id", "BYTES"),
    ("avg_score", "FP64"),
    ("reviews", "INT64"),
    ("rooms", "INT64"),
    ("created", "BYTES"),
]


def test_sql_model_predict(stack: Stack, tmp_path: Path) -> None:
    event = api_event(
        "http",
        "POST",
        "/api/v1/models/listing-ranker/predict",
        {"parameters": {"region": "jeju", "top_k": 3}},
    )
    status, body = invoke(stack, "OnnxFunction", event, tmp_path)
    assert status == 200, body
    assert body["model"] == "listing-ranker"
    assert [(c["name"], c["datatype"]) for c in body["columns"]] == RANKER_COLUMNS
    rows = body["rows"]
    assert (body["row_count"], body["truncated"]) == (3, False)
    assert [row["rank"] for row in rows] == [1, 2, 3]
    scores = [row["avg_score"] for row in rows]
    assert scores == sorted(scores, reverse=True), scores
    assert all(row["reviews"] >= 5 for row in rows)  # min_reviews' default


def test_sql_model_open_inference_protocol(stack: Stack, tmp_path: Path) -> None:
    request = {
        "inputs": [
            {"name": "region", "shape": [1], "datatype": "BYTES", "data": ["jeju"]},
            {"name": "top_k", "shape": [1], "datatype": "INT64", "data": [3]},
        ]
    }
    event = api_event("http", "POST", "/v2/models/listing-ranker/infer", request)
    status, body = invoke(stack, "OnnxFunction", event, tmp_path)
    assert status == 200, body
    assert body["model_name"] == "listing-ranker"
    outputs = body["outputs"]
    assert [(o["name"], o["datatype"]) for o in outputs] == RANKER_COLUMNS
    assert all(o["shape"] == [3] and len(o["data"]) == 3 for o in outputs), outputs
    columns = {o["name"]: o["data"] for o in outputs}
    assert columns["rank"] == [1, 2, 3]
    assert columns["avg_score"] == sorted(columns["avg_score"], reverse=True)


def test_sql_model_bad_parameter(stack: Stack, tmp_path: Path) -> None:
    event = api_event(
        "http",
        "POST",
        "/api/v1/models/listing-ranker/predict",
        {"parameters": {"region": "mars"}},
    )
    status, body = invoke(stack, "OnnxFunction", event, tmp_path)
    assert status == 422, body
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["param"] == "parameters.region"


def test_sql_model_on_a_read_only_filesystem(stack: Stack) -> None:
    """The ONNX function's image as Lambda runs it: read-only but /tmp, a user that is not
    root, no HOME, its memory (SmallModelMemorySize). DuckDB loads listing-ranker's tables
    at cold start and answers warm invocations without writing anywhere."""
    event = api_event(
        "http",
        "POST",
        "/api/v1/models/listing-ranker/predict",
        {"parameters": {"region": "seoul", "top_k": 5}},
    )
    port = free_port()
    started = stack.run(
        stack.engine,
        "run",
        "--detach",
        "--name",
        f"lamina-onnx-readonly-{port}",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--user",
        LAMBDA_USER,
        "--memory",
        "1024m",
        "--env",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024",
        "--publish",
        f"127.0.0.1:{port}:8080",
        built_image("OnnxFunction"),
        "functions.onnx.handler.handler",
    )
    container = started.stdout.strip().splitlines()[-1]
    try:
        url = f"http://127.0.0.1:{port}{INVOKE_PATH}"
        deadline = time.monotonic() + 60
        results = [invoke_rie(url, event, deadline) for _ in range(2)]
        fetched = stack.run(stack.engine, "logs", container)
        logs = fetched.stdout + fetched.stderr
        (LOG_DIR / "onnx-read-only.log").write_text(logs)
    finally:
        stack.run(stack.engine, "rm", "--force", container, check=False)
    for result in results:
        assert result["statusCode"] == 200, result
        body = json.loads(result["body"])
        assert [row["rank"] for row in body["rows"]] == [1, 2, 3, 4, 5]
    assert json.loads(results[0]["body"]) == json.loads(results[1]["body"])
    assert "Traceback" not in logs, logs[-3000:]
    assert "Read-only file system" not in logs, logs[-3000:]
