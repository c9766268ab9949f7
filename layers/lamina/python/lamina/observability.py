"""Powertools logger, EMF metrics and tracer, configured once from Settings.

Metric names live here (``MetricName``) so alarms and dashboards in ``template.yaml``
can be checked against what the code emits.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from lamina.settings import Settings


class ModelIdentity(Protocol):
    """What a load is recorded by (a ``lamina.models.manifest.Manifest``)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def digest(self) -> str: ...


class Timings(Protocol):
    """Milliseconds per lifecycle stage (``lamina.inference.lifecycle.StageTimings``)."""

    @property
    def preprocess_ms(self) -> float: ...

    @property
    def inference_ms(self) -> float: ...

    @property
    def postprocess_ms(self) -> float: ...


class VariantAnswer(Protocol):
    """Who answered a request under an A/B test (``lamina.api.variants.Assignment``)."""

    @property
    def model(self) -> str: ...

    @property
    def variant(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def counted(self) -> bool: ...


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
    # a job loading itself into a search collection (lamina.batch.loading)
    ITEMS_LOADED = "ItemsLoaded"
    LOADS_FAILED = "LoadsFailed"
    # A/B tests (lamina.api.variants): per request answered under a test, per outcome
    VARIANT_LATENCY = "VariantLatency"
    VARIANT_ERRORS = "VariantErrors"
    OUTCOME = "Outcome"
    REWARD = "Reward"
    # what the texts of a request were (lamina.monitoring.inputs): drift's cheap signals
    UNKNOWN_TOKENS = "UnknownTokens"
    TRUNCATED_TEXTS = "TruncatedTexts"
    SCRIPT_HANGUL = "ScriptHangul"
    SCRIPT_LATIN = "ScriptLatin"
    SCRIPT_HAN = "ScriptHan"
    SCRIPT_CYRILLIC = "ScriptCyrillic"
    SCRIPT_OTHER = "ScriptOther"
    # what a classifier answered: its top label's probability, and each label's count
    CONFIDENCE = "Confidence"
    PREDICTIONS = "Predictions"
    # the scheduled drift check (lamina.monitoring.drift): 1.0 and above is drift
    DRIFT_SCORE = "DriftScore"
    DRIFT_SCORE_MAX = "DriftScoreMax"  # the worst of one check run: what the alarm watches
    # Powertools emits this one itself (log_metrics(capture_cold_start_metric=True)).
    COLD_START = "ColdStart"


# Dimension sets each metric is published with: what alarms and dashboards may select on.
MODEL_DIMENSIONS = ("ModelName", "ModelVersion", "service")
VARIANT_DIMENSIONS = ("ModelName", "Variant", "service")
DIMENSIONS: dict[str, tuple[str, ...]] = {
    **{name.value: MODEL_DIMENSIONS for name in MetricName},
    # Alarmable whatever the model version: published on its own with `service` only.
    MetricName.SERVER_ERRORS.value: ("service",),
    MetricName.MODEL_LOAD_FAILURES.value: ("service",),
    # The submit function has no model; a given-up chunk is alarmable whatever the model.
    MetricName.JOBS_SUBMITTED.value: ("service",),
    MetricName.RECORDS_REJECTED.value: ("service",),
    MetricName.CHUNKS_FAILED.value: ("service",),
    MetricName.ITEMS_LOADED.value: ("service",),
    MetricName.LOADS_FAILED.value: ("service",),
    MetricName.COLD_START.value: ("function_name", "service"),
    # A/B tests: per variant of a model, whatever its versions
    **{
        name.value: VARIANT_DIMENSIONS
        for name in (
            MetricName.VARIANT_LATENCY,
            MetricName.VARIANT_ERRORS,
            MetricName.OUTCOME,
            MetricName.REWARD,
        )
    },
    MetricName.PREDICTIONS.value: ("ModelName", "ModelVersion", "Label", "service"),
    MetricName.DRIFT_SCORE.value: ("ModelName", "ModelVersion", "service"),
    MetricName.DRIFT_SCORE_MAX.value: ("service",),
}
SCRIPT_METRICS = {
    "hangul": MetricName.SCRIPT_HANGUL,
    "latin": MetricName.SCRIPT_LATIN,
    "han": MetricName.SCRIPT_HAN,
    "cyrillic": MetricName.SCRIPT_CYRILLIC,
    "other": MetricName.SCRIPT_OTHER,
}


@dataclass(frozen=True)
class Telemetry:
    logger: Logger
    metrics: Metrics
    tracer: Tracer
    # False under POWERTOOLS_METRICS_DISABLED (benchmarks, `make serve`): per-request metrics
    # are then not collected at all. Powertools would keep them, never flush them, format the
    # growing lists again on every add (a large share of the app's own time per request
    # under cProfile: docs/performance.md, "Cold start and the cost of a request") and still
    # print them every 100 values.
    metrics_enabled: bool = True
    # A function with several models (the embedding function): its default model's
    # dimensions, restored at the start of every request (``request_started``).
    _default_dimensions: dict[str, str] = field(default_factory=dict)

    def serving(self, manifest: ModelIdentity, *, default: bool = False) -> None:
        """The rest of this request's metrics carry ``manifest``'s name and version as
        dimensions (a function with several models calls it when a request picks one);
        ``default``: also every later request's, until one picks another model."""
        dimensions = {"ModelName": manifest.name, "ModelVersion": manifest.version}
        if default:
            self._default_dimensions.clear()
            self._default_dimensions.update(dimensions)
        if self.metrics_enabled:
            self._switch_dimensions(dimensions)

    def request_started(self) -> None:
        """A new request: back to the default model's dimensions (several models only)."""
        if self._default_dimensions and self.metrics_enabled:
            self._switch_dimensions(self._default_dimensions)

    def _switch_dimensions(self, dimensions: dict[str, str]) -> None:
        # Replacing a dimension is the point here; Powertools warns on every replacement.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Dimension .* has already been added")
            self.metrics.set_default_dimensions(**dimensions)

    def model_loaded(
        self,
        manifest: ModelIdentity,
        load_ms: float,
        *,
        only: bool = True,
        variant: str | None = None,
    ) -> None:
        """Record a cold-start model load.

        ``only`` (a function with one model): every later metric carries the model's name and
        version as default dimensions. A function serving several models (the Open Inference
        Protocol one) publishes each load time on its own, with that model's dimensions.
        """
        if only:
            self.metrics.set_default_dimensions(
                ModelName=manifest.name, ModelVersion=manifest.version
            )
            self._add(MetricName.MODEL_LOAD_TIME, MetricUnit.Milliseconds, load_ms)
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
                **({"variant": variant} if variant else {}),
            },
        )

    def model_load_failed(self, error: Exception) -> None:
        """The model was refused or missing: say so loudly; the function serves 503s."""
        self.logger.error(
            "model load failed: refusing to serve",
            extra={"error": str(error), "error_type": type(error).__name__},
        )
        self._count(MetricName.MODEL_LOAD_FAILURES)

    def _add(self, name: MetricName, unit: MetricUnit, value: float) -> None:
        """One value of a metric published with the default dimensions (flushed per request)."""
        if self.metrics_enabled:
            self.metrics.add_metric(name, unit, value)

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

    def load_failed(self) -> None:
        """A job's load into its collection failed (its manifest's load.error says why)."""
        self._count(MetricName.LOADS_FAILED)

    def items_loaded(self, items: int) -> None:
        """Items of a job loaded into its collection (one part)."""
        self._count(MetricName.ITEMS_LOADED, items)

    def request_done(
        self,
        method: str,
        path: str,
        status: int,
        latency_ms: float,
        variant: VariantAnswer | None = None,
    ) -> None:
        """Every request: an access log line, its latency, and a count of 5xx responses;
        under an A/B test also the variant that answered and its per-variant metrics."""
        extra: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": status,
            "ms": round(latency_ms, 2),
        }
        if variant is not None:
            extra.update(
                model=variant.model, variant=variant.variant, model_version=variant.version
            )
        self.logger.info("request", extra=extra)
        self._add(MetricName.REQUEST_LATENCY, MetricUnit.Milliseconds, latency_ms)
        if status >= 500:
            self._count(MetricName.SERVER_ERRORS)
        if variant is not None and variant.counted:
            with self._variant_metrics(variant.model, variant.variant) as metrics:
                metrics.add_metric(MetricName.VARIANT_LATENCY, MetricUnit.Milliseconds, latency_ms)
                metrics.add_metric(MetricName.VARIANT_ERRORS, MetricUnit.Count, int(status >= 500))

    def outcome(self, model: str, variant: str, outcome: bool | None, reward: float | None) -> None:
        """An outcome a caller reported for an answer of ``variant`` (POST /api/v1/outcomes)."""
        self.logger.info(
            "outcome",
            extra={"model": model, "variant": variant, "outcome": outcome, "reward": reward},
        )
        with self._variant_metrics(model, variant) as metrics:
            if outcome is not None:
                metrics.add_metric(MetricName.OUTCOME, MetricUnit.Count, int(outcome))
            if reward is not None:
                metrics.add_metric(MetricName.REWARD, MetricUnit.NoUnit, reward)

    @contextmanager
    def _variant_metrics(self, model: str, variant: str) -> Generator[EphemeralMetrics, None, None]:
        """Metrics of one model's variant, published together as one EMF line."""
        metrics = EphemeralMetrics(
            namespace=self.metrics.namespace, service=str(self.metrics.service)
        )
        metrics.add_dimension("ModelName", model)
        metrics.add_dimension("Variant", variant)
        yield metrics
        if self.metrics_enabled:
            metrics.flush_metrics()

    def text_inputs(self, unknown: int, truncated: int, scripts: dict[str, int]) -> None:
        """What the texts of one model call were: unknown tokens, texts cut, letters by
        script (``lamina.monitoring.inputs``); published with the model's dimensions."""
        self._add(MetricName.UNKNOWN_TOKENS, MetricUnit.Count, unknown)
        self._add(MetricName.TRUNCATED_TEXTS, MetricUnit.Count, truncated)
        for script, name in SCRIPT_METRICS.items():
            self._add(name, MetricUnit.Count, scripts.get(script, 0))

    def predictions(
        self, manifest: ModelIdentity, labels: Sequence[str], confidences: Sequence[float]
    ) -> None:
        """A classifier's answers: each top label's probability, and how many texts got each
        label (one EMF line per request, with a ``Label`` dimension)."""
        if not self.metrics_enabled or not labels:
            return
        for confidence in confidences:
            self._add(MetricName.CONFIDENCE, MetricUnit.NoUnit, confidence)
        counts: dict[str, int] = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        for label, count in counts.items():
            with single_metric(
                name=MetricName.PREDICTIONS,
                unit=MetricUnit.Count,
                value=count,
                namespace=self.metrics.namespace,
                default_dimensions={
                    "ModelName": manifest.name,
                    "ModelVersion": manifest.version,
                    "Label": label,
                    "service": str(self.metrics.service),
                },
            ):
                pass

    def drift_score_max(self, score: float) -> None:
        """The worst drift score of a check run, alarmable whatever the models' versions."""
        with single_metric(
            name=MetricName.DRIFT_SCORE_MAX,
            unit=MetricUnit.NoUnit,
            value=score,
            namespace=self.metrics.namespace,
            default_dimensions={"service": str(self.metrics.service)},
        ):
            pass

    def drift_score(self, model: str, version: str, score: float) -> None:
        """The drift check's score of one model version (1.0 and above: drift)."""
        with single_metric(
            name=MetricName.DRIFT_SCORE,
            unit=MetricUnit.NoUnit,
            value=score,
            namespace=self.metrics.namespace,
            default_dimensions={
                "ModelName": model,
                "ModelVersion": version,
                "service": str(self.metrics.service),
            },
        ):
            pass

    def stages(self, timings: Timings, items: int, tokens: int | None = None) -> None:
        """One model call: the time of each lifecycle stage, its batch size and tokens."""
        add = self._add
        add(MetricName.PREPROCESS_TIME, MetricUnit.Milliseconds, timings.preprocess_ms)
        add(MetricName.INFERENCE_TIME, MetricUnit.Milliseconds, timings.inference_ms)
        add(MetricName.POSTPROCESS_TIME, MetricUnit.Milliseconds, timings.postprocess_ms)
        add(MetricName.BATCH_SIZE, MetricUnit.Count, items)
        self.tracer.put_annotation("batch_size", str(items))
        if tokens is not None:
            add(MetricName.TOKENS, MetricUnit.Count, tokens)
            self.tracer.put_annotation("tokens", str(tokens))
        self.tracer.put_metadata(
            "timings_ms",
            {
                "preprocess_ms": timings.preprocess_ms,
                "inference_ms": timings.inference_ms,
                "postprocess_ms": timings.postprocess_ms,
            },
        )


class _NoSegment(BaseSegment):
    """The segment of a tracer that records nothing."""

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class NoTracingProvider(BaseProvider):
    """A Powertools tracing provider that records nothing and imports nothing."""

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: Any = None, **kwargs: Any
    ) -> AsyncGenerator[BaseSegment, None]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


def metrics_disabled() -> bool:
    """Powertools' own rule (POWERTOOLS_METRICS_DISABLED, POWERTOOLS_DEV); False for a
    Powertools that predates the switch."""
    try:
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled
    except ImportError:  # pragma: no cover - Powertools < 3.4
        return False
    return bool(is_metrics_disabled())


def tracing_disabled() -> bool:
    """Powertools' own rule: POWERTOOLS_TRACE_DISABLED, or not running in Lambda (or in SAM
    local). A Powertools without that helper gets the default tracer (never less tracing)."""
    check = getattr(Tracer, "_is_tracer_disabled", None)
    return bool(check()) if callable(check) else False


def make_tracer(service: str) -> Tracer:
    """Powertools' Tracer, without the X-Ray SDK when tracing is off.

    Powertools imports ``aws_xray_sdk.core`` for every Tracer, a disabled one included, and
    outside Lambda the X-Ray recorder creates two botocore clients for its sampling rules: a
    large part of the embedding function's cold start time and memory (measured with
    ``infra/bench/coldstart.py``: docs/performance.md, "Cold start and the cost of a
    request") for a tracer that records nothing. When tracing is
    off, the tracer gets a provider that does nothing instead. When it is on (Lambda with
    ``Tracing: Active``) nothing changes: the X-Ray SDK loads and patches at init, so the
    first request does not pay for it.
    """
    if tracing_disabled():
        return Tracer(service=service, disabled=True, provider=NoTracingProvider())
    return Tracer(service=service)


@lru_cache(maxsize=1)
def get_telemetry(settings: Settings) -> Telemetry:
    return Telemetry(
        logger=Logger(service=settings.service_name),
        metrics=Metrics(namespace=settings.metrics_namespace, service=settings.service_name),
        tracer=make_tracer(settings.service_name),
        metrics_enabled=not metrics_disabled(),
    )
