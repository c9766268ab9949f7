"""The request budgets of the embedding routes (issue 16): LAMINA_MAX_REQUEST_CHARS bounds a
request's texts together before anything is tokenized, LAMINA_MAX_REQUEST_TOKENS bounds what
the model would run (after truncation; split: every window) before it runs. Both with the
real models and the default limits, on every embedding protocol, and in a fresh process whose
peak RSS is read around the worst requests (the largest a 4 MiB body allowed before took
23 s and 1.1 GB on multilingual-e5-small, Zen 5, 2 vCPUs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.inference.embedder import OnnxEmbedder
from lamina.settings import Settings
from tests.conftest import import_app

ROOT = Path(__file__).resolve().parents[2]
LIMITS = Settings()
# 6 texts of 20,000 characters: each within LAMINA_MAX_TEXT_CHARS, 120,000 together.
OVER_CHARS = ["recipe " * 2857 + "x"] * 6
# 200 Korean texts of 480 characters: 96,000 characters (within the character budget), about
# 360 e5 tokens each, 72,000 together: over the 65,536 tokens of LAMINA_MAX_REQUEST_TOKENS.
KOREAN = "김치찌개는 돼지고기와 두부를 넣고 끓인다 "
OVER_TOKENS = [(f"{i:03d} " + KOREAN * 40)[:480] for i in range(200)]


@pytest.fixture
def model_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every model run of any embedder (the rows it ran), recorded."""
    runs: list[int] = []
    original = OnnxEmbedder.inference

    def counted(self: OnnxEmbedder, inputs: Any) -> Any:
        runs.append(len(inputs.tokens.encoded.ids))
        return original(self, inputs)

    monkeypatch.setattr(OnnxEmbedder, "inference", counted)
    return runs


def test_the_defaults_are_what_the_docs_say() -> None:
    assert (LIMITS.max_request_chars, LIMITS.max_request_tokens) == (100_000, 65_536)
    assert sum(map(len, OVER_CHARS)) > LIMITS.max_request_chars
    assert all(len(text) <= LIMITS.max_text_chars for text in OVER_CHARS)
    assert sum(map(len, OVER_TOKENS)) <= LIMITS.max_request_chars


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/api/v1/embed-batch", {"texts": OVER_CHARS}, "texts"),
        ("/v1/embeddings", {"input": OVER_CHARS, "model": "all-MiniLM-L6-v2"}, "input"),
        ("/api/v1/similarity", {"query": "x", "candidates": OVER_CHARS}, "candidates"),
        (
            "/api/v1/embed-batch",
            {"texts": [OVER_CHARS[0][:15_000]] * 7, "long_text": "split"},
            "texts",
        ),
    ],
)
def test_characters_over_the_budget_are_refused_before_tokenizing(
    multi_client: Any, model_runs: list[int], path: str, body: dict[str, Any], param: str
) -> None:
    r = multi_client.post(path, json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    split = body.get("long_text") == "split"
    want = "text_too_many_chars" if split else "request_too_many_chars"  # split's own, lower
    assert (error["code"], error["param"]) == (want, param)
    assert (
        str(LIMITS.max_split_text_chars if split else LIMITS.max_request_chars)
        in (error["message"])
    )
    assert model_runs == []


def test_tei_gets_its_own_error_body_for_the_character_budget(multi_client: Any) -> None:
    r = multi_client.post("/embed", json={"inputs": OVER_CHARS})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error_type"] == "validation"  # TEI's ErrorType, serialized lowercase
    assert "100000" in body["error"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (
            "/api/v1/embed-batch",
            {"texts": OVER_TOKENS, "model": "multilingual-e5-small", "input_type": "passage"},
            "texts",
        ),
        ("/v1/embeddings", {"input": OVER_TOKENS, "model": "multilingual-e5-small"}, "input"),
    ],
)
def test_tokens_over_the_budget_are_refused_before_the_model_runs(
    multi_client: Any, model_runs: list[int], path: str, body: dict[str, Any], param: str
) -> None:
    r = multi_client.post(path, json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["param"]) == ("request_too_many_tokens", param)
    assert str(LIMITS.max_request_tokens) in error["message"]
    assert model_runs == [], "the model ran for a request over its token budget"


@pytest.fixture(scope="module")
def tight_client(e5_dir: Path) -> Iterator[Any]:
    """e5 alone with LAMINA_MAX_REQUEST_TOKENS=20000: with the defaults, split mode cannot
    reach the token budget (LAMINA_MAX_SPLIT_TEXT_CHARS, 50,000 characters, are ~45,000
    tokens), so its check is shown under a lower budget."""
    from fastapi.testclient import TestClient

    env = {"LAMINA_MODELS": str(e5_dir), "LAMINA_MAX_REQUEST_TOKENS": "20000"}
    app = import_app("functions.embed.app", env, keep=False)
    with TestClient(app) as test_client:
        yield test_client


def test_split_windows_count_against_the_token_budget(
    tight_client: Any, model_runs: list[int]
) -> None:
    text = KOREAN * 1300  # 29,900 characters: ~26,000 tokens in ~55 windows
    r = tight_client.post("/api/v1/embed", json={"text": text, "long_text": "split"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["param"]) == ("request_too_many_tokens", "text")
    assert "all windows" in error["message"]
    assert "20000" in error["message"]
    assert model_runs == []
    shorter = {"text": KOREAN * 600, "long_text": "split"}  # ~12,000 tokens: within
    r = tight_client.post("/api/v1/embed", json=shorter)
    assert r.status_code == 200, r.text
    assert r.json()["windows"] > 1
    assert r.json()["tokens"] <= 20_000


def test_a_request_at_the_budget_still_runs(multi_client: Any, model_runs: list[int]) -> None:
    """Half the over-budget request (100 texts, ~36,000 tokens) is embedded as usual."""
    body = {"texts": OVER_TOKENS[:100], "model": "multilingual-e5-small"}
    r = multi_client.post("/api/v1/embed-batch", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 100
    assert 30_000 < r.json()["tokens"] <= LIMITS.max_request_tokens
    assert sum(model_runs) == 100


def test_openapi_states_the_budgets(multi_client: Any) -> None:
    schemas = multi_client.get("/openapi.json").json()["components"]["schemas"]
    texts = schemas["EmbedBatchRequest"]["properties"]["texts"]
    candidates = schemas["SimilarityRequest"]["properties"]["candidates"]
    for field in (texts, candidates):
        assert field["x-max-request-chars"] == LIMITS.max_request_chars
        assert field["x-max-request-tokens"] == LIMITS.max_request_tokens
        assert "LAMINA_MAX_REQUEST_TOKENS" in field["description"]
    openai = schemas["OpenAIEmbeddingsRequest"]["properties"]["input"]
    listed = [branch for branch in openai["anyOf"] if branch.get("type") == "array"]
    assert listed[0]["x-max-request-tokens"] == LIMITS.max_request_tokens
    tei = schemas["TeiEmbedRequest"]["properties"]["inputs"]
    assert "LAMINA_MAX_REQUEST_CHARS" in tei["description"]


# The largest requests the limits let through or refuse, in a fresh process: peak RSS
# (VmHWM) growth and time around each.
_MEMORY_SCRIPT = """
import json, re, sys, time
from fastapi.testclient import TestClient
from tests.conftest import import_function

module = import_function("functions.embed.app", {"LAMINA_MODELS": sys.argv[1]})
bodies = json.loads(sys.stdin.read())

def peak_kb():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1))

results = []
with TestClient(module.app) as client:
    assert client.post("/api/v1/embed", json={"text": "warm"}).status_code == 200
    for body in bodies:
        before, began = peak_kb(), time.monotonic()
        r = client.post("/api/v1/embed-batch", json=body)
        code = r.json()["error"]["code"] if r.status_code != 200 else None
        results.append(
            {"status": r.status_code, "code": code, "growth_kb": peak_kb() - before,
             "seconds": time.monotonic() - began}
        )
print(json.dumps(results))
"""


def test_worst_requests_are_refused_in_bounded_memory(e5_dir: Path) -> None:
    """256 texts of 15,000 characters (3.8 MB, under the 4 MiB body limit) took 23 s and
    1.1 GB on e5 before the budgets; now each over-budget body is a 422 within 64 MiB."""
    worst_chars = {"texts": ["recipe soup " * 1250] * 256}
    worst_tokens = {"texts": OVER_TOKENS}
    run = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(e5_dir)],
        input=json.dumps([worst_chars, worst_tokens]),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    codes = [(x["status"], x["code"]) for x in results]
    assert codes == [(422, "request_too_many_chars"), (422, "request_too_many_tokens")]
    for result in results:
        assert result["growth_kb"] < 64 * 1024, results
