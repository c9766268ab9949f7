"""The object layer (``lamina.storage``): one contract, run on moto's in-process S3 (with and
without a key prefix) and on a local directory; then what only S3 has (error mapping)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3  # type: ignore[import-untyped]
import botocore.session  # type: ignore[import-untyped]
import pytest
from botocore.credentials import CredentialResolver  # type: ignore[import-untyped]
from moto import mock_aws

from lamina import storage
from lamina.errors import StorageError, StoreError
from lamina.storage import (
    LocalObjects,
    Multipart,
    ObjectStore,
    S3Objects,
    TransferProgress,
    open_store,
)
from tests.batch_helpers import fake_aws_env

BUCKET = "lamina-storage-test"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_env(monkeypatch)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(params=["s3", "s3-prefix", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjects(tmp_path / "bucket")
    client = request.getfixturevalue("s3")
    prefix = "team/models" if request.param == "s3-prefix" else ""
    return S3Objects(BUCKET, prefix=prefix, client=client)


# ---- the contract ----------------------------------------------------------------------------


MISSING_BUCKET = "bucket no-such-bucket-here does not exist"


def test_put_get_head_delete(store: ObjectStore) -> None:
    assert store.get("a/b.json") is None
    assert store.head("a/b.json") is None
    assert store.put("a/b.json", b"{}", content_type="application/json")
    body, etag = store.get("a/b.json") or (b"", "")
    assert body == b"{}"
    info = store.head("a/b.json")
    assert info is not None
    assert (info.key, info.size, info.etag) == ("a/b.json", 2, etag)
    store.delete("a/b.json")
    store.delete("a/b.json")  # absent: no error
    assert store.get("a/b.json") is None


def test_conditional_writes(store: ObjectStore) -> None:
    assert store.put("m.json", b"1", if_none_match=True)
    assert not store.put("m.json", b"2", if_none_match=True), "it exists"
    _, etag = store.get("m.json") or (b"", "")
    assert store.put("m.json", b"3", if_match=etag)
    assert not store.put("m.json", b"4", if_match=etag), "changed since that ETag"
    assert not store.put("other.json", b"5", if_match=etag), "absent"
    assert (store.get("m.json") or (b"",))[0] == b"3"


def test_update_is_a_compare_and_swap_loop(store: ObjectStore) -> None:
    """A writer that gets in between update's read and its write wins; update reads again."""
    seen: list[bytes | None] = []

    def increment(current: bytes | None) -> tuple[bytes | None, int]:
        seen.append(current)
        if len(seen) == 1:
            store.put("n", b"10")  # another writer, after our read and before our write
        value = int(current or b"0") + 1
        return str(value).encode(), value

    assert store.update("n", increment) == 11
    assert seen == [None, b"10"]
    assert (store.get("n") or (b"",))[0] == b"11"
    assert store.update("n", lambda current: (None, "unchanged")) == "unchanged"
    assert (store.get("n") or (b"",))[0] == b"11"


def test_update_from_threads_loses_nothing(tmp_path: Path) -> None:
    """Four threads, ten increments each, on a directory. Not on moto's in-process S3: its
    conditional writes are not atomic across threads (S3's are), so it would lose updates
    that real S3 keeps; the race above is checked on every store instead."""
    store = LocalObjects(tmp_path)

    def increment(current: bytes | None) -> tuple[bytes | None, int]:
        value = int(current or b"0") + 1
        return str(value).encode(), value

    threads = [
        threading.Thread(target=lambda: [store.update("n", increment) for _ in range(10)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (store.get("n") or (b"",))[0] == b"40"


def test_update_gives_up_after_its_attempts(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(storage, "time", SimpleNamespace(sleep=pauses.append))
    monkeypatch.setattr(store, "put", lambda *args, **kwargs: False)  # always a lost race
    with pytest.raises(StorageError, match=r"cannot update .*n: too many concurrent writers"):
        store.update("n", lambda current: (b"x", None), attempts=5)
    assert len(pauses) == 5
    assert all(0 <= pause <= 1 for pause in pauses)


def test_open_and_stream(store: ObjectStore) -> None:
    data = bytes(range(256)) * (storage.STREAM_CHUNK // 256 * 2 + 3)  # > 2 chunks
    store.put("big.bin", data)
    chunks = store.open("big.bin")
    assert chunks is not None
    assert b"".join(chunks) == data
    assert b"".join(store.stream("big.bin")) == data
    assert store.open("missing.bin") is None
    lazy = store.stream("missing.bin")  # nothing is read before the first chunk
    with pytest.raises(StorageError, match=r"cannot read .*missing\.bin: no such object"):
        next(lazy)


def test_upload_and_download_with_callbacks(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"0123456789" * 100_000)
    sent: list[int] = []
    store.upload(
        "files/source.bin",
        source,
        content_type="application/octet-stream",
        metadata={"sha256": "abc"},
        checksum=True,
        callback=sent.append,
        multipart=Multipart(threshold=5 * 2**20, chunksize=5 * 2**20, concurrency=2),
    )
    assert sum(sent) == source.stat().st_size
    received: list[int] = []
    target = tmp_path / "target.bin"
    assert store.download("files/source.bin", target, callback=received.append)
    assert target.read_bytes() == source.read_bytes()
    assert sum(received) == source.stat().st_size
    assert not store.download("files/missing.bin", tmp_path / "missing.bin")


def test_list_is_in_key_order_and_relative(store: ObjectStore) -> None:
    for key in ("b/2", "a/1", "b/1", "bb/1"):
        store.put(key, key.encode())
    assert [info.key for info in store.list("b/")] == ["b/1", "b/2"]
    assert [info.key for info in store.list("")] == ["a/1", "b/1", "b/2", "bb/1"]
    assert [info.size for info in store.list("a/")] == [3]


def test_local_refuses_keys_that_leave_the_directory(tmp_path: Path) -> None:
    store = LocalObjects(tmp_path / "bucket", error=StoreError)
    for key in ("../x", "/etc/passwd", ""):
        with pytest.raises(StoreError, match="unsafe object key"):
            store.put(key, b"x")


# ---- S3 only: keys under a prefix, error mapping ---------------------------------------------


def test_prefix_maps_keys_and_urls(s3: Any) -> None:
    store = S3Objects(BUCKET, prefix="/team/models/", client=s3)
    store.put("m/1/manifest.json", b"{}")
    assert s3.head_object(Bucket=BUCKET, Key="team/models/m/1/manifest.json")
    s3.put_object(Bucket=BUCKET, Key="team/models-other/x", Body=b"")  # not under the prefix
    assert [info.key for info in store.list("")] == ["m/1/manifest.json"]
    assert store.url() == f"s3://{BUCKET}/team/models"
    assert store.url("m/1") == f"s3://{BUCKET}/team/models/m/1"
    assert S3Objects(BUCKET, client=s3).url() == f"s3://{BUCKET}/"


def test_errors_are_the_stores_class_and_say_what_was_done(s3: Any, tmp_path: Path) -> None:
    batch = S3Objects("no-such-bucket-here", client=s3)
    models = S3Objects("no-such-bucket-here", prefix="models", client=s3, error=StoreError)
    with pytest.raises(StorageError, match=MISSING_BUCKET) as info:
        batch.get("jobs/x/manifest.json")
    assert not isinstance(info.value, StoreError)
    assert info.value.__cause__ is not None  # raised from the botocore error
    with pytest.raises(StoreError, match=MISSING_BUCKET):
        list(models.list(""))
    source = tmp_path / "f"
    source.write_bytes(b"x")
    with pytest.raises(StoreError, match=MISSING_BUCKET):
        models.upload("f", source)  # S3UploadFailedError wraps the ClientError


def test_no_credentials() -> None:
    session = botocore.session.Session()
    session.register_component("credential_provider", CredentialResolver(providers=[]))
    client = session.create_client("s3", region_name="us-east-1")
    with pytest.raises(StorageError, match=rf"cannot read s3://{BUCKET}/k: no AWS credentials"):
        S3Objects(BUCKET, client=client).get("k")


def test_open_store_picks_s3_or_a_directory(s3: Any, tmp_path: Path) -> None:
    assert isinstance(open_store(f"s3://{BUCKET}/"), S3Objects)
    assert isinstance(open_store(BUCKET), S3Objects)
    local = open_store(str(tmp_path / "jobs"), error=StoreError)
    assert isinstance(local, LocalObjects)
    assert local.error is StoreError
    with pytest.raises(StorageError, match="no bucket given"):
        S3Objects("", client=s3)


def test_transfer_progress_is_serialized_clamped_and_ends_at_total() -> None:
    seen: list[tuple[str, int, int]] = []
    progress = TransferProgress("f", 10, lambda *call: seen.append(call))
    progress.start()
    progress(4)
    progress(-9)  # a retried part
    progress(20)
    progress.finish()  # already at the total: not reported twice
    assert seen == [("f", 0, 10), ("f", 4, 10), ("f", 0, 10), ("f", 10, 10)]
