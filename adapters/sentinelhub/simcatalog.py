"""The simulated Sentinel Hub Catalog's content and search: scenes shaped like the real ones, and the search
rules of the real API (one collection, a datetime, limit 1..100, bbox/intersects/ids, a CQL2 subset, fields,
distinct).

Scenes are deterministic: scene ``i`` of a collection lies on tile ``i % len(TILES)`` (1 x 1 degree cells
over 12-16 E, 44-47 N, in UTM zone 33), ``i // len(TILES)`` revisits (5 days apart) after ``start``. Like the
real items (see ``tests/data/sentinelhub/``) they are STAC 1.0 with ``proj:epsg``, ``proj:geometry`` (with a
``crs`` member, as the geometry has) and ``s3://`` asset hrefs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

MAX_LIMIT = 100
DEFAULT_LIMIT = 10
#: (zone, latitude band, square, west, south): 1 x 1 degree cells
TILES = [(33, band, square, west, south)
         for south, band in ((44, "T"), (45, "T"), (46, "T"))
         for west, square in ((12, "UK"), (13, "VK"), (14, "WK"), (15, "XK"))]
REVISIT = timedelta(days=5)
COLLECTIONS = {
    "sentinel-2-l2a": {"title": "Sentinel 2 L2A", "level": "L2A", "bucket": "sentinel-s2-l2a"},
    "sentinel-2-l1c": {"title": "Sentinel 2 L1C", "level": "L1C", "bucket": "sentinel-s2-l1c"},
}
EO_V1 = "https://stac-extensions.github.io/eo/v1.0.0/schema.json"
PROJ_V1 = "https://stac-extensions.github.io/projection/v1.0.0/schema.json"


class SearchError(ValueError):
    """A search the real API answers with 400; the message is its description."""


def _hash(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Scene:
    collection: str
    id: str
    datetime: datetime
    bbox: tuple[float, float, float, float]
    properties: dict[str, Any]

    def item(self, catalog_url: str) -> dict[str, Any]:
        """The API's JSON of this scene (a fresh dict)."""
        w, s, e, n = self.bbox
        ring = [[w, n], [w, s], [e, s], [e, n], [w, n]]
        base = catalog_url.rstrip("/")
        bucket = COLLECTIONS.get(self.collection, {}).get("bucket", self.collection)
        zone, band, square = self.properties["_tile"]
        day = self.datetime
        return {
            "stac_version": "1.0.0",
            "stac_extensions": [EO_V1, PROJ_V1],
            "type": "Feature",
            "id": self.id,
            "bbox": list(self.bbox),
            "geometry": {"type": "MultiPolygon", "crs": {"type": "name", "properties": {
                "name": "urn:ogc:def:crs:OGC::CRS84"}}, "coordinates": [[ring]]},
            "properties": {k: json.loads(json.dumps(v)) for k, v in self.properties.items() if not k.startswith("_")},
            "collection": self.collection,
            "links": [
                {"href": f"{base}/collections/{self.collection}/items/{self.id}", "rel": "self",
                 "type": "application/geo+json"},
                {"href": f"{base}/collections/{self.collection}", "rel": "parent", "type": "application/json"},
                {"href": f"{base}/collections/{self.collection}", "rel": "collection", "type": "application/json"},
                {"href": f"{base}/", "rel": "root", "type": "application/json"},
            ],
            "assets": {"data": {
                "href": f"s3://{bucket}/tiles/{zone}/{band}/{square}/{day.year}/{day.month}/{day.day}/0/",
                "title": "s3", "type": "inode/directory"}},
        }


def make_scenes(collection: str, count: int, start: datetime) -> list[Scene]:
    level = COLLECTIONS.get(collection, {}).get("level", "L2A")
    scenes = []
    for i in range(count):
        zone, band, square, west, south = TILES[i % len(TILES)]
        moment = start + REVISIT * (i // len(TILES)) + timedelta(hours=10, minutes=(i % len(TILES)) * 3, seconds=19)
        satellite = "A" if (i // len(TILES)) % 2 == 0 else "B"
        orbit = 22 + (i % 3)
        processed = moment + timedelta(hours=1, minutes=30, seconds=23)
        scene_id = (f"S2{satellite}_MSI{level}_{moment:%Y%m%dT%H%M%S}_N0214_R{orbit:03d}_T{zone}{band}{square}_"
                    f"{processed:%Y%m%dT%H%M%S}")
        x0 = 300000 + (west - 12) * 100000
        y0 = 4890240 + (south - 44) * 110000
        cloud = round((_hash(collection, scene_id) % 10000) / 100, 2)
        proj_bbox = [x0, y0, x0 + 109800, y0 + 109800]
        px = [[[[x0 + 0.99, y0 + 109799], [x0 + 0.99, y0 + 1], [x0 + 109799, y0 + 1], [x0 + 109799, y0 + 109799],
                [x0 + 0.99, y0 + 109799]]]]
        props: dict[str, Any] = {
            "proj:epsg": 32600 + zone,
            "datetime": _iso(moment),
            "instruments": ["msi"],
            "constellation": "sentinel-2",
            "proj:geometry": {"crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{32600 + zone}"}},
                              "coordinates": px, "type": "MultiPolygon"},
            "eo:cloud_cover": cloud,
            "gsd": 10,
            "proj:bbox": proj_bbox,
            "platform": f"sentinel-2{satellite.lower()}",
            "_tile": (zone, band, square),
        }
        scenes.append(Scene(collection, scene_id, moment, (float(west), float(south), float(west + 1),
                                                             float(south + 1)), props))
    scenes.sort(key=lambda s: (s.datetime, s.id))
    return scenes


# ------------------------------------------------------------------------------------------ datetimes


def parse_interval(value: str) -> tuple[datetime | None, datetime | None]:
    """An RFC 3339 instant or interval with open ends (``..`` or empty) -> (start, end), inclusive."""
    text = value.strip()
    if "/" not in text:
        moment = _parse_time(text)
        return moment, moment
    first, _, second = text.partition("/")
    start = None if first.strip() in ("", "..") else _parse_time(first)
    end = None if second.strip() in ("", "..") else _parse_time(second)
    if start is None and end is None:
        raise SearchError("datetime: an interval needs at least one end")
    if start and end and start > end:
        raise SearchError("datetime: the interval's start is after its end")
    return start, end


def _parse_time(text: str) -> datetime:
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = datetime.fromisoformat(text + "T00:00:00+00:00")
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise SearchError(f"datetime: {text!r} is not an RFC 3339 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------ CQL2 subset

Predicate = Callable[[Mapping[str, Any]], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _value(item: Mapping[str, Any], prop: str) -> Any:
    if prop in ("id", "collection"):
        return item.get(prop)
    return (item.get("properties") or {}).get(prop)


def _compare(op: str, prop: str, literal: Any) -> Predicate:
    check = _COMPARE[op]

    def predicate(item: Mapping[str, Any]) -> bool:
        value = _value(item, prop)
        if value is None:
            return False
        try:
            return bool(check(value, literal))
        except TypeError:
            return False
    return predicate


def _between(prop: str, low: Any, high: Any) -> Predicate:
    def predicate(item: Mapping[str, Any]) -> bool:
        value = _value(item, prop)
        try:
            return value is not None and low <= value <= high
        except TypeError:
            return False
    return predicate


def _all(predicates: list[Predicate]) -> Predicate:
    return lambda item: all(p(item) for p in predicates)


def parse_cql2_text(text: str) -> Predicate:
    """CQL2 text, parsed by ``cql2`` into CQL2 JSON, then evaluated as `parse_cql2_json` does (the subset this
    Catalog supports: comparisons, ``BETWEEN``, ``AND``)."""
    import cql2

    try:
        parsed = cql2.Expr(text).to_json()
    except Exception as exc:  # noqa: BLE001 (cql2 raises a bare Exception on a parse error)
        raise SearchError(f"filter: cannot parse CQL2 text: {str(exc).splitlines()[0]}") from None
    return parse_cql2_json(parsed)


def parse_cql2_json(node: Any) -> Predicate:
    if not isinstance(node, dict) or "op" not in node:
        raise SearchError("filter: CQL2 JSON must be an object with op and args")
    op, args = str(node["op"]).lower(), node.get("args") or []
    if op == "and":
        return _all([parse_cql2_json(arg) for arg in args])
    if op in _COMPARE and len(args) == 2 and isinstance(args[0], dict) and "property" in args[0]:
        return _compare(op, str(args[0]["property"]), args[1])
    if op == "between" and isinstance(args[0], dict) and "property" in args[0]:
        bounds = args[1:] if len(args) == 3 else args[1] if len(args) == 2 and isinstance(args[1], list) else None
        if bounds and len(bounds) == 2:
            return _between(str(args[0]["property"]), bounds[0], bounds[1])
    raise SearchError(f"filter: operator {node['op']!r} is not supported by this Catalog (comparisons, between "
                      "and and only)")


# ------------------------------------------------------------------------------------------ fields


def parse_fields(value: Any) -> tuple[list[str], list[str]]:
    if value is None:
        return [], []
    if isinstance(value, dict):
        return list(value.get("include") or []), list(value.get("exclude") or [])
    include, exclude = [], []
    for part in str(value).split(","):
        part = part.strip()
        if part.startswith("-"):
            exclude.append(part[1:])
        elif part:
            include.append(part.lstrip("+"))
    return include, exclude


def apply_fields(item: dict[str, Any], include: list[str], exclude: list[str]) -> dict[str, Any]:
    """The item with only the ``include`` paths (when any) and without the ``exclude`` ones (include wins)."""
    if include:
        kept: dict[str, Any] = {}
        for path in include:
            head, _, rest = path.partition(".")
            if head not in item:
                continue
            if rest and isinstance(item[head], dict):
                if rest in item[head]:
                    kept.setdefault(head, {})[rest] = item[head][rest]
            else:
                kept[head] = item[head]
        item = kept
    for path in exclude:
        if path in include:
            continue
        head, _, rest = path.partition(".")
        if rest and isinstance(item.get(head), dict):
            item[head].pop(rest, None)
        elif not rest:
            item.pop(head, None)
    return item


# ------------------------------------------------------------------------------------------ the search


@dataclass
class Search:
    """A parsed search request (GET query or POST body)."""

    collection: str
    start: datetime | None
    end: datetime | None
    bbox: tuple[float, float, float, float] | None
    intersects: Any
    ids: list[str] | None
    predicate: Predicate | None
    include: list[str]
    exclude: list[str]
    limit: int
    next: int
    distinct: str | None
    filter_key: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any], known: set[str]) -> Search:
        collections = params.get("collections")
        if isinstance(collections, str):
            collections = [c for c in collections.split(",") if c]
        if not collections:
            raise SearchError("collections: exactly one collection is required")
        if len(collections) != 1:
            raise SearchError(f"collections: exactly one collection is allowed per search, not {len(collections)}")
        collection = str(collections[0])
        if collection not in known:
            raise SearchError(f"collections: unknown collection {collection!r}")
        if not params.get("datetime"):
            raise SearchError("datetime: required")
        start, end = parse_interval(str(params["datetime"]))
        bbox = params.get("bbox")
        if isinstance(bbox, str):
            bbox = [float(v) for v in bbox.split(",")]
        if bbox is not None:
            if len(bbox) == 6:
                bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
            if len(bbox) != 4:
                raise SearchError("bbox: 4 or 6 numbers")
            bbox = tuple(float(v) for v in bbox)
        intersects = params.get("intersects")
        if isinstance(intersects, str):
            intersects = json.loads(intersects)
        if bbox is not None and intersects is not None:
            raise SearchError("bbox and intersects cannot both be given")
        ids = params.get("ids")
        if isinstance(ids, str):
            ids = [i for i in ids.split(",") if i]
        predicate = None
        flt = params.get("filter")
        filter_key = json.dumps([flt, params.get("filter-lang")], sort_keys=True, default=str)
        if flt is not None:
            lang = params.get("filter-lang") or ("cql2-json" if isinstance(flt, dict) else "cql2-text")
            if lang == "cql2-json":
                predicate = parse_cql2_json(json.loads(flt) if isinstance(flt, str) else flt)
            elif lang == "cql2-text":
                predicate = parse_cql2_text(str(flt))
            else:
                raise SearchError(f"filter-lang: {lang!r} is not cql2-text or cql2-json")
        include, exclude = parse_fields(params.get("fields"))
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
            offset = int(params.get("next", 0))
        except (TypeError, ValueError):
            raise SearchError("limit and next must be integers") from None
        if limit < 1:
            raise SearchError("limit: at least 1")
        if offset < 0:
            raise SearchError("next: not a valid page token")
        distinct = params.get("distinct")
        return cls(collection, start, end, bbox, intersects, ids, predicate, include, exclude, min(limit, MAX_LIMIT),
                   offset, str(distinct) if distinct else None, filter_key)

    def key(self) -> str:
        """What identifies the matching set (not the page): for caching."""
        return json.dumps([self.collection, str(self.start), str(self.end), self.bbox, self.intersects, self.ids,
                           self.filter_key], default=str)

    def matches(self, scene: Scene, item: Mapping[str, Any], shape: Any) -> bool:
        if self.start is not None and scene.datetime < self.start:
            return False
        if self.end is not None and scene.datetime > self.end:
            return False
        if self.ids is not None and scene.id not in self.ids:
            return False
        if self.bbox is not None:
            w, s, e, n = self.bbox
            sw, ss, se, sn = scene.bbox
            if sw >= e or se <= w or ss >= n or sn <= s:
                return False
        if shape is not None:
            from shapely.geometry import box

            if not shape.intersects(box(*scene.bbox)):
                return False
        return self.predicate is None or self.predicate(item)
