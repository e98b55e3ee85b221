"""The state database: schema versions and migration, what it records, the run lock."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from adapters.base import JobRef, JobState, JobStatus, RemoteFile
from catalogs.errors import CatalogFormatError
from harvester import state as state_module
from harvester.state import SCHEMA_VERSION, StateDB, StateLockedError, read_jobs


def test_a_new_database_is_at_the_current_schema_version(tmp_path: Path) -> None:
    with StateDB(tmp_path) as db:
        assert db.schema_version == SCHEMA_VERSION
    assert (tmp_path / ".harvest" / "state.sqlite").exists()


def test_older_databases_are_migrated_and_newer_ones_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with StateDB(tmp_path) as db:
        db.put_source("s", "p", "d1")
    # a release that adds a column: the existing data survives the migration
    monkeypatch.setattr(state_module, "MIGRATIONS", [*state_module.MIGRATIONS,
                                                     "ALTER TABLE sources ADD COLUMN note TEXT"])
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with StateDB(tmp_path) as db:
        assert db.schema_version == SCHEMA_VERSION + 1
        assert db.source("s").digest == "d1"
        assert db.db.execute("SELECT note FROM sources").fetchall() == [(None,)]
    monkeypatch.undo()
    with pytest.raises(CatalogFormatError, match="newer than this harvester"):
        StateDB(tmp_path)


def test_a_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".harvest").mkdir()
    (tmp_path / ".harvest" / "state.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogFormatError, match="state database unreadable"):
        StateDB(tmp_path)
    # the lock was released by the failed open
    with pytest.raises(CatalogFormatError):
        StateDB(tmp_path, wait=0)


def test_jobs_files_and_items_are_recorded(tmp_path: Path) -> None:
    expires = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with StateDB(tmp_path) as db:
        db.put_source("src", "hyp3", "abc")
        db.add_jobs("src", [JobRef("hyp3", "j1", "first", {"job_type": "RTC_GAMMA"}), JobRef("hyp3", "j2")])
        db.add_jobs("src", [JobRef("hyp3", "j1", "renamed")])  # known jobs are left as they are
        db.set_status("src", "j1", JobStatus(JobState.SUCCEEDED, expires=expires, meta={"files": [1]}))
        db.set_stage("src", "j1", "ready")
        db.put_files("src", "j1", [RemoteFile("https://u:pw@host/a.zip?X-Amz-Signature=s3cr3t&x=1", "a.zip", 10, "sha256:00")])
        db.file_done("src", "j1", "a.zip", tmp_path / "a.zip", 10, "ff")
        db.put_items("src", "j1", [("col", "item-1", "h1")])
        db.set_stage("src", "j1", "harvested")
        with pytest.raises(ValueError):
            db.set_stage("src", "j1", "bogus")

        job = db.job("src", "j1")
        assert (job.name, job.status, job.stage, job.polls) == ("first", "succeeded", "harvested", 1)
        assert job.ref == JobRef("hyp3", "j1", "first", {"job_type": "RTC_GAMMA"})
        assert job.job_status.expires == expires and job.job_status.meta == {"files": [1]}
        assert db.job_stages("src") == {"j1": "harvested", "j2": "waiting"}
        row = db.files("src", "j1")["a.zip"]
        assert (row.status, row.bytes_done, row.sha256) == ("done", 10, "ff")
        assert "s3cr3t" not in row.url and "pw" not in row.url
        assert db.items("src", "j1") == [("col", "item-1", "h1")]
    jobs = read_jobs(tmp_path)  # without the lock
    assert [j.job_id for j in jobs] == ["j1", "j2"]


def test_a_second_run_waits_then_gives_up_with_a_clear_message(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from harvester.state import StateDB\n"
        f"db = StateDB({str(tmp_path)!r}); print('locked', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        with pytest.raises(StateLockedError, match="another harvester run is working on this catalog"):
            StateDB(tmp_path, wait=0.5)
        assert 0.4 <= time.monotonic() - start < 5
    finally:
        holder.kill()
        holder.communicate()
    with StateDB(tmp_path, wait=2):  # the lock dies with its holder
        pass


def test_status_of_a_folder_without_state_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogFormatError, match="no harvest state"):
        read_jobs(tmp_path)


def test_the_database_is_plain_sqlite_for_other_tools(tmp_path: Path) -> None:
    with StateDB(tmp_path) as db:
        db.put_source("s", "p", "d")
    con = sqlite3.connect(tmp_path / ".harvest" / "state.sqlite")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert {"sources", "jobs", "files", "items"} <= tables
