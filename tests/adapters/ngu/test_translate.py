"""NGU translation on simulated result files: both release styles, the GeoParquet, the grid, broken rows."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import geopandas
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import shapely
from shapely.geometry import shape

from adapters.errors import BadProductError
from catalogs.geoparquet_points import PointWriter
from adapters.ngu.grid import MedianGrid, utm_epsg
from adapters.ngu.simdata import FileSpec, acquisition_dates, gzip_bytes
from adapters.ngu.translate import translate_file
from catalogs import stac
from tests.adapters.ngu.conftest import EXAMPLE_AREA

BOX = (20.15, 69.3293, 20.1827, 69.3438)  # the IW2 part of the API page's example box
SMALL_BLOCKS = 64 << 10  # several batches even for a few thousand points


def _file(tmp_path: Path, spec: FileSpec, name: str = "160-IW2-414-in-asc1-v20a.csv.gz") -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip_bytes(spec))
    return path


def _csv(path: Path) -> pa.Table:
    """The simulated CSV as pyarrow reads it plainly (header names stripped; duplicates renamed _2)."""
    with gzip.open(path, "rt") as f:
        header = [n.strip() for n in f.readline().split(",")]
    names, seen = [], set()
    for n in header:
        names.append(f"{n}_2" if n in seen else n)
        seen.add(n)
    return pacsv.read_csv(path, read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
                          convert_options=pacsv.ConvertOptions(column_types={"pid": pa.string()}))


def test_a_2020_release_file_becomes_an_item_with_geoparquet_velocity_and_thumbnail(tmp_path: Path) -> None:
    spec = FileSpec(160, 1, 414, BOX, EXAMPLE_AREA, points=3000, dates=30, style="2020", seed=1)
    path = _file(tmp_path, spec)
    draft = translate_file(path, path.name, tmp_path / "work", query_id="q1", centre=(20.16, 69.33),
                           block_size=SMALL_BLOCKS)

    assert draft.id == "160-IW2-414-in-asc1-v20a"
    assert draft.collection == "ngu-insar-in-asc1-v20a"
    assert sorted(draft.assets) == ["data", "source", "thumbnail", "velocity"]
    assert draft.assets["source"].path == path and draft.assets["source"].media_type == "application/gzip"
    dates = acquisition_dates(30)
    assert draft.start_datetime == datetime(2015, 6, 12, tzinfo=timezone.utc)
    assert draft.end_datetime == datetime(dates[-1].year, dates[-1].month, dates[-1].day, tzinfo=timezone.utc)
    props = draft.properties
    assert {k: props[k] for k in ("sat:relative_orbit", "sat:orbit_state", "sar:instrument_mode",
                                  "sar:frequency_band", "sar:polarizations", "processing:level", "ngu:swath",
                                  "ngu:burst", "ngu:dataset", "ngu:point_count", "ngu:bad_rows")} == {
        "sat:relative_orbit": 160, "sat:orbit_state": "ascending", "sar:instrument_mode": "IW",
        "sar:frequency_band": "C", "sar:polarizations": ["VV"], "processing:level": "L3", "ngu:swath": "IW2",
        "ngu:burst": 414, "ngu:dataset": "in-asc1-v20a", "ngu:point_count": 3000, "ngu:bad_rows": 0}
    assert props["ngu:dates"] == [d.isoformat() for d in dates]
    assert draft.warnings == []
    assert set(draft.stac_extensions) == {stac.SAR, stac.SAT, stac.PROCESSING, stac.TABLE}

    table = draft.assets["data"].fields
    assert table["table:row_count"] == 3000 and table["table:primary_geometry"] == "geometry"
    columns = {c["name"]: c for c in table["table:columns"]}
    assert list(columns) == ["geometry", "pid", "track", "mode", "burst", "line", "pixel", "latitude", "longitude",
                             "height", "height_wgs84", "mean_velocity", "rmse", "temporal_coherence",
                             "amplitude_quality", "pixel_2", "line_2", "incidence_angle", "track_angle", "los_east",
                             "los_north", "los_up", "displacement"]
    assert columns["mean_velocity"] == {"name": "mean_velocity", "type": "float", "unit": "mm/yr",
                                        "description": "mean line-of-sight velocity (negative: away from the "
                                                       "satellite) (mm/yr)"}
    assert columns["displacement"]["type"] == "list<float>" and columns["displacement"]["unit"] == "mm"

    # the hull of the points (not the query box) is the geometry, and it holds every point
    csv = _csv(path)
    points = shapely.points(csv["longitude"].to_numpy(), csv["latitude"].to_numpy())
    hull = shape(draft.geometry)
    assert hull.geom_type == "Polygon"
    assert shapely.covers(hull.buffer(1e-6), points).all()
    assert hull.area < (BOX[2] - BOX[0]) * (BOX[3] - BOX[1])


def test_the_geoparquet_opens_with_pyarrow_and_geopandas_and_round_trips_the_time_series(tmp_path: Path) -> None:
    spec = FileSpec(160, 1, 414, BOX, EXAMPLE_AREA, points=2500, dates=20, style="2020", seed=2)
    path = _file(tmp_path, spec)
    draft = translate_file(path, path.name, tmp_path / "work", block_size=SMALL_BLOCKS)
    parquet = draft.assets["data"].path
    assert parquet is not None
    csv = _csv(path)

    assert pq.read_metadata(parquet).num_rows == 2500
    table = pq.read_table(parquet)
    geo = json.loads(table.schema.metadata[b"geo"])
    lon, lat = csv["longitude"].to_numpy(), csv["latitude"].to_numpy()
    assert geo == {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": {
        "encoding": "point", "geometry_types": ["Point"],
        "bbox": [round(float(v), 9) for v in (lon.min(), lat.min(), lon.max(), lat.max())]}}}
    dates = [d.strftime("%Y%m%d") for d in acquisition_dates(20)]
    assert json.loads(table.schema.metadata[b"ngu:dates"]) == [d.isoformat() for d in acquisition_dates(20)]
    expected = np.column_stack([csv[d].to_numpy() for d in dates]).astype(np.float32)
    assert np.array_equal(np.array(table["displacement"].to_pylist(), dtype=np.float32), expected)
    assert table["pid"].to_pylist() == csv["pid"].to_pylist()

    frame = geopandas.read_parquet(parquet)
    assert len(frame) == 2500
    assert frame.crs.to_string() == "OGC:CRS84"
    assert np.array_equal(frame.geometry.x.to_numpy(), lon) and np.array_equal(frame.geometry.y.to_numpy(), lat)
    assert np.array_equal(np.stack(frame["displacement"].to_numpy()).astype(np.float32), expected)
    assert frame["mean_velocity"].to_numpy().tolist() == pytest.approx(csv["mean_velocity"].to_pylist(), abs=1e-5)


def test_a_2023_release_file_keeps_its_own_columns_and_gets_a_vertical_velocity_grid(tmp_path: Path) -> None:
    spec = FileSpec(37, 0, 414, BOX, EXAMPLE_AREA, points=800, dates=12, style="2023", seed=3)
    path = _file(tmp_path, spec, "37-IW1-414-in-dsc1-v20a.csv.gz")
    draft = translate_file(path, path.name, tmp_path / "work")
    assert sorted(draft.assets) == ["data", "source", "thumbnail", "velocity", "vertical_velocity"]
    names = [c["name"] for c in draft.assets["data"].fields["table:columns"]]
    assert {"easting", "northing", "vertical_velocity", "amplitude_dispersion", "acceleration",
            "seasonality"} <= set(names)
    assert "amplitude_quality" not in names
    assert draft.properties["sat:orbit_state"] == "descending"
    assert pq.read_metadata(draft.assets["data"].path).num_rows == 800


def test_malformed_rows_are_skipped_counted_and_reported(tmp_path: Path) -> None:
    spec = FileSpec(160, 1, 414, BOX, EXAMPLE_AREA, points=500, dates=10, seed=4, malformed=4)
    path = _file(tmp_path, spec)
    draft = translate_file(path, path.name, tmp_path / "work", query_id="q9")
    assert draft.properties["ngu:bad_rows"] == 4
    assert draft.properties["ngu:point_count"] == 500
    assert pq.read_metadata(draft.assets["data"].path).num_rows == 500
    assert draft.warnings == [
        "4 malformed row(s) of 160-IW2-414-in-asc1-v20a.csv.gz skipped (a row with 3 field(s), 31 expected; "
        "3 row(s) with a value that is not a number)"]


def test_a_file_decompressed_on_the_way_is_accepted_as_plain_csv(tmp_path: Path) -> None:
    spec = FileSpec(160, 1, 414, BOX, EXAMPLE_AREA, points=300, dates=10, seed=5)
    path = tmp_path / "160-IW2-414-in-asc1-v20a.csv.gz"
    path.write_bytes(gzip.decompress(gzip_bytes(spec)))
    draft = translate_file(path, path.name, tmp_path / "work")
    source = draft.assets["source"]
    assert source.media_type == "text/csv" and source.path is not None and source.path.name.endswith(".csv")
    assert draft.properties["ngu:point_count"] == 300


def test_a_file_without_required_columns_names_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "160-IW2-414-in-asc1-v20a.csv.gz"
    path.write_bytes(gzip.compress(b"pid, track, height, 20150612\n1, 160, 3.0, 0.0\n"))
    with pytest.raises(BadProductError, match="file 160-IW2-414-in-asc1-v20a.csv.gz: the CSV header has no "
                                              "latitude, longitude, mean_velocity column"):
        translate_file(path, path.name, tmp_path / "work")


def test_the_point_writer_writes_batches_as_they_come_and_the_bbox_of_all_of_them(tmp_path: Path) -> None:
    schema = pa.schema([("v", pa.float32())])
    with PointWriter(tmp_path / "p.parquet", schema, metadata={"ngu:dates": "[]"}, row_group_rows=3) as writer:
        writer.write(np.array([10.0, 11.0]), np.array([60.0, 61.0]), [pa.array([1.0, 2.0], pa.float32())])
        writer.write(np.array([9.5, 10.5]), np.array([60.5, 62.0]), [pa.array([3.0, 4.0], pa.float32())])
        writer.write(np.array([12.0]), np.array([59.0]), [pa.array([5.0], pa.float32())])
    meta = pq.read_metadata(tmp_path / "p.parquet")
    assert (meta.num_rows, meta.num_row_groups) == (5, 2)  # 2 + 2 rows, then the last one at close
    geo = json.loads(meta.metadata[b"geo"])
    assert geo["columns"]["geometry"]["bbox"] == [9.5, 59.0, 12.0, 62.0]
    frame = geopandas.read_parquet(tmp_path / "p.parquet")
    assert frame["v"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [(p.x, p.y) for p in frame.geometry] == [(10.0, 60.0), (11.0, 61.0), (9.5, 60.5), (10.5, 62.0),
                                                    (12.0, 59.0)]


def test_cells_hold_the_median_of_their_points() -> None:
    lon0, lat0 = 20.0, 69.0
    grid = MedianGrid(lon0, lat0, 100.0, ("v",))
    # three points in one cell, four in another (even count: the mean of the middle two), one alone
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(f"EPSG:{utm_epsg(lon0, lat0)}", "EPSG:4326", always_xy=True)
    x0, y0 = Transformer.from_crs("EPSG:4326", f"EPSG:{utm_epsg(lon0, lat0)}", always_xy=True).transform(lon0, lat0)
    x0, y0 = (x0 // 100) * 100 + 10, (y0 // 100) * 100 + 10
    xs = np.array([x0, x0 + 20, x0 + 40, x0 + 210, x0 + 230, x0 + 250, x0 + 270, x0 + 10])
    ys = np.array([y0, y0 + 5, y0 + 9, y0, y0, y0, y0, y0 + 300])
    lon, lat = to_lonlat.transform(xs, ys)
    grid.add(np.asarray(lon), np.asarray(lat), {"v": np.array([1, 5, 2, -1, -10, 3, 2, -7], dtype=np.float32)})
    extent = grid.grid()
    assert (extent.width, extent.height, extent.epsg) == (3, 4, 32634)
    medians = grid.medians("v", extent)
    assert medians[3].tolist()[0] == 2.0 and medians[3].tolist()[2] == 0.5  # sorted -10, -1, 2, 3
    assert medians[0][0] == -7.0
    assert int(np.isfinite(medians).sum()) == 3


def test_unknown_columns_are_kept_with_the_type_the_reader_infers(tmp_path: Path) -> None:
    header = " pid, latitude, longitude, mean_velocity, flag_class, note, 20200101, 20200113\n"
    rows = "".join(f"{i}, {69.33 + i * 1e-4:.6f}, {20.16 + i * 1e-4:.6f}, {-1.5 * i:.2f}, {i % 3}, n{i}, 0.0, "
                   f"{0.5 * i:.2f}\n" for i in range(40))
    path = tmp_path / "160-IW2-414-in-asc1-v20a.csv.gz"
    path.write_bytes(gzip.compress((header + rows).encode()))
    draft = translate_file(path, path.name, tmp_path / "work")
    table = pq.read_table(draft.assets["data"].path)
    assert table.column_names == ["geometry", "pid", "latitude", "longitude", "mean_velocity", "flag_class", "note",
                                  "displacement"]
    assert table["flag_class"].type == pa.int64() and table["flag_class"].to_pylist() == [i % 3 for i in range(40)]
    assert table["note"].to_pylist()[:2] == ["n0", "n1"]
    assert table["displacement"].to_pylist()[3] == [0.0, 1.5]
    columns = {c["name"]: c for c in draft.assets["data"].fields["table:columns"]}
    assert columns["flag_class"] == {"name": "flag_class", "type": "int64"}
    assert draft.properties["ngu:dates"] == ["2020-01-01", "2020-01-13"]
