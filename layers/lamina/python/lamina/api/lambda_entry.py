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
    """API Gateway (HTTP API v2 or REST v1) events through Mangum to ``app``.

    A decorator that would do nothing is left out: the tracer's when tracing is off, the
    metrics flush when metrics are disabled (Powertools would warn, once per process, that
    there is nothing to publish, and still print the ColdStart metric).
    """
    asgi = Mangum(app, lifespan="off")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return asgi(event, context)

    wrapped: Any = handler
    if telemetry.metrics_enabled:
        wrapped = telemetry.metrics.log_metrics(wrapped, capture_cold_start_metric=True)
    if not telemetry.tracer.disabled:
        wrapped = telemetry.tracer.capture_lambda_handler(wrapped, capture_response=False)
    wrapped = telemetry.logger.inject_lambda_context(wrapped, log_event=False)
    return wrapped  # type: ignore[no-any-return]  # Powertools' decorators are untyped
