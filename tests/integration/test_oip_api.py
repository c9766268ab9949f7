"""The ONNX function over the Open Inference Protocol, on two unrelated graphs: the
spam detector (FP32 features -> INT64 label, FP32 probabilities) and the fp32 MiniLM (INT64
token ids -> FP32 hidden states), through FastAPI's test client and one Lambda event."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.errors import ConfigurationError, ModelLoadError
from lamina.models.manifest import Manifest, open_model_dir
from lamina_tools.models.spam import HELD_OUT_SEED, HELD_OUT_SIZE, features, generate
from tests.conftest import ROOT, LambdaContext, api_event, import_app

SPAM = "spam-detector"
MINILM = "all-MiniLM-L6-v2"
HELLO_WORLD = [101, 7592, 2088, 102]  # [CLS] hello world [SEP]


@pytest.fixture(scope="module")
def spam_dir() -> Path:
    path = ROOT / "build/models/spam-detector"
    if not (path / "manifest.json").is_file():
        pytest.fail(
            f"no built model at {path}: run `make models` "
            "(or `lamina models build --model spam-detector`)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def spam_manifest(spam_dir: Path) -> Manifest:
    return open_model_dir(spam_dir)


@pytest.fixture(scope="module")
def oip_app(spam_dir: Path, fp32_dir: Path) -> Any:
    """The function's app on these two models (import_app imports it afresh)."""
    return import_app("functions.onnx.app", {"LAMINA_MODELS": f"{spam_dir},{fp32_dir}"})


@pytest.fixture(scope="module")
def client(oip_app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(oip_app) as test_client:
        yield test_client


def spam_request(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    flat = [v for row in rows for v in row]
    tensor = {"name": "features", "datatype": "FP32", "shape": [len(rows), 5], "data": flat}
    return {"inputs": [tensor], **extra}


def token_request(ids: list[int], **extra: Any) -> dict[str, Any]:
    def tensor(name: str, values: list[int]) -> dict[str, Any]:
        return {"name": name, "datatype": "INT64", "shape": [1, len(values)], "data": values}

    return {
        "inputs": [
            tensor("input_ids", ids),
            tensor("attention_mask", [1] * len(ids)),
            tensor("token_type_ids", [0] * len(ids)),
        ],
        **extra,
    }


def assert_oip_error(response: Any, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]  # the protocol's error body, not lamina's
    for word in words:
        assert word in body["error"]
    return str(body["error"])


# --- server -----------------------------------------------------------------------------


def test_server_metadata(client: Any) -> None:
    from lamina import __version__

    body = client.get("/v2").json()
    assert body == {"name": "lamina", "version": __version__, "extensions": []}


def test_health(client: Any, spam_manifest: Manifest) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model_loaded"] is True
    assert {m["name"]: m["version"] for m in body["models"]} == {
        SPAM: spam_manifest.version,
        MINILM: "1",
    }


# --- metadata -----------------------------------------------------------------------------


def test_spam_metadata(client: Any, spam_manifest: Manifest) -> None:
    body = client.get(f"/v2/models/{SPAM}").json()
    assert body == {
        "name": SPAM,
        "versions": [spam_manifest.version],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 5]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
        ],
    }
    versioned = client.get(f"/v2/models/{SPAM}/versions/{spam_manifest.version}")
    assert versioned.json() == body


def test_minilm_metadata(client: Any) -> None:
    body = client.get(f"/v2/models/{MINILM}/versions/1").json()
    assert body["inputs"] == [
        {"name": name, "datatype": "INT64", "shape": [-1, -1]}
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    assert body["outputs"] == [
        {"name": "last_hidden_state", "datatype": "FP32", "shape": [-1, -1, 384]}
    ]


def test_model_ready(client: Any, spam_manifest: Manifest) -> None:
    assert client.get(f"/v2/models/{SPAM}/ready").json() == {"name": SPAM, "ready": True}
    versioned = client.get(f"/v2/models/{MINILM}/versions/1/ready")
    assert versioned.json() == {"name": MINILM, "ready": True}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/models/nope"),
        ("GET", "/v2/models/nope/ready"),
        ("POST", "/v2/models/nope/infer"),
        ("GET", f"/v2/models/{SPAM}/versions/999"),
        ("GET", f"/v2/models/{SPAM}/versions/999/ready"),
        ("POST", f"/v2/models/{MINILM}/versions/2/infer"),
    ],
)
def test_unknown_model_or_version_is_404(client: Any, method: str, path: str) -> None:
    body = spam_request([[1, 0, 0, 0, 0]]) if method == "POST" else None
    response = client.request(method, path, json=body)
    message = assert_oip_error(response, 404)
    assert "nope" in message or "version" in message


# --- inference ----------------------------------------------------------------------------


def test_spam_on_held_out_messages(client: Any, spam_manifest: Manifest) -> None:
    messages = generate(HELD_OUT_SIZE, HELD_OUT_SEED)
    rows = [features(text) for text, _ in messages]
    response = client.post(f"/v2/models/{SPAM}/infer", json=spam_request(rows, id="held-out"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == (
        SPAM,
        spam_manifest.version,
        "held-out",
    )
    out = {o["name"]: o for o in body["outputs"]}
    assert [o["name"] for o in body["outputs"]] == ["label", "probabilities"]
    assert out["label"]["datatype"] == "INT64"
    assert out["label"]["shape"] == [len(rows)]
    assert out["probabilities"]["shape"] == [len(rows), 2]
    probabilities = np.array(out["probabilities"]["data"]).reshape(len(rows), 2)
    labels = np.array(out["label"]["data"])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(labels, probabilities.argmax(axis=1))
    accuracy = float((labels == np.array([label for _, label in messages])).mean())
    assert spam_manifest.evaluation is not None
    assert accuracy == pytest.approx(spam_manifest.evaluation.metrics["accuracy"], abs=0.005)
    assert accuracy > 0.85


def test_spam_obvious_cases(client: Any) -> None:
    texts = [
        "Hey Sam, are we still on for lunch tomorrow?",
        "CONGRATULATIONS!!! You have WON a FREE prize! CLAIM now at http://win.example.net/claim",
    ]
    rows = [features(text) for text in texts]
    body = client.post(f"/v2/models/{SPAM}/infer", json=spam_request(rows)).json()
    assert body["outputs"][0]["data"] == [0, 1]


def test_minilm_token_ids(client: Any, fp32_dir: Path) -> None:
    from lamina.inference.session import create_session

    response = client.post(f"/v2/models/{MINILM}/versions/1/infer", json=token_request(HELLO_WORLD))
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == (
        "last_hidden_state",
        "FP32",
        [1, 4, 384],
    )
    ids = np.array([HELLO_WORLD], dtype=np.int64)
    feeds = {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "token_type_ids": np.zeros_like(ids),
    }
    (expected,) = create_session(fp32_dir / "model.onnx").run(None, feeds)
    got = np.array(output["data"], dtype=np.float32).reshape(output["shape"])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_nested_data_and_requested_outputs(client: Any) -> None:
    rows = [features("Thanks for the book!"), features("FREE cash, click www.x.example")]
    flat = client.post(f"/v2/models/{SPAM}/infer", json=spam_request(rows)).json()
    nested = spam_request(rows, outputs=[{"name": "probabilities"}])
    nested["inputs"][0]["data"] = rows
    body = client.post(f"/v2/models/{SPAM}/infer", json=nested).json()
    assert [o["name"] for o in body["outputs"]] == ["probabilities"]
    assert body["outputs"][0] == flat["outputs"][1]


def test_id_defaults_to_the_request_id(client: Any) -> None:
    response = client.post(
        f"/v2/models/{SPAM}/infer",
        json=spam_request([[10, 0, 0, 0, 0]]),
        headers={"X-Request-ID": "trace-42"},
    )
    assert response.json()["id"] == response.headers["x-request-id"] == "trace-42"


def test_parameters_are_accepted(client: Any) -> None:
    body = spam_request([[10, 0, 0, 0, 0]], parameters={"priority": 1})
    body["inputs"][0]["parameters"] = {"content_type": "np"}
    body["outputs"] = [{"name": "label", "parameters": {"binary_data": False}}]
    response = client.post(f"/v2/models/{SPAM}/infer", json=body)
    assert response.status_code == 200, response.text
    assert "parameters" not in response.json()  # unset optional fields are left out


def features_tensor(**change: Any) -> dict[str, Any]:
    tensor = {"name": "features", "datatype": "FP32", "shape": [1, 5], "data": [1, 0, 0, 0, 0]}
    return {"inputs": [{**tensor, **change}]}


BAD_TENSORS = [
    # (model, body, words in the message)
    (SPAM, features_tensor(datatype="FP64"), ["'features'", "FP64", "FP32"]),
    (SPAM, features_tensor(shape=[1, 4], data=[1, 0, 0, 0]), ["'features'", "dimension 1"]),
    (SPAM, features_tensor(shape=[5], data=[1, 0, 0, 0, 0]), ["'features'", "rank 1"]),
    (SPAM, features_tensor(data=[1, 0, 0, 0]), ["'features'", "4 values", "needs 5"]),
    (SPAM, features_tensor(data=[1, 0, "many", 0, 0]), ["'features'", "'many'", "not a number"]),
    (SPAM, features_tensor(shape=[-1, 5]), ["'features'", "negative"]),
    (SPAM, features_tensor(name="text"), ["'text'", "not an input"]),
    (SPAM, {**features_tensor(), "outputs": [{"name": "score"}]}, ["'score'", "not an output"]),
    (MINILM, {"inputs": token_request(HELLO_WORLD)["inputs"][:1]}, ["'attention_mask'"]),
    (
        MINILM,
        {"inputs": [{**token_request(HELLO_WORLD)["inputs"][0], "data": [101, 1.5, 2088, 102]}]},
        ["'input_ids'", "1.5", "not an integer"],
    ),
    (MINILM, token_request([101, 99999, 102]), ["cannot run", "out of range"]),
]


@pytest.mark.parametrize(("model", "body", "words"), BAD_TENSORS)
def test_bad_tensors_are_400_naming_the_input(
    client: Any, model: str, body: dict[str, Any], words: list[str]
) -> None:
    assert_oip_error(client.post(f"/v2/models/{model}/infer", json=body), 400, *words)


@pytest.mark.parametrize(
    "body",
    [
        "{oops",
        json.dumps({"outputs": []}),  # no inputs
        json.dumps(features_tensor(shape=[1, "5"])),  # sizes must be integers
        json.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 5]}]}),
    ],
)
def test_malformed_body_is_400(client: Any, body: str) -> None:
    response = client.post(
        f"/v2/models/{SPAM}/infer", content=body, headers={"content-type": "application/json"}
    )
    assert_oip_error(response, 400)


# --- operations ---------------------------------------------------------------------------


def test_stage_metrics_carry_the_model(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    client.post(f"/v2/models/{MINILM}/infer", json=token_request(HELLO_WORLD))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    staged = [blob for blob in blobs if "InferenceTime" in blob]
    assert staged, blobs
    assert staged[-1]["ModelName"] == MINILM
    assert np.atleast_1d(staged[-1]["BatchSize"]).tolist() == [1.0]


def test_not_loaded_is_503_on_readiness(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.onnx.app import served

    monkeypatch.setattr(served.slot, "_service", None)
    monkeypatch.setattr(served.slot, "_error", ModelLoadError("model file model.onnx is missing"))
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2").status_code == 200
    assert_oip_error(client.get("/v2/health/ready"), 503, "model.onnx is missing")
    assert_oip_error(client.get(f"/v2/models/{SPAM}/ready"), 503, "not loaded")
    assert client.get("/health").status_code == 503


def test_two_models_with_one_name_refused(spam_dir: Path) -> None:
    from lamina.api.oip.service import OipService
    from lamina.observability import get_telemetry
    from lamina.settings import Settings

    settings = Settings(models=f"{spam_dir},{spam_dir}")
    with pytest.raises(ConfigurationError, match="two models are named 'spam-detector'"):
        OipService.load(settings, get_telemetry(settings))


def test_through_lambda_http_api_event(oip_app: Any, lambda_context: LambdaContext) -> None:
    from functions.onnx.handler import handler

    rows = [features("lol ok see you at 5pm")]
    event = api_event("http", "POST", f"/v2/models/{SPAM}/infer", spam_request(rows))
    response = handler(event, lambda_context)
    assert response["statusCode"] == 200
    raw = response["body"]
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    body = json.loads(raw)
    assert body["model_name"] == SPAM
    assert body["id"] == event["requestContext"]["requestId"]
    assert body["outputs"][0]["data"] == [0]
