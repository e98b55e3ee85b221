"""The HyP3 simulator on a loopback port, with a request log and fault injection, and config helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.hyp3.simulator import Hyp3Simulator
from adapters.simkit import FaultInjector, LoopbackServer, RequestLog
from harvester.config import Config, parse_config

CREDENTIAL_VARIABLES = ("EARTHDATA_TOKEN", "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD", "HYP3_API_URL",
                        "HYP3_AUTH_URL")


@dataclass
class Hyp3Server:
    sim: Hyp3Simulator
    url: str
    log: RequestLog
    faults: FaultInjector


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Earthdata credentials anywhere: not in the environment, not in a netrc file."""
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.fixture
def hyp3(no_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hyp3Server]:
    """A simulator (3 jobs a page) on loopback; ``EARTHDATA_TOKEN`` holds its token."""
    sim = Hyp3Simulator(seed=7, page_size=3)
    log = RequestLog()
    faults = FaultInjector(sim, log)
    with LoopbackServer(faults) as server:
        sim.url = server.url
        monkeypatch.setenv("EARTHDATA_TOKEN", sim.token)
        yield Hyp3Server(sim, server.url, log, faults)


def hyp3_config(root: Path, url: str, *, name: str = "hyp3", run: dict[str, Any] | None = None,
                **source: Any) -> Config:
    """A config with one HyP3 source at ``url`` (``source`` gives its keys) harvesting into ``root``."""
    options = {"executor": "thread", "workers": 2, "poll_interval": 0.02, "poll_max_interval": 0.05,
               "timeout": 60, **(run or {})}
    raw = {"catalog": {"path": str(root), "title": "HyP3 harvest"}, "run": options,
           "sources": [{"provider": "hyp3", "name": name, "url": url, **source}]}
    return parse_config(raw, base_dir=root.parent, env={})
