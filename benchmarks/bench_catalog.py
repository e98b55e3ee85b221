"""Catalog writer throughput, against naive pystac and the raw file-system floor, in one process.

    python benchmarks/bench_catalog.py [--items 100000] [--naive 20000] [--small 10000] [--dir DIR]

Measures items/s of:
  writer@small, writer@items   CatalogStore.add_many over all items, then the final flush (fresh catalog each)
  add()@small                  CatalogStore.add item by item (for information: the bulk path is add_many)
  naive pystac@naive           Catalog + Collection, add_item for every item, normalize_hrefs, save(SELF_CONTAINED)
  raw floor@items              mkdir of each item folder and one write of the same JSON bytes, run just
                               before and just after writer@items (the disk's speed drifts), averaged
Targets (issue #2): writer >= 5,000 items/s at 100,000; per-item time at 100,000 within 1.5x of that at
10,000; writer >= 20x naive pystac at 20,000.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import orjson
import pystac

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from catalogs.store import CatalogStore, CollectionSpec  # noqa: E402

T0 = datetime(2015, 1, 1, tzinfo=timezone.utc)


def make_items(n: int, *, collection: Callable[[int], str] = lambda i: "bench",
               properties: Callable[[int], dict[str, Any]] | None = None) -> list[pystac.Item]:
    """Small realistic items: a footprint polygon, a few properties, two remote assets, spread over 10 years
    (``collection`` and ``properties`` of item ``i``; by default one collection and Sentinel-1 properties)."""
    items = []
    for i in range(n):
        lon, lat = -170 + (i * 0.37) % 340, -60 + (i * 0.11) % 120
        poly = [[lon, lat], [lon + 0.1, lat], [lon + 0.1, lat + 0.1], [lon, lat + 0.1], [lon, lat]]
        item = pystac.Item(
            id=f"S1A_IW_{i:07d}",
            geometry={"type": "Polygon", "coordinates": [poly]},
            bbox=[lon, lat, lon + 0.1, lat + 0.1],
            datetime=T0 + timedelta(hours=i * 0.9),
            properties=properties(i) if properties else {"platform": "sentinel-1a", "sar:polarizations": ["VV", "VH"],
                                                         "proj:code": "EPSG:32633"},
            collection=collection(i),
        )
        for key in ("VV", "VH"):
            item.add_asset(key, pystac.Asset(f"https://example.com/{i}/{key}.tif", media_type="image/tiff", roles=["data"]))
        items.append(item)
    return items


def run_writer(items: list[pystac.Item], root: Path, *, bulk: bool = True) -> float:
    gc.collect()
    start = time.perf_counter()
    with CatalogStore(root, title="bench") as store:
        store.ensure_collection(CollectionSpec("bench", "benchmark items", summaries=["platform"]))
        if bulk:
            failed = [outcome for outcome in store.add_many(items) if outcome.error]
            assert not failed, failed[:3]
        else:
            for item in items:
                store.add(item)
    return time.perf_counter() - start


def timed(run: Callable[..., float], *args: Any, **kwargs: Any) -> float:
    os.sync()
    return run(*args, **kwargs)


def run_naive(items: list[pystac.Item], root: Path) -> float:
    gc.collect()
    start = time.perf_counter()
    catalog = pystac.Catalog("bench", "benchmark")
    collection = pystac.Collection(
        "bench", "benchmark items",
        pystac.Extent(pystac.SpatialExtent([[-180, -90, 180, 90]]), pystac.TemporalExtent([[T0, None]])),
    )
    catalog.add_child(collection)
    for item in items:
        collection.add_item(item)
    catalog.normalize_hrefs(str(root))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    return time.perf_counter() - start


def run_floor(items: list[pystac.Item], root: Path) -> float:
    bodies = [(it.id, orjson.dumps(it.to_dict(include_self_link=False), option=orjson.OPT_INDENT_2)) for it in items]
    gc.collect()
    start = time.perf_counter()
    base = root / "bench"
    base.mkdir(parents=True)
    for item_id, body in bodies:
        folder = base / item_id
        folder.mkdir()
        (folder / f"{item_id}.json").write_bytes(body)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=20_000)
    parser.add_argument("--dir", help="where to write the catalogs (default: the system's temporary folder)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-catalog-", dir=args.dir))
    try:
        big = make_items(args.items)
        # Each timed phase starts after os.sync(), so that none pays for the write-back of the one before
        # (on this kind of virtual disk that write-back is most of the noise).
        t_small = timed(run_writer, big[: args.small], work / "small")
        t_floor_before = timed(run_floor, big, work / "floor-before")
        t_big = timed(run_writer, big, work / "big")
        t_floor_after = timed(run_floor, big, work / "floor-after")
        t_single = timed(run_writer, big[: args.small], work / "single", bulk=False)
        t_naive_writer = timed(run_writer, make_items(args.naive), work / "writer-naive-size")
        t_naive = timed(run_naive, make_items(args.naive), work / "naive")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    t_floor = (t_floor_before + t_floor_after) / 2

    rate_small, rate_big = args.small / t_small, args.items / t_big
    rate_naive, rate_writer_naive = args.naive / t_naive, args.naive / t_naive_writer
    rate_floor = args.items / t_floor
    linear = (t_big / args.items) / (t_small / args.small)
    speedup = rate_writer_naive / rate_naive
    print(f"writer        @{args.small:>7,}: {rate_small:10,.0f} items/s")
    print(f"add() 1 by 1  @{args.small:>7,}: {args.small / t_single:10,.0f} items/s   (for information)")
    print(f"writer        @{args.items:>7,}: {rate_big:10,.0f} items/s")
    print(f"writer        @{args.naive:>7,}: {rate_writer_naive:10,.0f} items/s")
    print(f"naive pystac  @{args.naive:>7,}: {rate_naive:10,.0f} items/s")
    print(f"raw floor     @{args.items:>7,}: {rate_floor:10,.0f} items/s   "
          f"(mean of {args.items / t_floor_before:,.0f} before and {args.items / t_floor_after:,.0f} after the writer)")
    print(f"per-item time @{args.items:,} / @{args.small:,}: {linear:.2f}x   (target <= 1.5)")
    print(f"writer / naive pystac @{args.naive:,}: {speedup:.1f}x   (target >= 20)")
    print(f"writer / raw floor @{args.items:,}: {rate_big / rate_floor:.2f}x")
    ok = rate_big >= 5000 and linear <= 1.5 and speedup >= 20
    print(f"writer >= 5,000 items/s @{args.items:,}: {'PASS' if rate_big >= 5000 else 'FAIL'}; "
          f"linear: {'PASS' if linear <= 1.5 else 'FAIL'}; vs naive: {'PASS' if speedup >= 20 else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
