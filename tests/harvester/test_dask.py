"""The CPU stage on Dask distributed: real `LocalCluster`s of worker processes (not threads).

The demo's HyP3 harvest on a cluster the run starts gives the same catalog as the process pool; on a
cluster that is already running (the module's, joined by its address), a worker killed mid-task costs a
retry, a task that kills every worker it runs on fails alone after distributed's retries, and a task whose
arguments do not pickle fails with a message naming the adapter (as it does with the process pool).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
from distributed import LocalCluster

from adapters.hyp3.jobs import API_EXAMPLES
from harvester import pipeline
from harvester.cli import main
from harvester.config import ConfigError, RunOptions, parse_config
from harvester.demo import DemoResult, run_demo
from harvester.work import WorkerError, run_task
from tests.golden import LOOPBACK
from tests.harvester import fakeprovider
from tests.harvester.test_pool import raise_holding_a_lock
from tests.harvester.conftest import FakeServer, fake_config, item_ids, job_ids

#: distributed's retries of a task whose worker died: one retry, then KilledWorker (its default is 3)
ALLOWED_FAILURES = 1


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two worker processes of one thread, as a cluster that runs before and after a harvest."""
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address="127.0.0.1:0") as local:
            yield local


def catalog_files(root: Path) -> dict[str, str]:
    """Every file of a catalog but its catalogs and collections (and .harvest/): the SHA-256 of its bytes (with
    the simulators' loopback ports, which differ between two demos, fixed)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(LOOPBACK.sub(b"PORT", p.read_bytes())).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".harvest" not in p.parts
            and p.name not in ("catalog.json", "collection.json")}


def parents(root: Path) -> dict[str, str]:
    """The catalog and collection files of a catalog, with the SHA-256 of their bytes."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.json")) if p.name in ("catalog.json", "collection.json")}


def links(path: Path) -> list[tuple[str, str]]:
    return sorted((link["rel"], link["href"]) for link in json.loads(path.read_text())["links"])


def on_cluster(server: FakeServer, root: Path, jobs: list[str], cluster: LocalCluster) -> pipeline.Summary:
    return pipeline.run(fake_config(root, server.url, jobs, executor="dask", scheduler=cluster.scheduler_address))


def test_the_demo_on_a_local_cluster_gives_the_process_pools_catalog(demo_result: DemoResult,
                                                                      tmp_path: Path) -> None:
    options = {"poll_interval": 0.2, "poll_max_interval": 1.0, "timeout": 600.0, "workers": 2}
    # the session's demo (the process pool) is in a folder named demo too: the root catalog's id is its folder's
    pool = demo_result
    dask_run = run_demo(tmp_path / "dask" / "demo", run=RunOptions(executor="dask", scheduler="local", **options))

    assert pool.summary.ok and dask_run.summary.ok, (pool.summary.failures, dask_run.summary.failures)
    assert dask_run.report.ok, dask_run.report.format()
    assert dask_run.items == pool.items
    assert sum(n for cid, n in pool.items.items() if cid.startswith("hyp3-")) == len(API_EXAMPLES)
    assert dask_run.summary.conversions == pool.summary.conversions > 0
    # the same item files and assets, byte for byte: item JSON, COGs (so their checksums), thumbnails
    files = catalog_files(pool.root)
    assert len(files) > 50
    assert catalog_files(dask_run.root) == files
    assert set(parents(dask_run.root)) == set(parents(pool.root))
    # collections link the same items (in the order the items completed, which neither executor fixes; the
    # thumbnail a collection shows is its first item's)
    for name in parents(pool.root):
        assert links(dask_run.root / name) == links(pool.root / name)


def test_a_worker_killed_mid_task_costs_only_a_retry(fake_server: FakeServer, tmp_path: Path,
                                                     cluster: LocalCluster) -> None:
    root = tmp_path / "cat"
    killed: list[int] = []

    def kill_the_stalled_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = list((root / ".harvest" / "work" / "fake").glob("*.pid"))
            if found:
                pid = int(found[0].read_text())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_stalled_worker)
    killer.start()
    summary = on_cluster(fake_server, root, ["good-a", "stall:stall", "good-b"], cluster)
    killer.join()

    assert summary.ok, summary.failures
    assert item_ids(root) == {"GOOD_A", "STALL", "GOOD_B"}
    assert summary.jobs_harvested == 3
    workdir = root / ".harvest" / "work" / "fake" / job_ids(fake_server)["stall"]
    attempts = [int(line) for line in fakeprovider.stall_files(workdir)[1].read_text().split()]
    assert len(killed) == 1 and len(attempts) == 2
    assert attempts[0] == killed[0] and attempts[1] != killed[0]  # retried in another worker process


def test_a_task_that_kills_every_worker_it_runs_on_fails_alone(fake_server: FakeServer, tmp_path: Path,
                                                               cluster: LocalCluster) -> None:
    root = tmp_path / "cat"
    summary = on_cluster(fake_server, root, ["good-a", "crash:exit", "good-b", "good-c"], cluster)

    crash = job_ids(fake_server)["crash"]
    expected = (f"FakeAdapter.translate: the worker process running it died, on each of the {ALLOWED_FAILURES + 1} "
                "Dask workers that ran it (distributed.scheduler.KilledWorker)")
    assert [(f.job, f.item, f.error) for f in summary.failures] == [(crash, None, expected)]
    assert item_ids(root) == {"GOOD_A", "GOOD_B", "GOOD_C"}
    assert summary.jobs_harvested == 3


@pytest.mark.parametrize("executor", ["dask", "process"])
def test_a_task_whose_arguments_do_not_pickle_fails_naming_the_adapter(fake_server: FakeServer, tmp_path: Path,
                                                                       cluster: LocalCluster, executor: str) -> None:
    root = tmp_path / "cat"
    run = {"executor": "dask", "scheduler": cluster.scheduler_address} if executor == "dask" else \
        {"executor": "process", "workers": 2}
    summary = pipeline.run(fake_config(root, fake_server.url, ["good-a", "odd:unsendable", "good-b"], **run))

    odd = job_ids(fake_server)["odd"]
    expected = ("FakeAdapter.translate: cannot be sent to a worker process: argument 2 (a JobStatus) does not "
                "pickle (TypeError: cannot pickle '_thread.lock' object)")
    assert [(f.job, f.error) for f in summary.failures] == [(odd, expected)]
    assert item_ids(root) == {"GOOD_A", "GOOD_B"}


def test_the_cli_runs_on_a_cluster_and_prints_its_dashboard(fake_server: FakeServer, tmp_path: Path,
                                                            cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    config = fakeprovider.write_config(tmp_path / "harvest.toml", "cat", fake_server.url, ["alpha", "beta"])
    assert main(["run", str(config), "--executor", "dask", "--scheduler", cluster.scheduler_address]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Dask dashboard: {cluster.dashboard_link}"
    assert cluster.dashboard_link.startswith("http://127.0.0.1:")
    assert "jobs: 2 (2 harvested now, 0 done before)" in out
    assert item_ids(tmp_path / "cat") == {"ALPHA", "BETA"}


def test_an_unreachable_scheduler_is_a_configuration_error(fake_server: FakeServer, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    config = fakeprovider.write_config(tmp_path / "harvest.toml", "cat", fake_server.url, ["alpha"])
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # nothing listens on port 9
        code = main(["run", str(config), "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run.scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:9 (")


@pytest.mark.parametrize(("run", "expected"), [
    ({"executor": "dask", "scheduler": "127.0.0.1:8786"},
     "cfg: run.scheduler must be \"local\" or a scheduler address such as tcp://host:8786, not '127.0.0.1:8786'"),
    ({"executor": "dask", "scheduler": "tcp://host"},
     "cfg: run.scheduler must be \"local\" or a scheduler address such as tcp://host:8786, not 'tcp://host'"),
    ({"executor": "process", "scheduler": "local"},
     "cfg: run.scheduler is for the Dask executor: set run.executor to \"dask\" too, not 'process'"),
])
def test_scheduler_settings_are_checked(tmp_path: Path, run: dict[str, str], expected: str) -> None:
    raw = {"catalog": {"path": str(tmp_path / "cat")}, "run": run,
           "sources": [{"provider": "hyp3", "name": "x", "job_ids": ["a"]}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, base_dir=tmp_path, env={}, origin="cfg")
    assert str(caught.value) == expected


def test_without_distributed_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    raw = {"catalog": {"path": str(tmp_path / "cat")}, "run": {"executor": "dask"},
           "sources": [{"provider": "hyp3", "name": "x", "job_ids": ["a"]}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, base_dir=tmp_path, env={}, origin="cfg")
    assert str(caught.value) == ("cfg: run.executor = \"dask\" needs Dask distributed, an optional extra: "
                                 "pip install 'stac-harvester[dask]'")


def test_the_work_folder_may_be_elsewhere_than_the_catalog(fake_server: FakeServer, tmp_path: Path) -> None:
    """``[run] work_dir``: downloads and work files in a folder a cluster's workers share, not the catalog's."""
    root, shared = tmp_path / "cat", tmp_path / "shared"
    summary = pipeline.run(fake_config(root, fake_server.url, ["alpha"], work_dir=str(shared), keep_downloads=True))

    assert summary.ok, summary.failures
    alpha = job_ids(fake_server)["alpha"]
    assert sorted(p.name for p in (shared / "downloads" / "fake" / alpha).iterdir()) == [
        "ALPHA.README.txt", "ALPHA_VV.tif", "ALPHA_mask.tif"]
    assert not (root / ".harvest" / "downloads").exists() and not (root / ".harvest" / "work").exists()
    assert item_ids(root) == {"ALPHA"}
    assert (root / "fake-backscatter" / "ALPHA" / "ALPHA_VV.tif").is_file()  # moved from the work folder


def test_an_exception_that_does_not_unpickle_fails_only_its_job_on_a_cluster(fake_server: FakeServer,
                                                                              tmp_path: Path,
                                                                              cluster: LocalCluster) -> None:
    """The same failure, with the same message, as in the process pool (test_worker_failures)."""
    root = tmp_path / "cat"
    summary = on_cluster(fake_server, root, ["good-a", "odd:unpicklable", "good-b"], cluster)

    odd = job_ids(fake_server)["odd"]
    expected = (f"FakeAdapter.translate failed: tests.harvester.fakeprovider.StubbornError: job {odd}: "
                "the translator tripped over a product it did not expect")
    assert [(f.job, f.error) for f in summary.failures] == [(odd, expected)]
    assert item_ids(root) == {"GOOD_A", "GOOD_B"}


def test_a_worker_error_pickles_where_distributed_makes_exceptions_pickle_their_context() -> None:
    """distributed installs tblib's pickling for every exception class (a worker pickles an error's cause,
    context and traceback too): what `run_task` raises must not carry the original, which may not pickle."""
    import tblib.pickling_support

    tblib.pickling_support.install(WorkerError)  # as importing distributed does for every class defined then
    with pytest.raises(WorkerError) as caught:
        run_task(raise_holding_a_lock)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == "raise_holding_a_lock failed: RuntimeError: holds a lock"
    assert (copy.__cause__, copy.__context__) == (None, None)
