"""The AppEEARS simulator on a loopback port (with a request log and fault injection), and config helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.appeears.simulator import PREFIX, AppeearsSimulator
from adapters.simkit import FaultInjector, LoopbackServer, RequestLog
from harvester.config import Config, parse_config

CREDENTIAL_VARIABLES = ("EARTHDATA_TOKEN", "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD", "APPEEARS_API_URL",
                        "APPEEARS_CACHE_DIR")
AREA_TASK = {"task_type": "area", "task_name": "fields", "params": {
    "dates": [{"startDate": "01-01-2020", "endDate": "02-15-2020"}],
    "layers": [{"product": "MOD13Q1.061", "layer": "_250m_16_days_NDVI"}],
    "geo": {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[10.0, 59.8], [10.3, 59.8], [10.3, 60.0], [10.0, 60.0], [10.0, 59.8]]]}}]},
    "output": {"format": {"type": "geotiff"}, "projection": "geographic"}}}
POINT_TASK = {"task_type": "point", "task_name": "stations", "params": {
    "dates": [{"startDate": "06-01-2020", "endDate": "07-15-2020"}],
    "layers": [{"product": "MOD13Q1.061", "layer": "_250m_16_days_NDVI"}],
    "coordinates": [{"id": "oslo", "category": "city", "latitude": 59.91, "longitude": 10.75},
                    {"id": "bergen", "category": "coast", "latitude": 60.39, "longitude": 5.32}]}}


@dataclass
class AppeearsServer:
    sim: AppeearsSimulator
    url: str  # the API's base URL (…/api)
    log: RequestLog
    faults: FaultInjector


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Earthdata credentials anywhere: not in the environment, not in a netrc file."""
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.fixture
def appeears(no_credentials: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AppeearsServer]:
    """A simulator on loopback; ``EARTHDATA_USERNAME``/``PASSWORD`` hold its user's credentials."""
    sim = AppeearsSimulator(seed=5, polls_to_finish=2)
    log = RequestLog()
    faults = FaultInjector(sim, log)
    with LoopbackServer(faults) as server:
        sim.url = server.url
        monkeypatch.setenv("EARTHDATA_USERNAME", "sim-user")
        monkeypatch.setenv("EARTHDATA_PASSWORD", "sim-password")
        monkeypatch.setenv("APPEEARS_CACHE_DIR", str(tmp_path / "product-cache"))
        yield AppeearsServer(sim, server.url + PREFIX, log, faults)


def task_file(folder: Path, task: dict[str, Any], **changes: Any) -> Path:
    """``task`` (with top-level ``changes``) written as a request JSON file in ``folder``."""
    path = folder / f"{changes.get('task_name', task['task_name'])}-request.json"
    path.write_text(json.dumps({**task, **changes}))
    return path


def appeears_config(root: Path, url: str, *, name: str = "appeears", run: dict[str, Any] | None = None,
                    **source: Any) -> Config:
    """A config with one AppEEARS source at ``url`` (``source`` gives its keys) harvesting into ``root``."""
    options = {"executor": "thread", "workers": 2, "poll_interval": 0.02, "poll_max_interval": 0.05,
               "timeout": 60, **(run or {})}
    raw = {"catalog": {"path": str(root), "title": "AppEEARS harvest"}, "run": options,
           "sources": [{"provider": "appeears", "name": name, "url": url, **source}]}
    return parse_config(raw, base_dir=root.parent, env={})
