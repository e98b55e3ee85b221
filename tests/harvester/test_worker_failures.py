"""A failure in a worker is the failure of one job or item, never of the run: harvests in a real process
pool (the pipeline's own, its workers forked from the worker server) where one job's translation raises an exception that cannot be unpickled, calls
``os._exit(1)`` or segfaults, or one item's build fails with an error that is not a HarvestError; every
good job of the batch lands, the bad one is recorded and reported, and a re-run retries it and nothing else.

The misbehaviour is chosen by the job's kind (the fake service tells it in the job record), because
translation runs in the worker process, out of reach of the test's monkeypatching."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester import pipeline
from harvester.cli import main
from harvester.state import StateDB
from tests.harvester import fakeprovider
from tests.harvester.conftest import FakeServer, fake_config, item_ids, job_ids

BROKEN = ("concurrent.futures.process.BrokenProcessPool: A process in the process pool was terminated abruptly "
          "while the future was running or pending.")
GOOD = ["good-a", "good-b", "good-c", "good-d"]


def executors_made(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """Record the worker count of every executor the pipeline makes (None: the configured count)."""
    made: list[int | None] = []
    real = pipeline._make_executor

    def make(config: object, *, workers: int | None = None) -> object:
        made.append(workers)
        return real(config, workers=workers)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "_make_executor", make)
    return made


def harvest(server: FakeServer, root: Path, jobs: list[str]) -> pipeline.Summary:
    return pipeline.run(fake_config(root, server.url, jobs, executor="process", workers=2))


def test_an_exception_that_cannot_be_unpickled_fails_only_its_job(fake_server: FakeServer, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    made = executors_made(monkeypatch)
    root = tmp_path / "cat"
    summary = harvest(fake_server, root, ["good-a", "good-b", "odd:unpicklable", "good-c"])

    odd = job_ids(fake_server)["odd"]
    expected = (f"FakeAdapter.translate failed: tests.harvester.fakeprovider.StubbornError: job {odd}: "
                "the translator tripped over a product it did not expect")
    assert [(f.job, f.item, f.error) for f in summary.failures] == [(odd, None, expected)]
    assert item_ids(root) == {"GOOD_A", "GOOD_B", "GOOD_C"}
    assert (summary.jobs_harvested, summary.conversions) == (3, 6)
    assert made == [None]  # the pool never broke
    with StateDB(root) as state:
        assert {j.name: (j.stage, j.error) for j in state.jobs("fake")} == {
            "good-a": ("harvested", None), "good-b": ("harvested", None), "good-c": ("harvested", None),
            "odd": ("error", expected)}


@pytest.mark.parametrize("how", ["exit", "segfault"])
def test_a_worker_process_that_dies_fails_only_its_job_and_a_rerun_retries_only_it(
        fake_server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    made = executors_made(monkeypatch)
    root = tmp_path / "cat"
    jobs = ["good-a", "good-b", f"crash:{how}", "good-c", "good-d"]
    summary = harvest(fake_server, root, jobs)

    ids = job_ids(fake_server)
    expected = ("FakeAdapter.translate: the worker process running it died, and again when it was retried alone "
                f"({BROKEN})")
    assert [(f.job, f.error) for f in summary.failures] == [(ids["crash"], expected)]
    assert item_ids(root) == {"GOOD_A", "GOOD_B", "GOOD_C", "GOOD_D"}
    assert summary.jobs_harvested == 4
    assert made.count(None) == 2 and made.count(1) >= 1 and set(made) == {None, 1}  # replaced once; retries alone
    with StateDB(root) as state:
        assert {j.name: j.stage for j in state.jobs("fake")} == {
            "good-a": "harvested", "good-b": "harvested", "good-c": "harvested", "good-d": "harvested",
            "crash": "error"}

    polls = {job.name: job.polls for job in fake_server.service.jobs.values()}
    gets = dict(fake_server.service.file_gets)
    again = harvest(fake_server, root, jobs)
    assert [(f.job, f.error) for f in again.failures] == [(ids["crash"], expected)]
    assert (again.jobs_skipped, again.jobs_harvested, again.downloads, again.items_kept) == (4, 0, 0, 4)
    # only the failed job was asked about again; its files were on disk already
    assert {job.name: job.polls - polls[job.name] for job in fake_server.service.jobs.values()} == {
        "good-a": 0, "good-b": 0, "good-c": 0, "good-d": 0, "crash": 1}
    assert fake_server.service.file_gets == gets


def test_an_item_whose_build_raises_a_non_harvest_error_fails_alone(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    summary = harvest(fake_server, root, ["good-a", "undated:nodate", "good-b"])

    undated = job_ids(fake_server)["undated"]
    expected = ("build_item failed: pystac.errors.STACError: Invalid Item: If datetime is None, a start_datetime "
                "and end_datetime must be supplied.")
    assert [(f.job, f.item, f.error) for f in summary.failures] == [(undated, "UNDATED", expected)]
    assert item_ids(root) == {"GOOD_A", "GOOD_B"}
    with StateDB(root) as state:
        stages = {j.name: (j.stage, j.error) for j in state.jobs("fake")}
    assert stages["undated"] == ("error", f"item UNDATED: {expected}")
    assert stages["good-a"] == stages["good-b"] == ("harvested", None)


def test_the_cli_names_each_worker_failure_and_exits_1(fake_server: FakeServer, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    jobs = ["good-a", "odd:unpicklable", "crash:segfault", "good-b", "undated:nodate", "good-c"]
    config = fakeprovider.write_config(tmp_path / "harvest.toml", "cat", fake_server.url, jobs,
                                       executor="process", workers=2)
    assert main(["run", str(config)]) == 1

    ids = job_ids(fake_server)
    out = capsys.readouterr().out.splitlines()
    assert "jobs: 6 (3 harvested now, 0 done before)" in out
    failures = out[out.index("3 failure(s):") + 1:]
    assert sorted(failures) == sorted([
        f"  - source fake, job {ids['odd']}: FakeAdapter.translate failed: tests.harvester.fakeprovider."
        f"StubbornError: job {ids['odd']}: the translator tripped over a product it did not expect",
        f"  - source fake, job {ids['crash']}: FakeAdapter.translate: the worker process running it died, and "
        f"again when it was retried alone ({BROKEN})",
        f"  - source fake, job {ids['undated']}, item UNDATED: build_item failed: pystac.errors.STACError: Invalid "
        "Item: If datetime is None, a start_datetime and end_datetime must be supplied.",
    ])
    assert item_ids(tmp_path / "cat") == {"GOOD_A", "GOOD_B", "GOOD_C"}
