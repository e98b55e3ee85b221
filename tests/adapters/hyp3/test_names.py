"""HyP3 product names (adapters.hyp3.names): every form, the file names built on them, and names that are not."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from adapters.errors import BadProductError
from adapters.hyp3 import names
from adapters.hyp3.names import (
    JOB_TYPES,
    ProductName,
    UnknownProductNameError,
    parse_product_name,
    split_file_name,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# Names as given in PROVIDERS.md, the seed page (seeds/hyp3-api.txt) and the task, verbatim.
RTC = "S1A_IW_20150621T120220_SVP_RTC30_G_gpuned_0AEA"
INSAR = "S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ueF_4D09"
BURST = "S1_136231_IW2_20200604_20200616_VV_INT80_12E3"
MULTI_BURST = "S1_123_111111s1n02-111111s2n01-000000s3n00_IW_20240101_20240115_VV_INT80_AEB4"
GUNW = "S1-GUNW-D-R-163-tops-20250527_20250503-212910-00121E_00010S-PP-07c7-v3_0_1"
OPERA = "OPERA_L2_RTC-S1_T069-147170-IW1_20231017T134359Z_20231018T071238Z_S1A_30_v1.0"
# autoRIFT names are `<ref>_X_<sec>_G0120V02_P<valid%>`; the granule pairs are the seed page's autoRIFT examples.
S1_REF = "S1A_IW_SLC__1SSH_20170221T204710_20170221T204737_015387_0193F6_AB07"
S1_SEC = "S1B_IW_SLC__1SSH_20170227T204628_20170227T204655_004491_007D11_6654"
S2_REF = "S2B_MSIL1C_20200612T150759_N0209_R025_T22WEB_20200612T184700"
S2_SEC = "S2A_MSIL1C_20200627T150921_N0209_R025_T22WEB_20200627T170912"
L8_REF = "LC08_L1TP_009011_20200703_20200913_02_T1"
L8_SEC = "LC08_L1TP_009011_20200820_20200905_02_T1"
AUTORIFT_S1 = f"{S1_REF}_X_{S1_SEC}_G0120V02_P099"
AUTORIFT_S2 = f"{S2_REF}_X_{S2_SEC}_G0120V02_P071"
AUTORIFT_L8 = f"{L8_REF}_X_{L8_SEC}_G0120V02_P085"
# A real ITS_LIVE on-demand name (hyp3-autorift appends _IL_ASF_OD by default).
AUTORIFT_OD = ("LC08_L1TP_231011_20210319_20210328_02_T2_X_LC08_L1TP_231011_20210404_20210409_02_T1"
               "_G0120V02_P039_IL_ASF_OD")

SEED_GRANULES = [  # inputs of jobs on the seed page: granules, not products
    "S1A_IW_GRDH_1SDV_20210214T154837_20210214T154901_036588_044C54_032E",
    "S1B_IW_GRDH_1SDV_20210210T153157_20210210T153222_025546_030B48_2901",
    "S1A_IW_SLC__1SSV_20150621T120220_20150621T120232_006471_008934_72D8",
    "S1_073251_IW2_20200128T020712_VV_2944-BURST",
    "S1_136231_IW2_20200604T022312_VV_7C85-BURST",
    "S1_136232_IW2_20200616T022316_VV_5D11-BURST",
    S1_REF,
    S2_SEC,
    L8_REF,
]


def rtc(name: str, platform: str, start: datetime, polarizations: tuple[str, ...], orbit: str, spacing: float,
        product_id: str, **options: object) -> ProductName:
    return ProductName(name=name, job_type="RTC_GAMMA", platforms=(platform,), constellation="sentinel-1",
                       start=start, end=start, reference=None, secondary=None, polarizations=polarizations,
                       orbit=orbit, pixel_spacing=spacing, product_id=product_id, options=dict(options))


EXAMPLES = [
    # --- RTC_GAMMA
    rtc(RTC, "sentinel-1a", utc(2015, 6, 21, 12, 2, 20), ("VV",), "precise", 30.0, "0AEA",
        beam_mode="IW", software="GAMMA", radiometry="gamma0", scale="power", masked=False, speckle_filter=False,
        clipped=False, dem_matching=False, flags="gpuned"),
    rtc("S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A", "sentinel-1a", utc(2018, 1, 28, 16, 12, 1),  # RTC guide
        ("VV", "VH"), "precise", 30.0, "FD6A", beam_mode="IW", software="GAMMA", radiometry="gamma0",
        scale="power", masked=False, speckle_filter=False, clipped=False, dem_matching=False, flags="gpuned"),
    rtc("S1B_IW_20210210T153157_DVR_RTC10_G_sdufcm_4E31", "sentinel-1b", utc(2021, 2, 10, 15, 31, 57),
        ("VV", "VH"), "restituted", 10.0, "4E31", beam_mode="IW", software="GAMMA", radiometry="sigma0",
        scale="decibel", masked=False, speckle_filter=True, clipped=True, dem_matching=True, flags="sdufcm"),
    rtc("S1C_EW_20250301T010203_DHO_RTC20_G_gawnem_12AB", "sentinel-1c", utc(2025, 3, 1, 1, 2, 3),
        ("HH", "HV"), "predicted", 20.0, "12AB", beam_mode="EW", software="GAMMA", radiometry="gamma0",
        scale="amplitude", masked=True, speckle_filter=False, clipped=False, dem_matching=True, flags="gawnem"),
    rtc("S1A_IW_20200101T000000_SHP_RTC30_G_spmned_00FF", "sentinel-1a", utc(2020, 1, 1), ("HH",), "precise",
        30.0, "00FF", beam_mode="IW", software="GAMMA", radiometry="sigma0", scale="power", masked=True,
        speckle_filter=False, clipped=False, dem_matching=False, flags="spmned"),  # "m" read as masked too
    # --- INSAR_GAMMA
    ProductName(
        name=INSAR, job_type="INSAR_GAMMA", platforms=("sentinel-1a", "sentinel-1b"), constellation="sentinel-1",
        start=utc(2017, 11, 11, 15, 0, 4), end=utc(2017, 11, 17, 14, 59, 26),
        reference=utc(2017, 11, 11, 15, 0, 4), secondary=utc(2017, 11, 17, 14, 59, 26), polarizations=("VV",),
        orbit="precise", pixel_spacing=80.0, product_id="4D09",
        options={"temporal_baseline_days": 6, "software": "GAMMA", "masked": False, "clipped": False,
                 "swaths": ["IW1", "IW2", "IW3"], "flags": "ueF"},
    ),
    ProductName(  # real (MintPy test data): Sentinel-1C, HH, restituted orbit, 40 m
        name="S1AC_20251001T204513_20251007T204359_HHR006_INT40_G_ueF_1DBE", job_type="INSAR_GAMMA",
        platforms=("sentinel-1a", "sentinel-1c"), constellation="sentinel-1",
        start=utc(2025, 10, 1, 20, 45, 13), end=utc(2025, 10, 7, 20, 43, 59),
        reference=utc(2025, 10, 1, 20, 45, 13), secondary=utc(2025, 10, 7, 20, 43, 59), polarizations=("HH",),
        orbit="restituted", pixel_spacing=40.0, product_id="1DBE",
        options={"temporal_baseline_days": 6, "software": "GAMMA", "masked": False, "clipped": False,
                 "swaths": ["IW1", "IW2", "IW3"], "flags": "ueF"},
    ),
    ProductName(  # the seed's minimal InSAR pair: the reference is the later scene, so start is the secondary
        name="S1AA_20200203T172103_20200110T172104_VVP024_INT80_G_wc2_00AB", job_type="INSAR_GAMMA",
        platforms=("sentinel-1a",), constellation="sentinel-1",
        start=utc(2020, 1, 10, 17, 21, 4), end=utc(2020, 2, 3, 17, 21, 3),
        reference=utc(2020, 2, 3, 17, 21, 3), secondary=utc(2020, 1, 10, 17, 21, 4), polarizations=("VV",),
        orbit="precise", pixel_spacing=80.0, product_id="00AB",
        options={"temporal_baseline_days": 24, "software": "GAMMA", "masked": True, "clipped": True,
                 "swaths": ["IW2"], "flags": "wc2"},
    ),
    # --- INSAR_ISCE_BURST
    ProductName(
        name=BURST, job_type="INSAR_ISCE_BURST", platforms=(), constellation="sentinel-1",
        start=utc(2020, 6, 4), end=utc(2020, 6, 16), reference=utc(2020, 6, 4), secondary=utc(2020, 6, 16),
        polarizations=("VV",), orbit=None, pixel_spacing=80.0, product_id="12E3",
        options={"burst_id": 136231, "swath": "IW2", "beam_mode": "IW"},
    ),
    ProductName(  # real (MintPy docs)
        name="S1_213524_IW1_20170411_20170517_HH_INT40_8E81", job_type="INSAR_ISCE_BURST", platforms=(),
        constellation="sentinel-1", start=utc(2017, 4, 11), end=utc(2017, 5, 17), reference=utc(2017, 4, 11),
        secondary=utc(2017, 5, 17), polarizations=("HH",), orbit=None, pixel_spacing=40.0, product_id="8E81",
        options={"burst_id": 213524, "swath": "IW1", "beam_mode": "IW"},
    ),
    # --- INSAR_ISCE_MULTI_BURST (swaths with no bursts are left out of "bursts")
    ProductName(
        name=MULTI_BURST, job_type="INSAR_ISCE_MULTI_BURST", platforms=(), constellation="sentinel-1",
        start=utc(2024, 1, 1), end=utc(2024, 1, 15), reference=utc(2024, 1, 1), secondary=utc(2024, 1, 15),
        polarizations=("VV",), orbit=None, pixel_spacing=80.0, product_id="AEB4",
        options={"relative_orbit": 123, "beam_mode": "IW",
                 "bursts": [{"swath": "IW1", "first_burst_id": 111111, "count": 2},
                            {"swath": "IW2", "first_burst_id": 111111, "count": 1}]},
    ),
    ProductName(  # real (MintPy test data)
        name="S1_044_000000s1n00-093117s2n01-093118s3n01_IW_20250718_20250730_VV_INT80_B4FA",
        job_type="INSAR_ISCE_MULTI_BURST", platforms=(), constellation="sentinel-1",
        start=utc(2025, 7, 18), end=utc(2025, 7, 30), reference=utc(2025, 7, 18), secondary=utc(2025, 7, 30),
        polarizations=("VV",), orbit=None, pixel_spacing=80.0, product_id="B4FA",
        options={"relative_orbit": 44, "beam_mode": "IW",
                 "bursts": [{"swath": "IW2", "first_burst_id": 93117, "count": 1},
                            {"swath": "IW3", "first_burst_id": 93118, "count": 1}]},
    ),
    ProductName(  # "-" after the orbit, as an early hyp3-isce2 wrote it
        name="S1_064-000000s1n00-056069s2n04-000000s3n00_IW_20220814_20220907_VV_INT20_AB12",
        job_type="INSAR_ISCE_MULTI_BURST", platforms=(), constellation="sentinel-1",
        start=utc(2022, 8, 14), end=utc(2022, 9, 7), reference=utc(2022, 8, 14), secondary=utc(2022, 9, 7),
        polarizations=("VV",), orbit=None, pixel_spacing=20.0, product_id="AB12",
        options={"relative_orbit": 64, "beam_mode": "IW",
                 "bursts": [{"swath": "IW2", "first_burst_id": 56069, "count": 4}]},
    ),
    # --- AUTORIFT
    ProductName(
        name=AUTORIFT_S1, job_type="AUTORIFT", platforms=("sentinel-1a", "sentinel-1b"),
        constellation="sentinel-1", start=utc(2017, 2, 21, 20, 47, 10), end=utc(2017, 2, 27, 20, 46, 28),
        reference=utc(2017, 2, 21, 20, 47, 10), secondary=utc(2017, 2, 27, 20, 46, 28), polarizations=("HH",),
        orbit=None, pixel_spacing=120.0, product_id=None,
        options={"reference_granule": S1_REF, "secondary_granule": S1_SEC, "version": "02", "valid_percent": 99,
                 "its_live_od": False},
    ),
    ProductName(
        name=AUTORIFT_S2, job_type="AUTORIFT", platforms=("sentinel-2b", "sentinel-2a"),
        constellation="sentinel-2", start=utc(2020, 6, 12, 15, 7, 59), end=utc(2020, 6, 27, 15, 9, 21),
        reference=utc(2020, 6, 12, 15, 7, 59), secondary=utc(2020, 6, 27, 15, 9, 21), polarizations=(),
        orbit=None, pixel_spacing=120.0, product_id=None,
        options={"reference_granule": S2_REF, "secondary_granule": S2_SEC, "version": "02", "valid_percent": 71,
                 "its_live_od": False},
    ),
    ProductName(
        name=AUTORIFT_L8, job_type="AUTORIFT", platforms=("landsat-8",), constellation="landsat",
        start=utc(2020, 7, 3), end=utc(2020, 8, 20), reference=utc(2020, 7, 3), secondary=utc(2020, 8, 20),
        polarizations=(), orbit=None, pixel_spacing=120.0, product_id=None,
        options={"reference_granule": L8_REF, "secondary_granule": L8_SEC, "version": "02", "valid_percent": 85,
                 "its_live_od": False},
    ),
    ProductName(
        name=AUTORIFT_OD, job_type="AUTORIFT", platforms=("landsat-8",), constellation="landsat",
        start=utc(2021, 3, 19), end=utc(2021, 4, 4), reference=utc(2021, 3, 19), secondary=utc(2021, 4, 4),
        polarizations=(), orbit=None, pixel_spacing=120.0, product_id=None,
        options={"reference_granule": "LC08_L1TP_231011_20210319_20210328_02_T2",
                 "secondary_granule": "LC08_L1TP_231011_20210404_20210409_02_T1", "version": "02",
                 "valid_percent": 39, "its_live_od": True},
    ),
    ProductName(  # Landsat 7 with Landsat 9; Sentinel-2 COG ids below
        name="LE07_L1TP_009011_20200711_20200806_02_T1_X_LC09_L1TP_009011_20220703_20220704_02_T1_G0240V02_P010",
        job_type="AUTORIFT", platforms=("landsat-7", "landsat-9"), constellation="landsat",
        start=utc(2020, 7, 11), end=utc(2022, 7, 3), reference=utc(2020, 7, 11), secondary=utc(2022, 7, 3),
        polarizations=(), orbit=None, pixel_spacing=240.0, product_id=None,
        options={"reference_granule": "LE07_L1TP_009011_20200711_20200806_02_T1",
                 "secondary_granule": "LC09_L1TP_009011_20220703_20220704_02_T1", "version": "02",
                 "valid_percent": 10, "its_live_od": False},
    ),
    ProductName(
        name="S2B_22WEB_20200612_0_L1C_X_S2C_22WEB_20250627_1_L1C_G0120V02_P000", job_type="AUTORIFT",
        platforms=("sentinel-2b", "sentinel-2c"), constellation="sentinel-2", start=utc(2020, 6, 12),
        end=utc(2025, 6, 27), reference=utc(2020, 6, 12), secondary=utc(2025, 6, 27), polarizations=(),
        orbit=None, pixel_spacing=120.0, product_id=None,
        options={"reference_granule": "S2B_22WEB_20200612_0_L1C", "secondary_granule": "S2C_22WEB_20250627_1_L1C",
                 "version": "02", "valid_percent": 0, "its_live_od": False},
    ),
    # --- ARIA_S1_GUNW: the reference is the later date; both dates carry the name's (reference) time
    ProductName(
        name=GUNW, job_type="ARIA_S1_GUNW", platforms=(), constellation="sentinel-1",
        start=utc(2025, 5, 3, 21, 29, 10), end=utc(2025, 5, 27, 21, 29, 10),
        reference=utc(2025, 5, 27, 21, 29, 10), secondary=utc(2025, 5, 3, 21, 29, 10), polarizations=("VV",),
        orbit=None, pixel_spacing=None, product_id="07c7",
        options={"orbit_state": "descending", "observation_direction": "right", "relative_orbit": 163,
                 "lon_lat": "00121E_00010S", "lon": 1.21, "lat": -0.1, "pp": "PP", "version": "3.0.1"},
    ),
    ProductName(
        name="S1-GUNW-A-L-064-tops-20200616_20200604-015948-00074W_00035N-PP-a1b2-v3_0_0", job_type="ARIA_S1_GUNW",
        platforms=(), constellation="sentinel-1", start=utc(2020, 6, 4, 1, 59, 48), end=utc(2020, 6, 16, 1, 59, 48),
        reference=utc(2020, 6, 16, 1, 59, 48), secondary=utc(2020, 6, 4, 1, 59, 48), polarizations=("VV",),
        orbit=None, pixel_spacing=None, product_id="a1b2",
        options={"orbit_state": "ascending", "observation_direction": "left", "relative_orbit": 64,
                 "lon_lat": "00074W_00035N", "lon": -0.74, "lat": 0.35, "pp": "PP", "version": "3.0.0"},
    ),
    # --- OPERA_RTC_S1
    ProductName(
        name=OPERA, job_type="OPERA_RTC_S1", platforms=("sentinel-1a",), constellation="sentinel-1",
        start=utc(2023, 10, 17, 13, 43, 59), end=utc(2023, 10, 17, 13, 43, 59), reference=None, secondary=None,
        polarizations=(), orbit=None, pixel_spacing=30.0, product_id=None,
        options={"opera_burst_id": "T069-147170-IW1", "relative_orbit": 69, "burst_id": 147170, "swath": "IW1",
                 "beam_mode": "IW", "processing_time": "2023-10-18T07:12:38Z", "version": "1.0"},
    ),
    ProductName(  # Sentinel-1B, for the burst of the seed's OPERA job (S1_073251_IW2_20200128T020712_VV_2944-BURST)
        name="OPERA_L2_RTC-S1_T004-073251-IW2_20200128T020712Z_20240305T171522Z_S1B_30_v1.0",
        job_type="OPERA_RTC_S1", platforms=("sentinel-1b",), constellation="sentinel-1",
        start=utc(2020, 1, 28, 2, 7, 12), end=utc(2020, 1, 28, 2, 7, 12), reference=None, secondary=None,
        polarizations=(), orbit=None, pixel_spacing=30.0, product_id=None,
        options={"opera_burst_id": "T004-073251-IW2", "relative_orbit": 4, "burst_id": 73251, "swath": "IW2",
                 "beam_mode": "IW", "processing_time": "2024-03-05T17:15:22Z", "version": "1.0"},
    ),
]


@pytest.mark.parametrize("expected", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_parse_product_name_reads_every_field(expected: ProductName) -> None:
    assert parse_product_name(expected.name) == expected


def test_the_gunw_corner_is_in_hundredths_of_a_degree() -> None:
    """A field like ``12771E_00420S`` (read in real product names) is 127.71 E, 4.20 S: 12771 degrees is no
    longitude. The rest of this name is made up around that field."""
    options = parse_product_name("S1-GUNW-A-R-088-tops-20240110_20231229-101455-12771E_00420S-PP-5e1f-v3_0_1").options
    assert (options["lon"], options["lat"]) == (127.71, -4.2)


def test_examples_cover_every_job_type() -> None:
    assert {example.job_type for example in EXAMPLES} == set(JOB_TYPES)
    assert {RTC, INSAR, BURST, MULTI_BURST, GUNW, OPERA, AUTORIFT_S1} <= {example.name for example in EXAMPLES}


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_times_are_utc_and_options_are_json(example: ProductName) -> None:
    parsed = parse_product_name(example.name)
    for moment in (parsed.start, parsed.end, parsed.reference, parsed.secondary):
        assert moment is None or moment.utcoffset() == timedelta(0)
    assert parsed.start <= parsed.end
    assert json.loads(json.dumps(parsed.options)) == parsed.options


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_a_name_fits_exactly_one_form(example: ProductName) -> None:
    """The forms do not overlap, so the order they are tried in does not matter."""
    assert sum(1 for pattern, _build in names._FORMS if pattern.fullmatch(example.name)) == 1


SEED_URL = "https://hyp3-contentbucket-fo259f6r6dn6.s3.us-west-2.amazonaws.com/20c377be-2511-46a8-b908-e015abd3c24e"

FILES = [
    # RTC_GAMMA: the archive, its entries (folder prefix) and the files published beside it (seed page, RTC guide)
    (f"{RTC}.zip", RTC, ".zip"),
    (f"{SEED_URL}/{RTC}.png", RTC, ".png"),
    (f"{SEED_URL}/{RTC}_thumb.png", RTC, "_thumb.png"),
    (f"{RTC}_rgb_thumb.png", RTC, "_rgb_thumb.png"),
    (f"{RTC}/{RTC}_VV.tif", RTC, "_VV.tif"),
    (f"{RTC}/{RTC}_VH.tif", RTC, "_VH.tif"),
    (f"{RTC}/{RTC}_ls_map.tif", RTC, "_ls_map.tif"),
    (f"{RTC}/{RTC}_inc_map.tif", RTC, "_inc_map.tif"),
    (f"{RTC}/{RTC}_area.tif", RTC, "_area.tif"),
    (f"{RTC}/{RTC}_dem.tif", RTC, "_dem.tif"),
    (f"{RTC}/{RTC}_rgb.tif", RTC, "_rgb.tif"),
    (f"{RTC}/{RTC}_rgb.png", RTC, "_rgb.png"),
    (f"{RTC}/{RTC}.kmz", RTC, ".kmz"),
    (f"{RTC}/{RTC}.README.md.txt", RTC, ".README.md.txt"),
    (f"{RTC}/{RTC}.log", RTC, ".log"),
    (f"{RTC}/{RTC}_VV.tif.xml", RTC, "_VV.tif.xml"),
    (f"{RTC}/{RTC}.png.aux.xml", RTC, ".png.aux.xml"),
    (f"{RTC}/{RTC}_shape.shp", RTC, "_shape.shp"),
    (f"{RTC}\\{RTC}_HH.tif", RTC, "_HH.tif"),  # a zip written on Windows
    (RTC, RTC, ""),
    # INSAR_GAMMA
    (f"{INSAR}.zip", INSAR, ".zip"),
    (f"{INSAR}/{INSAR}_unw_phase.tif", INSAR, "_unw_phase.tif"),
    (f"{INSAR}/{INSAR}_water_mask.tif", INSAR, "_water_mask.tif"),
    (f"{INSAR}/{INSAR}_color_phase.png", INSAR, "_color_phase.png"),
    (f"{INSAR}/{INSAR}.txt", INSAR, ".txt"),
    (f"{INSAR}/{INSAR}.README.md.txt", INSAR, ".README.md.txt"),
    # INSAR_ISCE_BURST and INSAR_ISCE_MULTI_BURST (README with an underscore)
    (f"{BURST}.zip", BURST, ".zip"),
    (f"{BURST}/{BURST}_README.md.txt", BURST, "_README.md.txt"),
    (f"{BURST}/{BURST}_wrapped_phase_rdr.tif", BURST, "_wrapped_phase_rdr.tif"),
    (f"{BURST}/{BURST}_conncomp.tif", BURST, "_conncomp.tif"),
    (f"{BURST}/{BURST}.txt", BURST, ".txt"),
    (f"{MULTI_BURST}.zip", MULTI_BURST, ".zip"),
    (f"{MULTI_BURST}/{MULTI_BURST}_unw_phase.png", MULTI_BURST, "_unw_phase.png"),
    (f"{MULTI_BURST}/{MULTI_BURST}_README.md.txt", MULTI_BURST, "_README.md.txt"),
    # AUTORIFT
    (f"{AUTORIFT_S1}.nc", AUTORIFT_S1, ".nc"),
    (f"{AUTORIFT_S2}.png", AUTORIFT_S2, ".png"),
    (f"{AUTORIFT_L8}_thumb.png", AUTORIFT_L8, "_thumb.png"),
    (f"{AUTORIFT_OD}.nc", AUTORIFT_OD, ".nc"),
    (f"{AUTORIFT_OD}_thumb.png", AUTORIFT_OD, "_thumb.png"),
    # ARIA_S1_GUNW
    (f"{GUNW}.nc", GUNW, ".nc"),
    (f"{SEED_URL}/{GUNW}.png", GUNW, ".png"),
    (f"{GUNW}.json", GUNW, ".json"),
    # OPERA_RTC_S1
    (f"{OPERA}_VV.tif", OPERA, "_VV.tif"),
    (f"{OPERA}_VH.tif", OPERA, "_VH.tif"),
    (f"{OPERA}_mask.tif", OPERA, "_mask.tif"),
    (f"{OPERA}.h5", OPERA, ".h5"),
    (f"{OPERA}.iso.xml", OPERA, ".iso.xml"),
    (f"{OPERA}_BROWSE.png", OPERA, "_BROWSE.png"),
]


@pytest.mark.parametrize(("file_name", "name", "suffix"), FILES, ids=[file for file, _, _ in FILES])
def test_split_file_name(file_name: str, name: str, suffix: str) -> None:
    product, rest = split_file_name(file_name)
    assert (product.name, rest) == (name, suffix)
    assert product == parse_product_name(name)


NOT_NAMES = [
    "",
    "hello",
    "foo.zip",
    "README.md.txt",
    " " + RTC,
    RTC + " ",
    # truncated
    "S1A_IW_20150621T120220_SVP_RTC30_G_gpuned",
    "S1A_IW_20150621T120220_SVP_RTC30_G_gpuned_0AE",
    "S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ueF",
    "S1_136231_IW2_20200604_VV_INT80_12E3",
    "S1_123_111111s1n02-111111s2n01_IW_20240101_20240115_VV_INT80_AEB4",
    "S1-GUNW-D-R-163-tops-20250527_20250503-212910-00121E_00010S-PP-07c7",
    "OPERA_L2_RTC-S1_T069-147170-IW1_20231017T134359Z_20231018T071238Z_S1A_30",
    f"{S1_REF}_G0120V02_P099",  # one granule only
    f"{S1_REF}_X_{S1_SEC}_G0120V02",
    # too long, or the wrong case
    RTC + "B",
    "S1A_IW_20150621T120220_SVP_RTC30_G_gpuned_0aea",
    "S1-GUNW-D-R-163-tops-20250527_20250503-212910-00121E_00010S-PP-07C7-v3_0_1",
    # impossible dates and times
    "S1A_IW_20151321T120220_SVP_RTC30_G_gpuned_0AEA",
    "S1A_IW_20150621T250220_SVP_RTC30_G_gpuned_0AEA",
    "S1A_IW_20150621T120260_SVP_RTC30_G_gpuned_0AEA",
    "S1AB_20171131T150004_20171117T145926_VVP006_INT80_G_ueF_4D09",
    "S1_136231_IW2_20200604_20201316_VV_INT80_12E3",
    "S1_123_111111s1n02-111111s2n01-000000s3n00_IW_20240001_20240115_VV_INT80_AEB4",
    "S1-GUNW-D-R-163-tops-20250527_20250503-242910-00121E_00010S-PP-07c7-v3_0_1",
    "OPERA_L2_RTC-S1_T069-147170-IW1_20231317T134359Z_20231018T071238Z_S1A_30_v1.0",
    f"{L8_REF}_X_LC08_L1TP_009011_20201320_20200905_02_T1_G0120V02_P085",
    # unknown platforms and letters
    "S1X_IW_20150621T120220_SVP_RTC30_G_gpuned_0AEA",
    "S1E_IW_20150621T120220_SVP_RTC30_G_gpuned_0AEA",
    "S2A_IW_20150621T120220_SVP_RTC30_G_gpuned_0AEA",
    "S1AX_20171111T150004_20171117T145926_VVP006_INT80_G_ueF_4D09",
    "OPERA_L2_RTC-S1_T069-147170-IW1_20231017T134359Z_20231018T071238Z_S1E_30_v1.0",
    f"S3A_IW_SLC__1SSH_20170221T204710_20170221T204737_015387_0193F6_AB07_X_{S1_SEC}_G0120V02_P099",
    f"{L8_REF}_X_LC03_L1TP_009011_20200820_20200905_02_T1_G0120V02_P085",
    "S1A_IW_20150621T120220_SVP_RTC30_G_xpuned_0AEA",
    "S1A_IW_20150621T120220_XVP_RTC30_G_gpuned_0AEA",
    "S1A_IW_20150621T120220_SVX_RTC30_G_gpuned_0AEA",
    "S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ue4_4D09",
    "S1-GUNW-D-X-163-tops-20250527_20250503-212910-00121E_00010S-PP-07c7-v3_0_1",
    # one form's head with another's tail
    "S1A_IW_20150621T120220_SVP_INT80_G_ueF_0AEA",
    "S1AB_20171111T150004_20171117T145926_VVP006_RTC30_G_gpuned_4D09",
    "S1_136231_111111s1n02-111111s2n01-000000s3n00_IW_20240101_20240115_VV_INT80_AEB4",
    "S1_123_IW2_20200604_20200616_VV_INT80_12E3",
    "S1-GUNW-D-R-163-tops-20250527_20250503-212910-00121E_00010S-PP-07c7_0AEA",
    "OPERA_L2_RTC-S1_T069-147170-IW1_20231017T134359Z_20231018T071238Z_S1A_30_0AEA",
    # inputs are not products
    *SEED_GRANULES,
]


@pytest.mark.parametrize("bad", NOT_NAMES, ids=[repr(bad) for bad in NOT_NAMES])
def test_not_a_product_name(bad: str) -> None:
    with pytest.raises(UnknownProductNameError) as caught:
        parse_product_name(bad)
    assert isinstance(caught.value, BadProductError)
    assert bad in str(caught.value)
    assert "not a HyP3 product name" in str(caught.value)

    with pytest.raises(UnknownProductNameError) as caught:
        parse_product_name(bad, file="job 20c377be/product.zip")
    assert "job 20c377be/product.zip" in str(caught.value)
    assert bad in str(caught.value)


def test_an_impossible_date_is_an_unknown_name_not_a_value_error() -> None:
    with pytest.raises(UnknownProductNameError, match=r"impossible date.*20151321T120220") as caught:
        parse_product_name("S1A_IW_20151321T120220_SVP_RTC30_G_gpuned_0AEA")
    assert not isinstance(caught.value, ValueError)


BAD_FILES = [
    "20c377be-2511-46a8-b908-e015abd3c24e.log",  # the job log (seed page)
    f"{RTC}/",
    "folder/readme.txt",
    f"{RTC[:-1]}.zip",
    f"{RTC}B_VV.tif",
    "some/dir/S1A_IW_20151321T120220_SVP_RTC30_G_gpuned_0AEA_VV.tif",
    f"{L8_REF}_X_LC08_L1TP_009011_20201320_20200905_02_T1_G0120V02_P085.nc",
    f"{SEED_GRANULES[0]}.zip",
]


@pytest.mark.parametrize("file_name", BAD_FILES)
def test_split_file_name_of_a_file_that_is_not_a_product(file_name: str) -> None:
    with pytest.raises(UnknownProductNameError) as caught:
        split_file_name(file_name)
    assert file_name in str(caught.value)
