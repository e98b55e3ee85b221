"""What the summary of a re-run says: the items it left unchanged (also those of jobs it did not look at
again), and the jobs that failed at the provider or expired in earlier runs, by name and with the reason
recorded then. Such jobs are done: a re-run does not poll or harvest them again (`DONE_STAGES`), and they
do not make its exit code 1 (they are not failures of this run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester import pipeline
from harvester.cli import main
from harvester.pipeline import Failure
from tests.harvester import fakeprovider
from tests.harvester.conftest import FakeServer, fake_config

DEM = "processing failed: the input scene has no overlap with the DEM"


def job_ids(server: FakeServer) -> dict[str, str]:
    return {job.name: job.id for job in server.service.jobs.values()}


def test_a_rerun_counts_the_items_of_jobs_done_before_as_unchanged(fake_server: FakeServer, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = fakeprovider.write_config(tmp_path / "harvest.toml", "cat", fake_server.url,
                                       ["alpha", "beta", "points:table"])
    assert main(["run", str(config)]) == 0
    assert "items: 3 written, 0 unchanged" in capsys.readouterr().out.splitlines()[2]

    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["jobs: 3 (0 harvested now, 3 done before)",
                       "downloads: 0 file(s), 0.0 MB; conversions: 0; items: 0 written, 3 unchanged"]


def test_the_count_is_of_the_jobs_done_before_only(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    first = pipeline.run(fake_config(root, fake_server.url, ["alpha", "beta"]))
    assert (first.items_written, first.items_kept) == (2, 0)
    # a third job joins the source: the two harvested before are kept, the new one is written
    second = pipeline.run(fake_config(root, fake_server.url, ["alpha", "beta", "gamma"]))
    assert (second.items_written, second.items_unchanged, second.items_kept, second.items_untouched) == (1, 0, 2, 2)
    assert (second.jobs_skipped, second.jobs_harvested) == (2, 1)


def test_a_rerun_names_jobs_failed_or_expired_earlier_and_leaves_them_alone(
        fake_server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = fakeprovider.write_config(tmp_path / "harvest.toml", "cat", fake_server.url,
                                       ["good", "broken:fail", "stale:expired"])
    assert main(["run", str(config)]) == 1
    capsys.readouterr()
    ids = job_ids(fake_server)
    polls = {job.name: job.polls for job in fake_server.service.jobs.values()}
    requests = len(fake_server.log)

    assert main(["run", str(config)]) == 0  # earlier failures are not failures of this run
    out = capsys.readouterr().out.splitlines()
    earlier = sorted([  # in the order of the state DB: by job id, for jobs recorded together
        (ids["broken"], f"the job failed at the provider: {DEM}"),
        (ids["stale"], "the job's results expired before they were downloaded")])
    assert out[1:] == ["jobs: 3 (0 harvested now, 3 done before)",
                       "downloads: 0 file(s), 0.0 MB; conversions: 0; items: 0 written, 1 unchanged",
                       *(f"earlier: source fake, job {job}: {reason}" for job, reason in earlier)]
    # done means done: neither job was polled again, nor anything else asked of the provider
    assert {job.name: job.polls for job in fake_server.service.jobs.values()} == polls
    assert len(fake_server.log) == requests


def test_the_summary_holds_earlier_failures_apart_from_this_runs(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    config = fake_config(root, fake_server.url, ["good", "broken:fail", "stale:expired"])
    first = pipeline.run(config)
    ids = job_ids(fake_server)
    assert (sorted(f.job for f in first.failures), first.earlier) == (sorted([ids["broken"], ids["stale"]]), [])

    again = pipeline.run(config)
    assert again.ok and again.failures == []
    assert sorted(again.earlier, key=lambda f: f.job or "") == sorted([
        Failure("fake", f"the job failed at the provider: {DEM}", job=ids["broken"]),
        Failure("fake", "the job's results expired before they were downloaded", job=ids["stale"]),
    ], key=lambda f: f.job or "")
    assert (again.jobs_skipped, again.items_kept) == (3, 1)
