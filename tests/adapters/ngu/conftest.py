"""The NGU simulator on a loopback port, with a request log and fault injection, and config helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.ngu.simulator import NguSimulator
from adapters.simkit import FaultInjector, LoopbackServer, RequestLog
from harvester.config import Config, parse_config

#: the API page's own example box (its corners upside down: north first); it spans swaths IW1 and IW2
EXAMPLE_BBOX = [20.1404, 69.3438, 20.1827, 69.3293]
EXAMPLE_AREA = (20.1404, 69.3293, 20.1827, 69.3438)


@dataclass
class NguServer:
    sim: NguSimulator
    url: str
    log: RequestLog
    faults: FaultInjector


@pytest.fixture
def ngu_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., NguServer]]:
    """Start a simulator (its arguments as given) on loopback; ``NGU_API_URL`` is never taken from outside."""
    monkeypatch.delenv("NGU_API_URL", raising=False)
    servers: list[LoopbackServer] = []

    def start(**kw: Any) -> NguServer:
        sim = NguSimulator(**{"seed": 5, "dates": 24, **kw})
        log = RequestLog()
        faults = FaultInjector(sim, log)
        server = LoopbackServer(faults)
        servers.append(server)
        return NguServer(sim, server.url, log, faults)

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def ngu(ngu_server: Callable[..., NguServer]) -> NguServer:
    return ngu_server()


def ngu_config(root: Path, url: str, *, name: str = "ngu", run: dict[str, Any] | None = None,
               **source: Any) -> Config:
    """A config with one NGU source at ``url`` (``source`` gives its keys) harvesting into ``root``."""
    options = {"executor": "thread", "workers": 2, "poll_interval": 0.02, "poll_max_interval": 0.05,
               "timeout": 60, **(run or {})}
    keys = {"dataset": "in-asc1-v20a", "bbox": EXAMPLE_BBOX, **source}
    raw = {"catalog": {"path": str(root), "title": "NGU harvest"}, "run": options,
           "sources": [{"provider": "ngu", "name": name, "url": url, **keys}]}
    return parse_config(raw, base_dir=root.parent, env={})
