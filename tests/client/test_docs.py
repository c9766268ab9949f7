"""The recipe backend's example in docs/client.md, run against the stub of the API: the
guide's code is the client's real API, not a sketch of it."""

from __future__ import annotations

import re

import pytest

from tests.client.stub import DIM, StubState
from tests.conftest import ROOT

GUIDE = ROOT / "README.md"
MARKER = (
    "<!-- example: recipe-search (run by tests/client/test_docs.py and test_search_live.py) -->"
)


def example() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    assert MARKER in text, f"{GUIDE} lost its example marker"
    match = re.match(r"\s*```python\n(.*?)\n```", text.split(MARKER, 1)[1], re.DOTALL)
    assert match, "the marker must be followed by a ```python block"
    return match.group(1)


def test_the_recipe_example_runs(
    stub: tuple[str, StubState], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = stub
    monkeypatch.setenv("LAMINA_URL", url)
    monkeypatch.setenv("LAMINA_TOKEN", "eyJ.test.token")
    exec(compile(example(), str(GUIDE), "exec"), {"__name__": "recipes"})
    lines = capsys.readouterr().out.splitlines()
    # Korean recipes only (the filter), best first, each "id score title".
    assert sorted(line.split()[0] for line in lines) == ["r1", "r2", "r5"]
    scores = [float(line.split()[1]) for line in lines]
    assert scores == sorted(scores, reverse=True)
    embed, search = state.calls
    assert (embed.path, search.path) == ("/api/v1/embed", "/api/v1/search")
    assert embed.json() == {
        "text": "매운 김치찌개",
        "model": "multilingual-e5-small",
        "input_type": "query",
        "normalize": True,
    }
    sent = search.json()
    assert (sent["collection"], sent["top_k"], sent["filter"]) == (
        "recipes",
        5,
        {"cuisine": "korean"},
    )
    assert len(sent["vector"]) == DIM
    assert {c.headers["authorization"] for c in state.calls} == {"Bearer eyJ.test.token"}


def test_the_example_degrades_when_lamina_is_down(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.live import free_port

    monkeypatch.setenv("LAMINA_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    code = example().replace("deadline=5.0", "deadline=0.5")
    assert "deadline=0.5" in code
    exec(compile(code, str(GUIDE), "exec"), {"__name__": "recipes"})
    assert capsys.readouterr().out == ""  # no recipes, no exception
