"""Sentinel Hub API clients: the OAuth credentials and the Async Process API (the synchronous Process API is
asked through the downloader: its answer is the output file).

Every response that is not a success becomes a `ProviderError` here, with Sentinel Hub's own message
(`error_detail`). Requests go through the harvester's httpx client: its
`RetryTransport` retries 429 (the Async API's concurrency limit, the token endpoint asked too often) and 5xx
with backoff, honouring ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from adapters.auth import OAuthClientCredentials
from adapters.errors import AuthError, error_for_response
from adapters.http import transport_error
from adapters.sentinelhub.deployments import Deployment

log = logging.getLogger(__name__)

NO_CREDENTIALS = "Sentinel Hub: no OAuth client credentials: set SH_CLIENT_ID and SH_CLIENT_SECRET"


def sentinelhub_auth(deployment: Deployment, env: Mapping[str, str] | None = None) -> OAuthClientCredentials:
    """The OAuth client-credentials flow of ``deployment`` with ``SH_CLIENT_ID``/``SH_CLIENT_SECRET``."""
    env = os.environ if env is None else env
    client_id, secret = env.get("SH_CLIENT_ID"), env.get("SH_CLIENT_SECRET")
    if not client_id or not secret:
        raise AuthError(NO_CREDENTIALS)
    return OAuthClientCredentials(deployment.token_url, client_id, secret,
                                  service=f"Sentinel Hub sign-in ({httpx.URL(deployment.token_url).host})",
                                  hint="check SH_CLIENT_ID and SH_CLIENT_SECRET: an OAuth client of this "
                                       "deployment (its dashboard's user settings)")


def error_detail(response: httpx.Response) -> str | None:
    """Sentinel Hub's own message: ``{"error": {"message", "errors"}}`` or ``{"code", "description"}``."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("reason") or "")
        if error.get("errors"):
            message += f" ({json.dumps(error['errors'])[:300]})"
        return message or None
    for key in ("description", "message", "detail"):
        if body.get(key):
            return str(body[key])
    return None


@contextmanager
def _sent(what: str) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        raise transport_error(exc, what) from exc


class AsyncProcessClient:
    """``POST {base}/api/v1/async/process`` and ``GET .../{id}``."""

    def __init__(self, client: httpx.Client, deployment: Deployment, auth: httpx.Auth) -> None:
        self.client = client
        self.url = deployment.async_url
        self.auth = auth

    def submit(self, request: Mapping[str, Any]) -> str:
        """Submit one Async Process request (with its delivery); its id. A 429 that outlasts the transport's
        retries is a `RateLimitedError` (the caller waits for running requests to finish)."""
        what = "Sentinel Hub Async Process submit"
        with _sent(what):
            response = self.client.post(self.url, content=json.dumps(request).encode(), auth=self.auth,
                                        headers={"Content-Type": "application/json"})
        if not response.is_success:
            raise error_for_response(response, what, error_detail(response))
        try:
            request_id = response.json()["id"]
        except (ValueError, KeyError, TypeError):
            raise AuthError(f"{what}: the answer has no request id") from None
        return str(request_id)

    def running(self, request_id: str) -> bool:
        """Whether the request is still running: 200 while it runs, 404 once it finished (done or failed)."""
        what = f"Sentinel Hub Async Process request {request_id}"
        with _sent(what):
            response = self.client.get(f"{self.url}/{request_id}", auth=self.auth)
        if response.status_code == 404:
            return False
        if not response.is_success:
            raise error_for_response(response, what, error_detail(response))
        return True
