"""GET /api/v1/jobs/{job_id}: a job's status through the embedding API (and its errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.api.jobs import service as jobs
from lamina.errors import JobError
from lamina.inference.embedder import OnnxEmbedder
from lamina.settings import Settings
from lamina.storage import LocalObjects
from lamina_tools.local_batch import run_local


@pytest.fixture
def jobs_dir(embed_app: Any, tmp_path: Path) -> Iterator[Path]:
    """Point the app's job store at a local directory for one test."""
    embed_app.dependency_overrides[jobs.job_store] = lambda: LocalObjects(tmp_path, error=JobError)
    yield tmp_path
    embed_app.dependency_overrides.clear()


def test_finished_job_status(client: Any, jobs_dir: Path, fp32_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "input" / "notes.jsonl"
    source.parent.mkdir()
    rows = [{"id": i, "text": f"note {i}"} for i in range(5)]
    source.write_text("\n".join(map(json.dumps, rows)) + "\n{broken\n")
    run = run_local(source, jobs_dir, OnnxEmbedder.load(fp32_dir), Settings.from_env({}))

    response = client.get(f"/api/v1/jobs/{run.manifest.job_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "partially_failed"
    assert body["finished"] is True
    assert body["counts"] == {
        "lines": 6,
        "ok": 5,
        "failed": 1,
        "rejected": 1,
        "chunks": 1,
        "chunks_done": 1,
        "chunks_failed": 0,
    }
    assert body["input_format"] == "jsonl"
    assert body["input"] == "notes.jsonl"  # its file name: no bucket, no directory
    assert str(tmp_path) not in response.text
    assert body["errors"] == f"jobs/{run.manifest.job_id}/errors.jsonl"


def test_unknown_and_malformed_job_ids(client: Any, jobs_dir: Path) -> None:
    unknown = client.get("/api/v1/jobs/notes-0123456789ab")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "job_not_found"
    assert str(jobs_dir) not in unknown.text  # the store's location stays in the server
    malformed = client.get("/api/v1/jobs/NOT_AN_ID")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["param"] == "path.job_id"


def test_jobs_not_configured_is_a_clear_404(client: Any) -> None:
    response = client.get("/api/v1/jobs/notes-0123456789ab")
    assert response.status_code == 404
    assert "LAMINA_BATCH_BUCKET is unset" in response.json()["error"]["message"]


def test_unreadable_job_store_answers_a_fixed_503(
    embed_app: Any, client: Any, tmp_path: Path
) -> None:
    """An S3 error (bucket name, account id, S3's text) reaches the logs, not the client."""

    class Failing(LocalObjects):
        def get(self, key: str) -> Any:
            raise JobError("cannot get s3://lamina-batch-123456789012/jobs/x: AccessDenied")

    embed_app.dependency_overrides[jobs.job_store] = lambda: Failing(tmp_path, error=JobError)
    try:
        response = client.get("/api/v1/jobs/notes-0123456789ab")
    finally:
        embed_app.dependency_overrides.clear()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "job_error"
    for secret in ("123456789012", "s3://", "AccessDenied"):
        assert secret not in response.text


# ---- owner check (issue 16): with IAM auth, only the uploader sees a job ---------------------


@pytest.mark.parametrize(
    ("principal", "owner"),
    [
        ("AWS:AIDAEXAMPLEUSER", "AIDAEXAMPLEUSER"),  # S3 event, IAM user
        ("AWS:AROAEXAMPLEROLE:ci-run-17", "AROAEXAMPLEROLE"),  # S3 event, a role's session
        ("AROAEXAMPLEROLE:laptop", "AROAEXAMPLEROLE"),  # API Gateway's iam.userId
        ("", None),
        (None, None),
    ],
)
def test_owner_of_names_the_identity_not_the_session(
    principal: str | None, owner: str | None
) -> None:
    from lamina.batch.jobs import owner_of

    assert owner_of(principal) == owner


def iam_event(job_id: str, user_id: str | None) -> dict[str, Any]:
    """GET /api/v1/jobs/{job_id} as API Gateway (HTTP API) sends it; ``user_id``: the IAM
    authorizer's requestContext.authorizer.iam.userId (None: no IAM auth)."""
    from tests.conftest import api_event

    event = api_event("http", "GET", f"/api/v1/jobs/{job_id}")
    if user_id is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = {
            "iam": {
                "accessKey": "ASIAEXAMPLE",
                "accountId": "123456789012",
                "callerId": user_id,
                "principalOrgId": None,
                "userArn": "arn:aws:sts::123456789012:assumed-role/uploader/session",
                "userId": user_id,
            }
        }
    return event


@pytest.mark.parametrize(
    ("user_id", "status"),
    [
        ("AROAEXAMPLEROLE:another-session", 200),  # the uploader's role, any session
        ("AIDASOMEONEELSE", 404),  # another identity: as if there were no such job
        (None, 200),  # no IAM auth (ApiAuth NONE or JWT): the API's own auth is the gate
    ],
)
def test_job_status_is_shown_to_its_owner_only(
    embed_app: Any, jobs_dir: Path, lambda_context: Any, user_id: str | None, status: int
) -> None:
    from functions.embed.handler import handler
    from lamina.batch.jobs import InputRef, JobKeys, JobManifest

    job_id = "notes-0123456789ab"
    manifest = JobManifest(
        job_id=job_id,
        input=InputRef(
            uri="s3://b/incoming/notes.jsonl",
            key="incoming/notes.jsonl",
            etag="e",
            size=1,
            format="jsonl",
        ),
        owner="AROAEXAMPLEROLE",
    )
    LocalObjects(jobs_dir, error=JobError).put(JobKeys(job_id).manifest, manifest.to_json())
    response = handler(iam_event(job_id, user_id), lambda_context)
    assert response["statusCode"] == status, response["body"]
    body = json.loads(response["body"])
    if status == 404:
        assert body["error"]["code"] == "job_not_found"
        assert body["error"]["message"] == f"no job {job_id}"
        assert "AROA" not in response["body"]
    else:
        assert body["job_id"] == job_id


# ---- a job's load into a search collection ---------------------------------------------------


def put_job(jobs_dir: Path, job_id: str, **fields: Any) -> None:
    """A finished job's manifest (``fields``: collection, load, ...) in the app's job store."""
    from lamina.batch.jobs import InputRef, JobKeys, JobManifest

    manifest = JobManifest(
        job_id=job_id,
        status="succeeded",
        input=InputRef(
            uri="s3://lamina-batch-123456789012/incoming/recipes.jsonl",
            key="incoming/recipes.jsonl",
            etag="e",
            size=1,
            format="jsonl",
        ),
        submit_done=True,
        lines=20,
        chunks=4,
        chunks_done=4,
        ok=20,
        finalized=True,
        finished_at="2026-11-21T10:00:00Z",
        **fields,
    )
    LocalObjects(jobs_dir, error=JobError).put(JobKeys(job_id).manifest, manifest.to_json())


def test_job_status_shows_the_load_into_its_collection(client: Any, jobs_dir: Path) -> None:
    from lamina.batch.jobs import LoadState

    put_job(jobs_dir, "plain-0123456789ab")
    put_job(jobs_dir, "pending-0123456789ab", collection="recipes")
    put_job(
        jobs_dir,
        "loaded-0123456789ab",
        collection="recipes",
        load=LoadState(
            status="loaded",
            next_chunk=4,
            parts=4,
            inserted=12,
            updated=3,
            unchanged=5,
            messages=2,
            seconds=1.5,
            started_at="2026-11-21T10:00:01Z",
            finished_at="2026-11-21T10:00:03Z",
        ),
    )
    put_job(
        jobs_dir,
        "failed-0123456789ab",
        collection="recipes",
        load=LoadState(
            status="failed",
            next_chunk=1,
            parts=1,
            inserted=5,
            error="cannot read s3://lamina-batch-123456789012/jobs/failed-0123456789ab/parts/"
            "part-00001.jsonl: AccessDenied",
            finished_at="2026-11-21T10:00:02Z",
        ),
    )

    def load_of(job_id: str) -> Any:
        response = client.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        assert "123456789012" not in response.text  # the bucket's account id stays inside
        return response.json()["load"]

    assert load_of("plain-0123456789ab") is None  # no collection: null, not a pending load
    assert load_of("pending-0123456789ab") == {
        "collection": "recipes",
        "status": "pending",
        "items": 0,
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "parts": 0,
        "finished_at": None,
        "error": None,
    }
    assert load_of("loaded-0123456789ab") == {
        "collection": "recipes",
        "status": "loaded",
        "items": 20,
        "inserted": 12,
        "updated": 3,
        "unchanged": 5,
        "parts": 4,
        "finished_at": "2026-11-21T10:00:03Z",
        "error": None,
    }  # the cursor, messages and seconds are the worker's business: not shown
    failed = load_of("failed-0123456789ab")
    assert (failed["status"], failed["items"], failed["parts"]) == ("failed", 5, 1)
    assert failed["error"] == (
        "cannot read jobs/failed-0123456789ab/parts/part-00001.jsonl: AccessDenied"
    )  # as the job's own error: the s3://bucket/ prefix goes


def test_openapi_documents_the_load_block(client: Any) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    load = schemas["JobStatusResponse"]["properties"]["load"]
    assert "description" in load
    assert {"$ref": "#/components/schemas/JobLoad"} in load["anyOf"]
    assert {"type": "null"} in load["anyOf"]
    fields = schemas["JobLoad"]["properties"]
    assert set(fields) == {
        "collection", "status", "items", "inserted", "updated", "unchanged", "parts",
        "finished_at", "error",
    }  # fmt: skip
    assert fields["status"]["enum"] == ["pending", "queued", "loading", "loaded", "failed"]
    assert all("description" in field for field in fields.values())
