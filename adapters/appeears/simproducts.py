"""The products the AppEEARS simulator serves: their API records, and outputs rendered like the real ones.

Area GeoTIFFs are COGs (LZW, 512 px tiles, no overviews on small files), int16/uint16 with nodata and the
``scale_factor``/``add_offset``/``units`` GDAL metadata AppEEARS writes (values unscaled), in EPSG:4326
(``geographic``) or MODIS sinusoidal (``native``, no EPSG code). netCDF outputs have one variable per layer
on (time, lat, lon) with a CF grid mapping GDAL reads. Point outputs are the results CSV.
Deterministic: values derive from the task id, the layer and the date.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from affine import Affine
from rasterio.warp import transform as warp_points, transform_bounds

MODIS_SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
PROJECTIONS = [
    {"Name": "native", "Description": "Native Projection", "Proj4": "", "Datum": "", "EPSG": "", "Units": "",
     "GridMapping": ""},
    {"Name": "geographic", "Description": "Geographic", "Proj4": "+proj=longlat +datum=WGS84 +no_defs",
     "Datum": "wgs84", "EPSG": 4326.0, "Units": "degrees", "GridMapping": "latitude_longitude"},
    {"Name": "sinu_modis", "Description": "MODIS Sinusoidal",
     "Proj4": "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +a=6371007.181 +b=6371007.181 +units=m +no_defs", "Datum": "",
     "EPSG": "", "Units": "meters", "GridMapping": "sinusoidal"},
]


def _layer(name: str, description: str, dtype: str, fill: int, low: int, high: int, units: str,
           scale: float | str = "", offset: float | str = "", quality: list[str] | None = None,
           quality_product: str = "") -> dict[str, Any]:
    return {"AddOffset": offset, "Available": True, "DataType": dtype, "Description": description,
            "Dimensions": ["time", "YDim", "XDim"], "FillValue": fill, "Layer": name, "OrigDataType": dtype,
            "OrigValidMax": high, "OrigValidMin": low, "QualityLayers": str(quality or ""),
            "QualityProductAndVersion": quality_product, "ScaleFactor": scale, "Units": units,
            "ValidMax": high, "ValidMin": low, "XSize": 4800, "YSize": 4800}


#: ProductAndVersion -> (GET /product record, GET /product/{id} layers, quality values per QA layer)
PRODUCTS: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, list[tuple[int, str, str]]]]] = {
    "MOD13Q1.061": (
        {"Product": "MOD13Q1", "Platform": "Terra MODIS",
         "Description": "Vegetation Indices 16-Day L3 Global 250m SIN Grid", "RasterType": "Tile",
         "Resolution": "250m", "TemporalGranularity": "16 day", "Version": "061", "Available": True,
         "DocLink": "https://doi.org/10.5067/MODIS/MOD13Q1.061", "Source": "LP DAAC",
         "TemporalExtentStart": "2000-02-18", "TemporalExtentEnd": "Present", "Deleted": False,
         "DOI": "10.5067/MODIS/MOD13Q1.061", "ProductAndVersion": "MOD13Q1.061"},
        {"_250m_16_days_NDVI": _layer("_250m_16_days_NDVI", "16 day NDVI average", "int16", -3000, -2000, 10000,
                                      "NDVI", 0.0001, 0.0, ["_250m_16_days_VI_Quality"], "MOD13Q1.061"),
         "_250m_16_days_EVI": _layer("_250m_16_days_EVI", "16 day EVI average", "int16", -3000, -2000, 10000,
                                     "EVI", 0.0001, 0.0, ["_250m_16_days_VI_Quality"], "MOD13Q1.061"),
         "_250m_16_days_VI_Quality": _layer("_250m_16_days_VI_Quality", "VI quality indicators", "uint16", 65535,
                                            0, 65534, "Bit Field")},
        {"_250m_16_days_VI_Quality": [(0, "MODLAND", "VI produced with good quality"),
                                      (1, "MODLAND", "VI produced, but check other QA"),
                                      (2, "MODLAND", "Pixel produced, but most probably cloudy"),
                                      (3, "MODLAND", "Pixel not produced due to other reasons than clouds")]},
    ),
    "MCD12Q2.006": (
        {"Product": "MCD12Q2", "Platform": "Combined MODIS", "Description": "Land Cover Dynamics (Phenology)",
         "RasterType": "Tile", "Resolution": "500m", "TemporalGranularity": "Yearly", "Version": "006",
         "Available": True, "DocLink": "https://doi.org/10.5067/MODIS/MCD12Q2.006", "Source": "LP DAAC",
         "TemporalExtentStart": "2001-01-01", "TemporalExtentEnd": "2018-12-31", "Deleted": False,
         "DOI": "10.5067/MODIS/MCD12Q2.006", "ProductAndVersion": "MCD12Q2.006"},
        {"Greenup": _layer("Greenup", "Date of onset of greenness increase", "int16", 32767, 11138, 32766,
                           "days since 1-1-1970", quality=["QA_Detailed", "QA_Overall"],
                           quality_product="MCD12Q2.006"),
         "QA_Detailed": _layer("QA_Detailed", "Quality of each phenology metric", "int16", 32767, 0, 32766,
                               "Class"),
         "QA_Overall": _layer("QA_Overall", "Overall quality of the phenology cycle", "int16", 32767, 0, 3,
                              "Class")},
        {"QA_Overall": [(0, "Overall", "Best"), (1, "Overall", "Good"), (2, "Overall", "Fair"),
                        (3, "Overall", "Poor")]},
    ),
}


def hash_int(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def composite_dates(product_id: str, start: date, end: date, *, limit: int = 3) -> list[date]:
    """The composite start dates of a product within [start, end] (at most ``limit``)."""
    granularity = PRODUCTS[product_id][0]["TemporalGranularity"].lower()
    out: list[date] = []
    for year in range(start.year, end.year + 1):
        if granularity == "yearly":
            candidates = [date(year, 1, 1)]
        else:
            step = int(granularity.split()[0])
            candidates = [date(year, 1, 1) + timedelta(days=d) for d in range(0, 366, step)
                          if (date(year, 1, 1) + timedelta(days=d)).year == year]
        for day in candidates:
            # a composite is served when its period overlaps the request
            period_end = day + timedelta(days=364 if granularity == "yearly" else int(granularity.split()[0]) - 1)
            if period_end >= start and day <= end and len(out) < limit:
                out.append(day)
    return out


def _grid(bounds: tuple[float, float, float, float], projection: str, size: int
          ) -> tuple[CRS, Any, int, int]:
    """The CRS, transform, width and height of an output covering ``bounds`` (lon/lat)."""
    west, south, east, north = bounds
    if projection == "geographic":
        crs = CRS.from_epsg(4326)
    else:
        crs = CRS.from_proj4(MODIS_SINUSOIDAL)
        west, south, east, north = transform_bounds(CRS.from_epsg(4326), crs, west, south, east, north)
    step = max(east - west, north - south) / size
    width = max(1, round((east - west) / step))
    height = max(1, round((north - south) / step))
    return crs, Affine(step, 0.0, west, 0.0, -step, north), width, height


def output_shape(bounds: tuple[float, float, float, float], projection: str, size: int) -> tuple[int, int]:
    """(height, width) of the output of an area (what `area_tif` writes)."""
    _crs, _transform, width, height = _grid(bounds, projection, size)
    return height, width


def layer_values(task_id: str, product_id: str, layer: str, day: date, shape: tuple[int, int]) -> np.ndarray:
    """Deterministic unscaled values of a layer (quality layers: small class values)."""
    record = PRODUCTS[product_id][1][layer]
    rng = np.random.default_rng(hash_int(task_id, product_id, layer, day.isoformat()))
    low, high = int(record["ValidMin"]), int(record["ValidMax"])
    if layer.startswith("QA") or "Quality" in layer:
        values = rng.integers(0, 2, size=shape)
    else:
        centre = low + (high - low) * 0.6 if "NDVI" in layer or "EVI" in layer else 14600 + day.year % 10
        values = np.clip(rng.normal(centre, (high - low) * 0.05 if "VI" in layer else 20, size=shape), low, high)
    dtype = np.dtype(record["DataType"])
    values = values.astype(dtype)
    values[0, 0] = record["FillValue"]  # one nodata corner, as clipped outputs have
    return values


def area_tif(task_id: str, product_id: str, layer: str, day: date, bounds: tuple[float, float, float, float],
             projection: str, size: int = 24) -> bytes:
    record = PRODUCTS[product_id][1][layer]
    crs, transform, width, height = _grid(bounds, projection, size)
    data = layer_values(task_id, product_id, layer, day, (height, width))
    profile = {"driver": "COG", "count": 1, "height": height, "width": width, "dtype": str(data.dtype),
               "nodata": record["FillValue"], "crs": crs, "transform": transform, "compress": "LZW",
               "blocksize": 512, "overviews": "NONE"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as mem:
            with mem.open(**profile) as ds:
                ds.write(data, 1)
                ds.update_tags(scale_factor=str(record["ScaleFactor"] or 1.0),
                               add_offset=str(record["AddOffset"] or 0), units=record["Units"],
                               AREA_OR_POINT="Area")
            return mem.read()


def area_netcdf(task_id: str, product_id: str, layers: list[str], days: list[date],
                bounds: tuple[float, float, float, float], size: int = 24) -> bytes:
    """One file per product and area: each layer a (time, lat, lon) variable, EPSG:4326."""
    crs, transform, width, height = _grid(bounds, "geographic", size)
    import h5netcdf  # only for netCDF tasks: h5py is slow to import, and the demo asks for GeoTIFFs

    buffer = io.BytesIO()
    with h5netcdf.File(buffer, "w") as ds:
        ds.attrs.update({"Conventions": "CF-1.6", "title": f"AppEEARS {product_id} area sample"})
        ds.dimensions = {"time": len(days), "lat": height, "lon": width}
        epoch = date(2000, 1, 1)
        _var(ds, "time", ("time",), np.array([(d - epoch).days for d in days], dtype="float64"),
             standard_name="time", units="days since 2000-01-01 00:00:00", calendar="julian")
        _var(ds, "lat", ("lat",), transform.f + transform.e * (np.arange(height) + 0.5), standard_name="latitude",
             units="degrees_north")
        _var(ds, "lon", ("lon",), transform.c + transform.a * (np.arange(width) + 0.5), standard_name="longitude",
             units="degrees_east")
        wkt = crs.to_wkt()
        _var(ds, "crs", (), np.int8(0), grid_mapping_name="latitude_longitude", crs_wkt=wkt, spatial_ref=wkt,
             semi_major_axis=6378137.0, inverse_flattening=298.257223563, longitude_of_prime_meridian=0.0)
        for layer in layers:
            record = PRODUCTS[product_id][1][layer]
            data = np.stack([layer_values(task_id, product_id, layer, d, (height, width)) for d in days])
            attrs: dict[str, Any] = {"long_name": record["Description"], "units": record["Units"],
                                     "grid_mapping": "crs"}
            if record["ScaleFactor"] != "":
                attrs["scale_factor"] = np.float64(record["ScaleFactor"])
                attrs["add_offset"] = np.float64(record["AddOffset"] or 0.0)
            _var(ds, layer, ("time", "lat", "lon"), data, fill=record["FillValue"], **attrs)
    return buffer.getvalue()


def results_csv(task_id: str, product_id: str, layers: list[str], days: list[date],
                coordinates: list[dict[str, Any]]) -> bytes:
    """``<task>-<PROD>-<VER>-results.csv`` as a point task delivers it (scaled values, one row per point and date)."""
    prefix = product_id.replace(".", "_")
    resolution = PRODUCTS[product_id][0]["Resolution"]
    header = ["Category", "ID", "Latitude", "Longitude", "Date", "MODIS_Tile", f"{prefix}_Line_Y_{resolution}",
              f"{prefix}_Sample_X_{resolution}"] + [f"{prefix}_{layer}" for layer in layers]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    sinusoidal = CRS.from_proj4(MODIS_SINUSOIDAL)
    for i, point in enumerate(coordinates):
        lat, lon = float(point["latitude"]), float(point["longitude"])
        xs, ys = warp_points(CRS.from_epsg(4326), sinusoidal, [lon], [lat])
        h, v = int((xs[0] + 20015109.354) // 1111950.5197665), int((10007554.677 - ys[0]) // 1111950.5197665)
        for day in days:
            row = [point.get("category", ""), point.get("id", str(i + 1)), f"{lat:.6f}", f"{lon:.6f}",
                   day.isoformat(), f"h{h:02d}v{v:02d}", str(hash_int(lat, "y") % 4800),
                   str(hash_int(lon, "x") % 4800)]
            for layer in layers:
                record = PRODUCTS[product_id][1][layer]
                raw = int(layer_values(task_id, product_id, layer, day, (2, 2))[1, 1])
                scale = float(record["ScaleFactor"] or 1.0)
                row.append(f"{raw * scale:.4f}" if record["ScaleFactor"] != "" else str(raw))
            writer.writerow(row)
    return out.getvalue().encode()


def _var(group: Any, key: str, dims: tuple[str, ...], data: Any, *, fill: Any = None, **attrs: Any) -> Any:
    options: dict[str, Any] = {"compression": "gzip", "compression_opts": 2} if dims else {}
    if fill is not None:
        options["fillvalue"] = fill
    var = group.create_variable(key, dims, data=data, **options)
    var.attrs.update(attrs)
    return var


def parse_mmddyyyy(value: str) -> date:
    return datetime.strptime(value, "%m-%d-%Y").date()
