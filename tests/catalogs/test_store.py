"""The static catalog writer: layout, links, extents, replace, reopen, split, safety."""

from __future__ import annotations

import hashlib
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
from catalogs.validate import validate_catalog

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


def many_items(n: int, prefix: str = "m") -> list[pystac.Item]:
    return [point_item(f"{prefix}{i:04d}", i % 180, (i * 7) % 80, utc(2015 + i % 5, 1 + i % 12, 1), orbit=i % 30)
            for i in range(n)]


def test_add_many_writes_exactly_what_add_writes(tmp_path: Path) -> None:
    items = many_items(150)  # enough for every writer thread to get a slice
    for name in ("bulk", "single"):
        with CatalogStore(tmp_path / name / "cat") as store:
            store.ensure_collection(spec())
            if name == "bulk":
                outcomes = store.add_many(items)
                assert [o.error for o in outcomes] == [None] * 150
                assert [o.item_id for o in outcomes] == [item.id for item in items]
            else:
                for item in items:
                    store.add(item)
    bulk, single = tmp_path / "bulk" / "cat", tmp_path / "single" / "cat"
    files = sorted(p.relative_to(single) for p in single.rglob("*.json"))
    assert len(files) == 152 and files == sorted(p.relative_to(bulk) for p in bulk.rglob("*.json"))
    for rel in files:
        assert (bulk / rel).read_bytes() == (single / rel).read_bytes(), rel
    assert validate_catalog(bulk).ok


def test_add_many_reports_bad_items_and_writes_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    items = many_items(60)
    items[3] = point_item("bad id", 0, 0, utc(2020, 1, 1))
    items[7] = point_item("stray", 0, 0, utc(2020, 1, 1), collection="nope")
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        (root / "points").mkdir()
        (root / "points" / items[40].id).write_text("a file where the item's folder goes")
        listed = store.add_many(items)
    assert [o.item_id for o in listed] == [item.id for item in items]  # one outcome per item, in order
    outcomes = {o.item_id: o for o in listed}
    assert isinstance(outcomes["bad id"].error, InvalidIdError)
    assert "unknown collection 'nope'" in str(outcomes["stray"].error)
    blocked = outcomes[items[40].id]
    assert isinstance(blocked.error, OutputNotWritableError) and items[40].id in str(blocked.error)
    assert blocked.path is None
    good = {item.id for i, item in enumerate(items) if i not in (3, 7, 40)}
    assert {i for i, o in outcomes.items() if o.error is None} == good
    assert set(all_items(root)) == good
    assert validate_catalog(root).ok


def test_add_many_repeated_item_the_later_one_wins(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    first, later = point_item("twice", 1, 1, utc(2020, 1, 1), orbit=1), point_item("twice", 2, 2, utc(2021, 1, 1), orbit=2)
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        outcomes = store.add_many([first, *many_items(40), later])
    assert len(outcomes) == 42 and all(o.error is None for o in outcomes)
    assert read(root / "points" / "twice" / "twice.json")["properties"]["orbit"] == 2
    col = read(root / "points" / "collection.json")
    assert [link["href"] for link in col["links"] if link["rel"] == "item"].count("./twice/twice.json") == 1


def test_add_many_splits_the_collection_when_a_batch_crosses_the_threshold(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    with CatalogStore(root, split_threshold=50) as store:
        store.ensure_collection(spec())
        store.add_many(many_items(30, "a"))
        store.flush()
        store.add_many(many_items(40, "b"))
        assert store.digest("points", "a0000") == hashlib.sha256(
            (root / "points" / "a0000" / "a0000.json").read_bytes()).hexdigest()  # relinked: digest follows
    items = all_items(root)
    assert len(items) == 70
    for item_id in items:
        data = read(root / "points" / item_id / f"{item_id}.json")
        parent = next(link["href"] for link in data["links"] if link["rel"] == "parent")
        assert parent == f"../{data['properties']['datetime'][:4]}/catalog.json"
    assert validate_catalog(root).ok
    # relinked files are exactly what a collection split from its first item gets
    with CatalogStore(tmp_path / "split-from-start", split_threshold=0) as store:
        store.ensure_collection(spec())
        store.add_many(many_items(30, "a") + many_items(40, "b"))
    for item_id in items:
        rel = Path("points", item_id, f"{item_id}.json")
        assert (root / rel).read_bytes() == (tmp_path / "split-from-start" / rel).read_bytes()


def test_add_many_again_rewrites_nothing(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add_many(many_items(80))
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.json")}
    with CatalogStore(root) as store:
        outcomes = store.add_many(many_items(80))
        assert (store.written, store.unchanged) == (0, 80)
    assert all(o.path and o.error is None for o in outcomes)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.json")} == before


def test_run_killed_while_splitting_is_finished_when_the_catalog_is_next_opened(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import catalogs.store
        from tests.catalogs.test_store import many_items, spec
        from catalogs.store import CatalogStore
        store = CatalogStore({str(root)!r}, split_threshold=20, io_threads=1)
        store.ensure_collection(spec())
        store.add_many(many_items(20))
        store.flush()
        real, calls = catalogs.store.atomic_write_bytes, []
        def dying(path, data):
            calls.append(path)
            if len(calls) == 8:  # the eighth item relinked: killed half way through the split
                os._exit(9)
            real(path, data)
        catalogs.store.atomic_write_bytes = dying
        store.add(many_items(21)[20])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    parents = {read(p)["links"][1]["href"] for p in root.glob("points/m*/m*.json")}
    assert parents == {"../collection.json", "../2015/catalog.json", "../2016/catalog.json", "../2017/catalog.json",
                       "../2018/catalog.json", "../2019/catalog.json"}  # half relinked, to catalogs not yet written
    with CatalogStore(root, split_threshold=20) as store:  # opened with nothing to add
        for path in root.glob("points/m*/m*.json"):  # the index knows every item file as it now is
            assert store.digest("points", path.parent.name) == hashlib.sha256(path.read_bytes()).hexdigest()
    for path in root.glob("points/m*/m*.json"):
        data = read(path)
        assert data["links"][1] == {"rel": "parent", "href": f"../{data['properties']['datetime'][:4]}/catalog.json",
                                    "type": "application/json"}
    assert len(all_items(root)) == 20
    assert validate_catalog(root).ok


def test_extent_covers_the_start_and_end_of_items_with_a_time_range(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    pair = pystac.Item("pair", {"type": "Point", "coordinates": [5.0, 60.0]}, [5.0, 60.0, 5.0, 60.0], None,
                       {"start_datetime": "2019-12-30T10:00:00Z", "end_datetime": "2020-01-11T09:00:00.5+00:00"},
                       collection="points")
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(pair)
        store.add(point_item("single", 6.0, 61.0, utc(2020, 1, 5)))
    interval = read(root / "points" / "collection.json")["extent"]["temporal"]["interval"]
    assert interval == [["2019-12-30T10:00:00Z", "2020-01-11T09:00:00Z"]]
    assert validate_catalog(root).ok


def with_thumbnail(item: pystac.Item, folder: Path) -> pystac.Item:
    png = folder / f"{item.id}_thumb.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + item.id.encode())
    item.add_asset("thumbnail", pystac.Asset(str(png), roles=["thumbnail"], media_type="image/png"))
    return item


def test_a_collection_shows_the_thumbnail_of_its_first_item_that_has_one(tmp_path: Path) -> None:
    root, staging = tmp_path / "cat", tmp_path / "staging"
    remote = point_item("remote", 1, 2, utc(2020, 1, 1))
    remote.add_asset("thumbnail", pystac.Asset("https://example.com/t.png", roles=["thumbnail"]))
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(point_item("bare", 1, 2, utc(2020, 1, 1)))
        store.add(remote)  # a remote thumbnail would not travel with the catalog
        store.add(with_thumbnail(point_item("first", 1, 2, utc(2020, 1, 2)), staging))
        store.add(with_thumbnail(point_item("second", 1, 2, utc(2020, 1, 3)), staging))
    expected = {"thumbnail": {"href": "./first/first_thumb.png", "type": "image/png", "roles": ["thumbnail"],
                              "title": "Thumbnail of first"}}
    assert read(root / "points" / "collection.json")["assets"] == expected
    assert (root / "points" / "first" / "first_thumb.png").is_file()
    # a later run keeps it, whatever it adds
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(with_thumbnail(point_item("third", 1, 2, utc(2020, 1, 4)), staging))
    assert read(root / "points" / "collection.json")["assets"] == expected
    assert validate_catalog(root).ok


def test_the_collection_thumbnail_is_the_smallest_ids_whatever_order_items_come_in(tmp_path: Path) -> None:
    # workers finish in any order: the same items must give the same collection file
    staging = tmp_path / "staging"
    names = ["b-item", "c-item", "a-item"]
    files = []
    for order in (names, names[::-1]):
        root = tmp_path / "-".join(order)
        with CatalogStore(root) as store:
            store.ensure_collection(spec())
            for name in order:
                store.add(with_thumbnail(point_item(name, 1, 2, utc(2020, 1, 2)), staging), assets="copy")
        files.append((root / "points" / "collection.json").read_bytes())
        assert read(root / "points" / "collection.json")["assets"]["thumbnail"]["href"] == "./a-item/a-item_thumb.png"
    assert files[0] == files[1]


def test_a_thumbnail_under_another_key_is_found_by_its_role(tmp_path: Path) -> None:
    root, staging = tmp_path / "cat", tmp_path / "staging"
    item = with_thumbnail(point_item("pair", 1, 2, utc(2020, 1, 2)), staging)
    item.assets["unw_phase-thumbnail"] = item.assets.pop("thumbnail")
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(item)
    assert read(root / "points" / "collection.json")["assets"] == {"thumbnail": {
        "href": "./pair/pair_thumb.png", "type": "image/png", "roles": ["thumbnail"], "title": "Thumbnail of pair"}}


def test_a_collection_without_local_thumbnails_has_no_assets(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(point_item("bare", 1, 2, utc(2020, 1, 1)))
    assert "assets" not in read(root / "points" / "collection.json")


def test_a_collection_drops_a_thumbnail_its_item_no_longer_has(tmp_path: Path) -> None:
    root, staging = tmp_path / "cat", tmp_path / "staging"
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(with_thumbnail(point_item("first", 1, 2, utc(2020, 1, 2)), staging))
    with CatalogStore(root) as store:
        store.ensure_collection(spec())
        store.add(point_item("first", 1, 2, utc(2020, 1, 2), orbit=3))  # rewritten without its thumbnail
    assert not (root / "points" / "first" / "first_thumb.png").exists()
    assert "assets" not in read(root / "points" / "collection.json")
    with CatalogStore(root) as store:  # the next item that has one lends it
        store.ensure_collection(spec())
        store.add(with_thumbnail(point_item("second", 1, 2, utc(2020, 1, 3)), staging))
    assert read(root / "points" / "collection.json")["assets"]["thumbnail"]["href"] == "./second/second_thumb.png"
    assert validate_catalog(root).ok
