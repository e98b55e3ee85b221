"""The Sentinel Hub adapters: its STAC Catalog searched natively (``sentinelhub-catalog``), and Async
(``sentinelhub-async``) and synchronous (``sentinelhub-process``) Process API outputs harvested into COG items.

One deployment preset (``deployment = "sentinelhub" | "cdse"``) sets the token URL, the API base and the
Catalog URL together; ``SH_BASE_URL``/``SH_AUTH_URL`` (or ``base_url``/``auth_url``/``catalog_url``) override
them. Credentials: ``SH_CLIENT_ID``/``SH_CLIENT_SECRET`` (OAuth client credentials).

This module stays light (worker processes import it for `translate`): pystac-client, boto3 and the
translation are imported where they are used.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from adapters.base import Adapter, AssetsMode, JobRef, JobState, JobStatus, RemoteFile, SourceInfo
from adapters.errors import BadProductError, RateLimitedError, RequestRejectedError
from adapters.sentinelhub import deployments
from adapters.sentinelhub.names import (
    ASYNC_COLLECTION,
    PROCESS_COLLECTION,
    collection_spec,
    input_collection,
    sanitized_request,
)
from catalogs.drafts import CollectionSpec, ItemDraft

if TYPE_CHECKING:
    import httpx
    import pystac
    from pystac_client import Client

    from adapters.sentinelhub.catalog import HttpxStacApiIO
    from adapters.sentinelhub.query import SearchQuery

log = logging.getLogger(__name__)

CATALOG_PROVIDER = "sentinelhub-catalog"
ASYNC_PROVIDER = "sentinelhub-async"
PROCESS_PROVIDER = "sentinelhub-process"
#: how long a presigned URL of an output stays valid (downloads start within minutes)
PRESIGN_SECONDS = 3600
#: scenes of the input collections looked up per request, for its derived_from links
MAX_SCENES = 500


@dataclass
class DeploymentSettings:
    """Where the Sentinel Hub deployment is (shared by the three sources)."""

    deployment: Literal["sentinelhub", "cdse"] = field(
        default="sentinelhub", metadata={"help": "preset: sentinelhub (services.sentinel-hub.com) or cdse "
                                                 "(Copernicus Data Space Ecosystem)"})
    base_url: str | None = field(default=None, metadata={"env": "SH_BASE_URL",
                                                         "help": "API base URL (default: the preset's)"})
    auth_url: str | None = field(default=None, metadata={"env": "SH_AUTH_URL",
                                                         "help": "OAuth token URL (default: the preset's)"})
    catalog_url: str | None = field(default=None, metadata={"env": "SH_CATALOG_URL",
                                                            "help": "Catalog API URL (default: under the base URL)"})

    def resolved(self) -> deployments.Deployment:
        return deployments.resolve(self.deployment, token_url=self.auth_url, base_url=self.base_url,
                                   catalog_url=self.catalog_url)


@dataclass
class CatalogSettings(DeploymentSettings):
    collection: list[str] = field(default_factory=list, metadata={
        "help": "collection(s) to search (comma-separated; each is searched on its own)"})
    datetime: str | None = field(default=None, metadata={"help": "required: instant or interval, open ends "
                                                                 "allowed (2023-06-01/..)"})
    bbox: list[float] | None = field(default=None, metadata={"help": "west,south,east,north (CRS84)"})
    intersects: dict[str, Any] | None = field(default=None, metadata={"help": "a GeoJSON geometry (CRS84)"})
    ids: list[str] | None = field(default=None, metadata={"help": "only these item ids"})
    filter: str | dict[str, Any] | None = field(default=None, metadata={"help": "CQL2 text or JSON"})
    fields: list[str] | None = field(default=None, metadata={"help": "fields to include/-exclude"})
    limit: int = field(default=100, metadata={"help": "items per page (at most 100)"})
    max_items: int | None = field(default=None, metadata={"help": "stop after this many items"})
    method: Literal["POST", "GET"] = field(default="POST", metadata={"help": "search with POST (default) or GET"})
    search_every: float = field(default=0.0, metadata={
        "help": "seconds: search again only when the last complete search of the same query is older "
                "(default 0: every run)"})

    def __post_init__(self) -> None:
        self.query  # noqa: B018 (the server's rules, checked before anything is sent)
        if self.search_every < 0:
            raise ValueError("search_every must be zero or more")

    @functools.cached_property
    def query(self) -> SearchQuery:
        """The search, built (and checked) once; ``fields`` keep the found items STAC items."""
        from adapters.sentinelhub.query import SearchQuery, harvestable_fields

        return SearchQuery(list(self.collection), self.datetime or "", bbox=self.bbox, intersects=self.intersects,
                           ids=self.ids, filter=self.filter,
                           fields=harvestable_fields(self.fields) if self.fields else None, limit=self.limit,
                           max_items=self.max_items, method=self.method)


class _SentinelHub(Adapter):
    """What the Sentinel Hub adapters share: the deployment, the OAuth flow, the Catalog client."""

    def __init__(self, settings: DeploymentSettings, client: httpx.Client, source: SourceInfo) -> None:
        super().__init__(settings, client, source)
        self.deployment = settings.resolved()
        self._catalog: Client | None = None
        self._io: HttpxStacApiIO | None = None
        self._catalog_lock = threading.Lock()  # a search reads ahead in a thread while collections are asked for

    def check(self) -> None:
        if self.auth is None:
            from adapters.sentinelhub.client import sentinelhub_auth

            self.auth = sentinelhub_auth(self.deployment)

    def catalog(self) -> Client:
        """The Catalog API, opened once."""
        with self._catalog_lock:
            if self._catalog is None:
                from adapters.sentinelhub.catalog import HttpxStacApiIO, open_catalog

                _SentinelHub.check(self)  # the sign-in only, not a subclass's request checks
                self._io = HttpxStacApiIO(self.client, self.auth)
                self._catalog = open_catalog(self.deployment.catalog_url, self._io)
            return self._catalog

    def _scenes(self, request: Mapping[str, Any]) -> list[dict[str, str]]:
        """The Catalog scenes of each input (same collection, bbox and time range), for derived_from links."""
        from adapters.errors import ProviderError
        from adapters.sentinelhub.catalog import search_dicts
        from adapters.sentinelhub.names import request_bbox_wgs84
        from adapters.sentinelhub.query import SearchQuery

        bbox = request_bbox_wgs84(request)
        found: list[dict[str, str]] = []
        for data in (request.get("input") or {}).get("data") or []:
            collection = input_collection(data)
            time_range = (data.get("dataFilter") or {}).get("timeRange") or {}
            if collection is None or bbox is None:
                continue
            interval = f"{time_range.get('from') or '..'}/{time_range.get('to') or '..'}"
            try:
                cloud = (data.get("dataFilter") or {}).get("maxCloudCoverage")
                query = SearchQuery([collection], interval, bbox=list(bbox), max_items=MAX_SCENES,
                                    fields=["id"],  # only the ids are kept
                                    filter=None if cloud is None else f"eo:cloud_cover <= {float(cloud)}")
                url = self.deployment.catalog_url.rstrip("/")
                for item in search_dicts(self.catalog(), query):
                    found.append({"collection": collection, "id": str(item["id"]),
                                  "href": f"{url}/collections/{collection}/items/{item['id']}"})
            except (ProviderError, ValueError) as exc:
                log.warning("Sentinel Hub: the input scenes of %s could not be looked up: %s", collection, exc)
        return found


class SentinelHubCatalogAdapter(_SentinelHub):
    """Sentinel Hub Catalog: STAC items found by a search (pystac-client), assets left remote."""

    provider = CATALOG_PROVIDER
    kind = "search"
    Settings = CatalogSettings

    def search_again(self, last_complete: datetime | None) -> bool:
        every = self.settings.search_every
        if not every or last_complete is None:
            return True
        return datetime.now(timezone.utc) - last_complete >= timedelta(seconds=every)

    def search(self) -> Iterator[pystac.Item]:
        from adapters.sentinelhub.catalog import clean_item, search_dicts

        url = self.deployment.catalog_url
        for data in search_dicts(self.catalog(), self.settings.query):
            yield clean_item(data, url)

    def distinct(self, prop: str) -> list[Any]:
        from adapters.sentinelhub.catalog import distinct_values

        catalog = self.catalog()
        assert self._io is not None
        return distinct_values(catalog, self._io, self.settings.query, prop)

    def collection(self, collection_id: str) -> CollectionSpec:
        from adapters.sentinelhub.catalog import collection_document
        from adapters.sentinelhub.names import spec_from_document

        self.catalog()
        assert self._io is not None
        return spec_from_document(collection_document(self._io, self.deployment.catalog_url, collection_id))


# ------------------------------------------------------------------------------------------ async


@dataclass
class AsyncSettings(DeploymentSettings):
    request: Path | list[dict[str, Any]] | dict[str, Any] | None = field(default=None, metadata={
        "help": "Process API request(s) to submit: a JSON file (one request, or a list of them)",
        "positional": True})
    request_ids: list[str] = field(default_factory=list, metadata={"help": "fetch these existing request ids"})
    delivery: str | None = field(default=None, metadata={
        "help": "s3://bucket/prefix the outputs go to (default: the request's own output.delivery.s3.url)"})
    region: str | None = field(default=None, metadata={"help": "the delivery bucket's region (default: the "
                                                                "request's, else the AWS configuration's)"})
    scenes: bool = field(default=True, metadata={"help": "look up the input scenes in the Catalog (derived_from)"})
    submit_wait: float = field(default=600.0, metadata={
        "help": "seconds to keep retrying a submission refused for the concurrency limit (429)"})

    def __post_init__(self) -> None:
        if self.delivery is not None:
            from adapters.s3 import BadLocationError, S3Location

            try:
                S3Location.parse(self.delivery, what="delivery")
            except BadLocationError as exc:
                raise ValueError(str(exc)) from None
        if self.submit_wait < 0:
            raise ValueError("submit_wait must be zero or more")


class SentinelHubAsyncAdapter(_SentinelHub):
    """Sentinel Hub Async Process API: requests whose outputs land in S3, harvested into COG items."""

    provider = ASYNC_PROVIDER
    Settings = AsyncSettings
    worker_modules = ("adapters.sentinelhub.translate",)

    def __init__(self, settings: AsyncSettings, client: httpx.Client, source: SourceInfo) -> None:
        super().__init__(settings, client, source)
        self._requests: list[dict[str, Any]] | None = None
        self._s3: dict[str | None, Any] = {}

    def check(self) -> None:
        if self.submits():
            self._request_list()
        elif not self.settings.request_ids:
            raise RequestRejectedError(f"source {self.source.name}: give a request file to submit, or request_ids "
                                       "to fetch")
        elif self.settings.delivery is None:
            raise RequestRejectedError(f"source {self.source.name}: fetching request_ids needs the delivery "
                                       "(s3://bucket/prefix) they were written to")
        super().check()

    def submits(self) -> bool:
        return self.source.action == "submit" or (self.source.action == "auto" and self.settings.request is not None)

    def _request_list(self) -> list[dict[str, Any]]:
        """The requests of the request file, each with its delivery (checked, read once per run)."""
        if self._requests is None:
            from adapters.sentinelhub.names import load_requests

            if self.settings.request is None:
                raise RequestRejectedError(f"source {self.source.name}: nothing to submit: give a request file")
            self._requests = load_requests(self.settings.request, self.settings.delivery, self.settings.region)
        return self._requests

    def _async(self) -> Any:
        from adapters.sentinelhub.client import AsyncProcessClient

        super().check()
        return AsyncProcessClient(self.client, self.deployment, self.auth)  # type: ignore[arg-type]

    def submit(self) -> list[JobRef]:
        api = self._async()
        refs = []
        for i, request in enumerate(self._request_list()):
            request_id = self._submit_one(api, request, i)
            refs.append(self._ref(request_id, request))
            log.info("Sentinel Hub: async request %d submitted as %s", i + 1, request_id)
        return refs

    def _submit_one(self, api: Any, request: dict[str, Any], index: int) -> str:
        """Submit, waiting while the account's concurrency limit refuses it (429 beyond the transport's
        retries): requests beyond the limit wait their turn, up to ``submit_wait`` seconds."""
        deadline = time.monotonic() + self.settings.submit_wait
        wait = 1.0
        while True:
            try:
                return str(api.submit(request))
            except RateLimitedError as exc:
                if time.monotonic() + wait > deadline:
                    raise RateLimitedError(f"source {self.source.name}: request {index + 1}: still refused for the "
                                           f"concurrency limit after {self.settings.submit_wait:.0f} s ({exc})",
                                           exc.retry_after) from exc
                log.info("Sentinel Hub: concurrency limit reached; request %d waits %.0f s for its turn", index + 1,
                         wait)
                time.sleep(wait)
                wait = min(wait * 2, 30.0)

    def _ref(self, request_id: str, request: Mapping[str, Any]) -> JobRef:
        s3 = ((request.get("output") or {}).get("delivery") or {}).get("s3") or {}
        return JobRef(ASYNC_PROVIDER, request_id, self.source.name,
                      {"delivery": s3.get("url") or self.settings.delivery, "region": s3.get("region") or
                       self.settings.region, "request": sanitized_request(request)})

    def find(self) -> list[JobRef]:
        if self.submits():
            return []  # an interrupted submission cannot be found again: the API lists no requests
        return [JobRef(ASYNC_PROVIDER, request_id, self.source.name,
                       {"delivery": self.settings.delivery, "region": self.settings.region})
                for request_id in self.settings.request_ids]

    def poll(self, job: JobRef) -> JobStatus:
        if self._async().running(job.id):
            return JobStatus(JobState.RUNNING)
        from adapters.s3 import iter_objects, read_object

        location = self._location(job)
        s3 = self._s3_client(job.meta.get("region"))
        objects = list(iter_objects(s3, location))
        names = {obj.key[len(location.prefix):].lstrip("/"): obj for obj in objects}
        finished = datetime.now(timezone.utc).replace(microsecond=0)
        if "error.json" in names:
            text = read_object(s3, location.bucket, names["error.json"].key).decode("utf-8", "replace")
            return JobStatus(JobState.FAILED, _error_message(text), finished=finished)
        if not objects:
            return JobStatus(JobState.FAILED, f"the request is finished (or unknown) but {location}/ holds no "
                                              "outputs", finished=finished)
        meta: dict[str, Any] = {"objects": [{"name": n, "key": o.key, "size": o.size, "etag": o.etag}
                                            for n, o in sorted(names.items())]}
        if self.settings.scenes and job.meta.get("request"):
            meta["scenes"] = self._scenes(job.meta["request"])
        return JobStatus(JobState.SUCCEEDED, finished=finished, meta=meta)

    def _location(self, job: JobRef) -> Any:
        from adapters.s3 import S3Location

        delivery = job.meta.get("delivery")
        if not delivery:
            raise BadProductError(f"Sentinel Hub async request {job.id}: no delivery location is known")
        return S3Location.parse(str(delivery), what="delivery").child(job.id)

    def _s3_client(self, region: str | None) -> Any:
        if region not in self._s3:
            from adapters.s3 import make_s3_client

            self._s3[region] = make_s3_client(region)
        return self._s3[region]

    def outputs(self, job: JobRef, status: JobStatus) -> list[RemoteFile]:
        from adapters.s3 import presigned_url

        location = self._location(job)
        s3 = self._s3_client(job.meta.get("region"))
        expires = datetime.now(timezone.utc) + timedelta(seconds=PRESIGN_SECONDS)
        files = []
        for obj in status.meta.get("objects", []):
            etag = str(obj.get("etag") or "")
            checksum = f"md5:{etag}" if len(etag) == 32 and "-" not in etag else None  # a single-part upload's
            files.append(RemoteFile(presigned_url(s3, location.bucket, obj["key"], PRESIGN_SECONDS), obj["name"],
                                    int(obj["size"]), checksum, expires=expires))
        return files

    @staticmethod
    def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
                  workdir: Path, assets: AssetsMode, settings: Any) -> list[ItemDraft]:
        from adapters.sentinelhub.translate import translate_outputs

        return translate_outputs(ASYNC_COLLECTION, job, status, files, workdir)

    def collection(self, collection_id: str) -> CollectionSpec:
        return collection_spec(collection_id)


# ------------------------------------------------------------------------------------ sync Process


@dataclass
class ProcessSettings(DeploymentSettings):
    request: Path | None = field(default=None, metadata={
        "help": "Process API request(s) to send: a JSON file (one request, or a list of them)", "positional": True})
    accept: Literal["auto", "image/tiff", "application/tar"] = field(default="auto", metadata={
        "help": "response format: the TIFF itself, or a tar of every response and userdata.json (auto: tar "
                "when the request has several responses)"})


class SentinelHubProcessAdapter(_SentinelHub):
    """Sentinel Hub Process API (synchronous, small areas): the TIFF or tar answer harvested into COG items."""

    provider = PROCESS_PROVIDER
    Settings = ProcessSettings
    worker_modules = ("adapters.sentinelhub.translate",)

    def __init__(self, settings: ProcessSettings, client: httpx.Client, source: SourceInfo) -> None:
        super().__init__(settings, client, source)
        self._loaded: list[dict[str, Any]] | None = None

    def submits(self) -> bool:
        return True  # nothing to fetch: a request is answered when it is sent

    def _requests(self) -> list[dict[str, Any]]:
        """The requests of the request file (checked, read once per run)."""
        if self._loaded is None:
            from adapters.sentinelhub.names import load_process_requests

            if self.settings.request is None:
                raise RequestRejectedError(f"source {self.source.name}: give the request file to send")
            self._loaded = load_process_requests(self.settings.request)
        return self._loaded

    def check(self) -> None:
        self._requests()
        super().check()

    def submit(self) -> list[JobRef]:
        """One job per request, named by the request's content (the same request is the same job); the
        request itself is sent when its output is downloaded."""
        import hashlib

        refs = []
        for request in self._requests():
            digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:20]
            responses = (request.get("output") or {}).get("responses") or [{"identifier": "default"}]
            accept = self.settings.accept
            if accept == "auto":
                accept = "application/tar" if len(responses) > 1 else "image/tiff"
            name = "response.tar" if accept == "application/tar" else \
                f"{responses[0].get('identifier', 'default')}.tif"
            refs.append(JobRef(PROCESS_PROVIDER, digest, self.source.name,
                               {"request": sanitized_request(request), "accept": accept, "file": name}))
        return refs

    def find(self) -> list[JobRef]:
        return self.submit()  # deterministic: an interrupted submission is found again

    def poll(self, job: JobRef) -> JobStatus:
        meta: dict[str, Any] = {}
        if job.meta.get("request"):
            meta["scenes"] = self._scenes(job.meta["request"])
        return JobStatus(JobState.SUCCEEDED, finished=datetime.now(timezone.utc).replace(microsecond=0), meta=meta)

    def outputs(self, job: JobRef, status: JobStatus) -> list[RemoteFile]:
        request = next((r for r in self._requests() if sanitized_request(r) == job.meta.get("request")), None)
        if request is None:
            raise BadProductError(f"Sentinel Hub Process request {job.id}: no longer in "
                                  f"{self.settings.request}")
        super().check()  # the sign-in the download's auth=True needs
        return [RemoteFile(self.deployment.process_url, str(job.meta["file"]), auth=True,
                           post_json=json.dumps(request).encode(), headers=(("Accept", str(job.meta["accept"])),))]

    @staticmethod
    def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
                  workdir: Path, assets: AssetsMode, settings: Any) -> list[ItemDraft]:
        from adapters.sentinelhub.translate import translate_outputs

        return translate_outputs(PROCESS_COLLECTION, job, status, files, workdir)

    def collection(self, collection_id: str) -> CollectionSpec:
        return collection_spec(collection_id)


def _error_message(text: str) -> str:
    """What an ``error.json`` says (its ``error.message``, or the whole text, shortened)."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:500] or "error.json is empty"
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        message = error.get("message") or error.get("description") or json.dumps(error)
        code = error.get("code")
        return f"{message} ({code})" if code else str(message)
    return json.dumps(body)[:500]


