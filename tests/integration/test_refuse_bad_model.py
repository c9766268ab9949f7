"""A model that fails its checks is never served: the process stays up and says why.

Each case runs the Lambda handler in a fresh process (settings and the model load once per
process), with MODEL_URI pointing at a broken copy of the fp32 model directory.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, model_dir

SCRIPT = """
import json, sys
from tests.conftest import LambdaContext, api_event
from functions.embed.handler import handler
out = {}
routes = [
    ("GET", "/health", None),
    ("POST", "/api/v1/embed", {"text": "hi"}),
    ("GET", "/api/v1/model-info", None),
]
for method, path, body in routes:
    response = handler(api_event("http", method, path, body), LambdaContext())
    out[path] = {"status": response["statusCode"], "body": json.loads(response["body"])}
print("RESULT " + json.dumps(out))
"""


def run_handler(
    model_uri: str, extra_env: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cold-start the Lambda handler in a new process; call /health, embed and model-info."""
    env = {
        **os.environ,
        **(extra_env or {}),
        "MODEL_URI": model_uri,
        "POWERTOOLS_SERVICE_NAME": "lamina-embed",
        "AWS_LAMBDA_FUNCTION_NAME": "lamina-embed",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    result = json.loads(next(x for x in lines if x.startswith("RESULT "))[len("RESULT ") :])
    logs = [json.loads(x) for x in lines if x.startswith("{")]
    return result, logs


def broken_copy(source: Path, target: Path, how: str) -> Path:
    target.mkdir()
    for item in source.iterdir():
        # a copy, not a hard link: onnx.load refuses a weights file with several links
        # ("hardlink attack"), and pytest keeps tmp_path after the run
        shutil.copyfile(item, target / item.name)
    tokenizer = target / "tokenizer.json"
    if how == "tampered":
        data = bytearray(tokenizer.read_bytes())
        data[-2] = ord(" ") if data[-2] != ord(" ") else ord("\n")  # same size, other bytes
        tokenizer.write_bytes(bytes(data))
    elif how == "truncated":
        tokenizer.write_bytes(tokenizer.read_bytes()[:-100])
    elif how == "missing":
        tokenizer.unlink()
    return target


def assert_refused(result: dict[str, Any], logs: list[dict[str, Any]]) -> dict[str, Any]:
    """503 model_unavailable on /health and embed, one ERROR log line: returned."""
    for path in ("/health", "/api/v1/embed"):
        assert result[path]["status"] == 503, result
        assert result[path]["body"]["error"]["code"] == "model_unavailable"
    refused = [x for x in logs if x.get("message") == "model load failed: refusing to serve"]
    assert len(refused) == 1
    assert refused[0]["level"] == "ERROR"
    return refused[0]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["tampered", "truncated", "missing"])
def test_broken_model_is_refused_and_health_fails(fp32_dir: Path, tmp_path: Path, how: str) -> None:
    model = broken_copy(fp32_dir, tmp_path / "model", how)
    result, logs = run_handler(str(model))
    refused = assert_refused(result, logs)
    assert "tokenizer.json" in refused["error"]
    failures = [x for x in logs if "ModelLoadFailures" in x]
    assert failures
    assert failures[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]


@pytest.mark.slow
def test_missing_directory_is_refused(tmp_path: Path) -> None:
    """The reason (with the path) is logged; the body has a fixed message and no path."""
    result, logs = run_handler(str(tmp_path / "nowhere"))
    refused = assert_refused(result, logs)
    assert "does not exist" in refused["error"]
    for path in ("/health", "/api/v1/embed", "/api/v1/model-info"):
        assert result[path]["status"] == 503
        assert "not loaded" in result[path]["body"]["error"]["message"]
        assert str(tmp_path) not in json.dumps(result[path]["body"])
        assert result[path]["body"]["error"]["request_id"]


@pytest.mark.slow
def test_model_whose_digest_is_not_the_pinned_one_is_refused(
    fp32_dir: Path, tmp_path: Path
) -> None:
    """LAMINA_MODEL_DIGEST: a model that matches its own manifest but not the configured
    fingerprint (someone replaced files and manifest) -> 503, the reason in the logs only."""
    pinned = "0" * 64
    result, logs = run_handler(str(fp32_dir), {"LAMINA_MODEL_DIGEST": pinned})
    refused = assert_refused(result, logs)
    assert f"LAMINA_MODEL_DIGEST pins {pinned}" in refused["error"]
    for path in ("/health", "/api/v1/embed"):
        body = json.dumps(result[path]["body"])
        assert pinned not in body
        assert str(fp32_dir) not in body


@pytest.mark.slow
def test_model_with_the_pinned_digest_is_served(fp32_dir: Path) -> None:
    from lamina.models.manifest import read_manifest

    digest = read_manifest(fp32_dir).digest
    result, logs = run_handler(str(fp32_dir), {"LAMINA_MODEL_DIGEST": f"all-MiniLM-L6-v2={digest}"})
    assert result["/api/v1/embed"]["status"] == 200, result
    assert result["/api/v1/model-info"]["body"]["sha256"] == digest
    assert not [x for x in logs if x.get("level") == "ERROR"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_model_whose_vectors_differ_from_its_build_host_is_refused(
    variant: str, tmp_path: Path
) -> None:
    """The cold-start fidelity check: the manifest's vectors no longer match what this
    host computes (here: each text's stored vector is another text's) -> 503, the ERROR
    log gives the numbers and both CPUs, ModelLoadFailures counts it."""
    source = model_dir(variant)
    model = broken_copy(source, tmp_path / "model", "none")
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    vectors = manifest["fidelity"]["vectors"]
    manifest["fidelity"]["vectors"] = vectors[1:] + vectors[:1]
    (model / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    result, logs = run_handler(str(model))

    refused = assert_refused(result, logs)
    assert refused["error_type"] == "ModelFidelityError"
    assert "computes different vectors on this CPU than on its build host" in refused["error"]
    assert f"build host: {platform.machine()}" in refused["error"]
    assert any("ModelLoadFailures" in x for x in logs)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_built_model_passes_its_fidelity_check_here(variant: str) -> None:
    """The other outcome: the build's own vectors are reproduced on this host -> served."""
    result, logs = run_handler(str(model_dir(variant)))
    assert result["/api/v1/embed"]["status"] == 200, result
    assert result["/health"]["status"] == 200
    assert not [x for x in logs if x.get("level") == "ERROR"]
