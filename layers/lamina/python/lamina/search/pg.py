"""The vector index on PostgreSQL + pgvector: a table per collection, an HNSW index with
cosine distance, bulk loads through COPY.

Schema (created by the loading side, ``create_collection``; the API only reads)::

    lamina_collections (name PK, model, model_version, fingerprint, dim, table_name, created_at)
    lamina_items_<name> (id text PK, embedding vector(dim), text, metadata jsonb, updated_at)
        + HNSW (embedding vector_cosine_ops), GIN (metadata jsonb_path_ops)

Connections: a ``psycopg_pool.ConnectionPool`` of at most ``pool_size`` connections, opened
on first use and kept for the life of the process (a Lambda sandbox reuses them across
invocations; one request at a time needs one). A database that does not answer within
``timeout_ms`` (connect, a free connection, or a statement) is an IndexUnavailableError
(503 with Retry-After); its details go to the log, never to the client.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from lamina.errors import CollectionNotFoundError, IndexUnavailableError, InvalidInputError
from lamina.search.index import (
    MAX_ID_CHARS,
    Collection,
    Hit,
    Item,
    ModelIdentity,
    Scalar,
    Upserted,
    VectorIndex,
    check_collection_name,
)

log = logging.getLogger(__name__)

REGISTRY = "lamina_collections"
# pgvector's HNSW build parameters (its defaults: docs/search.md has what they trade).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
# Rows per COPY batch of an upsert (one transaction each: a failed load keeps what went in).
UPSERT_BATCH = 5000
# pgvector indexes at most 2,000 dimensions with HNSW on the vector type.
MAX_DIM = 2000


def table_of(name: str) -> str:
    return f"lamina_items_{check_collection_name(name)}"


class PgVectorIndex(VectorIndex):
    def __init__(
        self,
        conninfo: str | Callable[[], str],
        *,
        pool_size: int = 1,
        timeout_ms: int = 3000,
        ef_search: int = 100,
    ) -> None:
        """``conninfo``: a libpq connection string, or a callable that makes one when the
        pool first opens (Secrets Manager is read then, not at import)."""
        self._conninfo = conninfo
        self.pool_size = pool_size
        self.timeout_ms = timeout_ms
        self.ef_search = ef_search
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    # --- connections ---------------------------------------------------------------------

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        register_vector(conn)  # needs the vector extension in the database
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(self.timeout_ms),))
        conn.commit()

    def _get_pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                conninfo = self._conninfo() if callable(self._conninfo) else self._conninfo
                seconds = max(self.timeout_ms / 1000, 1.0)
                pool = ConnectionPool(
                    conninfo,
                    min_size=0,
                    max_size=self.pool_size,
                    open=False,
                    timeout=seconds,
                    configure=self._configure,
                    check=ConnectionPool.check_connection,
                    kwargs={"connect_timeout": max(int(seconds), 1), "application_name": "lamina"},
                    name="lamina-search",
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in a transaction; database failures -> IndexUnavailableError."""
        try:
            with self._get_pool().connection() as conn, conn.transaction():
                yield conn
        except (PoolTimeout, psycopg.OperationalError, psycopg.errors.QueryCanceled) as exc:
            log.warning("vector index unavailable", extra={"error": repr(exc)})
            raise IndexUnavailableError(f"the vector index does not answer: {exc}") from exc
        except psycopg.DataError as exc:  # a value the database cannot take (checked first)
            log.warning("vector index refused a value", extra={"error": repr(exc)})
            raise InvalidInputError(f"the index cannot store or compare a value: {exc}") from exc
        except psycopg.errors.UndefinedObject as exc:  # no vector type: extension missing
            log.error("vector index misconfigured", extra={"error": repr(exc)})
            raise IndexUnavailableError(f"the vector index is misconfigured: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # --- collections ---------------------------------------------------------------------

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " name text PRIMARY KEY, model text NOT NULL, model_version text NOT NULL,"
                " fingerprint text NOT NULL, dim integer NOT NULL,"
                " table_name text NOT NULL UNIQUE,"
                " created_at timestamptz NOT NULL DEFAULT now())"
            ).format(sql.Identifier(REGISTRY))
        )

    def _row(
        self, conn: psycopg.Connection[Any], name: str, *, count: bool = False
    ) -> Collection | None:
        try:
            row = conn.execute(
                sql.SQL(
                    "SELECT model, model_version, fingerprint, dim FROM {} WHERE name = %s"
                ).format(sql.Identifier(REGISTRY)),
                (name,),
            ).fetchone()
        except psycopg.errors.UndefinedTable:  # nothing was ever loaded
            return None
        if row is None:
            return None
        table = table_of(name)
        indexed = conn.execute(
            "SELECT 1 FROM pg_indexes WHERE tablename = %s AND indexname = %s",
            (table, f"{table}_hnsw"),
        ).fetchone()
        items = None
        if count:
            items = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()
        return Collection(
            name=name,
            model=ModelIdentity(row[0], row[1], row[2]),
            dim=int(row[3]),
            count=None if items is None else int(items[0]),
            indexed=indexed is not None,
        )

    def create_collection(self, name: str, model: ModelIdentity, dim: int) -> Collection:
        table = table_of(name)
        if not 1 <= dim <= MAX_DIM:
            raise InvalidInputError(f"a collection's dimension must be 1..{MAX_DIM}, not {dim}")
        with self._conn() as conn:
            self._ensure_schema(conn)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (name, model, model_version, fingerprint, dim, table_name)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING"
                ).format(sql.Identifier(REGISTRY)),
                (name, model.name, model.version, model.fingerprint, dim, table),
            )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND {}),"
                    " embedding vector({}) NOT NULL, text text,"
                    " metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb,"
                    " updated_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(table), sql.Literal(MAX_ID_CHARS), sql.Literal(dim))
            )
            conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {} USING gin (metadata jsonb_path_ops)"
                ).format(sql.Identifier(f"{table}_metadata"), sql.Identifier(table))
            )
            found = self._row(conn, name)
        assert found is not None
        found.require_model(model)
        if found.dim != dim:
            raise InvalidInputError(
                f"collection {name} holds {found.dim}-dimensional vectors, not {dim}",
                param="collection",
            )
        return found

    def collection(self, name: str, *, count: bool = False) -> Collection:
        check_collection_name(name)
        with self._conn() as conn:
            found = self._row(conn, name, count=count)
        if found is None:
            raise CollectionNotFoundError(f"no collection {name}", param="collection")
        return found

    def collections(self) -> list[Collection]:
        with self._conn() as conn:
            try:
                names = conn.execute(
                    sql.SQL("SELECT name FROM {} ORDER BY name").format(sql.Identifier(REGISTRY))
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                return []
            found = [self._row(conn, row[0], count=True) for row in names]
        return [c for c in found if c is not None]

    def drop_collection(self, name: str) -> bool:
        table = table_of(name)
        with self._conn() as conn:
            if self._row(conn, name) is None:
                return False
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE name = %s").format(sql.Identifier(REGISTRY)),
                (name,),
            )
        return True

    # --- items ---------------------------------------------------------------------------

    def upsert(self, name: str, items: Iterable[Item], model: ModelIdentity) -> Upserted:
        collection = self.collection(name)
        collection.require_model(model)
        inserted = updated = unchanged = 0
        batch: list[Item] = []

        def flush() -> None:
            nonlocal inserted, updated, unchanged
            if batch:
                i, u, n = self._upsert_batch(collection, batch)
                inserted, updated, unchanged = inserted + i, updated + u, unchanged + n
                batch.clear()

        for item in items:
            batch.append(item)
            if len(batch) >= UPSERT_BATCH:
                flush()
        flush()
        return Upserted(inserted, updated, unchanged)

    def _upsert_batch(self, collection: Collection, items: list[Item]) -> tuple[int, int, int]:
        table = sql.Identifier(table_of(collection.name))
        for item in items:
            if not 1 <= len(item.id) <= MAX_ID_CHARS:
                raise InvalidInputError(f"item id {item.id[:40]!r} must be 1..{MAX_ID_CHARS} chars")
            vector = np.asarray(item.vector, dtype=np.float64)
            if vector.shape != (collection.dim,) or not np.isfinite(vector).all():
                raise InvalidInputError(
                    f"item {item.id!r}: a vector of {collection.dim} finite numbers is needed"
                )
            if not np.linalg.norm(vector) > 0:  # cosine has no direction for it (a NaN score)
                raise InvalidInputError(f"item {item.id!r}: its vector is all zeros")
            if "\x00" in item.id or (item.text is not None and "\x00" in item.text):
                raise InvalidInputError(f"item {item.id!r}: PostgreSQL text cannot hold U+0000")
        with self._conn() as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE lamina_staging (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
                ).format(table)
            )
            with conn.cursor().copy(
                "COPY lamina_staging (id, embedding, text, metadata) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "vector", "text", "jsonb"])
                for item in items:
                    vector = np.asarray(item.vector, dtype=np.float32)
                    copy.write_row((item.id, vector, item.text, Jsonb(dict(item.metadata))))
            total = conn.execute("SELECT count(DISTINCT id) FROM lamina_staging").fetchone()
            rows = conn.execute(
                sql.SQL(
                    "INSERT INTO {t} AS t (id, embedding, text, metadata)"
                    " SELECT DISTINCT ON (id) id, embedding, text, metadata FROM lamina_staging"
                    " ORDER BY id"
                    " ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding,"
                    " text = EXCLUDED.text, metadata = EXCLUDED.metadata, updated_at = now()"
                    " WHERE (t.embedding, t.text, t.metadata)"
                    " IS DISTINCT FROM (EXCLUDED.embedding, EXCLUDED.text, EXCLUDED.metadata)"
                    " RETURNING (xmax = 0)"
                ).format(t=table)
            ).fetchall()
        fresh = sum(1 for (new,) in rows if new)
        changed = len(rows) - fresh
        distinct = int(total[0]) if total else len(items)
        return fresh, changed, distinct - len(rows)

    def build_index(self, name: str) -> bool:
        collection = self.collection(name)
        if collection.indexed:
            return False
        table = table_of(name)
        with self._conn() as conn:
            conn.execute("SELECT set_config('statement_timeout', '0', true)")  # a build is long
            conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops)"
                    " WITH (m = {}, ef_construction = {})"
                ).format(
                    sql.Identifier(f"{table}_hnsw"),
                    sql.Identifier(table),
                    sql.Literal(HNSW_M),
                    sql.Literal(HNSW_EF_CONSTRUCTION),
                )
            )
        return True

    def delete(self, name: str, ids: Sequence[str]) -> int:
        table = sql.Identifier(table_of(name))
        self.collection(name)
        with self._conn() as conn:
            cur = conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(table), (list(ids),)
            )
            return cur.rowcount

    def search(
        self,
        name: str,
        vector: np.ndarray,
        top_k: int,
        *,
        where: Mapping[str, Scalar] | None = None,
        exclude: Sequence[str] = (),
    ) -> list[Hit]:
        table = sql.Identifier(table_of(name))
        query = np.asarray(vector, dtype=np.float32)
        filters: list[sql.Composable] = []
        params: list[Any] = [query]
        if where:
            filters.append(sql.SQL("metadata @> %s"))
            params.append(Jsonb(dict(where)))
        if exclude:
            filters.append(sql.SQL("NOT (id = ANY(%s))"))
            params.append(list(exclude))
        condition = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(filters) if filters else sql.SQL("")
        statement = sql.SQL(
            "SELECT id, 1 - (embedding <=> %s) AS score, text, metadata FROM {}{}"
            " ORDER BY embedding <=> %s LIMIT %s"
        ).format(table, condition)
        params += [query, top_k]
        with self._conn() as conn:
            conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true)",
                (str(max(self.ef_search, top_k)),),
            )
            if filters:  # keep scanning the graph until top_k rows pass the filter
                conn.execute("SELECT set_config('hnsw.iterative_scan', 'strict_order', true)")
            try:
                rows = conn.execute(statement, params).fetchall()
            except psycopg.errors.UndefinedTable as exc:
                raise CollectionNotFoundError(f"no collection {name}", param="collection") from exc
        return [Hit(str(r[0]), float(r[1]), r[2], dict(r[3] or {})) for r in rows]

    def vectors(self, name: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        table = sql.Identifier(table_of(name))
        with self._conn() as conn:
            try:
                rows = conn.execute(
                    sql.SQL("SELECT id, embedding FROM {} WHERE id = ANY(%s)").format(table),
                    (list(ids),),
                ).fetchall()
            except psycopg.errors.UndefinedTable as exc:
                raise CollectionNotFoundError(f"no collection {name}", param="collection") from exc
        return {str(r[0]): _array(r[1]) for r in rows}


def _array(value: Any) -> np.ndarray:
    """A vector column's value (pgvector's Vector, or already an array) as float32."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy is not None else value, dtype=np.float32)
