"""A query model (manifest task ``sql``): a parameterized SQL query over pinned data, run by
DuckDB, served like any model (docs/sql-models.md).

initialize (cold start): the query file and every table's data are verified like model
files (a file of the directory is hashed by ``open_model_dir``; an S3 object version is
fetched and its sha256 checked here), the tables are loaded into an in-memory DuckDB
database, and then the database is sealed: ``enable_external_access`` off (no file, URL,
``ATTACH``, ``COPY ... TO`` or extension install from then on) and the configuration
locked, so no statement can turn it back on. The query must be one ``SELECT`` whose
``$parameters`` are exactly the declared ones, and its columns (names and types, from a
run with placeholder values) must be the declared signature; anything else refuses the
model at load.

preprocess binds the request's parameters: each checked against its declaration (type,
range, length, allowed values), a missing one taking its default or refused, an unknown
one refused; every refusal names the parameter. Values are bound by DuckDB, never
formatted into the SQL text. inference runs the query on a cursor of its own, interrupted
at ``timeout_ms``, and keeps at most ``max_rows`` rows. postprocess turns the columns into
typed tensors (shape [rows]) for the Open Inference Protocol; ``predict`` gives rows for the
plain JSON route.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import ModelLoadError, ParameterError, QueryTimeoutError, TensorError
from lamina.inference.lifecycle import InferenceModel, StageTimings
from lamina.inference.onnx_model import (
    MAX_ELEMENTS,
    InferRequest,
    InferResult,
    OutputTensor,
    TensorSpec,
    to_array,
)
from lamina.models.manifest import (
    Manifest,
    SqlColumn,
    SqlParameter,
    SqlSpec,
    SqlTable,
    file_sha256,
    open_model_dir,
)
from lamina.settings import Settings

log = logging.getLogger("lamina.model")

DEFAULT_MAX_LENGTH = 1000  # characters of a BYTES parameter without max_length
# DuckDB type names (``cursor.description``) each declared datatype accepts.
_ACCEPTS: dict[str, tuple[str, ...]] = {
    "BOOL": ("BOOLEAN",),
    "INT64": (
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
        "UBIGINT", "HUGEINT",
    ),
    "FP64": ("FLOAT", "DOUBLE", "DECIMAL"),
    "BYTES": ("VARCHAR", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIME", "UUID"),
}  # fmt: skip
_PLACEHOLDER: dict[str, Any] = {"BOOL": False, "INT64": 0, "FP64": 0.0, "BYTES": ""}
_NUMPY = {"BOOL": np.bool_, "INT64": np.int64, "FP64": np.float64, "BYTES": object}


@dataclass(frozen=True)
class SqlRows:
    """One run of the query: its columns' names, the rows (plain values; null as None), and
    whether more rows than ``max_rows`` were cut off."""

    columns: list[SqlColumn]
    rows: list[tuple[Any, ...]]
    truncated: bool
    timings: StageTimings = dataclasses.field(default_factory=StageTimings)


@dataclass(frozen=True)
class _Bound:
    values: dict[str, Any]
    outputs: list[int]  # the columns to return, by index


@dataclass(frozen=True)
class _Ran:
    rows: list[tuple[Any, ...]]
    truncated: bool
    outputs: list[int]


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class SqlModel(InferenceModel[InferRequest, _Bound, _Ran, InferResult]):
    """A ``sql`` model directory, loaded into a sealed in-memory DuckDB database."""

    def __init__(
        self,
        model_dir: Path,
        manifest: Manifest,
        *,
        threads: int = 1,
        memory_limit_mb: int = 512,
        cache_dir: Path | None = None,
        max_elements: int = MAX_ELEMENTS,
    ) -> None:
        import duckdb

        if manifest.sql is None:
            raise ModelLoadError(f"{manifest.name} is a {manifest.task} model, not a sql model")
        self.model_dir = model_dir
        self.manifest = manifest
        self.spec: SqlSpec = manifest.sql
        self.max_elements = max_elements
        self._duckdb = duckdb
        self.query = self._read_query()
        self._params = {p.name: p for p in self.spec.parameters}
        self.inputs = [TensorSpec(p.name, p.datatype, (1,)) for p in self.spec.parameters]
        self.outputs = [TensorSpec(c.name, c.datatype, (-1,)) for c in self.spec.columns]
        self._column_index = {c.name: i for i, c in enumerate(self.spec.columns)}
        config: dict[str, str | bool | int | float | list[str]] = {
            "threads": str(max(threads, 1)),
            "memory_limit": f"{memory_limit_mb}MB",
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
        try:
            self._db = duckdb.connect(":memory:", config=config)
            for table in self.spec.tables:
                self._load_table(table, self._table_path(table, cache_dir))
            # Sealed: from here no statement reaches a file, a URL or another database,
            # and none can change that back.
            self._db.execute("SET enable_external_access = false")
            self._db.execute("SET lock_configuration = true")
            self._check_columns()
        except duckdb.Error as exc:
            raise ModelLoadError(f"cannot load sql model {manifest.name}: {exc}") from exc

    # --- initialize -----------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        verify: bool = True,
        threads: int = 1,
        memory_limit_mb: int = 512,
        cache_dir: Path | None = None,
    ) -> SqlModel:
        manifest = open_model_dir(model_dir, verify=verify)
        return cls(
            model_dir,
            manifest,
            threads=threads,
            memory_limit_mb=memory_limit_mb,
            cache_dir=cache_dir,
        )

    @classmethod
    def from_settings(cls, model_dir: Path, *, verify: bool, settings: Settings) -> SqlModel:
        manifest = open_model_dir(model_dir, verify=verify)
        return cls(
            model_dir,
            manifest,
            threads=settings.intra_op_threads or 1,
            memory_limit_mb=settings.sql_memory_limit_mb,
            cache_dir=Path(settings.model_cache_dir),
            max_elements=settings.max_tensor_elements,
        )

    def _read_query(self) -> str:
        path = self.model_dir / self.manifest.model_file
        try:
            query = path.read_text(encoding="utf-8").strip().rstrip(";").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"cannot read the query {path.name}: {exc}") from exc
        try:
            statements = self._duckdb.extract_statements(query)
        except self._duckdb.Error as exc:
            raise ModelLoadError(
                f"the query of {self.manifest.name} does not parse: {exc}"
            ) from exc
        if len(statements) != 1 or statements[0].type != self._duckdb.StatementType.SELECT:
            kinds = ", ".join(str(s.type).rsplit(".", 1)[-1] for s in statements) or "none"
            raise ModelLoadError(
                f"the query of {self.manifest.name} must be one SELECT statement, not {kinds}"
            )
        declared = {p.name for p in self.spec.parameters}
        used = set(statements[0].named_parameters)
        if used != declared:
            raise ModelLoadError(
                f"the query of {self.manifest.name} uses parameters {sorted(used)}, the "
                f"manifest declares {sorted(declared)}: they must be the same"
            )
        return query

    def _table_path(self, table: SqlTable, cache_dir: Path | None) -> Path:
        """The table's data on this machine: a verified file of the directory, or the S3
        object version fetched into the cache and checked against its sha256."""
        if table.file is not None:
            return self.model_dir / table.file
        assert table.uri is not None
        assert table.sha256 is not None
        cache = (cache_dir or Path("/tmp/lamina-models")) / "sql-data"
        target = cache / f"{table.sha256}.{table.format}"
        if target.is_file() and file_sha256(target) == table.sha256:
            return target
        from lamina.storage import S3Objects

        bucket, _, key = table.uri.removeprefix("s3://").partition("/")
        cache.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{table.format}.part")
        digest, size = hashlib.sha256(), 0
        with partial.open("wb") as out:
            for block in S3Objects(bucket, error=ModelLoadError).stream(key, table.version_id):
                digest.update(block)
                size += len(block)
                if size > (table.size or 0):
                    break
                out.write(block)
        if size != table.size or digest.hexdigest() != table.sha256:
            partial.unlink(missing_ok=True)
            raise ModelLoadError(
                f"table {table.name}: {table.uri} version {table.version_id} does not match "
                "its size and sha256 in the manifest: refused"
            )
        partial.replace(target)
        return target

    def _load_table(self, table: SqlTable, path: Path) -> None:
        reader = (
            f"read_parquet({_literal(str(path))})"
            if table.format == "parquet"
            else f"read_csv({_literal(str(path))}, header = true)"
        )
        self._db.execute(f"CREATE TABLE {_quoted(table.name)} AS SELECT * FROM {reader}")

    def _check_columns(self) -> None:
        """The query's columns, from a run that returns no rows (each parameter its default,
        else a placeholder of its type), are the declared ones, in order, of compatible
        types."""
        placeholders = {
            p.name: _PLACEHOLDER[p.datatype] if p.default is None else p.default
            for p in self.spec.parameters
        }
        cursor = self._db.cursor()
        try:
            described = cursor.execute(
                f"SELECT * FROM ({self.query}) AS lamina_query LIMIT 0", placeholders
            ).description
        finally:
            cursor.close()
        found = [(str(name), str(kind)) for name, kind, *_ in described or []]
        declared = [(c.name, c.datatype) for c in self.spec.columns]
        if [name for name, _ in found] != [name for name, _ in declared]:
            raise ModelLoadError(
                f"the query of {self.manifest.name} gives columns "
                f"{[name for name, _ in found]}, the manifest declares "
                f"{[name for name, _ in declared]}"
            )
        for (name, kind), (_, datatype) in zip(found, declared, strict=True):
            base = kind.split("(", 1)[0].strip()
            if base not in _ACCEPTS[datatype]:
                raise ModelLoadError(
                    f"column {name} of {self.manifest.name} is {kind} in the query, which is "
                    f"not {datatype} as the manifest declares"
                )

    # --- parameters -------------------------------------------------------------------------

    def bind(self, values: Mapping[str, Any], *, where: str = "parameters") -> dict[str, Any]:
        """The query's parameters from ``values`` (JSON-like): each checked, defaults filled
        in; ParameterError naming the first bad one."""
        unknown = [name for name in values if name not in self._params]
        if unknown:
            raise ParameterError(
                f"{self.name} has no parameter {unknown[0]!r} (its parameters: "
                f"{', '.join(repr(p) for p in self._params) or 'none'})",
                param=f"{where}.{unknown[0]}",
            )
        bound: dict[str, Any] = {}
        for name, spec in self._params.items():
            if name not in values or values[name] is None:
                if spec.default is None:
                    raise ParameterError(
                        f"{self.name} needs parameter {name!r} ({spec.datatype}"
                        f"{': ' + spec.description if spec.description else ''})",
                        param=f"{where}.{name}",
                    )
                bound[name] = spec.default
                continue
            bound[name] = _check_value(spec, values[name], f"{where}.{name}")
        return bound

    # --- lifecycle ------------------------------------------------------------------------

    def preprocess(self, request: InferRequest) -> _Bound:
        values: dict[str, Any] = {}
        given: dict[str, int] = {}
        for index, tensor in enumerate(request.inputs):
            where = f"inputs[{index}]"
            spec = self._params.get(tensor.name)
            if spec is None:
                raise TensorError(
                    f"input {tensor.name!r} is not a parameter of {self.name} (its "
                    f"parameters: {', '.join(repr(p) for p in self._params) or 'none'})",
                    param=where,
                )
            if tensor.name in given:
                raise TensorError(f"input {tensor.name!r} is given twice", param=where)
            given[tensor.name] = index
            if list(tensor.shape) not in ([1], []):
                raise TensorError(
                    f"input {tensor.name!r} is one value: shape [1], not {list(tensor.shape)}",
                    param=where,
                )
            tensor_spec = TensorSpec(spec.name, spec.datatype, tuple(int(d) for d in tensor.shape))
            array = to_array(tensor, tensor_spec, where, self.max_elements)
            value = array.reshape(-1)[0]  # a numpy scalar, or a str (BYTES)
            values[tensor.name] = value.item() if isinstance(value, np.generic) else value
        try:
            bound = self.bind(values)
        except ParameterError as exc:
            name = (exc.param or "").removeprefix("parameters.")
            raise TensorError(
                exc.message, param=f"inputs[{given[name]}]" if name in given else "inputs"
            ) from exc
        return _Bound(bound, self._requested(request.outputs))

    def inference(self, inputs: _Bound) -> _Ran:
        rows, truncated = self._run(inputs.values)
        return _Ran(rows, truncated, inputs.outputs)

    def postprocess(self, raw: _Ran) -> InferResult:
        outputs: list[OutputTensor] = []
        for position, index in enumerate(raw.outputs):
            column = self.spec.columns[index]
            values = [row[index] for row in raw.rows]
            array = _column_array(column, values, self.name, f"outputs[{position}]")
            outputs.append(OutputTensor(column.name, column.datatype, [len(values)], array))
        return InferResult(outputs, len(raw.rows), StageTimings())

    def infer(self, request: InferRequest) -> InferResult:
        handled = self.handle(request)
        return dataclasses.replace(handled.output, timings=handled.timings)

    def predict(self, values: Mapping[str, Any]) -> SqlRows:
        """The plain route: named parameters -> rows (null stays None)."""
        t0 = time.perf_counter()
        bound = self.bind(values)
        t1 = time.perf_counter()
        rows, truncated = self._run(bound)
        t2 = time.perf_counter()
        plain = [tuple(_plain(value) for value in row) for row in rows]
        t3 = time.perf_counter()
        timings = StageTimings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return SqlRows(list(self.spec.columns), plain, truncated, timings)

    # --- helpers --------------------------------------------------------------------------

    def _run(self, values: Mapping[str, Any]) -> tuple[list[tuple[Any, ...]], bool]:
        """The query's first ``max_rows`` rows and whether there were more; interrupted
        after ``timeout_ms`` (QueryTimeoutError)."""
        cursor = self._db.cursor()
        timer = threading.Timer(self.spec.timeout_ms / 1000, cursor.interrupt)
        timer.start()
        try:
            cursor.execute(self.query, dict(values))
            rows = cursor.fetchmany(self.spec.max_rows + 1)
        except self._duckdb.InterruptException as exc:
            raise QueryTimeoutError(
                f"{self.name}'s query ran over its limit of {self.spec.timeout_ms} ms for "
                "these parameters",
            ) from exc
        except (self._duckdb.ConversionException, self._duckdb.OutOfRangeException) as exc:
            raise ParameterError(
                f"{self.name}'s query cannot use these parameter values: {exc}"
            ) from exc
        except self._duckdb.OutOfMemoryException as exc:
            raise QueryTimeoutError(
                f"{self.name}'s query needs more memory than its limit for these parameters"
            ) from exc
        finally:
            timer.cancel()
            cursor.close()
        truncated = len(rows) > self.spec.max_rows
        return rows[: self.spec.max_rows], truncated

    def _requested(self, names: Sequence[str] | None) -> list[int]:
        if not names:
            return list(range(len(self.spec.columns)))
        chosen: list[int] = []
        for position, name in enumerate(names):
            index = self._column_index.get(name)
            if index is None:
                raise TensorError(
                    f"output {name!r} is not a column of {self.name} (its columns: "
                    f"{', '.join(repr(c.name) for c in self.spec.columns)})",
                    param=f"outputs[{position}]",
                )
            if index in chosen:
                raise TensorError(
                    f"output {name!r} is requested twice", param=f"outputs[{position}]"
                )
            chosen.append(index)
        return chosen

    def close(self) -> None:
        self._db.close()


def _check_value(spec: SqlParameter, value: Any, where: str) -> Any:
    """``value`` as the parameter's type, within its limits; ParameterError otherwise."""
    name = spec.name

    def refuse(why: str) -> ParameterError:
        return ParameterError(f"parameter {name!r} {why}", param=where)

    if spec.datatype == "BOOL":
        if not isinstance(value, bool):
            raise refuse(f"must be true or false, not {value!r}")
        return value
    if spec.datatype == "BYTES":
        if not isinstance(value, str):
            raise refuse(f"must be a string, not {type(value).__name__}")
        limit = spec.max_length or DEFAULT_MAX_LENGTH
        if len(value) > limit:
            raise refuse(f"has {len(value)} characters; at most {limit}")
        if "\x00" in value:
            raise refuse("must not contain NUL characters")
        if spec.allowed is not None and value not in spec.allowed:
            raise refuse(f"must be one of {', '.join(repr(v) for v in spec.allowed)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refuse(f"must be a number, not {value!r}")
    if spec.datatype == "INT64":
        if isinstance(value, float):
            if not value.is_integer():
                raise refuse(f"must be a whole number, not {value!r}")
            value = int(value)
        if not -(2**63) <= value < 2**63:
            raise refuse("is out of the INT64 range")
    elif not math.isfinite(value):
        raise refuse("must be a finite number")
    else:
        value = float(value)
    if spec.minimum is not None and value < spec.minimum:
        raise refuse(f"must be at least {_number(spec.minimum)}, not {value!r}")
    if spec.maximum is not None and value > spec.maximum:
        raise refuse(f"must be at most {_number(spec.maximum)}, not {value!r}")
    return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _plain(value: Any) -> Any:
    """A DuckDB value as JSON can carry it: dates and times as ISO text, decimals as floats."""
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is not None and not isinstance(value, bool | int | float | str):
        return str(value)
    return value


def _column_array(column: SqlColumn, values: list[Any], model: str, where: str) -> np.ndarray:
    """A column as a typed 1-D array; a null (which the protocol's tensors cannot carry) or a
    non-finite number is refused, naming the column."""
    plain = [_plain(value) for value in values]
    if any(value is None for value in plain):
        row = next(i for i, value in enumerate(plain) if value is None)
        raise TensorError(
            f"{model}'s column {column.name!r} is null in row {row} for these parameters; "
            "the Open Inference Protocol's tensors cannot carry a null (the plain route, "
            f"POST /api/v1/models/{model}/predict, gives it as null)",
            param=where,
        )
    return np.array(plain, dtype=_NUMPY[column.datatype])
