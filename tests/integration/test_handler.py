"""The Lambda entry point driven by real API Gateway event shapes (SAM's samples) via Mangum."""

from __future__ import annotations

import base64
import io
import json
import logging
from typing import Any

import numpy as np
import pytest

from tests.conftest import LambdaContext, api_event


@pytest.fixture
def handler(embed_app: Any) -> Any:
    from functions.embed.app import served
    from functions.embed.handler import handler

    # Powertools' Metrics instances share their default dimensions process-wide: a Lambda
    # process runs one app, but this test process has loaded the other functions' models
    # too, the last of which set its ModelName. Give the embedding app its own back; the
    # same for the logger's model_version key (Powertools loggers of one service share keys).
    manifest = served.slot.get().embedder.manifest
    served.telemetry.metrics.set_default_dimensions(
        ModelName=manifest.name, ModelVersion=manifest.version
    )
    served.telemetry.logger.append_keys(model_version=manifest.version)
    return handler


def body_of(response: dict[str, Any]) -> Any:
    raw = response["body"]
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return json.loads(raw)


@pytest.mark.parametrize("kind", ["http", "rest"])
def test_embed_through_api_gateway(handler: Any, kind: str, lambda_context: LambdaContext) -> None:
    event = api_event(kind, "POST", "/api/v1/embed", {"text": "갈비탕", "normalize": True})
    response = handler(event, lambda_context)
    assert response["statusCode"] == 200
    body = body_of(response)
    assert body["dim"] == 384
    assert abs(np.linalg.norm(body["embedding"]) - 1.0) < 1e-5
    headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
    # The request id of API Gateway's context becomes the response's X-Request-ID.
    assert headers["x-request-id"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize("kind", ["http", "rest"])
def test_base64_encoded_body(handler: Any, kind: str, lambda_context: LambdaContext) -> None:
    event = api_event(kind, "POST", "/api/v1/embed-batch", {"texts": ["a", "b"]}, base64_body=True)
    response = handler(event, lambda_context)
    assert response["statusCode"] == 200
    assert body_of(response)["count"] == 2


@pytest.mark.parametrize(
    ("kind", "method", "path"),
    [
        ("http", "GET", "/health"),
        ("rest", "GET", "/api/v1/model-info"),
        ("http", "GET", "/v1/models"),
    ],
)
def test_get_routes(
    handler: Any, kind: str, method: str, path: str, lambda_context: LambdaContext
) -> None:
    response = handler(api_event(kind, method, path), lambda_context)
    assert response["statusCode"] == 200
    assert body_of(response)


def test_bad_input_through_lambda_is_4xx_json(handler: Any, lambda_context: LambdaContext) -> None:
    response = handler(api_event("http", "POST", "/api/v1/embed", {"text": ""}), lambda_context)
    assert response["statusCode"] == 422
    assert body_of(response)["error"]["code"] == "empty_text"
    response = handler(api_event("rest", "POST", "/api/v1/embed", "{oops"), lambda_context)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "invalid_json"


def test_handler_emits_emf_metrics_and_correlated_logs(
    handler: Any, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.embed.app import served

    telemetry = served.telemetry

    log_handler = telemetry.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    logs = io.StringIO()
    previous = log_handler.setStream(logs)
    capsys.readouterr()
    try:
        event = api_event("http", "POST", "/api/v1/embed", {"text": "metrics please"})
        handler(event, lambda_context)
    finally:
        log_handler.setStream(previous)
    out = capsys.readouterr().out + logs.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    emf = [line for line in lines if "_aws" in line]
    names = {
        metric["Name"]
        for blob in emf
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert {"PreprocessTime", "InferenceTime", "PostprocessTime", "Tokens", "BatchSize"} <= names
    assert "RequestLatency" in names
    stage = next(blob for blob in emf if "InferenceTime" in blob)
    assert stage["ModelVersion"] == "1"
    assert stage["ModelName"] == "all-MiniLM-L6-v2"
    access = [line for line in lines if line.get("message") == "request"]
    assert len(access) == 1
    assert access[0]["correlation_id"] == "http-POST-/api/v1/embed"  # API Gateway's requestId
    assert access[0]["status"] == 200
    assert access[0]["model_version"] == "1"
    assert access[0]["function_request_id"] == lambda_context.aws_request_id
