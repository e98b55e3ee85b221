"""The Sentinel Hub Catalog searched natively with pystac-client, against the simulator over loopback HTTP."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pystac
import pytest

from adapters.auth import OAuthClientCredentials
from adapters.http import RetryPolicy, make_client
from adapters.sentinelhub.catalog import HttpxStacApiIO, clean_item, open_catalog
from adapters.sentinelhub.query import SearchQuery
from adapters.sentinelhub.simulator import TOKEN_PATH
from catalogs.validate import validate_catalog
from harvester import pipeline
from harvester.cli import main
from harvester.config import ConfigError
from tests.adapters.sentinelhub.conftest import ShServer, sh_config

L2A = "sentinel-2-l2a"
L1C = "sentinel-2-l1c"
EVERYTHING = [10.0, 40.0, 20.0, 50.0]


def _source(**keys: Any) -> dict[str, Any]:
    return {"provider": "sentinelhub-catalog", "name": "s2", "collection": L2A, "datetime": "2020-01-01T00:00:00Z/..",
            "bbox": EVERYTHING, **keys}


def _items(root: Path) -> dict[str, pystac.Item]:
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {item.id: item for item in catalog.get_items(recursive=True)}


def _searches(sh: ShServer) -> list[Any]:
    return sh.log.records("/api/v1/catalog/1.0.0/search")


@pytest.mark.parametrize("paging", ["link", "context"])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_search_of_250_items_in_pages_of_100(sh: ShServer, tmp_path: Path, paging: str, method: str) -> None:
    sh.sim.paging = paging
    root = tmp_path / "catalog"
    # a filter most of the 250 scenes pass (cloud cover is 0..99.99), kept on every page, and fields without gsd
    config = sh_config(root, _source(limit=100, method=method, filter="eo:cloud_cover < 90",
                                     fields=["-properties.gsd"]))
    expected = sorted(scene.id for scene in sh.sim.scenes(L2A) if scene.properties["eo:cloud_cover"] < 90)
    assert 200 < len(expected) < 250  # three pages of 100, and some scenes filtered out
    summary = pipeline.run(config)
    assert summary.failures == []
    assert summary.items_written == len(expected)
    assert len(_searches(sh)) == 3
    assert {r.method for r in _searches(sh)} == {method}
    items = _items(root)
    assert sorted(items) == expected
    assert all("gsd" not in item.properties for item in items.values())
    report = validate_catalog(root)
    assert report.ok, report.format()

    sh.log.clear()
    second = pipeline.run(config)
    assert (second.items_written, second.items_unchanged, second.failures) == (0, len(expected), [])
    assert len(_searches(sh)) == 3


@pytest.mark.parametrize("paging", ["link", "context"])
def test_cql2_filter_and_fields(sh: ShServer, tmp_path: Path, paging: str) -> None:
    sh.sim.paging = paging
    root = tmp_path / "catalog"
    config = sh_config(root, _source(filter="eo:cloud_cover < 40 AND platform = 'sentinel-2a'",
                                     fields=["-properties.gsd"], limit=100))
    summary = pipeline.run(config)
    expected = sorted(s.id for s in sh.sim.scenes(L2A)
                      if s.properties["eo:cloud_cover"] < 40 and s.properties["platform"] == "sentinel-2a")
    assert summary.failures == []
    items = _items(root)
    assert sorted(items) == expected
    assert all("gsd" not in item.properties for item in items.values())
    assert all(item.properties["eo:cloud_cover"] < 40 for item in items.values())
    assert validate_catalog(root).ok


def test_cql2_json_filter_with_between(sh: ShServer, tmp_path: Path) -> None:
    flt = json.dumps({"op": "and", "args": [{"op": "between", "args": [{"property": "eo:cloud_cover"}, 10, 30]},
                                            {"op": "=", "args": [{"property": "platform"}, "sentinel-2b"]}]})
    root = tmp_path / "catalog"
    pipeline.run(sh_config(root, _source(filter=flt)))
    expected = sorted(s.id for s in sh.sim.scenes(L2A)
                      if 10 <= s.properties["eo:cloud_cover"] <= 30 and s.properties["platform"] == "sentinel-2b")
    assert sorted(_items(root)) == expected


def test_items_are_stac_1_1_without_api_members(sh: ShServer, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    pipeline.run(sh_config(root, _source(max_items=3)))
    scene = sh.sim.scenes(L2A)[0]
    data = json.loads((root / L2A / scene.id / f"{scene.id}.json").read_text())
    assert data["stac_version"] == "1.1.0"
    assert data["properties"]["proj:code"] == "EPSG:32633"
    assert "proj:epsg" not in data["properties"]
    assert "crs" not in data["geometry"] and "crs" not in data["properties"]["proj:geometry"]
    assert "https://stac-extensions.github.io/projection/v2.0.0/schema.json" in data["stac_extensions"]
    via = [link for link in data["links"] if link["rel"] == "via"]
    assert [link["href"] for link in via] == [f"{sh.url}/api/v1/catalog/1.0.0/collections/{L2A}/items/{scene.id}"]
    assert not [link for link in data["links"] if link["href"].startswith(sh.url) and link["rel"] != "via"]
    assert data["assets"]["data"]["href"].startswith("s3://sentinel-s2-l2a/tiles/33/")
    collection = json.loads((root / L2A / "collection.json").read_text())
    assert collection["title"] == "Sentinel 2 L2A" and collection["license"] == "proprietary"
    assert [p["name"] for p in collection["providers"]] == ["Sentinel Hub", "ESA"]
    assert len(_items(root)) == 3


def test_the_real_sample_item_is_cleaned_the_same_way(samples: Path) -> None:
    sample = json.loads((samples / "sentinelhub" / "postCatalogItemSearch--resp-200--response_200.json").read_text())
    data = sample["response"]["features"][0]
    data.update(stac_version="1.0.0", geometry={"type": "Polygon", "coordinates": [[[13, 45], [14, 45], [14, 46],
                                                                                    [13, 45]]]},
                assets={}, links=[], collection=L2A)
    item = clean_item(data, "https://services.sentinel-hub.com/api/v1/catalog/1.0.0/")
    assert item.properties["proj:code"] == "EPSG:32633"
    assert "crs" not in item.properties["proj:geometry"]
    assert item.get_single_link("via").href == ("https://services.sentinel-hub.com/api/v1/catalog/1.0.0/collections/"
                                                 "sentinel-2-l2a/items/S2B_MSIL2A_20201229T101329_N0214_R022_T33TUK_"
                                                 "20201229T115442")


def test_several_collections_fan_out_into_one_search_each(sh: ShServer, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    summary = pipeline.run(sh_config(root, _source(collection=f"{L2A},{L1C}")))
    assert summary.failures == []
    assert summary.items_written == 250 + 40
    assert {p.name for p in root.iterdir() if (p / "collection.json").exists()} == {L2A, L1C}
    bodies_ok = len(_searches(sh))  # the simulator answers 400 to a search of several collections
    assert bodies_ok == 3 + 1
    assert validate_catalog(root).ok


def test_a_missing_datetime_is_refused_before_sending(sh: ShServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a datetime"):
        sh_config(tmp_path / "catalog", _source(datetime=None) | {"datetime": ""})
    code = main(["search", "sentinelhub", "--collection", L2A, "--catalog", str(tmp_path / "cli")])
    assert code == 2
    assert len(sh.log) == 0


def test_limit_above_100_is_capped(sh: ShServer, tmp_path: Path) -> None:
    summary = pipeline.run(sh_config(tmp_path / "catalog", _source(limit=500)))
    assert summary.items_written == 250
    assert len(_searches(sh)) == math.ceil(250 / 100)


def test_an_under_declaring_server_still_works(sh: ShServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sh.sim.conformance = "core"
    caplog.set_level(logging.WARNING, "adapters.sentinelhub.catalog")
    summary = pipeline.run(sh_config(tmp_path / "catalog", _source(filter="eo:cloud_cover < 50")))
    assert summary.failures == []
    assert summary.items_written == sum(1 for s in sh.sim.scenes(L2A) if s.properties["eo:cloud_cover"] < 50)
    said = [r.getMessage() for r in caplog.records if "does not declare" in r.getMessage()]
    assert len(said) == 1
    assert "item-search" in said[0]


def test_token_expiry_mid_search_refreshes_once(sh: ShServer, tmp_path: Path) -> None:
    searches = 0
    real = sh.sim.on_search

    def expiring(request: Any) -> Any:
        nonlocal searches
        searches += 1
        if searches == 2:
            sh.sim.expire_tokens()
        return real(request)

    sh.sim.on_search = expiring  # type: ignore[method-assign]
    summary = pipeline.run(sh_config(tmp_path / "catalog", _source()))
    assert summary.failures == []
    assert summary.items_written == 250
    assert sh.sim.counters.tokens == 2
    # the second page is answered with the old token; the next call to the API with it (the third page, or
    # the collection document the search fetches in its read-ahead thread, whichever comes first) is refused
    # once, and everything after goes with a new token
    statuses = [r.status for r in sh.log.records() if r.path.startswith("/api/v1/catalog/")]
    assert statuses.count(401) == 1
    assert [r.status for r in _searches(sh) if r.status != 401] == [200, 200, 200]
    assert statuses[statuses.index(401) + 1:] == [200] * (len(statuses) - statuses.index(401) - 1)


def test_an_interrupted_search_keeps_what_it_found(sh: ShServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from catalogs import store

    monkeypatch.setattr(store, "BATCH", 50)
    searches = 0
    real = sh.sim.on_search

    def failing(request: Any) -> Any:
        nonlocal searches
        searches += 1
        if searches == 3:
            return httpx_error_response()
        return real(request)

    sh.sim.on_search = failing  # type: ignore[method-assign]
    root = tmp_path / "catalog"
    config = sh_config(root, _source())
    summary = pipeline.run(config)
    assert summary.items_written == 200
    assert len(summary.failures) == 1 and "HTTP 400" in summary.failures[0].error
    assert len(_items(root)) == 200
    sh.sim.on_search = real  # type: ignore[method-assign]
    again = pipeline.run(config)
    assert (again.items_written, again.items_unchanged, again.failures) == (50, 200, [])


def httpx_error_response() -> Any:
    from werkzeug.wrappers import Response

    return Response(json.dumps({"error": {"status": 400, "message": "boom"}}), status=400, mimetype="application/json")


def test_search_every_skips_a_recent_complete_search(sh: ShServer, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    config = sh_config(root, _source(search_every=3600))
    assert pipeline.run(config).items_written == 250
    sh.log.clear()
    second = pipeline.run(config)
    assert (second.items_written, second.items_kept) == (0, 250)
    assert len(sh.log) == 0
    changed = sh_config(root, _source(search_every=3600, max_items=10))  # another query: searched at once
    assert pipeline.run(changed).items_unchanged == 10


def test_token_endpoint_429_is_backed_off(sh: ShServer) -> None:
    """The simulator allows one token a minute; a renewal asked too early is answered 429 with Retry-After,
    which the client's transport waits for (the wait moves the simulator's clock) before asking again."""
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    sh.sim.clock = lambda: now[0]
    sh.sim.token_burst, sh.sim.token_window = 1, 60.0
    auth = OAuthClientCredentials(sh.sim.token_url, sh.sim.client_id, sh.sim.client_secret, clock=lambda: now[0])
    with make_client(retries=RetryPolicy(sleep=sleep)) as client:
        io = HttpxStacApiIO(client, auth)
        catalog = open_catalog(sh.sim.catalog_url, io)
        now[0] = 10.0
        sh.sim.expire_tokens()
        found = list(catalog.search(**SearchQuery([L2A], "2020-01-01/..", max_items=5).search_kwargs(L2A))
                     .items_as_dicts())
    assert len(found) == 5
    assert sleeps == [50.0]
    assert sh.sim.counters.tokens == 2
    assert [r.status for r in sh.log.records(TOKEN_PATH)] == [200, 429, 200]


def test_token_is_reused_until_shortly_before_it_expires(sh: ShServer) -> None:
    now = [0.0]
    sh.sim.token_lifetime = 600
    auth = OAuthClientCredentials(sh.sim.token_url, sh.sim.client_id, sh.sim.client_secret, clock=lambda: now[0])
    with make_client() as client:
        io = HttpxStacApiIO(client, auth)
        open_catalog(sh.sim.catalog_url, io)
        now[0] = 539.0  # 61 s left: still used
        io.read_json(f"{sh.sim.catalog_url}collections/{L2A}")
        assert sh.sim.counters.tokens == 1
        now[0] = 541.0  # 59 s left: renewed before use
        io.read_json(f"{sh.sim.catalog_url}collections/{L2A}")
        assert sh.sim.counters.tokens == 2


def test_cli_search_and_distinct(sh: ShServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["search", "sentinelhub", "--collection", L2A, "--datetime", "2020-12-01/2020-12-31",
                 "--bbox", "13,45,14,46", "--distinct", "platform"])
    assert code == 0
    assert capsys.readouterr().out.split() == ["sentinel-2a", "sentinel-2b"]
    root = tmp_path / "cli"
    code = main(["search", "sentinelhub", "--collection", L2A, "--datetime", "2020-12-01/2020-12-31",
                 "--bbox", "13,45,14,46", "--filter", "eo:cloud_cover <= 60", "--catalog", str(root)])
    assert code == 0
    expected = sorted(s.id for s in sh.sim.scenes(L2A) if s.bbox == (13.0, 45.0, 14.0, 46.0)
                      and s.datetime.month == 12 and s.datetime.year == 2020 and s.properties["eo:cloud_cover"] <= 60)
    assert expected and sorted(_items(root)) == expected


def test_fields_keep_found_items_stac_items(sh: ShServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="geometry cannot be excluded"):
        sh_config(tmp_path / "refused", _source(fields=["-geometry"]))
    root = tmp_path / "catalog"
    summary = pipeline.run(sh_config(root, _source(fields=["properties.eo:cloud_cover"], max_items=5)))
    assert summary.failures == []
    items = _items(root)
    assert len(items) == 5
    for item in items.values():  # only the property asked for, besides what an item needs
        assert sorted(item.properties) == ["datetime", "eo:cloud_cover"]
    assert validate_catalog(root).ok


def test_a_rerun_rewrites_only_the_item_that_changed(sh: ShServer, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    config = sh_config(root, _source(max_items=20))
    assert pipeline.run(config).items_written == 20
    scene = sh.sim.scenes(L2A)[3]
    sh.sim.update_scene(L2A, scene.id, **{"eo:cloud_cover": 1.25})
    again = pipeline.run(config)
    assert (again.items_written, again.items_unchanged) == (1, 19)
    assert _items(root)[scene.id].properties["eo:cloud_cover"] == 1.25


def test_missing_credentials_are_named_before_anything_is_sent(sh: ShServer, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SH_CLIENT_SECRET")
    summary = pipeline.run(sh_config(tmp_path / "catalog", _source()))
    assert [f.error for f in summary.failures] == [
        "Sentinel Hub: no OAuth client credentials: set SH_CLIENT_ID and SH_CLIENT_SECRET"]
    assert len(sh.log) == 0


def test_wrong_credentials_are_an_auth_error(sh: ShServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SH_CLIENT_SECRET", "not-the-secret")
    summary = pipeline.run(sh_config(tmp_path / "catalog", _source()))
    assert [f.error for f in summary.failures] == [
        "Sentinel Hub sign-in (127.0.0.1): sign-in refused (HTTP 401): unauthorized_client (Invalid client or Invalid "
        "client credentials); check SH_CLIENT_ID and SH_CLIENT_SECRET: an OAuth client of this deployment (its "
        "dashboard's user settings)"]
    assert "not-the-secret" not in str(summary)
