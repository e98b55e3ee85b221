"""The CPU stage on Dask distributed against the process pool and inline, in one run.

    python benchmarks/bench_dask.py [--tasks 40] [--size 2048] [--threads 1] [--rounds 2]

N COG conversions (`catalogs.cog.ensure_cog` of striped float32 GeoTIFFs, SIZE px square, each source
distinct) through the executors the pipeline makes (`harvester.pipeline.make_executor`), driven as the
pipeline drives them (`harvester.pool.WorkPool`, every task through `run_task`): inline, a process pool of
2 workers, a `LocalCluster` of 2 worker processes and one of 1. Each conversion uses ``--threads`` GDAL
threads (1: so that what is measured is the executors' parallelism, not GDAL's own). Executors are started
and warmed up (one conversion per worker) before the clock starts; start-up is shown for information. Times
are the best of R rounds, the order of the executors reversed every other round.
Targets (issue #15): Dask (2 workers) <= 1.2x the process pool's time; 2 Dask workers >= 1.7x faster than 1.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cog import make_source  # noqa: E402

from catalogs.cog import ensure_cog, validate_cog  # noqa: E402
from harvester.config import CatalogConfig, Config, RunOptions  # noqa: E402
from harvester.pipeline import make_executor  # noqa: E402
from harvester.pool import WorkPool  # noqa: E402

DASK_VS_POOL = 1.2   # dask-2 time / process-2 time, at most
SCALING = 1.7        # dask-1 time / dask-2 time, at least


def executor_for(kind: str, workers: int, root: Path) -> cf.Executor:
    scheduler = "local" if kind == "dask" else None
    config = Config(CatalogConfig(root), RunOptions(workers=workers, executor=kind, scheduler=scheduler))  # type: ignore[arg-type]
    return make_executor(config)


def run_all(executor: cf.Executor, jobs: list[tuple[Path, Path]], threads: int, limit: int | None) -> float:
    """Convert every (source, target) through a WorkPool on ``executor``; the wall time."""
    for _, dst in jobs:
        dst.unlink(missing_ok=True)
    wake = threading.Event()
    pool = WorkPool(None, executor=executor, limit=limit, wake=wake.set)
    convert = functools.partial(ensure_cog, threads=threads)
    start = time.perf_counter()
    futures = [pool.submit(convert, src, dst, "continuous") for src, dst in jobs]
    while not all(f.done() for f in futures):
        wake.wait(0.05)
        wake.clear()
        pool.settle()
    seconds = time.perf_counter() - start
    for future in futures:
        future.result()  # raises what a task raised
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40, help="conversions per run (40)")
    parser.add_argument("--size", type=int, default=2048, help="raster width and height in pixels (2048)")
    parser.add_argument("--threads", type=int, default=1, help="GDAL threads of each conversion (1)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each executor, best kept (2)")
    args = parser.parse_args(argv)

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    work = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    executors: dict[str, tuple[cf.Executor, int | None]] = {}
    try:
        start = time.perf_counter()
        sources = []
        for i in range(args.tasks):
            src = work / "src" / f"source_{i:03d}.tif"
            src.parent.mkdir(exist_ok=True)
            make_source(src, args.size, seed=i)
            sources.append(src)
        mb = args.tasks * args.size * args.size * 4 / 1e6
        print(f"{args.tasks} sources: {args.size}x{args.size} float32 striped GeoTIFFs, {mb:.0f} MB in all "
              f"(made in {time.perf_counter() - start:.1f} s); GDAL threads per conversion: {args.threads}")

        for name, kind, workers in (("inline", "inline", 1), ("process-2", "process", 2), ("dask-2", "dask", 2),
                                    ("dask-1", "dask", 1)):
            start = time.perf_counter()
            executor = executor_for(kind, workers, work)
            slots = getattr(executor, "slots", None)
            limit = slots if isinstance(slots, int) else 2 * workers  # as the pipeline sizes them
            warm = [(sources[i], work / name / f"warm_{i}.tif") for i in range(workers)]
            (work / name).mkdir()
            run_all(executor, warm, args.threads, limit)
            executors[name] = (executor, limit)
            print(f"  {name:<9} started and warm in {time.perf_counter() - start:5.1f} s")

        jobs = {name: [(src, work / name / f"cog_{i:03d}.tif") for i, src in enumerate(sources)] for name in executors}
        best = {name: float("inf") for name in executors}
        names = list(executors)
        for index in range(args.rounds):
            for name in names if index % 2 == 0 else reversed(names):
                executor, limit = executors[name]
                seconds = run_all(executor, jobs[name], args.threads, limit)
                best[name] = min(best[name], seconds)
                print(f"  round {index + 1}: {name:<9} {seconds:7.2f} s  (load average {os.getloadavg()[0]:.1f})",
                      flush=True)
        for name in names:
            ok, errors, _ = validate_cog(jobs[name][-1][1])
            assert ok, f"{name}: the output is not a valid COG: {errors}"
    finally:
        for executor, _ in executors.values():
            executor.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.tasks} conversions, best of {args.rounds}:")
    for name in names:
        print(f"  {name:<9} {best[name]:7.2f} s  {args.tasks / best[name]:6.2f} conversions/s")
    vs_pool = best["dask-2"] / best["process-2"]
    scaling = best["dask-1"] / best["dask-2"]
    ok_pool, ok_scaling = vs_pool <= DASK_VS_POOL, scaling >= SCALING
    print(f"dask-2 / process-2 time {vs_pool:.2f}  (target <= {DASK_VS_POOL})  {'PASS' if ok_pool else 'FAIL'}")
    print(f"dask-1 / dask-2 time {scaling:.2f}  (target >= {SCALING})  {'PASS' if ok_scaling else 'FAIL'}")
    print(f"inline / process-2 time {best['inline'] / best['process-2']:.2f}  (for information)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end (2 CPUs shared with other work skew every figure)")
    return 0 if ok_pool and ok_scaling else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
