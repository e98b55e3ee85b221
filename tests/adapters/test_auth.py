"""Credential flows (adapters.auth): tokens, renewals, no loops, and secrets kept out of reprs, errors and logs."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from adapters.errors import AuthError, ProviderUnavailableError, error_for_response
from adapters.simkit import FaultInjector, LoopbackServer
from adapters.auth import (
    BasicThenToken,
    BearerToken,
    CookieSession,
    OAuthClientCredentials,
    netrc_credentials,
)
from adapters.http import RetryPolicy, make_client

SECRET = "pw-MARKER-5e0c1b"  # passwords, client secrets, tokens and cookies all contain it
USER = "alice"


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with DEBUG logging captured, and no secret may appear in it."""
    caplog.set_level(logging.DEBUG)
    yield
    assert SECRET not in caplog.text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


GATE_TIMEOUT = 10.0  # seconds a held sign-in waits for its threads before the test fails


class Entering(httpx.Auth):
    """Wraps an auth flow: counts the requests as they enter it, and sets ``all_in`` once ``expected`` have."""

    requires_request_body = True  # as the wrapped renewing flows

    def __init__(self, inner: httpx.Auth, expected: int) -> None:
        self.inner = inner
        self.expected = expected
        self.count = 0
        self.all_in = threading.Event()
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        with self._lock:
            self.count += 1
            if self.count >= self.expected:
                self.all_in.set()
        yield from self.inner.auth_flow(request)


class Service:
    """A provider with a login endpoint and a data endpoint, behind a MockTransport."""

    def __init__(self, *, expires_in: float = 3600.0) -> None:
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.logins: list[httpx.Request] = []
        self.data: list[httpx.Request] = []
        self.refuse_data: list[int] = []  # statuses for the next data requests, whatever the token
        self.refuse_login: int | None = None
        self.login_gate: threading.Event | None = None  # when given, a sign-in is answered only once it is set
        self.refusals: threading.Barrier | None = None  # when given, a 401 is answered once all its parties are
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/login", "/token"):
            return self.login(request)
        with self._lock:
            self.data.append(request)
            status = self.refuse_data.pop(0) if self.refuse_data else None
        if status is None:
            status = 200 if request.headers.get("Authorization") == f"Bearer {self.issued[-1]}" else 401
        if status == 401 and self.refusals is not None:
            self.refusals.wait(GATE_TIMEOUT)  # BrokenBarrierError when the other refused requests never come
        return httpx.Response(status, json={"ok": status == 200})

    def login(self, request: httpx.Request) -> httpx.Response:
        if self.login_gate is not None and not self.login_gate.wait(GATE_TIMEOUT):
            raise AssertionError(f"a sign-in was held {GATE_TIMEOUT} s and the requests it waited for never came")
        with self._lock:
            self.logins.append(request)
            if self.refuse_login:
                return httpx.Response(self.refuse_login, json={"error": "invalid_client"})
            token = f"tok{len(self.logins)}-{SECRET}"
            self.issued.append(token)
        if request.url.path == "/login":  # AppEEARS
            expiration = datetime.now(timezone.utc) + timedelta(seconds=self.expires_in)
            return httpx.Response(200, json={"token_type": "Bearer", "token": token,
                                             "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")})
        return httpx.Response(200, json={"access_token": token, "expires_in": self.expires_in,
                                         "token_type": "Bearer"})


@pytest.fixture
def service() -> Service:
    return Service()


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with make_client(transport=httpx.MockTransport(service), retries=RetryPolicy(sleep=lambda s: None)) as c:
        yield c


# ---------------------------------------------------------------------------------------- BearerToken


def test_bearer_token(client: httpx.Client, service: Service) -> None:
    service.issued.append(SECRET)
    auth = BearerToken(SECRET)
    assert client.get("http://api.example/data", auth=auth).status_code == 200
    assert service.data[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(auth) and SECRET not in str(auth)
    with pytest.raises(AuthError) as caught:
        BearerToken("")
    assert str(caught.value) == "bearer token: the token is empty"


def test_bearer_token_refused_is_reported_without_the_token(client: httpx.Client, service: Service) -> None:
    service.issued.append("another")
    response = client.get("http://api.example/data", auth=BearerToken(SECRET))
    assert response.status_code == 401 and len(service.data) == 1  # nothing to renew: no retry
    error = error_for_response(response, "HyP3 job list")
    assert isinstance(error, AuthError) and SECRET not in str(error)


# -------------------------------------------------------------------------------------- BasicThenToken


def appeears(clock: Clock | None = None) -> BasicThenToken:
    return BasicThenToken("http://appeears.example/login", USER, SECRET, clock=clock or time.monotonic)


def test_basic_then_token_logs_in_once_and_reuses_the_token(client: httpx.Client, service: Service) -> None:
    auth = appeears()
    for _ in range(3):
        assert client.get("http://appeears.example/api/task", auth=auth).status_code == 200
    (login,) = service.logins
    assert login.method == "POST"
    assert base64.b64decode(login.headers["Authorization"].split()[1]).decode() == f"{USER}:{SECRET}"
    assert login.headers["User-Agent"].startswith("stac-harvester/")  # like the client's own requests
    assert login.extensions["timeout"] == client.timeout.as_dict()
    assert all(r.headers["Authorization"] == f"Bearer {service.issued[0]}" for r in service.data)
    assert auth.sign_ins == 1


def test_basic_then_token_logs_in_again_shortly_before_expiration(client: httpx.Client, service: Service) -> None:
    service.expires_in = 600
    clock = Clock()
    auth = appeears(clock)
    client.get("http://appeears.example/api/task", auth=auth)
    clock.now += 500  # 100 s left: still more than the 60 s margin
    client.get("http://appeears.example/api/task", auth=auth)
    assert len(service.logins) == 1
    clock.now += 50  # 50 s left
    assert client.get("http://appeears.example/api/task", auth=auth).status_code == 200
    assert len(service.logins) == 2
    assert service.data[-1].headers["Authorization"] == f"Bearer {service.issued[1]}"


@pytest.mark.parametrize("status", [401, 403])
def test_basic_then_token_logs_in_again_once_when_refused(client: httpx.Client, service: Service,
                                                          status: int) -> None:
    auth = appeears()
    client.get("http://appeears.example/api/task", auth=auth)
    service.refuse_data = [status]  # e.g. the token was revoked on the server
    assert client.get("http://appeears.example/api/task", auth=auth).status_code == 200
    assert len(service.logins) == 2
    assert service.data[-1].headers["Authorization"] == f"Bearer {service.issued[1]}"


def test_basic_then_token_does_not_loop_when_always_refused(client: httpx.Client, service: Service) -> None:
    service.refuse_data = [403] * 10
    response = client.get("http://appeears.example/api/task", auth=appeears())
    assert response.status_code == 403
    assert len(service.logins) == 2 and len(service.data) == 2  # the first login, one re-login, one retry
    error = error_for_response(response, "AppEEARS task 1")
    assert isinstance(error, AuthError) and SECRET not in str(error)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_basic_then_token_login_refused_names_the_service_not_the_secret(client: httpx.Client, service: Service,
                                                                          status: int) -> None:
    service.refuse_login = status
    with pytest.raises(AuthError) as caught:
        client.get("http://appeears.example/api/task", auth=appeears())
    assert str(caught.value) == f"appeears.example: sign-in refused (HTTP {status})"
    assert service.data == []


def test_basic_then_token_login_unavailable(client: httpx.Client, service: Service) -> None:
    service.refuse_login = 503
    with pytest.raises(ProviderUnavailableError) as caught:
        client.get("http://appeears.example/api/task", auth=appeears())
    assert str(caught.value) == "appeears.example sign-in: HTTP 503"
    assert len(service.logins) == 5  # the client's retries apply to the login too


def test_basic_then_token_repr_hides_credentials() -> None:
    auth = appeears()
    assert SECRET not in repr(auth) and USER not in repr(auth)
    assert "appeears.example/login" in repr(auth)
    with pytest.raises(AuthError) as caught:
        BasicThenToken("http://appeears.example/login", USER, "")
    assert str(caught.value) == "appeears.example: username or password missing"


# ---------------------------------------------------------------------------------- OAuth client creds


def sentinelhub(clock: Clock | None = None, margin: float = 60) -> OAuthClientCredentials:
    return OAuthClientCredentials("http://sh.example/token", f"id-{SECRET}", f"secret-{SECRET}",
                                  refresh_margin=margin, clock=clock or time.monotonic)


def test_oauth_posts_the_grant_and_reuses_the_token(client: httpx.Client, service: Service) -> None:
    auth = sentinelhub()
    for _ in range(3):
        assert client.get("http://sh.example/api/v1/process", auth=auth).status_code == 200
    (grant,) = service.logins
    form = parse_qs(grant.content.decode())
    assert form == {"grant_type": ["client_credentials"], "client_id": [f"id-{SECRET}"],
                    "client_secret": [f"secret-{SECRET}"]}
    assert grant.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_oauth_refreshes_before_expiry(client: httpx.Client, service: Service) -> None:
    service.expires_in = 300
    clock = Clock()
    auth = sentinelhub(clock)
    client.get("http://sh.example/api", auth=auth)
    clock.now += 239
    client.get("http://sh.example/api", auth=auth)
    assert len(service.logins) == 1
    clock.now += 2  # within 60 s of expiry
    client.get("http://sh.example/api", auth=auth)
    assert len(service.logins) == 2
    assert service.data[-1].headers["Authorization"] == f"Bearer {service.issued[1]}"


def test_oauth_margin_is_at_most_half_the_lifetime(client: httpx.Client, service: Service) -> None:
    service.expires_in = 30  # shorter than the margin: without the cap every request would refresh
    clock = Clock()
    auth = sentinelhub(clock)
    client.get("http://sh.example/api", auth=auth)
    clock.now += 10
    client.get("http://sh.example/api", auth=auth)
    assert len(service.logins) == 1
    clock.now += 6
    client.get("http://sh.example/api", auth=auth)
    assert len(service.logins) == 2


def test_oauth_refreshes_once_on_401_and_does_not_loop(client: httpx.Client, service: Service) -> None:
    auth = sentinelhub()
    service.refuse_data = [401]
    assert client.get("http://sh.example/api", auth=auth).status_code == 200
    assert len(service.logins) == 2
    service.refuse_data = [401, 401]
    assert client.get("http://sh.example/api", auth=auth).status_code == 401
    assert len(service.logins) == 3  # one more, not a loop
    assert client.get("http://sh.example/api", auth=auth).status_code == 200
    assert len(service.logins) == 3


def test_oauth_is_thread_safe_one_token_request_for_many_threads(client: httpx.Client, service: Service) -> None:
    # the first sign-in is answered only once all 8 threads have entered the flow: the other 7 are certain to
    # arrive while it is in progress, whatever the machine's load
    auth = Entering(sentinelhub(), expected=8)
    service.login_gate = auth.all_in
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i: client.get(f"http://sh.example/api/{i}", auth=auth).status_code,
                                 range(16)))
    assert statuses == [200] * 16
    assert auth.count == 16
    assert len(service.logins) == 1


def test_oauth_concurrent_401s_renew_once(client: httpx.Client, service: Service) -> None:
    auth = sentinelhub()
    client.get("http://sh.example/api", auth=auth)
    service.issued.append("revoked")  # the server no longer accepts the token we hold
    # the six 401s are answered together: every thread is refused with the old token before any renews it
    service.refusals = threading.Barrier(6)
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda i: client.get("http://sh.example/api", auth=auth).status_code, range(6)))
    assert statuses == [200] * 6
    assert len(service.data) == 1 + 6 + 6  # the first request, six refused together, six sent again
    assert len(service.logins) == 2  # the threads refused with the same token share one renewal


def test_oauth_bad_client_is_an_auth_error_without_secrets(client: httpx.Client, service: Service) -> None:
    service.refuse_login = 401
    with pytest.raises(AuthError) as caught:
        client.get("http://sh.example/api", auth=sentinelhub())
    assert str(caught.value) == "sh.example: sign-in refused (HTTP 401): invalid_client"
    assert SECRET not in repr(sentinelhub())
    hinted = OAuthClientCredentials("http://sh.example/token", "id", "secret", hint="check SH_CLIENT_ID")
    with pytest.raises(AuthError) as caught:
        client.get("http://sh.example/api", auth=hinted)
    assert str(caught.value) == "sh.example: sign-in refused (HTTP 401): invalid_client; check SH_CLIENT_ID"


def test_oauth_answer_without_token(client: httpx.Client) -> None:
    bad = make_client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"nope": 1})))
    with bad, pytest.raises(AuthError) as caught:
        bad.get("http://sh.example/api", auth=sentinelhub())
    assert str(caught.value) == "sh.example: the token answer has no access_token"
    html = make_client(transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")))
    with html, pytest.raises(AuthError) as caught:
        html.get("http://sh.example/api", auth=sentinelhub())
    assert str(caught.value) == "sh.example: the sign-in answer is not a JSON object"


# -------------------------------------------------------------------------------------- CookieSession


class CookieSite:
    """A site that signs in with a form POST (setting a session cookie) and wants the cookie on data requests."""

    def __init__(self) -> None:
        self.sessions: list[str] = []
        self.requests: list[Request] = []
        self.refuse: list[int] = []

    @Request.application
    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        if request.path == "/signin":
            if request.form.get("password") != SECRET:
                return Response("no", status=401)
            session = f"s{len(self.sessions)}-{SECRET}"
            self.sessions.append(session)
            response = Response("welcome")
            response.set_cookie("session", session)
            return response
        if self.refuse:
            return Response("expired", status=self.refuse.pop(0))
        if self.sessions and request.cookies.get("session") == self.sessions[-1]:
            return Response(json.dumps({"other": request.cookies.get("other")}), content_type="application/json")
        return Response("sign in first", status=401)


def sign_in(client: httpx.Client) -> httpx.Cookies:
    response = client.post("http://site.example/signin", data={"user": USER, "password": SECRET})
    response.raise_for_status()
    return response.cookies


@pytest.fixture
def site() -> CookieSite:
    return CookieSite()


@pytest.fixture
def site_client(site: CookieSite) -> Iterator[httpx.Client]:
    with make_client(transport=httpx.WSGITransport(app=site)) as c:
        yield c


def test_cookie_session_signs_in_lazily_once(site: CookieSite, site_client: httpx.Client) -> None:
    auth = CookieSession(sign_in, client=site_client)
    assert site.sessions == []  # lazily
    for _ in range(3):
        assert site_client.get("http://site.example/data", auth=auth).status_code == 200
    assert len(site.sessions) == 1 and auth.sign_ins == 1


def test_cookie_session_keeps_other_cookies(site: CookieSite, site_client: httpx.Client) -> None:
    auth = CookieSession(sign_in, client=site_client)
    response = site_client.get("http://site.example/data", auth=auth, headers={"Cookie": "other=1; session=old"})
    assert response.json() == {"other": "1"}


def test_cookie_session_signs_in_again_once_on_401(site: CookieSite, site_client: httpx.Client) -> None:
    auth = CookieSession(sign_in, client=site_client)
    site_client.get("http://site.example/data", auth=auth)
    site.refuse = [401]
    assert site_client.get("http://site.example/data", auth=auth).status_code == 200
    assert len(site.sessions) == 2
    site.refuse = [401] * 5
    assert site_client.get("http://site.example/data", auth=auth).status_code == 401
    assert len(site.sessions) == 3  # once more, no loop


def test_cookie_session_as_the_clients_own_auth_does_not_recurse(site: CookieSite) -> None:
    with make_client(transport=httpx.WSGITransport(app=site)) as c:
        c.auth = CookieSession(sign_in, client=c)
        assert c.get("http://site.example/data").status_code == 200
    assert len(site.sessions) == 1


def test_cookie_session_failures(site_client: httpx.Client) -> None:
    empty = CookieSession(lambda c: {}, client=site_client, service="Earthdata")
    with pytest.raises(AuthError, match="Earthdata: sign-in gave no cookies"):
        site_client.get("http://site.example/data", auth=empty)

    def wrong_password(c: httpx.Client) -> httpx.Cookies:
        response = c.post("http://site.example/signin", data={"password": "nope"})
        response.raise_for_status()
        return response.cookies

    refused = CookieSession(wrong_password, client=site_client, service="Earthdata")
    with pytest.raises(AuthError, match=r"Earthdata sign-in: HTTP 401"):
        site_client.get("http://site.example/data", auth=refused)


def test_cookie_session_repr_hides_the_cookie(site_client: httpx.Client) -> None:
    auth = CookieSession(sign_in, client=site_client)
    site_client.get("http://site.example/data", auth=auth)
    assert SECRET not in repr(auth) and "signed_in=True" in repr(auth)


# ------------------------------------------------------------------------------------------ loopback


def test_token_flow_over_loopback_with_a_403_fault(tmp_path: Path) -> None:
    """AppEEARS-like service on a real port: one injected 403 makes the client log in again once."""
    tokens: list[str] = []

    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/api/login":
            tokens.append(f"t{len(tokens)}-{SECRET}")
            return Response(json.dumps({"token_type": "Bearer", "token": tokens[-1], "expiration": None}),
                            content_type="application/json")
        ok = request.headers.get("Authorization") == f"Bearer {tokens[-1]}" if tokens else False
        return Response("data" if ok else "no", status=200 if ok else 401)

    injector = FaultInjector(app)
    injector.add("^/api/task$", status=403)
    with LoopbackServer(injector) as server, make_client() as client:
        auth = BasicThenToken(server.url + "/api/login", USER, SECRET)
        assert client.get(server.url + "/api/task", auth=auth).text == "data"
        assert client.get(server.url + "/api/task", auth=auth).text == "data"
    assert [(r.path, r.status) for r in injector.log.records()] == [
        ("/api/login", 200), ("/api/task", 403), ("/api/login", 200), ("/api/task", 200), ("/api/task", 200)]


# -------------------------------------------------------------------------------------------- netrc


def test_netrc_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine urs.earthdata.nasa.gov login {USER} password {SECRET}\n"
                     "machine other.example login bob password hunter2\n")
    netrc.chmod(0o600)
    assert netrc_credentials("urs.earthdata.nasa.gov", netrc) == (USER, SECRET)
    assert netrc_credentials("nowhere.example", netrc) is None
    monkeypatch.setenv("NETRC", str(netrc))
    assert netrc_credentials("other.example") == ("bob", "hunter2")
    monkeypatch.setenv("NETRC", str(tmp_path / "absent"))
    assert netrc_credentials("other.example") is None


def test_netrc_default_entry(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"default login anon password {SECRET}\n")
    netrc.chmod(0o600)
    assert netrc_credentials("any.example", netrc) == ("anon", SECRET)


def test_netrc_parse_error_does_not_show_the_file(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine h.example login {USER} password\n{SECRET} bogus\n")
    netrc.chmod(0o600)
    with pytest.raises(AuthError) as caught:
        netrc_credentials("h.example", netrc)
    # the line is the netrc module's count (where its reader stopped), the rest of the message is ours
    assert re.fullmatch(rf"{re.escape(str(netrc))}: cannot parse the netrc file \(line \d+\)", str(caught.value))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
