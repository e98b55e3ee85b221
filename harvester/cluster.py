"""Dask distributed as the executor of the CPU stage: translations and item builds on a cluster's workers.

``[run] executor = "dask"`` with ``scheduler = "tcp://host:8786"`` (a cluster that is already running) or
``scheduler = "local"`` (a `distributed.LocalCluster` of worker processes, one thread each, started for the
run and closed after it). Tasks go through `Client.get_executor`, so the pipeline sees an ordinary
`concurrent.futures.Executor` and commits every item itself, as with the process pool: a task only returns
what it built.

A lost worker is distributed's business, not ours: the scheduler notices that a worker died (killed, out of
memory, a segfault in GDAL), runs the tasks it held again on other workers, and fails a task with
`KilledWorker` once ``distributed.scheduler.allowed-failures`` + 1 workers died while holding it (every task a
dying worker held counts one failure: the pipeline keeps about one task per worker thread in the cluster, so
that innocent tasks rarely share a worker with one that kills it). `harvester.pool` turns `KilledWorker` into
that task's `WorkerLostError`; the run goes on.

Every worker imports the GDAL stack and the adapters' modules once, when it joins (a worker plugin), as the
process pool's forkserver does. Workers on other machines must have the same stac-harvester installed, and
see the run's work folder (downloads and work files) at the same path as the coordinator.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from harvester.config import ConfigError

log = logging.getLogger(__name__)

PLUGIN_NAME = "stac-harvester-preload"


class Preload(WorkerPlugin):
    """Imports ``modules`` on every worker as it joins, so that its first task does not pay for them."""

    def __init__(self, modules: Iterable[str]) -> None:
        self.modules = tuple(modules)

    def setup(self, worker: Any) -> None:
        for module in self.modules:
            importlib.import_module(module)


class DaskExecutor(cf.Executor):
    """Runs tasks on a Dask cluster; `shutdown` closes the client (and the local cluster it started).

    ``slots`` is the cluster's worker threads when it was joined: how many tasks to keep in it at a time.
    """

    def __init__(self, client: Client, cluster: LocalCluster | None = None) -> None:
        self.client = client
        self.cluster = cluster
        self._inner = client.get_executor(pure=False)  # every call is a new task, even with equal arguments
        self.slots = max(1, sum(client.nthreads().values()))

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's URL (``None`` when the scheduler serves none)."""
        try:
            return self.client.dashboard_link
        except (KeyError, AttributeError):  # the scheduler has no dashboard service
            return None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        return self._inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait and not cancel_futures)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def start(scheduler: str, *, workers: int, preload: Iterable[str]) -> DaskExecutor:
    """Join the cluster at ``scheduler`` (or start a local one of ``workers`` processes) and preload its workers.

    Raises `ConfigError` naming ``run.scheduler`` when the scheduler cannot be reached or its workers cannot
    load the harvester.
    """
    cluster = None
    try:
        if scheduler == "local":
            # loopback only, the dashboard on a free port (8787 may be another run's)
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0")
            client = Client(cluster)
        else:
            client = Client(scheduler)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise ConfigError(f"run.scheduler: cannot reach the Dask scheduler at {scheduler} ({exc})") from exc
    try:
        client.register_plugin(Preload(preload), name=PLUGIN_NAME)
    except Exception as exc:  # a worker without the harvester (or another version of it) installed
        client.close()
        if cluster is not None:
            cluster.close()
        raise ConfigError(f"run.scheduler: the Dask workers at {scheduler} cannot load the harvester's modules "
                          f"({type(exc).__name__}: {exc}); install the same stac-harvester on every worker") from exc
    executor = DaskExecutor(client, cluster)
    log.debug("Dask cluster at %s: %d worker thread(s); dashboard: %s", client.scheduler.address, executor.slots,
             executor.dashboard_link or "none")
    return executor
