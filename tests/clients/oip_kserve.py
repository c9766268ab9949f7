"""KServe's REST inference client (kserve.InferenceRESTClient), default options but the
protocol (v2: its default is v1), against lamina's Open Inference Protocol function
(tests/integration/test_oip_clients.py runs it with .venv-clients' Python).

Usage: oip_kserve.py BASE_URL. Prints one JSON object: health and readiness as the client
reads them, and for each inference case the inputs sent, the outputs as the client decoded
them and whether the response was binary; the test checks the numbers against ONNX Runtime.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

SPAM, DIGITS = "spam-detector", "digits-classifier"


def tensor(array: np.ndarray) -> dict[str, Any]:
    return {"shape": list(array.shape), "dtype": str(array.dtype), "data": array.ravel().tolist()}


async def infer(
    client: InferenceRESTClient,
    base: str,
    model: str,
    name: str,
    array: np.ndarray,
    *,
    binary_input: bool = True,
    outputs: list[RequestedOutput] | None = None,
) -> dict[str, Any]:
    if binary_input:
        given = InferInput(name, list(array.shape), "FP32")
        given.set_data_from_numpy(array)  # binary_data=True, the default
    else:
        given = InferInput(name, list(array.shape), "FP32", data=array)  # sent as JSON
    request = InferRequest(model_name=model, infer_inputs=[given], request_outputs=outputs)
    headers: dict[str, str] = {}
    result = await client.infer(base, request, model_name=model, response_headers=headers)
    return {
        "inputs": {name: tensor(array)},
        "binary_response": "inference-header-content-length" in headers,
        "content_type": headers.get("content-type"),
        "outputs": {o.name: tensor(o.as_numpy()) for o in result.outputs},
    }


async def main(base: str) -> None:
    client = InferenceRESTClient(RESTConfig(protocol="v2"))
    rng = np.random.default_rng(11)
    features = rng.uniform(0, 10, (3, 5)).astype(np.float32)
    pixels = rng.uniform(0, 16, (2, 64)).astype(np.float32)
    out: dict[str, Any] = {
        "live": await client.is_server_live(base),
        "ready": await client.is_server_ready(base),
        "model_ready": {m: await client.is_model_ready(base, m) for m in (SPAM, DIGITS)},
        "unknown_model_ready": await client.is_model_ready(base, "nope"),
    }
    out["cases"] = {
        # The defaults: binary input (set_data_from_numpy), outputs as the server's default.
        "spam_binary": await infer(client, base, SPAM, "features", features),
        "digits_binary": await infer(client, base, DIGITS, "pixels", pixels),
        "spam_json": await infer(client, base, SPAM, "features", features, binary_input=False),
        "digits_binary_outputs": await infer(
            client,
            base,
            DIGITS,
            "pixels",
            pixels,
            outputs=[
                RequestedOutput("probabilities", parameters={"binary_data": True}),
                RequestedOutput("label", parameters={"binary_data": True}),
            ],
        ),
    }
    wrong = InferInput("features", [1, 4], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 4), np.float32))
    try:
        await client.infer(
            base, InferRequest(model_name=SPAM, infer_inputs=[wrong]), model_name=SPAM
        )
        out["wrong_shape"] = {"status": None, "message": "no error"}
    except httpx.HTTPStatusError as exc:
        out["wrong_shape"] = {"status": exc.response.status_code, "message": str(exc)}
    await client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
