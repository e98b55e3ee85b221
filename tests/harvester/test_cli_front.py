"""``harvester export geoparquet`` and ``harvester serve --api``, run as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from tests.demo_items import catalog_items
from tests.harvester.test_cli import harvester


def test_export_writes_every_item_then_reads_nothing_the_second_time(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "items.parquet"
    count = len(catalog_items(demo))
    result = harvester("export", "geoparquet", str(demo), str(out))
    assert (result.returncode, result.stdout) == (
        0, f"{out}: {count} item(s), written ({count} item file(s) read, 0 row(s) kept from the previous export)\n")
    assert pq.read_metadata(out).num_rows == count
    result = harvester("export", "geoparquet", str(demo), str(out))
    assert (result.returncode, result.stdout) == (
        0, f"{out}: {count} item(s), unchanged (0 item file(s) read, {count} row(s) kept from the previous export)\n")


def test_export_of_one_collection(demo: Path, tmp_path: Path) -> None:
    cid = sorted(p.parent.name for p in demo.glob("*/collection.json"))[0]
    out = tmp_path / "one.parquet"
    result = harvester("export", "geoparquet", str(demo), str(out), "--collection", cid)
    assert result.returncode == 0, result.stderr
    ids = pq.read_table(out, columns=["id", "collection"]).to_pydict()
    assert set(ids["collection"]) == {cid}
    assert sorted(ids["id"]) == sorted(i for i, item in catalog_items(demo).items() if item["collection"] == cid)


def test_export_of_what_is_not_a_harvested_catalog_exits_2(tmp_path: Path) -> None:
    result = harvester("export", "geoparquet", str(tmp_path), str(tmp_path / "x.parquet"))
    assert (result.returncode, result.stderr) == (
        2, f"error: {tmp_path}: not a catalog the harvester wrote (no catalog.json with an index in .harvest/)\n")
    result = harvester("export", "geoparquet", str(tmp_path / "nowhere"), str(tmp_path / "x.parquet"))
    assert (result.returncode, result.stderr) == (2, f"error: {tmp_path / 'nowhere'}: no such catalog folder\n")


def test_serve_api_prints_where_the_api_is_and_answers_it(demo_copy: Path) -> None:
    import httpx

    from tests.processes import harvester_process

    with harvester_process("-q", "serve", str(demo_copy), "--api", "--port", "0") as served:
        first, second = served.lines(2)
        url = first.split(" at ", 1)[1].split(" ", 1)[0]
        assert second == f"STAC API: {url} (pystac_client.Client.open({url!r}))\n"
        landing = httpx.get(url, timeout=10).json()
        assert "https://api.stacspec.org/v1.0.0/item-search" in landing["conformsTo"]
        count = len(catalog_items(demo_copy))
        found = httpx.get(f"{url}search", params={"limit": count}, timeout=30).json()["features"]
        assert len(found) == count
        code, _, err = served.interrupt()
    assert code == 0, err
    assert "Traceback" not in err
