"""``harvester serve DIR --api``: the STAC API over the demo catalog, searched with pystac-client, and every
answer compared with a brute-force filter over the items' JSON files."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pystac
import pytest
import shapely.geometry
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses

from catalogs.store import CatalogStore
from harvester.stacapi import CONFORMANCE, REFRESH_EVERY
from tests.demo_items import catalog_items, collections_of, time_span
from tests.processes import serving


@dataclass
class Api:
    url: str
    root: Path
    items: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def api(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("api") / "demo"
    shutil.copytree(demo, root, symlinks=True)  # the API writes its index into the catalog's .harvest/
    with serving(root, api=True) as url:
        yield Api(url, root, catalog_items(root))


def searched(api: Api, **kwargs: Any) -> list[str]:
    """The ids a pystac-client search returns (all pages), in order; no id twice."""
    ids = [item.id for item in Client.open(api.url).search(**kwargs).items()]
    assert len(ids) == len(set(ids))
    return ids


def test_pystac_client_sees_the_conformance_and_every_collection(api: Api) -> None:
    client = Client.open(api.url)
    for conformance in (ConformanceClasses.CORE, ConformanceClasses.COLLECTIONS, ConformanceClasses.FEATURES,
                        ConformanceClasses.ITEM_SEARCH, ConformanceClasses.FILTER, ConformanceClasses.SORT):
        assert client.conforms_to(conformance), conformance
    assert {c.id for c in client.get_collections()} == collections_of(api.root)
    assert httpx.get(f"{api.url}conformance").json() == {"conformsTo": CONFORMANCE}


def test_each_collection_lists_its_items_page_by_page(api: Api) -> None:
    client = Client.open(api.url)
    for cid in sorted(collections_of(api.root)):
        expected = sorted(i for i, item in api.items.items() if item["collection"] == cid)
        collection = client.get_collection(cid)
        assert sorted(item.id for item in collection.get_items()) == expected
        response = httpx.get(f"{api.url}collections/{cid}/items", params={"limit": 1})
        assert response.json()["numberReturned"] == 1
        assert any(link["rel"] == "next" for link in response.json()["links"]) == (len(expected) > 1)


def test_an_item_is_its_json_file_with_urls_of_this_server(api: Api) -> None:
    for item_id, item in sorted(api.items.items())[:3]:
        served = httpx.get(f"{api.url}collections/{item['collection']}/items/{item_id}").json()
        assert {k: v for k, v in served.items() if k not in ("links", "assets")} == {
            k: v for k, v in item.items() if k not in ("links", "assets")}
        assert served["assets"].keys() == item["assets"].keys()
        for key, asset in served["assets"].items():
            assert asset["href"] == f"{api.url}{Path(item['assets'][key]['href']).relative_to(api.root)}"
            assert {k: v for k, v in asset.items() if k != "href"} == {
                k: v for k, v in item["assets"][key].items() if k != "href"}
        thumbnail = served["assets"].get("thumbnail")
        if thumbnail:
            assert httpx.get(thumbnail["href"]).status_code == 200
        assert pystac.Item.from_dict(served).get_self_href() == (
            f"{api.url}collections/{item['collection']}/items/{item_id}")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paging_across_at_least_three_pages_returns_every_item_once(api: Api, method: str) -> None:
    limit = max(1, len(api.items) // 3)
    search = Client.open(api.url).search(limit=limit, method=method)
    pages = [[item.id for item in page.items] for page in search.pages()]
    assert len(pages) >= 3
    assert all(len(page) == limit for page in pages[:-1])
    assert sorted(i for page in pages for i in page) == sorted(api.items)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bbox_and_datetime_return_what_a_brute_force_filter_returns(api: Api, method: str) -> None:
    times = sorted(time_span(item)[0] for item in api.items.values())
    start, end = times[0], times[len(times) // 2]
    first = api.items[sorted(api.items)[0]]
    x, y = shapely.geometry.shape(first["geometry"]).centroid.coords[0]
    box = [x - 30, y - 20, x + 30, y + 20]
    expected = sorted(
        i for i, item in api.items.items()
        if shapely.geometry.shape(item["geometry"]).intersects(shapely.geometry.box(*box))
        and time_span(item)[0] <= end and time_span(item)[1] >= start)
    assert expected
    interval = f"{start.isoformat().replace('+00:00', 'Z')}/{end.isoformat().replace('+00:00', 'Z')}"
    assert sorted(searched(api, bbox=box, datetime=interval, limit=2, method=method)) == expected
    # each alone
    assert sorted(searched(api, bbox=box, method=method)) == sorted(
        i for i, item in api.items.items()
        if shapely.geometry.shape(item["geometry"]).intersects(shapely.geometry.box(*box)))
    assert sorted(searched(api, datetime=f"../{end.isoformat().replace('+00:00', 'Z')}", method=method)) == sorted(
        i for i, item in api.items.items() if time_span(item)[0] <= end)


def test_intersects_ids_and_collections(api: Api) -> None:
    ordered = sorted(api.items)
    geometry = api.items[ordered[0]]["geometry"]
    assert sorted(searched(api, intersects=geometry)) == sorted(
        i for i, item in api.items.items()
        if shapely.geometry.shape(item["geometry"]).intersects(shapely.geometry.shape(geometry)))
    assert sorted(searched(api, ids=ordered[:3])) == ordered[:3]
    cid = api.items[ordered[0]]["collection"]
    assert sorted(searched(api, collections=[cid])) == sorted(
        i for i, item in api.items.items() if item["collection"] == cid)


def _a_string_and_a_number_property(items: dict[str, dict[str, Any]]) -> tuple[str, str, str, float]:
    """A string property and a number property of the first item that other items lack or differ in."""
    first = items[sorted(items)[0]]["properties"]
    strings = [k for k, v in sorted(first.items()) if isinstance(v, str) and not k.endswith("datetime")
               and sum(1 for i in items.values() if i["properties"].get(k) == v) < len(items)]
    numbers = [k for k, v in sorted(first.items()) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert strings and numbers
    return strings[0], first[strings[0]], numbers[0], first[numbers[0]]


@pytest.mark.parametrize("language", ["cql2-text", "cql2-json"])
def test_a_cql2_filter_returns_what_a_brute_force_filter_returns(api: Api, language: str) -> None:
    text_name, text_value, number_name, number_value = _a_string_and_a_number_property(api.items)
    if language == "cql2-text":
        query: Any = (f"(\"{text_name}\" = '{text_value}' AND \"{number_name}\" >= {number_value}) "
                      f"OR NOT (\"{text_name}\" <> '{text_value}')")
    else:
        query = {"op": "or", "args": [
            {"op": "and", "args": [{"op": "=", "args": [{"property": text_name}, text_value]},
                                   {"op": ">=", "args": [{"property": number_name}, number_value]}]},
            {"op": "not", "args": [{"op": "<>", "args": [{"property": text_name}, text_value]}]}]}

    def matches(props: dict[str, Any]) -> bool:
        # a comparison with a property an item lacks is unknown (not true), so NOT (... <> v) is "= v"
        return props.get(text_name) == text_value
    expected = sorted(i for i, item in api.items.items() if matches(item["properties"]))
    assert 0 < len(expected) < len(api.items)
    for method in ("GET", "POST"):
        assert sorted(searched(api, filter=query, filter_lang=language, method=method, limit=2)) == expected
    # a number comparison alone: items without the property do not match
    assert sorted(searched(api, filter=f"\"{number_name}\" < {number_value}")) == sorted(
        i for i, item in api.items.items()
        if isinstance(item["properties"].get(number_name), (int, float)) and item["properties"][number_name] < number_value)
    assert sorted(searched(api, filter=f"\"{number_name}\" IS NULL")) == sorted(
        i for i, item in api.items.items() if item["properties"].get(number_name) is None)


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sortby_datetime_orders_every_page(api: Api, direction: str) -> None:
    sign = -1 if direction == "desc" else 1
    dated = [i for i in api.items if api.items[i]["properties"]["datetime"]]
    undated = [i for i in api.items if not api.items[i]["properties"]["datetime"]]
    # datetime first, then the API's tie-break (collection, id); items without a datetime last
    expected = sorted(dated, key=lambda i: (
        sign * datetime.fromisoformat(api.items[i]["properties"]["datetime"]).timestamp(),
        api.items[i]["collection"], i)) + sorted(undated, key=lambda i: (api.items[i]["collection"], i))
    assert searched(api, sortby=[{"field": "datetime", "direction": direction}], limit=3) == expected
    prefix = "-" if direction == "desc" else "+"
    for name in ("datetime", "properties.datetime"):
        got = httpx.get(f"{api.url}search", params={"sortby": f"{prefix}{name}", "limit": len(api.items)}).json()
        assert [f["id"] for f in got["features"]] == expected, name
    # the body STAC Browser posts for "Time of Data"
    got = httpx.post(f"{api.url}search", json={
        "sortby": [{"field": "properties.datetime", "direction": direction}], "limit": len(api.items)}).json()
    assert [f["id"] for f in got["features"]] == expected


def follow(link: dict[str, Any]) -> dict[str, Any]:
    """The page a paging link leads to, asked as the link says (GET, or POST with its body)."""
    if link.get("method") == "POST":
        response = httpx.post(link["href"], json=link["body"])
    else:
        response = httpx.get(link["href"])
    assert response.status_code == 200, response.text
    return response.json()


def rels(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {link["rel"]: link for link in page["links"] if link["rel"] != "root"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_page_counts_all_matches_and_links_back(api: Api, method: str) -> None:
    """numberMatched (STAC Browser shows it beside "Items") is the whole search's count on every page, and
    pages after the first link back to the previous one and to the first."""
    cid = max(collections_of(api.root), key=lambda c: sum(1 for i in api.items.values() if i["collection"] == c))
    expected = sorted(i for i, item in api.items.items() if item["collection"] == cid)
    assert len(expected) >= 3
    limit = 2
    query = {"collections": [cid], "limit": limit}
    if method == "POST":
        first = httpx.post(f"{api.url}search", json=query).json()
    else:
        first = httpx.get(f"{api.url}search", params={**query, "collections": cid}).json()
    pages = [first]
    while "next" in rels(pages[-1]):
        pages.append(follow(rels(pages[-1])["next"]))
    assert len(pages) == -(-len(expected) // limit)
    assert [page["numberMatched"] for page in pages] == [len(expected)] * len(pages)
    assert [page["numberReturned"] for page in pages] == [len(p["features"]) for p in pages]
    ids = [[f["id"] for f in page["features"]] for page in pages]
    assert sorted(i for page in ids for i in page) == expected
    assert set(rels(first)) == {"next"}  # no way back from the first page
    for number, page in enumerate(pages[1:], start=1):
        assert {link["method"] for link in rels(page).values()} == {method}
        assert [f["id"] for f in follow(rels(page)["prev"])["features"]] == ids[number - 1]
        assert [f["id"] for f in follow(rels(page)["first"])["features"]] == ids[0]
    # a page past the last one: nothing on it, the count still right, a way back
    beyond = {**rels(pages[-1])["prev"]}
    if method == "POST":
        beyond["body"] = {**beyond["body"], "token": str(len(expected) + limit)}
    else:
        beyond["href"] = f"{api.url}search?collections={cid}&limit={limit}&token={len(expected) + limit}"
    past = follow(beyond)
    assert (past["features"], past["numberMatched"], past["numberReturned"]) == ([], len(expected), 0)
    assert "next" not in rels(past)
    assert [f["id"] for f in follow(rels(past)["first"])["features"]] == ids[0]


def test_a_search_matching_nothing_counts_zero(api: Api) -> None:
    got = httpx.get(f"{api.url}search", params={"ids": "no-such-item"}).json()
    assert (got["features"], got["numberMatched"], got["numberReturned"], rels(got)) == ([], 0, 0, {})


def test_a_filter_of_one_condition_as_stac_browser_posts_it(api: Api) -> None:
    """STAC Browser wraps its filters in "and" (or "or") even when there is one: that one alone decides."""
    text_name, text_value, _, _ = _a_string_and_a_number_property(api.items)
    expected = sorted(i for i, item in api.items.items() if item["properties"].get(text_name) == text_value)
    assert 0 < len(expected) < len(api.items)
    for logical in ("and", "or"):
        body = {"filter-lang": "cql2-json", "limit": len(api.items), "filter": {
            "op": logical, "args": [{"op": "=", "args": [{"property": text_name}, text_value]}]}}
        got = httpx.post(f"{api.url}search", json=body).json()
        assert sorted(f["id"] for f in got["features"]) == expected, logical
    empty = httpx.post(f"{api.url}search", json={"filter": {"op": "and", "args": []}})
    assert empty.status_code == 400
    assert "'and' takes one or more argument(s)" in empty.json()["description"]


def test_the_search_preflight_lets_a_public_page_post_to_loopback(api: Api) -> None:
    # STAC Browser posts JSON (a preflight first); from a public page Chrome also asks for Private Network Access
    response = httpx.options(f"{api.url}search", headers={
        "Origin": "https://radiantearth.github.io", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type", "Access-Control-Request-Private-Network": "true"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-private-network"] == "true"
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "HEAD", "POST", "OPTIONS"}
    assert "content-type" in {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}


@pytest.mark.parametrize(("params", "message"), [
    ({"filter": "nope = 1"}, "unknown property 'nope' in the filter"),
    ({"filter": "id LIKE 'S1%'"}, "CQL2 operator 'like' is not supported here"),
    ({"filter": "id = "}, "bad CQL2 filter"),
    ({"bbox": "1,2,3"}, "bbox must be 4 or 6 numbers"),
    ({"datetime": "yesterday"}, "bad datetime 'yesterday'"),
    ({"limit": "0"}, "limit must be 1-10000, not 0"),
    ({"sortby": "nope"}, "cannot sort by 'nope'"),
    ({"filter": "id = 'x'", "filter-lang": "sql"}, "filter-lang 'sql' is not supported"),
])
def test_bad_searches_are_400_with_the_reason(api: Api, params: dict[str, str], message: str) -> None:
    response = httpx.get(f"{api.url}search", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest"
    assert message in response.json()["description"]


def test_sql_in_a_filter_stays_a_string(api: Api) -> None:
    response = httpx.get(f"{api.url}search", params={"filter": "id = 'x'' OR 1=1 --'"})
    assert (response.status_code, response.json()["features"]) == (200, [])


def test_static_files_are_still_served_and_the_state_folder_is_not(api: Api) -> None:
    assert httpx.get(f"{api.url}catalog.json").json()["type"] == "Catalog"
    assert httpx.get(f"{api.url}.harvest/api/items.parquet").status_code == 404
    preflight = httpx.options(f"{api.url}search", headers={"Origin": "http://elsewhere",
                                                          "Access-Control-Request-Method": "POST"})
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_items_added_while_serving_are_found(api: Api) -> None:
    first = sorted(api.items)[0]
    cid = api.items[first]["collection"]
    item = pystac.Item.from_file(str(api.root / cid / first / f"{first}.json"))
    item.make_asset_hrefs_absolute()  # so that the writer copies the files into the new item's folder
    item.id = "zzz-added-while-serving"
    with CatalogStore(api.root) as store:
        store.add(item, assets="copy")
    try:
        wait = threading.Event()
        for _ in range(50):
            if searched(api, ids=[item.id]):
                break
            wait.wait(REFRESH_EVERY / 5)
        assert searched(api, ids=[item.id]) == [item.id]
        assert searched(api, collections=[cid], filter=f"id = '{item.id}'") == [item.id]
    finally:
        api.items = catalog_items(api.root)  # the module's other tests compare with the catalog as it is
