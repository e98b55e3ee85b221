"""Benchmark the NGU translation of one big result file against the floor of pyarrow reading and writing it.

    python benchmarks/bench_ngu.py [--points 250000,1000000] [--dates 100] [--workdir DIR]

For each size, a gzipped result CSV of that many points and ``--dates`` acquisitions (the simulator's
2020 layout, made column-wise with numpy and pyarrow, once: kept in ``--workdir`` when given) is

(a) translated as a harvest does it, in a fresh process: `adapters.ngu.translate.translate_file` (parse in
    batches, GeoParquet, the median velocity grid, thumbnail) and `catalogs.cog.ensure_cog` of the grid;
(b) the floor, in a fresh process: `pyarrow.csv.open_csv` over the same gzipped file (same block size, types
    inferred), the batches written with `pyarrow.parquet.ParquetWriter` in row groups of the same size (the
    same streaming read and write, with no other work).

Targets: (a) <= 2x (b) in time; (a)'s peak RSS <= 1.5 GB and about the same at every size (bounded
memory). Peak RSS is each process's own ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TIME_TARGET = 2.0
RSS_TARGET_MB = 1536
NAME = "160-IW2-414-in-asc1-v20a.csv.gz"


def generate(path: Path, points: int, dates: int) -> float:
    from adapters.ngu.simdata import FileSpec, write_gzip_file

    start = time.perf_counter()
    box = (20.0, 69.0, 21.0, 69.5)  # about 39 x 56 km: 50 m cells, 0.8 million of them
    spec = FileSpec(160, 1, 414, box, box, points=points, dates=dates, style="2020", seed=11)
    tmp = path.with_suffix(".part")
    write_gzip_file(spec, tmp, chunk=100_000)
    tmp.rename(path)
    return time.perf_counter() - start


def child_translate(path: Path, work: Path) -> dict[str, float]:
    from adapters.ngu.translate import translate_file
    from catalogs.cog import ensure_cog

    start = time.perf_counter()
    draft = translate_file(path, NAME, work, cell=50.0, centre=(20.5, 69.25))
    velocity = draft.assets["velocity"].path
    assert velocity is not None
    ensure_cog(velocity, velocity.with_name("velocity.cog.tif"), "continuous")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": draft.properties["ngu:point_count"]}


def child_floor(path: Path, work: Path) -> dict[str, float]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from adapters.ngu.csvparse import BLOCK_SIZE
    from catalogs.geoparquet_points import ROW_GROUP_ROWS

    start = time.perf_counter()
    reader = pacsv.open_csv(pa.input_stream(str(path), compression="gzip", buffer_size=1 << 20),
                            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE))
    rows = 0
    pending: list[pa.RecordBatch] = []
    # duplicated header names ('pixel', 'line') are fine for pyarrow's own reader and writer; batches are
    # gathered into row groups of the size the translation writes
    with pq.ParquetWriter(str(work / "floor.parquet"), reader.schema) as writer:
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=ROW_GROUP_ROWS * 2)
                pending = []
        if pending:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=ROW_GROUP_ROWS * 2)
    return {"seconds": time.perf_counter() - start, "rows": rows}


def run_child(kind: str, path: Path, work: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), str(work)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", default="250000,1000000", help="sizes, comma-separated")
    parser.add_argument("--dates", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the generated files here")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "CSV", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, csv, work = args.child
        result = (child_translate if kind == "translate" else child_floor)(Path(csv), Path(work))
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0

    keep = args.workdir
    tmp = tempfile.TemporaryDirectory(prefix="bench-ngu-") if keep is None else None
    base = Path(tmp.name) if tmp else keep
    base.mkdir(parents=True, exist_ok=True)
    ok = True
    rss = []
    try:
        for points in (int(p) for p in args.points.split(",")):
            csv = base / f"{points}x{args.dates}" / NAME
            csv.parent.mkdir(parents=True, exist_ok=True)
            if not csv.exists():
                seconds = generate(csv, points, args.dates)
                print(f"generated {points:,} points x {args.dates} dates: {csv.stat().st_size / 1e6:.0f} MB gzipped "
                      f"in {seconds:.1f} s", flush=True)
            work = csv.parent / "work"
            work.mkdir(exist_ok=True)
            floor = run_child("floor", csv, work)
            translate = run_child("translate", csv, work)
            ratio = translate["seconds"] / floor["seconds"]
            rss.append(translate["max_rss_mb"])
            good = (ratio <= TIME_TARGET and translate["max_rss_mb"] <= RSS_TARGET_MB
                    and translate["rows"] == floor["rows"] == points)
            ok &= good
            print(f"{points:>9,} points x {args.dates} dates: translate {translate['seconds']:.1f} s "
                  f"(peak RSS {translate['max_rss_mb']:.0f} MB), floor {floor['seconds']:.1f} s "
                  f"(peak RSS {floor['max_rss_mb']:.0f} MB): ratio {ratio:.2f} (target <= {TIME_TARGET:g}), "
                  f"{'ok' if good else 'MISSED'}", flush=True)
        if len(rss) > 1:
            print(f"peak RSS from the smallest to the largest size: {rss[0]:.0f} -> {rss[-1]:.0f} MB "
                  f"({rss[-1] / rss[0]:.2f}x)")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
