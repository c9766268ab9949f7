"""Where an ONNX graph's tensors keep their data: every external-data location, no data read.

A tensor stored outside the graph (``data_location: EXTERNAL``) names its file in
``external_data`` (``location``, relative to the graph's directory). ONNX Runtime opens that
file when it builds the session, so a graph naming ``../../etc/...`` or an absolute path
would read a file no manifest vouches for. ``external_locations`` lists every location a
graph names; ``check_external_data`` refuses a graph whose locations leave the model
directory or are not files the manifest lists (and so checked by sha256).

The runtime image has no ``onnx`` package, so this walks the protobuf wire format itself,
reading only the fields that can hold a tensor (initializers, sparse initializers, node
attributes, subgraphs, functions, training info) and skipping everything else, raw weights
included, by length: a few milliseconds for a 100 MB graph, at publish and at every load.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from lamina.errors import ModelLoadError

# Field numbers (onnx/onnx.proto3). Message -> {field: message type it holds}.
_TENSOR = "tensor"
_FIELDS: dict[str, dict[int, str]] = {
    # ModelProto: graph, training_info, functions
    "model": {7: "graph", 20: "training", 25: "function"},
    # GraphProto: node, initializer, sparse_initializer
    "graph": {1: "node", 5: _TENSOR, 15: "sparse"},
    # FunctionProto: node
    "function": {7: "node"},
    # TrainingInfoProto: initialization, algorithm
    "training": {1: "graph", 2: "graph"},
    # NodeProto: attribute
    "node": {5: "attribute"},
    # AttributeProto: t, g, tensors, graphs, sparse_tensor, sparse_tensors
    "attribute": {5: _TENSOR, 6: "graph", 10: _TENSOR, 11: "graph", 22: "sparse", 23: "sparse"},
    # SparseTensorProto: values, indices
    "sparse": {1: _TENSOR, 2: _TENSOR},
}
_TENSOR_EXTERNAL_DATA = 13  # repeated StringStringEntryProto (key = 1, value = 2)
_TENSOR_DATA_LOCATION = 14  # enum: 0 DEFAULT, 1 EXTERNAL
_MAX_DEPTH = 64


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ModelLoadError("the graph is not a valid ONNX protobuf (bad varint)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end or varint value) of one message."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, pos
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise ModelLoadError("the graph is not a valid ONNX protobuf (truncated field)")
            yield number, wire, pos, pos + length
            pos += length
        elif wire == 3:  # a (deprecated) group: no ONNX field is one; skipped like protobuf
            pos = _skip_group(buf, pos, end, number)
        else:
            raise ModelLoadError(f"the graph is not a valid ONNX protobuf (wire type {wire})")
        if pos > end:
            raise ModelLoadError("the graph is not a valid ONNX protobuf (truncated field)")


def _skip_group(buf: memoryview, pos: int, end: int, number: int) -> int:
    """The position after the end-group tag of group ``number`` that starts at ``pos``."""
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if wire == 4:
            if field != number:
                break
            return pos
        if wire == 0:
            _, pos = _varint(buf, pos, end)
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            pos += length
        elif wire == 3:
            pos = _skip_group(buf, pos, end, field)
        else:
            break
    raise ModelLoadError("the graph is not a valid ONNX protobuf (unterminated group)")


def _tensor_locations(buf: memoryview, start: int, end: int) -> list[str]:
    """A tensor's external-data locations: none if its data is in the graph. Every
    ``location`` entry counts (a reader may take any of them), and a tensor marked external
    without one gives "" (refused as an empty path)."""
    external = False
    locations: list[str] = []
    for number, wire, a, b in _fields(buf, start, end):
        if number == _TENSOR_DATA_LOCATION and wire == 0:
            external = external or a == 1
        elif number == _TENSOR_EXTERNAL_DATA and wire == 2:
            key: str | None = None
            value = ""
            for n, w, c, d in _fields(buf, a, b):
                if w == 2 and n in (1, 2):
                    text = bytes(buf[c:d]).decode("utf-8", errors="replace")
                    if n == 1:
                        key = text
                    else:
                        value = text
            if key == "location":
                locations.append(value)
    if not locations and external:
        return [""]
    return locations


def _walk(buf: memoryview, kind: str, start: int, end: int, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        raise ModelLoadError("the graph nests subgraphs too deeply")
    children = _FIELDS[kind]
    for number, wire, a, b in _fields(buf, start, end):
        child = children.get(number)
        if child is None or wire != 2:
            continue
        if child == _TENSOR:
            yield from _tensor_locations(buf, a, b)
        else:
            yield from _walk(buf, child, a, b, depth + 1)


def external_locations(graph: Path) -> list[str]:
    """Every external-data location ``graph`` (an .onnx file) names, in order, repeats kept."""
    with graph.open("rb") as handle:
        size = graph.stat().st_size
        if size == 0:
            raise ModelLoadError("the graph file is empty")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            buf = memoryview(mapped)
            try:
                return list(_walk(buf, "model", 0, size, 0))
            finally:
                buf.release()


def unsafe_path(relative: str) -> str | None:
    """Why ``relative`` may not name a file of a model directory, None if it may: it must be
    a relative POSIX path of plain names (no absolute path, drive, backslash, ``..``, ``.``,
    empty part or control character)."""
    if not relative:
        return "empty path"
    if any(ord(ch) < 32 or ch == "\x7f" for ch in relative):
        return "control character"
    if "\\" in relative or ":" in relative:
        return "backslash or drive"
    path = PurePosixPath(relative)
    if path.is_absolute():
        return "absolute path"
    if any(part in ("", ".", "..") for part in relative.split("/")):
        return "'..', '.' or empty part"
    return None


def check_external_data(root: Path, graph_file: str, listed: set[str]) -> None:
    """Refuse a graph whose external data leaves ``root`` or is not a listed (hashed) file.

    Locations are relative to the graph's own directory, as ONNX Runtime reads them. A listed
    file may be a link: the sha256 check reads its bytes, wherever they are.
    """
    graph_dir = PurePosixPath(graph_file).parent
    try:
        locations = external_locations(root / graph_file)
    except ModelLoadError:
        # Not a protobuf at all (any valid one parses here, unknown fields and groups
        # skipped): ONNX Runtime refuses it too, before it could open any other file.
        return
    for location in sorted(set(locations)):
        why = unsafe_path(location)
        if why is not None:
            raise ModelLoadError(
                f"{graph_file} names external data at {location!r} ({why}): "
                "external data must stay inside the model directory"
            )
        relative = str(graph_dir / location) if str(graph_dir) != "." else location
        if relative not in listed:
            raise ModelLoadError(
                f"{graph_file} names external data at {location!r}, a file the manifest "
                "does not list (so no sha256 vouches for it)"
            )
