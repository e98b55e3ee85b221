"""Reading a harvested catalog the plain way, for tests to compare other readers with."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pystac


def catalog_items(root: Path) -> dict[str, dict[str, Any]]:
    """Every item of the catalog as its JSON file says (hrefs made absolute paths), found by following the
    links from the root (children, items)."""
    found: dict[str, dict[str, Any]] = {}
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    for item in catalog.get_items(recursive=True):
        path = Path(item.get_self_href())
        found[item.id] = absolute_hrefs(json.loads(path.read_text()), path.parent)
    return found


def absolute_hrefs(item: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``item`` with its relative hrefs (assets, links) made absolute paths from ``folder``."""
    for holder in [*item["assets"].values(), *item["links"]]:
        if "://" not in holder["href"]:
            holder["href"] = os.path.normpath(folder / holder["href"])
    return item


def collections_of(root: Path) -> set[str]:
    """The ids of the collections the root catalog links to."""
    catalog = json.loads((root / "catalog.json").read_text())
    return {link["href"].split("/")[1] for link in catalog["links"] if link["rel"] == "child"}


def time_span(item: dict[str, Any]) -> tuple[datetime, datetime]:
    """When an item's data is from and to: its start and end times, else its datetime for both."""
    props = item["properties"]
    return (datetime.fromisoformat(props.get("start_datetime") or props["datetime"]),
            datetime.fromisoformat(props.get("end_datetime") or props["datetime"]))
