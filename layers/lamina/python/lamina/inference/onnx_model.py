"""Any ONNX model, served by its signature: the engine behind the Open Inference Protocol.

The graph says what it takes and gives (``TensorSpec``: name, datatype, shape, -1 for a
variable dimension); nothing else about the model is assumed. Its lifecycle is every
lamina model's (``lamina.inference.lifecycle``):

- preprocess checks every request tensor against the signature and converts it to numpy
  with the model's exact dtype, from JSON values or from the raw bytes of the binary tensor
  data extension (little-endian, row-major; BOOL one byte 0 or 1; BYTES elements a 4-byte
  little-endian length and the bytes, UTF-8). Every refusal is a ``TensorError`` (400)
  whose message names the input and says why, with ``param`` ``inputs[i]`` or
  ``outputs[i]``: ONNX Runtime's own errors are terse and name no input, and a value it
  would silently wrap or truncate (300 in UINT8, 1.5 in INT64), a NaN or an infinity, a
  byte count that does not match the shape, or a rank numpy cannot hold must not reach it;
- inference runs the requested outputs (all of them by default);
- postprocess turns each output into a typed tensor: flat row-major data of plain Python
  values (FP16 as floats, BYTES as str), ready for JSON, or the raw bytes of the binary
  extension. An output with a NaN or an infinity is refused (400): neither JSON nor the
  protocol's clients expect one, and it comes from inputs the model cannot handle.

A graph with a type the protocol cannot carry as JSON (bfloat16, sequences, maps) still
loads: its metadata shows ONNX Runtime's type name, and a request that needs it fails with a
TensorError that says so.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from lamina.errors import ModelLoadError, TensorError
from lamina.inference.lifecycle import InferenceModel, StageTimings
from lamina.inference.session import create_session
from lamina.models.manifest import Manifest, open_model_dir
from lamina.settings import Settings

log = logging.getLogger("lamina.model")

__all__ = [
    "DATATYPES",
    "InferRequest",
    "InferResult",
    "InputTensor",
    "OnnxModel",
    "OutputTensor",
    "TensorSpec",
    "to_array",
]

# The most dimensions a tensor may have (numpy's limit: a larger rank cannot be built).
MAX_RANK = 64
# The most elements of one tensor, by default (LAMINA_MAX_TENSOR_ELEMENTS).
MAX_ELEMENTS = 4_194_304

# ONNX Runtime type -> Open Inference Protocol datatype.
DATATYPES: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
# Open Inference Protocol datatype -> the numpy dtype ONNX Runtime is fed.
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),  # Python str; ONNX Runtime's string tensors
}
_FLOATS = frozenset({"FP16", "FP32", "FP64"})
# ONNX Runtime's errors while running validated inputs: the values themselves are wrong for
# this graph (a token id beyond the vocabulary, two inputs whose sizes must agree...).
_RUN_ERRORS: tuple[type[Exception], ...] = (
    ort_state.InvalidArgument,
    ort_state.Fail,
    ort_state.RuntimeException,
)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the graph, as the protocol's model metadata shows it.

    ``datatype`` is the protocol's name (FP32, INT64...) or, for a type it cannot carry,
    ONNX Runtime's (``tensor(bfloat16)``, ``seq(map(int64,tensor(float)))``). ``shape`` has
    -1 for a variable dimension; ``symbols`` keeps the graph's name of each variable one
    (None when unnamed or fixed), because inputs that share a name must agree on its size.
    ONNX Runtime reports a scalar and a tensor of unknown rank alike, as shape ``()``.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    symbols: tuple[str | None, ...] = ()

    @property
    def supported(self) -> bool:
        return self.datatype in NUMPY_DTYPES

    @classmethod
    def from_ort(cls, arg: Any) -> TensorSpec:
        """From an ONNX Runtime ``NodeArg`` (``session.get_inputs()`` / ``get_outputs()``)."""
        dims = list(arg.shape) if isinstance(arg.shape, list | tuple) else []
        shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in dims)
        symbols = tuple(d if isinstance(d, str) and d else None for d in dims)
        return cls(arg.name, DATATYPES.get(arg.type, arg.type), shape, symbols)


@dataclass(frozen=True)
class InputTensor:
    """A request tensor: ``data`` is row-major, flat or nested to match ``shape``; or
    ``raw``, its bytes in the binary tensor data extension's layout (then ``data`` is
    ignored)."""

    name: str
    datatype: str
    shape: Sequence[int]
    data: Sequence[Any] = ()
    raw: bytes | None = None


@dataclass(frozen=True)
class InferRequest:
    inputs: Sequence[InputTensor]
    outputs: Sequence[str] | None = None  # None or empty: every output, in the graph's order


@dataclass(frozen=True)
class OutputTensor:
    name: str
    datatype: str
    shape: list[int]
    array: np.ndarray = dataclasses.field(repr=False, compare=False)

    @property
    def data(self) -> list[Any]:
        """Flat, row-major plain values: bool, int, float or str."""
        return _values(self.array)

    def raw(self) -> bytes:
        """The binary tensor data extension's bytes: little-endian, row-major; BOOL one
        byte each; BYTES a 4-byte little-endian length and the UTF-8 bytes per element."""
        return _raw(self.array, self.datatype)


@dataclass(frozen=True)
class InferResult:
    outputs: list[OutputTensor]  # in the requested order
    items: int  # the first input's leading dimension (1 for a scalar): the batch size
    timings: StageTimings
    # the inputs as the model read them, by name (drift monitoring samples tabular rows)
    inputs: dict[str, np.ndarray] = dataclasses.field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class _Feeds:
    """Preprocess output: numpy inputs by name, the outputs to run, the batch size."""

    arrays: dict[str, np.ndarray]
    outputs: list[TensorSpec]
    items: int


@dataclass(frozen=True)
class _Ran:
    outputs: list[TensorSpec]
    arrays: list[np.ndarray]
    items: int
    inputs: dict[str, np.ndarray]


class OnnxModel(InferenceModel[InferRequest, _Feeds, _Ran, InferResult]):
    """Any ONNX graph in a lamina model directory (whatever its manifest's task)."""

    def __init__(
        self,
        model_dir: Path,
        manifest: Manifest,
        *,
        intra_op_threads: int = 0,
        max_elements: int = MAX_ELEMENTS,
    ) -> None:
        self.model_dir = model_dir
        self.manifest = manifest
        self.max_elements = max_elements
        try:
            self._session = create_session(model_dir / manifest.model_file, intra_op_threads)
        except Exception as exc:  # onnxruntime raises its own types
            raise ModelLoadError(f"cannot load model from {model_dir}: {exc}") from exc
        self.inputs = [TensorSpec.from_ort(arg) for arg in self._session.get_inputs()]
        self.outputs = [TensorSpec.from_ort(arg) for arg in self._session.get_outputs()]
        self._input_specs = {spec.name: spec for spec in self.inputs}
        self._output_specs = {spec.name: spec for spec in self.outputs}

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        verify: bool = True,
        intra_op_threads: int = 0,
        warmup: bool = False,
        max_elements: int = MAX_ELEMENTS,
    ) -> OnnxModel:
        """initialize: verify the directory, create the session, optionally run it once."""
        manifest = open_model_dir(model_dir, verify=verify)
        model = cls(
            model_dir, manifest, intra_op_threads=intra_op_threads, max_elements=max_elements
        )
        if warmup:
            model.warm_up()
        return model

    @classmethod
    def from_settings(cls, model_dir: Path, *, verify: bool, settings: Settings) -> OnnxModel:
        """``load`` with this deployment's settings and a warm-up run (the cold-start
        loader's entry point)."""
        return cls.load(
            model_dir,
            verify=verify,
            intra_op_threads=settings.intra_op_threads,
            warmup=True,
            max_elements=settings.max_tensor_elements,
        )

    def warm_up(self) -> bool:
        """Run the graph once on zeros (size 1 for each variable dimension), so the first
        request does not pay for the first run's allocations.

        Best effort: made-up zeros may mean nothing to a graph (an index it cannot take,
        an empty string to a tokenizer op), so a failure is logged, not raised. True when
        the run succeeded; False too when an input's type cannot be fed.
        """
        outputs = [spec.name for spec in self.outputs if spec.supported]
        if not outputs or not all(spec.supported for spec in self.inputs):
            return False
        feeds: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            zeros = np.zeros(tuple(max(d, 1) for d in spec.shape), NUMPY_DTYPES[spec.datatype])
            if spec.datatype == "BYTES":
                zeros[...] = ""
            feeds[spec.name] = zeros
        try:
            self._session.run(outputs, feeds)
        except Exception as exc:  # onnxruntime raises its own types; any of them is fine here
            log.warning("%s: warm-up run on zeros failed (%s); serving anyway", self.name, exc)
            return False
        return True

    # --- lifecycle ------------------------------------------------------------------------

    def preprocess(self, request: InferRequest) -> _Feeds:
        arrays: dict[str, np.ndarray] = {}
        given: dict[str, int] = {}
        bound: dict[str, tuple[int, str]] = {}  # symbolic dimension -> (size, input name)
        for index, tensor in enumerate(request.inputs):
            where = f"inputs[{index}]"
            spec = self._input_specs.get(tensor.name)
            if spec is None:
                raise TensorError(
                    f"input {tensor.name!r} is not an input of {self.name} "
                    f"(its inputs: {', '.join(repr(s.name) for s in self.inputs)})",
                    param=where,
                )
            if tensor.name in given:
                raise TensorError(
                    f"input {tensor.name!r} is given twice (inputs[{given[tensor.name]}] "
                    f"and {where})",
                    param=where,
                )
            given[tensor.name] = index
            arrays[tensor.name] = to_array(tensor, spec, where, self.max_elements)
            _bind_symbols(spec, arrays[tensor.name].shape, bound, where)
        missing = [spec.name for spec in self.inputs if spec.name not in given]
        if missing:
            raise TensorError(
                f"{self.name} needs input{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(name) for name in missing)}, which the request lacks",
                param="inputs",
            )
        first = arrays[request.inputs[0].name] if request.inputs else None
        items = int(first.shape[0]) if first is not None and first.ndim else 1
        return _Feeds(arrays, self._requested(request.outputs), items)

    def inference(self, inputs: _Feeds) -> _Ran:
        names = [spec.name for spec in inputs.outputs]
        try:
            ran = self._session.run(names, inputs.arrays)
        except _RUN_ERRORS as exc:
            raise TensorError(f"{self.name} cannot run on these inputs: {exc}") from exc
        return _Ran(inputs.outputs, list(ran), inputs.items, inputs.arrays)

    def postprocess(self, raw: _Ran) -> InferResult:
        outputs: list[OutputTensor] = []
        for index, (spec, array) in enumerate(zip(raw.outputs, raw.arrays, strict=True)):
            if spec.datatype in _FLOATS and not np.isfinite(array).all():
                raise TensorError(
                    f"{self.name} gave NaN or infinite values in output {spec.name!r} for these "
                    "inputs; check that they are in the range the model was made for",
                    param=f"outputs[{index}]",
                )
            if array.size > self.max_elements:
                raise TensorError(
                    f"{self.name} gave {array.size:,} elements in output {spec.name!r} for "
                    f"these inputs; a tensor has at most {self.max_elements:,} here "
                    "(LAMINA_MAX_TENSOR_ELEMENTS)",
                    param=f"outputs[{index}]",
                )
            outputs.append(
                OutputTensor(spec.name, spec.datatype, [int(d) for d in array.shape], array)
            )
        return InferResult(outputs, raw.items, StageTimings(), raw.inputs)

    def infer(self, request: InferRequest) -> InferResult:
        """preprocess -> inference -> postprocess; the result carries the stage timings."""
        handled = self.handle(request)
        return dataclasses.replace(handled.output, timings=handled.timings)

    # --- helpers ------------------------------------------------------------------------

    def _requested(self, names: Sequence[str] | None) -> list[TensorSpec]:
        """The outputs to run: those named, in that order, else all of them."""
        if not names:
            unsupported = [spec for spec in self.outputs if not spec.supported]
            if unsupported:
                first = unsupported[0]
                raise TensorError(
                    f"output {first.name!r} of {self.name} has type {first.datatype}, which the "
                    f"Open Inference Protocol cannot carry; name the outputs you want in "
                    f'"outputs"',
                    param="outputs",
                )
            return list(self.outputs)
        specs: list[TensorSpec] = []
        for index, name in enumerate(names):
            where = f"outputs[{index}]"
            found = self._output_specs.get(name)
            if found is None:
                raise TensorError(
                    f"output {name!r} is not an output of {self.name} "
                    f"(its outputs: {', '.join(repr(s.name) for s in self.outputs)})",
                    param=where,
                )
            if found in specs:
                raise TensorError(f"output {name!r} is requested twice", param=where)
            if not found.supported:
                raise TensorError(
                    f"output {name!r} has type {found.datatype}, which the Open Inference "
                    f"Protocol cannot carry",
                    param=where,
                )
            specs.append(found)
        return specs


# --- request tensor -> numpy ------------------------------------------------------------


def to_array(
    tensor: InputTensor, spec: TensorSpec, where: str, max_elements: int = MAX_ELEMENTS
) -> np.ndarray:
    """Check one request tensor against its spec; the numpy array ONNX Runtime is fed."""
    name = tensor.name
    if not spec.supported:
        raise TensorError(
            f"input {name!r} has type {spec.datatype}, which lamina cannot feed over the "
            f"Open Inference Protocol",
            param=where,
        )
    if tensor.datatype != spec.datatype:
        known = tensor.datatype in NUMPY_DTYPES
        why = "" if known else f" ({', '.join(NUMPY_DTYPES)} are the protocol's datatypes)"
        raise TensorError(
            f"input {name!r} has datatype {tensor.datatype!r}, the model takes "
            f"{spec.datatype}{why}",
            param=where,
        )
    shape = _check_shape(tensor, spec, where)
    count = math.prod(shape)
    if count > max_elements:
        raise TensorError(
            f"input {name!r} has shape {shape}, {count:,} elements; a tensor has at most "
            f"{max_elements:,} here (LAMINA_MAX_TENSOR_ELEMENTS)",
            param=where,
        )
    if tensor.raw is not None:
        return _from_bytes(tensor.raw, shape, spec.datatype, name, where)
    flat = _flatten(tensor.data, shape, name, where)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise TensorError(
            f"input {name!r} has {len(flat)} values, its shape {shape} needs {expected}",
            param=where,
        )
    return _convert(flat, spec.datatype, name, where).reshape(shape)


def _check_shape(tensor: InputTensor, spec: TensorSpec, where: str) -> list[int]:
    name = tensor.name
    shape = list(tensor.shape)
    if not all(type(d) is int for d in shape):
        raise TensorError(f"input {name!r} has shape {shape}: sizes must be integers", param=where)
    if len(shape) > MAX_RANK:
        raise TensorError(
            f"input {name!r} has rank {len(shape)}; a tensor has at most {MAX_RANK} dimensions",
            param=where,
        )
    if any(d < 0 for d in shape):
        raise TensorError(
            f"input {name!r} has a negative size in its shape {shape}; send the actual sizes "
            f"(-1 is only for the model's metadata)",
            param=where,
        )
    if any(d == 0 for d in shape):
        raise TensorError(
            f"input {name!r} has shape {shape}, an empty tensor; send at least one value",
            param=where,
        )
    # Shape () is a scalar or a tensor of unknown rank (ONNX Runtime cannot tell which);
    # for those ONNX Runtime checks the rank itself at run time.
    if spec.shape and len(shape) != len(spec.shape):
        raise TensorError(
            f"input {name!r} has rank {len(shape)} (shape {shape}), the model takes rank "
            f"{len(spec.shape)} (shape {list(spec.shape)})",
            param=where,
        )
    for axis, (got, wanted) in enumerate(zip(shape, spec.shape, strict=False)):
        if wanted >= 0 and got != wanted:
            raise TensorError(
                f"input {name!r} has size {got} in dimension {axis}, the model takes "
                f"{wanted} (shape {list(spec.shape)})",
                param=where,
            )
    return shape


def _bind_symbols(
    spec: TensorSpec, shape: tuple[int, ...], bound: dict[str, tuple[int, str]], where: str
) -> None:
    """Inputs whose dimensions share a symbolic name (``batch``) must agree on its size."""
    for axis, (symbol, size) in enumerate(zip(spec.symbols, shape, strict=False)):
        if symbol is None:
            continue
        if symbol in bound and bound[symbol][0] != size:
            other_size, other = bound[symbol]
            raise TensorError(
                f"input {spec.name!r} has size {size} in dimension {axis} ({symbol!r}), "
                f"input {other!r} has {other_size} there; the model needs them equal",
                param=where,
            )
        bound.setdefault(symbol, (size, spec.name))


def _flatten(data: Sequence[Any], shape: list[int], name: str, where: str) -> list[Any]:
    """Row-major values of flat data, or of nested data that matches ``shape`` exactly."""
    if not isinstance(data, list | tuple):
        raise TensorError(f"input {name!r}: data must be a list", param=where)
    if not any(isinstance(value, list | tuple) for value in data):
        return list(data)
    level: list[Any] = [data]
    for depth, size in enumerate(shape):
        nested: list[Any] = []
        for item in level:
            if not isinstance(item, list | tuple) or len(item) != size:
                got = f"{len(item)} items" if isinstance(item, list | tuple) else repr(item)
                raise TensorError(
                    f"input {name!r}: nested data does not match shape {shape}: at depth "
                    f"{depth} a list of {size} is expected, got {got}",
                    param=where,
                )
            nested.extend(item)
        level = nested
    if any(isinstance(value, list | tuple) for value in level):
        raise TensorError(
            f"input {name!r}: nested data is deeper than its shape {shape}", param=where
        )
    return level


def _bad_value(
    name: str, where: str, index: int, value: Any, datatype: str, wanted: str
) -> TensorError:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return TensorError(
        f"input {name!r}: value {shown} at index {index} (row-major) is not {wanted}, "
        f"as {datatype} needs",
        param=where,
    )


def _first(values: list[Any], ok: Any) -> int | None:
    """Index of the first value ``ok`` refuses, or None."""
    for index, value in enumerate(values):
        if not ok(value):
            return index
    return None


def _convert(values: list[Any], datatype: str, name: str, where: str) -> np.ndarray:
    """JSON values -> numpy of the exact dtype, refusing any value it would change.

    BOOL takes only true/false; integers take ints (and floats with no fraction, as some
    clients write 3.0) within the type's range, never booleans; floats take numbers but
    booleans, and refuse a finite value that overflows the type (1e39 in FP32); BYTES
    takes strings.
    """
    dtype = NUMPY_DTYPES[datatype]
    if datatype == "BOOL":
        bad = _first(values, lambda v: type(v) is bool)
        if bad is not None:
            raise _bad_value(name, where, bad, values[bad], datatype, "true or false")
        return np.array(values, dtype=dtype)
    if datatype == "BYTES":
        bad = _first(values, lambda v: type(v) is str)
        if bad is not None:
            raise _bad_value(name, where, bad, values[bad], datatype, "a string")
        return np.array(values, dtype=dtype)
    if datatype in _FLOATS:
        bad = _first(values, lambda v: type(v) in (int, float))
        if bad is not None:
            raise _bad_value(name, where, bad, values[bad], datatype, "a number")
        try:
            wide = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond float64
            index = _first(values, lambda v: type(v) is float or abs(v) <= sys.float_info.max)
            assert index is not None
            raise _bad_value(name, where, index, values[index], datatype, "in range") from None
        finite = np.isfinite(wide)
        if not finite.all():
            index = int(np.flatnonzero(~finite)[0])
            raise _bad_value(name, where, index, values[index], datatype, "a finite number")
        with np.errstate(over="ignore"):
            array = wide.astype(dtype)
        overflow = np.flatnonzero(np.isinf(array) & np.isfinite(wide))
        if overflow.size:
            index = int(overflow[0])
            raise _bad_value(name, where, index, values[index], datatype, "in range")
        return array
    bad = _first(values, lambda v: type(v) is int or (type(v) is float and v.is_integer()))
    if bad is not None:
        raise _bad_value(name, where, bad, values[bad], datatype, "an integer")
    ints = [int(v) for v in values]
    info = np.iinfo(dtype)
    low, high = min(ints), max(ints)
    if low < info.min or high > info.max:
        index = ints.index(low if low < info.min else high)
        raise _bad_value(
            name, where, index, values[index], datatype, f"in range ({info.min}..{info.max})"
        )
    return np.array(ints, dtype=dtype)


def _from_bytes(raw: bytes, shape: list[int], datatype: str, name: str, where: str) -> np.ndarray:
    """Binary tensor data -> numpy of the exact dtype, refusing a byte count that does not
    match the shape, a BOOL byte other than 0 or 1, a NaN or infinity, BYTES that are not
    UTF-8 (ONNX Runtime's string tensors hold text)."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return np.array(_bytes_elements(raw, shape, name, where), dtype=object).reshape(shape)
    dtype = NUMPY_DTYPES[datatype]
    needed = count * dtype.itemsize
    if len(raw) != needed:
        raise TensorError(
            f"input {name!r} has {len(raw)} bytes of binary data, its shape {shape} of "
            f"{datatype} needs {needed} ({dtype.itemsize} per value)",
            param=where,
        )
    if datatype == "BOOL":
        octets = np.frombuffer(raw, dtype=np.uint8)
        bad = np.flatnonzero(octets > 1)
        if bad.size:
            index = int(bad[0])
            raise TensorError(
                f"input {name!r}: byte {int(octets[index])} at index {index} (row-major) is "
                "not a BOOL (0 or 1)",
                param=where,
            )
        return octets.astype(np.bool_).reshape(shape)
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype)
    if datatype in _FLOATS:
        finite = np.isfinite(array)
        if not finite.all():
            index = int(np.flatnonzero(~finite)[0])
            raise _bad_value(name, where, index, array[index].item(), datatype, "a finite number")
    return array.reshape(shape)


def _bytes_elements(raw: bytes, shape: list[int], name: str, where: str) -> list[str]:
    """The elements of a binary BYTES tensor: each a 4-byte little-endian length, then that
    many bytes of UTF-8; exactly as many as ``shape`` holds, filling ``raw``."""
    count = math.prod(shape)
    elements: list[str] = []
    offset = 0
    while offset < len(raw):
        if len(elements) == count:
            raise TensorError(
                f"input {name!r}: binary data goes on after its {count} BYTES elements "
                f"({len(raw) - offset} bytes left at byte {offset})",
                param=where,
            )
        if offset + 4 > len(raw):
            raise TensorError(
                f"input {name!r}: BYTES element {len(elements)} at byte {offset} has no "
                "4-byte length",
                param=where,
            )
        size = int.from_bytes(raw[offset : offset + 4], "little")
        start, offset = offset + 4, offset + 4 + size
        if offset > len(raw):
            raise TensorError(
                f"input {name!r}: BYTES element {len(elements)} says {size} bytes, only "
                f"{len(raw) - start} are left",
                param=where,
            )
        try:
            elements.append(raw[start:offset].decode("utf-8"))
        except UnicodeDecodeError:
            raise TensorError(
                f"input {name!r}: BYTES element {len(elements)} is not UTF-8 text",
                param=where,
            ) from None
    if len(elements) != count:
        raise TensorError(
            f"input {name!r} has {len(elements)} BYTES elements, its shape {shape} needs {count}",
            param=where,
        )
    return elements


# --- numpy -> response tensor -----------------------------------------------------------


def _values(array: np.ndarray) -> list[Any]:
    """Flat row-major plain Python values: bool, int, float (FP16 too) or str."""
    flat = array.reshape(-1)
    if flat.dtype == object or flat.dtype.kind in "SU":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    return list(flat.tolist())


def _raw(array: np.ndarray, datatype: str) -> bytes:
    """The binary tensor data extension's bytes of an output."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for value in array.reshape(-1):
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(len(data).to_bytes(4, "little"))
            parts.append(data)
        return b"".join(parts)
    dtype = NUMPY_DTYPES[datatype]
    return np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")).tobytes()
