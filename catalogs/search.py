"""STAC API item search over a stac-geoparquet index (`catalogs.geoparquet`), answered by DuckDB.

Every criterion becomes SQL that DuckDB runs on the Parquet file: bbox and intersects with the spatial
extension's ``ST_Intersects``, datetime intervals on the items' time ranges, ids and collections, and a CQL2
filter translated by the ``cql2`` package (parsed and checked first: only the operators of "Basic CQL2" and
only known properties reach DuckDB). The connection can read the index file and nothing else
(`catalogs.duck.connect`). A search answers the ``(collection, id)`` of the items matched, in order; the items
themselves are the catalog's JSON files.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cql2
import duckdb
import pyarrow.parquet as pq

from catalogs.duck import connect, quote_identifier
from catalogs.errors import CatalogError

#: the CQL2 operators a filter may use: Basic CQL2 (comparisons, logic, IS NULL)
BASIC_CQL2 = frozenset({"and", "or", "not", "=", "<>", "<", "<=", ">", ">=", "isNull"})
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000


class SearchError(CatalogError):
    """A search the index cannot answer as asked (bad parameter, unknown property, unsupported operator)."""


@dataclass
class Search:
    """One item search, as STAC API Item Search defines its parameters."""

    collections: list[str] | None = None
    ids: list[str] | None = None
    bbox: list[float] | None = None
    intersects: dict[str, Any] | None = None
    datetime: str | None = None
    #: CQL2, as text or as JSON
    filter: str | dict[str, Any] | None = None
    #: (field, descending)
    sortby: list[tuple[str, bool]] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0


@dataclass(frozen=True)
class Page:
    """The items of one page of results, in order, how many items match the whole search, and whether more
    pages follow."""

    items: list[tuple[str, str]]
    matched: int
    offset: int = 0

    @property
    def more(self) -> bool:
        return self.offset + len(self.items) < self.matched


class ItemIndex:
    """Searches over one stac-geoparquet file (its columns are read once)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        self.columns: dict[str, str] = {f.name: str(f.type) for f in pq.read_schema(self.path)}
        self._connection = connect([self.path])
        self._lock = threading.Lock()

    def search(self, search: Search) -> Page:
        if not 1 <= search.limit <= MAX_LIMIT:
            raise SearchError(f"limit must be 1-{MAX_LIMIT}, not {search.limit}")
        if search.offset < 0:
            raise SearchError(f"bad paging token {search.offset}")
        where, params = self._where(search)
        condition = " AND ".join(where) or "true"
        order = [f"{quote_identifier(name)} {'DESC' if desc else 'ASC'} NULLS LAST" for name, desc in search.sortby]
        # the window counts every match before LIMIT applies: the page and its total from one scan of one file
        sql = (f"SELECT collection, id, count(*) OVER () FROM read_parquet(?) WHERE {condition} "
               f"ORDER BY {', '.join([*order, 'collection', 'id'])} LIMIT ? OFFSET ?")
        with self._lock:
            cursor = self._connection.cursor()
        try:
            rows = cursor.execute(sql, [str(self.path), *params, search.limit, search.offset]).fetchall()
            if rows:
                matched = int(rows[0][2])
            elif search.offset:  # a page past the last one: no row to carry the count
                counted = cursor.execute(f"SELECT count(*) FROM read_parquet(?) WHERE {condition}",
                                         [str(self.path), *params]).fetchone()
                matched = int(counted[0]) if counted else 0
            else:
                matched = 0
        except duckdb.Error as exc:
            raise SearchError(f"the search cannot be run: {str(exc).splitlines()[0]}") from exc
        finally:
            cursor.close()
        return Page([(str(c), str(i)) for c, i, _ in rows], matched, search.offset)

    def _where(self, search: Search) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if search.collections is not None:
            where.append("list_contains(?, collection)")
            params.append(list(search.collections))
        if search.ids is not None:
            where.append("list_contains(?, id)")
            params.append(list(search.ids))
        if search.bbox is not None:
            clause, values = _bbox_clause(search.bbox)
            where.append(clause)
            params += values
        if search.intersects is not None:
            where.append("ST_Intersects(geometry, ST_GeomFromGeoJSON(?))")
            params.append(json.dumps(search.intersects))
        if search.datetime is not None:
            start, end = parse_interval(search.datetime)
            lo, hi = self._time_range()
            if end is not None:
                where.append(f"{lo} <= ?")
                params.append(end)
            if start is not None:
                where.append(f"{hi} >= ?")
                params.append(start)
        if search.filter is not None:
            where.append(f"({self.filter_sql(search.filter)})")
        for name, _ in search.sortby:
            if name not in self.columns:
                raise SearchError(f"cannot sort by {name!r}: no item has it (sortable: "
                                  f"{', '.join(sorted(self.queryables()))})")
        return where, params

    def _time_range(self) -> tuple[str, str]:
        """SQL for an item's start and end: start/end_datetime where given, else its datetime."""
        def first(*names: str) -> str:
            present = [quote_identifier(n) for n in names if n in self.columns]
            return present[0] if len(present) == 1 else f"coalesce({', '.join(present)})" if present else "NULL"
        return first("start_datetime", "datetime"), first("end_datetime", "datetime")

    def filter_sql(self, text_or_json: str | dict[str, Any]) -> str:
        """The SQL of a CQL2 filter, once it is known to use only Basic CQL2 and known properties."""
        try:
            # not expr.validate(): it compiles CQL2's JSON schema on every call (30 ms); _check_filter checks
            # the little that Basic CQL2 allows instead
            expr = cql2.Expr(text_or_json)
            tree = expr.to_json()
        except Exception as exc:  # noqa: BLE001 - cql2's parser raises a bare Exception on a syntax error
            message = " ".join(str(exc).split())
            raise SearchError(f"bad CQL2 filter: {message}") from exc
        self._check_filter(tree)
        try:
            return expr.to_sql()
        except ValueError as exc:
            raise SearchError(f"bad CQL2 filter: {exc}") from exc

    def _check_filter(self, node: Any) -> None:
        if isinstance(node, dict):
            if "op" in node:
                op, args = node["op"], node.get("args")
                if op not in BASIC_CQL2:
                    raise SearchError(f"CQL2 operator {op!r} is not supported here (Basic CQL2 only: "
                                      f"{', '.join(sorted(BASIC_CQL2))})")
                # CQL2 wants two or more arguments to "and"/"or"; one is accepted as itself, since STAC Browser
                # sends {"op": "and", "args": [<its one filter>]}
                wanted = {"and": None, "or": None, "not": 1, "isNull": 1}.get(op, 2)
                if not isinstance(args, list) or (len(args) != wanted if wanted else not args):
                    raise SearchError(f"bad CQL2 filter: {op!r} takes {wanted or 'one or more'} argument(s)")
                for arg in args:
                    self._check_filter(arg)
            elif "property" in node:
                name = node["property"]
                if name not in self.queryables():
                    raise SearchError(f"unknown property {name!r} in the filter (queryables: "
                                      f"{', '.join(sorted(self.queryables()))})")
            elif set(node) - {"timestamp", "date"}:
                raise SearchError(f"CQL2 value {json.dumps(node)} is not supported here (Basic CQL2 only)")
        elif isinstance(node, list):
            raise SearchError("CQL2 arrays are not supported here (Basic CQL2 only)")

    def queryables(self) -> dict[str, str]:
        """Columns a filter or a sort may name: those with one value per item (not assets, links, geometry)."""
        skipped = {"assets", "links", "geometry", "bbox", "stac_extensions", "type", "stac_version"}
        return {name: kind for name, kind in self.columns.items()
                if name not in skipped and not kind.startswith(("struct", "list", "large_list", "map"))}


def _bbox_clause(bbox: list[float]) -> tuple[str, list[float]]:
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
        raise SearchError(f"bbox must be 4 or 6 numbers, not {bbox!r}")
    west, south, east, north = (float(v) for v in bbox)
    if south > north:
        raise SearchError(f"bbox {bbox!r}: its south edge is north of its north edge")
    if west <= east:
        return "ST_Intersects(geometry, ST_MakeEnvelope(?, ?, ?, ?))", [west, south, east, north]
    # across the antimeridian: the two boxes either side of it
    return ("(ST_Intersects(geometry, ST_MakeEnvelope(?, ?, 180, ?)) "
            "OR ST_Intersects(geometry, ST_MakeEnvelope(-180, ?, ?, ?)))"), [west, south, north, south, east, north]


def parse_interval(text: str) -> tuple[datetime | None, datetime | None]:
    """A STAC API ``datetime`` parameter: one instant, or ``start/end`` with ``..`` (or nothing) for open."""
    parts = text.split("/")
    if len(parts) > 2:
        raise SearchError(f"bad datetime {text!r}: one instant or start/end")
    moments = [None if part in ("", "..") else _instant(part, text) for part in parts]
    if len(moments) == 1:
        if moments[0] is None:
            raise SearchError(f"bad datetime {text!r}: one instant or start/end")
        return moments[0], moments[0]
    start, end = moments
    if start is not None and end is not None and start > end:
        raise SearchError(f"bad datetime {text!r}: its start is after its end")
    return start, end


def _instant(part: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(part.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise SearchError(f"bad datetime {text!r}: {part!r} is not an RFC 3339 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
