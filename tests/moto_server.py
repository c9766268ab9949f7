"""A real ``moto_server`` over HTTP for tests that cross process boundaries, and the fake
credentials every process talking to it uses (so no call can ever reach AWS)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def boto3_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": FAKE_AWS["AWS_SESSION_TOKEN"],
        "region_name": FAKE_AWS["AWS_DEFAULT_REGION"],
    }


def subprocess_env(endpoint: str) -> dict[str, str]:
    """This environment without AWS or lamina settings, plus fake credentials and moto."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMINA_"))}
    return base | FAKE_AWS | {"AWS_ENDPOINT_URL": endpoint}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# moto_server imports most of boto and moto before it listens: seconds on a quiet machine,
# far more when the CPUs are busy (a CI run beside a benchmark took over 30 s).
STARTUP_TIMEOUT_S = 120


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto_server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail(
        f"moto_server did not answer on {url} within {STARTUP_TIMEOUT_S} s:\n{log.read_text()}"
    )


@contextmanager
def moto_server(
    log_dir: Path,
    host: str = "127.0.0.1",
    *,
    port: int | None = None,
    url_host: str = "127.0.0.1",
    log_name: str = "moto_server.log",
) -> Iterator[str]:
    """Start ``moto_server`` (installed with moto[server] in the venv) bound to ``host`` on
    ``port`` (default: a free one); yield its URL as ``http://<url_host>:<port>`` (another
    address of this machine, e.g. a container bridge's gateway); stop it. Its log is
    ``log_dir/log_name``."""
    server = Path(sys.executable).with_name("moto_server")
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / log_name
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(server), "-H", host, "-p", str(port)], stdout=sink, stderr=sink
        )
    url = f"http://{url_host}:{port}"
    try:
        _wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
