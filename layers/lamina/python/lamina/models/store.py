"""The versioned model store: a registry of model directories with immutable versions and
movable aliases (``staging``, ``production``, any name), kept in S3.

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

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lamina.errors import StoreError
from lamina.models.manifest import Manifest

# Progress callback: (file path relative to the model dir, bytes done, bytes total).
Progress = Callable[[str, int, int], None]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(kind: str, value: str) -> str:
    """Names, versions and aliases: letters, digits, dot, dash, underscore (no slash, no @)."""
    if not _NAME.match(value) or value in {"aliases"}:
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

        Identical content already published under that version: a no-op that returns the
        manifest. Different content: VersionExistsError.
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
    def verify(self, name: str, version: str) -> Manifest:
        """Read every stored file of a version and check it against the manifest."""
