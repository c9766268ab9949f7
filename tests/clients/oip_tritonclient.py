"""NVIDIA's tritonclient.http, default options, against lamina's Open Inference Protocol
function (tests/integration/test_oip_clients.py runs it with .venv-clients' Python).

Usage: oip_tritonclient.py HOST:PORT [MODEL...] (default: both demo models; the gateway
test names only the spam detector, the image's one model). Prints one JSON object: what
the server said (health, metadata), and for each inference case the inputs sent, the
outputs as the client decoded them (numpy -> lists) and the response's JSON header; the
test checks the numbers against
ONNX Runtime. Nothing here knows lamina: it is how a Triton user calls a server.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

SPAM, DIGITS = "spam-detector", "digits-classifier"


def tensor(array: np.ndarray) -> dict[str, Any]:
    return {"shape": list(array.shape), "dtype": str(array.dtype), "data": array.ravel().tolist()}


def infer(
    client: httpclient.InferenceServerClient,
    model: str,
    name: str,
    array: np.ndarray,
    *,
    binary_input: bool = True,
    outputs: list[httpclient.InferRequestedOutput] | None = None,
) -> dict[str, Any]:
    given = httpclient.InferInput(name, list(array.shape), "FP32")
    given.set_data_from_numpy(array, binary_data=binary_input)
    result = client.infer(model, [given], outputs=outputs)
    response = result.get_response()
    return {
        "inputs": {name: tensor(array)},
        "response": response,
        "outputs": {o["name"]: tensor(result.as_numpy(o["name"])) for o in response["outputs"]},
    }


def error(call: Any) -> dict[str, Any]:
    try:
        call()
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    return {"status": None, "message": "no error"}


def main(url: str, models: list[str]) -> None:
    client = httpclient.InferenceServerClient(url)
    rng = np.random.default_rng(7)
    features = rng.uniform(0, 10, (4, 5)).astype(np.float32)
    pixels = rng.uniform(0, 16, (3, 64)).astype(np.float32)
    out: dict[str, Any] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "server_metadata": client.get_server_metadata(),
        "model_metadata": {m: client.get_model_metadata(m) for m in models},
        "model_ready": {m: client.is_model_ready(m) for m in models},
    }
    cases = {
        # The defaults: binary input, no outputs named (binary_data_output: every output binary).
        "spam_binary": lambda: infer(client, SPAM, "features", features),
        "digits_binary": lambda: infer(client, DIGITS, "pixels", pixels),
        # JSON both ways.
        "spam_json": lambda: infer(
            client,
            SPAM,
            "features",
            features,
            binary_input=False,
            outputs=[
                httpclient.InferRequestedOutput("label", binary_data=False),
                httpclient.InferRequestedOutput("probabilities", binary_data=False),
            ],
        ),
        # One output each way; InferRequestedOutput's default is binary_data=True.
        "digits_mixed": lambda: infer(
            client,
            DIGITS,
            "pixels",
            pixels,
            outputs=[
                httpclient.InferRequestedOutput("probabilities"),
                httpclient.InferRequestedOutput("label", binary_data=False),
            ],
        ),
    }
    out["cases"] = {
        name: case() for name, case in cases.items() if name.split("_")[0] in short(models)
    }
    wrong = httpclient.InferInput("features", [1, 4], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 4), np.float32))
    out["errors"] = {
        "wrong_shape": error(lambda: client.infer(SPAM, [wrong])),
        "unknown_model": error(lambda: client.get_model_metadata("nope")),
    }
    client.close()
    print(json.dumps(out))


def short(models: list[str]) -> set[str]:
    """Case prefixes of the models exercised: spam-detector -> spam, digits-classifier -> digits."""
    return {model.split("-")[0] for model in models}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or [SPAM, DIGITS])
