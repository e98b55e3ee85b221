"""Credentials for providers, as `httpx.Auth` flows that work with the harvester's sync client.

- `BearerToken`: a fixed token (``EARTHDATA_TOKEN``).
- `CookieSession`: a session cookie got by a sign-in function, renewed once on 401.
- `BasicThenToken`: HTTP Basic to a login endpoint for a bearer token (AppEEARS), renewed on 401/403.
- `OAuthClientCredentials`: OAuth2 client-credentials grant (Sentinel Hub), refreshed before expiry.
- `netrc_credentials`: a login and password from ``~/.netrc``.

Credentials live in these objects only: their ``repr`` hides them, and errors and log lines name the service,
never a secret. The sign-in flows are thread-safe: the downloader's threads share one object, and only one
of them signs in at a time while the others wait for the result.

Sign-in requests are sent through the same client as the request that needs them, so they get its retries,
timeouts and transport (they are marked safe to repeat: a 5xx on a login POST is retried). Their answers are
read explicitly; the classes do not set ``requires_response_body``, which would make httpx read every
response, downloads included, into memory.
"""

from __future__ import annotations

import base64
import logging
import netrc
import os
import threading
import time
from collections.abc import Callable, Generator, Mapping
from datetime import datetime, timezone
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any

import httpx

from adapters.errors import AuthError, error_for_response
from adapters.http import IDEMPOTENT, make_client, raise_for_status, transport_error
from adapters.redact import loggable_url, redact_url

log = logging.getLogger(__name__)

HIDDEN = "<hidden>"
Flow = Generator[httpx.Request, httpx.Response, None]
Clock = Callable[[], float]


class BearerToken(httpx.Auth):
    """``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str, *, service: str = "bearer token") -> None:
        if not token:
            raise AuthError(f"{service}: the token is empty")
        self._token = token
        self.service = service

    def auth_flow(self, request: httpx.Request) -> Flow:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return f"BearerToken(service={self.service!r}, token={HIDDEN})"


class _RenewingAuth(httpx.Auth):
    """A credential got by signing in, renewed when it expires and once when the server refuses it.

    Subclasses implement `_sign_in` (a generator: it may yield sign-in requests and receive their
    responses) returning the credential and its expiry (a `clock` time, or None), and `_apply`.
    """

    requires_request_body = True  # a refused request is sent again after the renewal
    renew_on: frozenset[int] = frozenset({401})

    def __init__(self, service: str, *, refresh_margin: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.service = service
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._credential: Any = None
        self._expires: float | None = None
        self._lifetime: float | None = None
        self._generation = 0
        self.sign_ins = 0  # how many times this object signed in (for tests and logs)

    def auth_flow(self, request: httpx.Request) -> Flow:
        credential, generation = yield from self._current(request, stale=None)
        self._apply(request, credential)
        response = yield request
        if response.status_code not in self.renew_on:
            return
        log.info("%s: %s %s answered HTTP %d; signing in again", self.service, request.method,
                 loggable_url(request.url), response.status_code)
        credential, _ = yield from self._current(request, stale=generation)
        self._apply(request, credential)
        yield request  # once: a second refusal is the caller's to report

    def _current(self, request: httpx.Request,
                 stale: int | None) -> Generator[httpx.Request, httpx.Response, tuple[Any, int]]:
        """The valid credential and its generation, signing in when there is none, it expires, or it is
        generation ``stale`` (refused). The lock is held across the sign-in: one thread signs in, the
        others wait and then use its result."""
        with self._lock:
            if self._credential is not None and self._generation != stale and not self._expiring():
                return self._credential, self._generation
            credential, expires = yield from self._sign_in(request)
            self._credential, self._expires = credential, expires
            self._lifetime = None if expires is None else max(0.0, expires - self._clock())
            self._generation += 1
            self.sign_ins += 1
            log.debug("%s: signed in (%s)", self.service,
                      "no expiry" if expires is None else f"valid for {self._lifetime:.0f} s")
            return credential, self._generation

    def _expiring(self) -> bool:
        if self._expires is None:
            return False
        margin = min(self.refresh_margin, (self._lifetime or 0.0) / 2)
        return self._clock() >= self._expires - margin

    def _sign_in(self, like: httpx.Request) -> Generator[httpx.Request, httpx.Response, tuple[Any, float | None]]:
        raise NotImplementedError

    def _apply(self, request: httpx.Request, credential: Any) -> None:
        raise NotImplementedError

    @staticmethod
    def _sign_in_request(like: httpx.Request, url: str, **kwargs: Any) -> httpx.Request:
        """A POST to ``url`` with the timeouts and User-Agent of the request ``like`` it signs in for (httpx
        gives requests made inside an auth flow neither), marked safe to repeat."""
        headers = {"User-Agent": like.headers.get("User-Agent", ""), **kwargs.pop("headers", {})}
        extensions = {IDEMPOTENT: True}
        if "timeout" in like.extensions:
            extensions["timeout"] = like.extensions["timeout"]
        return httpx.Request("POST", url, headers=headers, extensions=extensions, **kwargs)

    def _answer(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, dict[str, Any]]:
        """Send a sign-in request and return its JSON answer, or raise `AuthError` / `ProviderError`."""
        response = yield request
        response.read()
        if response.status_code in (400, 401, 403):
            raise AuthError(self._refusal(response))
        raise_for_status(response, f"{self.service} sign-in")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise AuthError(f"{self.service}: the sign-in answer is not a JSON object")
        return answer

    def _refusal(self, response: httpx.Response) -> str:
        """The message of a refused sign-in (subclasses may read the provider's answer)."""
        return f"{self.service}: sign-in refused (HTTP {response.status_code})"

    def _deadline_in(self, seconds: Any) -> float | None:
        try:
            return self._clock() + float(seconds)
        except (TypeError, ValueError):
            return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(service={self.service!r}, credentials={HIDDEN})"


def _bearer(request: httpx.Request, token: str) -> None:
    request.headers["Authorization"] = f"Bearer {token}"


class BasicThenToken(_RenewingAuth):
    """Sign in with HTTP Basic at ``login_url`` for a bearer token, as AppEEARS does.

    The login answers ``{"token_type": "Bearer", "token": "...", "expiration": "<ISO time>"}``; the token
    is used until shortly before its expiration, and on a 401 or 403 the flow signs in again once and
    sends the request again.
    """

    renew_on = frozenset({401, 403})

    def __init__(self, login_url: str, username: str, password: str, *, token_field: str = "token",
                 service: str | None = None, refresh_margin: float = 60.0, clock: Clock = time.monotonic,
                 refusals: Callable[[httpx.Response], str | None] | None = None) -> None:
        if not username or not password:
            raise AuthError(f"{service or _service_of(login_url)}: username or password missing")
        super().__init__(service or _service_of(login_url), refresh_margin=refresh_margin, clock=clock)
        self.login_url = login_url
        self.token_field = token_field
        self._basic = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._refusals = refusals

    def _refusal(self, response: httpx.Response) -> str:
        """``refusals(response)`` when it has a message for this answer (e.g. "API not enabled"), else the
        generic one."""
        explained = self._refusals(response) if self._refusals is not None else None
        return explained or super()._refusal(response)

    @property
    def signed_in(self) -> bool:
        return self._credential is not None

    def sign_out(self, client: httpx.Client, logout_url: str) -> bool:
        """POST ``logout_url`` with the current token and forget it (nothing is sent when not signed in).

        True when the server disposed of the token (2xx); a refusal (an expired token) or an unreachable
        server is logged, not raised: the token is forgotten either way.
        """
        with self._lock:
            token, self._credential, self._expires = self._credential, None, None
        if token is None:
            return False
        try:
            response = client.post(logout_url, headers={"Authorization": f"Bearer {token}"}, auth=None)
        except httpx.TransportError as exc:
            log.info("%s: sign-out failed (%s)", self.service, type(exc).__name__)
            return False
        if not response.is_success:
            log.info("%s: sign-out answered HTTP %d", self.service, response.status_code)
            return False
        log.debug("%s: signed out", self.service)
        return True

    def _sign_in(self, like: httpx.Request) -> Generator[httpx.Request, httpx.Response, tuple[Any, float | None]]:
        request = self._sign_in_request(like, self.login_url, headers={"Authorization": self._basic})
        answer = yield from self._answer(request)
        token = answer.get(self.token_field)
        if not isinstance(token, str) or not token:
            raise AuthError(f"{self.service}: the sign-in answer has no {self.token_field!r}")
        return token, self._expiration(answer.get("expiration"))

    def _expiration(self, value: Any) -> float | None:
        """The clock time of an ISO ``expiration`` (None when absent or unreadable)."""
        if not isinstance(value, str):
            return None
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return self._clock() + (when - datetime.now(timezone.utc)).total_seconds()

    def _apply(self, request: httpx.Request, credential: Any) -> None:
        _bearer(request, credential)

    def __repr__(self) -> str:
        return f"BasicThenToken(login_url={redact_url(self.login_url)!r}, credentials={HIDDEN})"


class OAuthClientCredentials(_RenewingAuth):
    """OAuth2 client-credentials grant (Sentinel Hub): a bearer token from ``token_url``.

    POSTs ``grant_type=client_credentials`` with the client id and secret as form fields and uses the
    ``access_token`` until ``refresh_margin`` seconds before its ``expires_in`` runs out (at most half of
    its lifetime early); on a 401 it gets a new token once and sends the request again.
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, refresh_margin: float = 60.0,
                 scope: str | None = None, service: str | None = None, hint: str | None = None,
                 clock: Clock = time.monotonic) -> None:
        if not client_id or not client_secret:
            raise AuthError(f"{service or _service_of(token_url)}: client id or client secret missing")
        super().__init__(service or _service_of(token_url), refresh_margin=refresh_margin, clock=clock)
        self.token_url = token_url
        self.hint = hint  # what to check when the sign-in is refused (which variables hold the credentials)
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        if scope:
            self._form["scope"] = scope

    def _sign_in(self, like: httpx.Request) -> Generator[httpx.Request, httpx.Response, tuple[Any, float | None]]:
        request = self._sign_in_request(like, self.token_url, data=self._form)
        answer = yield from self._answer(request)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"{self.service}: the token answer has no access_token")
        return token, self._deadline_in(answer.get("expires_in"))

    def _refusal(self, response: httpx.Response) -> str:
        """The refusal with the server's OAuth error (RFC 6749: ``error``, ``error_description``) and the hint."""
        text = super()._refusal(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            text += f": {body['error']}" + (f" ({body['error_description']})"
                                            if isinstance(body.get("error_description"), str) else "")
        return text + (f"; {self.hint}" if self.hint else "")

    def _apply(self, request: httpx.Request, credential: Any) -> None:
        _bearer(request, credential)

    def __repr__(self) -> str:
        return f"OAuthClientCredentials(token_url={redact_url(self.token_url)!r}, credentials={HIDDEN})"


CookiePairs = tuple[tuple[str, str, str], ...]  # (name, value, domain)


class CookieSession(_RenewingAuth):
    """A session cookie from ``sign_in(client)``, attached to every request; renewed once on a 401.

    ``sign_in`` does whatever the provider's sign-in takes with the client it is given (``client``, or a
    private one from `adapters.http.make_client`) and returns the cookies (`httpx.Cookies` or a mapping).
    It runs lazily, on the first request. Requests that ``sign_in`` itself makes pass through untouched,
    even when this object is the client's default auth.
    """

    def __init__(self, sign_in: Callable[[httpx.Client], httpx.Cookies | Mapping[str, str]], *,
                 client: httpx.Client | None = None, service: str = "cookie session",
                 clock: Clock = time.monotonic) -> None:
        super().__init__(service, clock=clock)
        self._sign_in_fn = sign_in
        self._client = client
        self._own_client: httpx.Client | None = None
        self._local = threading.local()

    def auth_flow(self, request: httpx.Request) -> Flow:
        if getattr(self._local, "signing_in", False):
            yield request  # a request of the sign-in itself
            return
        yield from super().auth_flow(request)

    def _sign_in(self, like: httpx.Request) -> Generator[httpx.Request, httpx.Response, tuple[Any, float | None]]:
        yield from ()  # sign_in makes its own requests: nothing to send through the flow
        self._local.signing_in = True
        try:
            cookies = self._sign_in_fn(self._sign_in_client())
        except httpx.TransportError as exc:
            raise transport_error(exc, f"{self.service} sign-in") from exc
        except httpx.HTTPStatusError as exc:
            raise error_for_response(exc.response, f"{self.service} sign-in") from exc
        finally:
            self._local.signing_in = False
        pairs = _cookie_pairs(cookies)
        if not pairs:
            raise AuthError(f"{self.service}: sign-in gave no cookies")
        return pairs, None

    def _sign_in_client(self) -> httpx.Client:
        if self._client is not None:
            return self._client
        if self._own_client is None:
            self._own_client = make_client()
        return self._own_client

    def _apply(self, request: httpx.Request, credential: Any) -> None:
        host = request.url.host
        mine = {name: value for name, value, domain in credential if _domain_matches(host, domain)}
        existing = [p.strip() for p in request.headers.get("Cookie", "").split(";") if p.strip()]
        kept = [p for p in existing if p.partition("=")[0] not in mine]
        request.headers["Cookie"] = "; ".join(kept + [f"{n}={v}" for n, v in mine.items()])

    def close(self) -> None:
        """Close the private sign-in client, if one was made."""
        if self._own_client is not None:
            self._own_client.close()
            self._own_client = None

    def __repr__(self) -> str:
        return f"CookieSession(service={self.service!r}, signed_in={self._credential is not None})"


def _cookie_pairs(cookies: httpx.Cookies | Mapping[str, str]) -> CookiePairs:
    if isinstance(cookies, httpx.Cookies):
        jar: list[Cookie] = list(cookies.jar)
        return tuple((c.name, c.value or "", c.domain or "") for c in jar)
    return tuple((str(k), str(v), "") for k, v in cookies.items())


def _domain_matches(host: str, domain: str) -> bool:
    domain = domain.lstrip(".").lower()
    host = host.lower()
    return not domain or host == domain or host.endswith("." + domain)


def _service_of(url: str) -> str:
    """How messages name the service at ``url``: its host."""
    return httpx.URL(url).host or redact_url(url)


def netrc_credentials(host: str, path: str | Path | None = None) -> tuple[str, str] | None:
    """The login and password for ``host`` in a netrc file (``path``, ``$NETRC`` or ``~/.netrc``).

    None when there is no such file or no entry (and no ``default`` entry) for the host. A file that
    cannot be parsed raises `AuthError` naming the file and line, never its content.
    """
    file = Path(path or os.environ.get("NETRC") or Path.home() / ".netrc").expanduser()
    if not file.is_file():
        return None
    try:
        entry = netrc.netrc(str(file)).authenticators(host)
    except netrc.NetrcParseError as exc:
        # the parser's message may quote a token of the file (a password): not chained on purpose
        raise AuthError(f"{file}: cannot parse the netrc file (line {exc.lineno})") from None
    except OSError as exc:
        raise AuthError(f"{file}: cannot read the netrc file ({exc.strerror})") from None
    if entry is None:
        return None
    login, _account, password = entry
    if not login or not password:
        return None
    return login, password


__all__ = [
    "BasicThenToken",
    "BearerToken",
    "CookieSession",
    "OAuthClientCredentials",
    "netrc_credentials",
]
