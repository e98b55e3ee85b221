"""Sentinel-1 orbit arithmetic, checked against orbits and tracks of real products."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from adapters.hyp3.orbits import (
    orbit_state_of_heading,
    platform_of_orbit,
    relative_orbit,
    relative_orbit_of_burst,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(("platform", "absolute", "track"), [
    # ESA's Mission Performance Centre, on the STEP forum: both scenes are on track 30
    ("sentinel-1a", 18302, 30),   # S1A_IW_GRDH_1SDV_20170909T175748_20170909T175813_018302_01EC88_98A1
    ("sentinel-1b", 7231, 30),    # S1B_IW_GRDH_1SDV_20170903T175659_20170903T175724_007231_00CBEF_874B
    # the HyP3 API page's autoRIFT pair: S1A and S1B six days apart over the same ground, so one track
    ("sentinel-1a", 15387, 90),   # S1A_IW_SLC__1SSH_20170221T204710_20170221T204737_015387_0193F6_AB07
    ("sentinel-1b", 4491, 90),    # S1B_IW_SLC__1SSH_20170227T204628_20170227T204655_004491_007D11_6654
    # and its InSAR pair, 24 days apart
    ("sentinel-1a", 31091, 44),   # S1A_IW_SLC__1SDV_20200203T172103_20200203T172122_031091_03929B_3048
    ("sentinel-1a", 30741, 44),   # S1A_IW_SLC__1SDV_20200110T172104_20200110T172123_030741_03864E_A996
    # a real S1B burst pair of hyp3-isce2's tests: orbit 11575, burst 372326 (track 174, below)
    ("sentinel-1b", 11575, 174),
    # S1C: a real orbit (sentineleof's test), the last orbit before the June 2026 reconfiguration, the first after
    ("sentinel-1c", 1681, 110),
    ("sentinel-1c", 8018, 147),
    ("sentinel-1c", 8019, 46),
    # S1D's first products (s1-reader: orbit 2389 is track 73, as their manifest says)
    ("sentinel-1d", 2389, 73),
])
def test_relative_orbit_of_real_scenes(platform: str, absolute: int, track: int) -> None:
    assert relative_orbit(platform, absolute) == track


def test_relative_orbit_of_other_platforms_is_unknown() -> None:
    assert relative_orbit("sentinel-2a", 18302) is None
    assert relative_orbit("sentinel-1a", 0) is None


@pytest.mark.parametrize(("burst_id", "track"), [
    (136231, 64),    # the OPERA burst t064_136231_iw2 (also the HyP3 API page's burst example)
    (372326, 174),   # the S1B burst of orbit 11575 above
    (1, 1),
    (375887, 175),   # the last ESA burst id
])
def test_track_of_an_esa_burst_id(burst_id: int, track: int) -> None:
    assert relative_orbit_of_burst(burst_id) == track


@pytest.mark.parametrize("burst_id", [0, 375888])
def test_a_burst_id_out_of_range_is_refused(burst_id: int) -> None:
    with pytest.raises(ValueError, match=f"{burst_id} is not an ESA burst id"):
        relative_orbit_of_burst(burst_id)


@pytest.mark.parametrize(("absolute", "when", "track", "platform"), [
    (11575, utc(2018, 6, 28, 15, 15, 55), None, "sentinel-1b"),    # hyp3-isce2's S1B pair
    (11575, utc(2018, 6, 28, 15, 15, 55), 174, "sentinel-1b"),
    (58630, utc(2025, 4, 6, 2, 20, 8), 108, "sentinel-1a"),        # S1A_IW_SLC__1SDV_20250406T022008_..._058630_...
    (31091, utc(2020, 2, 3, 17, 21, 3), 44, "sentinel-1a"),
    (8018, utc(2026, 6, 8, 12), None, "sentinel-1c"),
    (58630, utc(2025, 4, 6, 2, 20, 8), 107, None),                 # not that orbit's track
    (11575, utc(2022, 6, 28), None, None),                         # no satellite flew orbit 11575 then
    (20000, utc(2013, 1, 1), None, None),                          # before any launch
])
def test_the_satellite_of_an_orbit_number_and_date(absolute: int, when: datetime, track: int | None,
                                                    platform: str | None) -> None:
    assert platform_of_orbit(absolute, when, track) == platform


@pytest.mark.parametrize(("heading", "state"), [
    (-15.3974576912639, "ascending"),    # a real S1A ascending pair's parameter file
    (-163.184113207136, "descending"),   # a real S1B descending pair's parameter file
    (345.0, "ascending"),
    (195.0, "descending"),
    (90.0, None),
    (-88.0, None),
])
def test_pass_direction_from_the_heading(heading: float, state: str | None) -> None:
    assert orbit_state_of_heading(heading) == state
