"""End to end: the HyP3 adapter harvesting the simulator over loopback HTTP through the real pipeline."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import h5netcdf
import httpx
import pystac
import pytest

from adapters.base import JobRef, SourceInfo
from adapters.hyp3.adapter import Hyp3Adapter, Hyp3Settings
from adapters.hyp3.client import Hyp3Client
from adapters.hyp3.jobs import API_EXAMPLES
from adapters.hyp3.simgranules import unit_on_track
from catalogs import stac
from catalogs.validate import validate_catalog
from harvester import pipeline
from tests.adapters.hyp3.conftest import Hyp3Server, hyp3_config

COLLECTIONS = {"hyp3-rtc-gamma", "hyp3-insar-gamma", "hyp3-insar-isce-burst", "hyp3-insar-isce-multi-burst",
               "hyp3-autorift", "hyp3-aria-s1-gunw", "hyp3-opera-rtc-s1"}
RTC_GRANULE = "S1A_IW_GRDH_1SDV_20210214T154837_20210214T154901_036588_044C54_032E"


def _rtc(name: str, **params: Any) -> dict[str, Any]:
    return {"name": name, "job_type": "RTC_GAMMA", "job_parameters": {"granules": [RTC_GRANULE], **params}}


def _items(root: Path) -> dict[str, pystac.Item]:
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {item.id: item for item in catalog.get_items(recursive=True)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One harvest of a job list with every job type (shared by the tests that only read its result)."""
    from adapters.hyp3.simulator import Hyp3Simulator
    from adapters.simkit import FaultInjector, LoopbackServer, RequestLog

    root = tmp_path_factory.mktemp("mixed") / "catalog"
    sim = Hyp3Simulator(seed=3, page_size=3)
    log = RequestLog()
    with pytest.MonkeyPatch.context() as mp, LoopbackServer(FaultInjector(sim, log)) as server:
        sim.url = server.url
        for name in ("EARTHDATA_USERNAME", "EARTHDATA_PASSWORD"):
            mp.delenv(name, raising=False)
        mp.setenv("EARTHDATA_TOKEN", sim.token)
        config = hyp3_config(root, server.url, name="mixed", jobs=API_EXAMPLES)
        first = pipeline.run(config)
        posts_first = len(log.records("/jobs", "POST"))
        log.clear()
        mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and ".harvest" not in p.parts}
        second = pipeline.run(config)
        requests_second = len(log)
        mtimes_after = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and ".harvest" not in p.parts}
        published = {}
        file_gets = dict(sim.file_gets)  # before the GETs below
        records = {}
        with httpx.Client() as client:  # the simulator's own RTC GeoTIFFs, fetched as a user would
            for job_id in sim.jobs:
                record = client.get(f"{server.url}/jobs/{job_id}",
                                    headers={"Authorization": f"Bearer {sim.token}"}).json()
                records[job_id] = record
                if record["job_type"] == "RTC_GAMMA":
                    base = record["files"][0]["url"][: -len(".zip")]
                    published[record["files"][0]["filename"][: -len(".zip")]] = client.get(f"{base}_VV.tif").content
    return {"root": root, "first": first, "second": second, "posts_first": posts_first,
            "requests_second": requests_second, "mtimes": (mtimes, mtimes_after), "published": published,
            "file_gets": file_gets, "records": records}


def test_every_job_type_lands_in_its_collection_and_validates(mixed: Any) -> None:
    first = mixed["first"]
    assert first.ok, [str(f) for f in first.failures]
    assert first.jobs == first.jobs_harvested == len(API_EXAMPLES)
    assert mixed["posts_first"] == 1
    # INSAR and ISCE GeoTIFFs are not COGs (converted); RTC ones are (kept): both kinds were seen
    assert 0 < first.conversions
    timings = first.timings
    assert all(timings[stage] > 0 for stage in ("download", "translate", "convert", "build", "write", "total"))
    assert timings["write"] < timings["total"]
    items = _items(mixed["root"])
    assert len(items) == len(API_EXAMPLES)
    assert {item.collection_id for item in items.values()} == COLLECTIONS
    report = validate_catalog(mixed["root"])
    assert report.ok, report.format()
    for item in items.values():
        assert any("thumbnail" in (a.roles or []) for a in item.assets.values())
        for key, asset in item.assets.items():
            assert Path(asset.get_absolute_href()).is_file(), (item.id, key)
            if asset.href.endswith(".tif") and "radar-geometry" not in (asset.roles or []):
                assert asset.media_type == stac.COG, (item.id, key)


def test_rtc_items(mixed: Any) -> None:
    rtc = [i for i in _items(mixed["root"]).values() if i.collection_id == "hyp3-rtc-gamma"]
    assert len(rtc) == 3
    for item in rtc:
        assert {"VV", "VH", "ls_map", "readme", "browse"} <= set(item.assets)
        assert item.properties["sar:product_type"] == "RTC"
        assert item.properties["sar:polarizations"] == ["VV", "VH"]
        assert item.properties["proj:code"].startswith("EPSG:326")
        assert item.properties["hyp3:job_type"] == "RTC_GAMMA"
        assert item.datetime is not None
        # HyP3's RTC GeoTIFFs are COGs already: kept byte for byte, not re-encoded
        assert _sha256(Path(item.assets["VV"].get_absolute_href())) == hashlib.sha256(
            mixed["published"][item.id]).hexdigest()
    custom = next(i for i in rtc if i.properties["hyp3:job_parameters"].get("include_dem"))
    assert {"dem", "inc_map"} <= set(custom.assets) and "area" not in custom.assets
    assert custom.properties["platform"] == "sentinel-1b"
    sigma0 = next(i for i in rtc if i.properties["hyp3:job_parameters"].get("radiometry") == "sigma0")
    assert "area" in sigma0.assets and "dem" not in sigma0.assets
    assert sigma0.properties["hyp3:radiometry"] == "sigma0" and sigma0.properties["hyp3:scale"] == "amplitude"
    assert sigma0.properties["hyp3:speckle_filter"] is True


def test_insar_items(mixed: Any) -> None:
    items = _items(mixed["root"])
    insar = next(i for i in items.values() if i.collection_id == "hyp3-insar-gamma")
    assert {"amp", "corr", "unw_phase", "water_mask", "parameters", "readme"} <= set(insar.assets)
    assert insar.assets["unw_phase"].roles == ["data"] and insar.assets["water_mask"].roles[0] == "metadata"
    assert insar.properties["start_datetime"] < insar.properties["end_datetime"]
    # a pair's datetime is its reference scene's (STAC Browser shows "Time of Data: n/a" for none)
    assert insar.properties["datetime"] == insar.properties["hyp3:reference_datetime"]
    assert insar.properties["sar:product_type"] == "INTERFEROGRAM"
    unw = insar.assets["unw_phase"].extra_fields
    assert unw["bands"][0]["unit"] == "rad" and "unit" not in unw  # the adapter's unit, on the band
    assert insar.assets["color_phase-browse"].title == "Browse image (color phase)"
    burst = next(i for i in items.values() if i.collection_id == "hyp3-insar-isce-burst")
    assert {"unw_phase", "corr", "conncomp", "wrapped_phase_rdr", "lat_rdr"} <= set(burst.assets)
    rdr = burst.assets["wrapped_phase_rdr"]
    assert rdr.media_type == stac.GEOTIFF and "proj:code" not in rdr.extra_fields
    assert burst.properties["proj:code"].startswith("EPSG:")  # from the georeferenced unw_phase
    assert burst.properties["hyp3:burst_id"] == 136231
    multi = next(i for i in items.values() if i.collection_id == "hyp3-insar-isce-multi-burst")
    assert multi.properties["sat:relative_orbit"] > 0


def test_netcdf_items_get_a_cog_of_their_main_variable(mixed: Any) -> None:
    items = _items(mixed["root"])
    autorift = [i for i in items.values() if i.collection_id == "hyp3-autorift"]
    assert len(autorift) == 3
    for item in autorift:
        assert item.assets["netcdf"].media_type == stac.NETCDF and item.assets["netcdf"].roles == ["data"]
        assert item.assets["v"].media_type == stac.COG
        assert item.assets["v"].extra_fields["bands"][0]["nodata"] == -32767
    optical = next(i for i in autorift if "sentinel-2" in (i.properties.get("constellation") or ""))
    assert "sar:instrument_mode" not in optical.properties
    gunw = next(i for i in items.values() if i.collection_id == "hyp3-aria-s1-gunw")
    assert gunw.properties["proj:code"] == "EPSG:4326"
    assert gunw.assets["unwrapped_phase"].media_type == stac.COG
    assert gunw.properties["hyp3:reference_datetime"] > gunw.properties["hyp3:secondary_datetime"]


def _parameters(item: pystac.Item) -> dict[str, str]:
    """The item's parameter file (``<name>.txt``) as a dict."""
    text = Path(item.assets["parameters"].get_absolute_href()).read_text()
    return dict(line.split(": ", 1) for line in text.splitlines())


def _named(items: dict[str, pystac.Item], job_name: str) -> pystac.Item:
    return next(i for i in items.values() if i.properties.get("hyp3:job_name") == job_name)


def test_burst_insar_items_have_the_time_of_day_satellite_and_orbits(mixed: Any) -> None:
    items = _items(mixed["root"])
    burst, multi = _named(items, "single-burst-example"), _named(items, "multi-burst-example")
    # the job's granules S1_136231_IW2_20200604T022312_VV_7C85-BURST ... carry the time of day the name lacks
    assert (burst.properties["start_datetime"], burst.properties["end_datetime"]) == (
        "2020-06-04T02:23:12Z", "2020-06-16T02:23:13Z")
    assert (multi.properties["start_datetime"], multi.properties["end_datetime"]) == (
        "2020-06-04T02:23:12Z", "2020-06-16T02:23:16Z")
    unit = unit_on_track(64, datetime(2020, 6, 4, 2, 23, 12))  # the satellite the simulator flew there
    for item, looks in ((burst, (20, 4)), (multi, (5, 1))):
        props, parameters = item.properties, _parameters(item)
        assert props["platform"] == f"sentinel-1{unit[-1].lower()}", item.id
        assert props["sat:relative_orbit"] == 64  # burst 136231 lies on track 64
        assert props["sat:absolute_orbit"] == int(parameters["Reference Orbit Number"])  # the earlier scene
        assert props["hyp3:secondary_absolute_orbit"] == int(parameters["Secondary Orbit Number"])
        assert props["sat:orbit_state"] == parameters["Reference Pass Direction"].lower()
        assert (props["sar:looks_range"], props["sar:looks_azimuth"]) == looks
        assert stac.SAT in item.stac_extensions


def test_insar_gamma_items_have_their_satellite_orbits_and_looks(mixed: Any) -> None:
    items = _items(mixed["root"])
    minimal, custom = _named(items, "minimal-insar-example"), _named(items, "custom-insar-example")
    props = minimal.properties
    # S1A_IW_SLC__1SDV_20200203T172103_20200203T172122_031091_... (reference) and ..._20200110T172104_..._030741_...
    assert (props["start_datetime"], props["end_datetime"]) == ("2020-01-10T17:21:04Z", "2020-02-03T17:21:22Z")
    assert props["platform"] == "sentinel-1a" and props["sat:platform_international_designator"] == "2014-016A"
    assert (props["sat:absolute_orbit"], props["sat:relative_orbit"]) == (30741, 44)
    assert (props["hyp3:reference_absolute_orbit"], props["hyp3:secondary_absolute_orbit"]) == (31091, 30741)
    assert props["sat:orbit_state"] == _parameters(minimal)["Reference Pass Direction"].lower()
    assert (props["sar:looks_range"], props["sar:looks_azimuth"]) == (20, 4)
    assert (custom.properties["sar:looks_range"], custom.properties["sar:looks_azimuth"]) == (10, 2)


def test_gunw_items_take_times_and_orbits_from_the_granules_they_list(mixed: Any) -> None:
    gunw = next(i for i in _items(mixed["root"]).values() if i.collection_id == "hyp3-aria-s1-gunw")
    with h5netcdf.File(gunw.assets["netcdf"].get_absolute_href(), "r") as nc:
        listed = {role: list(nc[f"science/radarMetaData/inputSLC/{role}/L1InputGranules"][...])
                  for role in ("reference", "secondary")}
    slcs = [g.decode() if isinstance(g, bytes) else g for names in listed.values() for g in names]
    starts = sorted(datetime.strptime(g.split("_")[5], "%Y%m%dT%H%M%S") for g in slcs)
    stops = sorted(datetime.strptime(g.split("_")[6], "%Y%m%dT%H%M%S") for g in slcs)
    props = gunw.properties
    assert props["start_datetime"] == f"{starts[0]:%Y-%m-%dT%H:%M:%S}Z"
    assert props["end_datetime"] == f"{stops[-1]:%Y-%m-%dT%H:%M:%S}Z"
    [platform] = {f"sentinel-1{g[2].lower()}" for g in slcs}  # the SLCs of one GUNW come from one satellite
    assert props["platform"] == platform
    _, direction, _, track = gunw.id.split("-")[1:5]
    assert props["sat:relative_orbit"] == int(track)
    assert props["sat:orbit_state"] == {"A": "ascending", "D": "descending"}[direction]
    west, south, _east, _north = props["proj:bbox"]  # EPSG:4326: the grid's corner is the name's, to 0.01 degree
    assert (props["hyp3:lon"], props["hyp3:lat"]) == (pytest.approx(west, abs=0.005), pytest.approx(south, abs=0.005))
    assert gunw.assets["unwrapped_phase"].extra_fields["bands"][0]["unit"] == "rad"  # the netCDF says "radians"


def test_autorift_items_have_cogs_of_each_velocity(mixed: Any) -> None:
    autorift = [i for i in _items(mixed["root"]).values() if i.collection_id == "hyp3-autorift"]
    for item in autorift:
        for key in ("v", "vx", "vy"):
            band = item.assets[key].extra_fields["bands"][0]
            assert item.assets[key].media_type == stac.COG, (item.id, key)
            assert (band["unit"], band["nodata"], band["data_type"]) == ("m/y", -32767, "int16"), (item.id, key)
    radar = next(i for i in autorift if i.id.startswith("S1A_"))
    # an S1A and an S1B scene six days apart over one ground track: no one platform, one track
    assert "platform" not in radar.properties and radar.properties["sat:relative_orbit"] == 90
    assert (radar.properties["hyp3:reference_absolute_orbit"], radar.properties["hyp3:secondary_absolute_orbit"]) == (
        15387, 4491)


def test_opera_items_take_the_burst_span_orbit_and_direction_from_their_hdf5(mixed: Any) -> None:
    opera = next(i for i in _items(mixed["root"]).values() if i.collection_id == "hyp3-opera-rtc-s1")
    with h5netcdf.File(opera.assets["hdf5"].get_absolute_href(), "r") as h5:
        facts = {key: h5[f"identification/{key}"][()] for key in (
            "zeroDopplerStartTime", "zeroDopplerEndTime", "absoluteOrbitNumber", "orbitPassDirection")}
    text = {key: value.decode() if isinstance(value, bytes) else value for key, value in facts.items()}
    props = opera.properties
    assert props["start_datetime"] == text["zeroDopplerStartTime"]  # to the microsecond
    assert props["end_datetime"] == text["zeroDopplerEndTime"]
    assert props["sat:absolute_orbit"] == int(text["absoluteOrbitNumber"])
    assert props["sat:orbit_state"] == text["orbitPassDirection"]
    assert props["sat:relative_orbit"] == 35 and props["datetime"] == props["start_datetime"]


def test_browse_images_inside_the_zip_are_downloaded_once(mixed: Any) -> None:
    gets = mixed["file_gets"]
    for job_id, record in mixed["records"].items():
        archive = record["files"][0]["filename"]
        assert gets[f"{job_id}/{archive}"] == 1
        for url in record["browse_images"]:
            name = url.rsplit("/", 1)[-1]
            assert gets.get(f"{job_id}/{name}", 0) == (0 if archive.endswith(".zip") else 1), name
        for url in record["thumbnail_images"]:  # not in the zip: downloaded
            assert gets[f"{job_id}/{url.rsplit('/', 1)[-1]}"] == 1


def test_collections_name_their_license_and_extensions(mixed: Any) -> None:
    for collection_id in COLLECTIONS:
        collection = pystac.Collection.from_file(str(mixed["root"] / collection_id / "collection.json"))
        assert collection.license == "other"
        assert [link.href for link in collection.links if link.rel == "license"] == [
            "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"], collection_id
        assert {stac.SAR, stac.SAT, stac.PROJECTION} <= set(collection.stac_extensions), collection_id
        orbits = [item.properties["sat:relative_orbit"] for item in collection.get_items()
                  if "sat:relative_orbit" in item.properties]  # not for Landsat or Sentinel-2 autoRIFT pairs
        assert orbits, collection_id
        summary = collection.summaries.get_range("sat:relative_orbit")
        assert (summary.minimum, summary.maximum) == (min(orbits), max(orbits)), collection_id


def test_the_state_records_when_each_job_finished(mixed: Any) -> None:
    with sqlite3.connect(mixed["root"] / ".harvest" / "state.sqlite") as db:
        finished = dict(db.execute("SELECT job_id, finished FROM jobs"))
    assert set(finished) == set(mixed["records"])
    for job_id, record in mixed["records"].items():
        end = datetime.fromisoformat(record["execution_started"]) + timedelta(seconds=record["processing_times"][0])
        assert finished[job_id] == end.astimezone(timezone.utc).isoformat(timespec="seconds"), job_id


def test_poll_says_when_a_job_finished(hyp3: Hyp3Server) -> None:
    record = hyp3.sim.add_job(_rtc("finished-job"))
    with httpx.Client() as client:
        status = Hyp3Adapter(Hyp3Settings(url=hyp3.url), client, SourceInfo("finished-job")).poll(
            JobRef("hyp3", record["job_id"]))
    started = datetime.fromisoformat(record["execution_started"])
    assert record["processing_times"][0] > 0
    assert status.finished == started + timedelta(seconds=record["processing_times"][0])


def test_second_run_does_nothing(mixed: Any) -> None:
    second = mixed["second"]
    assert second.ok and second.jobs_skipped == len(API_EXAMPLES)
    assert second.downloads == second.conversions == second.items_written == 0
    assert mixed["requests_second"] == 0  # the recorded submission and finished jobs need no request at all
    before, after = mixed["mtimes"]
    assert before == after


def _post_jobs(hyp3: Hyp3Server, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with httpx.Client() as client:
        response = client.post(f"{hyp3.url}/jobs", json={"jobs": jobs},
                               headers={"Authorization": f"Bearer {hyp3.sim.token}"})
        response.raise_for_status()
        return response.json()["jobs"]


def test_fetch_by_name_follows_next_across_pages(hyp3: Hyp3Server, tmp_path: Path) -> None:
    posted = _post_jobs(hyp3, [_rtc("svalbard-rtc")] * 8 + [_rtc("other")])
    ids = {job["job_id"] for job in posted}
    assert len(ids) == 9
    summary = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, name="svalbard-rtc"))
    assert summary.ok, [str(f) for f in summary.failures]
    assert summary.jobs == summary.jobs_harvested == 8
    listings = hyp3.log.records("/jobs", "GET")
    assert len(listings) >= 3 and sum("start_token=" in r.query for r in listings) >= 2
    assert all("name=svalbard-rtc" in r.query or "start_token=" in r.query for r in listings)
    items = _items(tmp_path / "cat")
    assert {i.properties["hyp3:job_id"] for i in items.values()} == {j["job_id"] for j in posted[:8]}


def test_a_catalog_license_replaces_the_providers_license_and_its_link(hyp3: Hyp3Server, tmp_path: Path) -> None:
    _post_jobs(hyp3, [_rtc("licensed")])
    config = hyp3_config(tmp_path / "cat", hyp3.url, name="licensed")
    config.catalog.license = "CC-BY-4.0"
    assert pipeline.run(config).ok
    collection = pystac.Collection.from_file(str(tmp_path / "cat" / "hyp3-rtc-gamma" / "collection.json"))
    assert collection.license == "CC-BY-4.0"
    assert [link.rel for link in collection.links if link.rel in ("license", "about")] == ["about"]


def test_fetch_filters_by_type_state_and_time(hyp3: Hyp3Server, tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc).replace(microsecond=0)
    insar = next(job for job in API_EXAMPLES if job["job_type"] == "INSAR_GAMMA")
    old = hyp3.sim.add_job(_rtc("batch"), request_time=now - timedelta(days=6))["job_id"]
    new = hyp3.sim.add_job(_rtc("batch", include_dem=True), request_time=now - timedelta(days=2))["job_id"]
    hyp3.sim.add_job({**insar, "name": "batch"}, request_time=now - timedelta(days=2))
    hyp3.sim.add_job(_rtc("batch", radiometry="sigma0"), status="PENDING", request_time=now - timedelta(days=2))
    start, end = (now - timedelta(days=4)).isoformat(), (now - timedelta(days=1)).isoformat()
    config = hyp3_config(tmp_path / "cat", hyp3.url, name="batch", job_name="batch", job_type="RTC_GAMMA",
                         status_code="SUCCEEDED", start=start, end=end)
    summary = pipeline.run(config)
    assert summary.ok and summary.jobs == 1, [str(f) for f in summary.failures]
    assert {i.properties["hyp3:job_id"] for i in _items(tmp_path / "cat").values()} == {new}
    (listing, *_) = hyp3.log.records("/jobs", "GET")
    query = httpx.QueryParams(listing.query)
    assert dict(query) == {"name": "batch", "job_type": "RTC_GAMMA", "status_code": "SUCCEEDED",
                           "start": start, "end": end}
    assert not [r for r in hyp3.log.records() if old in r.path]  # filtered out by the listing: never touched


def test_submitting_more_than_200_jobs_splits_the_list(hyp3: Hyp3Server) -> None:
    from adapters.auth import BearerToken

    with httpx.Client() as client:
        api = Hyp3Client(client, hyp3.url, BearerToken(hyp3.sim.token))
        submitted = api.submit([_rtc(f"bulk-{i}") for i in range(450)])
    assert len(submitted) == 450 and len({job["job_id"] for job in submitted}) == 450
    posts = hyp3.log.records("/jobs", "POST")
    assert len(posts) == 3 and all(r.status == 200 for r in posts)


def test_jobs_that_exist_already_are_reused_not_paid_twice(hyp3: Hyp3Server, tmp_path: Path) -> None:
    done = _post_jobs(hyp3, [_rtc("reuse", include_dem=True)])[0]["job_id"]
    failed = _post_jobs(hyp3, [_rtc("sim-fail-reuse")])[0]["job_id"]
    for job_id in (done, failed):  # poll them to their end at HyP3
        for _ in range(hyp3.sim.polls_to_finish):
            httpx.get(f"{hyp3.url}/jobs/{job_id}", headers={"Authorization": f"Bearer {hyp3.sim.token}"})
    hyp3.log.clear()
    jobs = [_rtc("reuse", include_dem=True), _rtc("reuse", include_dem=False), _rtc("sim-fail-reuse")]
    summary = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, jobs=jobs))
    (post,) = hyp3.log.records("/jobs", "POST")
    assert post.status == 200
    assert summary.jobs == 3
    recorded = {i.properties["hyp3:job_id"] for i in _items(tmp_path / "cat").values()}
    assert done in recorded and failed not in recorded  # the failed one was submitted again
    assert len(hyp3.sim.jobs) == 4


def test_a_bad_job_list_is_refused_before_any_request(hyp3: Hyp3Server, tmp_path: Path) -> None:
    jobs = [_rtc("ok"), {"name": "x", "job_type": "RTC_GAMMA", "job_parameters": {"granules": ["nope"]}}]
    summary = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, jobs=jobs))
    (failure,) = summary.failures
    assert "source hyp3: jobs: job 2: job_parameters.granules must be" in failure.error
    assert len(hyp3.log) == 0


def test_missing_credentials_are_a_clear_error(hyp3: Hyp3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EARTHDATA_TOKEN")
    summary = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, jobs=[_rtc("x")]))
    assert [f.error for f in summary.failures] == [
        "HyP3: no Earthdata credentials: set EARTHDATA_TOKEN, or EARTHDATA_USERNAME and EARTHDATA_PASSWORD, "
        "or add a ~/.netrc entry for machine urs.earthdata.nasa.gov"]
    assert not hyp3.log.records("/jobs")


def test_a_refused_token_is_a_clear_401(hyp3: Hyp3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARTHDATA_TOKEN", "not-the-token")
    summary = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, jobs=[_rtc("x")]))
    (failure,) = summary.failures
    assert "HyP3: checking the credentials (GET /user): HTTP 401: No authorization token provided" in failure.error
    assert "EARTHDATA_TOKEN" in failure.error and "not-the-token" not in failure.error
    assert not hyp3.log.records("/jobs", "POST")


def test_sign_in_with_username_and_password_gets_the_cookie(hyp3: Hyp3Server, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    user, password = next(iter(hyp3.sim.users.items()))
    monkeypatch.delenv("EARTHDATA_TOKEN")
    monkeypatch.setenv("EARTHDATA_USERNAME", user)
    monkeypatch.setenv("EARTHDATA_PASSWORD", password)
    caplog.set_level(logging.DEBUG)
    config = hyp3_config(tmp_path / "cat", hyp3.url, jobs=[_rtc("cookie-rtc")],
                         auth_url=f"{hyp3.url}/oauth/authorize?response_type=code&client_id=x")
    summary = pipeline.run(config)
    assert summary.ok and summary.jobs_harvested == 1, [str(f) for f in summary.failures]
    assert len(hyp3.log.records("/oauth/authorize")) == 1 and len(hyp3.log.records("/login")) == 1
    _assert_secret_absent(password, tmp_path / "cat", caplog.text)


def test_sign_in_with_netrc(hyp3: Hyp3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user, password = next(iter(hyp3.sim.users.items()))
    monkeypatch.delenv("EARTHDATA_TOKEN")
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {user} password {password}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    summary = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, jobs=[_rtc("netrc-rtc")],
                                       auth_url=f"{hyp3.url}/oauth/authorize?response_type=code"))
    assert summary.ok and summary.jobs_harvested == 1, [str(f) for f in summary.failures]


def test_wrong_password_is_a_clear_error(hyp3: Hyp3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user, _ = next(iter(hyp3.sim.users.items()))
    monkeypatch.delenv("EARTHDATA_TOKEN")
    monkeypatch.setenv("EARTHDATA_USERNAME", user)
    monkeypatch.setenv("EARTHDATA_PASSWORD", "wrong-password-canary")
    summary = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, jobs=[_rtc("x")],
                                       auth_url=f"{hyp3.url}/oauth/authorize?response_type=code"))
    (failure,) = summary.failures
    assert "Earthdata Login refused the username and password" in failure.error
    assert "wrong-password-canary" not in failure.error


def test_bad_jobs_stop_the_others_and_are_named(hyp3: Hyp3Server, tmp_path: Path) -> None:
    jobs = [_rtc("good-1"), _rtc("sim-fail-1"), _rtc("sim-expired-1"), _rtc("sim-zip-traversal-1"),
            _rtc("sim-zip-truncated-1"), _rtc("sim-zip-bomb-1"), _rtc("good-2", include_dem=True)]
    root = tmp_path / "cat"
    summary = pipeline.run(hyp3_config(root, hyp3.url, jobs=jobs, max_unzip_gb=0.05))
    assert summary.jobs_harvested == 2
    errors = {f.job: f.error for f in summary.failures}
    assert len(errors) == 5
    text = "\n".join(errors.values())
    assert "the job failed at the provider" in text
    assert "expired before they were downloaded" in text
    assert "'../../evil.txt' would be written outside the extraction folder" in text
    assert "not a readable zip (truncated or corrupt" in text
    assert "zip bomb" in text
    for error in errors.values():
        if "zip" in error:
            assert ".zip" in error and "HyP3 job" in error
    assert len(_items(root)) == 2
    assert validate_catalog(root).ok
    assert not (tmp_path / "evil.txt").exists() and not list(root.rglob("evil.txt"))
    # the expired job's files were never requested
    expired_id = next(job for job, error in errors.items() if "expired" in error)
    assert not [r for r in hyp3.log.records() if r.path.startswith(f"/files/{expired_id}/")]


def test_remote_assets_read_only_cog_headers(hyp3: Hyp3Server, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    config = hyp3_config(root, hyp3.url, jobs=[_rtc("remote-rtc", include_dem=True)], assets="remote")
    summary = pipeline.run(config)
    assert summary.ok, [str(f) for f in summary.failures]
    assert summary.downloads == 0
    (item,) = _items(root).values()
    assert item.properties["expires"] > item.properties["datetime"]
    assert stac.TIMESTAMPS in item.stac_extensions
    vv = item.assets["VV"]
    assert vv.href.startswith(hyp3.url) and vv.href.endswith("_VV.tif")
    assert vv.media_type == stac.COG and vv.extra_fields["bands"][0]["data_type"] == "float32"
    assert item.properties["proj:code"].startswith("EPSG:326")
    assert item.assets["thumbnail"].href.startswith(hyp3.url)
    assert validate_catalog(root).ok
    path = "/" + vv.href.split("/", 3)[3]
    gets = [r for r in hyp3.log.records(path) if r.method == "GET"]
    size = len(httpx.get(vv.href).content)
    assert gets and all(r.range for r in gets), [(r.range, r.status, r.bytes_sent) for r in gets]
    assert sum(r.bytes_sent for r in gets) < size  # ... and not the whole file
    assert not [r for r in hyp3.log.records() if r.path.endswith(".zip") and r.method == "GET"]


def test_secrets_never_reach_catalog_state_or_logs(hyp3: Hyp3Server, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    root = tmp_path / "cat"
    summary = pipeline.run(hyp3_config(root, hyp3.url, jobs=[_rtc("canary")]))
    assert summary.ok
    _assert_secret_absent(hyp3.sim.token, root, caplog.text)


def _assert_secret_absent(secret: str, root: Path, log_text: str) -> None:
    assert secret not in log_text
    for path in root.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    with sqlite3.connect(root / ".harvest" / "state.sqlite") as db:
        dump = "\n".join(db.iterdump())
    assert secret not in dump and json.dumps(secret)[1:-1] not in dump
