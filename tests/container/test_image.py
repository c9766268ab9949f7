"""The built image itself: what it holds, its size, and a run on a read-only filesystem.

These run the image directly on the engine (podman, or docker where a Docker engine
answers), not through SAM: with no AWS_LAMBDA_RUNTIME_API set, the base image's entry point
runs the function under the Runtime Interface Emulator, which listens on :8080, as
`docker run` of an AWS base image does.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.container.conftest import LOG_DIR, MEASUREMENTS, Stack, built_image, free_port

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events"
# What the embed image adds to its base: measured 368 MB (dependencies, the layers every
# image shares, and their bytecode, code, all-MiniLM-L6-v2 int8 59 MB, multilingual-e5-small
# q4 84 MB; no DuckDB, which the generic image alone carries); budget ~15% above, as before
# DuckDB. Lambda's own limit is 10 GB.
MAX_FUNCTION_LAYERS_MB = 425
# What the ONNX function's image (target `generic`) adds to its base: measured 297 MB (the
# same shared layers; DuckDB, 72 MB with its bytecode: stage `sql`, functions/
# requirements-sql.lock; the spam detector and listing-ranker, ~0.6 MB); budget ~20% above.
MAX_GENERIC_LAYERS_MB = 360
# Which images carry DuckDB (pyproject's `sql` extra): the generic target's alone. The batch
# worker runs the embed image (tests/container/test_embedding_models.py).
DUCKDB_IN_IMAGE = {
    "EmbedFunction": False,  # target embed
    "ClassifyFunction": False,  # target model
    "ImageClassifyFunction": False,  # target model
    "OnnxFunction": True,  # target generic
}
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# Lambda runs the function as a user that is not root (sbx_user1051, uid 993).
LAMBDA_USER = "993:990"

CHECK_CONTENTS = """
import importlib.metadata as md, importlib.util as iu, json, sys
names = sorted({d.metadata["Name"].lower() for d in md.distributions()})
forbidden = ["torch", "transformers", "sentence_transformers", "sentence-transformers",
             "huggingface_hub", "huggingface-hub", "sklearn", "scikit-learn", "skl2onnx",
             "onnx", "lamina_tools", "lamina-tools"]
print(json.dumps({
    "python": sys.version.split()[0],
    "importable": [m for m in forbidden if "-" not in m and iu.find_spec(m) is not None],
    "installed": [n for n in names if n in forbidden],
    "runtime": {n: md.version(n) for n in ("onnxruntime", "tokenizers", "numpy", "boto3")},
    "lamina": iu.find_spec("lamina") is not None,
    "build_code": [m for m in ("lamina.cli", "lamina.models.build", "lamina.batch.local")
                   if iu.find_spec(m) is not None],
}))
"""


def test_image_holds_no_build_tools(stack: Stack) -> None:
    """No torch, transformers, sentence-transformers, scikit-learn (nor a model-hub client)
    in the image, and of lamina only the runtime package: no lamina_tools, no builder."""
    done = stack.run(
        stack.engine, "run", "--rm", "--entrypoint", "python3", stack.image, "-c", CHECK_CONTENTS
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["importable"] == [], found
    assert found["installed"] == [], found
    assert found["lamina"] is True
    assert found["build_code"] == [], found
    assert found["python"].startswith("3.13.")
    MEASUREMENTS["image runtime"] = f"Python {found['python']}, " + ", ".join(
        f"{k} {v}" for k, v in found["runtime"].items()
    )


# duckdb in the task root: its distribution, its module, its files; in the generic image
# also its bytecode (compiled in the Dockerfile's `sql` stage: each source's .pyc, valid
# for that source, checked before the import could rewrite one) and a query.
CHECK_DUCKDB = """
import importlib.metadata as md, importlib.util as iu, json, os, pathlib, struct
root = pathlib.Path(os.environ["LAMBDA_TASK_ROOT"])
found = {
    "installed": [d.version for d in md.distributions(name="duckdb")],
    "importable": iu.find_spec("duckdb") is not None,
    "files": sorted(p.name for p in root.iterdir() if "duckdb" in p.name.lower()),
}
if found["importable"]:
    stale = []
    for source in sorted((root / "duckdb").rglob("*.py")):
        pyc = pathlib.Path(iu.cache_from_source(str(source)))
        st = source.stat()
        header = struct.unpack("<4sIII", pyc.read_bytes()[:16]) if pyc.is_file() else None
        if header is None or header[1:] != (0, int(st.st_mtime) & 0xFFFFFFFF, st.st_size):
            stale.append(str(source.relative_to(root)))
    found["stale_bytecode"] = stale
    import duckdb
    found["origin"] = duckdb.__file__
    found["query"] = duckdb.connect(":memory:").execute("SELECT 40 + 2").fetchall()[0][0]
print(json.dumps(found))
"""


@pytest.mark.parametrize(("function", "carries"), list(DUCKDB_IN_IMAGE.items()))
def test_only_the_generic_image_carries_duckdb(stack: Stack, function: str, carries: bool) -> None:
    """DuckDB (~70 MB, the SQL models' engine) is in the ONNX function's image (target
    `generic`), working and byte-compiled, and in no other: not in the embed or model ones."""
    image = stack.image if function == "EmbedFunction" else built_image(function)
    done = stack.run(
        stack.engine, "run", "--rm", "--entrypoint", "python3", image, "-c", CHECK_DUCKDB
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if not carries:
        assert found == {"installed": [], "importable": False, "files": []}, (function, found)
        return
    assert len(found["installed"]) == 1, found
    assert found["origin"].startswith("/var/task/duckdb/"), found
    assert {"duckdb", "_duckdb.abi3.so"} <= set(found["files"]), found
    assert found["stale_bytecode"] == [], found
    assert found["query"] == 42, found
    MEASUREMENTS["DuckDB (generic image only)"] = f"duckdb {found['installed'][0]}"


def image_size(stack: Stack, image: str) -> int:
    done = stack.run(stack.engine, "image", "inspect", "--format", "{{.Size}}", image)
    return int(done.stdout.strip())


def test_image_size(stack: Stack) -> None:
    """What the function adds to the base image (dependencies, code, both embedding models)
    <= MAX_FUNCTION_LAYERS_MB.

    The total depends on the base: the stand-in here, the real AWS image on Docker.
    """
    total = image_size(stack, stack.image)
    base = image_size(stack, stack.base_image)
    added_mb = (total - base) / 1e6
    MEASUREMENTS["image size"] = (
        f"{total / 1e6:.0f} MB total = base {base / 1e6:.0f} MB ({stack.base_image}"
        f"{', stand-in' if stack.engine == 'podman' else ''}) + function {added_mb:.0f} MB"
    )
    assert added_mb <= MAX_FUNCTION_LAYERS_MB


def test_generic_image_size(stack: Stack) -> None:
    """What the ONNX function's image (target `generic`: the shared layers, DuckDB, the spam
    detector and listing-ranker) adds to the base <= MAX_GENERIC_LAYERS_MB; DuckDB's share is
    what it weighs more than the image classifier's (target `model`: the same shared layers
    and a 0.2 MB model)."""
    base = image_size(stack, stack.base_image)
    generic = image_size(stack, built_image("OnnxFunction"))
    model = image_size(stack, built_image("ImageClassifyFunction"))
    added_mb = (generic - base) / 1e6
    MEASUREMENTS["generic image size"] = (
        f"{generic / 1e6:.0f} MB total = base {base / 1e6:.0f} MB + function {added_mb:.0f} MB "
        f"(budget {MAX_GENERIC_LAYERS_MB} MB), {(generic - model) / 1e6:.0f} MB more than the "
        f"image classifier's (DuckDB)"
    )
    assert added_mb <= MAX_GENERIC_LAYERS_MB
    assert generic - model > 50e6  # DuckDB's ~70 MB: the generic image's alone


def invoke_rie(url: str, event: dict[str, Any], deadline: float) -> dict[str, Any]:
    """POST an event to the emulator; retries while it is not listening yet."""
    while True:
        try:
            response = httpx.post(url, json=event, timeout=120)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_read_only_filesystem(stack: Stack) -> None:
    """Lambda's filesystem is read-only but /tmp, and the function runs as a non-root user."""
    event = json.loads((EVENTS / "local_embed_http_api.json").read_text())
    port = free_port()
    name = f"lamina-readonly-{port}"
    started = stack.run(
        stack.engine,
        "run",
        "--detach",
        "--name",
        name,
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--user",
        LAMBDA_USER,
        "--memory",
        "2048m",
        "--env",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=2048",
        "--publish",
        f"127.0.0.1:{port}:8080",
        stack.image,
    )
    container = started.stdout.strip().splitlines()[-1]
    log = LOG_DIR / "read-only.log"
    try:
        url = f"http://127.0.0.1:{port}{INVOKE_PATH}"
        deadline = time.monotonic() + 60
        results = [invoke_rie(url, event, deadline) for _ in range(3)]
        fetched = stack.run(stack.engine, "logs", container)
        logs = fetched.stdout + fetched.stderr
        log.write_text(logs)
    finally:
        stack.run(stack.engine, "rm", "--force", container, check=False)

    for result in results:
        assert result["statusCode"] == 200, result
        body = json.loads(result["body"])
        assert body["dim"] == 384
        assert len(body["embedding"]) == 384
    assert "Traceback" not in logs, logs[-3000:]
    assert "Read-only file system" not in logs, logs[-3000:]

    # The emulator logs the runtime's real init time (INIT REPORT); its REPORT line's
    # "Init Duration" is measured before the runtime starts (emulator issue #106).
    init = re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", logs)
    reports = re.findall(
        r"^REPORT RequestId: \S+\s+(?:Init Duration: ([\d.]+) ms\s+)?Duration: ([\d.]+) ms",
        logs,
        flags=re.MULTILINE,
    )
    assert len(reports) == 3, f"expected 3 REPORT lines in {log}"
    MEASUREMENTS["Init Duration (read-only run, emulator INIT REPORT)"] = (
        f"{float(init[1]):.0f} ms" if init else f"not logged by this emulator (see {log})"
    )
    MEASUREMENTS["REPORT line of the cold invocation"] = (
        f"Init Duration {reports[0][0] or '-'} ms (emulator bug), "
        f"Duration {reports[0][1]} ms (init included)"
    )
    MEASUREMENTS["REPORT Duration of the warm invocations"] = ", ".join(
        f"{duration} ms" for _, duration in reports[1:]
    )
