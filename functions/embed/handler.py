"""Lambda entry point: API Gateway (HTTP API v2 or REST v1) event -> Mangum -> FastAPI app."""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from functions.embed.app import app, telemetry

_asgi = Mangum(app, lifespan="off")


@telemetry.logger.inject_lambda_context(log_event=False)
@telemetry.tracer.capture_lambda_handler(capture_response=False)
@telemetry.metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _asgi(event, context)
