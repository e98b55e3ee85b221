"""What the browser tests share: the record of a page's traffic to our server, opening a catalog in STAC
Browser, waiting until a page has settled, and the checks every page must pass."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Page, Request, Response

LOAD_TIMEOUT_MS = 60_000


@dataclass
class Traffic:
    """What the page asked of our server, and what went wrong."""

    ours: str
    responses: list[Response] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_response(self, response: Response) -> None:
        if response.url.startswith(self.ours):
            self.responses.append(response)
            if response.status >= 400:
                self.failed.append(f"{response.status} {response.url}")

    def on_failed(self, request: Request) -> None:
        if request.url.startswith(self.ours):
            self.failed.append(f"{request.failure} {request.url}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        # an aborted basemap tile logs "Failed to load resource" at the tile's URL: not ours
        if where and not where.startswith(self.ours) and "Failed to load resource" in message.text:
            return
        if self.ours in message.text or where.startswith(self.ours) or "Failed to load resource" not in message.text:
            self.errors.append(f"{message.text} ({where})")


def loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def external(stac_browser: str, served: str, path: str, route: str = "") -> str:
    """STAC Browser's page for ``path`` of the served catalog: its /external/ route (``route="/search"``: the
    search page of that catalog or API)."""
    return f"{stac_browser}{route}/external/http:/{served.removeprefix('http://')}{path}"


def browse(page: Page, stac_browser: str, served: str, path: str) -> None:
    """Open ``path`` of the served catalog in STAC Browser (its /external/ route) and wait until it shows."""
    page.goto(external(stac_browser, served, path))
    page.wait_for_selector("h1", timeout=LOAD_TIMEOUT_MS)
    settle(page)


def settle(page: Page) -> None:
    """Wait until the page has asked for everything and every image of it has loaded."""
    page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
    # cards load their images only when scrolled into view: bring every one into view first
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=LOAD_TIMEOUT_MS)


def check_page(page: Page, traffic: Traffic, screenshots: Path, name: str) -> None:
    """What every page must show: each image from our server loaded, no failed request, no console error."""
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.currentSrc || e.src, e.naturalWidth])")
    ours = [(src, width) for src, width in images if src.startswith(traffic.ours)]
    assert all(width > 0 for _, width in ours), [src for src, width in ours if not width]
    assert traffic.failed == [], traffic.failed
    assert traffic.errors == [], traffic.errors


def heading(page: Page) -> str:
    return page.locator("h1").first.inner_text().strip()


def count_after(page: Page, label: str) -> int:
    """The count STAC Browser shows beside a list's heading ("Items 3")."""
    match = re.search(rf"^{label}\s*(\d+)\s*$", page.locator("body").inner_text(), re.MULTILINE)
    assert match, f"no {label} count on the page"
    return int(match.group(1))
