"""The real AppEEARS polygon bundle (tests/data/appeears/polygon), served as it is (listing built from its files,
sha256 computed, tifs under the folder prefix real listings carry), harvested into valid items."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pystac
import pytest

from catalogs.validate import validate_catalog
from harvester import pipeline
from tests.adapters.appeears.conftest import AppeearsServer, appeears_config

GREENUP_0_2010 = {"minimum": 14560.0, "maximum": 14794.0, "mean": 14699.9479474, "stddev": 19.6919795, "count": 3727}


@pytest.fixture
def harvested(appeears: AppeearsServer, tmp_path: Path, samples: Path) -> dict[str, Any]:
    folder = samples / "appeears" / "polygon"
    request = json.loads((folder / "polygon-request.json").read_text())
    task_id = appeears.sim.add_bundle(request, folder, tif_folder="MCD12Q2.006_2010001_to_2010365")
    root = tmp_path / "catalog"
    summary = pipeline.run(appeears_config(root, appeears.url, name="polygon", task_ids=[task_id]))
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {"root": root, "summary": summary, "task_id": task_id, "folder": folder,
            "items": {item.id: item for item in catalog.get_items(recursive=True)}}


def test_the_real_bundle_harvests_into_valid_items(harvested: dict[str, Any]) -> None:
    assert harvested["summary"].failures == []
    report = validate_catalog(harvested["root"])
    assert report.ok, report.format()
    short = harvested["task_id"][:8]
    assert sorted(harvested["items"]) == [f"MCD12Q2.006_2010001_aid0001_{short}", f"MCD12Q2.006_2018001_aid0001_{short}",
                                          f"polygon-task-{short}"]
    assert {i.collection_id for i in harvested["items"].values()} == {"appeears-mcd12q2-006"}


def test_layers_dates_nodata_and_projection(harvested: dict[str, Any]) -> None:
    short = harvested["task_id"][:8]
    items = harvested["items"]
    first, second = items[f"MCD12Q2.006_2010001_aid0001_{short}"], items[f"MCD12Q2.006_2018001_aid0001_{short}"]
    assert set(first.assets) == {"Greenup_0", "Greenup_1", "QA_Detailed_0", "QA_Detailed_1", "QA_Overall_0",
                                 "QA_Overall_1", "thumbnail"}
    assert set(second.assets) == {"Greenup_0", "thumbnail"}
    assert [a.roles for k, a in sorted(first.assets.items()) if k != "thumbnail"] == [
        ["data"], ["data"], ["quality"], ["quality"], ["quality"], ["quality"]]
    # yearly composites: the whole year
    assert (first.properties["start_datetime"], first.properties["end_datetime"]) == ("2010-01-01T00:00:00Z",
                                                                                       "2010-12-31T23:59:59Z")
    assert second.properties["start_datetime"] == "2018-01-01T00:00:00Z"
    assert first.properties["proj:code"] == "EPSG:4326" and first.properties["proj:shape"] == [94, 147]
    for key in ("Greenup_0", "Greenup_1", "QA_Overall_0"):
        band = first.assets[key].to_dict()["bands"][0]
        assert (band["data_type"], band["nodata"]) == ("int16", 32767)
    west, south, east, north = first.bbox
    assert -76.567 <= west < -76.4 and 36.166 <= south < 36.3 and -76.1 < east <= -75.954 and 36.4 < north <= 36.559


def test_statistics_from_the_bundle_and_checksums_from_its_listing(harvested: dict[str, Any]) -> None:
    short = harvested["task_id"][:8]
    greenup = harvested["items"][f"MCD12Q2.006_2010001_aid0001_{short}"].assets["Greenup_0"].to_dict()
    assert greenup["bands"][0]["statistics"] == GREENUP_0_2010  # the Statistics CSV's row, not a recomputation
    assert greenup["bands"][0]["unit"] == "Day"
    sample = harvested["folder"] / "MCD12Q2.006_Greenup_0_doy2010001_aid0001.tif"
    # kept byte for byte: the asset's checksum is the bundle's sha256 of the delivered file
    assert greenup["file:checksum"] == "1220" + hashlib.sha256(sample.read_bytes()).hexdigest()


def test_quality_classes_come_from_the_lookup_csvs(harvested: dict[str, Any]) -> None:
    short = harvested["task_id"][:8]
    assets = harvested["items"][f"MCD12Q2.006_2010001_aid0001_{short}"].assets
    # with the pixel counts of the Statistics-QA CSVs (every valid pixel is "Best" in this bundle)
    assert assets["QA_Overall_0"].extra_fields["classification:classes"] == [
        {"value": 0, "name": "best", "description": "Best", "count": 3727, "percentage": 100.0}]
    assert assets["QA_Detailed_1"].extra_fields["classification:classes"] == [
        {"value": 0, "name": "best", "description": "Greenup: Best; MidGreenup: Best; Maturity: Best; Peak: Best; "
                                                     "Senescence: Best; MidGreendown: Best; Dormancy: Best",
         "count": 18, "percentage": 100.0}]
    assert "classification:classes" not in assets["Greenup_0"].extra_fields


def test_the_bundle_files_are_metadata_of_the_task_item(harvested: dict[str, Any]) -> None:
    short = harvested["task_id"][:8]
    task_item = harvested["items"][f"polygon-task-{short}"]
    assert set(task_item.assets) == {"polygon-request.json", "polygon-granule-list.txt",
                                     "polygon-MCD12Q2-006-metadata.xml", "README.md", "MCD12Q2-006-Statistics.csv"} | {
        f"MCD12Q2-006-QA-{kind}-{n}-{what}.csv" for kind in ("Detailed", "Overall") for n in (0, 1)
        for what in ("lookup", "Statistics-QA")}
    assert all(a.roles == ["metadata"] for a in task_item.assets.values())
    assert task_item.geometry["type"] == "Polygon"
    assert task_item.geometry["coordinates"][0][0] == [-76.017, 36.3379]
    assert task_item.properties["appeears:products"] == ["MCD12Q2.006"]


def test_without_lookup_csvs_the_classes_come_from_the_quality_api(appeears: AppeearsServer, tmp_path: Path,
                                                                   samples: Path) -> None:
    folder = tmp_path / "bundle"
    folder.mkdir()
    for path in (samples / "appeears" / "polygon").iterdir():
        if not path.name.endswith("-lookup.csv"):
            (folder / path.name).write_bytes(path.read_bytes())
    request = json.loads((folder / "polygon-request.json").read_text())
    task_id = appeears.sim.add_bundle(request, folder)
    root = tmp_path / "catalog"
    summary = pipeline.run(appeears_config(root, appeears.url, name="polygon", task_ids=[task_id]))
    assert summary.failures == []
    assert validate_catalog(root).ok
    item = pystac.Item.from_file(str(next(root.glob(f"*/MCD12Q2.006_2010001_aid0001_{task_id[:8]}/*_{task_id[:8]}.json"))))
    assert item.assets["QA_Overall_1"].extra_fields["classification:classes"] == [
        {"value": 0, "name": "best", "description": "Best", "count": 18, "percentage": 100.0},
        {"value": 1, "name": "good", "description": "Good"},
        {"value": 2, "name": "fair", "description": "Fair"}, {"value": 3, "name": "poor", "description": "Poor"}]
    # the API has no values for QA_Detailed (nor the bundle a lookup): no classes rather than invented ones
    assert "classification:classes" not in item.assets["QA_Detailed_0"].extra_fields
    assert appeears.log.records("/api/quality/MCD12Q2.006/QA_Overall")[0].status == 200
