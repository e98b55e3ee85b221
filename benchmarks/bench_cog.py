"""Benchmark `catalogs.cog.ensure_cog` against GDAL's COG driver called directly, and against a plain copy.

    python benchmarks/bench_cog.py [--size N] [--rounds R]

(a) ensure_cog on a striped float32 GeoTIFF vs (b) rasterio.shutil.copy(driver="COG") with the same creation
options and all threads: target ensure_cog/direct throughput >= 0.9. Then an input that already is a COG:
ensure_cog with link=False (the copy fallback) vs shutil.copyfile: target time ratio <= 1.5; the hard link
is shown for information. Times are the best of R runs, in alternating order, in this process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalogs.cog import cog_creation_options, ensure_cog, validate_cog  # noqa: E402

CONVERSION_TARGET = 0.9  # ensure_cog throughput / direct GDAL throughput, at least
COPY_TARGET = 1.5  # ensure_cog (copy fallback) time / shutil.copyfile time, at most


def make_source(path: Path, size: int, seed: int = 0) -> None:
    """A striped float32 GeoTIFF: a smooth field plus noise, with a nodata disc."""
    rng = np.random.default_rng(seed)
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="float32",
        nodata=-9999.0,
        crs="EPSG:32633",
        transform=Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0),
    )
    x = np.linspace(0, 6 * np.pi, size, dtype="float32")
    step = 500
    with rasterio.open(path, "w", **profile) as dataset:
        for row in range(0, size, step):
            rows = min(step, size - row)
            y = np.linspace(row, row + rows - 1, rows, dtype="float32")[:, None] / size * 4 * np.pi
            field = 20 * np.sin(x)[None, :] * np.cos(y) + 0.002 * np.arange(size, dtype="float32")[None, :]
            field += rng.normal(0, 0.5, size=(rows, size)).astype("float32")
            yy, xx = np.ogrid[row : row + rows, 0:size]
            field[(yy - size * 0.7) ** 2 + (xx - size * 0.3) ** 2 < (size * 0.15) ** 2] = -9999.0
            dataset.write(field.astype("float32"), 1, window=((row, row + rows), (0, size)))


def best_of(rounds: int, runs: dict[str, Callable[[], None]], reset: Callable[[], None]) -> dict[str, float]:
    """Best wall time of each run over ``rounds`` rounds; the order of the runs alternates between rounds."""
    best = {name: float("inf") for name in runs}
    names = list(runs)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            reset()
            start = time.perf_counter()
            runs[name]()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=6000, help="raster width and height in pixels (6000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each timing, best kept (3)")
    args = parser.parse_args(argv)

    print(f"GDAL {rasterio.__gdal_version__}, rasterio {rasterio.__version__}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench_cog_") as folder:
        work = Path(folder)
        src = work / "source.tif"
        start = time.perf_counter()
        make_source(src, args.size)
        raw_mb = args.size * args.size * 4 / 1e6
        print(f"source: {args.size}x{args.size} float32 striped GeoTIFF, {raw_mb:.0f} MB "
              f"(made in {time.perf_counter() - start:.1f} s)")

        with rasterio.open(src) as dataset:
            options = cog_creation_options(dataset)
        print("creation options: " + " ".join(f"{k}={v}" for k, v in options.items()))

        # (a) ensure_cog vs (b) the COG driver directly
        ours, direct = work / "ensure_cog.tif", work / "direct.tif"

        def reset_conversion() -> None:
            ours.unlink(missing_ok=True)
            direct.unlink(missing_ok=True)

        times = best_of(
            args.rounds,
            {
                "ensure_cog": lambda: ensure_cog(src, ours),
                "direct": lambda: rasterio.shutil.copy(src, direct, driver="COG", **options),
            },
            reset_conversion,
        )
        ratio = times["direct"] / times["ensure_cog"]  # throughput ratio
        ok_conversion = ratio >= CONVERSION_TARGET
        print(f"conversion, best of {args.rounds}:")
        print(f"  ensure_cog  {times['ensure_cog']:6.2f} s  {raw_mb / times['ensure_cog']:7.1f} MB/s")
        print(f"  GDAL direct {times['direct']:6.2f} s  {raw_mb / times['direct']:7.1f} MB/s")
        print(f"  ensure_cog/direct throughput {ratio:.3f}  (target >= {CONVERSION_TARGET})  "
              f"{verdict(ok_conversion)}")
        ensure_cog(src, ours)
        assert validate_cog(ours)[0], "ensure_cog output is not a valid COG"

        # an input that already is a COG: the output of (a), put elsewhere on the same file system
        cog_mb = ours.stat().st_size / 1e6
        linked, copied, plain = work / "linked.tif", work / "copied.tif", work / "plain.tif"

        def reset_copies() -> None:
            for path in (linked, copied, plain):
                path.unlink(missing_ok=True)

        copy_rounds = max(args.rounds, 5)
        times = best_of(
            copy_rounds,
            {
                "link": lambda: ensure_cog(ours, linked),
                "copy": lambda: ensure_cog(ours, copied, link=False),
                "copyfile": lambda: shutil.copyfile(ours, plain),
            },
            reset_copies,
        )
        copy_ratio = times["copy"] / times["copyfile"]
        ok_copy = copy_ratio <= COPY_TARGET
        print(f"already a COG ({cog_mb:.0f} MB), best of {copy_rounds}:")
        print(f"  ensure_cog, hard link     {times['link'] * 1000:8.1f} ms")
        print(f"  ensure_cog, link=False    {times['copy'] * 1000:8.1f} ms  "
              f"{cog_mb / times['copy']:7.0f} MB/s")
        print(f"  shutil.copyfile           {times['copyfile'] * 1000:8.1f} ms  "
              f"{cog_mb / times['copyfile']:7.0f} MB/s")
        print(f"  ensure_cog(link=False)/copyfile time {copy_ratio:.3f}  (target <= {COPY_TARGET})  "
              f"{verdict(ok_copy)}")

    print(f"targets: conversion {verdict(ok_conversion)}, pass-through copy {verdict(ok_copy)}")
    return 0 if ok_conversion and ok_copy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
