"""Shared machinery of the provider simulators and of test servers.

- `LoopbackServer` runs any WSGI app on 127.0.0.1 (werkzeug's threaded server) in a daemon thread.
- `RequestLog` records what the server saw and sent, for tests to assert on (ranges asked for, bytes sent,
  how many requests ran at once).
- `FaultInjector` wraps an app and, on demand, answers an error status (429 with ``Retry-After``, 5xx) or
  cuts the connection in the middle of a body.
- `range_response` / `file_response` serve large bodies in constant memory, with single byte ranges.
- `PatternBody` is a deterministic generated body of any size (gigabytes without a file).

Run ``python -m adapters.simkit --size BYTES`` to serve a generated body on loopback from another process
(benchmarks use it); it prints its URL on the first line of stdout and offers a small control API under
``/_simkit/`` (request log, faults).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import mimetypes
import os
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 1 << 20
Reader = Callable[[int, int], bytes]


# --------------------------------------------------------------------------------------------- server


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler, logging request lines at DEBUG through our logger instead of to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(getattr(self, "path", "?")).path  # never the query: it may hold signatures
        log.debug("%s %s -> %s", self.command, path, code)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 (werkzeug's signature)
        log.debug("server: " + format, *args)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("server: " + format, *args)


class LoopbackServer:
    """A WSGI app served on 127.0.0.1 by werkzeug's threaded server, in a daemon thread.

    Use as a context manager (or call `close`)::

        with LoopbackServer(app) as server:
            httpx.get(server.url + "/path")

    Every connection gets its own thread, so many concurrent clients are fine. werkzeug's server closes
    each connection after one response (no keep-alive).
    """

    def __init__(self, app: WSGIApplication, port: int = 0, host: str = "127.0.0.1") -> None:
        self.app = app
        # bind here: werkzeug's own bind prints and exits the process when the port is taken
        with socket.create_server((host, port), backlog=128) as listener:
            self._server: BaseWSGIServer = make_server(host, port, app, threaded=True,
                                                       request_handler=_QuietHandler, fd=listener.fileno())
        self.host = host
        self.port: int = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01},  # close() waits up to this
            name=f"loopback-server-{self.port}", daemon=True,
        )
        self._thread.start()
        log.debug("serving %r on %s", app, self.url)

    @property
    def url(self) -> str:
        """The server's base URL, such as ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        """Stop accepting connections and wait for the serving loop to end (responses already in flight go
        on in their daemon threads)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# ---------------------------------------------------------------------------------------- request log


@dataclass
class RequestRecord:
    """One request as the server saw it, and what it answered.

    ``bytes_sent`` counts body bytes handed to the server and written (a chunk is counted once the server
    asks for the next one, i.e. once its write returned). ``fault`` names the injected fault, if any.
    """

    method: str
    path: str
    query: str
    range: str | None
    if_range: str | None
    started: float
    status: int | None = None
    bytes_sent: int = 0
    fault: str | None = None
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.finished is not None


class RequestLog:
    """Thread-safe record of the requests an app saw. Wrap an app with `wrap` (or use a `FaultInjector`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._records: list[RequestRecord] = []
        self._in_flight = 0
        self.max_concurrent = 0

    # -- written by the middleware
    def start(self, environ: WSGIEnvironment) -> RequestRecord:
        """Record a request that is starting."""
        record = RequestRecord(
            method=environ.get("REQUEST_METHOD", "GET"),
            path=environ.get("PATH_INFO", ""),
            query=environ.get("QUERY_STRING", ""),
            range=environ.get("HTTP_RANGE"),
            if_range=environ.get("HTTP_IF_RANGE"),
            started=time.monotonic(),
        )
        with self._cond:
            self._records.append(record)
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
        return record

    def finish(self, record: RequestRecord) -> None:
        """Mark ``record`` as answered (body fully sent, or the connection gone)."""
        with self._cond:
            if record.finished is None:
                record.finished = time.monotonic()
                self._in_flight -= 1
                self._cond.notify_all()

    # -- read by tests
    def records(self, path: str | None = None, method: str | None = None, *,
                settle: float = 5.0) -> list[RequestRecord]:
        """The requests seen so far (optionally only those for ``path`` / ``method``), oldest first.

        Waits up to ``settle`` seconds for requests still in flight, so that their ``status`` and
        ``bytes_sent`` are final when a client has just read the end of a body.
        """
        self.settle(settle)
        with self._cond:
            return [r for r in self._records
                    if (path is None or r.path == path) and (method is None or r.method == method)]

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is in flight; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def total_bytes(self, path: str | None = None) -> int:
        return sum(r.bytes_sent for r in self.records(path))

    def clear(self, *, settle: float = 5.0) -> None:
        """Forget the records (and the concurrency high-water mark), once the requests in flight are done
        (waiting up to ``settle`` seconds; those still running then are kept)."""
        self.settle(settle)
        with self._cond:
            self._records = [r for r in self._records if not r.done]
            self.max_concurrent = self._in_flight

    def __len__(self) -> int:
        with self._cond:
            return len(self._records)

    def wrap(self, app: WSGIApplication) -> WSGIApplication:
        """Middleware recording every request to ``app`` in this log."""
        return FaultInjector(app, self)

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.records()]


# ------------------------------------------------------------------------------------- fault injector


@dataclass
class FaultRule:
    """A fault to inject into matching requests, ``times`` more times."""

    pattern: re.Pattern[str]
    method: str | None = None
    status: int | None = None
    retry_after: str | None = None
    times: int = 1
    drop_after_bytes: int | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.pattern.search(path) is not None

    def describe(self) -> str:
        if self.status is not None:
            return f"status {self.status}"
        return f"drop after {self.drop_after_bytes} bytes"


class FaultInjector:
    """WSGI middleware that records requests in a `RequestLog` and injects faults added at run time.

    ``add(r"/files/", status=503, times=2)`` answers the next two matching requests with 503;
    ``add(r"/big", drop_after_bytes=1000)`` lets the next matching response start normally (status and
    full ``Content-Length``) and cuts the connection once 1000 body bytes are sent, so the client sees an
    incomplete body. Rules are tried in the order they were added; each match uses up one of its ``times``.
    """

    def __init__(self, app: WSGIApplication, log: RequestLog | None = None) -> None:
        self.app = app
        self.log = log if log is not None else RequestLog()
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, path_pattern: str, *, method: str | None = None, status: int | None = None,
            retry_after: float | str | None = None, times: int = 1,
            drop_after_bytes: int | None = None) -> FaultRule:
        """Add a rule: answer ``status`` or cut the body after ``drop_after_bytes`` bytes, ``times`` times.

        ``path_pattern`` is a regular expression searched in the request path. ``retry_after`` (seconds,
        or an HTTP date string) is sent as ``Retry-After`` with the status.
        """
        if (status is None) == (drop_after_bytes is None):
            raise ValueError("a fault needs exactly one of status and drop_after_bytes")
        if times < 1:
            raise ValueError("times must be at least 1")
        rule = FaultRule(re.compile(path_pattern), method.upper() if method else None, status,
                         None if retry_after is None else _retry_after_text(retry_after), times, drop_after_bytes)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every pending rule."""
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[FaultRule]:
        """The rules not used up yet."""
        with self._lock:
            return list(self._rules)

    def _take(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        record = self.log.start(environ)
        rule = self._take(record.method, record.path)
        if rule is not None:
            record.fault = rule.describe()
            log.info("injecting %s into %s %s", record.fault, record.method, record.path)
        if rule is not None and rule.status is not None:
            app: WSGIApplication = _status_response(rule.status, rule.retry_after)
        else:
            app = self.app

        def recording_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            record.status = int(status.split(None, 1)[0])
            return start_response(status, headers, exc_info)

        try:
            body = app(environ, recording_start_response)
        except BaseException:
            self.log.finish(record)
            raise
        drop = rule.drop_after_bytes if rule is not None else None
        return _RecordingBody(body, record, self.log, environ, drop)


def _retry_after_text(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def _status_response(status: int, retry_after: str | None) -> Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = json.dumps({"error": f"injected fault: HTTP {status}"})
    return Response(body, status=status, headers=headers, content_type="application/json")


class _RecordingBody:
    """The app's body iterable, counting bytes sent and cutting the connection when a rule says so."""

    def __init__(self, body: Iterable[bytes], record: RequestRecord, log_: RequestLog,
                 environ: WSGIEnvironment, drop_after: int | None) -> None:
        self._body = body
        self._record = record
        self._log = log_
        self._environ = environ
        self._drop_after = drop_after
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        record, limit = self._record, self._drop_after
        try:
            for chunk in self._body:
                if limit is not None and record.bytes_sent + len(chunk) >= limit:
                    yield chunk[: limit - record.bytes_sent]
                    record.bytes_sent = limit
                    self._cut()
                    return
                yield chunk
                record.bytes_sent += len(chunk)
        finally:
            # also here, not only when the server calls close(): werkzeug skips that when the client reset
            # the connection
            self.close()

    def _cut(self) -> None:
        """Close the connection under the server's feet (the bytes already written still arrive)."""
        sock: socket.socket | None = self._environ.get("werkzeug.socket")
        log.info("cutting the connection of %s %s after %d bytes", self._record.method, self._record.path,
                 self._record.bytes_sent)
        if sock is None:  # in-process (httpx.WSGITransport): the closest thing is a protocol error
            raise httpx.RemoteProtocolError("connection dropped by the fault injector")
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._log.finish(self._record)


# ----------------------------------------------------------------------------------- range responses


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``first``-``last`` of a body of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def requested_range(request: Request, size: int, etag: str | None = None) -> ByteRange | None | bool:
    """The single byte range ``request`` asks for in a body of ``size`` bytes.

    None: serve the whole body (no ``Range``, a malformed or multi-range one, another unit, or an
    ``If-Range`` that does not match ``etag``). False: the range cannot be satisfied (416).
    """
    header = request.headers.get("Range")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and (etag is None or etag.startswith("W/") or if_range.strip() != etag):
        return None
    parsed = request.range  # werkzeug.http.parse_range_header; None when malformed
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None
    start, stop = parsed.ranges[0]
    if start < 0:  # suffix range: the last -start bytes
        if size == 0:
            return False
        return ByteRange(max(size + start, 0), size - 1, size)
    if start >= size:
        return False
    last = size - 1 if stop is None else min(stop, size) - 1
    return ByteRange(start, last, size)


def range_response(request: Request, size: int, read: Reader, *, etag: str | None = None,
                   content_type: str = "application/octet-stream", ranges: bool = True,
                   chunk_size: int = DEFAULT_CHUNK, on_close: Callable[[], None] | None = None) -> Response:
    """A streamed response with the ``size`` bytes that ``read(offset, length)`` produces.

    Honours a single ``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` with 206 and ``Content-Range``,
    answers 416 when the range is unsatisfiable, and ``If-Range`` against ``etag`` (a quoted strong ETag).
    With ``ranges=False`` it behaves like a server without range support: ``Range`` is ignored and
    ``Accept-Ranges: none`` is sent. The body is produced in ``chunk_size`` pieces as the client reads
    (constant memory); ``on_close`` runs when the response is done with (also when cut short).
    """
    extra = {"Accept-Ranges": "bytes" if ranges else "none"}
    if etag is not None:
        etag = etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'
        extra["ETag"] = etag
    wanted = requested_range(request, size, etag) if ranges else None
    if wanted is False:
        if on_close is not None:
            on_close()
        return Response(b"", status=416, headers={**extra, "Content-Range": f"bytes */{size}"},
                        content_type=content_type)
    if isinstance(wanted, ByteRange):
        status, first, length = 206, wanted.first, wanted.length
        extra["Content-Range"] = wanted.content_range
    else:
        status, first, length = 200, 0, size
    extra["Content-Length"] = str(length)
    body = _stream(read, first, length, chunk_size, on_close)
    return Response(body, status=status, headers=extra, content_type=content_type)


def _stream(read: Reader, first: int, length: int, chunk_size: int,
            on_close: Callable[[], None] | None) -> Iterator[bytes]:
    """``read`` in pieces that end on multiples of ``chunk_size`` (aligned reads; a `PatternBody` whose
    period is the chunk size then hands out the same block object, without copying)."""
    try:
        offset, end = first, first + length
        while offset < end:
            n = min(chunk_size - offset % chunk_size, end - offset)
            data = read(offset, n)
            if len(data) != n:
                raise OSError(f"short read at {offset}: wanted {n} bytes, got {len(data)}")
            yield data
            offset += n
    finally:
        if on_close is not None:
            on_close()


def file_etag(stat: os.stat_result) -> str:
    """A strong ETag for a file, from its size and modification time."""
    return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'


def file_response(request: Request, path: str | Path, *, content_type: str | None = None,
                  ranges: bool = True, chunk_size: int = DEFAULT_CHUNK) -> Response:
    """`range_response` for a file on disk (404 when it does not exist). The file is opened on first read."""
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return Response("not found", status=404)
    handle: list[int] = []

    def read(offset: int, length: int) -> bytes:
        if not handle:
            handle.append(os.open(path, os.O_RDONLY))
        return os.pread(handle[0], length, offset)

    def close() -> None:
        while handle:
            os.close(handle.pop())

    media = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return range_response(request, stat.st_size, read, etag=file_etag(stat), content_type=media,
                          ranges=ranges, chunk_size=chunk_size, on_close=close)


class PatternBody:
    """A deterministic body of ``size`` bytes (a seeded random block of a prime length, repeated).

    The period is not a power of two, so a download resumed at a wrong offset gives a different digest.
    """

    PERIOD = 1_048_573  # a prime just under 1 MiB

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self._block = random.Random(seed).randbytes(self.PERIOD)
        self._twice = self._block + self._block
        self.etag = f'"pattern-{seed}-{size:x}"'

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (clipped to the body's end); a whole aligned period is not copied."""
        length = max(0, min(length, self.size - offset))
        parts: list[bytes] = []
        while length > 0:
            start = offset % self.PERIOD
            n = min(length, self.PERIOD)
            parts.append(self._block if start == 0 and n == self.PERIOD else self._twice[start:start + n])
            offset += n
            length -= n
        if not parts:
            return b""
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def digest(self, algorithm: str = "sha256") -> str:
        """The hex digest of the whole body (reads it all: seconds for gigabytes)."""
        h = hashlib.new(algorithm)
        for offset in range(0, self.size, DEFAULT_CHUNK):
            h.update(self.read(offset, DEFAULT_CHUNK))
        return h.hexdigest()

    def bytes(self) -> bytes:
        """The whole body in memory (for small test bodies)."""
        return self.read(0, self.size)


def body_app(read: Reader, size: int, *, etag: str | None = None, ranges: bool = True,
             chunk_size: int = DEFAULT_CHUNK) -> WSGIApplication:
    """A WSGI app answering every GET/HEAD with the same generated body (see `range_response`)."""

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        return range_response(request, size, read, etag=etag, ranges=ranges, chunk_size=chunk_size)

    return app


def pattern_app(body: PatternBody, *, ranges: bool = True) -> WSGIApplication:
    """`body_app` for a `PatternBody`, in chunks of its period (served without copying)."""
    return body_app(body.read, body.size, etag=body.etag, ranges=ranges, chunk_size=body.PERIOD)


# ---------------------------------------------------------------------------------- standalone server


def control_app(injector: FaultInjector) -> WSGIApplication:
    """Requests under ``/_simkit/`` control ``injector``; everything else goes through it.

    ``GET /_simkit/requests`` (the request log as JSON), ``DELETE /_simkit/requests`` (clear it),
    ``POST /_simkit/faults`` (JSON body: the keyword arguments of `FaultInjector.add`, ``path`` for the
    pattern).
    """

    @Request.application  # type: ignore[arg-type]
    def control(request: Request) -> Response:
        if request.path == "/_simkit/requests" and request.method == "GET":
            return Response(json.dumps(injector.log.as_json()), content_type="application/json")
        if request.path == "/_simkit/requests" and request.method == "DELETE":
            injector.log.clear()
            return Response(status=204)
        if request.path == "/_simkit/faults" and request.method == "POST":
            spec = dict(request.get_json())
            injector.add(spec.pop("path"), **spec)
            return Response(status=204)
        return Response("unknown control request", status=404)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/_simkit/"):
            return control(environ, start_response)
        return injector(environ, start_response)

    return app


Sim = TypeVar("Sim")


@dataclass
class ServedSimulator(Generic[Sim]):
    """A provider simulator served on loopback behind a `FaultInjector` (control API under ``/_simkit/``).

    ``prefix`` is the path of the provider's API below the server (AppEEARS answers under ``/api``).
    """

    sim: Sim
    injector: FaultInjector
    server: LoopbackServer
    prefix: str = ""

    @property
    def url(self) -> str:
        return self.server.url + self.prefix

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> ServedSimulator[Sim]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def serve_simulator(sim: Sim, *, port: int = 0, host: str = "127.0.0.1", prefix: str = "",
                    served: type[ServedSimulator[Sim]] = ServedSimulator) -> ServedSimulator[Sim]:
    """Serve ``sim`` (a WSGI app) on ``host:port`` (0: any free port) behind a fault injector; a simulator
    that names its own address in answers (``url``) is told it."""
    injector = FaultInjector(sim)  # type: ignore[arg-type]
    server = LoopbackServer(control_app(injector), port=port, host=host)
    if hasattr(sim, "url"):
        sim.url = server.url
    return served(sim, injector, server, prefix)


def wait_for_stdin_close() -> None:
    """Block until stdin closes or the process is interrupted: how a parent stops a simulator subprocess."""
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    """Serve a generated body (every path) on loopback until stdin closes or the process is killed."""
    parser = argparse.ArgumentParser(prog="python -m adapters.simkit", description=main.__doc__)
    parser.add_argument("--size", type=int, required=True, help="body size in bytes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-ranges", action="store_true", help="ignore Range headers")
    args = parser.parse_args(argv)
    body = PatternBody(args.size, args.seed)
    injector = FaultInjector(pattern_app(body, ranges=not args.no_ranges))
    with LoopbackServer(control_app(injector), port=args.port) as server:
        print(server.url, flush=True)
        wait_for_stdin_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
