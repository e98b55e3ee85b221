"""A loopback S3 server for the simulators, the demo and the tests: moto in server mode.

moto answers the S3 REST API in-process (a werkzeug server on a thread), so the real boto3 client code is
exercised over real HTTP, as against AWS or MinIO. Its buckets live in moto's process-wide backend: two
servers in one process see the same buckets, and `LoopbackS3.reset` empties them.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING

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
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self.port = server.get_host_and_port()[1]
        self._server = server
        log.debug("loopback S3 (moto) at %s", self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()  # type: ignore[attr-defined]

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
