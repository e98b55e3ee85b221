"""Start-up cost of the demo: a no-op re-run <= 0.5 s above a bare interpreter, imports < 15% of a fresh demo's CPU.

Runs ``harvester demo`` the way a user does (a fresh process, the console script of this environment):

- the floor: ``python -c pass`` of the same interpreter, timed in this run, between the demo runs;
- a fresh demo into an empty folder, with ``PYTHONPROFILEIMPORTTIME=1`` so that every Python process of it
  (the engine, the worker forkserver and its workers) reports each import it makes; the share of imports is
  the sum of those import times over the CPU time of the whole process tree (this process is made a child
  subreaper, so the worker server, which outlives the engine by a moment, is reaped here and counted);
- no-op re-runs of the demo into the same folder (nothing to submit, download, convert or write).

Import times are wall-clock microseconds as CPython reports them (close to CPU time on a warm file cache);
the CPU time is user + system of every process. Medians of ``--rounds`` runs.

    .venv/bin/python benchmarks/bench_startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARVESTER = Path(sys.executable).with_name("harvester")

RERUN_ABOVE_FLOOR = 0.5   # seconds
IMPORT_SHARE = 0.15       # of a fresh demo's CPU time
PR_SET_CHILD_SUBREAPER = 36
_IMPORT_LINE = re.compile(rb"^import time:\s+(\d+) \|")


def become_subreaper() -> bool:
    """Orphaned descendants (the forkserver, once the engine exits) are re-parented to this process."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans() -> None:
    """Wait for every descendant left (so that its CPU time is counted in RUSAGE_CHILDREN)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr.decode()[-2000:]}")
    reap_orphans()
    return elapsed


def fresh_demo(out: Path, log: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of every process, seconds spent importing) of a demo into ``out``."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    before = children_cpu()
    start = time.perf_counter()
    with open(log, "ab") as err:  # appends: the lines of several processes do not overwrite each other
        result = subprocess.run([str(HARVESTER), "-q", "demo", "--out", str(out)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
    elapsed = time.perf_counter() - start
    reap_orphans()
    cpu = children_cpu() - before
    if result.returncode != 0:
        raise SystemExit(f"the demo failed ({result.returncode}); see {log}")
    imports = sum(int(m[1]) for line in log.read_bytes().splitlines() if (m := _IMPORT_LINE.match(line))) / 1e6
    return elapsed, cpu, imports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if not HARVESTER.exists():
        raise SystemExit(f"{HARVESTER} not found: run this with the project's environment (.venv/bin/python)")
    counted = become_subreaper()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        log = Path(tmp) / "imports.log"
        fresh_wall, fresh_cpu, fresh_imports = fresh_demo(out, log)
        floors, reruns = [], []
        for _ in range(args.rounds):  # interleaved, so that a slow moment of the machine hits both
            floors.append(wall([sys.executable, "-c", "pass"]))
            reruns.append(wall([str(HARVESTER), "-q", "demo", "--out", str(out)]))
    floor, rerun = statistics.median(floors), statistics.median(reruns)
    above = rerun - floor
    share = fresh_imports / fresh_cpu
    print(f"floor (python -c pass): median {floor * 1000:.0f} ms of {args.rounds}")
    print(f"no-op demo re-run: median {rerun:.3f} s, {above:.3f} s above the floor (target <= {RERUN_ABOVE_FLOOR} s)"
          f" -> {'PASS' if above <= RERUN_ABOVE_FLOOR else 'FAIL'}")
    print(f"fresh demo: {fresh_wall:.2f} s wall, {fresh_cpu:.2f} s CPU in all its processes"
          f"{'' if counted else ' (not a subreaper here: the worker server may be missing)'}, "
          f"{fresh_imports:.2f} s importing = {share:.1%} (target < {IMPORT_SHARE:.0%}) "
          f"-> {'PASS' if share < IMPORT_SHARE else 'FAIL'}")
    return 0 if above <= RERUN_ABOVE_FLOOR and share < IMPORT_SHARE else 1


if __name__ == "__main__":
    sys.exit(main())
