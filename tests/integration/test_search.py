"""Vector search end to end on a real PostgreSQL + pgvector (issue 17): a batch job of Korean
recipes embedded by multilingual-e5-small, loaded into a collection by `lamina index load`
(idempotent), searched and recommended from through the embedding function's API, against
an exact computation in numpy; and every error a client must be able to tell apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.search.index import Item, ModelIdentity
from lamina.search.pg import PgVectorIndex
from lamina.settings import Settings
from tests.conftest import import_app

# (id, text, metadata): names and one-line descriptions, as the recipe service stores them.
RECIPES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "r-kimchi-jjigae",
        "김치찌개: 잘 익은 김치와 돼지고기, 두부를 넣고 끓인 찌개",
        {"kind": "stew", "spicy": True},
    ),
    (
        "r-doenjang-jjigae",
        "된장찌개: 된장을 풀고 애호박, 두부, 감자를 넣어 끓인 찌개",
        {"kind": "stew", "spicy": False},
    ),
    (
        "r-sundubu",
        "순두부찌개: 순두부와 해물, 고춧가루로 얼큰하게 끓인 찌개",
        {"kind": "stew", "spicy": True},
    ),
    ("r-galbitang", "갈비탕: 소갈비를 오래 고아 맑게 끓인 국", {"kind": "soup", "spicy": False}),
    (
        "r-miyeokguk",
        "미역국: 불린 미역과 소고기를 참기름에 볶아 끓인 국",
        {"kind": "soup", "spicy": False},
    ),
    (
        "r-bibimbap",
        "비빔밥: 밥 위에 나물과 고추장, 달걀을 올려 비벼 먹는 요리",
        {"kind": "rice", "spicy": True},
    ),
    (
        "r-kimchi-fried-rice",
        "김치볶음밥: 김치와 밥을 함께 볶아 달걀을 올린 볶음밥",
        {"kind": "rice", "spicy": True},
    ),
    ("r-bulgogi", "불고기: 간장 양념에 재운 소고기를 구운 요리", {"kind": "meat", "spicy": False}),
    ("r-jeyuk", "제육볶음: 돼지고기를 고추장 양념에 볶은 요리", {"kind": "meat", "spicy": True}),
    (
        "r-japchae",
        "잡채: 당면과 채소, 고기를 간장에 볶아 버무린 요리",
        {"kind": "noodle", "spicy": False},
    ),
    (
        "r-naengmyeon",
        "냉면: 차가운 육수에 메밀국수를 말아 먹는 여름 음식",
        {"kind": "noodle", "spicy": False},
    ),
    (
        "r-tteokbokki",
        "떡볶이: 가래떡을 고추장 양념에 졸인 매운 길거리 음식",
        {"kind": "snack", "spicy": True},
    ),
    ("r-pajeon", "파전: 쪽파와 해물을 밀가루 반죽에 부친 전", {"kind": "snack", "spicy": False}),
    (
        "r-samgyetang",
        "삼계탕: 어린 닭에 찹쌀과 인삼, 대추를 넣어 고은 보양식",
        {"kind": "soup", "spicy": False},
    ),
]
COLLECTION = "recipes_test"


@pytest.fixture(scope="module")
def recipes_job(tmp_path_factory: pytest.TempPathFactory, e5_dir: Path) -> tuple[Path, str]:
    """The recipes as a finished local batch job (e5, passage prompts): (workdir, job id)."""
    from lamina.inference.embedder import OnnxEmbedder
    from lamina_tools.local_batch import run_local

    root = tmp_path_factory.mktemp("search-job")
    source = root / "recipes.jsonl"
    lines = [
        json.dumps({"id": rid, "text": text, **meta}, ensure_ascii=False)
        for rid, text, meta in RECIPES
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    workdir = root / "jobs"
    run = run_local(source, workdir, OnnxEmbedder.load(e5_dir), Settings.from_env({}))
    assert run.manifest.status == "succeeded"
    return workdir, run.manifest.job_id


@pytest.fixture(scope="module")
def index(postgres_dsn: str) -> Iterator[PgVectorIndex]:
    index = PgVectorIndex(postgres_dsn, pool_size=2, timeout_ms=10_000)
    yield index
    for collection in index.collections():
        index.drop_collection(collection.name)
    index.close()


@pytest.fixture(scope="module")
def loaded(index: PgVectorIndex, recipes_job: tuple[Path, str], postgres_dsn: str) -> str:
    from lamina_tools.cli import main

    workdir, job_id = recipes_job
    argv = ["index", "load", COLLECTION, job_id, "--local", str(workdir), "--dsn", postgres_dsn]
    assert main(argv) == 0
    return COLLECTION


@pytest.fixture(scope="module")
def search_client(loaded: str, postgres_dsn: str, fp32_dir: Path, e5_dir: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    env = {"LAMINA_MODELS": f"{fp32_dir},{e5_dir}", "LAMINA_SEARCH_DSN": postgres_dsn}
    app = import_app("functions.embed.app", env, keep=False)
    with TestClient(app) as client:
        yield client


def job_vectors(workdir: Path, job_id: str) -> dict[str, np.ndarray]:
    rows = [
        json.loads(line)
        for part in sorted((workdir / "jobs" / job_id / "parts").glob("*.jsonl"))
        for line in part.read_text().splitlines()
    ]
    return {str(row["id"]): np.asarray(row["embedding"], dtype=np.float32) for row in rows}


def exact(
    vectors: dict[str, np.ndarray], query: np.ndarray, k: int, skip: frozenset[str] = frozenset()
) -> list[str]:
    ids = [i for i in vectors if i not in skip]
    scores = np.stack([vectors[i] for i in ids]) @ (query / np.linalg.norm(query))
    return [ids[j] for j in np.argsort(-scores, kind="stable")[:k]]


def test_load_is_idempotent_and_keeps_texts_and_metadata(
    index: PgVectorIndex,
    loaded: str,
    recipes_job: tuple[Path, str],
    postgres_dsn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lamina_tools.cli import main

    collection = index.collection(loaded, count=True)
    assert (collection.count, collection.dim, collection.indexed) == (len(RECIPES), 384, True)
    assert collection.model.name == "multilingual-e5-small"
    workdir, job_id = recipes_job
    capsys.readouterr()
    argv = ["index", "load", COLLECTION, job_id, "--local", str(workdir), "--dsn", postgres_dsn]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"0 inserted, 0 updated, {len(RECIPES)} unchanged" in out
    assert index.collection(loaded, count=True).count == len(RECIPES)
    hits = index.search(loaded, job_vectors(workdir, job_id)["r-bulgogi"], 1)
    assert hits[0].id == "r-bulgogi"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].text == RECIPES[7][1]
    assert hits[0].metadata == {"kind": "meat", "spicy": False}


def test_search_by_text_matches_an_exact_computation(
    search_client: Any, recipes_job: tuple[Path, str]
) -> None:
    body = {"collection": COLLECTION, "query": "김치찌개 끓이는 법", "top_k": 5}
    r = search_client.post("/api/v1/search", json=body)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["model"] == "multilingual-e5-small"
    ids = [hit["id"] for hit in result["results"]]
    assert ids[0] == "r-kimchi-jjigae"
    query = search_client.post(
        "/api/v1/embed",
        json={"text": body["query"], "model": "multilingual-e5-small", "input_type": "query"},
    ).json()["embedding"]
    vectors = job_vectors(*recipes_job)
    assert ids == exact(vectors, np.asarray(query, dtype=np.float32), 5)
    scores = [hit["score"] for hit in result["results"]]
    assert scores == sorted(scores, reverse=True)
    want = float(vectors["r-kimchi-jjigae"] @ np.asarray(query, dtype=np.float32))
    assert scores[0] == pytest.approx(want, abs=1e-4)


def test_search_by_vector_and_with_a_metadata_filter(
    search_client: Any, recipes_job: tuple[Path, str]
) -> None:
    vectors = job_vectors(*recipes_job)
    query = vectors["r-galbitang"] * 3.0  # cosine: the length does not matter
    body = {
        "collection": COLLECTION,
        "vector": query.tolist(),
        "top_k": 3,
        "filter": {"kind": "soup"},
    }
    r = search_client.post("/api/v1/search", json=body)
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    assert [hit["id"] for hit in hits] == exact(
        {k: v for k, v in vectors.items() if k in ("r-galbitang", "r-miyeokguk", "r-samgyetang")},
        query,
        3,
    )
    assert all(hit["metadata"]["kind"] == "soup" for hit in hits)
    spicy = {"collection": COLLECTION, "query": "국물 요리", "top_k": 20, "filter": {"spicy": True}}
    found = search_client.post("/api/v1/search", json=spicy).json()["results"]
    assert {hit["id"] for hit in found} == {rid for rid, _, meta in RECIPES if meta["spicy"]}


def test_recommend_from_liked_items(search_client: Any, recipes_job: tuple[Path, str]) -> None:
    vectors = job_vectors(*recipes_job)
    liked, disliked = ["r-kimchi-jjigae", "r-sundubu"], ["r-naengmyeon"]
    body = {"collection": COLLECTION, "liked": [*liked, "r-gone"], "disliked": disliked, "top_k": 4}
    r = search_client.post("/api/v1/recommend", json=body)
    assert r.status_code == 200, r.text
    result = r.json()
    ids = [hit["id"] for hit in result["results"]]
    assert result["missing"] == ["r-gone"]
    assert not set(ids) & {*liked, *disliked}, "seen items are excluded"
    taste = np.mean([vectors[i] for i in liked], axis=0) - 0.5 * vectors["r-naengmyeon"]
    assert ids == exact(vectors, taste, 4, skip=frozenset([*liked, *disliked]))
    again = search_client.post("/api/v1/recommend", json={**body, "exclude_seen": False}).json()
    assert again["results"][0]["id"] in liked


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "param"),
    [
        (
            "/api/v1/search",
            {"collection": "nope", "query": "x"},
            404,
            "collection_not_found",
            "collection",
        ),
        (
            "/api/v1/search",
            {"collection": COLLECTION, "vector": [0.1, 0.2]},
            422,
            "invalid_input",
            "vector",
        ),
        (
            "/api/v1/search",
            {"collection": COLLECTION, "vector": [0.0] * 384},
            422,
            "invalid_input",
            "vector",
        ),
        (
            "/api/v1/search",
            {"collection": COLLECTION, "query": "x", "vector": [1.0]},
            422,
            "validation_error",
            None,
        ),
        (
            "/api/v1/search",
            {"collection": COLLECTION, "query": "x", "top_k": 101},
            422,
            "invalid_input",
            "top_k",
        ),
        (
            "/api/v1/search",
            {"collection": "Bad-Name", "query": "x"},
            422,
            "validation_error",
            "collection",
        ),
        (
            "/api/v1/recommend",
            {"collection": COLLECTION, "liked": ["r-gone"]},
            404,
            "item_not_found",
            "liked",
        ),
        (
            "/api/v1/recommend",
            {"collection": COLLECTION, "liked": []},
            422,
            "validation_error",
            "liked",
        ),
    ],
)
def test_bad_requests_are_4xx_that_name_the_field(
    search_client: Any, path: str, body: dict[str, Any], status: int, code: str, param: str | None
) -> None:
    r = search_client.post(path, json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param


def test_a_collection_of_a_model_not_served_is_a_409(
    search_client: Any, index: PgVectorIndex
) -> None:
    other = ModelIdentity("multilingual-e5-small", "0-other", "f" * 64)
    index.create_collection("other_model", other, 384)
    index.upsert("other_model", [Item("a", np.ones(384, dtype=np.float32))], other)
    r = search_client.post("/api/v1/search", json={"collection": "other_model", "query": "김치"})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "model_mismatch"
    assert "f" * 12 in r.json()["error"]["message"]
    by_vector = {"collection": "other_model", "vector": [1.0] * 384, "top_k": 1}
    assert search_client.post("/api/v1/search", json=by_vector).json()["results"][0]["id"] == "a"
    with pytest.raises(Exception, match="never mixed"):
        index.upsert(COLLECTION, [Item("x", np.ones(384, dtype=np.float32))], other)


def test_collections_are_listed(search_client: Any) -> None:
    r = search_client.get("/api/v1/collections")
    assert r.status_code == 200, r.text
    found = {c["name"]: c for c in r.json()["collections"]}
    assert found[COLLECTION]["count"] == len(RECIPES)
    assert found[COLLECTION]["indexed"] is True


def test_without_a_database_search_is_a_503_that_says_why(multi_client: Any) -> None:
    r = multi_client.post("/api/v1/search", json={"collection": COLLECTION, "query": "x"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "search_not_configured"
    assert "LAMINA_SEARCH_DSN" in r.json()["error"]["message"]


def test_a_database_that_does_not_answer_is_a_503_with_retry_after(fp32_dir: Path) -> None:
    import socket

    from fastapi.testclient import TestClient

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dsn = f"postgresql://lamina:secret-password@127.0.0.1:{port}/lamina"
    env = {
        "LAMINA_MODELS": str(fp32_dir),
        "LAMINA_SEARCH_DSN": dsn,
        "LAMINA_SEARCH_TIMEOUT_MS": "1000",
    }
    app = import_app("functions.embed.app", env, keep=False)
    with TestClient(app) as client:
        r = client.post("/api/v1/search", json={"collection": COLLECTION, "query": "x"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "index_unavailable"
    assert r.headers["retry-after"] == "2"
    assert "secret-password" not in r.text
    assert str(port) not in r.json()["error"]["message"]


def readme_search_block() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Search and recommendations", 1)[1].split("\n## ", 1)[0]
    return section.split("```bash", 1)[1].split("```", 1)[0]


def test_the_readme_search_commands_do_what_they_say(
    postgres_dsn: str, fp32_dir: Path, e5_dir: Path, tmp_path: Path
) -> None:
    """The README's block, run as written (a work directory of the test's own added): the
    job command loads the collection, and each request's answer is what its comment says."""
    import os
    import re
    import shlex
    import subprocess
    import sys

    import httpx

    from tests.live import live_server

    root = Path(__file__).resolve().parents[2]
    block = readme_search_block().replace("\\\n", " ")
    (job,) = [line for line in block.splitlines() if "lamina jobs run" in line]
    argv = shlex.split(job.split("#", 1)[0])
    argv[0] = str(Path(sys.executable).parent / "lamina")
    argv = [a.replace("build/jobs/", f"{tmp_path}/") for a in argv]
    env = {**os.environ, "LAMINA_SEARCH_DSN": postgres_dsn}
    done = subprocess.run(
        [*argv, "--workdir", str(tmp_path / "jobs")], cwd=root, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = r"load into recipes: loaded, 20 items \(\d+ inserted"
    assert re.search(loaded, done.stdout), done.stdout
    bodies = [json.loads(b) for b in re.findall(r"-d '(\{.*?\})'", block)]
    comments = re.findall(r"-d '\{.*?\}'\s*(?:#\s*(\S+) first)?", block)
    assert len(bodies) == 3
    server_env = {"LAMINA_MODELS": f"{fp32_dir},{e5_dir}", "LAMINA_SEARCH_DSN": postgres_dsn}
    with live_server("functions.embed.app", server_env) as url:
        for body, first in zip(bodies, comments, strict=True):
            path = "/api/v1/recommend" if "liked" in body else "/api/v1/search"
            r = httpx.post(url + path, json=body, timeout=30)
            assert r.status_code == 200, r.text
            hits = r.json()["results"]
            assert hits, body
            if first:
                assert hits[0]["text"].startswith(first), (first, hits[0])
            for key, value in body.get("filter", {}).items():
                assert all(hit["metadata"][key] == value for hit in hits)


def test_a_job_with_npz_parts_loads_the_same_items(
    recipes_job: tuple[Path, str], e5_dir: Path, tmp_path: Path
) -> None:
    """npz parts (ids, lines, embeddings arrays) give the same items as jsonl parts."""
    from lamina.inference.embedder import OnnxEmbedder
    from lamina.search.load import from_job
    from lamina_tools.local_batch import run_local

    workdir, job_id = recipes_job
    source = tmp_path / "recipes.jsonl"
    lines = [json.dumps({"id": r, "text": t, **m}, ensure_ascii=False) for r, t, m in RECIPES]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_local(
        source, tmp_path / "jobs", OnnxEmbedder.load(e5_dir), Settings.from_env({}), out="npz"
    )
    npz = list(from_job(run.store, run.manifest.job_id).items)
    want = job_vectors(workdir, job_id)
    assert [item.id for item in npz] == [rid for rid, _, _ in RECIPES]
    for item, (_, text, meta) in zip(npz, RECIPES, strict=True):
        assert (item.text, dict(item.metadata)) == (text, meta)
        np.testing.assert_allclose(item.vector, want[item.id], atol=1e-6)
