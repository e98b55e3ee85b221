"""Async Process outputs harvested from the loopback S3 server, and synchronous Process responses, through the
real pipeline against the simulator."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pystac
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from adapters.s3sim import LoopbackS3
from catalogs.validate import validate_catalog
from harvester import pipeline
from harvester.cli import main
from tests.adapters.sentinelhub.conftest import ShServer, sh_config

ACCESS_KEY = "AKIACANARY7Q2W9E4R1T"
SECRET_KEY = "canary+Secret/Key0vB8nM3xZ6cV1bN4mQ7wE2"
SESSION_TOKEN = "canary-session-token-Fq9Lk2Jd8Hs4"
CANARIES = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
DELIVERY = "s3://sh-deliveries/ndvi"
UTM_EVALSCRIPT = ('//VERSION=3\nfunction setup() {return {input: [{bands: ["B04", "B08"]}], output: {bands: 3, '
                  'sampleType: "UINT8"}}}\nfunction evaluatePixel(s) {return [s.B04, s.B08, 0]}')
MULTI_EVALSCRIPT = ('//VERSION=3\nfunction setup() {return {input: ["B02", "B03", "B04", "B08"], output: [{id: "ndvi", '
                    'bands: 1, sampleType: "FLOAT32"}, {id: "rgb", bands: 3, sampleType: SampleType.UINT16}]}}\n'
                    'function evaluatePixel(s) {return {ndvi: [index(s.B08, s.B04)], rgb: [s.B04, s.B03, s.B02]}}')


def utm_request(**delivery: Any) -> dict[str, Any]:
    """A request in UTM 33N (20 x 20 km at 100 m), December 2020, Sentinel-2 L2A with a cloud limit."""
    return {
        "input": {"bounds": {"bbox": [380000, 5030000, 400000, 5050000],
                             "properties": {"crs": "http://www.opengis.net/def/crs/EPSG/0/32633"}},
                  "data": [{"type": "S2L2A", "dataFilter": {"timeRange": {"from": "2020-12-01T00:00:00Z",
                                                                            "to": "2020-12-31T23:59:59Z"},
                                                              "maxCloudCoverage": 40}}]},
        "output": {"resx": 100, "resy": 100, "responses": [{"identifier": "default", "format": {"type": "image/tiff"}}],
                   "delivery": {"s3": {"url": DELIVERY, "accessKey": ACCESS_KEY, "secretAccessKey": SECRET_KEY,
                                       "sessionToken": SESSION_TOKEN, **delivery}}},
        "evalscript": UTM_EVALSCRIPT,
    }


def multi_request(evalscript: str = MULTI_EVALSCRIPT) -> dict[str, Any]:
    """A CRS84 request with two responses (float32 NDVI, uint16 RGB written big-endian), 700 x 500 px."""
    return {
        "input": {"bounds": {"bbox": [13.2, 45.2, 13.4, 45.35]},
                  "data": [{"type": "S2L1C", "dataFilter": {"timeRange": {"from": "2020-12-05T00:00:00Z",
                                                                            "to": "2020-12-20T00:00:00Z"}}}]},
        "output": {"width": 700, "height": 500,
                   "responses": [{"identifier": "ndvi", "format": {"type": "image/tiff"}},
                                 {"identifier": "rgb", "format": {"type": "image/tiff"}}],
                   "delivery": {"s3": {"url": DELIVERY, "accessKey": ACCESS_KEY, "secretAccessKey": SECRET_KEY}}},
        "evalscript": evalscript,
    }


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def _items(root: Path) -> dict[str, pystac.Item]:
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {item.id: item for item in catalog.get_items(recursive=True)}


def _async_source(request: Path, **keys: Any) -> dict[str, Any]:
    return {"provider": "sentinelhub-async", "name": "ndvi", "request": str(request), **keys}


def _expected_scenes(sh: ShServer, collection: str, bbox: tuple[float, ...], start: str, end: str,
                     cloud: float | None = None) -> list[str]:
    w, s, e, n = bbox
    return [f"{sh.url}/api/v1/catalog/1.0.0/collections/{collection}/items/{scene.id}"
            for scene in sh.sim.scenes(collection)
            if scene.bbox[0] < e and scene.bbox[2] > w and scene.bbox[1] < n and scene.bbox[3] > s
            and start <= scene.properties["datetime"] <= end
            and (cloud is None or scene.properties["eo:cloud_cover"] <= cloud)]


@pytest.fixture
def harvested(sh_s3: ShServer, s3_server: LoopbackS3, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG)
    request = _write(tmp_path / "requests.json", [utm_request(), multi_request()])
    root = tmp_path / "catalog"
    config = sh_config(root, _async_source(request))
    summary = pipeline.run(config)
    # what the run logged (caplog.text in a test shows only the test's own phase, not this fixture's)
    return {"root": root, "summary": summary, "config": config, "request": request, "log": caplog.text}


def test_async_requests_submitted_polled_and_harvested_from_s3(harvested: Any, sh_s3: ShServer,
                                                               s3_server: LoopbackS3) -> None:
    summary, root = harvested["summary"], harvested["root"]
    assert summary.failures == []
    assert (summary.jobs, summary.jobs_harvested, summary.items_written) == (2, 2, 2)
    assert summary.conversions >= 2  # the 700 x 500 striped outputs were re-encoded
    assert len(sh_s3.sim.async_requests) == 2
    listing = s3_server.client().list_objects_v2(Bucket="sh-deliveries", Prefix="ndvi/")
    keys = sorted(o["Key"].split("/", 2)[2] for o in listing["Contents"])
    assert keys == ["default.tif", "ndvi.tif", "rgb.tif", "userdata.json", "userdata.json"]
    report = validate_catalog(root)
    assert report.ok, report.format()
    items = _items(root)
    assert sorted(item.collection_id for item in items.values()) == ["sentinelhub-async"] * 2
    for item in items.values():
        for key, asset in item.assets.items():
            if "data" in (asset.roles or []):
                path = Path(item.self_href).parent / asset.href
                ok, errors, _ = cog_validate(str(path), strict=True)
                assert ok, (key, errors)
                assert asset.media_type == "image/tiff; application=geotiff; profile=cloud-optimized"


def test_async_item_metadata(harvested: Any, sh_s3: ShServer) -> None:
    items = _items(harvested["root"])
    by_inputs = {item.properties["sentinelhub:input_types"][0]: item for item in items.values()}
    utm, multi = by_inputs["S2L2A"], by_inputs["S2L1C"]
    assert sorted(utm.assets) == ["default", "request", "thumbnail", "userdata"]
    assert sorted(multi.assets) == ["ndvi", "request", "rgb", "thumbnail", "userdata"]
    assert utm.properties["proj:code"] == "EPSG:32633"
    assert utm.properties["proj:bbox"] == [380000.0, 5030000.0, 400000.0, 5050000.0]
    assert multi.properties["proj:code"] == "EPSG:4326"
    assert multi.bbox == pytest.approx([13.2, 45.2, 13.4, 45.35])
    assert utm.properties["start_datetime"] == "2020-12-01T00:00:00Z"
    assert utm.properties["end_datetime"] == "2020-12-31T23:59:59Z"
    assert utm.properties["processing:expression"] == {"format": "evalscript", "expression": UTM_EVALSCRIPT}
    assert utm.properties["sentinelhub:inputs"] == [{"type": "S2L2A", "collection": "sentinel-2-l2a", "dataFilter": {
        "timeRange": {"from": "2020-12-01T00:00:00Z", "to": "2020-12-31T23:59:59Z"}, "maxCloudCoverage": 40}}]
    ndvi = multi.assets["ndvi"].to_dict()["bands"]
    rgb = multi.assets["rgb"].to_dict()["bands"]
    assert [b["data_type"] for b in ndvi] == ["float32"]
    assert [b["data_type"] for b in rgb] == ["uint16"] * 3
    # derived_from: the Catalog's scenes of the same collection, bbox (in CRS84) and time range
    utm_bbox = tuple(utm.bbox)  # the footprint of the UTM bbox, as the adapter asked the Catalog
    expected_utm = _expected_scenes(sh_s3, "sentinel-2-l2a", utm_bbox, "2020-12-01T00:00:00Z", "2020-12-31T23:59:59Z",
                                    cloud=40)
    expected_multi = _expected_scenes(sh_s3, "sentinel-2-l1c", (13.2, 45.2, 13.4, 45.35), "2020-12-05T00:00:00Z",
                                      "2020-12-20T00:00:00Z")
    for item, expected in ((utm, expected_utm), (multi, expected_multi)):
        links = [link.href for link in item.links if link.rel == "derived_from"]
        assert expected and sorted(links) == sorted(expected)
        assert item.properties["sentinelhub:scene_count"] == len(expected)


def test_outputs_are_striped_big_endian_and_in_the_request_crs(sh_s3: ShServer, s3_server: LoopbackS3,
                                                               tmp_path: Path) -> None:
    """What the simulator delivers is what Sentinel Hub does: not COGs; the second response big-endian."""
    response = httpx.post(f"{sh_s3.url}/auth/realms/main/protocol/openid-connect/token",
                          data={"grant_type": "client_credentials", "client_id": sh_s3.sim.client_id,
                                "client_secret": sh_s3.sim.client_secret})
    token = response.json()["access_token"]
    submitted = httpx.post(f"{sh_s3.url}/api/v1/async/process", json=multi_request(),
                           headers={"Authorization": f"Bearer {token}"}).json()
    status = [httpx.get(f"{sh_s3.url}/api/v1/async/process/{submitted['id']}",
                        headers={"Authorization": f"Bearer {token}"}).status_code for _ in range(3)]
    assert status == [200, 404, 404]
    client = s3_server.client()
    for name, order, dtype in (("ndvi.tif", b"II", "float32"), ("rgb.tif", b"MM", "uint16")):
        body = client.get_object(Bucket="sh-deliveries", Key=f"ndvi/{submitted['id']}/{name}")["Body"].read()
        assert body[:2] == order
        path = tmp_path / name
        path.write_bytes(body)
        with rasterio.open(path) as src:
            assert (src.width, src.height, src.dtypes[0], src.crs.to_epsg()) == (700, 500, dtype, 4326)
            assert not src.profile.get("tiled") and src.overviews(1) == []
        assert not cog_validate(str(path), strict=True)[0]


def test_second_run_is_a_no_op(harvested: Any, sh_s3: ShServer) -> None:
    sh_s3.log.clear()
    again = pipeline.run(harvested["config"])
    assert (again.items_written, again.jobs_skipped, again.items_kept, again.failures) == (0, 2, 2, [])
    assert len(sh_s3.log) == 0


def test_delivery_credentials_appear_nowhere(harvested: Any) -> None:
    root = harvested["root"]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "state.sqlite" for p in files)
    for path in files:
        data = path.read_bytes()
        for canary in CANARIES:
            assert canary.encode() not in data, (path, canary)
    for path in root.parent.rglob("*.sqlite-wal"):
        assert not any(c.encode() in path.read_bytes() for c in CANARIES)
    logged = harvested["log"]
    assert "Sentinel Hub: async request 1 submitted as" in logged  # the run's log is the one checked
    text = logged + "".join(str(f) for f in harvested["summary"].failures)
    for canary in CANARIES:
        assert canary not in text
    # the presigned URLs the outputs are fetched with are logged without their signature (httpx's lines
    # redacted, the loopback S3 server's without the query)
    assert "X-Amz-Signature=REDACTED" in logged
    assert not re.search(r"X-Amz-Signature=(?!REDACTED)", logged)
    request_asset = next(root.rglob("request.json"))
    kept = json.loads(request_asset.read_text())
    assert kept["output"]["delivery"]["s3"] == {"url": DELIVERY}


def test_a_failed_request_reports_its_error_json(sh_s3: ShServer, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    request = _write(tmp_path / "failing.json", multi_request(MULTI_EVALSCRIPT + "\n// sim-fail"))
    summary = pipeline.run(sh_config(tmp_path / "catalog", _async_source(request)))
    assert summary.items_written == 0
    assert [f.error for f in summary.failures] == [
        "the job failed at the provider: Failed to evaluate script! evaluatePixel must return an array "
        "(RENDERER_EXCEPTION)"]
    assert all(c not in caplog.text for c in CANARIES)


def test_429_on_submit_is_retried_and_requests_wait_their_turn(sh_s3: ShServer, tmp_path: Path) -> None:
    sh_s3.sim.concurrency = 1
    sh_s3.sim.run_seconds = 0.3
    request = _write(tmp_path / "three.json", [utm_request(), multi_request(), utm_request(region="eu-central-1")])
    summary = pipeline.run(sh_config(tmp_path / "catalog", _async_source(request)))
    assert summary.failures == []
    assert summary.items_written == 3
    assert sh_s3.sim.refused_submissions >= 2
    posts = sh_s3.log.records("/api/v1/async/process", "POST")
    assert [r.status for r in posts].count(200) == 3
    assert [r.status for r in posts].count(429) == sh_s3.sim.refused_submissions


def test_existing_request_ids_are_fetched(sh_s3: ShServer, tmp_path: Path) -> None:
    token = httpx.post(sh_s3.sim.token_url, data={"grant_type": "client_credentials",
                                                  "client_id": sh_s3.sim.client_id,
                                                  "client_secret": sh_s3.sim.client_secret}).json()["access_token"]
    request_id = httpx.post(f"{sh_s3.url}/api/v1/async/process", json=utm_request(),
                            headers={"Authorization": f"Bearer {token}"}).json()["id"]
    root = tmp_path / "catalog"
    source = {"provider": "sentinelhub-async", "name": "old", "request_ids": [request_id], "delivery": DELIVERY}
    summary = pipeline.run(sh_config(root, source))
    assert summary.failures == []
    (item,) = _items(root).values()
    assert item.id == f"sentinelhub-async-{request_id}"
    assert sorted(item.assets) == ["default", "thumbnail", "userdata"]
    assert validate_catalog(root).ok


@pytest.mark.parametrize("accept", ["image/tiff", "application/tar"])
def test_sync_process_response_becomes_an_item(sh: ShServer, tmp_path: Path, accept: str) -> None:
    body = utm_request()
    del body["output"]["delivery"]
    body["output"].update(width=600, height=600)
    del body["output"]["resx"], body["output"]["resy"]
    request = _write(tmp_path / "sync.json", body)
    root = tmp_path / "catalog"
    summary = pipeline.run(sh_config(root, {"provider": "sentinelhub-process", "name": "sync",
                                            "request": str(request), "accept": accept}))
    assert summary.failures == []
    (item,) = _items(root).values()
    assert item.collection_id == "sentinelhub-process"
    expected = ["default", "request", "thumbnail"] + (["userdata"] if accept == "application/tar" else [])
    assert sorted(item.assets) == expected
    assert item.properties["proj:code"] == "EPSG:32633"
    assert item.properties["proj:shape"] == [600, 600]
    expected_scenes = _expected_scenes(sh, "sentinel-2-l2a", tuple(item.bbox), "2020-12-01T00:00:00Z",
                                       "2020-12-31T23:59:59Z", cloud=40)
    assert item.properties["sentinelhub:scene_count"] == len(expected_scenes) > 0
    path = Path(item.self_href).parent / item.assets["default"].href
    assert cog_validate(str(path), strict=True)[0]
    posts = sh.log.records("/api/v1/process", "POST")
    assert len(posts) == 1 and posts[0].status == 200
    assert validate_catalog(root).ok
    again = pipeline.run(sh_config(root, {"provider": "sentinelhub-process", "name": "sync",
                                          "request": str(request), "accept": accept}))
    assert (again.items_written, again.jobs_skipped) == (0, 1)
    assert len(sh.log.records("/api/v1/process", "POST")) == 1


def test_cli_submit_with_the_request_file_and_delivery(sh_s3: ShServer, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    body = utm_request()
    del body["output"]["delivery"]["s3"]["url"]
    request = _write(tmp_path / "request.json", body)
    root = tmp_path / "catalog"
    code = main(["submit", "sentinelhub-async", str(request), "--delivery", "s3://cli-bucket/out", "--catalog",
                 str(root), "--poll-interval", "0.05"])
    assert code == 0, capsys.readouterr()
    (item,) = _items(root).values()
    assert item.properties["sentinelhub:request_id"] in sh_s3.sim.async_requests
    assert json.loads((Path(item.self_href).parent / "request.json").read_text())["output"]["delivery"] == {
        "s3": {"url": "s3://cli-bucket/out"}}
    assert len(sh_s3.sim.async_requests) == 1
