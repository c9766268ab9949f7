"""API Gateway auth, as the template's ``ApiAuth`` offers it: JWT (a bearer token) or IAM
(SigV4-signed requests). Both are ``httpx.Auth``: httpx runs them on every request it sends,
so each attempt of a retried call carries a fresh token or signature.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator
from typing import Any

import httpx

# https://<api-id>.execute-api.<region>.amazonaws.com[.cn]
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` (ApiAuth=JWT). ``token`` may be a callable, called
    for every request (attempts included): return a cached token and refresh it before it
    expires, e.g. from Cognito's client-credentials flow."""

    def __init__(self, token: str | Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token() if callable(self._token) else self._token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def region_from_url(url: str) -> str | None:
    """The region of an API Gateway URL (``https://abc.execute-api.eu-west-1.amazonaws.com``),
    None for another host (a custom domain)."""
    match = _EXECUTE_API_HOST.search(httpx.URL(url).host)
    return match.group(1) if match else None


class SigV4Auth(httpx.Auth):
    """AWS Signature Version 4 (ApiAuth=IAM): needs botocore (``pip install
    'lamina-client[iam]'``).

    region: the API's region; unset: from the URL if it is an execute-api host, else
        AWS_REGION, else botocore's configured region (AWS_DEFAULT_REGION, ~/.aws/config).
    service: ``execute-api`` for API Gateway.
    credentials: a botocore ``Credentials`` object; unset: botocore's default chain
        (environment, ~/.aws, SSO, container and instance roles), refreshed as it expires.

    Each request is signed when it is sent (a retry is signed again, with its own time).
    Signed: the method, URL, body, ``host``, ``content-type`` and the ``x-amz-*`` headers.
    """

    requires_request_body = True  # the signature covers the body's hash

    def __init__(
        self,
        region: str | None = None,
        *,
        service: str = "execute-api",
        credentials: Any = None,
        session: Any = None,
    ) -> None:
        try:
            import botocore.session  # type: ignore[import-untyped]  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("IAM auth needs botocore: pip install 'lamina-client[iam]'") from exc
        self.region = region
        self.service = service
        self._credentials = credentials
        self._session = session

    def _botocore_session(self) -> Any:
        if self._session is None:
            import botocore.session

            self._session = botocore.session.get_session()
        return self._session

    def resolve(self, url: str) -> None:
        """Find the region (for ``url``) and the credentials now rather than at the first
        request; a clear error when either is missing."""
        if self.region is None:
            self.region = (
                region_from_url(url)
                or os.environ.get("AWS_REGION")  # Lambda's and the SDKs' (botocore: DEFAULT)
                or self._botocore_session().get_config_variable("region")
            )
            if not self.region:
                raise ValueError(
                    f"SigV4Auth: no region for {url}: pass region=... or set AWS_REGION"
                )
        if self._credentials is None:
            self._credentials = self._botocore_session().get_credentials()
            if self._credentials is None:
                raise ValueError(
                    "SigV4Auth: botocore found no AWS credentials (environment, ~/.aws, "
                    "SSO, container or instance role)"
                )

    def sign(self, request: httpx.Request) -> None:
        """Add ``Authorization``, ``X-Amz-Date`` (and ``X-Amz-Security-Token`` for temporary
        credentials) to ``request``, replacing an earlier signature."""
        from botocore.auth import SigV4Auth as BotocoreSigV4  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

        self.resolve(str(request.url))
        # Frozen: one consistent key set, even while refreshable credentials rotate.
        credentials = self._credentials.get_frozen_credentials()
        headers = {"host": request.headers["host"]}
        if "content-type" in request.headers:
            headers["content-type"] = request.headers["content-type"]
        aws = AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=headers
        )
        BotocoreSigV4(credentials, self.service, self.region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            request.headers.pop(name, None)
            if name in aws.headers:
                request.headers[name] = aws.headers[name]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request
