"""Lambda entry point of the scheduled drift check (EventBridge, template.yaml's
DriftCheckFunction): every configured model's recent sample against its reference sample,
``DriftScore`` and ``DriftScoreMax`` published, an HTML and a JSON report written under the
samples bucket's reports/drift/ (``lamina.monitoring.check``; docs/monitoring.md).

It runs in the embedding image (numpy and the embedding models, whose reference samples are
in their directories); a model from the store is fetched and verified like at a cold start.
"""

from __future__ import annotations

from typing import Any

from lamina.monitoring.check import run_check
from lamina.observability import get_telemetry
from lamina.settings import get_settings

settings = get_settings()
telemetry = get_telemetry(settings)


@telemetry.logger.inject_lambda_context(log_event=False)
@telemetry.tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = run_check(settings, telemetry=telemetry)
    return {
        "score": run.score,
        "drifted": run.drifted,
        "report": run.report_key,
        "models": [
            {"model": r.model, "version": r.version, "status": r.status, "score": r.score}
            for r in run.results
        ],
        "skipped": [vars(s) for s in run.skipped],
    }
