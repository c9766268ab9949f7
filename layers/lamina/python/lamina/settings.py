"""Typed settings, read once from the environment at cold start.

Only this module reads ``os.environ``. Every other module receives a ``Settings``
instance. ``ENV_VARS`` is the single table of environment variable names, so the tests
can check that what ``template.yaml`` sets is what this module reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lamina.errors import ConfigurationError

# Field name -> environment variable.
ENV_VARS: dict[str, str] = {
    "model_uri": "MODEL_URI",
    "models": "LAMINA_MODELS",
    "default_model": "LAMINA_DEFAULT_MODEL",
    "model_cache_dir": "LAMINA_MODEL_CACHE_DIR",
    "verify_model": "LAMINA_VERIFY_MODEL",
    "model_digest": "LAMINA_MODEL_DIGEST",
    "max_batch_items": "LAMINA_MAX_BATCH_ITEMS",
    "max_text_chars": "LAMINA_MAX_TEXT_CHARS",
    "max_split_text_chars": "LAMINA_MAX_SPLIT_TEXT_CHARS",
    "max_body_bytes": "LAMINA_MAX_BODY_BYTES",
    "max_image_pixels": "LAMINA_MAX_IMAGE_PIXELS",
    "max_labels": "LAMINA_MAX_LABELS",
    "max_label_chars": "LAMINA_MAX_LABEL_CHARS",
    "max_template_chars": "LAMINA_MAX_TEMPLATE_CHARS",
    "max_request_chars": "LAMINA_MAX_REQUEST_CHARS",
    "max_request_tokens": "LAMINA_MAX_REQUEST_TOKENS",
    "max_batch_images": "LAMINA_MAX_BATCH_IMAGES",
    "max_request_pixels": "LAMINA_MAX_REQUEST_PIXELS",
    "max_tensor_elements": "LAMINA_MAX_TENSOR_ELEMENTS",
    "sql_memory_limit_mb": "LAMINA_SQL_MEMORY_LIMIT_MB",
    "batch_token_budget": "LAMINA_BATCH_TOKEN_BUDGET",
    "max_run_batch": "LAMINA_MAX_RUN_BATCH",
    "intra_op_threads": "LAMINA_INTRA_OP_THREADS",
    "coalesce": "LAMINA_COALESCE",
    "coalesce_max_texts": "LAMINA_COALESCE_MAX_TEXTS",
    "coalesce_max_chars": "LAMINA_COALESCE_MAX_CHARS",
    "batch_bucket": "LAMINA_BATCH_BUCKET",
    "batch_queue_url": "LAMINA_BATCH_QUEUE_URL",
    "chunk_max_records": "LAMINA_CHUNK_MAX_RECORDS",
    "chunk_token_budget": "LAMINA_CHUNK_TOKEN_BUDGET",
    "batch_max_input_bytes": "LAMINA_BATCH_MAX_INPUT_BYTES",
    "batch_max_records": "LAMINA_BATCH_MAX_RECORDS",
    "batch_max_line_errors": "LAMINA_BATCH_MAX_LINE_ERRORS",
    "max_receive_count": "LAMINA_MAX_RECEIVE_COUNT",
    "search_dsn": "LAMINA_SEARCH_DSN",
    "search_secret_arn": "LAMINA_SEARCH_SECRET_ARN",
    "search_host": "LAMINA_SEARCH_HOST",
    "search_database": "LAMINA_SEARCH_DATABASE",
    "search_pool_size": "LAMINA_SEARCH_POOL_SIZE",
    "search_timeout_ms": "LAMINA_SEARCH_TIMEOUT_MS",
    "search_ef_search": "LAMINA_SEARCH_EF_SEARCH",
    "max_search_k": "LAMINA_MAX_SEARCH_K",
    "ab_candidates": "LAMINA_AB_CANDIDATES",
    "ab_weight": "LAMINA_AB_WEIGHT",
    "ab_dir": "LAMINA_AB_DIR",
    "sample_uri": "LAMINA_SAMPLE_URI",
    "sample_rate": "LAMINA_SAMPLE_RATE",
    "sample_text": "LAMINA_SAMPLE_TEXT",
    "drift_window_hours": "LAMINA_DRIFT_WINDOW_HOURS",
    "drift_min_samples": "LAMINA_DRIFT_MIN_SAMPLES",
    "service_name": "POWERTOOLS_SERVICE_NAME",
    "metrics_namespace": "POWERTOOLS_METRICS_NAMESPACE",
    "lambda_function_name": "AWS_LAMBDA_FUNCTION_NAME",
}

# API Gateway caps a request at 10 MB and Lambda a synchronous payload at 6 MB
# (base64 may inflate a body by a third), so the default stays well below both.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# LAMINA_MODEL_DIGEST: a sha256, or name=sha256 pairs separated by commas (an A/B test's
# candidate version: name@candidate=sha256).
_PIN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:@candidate)?=[0-9a-f]{64}"
_DIGEST_PINS = rf"^(?:[0-9a-f]{{64}}|{_PIN}(?: *, *{_PIN})*)$"


class Settings(BaseModel):
    """Configuration of one lamina function process."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_uri: str | None = Field(
        default=None,
        min_length=1,
        description="Where the model lives (unset in functions without a model): "
        "a local model directory (baked into the image), "
        "s3://<bucket>/<prefix>/<name>@<alias> or s3://<bucket>/<prefix>/<name>/<version>.",
    )
    models: str | None = Field(
        default=None,
        min_length=1,
        description="The models of a function that serves several (the embedding function, "
        "the ONNX function): comma-separated locations, each one like MODEL_URI; each is "
        "served under its manifest name.",
    )
    default_model: str | None = Field(
        default=None,
        min_length=1,
        description="The embedding model a request that names none gets (the seed routes, "
        "similarity, tokenize, batch jobs): a served model's name; unset: the first of "
        "LAMINA_MODELS.",
    )
    model_cache_dir: str = Field(
        default="/tmp/lamina-models",
        min_length=1,
        description="Where a model from S3 is downloaded (Lambda: only /tmp is writable).",
    )
    verify_model: bool = Field(
        default=True, description="Check every model file's sha256 against manifest.json at load."
    )
    model_digest: str | None = Field(
        default=None,
        pattern=_DIGEST_PINS,
        description="The model fingerprint(s) this function accepts (manifest digest, "
        "/api/v1/model-info's sha256): one digest (the function's one model), or "
        "name=digest pairs, comma-separated, one for every model of LAMINA_MODELS (and "
        "name@candidate=digest for each of LAMINA_AB_CANDIDATES). Any other "
        "model is refused at cold start (503 model_unavailable) and its files are always "
        "checked by sha256; unset: any model whose files match its own manifest.",
    )
    max_batch_items: int = Field(
        default=256, ge=1, le=10_000, description="Most texts accepted in one request."
    )
    max_text_chars: int = Field(
        default=20_000, ge=1, description="Most characters accepted in one text."
    )
    max_split_text_chars: int = Field(
        default=50_000,
        ge=1,
        description="Most characters of one request's texts together when long_text is split "
        "(embedded as overlapping windows of the model's token limit, so a text may be far "
        "longer than LAMINA_MAX_TEXT_CHARS). It bounds the request's time: 50,000 Korean "
        "characters are ~37,000 e5 tokens, ~75 windows of 512, ~8 s on 2 vCPUs. The batch "
        "functions set more (their time limit is the worker's timeout).",
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        le=6 * 1024 * 1024,
        description="Largest request body accepted, in bytes (Lambda's sync limit is 6 MB).",
    )
    max_image_pixels: int = Field(
        default=16_000_000,
        ge=1,
        description="Largest decoded image accepted (width x height); larger is a 413, "
        "checked from the header before any pixel is decoded.",
    )
    max_labels: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Most candidate labels in one zero-shot request.",
    )
    max_label_chars: int = Field(
        default=200, ge=1, description="Most characters of one zero-shot label."
    )
    max_template_chars: int = Field(
        default=500,
        ge=2,
        description="Most characters of a zero-shot hypothesis_template.",
    )
    max_request_chars: int = Field(
        default=100_000,
        ge=1,
        description="Most characters a request has a text model read, checked before "
        "anything is tokenized: an embedding or classification request's texts together "
        "(similarity: the query and the candidates); for zero-shot the text and every label "
        "as phrased by the template (each {} replaced by the label), counted before any "
        "phrase is made.",
    )
    max_request_tokens: int = Field(
        default=65_536,
        ge=1,
        description="Most tokens a request has a text model run, counted after tokenizing "
        "and before the run: an embedding request's texts as the model reads them (each cut "
        "at the model's limit; long_text=split: every window), a zero-shot request's text "
        "and phrased labels. It bounds a request's time and memory: 65,536 tokens are about "
        "11 s of multilingual-e5-small and 2.5 s of all-MiniLM-L6-v2 on 2 vCPUs.",
    )
    max_batch_images: int = Field(
        default=256,
        ge=1,
        le=10_000,
        description="Most images accepted in one request (their pixels together are bounded "
        "by LAMINA_MAX_REQUEST_PIXELS).",
    )
    max_request_pixels: int = Field(
        default=64_000_000,
        ge=1,
        description="Most pixels (width x height) of all images of one request together; "
        "larger is a 413, checked from the headers before any image is decoded.",
    )
    sql_memory_limit_mb: int = Field(
        default=256,
        ge=16,
        le=10_240,
        description="Memory a query model's DuckDB database may use (its tables and one "
        "query): past it, a query is refused (422 query_timeout).",
    )
    max_tensor_elements: int = Field(
        default=4_194_304,
        ge=1,
        description="Most elements (the product of the shape) of one tensor of an Open "
        "Inference Protocol request or response; larger is a 400, checked from the shape "
        "before the data is read.",
    )
    batch_token_budget: int = Field(
        default=8192,
        ge=256,
        description="Most padded tokens (batch size x longest sequence) in one ONNX run.",
    )
    max_run_batch: int = Field(default=64, ge=1, description="Most texts in one ONNX run.")
    intra_op_threads: int = Field(
        default=0, ge=0, description="ONNX Runtime intra-op threads; 0 = the CPUs available."
    )
    coalesce: bool = Field(
        default=False,
        description="Embed concurrent requests of the same options together, in one model "
        "call (lamina.inference.coalesce): for a server that takes many requests at once "
        "(`make serve`). Off in Lambda: one request per sandbox, nothing to coalesce.",
    )
    coalesce_max_texts: int = Field(
        default=64,
        ge=1,
        description="With LAMINA_COALESCE: most texts of concurrent requests in one model call "
        "(a single larger request still runs, alone).",
    )
    coalesce_max_chars: int = Field(
        default=32_768,
        ge=1,
        description="With LAMINA_COALESCE: most characters of concurrent requests' texts in one "
        "model call (about one LAMINA_BATCH_TOKEN_BUDGET of English text).",
    )
    batch_bucket: str | None = Field(
        default=None, description="Bucket of batch jobs (incoming/ and jobs/); unset: no jobs."
    )
    batch_queue_url: str | None = Field(
        default=None,
        description="SQS queue the submit step sends chunks to (and the worker a job's load "
        "message, for a job that names a search collection).",
    )
    chunk_max_records: int = Field(
        default=1000, ge=1, le=10_000, description="Most records in one chunk (one message)."
    )
    chunk_token_budget: int = Field(
        default=65_536,
        ge=256,
        description="Most estimated tokens in one chunk (UTF-8 bytes / 3 per text, capped at "
        "512, the longest model limit; a split text counts all its windows).",
    )
    batch_max_input_bytes: int = Field(
        default=2_000_000_000,
        ge=1,
        description="Largest batch input object (its size as S3 reports it) the submit "
        "function reads; a larger one fails its job before a byte is read.",
    )
    batch_max_records: int = Field(
        default=25_000_000,
        ge=1,
        description="Most records (lines, csv rows) of one batch input; on the next one its "
        "job fails (the duplicate-id set grows with the count: ~805 MB at 25 million).",
    )
    batch_max_line_errors: int = Field(
        default=1_000_000,
        ge=0,
        description="Most invalid lines of one batch input; on the next one its job fails, "
        "the invalid lines found so far in its errors (they are spooled to /tmp).",
    )
    max_receive_count: int = Field(
        default=5,
        ge=1,
        description="The queue's maxReceiveCount: on that receive a failing chunk is given up "
        "(its records go to errors.jsonl) before the message moves to the DLQ.",
    )
    search_dsn: str | None = Field(
        default=None,
        min_length=1,
        description="The vector index's PostgreSQL (with pgvector), as a libpq connection "
        "string (postgresql://user:password@host:port/db): the local server's. Unset, and no "
        "LAMINA_SEARCH_SECRET_ARN: search answers 503 search_not_configured.",
    )
    search_secret_arn: str | None = Field(
        default=None,
        min_length=1,
        description="On AWS: the Secrets Manager secret of the database (RDS's JSON: "
        "username, password, host, port, dbname), read once per sandbox.",
    )
    search_host: str | None = Field(
        default=None,
        min_length=1,
        description="Host to connect to instead of the secret's (the RDS Proxy endpoint).",
    )
    search_database: str | None = Field(
        default=None, min_length=1, description="Database instead of the secret's dbname."
    )
    search_pool_size: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Most database connections one process holds (reused across requests and "
        "invocations). A Lambda sandbox serves one request at a time: 1; the local server: 4.",
    )
    search_timeout_ms: int = Field(
        default=3000,
        ge=100,
        le=60_000,
        description="statement_timeout of every search query, and the wait for a free "
        "connection; past it the request is a 503 index_unavailable.",
    )
    search_ef_search: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="hnsw.ef_search: the HNSW candidate list per query (recall against speed; "
        "docs/search.md). Raised to top_k when a request asks for more.",
    )
    max_search_k: int = Field(
        default=100, ge=1, le=1000, description="Most results (top_k) of one search request."
    )
    ab_candidates: str | None = Field(
        default=None,
        description="A/B tests (docs/monitoring.md): the locations of candidate versions, "
        "comma-separated (model store references such as s3://bucket/models/NAME@candidate, "
        "or directories). Each must carry the name of a model this function serves; a "
        "share of that model's callers (LAMINA_AB_WEIGHT) gets the candidate.",
    )
    ab_weight: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="The share of callers (by caller key) an A/B candidate answers.",
    )
    ab_dir: str | None = Field(
        default=None,
        description="A directory where A/B requests and outcomes are written as JSON lines "
        "(the local server; `lamina ab report --dir` reads them). On AWS they are metrics.",
    )
    sample_uri: str | None = Field(
        default=None,
        description="Where sampled requests go for drift checks: s3://bucket/prefix or a "
        "directory (samples/<model>/<date>/...). Unset: nothing is sampled.",
    )
    sample_rate: float = Field(
        default=0.01, ge=0.0, le=1.0, description="The share of requests that are sampled."
    )
    sample_text: bool = Field(
        default=False,
        description="Also keep the texts of sampled requests (off: statistics, labels and "
        "vectors only).",
    )
    drift_window_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 31,
        description="The drift check compares the samples of the last this many hours.",
    )
    drift_min_samples: int = Field(
        default=100,
        ge=10,
        description="Fewer sampled texts or rows than this in the window: no drift score.",
    )
    service_name: str = Field(default="lamina", description="Service name in logs and metrics.")
    metrics_namespace: str = Field(default="lamina", description="CloudWatch metrics namespace.")
    lambda_function_name: str | None = Field(
        default=None, description="Set by Lambda; tells the code it runs inside Lambda."
    )

    def require_model_uri(self) -> str:
        """The model's location; ConfigurationError if this function has none configured."""
        if not self.model_uri:
            raise ConfigurationError("MODEL_URI is not set: this function has no model to load")
        return self.model_uri

    @property
    def search_configured(self) -> bool:
        """Whether a search database is set (``LAMINA_SEARCH_DSN`` or
        ``LAMINA_SEARCH_SECRET_ARN``); the batch submit step refuses a job's collection
        without one (it never connects: only the workers and the API do)."""
        return bool(self.search_dsn or self.search_secret_arn)

    def model_uris(self) -> list[str]:
        """The model locations of a multi-model function (LAMINA_MODELS), else MODEL_URI."""
        if self.models:
            uris = [uri.strip() for uri in self.models.split(",") if uri.strip()]
            if uris:
                return uris
        return [self.require_model_uri()]

    def candidate_uris(self) -> list[str]:
        """LAMINA_AB_CANDIDATES as a list (empty: no A/B test)."""
        if not self.ab_candidates:
            return []
        return [uri.strip() for uri in self.ab_candidates.split(",") if uri.strip()]

    @property
    def in_lambda(self) -> bool:
        return bool(self.lambda_function_name)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from an environment mapping; raise ConfigurationError if invalid."""
        env = os.environ if environ is None else environ
        values = {field: env[var] for field, var in ENV_VARS.items() if env.get(var, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_VARS.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigurationError(f"invalid lamina settings: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings.from_env()
