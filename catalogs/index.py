"""The catalog writer's own index: an SQLite file in ``<catalog>/.harvest/catalog.sqlite``.

It records, per item, what the collection files need (bbox, time range, year, summary values, the files
it owns and a digest of its JSON), so that adding items never reads or rewrites the catalog, and
collection extents, summaries and links are derived from it when the collection is written.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from catalogs.errors import CatalogFormatError, OutputNotWritableError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections(
    id TEXT PRIMARY KEY, spec TEXT NOT NULL, dirty INTEGER NOT NULL DEFAULT 1, split INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS items(
    collection TEXT NOT NULL, id TEXT NOT NULL, year INTEGER NOT NULL,
    minx REAL, miny REAL, maxx REAL, maxy REAL, start REAL, end REAL,
    digest TEXT NOT NULL, files TEXT NOT NULL,
    PRIMARY KEY(collection, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_year ON items(collection, year);
CREATE TABLE IF NOT EXISTS item_values(
    collection TEXT NOT NULL, id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY(collection, id, field, value)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_values_field ON item_values(collection, field, value);
CREATE TABLE IF NOT EXISTS item_assets(
    collection TEXT NOT NULL, key TEXT NOT NULL, definition TEXT NOT NULL, PRIMARY KEY(collection, key));
CREATE TABLE IF NOT EXISTS dirty_years(collection TEXT NOT NULL, year INTEGER NOT NULL, PRIMARY KEY(collection, year));
"""


@dataclass(frozen=True)
class ItemRecord:
    """One item as the index knows it."""

    collection: str
    id: str
    year: int
    bbox: tuple[float, float, float, float]
    start: float
    end: float
    digest: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class CollectionStats:
    count: int
    bbox: list[float] | None
    start: float | None
    end: float | None


class CatalogIndex:
    """Thin data-access layer over the index database. Callers group changes with `commit`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending_items: list[tuple[Any, ...]] = []
        self._pending_deletes: list[tuple[str, str]] = []
        self._pending_values: list[tuple[str, str, str, str]] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level="DEFERRED")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except OSError as exc:
            raise OutputNotWritableError(path, exc.strerror or str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise CatalogFormatError(f"{path}: catalog index unreadable ({exc})") from exc
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
            self.commit()
        elif int(version) > SCHEMA_VERSION:
            raise CatalogFormatError(
                f"{path}: catalog index version {version} is newer than this harvester understands "
                f"({SCHEMA_VERSION}); upgrade stac-harvester"
            )

    def close(self) -> None:
        self.db.close()

    def commit(self) -> None:
        self.write_pending()
        self.db.commit()

    # -- meta
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self.db.execute("DELETE FROM meta WHERE key=?", (key,))

    # -- collections
    def collections(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT id, spec FROM collections ORDER BY id")
        return {cid: json.loads(spec) for cid, spec in rows}

    def put_collection(self, cid: str, spec: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO collections(id, spec, dirty) VALUES(?, ?, 1) "
            "ON CONFLICT(id) DO UPDATE SET spec=excluded.spec, dirty=1",
            (cid, json.dumps(spec, sort_keys=True)),
        )

    def dirty_collections(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM collections WHERE dirty=1 ORDER BY id")]

    def mark_dirty(self, cid: str, year: int | None = None) -> None:
        self.db.execute("UPDATE collections SET dirty=1 WHERE id=?", (cid,))
        if year is not None:
            self.db.execute("INSERT OR IGNORE INTO dirty_years(collection, year) VALUES(?, ?)", (cid, year))

    def mark_clean(self, cid: str) -> None:
        self.db.execute("UPDATE collections SET dirty=0 WHERE id=?", (cid,))
        self.db.execute("DELETE FROM dirty_years WHERE collection=?", (cid,))

    def is_split(self, cid: str) -> bool:
        row = self.db.execute("SELECT split FROM collections WHERE id=?", (cid,)).fetchone()
        return bool(row and row[0])

    def set_split(self, cid: str) -> None:
        self.db.execute("UPDATE collections SET split=1 WHERE id=?", (cid,))

    def dirty_years(self, cid: str) -> list[int]:
        rows = self.db.execute("SELECT year FROM dirty_years WHERE collection=? ORDER BY year", (cid,))
        return [r[0] for r in rows]

    # -- items
    def records(self, cid: str) -> dict[str, ItemRecord]:
        """Every item of a collection, by id (loaded once per run by the writer)."""
        rows = self.db.execute(
            "SELECT collection, id, year, minx, miny, maxx, maxy, start, end, digest, files "
            "FROM items WHERE collection=?",
            (cid,),
        )
        return {
            r[1]: ItemRecord(r[0], r[1], r[2], tuple(r[3:7]), r[7], r[8], r[9], tuple(json.loads(r[10])))
            for r in rows
        }

    def queue_item(self, rec: ItemRecord, values: dict[str, list[str]], replaced: bool) -> None:
        """Record an item; written to the database in batches by `write_pending` (and `commit`)."""
        self._pending_items.append(
            (rec.collection, rec.id, rec.year, *rec.bbox, rec.start, rec.end, rec.digest, json.dumps(rec.files))
        )
        if replaced:
            self._pending_deletes.append((rec.collection, rec.id))
        self._pending_values.extend((rec.collection, rec.id, f, v) for f, vs in values.items() for v in vs)

    def write_pending(self) -> None:
        # Deletes first: a replaced item's old summary values go, its new ones are queued after.
        self.db.executemany("DELETE FROM item_values WHERE collection=? AND id=?", self._pending_deletes)
        self.db.executemany(
            "INSERT OR REPLACE INTO items(collection, id, year, minx, miny, maxx, maxy, start, end, digest, files) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self._pending_items,
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO item_values(collection, id, field, value) VALUES(?, ?, ?, ?)", self._pending_values
        )
        self._pending_items, self._pending_deletes, self._pending_values = [], [], []

    def set_digest(self, cid: str, item_id: str, digest: str) -> None:
        self.db.execute("UPDATE items SET digest=? WHERE collection=? AND id=?", (digest, cid, item_id))

    def item_ids(self, cid: str, year: int | None = None) -> Iterator[tuple[str, int]]:
        if year is None:
            yield from self.db.execute("SELECT id, year FROM items WHERE collection=? ORDER BY id", (cid,))
        else:
            yield from self.db.execute(
                "SELECT id, year FROM items WHERE collection=? AND year=? ORDER BY id", (cid, year)
            )

    def years(self, cid: str) -> list[int]:
        rows = self.db.execute("SELECT DISTINCT year FROM items WHERE collection=? ORDER BY year", (cid,))
        return [r[0] for r in rows]

    def stats(self, cid: str, year: int | None = None) -> CollectionStats:
        where, args = "collection=?", [cid]
        if year is not None:
            where, args = where + " AND year=?", [cid, year]
        # Items crossing the antimeridian have minx > maxx: they stretch the extent to the full longitude range.
        row = self.db.execute(
            f"SELECT count(*), min(CASE WHEN minx > maxx THEN -180 ELSE minx END), min(miny), "
            f"max(CASE WHEN minx > maxx THEN 180 ELSE maxx END), max(maxy), min(start), max(end) "
            f"FROM items WHERE {where}",
            args,
        ).fetchone()
        count = row[0]
        bbox = list(row[1:5]) if count else None
        return CollectionStats(count, bbox, row[5], row[6])

    def values(self, cid: str, field: str, limit: int) -> list[Any]:
        rows = self.db.execute(
            "SELECT DISTINCT value FROM item_values WHERE collection=? AND field=? ORDER BY value LIMIT ?",
            (cid, field, limit + 1),
        )
        return [json.loads(r[0]) for r in rows]

    # -- item_assets
    def asset_keys(self, cid: str) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT key FROM item_assets WHERE collection=?", (cid,))}

    def add_asset_definition(self, cid: str, key: str, definition: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO item_assets(collection, key, definition) VALUES(?, ?, ?)",
            (cid, key, json.dumps(definition, sort_keys=True)),
        )

    def asset_definitions(self, cid: str) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT key, definition FROM item_assets WHERE collection=? ORDER BY key", (cid,))
        return {k: json.loads(d) for k, d in rows}


def read_item_digests(path: Path, collection: str | None = None) -> dict[tuple[str, str], str]:
    """Every item the index at ``path`` records, ``(collection, id) -> digest`` of its file, read-only.

    For readers of a catalog (export, the API's index) while a harvest may be writing it: SQLite's WAL lets
    them read the last committed state without waiting.
    """
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CatalogFormatError(f"{path}: catalog index unreadable ({exc})") from exc
    try:
        where, args = ("WHERE collection=?", (collection,)) if collection is not None else ("", ())
        rows = db.execute(f"SELECT collection, id, digest FROM items {where} ORDER BY collection, id", args)
        return {(cid, item_id): digest for cid, item_id, digest in rows}
    except sqlite3.Error as exc:
        raise CatalogFormatError(f"{path}: catalog index unreadable ({exc})") from exc
    finally:
        db.close()
