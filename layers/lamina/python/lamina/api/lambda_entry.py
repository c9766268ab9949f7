"""The Lambda entry point of every HTTP function: API Gateway event -> Mangum -> FastAPI.

Each ``functions/<fn>/handler.py`` is one line: ``handler = lambda_handler(app, telemetry)``.
Powertools injects the Lambda context into logs, traces the invocation and flushes the EMF
metrics once per invocation (with the ColdStart metric).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from lamina.observability import Telemetry

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_handler(app: FastAPI, telemetry: Telemetry) -> LambdaHandler:
    """API Gateway (HTTP API v2 or REST v1) events through Mangum to ``app``."""
    asgi = Mangum(app, lifespan="off")

    @telemetry.logger.inject_lambda_context(log_event=False)
    @telemetry.tracer.capture_lambda_handler(capture_response=False)
    @telemetry.metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return asgi(event, context)

    return handler  # type: ignore[no-any-return]  # Powertools' decorators are untyped
