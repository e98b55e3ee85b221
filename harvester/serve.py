"""A read-only HTTP server for a catalog folder, for STAC Browser and COG viewers: a small WSGI app on werkzeug.

werkzeug does the HTTP: byte ranges (COG readers fetch tiles by range), ``ETag``/``Last-Modified`` with
``If-None-Match``/``If-Modified-Since``/``If-Range``, 206 and 416 answers, and the threaded server. On top of
it this module keeps our policy:

- permissive CORS on every answer, and the preflight (``OPTIONS``);
- nothing outside the folder (``..``, encoded or not, and symlinks that lead out) and nothing hidden: no path
  segment starting with ``.``, such as the ``.harvest/`` state folder and the temporary files of writes in
  progress, even through a symlink;
- the media types of our files (`catalogs.stac.MEDIA_TYPES`, JSON, GeoJSON...);
- a ``Range`` header that is not one range of bytes werkzeug can parse (several ranges, another unit, a
  malformed one) is ignored and the whole file is sent, as RFC 9110 allows; a suffix range longer than the
  file is the whole file (werkzeug would answer 416 to both);
- folders: a redirect to the name with a trailing ``/``, then their ``index.html`` or a listing without hidden
  entries;
- requests are logged through `logging` (debug), never printed.

It imports nothing of the GDAL stack, so that ``harvester serve`` starts fast.
"""

from __future__ import annotations

import html
import logging
import mimetypes
import os
import shlex
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.http import parse_range_header
from werkzeug.security import safe_join
from werkzeug.serving import LISTEN_QUEUE, ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.utils import redirect, send_file
from werkzeug.wrappers import Request, Response

from catalogs.errors import CatalogFormatError, HarvestError
from catalogs.stac import MEDIA_TYPES, ROOT_DOCUMENTS

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
STAC_BROWSER = "https://radiantearth.github.io/stac-browser/#/external/"
#: what files are served as: the catalog's media types, text with its charset
CONTENT_TYPES = {
    **MEDIA_TYPES,
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}
METHODS = ("GET", "HEAD", "OPTIONS")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges, ETag",
}
PREFLIGHT_MAX_AGE = "86400"  # seconds a browser may keep a preflight's answer

class ServeError(HarvestError):
    """The server cannot listen where it was asked to (port in use or out of range, address not ours)."""


def content_type(name: str) -> str:
    lower = name.lower()
    for suffix, media in CONTENT_TYPES.items():
        if lower.endswith(suffix):
            return media
    guessed, encoding = mimetypes.guess_type(name)
    if encoding:  # "x.csv.gz" is a gzip file, not a CSV (werkzeug would add a Content-Encoding instead)
        return "application/octet-stream"
    return guessed or "application/octet-stream"


def range_to_answer(header: str | None, size: int) -> str | None:
    """The ``Range`` header werkzeug should answer for a file of ``size`` bytes; ``None``: send the whole file.

    A header that is not one well-formed range of bytes (werkzeug's parser: several ranges, another unit, a
    malformed or reversed range) is ignored, as RFC 9110 allows; werkzeug alone would answer 416. A suffix
    longer than the file asks for all of it (RFC 9110 14.1.2), which werkzeug would also refuse. Anything else
    goes to werkzeug as it came: a 206, or a 416 when no byte of it is in the file.
    """
    parsed = parse_range_header(header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None
    start, _ = parsed.ranges[0]
    if start < 0 and -start > size:
        return "bytes=0-"
    return header


class CatalogApp:
    """The WSGI app serving the files of one folder, read-only."""

    def __init__(self, directory: Path | str) -> None:
        self.root = os.path.realpath(directory)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.respond(request)
        except HTTPException as exc:
            response = exc.get_response(environ)
        response.headers.update(CORS_HEADERS)
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self.preflight(request)
        if request.method not in METHODS:
            raise MethodNotAllowed(valid_methods=list(METHODS))
        target = self.resolve(request.path)
        if target is None:
            raise NotFound()
        if os.path.isdir(target):
            if not request.path.endswith("/"):
                return redirect(quote(request.path) + "/", code=301)
            index = os.path.join(target, "index.html")
            if not os.path.isfile(index):
                return self.listing(target, request.path)
            target = index
        if not os.path.isfile(target):
            raise NotFound()
        media_type = content_type(target)
        try:
            response = send_file(target, self._range_environ(request, target), mimetype=media_type, conditional=True)
        except OSError:  # gone or unreadable since the checks
            raise NotFound() from None
        response.headers["Content-Type"] = media_type  # werkzeug would add a second "; charset=utf-8" to text/*
        return response

    @staticmethod
    def _range_environ(request: Request, target: str) -> dict[str, Any]:
        """The request's environ with the ``Range`` header werkzeug is to answer (see `range_to_answer`)."""
        environ = request.environ
        if "HTTP_RANGE" not in environ:
            return environ
        answered = range_to_answer(environ["HTTP_RANGE"], os.path.getsize(target))
        environ = {key: value for key, value in environ.items() if key != "HTTP_RANGE"}
        if answered is not None:
            environ["HTTP_RANGE"] = answered
        return environ

    def resolve(self, path: str) -> str | None:
        """The real path of the file or folder that ``path`` (decoded) names, or ``None`` if it must not be served."""
        if "\x00" in path or "\\" in path:
            return None
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if any(part.startswith(".") for part in parts):  # hidden, and ".."
            return None
        joined = safe_join(self.root, *parts)
        if joined is None:
            return None
        real = os.path.realpath(joined)
        # where symlinks lead: ".." is out of the folder, another "." name is hidden inside it
        relative = os.path.relpath(real, self.root)
        if relative != "." and any(part.startswith(".") for part in Path(relative).parts):
            return None
        return real

    def preflight(self, request: Request) -> Response:
        return preflight(request, METHODS, "*, Range")

    def listing(self, folder: str, url_path: str) -> Response:
        try:
            names = sorted(name for name in os.listdir(folder) if not name.startswith("."))
        except OSError:
            raise NotFound() from None
        entries = []
        for name in names:
            shown = name + "/" if os.path.isdir(os.path.join(folder, name)) else name
            entries.append(f'<li><a href="{quote(shown)}">{html.escape(shown)}</a></li>')
        title = html.escape(url_path)
        page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
                f"<body><h1>{title}</h1><ul>{''.join(entries)}</ul></body></html>\n")
        response = Response(page, mimetype="text/html")
        response.cache_control.no_cache = True
        return response


def preflight(request: Request, methods: Iterable[str], allow_headers: str) -> Response:
    """The answer to a CORS preflight (``OPTIONS``) for a resource that takes ``methods``."""
    allowed = ", ".join(methods)
    response = Response(status=204, headers={"Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                                             "Access-Control-Allow-Methods": allowed,
                                             "Access-Control-Allow-Headers": allow_headers, "Allow": allowed})
    # Chrome asks before a public page (STAC Browser) may read from loopback (Private Network Access)
    if request.headers.get("Access-Control-Request-Private-Network") == "true":
        response.headers["Access-Control-Allow-Private-Network"] = "true"
    return response


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, logging through our logger (werkzeug's own adds a stderr handler and colours)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug('%s "%s" %s %s', self.address_string(), self.requestline, code, size)

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's name
        log.log(logging.WARNING if type == "error" else logging.DEBUG, "%s %s", self.address_string(),
                message % args if args else message)


class CatalogServer(ThreadedWSGIServer):
    """werkzeug's threaded WSGI server on a socket we bound (werkzeug's own binding prints and exits)."""

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's name
        log.log(logging.WARNING if type == "error" else logging.DEBUG, message, *args)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.error("error while serving %s", client_address, exc_info=True)


def make_server(directory: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                api: bool = False) -> CatalogServer:
    """A threaded HTTP server for ``directory``, bound but not yet serving (call ``serve_forever``).

    ``api``: also answer the STAC API at the root (`harvester.stacapi`; it builds its index first).

    ``port=0`` picks a free port; the real one is ``server.server_address[1]``. Raises `CatalogFormatError`
    when ``directory`` is not a folder and `ServeError` when it cannot listen on ``host:port``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        problem = "no such folder" if not directory.exists() else "not a folder"
        raise CatalogFormatError(f"{directory}: {problem}, nothing to serve")
    listener = _listen(host, port)  # first: a port in use is said before the API indexes the whole catalog
    try:
        app: Callable[..., Iterable[bytes]] = CatalogApp(directory)
        if api:
            from harvester.stacapi import StacApi  # DuckDB and pyarrow: loaded only for the API

            app = StacApi(directory, app)
        return CatalogServer(host, listener.getsockname()[1], app, _RequestHandler,
                             fd=listener.fileno())
    finally:
        listener.close()  # the server listens on its own duplicate of the descriptor


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``; `ServeError` saying why not, in the system's words."""
    where = address(host, port)
    if not 0 <= port <= 65535:
        raise ServeError(f"cannot serve on {where}: the port must be 0-65535")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after Ctrl-C
        listener.bind((host, port))
        listener.listen(LISTEN_QUEUE)
    except OSError as exc:  # in use (EADDRINUSE), not an address of this machine (EADDRNOTAVAIL), no such host
        listener.close()
        raise ServeError(f"cannot serve on {where}: {exc.strerror or exc}") from exc
    return listener


def address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def base_url(host: str, port: int) -> str:
    return f"http://{address(host, port)}/"


def server_url(server: ThreadedWSGIServer) -> str:
    host, port = server.server_address[:2]
    if isinstance(host, bytes):
        host = host.decode()
    return base_url(str(host), int(port))


def browser_link(url: str, root: str = ROOT_DOCUMENTS[0]) -> str:
    """The STAC Browser page that opens ``root`` of a catalog served at ``url``."""
    return f"{STAC_BROWSER}{url}{root}"


def browse_hint(directory: Path, program: str = "harvester", root: str = ROOT_DOCUMENTS[0]) -> str:
    """How to browse ``directory``: the ``serve`` command (``program`` runs the harvester) and the STAC Browser
    link it prints on its default address."""
    return (f"{program} serve {shlex.quote(str(directory))}, then open "
            f"{browser_link(base_url(DEFAULT_HOST, DEFAULT_PORT), root)}")
