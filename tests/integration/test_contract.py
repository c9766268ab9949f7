"""Every HTTP function against its own OpenAPI document: schemathesis (.venv-clients, pinned in
tests/clients/requirements.txt) runs its coverage and fuzzing phases with every check on
against a live local server (uvicorn, as `make serve` runs it), with a fixed seed.

What the run proves: no input reaches a 5xx; every answer (status, content type, headers,
body) is what the document says; what the document calls invalid is rejected and what it
calls valid is accepted, except the rejections tests/clients/schemathesis.toml lists (limits
JSON Schema cannot state), each held to its reason by tests/clients/schemathesis_hooks.py.

Replay a failure: the failure message and the log print the command, with the seed
(LAMINA_SCHEMATHESIS_SEED=<seed> picks another one). docs/contract.md has the details.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lamina.settings import Settings
from tests.conftest import E5_ROOT, MODEL_ROOT, ROOT
from tests.live import live_server

pytestmark = pytest.mark.slow

CLIENTS = ROOT / ".venv-clients"
SCHEMATHESIS = CLIENTS / "bin" / "schemathesis"
CONFIG = ROOT / "tests/clients/schemathesis.toml"
REPORTS = ROOT / "build/schemathesis"
# Fixed so that CI runs are repeatable; LAMINA_SCHEMATHESIS_SEED replays or explores another.
DEFAULT_SEED = 20260101
SEED = int(os.environ.get("LAMINA_SCHEMATHESIS_SEED", DEFAULT_SEED))
# Every function gets at least this many generated cases (the coverage phase's plus the
# fuzzing phase's), and its whole run this long at most.
MIN_CASES = 1000
RUN_TIMEOUT_S = 150


@dataclass(frozen=True)
class Function:
    name: str
    module: str
    env: dict[str, str]
    # Fuzzing examples per operation: enough for MIN_CASES with the coverage phase's cases.
    max_examples: int
    # Operations another piece of work owns, left out of this run (none today).
    exclude_paths: tuple[str, ...] = field(default=())
    # What the hooks aim generated requests at (schemathesis_hooks.py): for the generic
    # function, its served model names and its query model's parameters.
    hook_env: dict[str, str] = field(default_factory=dict)


def _dir(path: Path) -> str:
    if not (path / "manifest.json").is_file():
        pytest.fail(f"no built model at {path}: run `make models` first", pytrace=False)
    return str(path)


def functions() -> list[Function]:
    return [
        Function(
            "embed",
            "functions.embed.app:app",
            {
                "LAMINA_MODELS": f"{MODEL_ROOT / 'fp32'},{E5_ROOT / 'q4'}",
                # an A/B test of MiniLM (int8 as the candidate): fuzzed requests are drawn,
                # and outcomes for it are accepted (202), for e5 refused (422 no_ab_test)
                "LAMINA_AB_CANDIDATES": str(MODEL_ROOT / "int8"),
                "LAMINA_AB_WEIGHT": "0.5",
            },
            max_examples=150,
        ),
        Function(
            "classify",
            "functions.classify.app:app",
            {"MODEL_URI": str(ROOT / "build/models/intent-classifier")},
            max_examples=500,
        ),
        Function(
            "image",
            "functions.image_classify.app:app",
            {"MODEL_URI": str(ROOT / "build/models/digits-classifier")},
            max_examples=1500,
        ),
        Function(
            "onnx",
            "functions.onnx.app:app",
            {
                "LAMINA_MODELS": f"{ROOT / 'build/models/spam-detector'},"
                f"{ROOT / 'build/models/digits-classifier'},"
                f"{ROOT / 'build/models/listing-ranker'}"
            },
            max_examples=150,
            hook_env={
                "LAMINA_CONTRACT_MODELS": "spam-detector,digits-classifier,listing-ranker",
                "LAMINA_CONTRACT_SQL_PARAMETERS": "region,min_reviews,min_rooms,top_k",
            },
        ),
    ]


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


@pytest.fixture(scope="module")
def schemathesis() -> Path:
    if not SCHEMATHESIS.is_file():
        pytest.fail(
            f"no schemathesis at {SCHEMATHESIS}: run `make clients` (the third-party clients' "
            "venv, pinned in tests/clients/requirements.txt)",
            pytrace=False,
        )
    return SCHEMATHESIS


@contextmanager
def serving(function: Function, tmp: Path) -> Iterator[Server]:
    """The function's app under uvicorn on a free port, as `make serve` runs it."""
    for location in function.env.get("LAMINA_MODELS", function.env.get("MODEL_URI", "")).split(","):
        _dir(Path(location))
    log = tmp / f"{function.name}-server.log"
    with live_server(function.module.removesuffix(":app"), function.env, log=log) as url:
        yield Server(url, log)


def command(function: Function, url: str, seed: int) -> list[str]:
    """The schemathesis run of one function (also what a replay runs)."""
    reports = REPORTS / function.name
    cmd = [
        str(SCHEMATHESIS.relative_to(ROOT)),
        "--config-file",
        str(CONFIG.relative_to(ROOT)),
        "--no-color",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "coverage,fuzzing",
        "--max-examples",
        str(function.max_examples),
        "--seed",
        str(seed),
        # One worker: with two, hypothesis' lambda-source parsing races in CPython 3.11's ast
        # ("AST constructor recursion depth mismatch") and a case errors out at random.
        "--workers",
        "1",
        "--continue-on-failure",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-junit-path",
        str((reports / "junit.xml").relative_to(ROOT)),
    ]
    for path in function.exclude_paths:
        cmd += ["--exclude-path", path]
    return cmd


def limits_env() -> dict[str, str]:
    """The server's text limits (its defaults: the harness sets none), for the hook check."""
    defaults = Settings()
    return {
        "LAMINA_CONTRACT_MAX_TEXT_CHARS": str(defaults.max_text_chars),
        "LAMINA_CONTRACT_MAX_SPLIT_TEXT_CHARS": str(defaults.max_split_text_chars),
    }


def generated_cases(output: str) -> int:
    """The run's count of generated test cases (its summary's "Test cases" line)."""
    found = re.search(r"^\s*(\d+) generated", output, re.MULTILINE)
    return int(found.group(1)) if found else 0


def seed_collection(dsn: str) -> None:
    """The collection the search routes' examples name ("recipes", items "r-102", "r-311"),
    made by the served e5 model, so that schema-valid requests also reach real answers."""
    from lamina.inference.embedder import OnnxEmbedder
    from lamina.search.index import Item, ModelIdentity
    from lamina.search.pg import PgVectorIndex

    e5 = OnnxEmbedder.load(E5_ROOT / "q4")
    texts = {"r-102": "김치찌개: 김치와 돼지고기로 끓인 찌개", "r-311": "된장찌개: 된장을 푼 찌개"}
    vectors = e5.embed(list(texts.values()), input_type="passage").vectors
    model = ModelIdentity(e5.manifest.name, e5.manifest.version, e5.manifest.digest)
    index = PgVectorIndex(dsn)
    try:
        index.create_collection("recipes", model, e5.dim)
        items = [
            Item(rid, vector, text, {"kind": "stew"})
            for (rid, text), vector in zip(texts.items(), vectors, strict=True)
        ]
        index.upsert("recipes", items, model)
        index.build_index("recipes")
    finally:
        index.close()


@pytest.mark.parametrize("function", functions(), ids=lambda f: f.name)
def test_schemathesis(
    function: Function, schemathesis: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if function.name == "embed":  # its search routes, on a real index
        dsn = request.getfixturevalue("postgres_dsn")
        seed_collection(dsn)
        function = dataclasses.replace(function, env={**function.env, "LAMINA_SEARCH_DSN": dsn})
    with serving(function, tmp_path) as server:
        cmd = command(function, server.url, SEED)
        replay = (
            f"LAMINA_SCHEMATHESIS_SEED={SEED} .venv/bin/pytest "
            f"'tests/integration/test_contract.py::test_schemathesis[{function.name}]'"
        )
        print(f"schemathesis seed {SEED}: {shlex.join(cmd)}\nreplay: {replay}")
        began = time.monotonic()
        try:
            run = subprocess.run(
                cmd,
                cwd=ROOT,
                env={**os.environ, **limits_env(), **function.hook_env},
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout if isinstance(exc.stdout, str) else ""
            pytest.fail(
                f"schemathesis took over {RUN_TIMEOUT_S} s for {function.name} (seed {SEED}); "
                f"replay: {replay}\n{out[-5000:]}"
            )
        elapsed = time.monotonic() - began
        output = run.stdout + run.stderr
        REPORTS.joinpath(function.name).mkdir(parents=True, exist_ok=True)
        REPORTS.joinpath(function.name, "output.txt").write_text(output)
        cases = generated_cases(output)
        print(f"{function.name}: {cases} cases in {elapsed:.0f} s, exit {run.returncode}")
        failures = output[output.find("FAILURES") - 40 :] if "FAILURES" in output else output
        assert run.returncode == 0, (
            f"schemathesis found problems in the {function.name} function (seed {SEED}, "
            f"{cases} cases, {elapsed:.0f} s; server log {server.log}; full output "
            f"{REPORTS / function.name / 'output.txt'}).\nReplay: {replay}\n"
            f"Or against a running server: {shlex.join(cmd)}\n\n{failures[-12000:]}"
        )
        assert cases >= MIN_CASES, (
            f"{function.name}: only {cases} cases generated (want {MIN_CASES}); raise "
            "max_examples in tests/integration/test_contract.py"
        )
