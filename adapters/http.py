"""The provider-facing HTTP toolkit: one client factory, retries with backoff in a transport, URL redaction,
and the mapping of transport failures and statuses to provider errors.

It lives below the engine so that adapters can use it without importing `harvester` (the packages depend
one way: harvester -> adapters -> catalogs). Every request of the harvester goes through a client made by `make_client`. Its `RetryTransport` retries
what is worth retrying (connection failures, 429, 5xx) with exponential backoff and full jitter, honouring
``Retry-After``; what is left after the retries is the caller's to turn into an error (see
`raise_for_status` and `transport_error`).

Nothing stored or logged may contain a URL as given: signed URLs carry credentials in their query. Use
`adapters.redact.redact_url` (or `loggable_url`, which drops the query altogether).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from adapters.errors import (
    ProviderError,
    ProviderUnavailableError,
    error_for_response,
    retry_after_seconds,
)
from adapters.redact import loggable_url, redact_url
from catalogs import __version__

log = logging.getLogger(__name__)

USER_AGENT = f"stac-harvester/{__version__}"

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How requests (and interrupted downloads) are retried.

    The wait before retry ``n`` (1-based) is uniform in ``[0, min(backoff_cap, backoff_base * 2**(n-1))]``
    (exponential backoff with full jitter), or the server's ``Retry-After`` for 429/503, at most
    ``max_wait``. ``max_attempts`` counts the first try. Methods outside ``idempotent_methods`` are retried
    only when the request cannot have been processed (a connection that was never made, or 429), unless
    ``retry_non_idempotent`` or the request carries the `IDEMPOTENT` extension. ``sleep`` and ``random``
    are hooks for tests.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_wait: float = 120.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS
    retry_non_idempotent: bool = False
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def backoff(self, retry: int) -> float:
        """The jittered wait before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** max(0, retry - 1)))
        return min(self.max_wait, self.random() * ceiling)

    def wait_for(self, retry: int, response: httpx.Response | None) -> float:
        """The wait before retry ``retry``: the response's ``Retry-After`` (429/503) or the backoff."""
        if response is not None and response.status_code in (429, 503):
            after = retry_after_seconds(response)
            if after is not None:
                return min(after, self.max_wait)
        return self.backoff(retry)

    def may_retry(self, method: str, *, sent: bool, idempotent: bool = False) -> bool:
        """Whether a failed ``method`` request may be sent again (``sent``: it may have been processed;
        ``idempotent``: the caller says repeating it is harmless, e.g. a sign-in POST)."""
        return (not sent or idempotent or self.retry_non_idempotent
                or method.upper() in self.idempotent_methods)



#: request extension marking a request as safe to repeat whatever its method:
#: ``httpx.Request(..., extensions={IDEMPOTENT: True})``
IDEMPOTENT = "harvester.idempotent"

#: exceptions that mean the request never reached the server
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
#: exceptions before a response that may come after the server got the request
_MAYBE_SENT_ERRORS = (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class RetryTransport(httpx.BaseTransport):
    """A transport that retries the requests of the ``inner`` transport according to a `RetryPolicy`.

    Only what happens before a response arrives is retried here (connection errors, timeouts waiting for
    the headers, retryable statuses); a body cut in the middle is the reader's business (the downloader
    resumes it). When the retries are used up the last response is returned (or the last error raised)
    for the caller to report.
    """

    def __init__(self, inner: httpx.BaseTransport, policy: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        policy, method = self.policy, request.method.upper()
        replayable = isinstance(request.stream, httpx.ByteStream)
        idempotent = bool(request.extensions.get(IDEMPOTENT))
        attempt = 1
        while True:
            try:
                response = self.inner.handle_request(request)
            except _NOT_SENT_ERRORS + _MAYBE_SENT_ERRORS as exc:
                sent = not isinstance(exc, _NOT_SENT_ERRORS)
                if (attempt >= policy.max_attempts or not replayable
                        or not policy.may_retry(method, sent=sent, idempotent=idempotent)):
                    raise
                wait = policy.backoff(attempt)
                self._log_retry(request, type(exc).__name__, wait, attempt)
            else:
                if (response.status_code not in policy.retry_statuses or attempt >= policy.max_attempts
                        or not replayable
                        or not policy.may_retry(method, sent=response.status_code != 429,
                                                idempotent=idempotent)):
                    return response
                wait = policy.wait_for(attempt, response)
                _discard(response)
                self._log_retry(request, f"HTTP {response.status_code}", wait, attempt)
            policy.sleep(wait)
            attempt += 1

    def _log_retry(self, request: httpx.Request, why: str, wait: float, attempt: int) -> None:
        log.info("retrying %s %s after %s in %.2f s (attempt %d of %d)", request.method,
                 loggable_url(request.url), why, wait, attempt + 1, self.policy.max_attempts)

    def close(self) -> None:
        self.inner.close()


def _discard(response: httpx.Response) -> None:
    """Close a response that will be retried; a small body is read first so its connection can be reused."""
    try:
        length = int(response.headers.get("Content-Length", "-1"))
        if 0 <= length <= 64 * 1024:
            response.read()
    except (httpx.HTTPError, ValueError):
        pass
    finally:
        response.close()


class RedactingFilter(logging.Filter):
    """Rewrites URLs in log records (httpx logs every request's full URL at INFO) with `redact_url`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    """Make httpx's own request log lines safe (idempotent; `make_client` calls it)."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactingFilter) for f in httpx_log.filters):
        httpx_log.addFilter(RedactingFilter())


#: bytes httpcore asks the socket for per read (its default is 64 KiB); larger reads cut the per-chunk
#: overhead of big downloads by about a third of the CPU
READ_SIZE = 256 * 1024


def _tune_read_size() -> None:
    """Raise httpcore's read size for HTTP/1.1 (a class attribute without a public setting)."""
    try:
        from httpcore._sync.http11 import HTTP11Connection
    except ImportError:  # pragma: no cover - another httpcore layout: keep its default
        return
    if getattr(HTTP11Connection, "READ_NUM_BYTES", READ_SIZE) < READ_SIZE:
        HTTP11Connection.READ_NUM_BYTES = READ_SIZE


def make_client(*, timeout: float = 60.0, connect_timeout: float = 10.0, max_connections: int = 16,
                retries: RetryPolicy | None = None, user_agent: str = USER_AGENT,
                transport: httpx.BaseTransport | None = None, proxy: str | None = None,
                auth: httpx.Auth | None = None) -> httpx.Client:
    """The harvester's HTTP client: timeouts, a connection pool, retries, redirects followed.

    ``timeout`` applies to each read, write and pool wait, ``connect_timeout`` to making a connection.
    ``transport`` replaces the network (``httpx.WSGITransport(app=simulator)``, ``httpx.MockTransport``);
    retries wrap it all the same. Proxies come from ``proxy`` only (the environment's proxy variables are
    not consulted when the transport is ours).
    """
    install_log_redaction()
    _tune_read_size()
    inner = transport or _PoolOnFirstUse(lambda: httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        proxy=proxy,
    ))
    return httpx.Client(
        transport=RetryTransport(inner, retries),
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        headers={"User-Agent": user_agent},
        follow_redirects=True,
        auth=auth,
    )


class _PoolOnFirstUse(httpx.BaseTransport):
    """The network transport, made when the first request is sent.

    Making it loads the system's CA certificates into a TLS context (25 ms), which a run that finds
    nothing to do (every job harvested before) never needs.
    """

    def __init__(self, make: Callable[[], httpx.BaseTransport]) -> None:
        self._make = make
        self._transport: httpx.BaseTransport | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            with self._lock:  # the download threads share one client
                if self._transport is None:
                    self._transport = self._make()
        return self._transport.handle_request(request)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def raise_for_status(response: httpx.Response, what: str, detail: str | None = None) -> httpx.Response:
    """``response`` when it is a success (2xx), else the matching `ProviderError` for ``what`` is raised."""
    if response.is_success:
        return response
    raise error_for_response(response, what, detail)


def transport_error(exc: httpx.TransportError, what: str) -> ProviderError:
    """The error to raise (``from exc``) for a request about ``what`` that failed without a response.

    The message names the kind of failure, never the URL (``str(exc)`` may contain it).
    """
    return ProviderUnavailableError(f"{what}: {_describe(exc)}")


def _describe(exc: httpx.TransportError) -> str:
    kinds: dict[type[Exception], str] = {
        httpx.ConnectTimeout: "timed out connecting",
        httpx.ConnectError: "could not connect",
        httpx.ReadTimeout: "timed out waiting for the server",
        httpx.WriteTimeout: "timed out sending the request",
        httpx.PoolTimeout: "timed out waiting for a free connection",
        httpx.RemoteProtocolError: "the server closed the connection or broke the protocol",
        httpx.ReadError: "the connection failed while reading",
        httpx.WriteError: "the connection failed while sending",
    }
    for kind, text in kinds.items():
        if isinstance(exc, kind):
            return text
    return f"transfer failed ({type(exc).__name__})"
