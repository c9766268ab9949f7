"""`sam local invoke EmbedFunction` with API Gateway events that SAM CLI generates.

Each case asks `sam local generate-event apigateway http-api-proxy` (HTTP API, payload v2) or
`... aws-proxy` (REST API, payload v1) for an event with the route's method, path and body,
then runs the function's real image once per event in a fresh container, as Lambda's cold
start would. Two changes to SAM's samples, as API Gateway would deliver a real request: a GET
carries no body, and a JSON body comes with `content-type: application/json`.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.container.conftest import FUNCTION, MEASUREMENTS, Stack

pytestmark = pytest.mark.slow

SEED_TEXTS = ["갈비탕", "김치찌개", "된장찌개"]
GENERATORS = {"http": "http-api-proxy", "rest": "aws-proxy"}
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/health", None),
    ("POST", "/api/v1/embed", {"text": "갈비탕", "normalize": True}),
    ("POST", "/api/v1/embed-batch", {"texts": SEED_TEXTS, "normalize": True}),
    ("GET", "/api/v1/model-info", None),
]
REPORT = re.compile(
    r"^REPORT RequestId: \S+\s+(?:Init Duration: [\d.]+ ms\s+)?Duration: (?P<duration>[\d.]+) ms",
    flags=re.MULTILINE,
)

WALL_S: list[float] = []
COLD_DURATION_MS: list[float] = []


def generate_event(
    stack: Stack, kind: str, method: str, path: str, body: dict[str, Any] | None
) -> dict[str, Any]:
    args = ["--method", method, "--path", path.lstrip("/")]
    if body is not None:
        args += ["--body", json.dumps(body, ensure_ascii=False)]
    out = stack.run(stack.sam, "local", "generate-event", "apigateway", GENERATORS[kind], *args)
    event: dict[str, Any] = json.loads(out.stdout)
    if body is None:
        event["body"] = None
        event["isBase64Encoded"] = False
    else:
        event["headers"]["content-type"] = "application/json"
        if kind == "rest":
            event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


def invoke(stack: Stack, event: dict[str, Any], tmp_path: Path) -> tuple[dict[str, Any], str]:
    """One `sam local invoke`; returns the function's response and SAM's stderr."""
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event, ensure_ascii=False))
    started = time.monotonic()
    done = stack.run(stack.sam, "local", "invoke", FUNCTION, "--event", event_file)
    WALL_S.append(time.monotonic() - started)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith('{"statusCode"')]
    assert lines, f"no Lambda response on stdout:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    response: dict[str, Any] = json.loads(lines[-1])
    return response, done.stderr


def record_timings(stderr: str) -> None:
    """Wall time of `sam local invoke`, and the emulator's REPORT when SAM relayed it.

    SAM CLI relays the container's output from a daemon thread that it does not wait for:
    through podman the tail of the output (END/REPORT) is sometimes lost. The response comes
    over HTTP and is never lost. test_image.py measures Init Duration from the container log.
    """
    MEASUREMENTS["sam local invoke: wall time per invocation (container start to exit), s"] = (
        f"median {statistics.median(WALL_S):.1f}, max {max(WALL_S):.1f} (n={len(WALL_S)})"
    )
    report = REPORT.search(stderr)
    if report:
        COLD_DURATION_MS.append(float(report["duration"]))
        MEASUREMENTS["sam local invoke: cold invocation Duration (init included), ms"] = (
            f"median {statistics.median(COLD_DURATION_MS):.0f} "
            f"(REPORT relayed for {len(COLD_DURATION_MS)} of {len(WALL_S)} invocations)"
        )


def check_unit(vector: list[float]) -> None:
    array = np.asarray(vector, dtype=np.float64)
    assert array.shape == (384,)
    assert np.all(np.isfinite(array))
    assert abs(float(np.linalg.norm(array)) - 1.0) < 1e-3


@pytest.mark.parametrize("kind", ["http", "rest"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
def test_invoke_route(
    stack: Stack,
    tmp_path: Path,
    kind: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    event = generate_event(stack, kind, method, path, body)
    response, stderr = invoke(stack, event, tmp_path)
    record_timings(stderr)

    assert response["statusCode"] == 200, response
    assert not response.get("isBase64Encoded")
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers.get("x-request-id")
    data = json.loads(response["body"])

    if path == "/health":
        assert data["status"] == "ok"
        assert data["model_loaded"] is True
        assert data["model"] == "all-MiniLM-L6-v2"
    elif path == "/api/v1/embed":
        assert data["dim"] == 384
        assert data["normalized"] is True
        assert data["truncated"] is False
        check_unit(data["embedding"])
    elif path == "/api/v1/embed-batch":
        assert data["count"] == len(SEED_TEXTS) == len(data["embeddings"])
        assert data["dim"] == 384
        for vector in data["embeddings"]:
            check_unit(vector)
        assert data["truncated"] == [False] * len(SEED_TEXTS)
    else:
        assert data["name"] == "all-MiniLM-L6-v2"
        assert data["dim"] == 384
        assert data["variant"] == "int8"  # the production variant the image bakes in
        assert data["max_seq_length"] == 256
