"""Task requests: AppEEARS's own export accepted as is, tasks from flags, and what is refused before sending."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.appeears.simproducts import PRODUCTS, PROJECTIONS
from adapters.appeears.tasks import TaskError, build_task, check_task, load_task, parse_coordinates, parse_layers
from tests.adapters.appeears.conftest import AREA_TASK, POINT_TASK

PROJECTION_NAMES = [p["Name"] for p in PROJECTIONS]


def _check(task: dict[str, Any]) -> None:
    check_task(task, "task.json", layers_of=lambda pid: PRODUCTS[pid][1] if pid in PRODUCTS else None,
               projections=PROJECTION_NAMES)


def test_the_request_json_appeears_exports_is_accepted_as_it_is(samples: Path) -> None:
    task = load_task(samples / "appeears" / "polygon" / "polygon-request.json")
    assert task["task_id"] == "a17e1e92-4e43-45c0-8fed-ad6bb16396f8"  # an export, with the service's own fields
    _check(task)


def test_a_task_from_flags() -> None:
    task = build_task(name="fields", task_type="area", start="01-01-2020", end="02-15-2020",
                      layers=["MOD13Q1.061", "_250m_16_days_NDVI"], bbox=[10.0, 59.8, 10.3, 60.0])
    assert task == AREA_TASK
    _check(task)


def test_a_point_task_from_flags_keeps_ids_and_categories() -> None:
    task = build_task(name="stations", task_type="point", start="06-01-2020", end="07-15-2020",
                      layers="MOD13Q1.061,_250m_16_days_NDVI", coordinates="oslo,city,59.91,10.75;bergen,coast,60.39,5.32")
    assert task == POINT_TASK
    _check(task)


def test_recurring_dates_polygons_and_geojson_files(tmp_path: Path) -> None:
    geojson = tmp_path / "area.geojson"
    geojson.write_text(json.dumps({"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}))
    task = build_task(name="r", task_type="area", start="05-01", end="06-30", recurring=True, year_range=[2015, 2018],
                      layers=["MCD12Q2.006,Greenup"], polygon=[0, 0, 1, 0, 1, 1, 0, 0], geojson=geojson,
                      file_type="netcdf4", projection="native")
    assert task["params"]["dates"] == [{"startDate": "05-01", "endDate": "06-30", "recurring": True,
                                        "yearRange": [2015, 2018]}]
    assert [f["geometry"]["coordinates"][0][0] for f in task["params"]["geo"]["features"]] == [[0.0, 0.0], [1, 1]]
    assert task["params"]["output"] == {"format": {"type": "netcdf4"}, "projection": "native"}
    _check(task)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.pop("task_name"), "task.json: task_name: required (a non-empty string)"),
    (lambda t: t.update(task_type="line"), "task.json: task_type: must be one of area, point, not 'line'"),
    (lambda t: t["params"]["dates"][0].update(startDate="2020-01-01"),
     "task.json: params.dates[0].startDate: must be MM-DD-YYYY, not '2020-01-01'"),
    (lambda t: t["params"]["dates"][0].update(endDate="02-30-2020"),
     "task.json: params.dates[0].endDate: '02-30-2020' is not a date"),
    (lambda t: t["params"]["dates"][0].update(startDate="03-01-2020"),
     "task.json: params.dates[0]: startDate 03-01-2020 is after endDate 02-15-2020"),
    (lambda t: t["params"]["layers"][0].update(product="MOD13Q1.006"),
     "task.json: params.layers[0].product: AppEEARS has no product 'MOD13Q1.006'"),
    (lambda t: t["params"]["layers"][0].update(layer="NDVI"),
     "task.json: params.layers[0].layer: MOD13Q1.061 has no layer 'NDVI' (it has _250m_16_days_EVI, "
     "_250m_16_days_NDVI, _250m_16_days_VI_Quality)"),
    (lambda t: t["params"]["output"].update(projection="utm"),
     "task.json: params.output.projection: 'utm' is not a projection AppEEARS knows (native, geographic, sinu_modis)"),
    (lambda t: t["params"]["output"]["format"].update(type="tiff"),
     "task.json: params.output.format.type: must be one of geotiff, netcdf4, not 'tiff'"),
    (lambda t: t["params"]["geo"]["features"][0]["geometry"].update(type="Point"),
     "task.json: params.geo.features[0]: must be a Polygon or MultiPolygon"),
])
def test_what_appeears_would_refuse_is_refused_before_sending(change: Any, message: str) -> None:
    task = copy.deepcopy(AREA_TASK)
    change(task)
    with pytest.raises(TaskError) as caught:
        _check(task)
    assert str(caught.value) == message


def test_points_out_of_range_are_refused() -> None:
    task = copy.deepcopy(POINT_TASK)
    task["params"]["coordinates"][1]["latitude"] = 91
    with pytest.raises(TaskError, match=r"^task\.json: params\.coordinates\[1\]\.latitude: must be a number from "
                                        r"-90 to 90, not 91$"):
        _check(task)


def test_layer_and_coordinate_flags() -> None:
    assert parse_layers("A.1,x; B.2,_y") == [{"product": "A.1", "layer": "x"}, {"product": "B.2", "layer": "_y"}]
    assert parse_coordinates("42.5,-72.1") == [{"latitude": 42.5, "longitude": -72.1}]
    with pytest.raises(TaskError, match="give PRODUCT.VERSION,LAYER"):
        parse_layers(["NDVI"])
    with pytest.raises(TaskError, match="latitude and longitude must be numbers"):
        parse_coordinates("a,b,north,east")
