"""The versioned model store: a registry of model directories with immutable versions and
movable aliases (``staging``, ``production``, any name), kept in S3 (or in a local directory
laid out the same way), through the object layer of ``lamina.storage``.

Layout under ``s3://<bucket>/<prefix>/`` (prefix ``models`` by default)::

    <name>/<version>/model.onnx, model.onnx.data, tokenizer.json, ...   the model directory
    <name>/<version>/manifest.json                                      written LAST
    <name>/aliases/<alias>.json                                         {"version", "previous",
                                                                         "updated_by", "updated_at"}

A version exists only once its manifest.json does: a publish interrupted before the manifest
is invisible (``list``/``resolve`` ignore it) and can be published again. Every reader
verifies sha256 against the manifest; nothing unverified is ever returned as a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from lamina.errors import (
    AliasNotFoundError,
    IntegrityError,
    StoreError,
    VersionExistsError,
    VersionNotFoundError,
)
from lamina.models.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    file_sha256,
    open_model_dir,
)
from lamina.storage import (
    LocalObjects,
    Multipart,
    ObjectStore,
    Progress,  # (file path relative to the model dir, bytes done, bytes total)
    S3Objects,
    TransferProgress,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(kind: str, value: str) -> str:
    """Names, versions and aliases: letters, digits, dot, dash, underscore (no slash, no @)."""
    if not _NAME.fullmatch(value) or value in {"aliases"}:
        raise StoreError(f"invalid {kind} {value!r}: use letters, digits, '.', '-', '_'")
    return value


@dataclass(frozen=True)
class ModelRef:
    """``name``, ``name@alias`` or ``name/version``."""

    name: str
    version: str | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        if "@" in text:
            name, alias = text.split("@", 1)
            return cls(check_name("model name", name), alias=check_name("alias", alias))
        if "/" in text:
            name, version = text.split("/", 1)
            return cls(check_name("model name", name), version=check_name("version", version))
        return cls(check_name("model name", text))

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        return f"{self.name}/{self.version}" if self.version else self.name


@dataclass(frozen=True)
class AliasRecord:
    alias: str
    version: str
    previous: list[str] = field(default_factory=list)  # earlier versions, most recent last
    updated_by: str = ""
    updated_at: str = ""  # ISO 8601 UTC


@dataclass(frozen=True)
class ModelListing:
    name: str
    versions: list[str]  # published (manifest present), sorted
    aliases: dict[str, str]  # alias -> version


class ModelStore(ABC):
    """What the CLI and the cold-start loader need from a model store."""

    @abstractmethod
    def publish(
        self, source: Path, name: str, version: str, *, progress: Progress | None = None
    ) -> Manifest:
        """Upload a verified local model directory as ``name/version``; manifest last.

        Identical content (the same files with the same sha256) already published under
        that version: a no-op that returns the stored manifest. Different content:
        VersionExistsError. The stored manifest is the local one with ``name`` and
        ``version`` set to the store's.
        """

    @abstractmethod
    def promote(self, name: str, version: str, alias: str, *, actor: str) -> AliasRecord:
        """Point ``alias`` at a published version, remembering the version it pointed at."""

    @abstractmethod
    def rollback(self, name: str, alias: str, *, actor: str) -> AliasRecord:
        """Point ``alias`` back at the version it pointed at before; StoreError if none."""

    @abstractmethod
    def list_models(self) -> list[ModelListing]:
        """Every model with its published versions and aliases."""

    def listing(self, name: str) -> ModelListing:
        """One model's versions and aliases (empty lists if the store has no such model)."""
        for found in self.list_models():
            if found.name == name:
                return found
        return ModelListing(name, [], {})

    @abstractmethod
    def alias(self, name: str, alias: str) -> AliasRecord:
        """The alias record; AliasNotFoundError if there is none."""

    @abstractmethod
    def manifest(self, name: str, version: str) -> Manifest:
        """The published manifest; VersionNotFoundError if the version is not published."""

    def resolve(self, ref: ModelRef) -> tuple[str, str]:
        """(name, version) of a reference: follows an alias; a bare name means @production."""
        if ref.version:
            self.manifest(ref.name, ref.version)
            return ref.name, ref.version
        record = self.alias(ref.name, ref.alias or "production")
        return ref.name, record.version

    @abstractmethod
    def fetch(
        self, name: str, version: str, cache: Path, *, progress: Progress | None = None
    ) -> Path:
        """Download ``name/version`` into ``cache/<name>/<version>/`` and return that dir.

        Files already there and matching the manifest are kept; others are downloaded to a
        temporary name, verified, then renamed; the manifest goes in last. Any mismatch raises
        IntegrityError and leaves nothing unverified in place.
        """

    @abstractmethod
    def verify(self, name: str, version: str, *, progress: Progress | None = None) -> Manifest:
        """Read every stored file of a version and check it against the manifest."""


# --------------------------------------------------------------------------------------
# The store on an object layer (S3, or a local directory)


_MIB = 1024 * 1024


def _version_key(version: str) -> list[tuple[int, int | str]]:
    """Natural order: 2 < 10, 1.2 < 1.10; digits sort before letters."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", version)]


def _safe_relative(root: Path, relative: str) -> Path:
    """``root / relative`` for a manifest file path; refuses paths that leave ``root``."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts or "\\" in relative:
        raise StoreError(f"manifest lists an unsafe file path {relative!r}")
    if relative == MANIFEST_NAME:
        raise StoreError(f"manifest lists {MANIFEST_NAME} as a model file")
    return root.joinpath(*parts)


def _local_matches(path: Path, entry: FileEntry) -> bool:
    try:
        return path.stat().st_size == entry.size and file_sha256(path) == entry.sha256
    except FileNotFoundError:
        return False


def _temp_name(final: Path) -> Path:
    """A unique sibling of ``final``: concurrent writers never share a temporary file."""
    return final.with_name(f"{final.name}.part-{secrets.token_hex(8)}")


def _write_atomically(final: Path, data: bytes) -> None:
    temp = _temp_name(final)
    try:
        temp.write_bytes(data)
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)


def _manifest_bytes(manifest: Manifest) -> bytes:
    """The manifest as ``write_manifest`` writes it, so stored and cached copies are equal."""
    return (manifest.model_dump_json(indent=2) + "\n").encode("utf-8")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ObjectModelStore(ModelStore):
    """The model store on an ObjectStore whose keys start at the store's root (layout in
    the module docstring): ``S3ModelStore`` and ``LocalModelStore`` only choose which.

    Every storage failure is a StoreError that says what was being done (the object
    store is made with ``error=StoreError``). Alias records are written with conditional
    requests (If-Match / If-None-Match), so two operators moving the same alias at once
    cannot silently overwrite each other; the manifest is written with If-None-Match, so
    of two concurrent publishes of one version exactly one wins.
    """

    multipart_threshold = 16 * _MIB
    multipart_chunksize = 16 * _MIB
    max_concurrency = 8

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url()!r})"

    # ---- the contract ---------------------------------------------------------------

    def publish(
        self, source: Path, name: str, version: str, *, progress: Progress | None = None
    ) -> Manifest:
        """See ModelStore.publish. A bad local directory raises ModelLoadError.

        The stored manifest is the local one with ``name`` and ``version`` set to the
        store's, so a fetched directory says which store version it is.
        """
        check_name("model name", name)
        check_name("version", version)
        local = open_model_dir(source, verify=True)
        stored = local.model_copy(update={"name": name, "version": version})
        existing = self._stored_manifest(name, version)
        if existing is not None:
            return self._same_or_conflict(existing, stored)
        for entry in local.files:
            self._upload(source, name, version, entry, progress)
        manifest_key = self._key(name, version, MANIFEST_NAME)
        if not self._put(manifest_key, _manifest_bytes(stored), etag=None):
            # Someone else published this version between our check and now.
            winner = self._stored_manifest(name, version)
            if winner is None:
                raise StoreError(f"{name}/{version} changed while publishing; publish again")
            return self._same_or_conflict(winner, stored)
        return stored

    def promote(self, name: str, version: str, alias: str, *, actor: str) -> AliasRecord:
        check_name("alias", alias)
        self.manifest(name, version)  # must be published
        current = self._read_alias(name, alias)
        if current is None:
            record = AliasRecord(alias, version, [], actor, _now())
            return self._write_alias(name, record, etag=None)
        old, etag = current
        if old.version == version:
            return old
        record = AliasRecord(alias, version, [*old.previous, old.version], actor, _now())
        return self._write_alias(name, record, etag=etag)

    def rollback(self, name: str, alias: str, *, actor: str) -> AliasRecord:
        current = self._read_alias(name, alias)
        if current is None:
            raise self._alias_not_found(name, alias)
        old, etag = current
        if not old.previous:
            raise StoreError(
                f"nothing to roll back to: {name}@{alias} has no previous version "
                f"(it points at {old.version})"
            )
        *earlier, target = old.previous
        self.manifest(name, target)  # still published (versions are never deleted)
        record = AliasRecord(alias, target, earlier, actor, _now())
        return self._write_alias(name, record, etag=etag)

    def list_models(self) -> list[ModelListing]:
        return self._listings("")

    def listing(self, name: str) -> ModelListing:
        check_name("model name", name)
        found = self._listings(name + "/")
        return found[0] if found else ModelListing(name, [], {})

    def alias(self, name: str, alias: str) -> AliasRecord:
        current = self._read_alias(name, alias)
        if current is None:
            raise self._alias_not_found(name, alias)
        return current[0]

    def manifest(self, name: str, version: str) -> Manifest:
        manifest = self._stored_manifest(name, version)
        if manifest is None:
            raise VersionNotFoundError(
                f"model {name} has no published version {version!r} in {self.url()}"
            )
        return manifest

    def fetch(
        self, name: str, version: str, cache: Path, *, progress: Progress | None = None
    ) -> Path:
        """See ModelStore.fetch.

        Safe for concurrent fetches of one version (two processes, or threads): temporary
        names are unique and every file, the manifest last, is put in place by an atomic
        rename of a verified copy, so a good file is never removed or half-written. If the
        store's copy of a file is bad (IntegrityError), the local copy and the manifest are
        removed: nobody can complete that directory until the store is fixed.
        """
        manifest = self.manifest(name, version)
        target = cache / name / version
        target.mkdir(parents=True, exist_ok=True)
        for entry in manifest.files:
            final = _safe_relative(target, entry.path)
            if _local_matches(final, entry):
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._download(name, version, entry, final, progress)
            except IntegrityError:
                (target / MANIFEST_NAME).unlink(missing_ok=True)
                final.unlink(missing_ok=True)
                raise
        data = _manifest_bytes(manifest)
        manifest_path = target / MANIFEST_NAME
        if not manifest_path.is_file() or manifest_path.read_bytes() != data:
            _write_atomically(manifest_path, data)
        return target

    def verify(self, name: str, version: str, *, progress: Progress | None = None) -> Manifest:
        manifest = self.manifest(name, version)
        problems = [
            problem
            for entry in manifest.files
            if (problem := self._check_stored(name, version, entry, progress)) is not None
        ]
        if problems:
            raise IntegrityError(
                f"{name}/{version} in {self.url()}: {len(problems)} stored file(s) do not "
                f"match the manifest: {'; '.join(problems)}"
            )
        return manifest

    # ---- keys -------------------------------------------------------------------------

    def url(self, *parts: str) -> str:
        """Where ``parts`` live, for messages: ``s3://bucket/prefix/parts...`` or a path."""
        return self.objects.url(self._key(*parts))

    @staticmethod
    def _key(*parts: str) -> str:
        return "/".join(p for p in parts if p)

    def _alias_not_found(self, name: str, alias: str) -> AliasNotFoundError:
        return AliasNotFoundError(f"model {name} has no alias {alias!r} in {self.url()}")

    # ---- small objects: manifests and alias records ----------------------------------

    def _put(self, key: str, body: bytes, *, etag: str | None) -> bool:
        """Write a small JSON object if it is still as we read it: ``etag`` None means it
        must not exist. False if that precondition failed."""
        return self.objects.put(
            key, body, content_type="application/json", if_match=etag, if_none_match=etag is None
        )

    def _stored_manifest(self, name: str, version: str) -> Manifest | None:
        check_name("model name", name)
        check_name("version", version)
        key = self._key(name, version, MANIFEST_NAME)
        found = self.objects.get(key)
        if found is None:
            return None
        try:
            manifest = Manifest.model_validate_json(found[0])
        except ValidationError as exc:
            raise StoreError(f"{self.url(key)} is not a valid lamina manifest: {exc}") from exc
        if (manifest.name, manifest.version) != (name, version):
            raise StoreError(
                f"{self.url(key)} describes {manifest.name}/{manifest.version}, "
                f"not {name}/{version}"
            )
        return manifest

    def _same_or_conflict(self, existing: Manifest, wanted: Manifest) -> Manifest:
        def files(m: Manifest) -> list[FileEntry]:
            return sorted(m.files, key=lambda e: e.path)

        if files(existing) == files(wanted):
            return existing
        raise VersionExistsError(
            f"{existing.name}/{existing.version} is already published with different content "
            f"(digest {existing.digest[:12]}, yours {wanted.digest[:12]}); versions are "
            "immutable: publish under a new version"
        )

    def _read_alias(self, name: str, alias: str) -> tuple[AliasRecord, str] | None:
        check_name("model name", name)
        check_name("alias", alias)
        key = self._key(name, "aliases", f"{alias}.json")
        found = self.objects.get(key)
        if found is None:
            return None
        body, etag = found
        try:
            raw = json.loads(body)
            record = AliasRecord(
                alias=_str(raw, "alias"),
                version=_str(raw, "version"),
                previous=[check_name("version", v) for v in _list_of_str(raw, "previous")],
                updated_by=_str(raw, "updated_by", default=""),
                updated_at=_str(raw, "updated_at", default=""),
            )
            check_name("version", record.version)
        except (ValueError, StoreError) as exc:  # JSONDecodeError is a ValueError
            raise StoreError(f"{self.url(key)} is not a valid alias record: {exc}") from exc
        if record.alias != alias:
            raise StoreError(f"{self.url(key)} is the record of alias {record.alias!r}")
        return record, etag

    def _write_alias(self, name: str, record: AliasRecord, *, etag: str | None) -> AliasRecord:
        key = self._key(name, "aliases", f"{record.alias}.json")
        body = (json.dumps(asdict(record), indent=2) + "\n").encode("utf-8")
        if not self._put(key, body, etag=etag):
            raise StoreError(
                f"{name}@{record.alias} was changed by someone else meanwhile; nothing was "
                "written: look at it again and retry"
            )
        return record

    def _listings(self, under: str) -> list[ModelListing]:
        """Models whose keys start with ``under`` (``""``: all, or one model's ``name/``)."""
        versions: dict[str, list[str]] = {}
        alias_names: dict[str, list[str]] = {}
        for info in self.objects.list(under):
            parts = info.key.split("/")
            if len(parts) != 3:
                continue
            name, middle, leaf = parts
            if middle == "aliases" and leaf.endswith(".json"):
                alias_names.setdefault(name, []).append(leaf.removesuffix(".json"))
            elif leaf == MANIFEST_NAME:
                versions.setdefault(name, []).append(middle)
        return [
            ModelListing(
                name,
                sorted(versions.get(name, []), key=_version_key),
                {a: self.alias(name, a).version for a in sorted(alias_names.get(name, []))},
            )
            for name in sorted(versions.keys() | alias_names.keys())
        ]

    # ---- model files ------------------------------------------------------------------

    def _multipart(self) -> Multipart:
        return Multipart(self.multipart_threshold, self.multipart_chunksize, self.max_concurrency)

    def _upload(
        self, source: Path, name: str, version: str, entry: FileEntry, progress: Progress | None
    ) -> None:
        transfer = TransferProgress(entry.path, entry.size, progress)
        transfer.start()
        self.objects.upload(
            self._key(name, version, entry.path),
            _safe_relative(source, entry.path),
            metadata={"sha256": entry.sha256},
            checksum=True,
            callback=transfer,
            multipart=self._multipart(),
        )
        transfer.finish()

    def _download(
        self, name: str, version: str, entry: FileEntry, final: Path, progress: Progress | None
    ) -> None:
        """Download to a unique temporary sibling, verify, then rename into place."""
        temp = _temp_name(final)
        transfer = TransferProgress(entry.path, entry.size, progress)
        transfer.start()
        try:
            key = self._key(name, version, entry.path)
            if not self.objects.download(key, temp, callback=transfer, multipart=self._multipart()):
                raise IntegrityError(f"{name}/{version}: {entry.path} is missing from the store")
            size, digest = temp.stat().st_size, file_sha256(temp)
            if (size, digest) != (entry.size, entry.sha256):
                raise IntegrityError(
                    f"{name}/{version}: downloaded {entry.path} does not match the manifest "
                    f"({_mismatch(entry, size, digest)}); nothing was kept"
                )
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        transfer.finish()

    def _check_stored(
        self, name: str, version: str, entry: FileEntry, progress: Progress | None
    ) -> str | None:
        """Stream one stored file and hash it: None if it matches, else what is wrong."""
        chunks = self.objects.open(self._key(name, version, entry.path))
        if chunks is None:
            return f"{entry.path} is missing"
        transfer = TransferProgress(entry.path, entry.size, progress)
        transfer.start()
        digest, size = hashlib.sha256(), 0
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            transfer(len(chunk))
        transfer.finish()
        if (size, digest.hexdigest()) != (entry.size, entry.sha256):
            return f"{entry.path} ({_mismatch(entry, size, digest.hexdigest())})"
        return None


class S3ModelStore(ObjectModelStore):
    """The model store in ``s3://<bucket>/<prefix>/``."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "models",
        client: Any = None,
        endpoint_url: str | None = None,
    ) -> None:
        if not bucket:
            raise StoreError("no bucket given for the model store")
        self._s3 = S3Objects(
            bucket, prefix=prefix, client=client, endpoint_url=endpoint_url, error=StoreError
        )
        super().__init__(self._s3)

    @property
    def bucket(self) -> str:
        return self._s3.bucket

    @property
    def prefix(self) -> str:
        return self._s3.prefix

    @property
    def client(self) -> Any:
        """The boto3 S3 client."""
        return self._s3.client


class LocalModelStore(ObjectModelStore):
    """The model store in a local directory laid out like the bucket: a store to try the
    publish / promote / fetch workflow, or to test it, with no AWS account."""

    def __init__(self, root: Path) -> None:
        self.root = root
        super().__init__(LocalObjects(root, error=StoreError))


def _mismatch(entry: FileEntry, size: int, digest: str) -> str:
    if size != entry.size:
        return f"{size} bytes, manifest says {entry.size}"
    return f"sha256 {digest[:12]}..., manifest says {entry.sha256[:12]}..."


def _str(raw: Any, field_name: str, *, default: str | None = None) -> str:
    value = raw.get(field_name, default) if isinstance(raw, dict) else None
    if not isinstance(value, str):
        raise ValueError(f"{field_name!r} must be a string")
    return value


def _list_of_str(raw: Any, field_name: str) -> list[str]:
    value = raw.get(field_name, []) if isinstance(raw, dict) else None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field_name!r} must be a list of strings")
    return list(value)
