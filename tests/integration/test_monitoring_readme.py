"""The README's A/B and drift blocks, run as written: `make serve` with the block's settings (on
a free port, the block's build/ paths moved into the test's directory), then each command
of the block in bash, as a user pastes them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.live import free_port

pytestmark = pytest.mark.slow


def block(name: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- {name} -->\n```bash\n(.*?)```", text, re.S)
    assert found, f"README has no <!-- {name} --> block"
    return [line for line in found[1].splitlines() if line.strip()]


def adapt(line: str, port: int, tmp: Path) -> str:
    """The line on the test's port, its build/ab, build/monitoring, build/drift.html in tmp."""
    line = line.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    line = line.replace("make serve", f"make serve PORT={port}")
    for path in ("build/ab", "build/monitoring", "build/drift.html"):
        line = line.replace(path, str(tmp / path.removeprefix("build/")))
    return line


@contextmanager
def serving(line: str, port: int, log: Path) -> Iterator[None]:
    import httpx

    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", line],
            cwd=ROOT,
            env={**os.environ, "POWERTOOLS_METRICS_DISABLED": "true"},
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`{line}` exited: {log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"`{line}` did not answer within 120 s")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def run(line: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_ab_block(tmp_path: Path) -> None:
    port = free_port()
    lines = [adapt(line, port, tmp_path) for line in block("ab-test")]
    serve, variant, outcome, traffic, report = lines
    with serving(serve, port, tmp_path / "server.log"):
        answered = run(variant)
        assert answered.returncode == 0, answered.stderr
        assert re.fullmatch(r"x-lamina-variant: (control|candidate)\s*", answered.stdout, re.I)
        counted = run(outcome)
        assert '"recorded":true' in counted.stdout, counted.stdout + counted.stderr
        sent = run(traffic)
        assert sent.returncode == 0, sent.stderr
    printed = run(report)
    assert printed.returncode == 0, printed.stderr
    assert "verdict: collecting" in printed.stdout, printed.stdout
    assert "all-MiniLM-L6-v2" in printed.stdout
    requests = "".join(p.read_text() for p in (tmp_path / "ab").glob("requests-*.jsonl"))
    outcomes = "".join(p.read_text() for p in (tmp_path / "ab").glob("outcomes-*.jsonl"))
    assert len(requests.splitlines()) == 41  # user-42 and the 40 of the loop
    assert len(outcomes.splitlines()) == 41
    assert '"variant": "candidate"' in requests
    assert '"variant": "control"' in requests


def test_the_drift_block(tmp_path: Path) -> None:
    port = free_port()
    serve, traffic, check = (adapt(line, port, tmp_path) for line in block("drift-check"))
    with serving(serve, port, tmp_path / "server.log"):
        sent = run(traffic)
        assert sent.returncode == 0, sent.stderr
    checked = run(check)
    assert checked.returncode == 3, checked.stdout + checked.stderr  # the comment's exit 3
    assert "drift" in checked.stdout
    assert "script_mix" in checked.stdout
    assert "<svg" in (tmp_path / "drift.html").read_text(encoding="utf-8")
