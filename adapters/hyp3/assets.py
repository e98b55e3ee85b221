"""What each file of a HyP3 product is, by the suffix that follows the product name.

``_VV.tif`` is VV backscatter data, ``_ls_map.tif`` a layover/shadow bit mask, ``.README.md.txt`` the
README, and so on (PROVIDERS.md lists the layouts). `describe` turns a suffix into the asset key, roles,
kind of values (which picks the COG overview resampling), unit and media type. Unknown suffixes are
kept, as metadata or plain data, rather than dropped: nothing a provider delivers is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalogs import stac
from catalogs.drafts import RasterKind


@dataclass(frozen=True)
class AssetRule:
    """How one kind of product file becomes an asset."""

    key: str
    title: str | None
    roles: tuple[str, ...]
    kind: RasterKind = "auto"
    unit: str | None = None
    media_type: str | None = None
    cog: bool = True  # False: keep the GeoTIFF as delivered (radar-geometry rasters)


BACKSCATTER = ("VV", "VH", "HH", "HV")
#: the files of a shapefile: what each holds, and its media type (IANA: vnd.shp, vnd.shx, vnd.dbf; WKT text)
SHAPEFILE_PARTS = {".shp": ("geometry", "application/vnd.shp"), ".shx": ("index", "application/vnd.shx"),
                   ".dbf": ("attributes", "application/vnd.dbf"), ".prj": ("projection", stac.TEXT)}

#: GeoTIFF suffix stem (between "_" and ".tif") -> (title, roles, kind, unit)
_RASTERS: dict[str, tuple[str, tuple[str, ...], RasterKind, str | None]] = {
    "rgb": ("RGB colour decomposition", ("visual",), "continuous", None),
    "area": ("Scattering area", ("metadata",), "continuous", "m^2"),
    "dem": ("Digital elevation model", ("metadata", "dem"), "continuous", "m"),
    "inc_map": ("Incidence angle map", ("metadata", "local-incidence-angle"), "continuous", "rad"),
    "inc_map_ell": ("Ellipsoidal incidence angle map", ("metadata", "incidence-angle"), "continuous", "rad"),
    "ls_map": ("Layover/shadow mask", ("metadata", "data-mask"), "mask", None),
    "mask": ("Layover/shadow mask", ("metadata", "data-mask"), "mask", None),
    "amp": ("Amplitude", ("data", "amplitude"), "continuous", None),
    "corr": ("Coherence", ("data", "coherence"), "continuous", None),
    "unw_phase": ("Unwrapped phase", ("data",), "continuous", "rad"),
    "wrapped_phase": ("Wrapped phase", ("data",), "continuous", "rad"),
    "los_disp": ("Line-of-sight displacement", ("data",), "continuous", "m"),
    "vert_disp": ("Vertical displacement", ("data",), "continuous", "m"),
    "lv_phi": ("Look vector orientation angle (phi)", ("metadata",), "continuous", "rad"),
    "lv_theta": ("Look vector elevation angle (theta)", ("metadata",), "continuous", "rad"),
    "water_mask": ("Water mask", ("metadata", "water-mask"), "mask", None),
    "conncomp": ("Connected components", ("metadata",), "categorical", None),
    "wrapped_phase_rdr": ("Wrapped phase (radar geometry)", ("data", "radar-geometry"), "continuous", "rad"),
    "lat_rdr": ("Latitude (radar geometry)", ("metadata", "radar-geometry"), "continuous", "deg"),
    "lon_rdr": ("Longitude (radar geometry)", ("metadata", "radar-geometry"), "continuous", "deg"),
    "los_rdr": ("Line-of-sight angles (radar geometry)", ("metadata", "radar-geometry"), "continuous", "deg"),
}

#: the raster that represents the item (footprint, grid, thumbnail), in order of preference
FOOTPRINT_PREFERENCE = (*BACKSCATTER, "unw_phase", "v", "unwrapped_phase", "amp", "corr")

_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def describe(suffix: str) -> AssetRule:
    """The asset rule for the file whose name is the product name followed by ``suffix``."""
    lower = suffix.lower()
    stem = suffix.lstrip("_.")
    if lower.endswith((".tif", ".tiff")):
        return _raster(stem.rsplit(".", 1)[0])
    if lower.endswith(".png"):
        base = stem[: -len(".png")]
        if base.endswith("thumb"):
            base = base[: -len("thumb")].rstrip("_")
            return AssetRule(_key(base, "thumbnail"), _titled("Thumbnail", base), ("thumbnail",), media_type=stac.PNG)
        base = "" if base.upper() == "BROWSE" else base
        return AssetRule(_key(base, "browse"), _titled("Browse image", base), ("overview",), media_type=stac.PNG)
    if lower.endswith("readme.md.txt"):
        return AssetRule("readme", "README", ("metadata",), media_type=stac.TEXT)
    if lower == ".txt":
        return AssetRule("parameters", "Processing parameters", ("metadata",), media_type=stac.TEXT)
    if lower.endswith(".log"):
        return AssetRule("log", "Processing log", ("metadata",), media_type=stac.TEXT)
    if lower.endswith(".xml"):
        described = stem[: -len(".xml")]  # "VV.tif" (ArcGIS metadata of a raster), "iso" (ISO 19115-2)
        if described.lower() == "iso":
            return AssetRule("iso-xml", "Metadata (ISO 19115-2 XML)", ("metadata",), media_type=stac.XML)
        title = describe("_" + described).title if "." in described else None
        return AssetRule(_key(described.replace(".tif", ""), "xml"),
                         f"Metadata (XML): {title}" if title else "Metadata (XML)", ("metadata",), media_type=stac.XML)
    if lower.endswith(".nc"):
        return AssetRule("netcdf", "Product (netCDF)", ("data",), media_type=stac.NETCDF)
    if lower.endswith(".h5"):
        return AssetRule("hdf5", "Product (HDF5)", ("data",), media_type=stac.HDF5)
    if lower.endswith(".zip"):
        return AssetRule("archive", "Product archive (zip)", ("source",), media_type=stac.ZIP)
    if lower.endswith(".kmz"):
        return AssetRule("kmz", "Browse overlay (KMZ)", ("overview",), media_type=stac.KMZ)
    if lower.endswith(tuple(SHAPEFILE_PARTS)):
        part = lower.rsplit(".", 1)[-1]
        what, media = SHAPEFILE_PARTS[f".{part}"]
        return AssetRule(_key(stem.replace(".", "-"), ""), f"Valid-data outline (shapefile {what})", ("metadata",),
                         media_type=media)
    if lower.endswith(".json"):
        return AssetRule(_key(stem[: -len(".json")], "json"), "Metadata (JSON)", ("metadata",), media_type=stac.JSON)
    return AssetRule(_key(stem.replace(".", "-"), ""), stem.replace("_", " "), ("metadata",),
                     media_type=stac.media_type_for(suffix))


def _raster(stem: str) -> AssetRule:
    if stem.upper() in BACKSCATTER:
        pol = stem.upper()
        return AssetRule(pol, f"{pol} backscatter", ("data", "backscatter"), "continuous")
    known = _RASTERS.get(stem)
    if known is None:
        return AssetRule(_key(stem, "data"), stem.replace("_", " "), ("data",), "auto")
    title, roles, kind, unit = known
    return AssetRule(stem, title, roles, kind, unit, cog=not stem.endswith("_rdr"))


def _titled(title: str, base: str) -> str:
    """``"Browse image (color phase)"`` for the browse image of ``_color_phase.png``."""
    return f"{title} ({base.replace('_', ' ')})" if base else title


def _key(base: str, what: str) -> str:
    base = _KEY_CHARS.sub("-", base).strip("-_.")
    if not base:
        return what
    return f"{base}-{what}" if what else base
