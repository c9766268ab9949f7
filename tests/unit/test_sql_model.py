"""Query models (manifest task sql, lamina.inference.sql_model): the listing-ranker demo
against an independent computation in Python, the sealed database, the signature checks at
load, parameters, limits, nulls, and tables pinned in S3."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto import mock_aws

from lamina.errors import ModelLoadError, ParameterError, QueryTimeoutError, TensorError
from lamina.inference.onnx_model import InferRequest, InputTensor
from lamina.inference.sql_model import SqlModel
from lamina.models.manifest import (
    Manifest,
    SourceInfo,
    SqlColumn,
    SqlParameter,
    SqlSpec,
    SqlTable,
    file_entry,
    open_model_dir,
    write_manifest,
)
from lamina_tools.models import listings
from tests.batch_helpers import fake_aws_env


@pytest.fixture(scope="module")
def ranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return listings.build(tmp_path_factory.mktemp("sql") / "listing-ranker")


@pytest.fixture(scope="module")
def ranker(ranker_dir: Path) -> Iterator[SqlModel]:
    model = SqlModel.load(ranker_dir)
    yield model
    model.close()


def model_dir(
    root: Path,
    query: str,
    *,
    parameters: Sequence[SqlParameter] = (),
    columns: Sequence[SqlColumn] = (SqlColumn(name="n", datatype="INT64"),),
    csv: str = "n,word\n1,one\n2,two\n3,three\n",
    tables: Sequence[SqlTable] | None = None,
    max_rows: int = 100,
    timeout_ms: int = 2000,
) -> Path:
    """A small sql model directory: ``query`` over a CSV table ``t`` (n, word)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "query.sql").write_text(query, encoding="utf-8")
    (root / "t.csv").write_text(csv, encoding="utf-8")
    manifest = Manifest(
        name="tiny",
        version="1",
        task="sql",
        variant="sql",
        quantization="none",
        model_file="query.sql",
        sql=SqlSpec(
            parameters=list(parameters),
            columns=list(columns),
            tables=list(tables or [SqlTable(name="t", format="csv", file="t.csv")]),
            max_rows=max_rows,
            timeout_ms=timeout_ms,
        ),
        source=SourceInfo(model_id="test", package="duckdb", package_version="x", license="MIT"),
        files=[file_entry(root, "query.sql"), file_entry(root, "t.csv")],
        created_at="2026-12-05T00:00:00+00:00",
    )
    write_manifest(root, manifest)
    return root


def infer(model: SqlModel, **values: Any) -> dict[str, list[Any]]:
    datatypes = {p.name: p.datatype for p in model.spec.parameters}
    inputs = [
        InputTensor(name, datatypes.get(name, "BYTES"), [1], [value])
        for name, value in values.items()
    ]
    result = model.infer(InferRequest(inputs))
    return {o.name: o.data for o in result.outputs}


# ---- the demo: the seed's ranking -----------------------------------------------------------


def test_listing_ranker_ranks_as_an_independent_python_computation(ranker: SqlModel) -> None:
    places, reviews = listings.generate()
    cases: list[dict[str, Any]] = [{"region": r} for r in listings.REGIONS]
    cases += [
        {"region": "seoul", "min_reviews": 1, "top_k": 100},
        {"region": "jeju", "min_reviews": 20, "min_rooms": 2, "top_k": 7},
        {"region": "busan", "min_rooms": 6, "top_k": 3},
        {"region": "daegu", "min_reviews": 1000},  # nobody has that many: no rows
    ]
    for case in cases:
        expected = listings.rank_in_python(places, reviews, **case)
        got = ranker.predict(case)
        assert [c.name for c in got.columns] == [
            "rank", "listing_id", "avg_score", "reviews", "rooms", "created",
        ]  # fmt: skip
        assert [row[:2] + row[3:] for row in got.rows] == [row[:2] + row[3:] for row in expected]
        for row, want in zip(got.rows, expected, strict=True):
            assert row[2] == pytest.approx(want[2], abs=1e-12)
        assert got.truncated is False
    # The data is what the seed makes: a ranking with a spread, not a tie of perfect scores.
    top = ranker.predict({"region": "seoul"}).rows
    assert len(top) == 10
    assert top[0][2] > top[-1][2]
    assert all(a[2] >= b[2] for a, b in itertools.pairwise(top))


def test_the_protocol_view_matches_the_rows(ranker: SqlModel) -> None:
    rows = ranker.predict({"region": "gwangju", "top_k": 4}).rows
    outputs = infer(ranker, region="gwangju", top_k=4)
    assert outputs["rank"] == [1, 2, 3, 4]
    assert outputs["listing_id"] == [row[1] for row in rows]
    assert outputs["avg_score"] == [row[2] for row in rows]
    assert outputs["created"] == [row[5] for row in rows]
    assert [s.name for s in ranker.inputs] == ["region", "min_reviews", "min_rooms", "top_k"]
    assert [(s.datatype, s.shape) for s in ranker.outputs][:3] == [
        ("INT64", (-1,)), ("BYTES", (-1,)), ("FP64", (-1,)),
    ]  # fmt: skip


def test_a_tampered_data_file_is_refused_like_a_tampered_graph(
    ranker_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in ranker_dir.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    data = (copy / "reviews.csv").read_bytes()
    (copy / "reviews.csv").write_bytes(data.replace(b",1,", b",5,", 1))  # one score raised
    with pytest.raises(ModelLoadError, match=r"reviews\.csv does not match its sha256"):
        SqlModel.load(copy)
    (copy / "reviews.csv").write_bytes(data)
    (copy / "listings.parquet").unlink()
    with pytest.raises(ModelLoadError, match=r"listings\.parquet is missing"):
        open_model_dir(copy)


# ---- the sealed database ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("COPY t TO '/tmp/lamina-leak.csv'", "must be one SELECT statement, not COPY"),
        ("SELECT n FROM t; DROP TABLE t", "must be one SELECT statement"),
        ("ATTACH '/tmp/other.db' AS other", "must be one SELECT statement, not ATTACH"),
        ("DELETE FROM t", "must be one SELECT statement, not DELETE"),
        ("SELECT 1 AS n FROM read_csv('/etc/passwd')", "file system operations are disabled"),
        ("SELECT 1 AS n FROM 'https://example.com/x.parquet'", "operations are disabled"),
        ("SELECT n FROM t WHERE word = $word", "uses parameters ['word']"),
        ("SELECT word AS n FROM t", "is VARCHAR in the query, which is not INT64"),
        ("SELECT n AS m FROM t", "gives columns ['m']"),
        ("SELEC n FROM t", "does not parse"),
    ],
)
def test_the_query_is_checked_at_load(tmp_path: Path, query: str, why: str) -> None:
    with pytest.raises(ModelLoadError, match=why.replace("[", r"\[").replace("]", r"\]")):
        SqlModel.load(model_dir(tmp_path / "m", query))
    assert not Path("/tmp/lamina-leak.csv").exists()


def test_no_statement_can_reach_outside_the_loaded_tables(tmp_path: Path) -> None:
    """What the sealed database refuses, whatever SQL reaches it (the model's query is one
    SELECT, but the database itself must hold too)."""
    model = SqlModel.load(model_dir(tmp_path / "m", "SELECT n FROM t ORDER BY n"))
    cursor = model._db.cursor()
    for statement in (
        "SELECT * FROM read_csv('/etc/hostname')",
        f"COPY t TO '{tmp_path}/out.csv'",
        f"ATTACH '{tmp_path}/x.db' AS x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SELECT * FROM 'https://example.com/data.csv'",
    ):
        with pytest.raises(model._duckdb.Error):
            cursor.execute(statement)
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "x.db").exists()
    assert model.predict({}).rows == [(1,), (2,), (3,)]


# ---- parameters -----------------------------------------------------------------------------


def test_parameters_are_checked_and_named(ranker: SqlModel) -> None:
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({}, "parameters.region", "needs parameter 'region'"),
        ({"region": "mars"}, "parameters.region", "must be one of 'seoul'"),
        ({"region": 3}, "parameters.region", "must be a string"),
        ({"region": "seoul", "top_k": 0}, "parameters.top_k", "at least 1, not 0"),
        ({"region": "seoul", "top_k": 101}, "parameters.top_k", "at most 100"),
        ({"region": "seoul", "top_k": 2.5}, "parameters.top_k", "whole number"),
        ({"region": "seoul", "top_k": True}, "parameters.top_k", "must be a number"),
        ({"region": "seoul", "top_k": "3"}, "parameters.top_k", "must be a number"),
        ({"region": "seoul", "top_k": 2**70}, "parameters.top_k", "INT64 range"),
        ({"region": "seoul", "limit": 3}, "parameters.limit", "has no parameter 'limit'"),
        ({"region": "se\x00oul"}, "parameters.region", "NUL"),
        ({"region": "x" * 5000}, "parameters.region", "at most 1000"),
    ]
    for values, param, message in bad:
        with pytest.raises(ParameterError, match=message) as raised:
            ranker.predict(values)
        assert raised.value.param == param, values
    # A whole float is an integer; null takes the default.
    assert ranker.predict({"region": "seoul", "top_k": 3.0, "min_rooms": None}).rows == (
        ranker.predict({"region": "seoul", "top_k": 3}).rows
    )


def test_protocol_parameter_errors_are_400s_naming_the_input(ranker: SqlModel) -> None:
    cases: list[tuple[list[InputTensor], str, str]] = [
        ([InputTensor("top_k", "INT64", [1], [3])], "needs parameter 'region'", "inputs"),
        ([InputTensor("region", "BYTES", [1], ["mars"])], "must be one of", "inputs[0]"),
        ([InputTensor("region", "BYTES", [2], ["a", "b"])], "one value: shape [1]", "inputs[0]"),
        ([InputTensor("region", "INT64", [1], [1])], "the model takes BYTES", "inputs[0]"),
        ([InputTensor("nope", "BYTES", [1], ["x"])], "not a parameter", "inputs[0]"),
        (
            [InputTensor("region", "BYTES", [1], ["jeju"]), InputTensor("top_k", "FP64", [1], [1])],
            "the model takes INT64",
            "inputs[1]",
        ),
    ]
    for inputs, message, param in cases:
        with pytest.raises(TensorError, match=message.replace("[", r"\[")) as raised:
            ranker.infer(InferRequest(inputs))
        assert raised.value.param == param
    with pytest.raises(TensorError, match="not a column"):
        ranker.infer(InferRequest([InputTensor("region", "BYTES", [1], ["jeju"])], ["score"]))


# ---- limits and nulls -----------------------------------------------------------------------


def test_rows_past_max_rows_are_cut_and_said_so(tmp_path: Path) -> None:
    model = SqlModel.load(
        model_dir(tmp_path / "m", "SELECT range AS n FROM range(5000)", max_rows=100)
    )
    result = model.predict({})
    assert (len(result.rows), result.truncated) == (100, True)
    assert result.rows[:3] == [(0,), (1,), (2,)]
    assert infer(model)["n"] == list(range(100))


def test_a_query_over_its_time_limit_is_interrupted(tmp_path: Path) -> None:
    slow = (
        "SELECT count(*) AS n FROM range(100000000) a, range(1000) b WHERE a.range + b.range = $k"
    )
    model = SqlModel.load(
        model_dir(
            tmp_path / "m",
            slow,
            parameters=[SqlParameter(name="k", datatype="INT64", default=7)],
            timeout_ms=100,
        )
    )
    with pytest.raises(QueryTimeoutError, match="over its limit of 100 ms"):
        model.predict({})
    # The database is still usable afterwards.
    fast = SqlModel.load(model_dir(tmp_path / "f", "SELECT n FROM t ORDER BY n"))
    assert fast.predict({}).rows == [(1,), (2,), (3,)]


def test_a_null_is_null_in_rows_and_refused_by_the_protocol(tmp_path: Path) -> None:
    model = SqlModel.load(
        model_dir(
            tmp_path / "m",
            "SELECT n, CASE WHEN n = 2 THEN NULL ELSE n * 0.5 END AS half FROM t ORDER BY n",
            columns=[
                SqlColumn(name="n", datatype="INT64"),
                SqlColumn(name="half", datatype="FP64"),
            ],
        )
    )
    assert model.predict({}).rows == [(1, 0.5), (2, None), (3, 1.5)]
    with pytest.raises(TensorError, match="column 'half' is null in row 1"):
        infer(model)


def test_parallel_requests_each_get_their_own_answer(ranker: SqlModel) -> None:
    regions = list(listings.REGIONS) * 4
    expected = {r: ranker.predict({"region": r, "top_k": 5}).rows for r in listings.REGIONS}
    got: dict[int, Any] = {}

    def run(i: int, region: str) -> None:
        got[i] = ranker.predict({"region": region, "top_k": 5}).rows

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(regions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(got[i] == expected[r] for i, r in enumerate(regions))


# ---- a table pinned in S3 ---------------------------------------------------------------


def test_a_table_pinned_by_s3_version_and_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws_env(monkeypatch)
    data = b"n,word\n10,ten\n20,twenty\n"
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lamina-sql-data")
        s3.put_bucket_versioning(
            Bucket="lamina-sql-data", VersioningConfiguration={"Status": "Enabled"}
        )
        version = s3.put_object(Bucket="lamina-sql-data", Key="t/words.csv", Body=data)["VersionId"]
        s3.put_object(Bucket="lamina-sql-data", Key="t/words.csv", Body=b"n,word\n99,new\n")

        def table(sha256: str) -> SqlTable:
            return SqlTable(
                name="t", format="csv", uri="s3://lamina-sql-data/t/words.csv",
                version_id=version, sha256=sha256, size=len(data),
            )  # fmt: skip

        pinned = table(hashlib.sha256(data).hexdigest())
        cache = tmp_path / "cache"
        root = model_dir(tmp_path / "m", "SELECT n FROM t ORDER BY n", tables=[pinned])
        model = SqlModel.load(root, cache_dir=cache)
        assert model.predict({}).rows == [(10,), (20,)]  # the pinned version, not the latest
        cached = list((cache / "sql-data").iterdir())
        assert [p.name for p in cached] == [f"{pinned.sha256}.csv"]

        wrong = model_dir(
            tmp_path / "w", "SELECT n FROM t", tables=[table(hashlib.sha256(b"x").hexdigest())]
        )
        with pytest.raises(ModelLoadError, match="does not match its size and sha256"):
            SqlModel.load(wrong, cache_dir=tmp_path / "cache2")
        assert list((tmp_path / "cache2" / "sql-data").iterdir()) == []


def test_the_manifest_validates_a_sql_model(tmp_path: Path) -> None:
    root = model_dir(tmp_path / "m", "SELECT n FROM t")
    raw = json.loads((root / "manifest.json").read_text())
    bad_table = {**raw["sql"]["tables"][0], "uri": "s3://a-bucket/k"}  # a file and a uri
    for change, why in (
        ({"sql": None}, "a sql model needs sql"),
        ({"sql": {**raw["sql"], "tables": [bad_table]}}, "exactly one of file and uri"),
        ({"sql": {**raw["sql"], "columns": []}}, "at least 1 item"),
        (
            {"sql": {**raw["sql"], "tables": [{"name": "t", "format": "csv", "file": "../x"}]}},
            "unsafe file path",
        ),
    ):
        with pytest.raises(ValueError, match=why):
            Manifest.model_validate({**raw, **change})
