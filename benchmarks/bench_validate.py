"""Offline validation throughput (catalogs.validate) against plain jsonschema-rs on the same objects, in one process.

    .venv/bin/python benchmarks/bench_validate.py [--items 2000] [--rounds 3] [--plain-items 200]

Builds a catalog of N items shaped like the harvester's (projection, raster and file extensions, two local asset
files each), then times, best of R rounds in alternating order, with every schema compiled beforehand:
  validate_catalog  the harvester's validation of the whole catalog: the walk through its links, every object
                    against its core and extension schemas (schemas bundled with the harvester, pystac and
                    rasterio; jsonschema_rs answers yes/no), link targets, asset files and their file:size
  floor             for each object file of the catalog, listed in advance: read it, parse it, and check it with
                    plain jsonschema_rs validators (compiled once from the same schema documents) against its
                    core schema and each extension it declares
  json.load         read and parse each object file only (for information)
Target: at most 20 ms per object with either engine (the figure the wall-clock test in the suite asserted
before it moved here): jsonschema_rs, and one round of the pure-Python engine (jsonschema, accelerate=False) on
a catalog of --plain-items items. The ratio of validate_catalog to the floor is printed for information: it
says what the walk and the link and asset checks cost beyond reading and schema validation.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalogs import stac  # noqa: E402
from catalogs.schemas import SchemaStore  # noqa: E402
from catalogs.validate import core_schema_url, validate_catalog  # noqa: E402

MAX_SECONDS_PER_OBJECT = 0.020  # with either engine
COLLECTION = "bench-rtc"


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def item(index: int, folder: Path) -> dict[str, Any]:
    """An RTC-like item with a data COG and a thumbnail beside it (small files: their size is what is checked)."""
    item_id = f"rtc-{index:06d}"
    tif, png = folder / f"{item_id}.tif", folder / f"{item_id}.png"
    folder.mkdir(parents=True, exist_ok=True)
    tif.write_bytes(index.to_bytes(4, "big") * 64)
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + index.to_bytes(4, "big"))
    x0, lon = 400_000.0 + 30 * (index % 1000), 14.0 + 0.01 * (index % 500)
    return {
        "type": "Feature",
        "stac_version": stac.STAC_VERSION,
        "stac_extensions": [stac.FILE, stac.PROJECTION, stac.RASTER],
        "id": item_id,
        "geometry": {"type": "Polygon", "coordinates": [[[lon, 69.0], [lon + 0.1, 69.0], [lon + 0.1, 69.1],
                                                         [lon, 69.1], [lon, 69.0]]]},
        "bbox": [lon, 69.0, lon + 0.1, 69.1],
        "properties": {
            "datetime": f"2024-{1 + index % 12:02d}-{1 + index % 28:02d}T10:20:30Z",
            "created": "2024-12-01T00:00:00.123Z",
            "platform": "sentinel-1a",
            "proj:code": "EPSG:32633",
            "proj:shape": [3000, 3000],
            "proj:transform": [30.0, 0.0, x0, 0.0, -30.0, 7_700_000.0],
            "proj:bbox": [x0, 7_610_000.0, x0 + 90_000.0, 7_700_000.0],
        },
        "links": [
            {"rel": "root", "href": "../../catalog.json", "type": stac.JSON},
            {"rel": "parent", "href": "../collection.json", "type": stac.JSON},
            {"rel": "collection", "href": "../collection.json", "type": stac.JSON},
        ],
        "assets": {
            "VV": {
                "href": f"./{tif.name}", "type": stac.COG, "roles": ["data"],
                "file:size": tif.stat().st_size,
                "file:checksum": "1220" + hashlib.sha256(tif.read_bytes()).hexdigest(),
                "bands": [{"name": "VV", "data_type": "float32", "nodata": 0, "unit": "gamma0",
                           "statistics": {"minimum": 0.0, "maximum": 1.5, "mean": 0.2},
                           "raster:spatial_resolution": 30.0}],
            },
            "thumbnail": {"href": f"./{png.name}", "type": stac.PNG, "roles": ["thumbnail"],
                          "file:size": png.stat().st_size},
        },
        "collection": COLLECTION,
    }


def build_catalog(root: Path, n_items: int) -> list[Path]:
    """catalog.json -> <collection>/collection.json -> <collection>/<id>/<id>.json; returns every object file."""
    write_json(root / "catalog.json", {
        "type": "Catalog", "stac_version": stac.STAC_VERSION, "id": "bench", "description": "benchmark",
        "links": [{"rel": "root", "href": "./catalog.json", "type": stac.JSON},
                  {"rel": "child", "href": f"./{COLLECTION}/collection.json", "type": stac.JSON}],
    })
    paths = [root / "catalog.json", root / COLLECTION / "collection.json"]
    for index in range(n_items):
        folder = root / COLLECTION / f"rtc-{index:06d}"
        path = folder / f"{folder.name}.json"
        write_json(path, item(index, folder))
        paths.append(path)
    write_json(paths[1], {
        "type": "Collection", "stac_version": stac.STAC_VERSION, "id": COLLECTION, "description": "benchmark items",
        "license": "CC-BY-4.0",
        "extent": {"spatial": {"bbox": [[14.0, 69.0, 19.1, 69.1]]},
                   "temporal": {"interval": [["2024-01-01T10:20:30Z", "2024-12-28T10:20:30Z"]]}},
        "links": [{"rel": "root", "href": "../catalog.json", "type": stac.JSON},
                  {"rel": "parent", "href": "../catalog.json", "type": stac.JSON},
                  *({"rel": "item", "href": f"./{p.parent.name}/{p.name}", "type": stac.GEOJSON}
                    for p in paths[2:])],
    })
    return paths


def schema_urls(data: dict[str, Any]) -> list[str]:
    return [core_schema_url(data["type"], data["stac_version"]), *data.get("stac_extensions", [])]


def plain_validators(store: SchemaStore, urls: set[str]) -> dict[str, Any]:
    """jsonschema_rs validators of ``urls``, each compiled once from the documents the store holds."""
    validators = {}
    for url in sorted(urls):
        documents = [(uri, store.get(uri)) for uri in store.dependencies(url)]
        registry = jsonschema_rs.Registry(documents, retriever=store.get)
        validators[url] = jsonschema_rs.validator_for(store.get(url), registry=registry)
    return validators


def run_floor(paths: list[Path], validators: dict[str, Any]) -> int:
    valid = 0
    for path in paths:
        with open(path, "rb") as fh:
            data = json.load(fh)
        valid += all(validators[url].is_valid(data) for url in schema_urls(data))
    return valid


def run_load(paths: list[Path]) -> int:
    count = 0
    for path in paths:
        with open(path, "rb") as fh:
            count += len(json.load(fh))
    return count


def best_of(rounds: int, runs: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Best wall time of each run over ``rounds`` rounds; the order of the runs alternates between rounds."""
    best = {name: float("inf") for name in runs}
    names = list(runs)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            gc.collect()
            start = time.perf_counter()
            runs[name]()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="items in the catalog (2000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each timing, best kept (3)")
    parser.add_argument("--plain-items", type=int, default=200,
                        help="items for the one pure-Python (jsonschema) round, for information (200)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_validate_") as folder:
        work = Path(folder)
        paths = build_catalog(work / "catalog", args.items)
        objects = len(paths)
        # an empty schema folder and cache: only what the harvester and its dependencies bundle
        store = SchemaStore(work / "no-schema-folder", work / "empty-cache")
        start = time.perf_counter()
        first = validate_catalog(work / "catalog", store)
        assert first.ok and len(first.objects) == objects, first.format(limit=3)
        print(f"catalog: {objects} objects (1 catalog, 1 collection, {args.items} items); "
              f"first validation, compiling the schemas: {time.perf_counter() - start:.2f} s")
        validators = plain_validators(store, {url for p in paths[:3] for url in schema_urls(json.loads(p.read_text()))})
        assert run_floor(paths, validators) == objects, "the plain validators reject objects validate_catalog accepts"

        times = best_of(args.rounds, {
            "validate_catalog": lambda: validate_catalog(work / "catalog", store),
            "floor": lambda: run_floor(paths, validators),
            "load": lambda: run_load(paths),
        })
        rate = {name: objects / seconds for name, seconds in times.items()}
        ratio = rate["validate_catalog"] / rate["floor"]
        print(f"best of {args.rounds}:")
        print(f"  validate_catalog             {rate['validate_catalog']:9,.0f} objects/s  "
              f"({times['validate_catalog'] / objects * 1e3:.3f} ms per object)")
        print(f"  floor: load + jsonschema_rs  {rate['floor']:9,.0f} objects/s")
        print(f"  json.load only               {rate['load']:9,.0f} objects/s")

        plain_paths = build_catalog(work / "plain", args.plain_items)
        plain_store = SchemaStore(work / "no-schema-folder", work / "empty-cache", accelerate=False)
        validate_catalog(work / "plain", plain_store)  # compile
        start = time.perf_counter()
        validate_catalog(work / "plain", plain_store)
        per_object = (time.perf_counter() - start) / len(plain_paths)
        print(f"  validate_catalog, jsonschema engine: {per_object * 1e3:.2f} ms per object "
              f"({len(plain_paths)} objects, one round)")

    print(f"validate_catalog / floor throughput {ratio:.2f} (for information)")
    fast = times["validate_catalog"] / objects
    ok = max(fast, per_object) <= MAX_SECONDS_PER_OBJECT
    print(f"per object: {fast * 1e3:.3f} ms (jsonschema_rs), {per_object * 1e3:.2f} ms (jsonschema); "
          f"target <= {MAX_SECONDS_PER_OBJECT * 1e3:.0f} ms with either  {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
