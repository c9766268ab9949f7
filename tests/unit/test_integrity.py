"""Issue 16: a model cannot be swapped behind our back, and errors leak nothing.

- manifests name only paths inside the model directory (load and publish);
- a graph's external data stays inside the directory and is a file the manifest lists;
- LAMINA_MODEL_DIGEST pins the manifest digest (lamina.inference.load.check_pin);
- 5xx and ONNX Runtime errors answer fixed messages with the request id;
- job status names the input's file, not its bucket; check_name refuses a final newline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from onnx import TensorProto, helper
from onnx.external_data_helper import _get_all_tensors, uses_external_data
from pydantic import ValidationError

from lamina.api.errors import TEI_PATHS_STATE, install_error_handlers
from lamina.api.jobs.service import input_name
from lamina.errors import (
    ConfigurationError,
    JobError,
    LaminaError,
    ModelLoadError,
    ModelUnavailableError,
    StorageError,
    StoreError,
    TensorError,
)
from lamina.inference.load import check_pin, digest_pins
from lamina.models.graph import external_locations, unsafe_path
from lamina.models.manifest import FileEntry, file_entry, open_model_dir, write_manifest
from lamina.models.store import LocalModelStore, ModelRef, check_name
from tests.conftest import ROOT
from tests.factories import make_model_dir

BAD_PATHS = ["/etc/passwd", "../secret", "a/../../secret", "a\\..\\b", "", "./x", "a//b", "C:x"]


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["mini\n", "mini\r\n", "\nmini", "mini/1", "aliases"])
def test_check_name_refuses_a_final_newline_and_other_junk(value: str) -> None:
    with pytest.raises(StoreError):
        check_name("model name", value)
    with pytest.raises(StoreError):
        ModelRef.parse(f"{value}@production")


def test_check_name_accepts_plain_names() -> None:
    assert check_name("version", "2026-01-01.1") == "2026-01-01.1"


# -- manifest paths -------------------------------------------------------------------------


def tiny_graph(
    path: Path, locations: dict[str, str], *, constant_location: str | None = None
) -> None:
    """y = x + W (+ C): W's (and C's) data stored externally at the given location."""
    initializers = []
    for name, location in locations.items():
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[4])
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "16")):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        initializers.append(tensor)
    nodes = [helper.make_node("Add", ["x", "W"], ["y"])]
    if constant_location is not None:
        value = TensorProto(name="C", data_type=TensorProto.FLOAT, dims=[4])
        value.data_location = TensorProto.EXTERNAL
        entry = value.external_data.add()
        entry.key, entry.value = "location", constant_location
        nodes.append(helper.make_node("Constant", [], ["c"], value=value))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())


def graph_model_dir(root: Path, location: str, *, listed: bool = True, **kw: Any) -> Path:
    """A model directory whose graph keeps W at ``location``; ``weights.bin`` next to it."""
    root.mkdir(parents=True)
    tiny_graph(root / "model.onnx", {"W": location}, **kw)
    files = {
        "model.onnx": (root / "model.onnx").read_bytes(),
        "tokenizer.json": b"{}",
    }
    if listed:
        files["weights.bin"] = np.ones(4, dtype=np.float32).tobytes()
    else:
        (root / "weights.bin").write_bytes(np.ones(4, dtype=np.float32).tobytes())
    make_model_dir(root, files)
    return root


@pytest.mark.parametrize("path", BAD_PATHS)
def test_file_entry_refuses_paths_that_leave_the_directory(path: str) -> None:
    assert unsafe_path(path) is not None
    with pytest.raises(ValidationError, match="unsafe file path"):
        FileEntry(path=path, sha256="0" * 64, size=1)


def rewrite_manifest(root: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    raw = json.loads((root / "manifest.json").read_text())
    edit(raw)
    (root / "manifest.json").write_text(json.dumps(raw))


@pytest.mark.parametrize("path", ["/etc/passwd", "../secret", "a/../../secret"])
def test_manifest_with_a_path_outside_is_refused_at_load_and_at_publish(
    tmp_path: Path, path: str
) -> None:
    root = graph_model_dir(tmp_path / "model", "weights.bin")

    def add_entry(raw: dict[str, Any]) -> None:
        raw["files"].append({"path": path, "sha256": "0" * 64, "size": 4})

    rewrite_manifest(root, add_entry)
    with pytest.raises(ModelLoadError, match="unsafe file path"):
        open_model_dir(root)
    store = LocalModelStore(tmp_path / "store")
    with pytest.raises(ModelLoadError, match="unsafe file path"):
        store.publish(root, "mini", "1")
    assert store.list_models() == []


@pytest.mark.parametrize("field", ["model_file", "tokenizer_file"])
def test_manifest_naming_its_graph_or_tokenizer_outside_is_refused(
    tmp_path: Path, field: str
) -> None:
    root = graph_model_dir(tmp_path / "model", "weights.bin")
    rewrite_manifest(root, lambda raw: raw.__setitem__(field, "../model.onnx"))
    with pytest.raises(ModelLoadError, match="unsafe file path"):
        open_model_dir(root)


def test_listed_file_that_is_a_link_is_checked_by_its_bytes(tmp_path: Path) -> None:
    root = graph_model_dir(tmp_path / "model", "weights.bin")
    outside = tmp_path / "outside.json"
    outside.write_bytes(b"[]")  # same size, other bytes
    (root / "tokenizer.json").unlink()
    (root / "tokenizer.json").symlink_to(outside)
    with pytest.raises(ModelLoadError, match="sha256"):
        open_model_dir(root)


# -- external data --------------------------------------------------------------------------


def test_graph_with_listed_external_data_inside_loads(tmp_path: Path) -> None:
    root = graph_model_dir(tmp_path / "model", "weights.bin")
    assert external_locations(root / "model.onnx") == ["weights.bin"]
    open_model_dir(root)


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("../outside.bin", "'..'"),
        ("/etc/passwd", "absolute path"),
        ("sub/../../outside.bin", "'..'"),
        ("", "empty path"),
    ],
)
def test_graph_with_external_data_outside_is_refused_at_load_and_publish(
    tmp_path: Path, location: str, reason: str
) -> None:
    (tmp_path / "outside.bin").write_bytes(np.ones(4, dtype=np.float32).tobytes())
    root = graph_model_dir(tmp_path / "model", location)
    with pytest.raises(ModelLoadError, match="external data") as refused:
        open_model_dir(root)
    assert reason in refused.value.message
    store = LocalModelStore(tmp_path / "store")
    with pytest.raises(ModelLoadError, match="external data"):
        store.publish(root, "mini", "1")
    assert store.list_models() == []


def test_external_data_in_a_node_attribute_is_checked_too(tmp_path: Path) -> None:
    root = graph_model_dir(tmp_path / "model", "weights.bin", constant_location="../c.bin")
    assert sorted(external_locations(root / "model.onnx")) == ["../c.bin", "weights.bin"]
    with pytest.raises(ModelLoadError, match=r"external data at '\.\./c\.bin'"):
        open_model_dir(root)


def test_external_data_the_manifest_does_not_list_is_refused(tmp_path: Path) -> None:
    """Inside the directory but not hashed: ONNX Runtime would read unverified weights."""
    root = graph_model_dir(tmp_path / "model", "weights.bin", listed=False)
    with pytest.raises(ModelLoadError, match="does not list"):
        open_model_dir(root)


BUILT_GRAPHS = sorted((ROOT / "build" / "models").rglob("model.onnx"))


@pytest.mark.parametrize(
    "graph", BUILT_GRAPHS, ids=[str(g.parent.relative_to(ROOT)) for g in BUILT_GRAPHS]
)
def test_external_locations_agree_with_onnx_on_the_built_models(graph: Path) -> None:
    model = onnx.load(graph, load_external_data=False)
    expected = [
        entry.value
        for tensor in _get_all_tensors(model)
        if uses_external_data(tensor)
        for entry in tensor.external_data
        if entry.key == "location"
    ]
    assert sorted(external_locations(graph)) == sorted(expected)


def test_a_file_that_is_no_protobuf_is_left_to_onnx_runtime(tmp_path: Path) -> None:
    """Not a graph at all: no locations to check (ONNX Runtime refuses the file itself)."""
    make_model_dir(tmp_path / "m", {"model.onnx": b"\x08\x07graph" * 5, "tokenizer.json": b"{}"})
    with pytest.raises(ModelLoadError, match="not a valid ONNX protobuf"):
        external_locations(tmp_path / "m" / "model.onnx")
    open_model_dir(tmp_path / "m")


# -- digest pin -----------------------------------------------------------------------------


def test_digest_pins_parse() -> None:
    assert digest_pins("a" * 64) == "a" * 64
    assert digest_pins(f"m={'a' * 64}, e5={'b' * 64}") == {"m": "a" * 64, "e5": "b" * 64}


def test_check_pin(tmp_path: Path) -> None:
    manifest = make_model_dir(tmp_path / "m", {"model.onnx": b"g", "tokenizer.json": b"{}"})
    check_pin(manifest, None)
    check_pin(manifest, manifest.digest)
    check_pin(manifest, f"other={'b' * 64},m={manifest.digest}")
    with pytest.raises(ModelLoadError, match="LAMINA_MODEL_DIGEST pins"):
        check_pin(manifest, "b" * 64)
    with pytest.raises(ModelLoadError, match="LAMINA_MODEL_DIGEST pins"):
        check_pin(manifest, f"m={'b' * 64}")
    # renaming the model in its manifest does not escape the pins
    with pytest.raises(ModelLoadError, match="no pinned digest"):
        check_pin(manifest, f"other={manifest.digest}")


def test_a_swapped_manifest_changes_the_digest(tmp_path: Path) -> None:
    """Whoever rewrites a file and its manifest's sha256 still changes Manifest.digest."""
    root = tmp_path / "m"
    manifest = make_model_dir(root, {"model.onnx": b"g", "tokenizer.json": b"{}"})
    (root / "model.onnx").write_bytes(b"evil")
    swapped = manifest.model_copy(
        update={"files": [file_entry(root, "model.onnx"), manifest.file("tokenizer.json")]}
    )
    write_manifest(root, swapped)
    assert open_model_dir(root).digest != manifest.digest
    with pytest.raises(ModelLoadError):
        check_pin(open_model_dir(root), manifest.digest)


# -- error bodies ---------------------------------------------------------------------------

ACCOUNT = "123456789012"
SECRET_TEXTS = [ACCOUNT, "s3://", "lamina-batch", "/opt/ml", "AccessDenied", "ONNXRuntimeError"]


class FakeOrtError(Exception):
    """Stands in for onnxruntime's exception types (their module is onnxruntime's)."""


FakeOrtError.__module__ = "onnxruntime.capi.onnxruntime_pybind11_state"


def _ort_tensor_error() -> LaminaError:
    try:
        raise FakeOrtError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : /opt/ml/model idx 9")
    except FakeOrtError as exc:
        try:
            raise TensorError(f"m cannot run on these inputs: {exc}") from exc
        except TensorError as wrapped:
            return wrapped


CASES: list[tuple[str, Callable[[], LaminaError], int, str]] = [
    (
        "storage",
        lambda: StorageError(f"cannot get s3://lamina-batch-{ACCOUNT}/jobs/x: AccessDenied"),
        503,
        "storage is unavailable",
    ),
    (
        "job store",
        lambda: JobError(f"cannot get s3://lamina-batch-{ACCOUNT}/jobs/x: AccessDenied"),
        503,
        "job store",
    ),
    (
        "refused model",
        lambda: ModelUnavailableError(
            "the model is not loaded: model file tokenizer.json is missing from /opt/ml/model"
        ),
        503,
        "not loaded",
    ),
    (
        "load error",
        lambda: ModelLoadError("cannot load model from /opt/ml/model: [ONNXRuntimeError] x"),
        503,
        "not loaded",
    ),
    (
        "configuration",
        lambda: ConfigurationError(f"MODEL_URI 's3://lamina-models-{ACCOUNT}/x': bad"),
        500,
        "misconfigured",
    ),
    (
        "store",
        lambda: StoreError(f"s3://lamina-models-{ACCOUNT}/models/m/aliases/p.json: AccessDenied"),
        500,
        "internal error",
    ),
    ("onnx runtime", _ort_tensor_error, 400, "cannot run on these inputs"),
]


@pytest.fixture(scope="module")
def leaky_client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    setattr(app.state, TEI_PATHS_STATE, frozenset({"/tei/fail"}))

    @app.middleware("http")
    async def request_id(request: Request, call_next: Any) -> Any:
        request.state.request_id = "req-0123"
        return await call_next(request)

    def fail(case: str) -> None:
        raise next(make for name, make, _, _ in CASES if name == case)()

    for prefix in ("/api/v1", "/v2", "/tei"):
        app.add_api_route(f"{prefix}/fail", fail, methods=["GET"])
    return TestClient(app)


@pytest.mark.parametrize("prefix", ["/api/v1", "/v2", "/tei"])
@pytest.mark.parametrize(("case", "make", "status", "message"), CASES, ids=[c[0] for c in CASES])
def test_error_bodies_carry_no_bucket_path_or_runtime_text(
    leaky_client: TestClient,
    prefix: str,
    case: str,
    make: Any,
    status: int,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING"):
        response = leaky_client.get(f"{prefix}/fail", params={"case": case})
    assert response.status_code == status
    text = response.text
    for secret in SECRET_TEXTS:
        assert secret not in text, (case, text)
    assert message in text
    assert "req-0123" in text  # the request id, to find the details in the logs
    details = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert details
    assert details[-1].__dict__["error"] == make().message  # the logs have the details


def test_caller_errors_keep_their_message(leaky_client: TestClient) -> None:
    from lamina.api.errors import public_message
    from lamina.errors import InvalidInputError

    exc = InvalidInputError("text 3 is empty", param="texts[3]")
    assert public_message(exc, 422) == "text 3 is empty"


# -- job status -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        (f"s3://lamina-batch-{ACCOUNT}/incoming/notes.jsonl", "notes.jsonl"),
        ("/tmp/jobs/input/notes.csv", "notes.csv"),
        ("notes.txt", "notes.txt"),
    ],
)
def test_job_input_is_its_file_name(uri: str, name: str) -> None:
    assert input_name(uri) == name


# -- Swagger UI -----------------------------------------------------------------------------


def test_docs_page_pins_swagger_ui_by_integrity_hash(client: Any) -> None:
    from lamina.api.app import INTEGRITY, SWAGGER_UI_VERSION

    response = client.get("/docs")
    assert response.status_code == 200
    html = response.text
    for url, digest in INTEGRITY.items():
        assert SWAGGER_UI_VERSION in url
        assert f'"{url}" integrity="{digest}" crossorigin="anonymous"' in html
    assert "swagger-ui-dist@5/" not in html  # no floating release
    assert "fastapi.tiangolo.com" not in html
    assert "url: '/openapi.json'" in html


# -- the image's wheel lock -----------------------------------------------------------------


def test_lock_round_trip_and_mismatch(tmp_path: Path) -> None:
    from infra.local.wheels import (
        LOCK,
        SQL_LOCK,
        SQL_TITLE,
        Wheel,
        check_lock,
        check_locks,
        lock_text,
        locked,
        wheel_sha256,
    )

    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    keep = {"demo": Wheel("demo", "1.0", wheel, ())}
    lock = tmp_path / "requirements.lock"
    lock.write_text(lock_text(keep, ["demo==1.0"]))
    assert locked(lock.read_text()) == {"demo": ("1.0", wheel_sha256(wheel))}
    check_lock(keep, lock)
    extra = tmp_path / "extra-2.0-py3-none-any.whl"
    extra.write_bytes(b"extra bytes")
    sql_keep = {"extra": Wheel("extra", "2.0", extra, ())}
    sql_lock = tmp_path / "requirements-sql.lock"
    sql_lock.write_text(lock_text(sql_keep, ["extra==2.0"], SQL_TITLE))
    assert all(ln.startswith("#") for ln in sql_lock.read_text().splitlines()[:6])
    check_locks([(keep, lock), (sql_keep, sql_lock)])
    # Either lock differing fails the check; a wheel in the wrong lock does too.
    with pytest.raises(SystemExit, match=r"requirements-sql\.lock"):
        check_locks([(keep, lock), (keep, sql_lock)])
    wheel.write_bytes(b"other bytes")  # same name and version, other file
    with pytest.raises(SystemExit, match="differ from"):
        check_lock(keep, lock)
    assert LOCK == ROOT / "functions" / "requirements.lock"
    assert SQL_LOCK == ROOT / "functions" / "requirements-sql.lock"


def test_committed_lock_is_hashed_and_installed_with_require_hashes() -> None:
    from infra.local.wheels import LOCK, SQL_LOCK, locked

    entries = locked(LOCK.read_text())
    sql_entries = locked(SQL_LOCK.read_text())
    assert "onnxruntime" in entries
    # DuckDB: in the generic image's own lock, not in every image's.
    assert "duckdb" not in entries
    assert "duckdb" in sql_entries
    assert not entries.keys() & sql_entries.keys()
    for name, (version, digest) in {**entries, **sql_entries}.items():
        assert version, name
        assert len(digest) == 64, name
    dockerfile = (ROOT / "functions" / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile
    assert "-r /tmp/requirements.lock" in dockerfile
    assert "-r /tmp/requirements-sql.lock" in dockerfile
    pins = ROOT / "build" / "wheels" / "requirements.txt"
    if pins.is_file():  # `make wheels` ran: its download is the locked one
        from infra.local.layer import pins as read_pins

        assert read_pins(pins.parent) == {name: v for name, (v, _) in entries.items()}
        sql_pins = pins.with_name("requirements-sql.txt")
        assert sql_pins.is_file()
        listed = [ln for ln in sql_pins.read_text().splitlines() if ln and ln[0] != "#"]
        assert listed == [f"{name}=={v}" for name, (v, _) in sorted(sql_entries.items())]
