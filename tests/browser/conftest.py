"""The browser tier: STAC Browser, built from the npm registry, driven by Playwright in Debian's Chromium.

Not part of the normal suite (``-m browser`` selects it; ``.ci/run`` runs it after the normal suite). It needs
``chromium`` (``/usr/bin/chromium``, or ``CHROMIUM``) and a built STAC Browser: ``STAC_BROWSER_DIST``, else
``.ci/stac-browser`` builds it once into a cache folder and says where. Every request the browser makes to
anything but loopback is aborted in the browser (the basemap tiles among them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.serve import make_server, server_url
from tests.browser.spa import serve_spa

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).is_file(), f"no Chromium at {path}: apt-get install chromium (or set CHROMIUM)"
    return path


@pytest.fixture(scope="session")
def stac_browser_dist() -> Path:
    given = os.environ.get("STAC_BROWSER_DIST")
    if given:
        dist = Path(given)
    else:
        built = subprocess.run(["bash", str(REPO / ".ci" / "stac-browser")], capture_output=True, text=True,
                               timeout=1200)
        assert built.returncode == 0, built.stderr[-4000:]
        dist = Path(built.stdout.strip().splitlines()[-1])
    assert (dist / "index.html").is_file(), f"{dist}: not a STAC Browser build"
    return dist


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("BROWSER_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def stac_browser(stac_browser_dist: Path) -> Iterator[str]:
    with serve_spa(stac_browser_dist) as url:
        yield url


@pytest.fixture(scope="session")
def served_demo(demo: Path) -> Iterator[str]:
    """The demo catalog served by ``harvester serve`` (static, as a user serves it), on a free port."""
    server = make_server(demo, port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="browser-catalog", daemon=True)
    thread.start()
    try:
        yield server_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
