"""Lambda entry point of the batch submit function (zip + the lamina layer, no model).

S3 ObjectCreated on incoming/ -> stream the object, queue its chunks, write the job's
manifest. Errors propagate: Lambda retries the async invocation, and a retried submit
rewrites the same job (lamina.batch.submit).
"""

from __future__ import annotations

from typing import Any

from lamina.batch.handlers import build_submit_handler
from lamina.observability import get_telemetry
from lamina.settings import get_settings

settings = get_settings()
telemetry = get_telemetry(settings)
submit = build_submit_handler(settings, telemetry)


@telemetry.logger.inject_lambda_context(log_event=False)
@telemetry.tracer.capture_lambda_handler(capture_response=False)
@telemetry.metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return submit(event, context)
