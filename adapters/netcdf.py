"""One variable of a netCDF product as a GeoTIFF, so that it can become a COG that browsers show.

GDAL's netCDF driver reads the georeferencing (CF grid mappings, ``crs_wkt``/``spatial_ref``, 1-D
coordinate variables) and the fill value and units; variables inside groups are addressed by their full
path (``/science/grids/data/unwrappedPhase``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from adapters.errors import BadProductError
from catalogs.footprint import is_georeferenced


def variable_to_geotiff(nc_path: Path, variable: str, out_path: Path, *, what: str,
                        unit_spellings: Mapping[str, str] | None = None, band: int | None = None) -> Path:
    """Write ``variable`` of ``nc_path`` to a plain GeoTIFF at ``out_path`` (nodata, units and scale kept).

    ``unit_spellings`` maps a unit as the product spells it (lower case, ``radians``) to the one to write
    (``rad``). ``band`` (1-based) writes only that band of the variable: GDAL shows the slices of a variable
    on a time axis as bands.

    Raises `BadProductError` naming ``what`` (the job) and the file when the file is not netCDF, has no
    such variable, or the variable is not georeferenced.
    """
    source = f'netcdf:"{nc_path}":{variable}'
    try:
        with rasterio.open(source) as ds:
            if not is_georeferenced(ds):
                raise BadProductError(f"{what}: {nc_path.name}: variable {variable} has no georeferencing")
            if band is not None and not 1 <= band <= ds.count:
                raise BadProductError(f"{what}: {nc_path.name}: variable {variable} has no band {band}")
            bands = [band] if band is not None else list(range(1, ds.count + 1))
            profile = {"driver": "GTiff", "height": ds.height, "width": ds.width, "count": len(bands),
                       "dtype": ds.dtypes[0], "crs": ds.crs, "transform": ds.transform, "nodata": ds.nodata,
                       "tiled": True, "compress": "deflate"}
            out_path.parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(out_path, "w", **profile) as out:
                out.write(ds.read(bands))
                out.scales = [ds.scales[b - 1] for b in bands]
                out.offsets = [ds.offsets[b - 1] for b in bands]
                for i, b in enumerate(bands, 1):
                    out.set_band_description(i, ds.descriptions[b - 1] or variable)
                    if unit := ds.units[b - 1]:
                        out.set_band_unit(i, (unit_spellings or {}).get(unit.lower(), unit))
    except RasterioError as exc:
        raise BadProductError(f"{what}: {nc_path.name}: cannot read variable {variable} ({exc})") from exc
    return out_path
