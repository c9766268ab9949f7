"""Auth as the template's ApiAuth offers it: a JWT bearer token, or IAM (SigV4). The stub
records each request as it arrived; SigV4 signatures are checked with an implementation of
the algorithm written here from AWS's specification (not botocore's), on every attempt."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from pathlib import Path

import pytest

from lamina_client import AsyncLaminaClient, LaminaClient, SigV4Auth, __version__
from lamina_client.auth import region_from_url
from tests.client.conftest import FAST
from tests.client.stub import JOB_ID, Recorded, StubState

Stub = tuple[str, StubState]
KEY_ID, SECRET, SESSION_TOKEN = (
    "AKIDEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "tok/en==",
)
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z-]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials in the environment, and nothing else botocore's chain could find."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(call: Recorded, region: str, service: str, signed: list[str]) -> str:
    """SigV4 (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request)
    of a request as the server received it."""
    amz_date = call.headers["x-amz-date"]
    canonical = "\n".join(
        [
            call.method,
            call.path,  # plain ASCII paths: their URI encoding is themselves
            "",  # no query string
            "".join(f"{name}:{call.headers[name].strip()}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(call.body).hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + SECRET).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check_signed(call: Recorded, region: str = "eu-west-1") -> str:
    """Assert ``call`` carries a valid SigV4 signature; return the signature."""
    match = AUTHORIZATION.fullmatch(call.headers["authorization"])
    assert match, call.headers["authorization"]
    assert (match["key"], match["region"], match["service"]) == (KEY_ID, region, "execute-api")
    assert re.fullmatch(r"\d{8}T\d{6}Z", call.headers["x-amz-date"])
    assert match["date"] == call.headers["x-amz-date"][:8]
    assert call.headers["x-amz-security-token"] == SESSION_TOKEN
    signed = match["signed"].split(";")
    assert signed == sorted(signed)
    assert {"host", "x-amz-date", "x-amz-security-token"} <= set(signed)
    if call.body:
        assert "content-type" in signed
    assert match["signature"] == expected_signature(call, region, "execute-api", signed)
    return match["signature"]


def test_sigv4_signs_every_attempt_anew(stub: Stub, aws_env: None) -> None:
    url, state = stub
    state.cold_failures = 1  # a 503 with Retry-After: 1, then the answer
    with LaminaClient(url, auth=SigV4Auth(region="eu-west-1"), **FAST) as client:
        client.search("cold", query="김치찌개", filter={"minutes": 30})
        client.job(JOB_ID)  # a GET: no body, no content-type
    first, second, get = state.calls
    assert first.body == second.body
    assert first.headers["x-amz-date"] != second.headers["x-amz-date"]  # a second apart
    assert check_signed(first) != check_signed(second)
    check_signed(get)
    assert get.body == b""


def test_sigv4_async_and_the_region_of_an_execute_api_url(
    stub: Stub, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = stub

    async def main() -> None:
        async with AsyncLaminaClient(url, auth=SigV4Auth(region="ap-northeast-2")) as client:
            await client.recommend("recipes", liked=["r1"])

    asyncio.run(main())
    check_signed(state.calls[0], region="ap-northeast-2")

    api = "https://a1b2c3d4e5.execute-api.ap-northeast-2.amazonaws.com"
    assert region_from_url(api) == "ap-northeast-2"
    assert region_from_url(api + "/prod/api/v1/embed") == "ap-northeast-2"
    assert region_from_url("https://api.example.com") is None
    auth = SigV4Auth()
    LaminaClient(api, auth=auth).close()
    assert auth.region == "ap-northeast-2"
    # A custom domain: the configured region, else a clear error.
    with pytest.raises(ValueError, match="region"):
        LaminaClient("https://api.example.com", auth=SigV4Auth())
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    auth = SigV4Auth()
    LaminaClient("https://api.example.com", auth=auth).close()
    assert auth.region == "us-east-2"


def test_sigv4_without_credentials_is_a_clear_error(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    with pytest.raises(ValueError, match="no AWS credentials"):
        LaminaClient("https://x.execute-api.eu-west-1.amazonaws.com", auth=SigV4Auth())


def test_bearer_token_and_user_agent(stub: Stub) -> None:
    url, state = stub
    with LaminaClient(url, token="eyJhbGciOi.payload.sig") as client:
        client.embed("갈비탕")
    (call,) = state.calls
    assert call.headers["authorization"] == "Bearer eyJhbGciOi.payload.sig"
    assert call.headers["user-agent"] == f"lamina-client/{__version__}"
    assert call.json() == {"text": "갈비탕", "normalize": True}


def test_a_token_callable_is_asked_on_every_attempt(stub: Stub) -> None:
    url, state = stub
    state.cold_failures = 1
    issued: list[str] = []

    def token() -> str:
        issued.append(f"token-{len(issued) + 1}")
        return issued[-1]

    with LaminaClient(url, token=token, **FAST) as client:
        client.search("cold", query="soup")
    assert [c.headers["authorization"] for c in state.calls] == ["Bearer token-1", "Bearer token-2"]
    with pytest.raises(ValueError, match="not both"):
        LaminaClient(url, token="t", auth=SigV4Auth(region="eu-west-1"))
