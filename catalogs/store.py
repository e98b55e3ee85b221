"""The static catalog writer.

Layout (STAC 1.1.0, self-contained, relative links and hrefs)::

    <root>/catalog.json
    <root>/<collection>/collection.json
    <root>/<collection>/<item-id>/<item-id>.json   (+ the item's asset files beside it)
    <root>/<collection>/<year>/catalog.json        (only for collections larger than split_threshold)
    <root>/.harvest/catalog.sqlite                 (the writer's index; see catalogs.index)

`CatalogStore.add` writes the item file at once (atomically) and records it in the index; collection,
sub-catalog and root files are written by `flush` (called on leaving the ``with`` block), only for what
changed, from the index. So adding N items costs O(N) whatever the catalog's size, and a run killed at any
point leaves a valid catalog: items written since the last flush are simply not linked yet, and the next
flush (of this run or the next) links them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import orjson
import pystac

from catalogs import stac
from catalogs.errors import CatalogError, CatalogFormatError, OutputNotWritableError
from catalogs.fsio import atomic_write_bytes, check_id, lock_file, unlock_file
from catalogs.index import CatalogIndex, ItemRecord

log = logging.getLogger(__name__)

AssetMode = Literal["move", "copy", "link"]
STATE_DIR = ".harvest"
#: a collection with more items than this lists them in yearly sub-catalogs instead of directly
SPLIT_THRESHOLD = 10_000
#: summaries list at most this many distinct values of a field (numbers are summarised as a range)
SUMMARY_LIMIT = 100
#: the index is committed after this many added items (and at every flush)
COMMIT_EVERY = 1000
_STRUCTURAL = {"root", "parent", "self", "collection", "child", "item"}


@dataclass
class CollectionSpec:
    """What a collection says about itself; extent, summaries, item_assets and links are derived."""

    id: str
    description: str
    title: str | None = None
    license: str = "other"
    providers: list[dict[str, Any]] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    #: item properties whose distinct values (or numeric range) are summarised
    summaries: list[str] = field(default_factory=list)
    #: item_assets given by the adapter win over the ones derived from items
    item_assets: dict[str, dict[str, Any]] = field(default_factory=dict)
    stac_extensions: list[str] = field(default_factory=list)
    extra_fields: dict[str, Any] = field(default_factory=dict)


class CatalogStore:
    """A static STAC catalog folder opened for writing. Use as a context manager."""

    def __init__(self, root: Path, *, title: str | None = None, description: str | None = None,
                 split_threshold: int = SPLIT_THRESHOLD) -> None:
        self.root = Path(root).resolve()
        self.split_threshold = split_threshold
        self._prepare_root()
        self._lock = self._acquire_lock()
        self.index = CatalogIndex(self.root / STATE_DIR / "catalog.sqlite")
        if (self.root / "catalog.json").exists() and self.index.get_meta("catalog") is None:
            self._release()
            raise CatalogFormatError(
                f"{self.root}: has a catalog.json that the harvester did not write (no index in {STATE_DIR}/); "
                "choose an empty or new folder"
            )
        meta = json.loads(self.index.get_meta("catalog") or "{}")
        wanted = {
            "id": meta.get("id") or _catalog_id(self.root),
            "title": title if title is not None else meta.get("title"),
            "description": description or meta.get("description") or "Harvested with stac-harvester",
        }
        if wanted != meta:
            self.index.set_meta("catalog", json.dumps(wanted))
            self.index.set_meta("root_dirty", "1")
        self.meta = wanted
        self._specs = self.index.collections()
        self._root_str = str(self.root)
        self._known: dict[str, dict[str, ItemRecord]] = {}
        self._asset_keys = {cid: self.index.asset_keys(cid) for cid in self._specs}
        self._split_ids = {cid for cid in self._specs if self.index.is_split(cid)}
        self._dirty: set[tuple[str, int]] = set()
        self._pending = 0
        #: items written (new or changed) and items found unchanged since the store was opened
        self.written = 0
        self.unchanged = 0
        self.index.commit()

    # -- context management
    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Write what changed and release the catalog."""
        if self._lock is None:
            return
        try:
            self.flush()
        finally:
            self.index.close()
            self._release()

    # -- collections
    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection, or update its description; its files are written at the next flush."""
        check_id(spec.id, "collection")
        data = asdict(spec)
        if self._specs.get(spec.id) == json.loads(json.dumps(data, sort_keys=True)):
            return
        folder = self.root / spec.id
        if spec.id not in self._specs and (folder / "collection.json").exists():
            raise CatalogFormatError(f"{folder}: a collection.json exists that the harvester did not write")
        self.index.put_collection(spec.id, data)
        self.index.set_meta("root_dirty", "1")
        self._specs[spec.id] = json.loads(json.dumps(data, sort_keys=True))
        self._asset_keys.setdefault(spec.id, set())
        self.index.commit()

    # -- items
    def add(self, item: pystac.Item, *, assets: AssetMode = "move") -> str:
        """Place ``item`` in its collection (``item.collection_id``), adding or replacing it.

        Local assets (absolute file paths) are moved, copied or hard-linked (``assets``) into the item's
        folder and referred to by relative href. Returns the path of the item file (a string: this is the
        hot path of large harvests and pathlib costs as much as a system call here). An item whose
        content is unchanged is not rewritten.
        """
        cid = item.collection_id
        if cid is None or cid not in self._specs:
            raise CatalogError(f"item {item.id!r}: unknown collection {cid!r}; call ensure_collection first")
        check_id(item.id, "item")
        known = self._records(cid)
        previous = known.get(item.id)
        year = _year(item)
        if previous is None and len(known) + 1 > self.split_threshold and cid not in self._split_ids:
            self._split(cid)
        parent = f"../{year}/catalog.json" if cid in self._split_ids else "../collection.json"

        # Plain string paths on this hot path: pathlib costs more than the file system calls here.
        folder = os.path.join(self._root_str, cid, item.id)
        data = item.to_dict(include_self_link=False, transform_hrefs=False)
        sources = self._asset_sources(item, data)
        data["links"] = [
            {"rel": "root", "href": "../../catalog.json", "type": stac.JSON},
            {"rel": "parent", "href": parent, "type": stac.JSON},
            {"rel": "collection", "href": "../collection.json", "type": stac.JSON},
        ] + [link for link in data.get("links", []) if link.get("rel") not in _STRUCTURAL]
        data["collection"] = cid
        body = _dumps(data)
        digest = hashlib.sha256(body).hexdigest()
        path = os.path.join(folder, f"{item.id}.json")
        if previous is not None and previous.digest == digest and os.path.exists(path):
            self.unchanged += 1
            return path

        try:
            os.mkdir(folder)  # not makedirs: that stats the parent first, on every item
        except FileExistsError:
            pass
        except FileNotFoundError:  # the collection folder is written at flush: create it with the first item
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise OutputNotWritableError(folder, exc.strerror or str(exc)) from exc
        except OSError as exc:
            raise OutputNotWritableError(folder, exc.strerror or str(exc)) from exc
        for name, source in sources.items():
            _place(source, Path(folder, name), assets)
        atomic_write_bytes(path, body)
        names = tuple(sorted(sources))
        if previous is not None:
            for stale in set(previous.files) - set(names):
                Path(folder, stale).unlink(missing_ok=True)

        start, end = _time_range(item)
        record = ItemRecord(cid, item.id, year, _bbox(item), start, end, digest, names)
        known[item.id] = record
        self.index.queue_item(record, _summary_values(item, self._specs[cid]["summaries"]), previous is not None)
        self._mark_dirty(cid, year)
        if previous is not None and previous.year != year:
            self._mark_dirty(cid, previous.year)
        new_keys = self._asset_keys[cid]
        for key, asset in data["assets"].items():
            if key not in new_keys:
                self.index.add_asset_definition(cid, key, _asset_definition(asset))
                new_keys.add(key)
        self.written += 1
        self._pending += 1
        if self._pending >= COMMIT_EVERY:  # bounds what a crash can drop from the index
            self.commit()
        return path

    def _records(self, cid: str) -> dict[str, ItemRecord]:
        if cid not in self._known:
            self._known[cid] = self.index.records(cid)
        return self._known[cid]

    def _mark_dirty(self, cid: str, year: int) -> None:
        if (cid, year) not in self._dirty:
            self.index.mark_dirty(cid, year)
            self._dirty.add((cid, year))

    def commit(self) -> None:
        """Make the items added so far durable in the index, without writing collection files.

        After a crash, the next `flush` (of any run) links every committed item into its collection.
        """
        self.index.write_pending()
        self.index.commit()
        self._pending = 0

    def flush(self) -> None:
        """Write the collections, sub-catalogs and root that changed since the last flush."""
        self.index.write_pending()
        for cid in self.index.dirty_collections():
            self._write_collection(cid)
            self.index.mark_clean(cid)
        self._dirty.clear()
        if self.index.get_meta("root_dirty") != "0" or not (self.root / "catalog.json").exists():
            self._write_root()
            self.index.set_meta("root_dirty", "0")
        self.index.commit()

    def digest(self, collection: str, item_id: str) -> str | None:
        """SHA-256 of the item file as written (None for an item the catalog does not have)."""
        record = self._records(collection).get(item_id) if collection in self._specs else None
        return record.digest if record else None

    def count(self, collection: str) -> int:
        return len(self._records(collection)) if collection in self._specs else 0

    # -- writing the non-item files
    def _write_root(self) -> None:
        links = [{"rel": "root", "href": "./catalog.json", "type": stac.JSON}]
        for cid, spec in sorted(self._specs.items()):
            links.append({"rel": "child", "href": f"./{cid}/collection.json", "type": stac.JSON,
                          "title": spec.get("title") or cid})
        data: dict[str, Any] = {"type": "Catalog", "id": self.meta["id"], "stac_version": stac.STAC_VERSION}
        if self.meta.get("title"):
            data["title"] = self.meta["title"]
        data["description"] = self.meta["description"]
        data["links"] = links
        atomic_write_bytes(self.root / "catalog.json", _dumps(data))

    def _write_collection(self, cid: str) -> None:
        spec = self._specs[cid]
        folder = self.root / cid
        folder.mkdir(parents=True, exist_ok=True)
        links = [
            {"rel": "root", "href": "../catalog.json", "type": stac.JSON},
            {"rel": "parent", "href": "../catalog.json", "type": stac.JSON},
        ]
        if cid in self._split_ids:
            for year in self.index.dirty_years(cid):
                self._write_year(cid, year)
            links += [{"rel": "child", "href": f"./{y}/catalog.json", "type": stac.JSON, "title": str(y)}
                      for y in self.index.years(cid)]
        else:
            links += [{"rel": "item", "href": f"./{i}/{i}.json", "type": stac.GEOJSON}
                      for i, _ in self.index.item_ids(cid)]
        stats = self.index.stats(cid)
        collection: dict[str, Any] = {
            "type": "Collection",
            "id": cid,
            "stac_version": stac.STAC_VERSION,
            "stac_extensions": sorted(set(spec["stac_extensions"])),
            **({"title": spec["title"]} if spec.get("title") else {}),
            "description": spec["description"],
            "keywords": spec["keywords"],
            "license": spec["license"],
            "providers": spec["providers"],
            "extent": _extent(stats),
            "summaries": self._summaries(cid, spec),
            "item_assets": {**self.index.asset_definitions(cid), **spec["item_assets"]},
            **spec["extra_fields"],
            "links": links,
        }
        for key in ("keywords", "providers", "summaries", "item_assets", "stac_extensions"):
            if not collection[key]:
                del collection[key]
        atomic_write_bytes(folder / "collection.json", _dumps(collection))

    def _write_year(self, cid: str, year: int) -> None:
        folder = self.root / cid / str(year)
        folder.mkdir(parents=True, exist_ok=True)
        links = [
            {"rel": "root", "href": "../../catalog.json", "type": stac.JSON},
            {"rel": "parent", "href": "../collection.json", "type": stac.JSON},
        ] + [{"rel": "item", "href": f"../{i}/{i}.json", "type": stac.GEOJSON} for i, _ in self.index.item_ids(cid, year)]
        data = {"type": "Catalog", "id": f"{cid}-{year}", "stac_version": stac.STAC_VERSION,
                "title": f"{self._specs[cid].get('title') or cid}, {year}",
                "description": f"Items of {cid} from {year}", "links": links}
        atomic_write_bytes(folder / "catalog.json", _dumps(data))

    def _split(self, cid: str) -> None:
        """Switch a collection to yearly sub-catalogs: once, rewriting its items' parent links."""
        log.info("collection %s passes %d items: listing its items in yearly sub-catalogs", cid, self.split_threshold)
        self.index.write_pending()
        for item_id, year in list(self.index.item_ids(cid)):
            path = self.root / cid / item_id / f"{item_id}.json"
            data = json.loads(path.read_bytes())
            for link in data["links"]:
                if link.get("rel") == "parent":
                    link["href"] = f"../{year}/catalog.json"
            body = _dumps(data)
            atomic_write_bytes(path, body)
            self.index.set_digest(cid, item_id, hashlib.sha256(body).hexdigest())
            self._mark_dirty(cid, year)
        self.index.set_split(cid)
        self._split_ids.add(cid)

    def _summaries(self, cid: str, spec: dict[str, Any]) -> dict[str, Any]:
        summaries: dict[str, Any] = {}
        for name in spec["summaries"]:
            values = self.index.values(cid, name, SUMMARY_LIMIT)
            if not values:
                continue
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                summaries[name] = {"minimum": min(values), "maximum": max(values)}
            elif len(values) <= SUMMARY_LIMIT:
                summaries[name] = sorted(values, key=str)
        return summaries

    # -- assets
    def _asset_sources(self, item: pystac.Item, data: dict[str, Any]) -> dict[str, Path]:
        """Rewrite local asset hrefs in ``data`` to relative ones; return {file name: source path}."""
        sources: dict[str, Path] = {}
        for key, asset in data["assets"].items():
            href = asset["href"]
            if "://" in href or not os.path.isabs(href):
                continue
            source = Path(href)
            name = source.name
            if name in sources and sources[name] != source:
                raise CatalogError(f"item {item.id!r}: two assets would both be stored as {name!r}")
            if name == f"{item.id}.json":
                raise CatalogError(f"item {item.id!r}: asset {key!r} has the item file's own name {name!r}")
            sources[name] = source
            asset["href"] = f"./{name}"
        return sources

    # -- locking
    def _prepare_root(self) -> None:
        try:
            (self.root / STATE_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputNotWritableError(self.root, exc.strerror or str(exc)) from exc
        if not os.access(self.root, os.W_OK):
            raise OutputNotWritableError(self.root, "permission denied")

    def _acquire_lock(self) -> Any:
        fh = lock_file(self.root / STATE_DIR / "catalog.lock")
        if fh is None:
            raise CatalogError(f"{self.root}: the catalog is being written by another process")
        return fh

    def _release(self) -> None:
        unlock_file(self._lock)
        self._lock = None


def _place(source: Path, target: Path, mode: AssetMode) -> None:
    if source == target:
        return
    if not source.is_file():
        raise CatalogError(f"asset file not found: {source}")
    try:
        if mode == "move":
            shutil.move(source, target)  # a rename on the same file system, copy and delete across
            return
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        if mode == "link":
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
        else:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputNotWritableError(target, exc.strerror or str(exc)) from exc


def _asset_definition(asset: dict[str, Any]) -> dict[str, Any]:
    definition = {k: asset[k] for k in ("title", "type", "roles") if k in asset}
    if "bands" in asset:
        definition["bands"] = [{k: b[k] for k in ("name", "data_type", "nodata", "unit") if k in b}
                               for b in asset["bands"]]
    return definition


def _summary_values(item: pystac.Item, fields: list[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name in fields:
        if name not in item.properties:
            continue
        value = item.properties[name]
        items = value if isinstance(value, list) else [value]
        values[name] = [json.dumps(v, sort_keys=True) for v in items]
    return values


def _time_range(item: pystac.Item) -> tuple[float, float]:
    start = item.common_metadata.start_datetime or item.datetime
    end = item.common_metadata.end_datetime or item.datetime
    assert start is not None and end is not None
    return start.timestamp(), end.timestamp()


def _year(item: pystac.Item) -> int:
    moment = item.datetime or item.common_metadata.start_datetime
    assert moment is not None
    return moment.astimezone(timezone.utc).year


def _bbox(item: pystac.Item) -> tuple[float, float, float, float]:
    if not item.bbox:
        raise CatalogError(f"item {item.id!r} has no bbox")
    b = item.bbox
    return (b[0], b[1], b[2], b[3]) if len(b) == 4 else (b[0], b[1], b[3], b[4])


def _extent(stats: Any) -> dict[str, Any]:
    def iso(ts: float | None) -> str | None:
        return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    bbox = stats.bbox or [-180.0, -90.0, 180.0, 90.0]
    return {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[iso(stats.start), iso(stats.end)]]}}


def _catalog_id(root: Path) -> str:
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in root.name).strip("-.") or "catalog"
    return name


def _dumps(data: dict[str, Any]) -> bytes:
    # orjson: indented output at C speed (the stdlib's encoder falls back to pure Python when indenting)
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n"
