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


def test_demo_harvests_every_hyp3_job_type_into_a_valid_catalog(demo_catalog: Path) -> None:
    from adapters.hyp3.jobs import API_EXAMPLES

    catalog = pystac.Catalog.from_file(str(demo_catalog / "catalog.json"))
    collections = {c.id: c for c in catalog.get_children()}
    assert set(collections) == {"hyp3-rtc-gamma", "hyp3-insar-gamma", "hyp3-insar-isce-burst",
                                "hyp3-insar-isce-multi-burst", "hyp3-autorift", "hyp3-aria-s1-gunw",
                                "hyp3-opera-rtc-s1"}
    items = {i.id: i for i in catalog.get_items(recursive=True)}
    assert len(items) == len(API_EXAMPLES)
    for item in items.values():
        assert item.properties["hyp3:job_id"]
        assert any("thumbnail" in (a.roles or []) for a in item.assets.values())
        for asset in item.assets.values():
            assert Path(asset.get_absolute_href()).is_file()
            if asset.href.endswith(".tif") and "radar-geometry" not in (asset.roles or []):
                assert asset.media_type == "image/tiff; application=geotiff; profile=cloud-optimized"
    rtc = collections["hyp3-rtc-gamma"].to_dict()
    assert {"VV", "VH", "ls_map"} <= set(rtc["item_assets"])
    assert sorted(rtc["summaries"]["platform"]) == ["sentinel-1a", "sentinel-1b"]
    # nothing but the catalog and the harvester's state: no downloads, work or temporary files left behind
    assert not [p for p in demo_catalog.rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert not [p for p in (demo_catalog / ".harvest").rglob("*") if p.is_file() and
                {"downloads", "work"} & set(p.parts)]


def test_demo_again_rewrites_nothing(demo_catalog: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in demo_catalog.rglob("*") if p.is_file() and ".harvest" not in p.parts}
    result = harvester("demo", "--out", str(demo_catalog))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "downloads: 0; conversions: 0; items: 0 written" in result.stdout
    after = {p: p.stat().st_mtime_ns for p in demo_catalog.rglob("*") if p.is_file() and ".harvest" not in p.parts}
    assert after == before


def test_validate_valid_catalog_exits_0(demo_catalog: Path) -> None:
    from adapters.hyp3.jobs import API_EXAMPLES

    result = harvester("validate", str(demo_catalog))
    assert result.returncode == 0, result.stdout
    assert f"{1 + 7 + len(API_EXAMPLES)} object(s)" in result.stdout and "all valid" in result.stdout


def test_validate_broken_catalog_exits_1_and_names_the_object(demo_catalog: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(demo_catalog, broken)
    gunw_file = next((broken / "hyp3-aria-s1-gunw").glob("*/*.json"))
    data = json.loads(gunw_file.read_text())
    data["properties"]["proj:code"] = 4326  # must be a string such as "EPSG:4326"
    gunw_file.write_text(json.dumps(data))
    rtc_file = next((broken / "hyp3-rtc-gamma").glob("*/*.json"))
    vv = rtc_file.parent / json.loads(rtc_file.read_text())["assets"]["VV"]["href"]
    vv.unlink()
    result = harvester("validate", str(broken))
    assert result.returncode == 1
    assert gunw_file.stem in result.stdout and "proj:code" in result.stdout
    assert vv.name in result.stdout


def test_validate_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = harvester("validate", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "nowhere" in result.stderr


@pytest.mark.parametrize("command", [[], ["demo"], ["validate"], ["serve"], ["simulate"], ["run"], ["status"]])
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
