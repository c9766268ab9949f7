"""The batch job status answer (``GET /api/v1/jobs/{job_id}``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class JobCounts(BaseModel):
    lines: int | None = Field(
        description="Input records (lines; CSV rows without the header); null until the "
        "whole input has been read."
    )
    ok: int = Field(description="Records with a vector in the job's parts.")
    failed: int = Field(description="Records without a vector: rejected lines and failed chunks.")
    rejected: int = Field(description="Lines the submit step rejected (see errors.jsonl).")
    chunks: int | None = Field(description="Chunks queued; null until the input was read.")
    chunks_done: int = Field(description="Chunks embedded and written.")
    chunks_failed: int = Field(description="Chunks given up after their last delivery.")


class JobLoad(BaseModel):
    collection: str = Field(description="The search collection the job loads itself into.")
    status: Literal["pending", "queued", "loading", "loaded", "failed"] = Field(
        description="pending (the job is not finished yet) -> queued -> loading -> loaded | "
        "failed. A job that finished without vectors is never loaded: it stays pending."
    )
    items: int = Field(description="Items loaded so far (inserted + updated + unchanged).")
    inserted: int = Field(description="Items that were not in the collection.")
    updated: int = Field(description="Items whose vector, text or metadata changed.")
    unchanged: int = Field(description="Items that were there already, as they are.")
    parts: int = Field(description="The job's parts loaded so far.")
    finished_at: str | None = Field(description="When the load ended (UTC).")
    error: str | None = Field(description="Why the load failed, if it did.")


class JobStatusResponse(BaseModel):
    job_id: str = Field(description="The job's id (from the input's key and ETag).")
    status: Literal["submitted", "running", "succeeded", "partially_failed", "failed"] = Field(
        description="submitted -> running -> succeeded | partially_failed | failed."
    )
    finished: bool = Field(description="True once _SUCCESS or _FAILED is written.")
    input: str = Field(description="The input's file name (no bucket, no key prefix).")
    input_format: str = Field(description="jsonl, csv or txt (from the key's extension).")
    output_format: str = Field(description="jsonl or npz: the format of the parts.")
    counts: JobCounts = Field(description="Where every input record went.")
    model_versions: list[str] = Field(
        description="Models (name/version) that embedded the chunks; more than one means a "
        "deploy happened mid-job."
    )
    submitted_at: str = Field(description="When the submit step created the job (UTC).")
    started_at: str | None = Field(description="When the first chunk was finished (UTC).")
    finished_at: str | None = Field(description="When the job was finalized (UTC).")
    error: str | None = Field(description="Why the whole job failed, if it did.")
    parts: str = Field(description="Key prefix of the result parts.")
    errors: str = Field(description="Key of errors.jsonl (one line per rejected record).")
    load: JobLoad | None = Field(
        default=None,
        description="The job's load into a search collection (submitted with "
        "x-amz-meta-lamina-collection); null for a job without one.",
    )
