"""A no-op re-run over a catalog of 10,000 harvested items must take <= 3 s.

Harvests 100 jobs of 100 point items each (10,000 items) from the test provider on loopback, then times
re-runs that find nothing new: through the CLI in a fresh process (what a user waits for, interpreter
start and imports included), and in-process. The baseline, run in the same process, is a fresh
interpreter importing what the CLI run imports, so the ratio says what the re-run costs beyond start-up.

    .venv/bin/python benchmarks/bench_rerun.py [--jobs 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.simkit import LoopbackServer  # noqa: E402
from harvester import pipeline  # noqa: E402
from harvester.config import load_config  # noqa: E402
from tests.harvester import fakeprovider  # noqa: E402

TARGET_SECONDS = 3.0
TOKEN = "bench-token"


def write_config(root: Path, url: str, jobs: int) -> Path:
    names = [f"bulk-{i:03d}:multi" for i in range(jobs)]
    return fakeprovider.write_config(root.parent / "bench.toml", root, url, names, name="bulk",
                                     executor="process", poll_interval=0.05, poll_max_interval=0.2)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100, help="jobs of 100 items each (default 100)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    fakeprovider.register()
    os.environ["FAKEPROV_TOKEN"] = TOKEN
    env = {**os.environ}
    service = fakeprovider.FakeService(TOKEN, polls_to_finish=1)
    with tempfile.TemporaryDirectory() as tmp, LoopbackServer(service) as server:
        service.url = server.url
        root = Path(tmp) / "catalog"
        config_path = write_config(root, server.url, args.jobs)

        start = time.perf_counter()
        first = pipeline.run(load_config(config_path))
        setup = time.perf_counter() - start
        if not first.ok:
            raise SystemExit(f"the harvest failed: {first.failures}")
        items = first.items_written
        print(f"harvested {items} items from {first.jobs} jobs in {setup:.1f} s ({items / setup:.0f} items/s)")

        cli = [sys.executable, "-m", "tests.harvester.crashrun", str(config_path), "none", "0"]
        baseline = [sys.executable, "-c", "import harvester.cli, harvester.pipeline, tests.harvester.fakeprovider"]
        rerun_cli, base_cli, rerun_inproc = [], [], []
        for _ in range(args.repeat):  # alternate, so drifts of the machine hit both alike
            base_cli.append(timed(baseline, env))
            rerun_cli.append(timed(cli, env))
            start = time.perf_counter()
            summary = pipeline.run(load_config(config_path))
            rerun_inproc.append(time.perf_counter() - start)
            assert summary.ok and summary.downloads == 0 and summary.items_written == 0, summary
            assert summary.jobs_skipped == args.jobs, summary

    cli_s, base_s, inproc_s = min(rerun_cli), min(base_cli), min(rerun_inproc)
    print(f"no-op re-run, CLI in a fresh process: {cli_s:.2f} s (median {statistics.median(rerun_cli):.2f} s)")
    print(f"no-op re-run, in-process:              {inproc_s:.3f} s")
    print(f"baseline, interpreter + imports:        {base_s:.2f} s")
    print(f"re-run / baseline:                      {cli_s / base_s:.2f}x")
    ok = cli_s <= TARGET_SECONDS
    print(f"target: CLI no-op re-run of {items} items <= {TARGET_SECONDS:.0f} s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
