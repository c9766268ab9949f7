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
    assert body["errors"] == f"jobs/{run.manifest.job_id}/errors.jsonl"


def test_unknown_and_malformed_job_ids(client: Any, jobs_dir: Path) -> None:
    unknown = client.get("/api/v1/jobs/notes-0123456789ab")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "job_not_found"
    malformed = client.get("/api/v1/jobs/NOT_AN_ID")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["param"] == "path.job_id"


def test_jobs_not_configured_is_a_clear_404(client: Any) -> None:
    response = client.get("/api/v1/jobs/notes-0123456789ab")
    assert response.status_code == 404
    assert "LAMINA_BATCH_BUCKET is unset" in response.json()["error"]["message"]
