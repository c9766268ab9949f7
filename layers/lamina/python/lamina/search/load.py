"""What a collection is loaded from: a finished batch job, or a file of vectors.

A job's items are its parts' rows (id, line, vector), in input order, joined with the input
file's records on the line number (both streams are in input order: constant memory
whatever the job's size): the record's text becomes the item's text, its other fields
(JSONL keys, CSV columns) the item's metadata. The model identity is the job's: exactly
one model version made its vectors, and the workers recorded its fingerprint.

A vectors file is JSONL, one ``{"id", "embedding", "text"?, "metadata"?}`` per line; the
model that made it is named by the caller (a model directory's manifest, or name, version
and fingerprint).
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lamina.batch.jobs import TERMINAL, JobKeys, JobManifest, read_job_manifest
from lamina.batch.records import FORMATS, Record, RecordReader
from lamina.errors import InvalidInputError, JobInputError
from lamina.search.index import Item, ModelIdentity
from lamina.storage import ObjectStore

# Reading a job's input again: its records passed the submit step's limits already.
_REREAD_LINE_BYTES = 8_000_000
_REREAD_TEXT_CHARS = 10**9


@dataclass(frozen=True)
class Source:
    """Items to load, the model that made them, and how many there are (if known)."""

    model: ModelIdentity
    dim: int
    items: Iterator[Item]
    total: int | None
    description: str


def job_model(m: JobManifest) -> ModelIdentity:
    if len(m.model_versions) != 1:
        found = ", ".join(m.model_versions) or "none"
        raise InvalidInputError(
            f"job {m.job_id} was embedded by {len(m.model_versions)} model versions ({found}): "
            "a collection holds the vectors of exactly one (run the job again)"
        )
    tag = m.model_versions[0]
    fingerprint = m.model_fingerprints.get(tag)
    if fingerprint is None:
        raise InvalidInputError(
            f"job {m.job_id} does not record its model's fingerprint (it ran before lamina "
            "recorded them): run it again"
        )
    name, _, version = tag.rpartition("/")
    return ModelIdentity(name, version, fingerprint)


def job_parts(store: ObjectStore, m: JobManifest) -> list[tuple[int, str]]:
    """(chunk, key) of the job's parts, in chunk order (which is input order)."""
    suffix = "." + m.output_format
    parts = []
    for info in store.list(JobKeys(m.job_id).parts):
        name = info.key.rsplit("/", 1)[-1]
        if name.endswith(suffix) and name.removesuffix(suffix).isdigit():
            parts.append((int(name.removesuffix(suffix)), info.key))
    return sorted(parts)


Row = tuple[str, int, np.ndarray]  # (id, line, vector) of a part


def part_rows(store: ObjectStore, m: JobManifest, key: str) -> Iterator[Row]:
    """(id, line, vector) of every row of one part, in input order."""
    data = b"".join(store.stream(key))
    if m.output_format == "npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as part:
            vectors = np.asarray(part["embeddings"], dtype=np.float32)
            for rid, line, vector in zip(part["ids"], part["lines"], vectors, strict=True):
                yield str(rid), int(line), vector
        return
    for raw in data.splitlines():
        row = json.loads(raw)
        yield str(row["id"]), int(row["line"]), np.asarray(row["embedding"], np.float32)


def _part_rows(store: ObjectStore, m: JobManifest) -> Iterator[Row]:
    """(id, line, vector) of every row of the job's parts, in input order."""
    for _, key in job_parts(store, m):
        yield from part_rows(store, m, key)


def input_records(store: ObjectStore, m: JobManifest) -> Iterator[Record]:
    """The job input's valid records, in order, with their metadata."""
    fmt = FORMATS.get(Path(m.input.key).suffix.lower())
    if fmt is None:
        raise JobInputError(
            f"job {m.job_id}: cannot read its input format {m.input.format!r} again"
        )
    reader = RecordReader(
        fmt,
        max_line_bytes=_REREAD_LINE_BYTES,
        max_text_chars=_REREAD_TEXT_CHARS,
        keep_metadata=True,
    )
    for item in reader.read(store.stream(m.input.key, m.input.version_id)):
        if isinstance(item, Record):
            yield item


def joined(rows: Iterator[Row], records: Iterator[Record]) -> Iterator[Item]:
    """Each row with its input record's text and metadata. ``records`` may be shared by
    several calls, one per part in order: each reads only as far as its own rows."""
    record: Record | None = None
    for rid, line, vector in rows:
        while record is None or record.line < line:
            record = next(records, None)
            if record is None:
                raise JobInputError(
                    f"the job's input has no record at line {line} (id {rid}): was the input "
                    "replaced after the job ran?"
                )
        if record.line != line or str(record.id) != rid:
            raise JobInputError(
                f"the job's row {rid} (line {line}) does not match its input's record "
                f"{record.id} (line {record.line}): was the input replaced after the job ran?"
            )
        yield Item(rid, vector, record.text, record.metadata or {})


T = TypeVar("T")


def _peek(iterator: Iterator[T]) -> tuple[T | None, Iterator[T]]:
    """The first item of ``iterator`` (None if it is empty) and the whole stream, that item
    included: what to read a dimension from before anything is loaded."""
    first = next(iterator, None)
    return first, iterator if first is None else itertools.chain([first], iterator)


def from_job(store: ObjectStore, job_id: str, *, with_text: bool = True) -> Source:
    """A finished job's items (text and metadata from its input unless ``with_text`` is
    False, for an input that is gone)."""
    m = read_job_manifest(store, job_id)
    if not m.finalized or m.status not in TERMINAL or m.status == "failed":
        raise InvalidInputError(
            f"job {job_id} is {m.status}{'' if m.finalized else ' (not finished)'}: only a "
            "finished job with vectors (succeeded or partially_failed) can be loaded"
        )
    model = job_model(m)
    first, rows = _peek(_part_rows(store, m))
    if first is None:
        raise InvalidInputError(f"job {job_id} has no vectors")
    dim = int(first[2].shape[0])
    items: Iterator[Item]
    if with_text:
        items = joined(rows, input_records(store, m))
    else:
        items = (Item(rid, vector) for rid, _, vector in rows)
    return Source(model, dim, items, m.ok, f"job {job_id}")


def from_vectors_file(path: Path, model: ModelIdentity) -> Source:
    """A JSONL file of ``{"id", "embedding", "text"?, "metadata"?}``; bad lines are errors
    that name the line (a load never skips data silently)."""

    def parse(number: int, raw: str) -> Item:
        try:
            row: Any = json.loads(raw)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            rid = row["id"]
            if isinstance(rid, bool) or not isinstance(rid, str | int) or rid == "":
                raise ValueError("id must be a non-empty string or an integer")
            vector = np.asarray(row["embedding"], dtype=np.float32)
            if vector.ndim != 1 or not np.isfinite(vector).all():
                raise ValueError("embedding must be a list of finite numbers")
            text = row.get("text")
            if text is not None and not isinstance(text, str):
                raise ValueError("text must be a string")
            metadata = row.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise ValueError("metadata must be a JSON object")
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{path.name} line {number}: {exc}") from exc
        return Item(str(rid), vector, text, metadata)

    def items() -> Iterator[Item]:
        with path.open(encoding="utf-8") as lines:
            for number, raw in enumerate(lines, start=1):
                if raw.strip():
                    yield parse(number, raw)

    first, stream = _peek(items())
    if first is None:
        raise InvalidInputError(f"{path} holds no vectors")

    def checked() -> Iterator[Item]:
        assert first is not None
        for item in stream:
            if item.vector.shape != first.vector.shape:
                raise InvalidInputError(
                    f"{path.name}: item {item.id} has {item.vector.shape[0]} numbers, the "
                    f"first has {first.vector.shape[0]}"
                )
            yield item

    total = sum(1 for raw in path.open(encoding="utf-8") if raw.strip())
    return Source(model, int(first.vector.shape[0]), checked(), total, str(path))
