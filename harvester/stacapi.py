"""A STAC API over a harvested catalog (``harvester serve DIR --api``): a WSGI app in front of the static one.

It answers STAC API Core, Collections, OGC API Features (items of a collection, one item), Item Search (GET
and POST: bbox, intersects, datetime, ids, collections, limit with ``next``, ``prev`` and ``first`` links and
``numberMatched``) with the Filter (Basic CQL2, text and JSON) and Sort extensions, and ``/queryables``.
Searches run in DuckDB over a stac-geoparquet index of the catalog (`catalogs.search`), which
`catalogs.geoparquet` writes into ``.harvest/api/`` when the server starts and brings up to date (reading only
new or changed items) when the writer's index changes while it runs. The items and collections it answers
are the catalog's own JSON files, with links and hrefs made absolute URLs of this server. Every other path is
the static catalog (`harvester.serve.CatalogApp`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlencode

import orjson
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from catalogs.errors import CatalogError
from catalogs.geoparquet import export_geoparquet
from catalogs.search import DEFAULT_LIMIT, ItemIndex, Search, SearchError
from catalogs.stac import STAC_VERSION, STATE_DIR
from harvester.serve import CORS_HEADERS, preflight

log = logging.getLogger(__name__)

CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
]
#: the first path segments the API answers; a catalog with a top-level entry of one of these names is refused
API_PATHS = ("conformance", "collections", "search", "queryables")
JSON = "application/json"
GEOJSON = "application/geo+json"
#: how often, at most, a request checks whether the catalog changed
REFRESH_EVERY = 1.0
_STRUCTURAL = {"self", "root", "parent", "collection", "item", "child", "items"}


class StacApi:
    """The WSGI app: the STAC API where a path is one of the API's, the static catalog (``static``) elsewhere."""

    def __init__(self, directory: Path, static: Callable[..., Iterable[bytes]]) -> None:
        self.root = Path(directory).resolve()
        self.static = static
        clashes = [name for name in API_PATHS if (self.root / name).exists()]
        if clashes:
            raise CatalogError(f"{self.root}: has {', '.join(clashes)}, which the STAC API answers itself; "
                               "serve it without --api")
        self.index_path = _index_path(self.root)
        self._lock = threading.Lock()
        self._stamp: tuple[float, ...] = ()
        self._checked = 0.0
        self.index: ItemIndex | None = None
        self.refresh()

    # -- the index
    def refresh(self) -> None:
        """Bring the GeoParquet index up to date with the catalog (only new or changed items are read)."""
        stamp = self._catalog_stamp()
        with self._lock:
            if stamp == self._stamp and self.index is not None:
                return
            result = export_geoparquet(self.root, self.index_path, hrefs_relative_to=self.root)
            if result.written or self.index is None:
                # the previous index is not closed: a request may still be searching it (it closes when
                # the last one lets go of it)
                self.index = ItemIndex(self.index_path)
            self._stamp = stamp
            log.info("STAC API index %s: %d item(s)", self.index_path, result.items)

    def _catalog_stamp(self) -> tuple[float, ...]:
        """When the writer's index (and its write-ahead log) last changed."""
        stamps = []
        for name in ("catalog.sqlite", "catalog.sqlite-wal"):
            try:
                stat = os.stat(self.root / STATE_DIR / name)
                stamps += [stat.st_mtime_ns, stat.st_size]
            except OSError:
                stamps += [0, 0]
        return tuple(stamps)

    def _fresh_index(self) -> ItemIndex:
        now = time.monotonic()
        if now - self._checked > REFRESH_EVERY:
            self._checked = now
            self.refresh()
        assert self.index is not None
        return self.index

    # -- WSGI
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        parts = [p for p in request.path.split("/") if p]
        if parts and parts[0] not in API_PATHS:
            return self.static(environ, start_response)
        try:
            response = self.respond(request, parts)
        except SearchError as exc:
            response = _error(400, "BadRequest", str(exc))
        except HTTPException as exc:
            response = _error(exc.code or 500, type(exc).__name__, exc.description or "")
        response.headers.update(CORS_HEADERS)
        return response(environ, start_response)

    def respond(self, request: Request, parts: list[str]) -> Response:
        if request.method == "OPTIONS":
            return preflight(request, ("GET", "HEAD", "POST", "OPTIONS"), "*, Content-Type")
        base = request.root_url
        if parts == ["search"]:
            if request.method == "POST":
                body = _json_body(request)
                return self.search(base, _search_from_body(body), body=body)
            _only_get(request)
            return self.search(base, _search_from_args(request.args), args=request.args.to_dict())
        _only_get(request)
        if not parts:
            return _json(self.landing(base))
        if parts == ["conformance"]:
            return _json({"conformsTo": CONFORMANCE})
        if parts == ["queryables"]:
            return _json(self.queryables(base, None))
        if parts == ["collections"]:
            collections = [self.collection(base, cid) for cid in self.collection_ids()]
            return _json({"collections": collections, "links": [
                {"rel": "self", "href": f"{base}collections", "type": JSON},
                {"rel": "root", "href": base, "type": JSON}]})
        cid = parts[1] if len(parts) > 1 else ""
        if cid not in self.collection_ids():
            raise NotFound(f"no collection {cid!r}")
        if len(parts) == 2:
            return _json(self.collection(base, cid))
        if parts[2:] == ["queryables"]:
            return _json(self.queryables(base, cid))
        if parts[2:] == ["items"]:
            search = _search_from_args(request.args)
            search.collections = [cid]
            return self.search(base, search, args=request.args.to_dict(), path=f"collections/{quote(cid)}/items")
        if len(parts) == 4 and parts[2] == "items":
            item = self.item(base, cid, parts[3])
            if item is None:
                raise NotFound(f"no item {parts[3]!r} in collection {cid!r}")
            return _json(item, GEOJSON)
        raise NotFound()

    # -- documents
    def landing(self, base: str) -> dict[str, Any]:
        catalog = _read_json(self.root / "catalog.json") or {}
        links = [
            {"rel": "self", "href": base, "type": JSON},
            {"rel": "root", "href": base, "type": JSON},
            {"rel": "conformance", "href": f"{base}conformance", "type": JSON},
            {"rel": "data", "href": f"{base}collections", "type": JSON},
            {"rel": "search", "href": f"{base}search", "type": GEOJSON, "method": "GET"},
            {"rel": "search", "href": f"{base}search", "type": GEOJSON, "method": "POST"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "href": f"{base}queryables",
             "type": "application/schema+json"},
        ]
        links += [{"rel": "child", "href": f"{base}collections/{quote(cid)}", "type": JSON}
                  for cid in self.collection_ids(catalog)]
        return {"type": "Catalog", "stac_version": STAC_VERSION, "id": catalog.get("id", "catalog"),
                **({"title": catalog["title"]} if catalog.get("title") else {}),
                "description": catalog.get("description", ""), "conformsTo": CONFORMANCE, "links": links}

    def collection_ids(self, catalog: dict[str, Any] | None = None) -> list[str]:
        """The collections the root links to (``catalog``: the root, when the caller has read it)."""
        if catalog is None:
            catalog = _read_json(self.root / "catalog.json") or {}
        ids = []
        for link in catalog.get("links", []):
            href = link.get("href", "")
            if link.get("rel") == "child" and href.endswith("/collection.json"):
                ids.append(href.removeprefix("./").split("/")[0])
        return ids

    def collection(self, base: str, cid: str) -> dict[str, Any]:
        data = _read_json(self.root / cid / "collection.json")
        if data is None:
            raise NotFound(f"no collection {cid!r}")
        static = f"{base}{quote(cid)}/"
        data["links"] = [
            {"rel": "self", "href": f"{base}collections/{quote(cid)}", "type": JSON},
            {"rel": "root", "href": base, "type": JSON},
            {"rel": "parent", "href": base, "type": JSON},
            {"rel": "items", "href": f"{base}collections/{quote(cid)}/items", "type": GEOJSON},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
             "href": f"{base}collections/{quote(cid)}/queryables", "type": "application/schema+json"},
        ] + [_absolute(link, static) for link in data.get("links", []) if link.get("rel") not in _STRUCTURAL]
        for asset in data.get("assets", {}).values():
            _absolute(asset, static)
        return data

    def item(self, base: str, cid: str, item_id: str) -> dict[str, Any] | None:
        if "/" in item_id or item_id.startswith("."):
            return None
        data = _read_json(self.root / cid / item_id / f"{item_id}.json")
        if data is None or data.get("collection") != cid:
            return None
        static = f"{base}{quote(cid)}/{quote(item_id)}/"
        data["links"] = [
            {"rel": "self", "href": f"{base}collections/{quote(cid)}/items/{quote(item_id)}", "type": GEOJSON},
            {"rel": "parent", "href": f"{base}collections/{quote(cid)}", "type": JSON},
            {"rel": "collection", "href": f"{base}collections/{quote(cid)}", "type": JSON},
            {"rel": "root", "href": base, "type": JSON},
        ] + [_absolute(link, static) for link in data.get("links", []) if link.get("rel") not in _STRUCTURAL]
        for asset in data.get("assets", {}).values():
            _absolute(asset, static)
        return data

    def queryables(self, base: str, cid: str | None) -> dict[str, Any]:
        kinds = {"string": "string", "bool": "boolean", "double": "number", "float": "number"}
        properties: dict[str, Any] = {}
        for name, kind in sorted(self._fresh_index().queryables().items()):
            if kind.startswith("timestamp"):
                properties[name] = {"type": "string", "format": "date-time"}
            elif kind.startswith(("int", "uint")):
                properties[name] = {"type": "integer"}
            else:
                properties[name] = {"type": kinds.get(kind, "string")}
        where = f"collections/{quote(cid)}/queryables" if cid else "queryables"
        return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": f"{base}{where}",
                "type": "object", "title": "Queryables", "properties": properties, "additionalProperties": True}

    def search(self, base: str, search: Search, *, args: dict[str, str] | None = None,
               body: dict[str, Any] | None = None, path: str = "search") -> Response:
        page = self._fresh_index().search(search)
        features = [item for cid, item_id in page.items if (item := self.item(base, cid, item_id)) is not None]

        def link(rel: str, offset: int | None) -> dict[str, Any]:
            """The page at ``offset`` (None: the first, without a token), asked the way this one was."""
            if body is not None:
                asked = {k: v for k, v in body.items() if k != "token"}
                return {"rel": rel, "href": f"{base}{path}", "type": GEOJSON, "method": "POST",
                        "body": asked if offset is None else {**asked, "token": str(offset)}, "merge": False}
            asked = {k: v for k, v in (args or {}).items() if k != "token"}
            query = urlencode(asked if offset is None else {**asked, "token": str(offset)})
            return {"rel": rel, "href": f"{base}{path}" + (f"?{query}" if query else ""), "type": GEOJSON,
                    "method": "GET"}

        links: list[dict[str, Any]] = [{"rel": "root", "href": base, "type": JSON}]
        if page.more:
            links.append(link("next", search.offset + search.limit))
        if search.offset > 0:
            before = search.offset - search.limit
            links += [link("prev", before if before > 0 else None), link("first", None)]
        return _json({"type": "FeatureCollection", "features": features, "links": links,
                      "numberMatched": page.matched, "numberReturned": len(features)}, GEOJSON)


def _index_path(root: Path) -> Path:
    """Where the API keeps its index: in the catalog's state folder, or a temporary one if that is read-only."""
    folder = root / STATE_DIR / "api"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder / "items.parquet"
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="stac-api-")) / "items.parquet"


def _search_from_args(args: Any) -> Search:
    """A search from GET query parameters (lists comma-separated, the filter in CQL2 text unless said)."""
    def listed(name: str) -> list[str] | None:
        value = args.get(name)
        return [v for v in value.split(",") if v] if value else None

    search = Search(collections=listed("collections"), ids=listed("ids"), datetime=args.get("datetime") or None)
    if args.get("bbox"):
        try:
            search.bbox = [float(v) for v in args["bbox"].split(",")]
        except ValueError:
            raise SearchError(f"bbox must be 4 or 6 numbers, not {args['bbox']!r}") from None
    if args.get("intersects"):
        search.intersects = _parse_json(args["intersects"], "intersects")
    if args.get("filter"):
        language = args.get("filter-lang", "cql2-text")
        search.filter = _parse_json(args["filter"], "filter") if language == "cql2-json" else args["filter"]
        _check_language(language)
    if args.get("sortby"):
        search.sortby = _sortby_text(args["sortby"])
    search.limit, search.offset = _int(args.get("limit"), "limit", DEFAULT_LIMIT), _int(args.get("token"), "token", 0)
    return search


def _search_from_body(body: dict[str, Any]) -> Search:
    def listed(name: str) -> list[str] | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SearchError(f"{name} must be a list of strings")
        return value

    search = Search(collections=listed("collections"), ids=listed("ids"), bbox=body.get("bbox"),
                    intersects=body.get("intersects"), datetime=body.get("datetime"), filter=body.get("filter"))
    if search.filter is not None:
        _check_language(body.get("filter-lang", "cql2-json" if isinstance(search.filter, dict) else "cql2-text"))
    sortby = body.get("sortby") or []
    if isinstance(sortby, str):
        search.sortby = _sortby_text(sortby)
    else:
        try:
            search.sortby = [(_sort_field(s["field"]), s.get("direction", "asc") == "desc") for s in sortby]
        except (TypeError, KeyError, AttributeError):
            raise SearchError("sortby must be a list of {field, direction}") from None
    search.limit = _int(body.get("limit"), "limit", DEFAULT_LIMIT)
    search.offset = _int(body.get("token"), "token", 0)
    return search


def _sortby_text(text: str) -> list[tuple[str, bool]]:
    """``sortby`` as text: fields separated by commas, each with ``+`` (or a space: a ``+`` decoded from a URL),
    ``-`` or nothing before it."""
    fields = [f.strip() for f in text.split(",") if f.strip()]
    return [(_sort_field(f.lstrip("+-").strip()), f.startswith("-")) for f in fields]


def _sort_field(name: str) -> str:
    """The index column a sort field names: the Sort extension names properties ``properties.<name>``
    (STAC Browser sends ``properties.datetime``); the index has them as columns of their own."""
    return name.removeprefix("properties.")


def _check_language(language: str) -> None:
    if language not in ("cql2-text", "cql2-json"):
        raise SearchError(f"filter-lang {language!r} is not supported (cql2-text, cql2-json)")


def _int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SearchError(f"{name} must be an integer, not {value!r}") from None


def _parse_json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise SearchError(f"{name} is not valid JSON") from None


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _only_get(request: Request) -> None:
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed(valid_methods=["GET", "HEAD", "OPTIONS"])


def _absolute(holder: dict[str, Any], base: str) -> dict[str, Any]:
    href = holder.get("href", "")
    if "://" not in href and not href.startswith("/"):
        holder["href"] = base + quote(href.removeprefix("./"))
    return holder


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _json(data: dict[str, Any], media_type: str = JSON) -> Response:
    return Response(orjson.dumps(data), mimetype=media_type)


def _error(status: int, code: str, description: str) -> Response:
    return Response(orjson.dumps({"code": code, "description": description}), status=status, mimetype=JSON)
