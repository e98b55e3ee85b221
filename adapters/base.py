"""What every provider adapter is: the provider-neutral records and the adapter interface.

An adapter talks to one provider. The engine (`harvester.pipeline`) gives it its settings and an
`httpx.Client`, and calls, for each configured source::

    submit()  or  find()     -> [JobRef]          start jobs, or find the ones that exist
    poll(job)                -> JobStatus         until the state is terminal
    outputs(job, status)     -> [RemoteFile]      what the job produced; the engine downloads them
    translate(...)           -> [ItemDraft]       pure: local files (and settings) -> item drafts, in a worker

or, for sources that are searches of a STAC API rather than jobs (``kind = "search"``)::

    search()                 -> iterator of pystac.Item (assets stay remote)

Adapters never write the catalog or the state database, and never hold credentials anywhere but in
memory (their ``auth``). `translate` must be a pure function of its arguments, importable by name, so
that it can run in another process: it is a ``staticmethod`` and must not touch the network.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from catalogs.drafts import CollectionSpec, ItemDraft

if TYPE_CHECKING:  # annotations only: `harvester status` reads job records without an HTTP or STAC stack
    import httpx
    import pystac

AssetsMode = Literal["download", "remote"]
#: what a source asks for: new jobs, existing ones, or (config files) whatever its settings say
SourceAction = Literal["auto", "submit", "fetch"]


class JobState(str, enum.Enum):
    """Where a job is, in the provider-neutral vocabulary."""

    PENDING = "pending"      # accepted, not started
    RUNNING = "running"      # being processed
    SUCCEEDED = "succeeded"  # outputs are ready
    FAILED = "failed"        # the provider gave up; ``JobStatus.message`` says why
    EXPIRED = "expired"      # finished once, but its outputs are gone

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.EXPIRED)


@dataclass(frozen=True)
class JobRef:
    """A job (HyP3 job, NGU query, AppEEARS task, Sentinel Hub async request) at its provider.

    ``meta`` is JSON-able data the adapter wants back later (a job type, the query's bbox); it is stored
    in the state database, so it must never contain credentials.
    """

    provider: str
    id: str
    name: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class JobStatus:
    """What a poll found. ``meta`` is the provider's record of the job (stored, passed to translate)."""

    state: JobState
    message: str | None = None
    submitted: datetime | None = None
    finished: datetime | None = None
    expires: datetime | None = None
    progress: float | None = None  # the provider's own measure of how far it got, 0-1 (shown on the bar)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteFile:
    """One output file of a job.

    ``name`` is the file's path relative to the job's download folder, with ``/`` separators; the
    downloader refuses names that would leave that folder. ``checksum`` is ``"<algorithm>:<hex>"`` with
    any `hashlib` algorithm (``"sha256:…"``, ``"md5:…"``). ``auth`` says whether the adapter's credentials
    go with the request (most providers publish outputs on other hosts that must not see them).
    ``fetch=False`` lists a file that is referenced but not downloaded (remote assets). An ``optional``
    file that is missing (404) is skipped instead of failing the job. ``post_json`` makes the download a
    POST of that body (with ``headers``).
    """

    url: str
    name: str
    size: int | None = None
    checksum: str | None = None
    auth: bool = False
    fetch: bool = True
    optional: bool = False
    expires: datetime | None = None
    #: a file that is the answer to a POST (Sentinel Hub's Process API): sent with this JSON body and these
    #: headers, never resumed with a range (the downloader starts it again instead); never stored
    post_json: bytes | None = field(default=None, repr=False, compare=False)
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SourceInfo:
    """What the engine tells an adapter about the source it serves.

    ``action`` is what the user asked for: ``submit`` new jobs, ``fetch`` existing ones, or ``auto`` (a
    config file source: the adapter decides from its settings, see `Adapter.submits`).
    """

    name: str
    assets: AssetsMode = "download"
    action: SourceAction = "auto"


def url_settings(settings: type) -> dict[str, str]:
    """The fields of a ``Settings`` dataclass that say where the provider is, with their environment variable.

    A field declared with ``metadata={"env": "NAME"}`` is a provider URL: the environment variable
    overrides it, and the configuration refuses a value that is not an absolute http(s) URL with a host.
    """
    return {f.name: f.metadata["env"] for f in dataclasses.fields(settings) if f.metadata.get("env")}


class Adapter:
    """Base class of provider adapters. Subclasses set the class attributes and override the steps.

    ``Settings`` is a dataclass of the provider-specific keys of a source (config file keys or CLI
    flags); `harvester.config` validates sources against it. A field whose metadata has ``env`` is a
    provider URL (see `url_settings`), overridden by that environment variable (``HYP3_API_URL`` …)
    and checked to be an absolute http(s) URL.
    """

    provider: ClassVar[str]
    kind: ClassVar[Literal["jobs", "search"]] = "jobs"
    Settings: ClassVar[type]
    #: modules `translate` needs that its own module does not import: loaded once into the server that forks
    #: the worker processes, so that no worker pays their import (e.g. the module doing the translation)
    worker_modules: ClassVar[tuple[str, ...]] = ()
    #: the credentials to send on the adapter's own requests (and on downloads with ``auth=True``)
    auth: httpx.Auth | None = None

    def __init__(self, settings: Any, client: httpx.Client, source: SourceInfo) -> None:
        self.settings = settings
        self.client = client
        self.source = source

    # -- jobs
    def check(self) -> None:
        """Fail early with `AuthError` when credentials are missing or refused (called once per run)."""

    def submits(self) -> bool:
        """Whether this source starts new jobs (`submit`) rather than finding existing ones (`find`)."""
        return self.source.action == "submit"

    def submit(self) -> list[JobRef]:
        """Start the jobs this source asks for."""
        raise NotImplementedError(f"{self.provider}: this provider cannot submit jobs")

    def find(self) -> list[JobRef]:
        """The existing jobs this source names (for fetching finished work)."""
        raise NotImplementedError(f"{self.provider}: this provider cannot list existing jobs")

    def poll(self, job: JobRef) -> JobStatus:
        raise NotImplementedError

    def outputs(self, job: JobRef, status: JobStatus) -> list[RemoteFile]:
        raise NotImplementedError

    def renew(self, job: JobRef, status: JobStatus | None) -> bool:
        """The job's results expired (or vanished) before they were all downloaded: start the same work
        again at the provider, under the same job, whose next polls follow the new run. True when it did.
        The engine asks at most once per job and run; by default results cannot be renewed."""
        return False

    @staticmethod
    def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
                  workdir: Path, assets: AssetsMode, settings: Any) -> list[ItemDraft]:
        """Item drafts for a finished job. ``files`` maps each downloaded output's name to its local path;
        ``settings`` is the source's `Settings`.

        Pure and picklable: runs in a worker process. Raises `BadProductError` (naming the job and file)
        for outputs it cannot read. Work files go under ``workdir``.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Called once when the engine is done with the source (after its downloads): sign out, free what
        the adapter holds. Must not raise for a provider that cannot be reached."""

    # -- collections
    def collection(self, collection_id: str) -> CollectionSpec:
        """How the collection that drafts name describes itself (title, license, providers…)."""
        raise NotImplementedError

    # -- searches
    def search(self) -> Iterator[pystac.Item]:
        """Items of a STAC API search (``kind = "search"`` adapters)."""
        raise NotImplementedError(f"{self.provider}: this provider is not a search source")

    def search_again(self, last_complete: datetime | None) -> bool:
        """Whether to run the search again, when the same search last went through to its end at
        ``last_complete`` (a search source may wait between searches; by default it searches every run)."""
        return True
