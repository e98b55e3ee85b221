"""A Sentinel Hub Catalog search of 10,000 items harvested into the catalog <= 1.5x plain pystac-client iteration.

The Sentinel Hub simulator runs in its own process (``python -m adapters.sentinelhub.simulator``) with 10,000
Sentinel-2 L2A scenes. Each round, alternating so that drifts of the machine hit both alike:

- the floor: the same search iterated with plain pystac-client (``Client.open`` with a bearer token,
  ``search(...).items()``, pages of 100), as a user of pystac-client would, nothing written;
- the harvest: ``harvester.pipeline.run`` of a ``sentinelhub-catalog`` source with that search into a fresh
  catalog (OAuth, pystac-client paging through the project's httpx client, items cleaned and upgraded to
  STAC 1.1, written with their collection, index and state).

Medians of ``--rounds`` rounds.

    .venv/bin/python benchmarks/bench_search.py [--items 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from harvester import pipeline  # noqa: E402
from harvester.config import parse_config  # noqa: E402

TARGET_RATIO = 1.5
COLLECTION = "sentinel-2-l2a"
DATETIME = "2020-01-01T00:00:00Z/.."
BBOX = [10.0, 40.0, 20.0, 50.0]


def start_simulator(items: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen([sys.executable, "-m", "adapters.sentinelhub.simulator", "--scenes", str(items),
                                "--no-s3"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    url = process.stdout.readline().strip()
    if not url:
        raise SystemExit(f"the simulator did not start: {process.stderr.read()}")
    env = {}
    for _ in range(4):
        key, _, value = process.stderr.readline().strip().removeprefix("export ").partition("=")
        env[key] = value
    return process, env


def floor(env: dict[str, str]) -> tuple[float, int]:
    """Plain pystac-client: a token, then the search iterated as pystac.Items."""
    from pystac_client import Client

    start = time.perf_counter()
    token = httpx.post(env["SH_AUTH_URL"], data={"grant_type": "client_credentials", "client_id": env["SH_CLIENT_ID"],
                                                 "client_secret": env["SH_CLIENT_SECRET"]}).json()["access_token"]
    client = Client.open(f"{env['SH_BASE_URL']}/api/v1/catalog/1.0.0/", headers={"Authorization": f"Bearer {token}"})
    count = sum(1 for _ in client.search(collections=[COLLECTION], datetime=DATETIME, bbox=BBOX, limit=100).items())
    return time.perf_counter() - start, count


def harvest(env: dict[str, str], root: Path) -> tuple[float, int]:
    raw = {"catalog": {"path": str(root)}, "run": {"executor": "inline"},
           "sources": [{"provider": "sentinelhub-catalog", "name": "bench", "collection": COLLECTION,
                        "datetime": DATETIME, "bbox": BBOX, "limit": 100}]}
    start = time.perf_counter()
    summary = pipeline.run(parse_config(raw, base_dir=root.parent, env=env))
    elapsed = time.perf_counter() - start
    if not summary.ok:
        raise SystemExit(f"the harvest failed: {summary.failures[:3]}")
    return elapsed, summary.items_written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    process, env = start_simulator(args.items)
    os.environ.update(env)
    floors, harvests = [], []
    try:
        floor(env)  # warm up: the simulator builds its scenes, both sides import what they use
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.rounds):
                seconds, count = floor(env)
                assert count == args.items, count
                floors.append(seconds)
                seconds, written = harvest(env, Path(tmp) / f"catalog-{i}")
                assert written == args.items, written
                harvests.append(seconds)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)
    base, ours = statistics.median(floors), statistics.median(harvests)
    print(f"plain pystac-client iteration of {args.items} items: {base:.2f} s ({args.items / base:.0f} items/s)")
    print(f"harvested into the catalog:                   {ours:.2f} s ({args.items / ours:.0f} items/s)")
    ratio = ours / base
    ok = ratio <= TARGET_RATIO
    print(f"harvest / pystac-client: {ratio:.2f}x (target <= {TARGET_RATIO}x): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
