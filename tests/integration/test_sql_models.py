"""Query models on the generic function (functions/onnx/app.py) over HTTP: the plain route
``POST /api/v1/models/{name}/predict``, the Open Inference Protocol with NVIDIA's
tritonclient (binary tensors, default options) against a live server, and the README's
curl, each checked against ``rank_in_python``, the ranking computed without SQL."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lamina_tools.models import listings
from tests.conftest import ROOT
from tests.live import clients_python, live_server, run_client


@pytest.fixture(scope="module")
def ranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return listings.build(tmp_path_factory.mktemp("sql") / "listing-ranker")


@pytest.fixture(scope="module")
def server(ranker_dir: Path) -> Iterator[str]:
    """The generic function serving the spam detector and listing-ranker side by side."""
    spam = ROOT / "build/models/spam-detector"
    if not (spam / "manifest.json").is_file():
        pytest.fail(f"no built model at {spam}: run `make models` first", pytrace=False)
    with live_server("functions.onnx.app", {"LAMINA_MODELS": f"{spam},{ranker_dir}"}) as url:
        yield url


@pytest.fixture(scope="module")
def expected() -> Any:
    places, reviews = listings.generate()

    def rank(**case: Any) -> list[dict[str, Any]]:
        names = ["rank", "listing_id", "avg_score", "reviews", "rooms", "created"]
        return [dict(zip(names, row, strict=True)) for row in listings.rank_in_python(
            places, reviews, **case
        )]  # fmt: skip

    return rank


def close(rows: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [{**r, "avg_score": None} for r in rows] == [{**w, "avg_score": None} for w in want]
    for row, wanted in zip(rows, want, strict=True):
        assert row["avg_score"] == pytest.approx(wanted["avg_score"], abs=1e-12)


def test_predict_gives_the_ranking(server: str, expected: Any) -> None:
    r = httpx.post(
        f"{server}/api/v1/models/listing-ranker/predict",
        json={"parameters": {"region": "jeju", "top_k": 5, "min_reviews": 8}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["model_version"], body["truncated"]) == (
        "listing-ranker",
        "1",
        False,
    )
    assert [c["name"] for c in body["columns"]] == [
        "rank", "listing_id", "avg_score", "reviews", "rooms", "created",
    ]  # fmt: skip
    assert body["row_count"] == 5
    close(body["rows"], expected(region="jeju", top_k=5, min_reviews=8))


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"parameters": {"region": "mars"}}, 422, "invalid_parameter", "parameters.region"),
        ({"parameters": {}}, 422, "invalid_parameter", "parameters.region"),
        ({"parameters": {"region": "seoul", "top_k": -1}}, 422, "invalid_parameter",
         "parameters.top_k"),
        ({"parameters": {"region": "seoul", "x": 1}}, 422, "invalid_parameter", "parameters.x"),
        ({"parameters": {"region": ["seoul"]}}, 422, "validation_error", None),
        ({"parameters": [], "extra": 1}, 422, "validation_error", None),
    ],
)  # fmt: skip
def test_bad_parameters_are_4xx_naming_them(
    server: str, body: dict[str, Any], status: int, code: str, param: str | None
) -> None:
    r = httpx.post(f"{server}/api/v1/models/listing-ranker/predict", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param


def test_predict_on_other_models_and_bodies(server: str) -> None:
    r = httpx.post(f"{server}/api/v1/models/nope/predict", json={"parameters": {}})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "model_not_found")
    r = httpx.post(f"{server}/api/v1/models/spam-detector/predict", json={"parameters": {}})
    assert r.status_code == 422
    assert "/v2/models/spam-detector/infer" in r.json()["error"]["message"]
    r = httpx.post(
        f"{server}/api/v1/models/listing-ranker/predict",
        content=b"region=seoul",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    r = httpx.get(f"{server}/api/v1/models/listing-ranker/predict")
    assert r.status_code == 405


def test_metadata_and_openapi_describe_the_query_model(server: str) -> None:
    meta = httpx.get(f"{server}/v2/models/listing-ranker").json()
    assert meta["platform"] == "duckdb_sql"
    assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [
        ("region", "BYTES", [1]), ("min_reviews", "INT64", [1]), ("min_rooms", "INT64", [1]),
        ("top_k", "INT64", [1]),
    ]  # fmt: skip
    assert meta["outputs"][0] == {"name": "rank", "datatype": "INT64", "shape": [-1]}
    assert httpx.get(f"{server}/v2/models/spam-detector").json()["platform"] == ("onnxruntime_onnx")
    spec = httpx.get(f"{server}/openapi.json").json()
    operation = spec["paths"]["/api/v1/models/{name}/predict"]["post"]
    assert set(operation["responses"]) >= {"200", "422"}


@pytest.mark.slow
def test_tritonclient_ranks_as_python(server: str, expected: Any) -> None:
    clients_python()
    done = run_client("oip_sql_tritonclient.py", server.removeprefix("http://"), "busan", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["ready"] is True
    assert out["metadata"]["platform"] == "duckdb_sql"
    want = expected(region="busan", top_k=4)
    assert out["outputs"]["rank"] == [1, 2, 3, 4]
    assert out["outputs"]["listing_id"] == [w["listing_id"] for w in want]
    assert out["outputs"]["created"] == [w["created"] for w in want]
    assert out["outputs"]["avg_score"] == pytest.approx([w["avg_score"] for w in want], abs=1e-12)
    assert all(shape == [4] for shape in out["shapes"].values()), out["shapes"]
    assert out["errors"]["bad_region"]["status"] == "400"  # tritonclient gives it as text
    assert "must be one of" in out["errors"]["bad_region"]["message"]
    assert out["errors"]["no_region"]["status"] == "400"
    assert "needs parameter 'region'" in out["errors"]["no_region"]["message"]


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- sql-model -->\n```bash\n(.*?)```", text, re.S)
    assert found, "README has no <!-- sql-model --> block"
    return found[1]


def test_the_readme_curl_answers_as_it_says(server: str, expected: Any) -> None:
    """The README's request, as written, against the live server: its body and the
    listing its comment names first."""
    block = readme_block()
    (curl,) = [line for line in block.replace("\\\n", " ").splitlines() if "predict" in line]
    argv = shlex.split(curl.split("#", 1)[0])
    argv = [a.replace("http://localhost:8000", server) for a in argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    sent = json.loads(argv[argv.index("-d") + 1])
    close(body["rows"], expected(**sent["parameters"]))
    first = re.search(r"#\s*(L\d{5}) first", curl)
    assert first, curl
    assert body["rows"][0]["listing_id"] == first[1]
