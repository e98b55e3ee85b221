"""NGU result files -> item drafts (pure; runs in a worker process).

One item per result file (``<track>-<swath>-<burst>-<dataset>.csv.gz``), streamed in batches
(`adapters.ngu.csvparse`): every batch goes to the GeoParquet (`catalogs.geoparquet_points`) and its
positions and velocities to the median grid (`adapters.ngu.grid`), so that memory does not grow with the
attributes or the dates of the file. Assets:

- ``source``: the file as delivered;
- ``data``: GeoParquet 1.1 of every point (point geometry in OGC:CRS84), every attribute column as the
  file has it (typed, unknown ones too), and the displacement time series as **one list column**
  ``displacement`` (float32 mm, one value per acquisition: a fixed-size list in Arrow, a list in Parquet).
  A list keeps the table's width fixed whatever the number of dates (a column per date would make
  hundreds of columns whose names are data); the acquisition dates are in the file's metadata
  (``ngu:dates``, ISO dates in the order of the list) and in the item (``ngu:dates``);
- ``velocity``: the median ``mean_velocity`` of the points of each grid cell (UTM zone of the area's
  centre, ``cell_size`` metres), mm/yr, nodata NaN; ``vertical_velocity`` the same when the release has it;
- ``thumbnail``: the velocity grid in a diverging colour map centred on zero.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from shapely.geometry import mapping

from adapters.base import AssetsMode, JobRef, JobStatus, RemoteFile
from adapters.errors import BadProductError
from adapters.ngu.csvparse import (
    BLOCK_SIZE,
    BadNumber,
    CsvStats,
    KNOWN,
    Layout,
    batches,
    careful_batches,
    is_gzip,
    read_layout,
)
from catalogs.geoparquet_points import PointWriter, TableInfo
from adapters.ngu.grid import MedianGrid
from adapters.ngu.names import ResultName, collection_id, parse_result_name
from catalogs import stac
from catalogs.drafts import AssetDraft, ItemDraft
from catalogs.fsio import copy_file
from catalogs.thumbnails import write_diverging_thumbnail

log = logging.getLogger(__name__)

DISPLACEMENT = "displacement"
VELOCITY_LAYERS = {"mean_velocity": "velocity", "vertical_velocity": "vertical_velocity"}
DEFAULT_CELL = 50.0


@dataclass
class FileResult:
    """What streaming one result file produced."""

    rows: int
    bad_rows: int
    examples: list[str]
    dates: tuple[date, ...]
    hull: Any
    rasters: dict[str, Path]
    table: TableInfo


def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
              workdir: Path, assets: AssetsMode, settings: Any) -> list[ItemDraft]:
    cell = float(settings.cell_size)
    query_id = str(status.meta.get("id") or job.id)
    centre = _centre(job.meta.get("bbox") or status.meta.get("bbox"))
    drafts = []
    for remote in outputs:
        path = files.get(remote.name)
        if path is None:
            raise BadProductError(f"NGU query {query_id}: result file {remote.name} was not downloaded")
        drafts.append(translate_file(Path(path), remote.name, workdir, cell=cell, query_id=query_id,
                                     centre=centre))
    return drafts


def translate_file(path: Path, name: str, workdir: Path, *, cell: float = DEFAULT_CELL, query_id: str | None = None,
                   centre: tuple[float, float] | None = None, block_size: int = BLOCK_SIZE) -> ItemDraft:
    """The item draft of one result file ``path`` (named ``name`` by the API); files go under ``workdir``."""
    result_name = parse_result_name(name)
    what = f"NGU query {query_id}, file {name}" if query_id else f"NGU file {name}"
    out = Path(workdir) / result_name.item_id
    out.mkdir(parents=True, exist_ok=True)
    layout = read_layout(path, what)
    parquet = out / f"{result_name.item_id}.parquet"
    result = _stream(path, layout, parquet, out, result_name, what, cell, centre, block_size)
    warnings = []
    if result.bad_rows:
        warnings.append(f"{result.bad_rows} malformed row(s) of {name} skipped ({'; '.join(result.examples)})")
        log.warning("%s: %s", what, warnings[-1])

    source = path
    if not is_gzip(path):  # un-gzipped on the way: it is a plain CSV, say so
        source = out / f"{result_name.item_id}.csv"
        copy_file(path, source, link=True)
    draft_assets: dict[str, AssetDraft] = {
        "source": AssetDraft(source, roles=("source",), title="Query result as delivered",
                             media_type="application/gzip" if source is path else stac.CSV,
                             description="The result file of the NGU InSAR API (CSV"
                                         + (", gzipped)" if source is path else ")"), cog=False),
        "data": AssetDraft(parquet, roles=("data",), title="Points and displacement time series (GeoParquet)",
                           media_type=stac.GEOPARQUET, fields=result.table.fields()),
    }
    for layer, key in VELOCITY_LAYERS.items():
        raster = result.rasters.get(layer)
        if raster is not None:
            title = "Mean line-of-sight velocity" if layer == "mean_velocity" else "Mean vertical velocity"
            draft_assets[key] = AssetDraft(raster, roles=("data",), title=f"{title} (median per {cell:g} m cell)",
                                           kind="continuous", fields={"unit": "mm/yr"})
    thumbnail = write_diverging_thumbnail(result.rasters["mean_velocity"], out / f"{result_name.item_id}.png")
    draft_assets["thumbnail"] = AssetDraft(thumbnail, roles=("thumbnail",), title="Mean velocity (red: away from "
                                           "the satellite, blue: towards it)", media_type=stac.PNG)

    first, last = result.dates[0], result.dates[-1]
    mode = "EW" if result_name.swath.startswith("EW") else "IW"
    properties: dict[str, Any] = {
        "constellation": "sentinel-1",
        "instruments": ["c-sar"],
        "sat:relative_orbit": result_name.track,
        "sar:instrument_mode": mode,
        "sar:frequency_band": "C",
        "sar:center_frequency": 5.405,
        "sar:polarizations": ["VV"],
        "sar:product_type": "PSI",
        "processing:level": "L3",
        "ngu:dataset": result_name.dataset,
        "ngu:swath": result_name.swath,
        "ngu:burst": result_name.burst,
        "ngu:point_count": result.rows,
        "ngu:bad_rows": result.bad_rows,
        "ngu:dates": [d.isoformat() for d in result.dates],
    }
    if result_name.orbit_state:
        properties["sat:orbit_state"] = result_name.orbit_state
    if query_id:
        properties["ngu:query_id"] = query_id
    return ItemDraft(
        id=result_name.item_id,
        collection=collection_id(result_name.dataset),
        start_datetime=datetime(first.year, first.month, first.day, tzinfo=timezone.utc),
        end_datetime=datetime(last.year, last.month, last.day, tzinfo=timezone.utc),
        properties=properties,
        assets=draft_assets,
        geometry=mapping(result.hull),
        stac_extensions=[stac.SAR, stac.SAT, stac.PROCESSING, stac.TABLE],
        footprint_asset="velocity",
        warnings=warnings,
    )


def _stream(path: Path, layout: Layout, parquet: Path, out: Path, name: ResultName, what: str, cell: float,
            centre: tuple[float, float] | None, block_size: int) -> FileResult:
    """Stream the file once (typed); a file with a bad number is streamed again, carefully."""
    stats = CsvStats()
    try:
        return _stream_with(batches(path, layout, stats, what, block_size=block_size), stats, layout, parquet, out,
                            name, what, cell, centre)
    except BadNumber as exc:
        log.info("%s: a value is not a number (%s); reading the file again, skipping such rows", what, exc)
        stats = CsvStats()
        return _stream_with(careful_batches(path, layout, stats, what, exc.schema, block_size=block_size), stats,
                            layout, parquet, out, name, what, cell, centre)


def _stream_with(source: Any, stats: CsvStats, layout: Layout, parquet: Path, out: Path, name: ResultName,
                 what: str, cell: float, centre: tuple[float, float] | None) -> FileResult:
    layers = tuple(layer for layer in VELOCITY_LAYERS if layer in layout.attributes)
    n_dates = len(layout.date_columns)
    if n_dates == 0:
        raise BadProductError(f"{what}: the CSV has no acquisition date columns (YYYYMMDD)")
    grid: MedianGrid | None = None
    writer: PointWriter | None = None
    hull = None
    dates_meta = json.dumps([d.isoformat() for d in layout.dates])
    attributes = layout.attributes
    try:
        for batch in source:
            lon = _floats(batch.column("longitude"))
            lat = _floats(batch.column("latitude"))
            ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)
            if not ok.all():
                dropped = int((~ok).sum())
                stats.bad(dropped, f"{dropped} row(s) without a valid latitude/longitude")
                batch = batch.filter(pa.array(ok))
                lon, lat = lon[ok], lat[ok]
            if batch.num_rows == 0:
                continue
            series = np.empty((batch.num_rows, n_dates), dtype=np.float32)
            for i, column in enumerate(layout.date_columns):
                series[:, i] = _floats(batch.column(column))
            displacement = pa.FixedSizeListArray.from_arrays(pa.array(series.ravel()), n_dates)
            columns = [_trimmed(batch.column(a)) for a in attributes] + [displacement]
            if writer is None:
                fields = [batch.schema.field(a) for a in attributes]
                fields.append(pa.field(DISPLACEMENT, displacement.type))  # unit and meaning: table:columns
                writer = PointWriter(parquet, pa.schema(fields), metadata={
                    "ngu:dates": dates_meta, "ngu:displacement_unit": "mm", "ngu:source": name.item_id})
                start = centre or (float(np.mean(lon)), float(np.mean(lat)))
                grid = MedianGrid(start[0], start[1], cell, layers)
            writer.write(lon, lat, columns)
            assert grid is not None
            grid.add(lon, lat, {layer: _floats(batch.column(layer)) for layer in layers})
            points = shapely.multipoints(np.column_stack((lon, lat)))
            hull = shapely.convex_hull(points if hull is None else shapely.union(hull, points))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None or grid is None or writer.rows == 0:
        if writer is not None:
            writer.abort()
        raise BadProductError(f"{what}: no valid point in the file ({stats.bad_rows} malformed row(s))")
    writer.close()
    rasters: dict[str, Path] = {}
    extent = grid.grid()
    for layer in layers:
        path = out / f"{name.item_id}_{layer}.tif"
        description = KNOWN[layer].description
        if grid.write(layer, extent, path, unit="mm/yr", description=description):
            rasters[layer] = path
    if "mean_velocity" not in rasters:
        raise BadProductError(f"{what}: no point has a mean_velocity value")
    return FileResult(writer.rows, stats.bad_rows, list(stats.examples), layout.dates, _polygonal(hull), rasters,
                      writer.table_info(_described(writer.schema)))


def _polygonal(hull: Any) -> Any:
    """The hull as an item geometry: one or two points are a point or a line; keep them (valid GeoJSON)."""
    return shapely.set_precision(hull, 1e-7)


def _trimmed(array: pa.Array) -> pa.Array:
    """Text values without the spaces that follow the commas of the files (numbers are parsed past them)."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return pc.utf8_trim_whitespace(array)
    return array


def _floats(array: pa.Array) -> np.ndarray:
    """A numeric Arrow column as float (nulls as NaN)."""
    if array.null_count:
        array = array.cast(pa.float64()).fill_null(math.nan)
    return array.to_numpy(zero_copy_only=False)


def _described(schema: pa.Schema) -> dict[str, dict[str, Any]]:
    """What ``table:columns`` says of the NGU columns beyond name and type: descriptions and units."""
    described: dict[str, dict[str, Any]] = {}
    for f in schema:
        if f.name == DISPLACEMENT:
            described[f.name] = {"type": f"list<{f.type.value_type}>", "unit": "mm",
                                 "description": "cumulative line-of-sight displacement (mm) at each acquisition "
                                                "date; the dates are the item's ngu:dates and the file's ngu:dates "
                                                "metadata"}
        elif (known := KNOWN.get(f.name)) is not None:
            described[f.name] = {"description": known.description + (f" ({known.unit})" if known.unit else ""),
                                 **({"unit": known.unit} if known.unit else {})}
    return described


def _centre(bbox: Any) -> tuple[float, float] | None:
    if isinstance(bbox, str):
        bbox = bbox.split(",")
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    return (west + east) / 2.0, (south + north) / 2.0

