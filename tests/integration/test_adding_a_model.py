"""docs/adding-a-model.md's worked example, run as written: the SpamScorer handler on the
built spam detector, through the lifecycle, and the command the guide prints."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lamina.errors import InvalidInputError
from tests.conftest import ROOT

EXAMPLE = ROOT / "docs" / "examples" / "spam_scorer.py"
SPAM_DIR = ROOT / "build" / "models" / "spam-detector"
HAM = "see you at lunch tomorrow"
SPAM = (
    "CONGRATULATIONS!!! You have WON a FREE cash prize. "
    "Claim it now at http://win.example/claim before it expires!"
)


@pytest.fixture(scope="module")
def scorer() -> Any:
    if not (SPAM_DIR / "manifest.json").is_file():
        pytest.fail(f"no built model at {SPAM_DIR}: run `make models` first", pytrace=False)
    spec = importlib.util.spec_from_file_location("spam_scorer", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SpamScorer(SPAM_DIR)


def test_the_example_handler_runs_the_lifecycle(scorer: Any) -> None:
    handled = scorer.handle([HAM, SPAM])
    ham, spam = handled.output
    assert ham < 0.5 < spam
    assert handled.timings.inference_ms > 0
    assert scorer.manifest.name == "spam-detector"


def test_the_example_refuses_an_empty_request(scorer: Any) -> None:
    with pytest.raises(InvalidInputError, match="at least one text"):
        scorer.handle([])


def test_the_guide_command_works_as_written() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(Path("build/models/spam-detector")), HAM, SPAM],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith(HAM)
    assert float(lines[0].split()[0]) < 0.5 < float(lines[1].split()[0])
    assert lines[2].startswith("stages (ms):")
