"""The S3 model store against moto's in-process S3 (``mock_aws``): small synthetic models."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import EndpointConnectionError  # type: ignore[import-untyped]
from moto import mock_aws

from lamina.errors import (
    AliasNotFoundError,
    IntegrityError,
    ModelLoadError,
    StoreError,
    VersionExistsError,
    VersionNotFoundError,
)
from lamina.models.manifest import (
    MANIFEST_NAME,
    open_model_dir,
)
from lamina.models.store import LocalModelStore, ModelListing, ModelRef, S3ModelStore
from lamina_tools.cli import main
from lamina_tools.console import ProgressBar
from tests.factories import make_model_dir

BUCKET = "lamina-models-test"
NAME = "mini"


def make_model(root: Path, *, content: bytes = b"weights", created_at: str = "2026-01-01") -> Path:
    """A small valid model directory: model.onnx, model.onnx.data, tokenizer.json, manifest."""
    files = {
        "model.onnx": b"\x08\x07graph" * 50,
        "model.onnx.data": content * 1000,
        "tokenizer.json": b'{"model": {}}',
    }
    make_model_dir(root, files, name="local-name", version="local-1", created_at=created_at)
    return root


class CountingClient:
    """The real (moto) client, counting calls per method."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return attribute(*args, **kwargs)

        return counted


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Fake credentials, no endpoint override, moto's S3 with one bucket; yields a client."""
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def store(aws: Any) -> S3ModelStore:
    return S3ModelStore(BUCKET, client=CountingClient(aws))


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    return make_model(tmp_path / "v1", content=b"one")


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    return make_model(tmp_path / "v2", content=b"two")


def calls(store: S3ModelStore, method: str) -> int:
    counter: CountingClient = store.client
    return counter.calls.get(method, 0)


def test_publish_promote_resolve_fetch(store: S3ModelStore, v1: Path, tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    manifest = store.publish(v1, NAME, "1", progress=lambda *call: seen.append(call))
    assert (manifest.name, manifest.version) == (NAME, "1")  # the store's identity
    assert manifest.files == open_model_dir(v1).files
    assert {path for path, done, total in seen if done == total} == {
        "model.onnx",
        "model.onnx.data",
        "tokenizer.json",
    }
    head = store.client.head_object(Bucket=BUCKET, Key=f"models/{NAME}/1/model.onnx.data")
    assert head["Metadata"]["sha256"] == manifest.file("model.onnx.data").sha256

    assert store.list_models() == [ModelListing(NAME, ["1"], {})]
    record = store.promote(NAME, "1", "staging", actor="ana")
    assert (record.version, record.previous, record.updated_by) == ("1", [], "ana")
    assert store.list_models() == [ModelListing(NAME, ["1"], {"staging": "1"})]
    assert store.resolve(ModelRef.parse(f"{NAME}@staging")) == (NAME, "1")
    assert store.resolve(ModelRef.parse(f"{NAME}/1")) == (NAME, "1")

    directory = store.fetch(NAME, "1", tmp_path / "cache")
    assert directory == tmp_path / "cache" / NAME / "1"
    assert open_model_dir(directory, verify=True) == manifest
    assert store.verify(NAME, "1") == manifest
    assert not list(directory.glob("*.part-*"))


def test_alias_record_is_json_in_the_layout(store: S3ModelStore, v1: Path, aws: Any) -> None:
    store.publish(v1, NAME, "1")
    store.promote(NAME, "1", "production", actor="ana")
    raw = aws.get_object(Bucket=BUCKET, Key=f"models/{NAME}/aliases/production.json")
    record = json.loads(raw["Body"].read())
    assert record["alias"] == "production"
    assert record["version"] == "1"
    assert record["previous"] == []
    assert record["updated_by"] == "ana"
    assert record["updated_at"].endswith("+00:00")


def test_publishing_the_same_content_again_is_a_no_op(
    store: S3ModelStore, v1: Path, tmp_path: Path
) -> None:
    first = store.publish(v1, NAME, "1")
    uploads = calls(store, "upload_file")
    # A rebuilt directory: same files, another build time and local version.
    again = make_model(tmp_path / "again", content=b"one", created_at="2027-05-05")
    assert store.publish(again, NAME, "1") == first
    assert calls(store, "upload_file") == uploads


def test_publishing_different_content_under_a_version_is_refused(
    store: S3ModelStore, v1: Path, v2: Path
) -> None:
    store.publish(v1, NAME, "1")
    with pytest.raises(VersionExistsError, match=rf"{NAME}/1 is already published"):
        store.publish(v2, NAME, "1")
    assert store.verify(NAME, "1").files == open_model_dir(v1).files  # nothing overwritten


def test_publish_refuses_a_bad_local_directory(store: S3ModelStore, v1: Path) -> None:
    (v1 / "model.onnx.data").write_bytes(b"X" * (v1 / "model.onnx.data").stat().st_size)
    with pytest.raises(ModelLoadError, match="sha256"):
        store.publish(v1, NAME, "1")
    assert store.list_models() == []


def test_promote_and_rollback(store: S3ModelStore, v1: Path, v2: Path) -> None:
    store.publish(v1, NAME, "1")
    store.publish(v2, NAME, "2")
    store.promote(NAME, "1", "staging", actor="ana")
    record = store.promote(NAME, "2", "staging", actor="bo")
    assert (record.version, record.previous) == ("2", ["1"])
    assert store.promote(NAME, "2", "staging", actor="cy") == record  # same version: no-op

    back = store.rollback(NAME, "staging", actor="dee")
    assert (back.version, back.previous, back.updated_by) == ("1", [], "dee")
    assert store.alias(NAME, "staging") == back
    with pytest.raises(StoreError, match="nothing to roll back to") as info:
        store.rollback(NAME, "staging", actor="dee")
    assert "staging" in str(info.value)
    with pytest.raises(AliasNotFoundError):
        store.rollback(NAME, "production", actor="dee")


def test_history_is_a_stack(store: S3ModelStore, v1: Path, v2: Path, tmp_path: Path) -> None:
    for version, source in (("1", v1), ("2", v2), ("3", make_model(tmp_path / "3", content=b"3"))):
        store.publish(source, NAME, version)
        store.promote(NAME, version, "production", actor="ana")
    assert store.alias(NAME, "production").previous == ["1", "2"]
    assert store.rollback(NAME, "production", actor="ana").version == "2"
    assert store.rollback(NAME, "production", actor="ana").version == "1"


def test_promote_needs_a_published_version(store: S3ModelStore, v1: Path) -> None:
    store.publish(v1, NAME, "1")
    with pytest.raises(VersionNotFoundError, match=rf"model {NAME} has no published version '7'"):
        store.promote(NAME, "7", "production", actor="ana")
    with pytest.raises(AliasNotFoundError):
        store.alias(NAME, "production")


def test_missing_alias_and_version_say_which(store: S3ModelStore, v1: Path) -> None:
    store.publish(v1, NAME, "1")
    with pytest.raises(AliasNotFoundError, match=rf"model {NAME} has no alias 'production'"):
        store.resolve(ModelRef.parse(NAME))  # a bare name means @production
    with pytest.raises(AliasNotFoundError, match="no alias 'canary'"):
        store.alias(NAME, "canary")
    with pytest.raises(VersionNotFoundError, match=rf"model {NAME} has no published version '2'"):
        store.resolve(ModelRef.parse(f"{NAME}/2"))
    with pytest.raises(VersionNotFoundError, match="model other has no published version"):
        store.manifest("other", "1")


def test_concurrent_alias_change_is_not_overwritten(
    store: S3ModelStore, v1: Path, v2: Path, aws: Any
) -> None:
    store.publish(v1, NAME, "1")
    store.publish(v2, NAME, "2")
    store.promote(NAME, "1", "production", actor="ana")
    key = f"models/{NAME}/aliases/production.json"
    read_alias = store._read_alias

    def read_then_someone_else_writes(name: str, alias: str) -> Any:
        found = read_alias(name, alias)
        aws.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"alias": "x"}).encode())
        return found

    store._read_alias = read_then_someone_else_writes  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="changed by someone else"):
        store.promote(NAME, "2", "production", actor="bo")


def test_tampered_object_fails_verify_and_fetch(
    store: S3ModelStore, v1: Path, aws: Any, tmp_path: Path
) -> None:
    store.publish(v1, NAME, "1")
    key = f"models/{NAME}/1/model.onnx.data"
    size = (v1 / "model.onnx.data").stat().st_size
    aws.put_object(Bucket=BUCKET, Key=key, Body=b"Z" * size)  # same size, other bytes

    with pytest.raises(IntegrityError, match=r"model\.onnx\.data \(sha256") as info:
        store.verify(NAME, "1")
    assert "model.onnx " not in str(info.value)  # only the bad file is named

    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match=r"model\.onnx\.data does not match"):
        store.fetch(NAME, "1", cache)
    directory = cache / NAME / "1"
    assert not (directory / "model.onnx.data").exists()
    assert not (directory / MANIFEST_NAME).exists()
    assert not list(directory.glob("*.part-*"))


def test_truncated_and_missing_objects(store: S3ModelStore, v1: Path, aws: Any) -> None:
    store.publish(v1, NAME, "1")
    aws.put_object(Bucket=BUCKET, Key=f"models/{NAME}/1/model.onnx.data", Body=b"short")
    aws.delete_object(Bucket=BUCKET, Key=f"models/{NAME}/1/tokenizer.json")
    with pytest.raises(IntegrityError, match="2 stored file") as info:
        store.verify(NAME, "1")
    assert "5 bytes, manifest says" in str(info.value)
    assert "tokenizer.json is missing" in str(info.value)


def test_interrupted_publish_is_invisible_and_can_be_redone(
    store: S3ModelStore, v1: Path, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_object = aws.put_object

    def network_drops_at_the_manifest(**kwargs: Any) -> Any:
        if kwargs["Key"].endswith(MANIFEST_NAME):
            raise EndpointConnectionError(endpoint_url="https://s3.example")
        return put_object(**kwargs)

    monkeypatch.setattr(aws, "put_object", network_drops_at_the_manifest)
    with pytest.raises(StoreError, match="Could not connect"):
        store.publish(v1, NAME, "1")
    monkeypatch.undo()

    listed = aws.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert {item["Key"].rsplit("/", 1)[1] for item in listed} == {
        "model.onnx",
        "model.onnx.data",
        "tokenizer.json",
    }
    assert store.list_models() == []
    assert store.listing(NAME) == ModelListing(NAME, [], {})
    with pytest.raises(VersionNotFoundError):
        store.resolve(ModelRef.parse(f"{NAME}/1"))
    with pytest.raises(VersionNotFoundError):
        store.promote(NAME, "1", "production", actor="ana")

    store.publish(v1, NAME, "1")
    assert store.list_models() == [ModelListing(NAME, ["1"], {})]


def test_fetch_twice_reuses_files(store: S3ModelStore, v1: Path, tmp_path: Path) -> None:
    store.publish(v1, NAME, "1")
    directory = store.fetch(NAME, "1", tmp_path / "cache")
    assert calls(store, "download_file") == 3
    stamps = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    assert store.fetch(NAME, "1", tmp_path / "cache") == directory
    assert calls(store, "download_file") == 3
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == stamps


def test_a_corrupted_cached_file_is_downloaded_again(
    store: S3ModelStore, v1: Path, tmp_path: Path
) -> None:
    store.publish(v1, NAME, "1")
    directory = store.fetch(NAME, "1", tmp_path / "cache")
    path = directory / "model.onnx.data"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    (directory / "tokenizer.json").unlink()

    store.fetch(NAME, "1", tmp_path / "cache")
    assert calls(store, "download_file") == 3 + 2
    open_model_dir(directory, verify=True)


def test_a_failed_repair_leaves_the_directory_untrusted(
    store: S3ModelStore, v1: Path, aws: Any, tmp_path: Path
) -> None:
    store.publish(v1, NAME, "1")
    directory = store.fetch(NAME, "1", tmp_path / "cache")
    (directory / "model.onnx.data").write_bytes(b"rot")
    aws.put_object(Bucket=BUCKET, Key=f"models/{NAME}/1/model.onnx.data", Body=b"tampered")
    with pytest.raises(IntegrityError):
        store.fetch(NAME, "1", tmp_path / "cache")
    assert not (directory / MANIFEST_NAME).exists()
    assert not (directory / "model.onnx.data").exists()


def test_concurrent_fetches_of_one_version(store: S3ModelStore, v1: Path, tmp_path: Path) -> None:
    store.publish(v1, NAME, "1")
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            store.fetch(NAME, "1", tmp_path / "cache")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    directory = tmp_path / "cache" / NAME / "1"
    open_model_dir(directory, verify=True)
    assert not list(directory.glob("*.part-*"))


def test_multipart_upload_and_download_with_progress(store: S3ModelStore, tmp_path: Path) -> None:
    mib = 1024 * 1024
    store.multipart_threshold = store.multipart_chunksize = 5 * mib  # S3's smallest part
    source = make_model(tmp_path / "big", content=b"0123456789abcdef" * (mib // 16 // 1000 * 12))
    size = (source / "model.onnx.data").stat().st_size
    assert size > 2 * 5 * mib
    seen: list[tuple[str, int, int]] = []
    store.publish(source, NAME, "1", progress=lambda *call: seen.append(call))
    key = f"models/{NAME}/1/model.onnx.data"
    assert store.client.head_object(Bucket=BUCKET, Key=key)["ETag"].endswith('-3"')  # 3 parts
    big = [done for path, done, total in seen if path == "model.onnx.data"]
    assert big == sorted(big)
    assert big[-1] == size
    assert [call for call in seen if call[1] == call[2]].count(("model.onnx.data", size, size)) == 1

    seen.clear()
    directory = store.fetch(NAME, "1", tmp_path / "cache", progress=lambda *c: seen.append(c))
    open_model_dir(directory, verify=True)
    assert ("model.onnx.data", size, size) in seen


def test_missing_bucket(aws: Any, v1: Path, tmp_path: Path) -> None:
    store = S3ModelStore("no-such-bucket-here")
    for action in (
        store.list_models,
        lambda: store.manifest(NAME, "1"),
        lambda: store.publish(v1, NAME, "1"),
        lambda: store.promote(NAME, "1", "production", actor="ana"),
        lambda: store.fetch(NAME, "1", tmp_path),
    ):
        with pytest.raises(StoreError, match="bucket no-such-bucket-here does not exist"):
            action()


def test_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(StoreError, match=r"cannot list s3://b-u-c/models: Could not connect"):
        S3ModelStore("b-u-c", client=client).list_models()


def test_invalid_records_in_the_bucket(store: S3ModelStore, v1: Path, aws: Any) -> None:
    store.publish(v1, NAME, "1")
    aws.put_object(Bucket=BUCKET, Key=f"models/{NAME}/aliases/production.json", Body=b"{no")
    with pytest.raises(StoreError, match=r"production\.json is not a valid alias record"):
        store.alias(NAME, "production")
    aws.put_object(
        Bucket=BUCKET,
        Key=f"models/{NAME}/aliases/staging.json",
        Body=json.dumps({"alias": "staging", "version": "../1"}).encode(),
    )
    with pytest.raises(StoreError, match="not a valid alias record: invalid version"):
        store.alias(NAME, "staging")
    aws.put_object(Bucket=BUCKET, Key=f"models/{NAME}/1/{MANIFEST_NAME}", Body=b"[]")
    with pytest.raises(StoreError, match="is not a valid lamina manifest"):
        store.manifest(NAME, "1")


def test_prefixes_keep_stores_apart(aws: Any, v1: Path) -> None:
    team_a = S3ModelStore(BUCKET, prefix="team-a/models")
    team_b = S3ModelStore(BUCKET, prefix="/team-b/")
    team_a.publish(v1, NAME, "1")
    assert aws.head_object(Bucket=BUCKET, Key=f"team-a/models/{NAME}/1/{MANIFEST_NAME}")
    assert team_b.list_models() == []
    assert [m.name for m in team_a.list_models()] == [NAME]


def test_versions_sort_naturally(store: S3ModelStore, v1: Path) -> None:
    for version in ("10", "2", "1.10", "1.2"):
        store.publish(v1, NAME, version)
    assert store.listing(NAME).versions == ["1.2", "1.10", "2", "10"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all-MiniLM-L6-v2", ModelRef("all-MiniLM-L6-v2")),
        ("m@production", ModelRef("m", alias="production")),
        ("m/1.2_rc-3", ModelRef("m", version="1.2_rc-3")),
    ],
)
def test_model_ref_parse(text: str, expected: ModelRef) -> None:
    assert ModelRef.parse(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    "text", ["", "m@", "@prod", "m/", "m/1/2", "m@a@b", "../m", "m/..", ".hidden", "aliases", "a b"]
)
def test_model_ref_parse_refuses_invalid_names(text: str) -> None:
    with pytest.raises(StoreError, match="invalid"):
        ModelRef.parse(text)


def test_names_are_checked_before_any_request(store: S3ModelStore, v1: Path) -> None:
    with pytest.raises(StoreError, match="invalid version"):
        store.publish(v1, NAME, "1/../2")
    with pytest.raises(StoreError, match="invalid alias"):
        store.promote(NAME, "1", "prod/x", actor="ana")
    assert store.client.calls == {}


# ---- the same store on a local directory (the object layer's other implementation) -------


def test_local_store_publish_promote_rollback_fetch(v1: Path, v2: Path, tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = LocalModelStore(root)
    manifest = store.publish(v1, NAME, "1")
    assert (root / NAME / "1" / MANIFEST_NAME).is_file()  # the bucket's layout
    assert store.publish(v1, NAME, "1") == manifest  # same content: a no-op
    with pytest.raises(VersionExistsError):
        store.publish(v2, NAME, "1")
    store.publish(v2, NAME, "2")
    store.promote(NAME, "1", "production", actor="ana")
    store.promote(NAME, "2", "production", actor="bo")
    assert store.list_models() == [ModelListing(NAME, ["1", "2"], {"production": "2"})]
    assert store.rollback(NAME, "production", actor="cy").version == "1"
    assert store.resolve(ModelRef.parse(NAME)) == (NAME, "1")

    directory = store.fetch(NAME, "1", tmp_path / "cache")
    assert open_model_dir(directory, verify=True) == manifest
    assert store.verify(NAME, "2").version == "2"
    with pytest.raises(VersionNotFoundError, match=rf"no published version '9' in {root}"):
        store.manifest(NAME, "9")


def test_local_store_refuses_tampering_and_concurrent_alias_changes(
    v1: Path, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    store = LocalModelStore(root)
    store.publish(v1, NAME, "1")
    store.promote(NAME, "1", "production", actor="ana")
    found = store._read_alias(NAME, "production")
    assert found is not None
    (root / NAME / "aliases" / "production.json").write_text('{"alias": "production"}')
    with pytest.raises(StoreError, match="changed by someone else"):
        store._write_alias(NAME, found[0], etag=found[1])

    (root / NAME / "1" / "tokenizer.json").unlink()
    with pytest.raises(IntegrityError, match=r"tokenizer\.json is missing"):
        store.verify(NAME, "1")
    with pytest.raises(IntegrityError, match=r"tokenizer\.json is missing from the store"):
        store.fetch(NAME, "1", tmp_path / "cache")


# ---- the CLI, in-process against the same moto S3 ---------------------------------------


def lamina(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["models", *argv])
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_store_commands(
    aws: Any,
    v1: Path,
    v2: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAMINA_MODELS_BUCKET", BUCKET)
    assert lamina(capsys, "publish", str(v1), "--name", NAME, "--version", "1")[0] == 0
    code, out, _ = lamina(capsys, "publish", str(v2), "--name", NAME, "--version", "2")
    assert code == 0
    assert out.startswith(f"published {NAME}/2 to {BUCKET}: 3 files")
    assert lamina(capsys, "promote", NAME, "1", "--alias", "production", "--actor", "ana") == (
        0,
        f"{NAME}@production -> 1\n",
        "",
    )
    code, out, _ = lamina(capsys, "promote", NAME, "2", "--alias", "production")
    assert out == f"{NAME}@production -> 2 (was 1)\n"

    code, out, _ = lamina(capsys, "list")
    assert out == f"{NAME}  versions: 1, 2  aliases: production -> 2\n"
    code, out, _ = lamina(capsys, "list", "--json")
    assert json.loads(out) == [
        {"name": NAME, "versions": ["1", "2"], "aliases": {"production": "2"}}
    ]

    code, out, _ = lamina(capsys, "describe", NAME)
    described = json.loads(out)
    assert (described["version"], described["aliases"]) == ("2", ["production"])
    assert described["manifest"]["version"] == "2"

    code, out, _ = lamina(capsys, "verify", f"{NAME}/1")
    assert (code, out.split(":")[0]) == (0, f"ok {NAME}/1")

    code, out, _ = lamina(capsys, "rollback", NAME, "--alias", "production")
    assert (code, out) == (0, f"{NAME}@production -> 1 (rolled back from 2)\n")
    code, _, err = lamina(capsys, "rollback", NAME, "--alias", "production")
    assert code == 1
    assert err.startswith("lamina: error: nothing to roll back to")


def test_cli_errors(
    aws: Any, v1: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAMINA_MODELS_BUCKET", raising=False)
    code, _, err = lamina(capsys, "list")
    assert code == 2
    assert "no bucket: pass --bucket or set LAMINA_MODELS_BUCKET" in err

    code, _, err = lamina(capsys, "describe", f"{NAME}/9", "--bucket", BUCKET)
    assert (code, err) == (
        1,
        f"lamina: error: model {NAME} has no published version '9' in s3://{BUCKET}/models\n",
    )
    code, _, err = lamina(capsys, "verify", "bad name", "--bucket", BUCKET)
    assert code == 1
    assert "invalid model name" in err
    code, _, err = lamina(capsys, "list", "--bucket", "missing-bucket-x")
    assert (code, err) == (1, "lamina: error: bucket missing-bucket-x does not exist\n")


def test_cli_fetch_with_progress(
    aws: Any, v1: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--bucket", BUCKET, "--progress"]
    lamina(capsys, "publish", str(v1), "--name", NAME, "--version", "1", *common)
    lamina(capsys, "promote", NAME, "1", "--alias", "production", *common)
    cache = tmp_path / "cache"
    code, out, err = lamina(capsys, "fetch", NAME, "--cache", str(cache), *common)
    assert (code, out) == (0, f"{cache / NAME / '1'}\n")
    assert err.count("\n") == 3  # one final line per file
    assert "download model.onnx.data:" in err


def test_progress_bar_redraws_at_most_ten_times_a_second() -> None:
    now = [100.0]
    stream = io.StringIO()
    bar = ProgressBar(stream, "upload", clock=lambda: now[0])
    for done in range(0, 100, 10):  # a call every 0.04 s
        bar("model.onnx.data", done * 1_000_000, 100_000_000)
        now[0] += 0.04
    bar("model.onnx.data", 100_000_000, 100_000_000)
    bar("tokenizer.json", 700, 700)  # a small file: one call, just the final line
    frames = stream.getvalue().split("\r")[1:]
    assert [frame.split("% ")[0][-3:] for frame in frames[:4]] == ["  0", " 30", " 60", " 90"]
    assert (
        frames[2] == "upload model.onnx.data [##################............]  60% 60.0 MB/100.0 MB"
    )
    assert frames[4].rstrip() == "upload model.onnx.data: 100.0 MB in 0.4 s (250.0 MB/s)"
    assert frames[4].endswith(" \n")  # blanks out the longer bar line it overwrites
    assert frames[5] == "upload tokenizer.json: 0.7 kB\n"
