"""A loopback S3 server for the simulators, the demo and the tests: moto in server mode.

moto answers the S3 REST API in-process (a werkzeug server on a thread), so the real boto3 client code is
exercised over real HTTP, as against AWS or MinIO. Its buckets live in moto's process-wide backend: two
servers in one process see the same buckets, and `LoopbackS3.reset` empties them.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from botocore.client import BaseClient

log = logging.getLogger(__name__)

#: the credentials the loopback server accepts (moto accepts any; these name themselves as fake)
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "loopback-access-key", "AWS_SECRET_ACCESS_KEY": "loopback-secret-key"}
REGION = "eu-central-1"


class LoopbackS3:
    """moto's S3 on ``127.0.0.1`` and a free port, for the duration of a ``with`` block (or start/stop)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: object | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        """What a boto3 client needs to talk to this server: its endpoint, fake credentials, a region."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_DEFAULT_REGION": REGION, **FAKE_CREDENTIALS}

    def start(self) -> LoopbackS3:
        # moto's own ThreadedMotoServer, but with a request handler that logs at DEBUG and without the query:
        # werkzeug's logs every request line at INFO, presigned URLs (signature, key id) included
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        server = make_server(self.host, self.port, DomainDispatcherApplication(create_backend_app), threaded=True,
                             request_handler=_quiet_handler())
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"loopback-s3-{self.port}", daemon=True)
        thread.start()
        self._server = (server, thread)
        log.debug("loopback S3 (moto) at %s", self.url)
        return self

    def stop(self) -> None:
        running, self._server = self._server, None
        if running is not None:
            server, thread = running  # type: ignore[misc]
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()

    def client(self) -> BaseClient:
        """A boto3 client for this server (explicit endpoint and credentials: the environment is not read)."""
        import boto3

        return boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        ).client("s3", endpoint_url=self.url)

    def reset(self) -> None:
        """Remove every bucket (moto's own reset endpoint)."""
        import httpx

        httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def __enter__(self) -> LoopbackS3:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _quiet_handler() -> type:
    """moto's request handler, logging request lines at DEBUG with the path only (made when moto is loaded)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietMotoHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            log.debug("%s %s -> %s", self.command, urlsplit(getattr(self, "path", "?")).path, code)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - werkzeug's signature
            log.debug("loopback S3: " + format, *args)

        def log_error(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("loopback S3: " + format, *args)

    return QuietMotoHandler
