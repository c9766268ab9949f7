"""A vector index behind a small interface: collections of items (id, vector, optional
source text, JSON metadata), each collection made by one model, searched by cosine
similarity. ``lamina.search.pg`` implements it on PostgreSQL + pgvector (HNSW).

A collection records the model that made its vectors (name, version and fingerprint: the
model manifest's digest, what /api/v1/model-info calls sha256); vectors of another model
are refused (ModelMismatchError), never mixed in: cosine similarity between two models'
vectors means nothing.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamina.batch.jobs import COLLECTION_PATTERN
from lamina.errors import InvalidInputError, ModelMismatchError

_COLLECTION = re.compile(COLLECTION_PATTERN)
# Item ids: any non-empty string up to this many characters (batch ids are strings or ints).
MAX_ID_CHARS = 256
# A metadata filter: key -> a scalar the item's metadata must equal (JSON containment).
Scalar = str | int | float | bool


def check_collection_name(name: str) -> str:
    if not _COLLECTION.fullmatch(name):
        raise InvalidInputError(
            f"collection {name!r} is not a valid name: lower-case letters, digits and _, "
            "a letter first, at most 40 characters",
            param="collection",
        )
    return name


@dataclass(frozen=True)
class ModelIdentity:
    """The model that made a collection's vectors."""

    name: str
    version: str
    fingerprint: str  # the model manifest's sha256 digest

    def describe(self) -> str:
        return f"{self.name} {self.version} (fingerprint {self.fingerprint[:12]})"


@dataclass(frozen=True)
class Collection:
    name: str
    model: ModelIdentity
    dim: int
    count: int | None = None  # items, when the caller asked for it
    indexed: bool = False  # whether its HNSW index exists

    def require_model(self, model: ModelIdentity) -> None:
        """ModelMismatchError unless ``model`` made this collection's vectors."""
        if model.fingerprint != self.model.fingerprint:
            raise ModelMismatchError(
                f"collection {self.name} holds vectors of {self.model.describe()}; these are "
                f"of {model.describe()}: vectors of two models are never mixed (load them into "
                "another collection, or rebuild this one)",
                param="collection",
            )


@dataclass(frozen=True)
class Item:
    id: str
    vector: np.ndarray  # (dim,) float32
    text: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # cosine similarity, 1 is the same direction
    text: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Upserted:
    inserted: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


class VectorIndex(ABC):
    """Collections of vectors with cosine search. Implementations are thread-safe."""

    @abstractmethod
    def create_collection(self, name: str, model: ModelIdentity, dim: int) -> Collection:
        """The collection ``name``, created if new; ModelMismatchError if it exists and was
        made by another model (or has another dimension)."""

    @abstractmethod
    def collection(self, name: str, *, count: bool = False) -> Collection:
        """CollectionNotFoundError if there is none of that name."""

    @abstractmethod
    def collections(self) -> list[Collection]:
        """Every collection, with its item count."""

    @abstractmethod
    def drop_collection(self, name: str) -> bool:
        """Drop the collection and its items; False if there was none."""

    @abstractmethod
    def upsert(self, name: str, items: Iterable[Item], model: ModelIdentity) -> Upserted:
        """Insert or replace items by id (idempotent: the same items again change nothing).
        ModelMismatchError if ``model`` did not make the collection's vectors."""

    @abstractmethod
    def build_index(self, name: str) -> bool:
        """Create the collection's HNSW index if it has none; True if it was built now.
        (A bulk load is faster into a table without it: load, then build.)"""

    @abstractmethod
    def delete(self, name: str, ids: Sequence[str]) -> int:
        """Delete items by id; how many there were."""

    @abstractmethod
    def search(
        self,
        name: str,
        vector: np.ndarray,
        top_k: int,
        *,
        where: Mapping[str, Scalar] | None = None,
        exclude: Sequence[str] = (),
    ) -> list[Hit]:
        """The ``top_k`` items most similar to ``vector`` (best first), among those whose
        metadata contains ``where`` and whose id is not in ``exclude``."""

    @abstractmethod
    def vectors(self, name: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those ids that exist."""

    def close(self) -> None:  # noqa: B027 - optional for implementations without resources
        """Release connections."""


def user_vector(
    liked: Sequence[np.ndarray], disliked: Sequence[np.ndarray], *, dislike_weight: float = 0.5
) -> np.ndarray:
    """A user's taste from items' own vectors (Rocchio): the mean of the liked items minus
    ``dislike_weight`` times the mean of the disliked ones, unit length. Ranking the other
    items by cosine similarity to it is the seed recommender's rule."""
    if not liked:
        raise ValueError("at least one liked vector is needed")
    taste = np.mean(np.stack(liked).astype(np.float64), axis=0)
    if disliked:
        taste -= dislike_weight * np.mean(np.stack(disliked).astype(np.float64), axis=0)
    norm = float(np.linalg.norm(taste))
    if not np.isfinite(norm) or norm < 1e-12:
        # liked and disliked cancel out: fall back to the liked items alone
        taste = np.mean(np.stack(liked).astype(np.float64), axis=0)
        norm = float(np.linalg.norm(taste))
    if norm < 1e-12:
        raise InvalidInputError(
            "the liked items' vectors cancel out: no direction to recommend from",
            param="liked",
        )
    return np.asarray(taste / norm, dtype=np.float32)
