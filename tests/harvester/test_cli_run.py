"""`harvester run`, `submit`, `fetch` and `status` against the fake provider (in-process CLI calls, since
the fake provider is registered in this process only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import main
from tests.harvester import fakeprovider
from tests.harvester.conftest import FakeServer


def write_config(tmp_path: Path, url: str, jobs: list[str]) -> Path:
    return fakeprovider.write_config(tmp_path / "harvest.toml", "cat", url, jobs)


def test_run_then_status(fake_server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, fake_server.url, ["cli-a", "cli-b"])
    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"catalog: {tmp_path / 'cat' / 'catalog.json'}" in out
    assert "jobs: 2 (2 harvested now, 0 done before)" in out
    assert "items: 2 written, 0 unchanged" in out

    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out
    assert "jobs: 2 (0 harvested now, 2 done before)" in out
    assert "downloads: 0 file(s)" in out and "conversions: 0" in out

    assert main(["status", str(tmp_path / "cat")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["SOURCE", "JOB", "NAME", "STATUS", "STAGE"]
    assert sorted(line.split()[2:5] for line in lines[1:]) == [["cli-a", "succeeded", "harvested"],
                                                               ["cli-b", "succeeded", "harvested"]]


def test_run_reports_failures_with_exit_1(fake_server: FakeServer, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, fake_server.url, ["ok", "nope:fail"])
    assert main(["run", str(config)]) == 1
    out = capsys.readouterr().out
    job_id = next(j.id for j in fake_server.service.jobs.values() if j.name == "nope")
    assert "1 failure(s):" in out
    assert f"source fake, job {job_id}: the job failed at the provider" in out


def test_fetch_and_submit_from_flags(fake_server: FakeServer, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    fake_server.service.add_job("flag-one")
    fake_server.service.add_job("flag-two")
    fake_server.service.add_job("other")
    catalog = tmp_path / "flags"
    common = ["--catalog", str(catalog), "--url", fake_server.url, "--executor", "inline", "--poll-interval", "0.02"]
    assert main(["fetch", "fakeprov", *common, "--prefix", "flag-"]) == 0
    assert "jobs: 2 (2 harvested now" in capsys.readouterr().out
    assert fake_server.service.submissions == 0

    assert main(["submit", "fakeprov", *common, "--name", "mine", "--jobs", "sub-x,sub-y:table"]) == 0
    assert "jobs: 2 (2 harvested now" in capsys.readouterr().out
    assert fake_server.service.submissions == 1
    ids = sorted(p.name for p in catalog.glob("*/*") if p.is_dir() and p.parent.name != ".harvest")
    assert ids == ["FLAG_ONE", "FLAG_TWO", "SUB_X", "SUB_Y"]


def test_provider_flags_are_listed_and_checked(fake_server: FakeServer, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fetch", "fakeprov", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--prefix" in out and "--url" in out and "$FAKEPROV_URL" in out
    assert main(["fetch", "nosuch", "--catalog", str(tmp_path)]) == 2
    assert "unknown provider 'nosuch'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["fetch", "fakeprov", "--catalog", str(tmp_path), "--workers", "many"])
    assert info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_a_run_on_a_locked_catalog_exits_2(fake_server: FakeServer, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from harvester.state import StateDB

    config = write_config(tmp_path, fake_server.url, ["x"])
    text = config.read_text().replace("[run]\n", "[run]\nlock_wait = 0.1\n")
    config.write_text(text)
    with StateDB(tmp_path / "cat"):
        assert main(["run", str(config)]) == 2
    assert "another harvester run is working on this catalog" in capsys.readouterr().err
