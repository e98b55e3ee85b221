"""The NGU InSAR Norway adapter: point queries of a bounding box, one per dataset, into GeoParquet and COGs.

A source names a bounding box and one dataset, a list, or ``"all"`` (every dataset ``list-datasets``
gives): each dataset is one query (one job). A query moves through ``created, queued, init, tiles,
process`` to ``complete`` (or ``error``, whose messages become the failure). Its results are removed one
hour after completion: a query found gone (404 once it was seen, or a download answering 404) is
re-submitted once, automatically, through `renew` (the engine asks it at most once per job and run),
and the harvest goes on with the new query under the same job. A 404 right after submission is the
service not showing the new query yet: polled again, up to `NOT_VISIBLE_POLLS` times.

Translation (`adapters.ngu.translate`, in a worker) makes one item per result file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from adapters.base import Adapter, AssetsMode, JobRef, JobState, JobStatus, RemoteFile, SourceInfo
from adapters.errors import BadProductError, ExpiredError, NotFoundError, ProviderError, RequestRejectedError
from adapters.ngu.names import API_URL, DATASETS, BBox, check_dataset, collection_id, normalise_bbox, orbit_state
from catalogs import stac
from catalogs.drafts import CollectionSpec, ItemDraft

if TYPE_CHECKING:
    import httpx

    from adapters.ngu.client import Dataset

log = logging.getLogger(__name__)

PROVIDER = "ngu"
#: polls that may answer 404 right after a submission before the query counts as gone
NOT_VISIBLE_POLLS = 5
STATES = {"created": JobState.PENDING, "queued": JobState.PENDING, "init": JobState.RUNNING,
          "tiles": JobState.RUNNING, "process": JobState.RUNNING, "complete": JobState.SUCCEEDED,
          "error": JobState.FAILED}
NGU = {"name": "Geological Survey of Norway (NGU)", "roles": ["producer", "licensor", "host"],
       "url": "https://www.ngu.no/"}
INSAR_NORWAY = {"name": "InSAR Norway (Norwegian Ground Motion Service)", "roles": ["processor"],
                "url": "https://insar.ngu.no/"}
#: InSAR Norway data are open under the Norwegian licence for open government data (NLOD), per NGU
LICENSE_LINK = {"rel": "license", "href": "https://data.norge.no/nlod/en/2.0", "type": "text/html",
                "title": "Norwegian Licence for Open Government Data (NLOD) 2.0"}
ABOUT_LINK = {"rel": "about", "href": "https://insar.ngu.no/", "type": "text/html", "title": "InSAR Norway"}


@dataclass
class NguSettings:
    url: str = field(default=API_URL, metadata={"env": "NGU_API_URL", "help": "NGU InSAR API URL"})
    bbox: list[float] = field(default_factory=list,
                              metadata={"help": "query area: two lon/lat corners lon1,lat1,lon2,lat2 (any order)"})
    dataset: list[str] = field(default_factory=list,
                               metadata={"help": "dataset(s) to query, comma-separated, or 'all'"})
    query_ids: list[str] = field(default_factory=list,
                                 metadata={"help": "fetch these existing queries (comma-separated ids)"})
    cell_size: float = field(default=50.0, metadata={"help": "velocity grid cell size in metres"})

    def __post_init__(self) -> None:
        if self.cell_size <= 0:
            raise ValueError("cell_size must be positive")
        if not self.query_ids:
            if not self.bbox:
                raise ValueError("bbox is required (two lon/lat corners lon1,lat1,lon2,lat2)")
            if not self.dataset:
                raise ValueError("dataset is required (a dataset name, a list, or 'all')")
        try:
            if self.bbox:
                self.bbox = list(normalise_bbox(self.bbox))
            for name in self.dataset:
                check_dataset(name, "dataset")
        except RequestRejectedError as exc:
            raise ValueError(str(exc)) from None


class NguAdapter(Adapter):
    """NGU InSAR Norway: Sentinel-1 ground-motion points of a bounding box."""

    provider = PROVIDER
    Settings = NguSettings
    worker_modules = ("adapters.ngu.translate",)

    def __init__(self, settings: NguSettings, client: httpx.Client, source: SourceInfo) -> None:
        from adapters.ngu.client import NguClient  # httpx and the client: the engine's business only

        super().__init__(settings, client, source)
        self.api = NguClient(client, settings.url)
        self._datasets: dict[str, Dataset] | None = None
        #: job id -> the id of its query now (a re-submitted job's query has a new id)
        self._current: dict[str, str] = {}
        #: queries submitted in this run that have not been seen yet -> 404s answered so far
        self._unseen: dict[str, int] = {}

    # -- jobs
    def check(self) -> None:
        """The datasets exist (one ``list-datasets``), before any query is sent."""
        if self.submits():
            self._wanted()

    def submits(self) -> bool:
        return self.source.action == "submit" or (self.source.action == "auto" and not self.settings.query_ids)

    def _known(self) -> dict[str, Dataset]:
        if self._datasets is None:
            self._datasets = {d.name: d for d in self.api.datasets()}
        return self._datasets

    def _wanted(self) -> list[str]:
        names = self.settings.dataset
        known = self._known()
        if [n.lower() for n in names] == ["all"]:
            return sorted(known)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise RequestRejectedError(f"source {self.source.name}: unknown NGU dataset(s) {', '.join(unknown)} "
                                       f"(list-datasets gives: {', '.join(sorted(known)) or 'none'})")
        return list(dict.fromkeys(names))

    def submit(self) -> list[JobRef]:
        bbox = cast(BBox, tuple(self.settings.bbox))  # ordered and checked by the settings
        refs = []
        for dataset in self._wanted():
            query_id = self.api.submit(dataset, bbox)
            self._unseen[query_id] = 0
            refs.append(JobRef(PROVIDER, query_id, f"{dataset} {','.join(f'{v:g}' for v in bbox)}",
                               {"dataset": dataset, "bbox": list(bbox)}))
        return refs

    def find(self) -> list[JobRef]:
        return [JobRef(PROVIDER, query_id) for query_id in self.settings.query_ids]

    def poll(self, job: JobRef) -> JobStatus:
        query_id = self._current.get(job.id, job.id)
        try:
            record = self.api.state(query_id)
        except NotFoundError as exc:
            misses = self._unseen.get(query_id)
            if misses is not None and misses < NOT_VISIBLE_POLLS:
                self._unseen[query_id] = misses + 1
                return JobStatus(JobState.PENDING, "submitted; not visible at the server yet")
            raise ExpiredError(f"NGU query {query_id}: gone (404): its results expired or the server "
                               "dropped it") from exc
        self._unseen.pop(query_id, None)
        state = str(record.get("state", ""))
        mapped = STATES.get(state)
        if mapped is None:
            raise BadProductError(f"NGU query {query_id}: unknown state {state!r}")
        messages = [str(m) for m in record.get("messages") or []]
        if mapped is JobState.FAILED:
            message = "; ".join(messages[-5:]) or "the query stopped with an error (no message)"
        else:
            points = record.get("num_points")
            message = f"{state}" + (f": {points} points" if isinstance(points, int) else "")
        progress = record.get("progress")
        meta = dict(record)
        return JobStatus(mapped, message, submitted=_timestamp(record.get("started")),
                         finished=_timestamp(record.get("updated")) if mapped is JobState.SUCCEEDED else None,
                         expires=_timestamp(record.get("expires")),
                         progress=float(progress) if isinstance(progress, (int, float)) else None, meta=meta)

    def renew(self, job: JobRef, status: JobStatus | None) -> bool:
        """Send the job's query again (same dataset and box): its results expired before they were downloaded."""
        dataset = job.meta.get("dataset") or (status.meta.get("dataset") if status else None)
        bbox = job.meta.get("bbox") or (status.meta.get("bbox") if status else None)
        if not dataset or not bbox:
            return False
        query_id = self.api.submit(str(dataset), normalise_bbox(bbox, f"NGU query {job.id}: bbox"))
        log.warning("NGU query %s: its results expired before they were downloaded; re-submitted as query %s",
                    self._current.get(job.id, job.id), query_id)
        self._current[job.id] = query_id
        self._unseen[query_id] = 0
        return True

    def outputs(self, job: JobRef, status: JobStatus) -> list[RemoteFile]:
        query_id = str(status.meta.get("id") or self._current.get(job.id, job.id))
        names = status.meta.get("csv") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BadProductError(f"NGU query {query_id}: its csv list is not a list of file names")
        return [RemoteFile(self.api.download_url(query_id, name), name, expires=status.expires)
                for name in names]

    @staticmethod
    def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
                  workdir: Path, assets: AssetsMode, settings: Any) -> list[ItemDraft]:
        from adapters.ngu.translate import translate  # pyarrow, numpy, rasterio: in the worker only

        return translate(job, status, outputs, files, workdir, assets, settings)

    def collection(self, collection_id_: str) -> CollectionSpec:
        dataset = collection_id_.removeprefix("ngu-insar-")
        try:  # the display name and attribution are the service's (a re-run may not have asked it yet)
            known = self._known()
        except ProviderError as exc:
            log.warning("NGU: cannot list the datasets (%s); collection %s describes itself without them", exc,
                        collection_id_)
            known = {}
        info = known.get(dataset) or next((d for d in known.values() if d.name.lower() == dataset), None)
        return collection_spec(dataset, info.display_name if info else DATASETS.get(dataset),
                               info.attribution if info else None, info.group if info else None)


def collection_spec(dataset: str, display_name: str | None = None, attribution: str | None = None,
                    group: str | None = None) -> CollectionSpec:
    """How the collection of one NGU dataset (``ngu-insar-<dataset>``) describes itself."""
    title = f"InSAR Norway: {display_name or dataset}"
    direction = orbit_state(dataset)
    description = (f"Sentinel-1 persistent-scatterer ground motion of the InSAR Norway dataset {dataset}"
                   + (f" ({direction} orbits)" if direction else "")
                   + ", harvested from NGU's InSAR API: one item per result file (track, swath and burst) with "
                   "the points and their displacement time series as GeoParquet and the mean line-of-sight "
                   "velocity as a COG. Contains data under the Norwegian licence for public data (NLOD) made "
                   "available by the Geological Survey of Norway (NGU), and modified Copernicus Sentinel data."
                   + (f" Attribution: {attribution}." if attribution else ""))
    return CollectionSpec(
        collection_id(dataset), description, title=title, license="NLOD-2.0",
        providers=[NGU, INSAR_NORWAY],
        keywords=["insar", "ground motion", "sentinel-1", "norway", "ngu"],
        summaries=["sat:orbit_state", "sat:relative_orbit", "sar:instrument_mode", "sar:frequency_band",
                   "sar:polarizations", "ngu:swath", "ngu:dataset", "proj:code"],
        stac_extensions=[stac.SAR, stac.SAT],
        extra_fields={key: value for key, value in (("ngu:attribution", attribution), ("ngu:group", group))
                      if value},
        links=[LICENSE_LINK, ABOUT_LINK],
    )


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(float(value), timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
