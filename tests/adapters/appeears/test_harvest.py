"""End to end: the AppEEARS adapter harvesting the simulator over loopback HTTP through the real pipeline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pystac
import geopandas
import pytest
import rasterio

from catalogs import stac
from catalogs.validate import validate_catalog
from harvester import pipeline
from tests.adapters.appeears.conftest import AREA_TASK, POINT_TASK, AppeearsServer, appeears_config, task_file

NDVI, QUALITY = "250m_16_days_NDVI", "250m_16_days_VI_Quality"


def _items(root: Path) -> dict[str, pystac.Item]:
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {item.id: item for item in catalog.get_items(recursive=True)}


def _files(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and ".harvest" not in p.parts}


def _harvest(appeears: AppeearsServer, tmp_path: Path, task: dict[str, Any], **source: Any) -> tuple[Path, Any]:
    root = tmp_path / "catalog"
    config = appeears_config(root, appeears.url, name=task["task_name"], task=str(task_file(tmp_path, task)),
                             **source)
    return root, pipeline.run(config)


def test_an_area_task_in_geographic_projection(appeears: AppeearsServer, tmp_path: Path) -> None:
    root, summary = _harvest(appeears, tmp_path, AREA_TASK)
    assert summary.failures == []
    report = validate_catalog(root)
    assert report.ok, report.format()
    items = _items(root)
    (task_id,) = appeears.sim.tasks
    short = task_id[:8]
    assert sorted(items) == sorted([f"MOD13Q1.061_{d}_aid0001_{short}" for d in ("2020001", "2020017", "2020033")]
                                   + [f"fields-task-{short}"])
    item = items[f"MOD13Q1.061_2020017_aid0001_{short}"]
    assert item.collection_id == "appeears-mod13q1-061"
    assert item.properties["start_datetime"] == "2020-01-17T00:00:00Z"
    assert item.properties["end_datetime"] == "2020-02-01T23:59:59Z"
    assert item.properties["proj:code"] == "EPSG:4326"
    assert item.properties["platform"] == "terra" and item.properties["instruments"] == ["modis"]
    assert set(item.assets) == {NDVI, QUALITY, "thumbnail"}
    ndvi, quality = item.assets[NDVI].to_dict(), item.assets[QUALITY].to_dict()
    assert ndvi["roles"] == ["data"] and quality["roles"] == ["quality"]
    assert ndvi["type"] == stac.COG
    band = ndvi["bands"][0]
    assert (band["data_type"], band["nodata"], band["unit"], band["raster:scale"]) == ("int16", -3000, "NDVI", 0.0001)
    assert band["appeears:valid_range"] == [-2000, 10000]
    # the bundle's statistics (of scaled values), as statistics of the stored values that raster:scale describes
    with rasterio.open(Path(item.assets[NDVI].get_absolute_href())) as ds:
        stored = ds.read(1, masked=True).compressed().astype("float64")
    assert band["statistics"]["count"] == stored.size
    assert band["statistics"]["minimum"] == pytest.approx(stored.min(), abs=1e-6)
    assert band["statistics"]["maximum"] == pytest.approx(stored.max(), abs=1e-6)
    assert band["statistics"]["mean"] == pytest.approx(stored.mean(), abs=0.01)
    assert band["statistics"]["stddev"] == pytest.approx(stored.std(), abs=0.01)
    assert quality["classification:classes"][0] == {"value": 0, "name": "vi_produced_with_good_quality",
                                                    "description": "VI produced with good quality"}
    assert quality["bands"][0]["data_type"] == "uint16" and quality["bands"][0]["nodata"] == 65535
    assert stac.CLASSIFICATION in item.stac_extensions
    # the bundle's checksum is the asset's: the GeoTIFF is kept as delivered
    listing = {f.file_name.replace("\\", "/").rsplit("/", 1)[-1]: hashlib.sha256(f.data).hexdigest()
               for f in appeears.sim.files(task_id)}
    assert ndvi["file:checksum"] == "1220" + listing["MOD13Q1.061__250m_16_days_NDVI_doy2020017_aid0001.tif"]
    related = [link for link in item.links if link.rel == "related"]
    assert [Path(link.get_absolute_href()).name for link in related] == [f"fields-task-{short}.json"]
    task_item = items[f"fields-task-{short}"]
    assert {a.roles[0] for a in task_item.assets.values()} == {"metadata"}
    assert set(task_item.assets) == {"fields-request.json", "fields-granule-list.txt", "fields-MOD13Q1-061-metadata.xml",
                                     "README.md", "MOD13Q1-061-250m-16-days-VI-Quality-lookup.csv",
                                     "MOD13Q1-061-Statistics.csv"}
    assert task_item.geometry == AREA_TASK["params"]["geo"]["features"][0]["geometry"] | {
        "coordinates": [[[10.0, 59.8], [10.3, 59.8], [10.3, 60.0], [10.0, 60.0], [10.0, 59.8]]]}
    collection = json.loads((root / "appeears-mod13q1-061" / "collection.json").read_text())
    assert collection["sci:doi"] == "10.5067/MODIS/MOD13Q1.061"
    assert [p["name"] for p in collection["providers"]] == [
        "NASA Land Processes Distributed Active Archive Center (LP DAAC)", "NASA"]
    assert collection["title"] == "MOD13Q1.061: Vegetation Indices 16-Day L3 Global 250m SIN Grid"
    # one sign-in, one sign-out; the signed storage URL never saw the token
    assert (appeears.sim.logins, appeears.sim.logouts, appeears.sim.auth_at_s3) == (1, 1, 0)


def test_a_second_run_does_nothing(appeears: AppeearsServer, tmp_path: Path) -> None:
    root, first = _harvest(appeears, tmp_path, AREA_TASK)
    assert first.failures == [] and first.items_written == 4
    before = _files(root)
    appeears.log.clear()
    _root, second = _harvest(appeears, tmp_path, AREA_TASK)
    assert (second.items_written, second.downloads, len(appeears.log)) == (0, 0, 0)
    assert _files(root) == before


def test_an_area_task_in_native_sinusoidal_projection(appeears: AppeearsServer, tmp_path: Path) -> None:
    task = json.loads(json.dumps(AREA_TASK))
    task["params"]["output"]["projection"] = "native"
    root, summary = _harvest(appeears, tmp_path, task)
    assert summary.failures == []
    assert validate_catalog(root).ok
    item = next(i for i in _items(root).values() if i.id.startswith("MOD13Q1.061_2020001"))
    assert "proj:code" not in item.properties
    assert "Sinusoidal" in item.properties["proj:wkt2"]
    west, south, east, north = item.bbox
    # WGS84 footprint of the sinusoidal grid, around the requested box
    assert 9.9 < west < 10.05 and 59.75 < south < 59.85 and 10.25 < east < 10.45 and 59.95 < north < 60.05


def test_a_point_task_becomes_one_item_with_a_geoparquet_table(appeears: AppeearsServer, tmp_path: Path) -> None:
    root, summary = _harvest(appeears, tmp_path, POINT_TASK)
    assert summary.failures == []
    report = validate_catalog(root)
    assert report.ok, report.format()
    (item,) = _items(root).values()
    assert item.geometry == {"type": "MultiPoint", "coordinates": [[10.75, 59.91], [5.32, 60.39]]}
    assert item.properties["appeears:points"] == POINT_TASK["params"]["coordinates"]
    # the first and last dates of the rows: the 16-day composites overlapping June 1 - July 15 2020
    assert (item.properties["start_datetime"], item.properties["end_datetime"]) == ("2020-05-24T00:00:00Z",
                                                                                     "2020-06-25T00:00:00Z")
    data = item.assets["data"].to_dict()
    assert data["type"] == stac.GEOPARQUET and data["roles"] == ["data"]
    assert data["table:row_count"] == 6 and data["table:primary_geometry"] == "geometry"
    assert item.assets["results"].roles == ["source"] and item.assets["results"].media_type == stac.CSV
    table = pq.read_table(Path(item.assets["data"].get_absolute_href()))
    assert json.loads(table.schema.metadata[b"geo"])["primary_column"] == "geometry"
    assert table.column("ID").to_pylist() == ["oslo"] * 3 + ["bergen"] * 3
    assert table.column("Category").to_pylist() == ["city"] * 3 + ["coast"] * 3
    assert [c["name"] for c in data["table:columns"]] == ["geometry", *table.column_names[1:]]
    assert data["table:columns"][0]["type"] == "point"
    # the points in the order of the rows, as GeoParquet readers see them
    frame = geopandas.read_parquet(Path(item.assets["data"].get_absolute_href()))
    assert [(p.x, p.y) for p in frame.geometry][::3] == [(10.75, 59.91), (5.32, 60.39)]
    assert frame.crs.to_string() == "OGC:CRS84"
    assert stac.TABLE in item.stac_extensions


def test_a_netcdf_task_gives_the_file_and_a_cog_per_layer_and_date(appeears: AppeearsServer, tmp_path: Path) -> None:
    task = json.loads(json.dumps(AREA_TASK))
    task["params"]["output"]["format"]["type"] = "netcdf4"
    root, summary = _harvest(appeears, tmp_path, task)
    assert summary.failures == []
    report = validate_catalog(root)
    assert report.ok, report.format()
    short = next(iter(appeears.sim.tasks))[:8]
    item = _items(root)[f"MOD13Q1.061_250m_aid0001_{short}"]
    assert item.assets["netcdf"].media_type == stac.NETCDF and item.assets["netcdf"].roles == ["data"]
    slices = {k for k in item.assets if k not in ("netcdf", "thumbnail")}
    assert slices == {f"{layer}_{day}" for layer in (NDVI, QUALITY) for day in ("2020001", "2020017", "2020033")}
    band = item.assets[f"{NDVI}_2020017"].to_dict()["bands"][0]
    assert (band["data_type"], band["nodata"], band["raster:scale"]) == ("int16", -3000, 0.0001)
    assert item.assets[f"{QUALITY}_2020001"].roles == ["quality"]
    assert item.assets[f"{NDVI}_2020001"].media_type == stac.COG
    assert (item.properties["start_datetime"], item.properties["end_datetime"]) == ("2020-01-01T00:00:00Z",
                                                                                     "2020-02-17T23:59:59Z")


def test_an_expired_token_mid_harvest_signs_in_again_once(appeears: AppeearsServer, tmp_path: Path) -> None:
    appeears.sim.token_uses = 3  # the token dies after its third secure call: submit, then status twice
    root, summary = _harvest(appeears, tmp_path, AREA_TASK)
    assert summary.failures == []
    assert len(_items(root)) == 4
    assert appeears.sim.logins == 2  # once, then once more when the token had expired
    forbidden = [r for r in appeears.log.records() if r.status == 403]
    assert len(forbidden) == 1


def test_a_refused_token_after_signing_in_again_is_an_auth_error(appeears: AppeearsServer, tmp_path: Path) -> None:
    appeears.sim.refuse_tokens = True  # sign-in works, every token is refused: also the one after a new sign-in
    _root, summary = _harvest(appeears, tmp_path, AREA_TASK)
    (failure,) = summary.failures
    assert "HTTP 403" in failure.error and "check EARTHDATA_USERNAME/EARTHDATA_PASSWORD" in failure.error


def test_a_user_without_api_access_is_told_so(appeears: AppeearsServer, tmp_path: Path) -> None:
    appeears.sim.api_disabled.add("sim-user")
    _root, summary = _harvest(appeears, tmp_path, AREA_TASK)
    (failure,) = summary.failures
    assert failure.error == ("AppEEARS: API access is not enabled for this Earthdata user: enable it in the "
                               "AppEEARS user settings (see the AppEEARS API login documentation), then run again")


def test_no_credentials_say_which_to_set(appeears: AppeearsServer, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EARTHDATA_USERNAME")
    _root, summary = _harvest(appeears, tmp_path, AREA_TASK)
    (failure,) = summary.failures
    assert "no Earthdata credentials: set EARTHDATA_USERNAME and EARTHDATA_PASSWORD" in failure.error
    assert appeears.sim.requests["submit"] == 0


def test_a_corrupted_download_is_fetched_again_once(appeears: AppeearsServer, tmp_path: Path) -> None:
    root, summary = _harvest(appeears, tmp_path, {**AREA_TASK, "task_name": "sim-corrupt-1"})
    assert summary.failures == []
    tifs = {n: c for n, c in appeears.sim.downloads.items() if n.endswith(".tif")}
    assert len(tifs) == 6 and set(tifs.values()) == {2}
    assert validate_catalog(root).ok


def test_a_download_corrupted_twice_is_reported(appeears: AppeearsServer, tmp_path: Path) -> None:
    _root, summary = _harvest(appeears, tmp_path, {**AREA_TASK, "task_name": "sim-corrupt-always-1"})
    tif_failures = [f for f in summary.failures if f.file and f.file.endswith(".tif")]
    assert len(tif_failures) == 6
    assert all("checksum mismatch: expected sha256:" in f.error for f in tif_failures)
    tifs = {n: c for n, c in appeears.sim.downloads.items() if n.endswith(".tif")}
    assert len(tifs) == 6 and set(tifs.values()) == {2}  # each fetched twice, then reported


def test_bundle_names_leading_out_of_the_folder_are_refused(appeears: AppeearsServer, tmp_path: Path) -> None:
    root, summary = _harvest(appeears, tmp_path, {**AREA_TASK, "task_name": "sim-unsafe-1"})
    (failure,) = summary.failures
    (task_id,) = appeears.sim.tasks
    assert failure.error == (f"listing its outputs failed: AppEEARS task {task_id}: bundle file name "
                               "'..\\\\..\\\\escaped.txt' contains '..'")
    assert not (tmp_path / "escaped.txt").exists() and not any(root.rglob("escaped.txt"))


def test_a_task_that_failed_at_appeears_is_reported_with_its_error(appeears: AppeearsServer, tmp_path: Path) -> None:
    _root, summary = _harvest(appeears, tmp_path, {**AREA_TASK, "task_name": "sim-error-1"})
    (failure,) = summary.failures
    assert "AppEEARS task failed: Processing failed: no data for the requested dates and area" in failure.error


def test_an_expired_task_is_not_downloaded(appeears: AppeearsServer, tmp_path: Path) -> None:
    _root, summary = _harvest(appeears, tmp_path, {**AREA_TASK, "task_name": "sim-expired-1"})
    (failure,) = summary.failures
    assert "expired" in failure.error
    assert appeears.sim.requests["bundle"] == 0 and sum(appeears.sim.downloads.values()) == 0


def test_fetching_existing_tasks_by_name_and_by_id(appeears: AppeearsServer, tmp_path: Path) -> None:
    first = appeears.sim.add_task(AREA_TASK)
    appeears.sim.add_task(POINT_TASK)
    root = tmp_path / "by-name"
    summary = pipeline.run(appeears_config(root, appeears.url, name="fields"))
    assert summary.failures == [] and summary.jobs == 1
    assert {i.properties["appeears:task_id"] for i in _items(root).values()} == {first}
    root = tmp_path / "by-id"
    summary = pipeline.run(appeears_config(root, appeears.url, name="ids", task_ids=[first]))
    assert summary.failures == [] and len(_items(root)) == 4


def test_transient_failures_of_the_api_and_the_storage_are_retried(appeears: AppeearsServer, tmp_path: Path) -> None:
    appeears.faults.add(r"^/api/bundle/[^/]+$", status=503, retry_after=0, times=2)
    appeears.faults.add(r"^/s3/", status=500, times=1)
    appeears.faults.add(r"^/s3/.*NDVI_doy2020017", drop_after_bytes=100, times=1)
    root, summary = _harvest(appeears, tmp_path, AREA_TASK)
    assert summary.failures == []
    assert len(_items(root)) == 4
    assert [r.status for r in appeears.log.records() if r.path.startswith("/api/bundle/") and r.path.count("/") == 3][:3] \
        == [503, 503, 200]
