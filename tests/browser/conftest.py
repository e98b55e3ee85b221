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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.browser.browsing import Traffic, loopback
from tests.browser.spa import serve_spa
from tests.processes import serving

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
    with serving(demo) as url:
        yield url


@pytest.fixture(scope="session")
def served_api(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A copy of the demo catalog served by ``harvester serve --api`` (the API writes its index into the
    catalog's ``.harvest/``: the shared demo is not to be changed), on a free port."""
    root = tmp_path_factory.mktemp("browser-api") / "demo"
    shutil.copytree(demo, root, symlinks=True)
    with serving(root, api=True) as url:
        yield url


@pytest.fixture
def served(served_demo: str) -> str:
    """The server a test's page talks to, whose traffic `page` records and checks: the static demo, unless a
    test module overrides this fixture."""
    return served_demo


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            # no name resolves: nothing leaves the machine even if a request slipped past the route below
            args=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, served: str) -> Iterator[tuple[Page, Traffic]]:
    """A fresh browser page (1280x1100) that reaches loopback only, recording its traffic to ``served``."""
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    context.route("**/*", lambda route: route.continue_() if loopback(route.request.url) else route.abort())
    page = context.new_page()
    traffic = Traffic(served)
    page.on("response", traffic.on_response)
    page.on("requestfailed", traffic.on_failed)
    page.on("console", traffic.on_console)
    try:
        yield page, traffic
    finally:
        context.close()
