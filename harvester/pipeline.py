"""The harvest pipeline: sources -> jobs -> downloads -> item drafts -> COGs and items -> the catalog.

For each source of a `Config`::

    submit() or find()        jobs recorded in the state DB (a recorded submission is never re-sent)
    poll(job)                 until every job is terminal or the timeout; interval backs off
    outputs(job)              as soon as a job succeeds: its files, downloaded concurrently (threads)
    translate(...)            item drafts, in the executor
    build_item(draft)         COGs + item, in the executor
    store.add(item)           in this (main) thread, the only one that writes the catalog and the DB

A job found expired (when polled, or when its files answer 404/410 to the downloads) is handed back to
its adapter once per run (`Adapter.renew`): a provider that can run it again (an NGU query) does, and the
job is polled again; otherwise it is reported as expired.

Every step records its result in the state DB, so a re-run does only what is left: harvested jobs are
not polled, completed files are not downloaded again, unchanged items are not rewritten. A failure is
recorded against its job (and file or item), reported in the `Summary`, and the rest goes on. That holds
for whatever a worker does: any exception it raises is the failure of its job or item, and a worker
process that dies costs only the task that killed it (`harvester.pool.WorkPool` retries the others).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from adapters.base import Adapter, JobRef, JobState, JobStatus, RemoteFile, SourceInfo
from adapters.errors import ExpiredError, NotFoundError
from adapters.http import make_client, transport_error
from adapters.redact import redact_text
from catalogs.drafts import ItemDraft
from catalogs.errors import HarvestError
from harvester.config import Config, SourceConfig
from harvester.downloads import Downloader, DownloadRequest, DownloadResult
from harvester.progress import NullProgress, Progress
from harvester.pool import WorkPool, worker_context
from harvester.state import DONE_STAGES, STATE_DIR, FileRow, StateDB
from harvester.work import BuiltItem, WorkerError, build_item, describe

if TYPE_CHECKING:
    import pystac

    from catalogs.store import CatalogStore
    from harvester.publish import PublishResult

log = logging.getLogger(__name__)

#: present while a run is working; found at start, it means the last run was killed (so sweep temp files)
ACTIVE_MARKER = "run.active"


@dataclass(frozen=True)
class Failure:
    """One thing that did not get harvested, and why."""

    source: str
    error: str
    job: str | None = None
    file: str | None = None
    item: str | None = None

    def __str__(self) -> str:
        where = [f"source {self.source}"]
        where += [f"{k} {v}" for k, v in (("job", self.job), ("file", self.file), ("item", self.item)) if v]
        return f"{', '.join(where)}: {self.error}"


@dataclass
class Summary:
    """What a run did. ``failures`` make the exit code 1."""

    jobs: int = 0                 # jobs of the configured sources
    jobs_skipped: int = 0         # already harvested (or failed/expired earlier): not touched
    jobs_harvested: int = 0       # harvested in this run
    jobs_waiting: int = 0         # still running at the provider when the run gave up waiting
    downloads: int = 0            # files transferred (not counting ones already on disk)
    bytes_downloaded: int = 0
    conversions: int = 0          # rasters re-encoded as COGs
    items_written: int = 0        # new or changed item files
    items_unchanged: int = 0      # items added again by this run, found identical (not rewritten)
    items_kept: int = 0           # items of the jobs harvested by earlier runs (not looked at again)
    failures: list[Failure] = field(default_factory=list)
    #: jobs that failed at the provider or expired in earlier runs, with the reason recorded then: not
    #: retried (there is nothing to retry), not failures of this run
    earlier: list[Failure] = field(default_factory=list)
    #: items harvested with a caveat their translation reported (`ItemDraft.warnings`): not failures
    warnings: list[Failure] = field(default_factory=list)
    #: seconds spent per stage: "download" (summed over the download threads), "translate", "convert"
    #: (COG conversion) and "build" (item building), summed over the workers; "write" (catalog and index,
    #: in the main thread); "total" (the run's wall time)
    timings: dict[str, float] = field(default_factory=dict)
    #: what ``[publish]`` did at the end of the run (None: not configured, or it failed)
    published: PublishResult | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_time(self, stage: str, seconds: float) -> None:
        with self._lock:  # download threads add theirs concurrently
            self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def items_untouched(self) -> int:
        """Items already in the catalog that this run left as they were."""
        return self.items_unchanged + self.items_kept

    def fail(self, failure: Failure) -> None:
        # errors may quote what others wrote (GDAL naming a signed /vsicurl/ URL): shown and kept redacted
        failure = dataclasses.replace(failure, error=redact_text(failure.error))
        log.error("%s", failure)
        self.failures.append(failure)


@dataclass
class _Job:
    """A job being harvested in this run."""

    source: SourceConfig
    adapter: Adapter
    ref: JobRef
    status: JobStatus | None = None
    outputs: list[RemoteFile] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    downloads_left: int = 0
    drafts_left: int = 0
    items: list[tuple[str, str]] = field(default_factory=list)  # (collection, item id) added
    errors: list[str] = field(default_factory=list)
    #: downloads that found their file gone (404/410): reported only if the job cannot be renewed
    gone: list[Failure] = field(default_factory=list)
    renewed: bool = False  # the adapter was asked to start it again (at most once per run)
    polled: JobStatus | None = None  # what its last poll said (for the progress bar)


def run(config: Config, *, client: httpx.Client | None = None, executor: cf.Executor | None = None,
        progress: Progress | None = None) -> Summary:
    """Harvest every source of ``config`` into its catalog. Returns what was done and what failed.

    ``client`` and ``executor`` are made from the config when not given (tests pass their own).
    Raises `StateLockedError` when another run holds the catalog; everything else that goes wrong with
    one source, job, file or item is recorded and reported in the summary.
    """
    root = Path(config.catalog.path)
    with StateDB(root, wait=config.run.lock_wait) as state:
        with ExitStack() as stack:
            harvest = _Harvest(config, state, stack, client=client, executor=executor,
                               progress=progress or NullProgress())
            summary = harvest.run()
        if config.publish is not None:  # still under the run lock: no other run changes the catalog meanwhile
            _publish(config, summary)
        return summary


def _publish(config: Config, summary: Summary) -> None:
    """Publish the catalog as ``[publish]`` says; a failure is the run's (the catalog itself is fine)."""
    from harvester.publish import publish

    assert config.publish is not None
    try:
        summary.published = publish(Path(config.catalog.path), config.publish.url,
                                    base_url=config.publish.base_url, lock=False)
    except HarvestError as exc:
        summary.fail(Failure("publish", f"publishing to {config.publish.url} failed: {exc}"))


class _Harvest:
    def __init__(self, config: Config, state: StateDB, stack: ExitStack, *, client: httpx.Client | None,
                 executor: cf.Executor | None, progress: Progress) -> None:
        self.config = config
        self.root = Path(config.catalog.path)
        self.state = state
        self.stack = stack
        self.progress = progress
        self.summary = Summary()
        self.client = client if client is not None else stack.enter_context(make_client())
        self._executor = executor
        self._work: WorkPool | None = None
        self._store: CatalogStore | None = None
        self._collections: set[str] = set()
        self._downloader: Downloader | None = None
        self._download_pool: cf.ThreadPoolExecutor | None = None
        self.futures: dict[cf.Future[Any], tuple[str, _Job, Any]] = {}
        #: jobs whose provider started them again (`Adapter.renew`): back to polling
        self._rewait: list[_Job] = []
        #: futures as they complete (each puts itself here), and None when the work pool has news: so that
        #: waiting costs the same however many futures are out (cf.wait over all of them grew with each)
        self._ready: queue.SimpleQueue[cf.Future[Any] | None] = queue.SimpleQueue()

    # -- resources made on first use, so that a run with nothing to do opens nothing
    @property
    def store(self) -> CatalogStore:
        if self._store is None:
            from catalogs.store import CatalogStore  # with pystac: only for a run that writes

            cat = self.config.catalog
            self._store = self.stack.enter_context(
                CatalogStore(self.root, title=cat.title, description=cat.description))
        return self._store

    @property
    def work(self) -> WorkPool:
        """Where translations and item builds run (a process pool unless configured otherwise)."""
        if self._work is None:
            wake = partial(self._ready.put, None)  # None: "the pool has something to settle"
            executor = self._executor  # the caller's (a cluster's, maybe): not sized by this machine
            if executor is None and self.config.run.executor == "dask":  # it retries what a lost worker held
                executor = self._make_executor(None)
                self.stack.callback(executor.shutdown)
            if executor is not None:  # given, not replaced when a worker dies
                self._work = WorkPool(None, executor=executor, limit=_slots(executor), wake=wake)
            else:
                self._work = WorkPool(self._make_executor, limit=2 * self.config.run.worker_count, wake=wake)
            self.stack.callback(self._work.close)
        return self._work

    def _make_executor(self, workers: int | None) -> cf.Executor:
        return _make_executor(self.config, workers=workers)  # looked up at each call: tests wrap it

    def _download(self, request: DownloadRequest) -> cf.Future[DownloadResult]:
        """Start fetching ``request`` in the download threads."""
        if self._downloader is None or self._download_pool is None:
            # the pool below bounds the transfers (Downloader's own concurrency is for fetch_all)
            self._downloader = Downloader(self.client, on_progress=self._on_download_progress)
            self._download_pool = self.stack.enter_context(
                cf.ThreadPoolExecutor(self.config.run.downloads, thread_name_prefix="download"))
        return self._download_pool.submit(self._fetch, request)

    def _fetch(self, request: DownloadRequest) -> DownloadResult:
        """Download one file (in a download thread), accounting for the time it took."""
        assert self._downloader is not None
        start = time.perf_counter()
        try:
            return self._downloader.fetch(request)
        finally:
            self.summary.add_time("download", time.perf_counter() - start)

    # -- the run
    def run(self) -> Summary:
        started = time.perf_counter()
        marker = self.root / STATE_DIR / ACTIVE_MARKER
        if marker.exists():
            log.info("the previous run on %s did not finish: cleaning up after it", self.root)
            sweep_temp_files(self.root)
            self.store  # noqa: B018 -- opening it now makes close() write what the killed run left unwritten
        marker.touch()
        for source in self.config.sources:
            try:
                self._source(source)
            except HarvestError as exc:
                self.summary.fail(Failure(source.name, str(exc)))
            except httpx.TransportError as exc:  # an adapter call that did not wrap its transport errors
                self.summary.fail(Failure(source.name, str(transport_error(exc, source.provider))))
        if self._store is not None:
            start = time.perf_counter()
            self._store.close()
            self.summary.add_time("write", time.perf_counter() - start)
            self.summary.items_written = self._store.written
            self.summary.items_unchanged = self._store.unchanged
        marker.unlink(missing_ok=True)
        self.summary.add_time("total", time.perf_counter() - started)
        return self.summary

    def _source(self, source: SourceConfig) -> None:
        info = SourceInfo(source.name, source.assets, source.action)
        adapter = source.adapter(source.settings, self.client, info)
        try:
            self._harvest_source(source, adapter)
        finally:
            try:
                adapter.close()  # after every download of the source: its credentials are not needed any more
            except (HarvestError, httpx.TransportError) as exc:
                log.warning("source %s: closing the adapter failed: %s", source.name, exc)

    def _harvest_source(self, source: SourceConfig, adapter: Adapter) -> None:
        self.state.put_source(source.name, source.provider, source.digest)
        if adapter.kind == "search":
            self._search(source, adapter)
            return
        refs = self._jobs(source, adapter)
        stages = self.state.job_stages(source.name)
        self.summary.jobs += len(refs)
        todo = [ref for ref in refs if stages.get(ref.id) not in DONE_STAGES]
        self.summary.jobs_skipped += len(refs) - len(todo)
        if len(todo) < len(refs):
            self._done_before(source.name, {ref.id for ref in refs} - {ref.id for ref in todo})
        if not todo:
            log.info("source %s: nothing new (%d job(s) already done)", source.name, len(refs))
            return
        log.info("source %s: %d job(s) to harvest, %d already done", source.name, len(todo), len(refs) - len(todo))
        self._harvest_jobs(source, adapter, todo)

    def _done_before(self, source: str, job_ids: set[str]) -> None:
        """Account for jobs earlier runs finished: their items, and the ones that failed or expired."""
        counts = self.state.item_counts(source)
        self.summary.items_kept += sum(n for job_id, n in counts.items() if job_id in job_ids)
        for row in self.state.jobs(source, stages=("failed", "expired")):
            if row.job_id in job_ids:
                reason = _failed_text(row.error) if row.stage == "failed" else _expired_text(row.error)
                self.summary.earlier.append(Failure(source, reason, job=row.job_id))

    def _jobs(self, source: SourceConfig, adapter: Adapter) -> list[JobRef]:
        """The source's jobs: the recorded submission, a new one, or what the provider lists."""
        if not adapter.submits():
            adapter.check()
            refs = adapter.find()
            self.state.add_jobs(source.name, refs)
            return refs
        row = self.state.source(source.name)
        if row is not None and row.submit_state == "done" and row.submit_digest == source.digest:
            return [job.ref for job in self.state.jobs(source.name)]
        adapter.check()
        if row is not None and row.submit_state == "started" and row.submit_digest == source.digest:
            # killed between sending the jobs and recording them: find them rather than submit twice
            try:
                refs = adapter.find()
            except NotImplementedError:
                refs = []
            if refs:
                log.warning("source %s: recovered %d job(s) of an interrupted submission", source.name, len(refs))
                self.state.add_jobs(source.name, refs)
                self.state.set_submit_state(source.name, "done", source.digest)
                return refs
        self.state.set_submit_state(source.name, "started", source.digest)
        refs = adapter.submit()
        self.state.add_jobs(source.name, refs)
        self.state.set_submit_state(source.name, "done", source.digest)
        log.info("source %s: submitted %d job(s)", source.name, len(refs))
        return refs

    # -- jobs: polling, and everything that follows, interleaved
    def _harvest_jobs(self, source: SourceConfig, adapter: Adapter, refs: list[JobRef]) -> None:
        opts = self.config.run
        waiting = {ref.id: _Job(source, adapter, ref) for ref in refs}
        deadline = time.monotonic() + opts.timeout
        interval = opts.poll_interval
        next_poll = 0.0
        self.progress.start("poll", len(waiting), f"{source.name}: waiting for jobs")
        while waiting or self.futures or self._rewait:
            if self._rewait:
                waiting.update((job.ref.id, job) for job in self._rewait)
                self._rewait.clear()
                next_poll = 0.0
            if waiting and time.monotonic() >= next_poll:
                for job_id in list(waiting):
                    job = waiting[job_id]
                    left = self._poll(job)
                    self.progress.job("poll", job_id, *(_shown(job.polled) if not left else (None, None)))
                    if left:
                        del waiting[job_id]
                        self.progress.advance("poll")
                        if job.status is not None:
                            self._start(job)
                if waiting and time.monotonic() >= deadline:
                    for job in waiting.values():
                        self.summary.jobs_waiting += 1
                        self.summary.fail(Failure(source.name, "still not finished when the run's timeout "
                                                  f"({opts.timeout:g} s) ran out; run again later", job=job.ref.id))
                    waiting.clear()
                next_poll = time.monotonic() + interval
                interval = min(interval * 1.5, opts.poll_max_interval)
            timeout = max(0.0, next_poll - time.monotonic()) if waiting else None
            self._drain(timeout)
        self.progress.stop("poll")

    def _poll(self, job: _Job) -> bool:
        """Poll one job; True when it leaves the polling. ``job.status`` is set when it is ready to harvest."""
        name = job.source.name
        try:
            status = job.adapter.poll(job.ref)
        except ExpiredError as exc:
            status = JobStatus(JobState.EXPIRED, str(exc))
        except httpx.TransportError as exc:
            return self._poll_failed(job, transport_error(exc, f"job {job.ref.id}"))
        except HarvestError as exc:
            return self._poll_failed(job, exc)
        self.state.set_status(name, job.ref.id, status)
        job.polled = status
        if not status.state.terminal:
            return False
        if status.state is JobState.FAILED:
            self.state.set_stage(name, job.ref.id, "failed", status.message)
            self.summary.fail(Failure(name, _failed_text(status.message), job=job.ref.id))
        elif status.state is JobState.EXPIRED or (status.expires is not None
                                                   and status.expires <= datetime.now(timezone.utc)):
            if self._renew(job, status):
                return False
            self._expired(job, status.message)
        else:
            job.status = status
        return True

    def _poll_failed(self, job: _Job, exc: HarvestError) -> bool:
        self.state.set_stage(job.source.name, job.ref.id, "error", str(exc))
        self.summary.fail(Failure(job.source.name, f"polling failed: {exc}", job=job.ref.id))
        return True

    def _renew(self, job: _Job, status: JobStatus | None) -> bool:
        """Ask the adapter to start an expired job again (once per job and run); True when it did."""
        if job.renewed:
            return False
        job.renewed = True
        try:
            renewed = job.adapter.renew(job.ref, status)
        except (HarvestError, httpx.TransportError) as exc:
            log.warning("source %s: job %s expired and could not be started again: %s", job.source.name,
                        job.ref.id, redact_text(str(exc)))
            return False
        if renewed:
            self.state.set_stage(job.source.name, job.ref.id, "waiting")
            log.info("source %s: job %s expired; started again at the provider", job.source.name, job.ref.id)
        return renewed

    def _again(self, job: _Job) -> None:
        """Poll a renewed job again, from the start (files already downloaded are kept)."""
        job.status, job.outputs, job.files, job.errors, job.gone = None, [], {}, [], []
        self._rewait.append(job)

    def _expired(self, job: _Job, message: str | None) -> None:
        self.state.set_stage(job.source.name, job.ref.id, "expired", message)
        self.summary.fail(Failure(job.source.name, _expired_text(message), job=job.ref.id))

    def _start(self, job: _Job) -> None:
        """A job ready to harvest: list its outputs and start their downloads."""
        assert job.status is not None
        name, job_id = job.source.name, job.ref.id
        self.state.set_stage(name, job_id, "ready")
        try:
            job.outputs = job.adapter.outputs(job.ref, job.status)
        except ExpiredError as exc:
            self._expired(job, str(exc))
            return
        except (HarvestError, httpx.TransportError) as exc:
            if isinstance(exc, httpx.TransportError):
                exc = transport_error(exc, f"job {job_id}")
            self._job_error(job, f"listing its outputs failed: {exc}")
            return
        self.state.put_files(name, job_id, job.outputs)
        known = self.state.files(name, job_id)
        dest = self._download_dir(job)
        pending = []
        for remote in job.outputs:
            if not remote.fetch:
                continue
            row = known.get(remote.name)
            if row is not None and row.status == "done" and row.local_path and _complete(Path(row.local_path), row):
                job.files[remote.name] = Path(row.local_path)
                continue
            pending.append(remote)
        job.downloads_left = len(pending)
        for remote in pending:
            request = DownloadRequest(remote, dest, job.adapter.auth if remote.auth else None)
            self._track(self._download(request), "download", job, remote)
        if not pending:
            self._translate(job)

    # -- completions
    def _track(self, future: cf.Future[Any], kind: str, job: _Job, what: Any) -> None:
        """Handle ``future`` with ``_<kind>_done`` once it completes (in this thread, in `_drain`)."""
        self.futures[future] = (kind, job, what)
        future.add_done_callback(self._ready.put)

    def _drain(self, timeout: float | None) -> None:
        """Handle whatever finished within ``timeout`` seconds (all of it, when nothing is being polled)."""
        if not self.futures:
            if timeout:
                time.sleep(timeout)
            return
        try:
            ready: cf.Future[Any] | None = self._ready.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if ready is None:
                if self._work is not None:
                    self._work.settle()  # completes the futures it handed out: they queue themselves
            elif (entry := self.futures.pop(ready, None)) is not None:
                kind, job, what = entry
                getattr(self, f"_{kind}_done")(job, what, ready)
            try:
                ready = self._ready.get_nowait()
            except queue.Empty:
                return

    def _download_done(self, job: _Job, remote: RemoteFile, future: cf.Future[DownloadResult]) -> None:
        name, job_id = job.source.name, job.ref.id
        try:
            result = future.result()
            error: str | None = None if result.error is None else describe(result.error)
        except Exception as exc:  # a download thread's bug is the failure of its file
            log.debug("downloading %s raised", remote.name, exc_info=exc)
            result, error = None, describe(exc)
        if error is not None or result is None:
            self.state.file_failed(name, job_id, remote.name, str(error))
            job.errors.append(f"{remote.name}: {error}")
            failure = Failure(name, str(error), job=job_id, file=remote.name)
            if result is not None and isinstance(result.error, (NotFoundError, ExpiredError)) and not job.renewed:
                job.gone.append(failure)  # the results may have expired: the job may be renewed
            else:
                self.summary.fail(failure)
        elif result.path is None:  # an optional file that is not there
            self.state.file_done(name, job_id, remote.name, None, 0, None, status="missing")
        else:
            self.state.file_done(name, job_id, remote.name, result.path, result.size, result.sha256)
            job.files[remote.name] = result.path
            if not result.skipped:
                self.summary.downloads += 1
                self.summary.bytes_downloaded += result.bytes_transferred
        job.downloads_left -= 1
        if job.downloads_left == 0:
            if job.gone and len(job.gone) == len(job.errors) and self._renew(job, job.status):
                self._again(job)
                return
            for failure in job.gone:
                self.summary.fail(failure)
            if job.errors:
                self._job_error(job, "; ".join(job.errors), report=False)
            else:
                self._translate(job)

    def _translate(self, job: _Job) -> None:
        assert job.status is not None
        future = self.work.submit(type(job.adapter).translate, job.ref, job.status, job.outputs,
                                  dict(job.files), self._work_dir(job), job.source.assets, job.source.settings)
        self._track(future, "translate", job, None)

    def _translate_done(self, job: _Job, _: None, future: cf.Future[tuple[list[ItemDraft], float]]) -> None:
        try:
            drafts, seconds = future.result()
            self.summary.add_time("translate", seconds)
        except Exception as exc:  # whatever the worker raised, or a lost worker: this job's failure
            _log_detail(exc, f"translating job {job.ref.id}")
            self._job_error(job, describe(exc))
            return
        if not drafts:
            self._job_done(job)
            return
        for draft in drafts:
            for warning in draft.warnings:
                self.summary.warnings.append(Failure(job.source.name, redact_text(warning), job=job.ref.id,
                                                     item=draft.id))
        job.drafts_left = len(drafts)
        self.progress.start("items", len(drafts), "building items")
        for draft in drafts:
            future2 = self.work.submit(build_item, draft, self._work_dir(job) / "items" / draft.id)
            self._track(future2, "item", job, draft.id)

    def _item_done(self, job: _Job, item_id: str, future: cf.Future[tuple[BuiltItem, float]]) -> None:
        name = job.source.name
        try:
            built, _ = future.result()
        except Exception as exc:  # whatever the worker raised, or a lost worker: this item's failure
            _log_detail(exc, f"building item {item_id}")
            self._item_failed(job, item_id, describe(exc))
        else:
            self._add_item(job, item_id, built)
        job.drafts_left -= 1
        if job.drafts_left == 0:
            self._record_items(name, job.ref.id, job.items)
            if job.errors:
                self._job_error(job, "; ".join(job.errors), report=False)
            else:
                self._job_done(job)

    def _add_item(self, job: _Job, item_id: str, built: BuiltItem) -> None:
        """Put a built item in the catalog (in this thread, the only one that writes it)."""
        from pystac import Item

        try:
            self.summary.add_time("convert", built.seconds_convert)
            self.summary.add_time("build", built.seconds_build)
            start = time.perf_counter()
            item = Item.from_dict(built.item, preserve_dict=False)
            self._ensure_collection(job.adapter, built.collection)
            self.store.add(item, assets="move")
            self.summary.add_time("write", time.perf_counter() - start)
            self.summary.conversions += built.conversions
            job.items.append((built.collection, item.id))
            self.progress.advance("items")
        except Exception as exc:  # the worker's item refused by pystac or the writer: this item's failure
            self._item_failed(job, item_id, describe(exc))

    def _item_failed(self, job: _Job, item_id: str, error: str) -> None:
        job.errors.append(f"item {item_id}: {error}")
        self.summary.fail(Failure(job.source.name, error, job=job.ref.id, item=item_id))

    def _record_items(self, source: str, job_id: str, items: list[tuple[str, str]]) -> None:
        """Make the items durable in the catalog index, then record them (with their digests) in the state."""
        if not items:
            return
        start = time.perf_counter()
        self.store.commit()  # before the job can count as harvested
        self.summary.add_time("write", time.perf_counter() - start)
        self.state.put_items(source, job_id, [(cid, item_id, self.store.digest(cid, item_id) or "")
                                              for cid, item_id in items])

    def _job_done(self, job: _Job) -> None:
        name, job_id = job.source.name, job.ref.id
        self.state.set_stage(name, job_id, "harvested")
        self.summary.jobs_harvested += 1
        log.info("source %s: job %s harvested (%d item(s))", name, job_id, len(job.items))
        if not self.config.run.keep_downloads:
            shutil.rmtree(self._download_dir(job), ignore_errors=True)
        shutil.rmtree(self._work_dir(job), ignore_errors=True)

    def _job_error(self, job: _Job, error: str, *, report: bool = True) -> None:
        self.state.set_stage(job.source.name, job.ref.id, "error", error)
        if report:
            self.summary.fail(Failure(job.source.name, error, job=job.ref.id))

    # -- collections and searches
    def _ensure_collection(self, adapter: Adapter, collection_id: str) -> None:
        if collection_id in self._collections:
            return
        spec = adapter.collection(collection_id)
        if self.config.catalog.license:
            spec = spec.under_license(self.config.catalog.license)
        self.store.ensure_collection(spec)
        self._collections.add(collection_id)

    def _search(self, source: SourceConfig, adapter: Adapter) -> None:
        row = self.state.source(source.name)
        if (row is not None and row.submit_state == "searched" and row.submit_digest == source.digest
                and not adapter.search_again(_when(row.updated))):
            kept = sum(self.state.item_counts(source.name).values())
            self.summary.items_kept += kept
            log.info("source %s: searched at %s, not again yet (%d item(s) kept)", source.name, row.updated, kept)
            return
        from catalogs import store  # the batch the writer takes at once (read here: tests make it smaller)

        adapter.check()
        batch: list[pystac.Item] = []
        try:
            for item in _read_ahead(adapter.search(), 2 * store.BATCH):
                try:
                    self._ensure_collection(adapter, item.collection_id or "")
                except HarvestError as exc:
                    self.summary.fail(Failure(source.name, str(exc), item=item.id))
                    continue
                batch.append(item)
                if len(batch) == store.BATCH:
                    self._add_found(source, batch)
                    batch = []
        finally:  # a search that fails part way keeps what it found before
            if batch:
                self._add_found(source, batch)
        self.state.set_submit_state(source.name, "searched", source.digest)

    def _add_found(self, source: SourceConfig, items: list[pystac.Item]) -> None:
        start = time.perf_counter()
        added = []
        for outcome in self.store.add_many(items):
            if outcome.error is None:
                added.append((outcome.collection, outcome.item_id))
            else:
                self.summary.fail(Failure(source.name, str(outcome.error), item=outcome.item_id))
        self.summary.add_time("write", time.perf_counter() - start)
        self._record_items(source.name, "search", added)

    # -- places
    def _download_dir(self, job: _Job) -> Path:
        return self._base_dir / "downloads" / job.source.name / _safe(job.ref.id)

    def _work_dir(self, job: _Job) -> Path:
        return self._base_dir / "work" / job.source.name / _safe(job.ref.id)

    @property
    def _base_dir(self) -> Path:
        """Where downloads and work files go: ``[run] work_dir`` (a folder a cluster's workers see), else
        the catalog's state folder."""
        return Path(self.config.run.work_dir) if self.config.run.work_dir else self.root / STATE_DIR

    def _on_download_progress(self, request: DownloadRequest, done: int, total: int | None) -> None:
        self.progress.update_bytes(request.remote.name, done, total)


def make_executor(config: Config, *, workers: int | None = None) -> cf.Executor:
    """The executor ``config`` asks for; ``workers`` overrides its worker count (a one-worker pool of its own
    is how a task suspected of killing its worker is retried). The only place that makes executors.

    For ``executor = "dask"`` it is a `harvester.cluster.DaskExecutor` (joined or started here; its
    ``dashboard_link`` says where to watch it): shut it down to close the client and a local cluster.
    """
    opts = config.run
    if opts.executor == "inline":
        return InlineExecutor()
    workers = workers or opts.worker_count
    if opts.executor == "thread":
        return cf.ThreadPoolExecutor(workers, thread_name_prefix="work")
    adapters = {source.adapter for source in config.sources}
    preload = sorted({module for adapter in adapters for module in (adapter.__module__, *adapter.worker_modules)})
    if opts.executor == "dask":
        try:
            from harvester import cluster
        except ImportError as exc:
            from harvester.config import DASK_EXTRA, ConfigError

            raise ConfigError(f"executor \"dask\" needs Dask distributed ({exc}): {DASK_EXTRA}") from exc
        from harvester.pool import WORKER_PRELOAD

        return cluster.start(opts.scheduler or "local", workers=workers,
                             preload=list(dict.fromkeys([*WORKER_PRELOAD, *preload])))
    return cf.ProcessPoolExecutor(workers, mp_context=worker_context(preload))


_make_executor = make_executor  # the name the pipeline looks up at each call (tests wrap it)


def _slots(executor: cf.Executor) -> int | None:
    """How many tasks to keep in ``executor`` at a time: a cluster's worker threads (about one task per worker,
    so a worker that dies takes few innocent tasks with it); ``None``, no limit, when it does not say."""
    slots = getattr(executor, "slots", None)
    return slots if isinstance(slots, int) else None


class InlineExecutor(cf.Executor):
    """Runs each task at once in the calling thread (debugging, and tests that count calls)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, like a pool would
            future.set_exception(exc)
        return future


_END = object()


def _read_ahead(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """``items``, produced in a thread up to ``depth`` ahead: a search fetches and parses its next pages while
    the catalog writes the last ones (the writer's threads wait on the disk). What the producer raises is
    raised here, after the items before it; closing this generator stops the producer."""
    ahead: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ahead.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            outcome: Any = _END
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            outcome = exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # in the thread that ran it: a stopped search ends its generator here
        while not stop.is_set():
            try:
                ahead.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

    producer = threading.Thread(target=produce, name="search-read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item = ahead.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join(timeout=30)


def _when(recorded: str | None) -> datetime | None:
    """A time the state database recorded (ISO 8601), aware."""
    if not recorded:
        return None
    moment = datetime.fromisoformat(recorded)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _shown(status: JobStatus | None) -> tuple[float | None, str | None]:
    """What the polling bar shows of a job still running: the provider's progress and message."""
    if status is None:
        return None, None
    return (status.progress or 0.0), status.message or status.state.value

def _failed_text(message: str | None) -> str:
    return f"the job failed at the provider: {message or 'no reason given'}"


def _expired_text(message: str | None) -> str:
    return "the job's results expired before they were downloaded" + (f" ({message})" if message else "")


def _log_detail(exc: BaseException, what: str) -> None:
    """The traceback of an exception that is not one of ours (a bug, most likely), for ``-v``."""
    if isinstance(exc, WorkerError) and exc.detail:
        log.debug("%s raised:\n%s", what, redact_text(exc.detail.rstrip()))


def sweep_temp_files(root: Path) -> int:
    """Remove the temporary files a killed run left in the catalog (``.<name>.<pid>.tmp``)."""
    removed = 0
    for folder, dirs, files in os.walk(root):
        if Path(folder) == root:
            dirs[:] = [d for d in dirs if d != STATE_DIR]
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


def _complete(path: Path, row: FileRow) -> bool:
    """Whether a file the state records as downloaded (and verified) is still there, whole."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return row.size is None or size == row.size


def _safe(job_id: str) -> str:
    """A job id as one folder name (ids are provider strings: keep them from nesting or escaping)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in job_id).lstrip(".") or "_"
