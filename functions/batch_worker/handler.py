"""Lambda entry point of the batch worker (image with the model): SQS chunk messages ->
parts in S3, answered with a partial batch response (ReportBatchItemFailures), so only
the failed messages come back. A job that names a search collection is loaded into it by
the same function (its load message comes through the same queue): the loader is wired
here, where the batch package (which knows no database) meets lamina.search.
"""

from __future__ import annotations

from typing import Any

from lamina.batch.handlers import build_worker_handler
from lamina.observability import get_telemetry
from lamina.search.jobload import loader_from_settings
from lamina.settings import get_settings

settings = get_settings()
telemetry = get_telemetry(settings)
# The model loads here, once per container; the database is reached on the first load.
work = build_worker_handler(settings, telemetry, loader_from_settings(settings, telemetry))


@telemetry.logger.inject_lambda_context(log_event=False)
@telemetry.tracer.capture_lambda_handler(capture_response=False)
@telemetry.metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return work(event, context)
