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
    assert body == {"name": "lamina", "version": __version__, "extensions": ["binary_tensor_data"]}


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
    (MINILM, token_request([101, 99999, 102]), ["cannot run"]),  # ORT text: logs only
    # LAMINA_MAX_TENSOR_ELEMENTS (4,194,304), from the shape before the data is read.
    (
        SPAM,
        features_tensor(shape=[1_000_000, 5]),
        ["'features'", "5,000,000 elements", "LAMINA_MAX_TENSOR_ELEMENTS"],
    ),
]


@pytest.mark.parametrize(("model", "body", "words"), BAD_TENSORS)
def test_bad_tensors_are_400_naming_the_input(
    client: Any, model: str, body: dict[str, Any], words: list[str]
) -> None:
    assert_oip_error(client.post(f"/v2/models/{model}/infer", json=body), 400, *words)


def test_tensor_element_limit_guards_outputs_too(fp32_dir: Path) -> None:
    """A model whose output is over LAMINA_MAX_TENSOR_ELEMENTS is a 400 naming the output,
    not a response of that size (MiniLM: 4 tokens in, 4 x 384 hidden states out)."""
    from lamina.errors import TensorError
    from lamina.inference.onnx_model import InferRequest, InputTensor, OnnxModel

    model = OnnxModel.load(fp32_dir, max_elements=100)
    inputs = [
        InputTensor(t["name"], t["datatype"], t["shape"], t["data"], None)
        for t in token_request(HELLO_WORLD)["inputs"]
    ]
    with pytest.raises(TensorError, match="LAMINA_MAX_TENSOR_ELEMENTS") as raised:
        model.infer(InferRequest(inputs=inputs, outputs=None))
    assert str(raised.value.param).startswith("outputs[")


def test_openapi_states_the_tensor_limits(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    shape = spec["components"]["schemas"]["RequestInput"]["properties"]["shape"]
    assert shape["maxItems"] == 64
    assert "LAMINA_MAX_TENSOR_ELEMENTS" in shape["description"]


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
    assert_oip_error(client.get("/v2/health/ready"), 503, "not loaded")  # the reason: logs
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


# --- the binary tensor data extension -----------------------------------------------------
# What tritonclient and the kserve client send by default: no Content-Type, an
# Inference-Header-Content-Length header, the JSON request, then each input's raw bytes.

HEADER = "Inference-Header-Content-Length"


def binary_body(request: dict[str, Any], *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    """A binary-extension request: the JSON header, then ``chunks``; its headers (no
    Content-Type, as tritonclient sends)."""
    text = json.dumps(request).encode()
    return text + b"".join(chunks), {HEADER: str(len(text))}


def binary_input(
    name: str, array: np.ndarray, datatype: str, shape: list[int] | None = None
) -> tuple[dict[str, Any], bytes]:
    """A request tensor with its data as raw bytes (little-endian; BYTES length-prefixed),
    of ``array``'s shape unless ``shape`` says another."""
    if datatype == "BYTES":
        raw = b"".join(len(s).to_bytes(4, "little") + s for s in (v.encode() for v in array.flat))
    else:
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
    tensor = {
        "name": name,
        "datatype": datatype,
        "shape": list(array.shape) if shape is None else shape,
        "parameters": {"binary_data_size": len(raw)},
    }
    return tensor, raw


NUMPY = {"BOOL": "?", "INT64": "<i8", "FP32": "<f4", "FP16": "<f2"}


def read_binary(response: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A binary response, read as the protocol says (independently of lamina's code): the
    JSON header and each output's values, from its data or its bytes."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers[HEADER.lower()])
    header = json.loads(response.content[:length])
    rest = response.content[length:]
    values: dict[str, Any] = {}
    offset = 0
    for output in header["outputs"]:
        if "data" in output:
            values[output["name"]] = output["data"]
            continue
        size = output["parameters"]["binary_data_size"]
        chunk, offset = rest[offset : offset + size], offset + size
        if output["datatype"] == "BYTES":
            items, at = [], 0
            while at < len(chunk):
                n = int.from_bytes(chunk[at : at + 4], "little")
                items.append(chunk[at + 4 : at + 4 + n].decode())
                at += 4 + n
            values[output["name"]] = np.array(items, dtype=object).reshape(output["shape"])
        else:
            array = np.frombuffer(chunk, dtype=NUMPY[output["datatype"]])
            values[output["name"]] = array.reshape(output["shape"])
    assert offset == len(rest)  # every byte accounted for
    return header, values


def test_binary_inputs_and_outputs_match_json(client: Any) -> None:
    messages = generate(40, HELD_OUT_SEED)
    rows = np.array([features(text) for text, _ in messages], dtype=np.float32)
    as_json = client.post(f"/v2/models/{SPAM}/infer", json=spam_request(rows.tolist())).json()
    tensor, raw = binary_input("features", rows, "FP32")
    body, headers = binary_body(
        {"id": "b1", "inputs": [tensor], "parameters": {"binary_data_output": True}}, raw
    )
    response = client.post(f"/v2/models/{SPAM}/infer", content=body, headers=headers)
    header, values = read_binary(response)
    assert header["id"] == "b1"
    assert [o["parameters"] for o in header["outputs"]] == [
        {"binary_data_size": 8 * len(rows)},
        {"binary_data_size": 4 * 2 * len(rows)},
    ]
    assert all("data" not in o for o in header["outputs"])
    assert values["label"].tolist() == as_json["outputs"][0]["data"]
    np.testing.assert_array_equal(
        values["probabilities"].reshape(-1), np.array(as_json["outputs"][1]["data"], np.float32)
    )


def test_each_output_chooses_binary_or_json(client: Any) -> None:
    tensor, raw = binary_input("features", np.array([[9, 0, 1, 0, 0]], np.float32), "FP32")
    request = {
        "inputs": [tensor],
        "parameters": {"binary_data_output": True},
        "outputs": [
            {"name": "probabilities"},
            {"name": "label", "parameters": {"binary_data": False}},
        ],
    }
    body, headers = binary_body(request, raw)
    header, values = read_binary(
        client.post(f"/v2/models/{SPAM}/infer", content=body, headers=headers)
    )
    assert [o["name"] for o in header["outputs"]] == ["probabilities", "label"]
    assert "data" in header["outputs"][1]
    assert "parameters" not in header["outputs"][1]
    assert values["probabilities"].shape == (1, 2)
    # Binary inputs, no binary output asked for: a plain JSON answer.
    body, headers = binary_body({"inputs": [tensor]}, raw)
    response = client.post(f"/v2/models/{SPAM}/infer", content=body, headers=headers)
    assert response.headers["content-type"] == "application/json"
    assert HEADER.lower() not in response.headers
    assert response.json()["outputs"][0]["data"] == values["label"]


def test_json_without_content_type(client: Any) -> None:
    """tritonclient sends its JSON requests with no Content-Type."""
    body = json.dumps(spam_request([[10, 0, 0, 0, 0]])).encode()
    response = client.post(f"/v2/models/{SPAM}/infer", content=body)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["name"] == "label"


@pytest.fixture(scope="module")
def codec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A graph over the datatypes whose bytes are special: BOOL (one byte), BYTES
    (length-prefixed), FP16; an input of unknown rank; an output that is NaN for some
    finite inputs (the square root of a negative number)."""
    import onnx
    from onnx import TensorProto, helper

    from lamina.models.manifest import SourceInfo, file_entry, write_manifest

    def value(name: str, elem: int, shape: list[Any] | None) -> Any:
        return helper.make_tensor_value_info(name, elem, shape)

    graph = helper.make_graph(
        [
            helper.make_node("Not", ["flag"], ["not_flag"]),
            helper.make_node("Identity", ["text"], ["text_out"]),
            helper.make_node("Identity", ["half"], ["half_out"]),
            helper.make_node("Identity", ["any"], ["any_out"]),
            helper.make_node("Sqrt", ["x"], ["sqrt_x"]),
        ],
        "codec",
        [
            value("flag", TensorProto.BOOL, ["n"]),
            value("text", TensorProto.STRING, ["n"]),
            value("half", TensorProto.FLOAT16, ["n"]),
            value("any", TensorProto.FLOAT, None),
            value("x", TensorProto.FLOAT, ["n"]),
        ],
        [
            value("not_flag", TensorProto.BOOL, ["n"]),
            value("text_out", TensorProto.STRING, ["n"]),
            value("half_out", TensorProto.FLOAT16, ["n"]),
            value("any_out", TensorProto.FLOAT, None),
            value("sqrt_x", TensorProto.FLOAT, ["n"]),
        ],
    )
    # Not onnx.checker'd: it wants a shape on every graph input, ONNX Runtime does not.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    root = tmp_path_factory.mktemp("codec")
    onnx.save_model(model, str(root / "model.onnx"))
    source = SourceInfo(model_id="test/codec", package="lamina", package_version="0", license="MIT")
    manifest = Manifest(
        name="codec",
        version="1",
        task="generic",
        variant="fp32",
        quantization="none",
        opset=17,
        source=source,
        files=[file_entry(root, "model.onnx")],
        created_at="2026-01-01T00:00:00+00:00",
    )
    write_manifest(root, manifest)
    return root


@pytest.fixture(scope="module")
def codec_client(codec_dir: Path) -> Iterator[Any]:
    """The function on the codec model alone. Powertools' metrics are one object per
    process: a one-model app makes its model every later metric's default dimension, so
    the defaults are put back for the tests that follow."""
    from aws_lambda_powertools import Metrics
    from fastapi.testclient import TestClient

    metrics = Metrics()
    before = dict(metrics.default_dimensions)
    app = import_app("functions.onnx.app", {"LAMINA_MODELS": str(codec_dir)}, keep=False)
    metrics.clear_default_dimensions()
    metrics.set_default_dimensions(**before)
    with TestClient(app) as test_client:
        yield test_client


CODEC_INPUTS = {
    "flag": (np.array([True, False, True]), "BOOL"),
    "text": (np.array(["héllo", "", "세계"], dtype=object), "BYTES"),
    "half": (np.array([0.5, -2.0, 65504.0], np.float16), "FP16"),
    "any": (np.arange(24, dtype=np.float32).reshape(2, 3, 4), "FP32"),
    "x": (np.array([0.0, 4.0, 9.0], np.float32), "FP32"),
}


def codec_request(**change: tuple[Any, ...]) -> tuple[bytes, dict[str, str]]:
    """The codec model's binary request; ``change``: name=(array, datatype[, shape])."""
    tensors, chunks = [], []
    for name, given in {**CODEC_INPUTS, **change}.items():
        tensor, raw = binary_input(name, *given)
        tensors.append(tensor)
        chunks.append(raw)
    return binary_body({"inputs": tensors, "parameters": {"binary_data_output": True}}, *chunks)


def test_binary_datatypes_round_trip(codec_client: Any) -> None:
    body, headers = codec_request()
    header, values = read_binary(
        codec_client.post("/v2/models/codec/infer", content=body, headers=headers)
    )
    assert [(o["name"], o["datatype"]) for o in header["outputs"]] == [
        ("not_flag", "BOOL"),
        ("text_out", "BYTES"),
        ("half_out", "FP16"),
        ("any_out", "FP32"),
        ("sqrt_x", "FP32"),
    ]
    assert values["not_flag"].tolist() == [False, True, False]
    assert values["text_out"].tolist() == ["héllo", "", "세계"]
    assert values["half_out"].tolist() == [0.5, -2.0, 65504.0]
    np.testing.assert_array_equal(values["any_out"], CODEC_INPUTS["any"][0])
    assert values["sqrt_x"].tolist() == [0.0, 2.0, 3.0]
    # The same request as JSON gives the same values.
    as_json = {
        "inputs": [
            {"name": n, "datatype": d, "shape": list(a.shape), "data": a.reshape(-1).tolist()}
            for n, (a, d) in CODEC_INPUTS.items()
        ]
    }
    outputs = codec_client.post("/v2/models/codec/infer", json=as_json).json()["outputs"]
    assert {o["name"]: o["data"] for o in outputs} == {
        name: np.asarray(v).reshape(-1).tolist() for name, v in values.items()
    }


def spam_binary(**change: Any) -> tuple[dict[str, Any], bytes]:
    """A one-row binary spam request's JSON header and bytes, with ``change`` on the tensor."""
    tensor, raw = binary_input("features", np.array([[1, 0, 0, 0, 0]], np.float32), "FP32")
    return {"inputs": [{**tensor, **change}]}, raw


def _header(request: dict[str, Any]) -> str:
    return str(len(json.dumps(request).encode()))


_SPAM_REQ, _SPAM_RAW = spam_binary()
_NAN = np.array([[1, np.nan, 0, 0, 0]], np.float32).tobytes()
_INF = np.array([[1, 0, -np.inf, 0, 0]], np.float32).tobytes()

# (model, request, raw bytes after it, header value or None to compute it, status, words)
BAD_BINARY: list[Any] = [
    pytest.param(
        SPAM,
        _SPAM_REQ,
        _SPAM_RAW,
        "abc",
        ["Inference-Header-Content-Length", "'abc'"],
        id="header-not-a-number",
    ),
    pytest.param(SPAM, _SPAM_REQ, _SPAM_RAW, "-5", ["non-negative integer"], id="header-negative"),
    pytest.param(SPAM, _SPAM_REQ, _SPAM_RAW, "99999", ["99999", "only"], id="header-beyond-body"),
    pytest.param(
        SPAM,
        _SPAM_REQ,
        _SPAM_RAW,
        "10",
        ["first 10 bytes", "not a valid JSON"],
        id="header-mid-json",
    ),
    pytest.param(SPAM, _SPAM_REQ, _SPAM_RAW, "0", ["first 0 bytes"], id="header-zero"),
    pytest.param(
        SPAM,
        _SPAM_REQ,
        _SPAM_RAW + b"\0" * 4,
        None,
        ["24 bytes", "add up to 20"],
        id="bytes-left-over",
    ),
    pytest.param(
        SPAM,
        _SPAM_REQ,
        _SPAM_RAW[:12],
        None,
        ["'features'", "binary_data_size 20", "only 12"],
        id="bytes-missing",
    ),
    pytest.param(
        SPAM,
        spam_binary(parameters={"binary_data_size": 16})[0],
        _SPAM_RAW[:16],
        None,
        ["'features'", "16 bytes", "needs 20"],
        id="size-wrong-for-shape",
    ),
    pytest.param(
        SPAM,
        spam_binary(parameters={"binary_data_size": "20"})[0],
        _SPAM_RAW,
        None,
        ["'features'", "non-negative integer"],
        id="size-a-string",
    ),
    pytest.param(
        SPAM,
        spam_binary(parameters={"binary_data_size": True})[0],
        _SPAM_RAW,
        None,
        ["'features'", "non-negative integer"],
        id="size-a-bool",
    ),
    pytest.param(
        SPAM,
        spam_binary(data=[1, 0, 0, 0, 0])[0],
        _SPAM_RAW,
        None,
        ["'features'", "both"],
        id="data-and-bytes",
    ),
    pytest.param(
        SPAM, spam_binary(parameters={})[0], b"", None, ["'features'", "no data"], id="no-data"
    ),
    pytest.param(
        SPAM,
        spam_binary(datatype="FP64", parameters={"binary_data_size": 40})[0],
        _SPAM_RAW * 2,
        None,
        ["'features'", "FP64", "FP32"],
        id="wrong-datatype",
    ),
    pytest.param(
        SPAM,
        spam_binary(shape=[1, 4], parameters={"binary_data_size": 16})[0],
        _SPAM_RAW[:16],
        None,
        ["'features'", "dimension 1"],
        id="wrong-shape",
    ),
    pytest.param(
        SPAM,
        spam_binary(shape=[2**40, 5])[0],
        _SPAM_RAW,
        None,
        ["'features'", "5,497,558,138,880 elements", "LAMINA_MAX_TENSOR_ELEMENTS"],
        id="huge-shape",
    ),
    pytest.param(
        SPAM,
        spam_binary(shape=[1] * 65)[0],
        _SPAM_RAW,
        None,
        ["'features'", "rank 65"],
        id="rank-65",
    ),
    pytest.param(SPAM, spam_binary()[0], _NAN, None, ["'features'", "nan", "finite"], id="nan"),
    pytest.param(
        SPAM, spam_binary()[0], _INF, None, ["'features'", "-inf", "finite"], id="infinity"
    ),
    pytest.param(
        SPAM,
        {**_SPAM_REQ, "parameters": {"binary_data_output": "yes"}},
        _SPAM_RAW,
        None,
        ["binary_data_output", "true or false"],
        id="binary-data-output-not-bool",
    ),
    pytest.param(
        SPAM,
        {**_SPAM_REQ, "outputs": [{"name": "label", "parameters": {"binary_data": 1}}]},
        _SPAM_RAW,
        None,
        ["binary_data", "true or false"],
        id="binary-data-not-bool",
    ),
    pytest.param(
        SPAM,
        spam_binary(parameters={"shared_memory_region": "r0"})[0],
        b"",
        None,
        ["'features'", "shared-memory"],
        id="shared-memory",
    ),
    pytest.param(
        SPAM,
        {**_SPAM_REQ, "outputs": [{"name": "label", "parameters": {"classification": 1}}]},
        _SPAM_RAW,
        None,
        ["'label'", "classification"],
        id="classification",
    ),
]


@pytest.mark.parametrize(("model", "request_", "raw", "header", "words"), BAD_BINARY)
def test_bad_binary_requests_are_400(
    client: Any,
    model: str,
    request_: dict[str, Any],
    raw: bytes,
    header: str | None,
    words: list[str],
) -> None:
    body = json.dumps(request_).encode() + raw
    headers = {HEADER: header if header is not None else _header(request_)}
    assert_oip_error(
        client.post(f"/v2/models/{model}/infer", content=body, headers=headers), 400, *words
    )


def test_binary_size_without_the_header_is_400(client: Any) -> None:
    request, _ = spam_binary()
    response = client.post(f"/v2/models/{SPAM}/infer", content=json.dumps(request).encode())
    assert_oip_error(response, 400, "'features'", "no Inference-Header-Content-Length")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        pytest.param(
            {"flag": (np.array([1, 0, 2], np.uint8), "BOOL")},
            ["'flag'", "byte 2", "0 or 1"],
            id="bool-byte-2",
        ),
        pytest.param(
            {"half": (np.array([1, np.nan, 0], np.float16), "FP16")},
            ["'half'", "finite"],
            id="fp16-nan",
        ),
        pytest.param(
            {"any": (np.ones(1, np.float32), "FP32", [1] * 65)},
            ["'any'", "rank 65", "at most 64"],
            id="unknown-rank-65",
        ),
        pytest.param(
            {"x": (np.array([1.0, -1.0, 4.0], np.float32), "FP32")},
            ["'sqrt_x'", "NaN"],
            id="nan-producing-input",
        ),
    ],
)
def test_bad_codec_requests_are_400(
    codec_client: Any, change: dict[str, Any], words: list[str]
) -> None:
    body, headers = codec_request(**change)
    assert_oip_error(
        codec_client.post("/v2/models/codec/infer", content=body, headers=headers), 400, *words
    )


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param(b"\x05\0\0\0abc", ["'text'", "says 5 bytes"], id="length-beyond-data"),
        pytest.param(b"\x01\0", ["'text'", "no 4-byte length"], id="truncated-length"),
        pytest.param(b"\x02\0\0\0\xff\xfe", ["'text'", "not UTF-8"], id="not-utf8"),
        pytest.param(b"\x01\0\0\0a" * 4, ["'text'", "goes on after its 3"], id="too-many-elements"),
        pytest.param(
            b"\x01\0\0\0a" * 2, ["'text'", "2 BYTES elements", "needs 3"], id="too-few-elements"
        ),
    ],
)
def test_bad_bytes_tensors_are_400(codec_client: Any, raw: bytes, words: list[str]) -> None:
    tensors, chunks = [], []
    for name, (array, datatype) in CODEC_INPUTS.items():
        tensor, data = binary_input(name, array, datatype)
        if name == "text":
            data = raw
            tensor["parameters"]["binary_data_size"] = len(raw)
        tensors.append(tensor)
        chunks.append(data)
    body, headers = binary_body({"inputs": tensors}, *chunks)
    assert_oip_error(
        codec_client.post("/v2/models/codec/infer", content=body, headers=headers), 400, *words
    )


SPAM_JSON = json.dumps(features_tensor())


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(SPAM_JSON.replace("[1, 0, 0, 0, 0]", "[NaN, 0, 0, 0, 0]"), id="json-nan"),
        pytest.param(
            SPAM_JSON.replace("[1, 0, 0, 0, 0]", "[1, -Infinity, 0, 0, 0]"), id="json-inf"
        ),
        pytest.param(json.dumps(features_tensor(shape=[1] * 65, data=[1])), id="json-rank-65"),
        pytest.param("[]", id="json-not-an-object"),
        pytest.param("", id="empty"),
        pytest.param(
            json.dumps(
                {
                    "inputs": [
                        {
                            "name": "features",
                            "datatype": "FP32",
                            "shape": [1, 5],
                            "data": [1, 0, 0, 0, 0],
                            "parameters": [],
                        }
                    ]
                }
            ),
            id="parameters-not-an-object",
        ),
    ],
)
def test_bad_json_requests_are_400(client: Any, body: str) -> None:
    """Whatever the body, a 400 with the protocol's error body, never a 422 or a 500."""
    assert_oip_error(client.post(f"/v2/models/{SPAM}/infer", content=body.encode()), 400)


def test_binary_through_lambda_http_api_event(oip_app: Any, lambda_context: LambdaContext) -> None:
    """An HTTP API (payload v2) delivers a body that is not text base64-encoded, with
    ``isBase64Encoded``; the binary answer goes back base64-encoded too (Mangum does so for
    a non-text Content-Type), which API Gateway decodes for the client."""
    from functions.onnx.handler import handler

    rows = np.array(
        [features("lol ok see you at 5pm"), features("WIN a FREE iPhone now!!! www.x.example")],
        np.float32,
    )
    tensor, raw = binary_input("features", rows, "FP32")
    body, headers = binary_body(
        {"inputs": [tensor], "parameters": {"binary_data_output": True}}, raw
    )
    event = api_event("http", "POST", f"/v2/models/{SPAM}/infer")
    event["headers"] = {HEADER.lower(): headers[HEADER]}  # no Content-Type, as tritonclient
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    response = handler(event, lambda_context)
    assert response["statusCode"] == 200, response
    assert response["isBase64Encoded"] is True
    assert response["headers"]["content-type"] == "application/octet-stream"
    answer = base64.b64decode(response["body"])
    length = int(response["headers"][HEADER.lower()])
    header = json.loads(answer[:length])
    assert header["id"] == event["requestContext"]["requestId"]
    label = np.frombuffer(answer[length : length + 16], "<i8")
    assert label.tolist() == [0, 1]


def test_json_without_content_type_through_lambda(
    oip_app: Any, lambda_context: LambdaContext
) -> None:
    """JSON with no Content-Type, passed as text (not base64): a JSON answer."""
    from functions.onnx.handler import handler

    rows = [features("lol ok see you at 5pm"), features("WIN a FREE iPhone now!!! www.x.example")]
    event = api_event("http", "POST", f"/v2/models/{SPAM}/infer", spam_request(rows))
    event["headers"] = {}
    response = handler(event, lambda_context)
    assert response["statusCode"] == 200, response
    assert response["isBase64Encoded"] is False
    assert json.loads(response["body"])["outputs"][0]["data"] == [0, 1]
