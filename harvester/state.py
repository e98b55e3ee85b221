"""The harvest state: an SQLite database beside the catalog, in ``<catalog>/.harvest/state.sqlite``.

It records what each run did — sources and their submissions, jobs (provider id, status, times, expiry,
error, how far the harvest of each got), remote files (redacted url, expected size and checksum, local
path, bytes done, status) and items (id, collection, content hash) — so that a re-run skips finished work
and a killed run is completed by the next one.

Only the process holding the run lock (`<catalog>/.harvest/run.lock`) may open it: a second run on the
same catalog waits a little, then fails with `StateLockedError`. All writes come from the pipeline's main
thread; each is its own small transaction (WAL journal), so a kill loses at most the step in progress.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adapters.base import JobRef, JobState, JobStatus, RemoteFile
from catalogs.errors import CatalogFormatError, HarvestError, OutputNotWritableError
from catalogs.fsio import lock_file, unlock_file
from catalogs.stac import STATE_DIR
from adapters.redact import redact_text, redact_url

STATE_FILE = "state.sqlite"
LOCK_FILE = "run.lock"

#: How far the harvest of a job got. ``waiting``: not finished at the provider; ``ready``: finished,
#: outputs not all harvested; ``harvested``: every item is in the catalog; ``failed``/``expired``: the
#: provider failed the job or dropped its outputs (nothing to do); ``error``: our side failed (a download,
#: a bad product); the next run tries again.
STAGES = ("waiting", "ready", "harvested", "failed", "expired", "error")
DONE_STAGES = frozenset({"harvested", "failed", "expired"})

# Each entry migrates the schema from version i to i + 1; never edit a released entry, append one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE sources(
        name TEXT PRIMARY KEY, provider TEXT NOT NULL, digest TEXT,
        submit_state TEXT NOT NULL DEFAULT 'none', submit_digest TEXT,
        created TEXT NOT NULL, updated TEXT NOT NULL);
    CREATE TABLE jobs(
        source TEXT NOT NULL, job_id TEXT NOT NULL, provider TEXT NOT NULL, name TEXT,
        ref_meta TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'pending',
        stage TEXT NOT NULL DEFAULT 'waiting', message TEXT, status_meta TEXT NOT NULL DEFAULT '{}',
        submitted TEXT, finished TEXT, expires TEXT, error TEXT, polls INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL, updated TEXT NOT NULL,
        PRIMARY KEY(source, job_id));
    CREATE INDEX jobs_stage ON jobs(source, stage);
    CREATE TABLE files(
        source TEXT NOT NULL, job_id TEXT NOT NULL, name TEXT NOT NULL, url TEXT NOT NULL,
        size INTEGER, checksum TEXT, local_path TEXT, bytes_done INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT, status TEXT NOT NULL DEFAULT 'pending', error TEXT, updated TEXT NOT NULL,
        PRIMARY KEY(source, job_id, name));
    CREATE TABLE items(
        collection TEXT NOT NULL, id TEXT NOT NULL, source TEXT NOT NULL, job_id TEXT NOT NULL,
        content_hash TEXT NOT NULL, updated TEXT NOT NULL,
        PRIMARY KEY(collection, id));
    CREATE INDEX items_job ON items(source, job_id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class StateLockedError(HarvestError):
    """Another run holds the catalog."""


@dataclass(frozen=True)
class JobRow:
    source: str
    job_id: str
    provider: str
    name: str | None
    ref_meta: dict[str, Any]
    status: str
    stage: str
    message: str | None
    status_meta: dict[str, Any]
    submitted: str | None
    finished: str | None
    expires: str | None
    error: str | None
    polls: int
    updated: str

    @property
    def ref(self) -> JobRef:
        return JobRef(self.provider, self.job_id, self.name, self.ref_meta)

    @property
    def job_status(self) -> JobStatus:
        return JobStatus(JobState(self.status), self.message, _dt(self.submitted), _dt(self.finished),
                         _dt(self.expires), None, self.status_meta)


@dataclass(frozen=True)
class FileRow:
    name: str
    url: str
    size: int | None
    checksum: str | None
    local_path: str | None
    bytes_done: int
    sha256: str | None
    status: str
    error: str | None


@dataclass(frozen=True)
class SourceRow:
    name: str
    provider: str
    digest: str | None
    submit_state: str
    submit_digest: str | None
    updated: str | None = None


class StateDB:
    """The state database of one catalog, opened under the run lock. Use as a context manager."""

    def __init__(self, catalog_root: Path, *, wait: float = 5.0) -> None:
        self.root = Path(catalog_root)
        folder = self.root / STATE_DIR
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputNotWritableError(folder, exc.strerror or str(exc)) from exc
        self._lock = lock_file(folder / LOCK_FILE, wait)
        if self._lock is None:
            raise StateLockedError(f"{self.root}: another harvester run is working on this catalog; "
                                   "wait for it to finish (or stop it) and run again")
        self.path = folder / STATE_FILE
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._release()
            raise CatalogFormatError(f"{self.path}: state database unreadable ({exc})") from exc
        except BaseException:
            self._release()
            raise

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._lock is None:
            return
        try:
            self.db.close()
        finally:
            self._release()

    def _release(self) -> None:
        unlock_file(self._lock)
        self._lock = None

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CatalogFormatError(
                f"{self.path}: state schema version {version} is newer than this harvester's "
                f"({SCHEMA_VERSION}); upgrade stac-harvester"
            )
        for number in range(version, SCHEMA_VERSION):
            # executescript commits first; the version bump is inside the same script, so a kill
            # between the two is not possible
            self.db.executescript(f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- sources
    def source(self, name: str) -> SourceRow | None:
        row = self.db.execute(
            "SELECT name, provider, digest, submit_state, submit_digest, updated FROM sources WHERE name=?", (name,)
        ).fetchone()
        return SourceRow(*row) if row else None

    def put_source(self, name: str, provider: str, digest: str) -> None:
        now = _now()
        self.db.execute(
            "INSERT INTO sources(name, provider, digest, created, updated) VALUES (?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET provider=excluded.provider, digest=excluded.digest, "
            "updated=excluded.updated WHERE digest IS NOT excluded.digest OR provider IS NOT excluded.provider",
            (name, provider, digest, now, now),
        )

    def set_submit_state(self, name: str, state: str, digest: str | None) -> None:
        """``started`` before the jobs are sent, ``done`` once their ids are recorded; ``searched`` once a
        search source's search went through to its end."""
        self.db.execute("UPDATE sources SET submit_state=?, submit_digest=?, updated=? WHERE name=?",
                        (state, digest, _now(), name))

    # -- jobs
    def add_jobs(self, source: str, refs: list[JobRef]) -> None:
        """Record jobs (already known ones are left as they are), in one transaction."""
        now = _now()
        with self._transaction():
            self.db.executemany(
                "INSERT INTO jobs(source, job_id, provider, name, ref_meta, created, updated) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT(source, job_id) DO NOTHING",
                [(source, r.id, r.provider, r.name, _json(r.meta), now, now) for r in refs],
            )

    def job(self, source: str, job_id: str) -> JobRow | None:
        row = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE source=? AND job_id=?",
                              (source, job_id)).fetchone()
        return _job_row(row) if row else None

    def jobs(self, source: str | None = None, *, stages: Iterable[str] | None = None) -> list[JobRow]:
        """The jobs of ``source`` (of every source when None), only those in ``stages`` when given."""
        where, params = [], []
        if source is not None:
            where.append("source=?")
            params.append(source)
        if stages is not None:
            wanted = list(stages)
            where.append(f"stage IN ({','.join('?' * len(wanted))})")
            params += wanted
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs {clause}ORDER BY source, created, job_id", params)
        return [_job_row(row) for row in rows]

    def job_stages(self, source: str) -> dict[str, str]:
        """job id -> stage, for every job of ``source`` (the cheap check a re-run starts with)."""
        return dict(self.db.execute("SELECT job_id, stage FROM jobs WHERE source=?", (source,)).fetchall())

    def set_status(self, source: str, job_id: str, status: JobStatus) -> None:
        self.db.execute(
            "UPDATE jobs SET status=?, message=?, status_meta=?, submitted=COALESCE(?, submitted), "
            "finished=COALESCE(?, finished), expires=COALESCE(?, expires), polls=polls+1, updated=? "
            "WHERE source=? AND job_id=?",
            (status.state.value, None if status.message is None else redact_text(status.message),
             _json(status.meta), _iso(status.submitted),
             _iso(status.finished), _iso(status.expires), _now(), source, job_id),
        )

    def set_stage(self, source: str, job_id: str, stage: str, error: str | None = None) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        self.db.execute("UPDATE jobs SET stage=?, error=?, updated=? WHERE source=? AND job_id=?",
                        (stage, None if error is None else redact_text(error), _now(), source, job_id))

    # -- files
    def files(self, source: str, job_id: str) -> dict[str, FileRow]:
        rows = self.db.execute(
            "SELECT name, url, size, checksum, local_path, bytes_done, sha256, status, error FROM files "
            "WHERE source=? AND job_id=?", (source, job_id))
        return {row[0]: FileRow(*row) for row in rows}

    def put_files(self, source: str, job_id: str, remotes: list[RemoteFile]) -> None:
        """Record the outputs of a job; the URL is stored redacted (no signatures, no user info)."""
        now = _now()
        with self._transaction():
            self.db.executemany(
                "INSERT INTO files(source, job_id, name, url, size, checksum, updated) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT(source, job_id, name) DO UPDATE SET url=excluded.url, size=excluded.size, "
                "checksum=excluded.checksum",
                [(source, job_id, r.name, redact_url(r.url), r.size, r.checksum, now) for r in remotes],
            )

    def file_done(self, source: str, job_id: str, name: str, path: Path | None, size: int, sha256: str | None,
                  status: str = "done") -> None:
        self.db.execute(
            "UPDATE files SET local_path=?, bytes_done=?, sha256=?, status=?, error=NULL, updated=? "
            "WHERE source=? AND job_id=? AND name=?",
            (str(path) if path else None, size, sha256, status, _now(), source, job_id, name),
        )

    def file_failed(self, source: str, job_id: str, name: str, error: str) -> None:
        self.db.execute(
            "UPDATE files SET status='failed', error=?, bytes_done=0, updated=? WHERE source=? AND job_id=? AND name=?",
            (redact_text(error), _now(), source, job_id, name),
        )

    # -- items
    def put_items(self, source: str, job_id: str, items: list[tuple[str, str, str]]) -> None:
        """Record ``(collection, id, content_hash)`` of the items a job produced."""
        now = _now()
        with self._transaction():
            self.db.executemany(
                "INSERT INTO items(collection, id, source, job_id, content_hash, updated) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(collection, id) DO UPDATE SET source=excluded.source, job_id=excluded.job_id, "
                "content_hash=excluded.content_hash, updated=excluded.updated",
                [(c, i, source, job_id, h, now) for c, i, h in items],
            )

    def items(self, source: str, job_id: str) -> list[tuple[str, str, str]]:
        return self.db.execute("SELECT collection, id, content_hash FROM items WHERE source=? AND job_id=? "
                               "ORDER BY collection, id", (source, job_id)).fetchall()

    def item_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM items").fetchone()[0])

    def item_counts(self, source: str) -> dict[str, int]:
        """job id -> number of items recorded for it, for every job of ``source`` that has items."""
        return dict(self.db.execute("SELECT job_id, count(*) FROM items WHERE source=? GROUP BY job_id",
                                    (source,)).fetchall())

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


_JOB_COLUMNS = ("source, job_id, provider, name, ref_meta, status, stage, message, status_meta, submitted, "
                "finished, expires, error, polls, updated")


def _job_row(row: tuple[Any, ...]) -> JobRow:
    values = list(row)
    values[4] = json.loads(values[4])
    values[8] = json.loads(values[8])
    return JobRow(*values)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def read_jobs(catalog_root: Path) -> list[JobRow]:
    """Every recorded job, read without the run lock (a run may be going on), for `harvester status`."""
    path = Path(catalog_root) / STATE_DIR / STATE_FILE
    if not path.exists():
        raise CatalogFormatError(f"{catalog_root}: no harvest state here (is it a catalog the harvester wrote?)")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY source, created, job_id").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise CatalogFormatError(f"{path}: state database unreadable ({exc})") from exc
    return [_job_row(row) for row in rows]
