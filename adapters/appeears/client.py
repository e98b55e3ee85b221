"""The AppEEARS API client: sign-in, tasks, their status and bundles.

Credentials: ``EARTHDATA_USERNAME``/``EARTHDATA_PASSWORD`` or a ``~/.netrc`` entry for
``urs.earthdata.nasa.gov`` sign in with HTTP Basic at ``POST /login`` for a bearer token (`BasicThenToken`:
a 403 on a secure call means the token expired, so it signs in again once and repeats the call; a second
403 is an `AuthError` saying what to check). ``EARTHDATA_TOKEN`` alone is sent as the bearer token as it is.
`AppeearsClient.logout` disposes of the token at the end of a run.

Every answer that is not a success becomes a `ProviderError` here, in `_fail`, with the API's own
``message`` verbatim (a 400 on ``POST /task`` says what is wrong with the request).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from adapters.auth import BasicThenToken, BearerToken, netrc_credentials
from adapters.errors import AuthError, ProviderError, error_for_response
from adapters.http import transport_error

log = logging.getLogger(__name__)

API_URL = "https://appeears.earthdatacloud.nasa.gov/api"
EARTHDATA_HOST = "urs.earthdata.nasa.gov"
NO_CREDENTIALS = ("AppEEARS: no Earthdata credentials: set EARTHDATA_USERNAME and EARTHDATA_PASSWORD (or "
                  "EARTHDATA_TOKEN), or add a ~/.netrc entry for machine urs.earthdata.nasa.gov")
NOT_ENABLED = ("AppEEARS: API access is not enabled for this Earthdata user: enable it in the AppEEARS "
               "user settings (see the AppEEARS API login documentation), then run again")
REFUSED = ("AppEEARS: the credentials were refused: check EARTHDATA_USERNAME/EARTHDATA_PASSWORD (or the "
           "~/.netrc entry for urs.earthdata.nasa.gov) and that API access is enabled for the user")
PAGE_SIZE = 100


def _message(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, Mapping) else None
    return str(message) if message else None


def explain_refusal(response: httpx.Response) -> str | None:
    """The sign-in refusal AppEEARS gives its own message: API access not enabled for the user."""
    message = _message(response) or ""
    if "not enabled" in message.lower():
        return NOT_ENABLED
    return REFUSED if response.status_code in (401, 403) else None


def appeears_auth(url: str = API_URL, env: Mapping[str, str] | None = None) -> httpx.Auth | None:
    """AppEEARS credentials from the environment or ``~/.netrc`` (None when there are none)."""
    env = os.environ if env is None else env
    username, password = env.get("EARTHDATA_USERNAME"), env.get("EARTHDATA_PASSWORD")
    if not (username and password):
        found = netrc_credentials(EARTHDATA_HOST)
        if found is not None:
            username, password = found
    if username and password:
        return BasicThenToken(f"{url.rstrip('/')}/login", username, password, service="AppEEARS sign-in",
                              refusals=explain_refusal)
    token = env.get("EARTHDATA_TOKEN")
    if token:
        return BearerToken(token, service="AppEEARS (Earthdata token)")
    return None


class AppeearsClient:
    """The AppEEARS API at ``url``, through the harvester's ``client``, with ``auth`` on the secure calls."""

    def __init__(self, client: httpx.Client, url: str = API_URL, auth: httpx.Auth | None = None) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.auth = auth

    def require_auth(self) -> httpx.Auth:
        if self.auth is None:
            raise AuthError(NO_CREDENTIALS)
        return self.auth

    # -- tasks
    def submit(self, task: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /task``: ``{"task_id", "status"}``. A 400's ``message`` is the error's text, verbatim."""
        return self._json("POST", "/task", f"AppEEARS: submitting task {task.get('task_name')!r}", json=task,
                          expect=(200, 201, 202))

    def task(self, task_id: str) -> dict[str, Any]:
        return self._json("GET", f"/task/{task_id}", f"AppEEARS task {task_id}")

    def tasks(self, *, status: str | None = None, task_type: str | None = None,
              page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """``GET /task`` page by page (``limit``/``offset``) until a page is short."""
        offset = 0
        while True:
            params: dict[str, Any] = {"limit": page_size, "offset": offset}
            if status:
                params["status"] = status
            if task_type:
                params["task_type"] = task_type
            page = self._json("GET", "/task", f"AppEEARS: listing tasks (offset {offset})", params=params)
            if not isinstance(page, list):
                raise ProviderError("AppEEARS: GET /task did not answer a list")
            yield from page
            if len(page) < page_size:
                return
            offset += page_size

    def status(self, task_id: str) -> tuple[bool, dict[str, Any]]:
        """``GET /status/{task_id}``: (done, the answer). A 303 means done: it is not followed."""
        what = f"AppEEARS task {task_id} status"
        response = self._send("GET", f"/status/{task_id}", what, follow_redirects=False)
        if response.status_code == 303:
            return True, _json_or_empty(response)
        if response.status_code >= 400:
            raise _fail(response, what)
        body = _json_or_empty(response)
        return body.get("status") == "done", body

    def bundle(self, task_id: str) -> dict[str, Any]:
        """``GET /bundle/{task_id}``: the files of a finished task."""
        return self._json("GET", f"/bundle/{task_id}", f"AppEEARS bundle of task {task_id}")

    def file_url(self, task_id: str, file_id: str) -> str:
        return f"{self.url}/bundle/{task_id}/{file_id}"

    def logout(self) -> bool:
        """``POST /logout`` with the token this client signed in for (nothing when it never signed in)."""
        if isinstance(self.auth, BasicThenToken):
            return self.auth.sign_out(self.client, f"{self.url}/logout")
        return False

    # -- plumbing
    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, f"{self.url}{path}", auth=self.require_auth(), **kwargs)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc

    def _json(self, method: str, path: str, what: str, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self._send(method, path, what, **kwargs)
        if response.status_code not in expect:
            raise _fail(response, what)
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(f"{what}: the answer is not JSON (HTTP {response.status_code})") from exc


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _fail(response: httpx.Response, what: str) -> ProviderError:
    message = _message(response)
    if response.status_code in (401, 403):
        # the flow signed in again once already: a refusal now is the credentials' or the account's
        explained = NOT_ENABLED if message and "not enabled" in message.lower() else REFUSED
        return AuthError(f"{what}: HTTP {response.status_code}: {explained}")
    if response.status_code == 400 and message:
        from adapters.errors import RequestRejectedError

        return RequestRejectedError(f"{what}: {message}")
    return error_for_response(response, what, message)
