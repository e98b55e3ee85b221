"""What crosses the executor seam when a task goes wrong: `run_task` makes every exception one that pickles,
and `WorkPool` survives worker processes that die (exit, segfault), retrying the innocent tasks they took
down with them and failing only the task that kills its worker. Real spawn process pools throughout."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from catalogs.errors import NotARasterError
from harvester.pool import WorkerLostError, WorkPool
from harvester.work import WorkerError, run_task
from tests.harvester.fakeprovider import misbehave

BROKEN = ("concurrent.futures.process.BrokenProcessPool: A process in the process pool was terminated abruptly "
          "while the future was running or pending.")


# -- tasks (module level: a worker process imports them by name)
def square(n: int, seconds: float = 0.0) -> int:
    time.sleep(seconds)
    return n * n


def die(how: str) -> None:
    misbehave(how, "task")  # "exit": os._exit(1); "segfault": reads address 0


def square_while_dying(n: int, folder: str) -> int:
    """An innocent task still running when `die_beside` kills its worker (or that was queued behind it)."""
    Path(folder, f"started-{n}").touch()
    _wait_for(Path(folder, "dying"))
    time.sleep(1.0)  # well beyond the crash beside it
    return n * n


def die_beside(how: str, folder: str, n: int) -> None:
    """Kill the worker, once innocent task ``n`` runs in another one."""
    _wait_for(Path(folder, f"started-{n}"))
    Path(folder, "dying").touch()
    die(how)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


class TwoArgError(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


def raise_unpicklable() -> None:
    raise TwoArgError("left", "right")


def raise_holding_a_lock() -> None:
    error = RuntimeError("holds a lock")
    error.lock = threading.Lock()  # type: ignore[attr-defined]
    raise error


def raise_memory_error() -> None:
    raise MemoryError


def raise_not_a_raster() -> None:
    raise NotARasterError("S1_VV.tif", "HTTP 404")


def raise_not_a_raster_holding_a_lambda() -> None:
    error = NotARasterError("S1_VV.tif", "HTTP 404")
    error.hook = lambda: None  # type: ignore[attr-defined]
    raise error


def spawn_pool(workers: int | None) -> cf.Executor:
    return cf.ProcessPoolExecutor(workers or 2, mp_context=multiprocessing.get_context("spawn"))


@pytest.fixture
def made() -> list[int | None]:
    """The worker counts a WorkPool asked its factory for, in order."""
    return []


def pool_of(made: list[int | None], limit: int = 4) -> WorkPool:
    def make(workers: int | None) -> cf.Executor:
        made.append(workers)
        return spawn_pool(workers)
    return WorkPool(make, limit=limit)


def outcomes(pool: WorkPool, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
    """Run ``calls`` through ``pool`` the way the pipeline does; each call's result, or its error."""
    futures = [pool.submit(fn, *args) for fn, args in calls]
    deadline = time.monotonic() + 120
    while not all(f.done() for f in futures):
        assert time.monotonic() < deadline, "the pool stopped making progress"
        cf.wait(pool.in_flight, timeout=5, return_when=cf.FIRST_COMPLETED)
        pool.settle()
    return [f.exception() or f.result()[0] for f in futures]


# -- run_task
@pytest.mark.parametrize(("raiser", "expected"), [
    (raise_unpicklable, "raise_unpicklable failed: tests.harvester.test_pool.TwoArgError: left/right"),
    (raise_holding_a_lock, "raise_holding_a_lock failed: RuntimeError: holds a lock"),
    (raise_memory_error, "raise_memory_error failed: MemoryError"),
    (raise_not_a_raster_holding_a_lambda,
     "raise_not_a_raster_holding_a_lambda failed: catalogs.errors.NotARasterError: "
     "S1_VV.tif: not a readable raster (HTTP 404)"),
])
def test_run_task_turns_what_does_not_pickle_into_a_worker_error(raiser: Callable[[], None], expected: str) -> None:
    with pytest.raises(WorkerError) as caught:
        run_task(raiser)
    error = caught.value
    assert str(error) == expected
    assert f"in {raiser.__name__}" in error.detail  # the traceback, as text
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.type_name, copy.detail) == (WorkerError, expected, error.type_name, error.detail)


def test_run_task_passes_a_harvest_error_that_pickles_as_it_is() -> None:
    with pytest.raises(NotARasterError) as caught:
        run_task(raise_not_a_raster)
    assert (caught.value.path, caught.value.reason) == ("S1_VV.tif", "HTTP 404")
    result, seconds = run_task(square, 7)
    assert result == 49 and seconds >= 0


def test_run_task_lets_ctrl_c_through() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run_task(interrupt)


# -- WorkPool
def test_exceptions_in_a_process_pool_fail_only_their_task(made: list[int | None]) -> None:
    pool = pool_of(made)
    try:
        got = outcomes(pool, [(square, (2,)), (raise_unpicklable, ()), (square, (3,)), (raise_holding_a_lock, ()),
                              (raise_memory_error, ()), (raise_not_a_raster, ()), (square, (4,))])
    finally:
        pool.close()
    assert [type(g) for g in got] == [int, WorkerError, int, WorkerError, WorkerError, NotARasterError, int]
    assert [g for g in got if isinstance(g, int)] == [4, 9, 16]
    assert [str(g) for g in got if isinstance(g, Exception)] == [
        "raise_unpicklable failed: tests.harvester.test_pool.TwoArgError: left/right",
        "raise_holding_a_lock failed: RuntimeError: holds a lock",
        "raise_memory_error failed: MemoryError",
        "S1_VV.tif: not a readable raster (HTTP 404)",
    ]
    assert (pool.replaced, made) == (0, [None])  # no worker died: one executor all along


@pytest.mark.parametrize("how", ["exit", "segfault"])
def test_a_worker_that_dies_costs_only_the_task_that_killed_it(made: list[int | None], how: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    folder = str(tmp_path)
    pool = pool_of(made, limit=4)
    try:
        got = outcomes(pool, [(square_while_dying, (0, folder)), (die_beside, (how, folder, 0)),
                              (square, (2,)), (square, (3,)), (square, (4,)), (square, (5,))])
    finally:
        pool.close()
    assert got[0] == 0 and got[2:] == [4, 9, 16, 25]
    assert isinstance(got[1], WorkerLostError)
    assert str(got[1]) == ("die_beside: the worker process running it died, and again when it was retried alone "
                           f"({BROKEN})")
    assert pool.replaced == 1
    # the killer and the innocent task running beside it (at least) ran again, alone
    assert pool.retried >= 2
    # the first executor, its one replacement, and one-worker executors for the retries
    assert made.count(None) == 2 and made.count(1) >= 1 and set(made) == {None, 1}


def test_two_killers_in_one_batch_are_each_found(made: list[int | None]) -> None:
    pool = pool_of(made, limit=4)
    try:
        got = outcomes(pool, [(square, (1, 0.2)), (die, ("exit",)), (square, (2, 0.2)), (die, ("exit",)),
                              (square, (3,)), (square, (4,))])
    finally:
        pool.close()
    assert [got[0], got[2], got[4], got[5]] == [1, 4, 9, 16]
    assert [type(got[1]), type(got[3])] == [WorkerLostError, WorkerLostError]


class CountingExecutor(cf.ThreadPoolExecutor):
    """A thread pool that records how many of its futures were unfinished at most."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.outstanding: set[cf.Future[Any]] = set()
        self.most = 0
        self._count_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._count_lock:
            self.outstanding.add(future)
            self.most = max(self.most, len(self.outstanding))
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: cf.Future[Any]) -> None:
        with self._count_lock:
            self.outstanding.discard(future)


def test_at_most_limit_tasks_are_handed_to_the_executor_at_a_time() -> None:
    executor = CountingExecutor(8)
    pool = WorkPool(None, executor=executor, limit=3)
    try:
        got = outcomes(pool, [(square, (n, 0.05)) for n in range(10)])
    finally:
        pool.close()
        executor.shutdown()
    assert got == [n * n for n in range(10)]
    assert executor.most == 3


def test_a_given_executor_cannot_be_replaced_so_its_lost_tasks_fail() -> None:
    executor = spawn_pool(1)
    pool = WorkPool(None, executor=executor, limit=2)
    try:
        got = outcomes(pool, [(die, ("exit",)), (square, (2,))])
    finally:
        executor.shutdown()
    assert [type(g) for g in got] == [WorkerLostError, WorkerLostError]
    assert str(got[1]) == f"square: the worker process running it died (the executor cannot be replaced) ({BROKEN})"
    assert pool.replaced == 0


def test_a_pool_needs_an_executor_or_a_factory() -> None:
    with pytest.raises(ValueError, match="needs an executor or a way to make one"):
        WorkPool(None)


def test_workers_import_the_harvester_even_from_a_folder_holding_catalogs_and_adapters_folders(
        tmp_path: Path) -> None:
    """A user harvesting from a folder with ``catalogs/arctic`` in it: the forkserver runs as ``python -c``,
    which would put that folder first on the workers' ``sys.path`` and make ``catalogs`` a namespace package
    of the user's folders (every task then failed on its first import)."""
    import subprocess
    import sys

    import catalogs

    user = tmp_path / "user"
    for folder in ("catalogs/arctic", "adapters", "harvester"):
        (user / folder).mkdir(parents=True)
    script = tmp_path / "engine.py"  # run as a file: a `-c` engine would itself import the user's folders
    script.write_text(
        "import concurrent.futures as cf\n"
        "from harvester.pool import worker_context\n"
        "if __name__ == '__main__':\n"
        "    with cf.ProcessPoolExecutor(1, mp_context=worker_context(['adapters.hyp3.translate'])) as pool:\n"
        "        print(pool.submit(eval, \"[__import__(m).__file__ for m in ('catalogs', 'adapters', 'harvester')]\")"
        ".result(timeout=120))\n")
    done = subprocess.run([sys.executable, str(script)], cwd=user, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    repo = Path(catalogs.__file__).resolve().parent.parent
    assert done.stdout.strip() == str([str(repo / m / "__init__.py") for m in ("catalogs", "adapters", "harvester")])
