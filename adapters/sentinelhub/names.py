"""Sentinel Hub vocabulary: collections, input data types, Process API requests (loading, delivery, and the
copy without credentials that is stored and published).

Light on purpose (no STAC or HTTP stack): the adapter module and the configuration use it on every run.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.errors import RequestRejectedError
from catalogs import stac
from catalogs.drafts import CollectionSpec

ASYNC_COLLECTION = "sentinelhub-async"
PROCESS_COLLECTION = "sentinelhub-process"
#: members of ``output.delivery.s3`` that are credentials: never stored, logged or published
DELIVERY_SECRETS = frozenset({"accessKey", "secretAccessKey", "sessionToken", "secretKey", "accessKeyId",
                              "secretAccessKeyId", "token"})
#: Process API input types -> their Catalog collection
INPUT_COLLECTIONS = {
    "S2L1C": "sentinel-2-l1c", "sentinel-2-l1c": "sentinel-2-l1c",
    "S2L2A": "sentinel-2-l2a", "sentinel-2-l2a": "sentinel-2-l2a",
    "S1GRD": "sentinel-1-grd", "sentinel-1-grd": "sentinel-1-grd",
    "S3OLCI": "sentinel-3-olci", "sentinel-3-olci": "sentinel-3-olci",
    "S3SLSTR": "sentinel-3-slstr", "sentinel-3-slstr": "sentinel-3-slstr",
    "S5PL2": "sentinel-5p-l2", "sentinel-5p-l2": "sentinel-5p-l2",
    "LOTL1": "landsat-ot-l1", "landsat-ot-l1": "landsat-ot-l1",
    "LOTL2": "landsat-ot-l2", "landsat-ot-l2": "landsat-ot-l2",
    "HLS": "hls", "hls": "hls",
    "DEM": "dem", "dem": "dem",
}
SINERGISE = {"name": "Sinergise / Planet (Sentinel Hub)", "roles": ["processor", "host"],
             "url": "https://www.sentinel-hub.com/"}
ESA = {"name": "ESA / Copernicus", "roles": ["producer", "licensor"], "url": "https://sentinels.copernicus.eu/"}
DOCS_LINK = {"rel": "about", "href": "https://docs.sentinel-hub.com/api/latest/api/process/", "type": "text/html",
             "title": "Sentinel Hub Process API documentation"}
#: members of the server's collection document that are the collection's own description
_COLLECTION_LINK_RELS = frozenset({"license", "about", "describedby", "cite-as", "related", "alternate",
                                   "preview"})
_BYOC = re.compile(r"^(byoc|batch|zarr)-[0-9a-fA-F-]{8,}$")


def input_collection(data: Mapping[str, Any]) -> str | None:
    """The Catalog collection of one ``input.data[]`` entry (by its ``type``), or None when unknown."""
    kind = str(data.get("type") or "")
    if kind in INPUT_COLLECTIONS:
        return INPUT_COLLECTIONS[kind]
    return kind if _BYOC.match(kind) else None


def sanitized_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a Process API request without the delivery's credentials (access key, secret key,
    session token): what may be stored, logged and published."""
    clean = copy.deepcopy(dict(request))
    delivery = ((clean.get("output") or {}).get("delivery") or {})
    for target in delivery.values():
        if isinstance(target, dict):
            for key in list(target):
                if key in DELIVERY_SECRETS:
                    del target[key]
    return clean


def load_requests(path: Path | list[dict[str, Any]] | dict[str, Any], delivery: str | None,
                  region: str | None) -> list[dict[str, Any]]:
    """The Process API request(s) of a JSON file (one object, or a list; or given inline), each given
    ``delivery`` (when set: it replaces the file's S3 URL, the file's credentials stay) and checked to have one."""
    if isinstance(path, (list, dict)):
        raw: Any = path
        path = Path("request")
    else:
        raw = _read_request_file(Path(path))
    requests = raw if isinstance(raw, list) else [raw]
    out = []
    for i, request in enumerate(requests):
        where = f"{path}" + (f", request {i + 1}" if isinstance(raw, list) else "")
        if not isinstance(request, dict):
            raise RequestRejectedError(f"{where}: a request must be a JSON object")
        request = copy.deepcopy(request)
        for key in ("input", "output"):
            if not isinstance(request.get(key), dict):
                raise RequestRejectedError(f"{where}: the request has no {key!r} object")
        if not request.get("evalscript") and not request.get("evalscriptReference"):
            raise RequestRejectedError(f"{where}: the request has no evalscript")
        s3 = request["output"].setdefault("delivery", {}).setdefault("s3", {})
        if not isinstance(s3, dict):
            raise RequestRejectedError(f"{where}: output.delivery.s3 must be an object")
        if delivery:
            s3["url"] = delivery
        if region and not s3.get("region"):
            s3["region"] = region
        if not s3.get("url"):
            raise RequestRejectedError(f"{where}: no delivery: give --delivery s3://bucket/prefix (or "
                                       "output.delivery.s3.url in the request)")
        from adapters.s3 import BadLocationError, S3Location

        try:
            S3Location.parse(str(s3["url"]), what=f"{where}: output.delivery.s3.url")
        except BadLocationError as exc:
            raise RequestRejectedError(str(exc)) from None
        out.append(request)
    return out


def _read_request_file(path: Path) -> Any:
    """The JSON of a request file; a missing, unreadable or non-JSON file is refused naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RequestRejectedError(f"{path}: no such request file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RequestRejectedError(f"{path}: cannot read the request file ({exc})") from exc
    except ValueError as exc:
        raise RequestRejectedError(f"{path}: not JSON ({exc})") from None


def load_process_requests(path: Path) -> list[dict[str, Any]]:
    """The Process API request(s) of a JSON file (one object, or a list), checked to have input, output
    and an evalscript."""
    raw = _read_request_file(Path(path))
    requests = raw if isinstance(raw, list) else [raw]
    for i, request in enumerate(requests):
        where = f"{path}" + (f", request {i + 1}" if isinstance(raw, list) else "")
        if not isinstance(request, dict) or not all(isinstance(request.get(k), dict) for k in ("input", "output")):
            raise RequestRejectedError(f"{where}: a request must be an object with input and output")
        if not request.get("evalscript"):
            raise RequestRejectedError(f"{where}: the request has no evalscript")
    return requests


def request_crs(request: Mapping[str, Any]) -> str:
    """The CRS of the request's bounds, as ``EPSG:n`` or ``OGC:CRS84`` (the default)."""
    bounds = (request.get("input") or {}).get("bounds") or {}
    crs = str(((bounds.get("properties") or {}).get("crs")) or "")
    return crs_code(crs)


def crs_code(crs: str) -> str:
    """``http://www.opengis.net/def/crs/EPSG/0/32633`` -> ``EPSG:32633``; CRS84 (or nothing) -> ``OGC:CRS84``."""
    if not crs or crs.rstrip("/").endswith(("CRS84", "OGC/1.3/CRS84")):
        return "OGC:CRS84"
    match = re.search(r"EPSG(?:/0/|::?)(\d+)$", crs)
    if match:
        return "OGC:CRS84" if match.group(1) == "4326" else f"EPSG:{match.group(1)}"
    raise RequestRejectedError(f"unsupported CRS {crs!r} in the request's bounds")


def request_bbox(request: Mapping[str, Any]) -> list[float] | None:
    """The request's bounds as a bbox in its own CRS (of its bbox, or of its geometry's coordinates)."""
    bounds = (request.get("input") or {}).get("bounds") or {}
    bbox = bounds.get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4:
        return [float(v) for v in bbox]
    geometry = bounds.get("geometry")
    if isinstance(geometry, dict):
        xs, ys = [], []

        def walk(coords: Any) -> None:
            if coords and isinstance(coords[0], (int, float)):
                xs.append(float(coords[0]))
                ys.append(float(coords[1]))
            else:
                for part in coords or ():
                    walk(part)

        walk(geometry.get("coordinates"))
        if xs:
            return [min(xs), min(ys), max(xs), max(ys)]
    return None


def request_bbox_wgs84(request: Mapping[str, Any]) -> list[float] | None:
    """The request's bounds as a CRS84 bbox (what the Catalog searches with)."""
    bbox = request_bbox(request)
    crs = request_crs(request)
    if bbox is None or crs == "OGC:CRS84":
        return bbox
    from pyproj import Transformer  # only for requests with projected bounds

    transformer = Transformer.from_crs(crs, "OGC:CRS84", always_xy=True)
    return list(transformer.transform_bounds(*bbox, densify_pts=21))


def collection_spec(collection_id: str) -> CollectionSpec:
    """The collections of processing outputs (``sentinelhub-async``, ``sentinelhub-process``)."""
    api = "Async Process API" if collection_id == ASYNC_COLLECTION else "Process API"
    return CollectionSpec(
        collection_id,
        f"Outputs of Sentinel Hub {api} requests (evalscripts run over Copernicus and other satellite data), "
        "harvested as Cloud-Optimized GeoTIFFs. Each item is one request: its evalscript, inputs and the "
        "scenes that went into it.",
        title=f"Sentinel Hub {api} outputs",
        license="other",
        providers=[ESA, SINERGISE],
        keywords=["sentinel-hub", "evalscript", "processing"],
        summaries=["proj:code", "sentinelhub:input_types"],
        stac_extensions=[stac.PROJECTION],
        links=[DOCS_LINK],
    )


def spec_from_document(document: Mapping[str, Any]) -> CollectionSpec:
    """A `CollectionSpec` from the Catalog's ``/collections/{id}`` document (extent, summaries and
    item_assets are derived again from the items harvested)."""
    links = [dict(link) for link in document.get("links", [])
             if isinstance(link, dict) and link.get("rel") in _COLLECTION_LINK_RELS]
    extensions = [e for e in document.get("stac_extensions", []) if isinstance(e, str)
                  and "/projection/" not in e and "/eo/v1.0" not in e]
    return CollectionSpec(
        str(document["id"]),
        str(document.get("description") or document.get("title") or document["id"]),
        title=document.get("title"),
        license=str(document.get("license") or "other"),
        providers=[dict(p) for p in document.get("providers", []) if isinstance(p, dict) and p.get("name")],
        keywords=[str(k) for k in document.get("keywords", [])],
        summaries=["platform", "constellation", "instruments", "gsd", "proj:code", "eo:cloud_cover"],
        stac_extensions=extensions,
        links=links,
    )
