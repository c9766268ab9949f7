"""The Open Inference Protocol's request body, JSON or binary tensor data, and its answer.

The binary tensor data extension (Triton's ``extension_binary_data.md``; tritonclient and
the kserve client use it by default): when the request carries an
``Inference-Header-Content-Length: N`` header, the first N bytes of the body are the JSON
inference request and the rest is the raw data of the inputs whose
``parameters.binary_data_size`` says how many bytes are theirs, in the order of the inputs.
The bytes must add up exactly. Without the header the whole body is JSON. The protocol
requires no Content-Type (tritonclient sends none), so none is checked.

An output goes back as binary data when its ``parameters.binary_data`` is true, or when it
says nothing and the request's ``parameters.binary_data_output`` is true (tritonclient asks
for every output so when it names none). Then the response is the JSON header (those
outputs with ``parameters.binary_data_size`` and no ``data``) followed by their bytes, with
``Inference-Header-Content-Length`` and ``Content-Type: application/octet-stream``; else it
is plain JSON.

Every refusal is a 400 (``TensorError``, or the app's validation error) that says what is
wrong and, where there is one, names the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lamina.api.oip.schemas import InferenceRequest, InferenceResponse
from lamina.errors import TensorError

# The header's name (HTTP headers are case-insensitive; Starlette's lookup is too).
HEADER = "Inference-Header-Content-Length"
BINARY_MEDIA_TYPE = "application/octet-stream"
# Parameters of extensions lamina does not implement: refused, not silently ignored.
_UNSUPPORTED = {
    "shared_memory_region": "the shared-memory extension",
    "classification": "the classification extension",
}


@dataclass(frozen=True)
class ParsedRequest:
    """The JSON inference request and, per input in order, its binary data (or None)."""

    request: InferenceRequest
    raw: list[bytes | None]


def header_length(value: str | None, body_size: int) -> int | None:
    """``Inference-Header-Content-Length`` as a byte count within the body; None if absent."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise TensorError(
            f"{HEADER} must be the JSON header's length in bytes, a non-negative integer "
            f"(got {value[:40]!r})",
            param=HEADER,
        )
    length = int(text)
    if length > body_size:
        raise TensorError(
            f"{HEADER} is {length}, but the body has only {body_size} bytes", param=HEADER
        )
    return length


def parse_request(body: bytes, header: str | None) -> ParsedRequest:
    """The request of ``body``: JSON, or a JSON header of ``header`` bytes and binary data."""
    length = header_length(header, len(body))
    text, binary = (body, b"") if length is None else (body[:length], body[length:])
    try:
        request = InferenceRequest.model_validate_json(text)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if length is not None and any(err.get("type") == "json_invalid" for err in errors):
            raise TensorError(
                f"the first {length} bytes of the body ({HEADER}) are not a valid JSON "
                "inference request",
                param=HEADER,
            ) from None
        raise RequestValidationError(errors) from None
    _check_parameters(request)
    return ParsedRequest(request, _split(request, binary, length))


def _check_parameters(request: InferenceRequest) -> None:
    """The binary extension's parameters have their types; other extensions are refused."""
    _flag(request.parameters, "binary_data_output", "parameters")
    named: list[tuple[str, str, dict[str, Any] | None]] = [
        *(
            (f"inputs[{i}]", f"input {t.name!r}", t.parameters)
            for i, t in enumerate(request.inputs)
        ),
        *(
            (f"outputs[{i}]", f"output {o.name!r}", o.parameters)
            for i, o in enumerate(request.outputs or [])
        ),
    ]
    for where, what, parameters in named:
        for key, extension in _UNSUPPORTED.items():
            if parameters and key in parameters:
                raise TensorError(
                    f"{what} has parameter {key!r}: lamina does not support {extension}",
                    param=where,
                )
    for index, output in enumerate(request.outputs or []):
        _flag(output.parameters, "binary_data", f"outputs[{index}]")


def _flag(parameters: dict[str, Any] | None, key: str, where: str) -> bool | None:
    value = (parameters or {}).get(key)
    if value is not None and type(value) is not bool:
        raise TensorError(
            f"{where}: parameter {key!r} must be true or false (got {value!r})", param=where
        )
    return value


def _split(request: InferenceRequest, binary: bytes, length: int | None) -> list[bytes | None]:
    """Each input's slice of the binary data, in order; they must use it all, exactly."""
    raw: list[bytes | None] = []
    offset = 0
    for index, tensor in enumerate(request.inputs):
        where = f"inputs[{index}]"
        parameters = tensor.parameters or {}
        if "binary_data_size" not in parameters:
            if tensor.data is None:
                raise TensorError(
                    f"input {tensor.name!r} has no data: give `data`, or "
                    "`parameters.binary_data_size` and the bytes after the JSON header",
                    param=where,
                )
            raw.append(None)
            continue
        size = parameters["binary_data_size"]
        if type(size) is not int or size < 0:
            raise TensorError(
                f"input {tensor.name!r}: binary_data_size must be a non-negative integer "
                f"(got {size!r})",
                param=where,
            )
        if tensor.data is not None:
            raise TensorError(
                f"input {tensor.name!r} has both `data` and binary_data_size; send one",
                param=where,
            )
        if length is None:
            raise TensorError(
                f"input {tensor.name!r} has binary_data_size {size}, but the request has no "
                f"{HEADER} header, so the whole body is its JSON",
                param=where,
            )
        if offset + size > len(binary):
            raise TensorError(
                f"input {tensor.name!r} has binary_data_size {size} at byte {offset} of the "
                f"binary data, which has only {len(binary)} bytes",
                param=where,
            )
        raw.append(binary[offset : offset + size])
        offset += size
    if offset != len(binary):
        raise TensorError(
            f"the body has {len(binary)} bytes after the JSON header ({HEADER}), the inputs' "
            f"binary_data_size add up to {offset}",
            param=HEADER,
        )
    return raw


def binary_outputs(request: InferenceRequest, names: list[str]) -> list[bool]:
    """Whether each output (by name, in the response's order) goes back as binary data."""
    default = bool(_flag(request.parameters, "binary_data_output", "parameters"))
    asked: dict[str, bool] = {}
    for index, output in enumerate(request.outputs or []):
        flag = _flag(output.parameters, "binary_data", f"outputs[{index}]")
        if flag is not None:
            asked[output.name] = flag
    return [asked.get(name, default) for name in names]


def encode_response(response: InferenceResponse, raw: list[bytes]) -> tuple[bytes, int | None]:
    """The response body and, when some output is binary, the JSON header's length."""
    header = response.model_dump_json(exclude_none=True).encode()
    if not raw:
        return header, None
    return header + b"".join(raw), len(header)
