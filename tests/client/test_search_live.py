"""lamina-client against the real search API: a live embedding server on a real PostgreSQL
+ pgvector, with the README's `recipes` collection (docs/examples/recipes.jsonl) loaded from
a local batch job (e5). The README's recipe-backend example runs here unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina_client import LaminaClient, NotFoundError
from tests.client.test_docs import GUIDE, example
from tests.conftest import ROOT
from tests.live import live_server


@pytest.fixture(scope="module")
def search_url(
    postgres_dsn: str, fp32_dir: Path, e5_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    from lamina.inference.embedder import OnnxEmbedder
    from lamina.search.load import from_job
    from lamina.settings import Settings
    from lamina_tools.index_cli import load_into
    from lamina_tools.local_batch import run_local

    root = tmp_path_factory.mktemp("client-search")
    source = ROOT / "docs/examples/recipes.jsonl"  # the README's data: Korean, 2 others
    run = run_local(source, root / "jobs", OnnxEmbedder.load(e5_dir), Settings.from_env({}))
    assert run.manifest.status == "succeeded"
    load_into(postgres_dsn, "recipes", from_job(run.store, run.manifest.job_id))
    env = {"LAMINA_MODELS": f"{fp32_dir},{e5_dir}", "LAMINA_SEARCH_DSN": postgres_dsn}
    with live_server("functions.embed.app", env) as url:
        yield url


def test_the_guide_example_runs_against_the_real_api(
    search_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LAMINA_URL", search_url)
    monkeypatch.delenv("LAMINA_TOKEN", raising=False)
    exec(compile(example(), str(GUIDE), "exec"), {"__name__": "recipes"})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert lines[0].split()[0] == "r-kimchi-jjigae"
    assert all(line.split()[0].startswith("r-") for line in lines), "Korean recipes only"
    scores = [float(line.split()[1]) for line in lines]
    assert scores == sorted(scores, reverse=True)


def test_search_recommend_and_errors(search_url: str) -> None:
    with LaminaClient(search_url) as lamina:
        hits = lamina.search("recipes", query="spicy curry", top_k=3, filter={"spicy": True})
        assert hits[0].id == "x-vindaloo"
        assert hits.model == "multilingual-e5-small"
        assert all(hit.metadata["spicy"] is True for hit in hits)
        liked = lamina.recommend("recipes", liked=["r-naengmyeon", "r-gone"], top_k=2)
        assert liked[0].id == "r-kongguksu"
        assert liked.missing == ["r-gone"]
        with pytest.raises(NotFoundError) as caught:
            lamina.search("no_such_collection", query="x")
        assert caught.value.code == "collection_not_found"
