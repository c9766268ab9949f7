"""Read a job's results back: its parts merged in input order, and its errors.

JSONL parts are concatenated as they are (already in input order: chunks follow the input
and parts are named by chunk number). NPZ parts are merged into ``embeddings.npy``
(written through a memory map, one part in memory at a time) and ``ids.jsonl``.
The row count is checked against the manifest's ``ok``: a download never silently
returns fewer (or more) vectors than the job says it produced. A split job's window rows
(``windows/``) download the same way, with ``windows.jsonl`` as the npz index and the
manifest's ``window_rows`` as the count.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

from lamina.batch.jobs import JobKeys, JobManifest, read_job_manifest
from lamina.errors import JobError
from lamina.storage import ObjectInfo, ObjectStore

Progress = Callable[[str, int, int], None]  # (what, done, total)


# An npz part's index columns: the JSON key of each row -> the part's array.
ROW_COLUMNS = {"id": "ids", "line": "lines"}
WINDOW_COLUMNS = {
    **ROW_COLUMNS,
    "window": "windows",
    "start": "starts",
    "end": "ends",
    "tokens": "tokens",
}


def part_objects(store: ObjectStore, m: JobManifest, prefix: str | None = None) -> list[ObjectInfo]:
    """The job's parts (``parts/``, or ``prefix``) in the job's output format, in order."""
    suffix = "." + m.output_format
    keys = prefix or JobKeys(m.job_id).parts
    return [info for info in store.list(keys) if info.key.endswith(suffix)]


def download(
    store: ObjectStore,
    job_id: str,
    out: Path,
    *,
    errors: Path | None = None,
    allow_unfinished: bool = False,
    progress: Progress | None = None,
) -> JobManifest:
    """Write the job's vectors to ``out`` (a .jsonl file, or a directory for npz jobs) and,
    if asked, its errors.jsonl to ``errors``. JobError if the job is not over yet (unless
    ``allow_unfinished``) or if the rows do not add up to the manifest's count."""
    m = read_job_manifest(store, job_id)
    if not m.finalized and not allow_unfinished:
        raise JobError(f"job {job_id} is {m.status}, not finished: wait, or allow partial results")
    parts = part_objects(store, m)
    total = sum(info.size for info in parts)
    rows = (
        _write_npz(store, parts, out, total, progress)
        if m.output_format == "npz"
        else (_write_jsonl(store, parts, out, total, progress))
    )
    if m.finalized and rows != m.ok:
        raise JobError(f"job {job_id}: the parts hold {rows} rows but the manifest says {m.ok}")
    if errors is not None:
        _copy(store, JobKeys(job_id).errors, errors)
    return m


def download_windows(
    store: ObjectStore, m: JobManifest, out: Path, *, progress: Progress | None = None
) -> int:
    """Write a job's window rows (``windows/``, in input order) to ``out``, as ``download``
    writes its vectors (npz: ``embeddings.npy`` and ``windows.jsonl``, a row of
    ``{"id", "line", "window", "start", "end", "tokens"}`` per vector); the rows written.
    JobError if they do not add up to the manifest's ``window_rows``."""
    parts = part_objects(store, m, JobKeys(m.job_id).windows)
    total = sum(info.size for info in parts)
    rows = (
        _write_npz(store, parts, out, total, progress, "windows.jsonl", WINDOW_COLUMNS)
        if m.output_format == "npz"
        else _write_jsonl(store, parts, out, total, progress)
    )
    if m.finalized and rows != m.window_rows:
        raise JobError(
            f"job {m.job_id}: windows/ holds {rows} rows but the manifest says {m.window_rows}"
        )
    return rows


def _write_jsonl(
    store: ObjectStore, parts: list[ObjectInfo], out: Path, total: int, progress: Progress | None
) -> int:
    rows = done = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(out.name + ".partial")
    with temp.open("wb") as sink:
        for info in parts:
            for block in store.stream(info.key):
                sink.write(block)
                rows += block.count(b"\n")
                done += len(block)
                if progress is not None:
                    progress(str(out), done, total)
    temp.replace(out)
    if progress is not None:
        progress(str(out), total, total)
    return rows


def _write_npz(
    store: ObjectStore,
    parts: list[ObjectInfo],
    out: Path,
    total: int,
    progress: Progress | None,
    index: str = "ids.jsonl",
    columns: dict[str, str] = ROW_COLUMNS,
) -> int:
    """The parts' vectors in ``out/embeddings.npy``, a JSON row of ``columns`` per vector in
    ``out/<index>``."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    # First pass: shapes only, so the output is allocated once.
    shapes: list[tuple[int, int]] = []
    for info in parts:
        with np.load(io.BytesIO(_read(store, info.key)), allow_pickle=False) as part:
            shapes.append(part["embeddings"].shape)
    rows = sum(shape[0] for shape in shapes)
    dim = shapes[0][1] if shapes else 0
    matrix = np.lib.format.open_memmap(
        out / "embeddings.npy", mode="w+", dtype=np.float32, shape=(rows, dim)
    )
    at = done = 0
    with (out / index).open("w", encoding="utf-8") as rows_out:
        for info in parts:
            with np.load(io.BytesIO(_read(store, info.key)), allow_pickle=False) as part:
                block = part["embeddings"]
                matrix[at : at + len(block)] = block
                values = [part[array].tolist() for array in columns.values()]
                for row in zip(*values, strict=True):
                    record = dict(zip(columns, row, strict=True))
                    rows_out.write(json.dumps(record, ensure_ascii=False) + "\n")
                at += len(block)
            done += info.size
            if progress is not None:
                progress(str(out), done, total)
    matrix.flush()
    return rows


def _read(store: ObjectStore, key: str) -> bytes:
    return b"".join(store.stream(key))


def _copy(store: ObjectStore, key: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as sink:
        if store.head(key) is not None:
            for block in store.stream(key):
                sink.write(block)
