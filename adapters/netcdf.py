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
                        unit_spellings: Mapping[str, str] | None = None) -> Path:
    """Write ``variable`` of ``nc_path`` to a plain GeoTIFF at ``out_path`` (nodata, units and scale kept).

    ``unit_spellings`` maps a unit as the product spells it (lower case, ``radians``) to the one to write
    (``rad``).

    Raises `BadProductError` naming ``what`` (the job) and the file when the file is not netCDF, has no
    such variable, or the variable is not georeferenced.
    """
    source = f'netcdf:"{nc_path}":{variable}'
    try:
        with rasterio.open(source) as ds:
            if not is_georeferenced(ds):
                raise BadProductError(f"{what}: {nc_path.name}: variable {variable} has no georeferencing")
            profile = {"driver": "GTiff", "height": ds.height, "width": ds.width, "count": ds.count,
                       "dtype": ds.dtypes[0], "crs": ds.crs, "transform": ds.transform, "nodata": ds.nodata,
                       "tiled": True, "compress": "deflate"}
            out_path.parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(out_path, "w", **profile) as out:
                out.write(ds.read())
                out.scales, out.offsets = ds.scales, ds.offsets
                for band in range(1, ds.count + 1):
                    out.set_band_description(band, ds.descriptions[band - 1] or variable)
                    if unit := ds.units[band - 1]:
                        out.set_band_unit(band, (unit_spellings or {}).get(unit.lower(), unit))
    except RasterioError as exc:
        raise BadProductError(f"{what}: {nc_path.name}: cannot read variable {variable} ({exc})") from exc
    return out_path
