"""The WGS84 footprint of a raster, for a STAC item's ``geometry`` and ``bbox``.

The footprint is computed in the raster's own CRS, densified there so that edges which are straight in that CRS
stay (approximately) right once curved in lon/lat, transformed point by point to EPSG:4326 and then split at
the antimeridian with the `antimeridian` package. Coordinates are rounded and polygons wound counter-clockwise
(RFC 7946).

With ``data=True`` (the default) the footprint outlines the *valid* pixels: the dataset mask (nodata, mask
band or alpha band) is read decimated to at most ``max_size`` pixels on its longer side (GDAL uses the
overviews, so this is cheap even for large COGs), polygonised, unioned, stripped of holes and simplified with a
tolerance of about one decimated pixel. Noise is dropped: parts smaller than a few decimated pixels go (unless
nothing else is left), and when more than ``MAX_PARTS`` parts remain their convex hull is used instead, so that
a speckled mask cannot blow up the item. A raster whose pixels are all valid, or none of them, gets the
outline of its grid (the four corners, which for a north-up grid is its bounds).
Float rasters without nodata or mask whose pixels are NaN are treated as if NaN were nodata.

Rasters without a CRS or without a geotransform (radar-geometry layers such as HyP3's ``_lat_rdr``, or
GCP-only images) have no footprint: `is_georeferenced` says so and `raster_footprint` raises
`NotARasterError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import antimeridian
import numpy as np
import rasterio
import rasterio.features
import rasterio.warp
import shapely
from affine import Affine
from rasterio.enums import MaskFlags, Resampling
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient

from catalogs.errors import NotARasterError
from catalogs.rasters import open_raster

__all__ = ["Footprint", "footprint_from_path", "is_georeferenced", "raster_footprint"]

WGS84 = "EPSG:4326"
#: more valid-data parts than this are replaced by their convex hull
MAX_PARTS = 32
#: valid-data parts smaller than this many decimated pixels are noise
MIN_PART_PIXELS = 4


@dataclass(frozen=True)
class Footprint:
    """A footprint in WGS84 lon/lat.

    ``geometry`` is a GeoJSON ``Polygon`` or ``MultiPolygon`` (counter-clockwise exteriors, no holes, longitudes
    within [-180, 180]); ``bbox`` is ``[west, south, east, north]``, with ``west > east`` when the geometry
    crosses the antimeridian (RFC 7946 section 5.2).
    """

    geometry: dict[str, Any]
    bbox: list[float]


def is_georeferenced(dataset: Any) -> bool:
    """Whether the dataset has a CRS and a real geotransform (not GCPs, RPCs or the identity matrix)."""
    if dataset.crs is None:
        return False
    transform = dataset.transform
    if transform is None or transform.is_identity:
        return False
    return transform.determinant != 0


def footprint_from_path(path: str | Path, **kwargs: Any) -> Footprint:
    """Open the raster at ``path`` and return `raster_footprint` of it (keyword arguments are passed on).

    Raises `NotARasterError` naming the file when GDAL cannot read it or it is not georeferenced.
    """
    with open_raster(path) as dataset:
        return raster_footprint(dataset, **kwargs)


def raster_footprint(
    dataset: Any,
    *,
    data: bool = True,
    densify: int = 20,
    max_size: int = 512,
    precision: int = 7,
) -> Footprint:
    """The WGS84 footprint of an open rasterio dataset.

    ``data``: outline the valid pixels (True) or the whole grid (False). ``densify``: number of segments the
    longest side of the raster is cut into before reprojection (every edge of the footprint is cut into pieces
    no longer than that). ``max_size``: the longer side, in pixels, of the decimated mask that is polygonised.
    ``precision``: decimals kept in the lon/lat coordinates (7 is about 1 cm).
    """
    if not is_georeferenced(dataset):
        raise NotARasterError(dataset.name, "not georeferenced")
    native = _valid_data_shape(dataset, max_size) if data else None
    if native is None:
        native = _grid_outline(dataset)
    rings = _densified_rings(native, dataset, densify)
    parts, crossed = _to_wgs84(rings, dataset)
    parts = _finish(parts, precision)
    if not parts:  # nothing survived (degenerate input): fall back to the grid outline
        parts, crossed = _to_wgs84(_densified_rings(_grid_outline(dataset), dataset, densify), dataset)
        parts = _finish(parts, precision)
    if not parts:
        raise NotARasterError(dataset.name, "its footprint cannot be expressed in WGS84")
    return Footprint(geometry=_geojson(parts), bbox=_bbox(parts, crossed))


# --- native CRS ---------------------------------------------------------------------------------------


def _grid_outline(dataset: Any) -> Polygon:
    """The polygon of the grid's four outer corners (handles rotated geotransforms)."""
    t = dataset.transform
    w, h = dataset.width, dataset.height
    corners = [t @ (0, 0), t @ (0, h), t @ (w, h), t @ (w, 0)]
    return orient(Polygon(corners), 1.0)


def _decimated_shape(dataset: Any, max_size: int) -> tuple[int, int]:
    scale = max(dataset.width, dataset.height) / max(1, max_size)
    if scale <= 1:
        return dataset.height, dataset.width
    return max(1, math.ceil(dataset.height / scale)), max(1, math.ceil(dataset.width / scale))


def _valid_mask(dataset: Any, out_shape: tuple[int, int]) -> np.ndarray | None:
    """The decimated validity mask (True = valid), or None when every pixel is valid by definition."""
    flags = dataset.mask_flag_enums
    all_valid = all(band_flags == [MaskFlags.all_valid] for band_flags in flags)
    if all_valid:
        if not np.issubdtype(np.dtype(dataset.dtypes[0]), np.floating):
            return None
        # float without nodata: NaN is the de facto nodata value
        values = dataset.read(1, out_shape=out_shape, resampling=Resampling.nearest)
        valid = np.isfinite(values)
        return None if valid.all() else valid
    mask = dataset.dataset_mask(out_shape=out_shape, resampling=Resampling.nearest)
    return mask > 0


def _valid_data_shape(dataset: Any, max_size: int) -> Polygon | MultiPolygon | None:
    """Polygon(s) around the valid pixels in the native CRS, or None to use the grid outline."""
    out_shape = _decimated_shape(dataset, max_size)
    valid = _valid_mask(dataset, out_shape)
    if valid is None or valid.all() or not valid.any():
        return None
    height, width = out_shape
    transform = dataset.transform @ Affine.scale(dataset.width / width, dataset.height / height)
    polygons = [
        Polygon(shapely.geometry.shape(geom).exterior)  # holes dropped
        for geom, value in rasterio.features.shapes(
            valid.astype("uint8"), mask=valid, transform=transform, connectivity=4
        )
        if value == 1
    ]
    if not polygons:
        return None
    pixel_area = abs(transform.determinant)
    big = [p for p in polygons if p.area >= MIN_PART_PIXELS * pixel_area]
    polygons = big or polygons
    merged = shapely.unary_union(polygons)
    parts = _polygons(merged)
    if len(parts) > MAX_PARTS:
        merged = merged.convex_hull
    else:
        merged = MultiPolygon([Polygon(p.exterior) for p in parts]) if len(parts) > 1 else parts[0]
    pixel = max(math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e))
    simplified = merged.simplify(1.5 * pixel, preserve_topology=True)
    if not simplified.is_valid:
        simplified = shapely.make_valid(simplified)
    parts = [Polygon(p.exterior) for p in _polygons(simplified) if p.area > 0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _polygons(geom: Any) -> list[Polygon]:
    """The polygonal parts of any geometry."""
    if geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def _densified_rings(native: Polygon | MultiPolygon, dataset: Any, densify: int) -> list[np.ndarray]:
    """Exterior rings of ``native``, counter-clockwise in the native CRS, with short enough edges."""
    t = dataset.transform
    longest = max(
        math.hypot(t.a * dataset.width, t.d * dataset.width),
        math.hypot(t.b * dataset.height, t.e * dataset.height),
    )
    max_segment = longest / max(1, densify)
    rings = []
    for polygon in _polygons(native):
        polygon = orient(Polygon(polygon.exterior), 1.0)
        dense = shapely.segmentize(polygon, max_segment)
        rings.append(np.asarray(dense.exterior.coords)[:, :2])
    return rings


# --- to WGS84 -----------------------------------------------------------------------------------------


def _to_wgs84(rings: list[np.ndarray], dataset: Any) -> tuple[list[Polygon], bool]:
    """Transform rings to lon/lat and split them at the antimeridian; also say whether any was split."""
    if not rings:
        return [], False
    xs = np.concatenate([r[:, 0] for r in rings])
    ys = np.concatenate([r[:, 1] for r in rings])
    lons, lats = rasterio.warp.transform(dataset.crs, WGS84, xs.tolist(), ys.tolist())
    lons, lats = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
    parts: list[Polygon] = []
    crossed = False
    start = 0
    for ring in rings:
        lon, lat = lons[start : start + len(ring)], lats[start : start + len(ring)]
        start += len(ring)
        finite = np.isfinite(lon) & np.isfinite(lat)  # points outside the projection's domain
        lon, lat = lon[finite], lat[finite]
        if len(lon) < 4:
            continue
        ring_parts, ring_crossed = _fix_ring(lon, np.clip(lat, -90.0, 90.0))
        parts.extend(ring_parts)
        crossed = crossed or ring_crossed
    return parts, crossed


def _fix_ring(lon: np.ndarray, lat: np.ndarray) -> tuple[list[Polygon], bool]:
    """One closed lon/lat ring as polygons within [-180, 180], split at the antimeridian if it crosses it."""
    # Unwrap the longitudes (whole turns only, so that the closing point stays bit-identical to the first one,
    # which the antimeridian package relies on; numpy.unwrap does not guarantee that).
    turns = np.concatenate([[0.0], np.cumsum(-np.round(np.diff(lon) / 360.0))])
    unwrapped = lon + 360.0 * turns
    encloses_pole = abs(unwrapped[-1] - unwrapped[0]) > 180.0
    if encloses_pole:
        # The ring goes once around a pole: let the antimeridian package close it over that pole.
        ring = Polygon(np.column_stack([lon, lat]))
        fixed = antimeridian.fix_polygon(ring, fix_winding=False, great_circle=False)
        return _polygons(fixed), True
    if unwrapped.max() - unwrapped.min() >= 360.0 - 1e-9:
        # Wraps all the way round without enclosing a pole (a global lon/lat grid): every longitude.
        return [box(-180.0, float(lat.min()), 180.0, float(lat.max()))], False
    # Shift the ring so that its western-most point lies in [-180, 180), then wind it counter-clockwise.
    unwrapped = unwrapped - 360.0 * math.floor((unwrapped.min() + 180.0) / 360.0)
    ring = orient(Polygon(np.column_stack([unwrapped, lat])), 1.0)
    if ring.bounds[2] <= 180.0:
        return [ring], False
    fixed = antimeridian.fix_polygon(ring, fix_winding=True, great_circle=False)
    return _polygons(fixed), True


def _finish(parts: list[Polygon], precision: int) -> list[Polygon]:
    """Rounded, valid, counter-clockwise polygons without collinear or repeated points."""
    finished = []
    for part in parts:
        part = shapely.transform(Polygon(part.exterior), lambda c: np.round(c, precision))
        # drop the points that are collinear up to the rounding (densified edges that stayed straight)
        part = part.simplify(2.0 * 10.0**-precision, preserve_topology=True)
        if not part.is_valid:
            part = shapely.make_valid(part)
        for polygon in _polygons(part):
            if polygon.area > 0:
                finished.append(orient(Polygon(polygon.exterior), 1.0))
    return finished


def _geojson(parts: list[Polygon]) -> dict[str, Any]:
    def ring(polygon: Polygon) -> list[list[list[float]]]:
        return [[[float(x), float(y)] for x, y in polygon.exterior.coords]]

    if len(parts) == 1:
        return {"type": "Polygon", "coordinates": ring(parts[0])}
    return {"type": "MultiPolygon", "coordinates": [ring(p) for p in parts]}


def _bbox(parts: list[Polygon], crossed: bool) -> list[float]:
    """The bbox of the parts; across the antimeridian when the footprint was split there.

    For a split footprint the bbox is the shortest longitude interval covering every part (found as the
    complement of the widest gap between parts on the circle); for two halves of one polygon this is what
    ``antimeridian.bbox`` gives, and it stays right when valid-data parts are added on either side.
    """
    south = min(p.bounds[1] for p in parts)
    north = max(p.bounds[3] for p in parts)
    west = min(p.bounds[0] for p in parts)
    east = max(p.bounds[2] for p in parts)
    if not crossed or len(parts) < 2:
        return [west, south, east, north]
    intervals = sorted((p.bounds[0], p.bounds[2]) for p in parts)
    merged: list[list[float]] = []
    for lo, hi in intervals:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    if len(merged) == 1:
        return [west, south, east, north]
    # the gap across the antimeridian, then the gaps between neighbouring intervals
    best_gap, best = (merged[0][0] + 180.0) + (180.0 - merged[-1][1]), None
    for i in range(len(merged) - 1):
        gap = merged[i + 1][0] - merged[i][1]
        if gap > best_gap:
            best_gap, best = gap, i
    if best is None:
        return [west, south, east, north]
    return [merged[best + 1][0], south, merged[best][1], north]
