"""The object storage a batch job needs: S3, or a local directory laid out the same way.

Both implementations give the same guarantees, so the pipeline runs unchanged on AWS, on
moto, and on one machine (``lamina jobs run --local``):

- ``put`` replaces an object whole (readers never see half of it);
- ``put(..., if_match=etag)`` / ``put(..., if_none_match=True)`` are compare-and-swap
  writes (S3 conditional writes; a file lock locally): False means someone else won;
- ``stream`` reads an object as an iterator of byte chunks, never whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from lamina.errors import JobError

STREAM_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)  # S3 user metadata (x-amz-meta-*)
    version_id: str | None = None  # S3 object version (versioned buckets), else None


class ObjectStore(ABC):
    """One bucket (or directory). Keys are ``/``-separated relative paths."""

    @abstractmethod
    def url(self, key: str = "") -> str:
        """Where ``key`` lives, for messages: ``s3://bucket/key`` or a path."""

    @abstractmethod
    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """Size and ETag of ``key`` (that version of it, if given), or None if absent."""

    @abstractmethod
    def get(self, key: str) -> tuple[bytes, str] | None:
        """A small object's bytes and ETag, or None if it does not exist."""

    @abstractmethod
    def stream(self, key: str, version_id: str | None = None) -> Iterator[bytes]:
        """The object's bytes in chunks of about ``STREAM_CHUNK``; JobError if missing."""

    @abstractmethod
    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> bool:
        """Write ``key`` whole. With a condition, False if the condition failed."""

    @abstractmethod
    def upload(
        self,
        key: str,
        path: Path,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
        callback: Callable[[int], None] | None = None,
    ) -> None:
        """Write a local file of any size to ``key``; ``callback(n)`` per n bytes sent."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if it is absent)."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Objects under ``prefix``, in key order."""


# --------------------------------------------------------------------------------------
# S3

_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_CONFLICT = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


def _version(value: object) -> str | None:
    """S3 says "null" for objects written while versioning was off."""
    return str(value) if value and value != "null" else None


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Objects(ObjectStore):
    def __init__(self, bucket: str, *, client: Any = None, endpoint_url: str | None = None):
        if not bucket:
            raise JobError("no bucket given for batch jobs (LAMINA_BATCH_BUCKET or --bucket)")
        self.bucket = bucket
        if client is None:
            import boto3  # type: ignore[import-untyped]

            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        from boto3.exceptions import Boto3Error  # type: ignore[import-untyped]
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        try:
            yield
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", "") or str(exc)
            raise JobError(f"cannot {action} {self.url(key)}: {_code(exc)}: {message}") from exc
        except (BotoCoreError, Boto3Error) as exc:
            raise JobError(f"cannot {action} {self.url(key)}: {exc}") from exc

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        version = {"VersionId": version_id} if version_id else {}
        with self._errors("read", key):
            try:
                response = self.client.head_object(Bucket=self.bucket, Key=key, **version)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
        return ObjectInfo(
            key,
            int(response["ContentLength"]),
            str(response["ETag"]),
            {str(k): str(v) for k, v in response.get("Metadata", {}).items()},
            _version(response.get("VersionId")),
        )

    def get(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        with self._errors("read", key):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
            return response["Body"].read(), str(response["ETag"])

    def stream(self, key: str, version_id: str | None = None) -> Iterator[bytes]:
        version = {"VersionId": version_id} if version_id else {}
        with self._errors("read", key):
            body = self.client.get_object(Bucket=self.bucket, Key=key, **version)["Body"]
            try:
                yield from body.iter_chunks(STREAM_CHUNK)
            finally:
                body.close()

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> bool:
        from botocore.exceptions import ClientError

        condition: dict[str, str] = {}
        if if_match is not None:
            condition["IfMatch"] = if_match
        if if_none_match:
            condition["IfNoneMatch"] = "*"
        with self._errors("write", key):
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **condition
                )
            except ClientError as exc:
                if condition and _code(exc) in _CONFLICT:
                    return False
                raise
        return True

    def upload(
        self,
        key: str,
        path: Path,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
        callback: Callable[[int], None] | None = None,
    ) -> None:
        extra: dict[str, Any] = {"ContentType": content_type}
        if metadata:
            extra["Metadata"] = metadata
        with self._errors("write", key):
            self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Callback=callback)

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        with self._errors("list", prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"], int(item["Size"]), str(item["ETag"]))


# --------------------------------------------------------------------------------------
# A local directory


class LocalObjects(ObjectStore):
    """A directory standing in for a bucket: ``root/<key>``. ETags are content sha256s.

    Conditional writes hold an exclusive lock on ``root/.lock``, so several processes on
    one machine may share the directory.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def url(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or ".." in parts or PurePosixPath(key).is_absolute():
            raise JobError(f"unsafe object key {key!r}")
        return self.root.joinpath(*parts)

    @staticmethod
    def _etag(data: bytes) -> str:
        return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        path = self._path(key)  # no versions here: the current content
        if not path.is_file():
            return None
        return ObjectInfo(key, path.stat().st_size, self._file_etag(path))

    def _file_etag(self, path: Path) -> str:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(STREAM_CHUNK), b""):
                digest.update(block)
        return '"' + digest.hexdigest()[:32] + '"'

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None
        return data, self._etag(data)

    def stream(self, key: str, version_id: str | None = None) -> Iterator[bytes]:
        try:
            handle: IO[bytes] = self._path(key).open("rb")
        except FileNotFoundError:
            raise JobError(f"cannot read {self.url(key)}: no such object") from None
        with handle:
            yield from iter(lambda: handle.read(STREAM_CHUNK), b"")

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, path: Path, body: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        try:
            temp.write_bytes(body)
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> bool:
        path = self._path(key)
        if if_match is None and not if_none_match:
            self._write(path, body)
            return True
        with self._lock():
            current = self.get(key)
            if if_none_match and current is not None:
                return False
            if if_match is not None and (current is None or current[1] != if_match):
                return False
            self._write(path, body)
        return True

    def upload(
        self,
        key: str,
        path: Path,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
        callback: Callable[[int], None] | None = None,
    ) -> None:
        target = self._path(key)  # no metadata here: --local takes options as arguments
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}")
        try:
            with path.open("rb") as source, temp.open("wb") as sink:
                for block in iter(lambda: source.read(STREAM_CHUNK), b""):
                    sink.write(block)
                    if callback is not None:
                        callback(len(block))
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self.root
        found = sorted(
            path.relative_to(base).as_posix()
            for path in base.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )
        for key in found:
            if key.startswith(prefix):
                yield ObjectInfo(key, (base / key).stat().st_size, "")


def open_store(location: str, *, endpoint_url: str | None = None) -> ObjectStore:
    """``bucket`` or ``s3://bucket`` -> S3; a path (it has a ``/``; bucket names cannot) ->
    a local directory, e.g. the ``build/jobs`` of ``lamina jobs run --local``."""
    if location.startswith("s3://"):
        return S3Objects(location.removeprefix("s3://").strip("/"), endpoint_url=endpoint_url)
    if "/" in location or location.startswith("."):
        return LocalObjects(Path(location))
    return S3Objects(location, endpoint_url=endpoint_url)
