"""The GeoParquet export, on the demo catalog: every item of each of its collections, read back by
stac-geoparquet, pystac, geopandas and DuckDB, and rewritten incrementally."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any

import geopandas
import pyarrow.parquet as pq
import pystac
import pytest
import shapely.geometry

from catalogs.duck import connect
from catalogs.errors import CatalogFormatError
from catalogs.geoparquet import METADATA_KEY, export_geoparquet, read_items
from catalogs.store import CatalogStore
from tests.demo_items import absolute_hrefs, catalog_items, collections_of, time_span


@pytest.fixture(scope="module")
def exported(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "items.parquet"
    result = export_geoparquet(demo, out)
    assert (result.written, result.kept, result.dropped) == (True, 0, 0)
    assert result.items == result.read
    return out


def test_every_item_of_each_collection_comes_back_unchanged(demo: Path, exported: Path) -> None:
    expected = catalog_items(demo)
    back = {item["id"]: absolute_hrefs(item, exported.parent) for item in read_items(exported)}
    assert sorted(back) == sorted(expected)
    assert {item["collection"] for item in back.values()} == collections_of(demo)
    for item_id, item in expected.items():
        assert back[item_id] == item, item_id


def test_hrefs_in_the_file_lead_to_the_catalog_files(demo: Path, exported: Path) -> None:
    """Local assets are reached from the file's folder; remote ones (a search's scenes) are kept as they are."""
    expected = catalog_items(demo)
    remote = 0
    for item in read_items(exported):
        for key, asset in item["assets"].items():
            if urlsplit(asset["href"]).scheme:
                assert asset["href"] == expected[item["id"]]["assets"][key]["href"]
                remote += 1
            else:
                assert (exported.parent / asset["href"]).is_file(), asset["href"]
    assert remote == sum(urlsplit(a["href"]).scheme != "" for i in expected.values() for a in i["assets"].values())


def test_the_file_opens_in_geopandas_with_each_items_geometry(demo: Path, exported: Path) -> None:
    frame = geopandas.read_parquet(exported)
    expected = catalog_items(demo)
    assert sorted(frame["id"]) == sorted(expected)
    assert frame.crs.to_epsg() == 4326
    for item_id, geometry in zip(frame["id"], frame.geometry):
        assert geometry.equals(shapely.geometry.shape(expected[item_id]["geometry"])), item_id


def test_duckdb_by_bbox_and_datetime_returns_what_a_brute_force_filter_over_the_json_returns(
        demo: Path, exported: Path) -> None:
    items = catalog_items(demo)
    times = sorted(datetime.fromisoformat(i["properties"]["datetime"] or i["properties"]["start_datetime"])
                   for i in items.values())
    start, end = times[0], times[len(times) // 2]
    # a box around the first item's centre, wide enough to take in its neighbours
    first = items[sorted(items)[0]]
    x, y = shapely.geometry.shape(first["geometry"]).centroid.coords[0]
    box = (x - 30, y - 20, x + 30, y + 20)

    def overlaps(item: dict[str, Any]) -> bool:
        lo, hi = time_span(item)
        return lo <= end and hi >= start

    expected = sorted(i["id"] for i in items.values()
                      if shapely.geometry.shape(i["geometry"]).intersects(shapely.geometry.box(*box)) and overlaps(i))
    con = connect([exported])
    rows = con.execute(
        "SELECT id FROM read_parquet(?) WHERE ST_Intersects(geometry, ST_MakeEnvelope(?, ?, ?, ?)) "
        "AND coalesce(start_datetime, datetime) <= ? AND coalesce(end_datetime, datetime) >= ? ORDER BY id",
        [str(exported), *box, end, start]).fetchall()
    assert [r[0] for r in rows] == expected
    assert expected  # the query found something, so the comparison compared something


def test_one_collection(demo: Path, tmp_path: Path) -> None:
    items = catalog_items(demo)
    for cid in sorted(collections_of(demo)):
        out = tmp_path / f"{cid}.parquet"
        result = export_geoparquet(demo, out, collection=cid)
        expected = sorted(i for i, item in items.items() if item["collection"] == cid)
        assert sorted(item["id"] for item in read_items(out)) == expected
        assert result.items == len(expected)


def test_an_unknown_collection_or_a_folder_not_harvested_is_refused(demo: Path, tmp_path: Path) -> None:
    with pytest.raises(CatalogFormatError, match="no collection 'nope'"):
        export_geoparquet(demo, tmp_path / "x.parquet", collection="nope")
    with pytest.raises(CatalogFormatError, match="not a catalog the harvester wrote"):
        export_geoparquet(tmp_path, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_a_second_export_reads_only_new_and_changed_items(demo_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "items.parquet"
    first = export_geoparquet(demo_copy, out)
    ids = sorted(item["id"] for item in read_items(out))
    changed_id, untouched_id = ids[0], ids[1]
    changed = pystac.Item.from_file(str(next(demo_copy.glob(f"*/{changed_id}/{changed_id}.json"))))
    changed.properties["title"] = "changed after the first export"
    added = changed.clone()
    added.id = f"{changed_id}-new"
    added.properties["title"] = "added after the first export"
    with CatalogStore(demo_copy) as store:
        store.add(changed, assets="copy")
        store.add(added, assets="copy")
    # the same catalog exported from scratch, to compare with
    fresh = tmp_path / "fresh" / "items.parquet"
    fresh.parent.mkdir()
    export_geoparquet(demo_copy, fresh, hrefs_relative_to=tmp_path)
    # an item file the second export must not read: if it did, it would fail on it
    untouched = next(demo_copy.glob(f"*/{untouched_id}/{untouched_id}.json"))
    untouched.write_text("not JSON")

    second = export_geoparquet(demo_copy, out)
    assert (second.read, second.kept, second.dropped, second.items) == (2, first.items - 1, 1, first.items + 1)
    by_id = {item["id"]: item for item in read_items(out)}
    assert by_id == {item["id"]: item for item in read_items(fresh)}
    assert by_id[changed_id]["properties"]["title"] == "changed after the first export"
    assert by_id[f"{changed_id}-new"]["properties"]["title"] == "added after the first export"

    before = out.stat().st_mtime_ns
    third = export_geoparquet(demo_copy, out)
    assert (third.written, third.read, third.items) == (False, 0, first.items + 1)
    assert out.stat().st_mtime_ns == before


def test_an_export_with_other_options_is_written_anew(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "items.parquet"
    cid = sorted(collections_of(demo))[0]
    export_geoparquet(demo, out, collection=cid)
    result = export_geoparquet(demo, out)
    assert (result.read, result.kept) == (result.items, 0)
    assert json.loads(pq.read_schema(out).metadata[METADATA_KEY])["collection"] is None
