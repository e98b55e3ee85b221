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

import functools
import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from json.encoder import encode_basestring_ascii as _encode_str  # type: ignore[attr-defined]
from typing import Any, Callable, Iterable, Literal, TypeVar

import orjson
import pystac
import pystac.utils

from catalogs import stac
from catalogs.stac import STATE_DIR
from catalogs.drafts import CollectionSpec
from catalogs.errors import CatalogError, CatalogFormatError, OutputNotWritableError
from catalogs.fsio import atomic_write_bytes, check_id, copy_file, lock_file, move_file, unlock_file
from catalogs.index import CatalogIndex, ItemRecord

log = logging.getLogger(__name__)

AssetMode = Literal["move", "copy", "link"]
#: a collection with more items than this lists them in yearly sub-catalogs instead of directly
SPLIT_THRESHOLD = 10_000
#: summaries list at most this many distinct values of a field (numbers are summarised as a range)
SUMMARY_LIMIT = 100
#: the index is committed after this many added items (and at every flush)
COMMIT_EVERY = 1000
#: `add_many` takes items in batches of this many
BATCH = 512
#: threads that write item files in `add_many` (the work is system calls, which run outside the GIL)
IO_THREADS = 4
#: fewer items than this per thread are written from the calling thread alone
MIN_SLICE = 16
_STRUCTURAL = {"root", "parent", "self", "collection", "child", "item"}
T = TypeVar("T")


@dataclass(frozen=True)
class Added:
    """What became of one item given to `CatalogStore.add_many`."""

    collection: str
    item_id: str
    #: the item file (written now, or already there unchanged); None when the item failed
    path: str | None
    error: CatalogError | None = None


@dataclass
class _ItemWrite:
    """An item ready to be written: its file's bytes, the files it brings, what the index will record."""

    record: ItemRecord
    previous: ItemRecord | None
    folder: str
    path: str
    body: bytes
    sources: dict[str, Path]
    assets: AssetMode
    values: dict[str, list[str]]
    asset_definitions: dict[str, dict[str, Any]]


class CatalogStore:
    """A static STAC catalog folder opened for writing. Use as a context manager."""

    def __init__(self, root: Path, *, title: str | None = None, description: str | None = None,
                 split_threshold: int = SPLIT_THRESHOLD, io_threads: int = IO_THREADS) -> None:
        self.root = Path(root).resolve()
        self.split_threshold = split_threshold
        self.io_threads = io_threads
        self._pool: ThreadPoolExecutor | None = None
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
        #: the item lending each collection its thumbnail, None for none yet (one index lookup per collection)
        self._thumbnails: dict[str, str | None] = {}
        self._dirty: set[tuple[str, int]] = set()
        for cid in self._split_ids:  # a run killed while splitting a collection: finish relinking its items
            if self.index.get_meta(f"relink:{cid}") == "1":
                self._relink(cid)
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
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
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
        content is unchanged is not rewritten. Raises a `CatalogError` naming the item or file.
        """
        cid = self._check(item)
        self._make_room(cid, 0 if item.id in self._records(cid) else 1)
        write = self._prepare(item, assets)
        if isinstance(write, str):
            return write
        self._write(write)
        self._record(write)
        return write.path

    def add_many(self, items: Iterable[pystac.Item], *, assets: AssetMode = "move") -> list[Added]:
        """Add every item as `add` would, writing their files from a few threads at once.

        The file system's metadata operations (a folder, a file and a rename per item) are most of the
        cost of a large catalog, and they overlap well across item folders. Items are taken in batches of
        `BATCH`, so memory stays bounded whatever ``items`` yields. A bad item does not stop the others:
        its outcome carries the error. Outcomes come in the order of ``items``; an item given twice is
        written twice, in order, as `add` would.
        """
        outcomes: list[Added] = []
        batch: list[pystac.Item] = []
        for item in items:
            batch.append(item)
            if len(batch) == BATCH:
                outcomes += self._add_batch(batch, assets)
                batch = []
        if batch:
            outcomes += self._add_batch(batch, assets)
        return outcomes

    def _add_batch(self, items: list[pystac.Item], assets: AssetMode) -> list[Added]:
        outcomes: list[Added | None] = [None] * len(items)
        checked: list[tuple[int, pystac.Item, str]] = []
        for i, item in enumerate(items):
            try:
                checked.append((i, item, self._check(item)))
            except CatalogError as exc:
                outcomes[i] = Added(item.collection_id or "", item.id, None, exc)
        new: dict[str, set[str]] = {}
        for _, item, cid in checked:
            if item.id not in self._records(cid):
                new.setdefault(cid, set()).add(item.id)
        for cid, ids in new.items():
            self._make_room(cid, len(ids))

        writes: dict[tuple[str, str], tuple[int, _ItemWrite]] = {}
        for i, item, cid in checked:
            if (cid, item.id) in writes:  # the same item again: write the first one before preparing this one
                self._write_all(list(writes.values()), outcomes)
                writes = {}
            try:
                write = self._prepare(item, assets)
            except CatalogError as exc:
                outcomes[i] = Added(cid, item.id, None, exc)
                continue
            if isinstance(write, str):
                outcomes[i] = Added(cid, item.id, write, None)
            else:
                writes[(cid, item.id)] = (i, write)
        self._write_all(list(writes.values()), outcomes)
        return [outcome for outcome in outcomes if outcome is not None]

    def _write_all(self, writes: list[tuple[int, _ItemWrite]], outcomes: list[Added | None]) -> None:
        """Write items from the writer's threads, book those written, and put every outcome in its place."""
        errors = self._run_parallel(self._write, [write for _, write in writes])
        for (i, write), error in zip(writes, errors):
            if error is None:
                self._record(write)
            outcomes[i] = Added(write.record.collection, write.record.id, None if error else write.path, error)

    def _check(self, item: pystac.Item) -> str:
        """The item's collection id, once the item is known to be placeable."""
        cid = item.collection_id
        if cid is None or cid not in self._specs:
            raise CatalogError(f"item {item.id!r}: unknown collection {cid!r}; call ensure_collection first")
        check_id(item.id, "item")
        return cid

    def _make_room(self, cid: str, new_items: int) -> None:
        """Split ``cid`` into yearly sub-catalogs if ``new_items`` more would take it over the threshold."""
        if new_items and cid not in self._split_ids and len(self._records(cid)) + new_items > self.split_threshold:
            self._split(cid)

    def _prepare(self, item: pystac.Item, assets: AssetMode) -> _ItemWrite | str:
        """Everything about writing ``item`` that is not file-system work; the item file's path if unchanged."""
        cid = item.collection_id
        assert cid is not None
        previous = self._records(cid).get(item.id)
        year = _year(item)
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
        start, end = _time_range(item)
        names = tuple(sorted(sources))
        return _ItemWrite(
            record=ItemRecord(cid, item.id, year, _bbox(item), start, end, digest, names),
            previous=previous, folder=folder, path=path, body=body, sources=sources, assets=assets,
            values=_summary_values(item, self._specs[cid]["summaries"]),
            asset_definitions=data["assets"],
        )

    @staticmethod
    def _write(write: _ItemWrite) -> None:
        """The file-system part of adding an item: its folder, its assets, its file, stale files removed.

        Touches only the item's own folder (and creates it), so items can be written concurrently.
        """
        folder = write.folder
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
        for name, source in write.sources.items():
            _place(source, Path(folder, name), write.assets)
        atomic_write_bytes(write.path, write.body)
        if write.previous is not None:
            for stale in set(write.previous.files) - set(write.record.files):
                Path(folder, stale).unlink(missing_ok=True)

    def _record(self, write: _ItemWrite) -> None:
        """Book a written item: the in-memory records, the index queue, dirty marks, item_assets."""
        record, previous = write.record, write.previous
        cid = record.collection
        self._records(cid)[record.id] = record
        self.index.queue_item(record, write.values, previous is not None)
        self._mark_dirty(cid, record.year)
        if previous is not None and previous.year != record.year:
            self._mark_dirty(cid, previous.year)
        self._choose_thumbnail(cid, record.id, write.asset_definitions)
        known_keys = self._asset_keys[cid]
        for key, asset in write.asset_definitions.items():
            if key not in known_keys:
                definition = _asset_definition(asset)
                if len(definition) < 2:  # STAC wants two fields at least: a later item may say more
                    continue
                self.index.add_asset_definition(cid, key, definition)
                known_keys.add(key)
        self.written += 1
        self._pending += 1
        if self._pending >= COMMIT_EVERY:  # bounds what a crash can drop from the index
            self.commit()

    def _run_parallel(self, work: Callable[[T], None], tasks: list[T]) -> list[CatalogError | None]:
        """Run ``work`` on every task from the writer's threads, in contiguous slices; the errors, in order."""
        errors: list[CatalogError | None] = [None] * len(tasks)

        def run(lo: int, hi: int) -> None:
            for i in range(lo, hi):
                try:
                    work(tasks[i])
                except CatalogError as exc:
                    errors[i] = exc

        threads = min(self.io_threads, len(tasks) // MIN_SLICE)
        if threads <= 1:
            run(0, len(tasks))
            return errors
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.io_threads, thread_name_prefix="catalog-writer")
        # A few long slices rather than a task per item: a future costs about as much as a small write.
        bounds = [len(tasks) * k // threads for k in range(threads + 1)]
        for future in [self._pool.submit(run, lo, hi) for lo, hi in zip(bounds, bounds[1:])]:
            future.result()
        return errors

    def _choose_thumbnail(self, cid: str, item_id: str, assets: dict[str, dict[str, Any]]) -> None:
        """Make the thumbnail of the collection's item with the smallest id among those that have a local one
        the collection's own (STAC Browser shows it on the collection's card). The smallest id, not the first
        item written: items are written in whatever order their workers finish, and the choice must not
        change from one harvest of the same products to the next."""
        if cid not in self._thumbnails:
            value = self.index.get_meta(f"thumbnail:{cid}")
            self._thumbnails[cid] = json.loads(value).get("item") if value is not None else None
        lender = self._thumbnails[cid]
        if lender is not None and lender < item_id:
            return
        # the asset keyed "thumbnail", else the first with that role (InSAR items have "unw_phase-thumbnail")
        thumb = assets.get("thumbnail") or next(
            (a for a in assets.values() if "thumbnail" in (a.get("roles") or [])), None)
        href = thumb.get("href") if thumb else None
        if not isinstance(href, str) or not href.startswith("./") or "/" in href[2:]:
            return  # remote, or not beside the item: a collection's thumbnail must go with the catalog
        self.index.set_meta(f"thumbnail:{cid}", json.dumps({
            "item": item_id,
            "asset": {"href": f"./{item_id}/{href[2:]}", "type": thumb.get("type", stac.PNG),
                      "roles": ["thumbnail"], "title": f"Thumbnail of {item_id}"},
        }))
        self._thumbnails[cid] = item_id  # the collection file is rewritten at flush: the item made it dirty

    def _thumbnail(self, cid: str) -> dict[str, Any] | None:
        """The collection's thumbnail asset, while the item that lent it still has the file."""
        value = self.index.get_meta(f"thumbnail:{cid}")
        if value is None:
            return None
        stored = json.loads(value)
        # an index written before the lender's id was kept beside the asset holds the asset alone
        asset: dict[str, Any] = stored.get("asset", stored)
        if not (self.root / cid / asset["href"]).is_file():  # that item was rewritten without it
            self.index.delete_meta(f"thumbnail:{cid}")
            self._thumbnails.pop(cid, None)  # the next item with a thumbnail lends its own
            return None
        return asset

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
        self.index.commit()  # writes the queued items first
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
        links += spec.get("links", [])
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
        thumbnail = self._thumbnail(cid)
        if thumbnail is not None and "thumbnail" not in collection.get("assets", {}):
            collection["assets"] = {"thumbnail": thumbnail, **collection.get("assets", {})}
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
        """Switch a collection to yearly sub-catalogs: once, rewriting its items' parent links.

        The switch is committed before the items are relinked, with a mark that the relinking is under
        way, so that a run killed half way through finishes it when the catalog is next opened.
        """
        log.info("collection %s passes %d items: listing its items in yearly sub-catalogs", cid, self.split_threshold)
        self.index.write_pending()
        self.index.set_split(cid)
        self._split_ids.add(cid)
        for year in self.index.years(cid):
            self._mark_dirty(cid, year)
        self.index.set_meta(f"relink:{cid}", "1")
        self.index.commit()
        self._relink(cid)

    def _relink(self, cid: str) -> None:
        """Point every item of a split collection at its year's sub-catalog (items already right are skipped)."""
        items = list(self.index.item_ids(cid))
        digests: list[str | None] = [None] * len(items)

        unsplit = _parent_link_bytes("../collection.json")

        def relink(i: int) -> None:
            item_id, year = items[i]
            path = os.path.join(self._root_str, cid, item_id, f"{item_id}.json")
            try:
                with open(path, "rb") as fh:
                    body = fh.read()
                # The item file is the writer's own output, so its parent link has a known form: swap the
                # bytes rather than parse and re-serialise (an item of our writing reads back identical).
                data = None if body.count(unsplit) == 1 else json.loads(body)
            except (OSError, ValueError) as exc:
                raise CatalogFormatError(f"{path}: cannot read the item to relink it ({exc})") from exc
            parent = f"../{year}/catalog.json"
            if data is None:
                body = body.replace(unsplit, _parent_link_bytes(parent))
            else:
                links = [link for link in data.get("links", []) if link.get("rel") == "parent"]
                if [link.get("href") for link in links] == [parent]:  # relinked by a run killed before booking
                    digests[i] = hashlib.sha256(body).hexdigest()
                    return
                for link in links:
                    link["href"] = parent
                body = _dumps(data)
            atomic_write_bytes(path, body)
            digests[i] = hashlib.sha256(body).hexdigest()

        records = self._records(cid)
        errors = self._run_parallel(relink, list(range(len(items))))
        for (item_id, _), digest, error in zip(items, digests, errors):
            if error is not None:
                # Its parent link still names the collection, a file that exists: the catalog stays valid.
                log.warning("collection %s: item %s keeps its old parent link: %s", cid, item_id, error)
            elif digest is not None and records[item_id].digest != digest:
                self.index.set_digest(cid, item_id, digest)
                records[item_id] = replace(records[item_id], digest=digest)
        self.index.set_meta(f"relink:{cid}", "0")
        self.index.commit()

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
    if mode == "move":
        move_file(source, target)
    else:
        copy_file(source, target, link=mode == "link")


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
        # strings (most values) encoded as json.dumps would, by its C encoder directly
        values[name] = [_encode_str(v) if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in items]
    return values


def _time_range(item: pystac.Item) -> tuple[float, float]:
    props = item.properties
    start = _parse_time(props["start_datetime"]) if props.get("start_datetime") else item.datetime
    end = _parse_time(props["end_datetime"]) if props.get("end_datetime") else item.datetime
    assert start is not None and end is not None
    return start.timestamp(), end.timestamp()


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)  # RFC 3339 as STAC writes it; a third of pystac's parsing time
    except ValueError:
        moment = pystac.utils.str_to_datetime(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # STAC times are UTC


def _year(item: pystac.Item) -> int:
    moment = item.datetime or _parse_time(item.properties["start_datetime"])
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


@functools.lru_cache(maxsize=256)
def _parent_link_bytes(href: str) -> bytes:
    """How `_dumps` writes an item's parent link to ``href`` (from "rel" up to "type", indentation included)."""
    body = _dumps({"links": [{"rel": "parent", "href": href, "type": stac.JSON}]})
    return body[body.index(b'"rel"'):body.rindex(b'"type"')]


def _dumps(data: dict[str, Any]) -> bytes:
    # orjson: indented output at C speed (the stdlib's encoder falls back to pure Python when indenting)
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n"
