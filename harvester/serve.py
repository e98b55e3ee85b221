"""A read-only static HTTP server for a catalog folder, for STAC Browser and COG viewers.

It adds what Python's ``http.server`` lacks for that use: permissive CORS (with preflight), byte ranges (COG
readers fetch tiles by range), ETags, and the media types of our files. It never serves outside the folder
(``..``, encoded or not, and symlinks that lead out) nor hidden files, such as the ``.harvest/`` state folder
and the temporary files of writes in progress.
"""

from __future__ import annotations

import email.utils
import html
import logging
import mimetypes
import os
import re
import socket
import stat
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from catalogs.errors import CatalogFormatError
from catalogs.stac import MEDIA_TYPES

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    **MEDIA_TYPES,
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges, ETag",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "*, Range",
    "Access-Control-Max-Age": "86400",
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024


def content_type(name: str) -> str:
    lower = name.lower()
    for suffix, media in CONTENT_TYPES.items():
        if lower.endswith(suffix):
            return media
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """The inclusive byte range a ``Range`` header asks for in a file of ``size`` bytes.

    Returns ``(first, last)``; ``None`` when the header is to be ignored (not a single ``bytes`` range, or
    malformed: RFC 9110 says to serve the whole file then); ``False`` when the range cannot be satisfied.
    """
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # bytes=-n, the last n bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return False
    return start, min(end, size - 1)


class CatalogRequestHandler(BaseHTTPRequestHandler):
    """Serves the files of one folder, read-only."""

    protocol_version = "HTTP/1.1"
    server_version = "stac-harvester"

    def __init__(self, *args: object, directory: str, **kwargs: object) -> None:
        self.directory = directory
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    # -- plumbing ----------------------------------------------------------------------------------------------

    def end_headers(self) -> None:
        for name, value in CORS_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug('%s "%s" %s %s', self.address_string(), self.requestline, code, size)

    def _not_found(self) -> None:
        self.send_error(HTTPStatus.NOT_FOUND)

    def _refuse_method(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD, OPTIONS")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")  # the request body, if any, is not read
        self.close_connection = True
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse_method

    # -- paths ------------------------------------------------------------------------------------------------

    def resolve(self) -> Path | None:
        """The file or folder the request names, or ``None`` if it must not be served."""
        raw = urlsplit(self.path).path
        path = unquote(raw, errors="strict") if "%" in raw else raw
        if "\x00" in path or "\\" in path:
            return None
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if any(part == ".." or part.startswith(".") for part in parts):
            return None
        root = os.path.realpath(self.directory)
        real = os.path.realpath(os.path.join(root, *parts))
        if real != root and not real.startswith(root + os.sep):
            return None  # a symlink that leads out of the folder
        relative = os.path.relpath(real, root)
        if relative != "." and any(part.startswith(".") for part in Path(relative).parts):
            return None  # a symlink to a hidden file inside the folder
        return Path(real)

    # -- methods ----------------------------------------------------------------------------------------------

    def do_OPTIONS(self) -> None:
        self.send_response(HTTPStatus.NO_CONTENT)
        for name, value in PREFLIGHT_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Allow", "GET, HEAD, OPTIONS")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        try:
            target = self.resolve()
        except UnicodeDecodeError:
            target = None
        if target is None:
            self._not_found()
            return
        try:
            info = target.stat()
        except OSError:
            self._not_found()
            return
        if stat.S_ISDIR(info.st_mode):
            if not urlsplit(self.path).path.endswith("/"):
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", urlsplit(self.path).path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            index = target / "index.html"
            if index.is_file():
                target, info = index, index.stat()
            else:
                self._listing(target, body)
                return
        if not stat.S_ISREG(info.st_mode):
            self._not_found()
            return
        self._send_file(target, info, body)

    def _send_file(self, target: Path, info: os.stat_result, body: bool) -> None:
        size = info.st_size
        etag = f'"{info.st_mtime_ns:x}-{size:x}"'
        if etag in [tag.strip() for tag in self.headers.get("If-None-Match", "").split(",")]:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.end_headers()
            return

        span: tuple[int, int] | None | bool = None
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if range_header and (if_range is None or if_range.strip() == etag):
            span = parse_range(range_header, size)
        if span is False:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return

        try:
            fh = open(target, "rb")
        except OSError:
            self._not_found()
            return
        with fh:
            if isinstance(span, tuple):
                first, last = span
                self.send_response(HTTPStatus.PARTIAL_CONTENT)
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
                fh.seek(first)
                length = last - first + 1
            else:
                self.send_response(HTTPStatus.OK)
                length = size
            self.send_header("Content-Type", content_type(target.name))
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", email.utils.formatdate(info.st_mtime, usegmt=True))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            if body:
                self._copy(fh, length)

    def _copy(self, fh: BinaryIO, length: int) -> None:
        remaining = length
        try:
            while remaining > 0:
                block = fh.read(min(_CHUNK, remaining))
                if not block:
                    break
                self.wfile.write(block)
                remaining -= len(block)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client went away during %s", self.requestline)
            self.close_connection = True
        if remaining:  # the file shrank while being sent: the declared length cannot be kept
            self.close_connection = True

    def _listing(self, folder: Path, body: bool) -> None:
        try:
            names = sorted(name for name in os.listdir(folder) if not name.startswith("."))
        except OSError:
            self._not_found()
            return
        items = []
        for name in names:
            shown = name + "/" if (folder / name).is_dir() else name
            items.append(f'<li><a href="{quote(shown)}">{html.escape(shown)}</a></li>')
        title = html.escape(unquote(urlsplit(self.path).path))
        page = (
            f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
            f"<body><h1>{title}</h1><ul>{''.join(items)}</ul></body></html>\n"
        ).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if body:
            self.wfile.write(page)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(directory: Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A threading HTTP server for ``directory``, bound but not yet serving (call ``serve_forever``).

    ``port=0`` picks a free port; the real one is ``server.server_address[1]``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CatalogFormatError(f"{directory}: not a folder, nothing to serve")
    handler = partial(CatalogRequestHandler, directory=os.path.realpath(directory))
    server_class = _Server6 if ":" in host else _Server
    return server_class((host, port), handler)


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    if isinstance(host, bytes):
        host = host.decode()
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(directory: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``directory`` until interrupted (Ctrl-C), logging where."""
    with make_server(directory, host, port) as server:
        url = server_url(server)
        root = next((name for name in ("catalog.json", "collection.json") if (Path(directory) / name).is_file()), "")
        log.info("serving %s at %s%s (Ctrl-C to stop)", directory, url, root)
        if root:
            log.info("browse: https://radiantearth.github.io/stac-browser/#/external/%s%s", url, root)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped serving %s", directory)
