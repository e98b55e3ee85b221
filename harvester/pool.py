"""The executor the pipeline's CPU-heavy tasks run in, kept going when a worker process dies.

A worker process that dies (killed, ``os._exit``, a segfault in GDAL) breaks a process pool: every task the
pool held fails with `BrokenProcessPool`, the one that killed the worker and the innocent ones alike, and
the pool takes no more work. `WorkPool` then

- makes a new executor for the work still to come (through the one factory it was given);
- runs each task the broken executor held once more, alone in a one-worker executor, one after another,
  so that a task that kills its worker again is known to be the one that does: that task fails with
  `WorkerLostError`, the others complete as if nothing had happened;
- keeps at most ``limit`` tasks in the executor at a time (the rest wait here), which bounds what one
  lost worker costs in retries.

The executor is any `concurrent.futures.Executor`; only `lost_worker` knows how one reports a dead worker.
An executor that retries a dead worker's tasks itself (Dask distributed) is given without a factory: its
verdict on a task it gave up on (`KilledWorker`, see `killed_workers`) becomes that task's `WorkerLostError`.
A task the executor could not send to a worker (an argument that does not pickle) fails with a
`TaskNotSentError` naming the function and the argument (`not_sent`).
Every task runs through `harvester.work.run_task`, so whatever it raises comes back as an error that
pickles, and its result comes with the seconds it took. `WorkPool` is driven from one thread (the
pipeline's main thread): `submit` returns a future that `settle` completes once the task is done for good.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import multiprocessing.context
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from catalogs.errors import HarvestError
from harvester.work import describe, run_task, task_name, type_name

log = logging.getLogger(__name__)

#: what a worker process needs loaded before its first task: the GDAL stack and the item builder
WORKER_PRELOAD = ("harvester.work", "catalogs.cog", "catalogs.items", "catalogs.thumbnails", "catalogs.footprint",
                  "numpy.ma")  # numpy.ma: what rasterio imports for the first masked read

#: makes an executor: ``None`` workers means the configured number
ExecutorFactory = Callable[[int | None], cf.Executor]


class WorkerLostError(HarvestError):
    """The worker process running a task died, also when the task was retried alone (or, on a Dask cluster,
    on each of the workers distributed retried it on: ``workers``)."""

    def __init__(self, task: str, reason: str, *, retried: bool = True, workers: int | None = None) -> None:
        self.task = task
        self.reason = reason
        self.retried = retried
        self.workers = workers
        if workers is not None:
            again = f", on each of the {workers} Dask workers that ran it"
        else:
            again = ", and again when it was retried alone" if retried else " (the executor cannot be replaced)"
        super().__init__(f"{task}: the worker process running it died{again} ({reason})")


class TaskNotSentError(HarvestError):
    """A task that could not be sent to a worker process: one of its arguments does not pickle."""

    def __init__(self, task: str, argument: str, reason: str) -> None:
        self.task = task
        self.argument = argument
        self.reason = reason
        super().__init__(f"{task}: cannot be sent to a worker process: {argument} does not pickle ({reason})")


def worker_context(preload: Iterable[str] = ()) -> multiprocessing.context.BaseContext:
    """How worker processes start: from a forkserver that imported `WORKER_PRELOAD` (and ``preload``: the
    adapters' modules) once, where there is one.

    Spawned workers each import rasterio, numpy, rio-cogeo and the rest again, which was most of a small
    harvest's CPU time; forked from the server they start with all of it loaded, and so does a replacement
    for a worker that died. The engine's own process never imports that stack. The server is a fresh
    interpreter, not a fork of the engine: it holds none of its threads, sockets or SQLite handles (which is
    why plain ``fork`` is not used). Where there is no forkserver (Windows), workers are spawned.

    Workers see the environment the server started with (the first process pool of this engine process):
    a variable set later reaches the engine, not its workers.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = _SafePathForkServerContext()
    # one server per engine process: the list only counts until it starts (a run knows its adapters then)
    # "__main__" too (multiprocessing's own default): else every worker runs the engine's main script again
    context.set_forkserver_preload(list(dict.fromkeys(["__main__", *WORKER_PRELOAD, *preload])))
    return context


class _SafePathForkServerProcess(multiprocessing.context.ForkServerProcess):
    """A forkserver worker whose server, if this start is what starts it, runs with ``PYTHONSAFEPATH`` set.

    The server runs as ``python -c ...``, which puts the current folder first on ``sys.path``; Python 3.11's
    forkserver ignores the engine's path. A user who harvests from a folder holding a ``catalogs/`` (say
    ``catalogs/arctic``, as the README suggests) or ``adapters/`` folder would then have the workers import
    that folder as a namespace package in place of the harvester's own, and every task would fail. The server
    starts with the first worker (not before: a run with nothing to convert never pays for it).
    """

    @staticmethod
    def _Popen(process_obj: Any) -> Any:  # noqa: N802 (multiprocessing's name)
        saved = os.environ.get("PYTHONSAFEPATH")
        os.environ["PYTHONSAFEPATH"] = "1"
        try:
            return multiprocessing.context.ForkServerProcess._Popen(process_obj)
        finally:
            if saved is None:
                os.environ.pop("PYTHONSAFEPATH", None)
            else:
                os.environ["PYTHONSAFEPATH"] = saved


class _SafePathForkServerContext(multiprocessing.context.ForkServerContext):
    Process = _SafePathForkServerProcess


def lost_worker(exc: BaseException) -> bool:
    """Whether a task failed because its worker died, not because of what it did (a process pool's way)."""
    return isinstance(exc, cf.BrokenExecutor)


def killed_workers(exc: BaseException) -> int | None:
    """How many workers died running a task that an executor retried itself before giving up: Dask
    distributed's `KilledWorker` (told by name: this module does not import distributed); else ``None``."""
    if type(exc).__name__ == "KilledWorker" and type(exc).__module__.startswith("distributed"):
        allowed = getattr(exc, "allowed_failures", None)
        return allowed + 1 if isinstance(allowed, int) else 0
    return None


def not_sent(fn: Callable[..., Any], args: tuple[Any, ...], exc: BaseException) -> BaseException:
    """The error of a task the executor failed without running it: a `TaskNotSentError` naming the argument
    that does not pickle, when one does not; else ``exc`` itself.

    Only called for errors that did not come from `run_task` (which turns whatever a task raises into a
    `HarvestError`): the executor's own, raised when it serialised the task (a process pool's feeder thread,
    Dask's client at submission).
    """
    if isinstance(exc, HarvestError):
        return exc
    for what, value in (("the function", fn), *((f"argument {i + 1}", a) for i, a in enumerate(args))):
        try:
            pickle.dumps(value)
        except Exception as problem:
            kind = type(value).__qualname__
            return TaskNotSentError(task_name(fn), f"{what} (a {kind})", describe(problem))
    return exc


@dataclass(eq=False)
class _Task:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: cf.Future[Any]  # the caller's: completed once the task is done for good
    alone: bool = False     # running alone after its executor broke: a second loss is its own
    executor: cf.Executor | None = None  # where it runs now


class WorkPool:
    """Runs tasks in executors made by ``make``, retrying the tasks a dead worker took down with it.

    ``executor`` is used instead of making the first one, and is not shut down here; without ``make``,
    a broken executor cannot be replaced and the tasks it held fail at once. ``limit`` (None: no limit, for
    an executor whose size is not this machine's) bounds the tasks in the executor at a time. ``wake`` is
    called, from any thread, whenever one of them finishes: the driver then calls `settle`.
    """

    def __init__(self, make: ExecutorFactory | None, *, executor: cf.Executor | None = None,
                 limit: int | None = 8, wake: Callable[[], None] | None = None) -> None:
        if make is None and executor is None:
            raise ValueError("a WorkPool needs an executor or a way to make one")
        self._make = make
        self._main = executor
        self._made: list[cf.Executor] = []  # the executors made here, to shut down
        self._solo: cf.Executor | None = None
        self._limit = float("inf") if limit is None else max(1, limit)
        self._wake = wake
        self._backlog: deque[_Task] = deque()
        self._suspects: deque[_Task] = deque()
        self._running: dict[cf.Future[Any], _Task] = {}
        self._in_main = 0
        #: executors replaced because a worker died, and tasks run again alone (for the log and tests)
        self.replaced = 0
        self.retried = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> cf.Future[Any]:
        """Queue ``fn(*args)``. The returned future is completed by `settle`, with ``(result, seconds)`` or
        the error (a `HarvestError`, a `WorkerLostError` when it killed its worker twice)."""
        task = _Task(fn, args, cf.Future())
        self._backlog.append(task)
        self._fill()
        return task.future

    @property
    def in_flight(self) -> list[cf.Future[Any]]:
        """The executors' futures: what to wait on (with `concurrent.futures.wait`) before calling `settle`."""
        return list(self._running)

    def settle(self) -> None:
        """Take in the tasks the executors finished: complete their futures, or retry those a worker lost."""
        for inner in [f for f in self._running if f.done()]:
            task = self._running.pop(inner)
            if not task.alone:
                self._in_main -= 1
            if inner.cancelled():
                task.future.set_exception(cf.CancelledError(f"{task_name(task.fn)} was cancelled"))
                continue
            exc = inner.exception()
            if exc is None:
                task.future.set_result(inner.result())
            elif (workers := killed_workers(exc)) is not None:  # the executor retried it elsewhere already
                log.error("%s: %s", task_name(task.fn), describe(exc))
                task.future.set_exception(WorkerLostError(task_name(task.fn), type_name(exc), workers=workers))
            elif not lost_worker(exc):
                task.future.set_exception(not_sent(task.fn, task.args, exc))
            else:
                self._lost(task, inner, exc)
        self._fill()

    def close(self) -> None:
        """Shut down the executors made here (waiting for what they run)."""
        for executor in self._made:
            executor.shutdown(wait=True)
        self._made.clear()
        self._main = self._solo = None

    # -- inside
    def _lost(self, task: _Task, inner: cf.Future[Any], exc: BaseException) -> None:
        if task.alone:  # nothing else ran beside it: it is what kills its worker
            self._retire(self._solo)
            self._solo = None
            log.error("%s killed its worker process again when retried alone: it fails", task_name(task.fn))
            task.future.set_exception(WorkerLostError(task_name(task.fn), describe(exc)))
            return
        if self._make is None:
            task.future.set_exception(WorkerLostError(task_name(task.fn), describe(exc), retried=False))
            return
        if self._main is not None and task.executor is self._main:
            self._replace_main()
        self._suspects.append(task)

    def _fill(self) -> None:
        """Start what may start: the next suspect alone, and queued tasks up to the limit."""
        while self._suspects and not any(t.alone for t in self._running.values()):
            task = self._suspects.popleft()
            task.alone = True
            self.retried += 1
            if self._solo is None:
                self._solo = self._new(1)
            self._launch(task, self._solo)
        if not self._suspects and self._solo is not None and not any(t.alone for t in self._running.values()):
            self._retire(self._solo)  # its one idle process is not needed until a worker dies again
            self._solo = None
        while self._backlog and self._in_main < self._limit:
            task = self._backlog.popleft()
            if self._main is None:
                self._main = self._new(None)
            self._launch(task, self._main)

    def _launch(self, task: _Task, executor: cf.Executor) -> None:
        try:
            inner = executor.submit(run_task, task.fn, *task.args)
        except Exception as exc:
            # the pool broke before its failed futures reached us: this task never ran, it goes to a new one
            if task.alone or not lost_worker(exc) or self._make is None or executor is not self._main:
                task.future.set_exception(not_sent(task.fn, task.args, exc))
                return
            self._replace_main()
            assert self._main is not None
            executor = self._main
            try:
                inner = executor.submit(run_task, task.fn, *task.args)
            except Exception as again:
                task.future.set_exception(again)
                return
        task.executor = executor
        self._running[inner] = task
        if self._wake is not None:  # from whichever thread completes it: time to `settle`
            inner.add_done_callback(lambda _: self._wake())  # type: ignore[misc]
        if not task.alone:
            self._in_main += 1

    def _replace_main(self) -> None:
        old = self._main
        self._main = self._new(None)
        self.replaced += 1
        log.warning("a worker process died: its executor is replaced, and the tasks it held are retried, "
                    "each alone")
        if old is not None:
            self._retire(old)

    def _new(self, workers: int | None) -> cf.Executor:
        assert self._make is not None
        executor = self._make(workers)
        self._made.append(executor)
        return executor

    def _retire(self, executor: cf.Executor | None) -> None:
        if executor is not None and executor in self._made:
            self._made.remove(executor)
            executor.shutdown(wait=True)
