"""The client's pure parts: how a batch is planned, how errors are read, the backoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from lamina_client import (
    AuthenticationError,
    BadRequestError,
    BatchLimits,
    LaminaClient,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
)
from lamina_client._core import Config, plan_batches
from lamina_client.errors import error_from_response, retry_after_seconds, shift_texts_index

LIMITS = BatchLimits(max_items=3, max_request_chars=10, max_text_chars=6)


@pytest.mark.parametrize(
    ("sizes", "slices"),
    [
        ([], []),
        ([1], [(0, 1)]),
        ([1] * 7, [(0, 3), (3, 6), (6, 7)]),  # items
        ([6, 4, 1], [(0, 2), (2, 3)]),  # 6 + 4 = 10 fits, + 1 does not
        ([6, 6, 6], [(0, 1), (1, 2), (2, 3)]),
        ([2, 2, 6, 2], [(0, 3), (3, 4)]),  # 2 + 2 + 6 = 10 fits
    ],
)
def test_plan_batches(sizes: list[int], slices: list[tuple[int, int]]) -> None:
    assert plan_batches(["x" * n for n in sizes], LIMITS) == slices


def test_a_text_over_the_limit_names_its_index() -> None:
    with pytest.raises(BadRequestError) as caught:
        plan_batches(["ok", "x" * 7], LIMITS)
    assert (caught.value.param, caught.value.code) == ("texts[1]", "text_too_many_chars")
    # The request budget bounds one text too.
    with pytest.raises(BadRequestError):
        plan_batches(["x" * 11], BatchLimits(max_items=3, max_request_chars=10))


def test_lamina_and_api_gateway_error_bodies() -> None:
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "empty_text",
            "message": "texts[3] is empty or only whitespace",
            "param": "texts[3]",
            "request_id": "abc",
        }
    }
    error = error_from_response(422, httpx.Headers({}), json.dumps(body).encode())
    assert type(error) is BadRequestError
    assert (error.code, error.param, error.request_id) == ("empty_text", "texts[3]", "abc")
    shift_texts_index(error, 256)
    assert (error.param, error.message) == ("texts[259]", "texts[259] is empty or only whitespace")
    # API Gateway's own answers: {"message": ...}, its request id header.
    headers = httpx.Headers({"apigw-requestid": "gw-1", "retry-after": "3"})
    throttled = error_from_response(429, headers, b'{"message":"Too Many Requests"}')
    assert isinstance(throttled, RateLimitedError)
    assert (throttled.message, throttled.request_id, throttled.retry_after) == (
        "Too Many Requests",
        "gw-1",
        3.0,
    )
    assert throttled.retryable
    assert isinstance(
        error_from_response(403, httpx.Headers({}), b'{"message":"Forbidden"}'), AuthenticationError
    )
    bad_gateway = error_from_response(502, httpx.Headers({}), b"<html>Bad Gateway</html>")
    assert type(bad_gateway) is ServerError
    assert bad_gateway.retryable
    assert "Bad Gateway" in bad_gateway.message
    unconfigured = {"error": {"code": "search_not_configured", "message": "no search"}}
    error = error_from_response(503, httpx.Headers({}), json.dumps(unconfigured).encode())
    assert isinstance(error, ServiceUnavailableError)
    assert not error.retryable


def test_retry_after_forms() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after_seconds(later) or 0) <= 30


def test_backoff_is_full_jitter_but_at_least_retry_after() -> None:
    config = Config(base_url="http://x", classify_url="http://x", backoff_base=1.0, backoff_max=4.0)
    waits = [config.backoff(attempt, None) for attempt in (1, 2, 3, 4, 5) for _ in range(200)]
    assert 0 <= min(waits) < 0.1
    assert max(waits) <= 4.0
    assert max(config.backoff(1, None) for _ in range(200)) <= 1.0
    assert config.backoff(1, 2.5) >= 2.5


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        LaminaClient("http://x", max_attempts=0)
    with pytest.raises(TypeError):
        LaminaClient("http://x").embed_batch("one string")
    with LaminaClient("http://x") as client:
        quick = client.with_options(deadline=1.0, max_attempts=1)
        assert (quick.config.deadline, quick.config.max_attempts) == (1.0, 1)
        assert client.config.deadline == 60.0
