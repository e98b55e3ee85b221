"""Acquisition times, satellites, orbits, pass direction and looks from granules, parameter files and names."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest

from adapters.hyp3.acquisitions import (
    Acquisition,
    Identification,
    describe,
    granule_acquisition,
    read_opera_identification,
)
from adapters.hyp3.names import parse_product_name
from adapters.hyp3.parameters import ParameterFile, parse_parameters

#: the opening of the parameter file of a real Sentinel-1B burst pair (as hyp3-isce2's tests show it)
ISCE2_PARAMETERS = """\
Reference Granule: S1_372326_IW3_20180628T151555_VV_4673-BURST
Secondary Granule: S1_372326_IW3_20190705T151602_VV_D62F-BURST
Reference Pass Direction: DESCENDING
Reference Orbit Number: 11575
Secondary Pass Direction: DESCENDING
Secondary Orbit Number: 17000
Baseline: 7.636373874371554
UTC time: 54955.501598
Heading: -163.184113207136
Spacecraft height: 693000.0
Range looks: 2
Azimuth looks: 10
Water mask: yes
"""
BURST_PRODUCT = "S1_372326_IW3_20180628_20190705_VV_INT40_4A1B"
BURSTS = {"granules": ["S1_372326_IW3_20180628T151555_VV_4673-BURST", "S1_372326_IW3_20190705T151602_VV_D62F-BURST"],
          "looks": "10x2"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_parameter_file_fields() -> None:
    assert parse_parameters(ISCE2_PARAMETERS) == ParameterFile(
        reference_granules=("S1_372326_IW3_20180628T151555_VV_4673-BURST",),
        secondary_granules=("S1_372326_IW3_20190705T151602_VV_D62F-BURST",),
        reference_pass_direction="descending", secondary_pass_direction="descending",
        reference_orbit=11575, secondary_orbit=17000, heading=-163.184113207136, utc_time=54955.501598,
        range_looks=2, azimuth_looks=10)


def test_multi_burst_granules_are_split_at_commas() -> None:
    text = ("Reference Granule: S1_136231_IW2_20200604T022312_VV_7C85-BURST, "
            "S1_136232_IW2_20200604T022315_VV_7C85-BURST\n"
            "Secondary Granule: S1_136231_IW2_20200616T022313_VV_5D11-BURST,"
            "S1_136232_IW2_20200616T022316_VV_5D11-BURST\n")
    parsed = parse_parameters(text)
    assert parsed.reference_granules == ("S1_136231_IW2_20200604T022312_VV_7C85-BURST",
                                         "S1_136232_IW2_20200604T022315_VV_7C85-BURST")
    assert parsed.secondary_granules == ("S1_136231_IW2_20200616T022313_VV_5D11-BURST",
                                         "S1_136232_IW2_20200616T022316_VV_5D11-BURST")


def test_a_value_that_does_not_read_is_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.hyp3.parameters"):
        parsed = parse_parameters("Reference Orbit Number: n/a\nHeading: -12.5\nRange looks: twenty\n",
                                  source="X.txt")
    assert (parsed.reference_orbit, parsed.heading, parsed.range_looks) == (None, -12.5, None)
    assert [r.getMessage() for r in caplog.records] == [
        "X.txt: reference orbit number 'n/a' is not a whole number; ignored",
        "X.txt: range looks 'twenty' is not a whole number; ignored",
    ]


@pytest.mark.parametrize(("granule", "expected"), [
    ("S1A_IW_GRDH_1SDV_20210214T154837_20210214T154901_036588_044C54_032E",
     Acquisition(utc(2021, 2, 14, 15, 48, 37), utc(2021, 2, 14, 15, 49, 1), "sentinel-1a", 36588, 116)),
    ("S1B_IW_SLC__1SSH_20170227T204628_20170227T204655_004491_007D11_6654",
     Acquisition(utc(2017, 2, 27, 20, 46, 28), utc(2017, 2, 27, 20, 46, 55), "sentinel-1b", 4491, 90)),
    ("S1_136231_IW2_20200604T022312_VV_7C85-BURST",
     Acquisition(utc(2020, 6, 4, 2, 23, 12), utc(2020, 6, 4, 2, 23, 12), relative_orbit=64)),
    ("S2B_MSIL1C_20200612T150759_N0209_R025_T22WEB_20200612T184700",
     Acquisition(utc(2020, 6, 12, 15, 7, 59), utc(2020, 6, 12, 15, 7, 59), "sentinel-2b", relative_orbit=25)),
    ("LC08_L1TP_009011_20200703_20200913_02_T1", Acquisition(utc(2020, 7, 3), utc(2020, 7, 3), "landsat-8")),
    ("S1A_IW_GRDH_1SDV_20211314T154837_20211314T154901_036588_044C54_032E", None),  # month 13
    ("S1_000000_IW2_20200604T022312_VV_7C85-BURST", None),                           # no such burst id
    ("not-a-granule", None),
])
def test_what_a_granule_name_says(granule: str, expected: Acquisition | None) -> None:
    assert granule_acquisition(granule) == expected


def test_burst_pair_times_come_from_the_job_and_orbits_from_the_parameter_file() -> None:
    scenes = describe(parse_product_name(BURST_PRODUCT), BURSTS, parse_parameters(ISCE2_PARAMETERS))
    # the S1B satellite: from orbit 11575 in June 2018, on the burst's track 174
    assert scenes.reference == Acquisition(utc(2018, 6, 28, 15, 15, 55), utc(2018, 6, 28, 15, 15, 55),
                                           "sentinel-1b", 11575, 174)
    assert scenes.secondary == Acquisition(utc(2019, 7, 5, 15, 16, 2), utc(2019, 7, 5, 15, 16, 2),
                                           "sentinel-1b", 17000, 174)
    assert (scenes.start, scenes.end) == (utc(2018, 6, 28, 15, 15, 55), utc(2019, 7, 5, 15, 16, 2))
    assert (scenes.orbit_state, scenes.looks_range, scenes.looks_azimuth) == ("descending", 2, 10)


def test_without_job_granules_the_parameter_file_gives_them() -> None:
    scenes = describe(parse_product_name(BURST_PRODUCT), {}, parse_parameters(ISCE2_PARAMETERS))
    assert scenes.reference.start == utc(2018, 6, 28, 15, 15, 55)
    assert scenes.secondary is not None and scenes.secondary.start == utc(2019, 7, 5, 15, 16, 2)


def test_without_parameter_file_looks_come_from_the_job_and_no_orbit_is_made_up() -> None:
    scenes = describe(parse_product_name(BURST_PRODUCT), BURSTS, None)
    assert scenes.reference == Acquisition(utc(2018, 6, 28, 15, 15, 55), utc(2018, 6, 28, 15, 15, 55),
                                           relative_orbit=174)
    assert (scenes.orbit_state, scenes.looks_range, scenes.looks_azimuth) == (None, 10, 2)


def test_the_heading_gives_the_pass_direction_when_the_file_does_not() -> None:
    parameters = parse_parameters("Heading: -12.1\n")
    assert describe(parse_product_name(BURST_PRODUCT), BURSTS, parameters).orbit_state == "ascending"


def test_granules_of_another_scene_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    other = {"granules": ["S1_372326_IW3_20180710T151556_VV_4673-BURST", "S1_372326_IW3_20190705T151602_VV_D62F-BURST"]}
    with caplog.at_level(logging.WARNING, logger="adapters.hyp3.acquisitions"):
        scenes = describe(parse_product_name(BURST_PRODUCT), other, None)
    assert scenes.reference.start == utc(2018, 6, 28)  # the product name's date: the job's granule is not its scene
    assert scenes.secondary is not None and scenes.secondary.start == utc(2019, 7, 5, 15, 16, 2)
    assert [r.getMessage() for r in caplog.records] == [
        f"{BURST_PRODUCT}: the reference granules of the job (S1_372326_IW3_20180710T151556_VV_4673-BURST) are "
        "not of the product's reference scene (2018-06-28): ignored"]


def test_rtc_scene_spans_its_granule() -> None:
    product = parse_product_name("S1A_IW_20210214T154837_DVP_RTC30_G_gpuned_0AEA")
    scenes = describe(product, {"granules": ["S1A_IW_GRDH_1SDV_20210214T154837_20210214T154901_036588_044C54_032E"]},
                      None)
    assert scenes.secondary is None
    assert scenes.reference == Acquisition(utc(2021, 2, 14, 15, 48, 37), utc(2021, 2, 14, 15, 49, 1),
                                           "sentinel-1a", 36588, 116)


def test_gunw_scenes_come_from_the_granules_it_lists() -> None:
    product = parse_product_name("S1-GUNW-D-R-066-tops-20191231_20181212-192812-12746E_00445S-PP-4bb3-v3_0_1")
    listed = (["S1A_IW_SLC__1SDV_20191231T192746_20191231T192813_030588_002E82_93BE",
               "S1A_IW_SLC__1SDV_20191231T192811_20191231T192838_030588_002E82_197F"],
              ["S1A_IW_SLC__1SDV_20181212T192746_20181212T192813_024988_8A68C4_9613"])
    scenes = describe(product, {"reference_date": "2019-12-31", "secondary_date": "2018-12-12", "frame_id": 1}, None,
                      listed)
    assert scenes.reference == Acquisition(utc(2019, 12, 31, 19, 27, 46), utc(2019, 12, 31, 19, 28, 38),
                                           "sentinel-1a", 30588, 66)
    assert scenes.secondary == Acquisition(utc(2018, 12, 12, 19, 27, 46), utc(2018, 12, 12, 19, 28, 13),
                                           "sentinel-1a", 24988, 66)
    assert scenes.orbit_state == "descending"  # the name's D


OPERA = "OPERA_L2_RTC-S1_T035-073251-IW2_20200128T020712Z_20200214T145807Z_S1A_30_v1.0"


def _opera_h5(path: Path, **identification: object) -> Path:
    """An HDF5 file with the ``/identification`` datasets OPERA's RTC-S1 writer creates (strings as bytes)."""
    with h5py.File(path, "w") as h5:
        for key, value in identification.items():
            h5.create_dataset(f"identification/{key}", data=np.bytes_(value) if isinstance(value, str) else value)
    return path


def test_opera_identification_gives_the_burst_span_orbit_and_direction(tmp_path: Path) -> None:
    h5 = _opera_h5(tmp_path / "opera.h5", absoluteOrbitNumber=30907, trackNumber=35, orbitPassDirection="ascending",
                   zeroDopplerStartTime="2020-01-28T02:07:12.650178Z", zeroDopplerEndTime="2020-01-28T02:07:15.408451Z")
    identification = read_opera_identification(h5, what="job x")
    start = utc(2020, 1, 28, 2, 7, 12).replace(microsecond=650178)
    end = utc(2020, 1, 28, 2, 7, 15).replace(microsecond=408451)
    assert identification == Identification(start, end, 30907, "ascending")
    scenes = describe(parse_product_name(OPERA), {"granules": ["S1_073251_IW2_20200128T020712_VV_2944-BURST"]}, None,
                      identification=identification)
    assert scenes.reference == Acquisition(start, end, "sentinel-1a", 30907, 35)
    assert scenes.orbit_state == "ascending"


def test_an_hdf5_file_without_identification_gives_nothing(tmp_path: Path) -> None:
    assert read_opera_identification(_opera_h5(tmp_path / "other.h5", productVersion="1.0"), what="job x") is None
    bad_time = _opera_h5(tmp_path / "bad.h5", zeroDopplerStartTime="soon", zeroDopplerEndTime="later")
    assert read_opera_identification(bad_time, what="job x") is None
