"""Fixtures for engine tests: the fake provider served on loopback, and configs that harvest it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pystac
import pytest

from adapters import registry
from adapters.simkit import FaultInjector, LoopbackServer, RequestLog
from harvester.config import Config, parse_config
from tests.harvester import fakeprovider
from tests.harvester.fakeprovider import FakeService

TOKEN = "fake-token-7d1c"


@dataclass
class FakeServer:
    service: FakeService
    faults: FaultInjector
    log: RequestLog
    url: str


@pytest.fixture
def fake_provider() -> Iterator[None]:
    fakeprovider.register()
    yield
    registry.unregister(fakeprovider.PROVIDER)
    registry.unregister(fakeprovider.FakeSearchAdapter.provider)


@pytest.fixture
def fake_server(fake_provider: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    service = FakeService(TOKEN)
    log = RequestLog()
    faults = FaultInjector(service, log)
    with LoopbackServer(faults) as server:
        service.url = server.url
        monkeypatch.setenv("FAKEPROV_TOKEN", TOKEN)
        yield FakeServer(service, faults, log, server.url)


def fake_config(root: Path, url: str, jobs: list[str], **run: Any) -> Config:
    """A config harvesting ``jobs`` (``name`` or ``name:kind``) from the fake service into ``root``."""
    options = {"executor": "inline", "poll_interval": 0.02, "poll_max_interval": 0.05, "timeout": 30, **run}
    raw = {
        "catalog": {"path": str(root), "title": "Fake harvest"},
        "run": options,
        "sources": [{"provider": fakeprovider.PROVIDER, "name": "fake", "url": url, "jobs": jobs}],
    }
    return parse_config(raw, base_dir=root.parent, env={})


def item_ids(root: Path) -> set[str]:
    """The ids of every item of the catalog at ``root``, found from its root."""
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {item.id for item in catalog.get_items(recursive=True)}


def job_ids(server: FakeServer) -> dict[str, str]:
    """The fake provider's jobs: name -> id."""
    return {job.name: job.id for job in server.service.jobs.values()}
