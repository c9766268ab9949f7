"""PostgreSQL with pgvector as infra/local/postgres.sh runs it (docs/postgres.md): pgvector
0.8.0, an HNSW cosine index filled by binary COPY that finds the true nearest rows, a server
on 127.0.0.1 only, and a password that is required."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg.conninfo import conninfo_to_dict, make_conninfo

pytestmark = pytest.mark.slow

K = 5


def connect(dsn: str) -> psycopg.Connection[tuple[Any, ...]]:
    conn = psycopg.connect(dsn, connect_timeout=10)
    register_vector(conn)
    return conn


def copy_rows(conn: psycopg.Connection[tuple[Any, ...]], ids: Iterable[int], vectors: Any) -> None:
    """Binary COPY, each vector a numpy array dumped by pgvector's adapter."""
    with (
        conn.cursor() as cur,
        cur.copy("COPY items (id, embedding) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["int8", "vector"])
        for row_id, vector in zip(ids, vectors, strict=True):
            copy.write_row((row_id, vector))


def cosine_distances(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    v = vectors.astype(np.float64)
    q = query.astype(np.float64)
    return np.asarray(1.0 - (v @ q) / (np.linalg.norm(v, axis=1) * np.linalg.norm(q)))


def test_pgvector_is_0_8_0(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    assert row == ("0.8.0",)


def test_the_role_owns_its_database_and_is_no_superuser(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT r.rolsuper, pg_get_userbyid(d.datdba) FROM pg_roles r, pg_database d "
            "WHERE r.rolname = current_user AND d.datname = current_database()"
        ).fetchone()
    assert row == (False, "lamina")


def test_hnsw_cosine_index_returns_the_nearest_rows(postgres_dsn: str) -> None:
    rng = np.random.default_rng(20240601)
    loaded = rng.normal(size=(300, 3)).astype(np.float32)  # before the index is built
    added = rng.normal(size=(40, 3)).astype(np.float32)  # after: inserted into the index
    vectors = np.concatenate([loaded, added])
    query = (added[3] + 0.05 * rng.normal(size=3)).astype(np.float32)  # near a row of the 2nd COPY
    distances = cosine_distances(vectors, query)
    nearest = np.argsort(distances)[:K]
    gap = np.sort(distances)[K] - np.sort(distances)[K - 1]
    assert gap > 1e-4, "the data must have one top-K answer"
    assert (nearest >= len(loaded)).any(), "the answer must include rows of the second COPY"

    with connect(postgres_dsn) as conn:
        # One transaction, rolled back: the test leaves nothing behind.
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(3) NOT NULL)")
        copy_rows(conn, range(len(loaded)), loaded)
        conn.execute("CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_cosine_ops)")
        copy_rows(conn, range(len(loaded), len(vectors)), added)
        conn.execute("ANALYZE items")
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL hnsw.ef_search = 100")
        knn = "SELECT id, embedding <=> %(q)s FROM items ORDER BY embedding <=> %(q)s LIMIT %(k)s"
        plan_row = conn.execute(f"EXPLAIN (FORMAT JSON) {knn}", {"q": query, "k": K}).fetchone()
        rows = conn.execute(knn, {"q": query, "k": K}).fetchall()
        stored = conn.execute(
            "SELECT embedding FROM items WHERE id = %s", (len(loaded),)
        ).fetchone()
        conn.rollback()

    assert plan_row is not None
    plan = json.dumps(plan_row[0])
    assert '"Index Name": "items_hnsw"' in plan, plan
    assert [row[0] for row in rows] == nearest.tolist()
    np.testing.assert_allclose([row[1] for row in rows], distances[nearest], atol=1e-6)
    assert stored is not None
    np.testing.assert_array_equal(stored[0].to_numpy(), added[0])  # float32 round trip


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on ``port`` (Linux /proc/net)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            # Each 32-bit word is in host (little-endian) order.
            raw = b"".join(
                bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8)
            )
            found.add(str(ipaddress.ip_address(raw)))
    return found


def test_the_server_listens_on_127_0_0_1_only(postgres_dsn: str) -> None:
    port = int(str(conninfo_to_dict(postgres_dsn)["port"]))
    with psycopg.connect(postgres_dsn, connect_timeout=10) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SELECT host(inet_server_addr())").fetchone() == ("127.0.0.1",)
    assert listening_addresses(port) == {"127.0.0.1"}


def test_the_password_is_required(
    postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    params = conninfo_to_dict(postgres_dsn)
    assert params.pop("password")
    no_passfile = str(tmp_path / "no-passfile")
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(make_conninfo("", **params, passfile=no_passfile), connect_timeout=10)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            make_conninfo("", **params, password="not-the-password", passfile=no_passfile),
            connect_timeout=10,
        )
