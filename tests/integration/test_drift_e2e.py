"""Drift monitoring end to end: real models serve sampled traffic, `lamina drift check` (and the
scheduled function's handler) compares it with the models' reference samples.

Synthetic shifts that must be found: Korean traffic into the English all-MiniLM-L6-v2 (its
vocabulary spells Korean as [UNK]), texts several times longer, a classifier's label mix
changed, a tabular feature shifted. Streams of the same kind as the references (the
builds' holdout texts, never in a reference) must not alarm.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina_tools.cli import main
from lamina_tools.models import intent, spam
from lamina_tools.models.monitoring_reference import MINILM, holdout_texts
from tests.conftest import ROOT, import_app, import_function

KOREAN = [
    "오늘 저녁은 김치찌개와 된장찌개를 끓여 먹었어요",
    "서울에서 부산까지 기차로 얼마나 걸리나요?",
    "갈비탕에 들어가는 재료와 끓이는 순서를 알려주세요",
    "비빔밥 고추장 양념을 맛있게 만드는 방법",
    "주말에 가족과 함께 먹기 좋은 잡채 레시피",
]
DRIFT_FOUND = 3


def post_all(client: Any, path: str, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text


def check(samples: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    """`lamina drift check --json --fail-on-drift` on one model: exit code and report."""
    capsys.readouterr()
    code = main(
        [
            "drift",
            "check",
            "--samples",
            str(samples),
            "--model",
            str(model),
            "--json",
            "--fail-on-drift",
        ]
    )
    run = json.loads(capsys.readouterr().out)
    return code, run


def drifted(run: Any) -> set[str]:
    (result,) = run["results"]
    return {c["name"] for c in result["checks"] if c["drifted"]}


def fresh(samples: Path) -> None:
    shutil.rmtree(samples, ignore_errors=True)
    samples.mkdir(parents=True)


# --- the English embedding model ----------------------------------------------------------


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="module")
def embed(int8_dir: Path, samples: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    app = import_app(
        "functions.embed.app",
        {"MODEL_URI": str(int8_dir), "LAMINA_SAMPLE_URI": str(samples), "LAMINA_SAMPLE_RATE": "1"},
        keep=False,
    )
    with TestClient(app) as client:
        yield client


def batches(texts: list[str], size: int = 10) -> list[dict[str, Any]]:
    return [{"texts": texts[i : i + size]} for i in range(0, len(texts), size)]


def test_english_traffic_like_the_reference_does_not_alarm(
    embed: Any, samples: Path, int8_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh(samples)
    post_all(embed, "/api/v1/embed-batch", batches(holdout_texts(MINILM, 300)))
    code, run = check(samples, int8_dir, capsys)
    (result,) = run["results"]
    assert result["status"] == "ok", result
    assert result["current_count"] == 300
    assert result["score"] < 1
    assert code == 0
    # every check that has data ran: inputs and vectors
    names = {c["name"] for c in result["checks"]}
    assert {"tokens", "unknown_token_rate", "script_mix", "vector_projections"} <= names
    # texts are not kept unless asked for
    record = json.loads(next(samples.glob("samples/**/*.jsonl")).read_text().splitlines()[0])
    assert "text" not in record
    assert record["version"] == "1-int8"
    assert len(record["vector"]) == 384


def test_korean_into_the_english_model_is_drift(
    embed: Any, samples: Path, int8_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh(samples)
    texts = [f"{KOREAN[i % len(KOREAN)]} {i}번" for i in range(150)]
    post_all(embed, "/api/v1/embed-batch", batches(texts))
    code, run = check(samples, int8_dir, capsys)
    assert code == DRIFT_FOUND
    (result,) = run["results"]
    assert result["status"] == "drift"
    assert {"script_mix", "unknown_token_rate"} <= drifted(run)
    unk = next(c for c in result["checks"] if c["name"] == "unknown_token_rate")
    # MiniLM's WordPiece spells most Hangul as jamo pieces; the words it cannot spell are
    # [UNK]: ~5% of the tokens of these texts against ~0% in the reference (threshold 0.02).
    assert unk["effect"] > 0.04
    # the report a person reads
    latest = samples / "reports/drift/latest.html"
    html = latest.read_text(encoding="utf-8")
    assert "<svg" in html
    assert "script_mix" in html
    assert MINILM in html


def test_much_longer_texts_are_drift(
    embed: Any, samples: Path, int8_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh(samples)
    pool = holdout_texts(MINILM, 600)
    long_texts = [" ".join(pool[i : i + 6]) for i in range(0, 600, 4)]
    post_all(embed, "/api/v1/embed-batch", batches(long_texts, 5))
    code, run = check(samples, int8_dir, capsys)
    assert code == DRIFT_FOUND
    assert "tokens" in drifted(run)
    assert "script_mix" not in drifted(run)  # still English


def test_too_few_samples_give_no_score(
    embed: Any, samples: Path, int8_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh(samples)
    post_all(embed, "/api/v1/embed-batch", batches(KOREAN))
    code, run = check(samples, int8_dir, capsys)
    assert code == 0
    (result,) = run["results"]
    assert (result["status"], result["score"]) == ("insufficient_data", None)


# --- the intent classifier: its label mix -------------------------------------------------

INTENT_DIR = ROOT / "build/models/intent-classifier"


@pytest.fixture(scope="module")
def classify(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    from fastapi.testclient import TestClient

    samples = tmp_path_factory.mktemp("classify-samples")
    app = import_app(
        "functions.classify.app",
        {
            "MODEL_URI": str(INTENT_DIR),
            "LAMINA_SAMPLE_URI": str(samples),
            "LAMINA_SAMPLE_RATE": "1",
            "LAMINA_SAMPLE_TEXT": "true",
        },
        keep=False,
    )
    with TestClient(app) as client:
        yield client, samples


def test_a_classifier_label_mix_change_is_drift_and_its_own_stream_is_not(
    classify: tuple[Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    client, samples = classify
    reference, holdout = intent.monitoring_queries()
    fresh(samples)
    post_all(client, "/api/v1/classify", batches(holdout, 8))
    code, run = check(samples, INTENT_DIR, capsys)
    assert code == 0, run
    record = json.loads(next(samples.glob("samples/**/*.jsonl")).read_text().splitlines()[0])
    assert record["text"] in holdout  # LAMINA_SAMPLE_TEXT=true keeps it
    assert {"label", "confidence"} <= set(record)

    # The same kind of queries, but only about two intents: the label mix changes.
    labels: dict[str, list[str]] = {}
    for body in batches(reference, 16):
        answer = client.post("/api/v1/classify", json={**body, "top_k": 1}).json()
        for text, row in zip(body["texts"], answer["predictions"], strict=True):
            labels.setdefault(row[0]["label"], []).append(text)
    two = sorted(labels, key=lambda label: -len(labels[label]))[:2]
    narrow = [text for label in two for text in labels[label]]
    fresh(samples)
    post_all(client, "/api/v1/classify", batches((narrow * 20)[:150], 8))
    code, run = check(samples, INTENT_DIR, capsys)
    assert code == DRIFT_FOUND
    assert "label_mix" in drifted(run)


# --- the spam detector: tabular features --------------------------------------------------

SPAM_DIR = ROOT / "build/models/spam-detector"


@pytest.fixture(scope="module")
def onnx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    from fastapi.testclient import TestClient

    samples = tmp_path_factory.mktemp("onnx-samples")
    app = import_app(
        "functions.onnx.app",
        {
            "LAMINA_MODELS": str(SPAM_DIR),
            "LAMINA_SAMPLE_URI": str(samples),
            "LAMINA_SAMPLE_RATE": "1",
        },
        keep=False,
    )
    with TestClient(app) as client:
        yield client, samples


def infer(rows: list[list[float]]) -> dict[str, Any]:
    flat = [v for row in rows for v in row]
    tensor = {"name": "features", "datatype": "FP32", "shape": [len(rows), 5], "data": flat}
    return {"inputs": [tensor]}


def test_a_shifted_feature_is_drift_and_the_held_out_stream_is_not(
    onnx: tuple[Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    client, samples = onnx
    rows = [spam.features(text) for text in spam.monitoring_messages(500, 800)]
    fresh(samples)
    post_all(
        client,
        "/v2/models/spam-detector/infer",
        [infer(rows[i : i + 10]) for i in range(0, 300, 10)],
    )
    code, run = check(samples, SPAM_DIR, capsys)
    assert code == 0, run
    names = {c["name"] for c in run["results"][0]["checks"]}
    assert {f"feature:{name}" for name in spam.FEATURES} <= names
    assert "label_mix" in names

    # Every message four times as long: only length moves.
    index = spam.FEATURES.index("length")
    longer = [[v * 4 if j == index else v for j, v in enumerate(row)] for row in rows]
    fresh(samples)
    post_all(
        client,
        "/v2/models/spam-detector/infer",
        [infer(longer[i : i + 10]) for i in range(0, 300, 10)],
    )
    code, run = check(samples, SPAM_DIR, capsys)
    assert code == DRIFT_FOUND
    assert "feature:length" in drifted(run)
    assert not {f"feature:{n}" for n in spam.FEATURES if n != "length"} & drifted(run)


# --- the scheduled function ---------------------------------------------------------------


def test_the_scheduled_handler_publishes_drift_scores(
    embed: Any,
    samples: Path,
    int8_dir: Path,
    capsys: pytest.CaptureFixture[str],
    lambda_context: Any,
) -> None:
    fresh(samples)
    texts = [f"{KOREAN[i % len(KOREAN)]} {i}" for i in range(120)]
    post_all(embed, "/api/v1/embed-batch", batches(texts))
    handler = import_function(
        "functions.drift_check.handler",
        {"LAMINA_MODELS": str(int8_dir), "LAMINA_SAMPLE_URI": str(samples)},
        keep=False,
    )
    capsys.readouterr()
    answer = handler.handler({"source": "aws.events"}, lambda_context)
    out = capsys.readouterr().out
    assert answer["drifted"] is True
    assert answer["score"] >= 1
    assert answer["report"].endswith(".html")
    assert answer["models"] == [
        {"model": MINILM, "version": "1-int8", "status": "drift", "score": answer["score"]}
    ]
    emf = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    scores = {m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: m for m in emf}
    assert scores["DriftScore"]["ModelName"] == MINILM
    assert scores["DriftScore"]["ModelVersion"] == "1-int8"
    assert scores["DriftScoreMax"]["DriftScoreMax"] in (answer["score"], [answer["score"]])
