"""The AppEEARS adapter from the command line (the installed console script in a subprocess): ``simulate``, and
``submit`` with a task built from flags against the simulator on loopback."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
import pystac

from adapters.appeears.simulator import PREFIX
from catalogs.validate import validate_catalog
from tests.adapters.appeears.conftest import CREDENTIAL_VARIABLES, AppeearsServer
from tests.processes import HARVESTER, harvester_process


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    env["NETRC"] = str(tmp_path / "no-netrc")
    env["APPEEARS_CACHE_DIR"] = str(tmp_path / "product-cache")
    env.update(extra)
    return env


def test_simulate_serves_the_api_until_interrupted(tmp_path: Path) -> None:
    with harvester_process("simulate", "appeears", "--port", "0", env=_env(tmp_path)) as simulator:
        first = simulator.lines(1, timeout=30)[0]
        match = re.match(r"AppEEARS simulator at (http://127\.0\.0\.1:\d+/api) ", first)
        assert match, first
        url = match.group(1)
        with httpx.Client(timeout=10) as client:
            login = client.post(f"{url}/login", auth=("sim-user", "sim-password"))
            assert login.status_code == 200 and login.json()["token_type"] == "Bearer"
            assert client.get(f"{url}/task").status_code == 403
            token = {"Authorization": f"Bearer {login.json()['token']}"}
            assert client.get(f"{url}/task", headers=token).json() == []
        assert simulator.interrupt()[0] == 0


def test_submit_a_point_task_from_flags(appeears: AppeearsServer, tmp_path: Path) -> None:
    assert HARVESTER
    catalog = tmp_path / "catalog"
    result = subprocess.run(
        [HARVESTER, "submit", "appeears", "--catalog", str(catalog), "--name", "cli-points", "--url", appeears.url,
         "--executor", "thread", "--poll-interval", "0.05", "--task-type", "point", "--start-date", "06-01-2020",
         "--end-date", "06-20-2020", "--layers", "MOD13Q1.061,_250m_16_days_NDVI",
         "--coordinates", "US-Ha1,DBF,42.5378,-72.1715;42.0,-72.0"],
        capture_output=True, text=True, timeout=120,
        env=_env(tmp_path, EARTHDATA_USERNAME="sim-user", EARTHDATA_PASSWORD="sim-password"))
    assert result.returncode == 0, result.stdout + result.stderr
    (task,) = appeears.sim.tasks.values()
    assert task.request["params"]["coordinates"] == [
        {"latitude": 42.5378, "longitude": -72.1715, "id": "US-Ha1", "category": "DBF"},
        {"latitude": 42.0, "longitude": -72.0}]
    assert validate_catalog(catalog).ok
    (item,) = pystac.Catalog.from_file(str(catalog / "catalog.json")).get_items(recursive=True)
    assert item.geometry == {"type": "MultiPoint", "coordinates": [[-72.1715, 42.5378], [-72.0, 42.0]]}
    assert "sim-password" not in result.stdout + result.stderr
    assert appeears.url.endswith(PREFIX)
