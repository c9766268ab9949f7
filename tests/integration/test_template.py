"""template.yaml and the code must not drift: routes, handlers, environment, lint."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from lamina.observability import DIMENSIONS, MetricName
from lamina.settings import ENV_VARS, Settings
from tests.conftest import ROOT

TEMPLATE = ROOT / "template.yaml"
# Variables read by Powertools itself rather than by lamina.settings.
POWERTOOLS_ONLY = {"POWERTOOLS_LOG_LEVEL"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, matches = decode(str(TEMPLATE))
    assert not matches, matches
    assert parsed is not None
    return dict(parsed)


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: res
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def image_command(resource: dict[str, Any]) -> str:
    """The handler an image function runs: ImageConfig.Command, else the Dockerfile's CMD."""
    command = resource["Properties"].get("ImageConfig", {}).get("Command")
    if command:
        return str(command[0])
    dockerfile = ROOT / resource["Metadata"]["DockerContext"] / resource["Metadata"]["Dockerfile"]
    match = re.search(r'^CMD \["([^"]+)"\]', dockerfile.read_text(), re.MULTILINE)
    assert match, f"{dockerfile} has no exec-form CMD"
    return match.group(1)


def dockerfile_env(resource: dict[str, Any]) -> dict[str, str]:
    meta = resource["Metadata"]
    text = (ROOT / meta["DockerContext"] / meta["Dockerfile"]).read_text()
    return dict(re.findall(r"^ENV (\w+)=(\S+)", text, re.MULTILINE))


def test_every_handler_resolves_to_importable_code(
    template: dict[str, Any], embed_app: Any
) -> None:
    for name, resource in functions(template).items():
        target = (
            image_command(resource)
            if resource["Properties"].get("PackageType") == "Image"
            else resource["Properties"]["Handler"]
        )
        module_name, _, attr = target.rpartition(".")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attr, None)), f"{name}: {target} is not callable"


def test_template_routes_equal_app_routes(template: dict[str, Any], embed_app: Any) -> None:
    declared = template_routes(template, "EmbedFunction")
    served = {
        (method, route.path)
        for route in embed_app.routes
        for method in getattr(route, "methods", set())
        if method != "HEAD"
    }
    assert declared == served


def test_environment_matches_settings(template: dict[str, Any]) -> None:
    known = set(ENV_VARS.values()) | POWERTOOLS_ONLY
    global_env = template["Globals"]["Function"]["Environment"]["Variables"]
    for name, resource in functions(template).items():
        env = {
            **global_env,
            **resource["Properties"].get("Environment", {}).get("Variables", {}),
        }
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables no code reads: {unknown}"
        if resource["Properties"].get("PackageType") == "Image":
            env = {**dockerfile_env(resource), **env}
        # Every required setting is provided: validation succeeds from this environment.
        Settings.from_env({k: str(v) for k, v in env.items()})


def template_routes(template: dict[str, Any], function: str) -> set[tuple[str, str]]:
    return {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in template["Resources"][function]["Properties"]["Events"].values()
        if event["Type"] == "HttpApi"
    }


def test_api_definition_secures_exactly_the_event_routes(template: dict[str, Any]) -> None:
    body = template["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]
    defined = {(method.upper(), path) for path, ops in body["paths"].items() for method in ops}
    assert defined == template_routes(template, "EmbedFunction")


def custom_metric_alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        res["Properties"]
        for res in template["Resources"].values()
        if res["Type"] == "AWS::CloudWatch::Alarm"
        and not str(res["Properties"]["Namespace"]).startswith("AWS/")
    ]


def test_alarms_point_at_metrics_the_code_emits(template: dict[str, Any]) -> None:
    namespace = template["Globals"]["Function"]["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"
    ]
    services = {
        template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    }
    alarms = custom_metric_alarms(template)
    assert alarms, "expected at least one alarm on lamina's own metrics"
    for alarm in alarms:
        assert alarm["Namespace"] == namespace
        assert alarm["MetricName"] in {m.value for m in MetricName}
        names = tuple(sorted(d["Name"] for d in alarm["Dimensions"]))
        # CloudWatch matches an alarm only on the exact dimension set a metric is published with.
        assert names == tuple(sorted(DIMENSIONS[alarm["MetricName"]])), alarm["MetricName"]
        service = next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "service")
        assert service in services


def test_dashboard_searches_metrics_the_code_emits(template: dict[str, Any]) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    searches = re.findall(r'SEARCH\(\'\{(\w+),([\w,]+)\} MetricName=\\"(\w+)\\"', body)
    assert len(searches) >= 8
    for namespace, dims, metric in searches:
        assert namespace == "lamina"
        assert metric in {m.value for m in MetricName}, metric
        assert set(dims.split(",")) == set(DIMENSIONS[metric]), metric


def _resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """Resolve Fn::If / Ref AWS::NoValue the way CloudFormation does, for given conditions."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return _resolve(yes if conditions[name] else no, conditions)
        if node == {"Ref": "AWS::NoValue"}:
            return _NOVALUE
        out = {k: _resolve(v, conditions) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NOVALUE}
    if isinstance(node, list):
        return [item for item in (_resolve(i, conditions) for i in node) if item is not _NOVALUE]
    return node


_NOVALUE = object()


@pytest.mark.parametrize(("api_auth", "scheme"), [("NONE", None), ("IAM", "sigv4"), ("JWT", "jwt")])
def test_api_auth_parameter_secures_every_route(api_auth: str, scheme: str | None) -> None:
    """Translate with SAM, then resolve conditions as CloudFormation would for ApiAuth."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    raw, _ = decode(str(TEMPLATE))
    assert raw is not None
    raw = dict(raw)
    raw["Resources"]["EmbedFunction"]["Properties"]["ImageUri"] = "1.dkr.ecr.x/lamina:1"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    out = transform(raw, {}, NoManagedPolicies())
    conditions = {"UseJwt": api_auth == "JWT", "UseIam": api_auth == "IAM"}
    body = _resolve(out["Resources"]["HttpApi"]["Properties"]["Body"], conditions)
    for path, ops in body["paths"].items():
        for method, op in ops.items():
            integration = op["x-amazon-apigateway-integration"]
            assert "EmbedFunctionAliaslive" in integration["uri"]["Fn::Sub"], (path, method)
            if scheme is None:
                assert "security" not in op, (path, method)
            else:
                assert op["security"] == [{scheme: []}], (path, method)
    schemes = body.get("components", {}).get("securitySchemes", {})
    assert set(schemes) == ({scheme} if scheme else set())
    if scheme == "jwt":
        config = schemes["jwt"]["x-amazon-apigateway-authorizer"]["jwtConfiguration"]
        assert config == {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}}


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_validate_lint() -> None:
    sam = ROOT / ".venv-sam/bin/sam"
    sam_path = str(sam) if sam.exists() else shutil.which("sam")
    if sam_path is None:
        pytest.fail("SAM CLI not found: run `make sam-cli` (installs it into .venv-sam)")
    result = subprocess.run(
        [sam_path, "validate", "--lint", "--region", "us-east-1", "--template", str(TEMPLATE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid SAM Template" in result.stdout + result.stderr
