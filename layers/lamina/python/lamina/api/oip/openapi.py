"""The Open Inference Protocol's part of the ONNX function's OpenAPI document.

FastAPI documents what it sees: lamina's error body (``ErrorBody``, OpenAI-shaped) and its
statuses on every route, and no request body for ``infer``, which reads its body itself
(JSON, or the binary tensor data extension: ``lamina.api.oip.binary``). ``oip_openapi``
wraps ``app.openapi`` so that every ``/v2`` operation says exactly what it answers:

- errors: the protocol's ``{"error": "<message>"}`` (``OipError``), for the statuses the
  route can answer: 400 for a malformed body or tensor (never 422), 404, 413, 500, 503;
- ``infer``'s request body: ``application/json`` (``InferenceRequest``) or the binary form,
  ``application/octet-stream`` with the ``Inference-Header-Content-Length`` header;
- ``infer``'s answer: JSON, or the binary form with the same header.

Routes outside ``/v2`` (``/health``, the docs) keep lamina's error body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from lamina.api.errors import is_oip_path
from lamina.api.oip.binary import BINARY_MEDIA_TYPE, HEADER
from lamina.api.oip.schemas import InferenceRequest, OipError

REF = "#/components/schemas/{model}"

# The error statuses of each kind of /v2 route, and what each means there.
_INFER_ERRORS = {
    "400": "The body or a tensor is malformed or does not match the model's signature; the "
    "message names the input.",
    "404": "No such model, or not this version.",
    "413": "Body over the configured limit.",
    "500": "Unexpected server error.",
    "503": "The models are not loaded (refused at cold start); see the function's logs.",
}
_MODEL_ERRORS = {code: _INFER_ERRORS[code] for code in ("404", "500", "503")}
_SERVER_ERRORS = {"500": _INFER_ERRORS["500"]}
_READY_ERRORS = {code: _INFER_ERRORS[code] for code in ("500", "503")}

_BINARY_BODY = {"type": "string", "format": "binary"}
_HEADER_DESCRIPTION = (
    "Binary tensor data extension: the length in bytes of the JSON inference {what} at the "
    "start of the body; the rest is the raw data of the {tensors} whose "
    "`parameters.binary_data_size` says how many bytes are theirs, in order."
)
_HEADER_SCHEMA = {"type": "integer", "minimum": 0}


def _errors(path: str, method: str) -> dict[str, str]:
    if method == "post":
        return _INFER_ERRORS
    if path.startswith("/v2/models/"):
        return _MODEL_ERRORS
    if path == "/v2/health/ready":
        return _READY_ERRORS
    return _SERVER_ERRORS


def _error_response(description: str) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=OipError.__name__)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _request_schemas() -> dict[str, Any]:
    """InferenceRequest's schema and those it uses, by name, with component references."""
    schema = TypeAdapter(InferenceRequest).json_schema(ref_template=REF, mode="validation")
    defs: dict[str, Any] = schema.pop("$defs", {})
    return {**defs, InferenceRequest.__name__: schema}


def _document_infer(operation: dict[str, Any]) -> None:
    operation["parameters"] = [
        *operation.get("parameters", []),
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "description": _HEADER_DESCRIPTION.format(what="request", tensors="inputs")
            + " Absent: the whole body is JSON.",
            "schema": _HEADER_SCHEMA,
        },
    ]
    operation["requestBody"] = {
        "required": True,
        "description": "The inference request as JSON (no Content-Type needed), or a JSON "
        f"header and binary tensor data ({HEADER}).",
        "content": {
            "application/json": {"schema": {"$ref": REF.format(model="InferenceRequest")}},
            BINARY_MEDIA_TYPE: {"schema": _BINARY_BODY},
        },
    }
    ok = operation["responses"]["200"]
    ok["description"] = (
        "The outputs: JSON, or, when some output is asked for as binary data "
        "(`binary_data`, `binary_data_output`), a JSON header and the outputs' raw bytes."
    )
    ok.setdefault("content", {})[BINARY_MEDIA_TYPE] = {"schema": _BINARY_BODY}
    ok["headers"] = {
        HEADER: {
            "required": False,
            "description": _HEADER_DESCRIPTION.format(what="response", tensors="outputs")
            + " Sent with a binary response only.",
            "schema": _HEADER_SCHEMA,
        }
    }


def document(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (FastAPI's) with the protocol's errors, bodies and headers under /v2."""
    for path, item in document.get("paths", {}).items():
        if not is_oip_path(path):
            continue
        for method, operation in item.items():
            if method not in {"get", "post"}:
                continue
            responses = {"200": operation["responses"]["200"]}
            for code, description in _errors(path, method).items():
                responses[code] = _error_response(description)
            operation["responses"] = responses
            if method == "post":
                _document_infer(operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    added = {
        OipError.__name__: OipError.model_json_schema(ref_template=REF),
        **_request_schemas(),
    }
    merged = {**schemas, **added}
    schemas.clear()
    schemas.update(sorted(merged.items()))
    return document


def oip_openapi(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with ``document`` applied once (FastAPI caches the document)."""
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not done:
            done.append(document(generate()))
        return done[0]

    return openapi
