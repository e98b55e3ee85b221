"""The static catalog writer: layout, links, extents, replace, reopen, split, safety."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pystac
import pytest

from catalogs.errors import CatalogError, CatalogFormatError, InvalidIdError, OutputNotWritableError
from catalogs.store import CatalogStore, CollectionSpec

ROOT = Path(__file__).resolve().parents[2]


def point_item(item_id: str, lon: float, lat: float, when: datetime, collection: str = "points", **props) -> pystac.Item:
    return pystac.Item(
        item_id, {"type": "Point", "coordinates": [lon, lat]}, [lon, lat, lon, lat], when,
        {"platform": "sentinel-1a", **props}, collection=collection,
    )


def spec(cid: str = "points", **kw) -> CollectionSpec:
    return CollectionSpec(cid, f"{cid} for tests", title=cid.title(), license="CC-BY-4.0",
                          summaries=["platform", "orbit"], **kw)


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def all_items(root: Path) -> dict[str, pystac.Item]:
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {item.id: item for item in catalog.get_items(recursive=True)}


def test_layout_links_extent_and_summaries(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    with CatalogStore(root, title="Test catalog") as store:
        store.ensure_collection(spec())
        store.add(point_item("a", 10.0, 60.0, utc(2020, 5, 1), orbit=12))
        store.add(point_item("b", 11.0, 61.5, utc(2021, 7, 3), orbit=40, platform="sentinel-1b"))

    cat = read(root / "catalog.json")
    assert cat["type"] == "Catalog" and cat["stac_version"] == "1.1.0" and cat["title"] == "Test catalog"
    assert {"rel": "child", "href": "./points/collection.json", "type": "application/json", "title": "Points"} in cat["links"]
    col = read(root / "points" / "collection.json")
    assert col["extent"]["spatial"]["bbox"] == [[10.0, 60.0, 11.0, 61.5]]
    assert col["extent"]["temporal"]["interval"] == [["2020-05-01T00:00:00Z", "2021-07-03T00:00:00Z"]]
    assert col["summaries"] == {"platform": ["sentinel-1a", "sentinel-1b"], "orbit": {"minimum": 12, "maximum": 40}}
    assert col["license"] == "CC-BY-4.0"
    assert sorted(link["href"] for link in col["links"] if link["rel"] == "item") == ["./a/a.json", "./b/b.json"]
    item = read(root / "points" / "a" / "a.json")
    rels = {link["rel"]: link["href"] for link in item["links"]}
    assert rels == {"root": "../../catalog.json", "parent": "../collection.json", "collection": "../collection.json"}
    assert item["collection"] == "points"
    # pystac reads it back as a whole, with every href relative (self-contained)
    assert set(all_items(root)) == {"a", "b"}
    assert not list(root.rglob("*.tmp"))


def test_local_assets_are_placed_beside_the_item(tmp_path: Path) -> None:
    src = tmp_path / "staging"
    src.mkdir()
    for name in ("moved.csv", "copied.txt", "linked.txt"):
        (src / name).write_text(name)
    item = point_item("x", 1, 2, utc(2022, 1, 1))
    item.add_asset("m", pystac.Asset(str(src / "moved.csv"), roles=["data"], media_type="text/csv"))
    item.add_asset("remote", pystac.Asset("https://example.com/a.tif", roles=["data"]))
    root = tmp_path / "cat"
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(item, assets="move")
    data = read(root / "points" / "x" / "x.json")
    assert data["assets"]["m"]["href"] == "./moved.csv"
    assert data["assets"]["remote"]["href"] == "https://example.com/a.tif"
    assert (root / "points" / "x" / "moved.csv").read_text() == "moved.csv"
    assert not (src / "moved.csv").exists()

    for mode, name in (("copy", "copied.txt"), ("link", "linked.txt")):
        other = point_item(f"y-{mode}", 1, 2, utc(2022, 1, 1))
        other.add_asset("f", pystac.Asset(str(src / name), roles=["metadata"]))
        with CatalogStore(root) as store:
            store.add(other, assets=mode)
        assert (src / name).exists()
        placed = root / "points" / f"y-{mode}" / name
        assert placed.read_text() == name
        assert (placed.stat().st_ino == (src / name).stat().st_ino) == (mode == "link")
    col = read(root / "points" / "collection.json")
    assert col["item_assets"]["m"] == {"roles": ["data"], "type": "text/csv"}


def test_replace_updates_extent_removes_stale_assets_and_skips_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    staging = tmp_path / "s"
    staging.mkdir()
    (staging / "old.csv").write_text("old")
    first = point_item("a", 10, 10, utc(2020, 1, 1))
    first.add_asset("table", pystac.Asset(str(staging / "old.csv"), roles=["data"]))
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(first)
        store.add(point_item("b", 20, 20, utc(2020, 2, 1)))

    item_file = root / "points" / "b" / "b.json"
    before = item_file.stat().st_mtime_ns
    (staging / "new.csv").write_text("new")
    second = point_item("a", 15, 15, utc(2020, 1, 1))
    second.add_asset("table", pystac.Asset(str(staging / "new.csv"), roles=["data"]))
    with CatalogStore(root) as store:
        store.add(second)
        store.add(point_item("b", 20, 20, utc(2020, 2, 1)))  # identical: not rewritten
        assert store.count("points") == 2
    assert item_file.stat().st_mtime_ns == before
    assert sorted(p.name for p in (root / "points" / "a").iterdir()) == ["a.json", "new.csv"]
    col = read(root / "points" / "collection.json")
    assert col["extent"]["spatial"]["bbox"] == [[15.0, 15.0, 20.0, 20.0]]
    assert len([link for link in col["links"] if link["rel"] == "item"]) == 2


def test_reopen_and_add_more_keeps_everything(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    with CatalogStore(root, title="T") as store:
        store.ensure_collection(spec())
        store.ensure_collection(spec("other"))
        store.add(point_item("a", 0, 0, utc(2019, 1, 1)))
    with CatalogStore(root) as store:
        store.add(point_item("o1", 5, 5, utc(2024, 1, 1), collection="other"))
        store.add(point_item("c", 1, 1, utc(2023, 1, 1)))
    items = all_items(root)
    assert set(items) == {"a", "c", "o1"}
    assert read(root / "catalog.json")["title"] == "T"
    assert read(root / "points" / "collection.json")["extent"]["temporal"]["interval"] == [
        ["2019-01-01T00:00:00Z", "2023-01-01T00:00:00Z"]
    ]


def test_unchanged_reopen_rewrites_nothing(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(point_item("a", 0, 0, utc(2019, 1, 1)))
    files = {p: p.stat().st_mtime_ns for p in root.rglob("*.json")}
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(point_item("a", 0, 0, utc(2019, 1, 1)))
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.json")} == files


def test_large_collection_is_split_into_yearly_subcatalogs(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    with CatalogStore(root, split_threshold=5) as store:
        store.ensure_collection(spec())
        for i in range(4):
            store.add(point_item(f"early{i}", i, 0, utc(2018 + i % 2, 3, 1)))
        store.flush()
        for i in range(6):
            store.add(point_item(f"late{i}", i, 1, utc(2018 + i % 3, 6, 1)))
    col = read(root / "points" / "collection.json")
    assert [link["href"] for link in col["links"] if link["rel"] == "child"] == [
        "./2018/catalog.json", "./2019/catalog.json", "./2020/catalog.json"
    ]
    assert not [link for link in col["links"] if link["rel"] == "item"]
    items = all_items(root)
    assert len(items) == 10
    for item_id in items:
        data = read(root / "points" / item_id / f"{item_id}.json")
        parent = next(link["href"] for link in data["links"] if link["rel"] == "parent")
        year = data["properties"]["datetime"][:4]
        assert parent == f"../{year}/catalog.json"
        sub = read(root / "points" / year / "catalog.json")
        assert f"../{item_id}/{item_id}.json" in [link["href"] for link in sub["links"] if link["rel"] == "item"]


@pytest.mark.parametrize("bad", ["", "../up", "a/b", "with space", ".hidden", "catalog", "x" * 201, "trailing."])
def test_unsafe_item_ids_are_refused(tmp_path: Path, bad: str) -> None:
    with CatalogStore(tmp_path / "cat") as store:
        store.ensure_collection(spec())
        with pytest.raises(InvalidIdError, match="invalid item id"):
            store.add(point_item(bad, 0, 0, utc(2020, 1, 1)))
    assert not list((tmp_path / "cat").glob("points/*/"))


def test_unknown_collection_and_bad_collection_id(tmp_path: Path) -> None:
    with CatalogStore(tmp_path / "cat") as store:
        with pytest.raises(CatalogError, match="unknown collection 'nope'"):
            store.add(point_item("a", 0, 0, utc(2020, 1, 1), collection="nope"))
        with pytest.raises(InvalidIdError, match="invalid collection id"):
            store.ensure_collection(spec("../evil"))


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputNotWritableError, match=str(blocker)):
        CatalogStore(blocker / "cat")


def test_foreign_catalog_is_not_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "theirs"
    root.mkdir()
    (root / "catalog.json").write_text('{"keep": "me"}')
    with pytest.raises(CatalogFormatError, match="did not write"):
        CatalogStore(root)
    assert (root / "catalog.json").read_text() == '{"keep": "me"}'


def test_second_writer_is_refused_while_first_is_open(tmp_path: Path) -> None:
    with CatalogStore(tmp_path / "cat"):
        with pytest.raises(CatalogError, match="another process"):
            CatalogStore(tmp_path / "cat")
    CatalogStore(tmp_path / "cat").close()  # free again afterwards


def test_killed_writer_leaves_valid_catalog_and_next_run_completes(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.catalogs.test_store import point_item, spec, utc
        from catalogs.store import CatalogStore
        store = CatalogStore({str(root)!r})
        store.ensure_collection(spec())
        store.add(point_item("first", 0, 0, utc(2020, 1, 1)))
        store.flush()
        store.add(point_item("second", 1, 1, utc(2021, 1, 1)))
        os._exit(9)  # dies without flushing or closing
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert set(all_items(root)) == {"first"}  # valid, just missing the newest item
    with CatalogStore(root) as store:
        store.add(point_item("second", 1, 1, utc(2021, 1, 1)))
    assert set(all_items(root)) == {"first", "second"}
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
