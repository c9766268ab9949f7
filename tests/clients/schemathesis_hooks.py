"""Schemathesis hooks of the contract test (tests/integration/test_contract.py): loaded by the
schemathesis CLI in .venv-clients (``hooks`` in schemathesis.toml), never by pytest.

One extra check, ``lamina_schema_valid_rejections``, that runs beside every built-in one:
a schema-valid request (a positive case) that gets a 4xx must be one of the rejections the
OpenAPI documents describe but JSON Schema cannot state; anything else is a failure, even
where the built-in ``positive_data_acceptance`` lets the status through (schemathesis.toml
explains why it lets 404, 413 and 422 through). Each entry says why the rejection is
legitimate, and where the request shows whether it is, the check asks the request.

The limits it needs are the server's: the harness starts the server with them and passes
them here in the environment (``LAMINA_CONTRACT_MAX_TEXT_CHARS``...).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from typing import Any

import schemathesis

MAX_TEXT_CHARS = int(os.environ.get("LAMINA_CONTRACT_MAX_TEXT_CHARS", "20000"))
MAX_SPLIT_TEXT_CHARS = int(os.environ.get("LAMINA_CONTRACT_MAX_SPLIT_TEXT_CHARS", "50000"))
# The request budgets of every text route (lamina.settings defaults; the harness sets none).
MAX_REQUEST_CHARS = int(os.environ.get("LAMINA_CONTRACT_MAX_REQUEST_CHARS", "100000"))
MAX_REQUEST_TOKENS = int(os.environ.get("LAMINA_CONTRACT_MAX_REQUEST_TOKENS", "65536"))
# The longest input either embedding model reads (e5: 512 tokens; MiniLM: 256).
MAX_SEQ_LENGTH = 512
# The shortest text that can be over a model's token limit (256 for MiniLM, 512 for e5; a
# character is at most two tokens with either tokenizer): anything shorter rejected as
# text_too_long is a bug, not a limit.
MIN_CHARS_OVER_TOKEN_LIMIT = 100

# The generic function's served models and its query model's parameters, when the harness
# names them: the hooks below aim a share of the generated requests at them, so that the
# fuzzed values reach a model's own checks rather than a 404 for a random name.
SERVED_MODELS = [m for m in os.environ.get("LAMINA_CONTRACT_MODELS", "").split(",") if m]
SQL_PARAMETERS = [p for p in os.environ.get("LAMINA_CONTRACT_SQL_PARAMETERS", "").split(",") if p]

Body = Any
Rule = Callable[[Body, dict[str, Any]], bool]


def _pick(value: object, choices: list[str], keep_one_in: int) -> str | None:
    """A choice derived from the drawn value (the same value, the same choice: a run stays
    its seed's), or None for about one draw in ``keep_one_in``."""
    slot = zlib.crc32(repr(value).encode()) % (len(choices) * keep_one_in)
    return choices[slot % len(choices)] if slot >= len(choices) else None


@schemathesis.hook
def map_path_parameters(ctx: Any, path_parameters: Any) -> Any:
    """Most drawn model names become a served model's; the rest stay random (404s)."""
    if SERVED_MODELS and isinstance(path_parameters, dict) and "name" in path_parameters:
        chosen = _pick(path_parameters["name"], SERVED_MODELS, 4)
        if chosen is not None:
            path_parameters["name"] = chosen
    return path_parameters


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    """A predict body's drawn parameter names mostly become the query model's own, with the
    drawn values: those reach its type, range and choice checks."""
    path = getattr(getattr(ctx, "operation", None), "path", "")
    if not SQL_PARAMETERS or path != "/api/v1/models/{name}/predict":
        return body
    if not isinstance(body, dict) or not isinstance(body.get("parameters"), dict):
        return body
    renamed: dict[str, Any] = {}
    for key, value in body["parameters"].items():
        renamed[_pick(key, SQL_PARAMETERS, 4) or key] = value
    return {**body, "parameters": renamed}


def _texts(body: Body, *fields: str) -> list[str]:
    out: list[str] = []
    for field in fields:
        value = body.get(field) if isinstance(body, dict) else None
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, str))
    return out


def _split(body: Body) -> bool:
    return isinstance(body, dict) and body.get("long_text") == "split"


def _rejects_tokens(*fields: str) -> Rule:
    """text_too_long: a text is over the model's token limit and the request asked for that
    to be an error (long_text=reject or truncate=false). Token counts are not in the schema."""

    def rule(body: Body, error: dict[str, Any]) -> bool:
        if not isinstance(body, dict):
            return False
        rejects = body.get("long_text") == "reject" or (
            body.get("truncate") is False and body.get("long_text") != "split"
        )
        long_enough = any(len(t) >= MIN_CHARS_OVER_TOKEN_LIMIT for t in _texts(body, *fields))
        return rejects and long_enough

    return rule


def _too_many_chars(*fields: str) -> Rule:
    """text_too_many_chars: the schema's maxLength is LAMINA_MAX_SPLIT_TEXT_CHARS (what
    long_text=split accepts); without split a text is limited to LAMINA_MAX_TEXT_CHARS, and
    with split all texts together to LAMINA_MAX_SPLIT_TEXT_CHARS. Neither is JSON Schema."""

    def rule(body: Body, error: dict[str, Any]) -> bool:
        texts = _texts(body, *fields)
        if _split(body):
            return sum(len(t) for t in texts) > MAX_SPLIT_TEXT_CHARS
        return any(len(t) > MAX_TEXT_CHARS for t in texts)

    return rule


def _zero_shot_chars(body: Body) -> int:
    """The characters a zero-shot request has the model read: the text and every label as
    the template phrases it (as lamina.inference.zeroshot.phrase_chars counts them)."""
    if not isinstance(body, dict):
        return 0
    template = body.get("hypothesis_template", "{}")
    template = template if isinstance(template, str) else "{}"
    text = body.get("text")
    total = len(text) if isinstance(text, str) else 0
    for label in _texts(body, "labels"):
        total += len(template) + template.count("{}") * (len(label) - 2)
    return total


def _request_chars(*fields: str) -> Rule:
    """request_too_many_chars: LAMINA_MAX_REQUEST_CHARS bounds all texts of a request
    together (for zero-shot, the labels as phrased); JSON Schema states no such sum."""

    def rule(body: Body, error: dict[str, Any]) -> bool:
        if fields:
            return sum(len(t) for t in _texts(body, *fields)) > MAX_REQUEST_CHARS
        return _zero_shot_chars(body) > MAX_REQUEST_CHARS

    return rule


def _zero_shot_tokens(body: Body, error: dict[str, Any]) -> bool:
    """request_too_many_tokens: LAMINA_MAX_REQUEST_TOKENS, counted by the tokenizer; a
    character is at most two tokens (and each phrase has 2 special tokens), so only a
    request of over a quarter as many characters can be refused."""
    labels = _texts(body, "labels")
    return 2 * _zero_shot_chars(body) + 2 * (1 + len(labels)) > MAX_REQUEST_TOKENS


def _embedding_tokens(*fields: str) -> Rule:
    """request_too_many_tokens on an embedding route: LAMINA_MAX_REQUEST_TOKENS, counted by
    the tokenizer after each text is cut at the model's limit (split: over all windows,
    which overlap). A character is at most two tokens, plus a prompt and special tokens."""

    def rule(body: Body, error: dict[str, Any]) -> bool:
        texts = _texts(body, *fields)
        if _split(body):
            most = sum(4 * len(t) + 64 for t in texts)  # overlapping windows: generous
        else:
            most = sum(min(2 * len(t) + 16, MAX_SEQ_LENGTH) for t in texts)
        return most > MAX_REQUEST_TOKENS

    return rule


def _always(body: Body, error: dict[str, Any]) -> bool:
    return True


def _dimensions_over_model(body: Body, error: dict[str, Any]) -> bool:
    """dimensions over the model's own (384 for both served models): the model's dimension
    is in GET /api/v1/model-info, not in the request's schema."""
    dimensions = body.get("dimensions") if isinstance(body, dict) else None
    # 385.0 is an integer to JSON Schema (and to the server) as much as 385 is
    integral = isinstance(dimensions, int | float) and not isinstance(dimensions, bool)
    return integral and float(dimensions) > 384


# (method, path as documented) -> (status, error code) -> rule. Every route: 404
# model_not_found for a
# `model` that is not served (any string is schema-valid; GET /v1/models lists the served
# ones), 413 body_too_large (LAMINA_MAX_BODY_BYTES: many long texts can be schema-valid and
# still over it).
# 409 model_mismatch: x-expect-model-fingerprint names a fingerprint (any 64 hex digits is
# schema-valid) that is not the answering model's.
COMMON: dict[tuple[int, str], Rule] = {
    (404, "model_not_found"): _always,
    (409, "model_mismatch"): _always,
    (413, "body_too_large"): _always,
}
EMBEDDING = {
    (422, "text_too_long"): _rejects_tokens("text", "texts", "input"),
    (422, "text_too_many_chars"): _too_many_chars("text", "texts", "input"),
    (422, "request_too_many_chars"): _request_chars("text", "texts", "input"),
    (422, "request_too_many_tokens"): _embedding_tokens("text", "texts", "input"),
}
# Outcomes of A/B tests: any model name is schema-valid; only the server knows which of its
# models are under a test (LAMINA_AB_CANDIDATES).
OUTCOMES = {(422, "no_ab_test"): _always}
ALLOWED: dict[tuple[str, str], dict[tuple[int, str], Rule]] = {
    ("POST", "/api/v1/outcomes"): OUTCOMES,
    ("POST", "/api/v1/classify/outcomes"): OUTCOMES,
    ("POST", "/api/v1/classify-image/outcomes"): OUTCOMES,
    ("POST", "/api/v1/models/outcomes"): OUTCOMES,
    # Any job id of the right shape is schema-valid; only the store knows which exist.
    ("GET", "/api/v1/jobs/{job_id}"): {(404, "job_not_found"): _always},
    ("POST", "/api/v1/embed"): EMBEDDING,
    ("POST", "/api/v1/embed-batch"): EMBEDDING,
    # Search: any collection name of the right shape is schema-valid, only the index knows
    # which exist; the same for item ids; a vector's length must be the collection's
    # dimension, which GET /api/v1/collections states, not the request's schema.
    ("POST", "/api/v1/search"): {
        (404, "collection_not_found"): _always,
        (422, "invalid_input"): lambda body, error: error.get("param") == "vector",
    },
    ("POST", "/api/v1/recommend"): {
        (404, "collection_not_found"): _always,
        (404, "item_not_found"): _always,
    },
    ("POST", "/api/v1/similarity"): {
        (422, "request_too_many_chars"): _request_chars("query", "candidates"),
        (422, "request_too_many_tokens"): _embedding_tokens("candidates"),
    },
    ("POST", "/v1/embeddings"): {
        **EMBEDDING,
        (422, "invalid_input"): _dimensions_over_model,
    },
    ("POST", "/api/v1/classify"): {
        (422, "text_too_long"): _rejects_tokens("text", "texts"),
        (422, "request_too_many_chars"): _request_chars("texts"),
    },
    ("POST", "/api/v1/classify/zero-shot"): {
        (422, "request_too_many_chars"): _request_chars(),
        (422, "request_too_many_tokens"): _zero_shot_tokens,
    },
    # A query model's parameters are its own (GET /v2/models/{name} lists them): one schema
    # for every model takes any names and scalar values, and the model refuses what it does
    # not take, naming the parameter; predict on an ONNX graph names `name`.
    ("POST", "/api/v1/models/{name}/predict"): {
        (422, "invalid_parameter"): lambda body, error: (
            str(error.get("param")).startswith("parameters.") or error.get("param") == "name"
        ),
    },
    ("POST", "/api/v1/classify-image"): {
        # A base64 string or a body that is not a PNG or JPEG: the schema says "PNG or JPEG"
        # (contentMediaType), which no JSON Schema validator checks.
        (422, "invalid_image"): _always,
        # Over LAMINA_MAX_IMAGE_PIXELS, read from the image's header.
        (413, "image_too_large"): _always,
        # Over LAMINA_MAX_REQUEST_PIXELS together, read from the images' headers.
        (413, "request_too_many_pixels"): _always,
        # ?top_k= with a JSON body (the query parameter is for raw image bodies; its
        # description says so): OpenAPI cannot tie a query parameter to a media type.
        (422, "invalid_input"): lambda body, error: error.get("param") == "top_k",
    },
}


@schemathesis.check
def lamina_schema_valid_rejections(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status >= 500 or status in (405,):
        return None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict) or "code" not in error:
        return None  # not lamina's ErrorBody (/v2, TEI): the built-in checks judge those
    code = str(error["code"])
    rules = {**COMMON, **ALLOWED.get((case.method.upper(), case.path), {})}
    rule = rules.get((status, code))
    if rule is not None and rule(case.body, error):
        return None
    raise AssertionError(
        f"schema-valid request rejected with {status} {code} "
        f"(param {error.get('param')!r}: {error.get('message')!r}); the OpenAPI document "
        "should say this input is invalid, or the server should accept it"
    )
