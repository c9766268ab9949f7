"""The object layer under the model store and the batch jobs: S3, or a local directory
laid out the same way, behind one interface (``ObjectStore``).

Both implementations give the same guarantees, so the model store and the batch pipeline
run unchanged on AWS, on moto, and on one machine:

- ``put`` replaces an object whole (readers never see half of it);
- ``put(..., if_match=etag)`` / ``put(..., if_none_match=True)`` are compare-and-swap
  writes (S3 conditional writes; a file lock locally): False means someone else won;
- ``update`` is a read-modify-write of one small object by compare-and-swap, retried with
  backoff when another writer wins;
- ``open`` / ``stream`` read an object as an iterator of byte chunks, never whole;
  ``upload`` / ``download`` move a file of any size (S3: multipart, in parallel).

Every S3 or connection failure is raised as the store's ``error`` class, with a message
that says what was being done, ``from`` the botocore or boto3 exception. The model store
passes ``StoreError``, the batch jobs (the API's job routes, the submit and worker
functions, ``lamina jobs``) pass ``JobError``; without one it is ``StorageError``.
Transient S3 errors (throttling, 5xx) are retried by botocore itself before they get here.

boto3 is imported only when an S3 store is made (Lambda's base image ships it; the local
directory needs none of it), and nothing here imports numpy.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, TypeVar

from lamina.errors import LaminaError, StorageError

STREAM_CHUNK = 1024 * 1024

# Progress callback: (what is moving, e.g. a file path, bytes done, bytes total).
Progress = Callable[[str, int, int], None]

T = TypeVar("T")


class TransferProgress:
    """Turns boto3's byte-count callbacks, called from its worker threads, into
    ``progress(path, done, total)`` calls, serialized, and ends with ``done == total``."""

    def __init__(self, path: str, total: int, progress: Progress | None) -> None:
        self.path = path
        self.total = total
        self.done = 0
        self._progress = progress
        self._lock = threading.Lock()
        self._finished = False

    def __call__(self, amount: int) -> None:
        with self._lock:
            # Retries report negative amounts; clamp so the bar never leaves [0, total].
            self.done = min(max(self.done + amount, 0), self.total)
            self._report()

    def start(self) -> None:
        """Report 0 bytes done (nothing for an empty file: ``finish`` reports it)."""
        if self.total:
            self(0)

    def finish(self) -> None:
        with self._lock:
            if not self._finished:
                self.done = self.total
                self._report()

    def _report(self) -> None:
        if self._progress is None or self._finished:
            return
        self._finished = self.done == self.total
        self._progress(self.path, self.done, self.total)


@dataclass(frozen=True)
class Multipart:
    """How S3 moves a large file: in parts of ``chunksize`` bytes once it is larger than
    ``threshold``, ``concurrency`` parts at a time. A local directory ignores it."""

    threshold: int
    chunksize: int
    concurrency: int


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)  # S3 user metadata (x-amz-meta-*)
    version_id: str | None = None  # S3 object version (versioned buckets), else None


class ObjectStore(ABC):
    """One bucket (or directory). Keys are ``/``-separated relative paths.

    ``error`` is the LaminaError subclass every failure is raised as, so each caller's
    failures keep their meaning (the API answers a JobError with 503; the CLI and the
    cold-start loader expect a StoreError from the model store).
    """

    error: type[LaminaError] = StorageError

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
    def open(self, key: str, version_id: str | None = None) -> Iterator[bytes] | None:
        """The object's bytes in chunks of about ``STREAM_CHUNK``, or None if it does not
        exist. The read starts now (so absence is known at once); iterate to the end, or
        close the iterator, to release it."""

    def stream(self, key: str, version_id: str | None = None) -> Iterator[bytes]:
        """Like ``open``, but lazy (nothing is read before the first chunk is asked for),
        and a missing object is an error."""
        chunks = self.open(key, version_id)
        if chunks is None:
            raise self.error(f"cannot read {self.url(key)}: no such object")
        yield from chunks

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

    def update(
        self,
        key: str,
        change: Callable[[bytes | None], tuple[bytes | None, T]],
        *,
        content_type: str = "application/octet-stream",
        attempts: int = 60,
    ) -> T:
        """Read-modify-write of one small object by compare-and-swap; ``change``'s result.

        ``change(current)`` gets the object's bytes (None if it does not exist) and returns
        (new bytes, or None to write nothing; a result to return). The new bytes are
        written only if the object is still as read (If-Match its ETag, or If-None-Match
        if it was absent); if another writer got there first, it is read again and
        ``change`` runs again, after a random pause that doubles with each lost race (so
        writers that collided do not collide again). ``change`` may therefore run several
        times and must depend on its argument only.
        """
        for attempt in range(attempts):
            found = self.get(key)
            body, result = change(None if found is None else found[0])
            if body is None:
                return result
            etag = None if found is None else found[1]
            if self.put(
                key, body, content_type=content_type, if_match=etag, if_none_match=etag is None
            ):
                return result
            time.sleep(random.uniform(0, min(1.0, 0.01 * 2**attempt)))
        raise self.error(f"cannot update {self.url(key)}: too many concurrent writers")

    @abstractmethod
    def upload(
        self,
        key: str,
        path: Path,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        checksum: bool = False,
        callback: Callable[[int], None] | None = None,
        multipart: Multipart | None = None,
    ) -> None:
        """Write a local file of any size to ``key``; ``callback(n)`` per n bytes sent.

        ``content_type`` None: S3's default. ``checksum``: S3 checks a SHA-256 of every
        part as it arrives, so a corrupted upload is refused rather than stored.
        ``multipart`` None: boto3's defaults.
        """

    @abstractmethod
    def download(
        self,
        key: str,
        path: Path,
        *,
        callback: Callable[[int], None] | None = None,
        multipart: Multipart | None = None,
    ) -> bool:
        """Write ``key`` to the local file ``path``; False if there is no such object.

        ``path`` may hold part of the object if this fails: write to a temporary name."""

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
_DENIED = frozenset(
    {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
)


def _version(value: object) -> str | None:
    """S3 says "null" for objects written while versioning was off."""
    return str(value) if value and value != "null" else None


def _code(exc: Any) -> str:
    """The S3 error code of a botocore ClientError ("NoSuchKey", "404", ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Objects(ObjectStore):
    """A bucket, or the part of it under ``prefix``: keys are relative to the prefix, so
    ``S3Objects(b, prefix="models").get("m/1/manifest.json")`` reads
    ``s3://b/models/m/1/manifest.json``."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        client: Any = None,
        endpoint_url: str | None = None,
        error: type[LaminaError] = StorageError,
    ) -> None:
        if not bucket:
            raise error("no bucket given")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.error = error
        if client is None:
            import boto3  # type: ignore[import-untyped]  # lazy: only S3 needs it

            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client

    def __repr__(self) -> str:
        return f"S3Objects({self.url()!r})"

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/" + "/".join(part for part in (self.prefix, key) if part)

    def _key(self, key: str) -> str:
        """The S3 key of ``key`` (``""``: the prefix itself, as a folder)."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def _failure(self, exc: Any, doing: str) -> LaminaError:
        """The error for a botocore ClientError that happened while ``doing``."""
        code = _code(exc)
        if code == "NoSuchBucket":
            return self.error(f"bucket {self.bucket} does not exist")
        if code in _DENIED:
            return self.error(f"cannot {doing}: access denied to bucket {self.bucket} ({code})")
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        return self.error(f"cannot {doing}: {code}: {message}")

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """boto3 / botocore failures inside the block -> ``self.error``
        (``cannot <action> <url>: ...``); a LaminaError passes through."""
        from boto3.exceptions import Boto3Error  # type: ignore[import-untyped]
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
            NoCredentialsError,
        )

        doing = f"{action} {self.url(key)}"
        try:
            yield
        except ClientError as exc:
            raise self._failure(exc, doing) from exc
        except Boto3Error as exc:
            # upload_file wraps the ClientError in S3UploadFailedError (as its __context__).
            if isinstance(exc.__context__, ClientError):
                raise self._failure(exc.__context__, doing) from exc
            raise self.error(f"cannot {doing}: {exc}") from exc
        except NoCredentialsError as exc:
            raise self.error(
                f"cannot {doing}: no AWS credentials (set AWS_PROFILE, or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            ) from exc
        except BotoCoreError as exc:
            raise self.error(f"cannot {doing}: {exc}") from exc

    @staticmethod
    def _transfer(multipart: Multipart | None) -> dict[str, Any]:
        """``Config=`` for upload_file / download_file; none: boto3's defaults."""
        if multipart is None:
            return {}
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

        return {
            "Config": TransferConfig(
                multipart_threshold=multipart.threshold,
                multipart_chunksize=multipart.chunksize,
                max_concurrency=multipart.concurrency,
                # the s3transfer client these settings are written for, whether or not
                # the CRT one is installed
                preferred_transfer_client="classic",
            )
        }

    def _read(self, method: str, key: str, **kwargs: Any) -> dict[str, Any] | None:
        """``client.<method>`` on ``key`` (head_object, get_object); None if it is absent."""
        from botocore.exceptions import ClientError

        with self._errors("read", key):
            try:
                response: dict[str, Any] = getattr(self.client, method)(
                    Bucket=self.bucket, Key=self._key(key), **kwargs
                )
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
        return response

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        version = {"VersionId": version_id} if version_id else {}
        response = self._read("head_object", key, **version)
        if response is None:
            return None
        return ObjectInfo(
            key,
            int(response["ContentLength"]),
            str(response["ETag"]),
            {str(k): str(v) for k, v in response.get("Metadata", {}).items()},
            _version(response.get("VersionId")),
        )

    def get(self, key: str) -> tuple[bytes, str] | None:
        response = self._read("get_object", key)
        if response is None:
            return None
        with self._errors("read", key):
            return response["Body"].read(), str(response.get("ETag", ""))

    def open(self, key: str, version_id: str | None = None) -> Iterator[bytes] | None:
        version = {"VersionId": version_id} if version_id else {}
        response = self._read("get_object", key, **version)
        return None if response is None else self._chunks(key, response["Body"])

    def _chunks(self, key: str, body: Any) -> Iterator[bytes]:
        try:
            with self._errors("read", key):  # the connection may drop mid-object
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
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=body,
                    ContentType=content_type,
                    **condition,
                )
            except ClientError as exc:
                code = _code(exc)
                # If-Match on an object that is gone is a 404: that precondition failed too.
                if condition and (code in _CONFLICT or (if_match and code in _NOT_FOUND)):
                    return False
                raise
        return True

    def upload(
        self,
        key: str,
        path: Path,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        checksum: bool = False,
        callback: Callable[[int], None] | None = None,
        multipart: Multipart | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if content_type is not None:
            extra["ContentType"] = content_type
        if metadata:
            extra["Metadata"] = metadata
        if checksum:
            extra["ChecksumAlgorithm"] = "SHA256"
        with self._errors(f"upload {path} to", key):
            self.client.upload_file(
                str(path),
                self.bucket,
                self._key(key),
                ExtraArgs=extra,
                Callback=callback,
                **self._transfer(multipart),
            )

    def download(
        self,
        key: str,
        path: Path,
        *,
        callback: Callable[[int], None] | None = None,
        multipart: Multipart | None = None,
    ) -> bool:
        from botocore.exceptions import ClientError

        with self._errors("download", key):
            try:
                self.client.download_file(
                    self.bucket,
                    self._key(key),
                    str(path),
                    Callback=callback,
                    **self._transfer(multipart),
                )
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return False
                raise
        return True

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        start = len(self._key(""))
        with self._errors("list", prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(str(item["Key"])[start:], int(item["Size"]), str(item["ETag"]))


# --------------------------------------------------------------------------------------
# A local directory


def _read_blocks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        yield from iter(lambda: handle.read(STREAM_CHUNK), b"")


class LocalObjects(ObjectStore):
    """A directory standing in for a bucket: ``root/<key>``. ETags are content sha256s.

    Conditional writes hold an exclusive lock on ``root/.lock``, so several processes on
    one machine may share the directory. Names starting with ``.`` (the lock, temporary
    files) are not objects.
    """

    def __init__(self, root: Path, *, error: type[LaminaError] = StorageError) -> None:
        self.root = root
        self.error = error
        root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalObjects({str(self.root)!r})"

    def url(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or ".." in parts or PurePosixPath(key).is_absolute():
            raise self.error(f"unsafe object key {key!r}")
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
        for block in _read_blocks(path.open("rb")):
            digest.update(block)
        return '"' + digest.hexdigest()[:32] + '"'

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None
        return data, self._etag(data)

    def open(self, key: str, version_id: str | None = None) -> Iterator[bytes] | None:
        try:
            handle = self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            return None
        return _read_blocks(handle)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _replace(path: Path, write: Callable[[IO[bytes]], object]) -> None:
        """Write ``path`` through a hidden temporary sibling renamed into place."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        try:
            with temp.open("wb") as sink:
                write(sink)
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
            self._replace(path, lambda sink: sink.write(body))
            return True
        with self._lock():
            current = self.get(key)
            if if_none_match and current is not None:
                return False
            if if_match is not None and (current is None or current[1] != if_match):
                return False
            self._replace(path, lambda sink: sink.write(body))
        return True

    @staticmethod
    def _copy(source: Path, sink: IO[bytes], callback: Callable[[int], None] | None) -> None:
        for block in _read_blocks(source.open("rb")):
            sink.write(block)
            if callback is not None:
                callback(len(block))

    def upload(
        self,
        key: str,
        path: Path,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        checksum: bool = False,
        callback: Callable[[int], None] | None = None,
        multipart: Multipart | None = None,
    ) -> None:
        # No metadata here: ``lamina jobs run --local`` takes options as arguments.
        self._replace(self._path(key), lambda sink: self._copy(path, sink, callback))

    def download(
        self,
        key: str,
        path: Path,
        *,
        callback: Callable[[int], None] | None = None,
        multipart: Multipart | None = None,
    ) -> bool:
        source = self._path(key)
        if not source.is_file():
            return False
        with path.open("wb") as sink:
            self._copy(source, sink, callback)
        return True

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


def open_store(
    location: str, *, endpoint_url: str | None = None, error: type[LaminaError] = StorageError
) -> ObjectStore:
    """``bucket`` or ``s3://bucket`` -> S3; a path (it has a ``/``; bucket names cannot) ->
    a local directory, e.g. the ``build/jobs`` of ``lamina jobs run --local``."""
    if location.startswith("s3://"):
        bucket = location.removeprefix("s3://").strip("/")
        return S3Objects(bucket, endpoint_url=endpoint_url, error=error)
    if "/" in location or location.startswith("."):
        return LocalObjects(Path(location), error=error)
    return S3Objects(location, endpoint_url=endpoint_url, error=error)
