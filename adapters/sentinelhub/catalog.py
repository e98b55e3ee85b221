"""The Sentinel Hub Catalog (a STAC API), natively through pystac-client.

pystac-client does the STAC API work (landing page, search parameters, item paging); `HttpxStacApiIO`, its
I/O, sends every request through the harvester's httpx client instead of ``requests``, so that requests get
the project's retrying transport, timeouts, and the OAuth flow (a token that is refreshed before it expires
and once on a 401). Its paging follows the ``next`` link when the server gives one (a POST link with
``merge``, or a GET link), and otherwise the ``context.next`` of the page: the same POST body plus
``"next": N``, as Sentinel Hub's older deployments page.

The server's rules are enforced before anything is sent (`adapters.sentinelhub.query.SearchQuery`): exactly
one collection per search (several are searched one after the other), a datetime (open ends allowed), a limit of at most 100.

Found items are cleaned (`clean_item`) for the static catalog: STAC 1.1 through pystac's migration
(``proj:epsg`` becomes ``proj:code``), the non-standard ``crs`` member of geometries removed, the API's
structural links replaced by a ``via`` link to the item in the API; assets stay where they are (``s3://``).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from pystac.link import Link
from pystac_client import Client
from pystac_client.stac_api_io import StacApiIO

from adapters.errors import RequestRejectedError, error_for_response
from adapters.http import transport_error
from adapters.redact import loggable_url
from adapters.sentinelhub.client import error_detail
from adapters.sentinelhub.query import SearchQuery

if TYPE_CHECKING:
    import pystac

log = logging.getLogger(__name__)

#: conformance classes of the Catalog API that old deployments leave off their landing page
UNDECLARED = ("ITEM_SEARCH", "FILTER", "FIELDS", "CONTEXT")
#: links of an API item that only make sense inside the API (the static catalog writes its own)
API_LINKS = frozenset({"self", "root", "parent", "collection", "next", "prev", "items"})
PROJECTION_V1 = "https://stac-extensions.github.io/projection/v1.0.0/schema.json"


class HttpxStacApiIO(StacApiIO):
    """pystac-client's API I/O over the harvester's httpx client (retries, timeouts, OAuth refresh)."""

    def __init__(self, client: httpx.Client, auth: httpx.Auth | None = None) -> None:
        super().__init__(max_retries=None)  # requests' session stays unused: `request` below sends
        self.client = client
        self.auth = auth

    def request(self, href: str, method: str | None = None, headers: dict[str, str] | None = None,
                parameters: dict[str, Any] | None = None) -> str:
        method = (method or "GET").upper()
        kwargs: dict[str, Any] = {"headers": {"Accept": "application/geo+json, application/json", **(headers or {})}}
        if self.auth is not None:
            kwargs["auth"] = self.auth
        if method in ("POST", "PUT", "PATCH"):
            kwargs["content"] = json.dumps(parameters or {}).encode()
            kwargs["headers"]["Content-Type"] = "application/json"
        elif parameters:
            kwargs["params"] = {k: v if isinstance(v, str) else json.dumps(v) if isinstance(v, dict | list) else str(v)
                                for k, v in parameters.items()}
        what = f"Sentinel Hub Catalog {method} {loggable_url(href)}"
        try:
            response = self.client.request(method, href, **kwargs)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        if not response.is_success:
            raise error_for_response(response, what, error_detail(response))
        return response.text

    def get_pages(self, url: str, method: str | None = None,
                  parameters: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Each page of a paging endpoint (``/search``), following the ``next`` link, or else
        ``context.next`` (the same request with ``next`` set to it)."""
        method = (method or "GET").upper()
        params = dict(parameters or {})
        page = self.read_json(url, method=method, parameters=params)
        seen: set[str] = set()
        while page.get("features") or page.get("collections"):
            yield page
            link = next((link for link in page.get("links", []) if link.get("rel") == "next"), None)
            token = (page.get("context") or {}).get("next")
            marker = json.dumps([link, token], sort_keys=True, default=str)
            if (link is None and token is None) or marker in seen:
                return  # the last page (or a server that keeps pointing at the same page)
            seen.add(marker)
            if link is not None:
                page = self.read_json(Link.from_dict(link), parameters=params)
            else:
                params = {**params, "next": token}
                page = self.read_json(url, method=method, parameters=params)


def open_catalog(url: str, io: HttpxStacApiIO) -> Client:
    """The Catalog API's landing page as a pystac-client `Client`. A landing page that under-declares its
    conformance (old deployments say only ``core``) is said once in the log; the classes the Catalog
    implements are then assumed."""
    with warnings.catch_warnings():
        # pystac-client warns when conformsTo is missing: we say it ourselves, in the log, below
        warnings.simplefilter("ignore")
        client = Client.open(url, stac_io=io)
    missing = [name for name in UNDECLARED if not client.conforms_to(name)]
    if missing:
        log.warning("%s: the landing page does not declare %s conformance; proceeding as the Catalog API "
                    "implements it", loggable_url(url), ", ".join(m.lower().replace("_", "-") for m in missing))
        for name in missing:
            client.add_conforms_to(name)
    return client


def search_dicts(client: Client, query: SearchQuery) -> Iterator[dict[str, Any]]:
    """The items of ``query`` as the API gives them, one collection after the other, pages followed inside
    pystac-client's paging."""
    for collection in query.collections:
        search = client.search(**query.search_kwargs(collection))
        count = 0
        for item in search.items_as_dicts():
            count += 1
            yield item
        log.info("Catalog search of %s: %d item(s)", collection, count)


def distinct_values(client: Client, io: StacApiIO, query: SearchQuery, prop: str) -> list[Any]:
    """The distinct values of property ``prop`` over the search (Sentinel Hub's ``distinct``: the
    ``features`` of each page are plain values), collections merged, in the server's order."""
    values: list[Any] = []
    seen: set[str] = set()
    for collection in query.collections:
        search = client.search(**query.search_kwargs(collection))
        params = {**search.get_parameters(), "distinct": prop}
        params.pop("fields", None)
        for page in io.get_pages(search.url, search.method, params):
            for value in page.get("features", []):
                key = json.dumps(value, sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    values.append(value)
    return values


def clean_item(data: dict[str, Any], api_url: str) -> pystac.Item:
    """An API item made a STAC 1.1 item of the static catalog (see the module docstring); ``data`` is
    consumed."""
    import pystac
    from pystac.serialization import identify_stac_object, migrate_to_latest

    for geometry in (data.get("geometry"), (data.get("properties") or {}).get("proj:geometry")):
        if isinstance(geometry, dict):
            geometry.pop("crs", None)
    props = data.get("properties") or {}
    extensions = data.setdefault("stac_extensions", [])
    if any(key.startswith("proj:") for key in props) and not any("/projection/" in e for e in extensions):
        extensions.append(PROJECTION_V1)  # declared, so that the migration turns proj:epsg into proj:code
    via = _item_url(data, api_url)
    kept = [link for link in data.get("links", []) if link.get("rel") not in API_LINKS]
    data["links"] = [*kept, {"rel": "via", "href": via, "type": "application/geo+json",
                             "title": "This item in the Sentinel Hub Catalog API"}]
    # pystac's migration works on a deep copy of the whole item; the geometries (most of its bytes, which no
    # migration touches) are set aside meanwhile, so that only the rest is copied
    geometry = data.pop("geometry", None)
    footprint = props.pop("proj:geometry", None)
    migrated = migrate_to_latest(data, identify_stac_object(data))
    migrated["geometry"] = geometry
    if footprint is not None:
        migrated["properties"]["proj:geometry"] = footprint
    return pystac.Item.from_dict(migrated, migrate=False, preserve_dict=False)


def _item_url(data: Mapping[str, Any], api_url: str) -> str:
    for link in data.get("links", []):
        if link.get("rel") == "self" and str(link.get("href", "")).startswith(("http://", "https://")):
            return str(link["href"])
    return f"{api_url.rstrip('/')}/collections/{data.get('collection')}/items/{data.get('id')}"


def collection_document(io: StacApiIO, catalog_url: str, collection_id: str) -> dict[str, Any]:
    """The server's ``/collections/{id}`` document."""
    document = io.read_json(f"{catalog_url.rstrip('/')}/collections/{collection_id}")
    if not isinstance(document, dict) or document.get("id") != collection_id:
        raise RequestRejectedError(f"Sentinel Hub Catalog collection {collection_id}: the answer is not its "
                                   "collection document")
    return document
