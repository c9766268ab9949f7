"""Lambda entry point: API Gateway (HTTP API v2 or REST v1) event -> Mangum -> FastAPI app."""

from __future__ import annotations

from functions.image_classify.app import served
from lamina.api.lambda_entry import lambda_handler

handler = lambda_handler(served.app, served.telemetry)
