"""Telemetry's cold-start and per-request costs: no X-Ray SDK for a tracer that records
nothing, no metrics collected when they are disabled, the Lambda entry's decorators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics, Tracer

from lamina.inference.lifecycle import StageTimings
from lamina.observability import NoTracingProvider, Telemetry
from tests.conftest import LambdaContext, api_event

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from lamina.observability import make_tracer
tracer = make_tracer("probe")
with tracer.provider.in_subsegment("## probe") as segment:
    segment.put_annotation("k", "v")
tracer.put_annotation("k", "v")
print(json.dumps({
    "disabled": bool(tracer.disabled),
    "provider": type(tracer.provider).__name__,
    "provider_module": type(tracer.provider).__module__,
    "xray_core": "aws_xray_sdk.core" in sys.modules,
    "botocore_session": "botocore.session" in sys.modules,
}))
"""


def probe_tracer(**env: str) -> dict[str, Any]:
    """make_tracer in a fresh interpreter (Powertools caches its tracer config per process)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_disabled_tracer_never_loads_the_xray_sdk() -> None:
    result = probe_tracer(POWERTOOLS_TRACE_DISABLED="true")
    assert result == {
        "disabled": True,
        "provider": "NoTracingProvider",
        "provider_module": "lamina.observability",
        "xray_core": False,
        "botocore_session": False,
    }


def test_outside_lambda_tracing_is_off_as_powertools_decides() -> None:
    assert probe_tracer()["provider"] == "NoTracingProvider"


def test_tracer_in_lambda_with_tracing_on_is_the_xray_one() -> None:
    result = probe_tracer(
        LAMBDA_TASK_ROOT=str(ROOT),
        AWS_LAMBDA_FUNCTION_NAME="probe",
        POWERTOOLS_TRACE_DISABLED="false",
    )
    assert result["disabled"] is False
    assert result["provider_module"].startswith("aws_xray_sdk.")
    assert result["xray_core"] is True


def test_no_tracing_provider_segments_accept_everything() -> None:
    provider = NoTracingProvider()
    with provider.in_subsegment("## x") as segment:
        segment.put_annotation("a", True)
        segment.put_metadata("b", {"c": 2})
        segment.add_exception(ValueError("boom"), [])
    provider.patch(["botocore"])
    provider.patch_all()


@pytest.fixture
def metrics() -> Any:
    made = Metrics(namespace="lamina-test", service="lamina-test")
    made.clear_metrics()
    yield made
    made.clear_metrics()


def telemetry(metrics: Metrics, *, enabled: bool) -> Telemetry:
    return Telemetry(
        logger=Logger(service="lamina-test"),
        metrics=metrics,
        tracer=Tracer(service="lamina-test", disabled=True, provider=NoTracingProvider()),
        metrics_enabled=enabled,
    )


@pytest.mark.parametrize("enabled", [True, False])
def test_per_request_metrics_only_when_enabled(metrics: Metrics, enabled: bool) -> None:
    t = telemetry(metrics, enabled=enabled)
    t.stages(StageTimings(1.0, 2.0, 3.0), items=4, tokens=40)
    t.request_done("POST", "/api/v1/embed", 200, 7.5)
    expected = {
        "PreprocessTime",
        "InferenceTime",
        "PostprocessTime",
        "BatchSize",
        "Tokens",
        "RequestLatency",
    }
    assert set(metrics.metric_set) == (expected if enabled else set())


def small_app(t: Telemetry) -> Any:
    from lamina.api.app import create_app
    from lamina.settings import Settings

    app = create_app(Settings(), t, title="probe", description="probe")

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        t.stages(StageTimings(1.0, 1.0, 1.0), items=1, tokens=3)
        return {"pong": "yes"}

    return app


@pytest.mark.parametrize("enabled", [True, False])
def test_lambda_entry_flushes_metrics_only_when_enabled(
    metrics: Metrics, enabled: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from lamina.api.lambda_entry import lambda_handler

    t = telemetry(metrics, enabled=enabled)
    handler = lambda_handler(small_app(t), t)
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = handler(api_event("http", "GET", "/ping"), LambdaContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"pong": "yes"}
    emf = [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    published = {
        metric["Name"]
        for line in emf
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    if enabled:
        assert {"InferenceTime", "RequestLatency"} <= published
    else:
        assert emf == []
        assert not [w for w in caught if "metrics" in str(w.message).lower()]


def test_several_models_label_each_request_with_the_model_that_answered(
    metrics: Metrics, capsys: pytest.CaptureFixture[str]
) -> None:
    """A function with several models: a request's metrics carry the model it picked; the
    next request starts again from the default model's dimensions."""
    from types import SimpleNamespace

    from lamina.api.app import create_app
    from lamina.api.lambda_entry import lambda_handler
    from lamina.settings import Settings

    t = telemetry(metrics, enabled=True)
    default = SimpleNamespace(name="all-MiniLM-L6-v2", version="1-int8")
    other = SimpleNamespace(name="multilingual-e5-small", version="1-q4")
    t.serving(default, default=True)
    app = create_app(Settings(), t, title="probe", description="probe")

    @app.get("/e5")
    async def e5() -> dict[str, str]:
        t.serving(other)
        t.stages(StageTimings(1.0, 1.0, 1.0), items=1, tokens=3)
        return {}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        t.stages(StageTimings(1.0, 1.0, 1.0), items=1, tokens=3)
        return {}

    handler = lambda_handler(app, t)
    names = []
    for path in ("/e5", "/plain"):
        capsys.readouterr()
        assert handler(api_event("http", "GET", path), LambdaContext())["statusCode"] == 200
        emf = [
            json.loads(line)
            for line in capsys.readouterr().out.splitlines()
            if '"InferenceTime"' in line
        ]
        assert len(emf) == 1, emf
        names.append((emf[0]["ModelName"], emf[0]["ModelVersion"]))
    assert names == [("multilingual-e5-small", "1-q4"), ("all-MiniLM-L6-v2", "1-int8")]
