"""A stand-in for the lamina routes the client calls whose server side is not written yet
(search, recommend), with a fake embed route and a job route, served by uvicorn in a thread.

Search and recommend follow the contract the server is being written to:
- search: ``{"collection", "query" | "vector" (exactly one), "top_k" (1..100, default 10),
  "filter" ({field: str | int | float | bool} equality, or null)}``;
- recommend: ``{"collection", "liked" (1..100 ids), "disliked" ([]), "top_k",
  "exclude_seen" (true), "filter"}``;
- both answer ``{"collection", "model", "model_version", "results": [{"id", "score",
  "text", "metadata"}]}``;
- errors: 404 ``collection_not_found``, 409 ``model_mismatch``, 503 ``index_unavailable``
  (with Retry-After) or ``search_not_configured``.

Error bodies and validation errors are lamina's own (``lamina.api.errors``), and the embed
and job answers are lamina's response models, so the stub answers in the server's shapes.

Collections: ``recipes`` (six recipes); ``cold``: 503 ``index_unavailable`` with
``Retry-After: 1`` for ``StubState.cold_failures`` requests, then like ``recipes``;
``unconfigured``: 503 ``search_not_configured``. Any other name is a 404.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from lamina.api.embeddings.schemas import EmbedRequest, EmbedResponse
from lamina.api.errors import error_response, install_error_handlers
from lamina.api.jobs.schemas import JobCounts, JobStatusResponse
from tests.live import free_port

DIM = 384
MODEL, VERSION = "all-MiniLM-L6-v2", "1"
RECIPES = [
    ("r1", "김치찌개: 김치와 돼지고기로 끓인 매운 찌개", {"cuisine": "korean", "minutes": 30}),
    ("r2", "된장찌개: 된장과 두부로 끓인 찌개", {"cuisine": "korean", "minutes": 25}),
    ("r3", "Spaghetti carbonara with eggs and pecorino", {"cuisine": "italian", "minutes": 20}),
    ("r4", "Margherita pizza with basil", {"cuisine": "italian", "minutes": 90}),
    ("r5", "비빔밥: 밥에 나물과 고추장을 비벼 먹는 요리", {"cuisine": "korean", "minutes": 40}),
    ("r6", "Pad thai with shrimp", {"cuisine": "thai", "minutes": 35}),
]
FINGERPRINT = "06090eae" * 8
JOB_ID = "3f6c0a0e5d2b4c1e9a7b8c6d5e4f3a2b"


def fake_vector(text: str) -> list[float]:
    """A deterministic unit vector of ``text`` (bytes of its sha256, repeated), so that a
    text's vector is the same in the embed route and in the collection."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [digest[i % len(digest)] - 127.5 + (i % 7) for i in range(DIM)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


Scalar = StrictStr | StrictBool | StrictInt | StrictFloat


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: StrictStr
    query: StrictStr | None = None
    vector: list[float] | None = None
    top_k: Annotated[StrictInt, Field(ge=1, le=100)] = 10
    filter: dict[str, Scalar] | None = None


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: StrictStr
    liked: Annotated[list[StrictStr], Field(min_length=1, max_length=100)]
    disliked: list[StrictStr] = Field(default_factory=list)
    top_k: Annotated[StrictInt, Field(ge=1, le=100)] = 10
    exclude_seen: StrictBool = True
    filter: dict[str, Scalar] | None = None


class Hit(BaseModel):
    id: str
    score: float
    text: str | None
    metadata: dict[str, Any]


class SearchResponse(BaseModel):
    collection: str
    model: str
    model_version: str
    results: list[Hit]


class RecommendResponse(SearchResponse):
    """What the server being written adds to the contract (recommend only, here)."""

    fingerprint: str
    missing: list[str]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class StubState:
    calls: list[Recorded] = field(default_factory=list)
    cold_failures: int = 0

    def reset(self) -> None:
        self.calls.clear()
        self.cold_failures = 0

    def count(self, path: str) -> int:
        return sum(1 for call in self.calls if call.path == path)


def make_app(state: StubState) -> FastAPI:
    app = FastAPI(title="lamina stub")
    install_error_handlers(app)

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        state.calls.append(Recorded(request.method, request.url.path, headers, body))
        request.state.request_id = uuid.uuid4().hex
        response = await call_next(request)
        response.headers["x-request-id"] = request.state.request_id
        return response

    def refused(request: Request, collection: str) -> JSONResponse | None:
        if collection == "unconfigured":
            message = "search is not configured in this deployment"
            return error_response(request, 503, "search_not_configured", message)
        if collection == "cold" and state.cold_failures > 0:
            state.cold_failures -= 1
            return error_response(
                request,
                503,
                "index_unavailable",
                "the index of cold is loading; try again later",
                param="collection",
                headers={"Retry-After": "1"},
            )
        if collection not in ("recipes", "cold"):
            message = f"no collection {collection!r}"
            return error_response(request, 404, "collection_not_found", message, "collection")
        return None

    def ranked(
        request: Request,
        query: list[float],
        filter: dict[str, Any] | None,
        top_k: int,
        skip: set[str],
    ) -> SearchResponse:
        hits = [
            Hit(
                id=rid,
                score=sum(a * b for a, b in zip(query, fake_vector(text), strict=True)),
                text=text,
                metadata=meta,
            )
            for rid, text, meta in RECIPES
            if rid not in skip and all(meta.get(k) == v for k, v in (filter or {}).items())
        ]
        hits.sort(key=lambda hit: hit.score, reverse=True)
        collection = request.state.collection
        return SearchResponse(
            collection=collection, model=MODEL, model_version=VERSION, results=hits[:top_k]
        )

    @app.post("/api/v1/search", response_model=None)
    async def search(req: SearchRequest, request: Request) -> SearchResponse | JSONResponse:
        if (req.query is None) == (req.vector is None):
            return error_response(
                request, 422, "validation_error", "send exactly one of query and vector"
            )
        denied = refused(request, req.collection)
        if denied is not None:
            return denied
        if req.vector is not None and len(req.vector) != DIM:
            message = f"vector has {len(req.vector)} dimensions; {MODEL} has {DIM}"
            return error_response(request, 409, "model_mismatch", message, "vector")
        request.state.collection = req.collection
        query = req.vector if req.vector is not None else fake_vector(req.query or "")
        return ranked(request, query, req.filter, req.top_k, set())

    @app.post("/api/v1/recommend", response_model=None)
    async def recommend(
        req: RecommendRequest, request: Request
    ) -> RecommendResponse | JSONResponse:
        denied = refused(request, req.collection)
        if denied is not None:
            return denied
        texts = {rid: text for rid, text, _ in RECIPES}
        liked = [fake_vector(texts[i]) for i in req.liked if i in texts]
        disliked = [fake_vector(texts[i]) for i in req.disliked if i in texts]
        query = [sum(v[d] for v in liked) - sum(v[d] for v in disliked) for d in range(DIM)]
        request.state.collection = req.collection
        skip = set(req.liked) | set(req.disliked) if req.exclude_seen else set()
        found = ranked(request, query, req.filter, req.top_k, skip)
        missing = [i for i in [*req.liked, *req.disliked] if i not in texts]
        return RecommendResponse(**found.model_dump(), fingerprint=FINGERPRINT, missing=missing)

    @app.post("/api/v1/embed")
    async def embed(req: EmbedRequest) -> EmbedResponse:
        return EmbedResponse(
            embedding=fake_vector(req.text),
            dim=DIM,
            model=req.model or MODEL,
            model_version=VERSION,
            normalized=True,
            tokens=len(req.text.split()) + 2,
            truncated=False,
        )

    @app.get("/api/v1/jobs/{job_id}", response_model=None)
    async def job(job_id: str, request: Request) -> JobStatusResponse | JSONResponse:
        if job_id != JOB_ID:
            return error_response(request, 404, "job_not_found", f"no job {job_id}", "job_id")
        return JobStatusResponse(
            job_id=JOB_ID,
            status="running",
            finished=False,
            input="recipes.jsonl",
            input_format="jsonl",
            output_format="jsonl",
            counts=JobCounts(
                lines=None,
                ok=100,
                failed=1,
                rejected=1,
                chunks=None,
                chunks_done=1,
                chunks_failed=0,
            ),
            model_versions=["all-MiniLM-L6-v2/1"],
            submitted_at="2026-11-21T10:00:00Z",
            started_at="2026-11-21T10:00:05Z",
            finished_at=None,
            error=None,
            parts=f"jobs/{JOB_ID}/parts/",
            errors=f"jobs/{JOB_ID}/errors.jsonl",
        )

    return app


class ThreadServer:
    """uvicorn serving ``app`` on a free port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the stub server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
