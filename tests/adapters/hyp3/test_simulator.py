"""The HyP3 simulator (adapters.hyp3.simulator, adapters.hyp3.simproducts), over loopback HTTP and in-process.

It must behave like the real HyP3 API (auth, job submission and validation, progression, listing with filters
and ``next`` pages, downloads with Range and expiry) and publish products formatted like the real ones.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import h5netcdf
import httpx
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rio_cogeo.cogeo import cog_validate

from adapters.hyp3.simproducts import BOMB_SIZE, TRAVERSAL_ENTRY, Product, make_product
from adapters.hyp3.simulator import EXAMPLE_JOBS, Hyp3Simulator, serve, validate_job
from adapters.simkit import LoopbackServer

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UNAUTHORIZED = {"detail": "No authorization token provided", "status": 401, "title": "Unauthorized",
                "type": "about:blank"}
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
EXAMPLES = {spec["job_type"]: spec for spec in EXAMPLE_JOBS}
RTC = EXAMPLES["RTC_GAMMA"]
OPERA = EXAMPLES["OPERA_RTC_S1"]


class Clock:
    """A settable clock for the simulator."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def named(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {**spec, "name": name}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Hyp3Simulator:
    return Hyp3Simulator(now=clock)


@pytest.fixture(params=["in-process", "loopback"])
def base(request: pytest.FixtureRequest, sim: Hyp3Simulator) -> Iterator[str]:
    """The simulator's base URL; in-process ones are served through `transport`."""
    if request.param == "in-process":
        yield "http://hyp3.test"
    else:
        with LoopbackServer(sim) as server:
            sim.url = server.url
            yield server.url


def client_for(sim: Hyp3Simulator, base: str, **kw: Any) -> httpx.Client:
    if base.startswith("http://127.0.0.1"):
        return httpx.Client(base_url=base, timeout=10, **kw)
    return httpx.Client(transport=httpx.WSGITransport(app=sim), base_url=base, **kw)


@pytest.fixture
def api(sim: Hyp3Simulator, base: str) -> Iterator[httpx.Client]:
    """An authenticated client, in-process or over loopback."""
    with client_for(sim, base, headers=AUTH) as client:
        yield client


@pytest.fixture
def anonymous(sim: Hyp3Simulator, base: str) -> Iterator[httpx.Client]:
    with client_for(sim, base) as client:
        yield client


@pytest.fixture
def loopback(sim: Hyp3Simulator) -> Iterator[httpx.Client]:
    with LoopbackServer(sim) as server:
        sim.url = server.url
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
            yield client


@pytest.fixture(scope="module")
def products() -> dict[str, Product]:
    """One product of every type, from the API page's examples (default sizes)."""
    out = {}
    for i, spec in enumerate(EXAMPLE_JOBS):
        job = validate_job(0, spec)
        out[spec["job_type"]] = make_product(job["job_type"], job["job_parameters"], f"job-{i}")
    return out


def write(tmp_path: Path, product: Product, suffix: str) -> Path:
    """The product's file ending in ``suffix``, written to disk."""
    name = next(n for n in product.files if n.endswith(suffix))
    path = tmp_path / name
    path.write_bytes(product.files[name])
    return path


def root(client: httpx.Client) -> str:
    """The client's base URL without a trailing slash."""
    return str(client.base_url).rstrip("/")


def submit(client: httpx.Client, *jobs: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/jobs", json={"jobs": list(jobs)})
    assert response.status_code == 200, response.text
    return response.json()["jobs"]


def poll(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "sim-token"},
                                     {"Cookie": "asf-urs=made-up"}], ids=["none", "bad-token", "no-scheme",
                                                                           "bad-cookie"])
def test_requests_without_valid_credentials_get_the_401_problem(anonymous: httpx.Client,
                                                                headers: dict[str, str]) -> None:
    for method, path in [("GET", "/user"), ("GET", "/jobs"), ("POST", "/jobs"), ("GET", f"/jobs/{uuid.uuid4()}")]:
        response = anonymous.request(method, path, headers=headers, json={"jobs": [RTC]})
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] in ("application/problem+json", "application/json")
        assert response.json() == UNAUTHORIZED


def test_bearer_token_gives_the_user(api: httpx.Client) -> None:
    response = api.get("/user")
    assert response.status_code == 200
    assert response.json() == {"user_id": "sim-user", "application_status": "APPROVED",
                               "remaining_credits": 10000, "job_names": []}


def test_sign_in_with_earthdata_credentials_sets_the_session_cookie(anonymous: httpx.Client) -> None:
    params = {"client_id": "BO_n7nTIlMljdvU6kRRB3g", "response_type": "code",
              "redirect_uri": "https://auth.asf.alaska.edu/login"}
    first = anonymous.get("/oauth/authorize", params=params, auth=("sim-user", "sim-password"))
    assert first.status_code == 302
    assert first.headers["location"].startswith(f"{root(anonymous)}/login?code=")
    login = anonymous.get(first.headers["location"])
    assert login.status_code == 302
    set_cookie = login.headers["set-cookie"]
    assert set_cookie.startswith("asf-urs=") and "HttpOnly" in set_cookie and "Path=/" in set_cookie
    cookie = anonymous.cookies["asf-urs"]
    assert "sim-password" not in cookie and cookie != "sim-password"
    assert anonymous.get("/user").json()["user_id"] == "sim-user"
    assert anonymous.post("/jobs", json={"jobs": [OPERA]}).status_code == 200


def test_sign_in_follows_redirects_like_a_browser(anonymous: httpx.Client) -> None:
    response = anonymous.get("/oauth/authorize", params={"client_id": "x", "response_type": "code",
                                                         "redirect_uri": "y"},
                             auth=("sim-user", "sim-password"), follow_redirects=True)
    assert response.status_code == 200 and [r.status_code for r in response.history] == [302, 302]
    assert anonymous.get("/jobs").status_code == 200


@pytest.mark.parametrize("credentials", [("sim-user", "wrong"), ("nobody", "sim-password"), None])
def test_sign_in_with_bad_credentials_is_refused(anonymous: httpx.Client,
                                                 credentials: tuple[str, str] | None) -> None:
    response = anonymous.get("/oauth/authorize", params={"client_id": "x", "response_type": "code"},
                             auth=credentials)
    assert response.status_code == 401 and "asf-urs" not in anonymous.cookies
    assert anonymous.get("/login", params={"code": "guessed"}).status_code == 401
    assert anonymous.get("/user").status_code == 401


# ---------------------------------------------------------------------------------------- submission


def test_submitting_every_job_type(api: httpx.Client, sim: Hyp3Simulator) -> None:
    jobs = submit(api, *EXAMPLE_JOBS)
    assert [j["job_type"] for j in jobs] == [s["job_type"] for s in EXAMPLE_JOBS]
    for job, spec in zip(jobs, EXAMPLE_JOBS, strict=True):
        assert uuid.UUID(job["job_id"]) and job["user_id"] == "sim-user" and job["name"] == spec["name"]
        assert job["status_code"] == "PENDING"
        assert job["request_time"] == "2024-05-01T12:00:00+00:00"
        assert job["job_parameters"].items() >= spec["job_parameters"].items()
        assert job["credit_cost"] > 0 and isinstance(job["priority"], int)
        assert "files" not in job and "expiration_time" not in job
    assert jobs[0]["job_parameters"] == {**RTC["job_parameters"], "resolution": 30, "dem_matching": False,
                                         "include_scattering_area": False, "include_rgb": False,
                                         "speckle_filter": False, "dem_name": "copernicus"}
    assert jobs[1]["job_parameters"]["phase_filter_parameter"] == 0.6
    assert set(sim.jobs) == {j["job_id"] for j in jobs}
    user = api.get("/user").json()
    assert user["job_names"] == sorted(s["name"] for s in EXAMPLE_JOBS)
    assert user["remaining_credits"] == 10000 - sum(j["credit_cost"] for j in jobs)


def test_validate_only_stores_nothing(api: httpx.Client, sim: Hyp3Simulator) -> None:
    response = api.post("/jobs", json={"jobs": [RTC, OPERA], "validate_only": True})
    assert response.status_code == 200
    assert [j["job_type"] for j in response.json()["jobs"]] == ["RTC_GAMMA", "OPERA_RTC_S1"]
    assert sim.jobs == {} and api.get("/jobs").json() == {"jobs": []}


def rtc_with(**params: Any) -> dict[str, Any]:
    return {"job_type": "RTC_GAMMA", "job_parameters": {**RTC["job_parameters"], **params}}


BURST = EXAMPLES["INSAR_ISCE_BURST"]["job_parameters"]["granules"]
BAD_SUBMISSIONS = {
    "too-many": ([OPERA] * 201, "at most 200"),
    "empty": ([], "too short"),
    "unknown-type": ([OPERA, {"job_type": "RTC_ISCE", "job_parameters": {}}], "'jobs.1.job_type'"),
    "no-parameters": ([{"job_type": "RTC_GAMMA"}], "job_parameters"),
    "missing-granules": ([{"job_type": "RTC_GAMMA", "job_parameters": {}}], "'granules' is a required"),
    "two-rtc-granules": ([rtc_with(granules=EXAMPLES["INSAR_GAMMA"]["job_parameters"]["granules"])],
                         "'jobs.0.job_parameters.granules'"),
    "bad-granule": ([rtc_with(granules=["S1A_NOT_A_GRANULE"])], "'jobs.0.job_parameters.granules.0'"),
    "bad-choice": ([rtc_with(radiometry="beta0")], "'jobs.0.job_parameters.radiometry'"),
    "bad-resolution": ([rtc_with(resolution=40)], "'jobs.0.job_parameters.resolution'"),
    "not-boolean": ([rtc_with(include_dem="yes")], "'jobs.0.job_parameters.include_dem'"),
    "unknown-parameter": ([rtc_with(colour="red")], "'colour'"),
    "unknown-job-key": ([{**OPERA, "priority": 1}], "'priority'"),
    "long-name": ([named(OPERA, "x" * 101)], "'jobs.0.name'"),
    "insar-looks": ([{**EXAMPLES["INSAR_GAMMA"], "job_parameters": {
        **EXAMPLES["INSAR_GAMMA"]["job_parameters"], "looks": "5x1"}}], "'jobs.0.job_parameters.looks'"),
    "burst-ids-differ": ([{"job_type": "INSAR_ISCE_BURST", "job_parameters": {
        "granules": [BURST[0], BURST[1].replace("136231", "136232")]}}], "same burst ids"),
    "burst-same-date": ([{"job_type": "INSAR_ISCE_BURST", "job_parameters": {"granules": [BURST[0], BURST[0]]}}],
                        "different dates"),
    "multi-burst-lengths": ([{"job_type": "INSAR_ISCE_MULTI_BURST", "job_parameters": {
        "reference": EXAMPLES["INSAR_ISCE_MULTI_BURST"]["job_parameters"]["reference"],
        "secondary": EXAMPLES["INSAR_ISCE_MULTI_BURST"]["job_parameters"]["secondary"][:1]}}], "same number"),
    "multi-burst-too-many": ([{"job_type": "INSAR_ISCE_MULTI_BURST", "job_parameters": {
        "reference": [BURST[0]] * 16, "secondary": [BURST[1]] * 16}}], "too long"),
    "gunw-date": ([{"job_type": "ARIA_S1_GUNW", "job_parameters": {
        "reference_date": "2019-13-31", "secondary_date": "2018-12-12", "frame_id": 11040}}],
                  "'jobs.0.job_parameters.reference_date'"),
    "gunw-frame": ([{"job_type": "ARIA_S1_GUNW", "job_parameters": {
        "reference_date": "2019-12-31", "secondary_date": "2018-12-12", "frame_id": "11040"}}], "frame_id"),
    "autorift-mixed": ([{"job_type": "AUTORIFT", "job_parameters": {"granules": [
        EXAMPLES["AUTORIFT"]["job_parameters"]["granules"][0], "LC08_L1TP_009011_20200703_20200913_02_T1"]}}],
                       "same mission"),
    "opera-cross-pol": ([{"job_type": "OPERA_RTC_S1", "job_parameters": {
        "granules": ["S1_073251_IW2_20200128T020712_VH_2944-BURST"]}}], "co-polarized"),
    "opera-too-recent": ([{"job_type": "OPERA_RTC_S1", "job_parameters": {
        "granules": ["S1_073251_IW2_20230128T020712_VV_2944-BURST"]}}], "2021-12-31"),
}


@pytest.mark.parametrize("jobs, fragment", BAD_SUBMISSIONS.values(), ids=BAD_SUBMISSIONS.keys())
def test_bad_submissions_get_a_400_problem(api: httpx.Client, sim: Hyp3Simulator, jobs: list[Any],
                                           fragment: str) -> None:
    response = api.post("/jobs", json={"jobs": jobs})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "status", "title", "type"}
    assert (body["status"], body["title"], body["type"]) == (400, "Bad Request", "about:blank")
    assert fragment in body["detail"]
    assert sim.jobs == {}


def test_body_that_is_not_a_job_list_is_refused(api: httpx.Client) -> None:
    assert api.post("/jobs", content=b"not json", headers={"content-type": "application/json"}).status_code == 400
    assert api.post("/jobs", json={"jobs": {"job_type": "RTC_GAMMA"}}).status_code == 400


# --------------------------------------------------------------------------------------- progression


def test_jobs_move_from_pending_to_running_to_succeeded(api: httpx.Client, clock: Clock) -> None:
    (job,) = submit(api, named(OPERA, "progress"))
    assert job["status_code"] == "PENDING"
    clock.advance(minutes=1)
    running = poll(api, job["job_id"])
    assert running["status_code"] == "RUNNING" and running["execution_started"] == "2024-05-01T12:01:00+00:00"
    assert "files" not in running
    done = poll(api, job["job_id"])
    assert done["status_code"] == "SUCCEEDED"
    assert done["expiration_time"] == "2024-05-15T12:00:00+00:00"  # request time + 14 days
    assert isinstance(done["processing_times"], list) and done["processing_times"][0] > 0
    (archive,) = done["files"]
    assert archive["filename"].startswith("OPERA_L2_RTC-S1_T035-073251-IW2_20200128T020712Z_")
    assert archive["url"] == f"{root(api)}/files/{job['job_id']}/{archive['filename']}"
    assert archive["s3"]["key"] == f"{job['job_id']}/{archive['filename']}" and archive["size"] > 1000
    assert done["browse_images"][0].endswith("_BROWSE.png")
    assert done["logs"] == [f"{archive['url'].rsplit('/', 1)[0]}/{job['job_id']}.log"]
    assert poll(api, job["job_id"]) == done  # finished jobs stay as they are


def test_a_listing_counts_as_a_poll(api: httpx.Client) -> None:
    submit(api, OPERA)
    assert [j["status_code"] for j in api.get("/jobs").json()["jobs"]] == ["RUNNING"]
    assert [j["status_code"] for j in api.get("/jobs").json()["jobs"]] == ["SUCCEEDED"]


def test_failing_job_has_logs_but_no_files(api: httpx.Client) -> None:
    (job,) = submit(api, named(OPERA, "sim-fail-1"))
    poll(api, job["job_id"])
    failed = poll(api, job["job_id"])
    assert failed["status_code"] == "FAILED"
    assert "files" not in failed and "browse_images" not in failed
    log = api.get(failed["logs"][0])
    assert log.status_code == 200 and b"FAILED" in log.content


def test_never_ending_job_stays_running(api: httpx.Client) -> None:
    (job,) = submit(api, named(OPERA, "sim-never-ending"))
    assert {poll(api, job["job_id"])["status_code"] for _ in range(6)} == {"RUNNING"}


def test_unknown_job_is_a_404_problem(api: httpx.Client) -> None:
    response = api.get(f"/jobs/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found" and response.json()["type"] == "about:blank"


# ------------------------------------------------------------------------------------------- listing


def listed(client: httpx.Client, **params: str) -> list[str]:
    response = client.get("/jobs", params=params)
    assert response.status_code == 200, response.text
    assert "next" not in response.json()
    return [j.get("name") for j in response.json()["jobs"]]


def test_listing_filters(api: httpx.Client, sim: Hyp3Simulator, clock: Clock) -> None:
    sim.page_size = 50
    sim.polls_to_finish = 100  # nothing finishes: no products are built
    submit(api, named(OPERA, "a"))
    clock.advance(hours=1)
    submit(api, named(RTC, "b"))
    clock.advance(hours=1)
    submit(api, named(OPERA, "c"))
    clock.advance(hours=1)
    submit(api, named(OPERA, "a"))
    sim.add_job(named(OPERA, "other-user"), user="someone-else", status="PENDING")
    sim.add_job(named(OPERA, "done"), status="FAILED", request_time=T0 - timedelta(days=1))
    assert listed(api) == ["a", "c", "b", "a", "done"]  # newest first
    assert listed(api, name="a") == ["a", "a"]
    assert listed(api, job_type="RTC_GAMMA") == ["b"]
    assert listed(api, status_code="FAILED") == ["done"]
    assert listed(api, status_code="RUNNING") == ["a", "c", "b", "a"]
    assert listed(api, start="2024-05-01T12:30:00+00:00") == ["a", "c", "b"]
    assert listed(api, end="2024-05-01T13:00:00Z") == ["b", "a", "done"]
    assert listed(api, start="2024-05-01T12:00:00+00:00", end="2024-05-01T12:00:00+00:00") == ["a"]
    assert listed(api, user_id="someone-else") == ["other-user"]
    assert listed(api, name="nothing") == []


@pytest.mark.parametrize("params", [{"status_code": "DONE"}, {"job_type": "RTC"}, {"start": "yesterday"},
                                    {"end": "2024-13-01"}, {"start_token": "not-a-token"}])
def test_bad_listing_filters_get_a_400_problem(api: httpx.Client, params: dict[str, str]) -> None:
    response = api.get("/jobs", params=params)
    assert response.status_code == 400 and response.json()["title"] == "Bad Request"


def test_next_pages_hold_every_job_exactly_once(api: httpx.Client, sim: Hyp3Simulator, clock: Clock) -> None:
    sim.polls_to_finish = 100
    ids = []
    for i in range(10):
        ids += [j["job_id"] for j in submit(api, named(OPERA, f"page-{i}"))]
        clock.advance(seconds=1 if i % 3 else 0)  # some share a request time
    submit(api, named(RTC, "filtered-out"))
    seen, pages = [], 0
    url: str | None = f"{root(api)}/jobs?job_type=OPERA_RTC_S1"
    while url is not None:
        response = api.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["jobs"]) <= 3
        seen += [j["job_id"] for j in body["jobs"]]
        url = body.get("next")
        if url is not None:
            assert url.startswith(f"{root(api)}/jobs?")
            assert "job_type=OPERA_RTC_S1" in url and "start_token=" in url
    assert pages == 4
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    times = [sim.jobs[i].sort_key() for i in seen]
    assert times == sorted(times, reverse=True)


# --------------------------------------------------------------------------------------------- files


def test_files_are_served_with_ranges_and_vanish_at_expiry(loopback: httpx.Client, sim: Hyp3Simulator,
                                                           clock: Clock) -> None:
    record = sim.add_job(OPERA)
    url = record["files"][0]["url"]
    assert url.startswith(f"{root(loopback)}/files/")
    with httpx.Client(timeout=10) as anonymous:  # downloads need no auth
        whole = anonymous.get(url)
        assert whole.status_code == 200 and len(whole.content) == record["files"][0]["size"]
        assert whole.headers["accept-ranges"] == "bytes" and whole.headers["etag"]
        part = anonymous.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == whole.content[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
        tail = anonymous.get(url, headers={"Range": "bytes=-10", "If-Range": whole.headers["etag"]})
        assert tail.status_code == 206 and tail.content == whole.content[-10:]
        assert sim.file_gets[f"{record['job_id']}/{record['files'][0]['filename']}"] == 3
        assert anonymous.get(url.rsplit("/", 1)[0] + "/no-such-file.tif").status_code == 404
        clock.advance(days=14)
        gone = anonymous.get(url)
        assert gone.status_code == 404 and b"NoSuchKey" in gone.content
        assert anonymous.get(record["logs"][0]).status_code == 404


def test_every_zip_member_is_published_beside_the_zip(loopback: httpx.Client, sim: Hyp3Simulator) -> None:
    record = sim.add_job(named(RTC, "rtc"))
    archive = loopback.get(record["files"][0]["url"])
    assert archive.status_code == 200
    base = record["files"][0]["url"].rsplit("/", 1)[0]
    name = record["files"][0]["filename"].removesuffix(".zip")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        members = [m for m in zf.namelist() if not m.endswith("/")]
        assert zf.namelist()[0] == f"{name}/" and all(m.startswith(f"{name}/") for m in members)
        for member in members:
            flat = loopback.get(f"{base}/{member.split('/', 1)[1]}")
            assert flat.status_code == 200 and flat.content == zf.read(member), member
    for url in record["browse_images"] + record["thumbnail_images"]:
        image = loopback.get(url)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        assert image.headers["content-type"] == "image/png"
    assert loopback.get(record["logs"][0]).status_code == 200


# ------------------------------------------------------------------------------------ product formats


NAMES = {
    "RTC_GAMMA": r"S1B_IW_20210210T153157_DVP_RTC30_G_gpuned_[0-9A-F]{4}",
    "INSAR_GAMMA": r"S1AA_20200527T195012_20200515T195012_VVP012_INT40_G_ueF_[0-9A-F]{4}",
    "INSAR_ISCE_BURST": r"S1_136231_IW2_20200604_20200616_VV_INT80_[0-9A-F]{4}",
    "INSAR_ISCE_MULTI_BURST": r"S1_064_000000s1n00-136231s2n02-000000s3n00_IW_20200604_20200616_VV_INT20_[0-9A-F]{4}",
    "AUTORIFT": r"S2B_MSIL1C_20200612T150759_N0209_R025_T22WEB_20200612T184700_X_S2A_MSIL1C_20200627T150921_N0209"
                r"_R025_T22WEB_20200627T170912_G0120V02_P\d{3}",
    "ARIA_S1_GUNW": r"S1-GUNW-[AD]-R-\d{3}-tops-20191231_20181212-\d{6}-\d{5}[EW]_\d{5}[NS]-PP-[0-9a-f]{4}-v3_0_1",
    "OPERA_RTC_S1": r"OPERA_L2_RTC-S1_T035-073251-IW2_20200128T020712Z_\d{8}T\d{6}Z_S1[AB]_30_v1.0",
}


@pytest.mark.parametrize("job_type", NAMES)
def test_product_names_follow_the_real_forms(products: dict[str, Product], job_type: str) -> None:
    product = products[job_type]
    assert re.fullmatch(NAMES[job_type], product.name), product.name
    assert product.archive == product.name + (".nc" if job_type in ("AUTORIFT", "ARIA_S1_GUNW") else ".zip")
    assert set(product.browse + product.thumbnails) <= set(product.files)
    for image in product.browse + product.thumbnails:
        assert product.files[image].startswith(b"\x89PNG")


def test_rtc_rasters_are_cogs_shaped_like_the_samples(products: dict[str, Product], samples: Path,
                                                      tmp_path: Path) -> None:
    product = products["RTC_GAMMA"]
    name = product.name
    assert set(product.files) >= {f"{name}{s}" for s in (
        "_VV.tif", "_VH.tif", "_ls_map.tif", "_dem.tif", "_inc_map.tif", "_VV.tif.xml", ".png", "_rgb.png",
        ".kmz", ".README.md.txt", ".log", "_shape.shp", "_shape.shx", "_shape.dbf", "_shape.prj",
        "_thumb.png", "_rgb_thumb.png")}
    assert f"{name}_area.tif" not in product.files and f"{name}_rgb.tif" not in product.files  # not asked for
    for suffix in ("_VV.tif", "_VH.tif", "_ls_map.tif", "_dem.tif", "_inc_map.tif"):
        path = write(tmp_path, product, suffix)
        assert cog_validate(str(path), strict=True, quiet=True)[0], suffix
        with rasterio.open(path) as ours, rasterio.open(samples / "hyp3" / "rtc" / f"rtc{suffix}") as real:
            assert (ours.dtypes, ours.nodata, ours.count) == (real.dtypes, real.nodata, real.count), suffix
            assert ours.tags()["AREA_OR_POINT"] == real.tags()["AREA_OR_POINT"] == "Point"
            assert 32601 <= ours.crs.to_epsg() <= 32660 and ours.res == (30.0, 30.0)
            assert ours.overviews(1) == [2, 4, 8, 16] and ours.profile["compress"] == "deflate"
            data = ours.read(1)
            assert (data == 0).any() and (data != 0).mean() > 0.5  # a nodata margin around valid data
    with rasterio.open(write(tmp_path, product, "_VV.tif")) as vv:
        values = vv.read(1)[vv.read_masks(1) > 0]
        assert 0.03 < float(np.median(values)) < 0.5  # gamma0 power
    with zipfile.ZipFile(io.BytesIO(product.files[product.archive])) as zf:
        assert zf.testzip() is None and set(product.zip_members) == set(zf.namelist())
        assert {m.split("/", 1)[1] for m in zf.namelist() if not m.endswith("/")} == \
            set(product.files) - {product.archive, *product.thumbnails}
    assert CRS.from_wkt(product.files[f"{name}_shape.prj"].decode()).to_epsg() == vv.crs.to_epsg()


def test_dual_pol_rgb_and_options(tmp_path: Path) -> None:
    params = {"granules": ["S1A_IW_SLC__1SSH_20170221T204710_20170221T204737_015387_0193F6_AB07"],
              "scale": "decibel", "radiometry": "sigma0", "resolution": 10, "speckle_filter": True,
              "dem_matching": True, "include_scattering_area": True, "include_rgb": True}
    single = make_product("RTC_GAMMA", params, "job-single", raster_size=64)
    assert single.name.startswith("S1A_IW_20170221T204710_SHP_RTC10_G_sdufem_")
    assert {n.rsplit("_", 1)[-1] for n in single.files if n.endswith(".tif")} >= {"HH.tif", "area.tif"}
    assert not any(n.endswith(("_HV.tif", "_rgb.tif", "_rgb.png")) for n in single.files)  # single pol
    dual = make_product("RTC_GAMMA", {**RTC["job_parameters"], "include_rgb": True}, "job-dual", raster_size=64)
    with rasterio.open(write(tmp_path, dual, "_rgb.tif")) as rgb:
        assert rgb.count == 3 and rgb.dtypes[0] == "float32" and rgb.nodata == 0
    with rasterio.open(write(tmp_path, single, "_HH.tif")) as db:
        assert float(db.read(1, masked=True).mean()) < 0  # decibels


@pytest.mark.parametrize("job_type", ["INSAR_GAMMA", "INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST"])
def test_insar_rasters_are_not_cogs(products: dict[str, Product], tmp_path: Path, job_type: str) -> None:
    product = products[job_type]
    tifs = [n for n in product.files if n.endswith(".tif")]
    assert len(tifs) >= 6
    for name in tifs:
        path = tmp_path / name
        path.write_bytes(product.files[name])
        assert not cog_validate(str(path), strict=True, quiet=True)[0], name
        with rasterio.open(path) as ds:
            assert ds.width > 512 and ds.overviews(1) == []
            if job_type == "INSAR_GAMMA":
                assert ds.block_shapes[0][1] == ds.width  # striped
            else:
                assert ds.block_shapes[0] == (256, 256) and ds.profile["compress"] == "lzw"
            if name.endswith("_rdr.tif"):
                assert ds.crs is None and ds.transform.is_identity
            else:
                assert 32601 <= ds.crs.to_epsg() <= 32660
                expected = "uint8" if name.endswith("_water_mask.tif") else \
                    "uint16" if name.endswith("_conncomp.tif") else "float32"
                assert ds.dtypes[0] == expected, name
                assert ds.nodata == (None if expected == "uint8" else 0), name
    radar = {n.removeprefix(product.name) for n in tifs if n.endswith("_rdr.tif")}
    assert radar == ({"_wrapped_phase_rdr.tif", "_lat_rdr.tif", "_lon_rdr.tif", "_los_rdr.tif"}
                     if job_type == "INSAR_ISCE_BURST" else set())


def test_insar_gamma_files(products: dict[str, Product]) -> None:
    product = products["INSAR_GAMMA"]  # the example asks for look vectors and LOS displacement, 10x2 looks
    suffixes = {n.removeprefix(product.name) for n in product.files}
    assert suffixes == {".zip", "_amp.tif", "_corr.tif", "_unw_phase.tif", "_water_mask.tif", "_lv_phi.tif",
                        "_lv_theta.tif", "_los_disp.tif", "_color_phase.png", "_unw_phase.png", ".txt",
                        ".README.md.txt", "_color_phase_thumb.png", "_unw_phase_thumb.png"}
    text = product.files[f"{product.name}.txt"].decode()
    for key in ("Reference Granule: S1A_IW_SLC__1SDV_20200527T195012", "Secondary Granule: S1A_IW_SLC__1SDV_2020051",
                "Baseline: ", "UTC time: "):
        assert key in text
    assert f"{products['INSAR_ISCE_BURST'].name}_README.md.txt" in products["INSAR_ISCE_BURST"].files


LOOKS = {"INSAR_GAMMA": ("10", "2"), "INSAR_ISCE_BURST": ("20", "4"), "INSAR_ISCE_MULTI_BURST": ("5", "1")}


@pytest.mark.parametrize("job_type", list(LOOKS))
def test_parameter_files_state_orbits_directions_and_looks_that_fit(products: dict[str, Product],
                                                                      job_type: str) -> None:
    product = products[job_type]
    values = dict(line.split(": ", 1) for line in product.files[f"{product.name}.txt"].decode().splitlines())
    direction = values["Reference Pass Direction"]
    assert direction in ("ASCENDING", "DESCENDING") and values["Secondary Pass Direction"] == direction
    heading = float(values["Heading"])  # as real files: about -12 ascending, about -165 descending
    assert -20 < heading < -10 if direction == "ASCENDING" else -170 < heading < -160
    orbits = int(values["Reference Orbit Number"]), int(values["Secondary Orbit Number"])
    if job_type == "INSAR_GAMMA":  # S1A_IW_SLC__1SDV_20200527T195012_..._032755_... and ..._20200515T..._032580_...
        assert orbits == (32755, 32580)
    else:  # S1A over track 64 (burst 136231) on 2020-06-04 and 12 days (175 orbits) later
        assert [(orbit - 73) % 175 + 1 for orbit in orbits] == [64, 64] and orbits[1] - orbits[0] == 175
        # the real S1A flew orbit 32755 at 2020-05-27T19:50:12: as many orbits before as 175 per 12 days make
        elapsed = datetime(2020, 6, 4, 2, 23, 12) - datetime(2020, 5, 27, 19, 50, 12)
        assert abs(orbits[0] - 32755 - elapsed.total_seconds() * 175 / (12 * 86_400)) < 1
    assert (values["Range looks"], values["Azimuth looks"]) == LOOKS[job_type]


def test_gunw_lists_the_slcs_of_both_passes(products: dict[str, Product], tmp_path: Path) -> None:
    product = products["ARIA_S1_GUNW"]
    fields = product.name.split("-")
    track, (later, earlier), centre = int(fields[4]), fields[6].split("_"), fields[7]
    with h5netcdf.File(write(tmp_path, product, ".nc"), "r") as nc:
        listed = {role: [g.decode() if isinstance(g, bytes) else g
                         for g in nc[f"science/radarMetaData/inputSLC/{role}/L1InputGranules"][...]]
                  for role in ("reference", "secondary")}
    for role, day in (("reference", later), ("secondary", earlier)):
        assert len(listed[role]) == 2
        for slc in listed[role]:
            unit, _, _, _, mode, start, stop, orbit, _, _ = slc.split("_")
            assert unit in ("S1A", "S1B") and mode == "1SDV", slc
            assert (int(orbit) - {"S1A": 73, "S1B": 27}[unit]) % 175 + 1 == track, slc
            begin = datetime.strptime(start, "%Y%m%dT%H%M%S")
            assert datetime.strptime(stop, "%Y%m%dT%H%M%S") - begin == timedelta(seconds=27)
            assert abs(begin - datetime.strptime(day + centre, "%Y%m%d%H%M%S")) <= timedelta(seconds=30), slc


def test_opera_rasters(products: dict[str, Product], tmp_path: Path) -> None:
    product = products["OPERA_RTC_S1"]
    assert {n.removeprefix(product.name) for n in product.files} == {
        ".zip", "_VV.tif", "_VH.tif", "_mask.tif", ".h5", ".iso.xml", "_BROWSE.png"}
    for suffix, dtype in (("_VV.tif", "float32"), ("_VH.tif", "float32"), ("_mask.tif", "uint8")):
        path = write(tmp_path, product, suffix)
        assert cog_validate(str(path), strict=True, quiet=True)[0]
        with rasterio.open(path) as ds:
            assert ds.dtypes[0] == dtype and ds.res == (30.0, 30.0)
            assert np.isnan(ds.nodata) if dtype == "float32" else ds.nodata == 255
    assert product.files[f"{product.name}.h5"].startswith(b"\x89HDF")


def test_autorift_netcdf_opens_with_rasterio(products: dict[str, Product], tmp_path: Path) -> None:
    product = products["AUTORIFT"]
    assert set(product.files) == {product.archive, f"{product.name}.png", f"{product.name}_thumb.png"}
    path = write(tmp_path, product, ".nc")
    for variable in ("v", "vx", "vy"):
        with rasterio.open(f"netcdf:{path}:{variable}") as ds:
            assert ds.crs.to_epsg() == 32622  # the Sentinel-2 tile's UTM zone (T22WEB)
            assert ds.res == (120.0, 120.0) and ds.transform.e < 0
            assert ds.dtypes[0] == "int16" and ds.nodata == -32767
            assert ds.units == ("m/y",)
            assert (ds.read(1) == -32767).any()
    percent = int(product.name[-3:])
    with rasterio.open(f"netcdf:{path}:v") as ds:
        assert abs(100 * float((ds.read(1) != -32767).mean()) - percent) <= 1


def test_gunw_netcdf_opens_with_rasterio(products: dict[str, Product], tmp_path: Path) -> None:
    product = products["ARIA_S1_GUNW"]
    assert set(product.files) == {product.archive, f"{product.name}.png", f"{product.name}.json"}
    assert json.loads(product.files[f"{product.name}.json"])["reference_date"] == "2019-12-31"
    path = write(tmp_path, product, ".nc")
    for layer, dtype in (("unwrappedPhase", "float32"), ("coherence", "float32"),
                         ("connectedComponents", "int16"), ("amplitude", "float32")):
        with rasterio.open(f"netcdf:{path}:/science/grids/data/{layer}") as ds:
            assert ds.crs.to_epsg() == 4326 and ds.dtypes[0] == dtype
            assert ds.res == pytest.approx((1 / 1200, 1 / 1200)) and ds.transform.e < 0
            west, south, east, north = ds.bounds
            assert -180 <= west < east <= 180 and -90 <= south < north <= 90


# ---------------------------------------------------------------------------------------- determinism


def test_same_seed_and_submissions_give_the_same_ids_and_bytes() -> None:
    """Two simulators given the same submissions agree on every id and byte (small rasters: quick)."""
    records = []
    for _ in range(2):
        sim = Hyp3Simulator(seed=7, raster_size=64, now=Clock())
        with httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://hyp3.test",
                          headers=AUTH) as client:
            jobs = submit(client, *EXAMPLE_JOBS, OPERA)
        records.append((jobs, {j["job_id"]: sim.product(j["job_id"]) for j in jobs}))
    (jobs_a, products_a), (jobs_b, products_b) = records
    assert jobs_a == jobs_b
    assert len({j["job_id"] for j in jobs_a}) == len(jobs_a)  # identical specs still get their own ids
    for job_id, product in products_a.items():
        assert product.files == products_b[job_id].files, product.name
    other = Hyp3Simulator(seed=8, now=Clock())
    with httpx.Client(transport=httpx.WSGITransport(app=other), base_url="http://x", headers=AUTH) as client:
        assert submit(client, OPERA)[0]["job_id"] != jobs_a[-2]["job_id"]


# -------------------------------------------------------------------------------------------- faults


def finished(client: httpx.Client, spec: dict[str, Any]) -> dict[str, Any]:
    (job,) = submit(client, spec)
    poll(client, job["job_id"])
    return poll(client, job["job_id"])


def download_zip(client: httpx.Client, record: dict[str, Any]) -> bytes:
    response = client.get(record["files"][0]["url"])
    assert response.status_code == 200 and len(response.content) == record["files"][0]["size"]
    return response.content


def test_expired_fault(loopback: httpx.Client) -> None:
    record = finished(loopback, named(OPERA, "sim-expired-1"))
    assert record["status_code"] == "SUCCEEDED"
    assert datetime.fromisoformat(record["expiration_time"]) < T0
    for url in [record["files"][0]["url"], *record["browse_images"], *record["logs"]]:
        assert loopback.get(url).status_code == 404


def test_zip_traversal_fault(loopback: httpx.Client) -> None:
    record = finished(loopback, named(OPERA, "sim-zip-traversal"))
    with zipfile.ZipFile(io.BytesIO(download_zip(loopback, record))) as zf:
        assert TRAVERSAL_ENTRY in zf.namelist()


def test_zip_truncated_fault(loopback: httpx.Client) -> None:
    record = finished(loopback, named(OPERA, "sim-zip-truncated-2"))
    data = download_zip(loopback, record)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(data))
    whole = make_product("OPERA_RTC_S1", OPERA["job_parameters"], record["job_id"]).files[record["files"][0]["filename"]]
    assert data == whole[: len(whole) * 6 // 10]


def test_zip_bomb_fault(loopback: httpx.Client) -> None:
    record = finished(loopback, named(OPERA, "sim-zip-bomb"))
    data = download_zip(loopback, record)
    assert len(data) < 2_000_000
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        bomb = max(zf.infolist(), key=lambda info: info.file_size)
        assert bomb.file_size == BOMB_SIZE and bomb.compress_size < 1_000_000


def test_fault_names_over_plain_http_in_one_listing(api: httpx.Client, sim: Hyp3Simulator) -> None:
    sim.page_size = 10
    submit(api, named(OPERA, "fine"), named(OPERA, "sim-fail"), named(OPERA, "sim-never"))
    api.get("/jobs")
    statuses = {j["name"]: j["status_code"] for j in api.get("/jobs").json()["jobs"]}
    assert statuses == {"fine": "SUCCEEDED", "sim-fail": "FAILED", "sim-never": "RUNNING"}


# ------------------------------------------------------------------------------------------- serving


def test_serve_puts_the_simulator_behind_a_fault_injector() -> None:
    with serve(token="t0k3n", page_size=2) as served:
        assert served.sim.url == served.url
        with httpx.Client(base_url=served.url, headers={"Authorization": "Bearer t0k3n"}, timeout=10) as client:
            assert client.get("/user").status_code == 200
            served.injector.add(r"^/jobs$", status=503, times=1)
            assert client.get("/jobs").status_code == 503
            assert client.get("/jobs").status_code == 200


def test_main_serves_on_loopback_until_stdin_closes() -> None:
    command = [sys.executable, "-m", "adapters.hyp3.simulator", "--port", "0", "--seed", "3"]
    with subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None and process.stdin is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            response = httpx.get(f"{url}/user", headers=AUTH, timeout=10)
            assert response.status_code == 200 and response.json()["user_id"] == "sim-user"
            process.stdin.close()
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()


def test_netcdf_products_do_not_depend_on_the_time_of_writing() -> None:
    """HDF5 object headers can carry the time they were written (to the second): products must not."""
    import time

    first = {spec["job_type"]: make_product(spec["job_type"], spec["job_parameters"], "job-nc") for spec in EXAMPLE_JOBS
             if spec["job_type"] in ("AUTORIFT", "ARIA_S1_GUNW", "OPERA_RTC_S1")}
    time.sleep(1.1)
    for job_type, product in first.items():
        spec = EXAMPLES[job_type]
        assert make_product(job_type, spec["job_parameters"], "job-nc").files == product.files, job_type
