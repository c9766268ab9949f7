"""A batch job's status, read from its manifest (``jobs/<job_id>/manifest.json``).

No model is needed: the embedding function answers ``GET /api/v1/jobs/{job_id}`` from the
batch bucket (``LAMINA_BATCH_BUCKET``). The store is opened once per process.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam

from lamina.api.jobs.schemas import JobCounts, JobLoad, JobStatusResponse
from lamina.batch.jobs import JOB_ID_PATTERN, JobManifest, owner_of, read_job_manifest
from lamina.errors import JobError, JobNotFoundError
from lamina.settings import get_settings
from lamina.storage import ObjectStore

log = logging.getLogger(__name__)


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


def caller_identity(request: Request) -> str | None:
    """The IAM identity that signed the request (API Gateway's IAM authorizer, ApiAuth=IAM:
    ``requestContext.authorizer.iam.userId``), as ``owner_of`` names it; None without one
    (ApiAuth NONE or JWT, the local server)."""
    event: Any = request.scope.get("aws.event")
    if not isinstance(event, dict):
        return None
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    iam = authorizer.get("iam") if isinstance(authorizer, dict) else None
    user = iam.get("userId") if isinstance(iam, dict) else None
    return owner_of(user) if isinstance(user, str) else None


def job_status(store: ObjectStore, job_id: str, caller: str | None = None) -> JobStatusResponse:
    """The job's status and counts, as its manifest has them now.

    Nothing names the bucket: the input is its file name, a failure's reason loses its
    ``s3://bucket/`` prefixes (the bucket name may hold the account id).

    Owner check: a job whose manifest knows its uploader (``owner``) is only shown to a
    ``caller`` who is that IAM identity (any session of the same role); anyone else gets
    the 404 of a job that does not exist, so ids cannot be probed. Without a caller identity
    (no IAM auth) there is nothing to compare, and the API's own auth is the only gate.
    """
    try:
        m = read_job_manifest(store, job_id)
    except JobNotFoundError as exc:  # its message names the store
        raise JobNotFoundError(f"no job {job_id}") from exc
    if caller is not None and m.owner is not None and caller != m.owner:
        log.info("job status refused: not the owner", extra={"job": job_id, "caller": caller})
        raise JobNotFoundError(f"no job {job_id}")
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
        load=_load(m),
    )


def _load(m: JobManifest) -> JobLoad | None:
    if m.collection is None:
        return None
    state = m.load
    if state is None:
        return JobLoad(
            collection=m.collection,
            status="pending",
            items=0,
            inserted=0,
            updated=0,
            unchanged=0,
            parts=0,
            finished_at=None,
            error=None,
        )
    return JobLoad(
        collection=m.collection,
        status=state.status,
        items=state.items,
        inserted=state.inserted,
        updated=state.updated,
        unchanged=state.unchanged,
        parts=state.parts,
        finished_at=state.finished_at,
        error=None if state.error is None else _S3_URL.sub("", state.error),
    )
