"""The HyP3 adapter: submit job lists or find existing jobs, watch them, list their outputs, translate.

A source either submits a job list (``jobs = "jobs.json"``, or inline ``[[sources.jobs]]`` tables) or
fetches existing jobs matching filters (``job_name``, ``job_type``, ``status_code``, ``start``, ``end``,
``user_id``, ``job_ids``). With no filter at all, the source's own name is the job name to fetch (the
DESIGN.md convention ``name = "svalbard-rtc"``); ``job_name = "*"`` fetches every job of the user.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.base import Adapter, AssetsMode, JobRef, JobState, JobStatus, RemoteFile, SourceInfo
from adapters.errors import BadProductError, RequestRejectedError
from adapters.hyp3.endpoints import API_URL, AUTH_URL
from adapters.hyp3.jobs import load_jobs, same_job, validate_jobs
from adapters.hyp3.names import COLLECTIONS, UnknownProductNameError, split_file_name
from adapters.archives import MAX_TOTAL_BYTES
from catalogs import stac
from catalogs.drafts import CollectionSpec, ItemDraft

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

PROVIDER = "hyp3"
STATES = {"PENDING": JobState.PENDING, "RUNNING": JobState.RUNNING, "SUCCEEDED": JobState.SUCCEEDED,
          "FAILED": JobState.FAILED}
#: job types whose GeoTIFFs HyP3 publishes as COGs, so that ``assets = "remote"`` can link them
REMOTE_READY = ("RTC_GAMMA", "OPERA_RTC_S1")
ASF = {"name": "Alaska Satellite Facility (ASF) HyP3", "roles": ["processor", "host"],
       "url": "https://hyp3-docs.asf.alaska.edu/"}
ESA = {"name": "ESA / Copernicus", "roles": ["producer", "licensor"], "url": "https://sentinels.copernicus.eu/"}
#: HyP3 products are derived from Copernicus Sentinel data and come under its terms (the link the
#: Planetary Computer's Sentinel-1 collections give for them)
LICENSE_LINK = {"rel": "license", "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice",
                "title": "Copernicus Sentinel data terms"}
DOCS_LINK = {"rel": "about", "href": "https://hyp3-docs.asf.alaska.edu/", "type": "text/html",
             "title": "HyP3 documentation: product guides"}
TITLES = {
    "RTC_GAMMA": "HyP3 Sentinel-1 RTC (GAMMA)",
    "INSAR_GAMMA": "HyP3 Sentinel-1 InSAR (GAMMA)",
    "INSAR_ISCE_BURST": "HyP3 Sentinel-1 burst InSAR (ISCE2)",
    "INSAR_ISCE_MULTI_BURST": "HyP3 Sentinel-1 multi-burst InSAR (ISCE2)",
    "AUTORIFT": "HyP3 autoRIFT ice velocity",
    "ARIA_S1_GUNW": "HyP3 ARIA Sentinel-1 GUNW",
    "OPERA_RTC_S1": "HyP3 OPERA RTC-S1",
}


@dataclass
class Hyp3Settings:
    url: str = field(default=API_URL, metadata={"env": "HYP3_API_URL", "help": "HyP3 API URL"})
    auth_url: str = field(default=AUTH_URL, metadata={"env": "HYP3_AUTH_URL",
                                                      "help": "Earthdata Login sign-in URL (for username/password)"})
    jobs: Path | list[dict[str, Any]] | None = field(
        default=None, metadata={"help": "job list to submit: a JSON file ([...] or {\"jobs\": [...]})"})
    job_name: str | None = field(default=None, metadata={"help": "fetch jobs with this name ('*': any name)"})
    job_type: str | None = field(default=None, metadata={"help": "fetch jobs of this type"})
    status_code: str | None = field(default=None, metadata={"help": "fetch jobs in this state"})
    start: str | None = field(default=None, metadata={"help": "fetch jobs submitted at or after (ISO 8601)"})
    end: str | None = field(default=None, metadata={"help": "fetch jobs submitted at or before (ISO 8601)"})
    user_id: str | None = field(default=None, metadata={"help": "fetch jobs of this user"})
    job_ids: list[str] = field(default_factory=list, metadata={"help": "fetch these job ids (comma-separated)"})
    max_unzip_gb: float = field(default=MAX_TOTAL_BYTES / 2**30,
                                metadata={"help": "refuse products that unpack to more than this (GiB)"})
    extras: bool = field(default=True, metadata={"help": "also harvest browse images, thumbnails and the log"})

    def __post_init__(self) -> None:
        if self.max_unzip_gb <= 0:
            raise ValueError("max_unzip_gb must be positive")


class Hyp3Adapter(Adapter):
    """ASF HyP3: SAR products (RTC, InSAR, burst InSAR, autoRIFT, GUNW, OPERA RTC) as COG-backed items."""

    provider = PROVIDER
    Settings = Hyp3Settings
    worker_modules = ("adapters.hyp3.translate",)

    def __init__(self, settings: Hyp3Settings, client: httpx.Client, source: SourceInfo) -> None:
        # the API client (and httpx with it) is the engine's business: worker processes import this module
        # for `translate` only
        from adapters.hyp3.client import Hyp3Client, earthdata_auth

        super().__init__(settings, client, source)
        self.auth = earthdata_auth(settings.auth_url)
        self.api = Hyp3Client(client, settings.url, self.auth)
        self._jobs: list[dict[str, Any]] | None = None
        self._claimed: dict[int, dict[str, Any]] | None = None

    # -- jobs
    def check(self) -> None:
        if self.submits():
            self._job_list()  # a bad job list is refused before anything is asked of HyP3
        user = self.api.user()
        log.info("HyP3: signed in as %s", user.get("user_id", "?"))

    def submits(self) -> bool:
        return self.source.action == "submit" or (self.source.action == "auto" and self.settings.jobs is not None)

    def _job_list(self) -> list[dict[str, Any]]:
        """The source's job list, checked whole (cached: the file is read once per run)."""
        if self._jobs is None:
            jobs = self.settings.jobs
            if jobs is None:
                raise RequestRejectedError(f"source {self.source.name}: nothing to submit: give a job list (jobs)")
            if isinstance(jobs, Path):
                self._jobs = load_jobs(jobs, default_name=self.source.name)
            else:
                self._jobs = validate_jobs(jobs, f"source {self.source.name}: jobs", default_name=self.source.name)
        return self._jobs

    def submit(self) -> list[JobRef]:
        """Submit the job list, reusing the jobs of it that HyP3 already has (same name, type and
        parameters; not failed, not expired): re-running an edited or interrupted list never pays twice."""
        wanted = self._job_list()
        existing = self._existing(wanted)
        missing = [job for i, job in enumerate(wanted) if i not in existing]
        if existing:
            log.info("HyP3: %d of %d job(s) of source %s exist already and are reused", len(existing), len(wanted),
                     self.source.name)
        submitted = iter(self.api.submit(missing) if missing else [])
        return [self._ref(existing[i] if i in existing else next(submitted)) for i in range(len(wanted))]

    def find(self) -> list[JobRef]:
        s = self.settings
        if self.submits():
            # the jobs of an interrupted submission: only when all of them are there (else submit() sends the rest)
            wanted = self._job_list()
            existing = self._existing(wanted)
            found = [existing[i] for i in range(len(wanted))] if len(existing) == len(wanted) else []
        elif s.job_ids:
            found = [self.api.job(job_id) for job_id in s.job_ids]
        else:
            name = s.job_name
            if name is None and not any((s.job_type, s.status_code, s.start, s.end, s.user_id)):
                name = self.source.name
            found = list(self.api.jobs(name=None if name == "*" else name, job_type=s.job_type,
                                       status_code=s.status_code, start=s.start, end=s.end, user_id=s.user_id))
        refs = {job["job_id"]: self._ref(job) for job in found}  # pages may overlap while jobs are added
        return list(refs.values())

    def _existing(self, wanted: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """The jobs at HyP3 that are the jobs of ``wanted`` (by index), each claimed once. Listed once per
        run: recovering an interrupted submission asks `find` first, then `submit` for the rest."""
        if self._claimed is None:
            self._claimed = self._list_existing(wanted)
        return self._claimed

    def _list_existing(self, wanted: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        now = datetime.now(timezone.utc)
        candidates = [job for name in sorted({job["name"] for job in wanted}) for job in self.api.jobs(name=name)
                      if job.get("status_code") != "FAILED"
                      and not ((expires := _time(job.get("expiration_time"))) and expires <= now)]
        candidates.sort(key=lambda job: (str(job.get("request_time") or ""), str(job["job_id"])))
        claimed: dict[int, dict[str, Any]] = {}
        taken: set[str] = set()
        for i, spec in enumerate(wanted):
            for job in candidates:
                if job["job_id"] not in taken and same_job(spec, job):
                    claimed[i] = job
                    taken.add(job["job_id"])
                    break
        return claimed

    @staticmethod
    def _ref(job: Mapping[str, Any]) -> JobRef:
        return JobRef(PROVIDER, str(job["job_id"]), job.get("name"), {"job_type": job.get("job_type")})

    def poll(self, job: JobRef) -> JobStatus:
        record = self.api.job(job.id)
        code = record.get("status_code")
        state = STATES.get(code)
        if state is None:
            raise BadProductError(f"HyP3 job {job.id}: unknown status_code {code!r}")
        message = None
        if state is JobState.FAILED:
            logs = record.get("logs") or []
            message = "HyP3 processing failed" + (f"; the log is at {logs[0]}" if logs else "")
        return JobStatus(state, message, submitted=_time(record.get("request_time")),
                         finished=_finished(record), expires=_time(record.get("expiration_time")), meta=record)

    def outputs(self, job: JobRef, status: JobStatus) -> list[RemoteFile]:
        record = status.meta
        files = record.get("files") or []
        if not files:
            raise BadProductError(f"HyP3 job {job.id}: succeeded but lists no files")
        remote_mode = self.source.assets == "remote" and record.get("job_type") in REMOTE_READY
        outputs: list[RemoteFile] = []
        for entry in files:
            size = entry.get("size")
            if remote_mode and entry["filename"].lower().endswith(".zip"):
                outputs += _published_files(job, entry, record, status.expires)
            else:
                outputs.append(RemoteFile(entry["url"], entry["filename"], size if isinstance(size, int) else None,
                                          expires=status.expires))
        if self.settings.extras:
            extras = [*record.get("browse_images", []), *record.get("thumbnail_images", []),
                      *record.get("logs", [])]
            known = {o.name for o in outputs}
            if not remote_mode:  # a zipped product holds its browse images: they come with the zip
                known |= {name for name in map(_file_name, record.get("browse_images", []))
                          if _zipped_with(name, files)}
            for url in extras:
                name = _file_name(url)
                if name and name not in known:
                    known.add(name)
                    outputs.append(RemoteFile(url, name, optional=True, expires=status.expires,
                                              fetch=not remote_mode))
        return outputs

    @staticmethod
    def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
                  workdir: Path, assets: AssetsMode, settings: Any) -> list[ItemDraft]:
        # imported here, in the worker that runs it: the engine itself never needs rasterio for HyP3
        from adapters.hyp3.translate import translate

        return translate(job, status, outputs, files, workdir, assets, settings)

    def collection(self, collection_id: str) -> CollectionSpec:
        return collection_spec(collection_id)


def collection_spec(collection_id: str) -> CollectionSpec:
    """How a HyP3 collection (one per job type, e.g. ``hyp3-rtc-gamma``) describes itself."""
    job_type = next((t for t, c in COLLECTIONS.items() if c == collection_id), None)
    title = TITLES.get(job_type or "", collection_id)
    return CollectionSpec(
        collection_id,
        f"{title} products harvested from ASF HyP3 on-demand processing jobs. They contain modified "
        "Copernicus Sentinel data, whose use the Copernicus Sentinel data terms govern.",
        title=title,
        license="other",
        providers=[ESA, ASF],
        keywords=["sentinel-1", "sar", "hyp3", (job_type or "").lower()],
        summaries=["platform", "constellation", "sar:instrument_mode", "sar:polarizations",
                   "sar:product_type", "sar:frequency_band", "sar:looks_range", "sar:looks_azimuth",
                   "sat:orbit_state", "sat:relative_orbit", "proj:code", "hyp3:job_type"],
        stac_extensions=[stac.SAR, stac.SAT, stac.PROJECTION],
        links=[LICENSE_LINK, DOCS_LINK],
    )


def _published_files(job: JobRef, entry: Mapping[str, Any], record: Mapping[str, Any],
                     expires: datetime | None) -> list[RemoteFile]:
    """The files HyP3 publishes beside an RTC zip (``<name>_VV.tif`` ...), known from the product name and
    the job parameters; referenced, not downloaded."""
    zip_name = entry["filename"]
    try:
        product, _ = split_file_name(zip_name)
    except UnknownProductNameError as exc:
        raise BadProductError(f"HyP3 job {job.id}: {exc}") from exc
    params = record.get("job_parameters") or {}
    suffixes = [f"_{pol}.tif" for pol in product.polarizations]
    if product.job_type == "OPERA_RTC_S1":
        suffixes += ["_mask.tif", ".h5", ".iso.xml"]
    else:
        suffixes += ["_ls_map.tif", ".README.md.txt"]
        for flag, suffix in (("include_inc_map", "_inc_map.tif"), ("include_scattering_area", "_area.tif"),
                             ("include_dem", "_dem.tif"), ("include_rgb", "_rgb.tif")):
            if params.get(flag):
                suffixes.append(suffix)
    base = entry["url"][: -len(".zip")]
    files = [RemoteFile(f"{base}{suffix}", f"{product.name}{suffix}", fetch=False, expires=expires)
             for suffix in suffixes]
    files.append(RemoteFile(entry["url"], zip_name, entry.get("size"), fetch=False, expires=expires))
    return files


def _file_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def _zipped_with(name: str, files: list[Mapping[str, Any]]) -> bool:
    """Whether a browse image is also inside the product zip: HyP3 zips hold ``<product name>*.png``."""
    return any(str(entry.get("filename", "")).lower().endswith(".zip")
               and name.startswith(str(entry["filename"])[: -len(".zip")]) and name.lower().endswith(".png")
               for entry in files)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _finished(record: Mapping[str, Any]) -> datetime | None:
    if record.get("status_code") not in ("SUCCEEDED", "FAILED"):
        return None
    started = _time(record.get("execution_started"))
    times = record.get("processing_times") or []
    if started is None or not times:
        return None
    return started + timedelta(seconds=float(sum(t for t in times if isinstance(t, (int, float)))))
