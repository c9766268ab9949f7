"""A batch job's status, read from its manifest (``jobs/<job_id>/manifest.json``).

No model is needed: the embedding function answers ``GET /api/v1/jobs/{job_id}`` from the
batch bucket (``LAMINA_BATCH_BUCKET``). The store is opened once per process.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import Depends
from fastapi import Path as PathParam

from lamina.api.jobs.schemas import JobCounts, JobStatusResponse
from lamina.batch.jobs import JOB_ID_PATTERN, read_job_manifest
from lamina.errors import JobError, JobNotFoundError
from lamina.settings import get_settings
from lamina.storage import ObjectStore


@lru_cache(maxsize=1)
def _job_store() -> ObjectStore | None:
    from lamina.storage import open_store

    bucket = get_settings().batch_bucket
    return open_store(bucket, error=JobError) if bucket else None


def job_store() -> ObjectStore:
    """The batch bucket, for `Depends` (sync: S3 calls run in FastAPI's thread pool)."""
    store = _job_store()
    if store is None:
        raise JobNotFoundError("batch jobs are not configured here (LAMINA_BATCH_BUCKET is unset)")
    return store


# A route's parameters: the job id from the path (checked before any S3 call) and the store.
JobId = Annotated[
    str, PathParam(pattern=JOB_ID_PATTERN, description="The id `lamina jobs submit` printed.")
]
JobStore = Annotated[ObjectStore, Depends(job_store)]


_S3_URL = re.compile(r"s3://[^/\s]*/?")


def input_name(uri: str) -> str:
    """The input's file name (``notes.jsonl``), without its bucket or directory."""
    return PurePosixPath(uri.removeprefix("s3://")).name or "input"


def job_status(store: ObjectStore, job_id: str) -> JobStatusResponse:
    """The job's status and counts, as its manifest has them now.

    Nothing names the bucket: the input is its file name, a failure's reason loses its
    ``s3://bucket/`` prefixes (the bucket name may hold the account id).
    """
    try:
        m = read_job_manifest(store, job_id)
    except JobNotFoundError as exc:  # its message names the store
        raise JobNotFoundError(f"no job {job_id}") from exc
    return JobStatusResponse(
        job_id=m.job_id,
        status=m.status,
        finished=m.finalized,
        input=input_name(m.input.uri),
        input_format=m.input.format,
        output_format=m.output_format,
        counts=JobCounts(
            lines=m.lines,
            ok=m.ok,
            failed=m.failed,
            rejected=m.invalid,
            chunks=m.chunks,
            chunks_done=m.chunks_done,
            chunks_failed=m.chunks_failed,
        ),
        model_versions=m.model_versions,
        submitted_at=m.submitted_at,
        started_at=m.started_at,
        finished_at=m.finished_at,
        error=None if m.error is None else _S3_URL.sub("", m.error),
        parts=f"jobs/{m.job_id}/parts/",
        errors=f"jobs/{m.job_id}/errors.jsonl",
    )
