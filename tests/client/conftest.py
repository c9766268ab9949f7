"""Fixtures of the client's tests: a live embedding server (as `make serve` runs it) behind
a fault-injecting proxy, and a stub of the routes whose server side is not written yet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client.faultproxy import FaultProxy
from tests.client.stub import StubState, ThreadServer, make_app
from tests.live import live_server

# A small token budget, so that a request over it is cheap to make (the client splits it).
MAX_REQUEST_TOKENS = 4096
# Retries without long waits (Retry-After still counts).
FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05}


@pytest.fixture(scope="session")
def live_url(
    fp32_dir: Path, e5_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The embedding function serving MiniLM (default) and multilingual-e5-small."""
    env = {
        "LAMINA_MODELS": f"{fp32_dir},{e5_dir}",
        "LAMINA_COALESCE": "true",
        "LAMINA_MAX_REQUEST_TOKENS": str(MAX_REQUEST_TOKENS),
    }
    log = tmp_path_factory.mktemp("client") / "embed-server.log"
    with live_server("functions.embed.app", env, log=log) as url:
        yield url


@pytest.fixture
def proxy(live_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(live_url) as running:
        yield running


@pytest.fixture(scope="session")
def stub_server() -> Iterator[tuple[str, StubState]]:
    state = StubState()
    with ThreadServer(make_app(state)) as server:
        yield server.url, state


@pytest.fixture
def stub(stub_server: tuple[str, StubState]) -> tuple[str, StubState]:
    """The stub's URL and what it recorded (from this test only)."""
    stub_server[1].reset()
    return stub_server
