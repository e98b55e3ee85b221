"""Crash safety: a run killed with SIGKILL anywhere leaves a valid catalog, and the next run completes it
with the same items and asset bytes as an uninterrupted run, no duplicates, no temp files, and no
completed file downloaded twice."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pystac
import pytest

from adapters import registry
from adapters.simkit import FaultInjector, LoopbackServer, RequestLog
from catalogs.validate import validate_catalog
from harvester import pipeline
from harvester.config import load_config
from adapters.http import RetryPolicy, make_client
from tests.harvester import crashrun, fakeprovider
from tests.harvester.conftest import TOKEN
from tests.harvester.fakeprovider import FakeService

ROOT = Path(__file__).resolve().parents[2]
JOBS = ["crash-a", "crash-b", "crash-c", "crash-points:table"]


class KillMidBody:
    """WSGI wrapper: while serving ``path``, kill process ``pid`` once half the body has been sent.

    With ``pace`` set, every file body is sent in 64 KiB pieces ``pace`` seconds apart (a slow network),
    so that a run lasts long enough to be killed at a random moment.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.path: str | None = None
        self.part: Path | None = None  # the client's partial file: kill once it holds some bytes
        self.pid: int | None = None
        self.pace = 0.0
        self.fired = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = self.app(environ, start_response)
        if self.pace and environ["PATH_INFO"].startswith("/files/"):
            return self._paced(body)
        if environ["PATH_INFO"] != self.path or self.fired.is_set():
            return body
        return self._cut(body)

    def _paced(self, body: Any) -> Iterator[bytes]:
        data = b"".join(body)
        for start in range(0, len(data), 65536):
            time.sleep(self.pace)
            yield data[start:start + 65536]

    def _cut(self, body: Any) -> Iterator[bytes]:
        data = b"".join(body)
        half = len(data) // 2
        for start in range(0, half, 16384):
            yield data[start:min(start + 16384, half)]
        assert self.pid is not None and self.part is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (self.part.exists() and self.part.stat().st_size > 0):
            time.sleep(0.01)
        os.kill(self.pid, signal.SIGKILL)
        self.fired.set()
        time.sleep(0.3)
        yield data[half:]


class Provider:
    def __init__(self) -> None:
        # rasters large enough that half a body is more than the downloader buffers in memory (1 MiB)
        self.service = FakeService(TOKEN, polls_to_finish=1, raster_size=1200)
        self.log = RequestLog()
        self.killer = KillMidBody(self.service)
        self.app = FaultInjector(self.killer, self.log)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    fakeprovider.register()
    old = os.environ.get("FAKEPROV_TOKEN")
    os.environ["FAKEPROV_TOKEN"] = TOKEN
    p = Provider()
    with LoopbackServer(p.app) as server:
        p.service.url = server.url
        yield p
    registry.unregister(fakeprovider.PROVIDER)
    if old is None:
        del os.environ["FAKEPROV_TOKEN"]


def write_config(root: Path, url: str) -> Path:
    return fakeprovider.write_config(root.parent / f"{root.name}.toml", root, url, JOBS, timeout=60)


def complete(config: Path) -> pipeline.Summary:
    with make_client(retries=RetryPolicy(max_attempts=5, backoff_base=0.001, backoff_cap=0.01, max_wait=0.01)) as client:
        return pipeline.run(load_config(config), client=client)


def snapshot(root: Path) -> dict[str, dict[str, str]]:
    """item id -> asset key -> SHA-256 of the asset's bytes (also checked against file:checksum)."""
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    out: dict[str, dict[str, str]] = {}
    for item in catalog.get_items(recursive=True):
        assert item.id not in out, f"duplicate item {item.id}"
        assets = {}
        for key, asset in item.assets.items():
            data = Path(asset.get_absolute_href()).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            assert asset.extra_fields.get("file:checksum") == "1220" + digest, f"{item.id}/{key}"
            assets[key] = digest
        out[item.id] = assets
    return out


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith((".tmp", ".part", ".part.json"))]


@pytest.fixture(scope="module")
def reference(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    root = tmp_path_factory.mktemp("reference") / "cat"
    summary = complete(write_config(root, provider.service.url))
    assert summary.ok, summary.failures
    assert summary.items_written == len(JOBS)
    return snapshot(root)


def crash_then_complete(provider: Provider, root: Path, reference: dict[str, dict[str, str]],
                        start: Any) -> None:
    config = write_config(root, provider.service.url)
    provider.log.clear()
    proc = start(config)
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed (exit {proc.returncode}): {proc.stderr}"
    # the killed run's catalog is valid wherever it stopped (if it got as far as writing one)
    if (root / "catalog.json").exists():
        report = validate_catalog(root)
        assert report.ok, report.format()

    killed_run = provider.log.records(settle=0)  # paths and ranges are known at once
    # what the killed run had on disk: complete files, and partial ones (.part) to resume
    downloads = root / ".harvest" / "downloads" / "fake"
    on_disk = {f"/files/{p.parent.name}/{p.name}": p for p in downloads.glob("*/*")} if downloads.exists() else {}
    completed = {url for url, p in on_disk.items() if not p.name.endswith((".part", ".part.json"))}
    partial = {url.removesuffix(".part") for url, p in on_disk.items() if p.name.endswith(".part") and p.stat().st_size}

    summary = complete(config)
    assert summary.ok, summary.failures
    assert snapshot(root) == reference
    report = validate_catalog(root)
    assert report.ok, report.format()
    assert leftovers(root) == []
    item_files = [p for p in root.rglob("*.json") if p.parent.name == p.stem]
    assert len(item_files) == len(reference)
    # a file completely downloaded before the kill is not downloaded again; a cut one resumes (Range)
    rerun = provider.log.records(settle=0)[len(killed_run):]
    assert not completed & {r.path for r in rerun}, "completed files were downloaded again"
    assert all(r.range is not None for r in rerun if r.path in partial), "a partial file was restarted"


def run_killed_at(point: str, n: int) -> Any:
    def start(config: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tests.harvester.crashrun", str(config), point, str(n)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "FAKEPROV_TOKEN": TOKEN})
    return start


@pytest.mark.slow
@pytest.mark.parametrize("point,n", [
    ("submit-unrecorded", 1), ("poll", 3), ("file-unrecorded", 4), ("converted", 2), ("converting", 3),
    ("thumbnail", 2), ("placing-assets", 4), ("writing-item", 2), ("index-commit", 1),
    ("marking-harvested", 2), ("writing-collection", 1), ("writing-root", 1),
])
def test_killed_at_a_point_then_completed(provider: Provider, reference: dict[str, dict[str, str]],
                                           tmp_path: Path, point: str, n: int) -> None:
    assert point in crashrun.POINTS
    crash_then_complete(provider, tmp_path / "cat", reference, run_killed_at(point, n))


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["CRASH_A_VV.tif", "CRASH_C_mask.tif"])
def test_killed_mid_download_then_resumed(provider: Provider, reference: dict[str, dict[str, str]],
                                          tmp_path: Path, victim: str) -> None:
    job = provider.service.add_job(victim.split("_")[0].lower() + "-" + victim.split("_")[1].lower())
    provider.killer.path = f"/files/{job.id}/{victim}"
    provider.killer.part = tmp_path / "cat" / ".harvest" / "downloads" / "fake" / job.id / f"{victim}.part"
    provider.killer.fired.clear()

    def start(config: Path) -> subprocess.CompletedProcess[str]:
        proc = subprocess.Popen([sys.executable, "-m", "tests.harvester.crashrun", str(config), "none", "0"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "FAKEPROV_TOKEN": TOKEN})
        provider.killer.pid = proc.pid
        out, err = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    crash_then_complete(provider, tmp_path / "cat", reference, start)
    assert provider.killer.fired.is_set()
    resumed = provider.log.records(provider.killer.path, settle=0)
    assert resumed and resumed[-1].range is not None, "the cut file was downloaded again from scratch"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_at_a_random_moment_then_completed(provider: Provider, reference: dict[str, dict[str, str]],
                                                  tmp_path: Path, seed: int) -> None:
    delay = random.Random(seed).uniform(1.5, 3.5)
    provider.killer.pace = 0.05

    def start(config: Path) -> subprocess.CompletedProcess[str]:
        proc = subprocess.Popen([sys.executable, "-m", "tests.harvester.crashrun", str(config), "none", "0"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "FAKEPROV_TOKEN": TOKEN})
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.kill()
        out, err = proc.communicate(timeout=120)
        provider.killer.pace = 0.0  # the completing run need not be slow
        if proc.returncode == 0:  # finished before the kill: nothing to test at this moment
            pytest.fail(f"the run finished within {delay:.2f} s; choose a shorter delay")
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    try:
        crash_then_complete(provider, tmp_path / "cat", reference, start)
    finally:
        provider.killer.pace = 0.0
