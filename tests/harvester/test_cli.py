"""The command line, run as a user runs it: the installed console script in a subprocess."""

from __future__ import annotations

import errno
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

import pystac
import pytest

HARVESTER = shutil.which("harvester", path=str(Path(sys.executable).parent))


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


@pytest.mark.parametrize("command", [[], ["demo"], ["validate"], ["serve"], ["simulate"], ["run"], ["status"],
                                     ["submit"], ["fetch"], ["export"], ["export", "geoparquet"]])
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
    assert lines[-4:] == [
        "providers:",
        "  hyp3  ASF HyP3: SAR products (RTC, InSAR, burst InSAR, autoRIFT, GUNW, OPERA RTC) as COG-backed items.",
        "",
        f"'harvester {command[0]} PROVIDER --help' lists a provider's flags.",
    ]
    assert result.stderr == ""


def _default_sigint() -> None:
    # a child inherits an ignored SIGINT (as under a non-interactive shell's '&'); give it a user's default
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_serve_prints_the_stac_browser_link_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    assert HARVESTER
    (tmp_path / "catalog.json").write_text('{"type": "Catalog"}')
    process = subprocess.Popen([HARVESTER, "serve", str(tmp_path), "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            assert selector.select(timeout=30), "harvester serve printed nothing within 30 s"
        first = process.stdout.readline()  # type: ignore[union-attr]
        prefix = f"serving {tmp_path} at http://127.0.0.1:"
        assert first.startswith(prefix) and first.endswith("/ (Ctrl-C to stop)\n"), first
        port = int(first[len(prefix):].split("/", 1)[0])
        url = f"http://127.0.0.1:{port}/"
        assert process.stdout.readline() == (  # type: ignore[union-attr]
            f"STAC Browser: https://radiantearth.github.io/stac-browser/#/external/{url}catalog.json\n")
        assert httpx.get(f"{url}catalog.json", timeout=10).json() == {"type": "Catalog"}
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
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
GDAL_STACK = ("rasterio", "rio_cogeo", "numpy", "osgeo", "h5py", "shapely", "pyproj")


def loaded_by(args: list[str], modules: tuple[str, ...]) -> tuple[int, list[str]]:
    """Run ``harvester ARGS`` in a fresh interpreter; its exit code and which of ``modules`` it loaded."""
    script = ("import sys; from harvester.cli import main; code = main(sys.argv[1:]); "
              f"print(repr(sorted(m for m in {modules!r} if m in sys.modules)), file=sys.stderr); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
    return result.returncode, eval(result.stderr.strip().splitlines()[-1])  # noqa: S307 - our own repr


@pytest.mark.parametrize("command", [["status"], ["validate"], ["-q", "demo", "--out"]])
def test_commands_on_a_harvested_catalog_load_no_gdal_stack(demo_catalog: Path, command: list[str]) -> None:
    # status and validate read JSON and SQLite; a demo run with nothing new to do converts nothing
    code, loaded = loaded_by([*command, str(demo_catalog)], (*GDAL_STACK, "pystac", "httpx"))
    assert code == 0
    expected = {"status": [], "validate": [], "-q": ["httpx"]}  # the demo's engine keeps its HTTP client
    assert loaded == expected[command[0]]
