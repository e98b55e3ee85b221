"""Build STAC items from item drafts by reading the files they name.

For every raster asset the builder reads the header (CRS, grid, bands, scale/offset, units) and cheap
statistics from overviews; the item's geometry and grid come from its footprint raster; every local file
gets ``file:size`` and ``file:checksum``; and a PNG thumbnail is made for items that have a raster.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioError
from shapely.geometry import shape

from catalogs import stac
from catalogs.cog import validate_cog
from catalogs.drafts import AssetDraft, ItemDraft
from catalogs.errors import CatalogError, NotARasterError
from catalogs.footprint import is_georeferenced, raster_footprint
from catalogs.fsio import check_id, sha256_multihash
from catalogs.rasters import is_url, open_raster
from catalogs.thumbnails import write_thumbnail

log = logging.getLogger(__name__)

#: statistics are computed on a decimated read (overviews when present) of at most this many pixels a side
STATS_MAX_SIZE = 1024
RASTER_SUFFIXES = (".tif", ".tiff")
#: GDAL colour interpretations that are EO common band names (eo v2.0.0 has no name for alpha)
COMMON_NAMES = {ColorInterp.red: "red", ColorInterp.green: "green", ColorInterp.blue: "blue"}


@dataclass
class RasterInfo:
    """What the builder read from one raster file (``path``) or remote COG (``path`` is then its URL)."""

    path: Path | str
    georeferenced: bool
    remote: bool = False
    proj: dict[str, Any] = field(default_factory=dict)
    bands: list[dict[str, Any]] = field(default_factory=list)


def build(draft: ItemDraft, *, workdir: Path | None = None) -> pystac.Item:
    """Turn a draft into a `pystac.Item` whose local asset hrefs are absolute paths.

    ``workdir`` is where the thumbnail goes (default: beside the footprint raster). The item is not
    written anywhere; `catalogs.store.CatalogStore.add` places it and its files in the catalog.
    """
    check_id(draft.id, "item")
    check_id(draft.collection, "collection")
    rasters: dict[str, RasterInfo] = {}
    for key, asset in draft.assets.items():
        if _is_raster(asset):
            rasters[key] = read_raster(asset.path)  # type: ignore[arg-type]
        elif key == draft.footprint_asset and _is_remote_raster(asset):
            rasters[key] = read_raster(asset.href, statistics=False)  # type: ignore[arg-type]

    footprint_key = _footprint_key(draft, rasters)
    properties = dict(draft.properties)
    extensions = list(draft.stac_extensions)
    geometry, bbox = draft.geometry, None
    item_proj: dict[str, Any] = {}
    if footprint_key is not None:
        info = rasters[footprint_key]
        item_proj = info.proj
        properties.update(item_proj)
        if geometry is None:
            with open_raster(info.path) as ds:
                # a remote raster is outlined by its grid: its valid-data mask would mean reading pixels
                fp = raster_footprint(ds, data=not info.remote)
            geometry, bbox = fp.geometry, fp.bbox
    if geometry is None:
        raise CatalogError(
            f"item {draft.id!r}: no geometry: give one in the draft or include a georeferenced raster"
        )
    if bbox is None:
        bbox = [round(v, 7) for v in shape(geometry).bounds]

    item = pystac.Item(
        id=draft.id,
        geometry=geometry,
        bbox=bbox,
        # An item with only a range still gets a nominal time, its start: STAC Browser shows a null datetime
        # as "Time of Data: n/a" beside the range, and stackstac/odc-stac need one to place it on a time axis.
        datetime=_utc(draft.datetime or draft.start_datetime),
        start_datetime=_utc(draft.start_datetime),
        end_datetime=_utc(draft.end_datetime),
        properties=properties,
        collection=draft.collection,
    )
    for key, asset in draft.assets.items():
        item.add_asset(key, _asset(draft, key, asset, rasters.get(key), item_proj))

    if (draft.thumbnail and footprint_key is not None and not rasters[footprint_key].remote
            and not _has_role(draft, "thumbnail")):
        source = draft.assets[footprint_key]
        out_dir = workdir or rasters[footprint_key].path.parent
        thumb = write_thumbnail(rasters[footprint_key].path, out_dir / f"{draft.id}.thumbnail.png", kind=source.kind)
        item.add_asset("thumbnail", _local_asset(thumb, stac.PNG, ("thumbnail",), "Thumbnail", {}))

    for link in draft.links:
        item.add_link(pystac.Link.from_dict(link))
    if item_proj or any("proj:" in k for a in item.assets.values() for k in a.extra_fields):
        extensions.append(stac.PROJECTION)
    if any(_has_band_fields(a, "raster:") for a in item.assets.values()):
        extensions.append(stac.RASTER)
    if any(_has_band_fields(a, "eo:") for a in item.assets.values()):
        extensions.append(stac.EO)
    if any("file:size" in a.extra_fields for a in item.assets.values()):
        extensions.append(stac.FILE)
    item.stac_extensions = sorted(set(extensions))
    return item


def read_raster(path: Path | str, *, statistics: bool = True) -> RasterInfo:
    """Read the grid and band metadata of one raster, with statistics from a decimated read.

    ``path`` may be an http(s) URL of a COG: then only its header is read (range requests), and
    ``statistics=False`` keeps it that way.
    """
    remote = is_url(str(path))
    with open_raster(path) as ds:
        info = RasterInfo(path=str(path) if remote else Path(path), georeferenced=is_georeferenced(ds),
                          remote=remote)
        if info.georeferenced:
            info.proj = projection_fields(ds)
        try:
            info.bands = band_fields(ds, statistics=statistics)
        except RasterioError as exc:
            raise NotARasterError(path, f"pixels unreadable: {exc}") from exc
    return info


def projection_fields(ds: rasterio.io.DatasetReader) -> dict[str, Any]:
    """``proj:*`` fields (projection extension v2.0.0) of a georeferenced dataset."""
    fields: dict[str, Any] = {}
    crs: CRS = ds.crs
    authority = crs.to_authority() if crs is not None else None
    if authority is not None:
        fields["proj:code"] = f"{authority[0]}:{authority[1]}"
    else:  # e.g. MODIS sinusoidal has no EPSG code
        fields["proj:wkt2"] = crs.to_wkt(version="WKT2_2019")
    b = ds.bounds
    fields["proj:bbox"] = [b.left, b.bottom, b.right, b.top]
    fields["proj:shape"] = [ds.height, ds.width]
    fields["proj:transform"] = list(ds.transform)[:6]
    return fields


def band_fields(ds: rasterio.io.DatasetReader, *, statistics: bool = True) -> list[dict[str, Any]]:
    """STAC 1.1 ``bands`` objects: data type, nodata, unit, scale/offset, sampling, colour and statistics of
    each band.

    As rio-stac does: ``raster:sampling`` is the ``AREA_OR_POINT`` tag (``area`` or ``point``) when the file
    has one; a band GDAL interprets as red, green or blue gets that ``eo:common_name``, and an alpha band
    says so in its description (the EO common names have no alpha).
    """
    tags = ds.tags()
    scale_tag = _float_tag(tags, "scale_factor")
    offset_tag = _float_tag(tags, "add_offset")
    sampling = tags.get("AREA_OR_POINT", "").lower()
    colours = ds.colorinterp
    factor = min(1.0, STATS_MAX_SIZE / max(ds.width, ds.height))
    out_shape = (max(1, round(ds.height * factor)), max(1, round(ds.width * factor)))
    bands = []
    for i, index in enumerate(ds.indexes):
        band: dict[str, Any] = {}
        if ds.descriptions[i]:
            band["name"] = ds.descriptions[i]
        if colours[i] in COMMON_NAMES:
            band["eo:common_name"] = COMMON_NAMES[colours[i]]
        elif colours[i] is ColorInterp.alpha and not ds.descriptions[i]:
            band["description"] = "alpha"
        band["data_type"] = ds.dtypes[i]
        if ds.nodatavals[i] is not None:
            band["nodata"] = _nodata(ds.nodatavals[i])
        unit = ds.units[i] or tags.get("units")
        if unit:
            band["unit"] = unit
        scale = ds.scales[i] if ds.scales[i] not in (None, 1.0) else scale_tag
        offset = ds.offsets[i] if ds.offsets[i] not in (None, 0.0) else offset_tag
        if scale is not None and scale != 1.0:
            band["raster:scale"] = scale
        if offset is not None and offset != 0.0:
            band["raster:offset"] = offset
        if sampling in ("area", "point"):
            band["raster:sampling"] = sampling
        if not ds.transform.is_identity:
            band["raster:spatial_resolution"] = abs(ds.res[0])
        stats = (_statistics(ds.read(index, out_shape=out_shape, masked=True, resampling=Resampling.nearest))
                 if statistics else None)
        if stats:
            band["statistics"] = stats
        bands.append(band)
    return bands


def _statistics(arr: np.ma.MaskedArray) -> dict[str, float]:
    arr = np.ma.masked_invalid(arr, copy=False)
    valid = arr.compressed()
    stats: dict[str, float] = {"valid_percent": round(100.0 * valid.size / max(arr.size, 1), 3)}
    if valid.size:
        values = valid.astype("float64")
        stats.update(
            minimum=float(values.min()),
            maximum=float(values.max()),
            mean=float(values.mean()),
            stddev=float(values.std()),
        )
    return stats


def _asset(
    draft: ItemDraft, key: str, asset: AssetDraft, raster: RasterInfo | None, item_proj: dict[str, Any]
) -> pystac.Asset:
    fields = dict(asset.fields)
    if raster is not None:
        # Grid fields go on the asset only where they differ from the item's.
        fields.update({k: v for k, v in raster.proj.items() if item_proj.get(k) != v})
        unit = fields.pop("unit", None)  # a unit the adapter knows belongs to bands the file left without one
        # band fields the adapter knows (the provider's statistics, valid range, description) win over the read ones
        known = fields.pop("bands", None) or []
        fields["bands"] = [{**({"unit": unit, **band} if unit and "unit" not in band else band),
                            **(known[i] if i < len(known) else {})} for i, band in enumerate(raster.bands)]
    if asset.href is not None:
        media = asset.media_type or stac.media_type_for(asset.href)
        return pystac.Asset(asset.href, asset.title, asset.description, media, list(asset.roles), fields)
    path = asset.path
    assert path is not None
    if not path.is_file():
        raise CatalogError(f"item {draft.id!r}, asset {key!r}: file not found: {path}")
    media = asset.media_type or _local_media_type(path, raster)
    built = _local_asset(path, media, asset.roles, asset.title, fields)
    built.description = asset.description
    return built


def _local_asset(path: Path, media: str | None, roles: tuple[str, ...], title: str | None, fields: dict) -> pystac.Asset:
    fields = {"file:size": path.stat().st_size, "file:checksum": sha256_multihash(path), **fields}
    return pystac.Asset(str(path.resolve()), title, None, media, list(roles), fields)


def _local_media_type(path: Path, raster: RasterInfo | None) -> str | None:
    if raster is not None and path.suffix.lower() in RASTER_SUFFIXES:
        ok, _, _ = validate_cog(path)
        return stac.COG if ok else stac.GEOTIFF
    return stac.media_type_for(path.name)


def _is_raster(asset: AssetDraft) -> bool:
    if asset.path is None:
        return False
    media = asset.media_type or ""
    return asset.path.suffix.lower() in RASTER_SUFFIXES or "image/tiff" in media


def _is_remote_raster(asset: AssetDraft) -> bool:
    if asset.href is None or not is_url(asset.href):
        return False
    media = asset.media_type or ""
    return "image/tiff" in media or asset.href.split("?", 1)[0].lower().endswith(RASTER_SUFFIXES)


def _footprint_key(draft: ItemDraft, rasters: dict[str, RasterInfo]) -> str | None:
    if draft.footprint_asset is not None:
        info = rasters.get(draft.footprint_asset)
        if info is None or not info.georeferenced:
            raise CatalogError(
                f"item {draft.id!r}: footprint asset {draft.footprint_asset!r} is not a georeferenced raster"
            )
        return draft.footprint_asset
    georef = [k for k, info in rasters.items() if info.georeferenced]
    data = [k for k in georef if "data" in draft.assets[k].roles]
    return (data or georef or [None])[0]


def _has_role(draft: ItemDraft, role: str) -> bool:
    return any(role in a.roles for a in draft.assets.values())


def _has_band_fields(asset: pystac.Asset, prefix: str) -> bool:
    return any(k.startswith(prefix) for band in asset.extra_fields.get("bands", []) for k in band)


def _nodata(value: float) -> float | int | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return int(value) if float(value).is_integer() else value


def _float_tag(tags: dict[str, str], name: str) -> float | None:
    try:
        return float(tags[name])
    except (KeyError, ValueError):
        return None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
