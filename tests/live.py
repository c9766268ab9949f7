"""Live local servers for the tests that talk HTTP to lamina the way outside clients do:
`uvicorn <module>:app` in a subprocess on a free port, as the `make serve*` targets run it,
and the third-party clients of .venv-clients (`make clients`) run against it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(
    module: str, env: Mapping[str, str], *, log: Path | None = None, startup_s: float = 90.0
) -> Iterator[str]:
    """``uvicorn module:app`` on a free port with ``env`` added; yields its base URL once it
    answers ``GET /openapi.json``. Its output goes to ``log`` if given (kept for the
    reader of a failure), else only its last lines to a start-up failure's message."""
    import httpx

    port = free_port()
    with log.open("wb") if log else open(os.devnull, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"{module}:app", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "POWERTOOLS_METRICS_DISABLED": "true", **env},
            stdout=out,
            stderr=out if log else subprocess.PIPE,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_s
    try:
        while True:
            if proc.poll() is not None:
                if log is not None:
                    said = log.read_text(errors="replace")
                else:
                    assert proc.stderr is not None
                    said = proc.stderr.read().decode(errors="replace")
                pytest.fail(f"{module} exited: {said[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{module} did not start within {startup_s:.0f} s")
            try:
                if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def clients_python() -> Path:
    """The interpreter of .venv-clients (the third-party protocol clients); a clear failure
    when it is missing."""
    if not CLIENTS_PYTHON.exists():
        pytest.fail(
            f"{CLIENTS_PYTHON} is missing: run `make clients` (it installs the protocol "
            "clients these tests run: tests/clients/requirements.txt)"
        )
    return CLIENTS_PYTHON


def run_client(script: str, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run ``tests/clients/<script>`` with .venv-clients' Python. HF_HUB_OFFLINE is dropped
    for the client (huggingface_hub refuses every URL in offline mode, even localhost);
    the clients only ever talk to the local server they are given."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    return subprocess.run(
        [str(clients_python()), str(ROOT / "tests" / "clients" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
