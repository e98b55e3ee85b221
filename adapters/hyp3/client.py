"""The HyP3 API client: credentials, the user check, submitting job lists, listing and reading jobs.

Every response that is not a success becomes a `ProviderError` here, in `_fail`, with the API's own
``detail`` (its error bodies are RFC 7807 problems: ``{"detail", "status", "title", "type"}``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from adapters.errors import AuthError, ProviderError, error_for_response
from adapters.hyp3.endpoints import API_URL, AUTH_URL
from adapters.hyp3.jobs import MAX_JOBS_PER_REQUEST, batches
from adapters.auth import BearerToken, CookieSession, netrc_credentials
from adapters.http import transport_error

log = logging.getLogger(__name__)

EARTHDATA_HOST = "urs.earthdata.nasa.gov"
SESSION_COOKIE = "asf-urs"
MAX_REDIRECTS = 8
NO_CREDENTIALS = ("HyP3: no Earthdata credentials: set EARTHDATA_TOKEN, or EARTHDATA_USERNAME and "
                  "EARTHDATA_PASSWORD, or add a ~/.netrc entry for machine urs.earthdata.nasa.gov")
JOB_FILTERS = ("name", "status_code", "job_type", "start", "end", "user_id")


def earthdata_auth(auth_url: str = AUTH_URL, env: Mapping[str, str] | None = None) -> httpx.Auth | None:
    """HyP3 credentials from the environment: a bearer token, or a sign-in (username/password from the
    environment or ``~/.netrc``) that gets the ``asf-urs`` cookie. None when there are none."""
    env = os.environ if env is None else env
    token = env.get("EARTHDATA_TOKEN")
    if token:
        return BearerToken(token, service="HyP3 (Earthdata token)")
    username, password = env.get("EARTHDATA_USERNAME"), env.get("EARTHDATA_PASSWORD")
    if not (username and password):
        host = httpx.URL(auth_url).host
        found = netrc_credentials(host) or (netrc_credentials(EARTHDATA_HOST) if host != EARTHDATA_HOST else None)
        if found is None:
            return None
        username, password = found
    return CookieSession(_sign_in_with(auth_url, username, password), service="HyP3 sign-in (Earthdata Login)")


def _sign_in_with(auth_url: str, username: str, password: str) -> Any:
    def sign_in(client: httpx.Client) -> httpx.Cookies:
        """Earthdata Login: Basic credentials to the authorize URL (only there), then follow the redirects
        back to ASF, which sets the session cookie."""
        cookies = httpx.Cookies()
        response = client.get(auth_url, auth=(username, password), follow_redirects=False)
        for _ in range(MAX_REDIRECTS):
            cookies.extract_cookies(response)
            if not response.is_redirect:
                break
            # the cookies gathered so far, by the jar's own rules (not the client's jar: it is shared)
            request = client.build_request("GET", response.url.join(response.headers["Location"]))
            cookies.set_cookie_header(request)
            response = client.send(request, follow_redirects=False)
        if response.status_code in (401, 403):
            raise AuthError("HyP3 sign-in: Earthdata Login refused the username and password")
        if response.status_code >= 400:
            raise error_for_response(response, "HyP3 sign-in")
        if not any(c.name == SESSION_COOKIE for c in cookies.jar):
            raise AuthError(f"HyP3 sign-in: Earthdata Login did not give the {SESSION_COOKIE} session cookie")
        return cookies

    return sign_in


class Hyp3Client:
    """The HyP3 API at ``url``, through the harvester's ``client``, with ``auth`` on every request."""

    def __init__(self, client: httpx.Client, url: str = API_URL, auth: httpx.Auth | None = None) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.auth = auth

    def user(self) -> dict[str, Any]:
        """``GET /user``: who the credentials belong to. A clear `AuthError` when they are missing or refused."""
        if self.auth is None:
            raise AuthError(NO_CREDENTIALS)
        return self._request("GET", "/user", "HyP3: checking the credentials (GET /user)")

    def submit(self, jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``POST /jobs`` in batches of at most 200; the submitted jobs as the API returns them."""
        submitted: list[dict[str, Any]] = []
        for batch in batches(jobs, MAX_JOBS_PER_REQUEST):
            first = len(submitted) + 1
            what = f"HyP3: submitting jobs {first}-{first + len(batch) - 1} of {len(jobs)}"
            answer = self._request("POST", "/jobs", what, json={"jobs": batch})
            submitted.extend(answer.get("jobs") or [])
        return submitted

    def jobs(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """``GET /jobs`` with ``filters`` (name, status_code, job_type, start, end, user_id), every page."""
        unknown = set(filters) - set(JOB_FILTERS)
        if unknown:
            raise ValueError(f"unknown HyP3 job filter(s): {', '.join(sorted(unknown))}")
        params: dict[str, Any] | None = {k: v for k, v in filters.items() if v is not None}
        url: str | None = f"{self.url}/jobs"
        page = 0
        seen: set[str] = set()
        while url:
            page += 1
            answer = self._request("GET", url, f"HyP3: listing jobs (page {page})", params=params)
            for job in answer.get("jobs") or []:
                yield job
            next_url = answer.get("next")
            if next_url and next_url in seen:  # a server that loops would otherwise never end
                raise ProviderError(f"HyP3: listing jobs: page {page} links back to an earlier page")
            if next_url:
                seen.add(next_url)
            # the next URL carries the filters and the start_token (httpx would drop its query given params)
            url, params = next_url, None

    def job(self, job_id: str) -> dict[str, Any]:
        """``GET /jobs/{job_id}``."""
        return self._request("GET", f"/jobs/{job_id}", f"HyP3 job {job_id}")

    def _request(self, method: str, path_or_url: str, what: str, **kwargs: Any) -> Any:
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else f"{self.url}{path_or_url}"
        try:
            response = self.client.request(method, url, auth=self.auth, **kwargs)
        except httpx.TransportError as exc:
            where = httpx.URL(url)
            raise transport_error(exc, f"{what} at {where.host}:{where.port or where.scheme}") from exc
        if response.status_code >= 400:
            raise _fail(response, what)
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(f"{what}: the answer is not JSON (HTTP {response.status_code})") from exc


def _fail(response: httpx.Response, what: str) -> ProviderError:
    detail = None
    try:
        body = response.json()
        if isinstance(body, Mapping):
            detail = body.get("detail") or body.get("title")
    except ValueError:
        pass
    if response.status_code == 401:
        hint = "set EARTHDATA_TOKEN (or EARTHDATA_USERNAME/EARTHDATA_PASSWORD or ~/.netrc) to valid credentials"
        detail = f"{detail}; {hint}" if detail else hint
    return error_for_response(response, what, str(detail) if detail else None)
