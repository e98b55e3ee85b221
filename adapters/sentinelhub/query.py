"""A Catalog search as the user gives it, checked against the Sentinel Hub Catalog's rules before sending.

Plain data (no STAC or HTTP stack): the configuration checks a source with it on every run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: the most items a Sentinel Hub Catalog page may hold
MAX_LIMIT = 100
#: what a found item needs to be a STAC item of the catalog: never excluded by ``fields``, always included
REQUIRED_FIELDS = ("id", "type", "geometry", "bbox", "properties.datetime", "assets", "links", "collection",
                   "stac_version", "stac_extensions")


@dataclass
class SearchQuery:
    """One Catalog search as the user gives it; `search_kwargs` gives each one-collection search sent.

    The server's rules are checked here, before anything is sent (`ValueError` naming the rule)."""

    collections: list[str]
    datetime: str
    bbox: list[float] | None = None
    intersects: dict[str, Any] | None = None
    ids: list[str] | None = None
    filter: str | dict[str, Any] | None = None
    fields: list[str] | None = None
    limit: int = MAX_LIMIT
    max_items: int | None = None
    method: str = "POST"

    def __post_init__(self) -> None:
        if not self.collections:
            raise ValueError("a Catalog search needs a collection (the Sentinel Hub Catalog searches exactly one)")
        if not self.datetime or not str(self.datetime).strip():
            raise ValueError("a Catalog search needs a datetime (the Sentinel Hub Catalog requires one; open "
                             "ends are allowed, e.g. 2023-06-01T00:00:00Z/..)")
        if self.bbox is not None and self.intersects is not None:
            raise ValueError("give bbox or intersects, not both")
        if self.bbox is not None and len(self.bbox) not in (4, 6):
            raise ValueError(f"bbox must have 4 (or 6) numbers, not {len(self.bbox)}")
        if self.limit < 1:
            raise ValueError(f"limit must be at least 1, not {self.limit}")
        if self.limit > MAX_LIMIT:
            log.info("Catalog search: limit %d capped at %d (the Sentinel Hub Catalog's maximum)", self.limit,
                     MAX_LIMIT)
            self.limit = MAX_LIMIT
        if self.max_items is not None and self.max_items < 1:
            raise ValueError(f"max_items must be at least 1, not {self.max_items}")
        if self.method not in ("GET", "POST"):
            raise ValueError(f"method must be GET or POST, not {self.method!r}")
        if isinstance(self.filter, str) and self.filter.strip().startswith("{"):
            try:
                self.filter = json.loads(self.filter)
            except ValueError as exc:
                raise ValueError(f"filter looks like CQL2 JSON but is not JSON ({exc})") from None

    def search_kwargs(self, collection: str) -> dict[str, Any]:
        """pystac-client's ``Client.search`` arguments for the search of one collection."""
        kwargs: dict[str, Any] = {"collections": [collection], "datetime": self.datetime, "limit": self.limit,
                                  "method": self.method}
        for name in ("bbox", "intersects", "ids", "fields", "max_items"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        if self.filter is not None:
            kwargs["filter"] = self.filter
            kwargs["filter_lang"] = "cql2-json" if isinstance(self.filter, dict) else "cql2-text"
        return kwargs


def harvestable_fields(fields: list[str]) -> list[str]:
    """``fields`` that keep found items STAC items: excluding a member an item needs is refused; a list of
    included fields gets those members added."""
    needed = set(REQUIRED_FIELDS) | {"properties"}
    excluded = [f[1:] for f in fields if f.startswith("-")]
    refused = sorted(f for f in excluded if f in needed)
    if refused:
        raise ValueError(f"fields: {', '.join(refused)} cannot be excluded (found items must stay STAC items; "
                         "exclude other fields, such as -properties.gsd)")
    included = [f.lstrip("+") for f in fields if not f.startswith("-")]
    if not included:
        return list(fields)
    return [*fields, *(f for f in REQUIRED_FIELDS if f not in included)]
