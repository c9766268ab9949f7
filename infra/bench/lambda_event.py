"""API Gateway HTTP API (payload v2) events and a Lambda context, to call the handler in-process."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and Mangum read."""

    function_name: str = "lamina-bench-embed"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:lamina-bench-embed"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"


def http_api_event(
    method: str, path: str, payload: dict[str, Any] | None = None, request_id: str = "bench"
) -> dict[str, Any]:
    """A request (with a JSON body if ``payload``), as API Gateway's HTTP API hands it to Lambda."""
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": "bench.execute-api.us-east-1.amazonaws.com",
            "user-agent": "lamina-bench",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "lamina-bench",
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if payload is not None:
        event["body"] = json.dumps(payload)
    return event


def embed_event(text: str, request_id: str = "bench") -> dict[str, Any]:
    """POST /api/v1/embed for one text."""
    return http_api_event("POST", "/api/v1/embed", {"text": text, "normalize": True}, request_id)


def health_event(request_id: str = "bench") -> dict[str, Any]:
    """GET /health: the whole app without the model, to see what the framework costs."""
    return http_api_event("GET", "/health", None, request_id)


def ok_body(response: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of a 200 answer; raise if the call did not succeed."""
    status = response.get("statusCode")
    if status != 200:
        raise RuntimeError(f"handler answered {status}: {str(response.get('body'))[:300]}")
    body: dict[str, Any] = json.loads(response["body"])
    return body


def embedding_of(response: dict[str, Any]) -> list[float]:
    """The vector of a /api/v1/embed response; raise if the call did not succeed."""
    vector: list[float] = ok_body(response)["embedding"]
    return vector
