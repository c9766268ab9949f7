"""Shared fixtures: the built model directories, the app, Lambda events and context.

The model is built by `make model` (the `test` target depends on it). Tests that need it
fail with a clear message when it is missing rather than skipping.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).with_name("events")
FIXTURES = Path(__file__).with_name("fixtures")
MODEL_ROOT = Path(os.environ.get("LAMINA_TEST_MODEL_DIR", ROOT / "build/models/all-MiniLM-L6-v2"))


def model_dir(variant: str) -> Path:
    path = MODEL_ROOT / variant
    if not (path / "manifest.json").is_file():
        pytest.fail(f"no built model at {path}: run `make model` first", pytrace=False)
    return path


@pytest.fixture(scope="session")
def fp32_dir() -> Path:
    return model_dir("fp32")


@pytest.fixture(scope="session")
def int8_dir() -> Path:
    return model_dir("int8")


E5_ROOT = ROOT / "build/models/multilingual-e5-small"


@pytest.fixture(scope="session")
def e5_dir() -> Path:
    """multilingual-e5-small's q4 directory (`make models` builds it)."""
    path = E5_ROOT / "q4"
    if not (path / "manifest.json").is_file():
        pytest.fail(
            f"no built model at {path}: run `make models` (or `.venv/bin/lamina models "
            "build --model multilingual-e5-small`) first",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def multi_app(fp32_dir: Path, e5_dir: Path) -> Any:
    """The embedding function serving both models (MiniLM fp32 first: the default)."""
    return import_app("functions.embed.app", {"LAMINA_MODELS": f"{fp32_dir},{e5_dir}"}, keep=False)


@pytest.fixture(scope="session")
def multi_client(multi_app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(multi_app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def golden() -> tuple[list[str], np.ndarray]:
    data = json.loads((FIXTURES / "golden_minilm.json").read_text(encoding="utf-8"))
    texts = [item["text"] for item in data["items"]]
    vectors = np.stack(
        [np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in data["items"]]
    )
    return texts, vectors


def import_function(module: str, env: dict[str, str], *, keep: bool = True) -> Any:
    """Import a function's ``app`` module afresh, with ``env`` set only while it is imported.

    Settings are read once per process (``get_settings`` caches them) and each app loads its
    model at import, so the settings cache is cleared around the import, and the module and
    its ``handler`` sibling are dropped from ``sys.modules`` first: every test module gets
    the app it asked for, whatever another test module imported before it, and nothing
    leaks into the subprocesses that later tests start. ``keep=False`` puts the modules that
    were imported before back into ``sys.modules`` afterwards, so tests that do ``from
    functions.embed.app import served`` still get the session's app.
    """
    import importlib
    import sys

    from aws_lambda_powertools import Logger

    from lamina.settings import get_settings

    package = module.rpartition(".")[0]
    names = (f"{package}.handler", module)
    before = {name: sys.modules.get(name) for name in names}
    # Powertools loggers of one service share their keys: the app loaded here appends its
    # model's version at cold start, which keep=False takes back too.
    logger = Logger(service=get_settings().service_name)
    keys = dict(logger.get_current_keys())
    for name in names:
        sys.modules.pop(name, None)
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        return importlib.import_module(module)
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        if not keep:
            logger.remove_keys(set(logger.get_current_keys()) - set(keys))
            logger.append_keys(**keys)
            for name, old in before.items():
                if old is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = old


def import_app(module: str, env: dict[str, str], *, keep: bool = True) -> Any:
    """The ``app`` of ``import_function(module, env)``."""
    return import_function(module, env, keep=keep).app


@pytest.fixture(scope="session")
def embed_app(fp32_dir: Path) -> Any:
    """The embedding function's FastAPI app, on the fp32 model, imported once per session."""
    return import_app("functions.embed.app", {"MODEL_URI": str(fp32_dir)})


@pytest.fixture(scope="session")
def client(embed_app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(embed_app) as test_client:
        yield test_client


@dataclass
class LambdaContext:
    function_name: str = "lamina-embed"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:lamina-embed"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/lamina-embed"
    log_stream_name: str = "2026/11/21/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def api_event(
    kind: str, method: str, path: str, body: Any = None, *, base64_body: bool = False
) -> dict[str, Any]:
    """An API Gateway event from the SAM-generated samples in tests/events/.

    kind: "http" (HTTP API, payload v2) or "rest" (REST API, payload v1).
    """
    name = {"http": "apigateway_http_api_proxy.json", "rest": "apigateway_aws_proxy.json"}[kind]
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / name).read_text()))
    raw = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    encoded = raw is not None and base64_body
    payload = base64.b64encode(raw.encode()).decode() if encoded and raw is not None else raw
    headers = {"content-type": "application/json"} if raw is not None else {}
    if kind == "http":
        event.update(rawPath=path, rawQueryString="", cookies=[], headers=headers)
        event.pop("queryStringParameters", None)
        event["requestContext"]["http"].update(method=method, path=path)
        event["requestContext"]["requestId"] = f"http-{method}-{path}"
    else:
        event.update(
            path=path,
            httpMethod=method,
            resource="/{proxy+}",
            headers=headers,
            multiValueHeaders={k: [v] for k, v in headers.items()},
            queryStringParameters=None,
            multiValueQueryStringParameters=None,
        )
        event["requestContext"].update(httpMethod=method, path=path)
        event["requestContext"]["requestId"] = f"rest-{method}-{path}"
    event["body"] = payload
    event["isBase64Encoded"] = encoded
    return event


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL with pgvector (infra/local/postgres.sh) in a directory of this test
    run, on a free port of 127.0.0.1: its DSN, postgresql://lamina:<pw>@127.0.0.1:<port>/lamina.
    The role lamina owns the database lamina, which has the vector extension; it is not a
    superuser. Stopped at the end of the session (the data goes with pytest's temp dirs)."""
    from infra.local.postgres import start_postgres, stop_postgres

    tmp_dir = tmp_path_factory.mktemp("pg")
    dsn = start_postgres(tmp_dir)
    try:
        yield dsn
    finally:
        stop_postgres(tmp_dir)
