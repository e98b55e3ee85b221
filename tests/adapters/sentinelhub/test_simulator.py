"""The Sentinel Hub simulator follows the real API's rules (in-process, through httpx's WSGI transport)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from adapters.sentinelhub.simcatalog import parse_cql2_text, parse_interval
from adapters.sentinelhub.simulator import TOKEN_PATH, SentinelHubSimulator

SEARCH = "/api/v1/catalog/1.0.0/search"


@pytest.fixture
def api() -> tuple[SentinelHubSimulator, httpx.Client]:
    sim = SentinelHubSimulator(collections={"sentinel-2-l2a": 30, "sentinel-2-l1c": 5})
    client = httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://sim")
    token = client.post(TOKEN_PATH, data={"grant_type": "client_credentials", "client_id": sim.client_id,
                                          "client_secret": sim.client_secret}).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return sim, client


def _search(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post(SEARCH, json={"collections": ["sentinel-2-l2a"], "datetime": "2020-01-01T00:00:00Z/..",
                                     **body})


def test_several_collections_or_no_datetime_are_400(api: tuple[SentinelHubSimulator, httpx.Client]) -> None:
    _, client = api
    several = _search(client, collections=["sentinel-2-l2a", "sentinel-2-l1c"])
    assert several.status_code == 400
    assert "exactly one collection" in several.json()["error"]["message"]
    missing = client.post(SEARCH, json={"collections": ["sentinel-2-l2a"]})
    assert (missing.status_code, missing.json()["error"]["message"]) == (400, "datetime: required")


def test_paging_by_link_or_by_context_only(api: tuple[SentinelHubSimulator, httpx.Client]) -> None:
    sim, client = api
    page = _search(client, limit=12).json()
    assert page["context"] == {"limit": 12, "returned": 12, "next": 12}
    (link,) = [link for link in page["links"] if link["rel"] == "next"]
    assert (link["method"], link["body"], link["merge"]) == ("POST", {"next": 12}, True)
    last = _search(client, limit=12, next=24).json()
    assert last["context"] == {"limit": 12, "returned": 6}
    assert not [link for link in last["links"] if link["rel"] == "next"]
    sim.paging = "context"
    page = _search(client, limit=12).json()
    assert page["context"]["next"] == 12 and not [link for link in page["links"] if link["rel"] == "next"]
    sim.paging = "link"
    got = client.get(SEARCH, params={"collections": "sentinel-2-l2a", "datetime": "2020-01-01T00:00:00Z/..",
                                     "limit": "10"}).json()
    (link,) = [link for link in got["links"] if link["rel"] == "next"]
    assert "next=10" in link["href"] and "limit=10" in link["href"]


def test_limit_is_at_most_100_and_at_least_1(api: tuple[SentinelHubSimulator, httpx.Client]) -> None:
    _, client = api
    assert _search(client, limit=500).json()["context"]["limit"] == 100
    assert _search(client, limit=0).status_code == 400


def test_fields_distinct_and_conformance(api: tuple[SentinelHubSimulator, httpx.Client]) -> None:
    sim, client = api
    shaped = _search(client, limit=1, fields={"include": ["id", "properties.eo:cloud_cover"]}).json()["features"]
    assert shaped == [{"id": sim.scenes("sentinel-2-l2a")[0].id,
                       "properties": {"eo:cloud_cover": sim.scenes("sentinel-2-l2a")[0].properties["eo:cloud_cover"]}}]
    distinct = _search(client, distinct="platform").json()["features"]
    assert distinct == ["sentinel-2a", "sentinel-2b"]
    assert "https://api.stacspec.org/v1.0.0/item-search" in client.get("/api/v1/catalog/1.0.0/").json()["conformsTo"]
    sim.conformance = "core"
    assert client.get("/api/v1/catalog/1.0.0/").json()["conformsTo"] == ["https://api.stacspec.org/v1.0.0-beta.1/core"]


def test_tokens_expire_and_are_rate_limited(api: tuple[SentinelHubSimulator, httpx.Client]) -> None:
    sim, client = api
    assert _search(client, limit=1).status_code == 200
    sim.expire_tokens()
    assert _search(client, limit=1).status_code == 401
    sim.token_burst = 1
    form = {"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": sim.client_secret}
    refused = client.post(TOKEN_PATH, data=form)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # the rate limit is checked before the credentials; once it lets requests through, a wrong secret is a 401
    assert client.post(TOKEN_PATH, data={**form, "client_secret": "wrong"}).status_code == 429
    sim.token_burst = 1000
    wrong = client.post(TOKEN_PATH, data={**form, "client_secret": "wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized_client"


def test_cql2_subset() -> None:
    item = {"properties": {"eo:cloud_cover": 12.5, "platform": "sentinel-2a"}}
    assert parse_cql2_text("eo:cloud_cover < 20 AND platform = 'sentinel-2a'")(item)
    assert parse_cql2_text("eo:cloud_cover BETWEEN 10 AND 12.5")(item)
    assert not parse_cql2_text("(eo:cloud_cover >= 13) AND platform <> 'x'")(item)
    with pytest.raises(ValueError, match="operator .or. is not supported"):
        parse_cql2_text("eo:cloud_cover < 1 OR eo:cloud_cover > 2")


def test_datetime_intervals_with_open_ends() -> None:
    start, end = parse_interval("2020-12-01T00:00:00Z/..")
    assert (start.isoformat(), end) == ("2020-12-01T00:00:00+00:00", None)
    start, end = parse_interval("../2020-12-31")
    assert (start, end.isoformat()) == (None, "2020-12-31T00:00:00+00:00")
    with pytest.raises(ValueError, match="start is after its end"):
        parse_interval("2021-01-01/2020-01-01")


def test_async_status_is_404_once_finished_and_429_above_the_limit() -> None:
    delivered: list[str] = []

    class FakeS3:  # records what would be written: the limit and the status are what this test is about
        meta = type("Meta", (), {"region_name": "us-east-1"})

        def head_bucket(self, **kw: Any) -> None:
            return None

        def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:  # noqa: N803 - boto3's names
            delivered.append(Key)

    sim = SentinelHubSimulator(s3=FakeS3, concurrency=1)
    client = httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://sim")
    token = client.post(TOKEN_PATH, data={"grant_type": "client_credentials", "client_id": sim.client_id,
                                          "client_secret": sim.client_secret}).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    body = {"input": {"bounds": {"bbox": [13.1, 45.1, 13.2, 45.2]}, "data": [{"type": "S2L2A"}]},
            "output": {"width": 8, "height": 8, "responses": [{"identifier": "default"}],
                       "delivery": {"s3": {"url": "s3://b/p", "accessKey": "a", "secretAccessKey": "s"}}},
            "evalscript": "//VERSION=3\nfunction setup() {return {input: ['B04'], output: {bands: 1}}}"}
    first = client.post("/api/v1/async/process", json=body).json()
    assert first["status"] == "RUNNING"
    refused = client.post("/api/v1/async/process", json=body)
    assert refused.status_code == 429
    assert [client.get(f"/api/v1/async/process/{first['id']}").status_code for _ in range(3)] == [200, 404, 404]
    assert delivered == [f"p/{first['id']}/default.tif", f"p/{first['id']}/userdata.json"]
    assert client.post("/api/v1/async/process", json=body).status_code == 200


def test_collections_and_queryables(api: tuple[SentinelHubSimulator, httpx.Client]) -> None:
    _, client = api
    ids = [c["id"] for c in client.get("/api/v1/catalog/1.0.0/collections").json()["collections"]]
    assert ids == ["sentinel-2-l2a", "sentinel-2-l1c"]
    queryables = client.get("/api/v1/catalog/1.0.0/collections/sentinel-2-l2a/queryables")
    assert queryables.headers["Content-Type"].startswith("application/schema+json")
    assert sorted(queryables.json()["properties"]) == ["eo:cloud_cover", "platform", "proj:epsg"]
    assert client.get("/api/v1/catalog/1.0.0/collections/landsat-ot-l2").status_code == 404
