"""The command line, run as a user runs it: the installed console script in a subprocess."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx

import pystac
import pytest

from tests.processes import HARVESTER, harvester_process


#: how `harvester submit`/`fetch` list the built-in providers (names padded to the longest, sentinelhub-catalog)
PROVIDER_LINES = [
    "  appeears             NASA AppEEARS: area and point samples of MODIS, VIIRS, SRTM... as COG-backed and "
    "GeoParquet items.",
    "  hyp3                 ASF HyP3: SAR products (RTC, InSAR, burst InSAR, autoRIFT, GUNW, OPERA RTC) as "
    "COG-backed items.",
    "  ngu                  NGU InSAR Norway: Sentinel-1 ground-motion points of a bounding box.",
    "  sentinelhub-async    Sentinel Hub Async Process API: requests whose outputs land in S3, harvested into COG "
    "items.",
    "  sentinelhub-catalog  Sentinel Hub Catalog: STAC items found by a search (pystac-client), assets left remote.",
    "  sentinelhub-process  Sentinel Hub Process API (synchronous, small areas): the TIFF or tar answer harvested "
    "into COG items.",
]


def harvester(*args: str, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert HARVESTER, "the harvester console script is not installed next to this Python"
    return subprocess.run([HARVESTER, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "catalog"
    # as `python3 dev.py demo` runs it: .venv/bin/harvester, which is not on the PATH
    result = harvester("demo", "--out", str(out), env={**os.environ, "PATH": os.defpath})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all valid" in result.stdout
    # the same link `harvester serve` prints on its default address (test_serve_prints_the_stac_browser_link)
    assert result.stdout.splitlines()[-1] == (
        f"browse: {Path(HARVESTER).resolve()} serve {out}, then open "  # type: ignore[arg-type]
        "https://radiantearth.github.io/stac-browser/#/external/http://127.0.0.1:8000/catalog.json")
    return out


def test_demo_harvests_every_hyp3_job_type_into_a_valid_catalog(demo_catalog: Path) -> None:
    from adapters.hyp3.jobs import API_EXAMPLES

    catalog = pystac.Catalog.from_file(str(demo_catalog / "catalog.json"))
    collections = {c.id: c for c in catalog.get_children() if c.id.startswith("hyp3-")}
    assert set(collections) == {"hyp3-rtc-gamma", "hyp3-insar-gamma", "hyp3-insar-isce-burst",
                                "hyp3-insar-isce-multi-burst", "hyp3-autorift", "hyp3-aria-s1-gunw",
                                "hyp3-opera-rtc-s1"}
    items = {i.id: i for i in catalog.get_items(recursive=True) if i.collection_id in collections}
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


def test_demo_harvests_an_appeears_area_task_and_a_point_task(demo_catalog: Path) -> None:
    collection = pystac.Collection.from_file(str(demo_catalog / "appeears-mod13q1-061" / "collection.json"))
    items = {i.id: i for i in collection.get_items()}
    kinds = sorted(str(i.properties.get("appeears:task_type", "area-layers")) for i in items.values())
    # three 16-day composites of the area task, its task item, and the point task's item
    assert kinds == ["area", "area-layers", "area-layers", "area-layers", "point"]
    points = next(i for i in items.values() if i.properties.get("appeears:task_type") == "point")
    assert points.geometry == {"type": "MultiPoint", "coordinates": [[10.75, 59.91], [5.32, 60.39]]}
    assert points.assets["data"].media_type == "application/vnd.apache.parquet"
    layers = [i for i in items.values() if "appeears:task_type" not in i.properties]
    assert {i.properties["proj:code"] for i in layers} == {"EPSG:4326"}
    for item in layers:
        assert item.assets["250m_16_days_NDVI"].media_type == "image/tiff; application=geotiff; profile=cloud-optimized"
        assert item.assets["250m_16_days_VI_Quality"].roles == ["quality"]
    assert collection.to_dict()["sci:doi"] == "10.5067/MODIS/MOD13Q1.061"


def test_demo_harvests_two_swaths_of_one_ngu_dataset_and_a_query_of_another(demo_catalog: Path) -> None:
    catalog = pystac.Catalog.from_file(str(demo_catalog / "catalog.json"))
    items = {i.id: i for i in catalog.get_items(recursive=True) if i.collection_id.startswith("ngu-insar-")}
    assert sorted(items) == ["160-IW1-414-in-asc1-v20a", "160-IW2-414-in-asc1-v20a", "37-IW2-414-in-dsc1-v20a"]
    assert sorted(items["37-IW2-414-in-dsc1-v20a"].assets) == ["data", "source", "thumbnail", "velocity",
                                                               "vertical_velocity"]  # the newer release layout
    for item in items.values():
        assert item.assets["velocity"].media_type == "image/tiff; application=geotiff; profile=cloud-optimized"
        assert item.assets["data"].media_type == "application/vnd.apache.parquet"
        assert item.properties["ngu:point_count"] == item.assets["data"].extra_fields["table:row_count"] > 0


def _demo_search_scenes() -> list[str]:
    """The simulated scenes the demo's Catalog search asks for: the two tiles of 13-15 E, 45-46 N, December
    2020, less than 30 % cloud."""
    from adapters.sentinelhub.simcatalog import make_scenes
    from adapters.sentinelhub.simulator import DEFAULT_START

    return sorted(s.id for s in make_scenes("sentinel-2-l2a", 120, DEFAULT_START)
                  if s.bbox[0] in (13.0, 14.0) and s.bbox[1] == 45.0 and s.datetime.month == 12
                  and s.properties["eo:cloud_cover"] < 30)


def test_demo_harvests_a_sentinelhub_search_and_an_async_request(demo_catalog: Path) -> None:
    from harvester.demo import SENTINELHUB_REQUEST

    catalog = pystac.Catalog.from_file(str(demo_catalog / "catalog.json"))
    items = list(catalog.get_items(recursive=True))
    found = sorted(i.id for i in items if i.collection_id == "sentinel-2-l2a")
    expected = _demo_search_scenes()
    assert expected and found == expected
    for item in items:
        if item.collection_id == "sentinel-2-l2a":
            assert item.assets["data"].href.startswith("s3://")
            assert item.get_single_link("via") is not None
    (processed,) = [i for i in items if i.collection_id == "sentinelhub-async"]
    assert processed.properties["processing:expression"] == {"format": "evalscript",
                                                             "expression": SENTINELHUB_REQUEST["evalscript"]}
    assert processed.properties["proj:code"] == "EPSG:32633"
    assert sorted(processed.assets) == ["ndvi", "request", "thumbnail", "truecolor", "userdata"]
    for key in ("ndvi", "truecolor"):
        assert processed.assets[key].media_type == "image/tiff; application=geotiff; profile=cloud-optimized"
    scenes = [link for link in processed.links if link.rel == "derived_from"]
    assert len(scenes) == processed.properties["sentinelhub:scene_count"] > 0
    assert "demo-secret-key" not in (Path(processed.self_href).parent / "request.json").read_text()


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
    appeears = 1 + 5  # its collection; three composites, the area task and the point task
    ngu = 2 + 3  # collections and items of the NGU sources
    sentinelhub = 2 + len(_demo_search_scenes()) + 1  # two collections, the items found, the async request's
    assert f"{1 + 7 + len(API_EXAMPLES) + appeears + ngu + sentinelhub} object(s)" in result.stdout
    assert "all valid" in result.stdout


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


@pytest.mark.parametrize("command", [[], ["demo"], ["validate"], ["serve"], ["simulate"], ["run"], ["status"],
                                     ["submit"], ["fetch"], ["search"], ["export"],
                                     ["export", "geoparquet"]])
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


@pytest.mark.parametrize("command", [["submit", "--help"], ["submit", "-h"], ["fetch", "--help"], ["fetch", "-h"]])
def test_submit_and_fetch_help_list_the_providers(command: list[str]) -> None:
    result = harvester(*command)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-9:] == [
        "providers:",
        *PROVIDER_LINES,
        "",
        f"'harvester {command[0]} PROVIDER --help' lists a provider's flags.",
    ]
    assert result.stderr == ""


def test_serve_prints_the_stac_browser_link_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text('{"type": "Catalog"}')
    with harvester_process("serve", str(tmp_path), "--port", "0") as served:
        first, second = served.lines(2, timeout=30)
        prefix = f"serving {tmp_path} at http://127.0.0.1:"
        assert first.startswith(prefix) and first.endswith("/ (Ctrl-C to stop)\n"), first
        port = int(first[len(prefix):].split("/", 1)[0])
        url = f"http://127.0.0.1:{port}/"
        assert second == f"STAC Browser: https://radiantearth.github.io/stac-browser/#/external/{url}catalog.json\n"
        assert httpx.get(f"{url}catalog.json", timeout=10).json() == {"type": "Catalog"}
        code, out, err = served.interrupt()
    assert code == 0, err
    assert out == "" and "Traceback" not in err


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = harvester("serve", str(tmp_path), "--port", str(port))
    assert result.returncode == 2
    assert result.stderr == f"error: cannot serve on 127.0.0.1:{port}: {os.strerror(errno.EADDRINUSE)}\n"
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "line"), [
    (["--port", "70000"], "error: cannot serve on 127.0.0.1:70000: the port must be 0-65535"),
    (["--port", "-1"], "error: cannot serve on 127.0.0.1:-1: the port must be 0-65535"),
    # TEST-NET-3 (RFC 5737): an address no machine of ours has
    (["--host", "203.0.113.7"], f"error: cannot serve on 203.0.113.7:8000: {os.strerror(errno.EADDRNOTAVAIL)}"),
])
def test_serve_where_it_cannot_listen_says_so_in_one_line(tmp_path: Path, args: list[str], line: str) -> None:
    result = harvester("serve", str(tmp_path), *args)
    assert result.returncode == 2
    assert result.stderr == line + "\n"
    assert result.stdout == ""


def test_serve_a_file_or_a_missing_folder_exits_2(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    result = harvester("serve", str(tmp_path / "a-file"))
    assert (result.returncode, result.stderr) == (2, f"error: {tmp_path / 'a-file'}: not a folder, nothing to serve\n")
    result = harvester("serve", str(tmp_path / "nowhere"))
    assert (result.returncode, result.stderr) == (2, f"error: {tmp_path / 'nowhere'}: no such folder, nothing to serve\n")


#: what rasters need (GDAL, numpy, COG validation, netCDF): loaded by worker processes, not by these commands
GDAL_STACK = ("rasterio", "rio_cogeo", "numpy", "osgeo", "h5py", "shapely", "pyproj", "pyarrow", "geoarrow")


def loaded_by(args: list[str], modules: tuple[str, ...]) -> tuple[int, list[str]]:
    """Run ``harvester ARGS`` in a fresh interpreter; its exit code and which of ``modules`` it loaded."""
    script = ("import sys; from harvester.cli import main; code = main(sys.argv[1:]); "
              f"print(repr(sorted(m for m in {modules!r} if m in sys.modules)), file=sys.stderr); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
    return result.returncode, eval(result.stderr.strip().splitlines()[-1])  # noqa: S307 - our own repr


@pytest.mark.parametrize("command", [["status"], ["validate"], ["-q", "demo", "--out"]])
def test_commands_on_a_harvested_catalog_load_no_gdal_stack(demo_catalog: Path, command: list[str]) -> None:
    # status and validate read JSON and SQLite; a demo run with nothing new to do converts nothing
    code, loaded = loaded_by([*command, str(demo_catalog)],
                             (*GDAL_STACK, "pystac", "httpx", "pystac_client", "requests", "boto3", "moto"))
    assert code == 0
    expected = {"status": [], "validate": [], "-q": ["httpx"]}  # the demo's engine keeps its HTTP client
    assert loaded == expected[command[0]]


@pytest.mark.parametrize(("flags", "requests_logged"), [([], False), (["-q"], False), (["-v"], True)])
def test_each_http_request_and_s3_credential_lookup_is_logged_only_with_v(flags: list[str], requests_logged: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from harvester import cli

    for name in ("httpx", "botocore"):  # as an earlier quiet run in this process leaves them
        monkeypatch.setattr(logging.getLogger(name), "level", logging.WARNING)
    monkeypatch.setattr(logging.getLogger(), "level", logging.DEBUG)  # the root as -v sets it
    level = len([f for f in flags if f == "-v"]) - len([f for f in flags if f == "-q"])
    cli._setup_logging(level)
    for name in ("httpx", "botocore"):
        assert (logging.getLogger(name).getEffectiveLevel() <= logging.INFO) is requests_logged, name
