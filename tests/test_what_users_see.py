"""What a user sees of each collection of the demo in STAC Browser, checked on the JSON: a thumbnail on every
collection whose items have rasters, a datetime on every item (items with start and end too: STAC Browser shows
"Time of Data: n/a" without one), a media type and a title on every asset, titles that tell assets apart."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from catalogs.stac import COG
from tests.demo_items import catalog_items, collections_of


def test_each_collection_with_rasters_shows_a_thumbnail_of_one_of_its_items(demo: Path) -> None:
    items = catalog_items(demo)
    for cid in sorted(collections_of(demo)):
        own = [item for item in items.values() if item["collection"] == cid]
        if not any(a.get("type") == COG for item in own for a in item["assets"].values()):
            continue
        collection = json.loads((demo / cid / "collection.json").read_text())
        thumbnail = collection.get("assets", {}).get("thumbnail")
        assert thumbnail and thumbnail["roles"] == ["thumbnail"], cid
        assert (demo / cid / thumbnail["href"]).is_file(), cid


def test_every_item_has_a_datetime_and_every_asset_a_media_type_and_its_own_title(demo: Path) -> None:
    for item_id, item in catalog_items(demo).items():
        assert item["properties"]["datetime"], item_id
        assets = item["assets"]
        assert [k for k, a in assets.items() if not a.get("type")] == [], item_id
        assert [k for k, a in assets.items() if not a.get("title")] == [], item_id
        titles = Counter(a["title"] for a in assets.values())
        assert [t for t, n in titles.items() if n > 1] == [], item_id


#: the fields STAC Browser 4.0.1 formats as times (stac-fields' "Timestamp" format, read from its build)
FORMATTED_TIMES = {"created", "datetime", "end_datetime", "expires", "forecast:reference_datetime", "order:date",
                   "processing:datetime", "published", "sat:anx_datetime", "start_datetime", "unpublished", "updated"}
#: times of ours that no extension has a field for (the two scenes of a HyP3 pair): STAC Browser shows them as
#: written, ISO 8601 in UTC; every other time goes in a field it formats
UNSTANDARD_TIMES = {"hyp3:reference_datetime", "hyp3:secondary_datetime"}
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def test_times_are_in_fields_browsers_show_as_times(demo: Path) -> None:
    found = {key for item in catalog_items(demo).values() for key, value in item["properties"].items()
             if isinstance(value, str) and ISO_TIME.match(value)}
    assert found - FORMATTED_TIMES <= UNSTANDARD_TIMES, found - FORMATTED_TIMES - UNSTANDARD_TIMES
    assert "processing:datetime" in found  # OPERA RTC names carry the processing time


def test_items_are_told_apart_on_stac_browser_search_pages(demo: Path) -> None:
    """STAC Browser labels a search result by its title, else by its URL's last part cut at the first dot
    (``MOD13Q1.061_2020001_...`` shows as "MOD13Q1"): within each collection every label differs."""
    labels: dict[str, Counter[str]] = {}
    for item in catalog_items(demo).values():
        label = item["properties"].get("title") or item["id"].split(".", 1)[0]
        labels.setdefault(item["collection"], Counter())[label] += 1
    assert {cid: [label for label, n in counted.items() if n > 1] for cid, counted in labels.items()
            if any(n > 1 for n in counted.values())} == {}
