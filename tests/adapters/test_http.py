"""The HTTP client factory, retries (adapters.http.RetryTransport) and URL redaction (adapters.redact)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from adapters.errors import ProviderUnavailableError, RateLimitedError, RequestRejectedError
from adapters.simkit import FaultInjector, LoopbackServer
from catalogs import __version__
from adapters.http import (
    IDEMPOTENT,
    RetryPolicy,
    RetryTransport,
    make_client,
    raise_for_status,
    transport_error,
)
from adapters.redact import loggable_url, redact_text, redact_url

MARKER = "s3cr3t-MARKER-91f2"


# ------------------------------------------------------------------------------------------ redaction


@pytest.mark.parametrize("url,expected", [
    (f"https://user:{MARKER}@host.example/a/b.tif", "https://host.example/a/b.tif"),
    (f"https://h.example/f.zip?X-Amz-Algorithm=AWS4&X-Amz-Credential={MARKER}&X-Amz-Signature={MARKER}"
     f"&x-amz-security-token={MARKER}&X-Amz-Expires=3600",
     "https://h.example/f.zip?X-Amz-Algorithm=AWS4&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED"
     "&x-amz-security-token=REDACTED&X-Amz-Expires=3600"),
    (f"http://h:8080/p?TOKEN={MARKER}&page=2&api_key={MARKER}&Sig={MARKER}&password={MARKER}#{MARKER}",
     "http://h:8080/p?TOKEN=REDACTED&page=2&api_key=REDACTED&Sig=REDACTED&password=REDACTED"),
    (f"http://h/p?apikey={MARKER}&access_token={MARKER}&key={MARKER}&secret={MARKER}&signature={MARKER}",
     "http://h/p?apikey=REDACTED&access_token=REDACTED&key=REDACTED&secret=REDACTED&signature=REDACTED"),
    ("http://h/p?q=a%20b&flag&empty=", "http://h/p?q=a%20b&flag&empty="),  # others kept verbatim
])
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert redact_url(httpx.URL(url)) == expected


def test_redact_text_redacts_every_url_in_a_message() -> None:
    message = ("'/vsicurl/https://b.example/x.tif?X-Amz-Signature=s1&part=2' not found; "
               "see http://user:pw@h.example/p?token=t2 or ftp://h.example/f")
    assert redact_text(message) == ("'/vsicurl/https://b.example/x.tif?X-Amz-Signature=REDACTED&part=2' not found; "
                                    "see http://h.example/p?token=REDACTED or ftp://h.example/f")
    assert redact_text("HTTP 404: no such job") == "HTTP 404: no such job"


def test_loggable_url_drops_query_and_userinfo() -> None:
    assert loggable_url(f"https://u:{MARKER}@h.example:8443/a/b?token={MARKER}#x") == "https://h.example:8443/a/b"


# ---------------------------------------------------------------------------------------- the policy


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    top = RetryPolicy(backoff_base=0.5, backoff_cap=3.0, random=lambda: 1.0)
    assert [top.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert RetryPolicy(random=lambda: 0.0).backoff(4) == 0.0
    half = RetryPolicy(backoff_base=1.0, random=lambda: 0.5)
    assert half.backoff(3) == 2.0


# ------------------------------------------------------------------------------- retries, in process


class Script:
    """A MockTransport handler answering from a list (statuses, exceptions or callables), recording calls."""

    def __init__(self, *answers: int | Exception | Callable[[httpx.Request], httpx.Response],
                 headers: dict[str, str] | None = None) -> None:
        self.answers = list(answers)
        self.headers = headers or {}
        self.calls: list[httpx.Request] = []
        self.closed = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return httpx.Response(answer, headers=self.headers, stream=_Tracked(self), request=request)


class _Tracked(httpx.SyncByteStream):
    def __init__(self, script: Script) -> None:
        self.script = script

    def __iter__(self) -> Iterator[bytes]:
        yield b"{}"

    def close(self) -> None:
        self.script.closed += 1


@pytest.fixture
def waits() -> list[float]:
    return []


def client_for(script: Script, waits: list[float], **policy: object) -> httpx.Client:
    retries = RetryPolicy(sleep=waits.append, random=lambda: 1.0, **policy)  # type: ignore[arg-type]
    return make_client(transport=httpx.MockTransport(script), retries=retries)


def test_5xx_bursts_then_success(waits: list[float]) -> None:
    script = Script(503, 502, 500, 200)
    with client_for(script, waits, backoff_base=0.1) as client:
        response = client.get("http://api.example/jobs")
    assert response.status_code == 200
    assert len(script.calls) == 4
    assert waits == [0.1, 0.2, 0.4]
    assert script.closed >= 3  # the failed responses were closed before retrying


def test_429_honours_retry_after_seconds_and_http_dates(waits: list[float]) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    later = lambda request: httpx.Response(429, headers={"Retry-After": when})  # noqa: E731
    script = Script(429, later, 200, headers={"Retry-After": "7"})
    with client_for(script, waits) as client:
        assert client.get("http://api.example/x").status_code == 200
    assert waits[0] == 7.0
    assert 25.0 <= waits[1] <= 30.0


def test_retry_after_is_capped_by_max_wait(waits: list[float]) -> None:
    script = Script(503, 200, headers={"Retry-After": "3600"})
    with client_for(script, waits, max_wait=60.0) as client:
        assert client.get("http://api.example/x").status_code == 200
    assert waits == [60.0]


def test_retries_exhausted_give_the_last_response_for_the_caller_to_raise(waits: list[float]) -> None:
    unavailable = Script(503)
    with client_for(unavailable, waits, max_attempts=3) as client:
        response = client.get("http://api.example/jobs/1")
    assert response.status_code == 503 and len(unavailable.calls) == 3 and len(waits) == 2
    with pytest.raises(ProviderUnavailableError, match=r"job 1: HTTP 503"):
        raise_for_status(response, "job 1")

    limited = Script(429, headers={"Retry-After": "5"})
    with client_for(limited, waits, max_attempts=2) as client:
        response = client.get("http://api.example/jobs/1")
    with pytest.raises(RateLimitedError) as caught:
        raise_for_status(response, "job 1")
    assert caught.value.retry_after == 5.0
    assert str(caught.value) == ("job 1: HTTP 429 (rate limited: still refused after the retries; run again later: "
                                 "a re-run resumes where this one stopped)")


def test_other_statuses_are_not_retried(waits: list[float]) -> None:
    script = Script(404, 200)
    with client_for(script, waits) as client:
        assert client.get("http://api.example/x").status_code == 404
    assert len(script.calls) == 1 and waits == []
    with pytest.raises(RequestRejectedError):
        raise_for_status(httpx.Response(422), "submission")
    assert raise_for_status(httpx.Response(204), "x").status_code == 204


def test_post_is_retried_only_when_it_was_not_processed(waits: list[float]) -> None:
    for answers, calls in [((503, 200), 1), ((500, 200), 1), ((429, 200), 2),
                           ((httpx.ConnectError("refused"), 200), 2), ((httpx.ConnectTimeout("slow"), 200), 2)]:
        script = Script(*answers)
        with client_for(script, waits) as client:
            client.post("http://api.example/jobs", json={"a": 1})
        assert len(script.calls) == calls, answers
    script = Script(httpx.ReadTimeout("no answer"), 200)
    with client_for(script, waits) as client, pytest.raises(httpx.ReadTimeout):
        client.post("http://api.example/jobs", json={"a": 1})
    assert len(script.calls) == 1


def test_the_policy_may_allow_retrying_any_method(waits: list[float]) -> None:
    script = Script(503, 200)
    with client_for(script, waits, retry_non_idempotent=True) as client:
        assert client.post("http://api.example/jobs", json={}).status_code == 200
    assert len(script.calls) == 2
    assert script.calls[1].content == b"{}"  # the body was sent again


def test_a_request_marked_idempotent_is_retried_whatever_its_method(waits: list[float]) -> None:
    script = Script(503, 200)
    with client_for(script, waits) as client:
        request = client.build_request("POST", "http://auth.example/token", data={"grant_type": "x"},
                                       extensions={IDEMPOTENT: True})
        assert client.send(request).status_code == 200
    assert len(script.calls) == 2


def test_get_is_retried_on_timeouts_and_protocol_errors_before_a_response(waits: list[float]) -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("closed"), httpx.ReadError("reset"), 200)
    with client_for(script, waits) as client:
        assert client.get("http://api.example/x").status_code == 200
    assert len(script.calls) == 4


def test_connection_errors_exhausted_raise_and_map_to_unavailable(waits: list[float]) -> None:
    script = Script(httpx.ConnectError(f"cannot reach http://api.example/?token={MARKER}"))
    with client_for(script, waits, max_attempts=3) as client, pytest.raises(httpx.ConnectError) as caught:
        client.get(f"http://api.example/x?token={MARKER}")
    assert len(script.calls) == 3
    error = transport_error(caught.value, "HyP3 job list")
    assert isinstance(error, ProviderUnavailableError)
    assert str(error) == "HyP3 job list: could not connect" and MARKER not in str(error)


def test_streamed_request_bodies_are_not_replayed(waits: list[float]) -> None:
    script = Script(503, 200)
    with client_for(script, waits) as client:
        response = client.put("http://api.example/x", content=iter([b"once"]))
    assert response.status_code == 503 and len(script.calls) == 1


def test_retries_are_logged_without_query_or_userinfo(waits: list[float], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(503, 200)
    with client_for(script, waits) as client:
        client.get(f"http://user:{MARKER}@api.example/files/a.tif?token={MARKER}")
    retry_lines = [r.getMessage() for r in caplog.records if r.name == "adapters.http"]
    assert retry_lines == ["retrying GET http://api.example/files/a.tif after HTTP 503 in 0.50 s (attempt 2 of 5)"]
    assert MARKER not in caplog.text  # httpx's own request lines are redacted too
    assert "token=REDACTED" in caplog.text


# --------------------------------------------------------------------------------------- the factory


def test_make_client_sets_agent_timeouts_and_follows_redirects() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/old":
            return httpx.Response(302, headers={"Location": "/new"})
        return httpx.Response(200, text="here")

    with make_client(transport=httpx.MockTransport(handler), timeout=12.0, connect_timeout=3.0) as client:
        response = client.get("http://api.example/old")
        assert response.text == "here" and response.url.path == "/new"
        assert client.timeout.read == 12.0 and client.timeout.connect == 3.0
    assert seen[0].headers["User-Agent"] == f"stac-harvester/{__version__}"
    assert isinstance(client._transport, RetryTransport)


# ------------------------------------------------------------------------------------- over loopback


@pytest.fixture
def server() -> Iterator[tuple[FaultInjector, str]]:
    @Request.application
    def app(request: Request) -> Response:
        return Response('{"ok": true}', content_type="application/json")

    injector = FaultInjector(app)
    with LoopbackServer(injector) as running:
        yield injector, running.url


def test_loopback_rate_limit_then_unavailable_burst(server: tuple[FaultInjector, str], waits: list[float]) -> None:
    injector, url = server
    injector.add("^/jobs$", status=429, retry_after=2)
    injector.add("^/jobs$", status=503, times=2)
    with make_client(retries=RetryPolicy(sleep=waits.append, random=lambda: 0.25)) as client:
        assert client.get(url + "/jobs").json() == {"ok": True}
    assert waits == [2.0, 0.25, 0.5]  # Retry-After, then jittered backoff (503 without Retry-After)
    assert [r.status for r in injector.log.records()] == [429, 503, 503, 200]


def test_loopback_retries_exhausted(server: tuple[FaultInjector, str], waits: list[float]) -> None:
    injector, url = server
    injector.add("^/jobs$", status=503, times=10)
    with make_client(retries=RetryPolicy(max_attempts=4, sleep=waits.append)) as client:
        response = client.get(url + "/jobs")
    with pytest.raises(ProviderUnavailableError):
        raise_for_status(response, "job list")
    assert len(injector.log.records()) == 4 and len(waits) == 3


def test_loopback_connection_refused_is_retried(waits: list[float]) -> None:
    with LoopbackServer(Response("x")) as gone:
        url = gone.url
    with make_client(retries=RetryPolicy(max_attempts=3, sleep=waits.append)) as client:
        with pytest.raises(httpx.ConnectError):
            client.get(url + "/x")
    assert len(waits) == 2
