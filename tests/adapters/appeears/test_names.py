"""AppEEARS file names: what they say, and bundle names that must stay inside the task's folder."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from adapters.appeears.names import (NameError_, bundle_path, collection_id, normal_key, parse_layer_file,
                                     parse_netcdf_file)
from adapters.appeears.products import composite_end
from adapters.errors import UnsafePathError
from harvester.downloads import safe_target

UTC = timezone.utc


def test_layer_names_starting_with_underscore_and_products_with_underscores() -> None:
    ndvi = parse_layer_file("MOD13Q1.061_2020001_to_2020366\\MOD13Q1.061__250m_16_days_NDVI_doy2020049_aid0001.tif")
    assert (ndvi.product, ndvi.version, ndvi.layer, ndvi.aid) == ("MOD13Q1", "061", "_250m_16_days_NDVI", 1)
    assert ndvi.start == datetime(2020, 2, 18, tzinfo=UTC)
    srtm = parse_layer_file("SRTMGL1_NC.003_SRTMGL1_DEM_doy2000042_aid0012.tif")
    assert (srtm.product_id, srtm.layer, srtm.aid) == ("SRTMGL1_NC.003", "SRTMGL1_DEM", 12)


def test_newer_names_carry_a_time_of_day() -> None:
    parsed = parse_layer_file("ECO2LSTE.001/ECO2LSTE.001_SDS_LST_doy2005193000000_aid0001.tif")
    assert parsed.start == datetime(2005, 7, 12, 0, 0, 0, tzinfo=UTC)
    later = parse_layer_file("ECO2LSTE.001_SDS_LST_doy2018200134501_aid0002.tif")
    assert later.start == datetime(2018, 7, 19, 13, 45, 1, tzinfo=UTC)
    assert later.date_key == "2018200134501"


@pytest.mark.parametrize("name", ["MOD13Q1.061_NDVI_doy2019366_aid0001.tif", "MOD13Q1.061_NDVI_doy2020000_aid0001.tif",
                                  "MOD13Q1_NDVI_doy2020001_aid0001.tif", "MOD13Q1.061_NDVI_aid0001.tif",
                                  "MOD13Q1.061_NDVI_doy2020001_aid0001.nc"])
def test_names_that_are_not_area_layers_are_refused(name: str) -> None:
    with pytest.raises(NameError_):
        parse_layer_file(name)


def test_netcdf_names() -> None:
    parsed = parse_netcdf_file("MOD13Q1.061_250m_aid0003.nc")
    assert (parsed.product_id, parsed.resolution, parsed.aid) == ("MOD13Q1.061", "250m", 3)


@pytest.mark.parametrize(("given", "expected"), [
    ("MCD12Q2.006_2010001_to_2010365\\MCD12Q2.006_Greenup_0_doy2010001_aid0001.tif",
     "MCD12Q2.006_2010001_to_2010365/MCD12Q2.006_Greenup_0_doy2010001_aid0001.tif"),
    ("a/b\\c.txt", "a/b/c.txt"),
    ("README.md", "README.md"),
])
def test_bundle_names_use_either_separator(given: str, expected: str) -> None:
    assert bundle_path(given) == expected


@pytest.mark.parametrize(("given", "reason"), [
    ("..\\..\\escaped.txt", "contains '..'"), ("folder/../../x.tif", "contains '..'"),
    ("/etc/passwd", "is absolute"), ("\\\\server\\share\\x.tif", "is absolute"), ("C:\\x.tif", "is absolute"),
    ("bad\x00name.txt", "contains NUL"), ("a//b.txt", "empty or '.' part"), ("./a.txt", "empty or '.' part"),
    ("", "is empty"),
])
def test_bundle_names_that_could_leave_the_folder_are_refused(given: str, reason: str) -> None:
    with pytest.raises(UnsafePathError, match=reason.replace("(", r"\(").replace(".", r"\.")):
        bundle_path(given)


def test_an_accepted_bundle_name_lands_inside_the_download_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = safe_target(tmp_path, bundle_path("MCD12Q2.006_2010001_to_2010365\\a.tif"))
    assert target == tmp_path.resolve() / "MCD12Q2.006_2010001_to_2010365" / "a.tif"


def test_loose_keys_and_collection_ids() -> None:
    assert normal_key("MCD12Q2-006-QA-Detailed-0") == normal_key("MCD12Q2.006_QA_Detailed_0") == "mcd12q2006qadetailed0"
    assert collection_id("SRTMGL1_NC", "003") == "appeears-srtmgl1-nc-003"
    assert collection_id("MCD12Q2", "006") == "appeears-mcd12q2-006"


@pytest.mark.parametrize(("start", "granularity", "end"), [
    (datetime(2020, 2, 18, tzinfo=UTC), "16 day", datetime(2020, 3, 4, 23, 59, 59, tzinfo=UTC)),
    (datetime(2020, 12, 18, tzinfo=UTC), "16 day", datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC)),
    (datetime(2021, 12, 27, tzinfo=UTC), "8 day", datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)),
    (datetime(2020, 2, 1, tzinfo=UTC), "Monthly", datetime(2020, 2, 29, 23, 59, 59, tzinfo=UTC)),
    (datetime(2010, 1, 1, tzinfo=UTC), "Yearly", datetime(2010, 12, 31, 23, 59, 59, tzinfo=UTC)),
    (datetime(2010, 5, 3, tzinfo=UTC), "Daily", datetime(2010, 5, 3, 23, 59, 59, tzinfo=UTC)),
])
def test_composite_periods(start: datetime, granularity: str, end: datetime) -> None:
    assert composite_end(start, granularity) == end


def test_a_single_time_product_has_no_period() -> None:
    assert composite_end(datetime(2000, 2, 11, tzinfo=UTC), "Static") is None
