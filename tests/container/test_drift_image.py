"""The scheduled drift check in the image `sam build` made for DriftCheckFunction, run as Lambda
runs it (read-only filesystem but /tmp, the Lambda user): its handler compares samples with
the reference samples baked into the embedding models' directories (checked against their
manifests), publishes DriftScore and writes its report, with nothing but the image."""

from __future__ import annotations

import json

import pytest

from tests.container.conftest import Stack, built_image
from tests.container.test_image import LAMBDA_USER

pytestmark = pytest.mark.slow

# In the container: Korean texts embedded by the image's own MiniLM, sampled as the embedding
# function samples them, then the handler with the template's environment (the image's two
# embedding models), its samples and reports under /tmp.
RUN_CHECK = """
import json, os
from lamina.inference.embedder import OnnxEmbedder
from lamina.monitoring.inputs import text_stats
from lamina.monitoring.samples import Sampler, text_records
import pathlib
minilm = OnnxEmbedder.load(pathlib.Path("/opt/ml/model"))
texts = [f"오늘 저녁은 김치찌개와 된장찌개 {i}인분" for i in range(150)]
result = minilm.embed(texts)
stats = text_stats(texts, result.token_counts, result.truncated, result.unknown_tokens)
records = text_records(minilm.manifest.name, minilm.manifest.version, "control", stats,
                       vectors=result.vectors.tolist())
sampler = Sampler(os.environ["LAMINA_SAMPLE_URI"], 1.0, False)
for start in range(0, len(records), 10):
    sampler.write(minilm.manifest.name, records[start:start + 10])

class Context:
    function_name = "lamina-drift"; memory_limit_in_mb = 1024; aws_request_id = "drift-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lamina-drift"

from functions.drift_check.handler import handler
answer = handler({"source": "aws.events"}, Context())
print("ANSWER " + json.dumps(answer))
"""


def test_the_drift_check_runs_in_its_image(stack: Stack) -> None:
    image = built_image("DriftCheckFunction")
    done = stack.run(
        stack.engine,
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--user",
        LAMBDA_USER,
        "--env",
        "LAMINA_MODELS=/opt/ml/model,/opt/ml/models/multilingual-e5-small",
        "--env",
        "LAMINA_SAMPLE_URI=/tmp/monitoring",
        "--env",
        "POWERTOOLS_SERVICE_NAME=lamina-drift",
        "--entrypoint",
        "python3",
        image,
        "-c",
        RUN_CHECK,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("ANSWER ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    answer = json.loads(lines[-1].removeprefix("ANSWER "))
    models = {m["model"]: m for m in answer["models"]}
    assert models["all-MiniLM-L6-v2"]["status"] == "drift", answer
    assert models["multilingual-e5-small"]["status"] == "insufficient_data", answer
    assert answer["report"].startswith("/tmp/monitoring/reports/drift/"), answer
    emf = [json.loads(line) for line in done.stdout.splitlines() if '"_aws"' in line]
    names = {
        metric["Name"] for line in emf for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert {"DriftScore", "DriftScoreMax"} <= names, emf
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
