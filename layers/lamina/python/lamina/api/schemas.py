"""Request and response pieces every API feature shares; every field is described for OpenAPI.

Each feature keeps its own models in ``lamina.api.<feature>.schemas``. Input models only
check shape and type (strict: a number is not a text, 0 is not a boolean). Limits that come
from settings (item count, characters) are checked by ``lamina.api.validation``; the OpenAPI
document states them too: a field's schema names the setting (``LIMITS_KEY``) and the app
writes its value in when the document is made (``lamina.api.app``), so the document says
what this deployment accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from lamina.inference.embedder import InputType as InputType
from lamina.inference.embedder import LongText as LongText
from lamina.models.manifest import Manifest
from lamina.settings import Settings

# A text must hold a character that is not whitespace: a character outside this class,
# which lists exactly the code points ``str.isspace`` calls whitespace. The server's check is
# this pattern (``lamina.api.validation.check_text``; the same as ``text.strip()`` being
# non-empty), and JSON Schema's ``pattern`` matches anywhere in the string, so the document
# and the server agree exactly. Spelled out rather than ``\S``: ``\s`` differs between
# regex dialects (ECMA-262 and Rust leave out U+001C..U+001F, which Python counts), and a
# client validates with its own (schemathesis: jsonschema-rs); this class reads the same in
# ECMA-262, Python's ``re`` and Rust's ``regex`` (tests/unit/test_api_schemas.py checks
# every code point).
NON_BLANK = r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# Where a field's schema names the settings that bound it: {"maxLength": "max_text_chars"},
# or [setting, offset] ({"maxItems": ["max_batch_items", -1]}). Replaced by the values when
# the OpenAPI document is made (``apply_limits``).
LIMITS_KEY = "x-lamina-limits"


def limits(**bounds: str | tuple[str, int]) -> dict[str, Any]:
    """A schema fragment that bounds a field by settings (see ``LIMITS_KEY``)."""
    return {LIMITS_KEY: {key: list(v) if isinstance(v, tuple) else v for key, v in bounds.items()}}


def apply_limits(node: Any, settings: Settings) -> None:
    """Write the settings' values over every ``LIMITS_KEY`` in a JSON document, in place."""
    if isinstance(node, list):
        for item in node:
            apply_limits(item, settings)
        return
    if not isinstance(node, dict):
        return
    marks = node.pop(LIMITS_KEY, None)
    for key, bound in (marks or {}).items():
        name, offset = (bound, 0) if isinstance(bound, str) else bound
        node[key] = int(getattr(settings, name)) + int(offset)
    for value in node.values():
        apply_limits(value, settings)


def _text_schema(max_chars: str) -> dict[str, Any]:
    return {"minLength": 1, "pattern": NON_BLANK, **limits(maxLength=max_chars)}


# A text the server accepts: not empty or only whitespace (422 empty_text), at most
# LAMINA_MAX_TEXT_CHARS characters (422 text_too_many_chars).
Text = Annotated[StrictStr, Field(json_schema_extra=_text_schema("max_text_chars"))]
# A text of a route that takes long_text=split: up to LAMINA_MAX_SPLIT_TEXT_CHARS with split,
# LAMINA_MAX_TEXT_CHARS otherwise (the schema says the larger; the field's description and
# the 422 text_too_many_chars say which applies).
SplitText = Annotated[StrictStr, Field(json_schema_extra=_text_schema("max_split_text_chars"))]
# Lists of texts: at most LAMINA_MAX_BATCH_ITEMS (422 too_many_items), and together at most
# LAMINA_MAX_REQUEST_CHARS characters and LAMINA_MAX_REQUEST_TOKENS tokens (REQUEST_BUDGET).
# JSON Schema has no keyword for a sum over items, so the two budgets' values are written as
# the extensions x-max-request-chars and x-max-request-tokens beside maxItems.
BUDGET = {"x-max-request-chars": "max_request_chars", "x-max-request-tokens": "max_request_tokens"}
BATCH = limits(maxItems="max_batch_items", **BUDGET)
REQUEST_BUDGET = (
    "Together, a request's texts are at most LAMINA_MAX_REQUEST_CHARS characters (this "
    "document's x-max-request-chars; 422 request_too_many_chars, checked before tokenizing) "
    "and LAMINA_MAX_REQUEST_TOKENS tokens as the model reads them, each cut at its limit or, "
    "with long_text=split, every window (x-max-request-tokens; 422 request_too_many_tokens, "
    "checked before the model runs)."
)
# A zero-shot label: like Text, at most LAMINA_MAX_LABEL_CHARS characters.
LabelText = Annotated[StrictStr, Field(json_schema_extra=_text_schema("max_label_chars"))]
# Lists of zero-shot labels: at most LAMINA_MAX_LABELS (422 too_many_items).
LABELS = limits(maxItems="max_labels")
# A phrasing template: holds ``{}`` where a label goes (422 otherwise), at most
# LAMINA_MAX_TEMPLATE_CHARS characters.
TemplateText = Annotated[
    StrictStr,
    Field(
        json_schema_extra={
            "minLength": 2,
            "pattern": r"\{\}",
            **limits(maxLength="max_template_chars"),
        }
    ),
]
# Lists of images: at most LAMINA_MAX_BATCH_IMAGES (422 too_many_items).
IMAGES = limits(maxItems="max_batch_images")


def _integral(value: Any) -> Any:
    """JSON Schema's integer is a number with no fraction (1.0 is an integer), so a float
    without one is taken as the integer it is; anything else goes on to StrictInt (which
    turns down strings, booleans and fractions)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A positive integer as JSON Schema defines integers: 3 and 3.0, not "3", true or 3.5 (the
# bound sits inside the validator so that the document states it as `minimum`).
PositiveInt = Annotated[StrictInt, Field(ge=1), BeforeValidator(_integral)]


def exactly_one(first: str, second: str) -> dict[str, Any]:
    """The JSON Schema of "send exactly one of ``first`` and ``second``" (neither nullable:
    see ``not_null``)."""
    return {"oneOf": [{"required": [first]}, {"required": [second]}]}


def not_null(value: Any) -> Any:
    """A before-validator for a field that may be left out but not sent as null (its schema
    does not allow null either: ``without_null``): null is a 422."""
    if value is None:
        raise ValueError("must not be null: leave the field out instead")
    return value


def without_null(**extra: Any) -> Callable[[dict[str, Any]], None]:
    """A field's ``json_schema_extra`` for ``T | None = None`` whose null is refused
    (``not_null``): the schema is T's alone, plus ``extra``. (``SkipJsonSchema[None]`` would
    do it too, but makes the field a tagged union whose errors name the branch.)"""

    def edit(schema: dict[str, Any]) -> None:
        branches = schema.pop("anyOf", None)
        if branches is not None:
            (kept,) = [branch for branch in branches if branch.get("type") != "null"]
            schema.update(kept)
        if schema.get("default", 0) is None:
            del schema["default"]  # absent is the default; null is not a value it takes
        schema.update(extra)

    return edit


SPLIT_TEXT = (
    "Not empty or only whitespace; at most LAMINA_MAX_TEXT_CHARS characters, or with "
    "long_text=split LAMINA_MAX_SPLIT_TEXT_CHARS (this document's maxLength) for all texts "
    "of the request together (422 text_too_many_chars otherwise)."
)

TRUNCATE = Field(
    default=True,
    description=(
        "Cut texts longer than the model's token limit (the response says which were cut). "
        "false: reject them with 422 text_too_long instead."
    ),
)


MODEL = Field(
    default=None,
    description="Which served model (GET /v1/models lists them; a model's name or upstream "
    "id, any case). Unset: the deployment's default (LAMINA_DEFAULT_MODEL).",
    examples=["multilingual-e5-small"],
)
INPUT_TYPE = Field(
    default=None,
    description="query or passage: prepend the model's own prompt for that kind of text "
    "(multilingual-e5-small: 'query: ' / 'passage: '; search queries as query, the "
    "documents searched as passage). Unset: the text as sent. Models without prompts "
    "ignore it. The prompt's tokens count in `tokens`/usage.",
)
LONG_TEXT = Field(
    default=None,
    description="What to do with a text longer than the model's token limit: truncate "
    "(cut it; the response says which were cut), reject (422 text_too_long), or split "
    "(embed it as overlapping windows of the limit and return the token-weighted mean of "
    "their vectors; texts may then be up to LAMINA_MAX_SPLIT_TEXT_CHARS characters "
    "together). Unset: truncate, or reject when `truncate` is false.",
)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="ok when the model is loaded and serving.")
    model_loaded: bool = Field(description="Whether the model is loaded.")
    model: str = Field(description="Model name.")
    model_version: str = Field(description="Model version.")

    @classmethod
    def serving(cls, manifest: Manifest) -> HealthResponse:
        """The answer of a function whose model ``manifest`` is loaded and serving."""
        return cls(
            status="ok", model_loaded=True, model=manifest.name, model_version=manifest.version
        )


# --- classification (text and image classifiers share the answer's shape) -------------


class LabelScore(BaseModel):
    label: str = Field(description="A label of the model's labels_file.")
    confidence: float = Field(
        ge=0, le=1, description="The model's probability of this label (all labels sum to 1)."
    )


# --- A/B outcomes (POST /api/v1/outcomes; lamina.api.variants) ------------------------


class OutcomeRequest(BaseModel):
    """What became of an answer: the caller reports it, the A/B test counts it."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        # What model_post_init checks, for the OpenAPI document: an outcome or a reward, and
        # something to tell the variant by (each a non-null value).
        json_schema_extra={
            "allOf": [
                {
                    "anyOf": [
                        {"required": ["outcome"], "properties": {"outcome": {"type": "boolean"}}},
                        {"required": ["reward"], "properties": {"reward": {"type": "number"}}},
                    ]
                },
                {
                    "anyOf": [
                        {"required": [name], "properties": {name: {"type": "string"}}}
                        for name in ("variant", "key", "request_id")
                    ]
                },
            ]
        },
    )

    model: StrictStr = Field(
        min_length=1,
        max_length=128,
        description="The model that answered (the answer's `model`, or x-model-name).",
    )
    variant: Literal["control", "candidate"] | None = Field(
        default=None,
        description="The answer's x-lamina-variant. Without it, the variant is computed again "
        "from `key` (or `request_id`) at the current LAMINA_AB_WEIGHT.",
    )
    key: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="The x-lamina-ab-key the request was sent with.",
    )
    request_id: StrictStr | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:\-]{1,128}$",
        description="The answer's x-request-id (kept with the outcome; without `key`, the "
        "variant of a request that sent no key is computed from it).",
    )
    outcome: bool | None = Field(
        default=None,
        description="Whether the answer did its job (clicked, accepted): the outcome rate.",
    )
    reward: float | None = Field(
        default=None,
        ge=-1e9,
        le=1e9,
        allow_inf_nan=False,
        description="A number the caller scores the answer with (revenue, a rating).",
    )

    def model_post_init(self, context: Any, /) -> None:
        if self.outcome is None and self.reward is None:
            raise ValueError("send `outcome` (true or false) or `reward` (a number), or both")
        if self.variant is None and self.key is None and self.request_id is None:
            raise ValueError(
                "send `variant` (the answer's x-lamina-variant), or `key` or `request_id` to "
                "compute it from"
            )


class OutcomeResponse(BaseModel):
    model: str = Field(description="The model the outcome was counted for.")
    variant: Literal["control", "candidate"] = Field(description="The variant it counts for.")
    recorded: bool = Field(description="Always true: the outcome was counted.")
