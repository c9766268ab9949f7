"""Powertools logger, EMF metrics and tracer, configured once from Settings.

Metric names live here (``MetricName``) so alarms and dashboards in ``template.yaml``
can be checked against what the code emits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from lamina.settings import Settings

if TYPE_CHECKING:  # the batch submit function imports this module without numpy
    from lamina.inference.embedder import EmbeddingResult
    from lamina.inference.lifecycle import StageTimings
    from lamina.models.manifest import Manifest


class MetricName(StrEnum):
    # the three stages of every model (lamina.inference.lifecycle)
    PREPROCESS_TIME = "PreprocessTime"
    INFERENCE_TIME = "InferenceTime"
    POSTPROCESS_TIME = "PostprocessTime"
    TOKENS = "Tokens"
    BATCH_SIZE = "BatchSize"
    MODEL_LOAD_TIME = "ModelLoadTime"
    MODEL_LOAD_FAILURES = "ModelLoadFailures"
    REQUEST_LATENCY = "RequestLatency"
    SERVER_ERRORS = "ServerErrors"
    # batch jobs
    JOBS_SUBMITTED = "JobsSubmitted"
    RECORDS_REJECTED = "RecordsRejected"
    RECORDS_EMBEDDED = "RecordsEmbedded"
    CHUNKS_FAILED = "ChunksFailed"
    # Powertools emits this one itself (log_metrics(capture_cold_start_metric=True)).
    COLD_START = "ColdStart"


# Dimension sets each metric is published with: what alarms and dashboards may select on.
MODEL_DIMENSIONS = ("ModelName", "ModelVersion", "service")
DIMENSIONS: dict[str, tuple[str, ...]] = {
    **{name.value: MODEL_DIMENSIONS for name in MetricName},
    # Alarmable whatever the model version: published on its own with `service` only.
    MetricName.SERVER_ERRORS.value: ("service",),
    MetricName.MODEL_LOAD_FAILURES.value: ("service",),
    # The submit function has no model; a given-up chunk is alarmable whatever the model.
    MetricName.JOBS_SUBMITTED.value: ("service",),
    MetricName.RECORDS_REJECTED.value: ("service",),
    MetricName.CHUNKS_FAILED.value: ("service",),
    MetricName.COLD_START.value: ("function_name", "service"),
}


@dataclass(frozen=True)
class Telemetry:
    logger: Logger
    metrics: Metrics
    tracer: Tracer

    def model_loaded(self, manifest: Manifest, load_ms: float, *, only: bool = True) -> None:
        """Record a cold-start model load.

        ``only`` (a function with one model): every later metric carries the model's name and
        version as default dimensions. A function serving several models (the Open Inference
        Protocol one) publishes each load time on its own, with that model's dimensions.
        """
        if only:
            self.metrics.set_default_dimensions(
                ModelName=manifest.name, ModelVersion=manifest.version
            )
            self.metrics.add_metric(MetricName.MODEL_LOAD_TIME, MetricUnit.Milliseconds, load_ms)
            self.logger.append_keys(model_version=manifest.version)
        else:
            with single_metric(
                name=MetricName.MODEL_LOAD_TIME,
                unit=MetricUnit.Milliseconds,
                value=load_ms,
                namespace=self.metrics.namespace,
                default_dimensions={
                    "ModelName": manifest.name,
                    "ModelVersion": manifest.version,
                    "service": str(self.metrics.service),
                },
            ):
                pass
        self.logger.info(
            "model loaded",
            extra={
                "model": manifest.name,
                "model_version": manifest.version,
                "model_digest": manifest.digest,
                "load_ms": round(load_ms, 2),
            },
        )

    def model_load_failed(self, error: Exception) -> None:
        """The model was refused or missing: say so loudly; the function serves 503s."""
        self.logger.error(
            "model load failed: refusing to serve",
            extra={"error": str(error), "error_type": type(error).__name__},
        )
        self._count(MetricName.MODEL_LOAD_FAILURES)

    def _count(self, name: MetricName, value: float = 1) -> None:
        """A count published on its own with `service` only, so alarms match any model."""
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=self.metrics.namespace,
            default_dimensions={"service": str(self.metrics.service)},
        ):
            pass

    def job_submitted(self, job_id: str, lines: int, rejected: int, chunks: int) -> None:
        self.logger.info(
            "job submitted",
            extra={"job": job_id, "lines": lines, "rejected": rejected, "chunks": chunks},
        )
        self._count(MetricName.JOBS_SUBMITTED)
        self._count(MetricName.RECORDS_REJECTED, rejected)

    def chunk_failed(self) -> None:
        """A chunk was given up after its last receive; its records are in errors.jsonl."""
        self._count(MetricName.CHUNKS_FAILED)

    def request_done(self, method: str, path: str, status: int, latency_ms: float) -> None:
        """Every request: an access log line, its latency, and a count of 5xx responses."""
        self.logger.info(
            "request",
            extra={"method": method, "path": path, "status": status, "ms": round(latency_ms, 2)},
        )
        self.metrics.add_metric(MetricName.REQUEST_LATENCY, MetricUnit.Milliseconds, latency_ms)
        if status >= 500:
            self._count(MetricName.SERVER_ERRORS)

    def stages(self, timings: StageTimings, items: int, tokens: int | None = None) -> None:
        """One model call: the time of each lifecycle stage, its batch size and tokens."""
        add = self.metrics.add_metric
        add(MetricName.PREPROCESS_TIME, MetricUnit.Milliseconds, timings.preprocess_ms)
        add(MetricName.INFERENCE_TIME, MetricUnit.Milliseconds, timings.inference_ms)
        add(MetricName.POSTPROCESS_TIME, MetricUnit.Milliseconds, timings.postprocess_ms)
        add(MetricName.BATCH_SIZE, MetricUnit.Count, items)
        self.tracer.put_annotation("batch_size", str(items))
        if tokens is not None:
            add(MetricName.TOKENS, MetricUnit.Count, tokens)
            self.tracer.put_annotation("tokens", str(tokens))
        self.tracer.put_metadata("timings_ms", timings.__dict__)

    def embedded(self, result: EmbeddingResult) -> None:
        """Per-request stage timings, tokens and batch size of an embedding call."""
        self.stages(result.timings, len(result.token_counts), result.total_tokens)


@lru_cache(maxsize=1)
def get_telemetry(settings: Settings) -> Telemetry:
    return Telemetry(
        logger=Logger(service=settings.service_name),
        metrics=Metrics(namespace=settings.metrics_namespace, service=settings.service_name),
        tracer=Tracer(service=settings.service_name),
    )
