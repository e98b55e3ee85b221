"""The NGU adapter from the command line: ``harvester simulate ngu`` and ``harvester submit ngu``, run as a user
runs them (the installed console script in a subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from catalogs.validate import validate_catalog
from tests.adapters.ngu.conftest import NguServer
from tests.processes import HARVESTER, harvester_process


def test_simulate_ngu_serves_the_api_until_interrupted() -> None:
    with harvester_process("simulate", "ngu", "--port", "0") as simulator:
        first = simulator.lines(1, timeout=30)[0]
        match = re.match(r"NGU InSAR simulator at (http://127\.0\.0\.1:\d+) ", first)
        assert match, first
        url = match.group(1)
        with httpx.Client(timeout=10) as client:
            datasets = client.get(f"{url}/list-datasets").json()
            assert [d["name"] for d in datasets] == ["in-asc1-v20a", "in-asc2-v20a", "in-asc3-v20a", "in-dsc1-v20a",
                                                     "in-dsc2-v20a", "in-dsc3-v20a"]
            query = client.post(f"{url}/in-asc1-v20a/query", params={"bbox": "20.1404,69.3438,20.1827,69.3293"})
            assert query.status_code == 200 and len(query.json()["id"]) == 32
        code, _, err = simulator.interrupt()
        assert code == 0
        assert "Traceback" not in err


def test_submit_ngu_from_flags_harvests_the_query(tmp_path: Path, ngu: NguServer) -> None:
    assert HARVESTER
    root = tmp_path / "catalog"
    env = {**os.environ, "NGU_API_URL": ngu.url}
    result = subprocess.run([HARVESTER, "-q", "submit", "ngu", "--catalog", str(root), "--dataset", "in-asc1-v20a",
                             "--bbox", "20.1404,69.3438,20.1827,69.3293", "--cell-size", "25", "--executor", "thread",
                             "--poll-interval", "0.05"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "items: 2 written" in result.stdout
    assert validate_catalog(root).ok
    assert ngu.sim.requests["query"] == 1
    item = json.loads((root / "ngu-insar-in-asc1-v20a" / "160-IW1-414-in-asc1-v20a" /
                       "160-IW1-414-in-asc1-v20a.json").read_text())
    assert item["properties"]["proj:transform"][0] == 25.0  # --cell-size


@pytest.mark.parametrize(("bbox", "message"), [
    ("20.1,69.3,20.1,69.4", "bbox: [20.1, 69.3, 20.1, 69.4] is an empty box (no width or no height)"),
    ("20.1,95,20.2,69.4", "bbox: latitude 95 is outside [-90, 90]"),
])
def test_submit_ngu_with_a_bad_bbox_exits_2_before_any_request(tmp_path: Path, ngu: NguServer, bbox: str,
                                                               message: str) -> None:
    assert HARVESTER
    env = {**os.environ, "NGU_API_URL": ngu.url}
    result = subprocess.run([HARVESTER, "submit", "ngu", "--catalog", str(tmp_path / "c"), "--dataset",
                             "in-asc1-v20a", "--bbox", bbox], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(ngu.log) == 0
