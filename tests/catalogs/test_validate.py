"""Offline validation of STAC objects and whole catalogs (catalogs.schemas, catalogs.validate)."""

from __future__ import annotations

import copy
import importlib.util
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pystac
import pystac.validation
import pytest
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension

from catalogs import stac
from catalogs.errors import CatalogFormatError, SchemaUnavailableError
from catalogs.fsio import sha256_multihash
from catalogs.schemas import SchemaStore, url_to_relpath
from catalogs.validate import ValidationReport, validate_catalog, validate_object

ITEM_SCHEMA = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"
UNKNOWN_EXTENSION = "https://stac-extensions.github.io/does-not-exist/v9.9.9/schema.json"
MY_EXTENSION = "https://example.com/stac/myext/v1.0.0/schema.json"
MY_EXTENSION_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": MY_EXTENSION,
    "type": "object",
    "properties": {"properties": {"properties": {"myext:name": {"type": "string"}}}},
}


# -- building catalogs by hand ------------------------------------------------------------------------------------


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def make_item(item_id: str, folder: Path, index: int = 0) -> dict[str, Any]:
    """A STAC 1.1.0 item as the harvester writes it, with its asset files written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tif = folder / f"{item_id}.tif"
    tif.write_bytes(bytes(range(256)) * (4 + index % 3))
    png = folder / f"{item_id}.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    x0 = 500_000.0 + 1000 * index
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [stac.PROJECTION, stac.FILE, stac.RASTER],
        "id": item_id,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[15.0, 69.0], [15.1, 69.0], [15.1, 69.1], [15.0, 69.1], [15.0, 69.0]]],
        },
        "bbox": [15.0, 69.0, 15.1, 69.1],
        "properties": {
            "datetime": f"2024-06-{1 + index % 28:02d}T10:20:30Z",
            "created": "2024-07-01T00:00:00.123Z",
            "proj:code": "EPSG:32633",
            "proj:shape": [10, 10],
            "proj:transform": [30.0, 0.0, x0, 0.0, -30.0, 7_660_000.0],
            "proj:bbox": [x0, 7_659_700.0, x0 + 300.0, 7_660_000.0],
        },
        "links": [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        ],
        "assets": {
            "data": {
                "href": f"./{tif.name}",
                "type": stac.COG,
                "roles": ["data"],
                "file:size": tif.stat().st_size,
                "file:checksum": sha256_multihash(tif),
                "bands": [
                    {
                        "name": "VV",
                        "data_type": "float32",
                        "nodata": 0,
                        "unit": "dB",
                        "statistics": {"minimum": -30.5, "maximum": 5.25, "mean": -12.0},
                        "raster:scale": 1.0,
                        "raster:offset": 0.0,
                        "raster:spatial_resolution": 30.0,
                    }
                ],
            },
            "thumbnail": {
                "href": f"./{png.name}",
                "type": stac.PNG,
                "roles": ["thumbnail"],
                "file:size": png.stat().st_size,
            },
        },
        "collection": "sar-rtc",
    }


def make_collection(item_ids: list[str]) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [stac.PROJECTION, stac.RASTER],
        "id": "sar-rtc",
        "title": "SAR RTC",
        "description": "Radiometrically terrain corrected backscatter.",
        "license": "CC-BY-4.0",
        "providers": [{"name": "ASF", "roles": ["producer", "processor"], "url": "https://asf.alaska.edu"}],
        "extent": {
            "spatial": {"bbox": [[15.0, 69.0, 15.1, 69.1]]},
            "temporal": {"interval": [["2024-06-01T10:20:30Z", "2024-06-28T10:20:30Z"]]},
        },
        "item_assets": {
            "data": {"type": stac.COG, "roles": ["data"], "bands": [{"name": "VV", "raster:scale": 1.0}]},
            "thumbnail": {"type": stac.PNG, "roles": ["thumbnail"]},
        },
        "summaries": {"proj:code": ["EPSG:32633"]},
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
            *({"rel": "item", "href": f"./{i}/{i}.json", "type": "application/geo+json"} for i in item_ids),
        ],
    }


def build_catalog(root: Path, n_items: int = 3) -> Path:
    """catalog.json -> sar-rtc/collection.json -> sar-rtc/<id>/<id>.json, relative links throughout."""
    ids = [f"rtc-{i:05d}" for i in range(n_items)]
    write_json(
        root / "catalog.json",
        {
            "type": "Catalog",
            "stac_version": "1.1.0",
            "id": "harvest",
            "description": "Everything harvested.",
            "links": [
                {"rel": "root", "href": "./catalog.json", "type": "application/json"},
                {"rel": "child", "href": "./sar-rtc/collection.json", "type": "application/json"},
            ],
        },
    )
    write_json(root / "sar-rtc" / "collection.json", make_collection(ids))
    for index, item_id in enumerate(ids):
        folder = root / "sar-rtc" / item_id
        write_json(folder / f"{item_id}.json", make_item(item_id, folder, index))
    return root


def item_path(root: Path, index: int = 0) -> Path:
    item_id = f"rtc-{index:05d}"
    return root / "sar-rtc" / item_id / f"{item_id}.json"


def edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    data = read_json(path)
    change(data)
    write_json(path, data)


@pytest.fixture(scope="module", params=[False, True], ids=["jsonschema", "accelerated"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SchemaStore:
    """One store per module and engine, so schemas are compiled once (as in a real run).

    Its schema folder and cache are empty: every schema comes from what stac-harvester, pystac and rasterio
    bundle, as on a user's machine without a network. "accelerated" answers yes/no with jsonschema_rs where it
    is installed (jsonschema otherwise); the reports must be the same either way.
    """
    return SchemaStore(tmp_path_factory.mktemp("empty-schema-folder"), tmp_path_factory.mktemp("empty-cache"),
                       accelerate=request.param)


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return build_catalog(tmp_path / "cat")


def only_failure(report: ValidationReport) -> tuple[Path, list[str]]:
    assert len(report.failed) == 1, report.format()
    failed = report.failed[0]
    return failed.path, failed.errors


# -- a good catalog -----------------------------------------------------------------------------------------------


@pytest.mark.disable_socket
def test_good_catalog_is_valid_offline(catalog: Path) -> None:
    report = validate_catalog(catalog)  # a store from the environment: no schema folder (conftest), no network

    assert report.ok, report.format()
    assert report.counts == {"Catalog": 1, "Collection": 1, "Item": 3}
    assert [o.id for o in report.objects] == ["harvest", "sar-rtc", "rtc-00000", "rtc-00001", "rtc-00002"]
    assert report.format().endswith("checked 5 object(s) (1 catalog, 1 collection, 3 items): all valid")


def test_root_may_be_a_file_or_a_collection_folder(catalog: Path, store: SchemaStore) -> None:
    assert len(validate_catalog(catalog / "catalog.json", store).objects) == 5
    report = validate_catalog(catalog / "sar-rtc", store)  # a folder with collection.json
    assert report.ok, report.format()
    assert report.counts == {"Collection": 1, "Item": 3}


def test_no_root_is_a_format_error(tmp_path: Path, store: SchemaStore) -> None:
    with pytest.raises(CatalogFormatError, match="no catalog.json or collection.json"):
        validate_catalog(tmp_path, store)
    with pytest.raises(CatalogFormatError, match="no such catalog"):
        validate_catalog(tmp_path / "missing.json", store)


def test_cycles_end_and_each_object_is_validated_once(catalog: Path, store: SchemaStore) -> None:
    # the collection lists the root as a child and one item twice; the root lists itself
    edit_json(
        catalog / "sar-rtc" / "collection.json",
        lambda c: c["links"].extend(
            [
                {"rel": "child", "href": "../catalog.json"},
                {"rel": "item", "href": "./rtc-00001/../rtc-00001/rtc-00001.json"},
            ]
        ),
    )
    edit_json(catalog / "catalog.json", lambda c: c["links"].append({"rel": "child", "href": "./catalog.json"}))

    report = validate_catalog(catalog, store)

    assert report.ok, report.format()
    assert len(report.objects) == 5


# -- broken objects are caught, each naming its file --------------------------------------------------------------


def _drop_geometry(item: dict[str, Any]) -> None:
    del item["geometry"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(item: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target = item
        for key in parents:
            target = target[key]
        target[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(_drop_geometry, ["[STAC 1.1.0 item]", "'geometry' is a required property"], id="no-geometry"),
        pytest.param(
            _set("properties/datetime", "2024-02-30T10:00:00Z"),
            ["[STAC 1.1.0 item] $.properties.datetime", "is not a 'date-time'", "day is out of range"],
            id="impossible-datetime",
        ),
        pytest.param(
            _set("properties/datetime", "yesterday"),
            ["[STAC 1.1.0 item] $.properties.datetime", "'yesterday' is not a 'date-time'"],
            id="datetime-not-rfc3339",
        ),
        pytest.param(
            _set("properties/datetime", None),
            ["$.properties.datetime: must not be null", "'start_datetime', 'end_datetime'"],
            id="null-datetime-without-range",
        ),
        pytest.param(
            _set("properties/proj:code", 32633),
            ["[projection v2.0.0] $.properties['proj:code']: 32633 is not of type 'string', 'null'"],
            id="proj-code-integer",
        ),
        pytest.param(
            _set("assets/data/file:checksum", "sha256:9f86d081884c7d65"),
            ["[file v2.1.0] $.assets.data['file:checksum']", "does not match"],
            id="checksum-not-hex",
        ),
        pytest.param(
            _set("assets/data/file:checksum", "1220abcd"),
            ["asset 'data': file:checksum is not a multihash", "32-byte digest, found 2"],
            id="checksum-not-multihash",
        ),
        pytest.param(
            _set("assets/data/file:size", 3),
            ["asset 'data'", "file:size is 3 but the file has"],
            id="file-size-wrong",
        ),
        pytest.param(
            _set("assets/data/bands", [{"name": "VV", "raster:scale": "one"}]),
            ["[raster v2.0.0] $.assets.data.bands[0]['raster:scale']: 'one' is not of type 'number'"],
            id="raster-scale-string",
        ),
        pytest.param(
            _set("stac_extensions", [stac.PROJECTION, stac.FILE, stac.RASTER, UNKNOWN_EXTENSION]),
            [f"schema {UNKNOWN_EXTENSION} is not available offline", "HARVESTER_SCHEMA_DIR", "network not allowed",
             "harvester validate --allow-network"],
            id="unknown-extension",
        ),
        pytest.param(
            _set("stac_version", "1.0.0"),
            ["schema https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/item.json is not available"],
            id="stac-1.0-without-its-schema",
        ),
    ],
)
def test_broken_item_is_reported_with_its_path(
    catalog: Path, store: SchemaStore, change: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    edit_json(item_path(catalog, 1), change)

    report = validate_catalog(catalog, store)

    path, errors = only_failure(report)
    assert path == item_path(catalog, 1)
    assert report.failed[0].id == "rtc-00001"
    assert report.failed[0].kind == "Item"
    text = "\n".join(errors)
    for fragment in expected:
        assert fragment in text
    formatted = report.format()
    assert "sar-rtc/rtc-00001/rtc-00001.json (Item 'rtc-00001')" in formatted
    assert formatted.endswith(f"1 invalid, {len(errors)} error(s)")


def test_collection_without_extent(catalog: Path, store: SchemaStore) -> None:
    edit_json(catalog / "sar-rtc" / "collection.json", lambda c: c.pop("extent"))

    path, errors = only_failure(validate_catalog(catalog, store))

    assert path == catalog / "sar-rtc" / "collection.json"
    assert errors == ["[STAC 1.1.0 collection] $: 'extent' is a required property"]


def test_link_to_missing_item_file(catalog: Path, store: SchemaStore) -> None:
    item_path(catalog, 2).unlink()

    path, errors = only_failure(validate_catalog(catalog, store))

    assert path == catalog / "sar-rtc" / "collection.json"
    assert len(errors) == 1
    assert "link rel='item' href='./rtc-00002/rtc-00002.json': file not found" in errors[0]


def test_missing_parent_and_root_targets(catalog: Path, store: SchemaStore) -> None:
    edit_json(item_path(catalog, 0), lambda i: i["links"].__setitem__(1, {"rel": "parent", "href": "../nope.json"}))

    path, errors = only_failure(validate_catalog(catalog, store))

    assert path == item_path(catalog, 0)
    assert "link rel='parent' href='../nope.json': file not found" in errors[0]


def test_missing_local_asset(catalog: Path, store: SchemaStore) -> None:
    (item_path(catalog, 0).parent / "rtc-00000.png").unlink()

    path, errors = only_failure(validate_catalog(catalog, store))

    assert path == item_path(catalog, 0)
    assert errors == [
        f"asset 'thumbnail' href='./rtc-00000.png': file not found ({item_path(catalog, 0).parent / 'rtc-00000.png'})"
    ]


def test_percent_encoded_asset_href(catalog: Path, store: SchemaStore) -> None:
    folder = item_path(catalog, 0).parent
    (folder / "rtc-00000.png").rename(folder / "thumb nail.png")
    edit_json(item_path(catalog, 0), _set("assets/thumbnail/href", "./thumb%20nail.png"))

    assert validate_catalog(catalog, store).ok


def test_remote_hrefs_are_not_fetched(catalog: Path, store: SchemaStore) -> None:
    def remote(item: dict[str, Any]) -> None:
        item["assets"]["data"]["href"] = "s3://bucket/key.tif"
        item["assets"]["thumbnail"]["href"] = "https://example.com/thumb.png"
        item["links"].append({"rel": "derived_from", "href": "https://example.com/scene.json"})
        item["links"].append({"rel": "parent", "href": "https://example.com/collection.json"})

    edit_json(item_path(catalog, 0), remote)

    assert validate_catalog(catalog, store).ok


def test_malformed_json_item(catalog: Path, store: SchemaStore) -> None:
    item_path(catalog, 1).write_text('{"type": "Feature", "id": ')

    path, errors = only_failure(validate_catalog(catalog, store))

    assert path == item_path(catalog, 1)
    assert errors == ["not valid JSON: Expecting value at line 1 column 27"]


def test_malformed_root_is_reported_not_raised(catalog: Path, store: SchemaStore) -> None:
    (catalog / "catalog.json").write_bytes(b"\xff\xfe not json")

    report = validate_catalog(catalog, store)

    assert not report.ok
    assert report.failed[0].path == catalog / "catalog.json"
    assert report.failed[0].errors[0].startswith("not valid JSON")


def test_item_link_to_a_catalog_is_flagged(catalog: Path, store: SchemaStore) -> None:
    write_json(
        catalog / "sar-rtc" / "odd" / "catalog.json",
        {"type": "Catalog", "stac_version": "1.1.0", "id": "odd", "description": "d", "links": []},
    )
    edit_json(
        catalog / "sar-rtc" / "collection.json",
        lambda c: c["links"].append({"rel": "item", "href": "odd/catalog.json"}),
    )

    path, errors = only_failure(validate_catalog(catalog, store))

    assert path == catalog / "sar-rtc" / "odd" / "catalog.json"
    assert "linked as rel='item' from" in errors[0] and "its type is 'Catalog'" in errors[0]


def test_not_a_stac_object(store: SchemaStore) -> None:
    assert validate_object({"type": "FeatureCollection"}, store) == [
        "$.type: 'FeatureCollection' is not a STAC object type (expected 'Catalog', 'Collection' or 'Feature')"
    ]
    assert validate_object([], store) == ["not a JSON object but list"]  # type: ignore[arg-type]
    errors = validate_object({"type": "Catalog", "id": "c", "description": "d", "links": []}, store)
    assert errors == ["[STAC 1.1.0 catalog] $: 'stac_version' is a required property"]


def test_many_failures_are_summarised(catalog: Path, store: SchemaStore) -> None:
    for index in range(3):
        edit_json(item_path(catalog, index), _set("properties/proj:code", 4326))

    report = validate_catalog(catalog, store)

    assert [o.id for o in report.failed] == ["rtc-00000", "rtc-00001", "rtc-00002"]
    short = report.format(limit=1)
    assert "rtc-00000" in short and "rtc-00002" not in short
    assert "... and 2 more invalid object(s)" in short
    assert short.endswith("3 invalid, 3 error(s)")


# -- where schemas come from ---------------------------------------------------------------------------------------


def test_store_sources(store: SchemaStore) -> None:
    assert store.source(stac.PROJECTION).startswith("stac-harvester: ")
    assert store.source(ITEM_SCHEMA).startswith("pystac: ")
    assert store.source("https://geojson.org/schema/Feature.json").startswith("pystac: ")
    projjson = store.get("https://proj.org/schemas/v0.7/projjson.schema.json")
    assert projjson["$id"] == "https://proj.org/schemas/v0.7/projjson.schema.json"
    # pystac's STAC 1.1.0 common.json declares the $id ".../commonjson": it is known by the URL it was asked for
    common = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/common.json"
    assert store.source(common).startswith("pystac: ")
    assert store.get(common)["$id"] == common


def test_a_wrong_published_id_is_replaced_by_the_url_asked_for(tmp_path: Path) -> None:
    # as published, processing v1.1.0 declares the $id of v1.0.0: its "#/..." references must stay inside it
    url = "https://stac-extensions.github.io/processing/v1.1.0/schema.json"
    schema = {"$id": url.replace("v1.1.0", "v1.0.0"), "$schema": "http://json-schema.org/draft-07/schema#",
              "definitions": {"level": {"type": "string"}},
              "properties": {"properties": {"properties": {"processing:level": {"$ref": "#/definitions/level"}}}}}
    write_json(tmp_path / "schemas" / url_to_relpath(url), schema)
    store = SchemaStore(tmp_path / "schemas", tmp_path / "cache")

    assert store.get(url)["$id"] == url
    assert store.validator(url).is_valid({"properties": {"processing:level": "L1"}})
    errors = [e.message for e in store.validator(url).iter_errors({"properties": {"processing:level": 1}})]
    assert errors == ["1 is not of type 'string'"]


def test_schema_dir_wins_over_the_shipped_schemas(tmp_path: Path) -> None:
    folder = tmp_path / "schemas"
    # a stricter projection schema than the one shipped: codes must be integers
    strict = {"$id": stac.PROJECTION, "properties": {"properties": {"properties": {"proj:code": {"type": "integer"}}}}}
    mine = write_json(folder / url_to_relpath(stac.PROJECTION), strict)
    store = SchemaStore(folder, tmp_path / "cache")
    item = make_item("i", tmp_path / "item")

    assert store.source(stac.PROJECTION) == str(mine)
    assert validate_object(item, store) == [
        "[projection v2.0.0] $.properties['proj:code']: 'EPSG:32633' is not of type 'integer'"
    ]


def test_url_to_relpath_refuses_unsafe_urls() -> None:
    assert url_to_relpath(stac.FILE) == Path("stac-extensions.github.io/file/v2.1.0/schema.json")
    assert url_to_relpath("http://127.0.0.1:8123/a/schema.json") == Path("127.0.0.1_8123/a/schema.json")
    for url in (
        "https://example.com/../../etc/passwd",
        "https://example.com/a/./b.json",
        "https://example.com/.hidden/schema.json",
        "file:///etc/passwd",
        "relative/schema.json",
        "https://example.com/folder/",
    ):
        assert url_to_relpath(url) is None, url


def test_schema_from_the_cache_when_not_in_the_schema_dir(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cached_file = write_json(cache / url_to_relpath(MY_EXTENSION), MY_EXTENSION_SCHEMA)
    store = SchemaStore(tmp_path / "schemas", cache)
    item = make_item("i", tmp_path / "item")
    item["stac_extensions"].append(MY_EXTENSION)

    assert validate_object(item, store) == []
    assert store.source(MY_EXTENSION) == str(cached_file)
    item["properties"]["myext:name"] = 5
    assert validate_object(item, store) == [f"[{MY_EXTENSION}] $.properties['myext:name']: 5 is not of type 'string'"]


def test_schema_dir_wins_over_the_cache(tmp_path: Path) -> None:
    schema_dir, cache = tmp_path / "schemas", tmp_path / "cache"
    write_json(schema_dir / url_to_relpath(MY_EXTENSION), MY_EXTENSION_SCHEMA)
    write_json(cache / url_to_relpath(MY_EXTENSION), {"not": {}})  # would reject everything
    store = SchemaStore(schema_dir, cache)

    assert store.source(MY_EXTENSION) == str(schema_dir / url_to_relpath(MY_EXTENSION))
    assert store.validator(MY_EXTENSION).is_valid({"properties": {"myext:name": "x"}})


def test_environment_chooses_the_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARVESTER_SCHEMA_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("HARVESTER_SCHEMA_CACHE", str(tmp_path / "c"))
    store = SchemaStore()
    assert (store.schema_dir, store.cache_dir, store.allow_network) == (tmp_path / "s", tmp_path / "c", False)
    view = "https://stac-extensions.github.io/view/v1.0.0/schema.json"  # an extension the harvester does not ship
    with pytest.raises(SchemaUnavailableError) as caught:
        store.get(view)
    assert caught.value.url == view
    message = str(caught.value)
    assert str(tmp_path / "s" / url_to_relpath(view)) in message
    assert str(tmp_path / "c" / url_to_relpath(view)) in message


@pytest.mark.parametrize("url", [stac.PROJECTION, stac.RASTER, stac.FILE, stac.PROCESSING, stac.TIMESTAMPS,
                                 stac.SAR, stac.SAT, stac.EO, stac.TABLE])
def test_schemas_of_what_the_harvester_writes_ship_with_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           url: str) -> None:
    monkeypatch.delenv("HARVESTER_SCHEMA_DIR", raising=False)
    store = SchemaStore(cache_dir=tmp_path / "empty-cache")
    assert store.source(url).startswith("stac-harvester: ")
    assert store.get(url)["$id"].rstrip("#") == url
    store.validator(url)  # compiles: every schema it references is available too


def test_missing_referenced_schema_is_named(tmp_path: Path) -> None:
    # projection v1.1.0 needs PROJJSON v0.5, which neither rasterio nor pyproj ship
    legacy = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
    store = SchemaStore(tmp_path / "schemas", tmp_path / "cache")
    needs_v05 = {"properties": {"x": {"$ref": "https://proj.org/schemas/v0.5/projjson.schema.json"}}}
    write_json(tmp_path / "schemas" / url_to_relpath(legacy), needs_v05)
    catalog = {"type": "Catalog", "stac_version": "1.1.0", "id": "c", "description": "d", "links": []}

    errors = validate_object({**catalog, "stac_extensions": [legacy]}, store)

    assert len(errors) == 1
    assert errors[0].startswith(f"schema {legacy} is not available offline (it needs another schema: ")
    assert "https://proj.org/schemas/v0.5/projjson.schema.json" in errors[0]


@pytest.mark.disable_socket
def test_no_network_means_no_socket(tmp_path: Path) -> None:
    # any socket opened here would raise pytest_socket.SocketBlockedError instead of the errors below
    store = SchemaStore(tmp_path / "schemas", tmp_path / "cache", allow_network=False)
    with pytest.raises(SchemaUnavailableError, match="network not allowed"):
        store.get(UNKNOWN_EXTENSION)
    catalog = build_catalog(tmp_path / "cat", n_items=1)
    edit_json(item_path(catalog, 0), lambda i: i["stac_extensions"].append(UNKNOWN_EXTENSION))

    _, errors = only_failure(validate_catalog(catalog, store))

    assert errors == [str(store._missing[UNKNOWN_EXTENSION])]
    assert not (tmp_path / "cache").exists()


@pytest.fixture
def schema_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server publishing MY_EXTENSION_SCHEMA; yields its URL and the folder it serves."""
    published = tmp_path / "published"
    write_json(published / "myext" / "v1.0.0" / "schema.json", MY_EXTENSION_SCHEMA)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(published)))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/myext/v1.0.0/schema.json", published
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_network_fetch_fills_the_cache_atomically(schema_server: tuple[str, Path], tmp_path: Path) -> None:
    url, published = schema_server
    cache = tmp_path / "cache"
    online = SchemaStore(tmp_path / "no-schemas", cache, allow_network=True)

    assert online.validator(url).is_valid({"properties": {"myext:name": "x"}})
    assert online.source(url) == "network"
    cached = cache / url_to_relpath(url)
    assert read_json(cached) == MY_EXTENSION_SCHEMA
    assert [p.name for p in cached.parent.iterdir()] == ["schema.json"]  # no temporary file left behind

    (published / "myext" / "v1.0.0" / "schema.json").unlink()  # gone from the server: the cache serves it
    offline = SchemaStore(tmp_path / "no-schemas", cache, allow_network=False)
    assert offline.source(url) == str(cached)
    assert not offline.validator(url).is_valid({"properties": {"myext:name": 1}})


def test_network_failure_names_the_url(schema_server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = schema_server
    missing = url.replace("myext", "other")
    store = SchemaStore(tmp_path / "no-schemas", tmp_path / "cache", allow_network=True)

    with pytest.raises(SchemaUnavailableError, match="404") as caught:
        store.get(missing)

    assert caught.value.url == missing
    assert not (tmp_path / "cache").exists()


# -- pystac and this validator agree -------------------------------------------------------------------------------


def pystac_item() -> pystac.Item:
    item = pystac.Item(
        id="pystac-made",
        geometry={"type": "Point", "coordinates": [15.05, 69.05]},
        bbox=[15.05, 69.05, 15.05, 69.05],
        datetime=datetime(2024, 6, 1, 10, 20, 30, tzinfo=timezone.utc),
        properties={},
    )
    asset = pystac.Asset("./data.tif", media_type=stac.COG, roles=["data"])
    asset.extra_fields["bands"] = [{"name": "VV", "data_type": "float32", "nodata": 0, "unit": "dB"}]
    item.add_asset("data", asset)
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code = "EPSG:32633"
    proj.shape = [10, 10]
    proj.transform = [30.0, 0.0, 500000.0, 0.0, -30.0, 7660000.0]
    proj.bbox = [500000.0, 7659700.0, 500300.0, 7660000.0]
    file = FileExtension.ext(item.assets["data"], add_if_missing=True)
    file.size = 4096
    file.checksum = "1220" + "ab" * 32
    return item


def pystac_verdict(data: dict[str, Any], store: SchemaStore) -> bool:
    """pystac's own validator, fed from our store (as the schema README describes), on ``data``."""
    validator = pystac.validation.JsonSchemaSTACValidator()
    for url in [*data["stac_extensions"], "https://proj.org/schemas/v0.7/projjson.schema.json"]:
        validator.schema_cache[url] = store.get(url)
    previous = pystac.validation.RegisteredValidator.get_validator()
    pystac.validation.set_validator(validator)
    try:
        pystac.validation.validate_dict(data)
    except pystac.errors.STACValidationError:
        return False
    finally:
        pystac.validation.set_validator(previous)
    return True


@pytest.mark.disable_socket
def test_pystac_item_is_valid_and_pystac_agrees(store: SchemaStore) -> None:
    data = pystac_item().to_dict(include_self_link=False)
    assert data["stac_version"] == "1.1.0"
    assert set(data["stac_extensions"]) == {stac.PROJECTION, stac.FILE}

    assert validate_object(data, store) == []
    assert pystac_verdict(data, store)

    for change in (_set("properties/proj:code", 32633), _set("assets/data/file:checksum", "XYZ"), _drop_geometry):
        broken = copy.deepcopy(data)
        change(broken)
        assert validate_object(broken, store) != []
        assert not pystac_verdict(broken, store)


# -- many objects (their speed is measured by benchmarks/bench_validate.py) ---------------------------------------


def test_every_object_of_a_larger_catalog_is_validated_once_in_link_order(tmp_path: Path, store: SchemaStore) -> None:
    catalog = build_catalog(tmp_path / "cat", n_items=50)

    report = validate_catalog(catalog, store)

    assert report.ok, report.format()
    assert report.counts == {"Catalog": 1, "Collection": 1, "Item": 50}
    assert [o.id for o in report.objects] == ["harvest", "sar-rtc", *(f"rtc-{i:05d}" for i in range(50))]


def test_acceleration_is_optional(tmp_path: Path) -> None:
    available = importlib.util.find_spec("jsonschema_rs") is not None
    assert SchemaStore(tmp_path / "schemas", tmp_path / "cache", accelerate=True).accelerate is available
    plain = SchemaStore(tmp_path / "schemas", tmp_path / "cache", accelerate=False)
    assert plain.accelerate is False
    assert plain.is_valid(stac.FILE, {"type": "Feature", "stac_extensions": [stac.FILE], "assets": {}})
    negative_size = {"type": "Feature", "stac_extensions": [stac.FILE], "assets": {"a": {"file:size": -1}}}
    assert not plain.is_valid(stac.FILE, negative_size)
