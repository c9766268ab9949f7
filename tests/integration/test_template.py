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
    declared = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in template["Resources"]["EmbedFunction"]["Properties"]["Events"].values()
        if event["Type"] == "HttpApi"
    }
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
