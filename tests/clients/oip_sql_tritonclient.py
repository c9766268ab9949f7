"""NVIDIA's tritonclient.http, default options, against a query model (lamina's
listing-ranker) on lamina's Open Inference Protocol function
(tests/integration/test_sql_models.py runs it with .venv-clients' Python).

Usage: oip_sql_tritonclient.py HOST:PORT REGION TOP_K. A Triton user's call: the parameters
are one-element tensors (BYTES region, INT64 top_k), sent as binary data (the client's
default), and every output comes back binary too. Prints one JSON object: the model's
metadata, each output as the client decoded it, and the errors of a bad region and a
missing one.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

MODEL = "listing-ranker"


def decoded(array: np.ndarray) -> list[Any]:
    return [v.decode() if isinstance(v, bytes) else v for v in array.ravel().tolist()]


def error(call: Any) -> dict[str, Any]:
    try:
        call()
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    return {"status": None, "message": "no error"}


def inputs(region: str | None, top_k: int) -> list[httpclient.InferInput]:
    given = []
    if region is not None:
        named = httpclient.InferInput("region", [1], "BYTES")
        named.set_data_from_numpy(np.array([region.encode()], dtype=np.object_))
        given.append(named)
    count = httpclient.InferInput("top_k", [1], "INT64")
    count.set_data_from_numpy(np.array([top_k], dtype=np.int64))
    given.append(count)
    return given


def main(url: str, region: str, top_k: int) -> None:
    client = httpclient.InferenceServerClient(url)
    result = client.infer(MODEL, inputs(region, top_k))
    response = result.get_response()
    out = {
        "metadata": client.get_model_metadata(MODEL),
        "ready": client.is_model_ready(MODEL),
        "outputs": {o["name"]: decoded(result.as_numpy(o["name"])) for o in response["outputs"]},
        "shapes": {o["name"]: o["shape"] for o in response["outputs"]},
        "errors": {
            "bad_region": error(lambda: client.infer(MODEL, inputs("mars", 3))),
            "no_region": error(lambda: client.infer(MODEL, inputs(None, 3))),
        },
    }
    client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
