"""The Open Inference Protocol function with clients nobody at lamina wrote: NVIDIA's
tritonclient.http and KServe's REST client, default options (kserve: protocol v2), against a
live local server (uvicorn, as `make serve-onnx` runs it) on the spam detector and the digits
classifier.

The clients run in .venv-clients (`make clients`; tests/clients/oip_tritonclient.py and
oip_kserve.py), print what they got as JSON, and every number is checked against ONNX
Runtime run here on the same model files. By default both send their input tensors as binary
data with no Content-Type, and tritonclient asks for binary outputs too: the binary tensor
data extension both ways.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina import __version__
from tests.conftest import ROOT
from tests.live import clients_python, live_server, run_client

pytestmark = pytest.mark.slow

MODELS = {"spam-detector": "features", "digits-classifier": "pixels"}


def model_dir(name: str) -> Path:
    path = ROOT / "build/models" / name
    if not (path / "manifest.json").is_file():
        pytest.fail(f"no built model at {path}: run `make models` first", pytrace=False)
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    clients_python()  # fail first, clearly, if .venv-clients is missing
    models = ",".join(str(model_dir(name)) for name in MODELS)
    with live_server("functions.onnx.app", {"LAMINA_MODELS": models}) as url:
        yield url


def client_output(script: str, *args: str) -> dict[str, Any]:
    done = run_client(script, *args)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def triton(server: str) -> dict[str, Any]:
    return client_output("oip_tritonclient.py", server.removeprefix("http://"))


@pytest.fixture(scope="module")
def kserve(server: str) -> dict[str, Any]:
    return client_output("oip_kserve.py", server)


@pytest.fixture(scope="module")
def onnx_runtime() -> dict[str, Any]:
    """ONNX Runtime sessions on the served model files, by model name."""
    import onnxruntime as ort

    return {
        name: ort.InferenceSession(
            str(model_dir(name) / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        for name in MODELS
    }


def as_array(tensor: dict[str, Any]) -> np.ndarray:
    return np.array(tensor["data"], dtype=tensor["dtype"]).reshape(tensor["shape"])


def check_against_onnx_runtime(case: dict[str, Any], model: str, sessions: dict[str, Any]) -> None:
    """The client's decoded outputs are ONNX Runtime's on the same inputs, bit for bit."""
    feeds = {name: as_array(tensor) for name, tensor in case["inputs"].items()}
    session = sessions[model]
    names = [o.name for o in session.get_outputs()]
    expected = dict(zip(names, session.run(names, feeds), strict=True))
    assert set(case["outputs"]) == set(names)
    for name, tensor in case["outputs"].items():
        got = as_array(tensor)
        assert got.dtype == expected[name].dtype, name
        assert got.shape == expected[name].shape, name
        np.testing.assert_array_equal(got, expected[name], err_msg=f"{model}: {name}")


# --- tritonclient.http ------------------------------------------------------------------------


def test_tritonclient_health_and_metadata(triton: dict[str, Any]) -> None:
    assert triton["live"] is True
    assert triton["ready"] is True
    assert triton["server_metadata"] == {
        "name": "lamina",
        "version": __version__,
        "extensions": ["binary_tensor_data"],
    }
    assert triton["model_ready"] == dict.fromkeys(MODELS, True)
    spam = triton["model_metadata"]["spam-detector"]
    assert spam["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 5]}]
    digits = triton["model_metadata"]["digits-classifier"]
    assert digits["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
    ]


@pytest.mark.parametrize(
    ("case", "model"),
    [
        ("spam_binary", "spam-detector"),
        ("digits_binary", "digits-classifier"),
        ("spam_json", "spam-detector"),
        ("digits_mixed", "digits-classifier"),
    ],
)
def test_tritonclient_infer(
    triton: dict[str, Any], onnx_runtime: dict[str, Any], case: str, model: str
) -> None:
    check_against_onnx_runtime(triton["cases"][case], model, onnx_runtime)


def test_tritonclient_defaults_are_binary_both_ways(triton: dict[str, Any]) -> None:
    """What the server answered, as the client saw it: binary outputs by default, JSON when
    asked, one of each when asked."""
    cases = triton["cases"]
    binary = cases["spam_binary"]["response"]["outputs"]
    assert [(o["name"], o["parameters"]) for o in binary] == [
        ("label", {"binary_data_size": 8 * 4}),
        ("probabilities", {"binary_data_size": 4 * 4 * 2}),
    ]
    assert all("data" not in o for o in binary)
    assert all(
        "data" in o and "parameters" not in o for o in cases["spam_json"]["response"]["outputs"]
    )
    mixed = {o["name"]: o for o in cases["digits_mixed"]["response"]["outputs"]}
    assert mixed["probabilities"]["parameters"] == {"binary_data_size": 4 * 3 * 10}
    assert "data" in mixed["label"]


def test_tritonclient_errors(triton: dict[str, Any]) -> None:
    wrong = triton["errors"]["wrong_shape"]
    assert wrong["status"] == "400"
    assert "'features'" in wrong["message"]
    assert "dimension 1" in wrong["message"]
    unknown = triton["errors"]["unknown_model"]
    assert unknown["status"] == "404"
    assert "'nope'" in unknown["message"]


# --- kserve's InferenceRESTClient -------------------------------------------------------------


def test_kserve_health(kserve: dict[str, Any]) -> None:
    assert kserve["live"] is True
    assert kserve["ready"] is True
    assert kserve["model_ready"] == dict.fromkeys(MODELS, True)
    assert kserve["unknown_model_ready"] is False


@pytest.mark.parametrize(
    ("case", "model", "binary_response"),
    [
        ("spam_binary", "spam-detector", False),
        ("digits_binary", "digits-classifier", False),
        ("spam_json", "spam-detector", False),
        ("digits_binary_outputs", "digits-classifier", True),
    ],
)
def test_kserve_infer(
    kserve: dict[str, Any],
    onnx_runtime: dict[str, Any],
    case: str,
    model: str,
    binary_response: bool,
) -> None:
    result = kserve["cases"][case]
    assert result["binary_response"] is binary_response
    expected_type = "application/octet-stream" if binary_response else "application/json"
    assert result["content_type"] == expected_type
    check_against_onnx_runtime(result, model, onnx_runtime)


def test_kserve_error(kserve: dict[str, Any]) -> None:
    assert kserve["wrong_shape"]["status"] == 400
    assert "'features'" in kserve["wrong_shape"]["message"]
