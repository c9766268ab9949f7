"""The model store end to end: the ``lamina models`` CLI in subprocesses against a real
``moto_server`` over HTTP, with the built all-MiniLM-L6-v2 model (fp32 as version 1, int8 as
version 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from lamina.models.manifest import open_model_dir
from tests.moto_server import boto3_credentials, moto_server, subprocess_env

pytestmark = pytest.mark.slow

BUCKET = "lamina-models-e2e"
NAME = "all-MiniLM-L6-v2"

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto_server on a free port with an empty bucket; stopped after the module."""
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        boto3.client("s3", endpoint_url=url, **boto3_credentials()).create_bucket(Bucket=BUCKET)
        yield url


@pytest.fixture(scope="module")
def cli(endpoint: str) -> Cli:
    """Run ``python -m lamina_tools.cli models ...`` with fake credentials. The endpoint is passed
    with --endpoint-url unless ``store_options=False``; AWS_ENDPOINT_URL points at moto in
    any case, so no call can reach AWS."""
    base = subprocess_env(endpoint)

    def run(
        *argv: str, store_options: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        options = ["--bucket", BUCKET, "--endpoint-url", endpoint] if store_options else []
        return subprocess.run(
            [sys.executable, "-m", "lamina_tools.cli", "models", *argv, *options],
            env=base | (env or {}),
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_publish_promote_verify_rollback(
    cli: Cli, fp32_dir: Path, int8_dir: Path, tmp_path: Path
) -> None:
    local = json.loads((fp32_dir / "manifest.json").read_text())
    files = f"{len(local['files'])} files"
    published = cli("publish", str(fp32_dir), "--name", NAME, "--version", "1", "--progress")
    assert ok(published).startswith(f"published {NAME}/1 to {BUCKET}: {files}")
    assert f"upload model.onnx.data: {(fp32_dir / 'model.onnx.data').stat().st_size / 1e6:.1f}" in (
        published.stderr
    )
    ok(cli("publish", str(int8_dir), "--name", NAME, "--version", "2"))
    ok(cli("publish", str(fp32_dir), "--name", NAME, "--version", "1"))  # same content: no-op
    conflict = cli("publish", str(int8_dir), "--name", NAME, "--version", "1")
    assert conflict.returncode == 1
    assert f"lamina: error: {NAME}/1 is already published with different content" in (
        conflict.stderr
    )

    assert ok(cli("promote", NAME, "1", "--alias", "production", "--actor", "ci")) == (
        f"{NAME}@production -> 1\n"
    )
    assert ok(cli("list")) == f"{NAME}  versions: 1, 2  aliases: production -> 1\n"

    described = json.loads(ok(cli("describe", NAME)))
    assert (described["version"], described["aliases"]) == ("1", ["production"])
    assert described["manifest"]["files"] == local["files"]
    assert described["manifest"]["variant"] == "fp32"

    assert ok(cli("verify", f"{NAME}@production")).startswith(f"ok {NAME}/1: {files}")

    assert ok(cli("promote", NAME, "2", "--alias", "production")) == (
        f"{NAME}@production -> 2 (was 1)\n"
    )
    assert json.loads(ok(cli("describe", f"{NAME}@production")))["manifest"]["variant"] == "int8"
    assert ok(cli("rollback", NAME, "--alias", "production")) == (
        f"{NAME}@production -> 1 (rolled back from 2)\n"
    )
    fetched = ok(cli("fetch", NAME, "--cache", str(tmp_path / "cache"))).strip()
    assert fetched == str(tmp_path / "cache" / NAME / "1")
    assert open_model_dir(Path(fetched), verify=True).files == open_model_dir(fp32_dir).files


def test_errors_exit_codes(cli: Cli, endpoint: str) -> None:
    missing = cli("describe", f"{NAME}/99")
    assert missing.returncode == 1
    assert missing.stderr == (
        f"lamina: error: model {NAME} has no published version '99' in s3://{BUCKET}/models\n"
    )
    no_bucket = cli("list", store_options=False)
    assert no_bucket.returncode == 2
    assert "no bucket: pass --bucket or set LAMINA_MODELS_BUCKET" in no_bucket.stderr

    # Defaults from the environment: the bucket, and the endpoint (AWS_ENDPOINT_URL).
    from_env = cli("list", "--json", store_options=False, env={"LAMINA_MODELS_BUCKET": BUCKET})
    assert isinstance(json.loads(ok(from_env)), list)


def test_two_processes_fetch_one_version_at_once(
    cli: Cli, endpoint: str, fp32_dir: Path, tmp_path: Path
) -> None:
    ok(cli("publish", str(fp32_dir), "--name", "concurrent", "--version", "1"))
    cache = tmp_path / "cache"
    env = {**subprocess_env(endpoint), "LAMINA_MODELS_BUCKET": BUCKET}
    command = [sys.executable, "-m", "lamina_tools.cli", "models", "fetch", "concurrent/1"]
    fetches = [
        subprocess.Popen([*command, "--cache", str(cache)], env=env, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for fetch in fetches:
        _, err = fetch.communicate(timeout=120)
        assert fetch.returncode == 0, err
    directory = cache / "concurrent" / "1"
    assert open_model_dir(directory, verify=True).files == open_model_dir(fp32_dir).files
    assert not list(directory.glob("*.part-*"))


def test_service_cold_starts_on_the_promoted_model_and_refuses_a_tampered_one(
    cli: Cli, endpoint: str, fp32_dir: Path, tmp_path: Path
) -> None:
    from tests.integration.test_refuse_bad_model import run_handler

    ok(cli("publish", str(fp32_dir), "--name", "served", "--version", "7"))
    ok(cli("promote", "served", "7", "--alias", "production"))
    described = json.loads(ok(cli("describe", "served@production")))
    env = subprocess_env(endpoint) | {"LAMINA_MODEL_CACHE_DIR": str(tmp_path / "cache")}
    uri = f"s3://{BUCKET}/models/served@production"

    result, logs = run_handler(uri, env)
    assert result["/health"]["status"] == 200
    assert result["/api/v1/embed"]["status"] == 200
    info = result["/api/v1/model-info"]["body"]
    assert (info["name"], info["version"]) == ("served", "7")
    assert info["sha256"] == described["digest"]
    source = next(x for x in logs if x.get("message") == "model source")
    assert source["model_uri"] == f"{uri} -> served/7"

    # An alias that does not exist: the cold start refuses clearly, naming the alias.
    result, logs = run_handler(f"s3://{BUCKET}/models/served@nope", env)
    assert result["/health"]["status"] == 503
    refused = next(x for x in logs if x.get("message") == "model load failed: refusing to serve")
    assert "nope" in refused["error"]  # the reason is logged; the body says only 503
    assert BUCKET not in json.dumps(result["/health"]["body"])

    # The stored tokenizer is replaced behind the manifest's back: a new cold start (empty
    # cache) must refuse it, and never serve what it could not verify.
    client = boto3.client("s3", endpoint_url=endpoint, **boto3_credentials())
    key = "models/served/7/tokenizer.json"
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=key, Body=body.replace(b"[UNK]", b"[UNX]"))
    env["LAMINA_MODEL_CACHE_DIR"] = str(tmp_path / "fresh-cache")
    result, logs = run_handler(uri, env)
    assert result["/health"]["status"] == 503
    assert result["/health"]["body"]["error"]["code"] == "model_unavailable"
    refused = next(x for x in logs if x.get("message") == "model load failed: refusing to serve")
    assert "tokenizer.json" in refused["error"]
    cached = tmp_path / "fresh-cache" / "served" / "7"
    assert not (cached / "manifest.json").exists()
    assert not (cached / "tokenizer.json").exists()


SERVE_FROM_STORE = """
import base64, json, sys
from fastapi.testclient import TestClient
from lamina_tools.models.spam import features
module, path, body = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
app = __import__(module, fromlist=["app"]).app
with TestClient(app) as client:
    if isinstance(body, dict) and "features_of" in body:
        body = {"inputs": [{"name": "features", "shape": [1, 5], "datatype": "FP32",
                            "data": features(body["features_of"])}]}
    if isinstance(body, dict) and "png" in body:
        body = {"image": base64.b64encode(open(body["png"], "rb").read()).decode()}
    response = client.post(path, json=body) if body is not None else client.get(path)
    print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def test_classifiers_publish_and_serve_from_the_store(
    cli: Cli, endpoint: str, tmp_path: Path
) -> None:
    """The three demo models go through the store like the embedding model: published as
    immutable versions with their model cards, promoted, and served by their functions from
    an s3:// alias (fetched and sha256-checked at cold start)."""
    root = Path(__file__).resolve().parents[2]
    for name in ("intent-classifier", "digits-classifier", "spam-detector"):
        directory = root / "build" / "models" / name
        if not (directory / "manifest.json").is_file():
            pytest.fail(f"no built model at {directory}: run `make models`", pytrace=False)
        ok(cli("publish", str(directory), "--name", name, "--version", "1"))
        ok(cli("promote", name, "1", "--alias", "production"))
        stored = json.loads(ok(cli("describe", f"{name}@production")))
        assert stored["digest"] == open_model_dir(directory).digest
    client = boto3.client("s3", endpoint_url=endpoint, **boto3_credentials())
    card = client.get_object(Bucket=BUCKET, Key="models/intent-classifier/1/MODEL_CARD.md")
    assert b"License status" in card["Body"].read()

    env = subprocess_env(endpoint) | {"LAMINA_MODEL_CACHE_DIR": str(tmp_path / "cache")}

    def serve(module: str, settings: dict[str, str], path: str, body: object) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-c", SERVE_FROM_STORE, module, path, json.dumps(body)],
            env=env | settings | {"POWERTOOLS_METRICS_DISABLED": "true"},
            cwd=root,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    store = f"s3://{BUCKET}/models"
    out = serve(
        "functions.classify.app",
        {"MODEL_URI": f"{store}/intent-classifier@production"},
        "/api/v1/classify",
        {"text": "Can you connect me to a human?", "top_k": 1},
    )
    assert out["status"] == 200, out
    assert out["body"]["predictions"][0][0]["label"] == "connect_to_human"  # type: ignore[index]
    out = serve(
        "functions.image_classify.app",
        {"MODEL_URI": f"{store}/digits-classifier@production"},
        "/api/v1/classify-image",
        {"png": str(root / "docs" / "examples" / "digit.png")},
    )
    assert out["status"] == 200, out
    assert out["body"]["predictions"][0][0]["label"] == "3"  # type: ignore[index]
    out = serve(
        "functions.onnx.app",
        {"LAMINA_MODELS": f"{store}/spam-detector@production"},
        "/v2/models/spam-detector/infer",
        {"features_of": "WIN a FREE cash prize!!! Claim it now at http://win.example/claim"},
    )
    assert out["status"] == 200, out
    probabilities = out["body"]["outputs"][1]["data"]  # type: ignore[index]
    assert probabilities[1] > 0.5


def test_multilingual_model_beside_minilm_from_the_store(
    cli: Cli, endpoint: str, fp32_dir: Path, e5_dir: Path, tmp_path: Path
) -> None:
    """multilingual-e5-small goes through the store like any model, and the embedding
    function serves it from an s3:// alias beside a baked MiniLM (LAMINA_MODELS)."""
    ok(cli("publish", str(e5_dir), "--name", "multilingual-e5-small", "--version", "1"))
    ok(cli("promote", "multilingual-e5-small", "1", "--alias", "production"))
    stored = json.loads(ok(cli("describe", "multilingual-e5-small@production")))
    assert stored["digest"] == open_model_dir(e5_dir).digest
    root = Path(__file__).resolve().parents[2]
    models = f"{fp32_dir},s3://{BUCKET}/models/multilingual-e5-small@production"
    env = subprocess_env(endpoint) | {
        "LAMINA_MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "LAMINA_MODELS": models,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    body = {"texts": ["김치찌개", "된장찌개"], "model": "multilingual-e5-small"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE_FROM_STORE,
            "functions.embed.app",
            "/api/v1/embed-batch",
            json.dumps(body),
        ],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == 200, out
    assert out["body"]["model"] == "multilingual-e5-small"
    kimchi, doenjang = out["body"]["embeddings"]
    assert sum(a * b for a, b in zip(kimchi, doenjang, strict=True)) < 0.97  # told apart


def test_the_sql_model_goes_through_the_store_like_any_model(
    cli: Cli, endpoint: str, tmp_path: Path
) -> None:
    """listing-ranker (a query and its data files) is published as an immutable version,
    promoted, served by the generic function from s3://...@production (fetched and
    sha256-checked at cold start); a data file changed in the bucket is refused like a
    changed graph, and rollback serves the previous version."""
    from lamina_tools.models import listings

    root = Path(__file__).resolve().parents[2]
    v1 = listings.build(tmp_path / "v1", version="1")
    ok(cli("publish", str(v1), "--name", "listing-ranker", "--version", "1"))
    ok(cli("promote", "listing-ranker", "1", "--alias", "production"))
    stored = json.loads(ok(cli("describe", "listing-ranker@production")))
    assert stored["digest"] == open_model_dir(v1).digest
    ok(cli("verify", "listing-ranker@production"))

    env = subprocess_env(endpoint) | {
        "LAMINA_MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    uri = f"s3://{BUCKET}/models/listing-ranker@production"
    body = {"parameters": {"region": "jeju", "top_k": 3}}

    def serve(cache: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-c", SERVE_FROM_STORE, "functions.onnx.app",
             "/api/v1/models/listing-ranker/predict", json.dumps(body)],
            env=env | {"LAMINA_MODELS": uri, "LAMINA_MODEL_CACHE_DIR": str(tmp_path / cache)},
            cwd=root, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    out = serve("cache")
    assert out["status"] == 200, out
    places, reviews = listings.generate()
    want = listings.rank_in_python(places, reviews, "jeju", top_k=3)
    assert [row["listing_id"] for row in out["body"]["rows"]] == [w[1] for w in want]

    # A second version, promoted, then rolled back: production serves version 1 again.
    v2 = listings.build(tmp_path / "v2", version="2")
    ok(cli("publish", str(v2), "--name", "listing-ranker", "--version", "2"))
    ok(cli("promote", "listing-ranker", "2", "--alias", "production"))
    assert serve("cache-v2")["body"]["model_version"] == "2"
    ok(cli("rollback", "listing-ranker", "--alias", "production"))
    assert serve("cache-v1")["body"]["model_version"] == "1"

    # The reviews behind version 1 are changed in the bucket: a fresh cold start refuses the
    # model (503 on every request, the reason in the log), and fetch refuses it too.
    client = boto3.client("s3", endpoint_url=endpoint, **boto3_credentials())
    key = "models/listing-ranker/1/reviews.csv"
    data = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=key, Body=data.replace(b",1,", b",5,"))
    out = serve("cache-tampered")
    assert out["status"] == 503, out
    fetched = cli("fetch", "listing-ranker@production", "--cache", str(tmp_path / "fetch"))
    assert fetched.returncode == 1
    assert "reviews.csv" in fetched.stderr


AB_FROM_STORE = """
import json, sys
from fastapi.testclient import TestClient
from functions.embed.app import app
keys = json.loads(sys.argv[1])
with TestClient(app) as client:
    out = {}
    for key in keys:
        r = client.post("/api/v1/embed", json={"text": "a/b"}, headers={"x-lamina-ab-key": key})
        out[key] = [r.status_code, r.headers.get("x-lamina-variant"), r.json().get("model_version")]
    print(json.dumps(out))
"""


def test_an_ab_test_between_two_store_aliases_and_its_promotion(
    cli: Cli, endpoint: str, fp32_dir: Path, int8_dir: Path, tmp_path: Path
) -> None:
    """production (int8, version 1) against candidate (fp32, version 2), both from the store;
    `lamina ab promote` then moves production to the candidate's version."""
    from tests.integration.test_ab import expected_variant

    name = "ab-served"
    ok(cli("publish", str(int8_dir), "--name", name, "--version", "1"))
    ok(cli("publish", str(fp32_dir), "--name", name, "--version", "2"))
    ok(cli("promote", name, "1", "--alias", "production"))
    ok(cli("promote", name, "2", "--alias", "candidate"))
    env = subprocess_env(endpoint) | {
        "LAMINA_MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "MODEL_URI": f"s3://{BUCKET}/models/{name}@production",
        "LAMINA_AB_CANDIDATES": f"s3://{BUCKET}/models/{name}@candidate",
        "LAMINA_AB_WEIGHT": "0.4",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    keys = [f"k{n}" for n in range(16)]
    served = subprocess.run(
        [sys.executable, "-c", AB_FROM_STORE, json.dumps(keys)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert served.returncode == 0, served.stderr
    answers = json.loads(served.stdout.strip().splitlines()[-1])
    for key, (status, variant, version) in answers.items():
        assert status == 200
        assert variant == expected_variant(name, key, 0.4)
        assert version == ("2" if variant == "candidate" else "1")
    assert {a[1] for a in answers.values()} == {"control", "candidate"}

    promote = [sys.executable, "-m", "lamina_tools.cli", "ab", "promote", name, "--actor", "ci"]
    store = ["--bucket", BUCKET, "--endpoint-url", endpoint]
    result = subprocess.run(
        [*promote, *store], env=subprocess_env(endpoint), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{name}@production -> 2 (was 1; undo: lamina models rollback")
    assert json.loads(ok(cli("describe", f"{name}@production")))["version"] == "2"
    again = subprocess.run(
        [*promote, *store], env=subprocess_env(endpoint), capture_output=True, text=True
    )
    assert again.stdout == f"{name}@production is already 2: nothing to promote\n"
