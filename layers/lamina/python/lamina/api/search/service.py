"""Vector search on the embedding function: text queries are embedded by the collection's
own model, which this function must serve (the same fingerprint), then the index is asked.

Why here and not in a function of its own: a text query needs the model that made the
collection, and the embedding function already holds it warm; a separate search function
would either carry the same models (another image, another cold start) or call this one
over HTTP on every query. A search by vector or a recommendation needs no model, and costs
this function only a database round trip.
"""

from __future__ import annotations

import numpy as np

from lamina.api.embeddings.service import EmbeddingService
from lamina.api.search import schemas as s
from lamina.api.validation import check_text
from lamina.errors import (
    InvalidInputError,
    ItemNotFoundError,
    ModelMismatchError,
    ModelNotFoundError,
)
from lamina.inference.embedder import Embedder
from lamina.search.config import current_index
from lamina.search.index import Collection, Hit, VectorIndex, user_vector
from lamina.settings import Settings


def index_for(settings: Settings) -> VectorIndex:
    """The function's vector index (opened once per process; 503 search_not_configured)."""
    return current_index(settings)


class SearchService:
    def __init__(self, embeddings: EmbeddingService, index: VectorIndex) -> None:
        self.embeddings = embeddings
        self.index = index
        self.settings = embeddings.settings

    def _check_top_k(self, top_k: int) -> None:
        if top_k > self.settings.max_search_k:
            raise InvalidInputError(
                f"top_k is {top_k}; this deployment returns at most "
                f"{self.settings.max_search_k} results (LAMINA_MAX_SEARCH_K)",
                param="top_k",
            )

    def embedder_for(self, collection: Collection) -> Embedder:
        """The served model that made ``collection``; 409 model_mismatch if there is none."""
        wanted = collection.model
        try:
            # Under an A/B test, the served version that made the collection (no draw).
            embedder = self.embeddings.resolve(wanted.name, fingerprint=wanted.fingerprint)
        except ModelNotFoundError as exc:
            raise ModelMismatchError(
                f"collection {collection.name} was made by {wanted.describe()}, which this "
                f"function does not serve (it serves {', '.join(self.embeddings.embedders)}): "
                "search it by vector, or where that model is served",
                param="query",
            ) from exc
        served = self.embeddings.fingerprint_of(embedder)
        if served != wanted.fingerprint:
            raise ModelMismatchError(
                f"collection {collection.name} was made by {wanted.describe()}; this "
                f"function serves {embedder.manifest.name} {embedder.manifest.version} "
                f"(fingerprint {served[:12]}): its query vectors would not be comparable",
                param="query",
            )
        return embedder

    def query_vector(self, collection: Collection, req: s.SearchRequest) -> np.ndarray:
        if req.query is not None:
            check_text(req.query, self.settings, "query")
            embedder = self.embedder_for(collection)
            result = self.embeddings.embed_texts(embedder, [req.query], "query", input_type="query")
            return np.asarray(result.vectors[0], dtype=np.float32)
        assert req.vector is not None
        if len(req.vector) != collection.dim:
            raise InvalidInputError(
                f"vector has {len(req.vector)} numbers; collection {collection.name} holds "
                f"{collection.dim}-dimensional vectors",
                param="vector",
            )
        vector = np.asarray(req.vector, dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:
            raise InvalidInputError(
                "vector must be finite and not all zeros (cosine needs a direction)",
                param="vector",
            )
        return np.asarray(vector / norm, dtype=np.float32)

    def search(self, req: s.SearchRequest) -> s.SearchResponse:
        self._check_top_k(req.top_k)
        collection = self.index.collection(req.collection)
        vector = self.query_vector(collection, req)
        hits = self.index.search(collection.name, vector, req.top_k, where=req.filter)
        return response(collection, hits)

    def recommend(self, req: s.RecommendRequest) -> s.SearchResponse:
        self._check_top_k(req.top_k)
        collection = self.index.collection(req.collection)
        seeds = list(dict.fromkeys([*req.liked, *req.disliked]))
        stored = self.index.vectors(collection.name, seeds)
        liked = [stored[i] for i in req.liked if i in stored]
        disliked = [stored[i] for i in req.disliked if i in stored]
        if not liked:
            raise ItemNotFoundError(
                f"none of the liked items is in collection {collection.name}", param="liked"
            )
        taste = user_vector(liked, disliked)
        exclude = seeds if req.exclude_seen else []
        hits = self.index.search(
            collection.name, taste, req.top_k, where=req.filter, exclude=exclude
        )
        missing = [i for i in seeds if i not in stored]
        return response(collection, hits, missing=missing)

    def collections(self) -> s.CollectionList:
        return s.CollectionList(collections=[info(c) for c in self.index.collections()])


def info(c: Collection) -> s.CollectionInfo:
    return s.CollectionInfo(
        name=c.name,
        model=c.model.name,
        model_version=c.model.version,
        fingerprint=c.model.fingerprint,
        dim=c.dim,
        count=c.count,
        indexed=c.indexed,
    )


def response(
    c: Collection, hits: list[Hit], *, missing: list[str] | None = None
) -> s.SearchResponse:
    return s.SearchResponse(
        collection=c.name,
        model=c.model.name,
        model_version=c.model.version,
        fingerprint=c.model.fingerprint,
        results=[
            s.SearchHit(id=h.id, score=h.score, text=h.text, metadata=h.metadata) for h in hits
        ],
        missing=missing or [],
    )
