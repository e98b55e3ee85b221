"""HyP3 harvest throughput on the demo-size simulator run, and where the time goes.

Each round starts a fresh simulator on loopback holding the demo's job list (every example of the HyP3
API page: all seven job types) as finished jobs, their products already made (so the simulator's own work
is not timed), and fetches them into a fresh catalog through `harvester.pipeline.run` with the defaults
`harvester demo` uses (process pool, 4 download threads). It prints jobs harvested per minute and the
share of the summed stage times spent in download, translation (unzip, netCDF), COG conversion, item
building and writing.

The baseline, run in the same process on the same simulator products, is the floor: fetching every
file the harvest fetches with one plain httpx client, one after the other, writing them to disk. The
ratio harvest/floor says what everything beyond moving the bytes costs.

    .venv/bin/python benchmarks/bench_hyp3.py [--rounds 3] [--copies 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from adapters.hyp3.jobs import API_EXAMPLES  # noqa: E402
from adapters.hyp3.simulator import Hyp3Simulator  # noqa: E402
from adapters.simkit import LoopbackServer  # noqa: E402
from harvester import pipeline  # noqa: E402
from harvester.config import CatalogConfig, Config, RunOptions, parse_source  # noqa: E402

STAGES = ("download", "translate", "convert", "build", "write")


def harvest_and_floor(workdir: Path, jobs: list[dict[str, Any]], seed: int) -> tuple[pipeline.Summary, float]:
    """Harvest ``jobs`` (finished, their products made beforehand, so that the simulator's own work is not
    timed) from a fresh simulator; then time the floor on the same server. Returns both."""
    sim = Hyp3Simulator(seed=seed)
    for job in jobs:
        record = sim.add_job(dict(job, name="bench"), user=sim.token_user)
        sim.product(record["job_id"])
    with LoopbackServer(sim) as server:
        sim.url = server.url
        os.environ["EARTHDATA_TOKEN"] = sim.token
        source = parse_source({"provider": "hyp3", "name": "bench", "url": server.url, "job_name": "bench"},
                              "bench", base_dir=workdir, env={}, origin="bench")
        config = Config(CatalogConfig(workdir / "catalog", title="bench"),
                        RunOptions(poll_interval=0.2, poll_max_interval=0.5, timeout=600), [source])
        summary = pipeline.run(config)
        with httpx.Client(headers={"Authorization": f"Bearer {sim.token}"}) as client:
            urls = []
            for job_id in sim.jobs:
                record = client.get(f"{server.url}/jobs/{job_id}").json()
                urls += [f["url"] for f in record.get("files", [])]
                urls += record.get("browse_images", []) + record.get("thumbnail_images", []) + record.get("logs", [])
            out = workdir / "floor"
            out.mkdir()
            start = time.perf_counter()
            for i, url in enumerate(urls):
                with client.stream("GET", url) as response:
                    response.raise_for_status()
                    with open(out / f"{i}", "wb") as f:
                        for chunk in response.iter_bytes(1 << 20):
                            f.write(chunk)
            base = time.perf_counter() - start
    return summary, base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=1, help="harvest the demo job list this many times over")
    args = parser.parse_args()
    jobs = [dict(job, name=f"{job['name']}-{c}") for c in range(args.copies) for job in API_EXAMPLES]
    rates, ratios, shares = [], [], {stage: [] for stage in STAGES}
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bench-hyp3-") as tmp:
            summary, base = harvest_and_floor(Path(tmp), jobs, seed=r)
            assert summary.ok and summary.jobs_harvested == len(jobs), [str(f) for f in summary.failures]
        t = summary.timings
        busy = sum(t.get(stage, 0.0) for stage in STAGES)
        rates.append(60.0 * summary.jobs_harvested / t["total"])
        ratios.append(t["total"] / base)
        for stage in STAGES:
            shares[stage].append(t.get(stage, 0.0) / busy)
        print(f"round {r + 1}: {summary.jobs_harvested} jobs in {t['total']:.2f} s = {rates[-1]:.0f} jobs/min; "
              f"{summary.downloads} downloads ({summary.bytes_downloaded / 1e6:.1f} MB), "
              f"{summary.conversions} COG conversions; floor (plain sequential download) {base:.3f} s, "
              f"ratio {ratios[-1]:.1f}x; stage seconds: "
              + ", ".join(f"{stage} {t.get(stage, 0.0):.2f}" for stage in STAGES), flush=True)
    print(f"median: {statistics.median(rates):.0f} jobs/min ({len(jobs)} jobs a round); "
          f"harvest/floor {statistics.median(ratios):.1f}x; share of stage time: "
          + ", ".join(f"{stage} {100 * statistics.median(v):.0f}%" for stage, v in shares.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
