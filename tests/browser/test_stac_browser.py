"""STAC Browser 4 on the demo catalog, in a real browser: the root, every collection and one item of each.

For each page: the titles, the item counts, every thumbnail loaded (natural width > 0), the asset list, the
COG drawn on the item map (by range requests to our server), no request to our server failed and no console
error came from our catalog. Requests anywhere but loopback (the basemap tiles) are aborted and ignored.
Screenshots: ``<screenshots>/<page>.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from playwright.sync_api import Page

from catalogs.stac import COG
from tests.browser.browsing import LOAD_TIMEOUT_MS, Traffic, browse, check_page, count_after, heading
from tests.demo_items import collections_of


def test_the_root_shows_every_collection_with_its_thumbnail(page: tuple[Page, Traffic], stac_browser: str,
                                                             served_demo: str, demo: Path, screenshots: Path) -> None:
    p, traffic = page
    browse(p, stac_browser, served_demo, "/catalog.json")
    root = json.loads((demo / "catalog.json").read_text())
    assert heading(p) == root["title"]
    collections = {cid: json.loads((demo / cid / "collection.json").read_text()) for cid in collections_of(demo)}
    assert count_after(p, "Catalogs") == len(collections)
    text = p.locator("body").inner_text()
    for collection in collections.values():
        assert collection["title"] in text
    cards_with_images = p.eval_on_selector_all("img", "els => els.map(e => e.currentSrc || e.src)")
    thumbnails = {f"{served_demo}{cid}/{c['assets']['thumbnail']['href'].removeprefix('./')}"
                  for cid, c in collections.items() if "thumbnail" in c.get("assets", {})}
    if not thumbnails <= set(cards_with_images):  # a lazy card may still be swapping its placeholder
        p.wait_for_function("urls => urls.every(u => Array.from(document.images).some(i => (i.currentSrc || i.src)"
                            " === u && i.complete))", arg=sorted(thumbnails), timeout=LOAD_TIMEOUT_MS)
        cards_with_images = p.eval_on_selector_all("img", "els => els.map(e => e.currentSrc || e.src)")
    assert thumbnails and thumbnails <= set(cards_with_images)
    check_page(p, traffic, screenshots, "root")


def shown_cog(page: Page, traffic: Traffic, item: dict[str, Any], item_folder: str) -> str | None:
    """The URL of the COG STAC Browser says it shows on the item's map ("shown" badge), once it has read it
    from our server by range requests (206) and drawn something (the map's centre is not one flat colour);
    None until then."""
    titles = page.locator(".card.asset:has(.badge.shown) .title").all_inner_texts()
    hrefs = [a["href"] for a in item["assets"].values() if a.get("title") in titles and a.get("type") == COG]
    if not hrefs:
        return None
    url = item_folder + hrefs[0].removeprefix("./")
    if not any(r.url == url and r.status == 206 and r.request.headers.get("range") for r in traffic.responses):
        return None
    shot = page.locator(".ol-viewport").first.screenshot()
    with rasterio.MemoryFile(shot) as memory, memory.open() as png:
        pixels = png.read()[:3]
    height, width = pixels.shape[1:]
    centre = pixels[:, height * 2 // 5:height * 3 // 5, width * 2 // 5:width * 3 // 5].reshape(3, -1).T
    return url if len(np.unique(centre, axis=0)) > 1 else None


def test_each_collection_and_one_item_of_each(page: tuple[Page, Traffic], stac_browser: str, served_demo: str,
                                              demo: Path, screenshots: Path) -> None:
    p, traffic = page
    for cid in sorted(collections_of(demo)):
        collection = json.loads((demo / cid / "collection.json").read_text())
        item_ids = sorted(link["href"].split("/")[1] for link in collection["links"] if link["rel"] == "item")
        traffic.responses.clear()
        browse(p, stac_browser, served_demo, f"/{cid}/collection.json")
        assert heading(p) == collection["title"], cid
        assert count_after(p, "Items?") == len(item_ids), cid  # "Item 1", "Items 3"
        text = p.locator("body").inner_text()
        # a card names its item by its title, else by its id
        labels = [json.loads((demo / cid / i / f"{i}.json").read_text())["properties"].get("title", i)
                  for i in item_ids]
        shown = [label for label in labels if label in text]
        assert shown == labels[:len(shown)] and shown, cid  # the first page of items, in order
        check_page(p, traffic, screenshots, cid)

        item_id = item_ids[0]
        item = json.loads((demo / cid / item_id / f"{item_id}.json").read_text())
        traffic.responses.clear()
        browse(p, stac_browser, served_demo, f"/{cid}/{item_id}/{item_id}.json")
        assert heading(p) == item["properties"].get("title", item_id), item_id
        assert p.locator(".assets").count(), f"{item_id}: no assets section"
        assets = p.locator(".assets").first.inner_text()
        listed = [a for a in item["assets"].values() if not {"thumbnail", "overview"} & set(a.get("roles", []))]
        for asset in listed:
            assert asset.get("title", "") in assets, (item_id, asset.get("title"))
        if any(a.get("type") == COG and "data" in a.get("roles", []) for a in item["assets"].values()):
            folder = f"{served_demo}{cid}/{item_id}/"
            for _ in range(60):
                if shown_cog(p, traffic, item, folder):
                    break
                p.wait_for_timeout(500)
            assert shown_cog(p, traffic, item, folder), f"{item_id}: no COG drawn on the map"
        check_page(p, traffic, screenshots, f"{cid}--item")
