"""The STAC API's item search (``harvester serve --api``) against DuckDB querying the same GeoParquet directly.

    python benchmarks/bench_api.py [--items 100000] [--repeat 15] [--dir DIR]

Builds a catalog of ``--items`` small items with the catalog writer, starts the API on loopback (which
exports its GeoParquet index), then times, median of ``--repeat`` runs each:
  api            one page of a search over HTTP (httpx, a kept-alive connection): the items as JSON
  duckdb         DuckDB (with spatial) running the same query on the same Parquet file directly, the matching
                 rows fetched whole into Arrow (what a user querying the file gets); for information also the
                 ids alone (what the API asks DuckDB for, before it reads those items' JSON files)
for three searches: bbox + datetime (100 items a page), a CQL2 filter (100 a page), and bbox + datetime
sorted by datetime (10 a page). Target (issue #14): api within 2x of duckdb.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import httpx
import pystac

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_catalog  # noqa: E402
from catalogs.duck import connect  # noqa: E402
from catalogs.store import CatalogStore, CollectionSpec  # noqa: E402
from harvester.serve import make_server  # noqa: E402



def make_items(n: int) -> list[pystac.Item]:
    """Small items spread over the world and 10 years, in two collections, with a number to filter on."""
    return bench_catalog.make_items(
        n, collection=lambda i: "bench-a" if i % 3 else "bench-b",
        properties=lambda i: {"platform": "sentinel-1a" if i % 2 else "sentinel-1b", "sat:relative_orbit": i % 175,
                              "proj:code": "EPSG:32633"})


def median_seconds(run: Callable[[], Any], repeat: int) -> float:
    run()  # warm up (connections, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-api-", dir=args.dir))
    try:
        root = work / "catalog"
        start = time.perf_counter()
        with CatalogStore(root, title="bench") as store:
            for cid in ("bench-a", "bench-b"):
                store.ensure_collection(CollectionSpec(cid, "benchmark items"))
            failed = [o for o in store.add_many(make_items(args.items)) if o.error]
            assert not failed, failed[:3]
        print(f"catalog of {args.items} items written in {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        server = make_server(root, port=0, api=True)
        print(f"API index built in {time.perf_counter() - start:.1f} s", flush=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        parquet = root / ".harvest" / "api" / "items.parquet"
        con = connect([parquet])
        box = [-60.0, -30.0, 60.0, 30.0]
        searches = {
            "bbox+datetime, 100/page": (
                {"bbox": ",".join(map(str, box)), "datetime": "2016-01-01T00:00:00Z/2020-12-31T23:59:59Z",
                 "limit": "100"},
                "ST_Intersects(geometry, ST_MakeEnvelope(?, ?, ?, ?)) AND datetime >= ? AND datetime <= ?",
                [*box, datetime(2016, 1, 1, tzinfo=timezone.utc), datetime(2020, 12, 31, 23, 59, 59, tzinfo=timezone.utc)],
                "collection, id", 100),
            "CQL2 filter, 100/page": (
                {"filter": "platform = 'sentinel-1a' AND \"sat:relative_orbit\" < 20", "limit": "100"},
                "platform = 'sentinel-1a' AND \"sat:relative_orbit\" < 20", [], "collection, id", 100),
            "bbox+datetime sorted by datetime, 10/page": (
                {"bbox": ",".join(map(str, box)), "datetime": "2016-01-01T00:00:00Z/..", "sortby": "-datetime",
                 "limit": "10"},
                "ST_Intersects(geometry, ST_MakeEnvelope(?, ?, ?, ?)) AND datetime >= ?",
                [*box, datetime(2016, 1, 1, tzinfo=timezone.utc)], "datetime DESC, collection, id", 10),
        }
        worst = 0.0
        with httpx.Client(timeout=60) as client:
            for name, (params, where, values, order, limit) in searches.items():
                got = client.get(f"{base}search", params=params).json()["features"]
                sql = f"SELECT * FROM read_parquet(?) WHERE {where} ORDER BY {order} LIMIT {limit}"
                direct = con.execute(sql, [str(parquet), *values]).to_arrow_table()
                assert [f["id"] for f in got] == direct["id"].to_pylist(), name  # the same answer
                api = median_seconds(lambda: client.get(f"{base}search", params=params).raise_for_status(), args.repeat)
                duck = median_seconds(lambda: con.execute(sql, [str(parquet), *values]).to_arrow_table(), args.repeat)
                ids_sql = sql.replace("SELECT *", "SELECT collection, id")
                ids = median_seconds(lambda: con.execute(ids_sql, [str(parquet), *values]).fetchall(), args.repeat)
                worst = max(worst, api / duck)
                print(f"{name:45s} api {api * 1000:7.1f} ms   duckdb {duck * 1000:7.1f} ms   ratio {api / duck:4.2f}x"
                      f"   (duckdb ids only {ids * 1000:6.1f} ms; {len(got)} items)", flush=True)
        print(f"worst ratio {worst:.2f}x (target <= 2x): {'OK' if worst <= 2 else 'MISSED'}")
        server.shutdown()
        server.server_close()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
