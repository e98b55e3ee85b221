"""Start-up cost of the demo: a no-op re-run <= 0.5 s above a bare interpreter, imports < 15% of a fresh demo's CPU.

Runs ``harvester demo`` the way a user does (a fresh process, the console script of this environment):

- the floor: ``python -c pass`` of the same interpreter, timed in this run, between the demo runs;
- a fresh demo into an empty folder, every Python process of it (the engine, the worker forkserver, its
  workers, the resource tracker) counting the CPU time its thread spends in imports (a ``sitecustomize``
  this benchmark puts on ``PYTHONPATH`` wraps ``__import__`` and adds up ``time.thread_time()`` of the
  outermost imports); the share is that sum over the CPU time (user + system) of the whole process tree;
  this process is made a child subreaper, so the worker server, which outlives the engine by a moment, is
  reaped here and counted;
- no-op re-runs of the demo into the same folder (nothing to submit, download, convert or write).

CPU time, not wall-clock: in a fresh demo the worker server imports while the engine is busy downloading,
and CPython's ``-X importtime`` (wall clock) would count the wait for a core as importing. It is reported
beside, for information. Medians of ``--rounds`` runs.

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


#: counts each process's CPU time in imports and writes it to $BENCH_IMPORT_DIR/<pid> when the process ends
SITECUSTOMIZE = '''
import builtins, os, threading, time
_real_import = builtins.__import__
_state = threading.local()
_spent = [0.0]


def _import(*args, **kwargs):
    if getattr(_state, "depth", 0):
        return _real_import(*args, **kwargs)
    _state.depth = 1
    start = time.thread_time()
    try:
        return _real_import(*args, **kwargs)
    finally:
        _spent[0] += time.thread_time() - start
        _state.depth = 0


def _write():
    with open(os.path.join(os.environ["BENCH_IMPORT_DIR"], str(os.getpid())), "w") as out:
        out.write(repr(_spent[0]))


def _in_worker(_):  # a forked worker: its own count, written when multiprocessing ends it
    import multiprocessing.util
    _spent[0] = 0.0
    multiprocessing.util.Finalize(None, _write, exitpriority=100)


builtins.__import__ = _import
import atexit, multiprocessing.util
atexit.register(_write)
multiprocessing.util.register_after_fork(_spent, _in_worker)
'''


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


def fresh_demo(out: Path, tmp: Path) -> tuple[float, float, float, float]:
    """A demo into ``out``: (wall seconds, CPU seconds of every process, CPU seconds its threads spent
    importing, wall-clock import seconds as ``-X importtime`` reports them)."""
    hook, counts, log = tmp / "hook", tmp / "counts", tmp / "importtime.log"
    hook.mkdir()
    counts.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": str(hook), "BENCH_IMPORT_DIR": str(counts), "PYTHONPROFILEIMPORTTIME": "1"}
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
    processes = list(counts.iterdir())
    if len(processes) < 3:  # the engine, the worker server and at least one worker
        raise SystemExit(f"import counts from {len(processes)} process(es) only: the hook did not run everywhere")
    importing = sum(float(path.read_text()) for path in processes)
    wall_imports = sum(int(m[1]) for line in log.read_bytes().splitlines()
                       if (m := _IMPORT_LINE.match(line))) / 1e6
    return elapsed, cpu, importing, wall_imports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if not HARVESTER.exists():
        raise SystemExit(f"{HARVESTER} not found: run this with the project's environment (.venv/bin/python)")
    counted = become_subreaper()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        fresh_wall, fresh_cpu, fresh_imports, wall_imports = fresh_demo(out, Path(tmp))
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
          f"{fresh_imports:.2f} s of it importing = {share:.1%} (target < {IMPORT_SHARE:.0%}) "
          f"-> {'PASS' if share < IMPORT_SHARE else 'FAIL'}")
    print(f"  (-X importtime, wall clock: {wall_imports:.2f} s, {wall_imports / fresh_cpu:.1%} of the CPU time)")
    return 0 if above <= RERUN_ABOVE_FLOOR and share < IMPORT_SHARE else 1


if __name__ == "__main__":
    sys.exit(main())
