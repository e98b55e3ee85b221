"""The Sentinel Hub simulator on a loopback port (request log, fault injection), and config helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.s3sim import LoopbackS3
from adapters.sentinelhub.simulator import SentinelHubSimulator, serve
from adapters.simkit import FaultInjector, RequestLog
from harvester.config import Config, parse_config

VARIABLES = ("SH_BASE_URL", "SH_AUTH_URL", "SH_CATALOG_URL", "SH_CLIENT_ID", "SH_CLIENT_SECRET")


@dataclass
class ShServer:
    sim: SentinelHubSimulator
    url: str
    log: RequestLog
    faults: FaultInjector


@pytest.fixture
def no_sh_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def serve_simulator(monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Iterator[ShServer]:
    """The simulator as `harvester simulate sentinelhub` serves it, and the environment pointing at it."""
    with serve(**kw) as served:
        for key, value in served.environment().items():
            monkeypatch.setenv(key, value)
        yield ShServer(served.sim, served.url, served.injector.log, served.injector)


@pytest.fixture
def sh(no_sh_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[ShServer]:
    """The simulator (``@pytest.mark.parametrize`` nothing: tests change ``sh.sim`` attributes) with 250
    Sentinel-2 L2A scenes and 40 L1C ones; the environment points the adapters at it."""
    yield from serve_simulator(monkeypatch, collections={"sentinel-2-l2a": 250, "sentinel-2-l1c": 40})


@pytest.fixture
def sh_s3(no_sh_credentials: None, s3_server: LoopbackS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[ShServer]:
    """The simulator delivering Async outputs to the loopback S3 server (polls_to_finish=2)."""
    yield from serve_simulator(monkeypatch, collections={"sentinel-2-l2a": 250, "sentinel-2-l1c": 40},
                               s3=s3_server.client)


def sh_config(root: Path, *sources: dict[str, Any], run: dict[str, Any] | None = None) -> Config:
    """A config harvesting ``sources`` into ``root`` (the environment gives the simulator's URLs)."""
    options = {"executor": "thread", "workers": 2, "poll_interval": 0.02, "poll_max_interval": 0.05,
               "timeout": 60, **(run or {})}
    raw = {"catalog": {"path": str(root), "title": "Sentinel Hub harvest"}, "run": options, "sources": list(sources)}
    import os

    return parse_config(raw, base_dir=root.parent, env=dict(os.environ))
