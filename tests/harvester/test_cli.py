"""The command line, run as a user runs it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pystac
import pytest

HARVESTER = shutil.which("harvester", path=str(Path(sys.executable).parent))


def harvester(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert HARVESTER, "the harvester console script is not installed next to this Python"
    return subprocess.run([HARVESTER, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "catalog"
    result = harvester("demo", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all valid" in result.stdout
    assert f"harvester serve {out}" in result.stdout
    return out


def test_demo_builds_a_valid_catalog_of_every_kind(demo_catalog: Path) -> None:
    catalog = pystac.Catalog.from_file(str(demo_catalog / "catalog.json"))
    collections = {c.id: c for c in catalog.get_children()}
    assert set(collections) == {"demo-sar-rtc", "demo-ndvi", "demo-landcover", "demo-antimeridian", "demo-points"}
    items = {i.id: i for i in catalog.get_items(recursive=True)}
    assert len(items) == 7
    landcover = items["DEMO_LANDCOVER_h18v02_2022"]
    assert "proj:wkt2" in landcover.properties and "proj:code" not in landcover.properties
    assert items["DEMO_CHUKOTKA_20230801"].geometry["type"] == "MultiPolygon"
    for item in items.values():
        for asset in item.assets.values():
            if asset.href.endswith(".tif"):
                assert asset.media_type == "image/tiff; application=geotiff; profile=cloud-optimized"
                assert Path(asset.get_absolute_href()).is_file()
        if item.collection_id != "demo-points":
            assert "thumbnail" in item.assets
    sar = collections["demo-sar-rtc"].to_dict()
    assert set(sar["item_assets"]) == {"VV", "VH", "ls_map", "thumbnail"}
    assert sar["summaries"]["platform"] == ["sentinel-1a"]
    # nothing but the catalog and the writer's state: no staging or temporary files left behind
    assert not [p for p in demo_catalog.rglob("*") if p.name.endswith(".tmp") or "demo-staging" in p.parts]


def test_demo_again_rewrites_nothing(demo_catalog: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in demo_catalog.rglob("*") if p.is_file() and ".harvest" not in p.parts}
    result = harvester("demo", "--out", str(demo_catalog))
    assert result.returncode == 0, result.stderr
    after = {p: p.stat().st_mtime_ns for p in demo_catalog.rglob("*") if p.is_file() and ".harvest" not in p.parts}
    assert after == before


def test_validate_valid_catalog_exits_0(demo_catalog: Path) -> None:
    result = harvester("validate", str(demo_catalog))
    assert result.returncode == 0, result.stdout
    assert "13 object(s)" in result.stdout and "all valid" in result.stdout


def test_validate_broken_catalog_exits_1_and_names_the_object(demo_catalog: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(demo_catalog, broken)
    item_file = broken / "demo-ndvi" / "DEMO_NDVI_2023184" / "DEMO_NDVI_2023184.json"
    data = json.loads(item_file.read_text())
    data["properties"]["proj:code"] = 4326  # must be a string such as "EPSG:4326"
    item_file.write_text(json.dumps(data))
    (broken / "demo-points" / "DEMO_POINTS_160_IW1_414" / "DEMO_POINTS_160_IW1_414.csv").unlink()
    result = harvester("validate", str(broken))
    assert result.returncode == 1
    assert "DEMO_NDVI_2023184" in result.stdout and "proj:code" in result.stdout
    assert "DEMO_POINTS_160_IW1_414.csv" in result.stdout


def test_validate_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = harvester("validate", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "nowhere" in result.stderr


@pytest.mark.parametrize("command", [[], ["demo"], ["validate"], ["serve"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = harvester(*command, "--help")
    assert result.returncode == 0 and "usage: harvester" in result.stdout


def test_demo_into_unwritable_place_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = harvester("demo", "--out", str(blocker / "cat"))
    assert result.returncode == 1
    assert "cannot write" in result.stderr and str(blocker) in result.stderr
    assert "Traceback" not in result.stderr
