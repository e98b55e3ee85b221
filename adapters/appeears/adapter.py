"""The NASA AppEEARS adapter: submit an area or point task (request JSON or flags), or fetch existing
tasks by id or name; watch them, list their bundles, translate.

A source submits ``task = "request.json"`` (as AppEEARS exports it, sent unchanged) or a task built from
flags (``task_type``, ``start_date``, ``end_date``, ``layers``, ``bbox``/``polygon``/``geojson`` or
``coordinates``, ``file_type``, ``projection``); or fetches ``task_ids``, or the tasks named ``task_name``
(default: the source's name). Every request is checked against the product, layer and projection lists first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from adapters.base import Adapter, AssetsMode, JobRef, JobState, JobStatus, RemoteFile, SourceInfo
from adapters.errors import BadProductError, RequestRejectedError, UnsafePathError
from adapters.appeears.names import bundle_path, collection_id
from catalogs import stac
from catalogs.drafts import CollectionSpec, ItemDraft

if TYPE_CHECKING:
    import httpx

    from adapters.appeears.client import AppeearsClient
    from adapters.appeears.products import ProductCache

log = logging.getLogger(__name__)

PROVIDER = "appeears"
API_URL = "https://appeears.earthdatacloud.nasa.gov/api"
LP_DAAC = {"name": "NASA Land Processes Distributed Active Archive Center (LP DAAC)",
           "roles": ["producer", "processor", "host"], "url": "https://lpdaac.usgs.gov/"}
NASA = {"name": "NASA", "roles": ["licensor"], "url": "https://earthdata.nasa.gov/"}
APPEEARS_LINK = {"rel": "about", "href": "https://appeears.earthdatacloud.nasa.gov/", "type": "text/html",
                 "title": "AppEEARS (Application for Extracting and Exploring Analysis Ready Samples)"}
#: the AppEEARS task status -> the provider-neutral state
STATES = {"pending": JobState.PENDING, "processing": JobState.RUNNING, "queued": JobState.PENDING,
          "done": JobState.SUCCEEDED, "error": JobState.FAILED}


@dataclass
class AppeearsSettings:
    url: str = field(default=API_URL, metadata={"env": "APPEEARS_API_URL", "help": "AppEEARS API URL"})
    task: Path | None = field(default=None, metadata={"help": "task request to submit (JSON, as AppEEARS exports it)"})
    task_ids: list[str] = field(default_factory=list, metadata={"help": "fetch these task ids (comma-separated)"})
    task_name: str | None = field(default=None, metadata={"help": "fetch the tasks with this name"})
    task_type: Literal["area", "point"] | None = field(default=None, metadata={"help": "area or point (flags)"})
    start_date: str | None = field(default=None, metadata={"help": "first date, MM-DD-YYYY (MM-DD if recurring)"})
    end_date: str | None = field(default=None, metadata={"help": "last date, MM-DD-YYYY (MM-DD if recurring)"})
    recurring: bool = field(default=False, metadata={"help": "a recurring date range (with year_range)"})
    year_range: list[int] = field(default_factory=list, metadata={"help": "first,last year of a recurring range"})
    layers: str | list[str] | None = field(
        default=None, metadata={"help": "PRODUCT.VERSION,LAYER items, ';'-separated"})
    bbox: list[float] = field(default_factory=list, metadata={"help": "area: min_lon,min_lat,max_lon,max_lat"})
    polygon: list[float] = field(default_factory=list, metadata={"help": "area: lon,lat,... closed polygon"})
    geojson: Path | None = field(default=None, metadata={"help": "area: a GeoJSON file of the features"})
    coordinates: str | list[Any] | None = field(
        default=None, metadata={"help": "point: [id,][category,]lat,lon items, ';'-separated"})
    file_type: Literal["geotiff", "netcdf4"] = field(default="geotiff", metadata={"help": "area output format"})
    projection: str = field(default="geographic", metadata={"help": "area output projection (GET /spatial/proj)"})

    def builds_task(self) -> bool:
        return self.task_type is not None


class AppeearsAdapter(Adapter):
    """NASA AppEEARS: area and point samples of MODIS, VIIRS, SRTM... as COG-backed and GeoParquet items."""

    provider = PROVIDER
    Settings = AppeearsSettings
    worker_modules = ("adapters.appeears.translate",)

    def __init__(self, settings: AppeearsSettings, client: httpx.Client, source: SourceInfo) -> None:
        from adapters.appeears.client import AppeearsClient, appeears_auth
        from adapters.appeears.products import ProductCache

        super().__init__(settings, client, source)
        self.auth = appeears_auth(settings.url)
        self.api: AppeearsClient = AppeearsClient(client, settings.url, self.auth)
        # where the product lists are cached is not a setting: moving the cache must not make the source's
        # request a new one (settings are its digest); APPEEARS_CACHE_DIR moves it
        self.products: ProductCache = ProductCache(client, settings.url)
        self._task: dict[str, Any] | None = None

    # -- jobs
    def check(self) -> None:
        self.api.require_auth()
        if self.submits():
            self.request()  # a bad request is refused before anything is sent

    def submits(self) -> bool:
        s = self.settings
        return self.source.action == "submit" or (self.source.action == "auto" and (s.task is not None
                                                                                     or s.builds_task()))

    def request(self) -> dict[str, Any]:
        """The task to submit, checked (read once per run)."""
        if self._task is None:
            from adapters.appeears.tasks import build_task, check_task, load_task

            s = self.settings
            if s.task is not None:
                task, where = load_task(s.task), str(s.task)
            elif s.builds_task():
                if not (s.start_date and s.end_date and s.layers):
                    raise RequestRejectedError(f"source {self.source.name}: a task from flags needs start_date, "
                                               "end_date and layers")
                task = build_task(name=self.source.name, task_type=s.task_type or "area", start=s.start_date,
                                  end=s.end_date, layers=s.layers if not isinstance(s.layers, str) else s.layers,
                                  recurring=s.recurring, year_range=s.year_range or None, bbox=s.bbox or None,
                                  polygon=s.polygon or None, geojson=s.geojson, coordinates=s.coordinates,
                                  file_type=s.file_type, projection=s.projection)
                where = f"source {self.source.name}"
            else:
                raise RequestRejectedError(f"source {self.source.name}: nothing to submit: give task (a request "
                                           "JSON) or task_type with dates and layers")
            projections = [str(p.get("Name")) for p in self.products.projections()]
            check_task(task, where, layers_of=self._layers_or_none, projections=projections)
            self._task = task
        return self._task

    def _layers_or_none(self, product_id: str) -> Mapping[str, Any] | None:
        if self.products.product(product_id) is None:
            return None
        return self.products.layers(product_id)

    def submit(self) -> list[JobRef]:
        task = self.request()
        answer = self.api.submit(task)
        task_id = answer.get("task_id")
        if not task_id:
            raise BadProductError(f"AppEEARS: submitting task {task.get('task_name')!r}: the answer has no task_id")
        log.info("AppEEARS: submitted task %s (%s)", task_id, task.get("task_name"))
        return [JobRef(PROVIDER, str(task_id), str(task.get("task_name")))]

    def find(self) -> list[JobRef]:
        s = self.settings
        if s.task_ids:
            return [self._ref(self.api.task(task_id)) for task_id in s.task_ids]
        name = s.task_name or (str(self.request().get("task_name")) if self.submits() else self.source.name)
        found = [self._ref(t) for t in self.api.tasks() if t.get("task_name") == name]
        if self.submits():  # an interrupted submission: the newest task of that name (the list is newest first)
            found = [t for t in found[:1]]
        return found

    @staticmethod
    def _ref(task: Mapping[str, Any]) -> JobRef:
        return JobRef(PROVIDER, str(task["task_id"]), task.get("task_name"), {"task_type": task.get("task_type")})

    def poll(self, job: JobRef) -> JobStatus:
        done, answer = self.api.status(job.id)
        if not done and answer.get("status") not in ("error",):
            progress = (answer.get("progress") or {}).get("summary")
            state = STATES.get(str(answer.get("status") or "processing"), JobState.RUNNING)
            if progress is not None:
                log.info("AppEEARS task %s: %s%% (%s)", job.id, progress, _step(answer))
            return JobStatus(state, progress=float(progress) / 100 if isinstance(progress, (int, float)) else None)
        record = self.api.task(job.id)
        state = STATES.get(str(record.get("status")))
        if state is None:
            raise BadProductError(f"AppEEARS task {job.id}: unknown status {record.get('status')!r}")
        expires = _time(record.get("expires_on"))
        message = None
        if state is JobState.FAILED:
            message = f"AppEEARS task failed: {record.get('error') or 'no reason given'}"
        elif state is JobState.SUCCEEDED and expires is not None and expires <= datetime.now(timezone.utc):
            state, message = JobState.EXPIRED, f"AppEEARS task {job.id} expired on {record.get('expires_on')}"
        meta = dict(record)
        if state is JobState.SUCCEEDED:
            meta["products"] = self._product_knowledge(record)
        return JobStatus(state, message, submitted=_time(record.get("created")), finished=_time(record.get("updated")),
                         expires=expires, meta=meta)

    def _product_knowledge(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """What translate needs to know about the task's products: their records and layers."""
        out: dict[str, Any] = {}
        for entry in (record.get("params") or {}).get("layers") or []:
            product_id = str(entry.get("product"))
            if product_id not in out:
                out[product_id] = {"product": self.products.product(product_id) or {},
                                   "layers": self.products.layers(product_id), "quality": {}}
        return out

    def outputs(self, job: JobRef, status: JobStatus) -> list[RemoteFile]:
        bundle = self.api.bundle(job.id)
        files = bundle.get("files") or []
        if not files:
            raise BadProductError(f"AppEEARS task {job.id}: the bundle lists no files")
        outputs: list[RemoteFile] = []
        for entry in files:
            try:
                name = bundle_path(str(entry.get("file_name", "")))
            except UnsafePathError as exc:
                raise UnsafePathError(f"AppEEARS task {job.id}: {exc}") from exc
            if not entry.get("file_id"):
                raise BadProductError(f"AppEEARS task {job.id}: bundle file {name} has no file_id")
            sha = entry.get("sha256")
            size = entry.get("file_size")
            outputs.append(RemoteFile(self.api.file_url(job.id, str(entry["file_id"])), name,
                                      size if isinstance(size, int) else None,
                                      f"sha256:{sha}" if isinstance(sha, str) and sha else None,
                                      auth=True, expires=status.expires))
        self._quality_from_api(status, [o.name for o in outputs])
        return outputs

    def _quality_from_api(self, status: JobStatus, names: list[str]) -> None:
        """The values of quality layers the bundle has no lookup CSV for, from ``GET /quality``."""
        from adapters.appeears.names import is_layer_file, normal_key, parse_layer_file
        from adapters.appeears.products import is_quality_layer, layer_record_name

        products = status.meta.get("products") or {}
        lookups = {normal_key(n.rsplit("/", 1)[-1][: -len("-lookup.csv")]) for n in names if n.endswith("-lookup.csv")}
        for name in names:
            if not is_layer_file(name):
                continue
            parsed = parse_layer_file(name)
            knowledge = products.get(parsed.product_id)
            if knowledge is None or not is_quality_layer(parsed.layer, knowledge["layers"]):
                continue
            if normal_key(f"{parsed.product}-{parsed.version}-{parsed.layer}") in lookups:
                continue
            record_name = layer_record_name(parsed.layer, knowledge["layers"])
            if record_name not in knowledge["quality"]:
                knowledge["quality"][record_name] = self.products.quality_values(parsed.product_id, record_name)

    @staticmethod
    def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
                  workdir: Path, assets: AssetsMode, settings: Any) -> list[ItemDraft]:
        from adapters.appeears.translate import translate

        return translate(job, status, outputs, files, workdir, assets, settings)

    def collection(self, collection_id_: str) -> CollectionSpec:
        product = next((p for p in self.products.products()
                        if collection_id(str(p.get("Product")), str(p.get("Version"))) == collection_id_), None)
        return collection_spec(collection_id_, product)

    def close(self) -> None:
        if self.api.logout():
            log.info("AppEEARS: signed out")


def collection_spec(collection_id_: str, product: Mapping[str, Any] | None) -> CollectionSpec:
    """How an ``appeears-<product>-<version>`` collection describes itself, from the product API's record."""
    product = product or {}
    product_id = product.get("ProductAndVersion") or collection_id_.removeprefix("appeears-")
    title = f"{product_id}: {product['Description']}" if product.get("Description") else f"AppEEARS {product_id}"
    extra: dict[str, Any] = {}
    extensions = []
    doi = str(product.get("DOI") or "").strip()
    if doi:
        extra["sci:doi"] = doi
        extensions.append(stac.SCIENTIFIC)
    links = [APPEEARS_LINK]
    if product.get("DocLink"):
        links.insert(0, {"rel": "cite-as" if doi else "about", "href": str(product["DocLink"]), "type": "text/html",
                         "title": f"{product_id} documentation"})
    keywords = [k for k in ("appeears", str(product.get("Product") or "").lower(), str(product.get("Platform") or ""),
                            str(product.get("TemporalGranularity") or "")) if k]
    description = (f"{product.get('Description') or product_id} ({product.get('Platform', 'unknown platform')}, "
                   f"{product.get('Resolution', '?')}, {product.get('TemporalGranularity', '?')}), "
                   "area and point samples extracted by NASA AppEEARS.")
    return CollectionSpec(collection_id_, description, title=title, license="other", providers=[LP_DAAC, NASA],
                          keywords=keywords, summaries=["platform", "appeears:layers", "proj:code"],
                          stac_extensions=extensions, extra_fields=extra, links=links)


def _step(answer: Mapping[str, Any]) -> str:
    details = (answer.get("progress") or {}).get("details") or []
    running = next((d for d in details if d.get("pct_complete", 0) < 100), None)
    return str(running.get("desc")) if running else "finishing"


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


__all__ = ["AppeearsAdapter", "AppeearsSettings", "collection_spec"]
