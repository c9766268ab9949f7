from __future__ import annotations

import pytest

from lamina.errors import ConfigurationError
from lamina.settings import ENV_VARS, Settings


def test_reads_every_variable_from_the_table() -> None:
    env = {
        "MODEL_URI": "/opt/ml/model",
        "LAMINA_MODEL_CACHE_DIR": "/tmp/models",
        "LAMINA_VERIFY_MODEL": "false",
        "LAMINA_MODEL_DIGEST": "a" * 64,
        "LAMINA_MAX_BATCH_ITEMS": "32",
        "LAMINA_MAX_TEXT_CHARS": "1000",
        "LAMINA_MAX_BODY_BYTES": "65536",
        "LAMINA_BATCH_TOKEN_BUDGET": "4096",
        "LAMINA_MAX_RUN_BATCH": "16",
        "LAMINA_INTRA_OP_THREADS": "1",
        "POWERTOOLS_SERVICE_NAME": "emb",
        "POWERTOOLS_METRICS_NAMESPACE": "ns",
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "LAMINA_BATCH_BUCKET": "jobs-bucket",
        "LAMINA_BATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
        "LAMINA_CHUNK_MAX_RECORDS": "500",
        "LAMINA_CHUNK_TOKEN_BUDGET": "8192",
        "LAMINA_BATCH_MAX_INPUT_BYTES": "1000000",
        "LAMINA_BATCH_MAX_RECORDS": "5000",
        "LAMINA_SEARCH_DSN": "postgresql://u:p@127.0.0.1:5432/db",
        "LAMINA_SEARCH_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
        "LAMINA_SEARCH_HOST": "proxy.example",
        "LAMINA_SEARCH_DATABASE": "vectors",
        "LAMINA_SEARCH_POOL_SIZE": "4",
        "LAMINA_SEARCH_TIMEOUT_MS": "500",
        "LAMINA_SEARCH_EF_SEARCH": "40",
        "LAMINA_MAX_SEARCH_K": "50",
        "LAMINA_BATCH_MAX_LINE_ERRORS": "0",
        "LAMINA_MAX_RECEIVE_COUNT": "3",
        "LAMINA_MODELS": "/opt/ml/model/a, s3://b/models/spam@production,",
        "LAMINA_MAX_IMAGE_PIXELS": "1000000",
        "LAMINA_DEFAULT_MODEL": "multilingual-e5-small",
        "LAMINA_MAX_SPLIT_TEXT_CHARS": "150000",
        "LAMINA_COALESCE": "true",
        "LAMINA_COALESCE_MAX_TEXTS": "32",
        "LAMINA_COALESCE_MAX_CHARS": "10000",
        "LAMINA_MAX_LABELS": "20",
        "LAMINA_MAX_LABEL_CHARS": "50",
        "LAMINA_MAX_TEMPLATE_CHARS": "80",
        "LAMINA_MAX_REQUEST_CHARS": "9000",
        "LAMINA_MAX_REQUEST_TOKENS": "4000",
        "LAMINA_MAX_BATCH_IMAGES": "8",
        "LAMINA_MAX_REQUEST_PIXELS": "2000000",
        "LAMINA_MAX_TENSOR_ELEMENTS": "65536",
        "LAMINA_SQL_MEMORY_LIMIT_MB": "128",
        "LAMINA_AB_CANDIDATES": " s3://b/models/spam@candidate , ",
        "LAMINA_AB_WEIGHT": "0.25",
        "LAMINA_AB_DIR": "/tmp/ab",
        "LAMINA_SAMPLE_URI": "s3://b/monitoring",
        "LAMINA_SAMPLE_RATE": "0.5",
        "LAMINA_SAMPLE_TEXT": "true",
        "LAMINA_DRIFT_WINDOW_HOURS": "6",
        "LAMINA_DRIFT_MIN_SAMPLES": "50",
    }
    assert set(env) == set(ENV_VARS.values())
    settings = Settings.from_env(env)
    assert settings.model_uri == "/opt/ml/model"
    assert settings.model_uris() == ["/opt/ml/model/a", "s3://b/models/spam@production"]
    assert settings.max_image_pixels == 1_000_000
    assert settings.model_cache_dir == "/tmp/models"
    assert settings.verify_model is False
    assert settings.model_digest == "a" * 64
    assert settings.max_batch_items == 32
    assert settings.max_body_bytes == 65536
    assert settings.intra_op_threads == 1
    assert settings.in_lambda
    assert settings.batch_bucket == "jobs-bucket"
    assert settings.batch_queue_url == "https://sqs.us-east-1.amazonaws.com/1/q"
    assert (settings.chunk_max_records, settings.chunk_token_budget) == (500, 8192)
    assert settings.batch_max_input_bytes == 1_000_000
    assert (settings.batch_max_records, settings.batch_max_line_errors) == (5000, 0)
    assert (settings.search_host, settings.search_database) == ("proxy.example", "vectors")
    assert (settings.search_pool_size, settings.search_timeout_ms) == (4, 500)
    assert (settings.search_ef_search, settings.max_search_k) == (40, 50)
    assert settings.max_receive_count == 3
    assert settings.sql_memory_limit_mb == 128
    assert settings.default_model == "multilingual-e5-small"
    assert settings.max_split_text_chars == 150_000
    assert settings.coalesce
    assert (settings.coalesce_max_texts, settings.coalesce_max_chars) == (32, 10_000)
    assert (settings.max_labels, settings.max_label_chars) == (20, 50)
    assert settings.max_template_chars == 80
    assert (settings.max_request_chars, settings.max_request_tokens) == (9000, 4000)
    assert (settings.max_batch_images, settings.max_request_pixels) == (8, 2_000_000)
    assert settings.max_tensor_elements == 65_536
    assert settings.candidate_uris() == ["s3://b/models/spam@candidate"]
    assert (settings.ab_weight, settings.ab_dir) == (0.25, "/tmp/ab")
    assert (settings.sample_uri, settings.sample_rate) == ("s3://b/monitoring", 0.5)
    assert settings.sample_text
    assert (settings.drift_window_hours, settings.drift_min_samples) == (6, 50)


def test_defaults_outside_lambda() -> None:
    settings = Settings.from_env({"MODEL_URI": "m"})
    assert not settings.in_lambda
    # no A/B test and no sampling unless configured
    assert settings.candidate_uris() == []
    assert settings.sample_uri is None
    assert not settings.sample_text
    assert settings.max_body_bytes < 6 * 1024 * 1024


def test_missing_model_uri_fails_at_model_load_naming_the_variable() -> None:
    settings = Settings.from_env({})  # functions without a model (batch submit) need none
    with pytest.raises(ConfigurationError, match="MODEL_URI"):
        settings.require_model_uri()


def test_invalid_number_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="LAMINA_MAX_BATCH_ITEMS"):
        Settings.from_env({"MODEL_URI": "m", "LAMINA_MAX_BATCH_ITEMS": "lots"})


def test_body_limit_cannot_exceed_lambda_payload_limit() -> None:
    with pytest.raises(ConfigurationError, match="LAMINA_MAX_BODY_BYTES"):
        Settings.from_env({"MODEL_URI": "m", "LAMINA_MAX_BODY_BYTES": str(7 * 1024 * 1024)})


def test_model_uris_fall_back_to_model_uri() -> None:
    assert Settings.from_env({"MODEL_URI": "/m"}).model_uris() == ["/m"]
    with pytest.raises(ConfigurationError, match="MODEL_URI is not set"):
        Settings.from_env({}).model_uris()


@pytest.mark.parametrize(
    "pin",
    ["a" * 64, f"minilm={'a' * 64}", f"minilm={'a' * 64}, multilingual-e5-small={'b' * 64}"],
)
def test_model_digest_pins(pin: str) -> None:
    assert Settings.from_env({"LAMINA_MODEL_DIGEST": pin}).model_digest == pin


@pytest.mark.parametrize(
    "pin", ["a" * 63, "A" * 64, f"{'a' * 64}\n", f"minilm:{'a' * 64}", f"={'a' * 64}", "a" * 65]
)
def test_malformed_model_digest_names_the_variable(pin: str) -> None:
    with pytest.raises(ConfigurationError, match="LAMINA_MODEL_DIGEST"):
        Settings.from_env({"LAMINA_MODEL_DIGEST": pin})
