"""A/B tests between two versions of a model, served for real (docs/monitoring.md).

The embedding function serves all-MiniLM-L6-v2 fp32 (version 1, the control) with its int8
build (version 1-int8) as the candidate (is the quantized model as good?); the ONNX function
serves the spam detector with a second version of it. Assignment is checked against the
documented formula, computed here independently (SHA-256 of the model name, a newline and
the key; its first 8 bytes over 2**64; below the weight: candidate), and each answer against
the model that must have made it. Outcomes go through POST /api/v1/outcomes and come back
through the local event log and the same analysis ``lamina ab report`` prints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.inference.embedder import OnnxEmbedder
from lamina.monitoring.abtest import compare, read_local
from lamina_tools.models.versions import copy_as_version
from tests.conftest import ROOT, import_app

MINILM = "all-MiniLM-L6-v2"
SPAM = "spam-detector"
WEIGHT = 0.5


def expected_variant(model: str, key: str, weight: float = WEIGHT) -> str:
    digest = hashlib.sha256(f"{model}\n{key}".encode()).digest()
    return "candidate" if int.from_bytes(digest[:8], "big") / 2**64 < weight else "control"


@pytest.fixture(scope="module")
def ab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ab-events")


@pytest.fixture(scope="module")
def embed_client(int8_dir: Path, fp32_dir: Path, ab_dir: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    app = import_app(
        "functions.embed.app",
        {
            "MODEL_URI": str(fp32_dir),
            "LAMINA_AB_CANDIDATES": str(int8_dir),
            "LAMINA_AB_WEIGHT": str(WEIGHT),
            "LAMINA_AB_DIR": str(ab_dir),
        },
        keep=False,
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def fp32(fp32_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(fp32_dir)


@pytest.fixture(scope="module")
def int8(int8_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.load(int8_dir)


def test_assignment_is_sticky_deterministic_and_answered_by_the_assigned_version(
    embed_client: Any, fp32: OnnxEmbedder, int8: OnnxEmbedder
) -> None:
    text = "Sticky assignment keeps one user on one model."
    seen = set()
    for n in range(24):
        key = f"user-{n}"
        answers = [
            embed_client.post(
                "/api/v1/embed", json={"text": text}, headers={"x-lamina-ab-key": key}
            )
            for _ in range(2)
        ]
        for response in answers:
            assert response.status_code == 200, response.text
            variant = response.headers["x-lamina-variant"]
            assert variant == expected_variant(MINILM, key)
            body = response.json()
            model = int8 if variant == "candidate" else fp32
            assert body["model_version"] == model.manifest.version
            assert response.headers["x-model-fingerprint"] == model.manifest.digest
            np.testing.assert_allclose(body["embedding"], model.embed([text]).vectors[0], atol=1e-6)
        seen.add(answers[0].headers["x-lamina-variant"])
    assert seen == {"control", "candidate"}  # 24 keys at 0.5: both variants answer


def test_every_protocol_carries_the_variant(embed_client: Any) -> None:
    key = "protocols"
    variant = expected_variant(MINILM, key)
    headers = {"x-lamina-ab-key": key}
    for path, body in [
        ("/v1/embeddings", {"input": ["a", "b"], "model": MINILM}),
        ("/embed", {"inputs": "a"}),
        ("/api/v1/embed-batch", {"texts": ["a"]}),
        ("/api/v1/similarity", {"query": "a", "candidates": ["b", "c"]}),
    ]:
        response = embed_client.post(path, json=body, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["x-lamina-variant"] == variant, path


def test_without_a_key_the_request_id_draws(embed_client: Any) -> None:
    for n in range(8):
        request_id = f"req-{n}"
        response = embed_client.post(
            "/api/v1/embed", json={"text": "x"}, headers={"x-request-id": request_id}
        )
        assert response.headers["x-request-id"] == request_id
        assert response.headers["x-lamina-variant"] == expected_variant(MINILM, request_id)


def test_a_pinned_fingerprint_gets_its_version_and_is_not_counted(
    embed_client: Any, fp32: OnnxEmbedder, int8: OnnxEmbedder, ab_dir: Path
) -> None:
    for model, variant in [(int8, "candidate"), (fp32, "control")]:
        request_id = f"pinned-{variant}"
        response = embed_client.post(
            "/api/v1/embed",
            json={"text": "x"},
            headers={
                "x-expect-model-fingerprint": model.manifest.digest,
                "x-lamina-ab-key": "someone",
                "x-request-id": request_id,
            },
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-lamina-variant"] == variant
        assert response.json()["model_version"] == model.manifest.version
        logged = "".join(p.read_text() for p in ab_dir.glob("requests-*.jsonl"))
        assert request_id not in logged  # not drawn, not counted


def test_a_bad_key_is_a_422_naming_the_header(embed_client: Any) -> None:
    response = embed_client.post(
        "/api/v1/embed", json={"text": "x"}, headers={"x-lamina-ab-key": "k" * 300}
    )
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "x-lamina-ab-key"


def test_outcomes_are_counted_for_the_variant(embed_client: Any) -> None:
    for key in ("alice", "bob", "carol"):
        response = embed_client.post(
            "/api/v1/outcomes", json={"model": MINILM, "key": key, "outcome": True}
        )
        assert response.status_code == 202, response.text
        assert response.json() == {
            "model": MINILM,
            "variant": expected_variant(MINILM, key),
            "recorded": True,
        }
    given = embed_client.post(
        "/api/v1/outcomes", json={"model": MINILM, "variant": "candidate", "reward": 2.5}
    )
    assert given.status_code == 202
    assert given.json()["variant"] == "candidate"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": MINILM, "key": "k"}, 422, None),  # neither outcome nor reward
        ({"model": MINILM, "outcome": True}, 422, None),  # nothing to tell the variant by
        ({"model": MINILM, "key": "k", "outcome": "yes"}, 422, "outcome"),
        ({"model": MINILM, "key": "k", "reward": 1e300}, 422, "reward"),
        ({"model": MINILM, "variant": "treatment", "outcome": True}, 422, "variant"),
        ({"model": "nope", "key": "k", "outcome": True}, 404, "model"),
    ],
)
def test_bad_outcomes_are_refused(
    embed_client: Any, body: dict[str, Any], status: int, param: str | None
) -> None:
    response = embed_client.post("/api/v1/outcomes", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"]
    if param is not None:
        assert error["param"] == param


def test_a_nan_reward_is_refused(embed_client: Any) -> None:
    response = embed_client.post(
        "/api/v1/outcomes",
        content=b'{"model": "all-MiniLM-L6-v2", "key": "k", "reward": NaN}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text


def test_the_event_log_reads_back_as_the_report_counts(embed_client: Any, ab_dir: Path) -> None:
    start = datetime.now(UTC)  # the other tests' requests are before it
    keys = [f"report-{n}" for n in range(30)]
    for key in keys:
        response = embed_client.post(
            "/api/v1/embed", json={"text": "count me"}, headers={"x-lamina-ab-key": key}
        )
        assert response.status_code == 200
        embed_client.post(
            "/api/v1/outcomes",
            json={"model": MINILM, "key": key, "outcome": key.endswith(("1", "3"))},
        )
    end = datetime.now(UTC) + timedelta(minutes=1)
    stats, malformed = read_local(ab_dir, model=MINILM, start=start, end=end)
    assert malformed == 0
    candidates = sum(expected_variant(MINILM, k) == "candidate" for k in keys)
    assert stats["candidate"].requests == candidates
    assert stats["control"].requests == len(keys) - candidates
    assert stats["candidate"].outcomes == candidates
    assert all(v.errors == 0 for v in stats.values())
    report = compare(stats, model=MINILM, start=start, end=end)
    assert report.verdict == "collecting"  # 30 outcomes are far from the horizon
    json.dumps(report.to_json(), allow_nan=False)


def test_variant_metrics_are_published_per_variant(
    embed_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    key = "metrics"
    embed_client.post("/api/v1/embed", json={"text": "x"}, headers={"x-lamina-ab-key": key})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    variant_lines = [line for line in lines if "VariantLatency" in line]
    assert len(variant_lines) == 1
    emf = variant_lines[0]
    assert emf["Variant"] == expected_variant(MINILM, key)
    assert emf["ModelName"] == MINILM
    assert emf["VariantErrors"] in (0, [0], 0.0, [0.0])
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["ModelName", "Variant", "service"]]


# --- the ONNX function: a second version of the spam detector ---------------------------


@pytest.fixture(scope="module")
def spam_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = ROOT / "build/models/spam-detector"
    if not (source / "manifest.json").is_file():
        pytest.fail(f"no built model at {source}: run `make models`", pytrace=False)
    target = tmp_path_factory.mktemp("spam") / "v2"
    copy_as_version(source, target, "2")
    return target


@pytest.fixture(scope="module")
def oip_client(spam_v2: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    app = import_app(
        "functions.onnx.app",
        {
            "LAMINA_MODELS": str(ROOT / "build/models/spam-detector"),
            "LAMINA_AB_CANDIDATES": str(spam_v2),
            "LAMINA_AB_WEIGHT": "0.3",
        },
        keep=False,
    )
    with TestClient(app) as client:
        yield client


ROW = {"name": "features", "datatype": "FP32", "shape": [1, 5], "data": [40, 0.1, 0, 0, 0]}


def test_open_inference_protocol_draws_and_pins_versions(oip_client: Any) -> None:
    metadata = oip_client.get(f"/v2/models/{SPAM}").json()
    assert metadata["versions"] == ["1", "2"]
    for n in range(12):
        key = f"tenant-{n}"
        response = oip_client.post(
            f"/v2/models/{SPAM}/infer", json={"inputs": [ROW]}, headers={"x-lamina-ab-key": key}
        )
        assert response.status_code == 200, response.text
        variant = expected_variant(SPAM, key, 0.3)
        assert response.headers["x-lamina-variant"] == variant
        assert response.json()["model_version"] == ("2" if variant == "candidate" else "1")
    for version, variant in [("1", "control"), ("2", "candidate")]:
        pinned = oip_client.post(
            f"/v2/models/{SPAM}/versions/{version}/infer",
            json={"inputs": [ROW]},
            headers={"x-lamina-ab-key": "tenant-0"},
        )
        assert pinned.status_code == 200
        assert pinned.headers["x-lamina-variant"] == variant
        assert pinned.json()["model_version"] == version
    missing = oip_client.post(f"/v2/models/{SPAM}/versions/3/infer", json={"inputs": [ROW]})
    assert missing.status_code == 404
    assert "'1', '2'" in missing.json()["error"]
    outcome = oip_client.post(
        "/api/v1/models/outcomes", json={"model": SPAM, "key": "tenant-1", "outcome": False}
    )
    assert outcome.status_code == 202
    assert outcome.json()["variant"] == expected_variant(SPAM, "tenant-1", 0.3)


def test_a_candidate_of_a_model_not_served_is_refused(
    tmp_path: Path, int8_dir: Path, fp32_dir: Path
) -> None:
    from fastapi.testclient import TestClient

    app = import_app(
        "functions.onnx.app",
        {
            "LAMINA_MODELS": str(ROOT / "build/models/spam-detector"),
            "LAMINA_AB_CANDIDATES": str(fp32_dir),
        },
        keep=False,
    )
    with TestClient(app) as client:
        health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["error"]["code"] == "model_unavailable"


def test_an_outcome_for_a_model_without_a_test_is_refused(int8_dir: Path) -> None:
    from lamina.api.app import record_outcome
    from lamina.api.schemas import OutcomeRequest
    from lamina.api.variants import Variants
    from lamina.errors import NoABTestError
    from lamina.observability import get_telemetry
    from lamina.settings import Settings

    telemetry = get_telemetry(Settings())
    served = {MINILM: Variants(OnnxEmbedder.load(int8_dir))}  # no candidate
    body = OutcomeRequest(model=MINILM, key="k", outcome=True)
    with pytest.raises(NoABTestError, match="not under an A/B test"):
        record_outcome(served, body, telemetry, None)


def test_the_cli_reads_the_event_log(
    embed_client: Any, ab_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lamina_tools.cli import main

    for n in range(8):  # both variants answer some of these (weight 0.5)
        headers = {"x-lamina-ab-key": f"cli-{n}"}
        embed_client.post("/api/v1/embed", json={"text": "x"}, headers=headers)
    capsys.readouterr()
    assert main(["ab", "report", "--model", MINILM, "--dir", str(ab_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == MINILM
    assert report["verdict"] == "collecting"  # no winner yet
    requests = sum(v["requests"] for v in report["variants"].values())
    logged = sum(len(p.read_text().splitlines()) for p in ab_dir.glob("requests-*.jsonl"))
    assert requests == logged
    # bad usage: a clear message and exit 1
    assert main(["ab", "report", "--model", MINILM, "--dir", str(ab_dir / "none")]) == 1
    assert "no A/B event log" in capsys.readouterr().err
    assert main(["ab", "report", "--model", MINILM, "--cloudwatch"]) == 1
    assert "--service" in capsys.readouterr().err
    assert main(["ab", "report", "--model", MINILM, "--dir", str(ab_dir), "--alpha", "2"]) == 1
    assert "alpha" in capsys.readouterr().err


def test_search_uses_the_version_that_made_the_collection(
    fp32_dir: Path, int8_dir: Path, postgres_dsn: str, tmp_path: Path
) -> None:
    """Every caller drawn into the candidate (weight 1) still searches a collection of the
    control's vectors with the control: a query vector must come from the collection's
    model. Routes that run no model are drawn but not counted."""
    from fastapi.testclient import TestClient

    from lamina.search.index import Item, ModelIdentity
    from lamina.search.pg import PgVectorIndex

    control = OnnxEmbedder.load(fp32_dir)
    texts = {"stew": "a bowl of spicy kimchi stew", "password": "how to reset a password"}
    vectors = control.embed(list(texts.values())).vectors
    m = control.manifest
    identity = ModelIdentity(m.name, m.version, m.digest)
    index = PgVectorIndex(postgres_dsn)
    index.create_collection("ab_search", identity, control.dim)
    items = [Item(k, v, t) for (k, t), v in zip(texts.items(), vectors, strict=True)]
    index.upsert("ab_search", items, identity)
    app = import_app(
        "functions.embed.app",
        {
            "MODEL_URI": str(fp32_dir),
            "LAMINA_AB_CANDIDATES": str(int8_dir),
            "LAMINA_AB_WEIGHT": "1.0",
            "LAMINA_AB_DIR": str(tmp_path),
            "LAMINA_SEARCH_DSN": postgres_dsn,
        },
        keep=False,
    )
    try:
        with TestClient(app) as client:
            key = {"x-lamina-ab-key": "someone"}
            embedded = client.post("/api/v1/embed", json={"text": "x"}, headers=key)
            assert embedded.headers["x-lamina-variant"] == "candidate"
            found = client.post(
                "/api/v1/search",
                json={"collection": "ab_search", "query": "spicy stew", "top_k": 2},
                headers=key,
            )
            assert found.status_code == 200, found.text
            assert found.headers["x-lamina-variant"] == "control"
            assert found.json()["results"][0]["id"] == "stew"
            info = client.get("/api/v1/model-info", headers={**key, "x-request-id": "info-1"})
            assert info.headers["x-lamina-variant"] == "candidate"
            assert info.json()["version"] == "1-int8"
    finally:
        index.drop_collection("ab_search")
        index.close()
    logged = "".join(p.read_text() for p in tmp_path.glob("requests-*.jsonl"))
    assert logged.count('"request_id"') == 1  # the embedding; not the search, not model-info
    assert "info-1" not in logged
