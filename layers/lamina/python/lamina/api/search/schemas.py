"""Requests and responses of vector search (POST /api/v1/search, /api/v1/recommend,
GET /api/v1/collections); every field is described for OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from lamina.api import schemas as s
from lamina.batch.jobs import COLLECTION_PATTERN
from lamina.search.index import MAX_ID_CHARS

CollectionName = Annotated[
    StrictStr,
    Field(
        pattern=COLLECTION_PATTERN,
        description="The collection: lower-case letters, digits and _, a letter first "
        "(404 collection_not_found if there is none).",
        examples=["recipes"],
    ),
]
# PostgreSQL text and jsonb cannot hold U+0000: such a string is refused by the schema.
NO_NUL = "^[^\u0000]*$"
ItemId = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=NO_NUL)]
FilterKey = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=NO_NUL)]
FilterText = Annotated[StrictStr, Field(max_length=1000, pattern=NO_NUL)]
# Most metadata keys one filter may name, and most ids a recommendation may start from.
MAX_FILTER_KEYS = 16
MAX_SEED_ITEMS = 100
# pgvector's HNSW limit on dimensions.
MAX_VECTOR_DIM = 2000

FILTER = Field(
    default=None,
    description="Keep only items whose metadata has these values (key -> a string, number or "
    'boolean; JSON equality, all of them: {"cuisine": "korean"}). Items the filter '
    "leaves out are skipped while the index is searched, so top_k results still come back "
    "when enough items match.",
    json_schema_extra=s.without_null(
        maxProperties=MAX_FILTER_KEYS,
        # pydantic states the key's pattern as patternProperties, which leave a key that does
        # not match (one with a NUL) unconstrained: the names themselves must match, and no
        # other key is allowed.
        propertyNames={"minLength": 1, "maxLength": 128, "pattern": NO_NUL},
        additionalProperties=False,
    ),
)
Filter = dict[FilterKey, FilterText | StrictInt | StrictFloat | StrictBool]
TOP_K = Field(
    default=10,
    description="How many results, best first (at most LAMINA_MAX_SEARCH_K: this document's "
    "maximum).",
    json_schema_extra=s.limits(maximum="max_search_k"),
)


class SearchRequest(s.Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra=s.exactly_one("query", "vector"))

    collection: CollectionName
    query: s.Text | None = Field(
        default=None,
        description="A text to search for (send exactly one of query and vector): embedded "
        "with the collection's own model, as a query (the model's query prompt, if it has "
        "one). 409 model_mismatch if this function does not serve the model that made the "
        "collection.",
        examples=["매운 김치찌개"],
        json_schema_extra=s.without_null(),
    )
    vector: Annotated[list[StrictFloat | StrictInt], Field(min_length=1)] | None = Field(
        default=None,
        description="A query vector instead of a text: as many numbers as the collection's "
        "dimension (422 otherwise), made by the collection's model (GET /api/v1/collections "
        "names it). Compared by cosine, so its length does not matter.",
        json_schema_extra=s.without_null(maxItems=MAX_VECTOR_DIM),
    )
    top_k: s.PositiveInt = TOP_K
    filter: Filter | None = FILTER

    _not_null = field_validator("query", "vector", "filter", mode="before")(s.not_null)

    @model_validator(mode="after")
    def _one_of(self) -> SearchRequest:
        if (self.query is None) == (self.vector is None):
            raise ValueError("send exactly one of query or vector")
        return self


class RecommendRequest(s.Input):
    collection: CollectionName
    liked: Annotated[list[ItemId], Field(min_length=1, max_length=MAX_SEED_ITEMS)] = Field(
        description="Ids of items the user liked: the recommendation is the items nearest "
        "the mean of their stored vectors. Ids the collection does not hold are listed in "
        "the response's `missing`; if none is held, 404 item_not_found.",
        examples=[["r-102", "r-311"]],
    )
    disliked: Annotated[list[ItemId], Field(max_length=MAX_SEED_ITEMS)] = Field(
        default_factory=list,
        description="Ids of items the user disliked: their mean vector is subtracted at half "
        "weight (Rocchio), steering away from them.",
    )
    top_k: s.PositiveInt = TOP_K
    exclude_seen: StrictBool = Field(
        default=True, description="Leave the liked and disliked items out of the results."
    )
    filter: Filter | None = FILTER

    _not_null = field_validator("filter", mode="before")(s.not_null)


class SearchHit(BaseModel):
    id: str = Field(description="The item's id.")
    score: float = Field(description="Cosine similarity to the query, -1..1 (1: same direction).")
    text: str | None = Field(description="The item's source text, if it was stored.")
    metadata: dict[str, Any] = Field(description="The item's metadata.")


class SearchResponse(BaseModel):
    collection: str = Field(description="The collection searched.")
    model: str = Field(description="The model that made the collection's vectors.")
    model_version: str = Field(description="Its version.")
    fingerprint: str = Field(description="Its fingerprint (manifest sha256).")
    results: list[SearchHit] = Field(description="Best first.")
    missing: list[str] = Field(
        default_factory=list,
        description="recommend: the liked or disliked ids the collection does not hold.",
    )


class CollectionInfo(BaseModel):
    name: str = Field(description="The collection's name.")
    model: str = Field(description="The model that made its vectors.")
    model_version: str = Field(description="Its version.")
    fingerprint: str = Field(description="Its fingerprint (manifest sha256).")
    dim: int = Field(description="The vectors' dimension.")
    count: int | None = Field(description="Items in the collection.")
    indexed: bool = Field(description="Whether its HNSW index is built.")


class CollectionList(BaseModel):
    collections: list[CollectionInfo] = Field(description="Every collection, by name.")
