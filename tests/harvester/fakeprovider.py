"""A small test-only provider: an HTTP app with jobs, and the adapter that harvests it.

The app ("Fake EO service") behaves like the real services do in the ways the engine must cope with:
bearer-token auth (401 without), job submission, jobs that move PENDING -> RUNNING -> SUCCEEDED over
polls (or FAILED, or expire), several output files per job with size and SHA-256 (GeoTIFFs that are not
COGs, a mask, a CSV table, a README), files served with Range support and, for some, behind auth.

Products are deterministic: a job's id and files derive from its name, so two servers given the same
job names serve the same bytes. Fault injection is simkit's `FaultInjector` wrapped around the app.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import io
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.io import MemoryFile
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from adapters import registry
from adapters.base import Adapter, JobRef, JobState, JobStatus, RemoteFile
from adapters.errors import BadProductError, ProviderError, error_for_response
from adapters.simkit import range_response
from catalogs import stac
from catalogs.drafts import AssetDraft, ItemDraft
from catalogs.drafts import CollectionSpec
from adapters.auth import BearerToken

PROVIDER = "fakeprov"
COLLECTION = "fake-backscatter"
TABLE_COLLECTION = "fake-points"
EPOCH = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


# ----------------------------------------------------------------------------------------------- the app
@dataclass
class FakeJob:
    id: str
    name: str
    #: "raster", "table", "fail", "expired", "badname", "slow"; and raster jobs whose translation misbehaves
    #: in the worker (see `MISBEHAVING`) or whose draft has no date (item building fails: "nodate")
    kind: str
    polls: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    private: set[str] = field(default_factory=set)  # files that need the token


class FakeService:
    """The app. ``polls_to_finish`` polls of a job's status before it is terminal."""

    def __init__(self, token: str, *, polls_to_finish: int = 2, raster_size: int = 600,
                 now: datetime | None = None) -> None:
        self.token = token
        self.polls_to_finish = polls_to_finish
        self.raster_size = raster_size
        self.now = now or datetime.now(timezone.utc)
        self.jobs: dict[str, FakeJob] = {}
        self.submissions = 0
        self.file_gets: dict[str, int] = {}
        #: "<job id>/<file name>" served with damaged bytes (the listing still announces the good checksum)
        self.corrupt: set[str] = set()
        self._lock = threading.Lock()
        self.url = ""  # set by whoever serves the app (file URLs are absolute)
        self.urls = Map([
            Rule("/jobs", methods=["POST"], endpoint="submit"),
            Rule("/jobs", methods=["GET"], endpoint="list"),
            Rule("/jobs/<job_id>", methods=["GET"], endpoint="job"),
            Rule("/files/<job_id>/<path:name>", methods=["GET"], endpoint="file"),
        ])

    # WSGI
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, values = self.urls.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **values)
        except HTTPException as exc:
            response = Response(json.dumps({"detail": exc.description}), exc.code, mimetype="application/json")
        return response(environ, start_response)

    def add_job(self, name: str, kind: str = "raster") -> FakeJob:
        job_id = hashlib.sha256(name.encode()).hexdigest()[:12]
        with self._lock:
            if job_id not in self.jobs:
                job = FakeJob(job_id, name, kind)
                job.files, job.private = make_products(name, kind, self.raster_size)
                self.jobs[job_id] = job
            return self.jobs[job_id]

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _deny(self) -> Response:
        return Response(json.dumps({"detail": "No authorization token provided", "status": 401}), 401,
                        mimetype="application/json")

    def on_submit(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._deny()
        body = request.get_json(silent=True) or {}
        specs = body.get("jobs")
        if not isinstance(specs, list) or not specs:
            return Response(json.dumps({"detail": "jobs: a non-empty list is required"}), 400,
                            mimetype="application/json")
        with self._lock:
            self.submissions += 1
        jobs = [self.add_job(spec["name"], spec.get("kind", "raster")) for spec in specs]
        return _json({"jobs": [self._job_json(j, poll=False) for j in jobs]})

    def on_list(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._deny()
        prefix = request.args.get("name", "")
        jobs = [self._job_json(j, poll=False) for j in self.jobs.values() if j.name.startswith(prefix)]
        return _json({"jobs": jobs})

    def on_job(self, request: Request, job_id: str) -> Response:
        if not self._authorized(request):
            return self._deny()
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        return _json(self._job_json(job, poll=True))

    def on_file(self, request: Request, job_id: str, name: str) -> Response:
        job = self.jobs.get(job_id)
        if job is None or name not in job.files:
            raise NotFound("no such file")
        if name in job.private and not self._authorized(request):
            return self._deny()
        with self._lock:
            self.file_gets[f"{job_id}/{name}"] = self.file_gets.get(f"{job_id}/{name}", 0) + 1
        data = job.files[name]
        if f"{job_id}/{name}" in self.corrupt:
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        return range_response(request, len(data), lambda offset, length: data[offset:offset + length],
                              etag=hashlib.md5(data).hexdigest(), content_type="application/octet-stream")

    def _job_json(self, job: FakeJob, *, poll: bool) -> dict[str, Any]:
        if poll:
            with self._lock:
                job.polls += 1
        finished = job.polls >= self.polls_to_finish and job.kind != "slow"
        status = "PENDING" if job.polls == 0 else "RUNNING"
        if finished:
            status = "FAILED" if job.kind == "fail" else "SUCCEEDED"
        out: dict[str, Any] = {"job_id": job.id, "name": job.name, "kind": job.kind, "status_code": status,
                               "request_time": EPOCH.isoformat()}
        if status == "SUCCEEDED":
            expires = self.now - timedelta(days=1) if job.kind == "expired" else self.now + timedelta(days=14)
            out["expiration_time"] = expires.isoformat()
            out["files"] = [
                {"url": f"{self.url}/files/{job.id}/{name}", "filename": name, "size": len(data),
                 "sha256": hashlib.sha256(data).hexdigest()}
                for name, data in sorted(job.files.items())
            ]
        if status == "FAILED":
            out["error"] = "processing failed: the input scene has no overlap with the DEM"
        return out


def _json(data: Any) -> Response:
    return Response(json.dumps(data), 200, mimetype="application/json")


def make_products(name: str, kind: str, size: int) -> tuple[dict[str, bytes], set[str]]:
    """The files of a job: deterministic from its name."""
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    base = name.upper().replace("-", "_")
    files: dict[str, bytes] = {}
    if kind in ("table", "multi"):
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["pid", "latitude", "longitude", "mean_velocity"])
        for i in range(50 if kind == "table" else 100):
            writer.writerow([i, round(69.3 + rng.random() * 0.05, 6), round(20.1 + rng.random() * 0.05, 6),
                             round(float(rng.normal(0, 3)), 3)])
        files[f"{base}.{'multi.' if kind == 'multi' else ''}csv"] = buf.getvalue().encode()
        return files, set()
    x0 = 500_000 + (seed % 50) * 1000
    transform = Affine(30.0, 0.0, x0, 0.0, -30.0, 7_700_000)
    data = rng.gamma(2.0, 0.05, (size, size)).astype("float32")
    data[:, : size // 10] = 0  # a nodata margin
    files[f"{base}_VV.tif"] = _geotiff(data, transform, nodata=0.0)
    mask = (data > 0).astype("uint8")
    files[f"{base}_mask.tif"] = _geotiff(mask, transform, nodata=None)
    files[f"{base}.README.txt"] = f"Fake product {name}\nProcessed by the fake EO service.\n".encode()
    if kind == "badname":
        files["../escape.txt"] = b"should never be written"
        files["..\\evil.txt"] = b"nor this"
    return files, {f"{base}.README.txt"}


def _geotiff(array: np.ndarray, transform: Affine, nodata: float | None) -> bytes:
    """A plain striped GeoTIFF (not a COG), UTM 33N."""
    profile = {"driver": "GTiff", "height": array.shape[0], "width": array.shape[1], "count": 1,
               "dtype": str(array.dtype), "crs": "EPSG:32633", "transform": transform, "nodata": nodata,
               "compress": "deflate"}
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(array, 1)
        return mem.read()


# ----------------------------------------------------------------------------------------------- the adapter
@dataclass
class FakeSettings:
    url: str = field(default="http://127.0.0.1:9", metadata={"env": "FAKEPROV_URL", "help": "service URL"})
    jobs: list[str] = field(default_factory=list, metadata={"help": "job names to submit, as name:kind"})
    prefix: str = field(default="", metadata={"help": "fetch the existing jobs whose name starts with this"})


class FakeAdapter(Adapter):
    """Harvests the fake EO service (tests only)."""

    provider = PROVIDER
    Settings = FakeSettings

    def __init__(self, settings: FakeSettings, client: Any, source: Any) -> None:
        super().__init__(settings, client, source)
        token = os.environ.get("FAKEPROV_TOKEN")
        self.auth = BearerToken(token) if token else None

    def submits(self) -> bool:
        return self.source.action == "submit" or (self.source.action == "auto" and bool(self.settings.jobs))

    def _get(self, path: str, what: str, **params: Any) -> Any:
        response = self.client.get(f"{self.settings.url}{path}", params=params, auth=self.auth)
        if response.status_code != 200:
            raise error_for_response(response, what, _detail(response))
        return response.json()

    def check(self) -> None:
        self._get("/jobs", "fake service: list jobs", name="\x00none")

    def submit(self) -> list[JobRef]:
        specs = [{"name": n.split(":")[0], "kind": (n.split(":") + ["raster"])[1]} for n in self.settings.jobs]
        response = self.client.post(f"{self.settings.url}/jobs", json={"jobs": specs}, auth=self.auth)
        if response.status_code != 200:
            raise error_for_response(response, "fake service: submit jobs", _detail(response))
        return [JobRef(PROVIDER, j["job_id"], j["name"]) for j in response.json()["jobs"]]

    def find(self) -> list[JobRef]:
        names = {n.split(":")[0] for n in self.settings.jobs}
        jobs = self._get("/jobs", "fake service: list jobs", name=self.settings.prefix)["jobs"]
        return [JobRef(PROVIDER, j["job_id"], j["name"]) for j in jobs if not names or j["name"] in names]

    def poll(self, job: JobRef) -> JobStatus:
        data = self._get(f"/jobs/{job.id}", f"fake service job {job.id}")
        state = {"PENDING": JobState.PENDING, "RUNNING": JobState.RUNNING, "SUCCEEDED": JobState.SUCCEEDED,
                 "FAILED": JobState.FAILED}[data["status_code"]]
        expires = datetime.fromisoformat(data["expiration_time"]) if "expiration_time" in data else None
        if data["kind"] == "unsendable":  # an adapter bug: something that cannot leave this process
            data["lock"] = threading.Lock()
        return JobStatus(state, data.get("error"), expires=expires, meta=data)

    def outputs(self, job: JobRef, status: JobStatus) -> list[RemoteFile]:
        private = {n for n in (f["filename"] for f in status.meta["files"]) if n.endswith(".README.txt")}
        return [RemoteFile(f["url"], f["filename"], f["size"], f"sha256:{f['sha256']}", auth=f["filename"] in private,
                           expires=status.expires)
                for f in status.meta["files"]]

    @staticmethod
    def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
                  workdir: Path, assets: str, settings: Any) -> list[ItemDraft]:
        misbehave(status.meta.get("kind", ""), job.id, workdir)
        name = status.meta.get("name") or job.name or job.id
        item_id = name.upper().replace("-", "_")
        props = {"fake:job_id": job.id, "processing:software": {"fake-eo": "1.0"}}
        if any(n.endswith(".multi.csv") for n in files):
            return _point_items(job, item_id, next(iter(files.values())), props)
        if any(n.endswith(".csv") for n in files):
            csv_path = next(p for n, p in files.items() if n.endswith(".csv"))
            lons, lats = [], []
            with open(csv_path, newline="") as fh:
                for row in csv.DictReader(fh):
                    try:
                        lons.append(float(row["longitude"]))
                        lats.append(float(row["latitude"]))
                    except (KeyError, ValueError) as exc:
                        raise BadProductError(f"job {job.id}: {csv_path.name}: bad row {row!r}") from exc
            geometry = {"type": "Polygon", "coordinates": [[[min(lons), min(lats)], [max(lons), min(lats)],
                        [max(lons), max(lats)], [min(lons), max(lats)], [min(lons), min(lats)]]]}
            return [ItemDraft(item_id, TABLE_COLLECTION, datetime=EPOCH, properties=props, geometry=geometry,
                              assets={"data": AssetDraft(csv_path, roles=("data",), media_type=stac.CSV)},
                              stac_extensions=[stac.PROCESSING])]
        by_suffix = {n.rsplit("_", 1)[-1]: p for n, p in files.items()}
        try:
            vv, mask = by_suffix["VV.tif"], by_suffix["mask.tif"]
        except KeyError as exc:
            raise BadProductError(f"job {job.id}: product {name} has no {exc.args[0]} file") from None
        readme = next((p for n, p in files.items() if n.endswith(".README.txt")), None)
        drafts_assets = {
            "VV": AssetDraft(vv, roles=("data",), title="VV backscatter", kind="continuous"),
            "mask": AssetDraft(mask, roles=("data-mask",), title="Valid-data mask", kind="mask"),
        }
        if readme is not None:
            drafts_assets["readme"] = AssetDraft(readme, roles=("metadata",), media_type="text/plain")
        when = None if status.meta.get("kind") == "nodate" else EPOCH  # an adapter bug, found by pystac
        return [ItemDraft(item_id, COLLECTION, datetime=when, properties=props, assets=drafts_assets,
                          stac_extensions=[stac.PROCESSING], footprint_asset="VV")]

    def collection(self, collection_id: str) -> CollectionSpec:
        provider = [{"name": "Fake EO service", "roles": ["producer", "processor"]}]
        if collection_id == TABLE_COLLECTION:
            return CollectionSpec(TABLE_COLLECTION, "Fake point tables", license="CC0-1.0", providers=provider)
        return CollectionSpec(COLLECTION, "Fake SAR backscatter", license="CC0-1.0", providers=provider,
                              summaries=["proj:code"])


class StubbornError(Exception):
    """An error whose ``__init__`` does not take its message, so it cannot be unpickled (``cls(*args)`` fails):
    what NotARasterError was before HarvestError learnt to pickle. Not a HarvestError."""

    def __init__(self, job_id: str, reason: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id}: {reason}")


#: job kinds whose translation misbehaves in the worker process (so only for a process executor: inline, the
#: last two would end the test run): raises an unpicklable exception, exits, segfaults; "stall": the first
#: attempt waits to be killed (`stall_files`); "unsendable": the job's status holds a lock (poll puts it there)
MISBEHAVING = ("unpicklable", "exit", "segfault", "leaky", "stall", "unsendable")
#: what a "leaky" translation's error quotes, as GDAL quotes a signed URL it could not read
LEAKED_SECRET = "SIG-0b5e9d"


def stall_files(workdir: Path) -> tuple[Path, Path]:
    """Beside a "stall" job's work folder: the process id of its first attempt (written once it waits to be
    killed), and one line per attempt with the process id that made it."""
    return workdir.with_name(workdir.name + ".pid"), workdir.with_name(workdir.name + ".attempts")


def misbehave(kind: str, job_id: str, workdir: Path | None = None) -> None:
    if kind == "stall":  # needs the work folder
        assert workdir is not None, "a stalling task needs its work folder"
        marker, attempts = stall_files(Path(workdir))
        marker.parent.mkdir(parents=True, exist_ok=True)
        with open(attempts, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        if not marker.exists():
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(str(os.getpid()))
            tmp.rename(marker)
            time.sleep(120)  # the test kills this process long before
        return
    if kind == "unpicklable":
        raise StubbornError(job_id, "the translator tripped over a product it did not expect")
    if kind == "exit":
        os._exit(1)
    if kind == "leaky":
        raise OSError(f"'/vsicurl/https://bucket.example/{job_id}_VV.tif?X-Amz-Signature={LEAKED_SECRET}' "
                      "not recognized as being in a supported file format")
    if kind == "segfault":
        _no_core_dump()
        ctypes.string_at(0)  # reads address 0: SIGSEGV, as a crash inside GDAL would


def _no_core_dump() -> None:
    """Keep a deliberate segfault from writing a core file (or handing one to a crash collector)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4: no dump even through a core_pattern pipe


def _point_items(job: JobRef, base: str, path: Path, props: dict[str, Any]) -> list[ItemDraft]:
    """One item per row of a "multi" product (many small items, for benchmarks)."""
    drafts = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            point = {"type": "Point", "coordinates": [float(row["longitude"]), float(row["latitude"])]}
            drafts.append(ItemDraft(f"{base}_{row['pid']}", TABLE_COLLECTION, datetime=EPOCH,
                                    properties={**props, "fake:velocity": float(row["mean_velocity"])},
                                    geometry=point, stac_extensions=[stac.PROCESSING],
                                    assets={"data": AssetDraft(path, roles=("data",), media_type=stac.CSV)}))
    return drafts


def _detail(response: Any) -> str | None:
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return None


@dataclass
class SearchSettings:
    count: int = 3
    #: item numbers given an id that is not a safe file name
    bad_ids: list[int] = field(default_factory=list)
    #: the search fails (as a lost connection) after yielding this many items
    fail_after: int | None = None


class FakeSearchAdapter(Adapter):
    """A search-type source: items of a (pretend) STAC API, assets left where they are."""

    provider = "fakesearch"
    kind = "search"
    Settings = SearchSettings

    def search(self) -> Any:
        import pystac

        for i in range(self.settings.count):
            if i == self.settings.fail_after:
                raise ProviderError(f"{self.provider}: the search's page {i} could not be fetched")
            item_id = f"S2 SCENE {i}" if i in self.settings.bad_ids else f"S2_SCENE_{i}"
            item = pystac.Item(item_id, {"type": "Point", "coordinates": [20.0 + i, 69.0]},
                               [20.0 + i, 69.0, 20.0 + i, 69.0], EPOCH + timedelta(days=i), {}, collection="fake-s2")
            item.add_asset("B04", pystac.Asset(f"https://example.com/scenes/{i}/B04.tif", media_type=stac.COG,
                                               roles=["data"]))
            yield item

    def collection(self, collection_id: str) -> CollectionSpec:
        return CollectionSpec(collection_id, "Scenes found by a search", license="proprietary")


def write_config(path: Path, catalog: Path | str, url: str, jobs: list[str], *, name: str = "fake",
                 **run: Any) -> Path:
    """Write a TOML config harvesting ``jobs`` from the fake service at ``url``; ``run`` sets [run] keys
    (default: inline executor, fast polling)."""
    options = {"executor": "inline", "poll_interval": 0.02, "poll_max_interval": 0.05, **run}
    lines = ["[catalog]", f"path = {json.dumps(str(catalog))}", 'title = "Fake harvest"', "", "[run]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    lines += ["", "[[sources]]", f'provider = "{PROVIDER}"', f"name = {json.dumps(name)}",
              f"url = {json.dumps(url)}", f"jobs = {json.dumps(jobs)}", ""]
    path.write_text("\n".join(lines))
    return path


def register() -> None:
    registry.register(PROVIDER, FakeAdapter)
    registry.register(FakeSearchAdapter.provider, FakeSearchAdapter)
