from __future__ import annotations

from pathlib import Path

import pytest

from lamina.errors import ConfigurationError
from lamina.models.loader import S3Location, parse_model_uri
from lamina.models.store import ModelRef


def test_local_directories() -> None:
    assert parse_model_uri("/opt/ml/model") == Path("/opt/ml/model")
    assert parse_model_uri("file:///opt/ml/model") == Path("/opt/ml/model")
    assert parse_model_uri("build/models/x/fp32") == Path("build/models/x/fp32")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "s3://models-bucket/models/all-MiniLM-L6-v2@production",
            S3Location("models-bucket", "models", ModelRef("all-MiniLM-L6-v2", alias="production")),
        ),
        (
            "s3://models-bucket/models/all-MiniLM-L6-v2/3",
            S3Location("models-bucket", "models", ModelRef("all-MiniLM-L6-v2", version="3")),
        ),
        (
            "s3://b/team/a/models/m@staging",
            S3Location("b", "team/a/models", ModelRef("m", alias="staging")),
        ),
    ],
)
def test_s3_locations(uri: str, expected: S3Location) -> None:
    assert parse_model_uri(uri) == expected
    assert str(parse_model_uri(uri)) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "s3://",
        "s3://bucket",
        "s3://bucket/m@prod",  # no prefix
        "s3://bucket/models/m",  # neither a version nor an alias
        "s3://bucket/models/m@",  # empty alias
        "s3://bucket/models/m@pro/d",  # slash in alias
        "s3://bucket/models/bad name/1",
    ],
)
def test_invalid_s3_uris_fail_fast_naming_model_uri(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="MODEL_URI"):
        parse_model_uri(uri)
