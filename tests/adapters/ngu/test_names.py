"""NGU names: bounding boxes (normalised, refused before any request) and result file names."""

from __future__ import annotations

import pytest

from adapters.errors import BadProductError, RequestRejectedError
from adapters.ngu.names import bbox_text, collection_id, normalise_bbox, orbit_state, parse_result_name


def test_the_api_pages_upside_down_example_is_normalised() -> None:
    assert normalise_bbox([20.1404, 69.3438, 20.1827, 69.3293]) == (20.1404, 69.3293, 20.1827, 69.3438)
    assert normalise_bbox("20.1827,69.3293,20.1404,69.3438") == (20.1404, 69.3293, 20.1827, 69.3438)
    assert bbox_text((20.1404, 69.3293, 20.1827, 69.3438)) == "20.1404,69.3293,20.1827,69.3438"


@pytest.mark.parametrize(("bbox", "message"), [
    ([190.0, 60.0, 10.0, 61.0], "bbox: longitude 190 is outside [-180, 180]"),
    ([10.0, -91.0, 11.0, 61.0], "bbox: latitude -91 is outside [-90, 90]"),
    ([10.0, 60.0, 10.0, 61.0], "bbox: [10.0, 60.0, 10.0, 61.0] is an empty box (no width or no height)"),
    ([10.0, 60.0, 11.0], "bbox: [10.0, 60.0, 11.0] is not four numbers lon1,lat1,lon2,lat2"),
    ("10,60,eleven,61", "bbox: '10,60,eleven,61' is not four numbers lon1,lat1,lon2,lat2"),
])
def test_bad_boxes_are_refused_with_the_reason(bbox: object, message: str) -> None:
    with pytest.raises(RequestRejectedError) as info:
        normalise_bbox(bbox)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_result_names_say_track_swath_burst_and_dataset() -> None:
    name = parse_result_name("160-IW1-414-in-asc1-v20a.csv.gz")
    assert (name.track, name.swath, name.burst, name.dataset) == (160, "IW1", 414, "in-asc1-v20a")
    assert name.item_id == "160-IW1-414-in-asc1-v20a"
    assert name.orbit_state == "ascending"
    assert orbit_state("in-dsc2-v20a") == "descending"
    assert collection_id("in-asc1-v20a") == "ngu-insar-in-asc1-v20a"
    with pytest.raises(BadProductError, match="'results.csv.gz': not named <track>-<swath>-<burst>-<dataset>"):
        parse_result_name("results.csv.gz")
