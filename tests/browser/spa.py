"""A static server for a built single-page app (STAC Browser): files as they are, and ``index.html`` for every
other path, so that deep links (``/external/...``) load the app, which then routes them itself."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SpaApp:
    def __init__(self, dist: Path) -> None:
        self.dist = Path(dist).resolve()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        target = (self.dist / request.path.lstrip("/")).resolve()
        if not target.is_file() or self.dist not in target.parents:
            target = self.dist / "index.html"
        response: Response = send_file(target, environ, conditional=True)
        return response(environ, start_response)


@contextmanager
def serve_spa(dist: Path) -> Iterator[str]:
    """Serve ``dist`` on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, SpaApp(dist), threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="spa", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
