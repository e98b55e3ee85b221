"""A simulator of Sentinel Hub (``seeds/sentinelhub-api-reference.txt``, ``PROVIDERS.md`` "Sentinel Hub"), as a
WSGI app.

- OAuth: ``POST /auth/realms/main/protocol/openid-connect/token`` (client credentials as form fields) ->
  ``access_token``, ``expires_in``; tokens expire (``token_lifetime``), an expired or unknown one gets 401;
  more than ``token_burst`` token requests within ``token_window`` seconds get 429 with ``Retry-After``.
- Catalog (``/api/v1/catalog/1.0.0/``): landing page (``conformance="full"``, or ``"core"`` as old
  deployments under-declare), ``/conformance``, ``/collections``, ``/collections/{id}``, its ``queryables``
  and ``items/{id}``, ``/search`` GET and POST (`adapters.sentinelhub.simcatalog`): bbox, intersects,
  datetime intervals with open ends, ids, limit (1..100), fields, a CQL2 subset, ``distinct``; 400 on
  several collections or a missing datetime; paging by ``context.next`` with (``paging="link"``) or without
  (``paging="context"``) a ``next`` link (POST with ``merge``, or GET with ``next=N``).
- Async Process (``/api/v1/async/process``): a submitted request runs for ``polls_to_finish`` status GETs
  (or ``run_seconds``); status answers 200 while it runs and 404 once it finished or failed. Then its
  outputs are in the delivery bucket under ``<prefix>/<request_id>/``: one GeoTIFF per response identifier
  (`adapters.sentinelhub.simrasters`) and ``userdata.json``, or only ``error.json`` when the request is told
  to fail (an evalscript containing ``sim-fail``). More than ``concurrency`` running requests: 429.
  The bucket is on an S3 server the simulator is given (``s3``: a function returning a boto3 client, called
  when the first output is written: moto is started only then); a missing bucket is created.
- Process (``/api/v1/process``): the TIFF itself, or with ``Accept: application/tar`` (or several
  responses) a tar of ``<identifier>.tif`` and ``userdata.json``.

Run ``python -m adapters.sentinelhub.simulator`` to serve it (with its own loopback S3) on loopback.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import logging
import secrets
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from adapters.sentinelhub.deployments import ASYNC_PATH, CATALOG_PATH, PROCESS_PATH
from adapters.sentinelhub.simcatalog import COLLECTIONS, Scene, Search, SearchError, make_scenes
from adapters.simkit import ServedSimulator, serve_simulator, wait_for_stdin_close

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

TOKEN_PATH = "/auth/realms/main/protocol/openid-connect/token"
FULL_CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "https://api.stacspec.org/v1.0.0/item-search#context",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
]
CORE_CONFORMANCE = ["https://api.stacspec.org/v1.0.0-beta.1/core"]
DEFAULT_START = datetime(2020, 12, 1, tzinfo=timezone.utc)
FAIL_MARKER = "sim-fail"


class _Problem(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    reasons = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
    body = {"error": {"status": status, "reason": reasons.get(status, "Error"), "message": message,
                      "code": {401: "COMMON_UNAUTHORIZED", 404: "COMMON_NOT_FOUND", 429: "COMMON_RATE_LIMIT"}.get(
                          status, "COMMON_BAD_PAYLOAD")}}
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def _json(data: Any, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(data), mimetype=mimetype)


@dataclass
class AsyncRequest:
    id: str
    body: dict[str, Any]
    submitted: float
    polls: int = 0
    finished: bool = False


@dataclass
class Counters:
    tokens: int = 0


class SentinelHubSimulator:
    """Sentinel Hub as a WSGI app (see the module docstring).

    ``collections``: how many scenes each Catalog collection holds (from ``start``, 5 days per revisit of
    12 tiles); ``clock``: seconds (``time.monotonic`` by default; tests move it to expire tokens).
    """

    def __init__(self, *, client_id: str = "sim-client", client_secret: str = "sim-secret",
                 token_lifetime: float = 3600.0, token_burst: int = 1000, token_window: float = 60.0,
                 collections: dict[str, int] | None = None, start: datetime = DEFAULT_START,
                 paging: str = "link", conformance: str = "full", concurrency: int = 2, polls_to_finish: int = 2,
                 run_seconds: float = 30.0, s3: Callable[[], Any] | None = None, max_size: int = 1024,
                 clock: Callable[[], float] = time.monotonic, seed: int = 0) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.token_burst = token_burst
        self.token_window = token_window
        self.paging = paging
        self.conformance = conformance
        self.concurrency = concurrency
        self.polls_to_finish = polls_to_finish
        self.run_seconds = run_seconds
        self.max_size = max_size
        self.seed = seed
        self.url = ""
        self.counters = Counters()
        self.async_requests: dict[str, AsyncRequest] = {}
        #: how many 429s submissions got (the concurrency limit)
        self.refused_submissions = 0
        self._s3_factory = s3
        self._s3: Any = None
        self.clock = clock
        self._tokens: dict[str, float] = {}
        self._token_times: deque[float] = deque()
        self._lock = threading.RLock()
        self._collection_sizes = dict(collections if collections is not None else
                                      {"sentinel-2-l2a": 120, "sentinel-2-l1c": 60})
        self._start = start
        self._scenes: dict[str, list[Scene]] = {}
        self._matches: dict[str, list[tuple[Scene, dict[str, Any]]]] = {}
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"sentinelhub-simulator/{seed}")
        self._submissions: Counter[str] = Counter()
        catalog = CATALOG_PATH.rstrip("/")
        self._routes = Map([
            Rule(TOKEN_PATH, methods=["POST"], endpoint="token"),
            Rule(f"{catalog}/", methods=["GET"], endpoint="landing"),
            Rule(f"{catalog}/conformance", methods=["GET"], endpoint="conformance"),
            Rule(f"{catalog}/collections", methods=["GET"], endpoint="collections"),
            Rule(f"{catalog}/collections/<cid>", methods=["GET"], endpoint="collection"),
            Rule(f"{catalog}/collections/<cid>/queryables", methods=["GET"], endpoint="queryables"),
            Rule(f"{catalog}/collections/<cid>/items/<item_id>", methods=["GET"], endpoint="item"),
            Rule(f"{catalog}/search", methods=["GET", "POST"], endpoint="search"),
            Rule(ASYNC_PATH, methods=["POST"], endpoint="async_submit"),
            Rule(f"{ASYNC_PATH}/<request_id>", methods=["GET"], endpoint="async_status"),
            Rule(PROCESS_PATH, methods=["POST"], endpoint="process"),
        ], strict_slashes=False)

    # ------------------------------------------------------------------------------ Python API
    @property
    def token_url(self) -> str:
        return f"{self.url}{TOKEN_PATH}"

    @property
    def catalog_url(self) -> str:
        return f"{self.url}{CATALOG_PATH}"

    @property
    def collections(self) -> list[str]:
        return sorted(self._collection_sizes)

    def scenes(self, collection: str) -> list[Scene]:
        """The scenes of a collection, oldest first (made on first use)."""
        with self._lock:
            if collection not in self._scenes:
                self._scenes[collection] = make_scenes(collection, self._collection_sizes.get(collection, 0),
                                                       self._start)
            return self._scenes[collection]

    def update_scene(self, collection: str, scene_id: str, **properties: Any) -> None:
        """Change properties of a scene (as a reprocessing would): searches show the new values."""
        with self._lock:
            scene = next(s for s in self.scenes(collection) if s.id == scene_id)
            scene.properties.update(properties)
            self._matches.clear()

    def expire_tokens(self) -> None:
        """Make every token issued so far expired (the next request with one gets 401)."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = -1.0

    def s3(self) -> Any:
        """The boto3 client of the delivery S3 server (started on first use)."""
        with self._lock:
            if self._s3 is None:
                if self._s3_factory is None:
                    raise RuntimeError("the simulator was given no S3 server for Async Process deliveries")
                self._s3 = self._s3_factory()
            return self._s3

    # ------------------------------------------------------------------------------------ WSGI
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, values = self._routes.bind_to_environ(environ).match()
            if endpoint != "token":
                self._authorize(request)
            response = getattr(self, f"on_{endpoint}")(request, **values)
        except _Problem as exc:
            response = _error(exc.status, exc.message, exc.headers)
        except HTTPException as exc:
            response = _error(exc.code or 500, exc.description or exc.name)
        return response(environ, start_response)

    def _base(self, request: Request) -> str:
        return (self.url or request.host_url).rstrip("/")

    def _authorize(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        with self._lock:
            expires = self._tokens.get(token)
        if expires is None or expires <= self.clock():
            raise _Problem(401, "Token expired or invalid" if expires is not None else "Unauthorized")

    # ---------------------------------------------------------------------------------- OAuth
    def on_token(self, request: Request) -> Response:
        now = self.clock()
        with self._lock:
            while self._token_times and self._token_times[0] <= now - self.token_window:
                self._token_times.popleft()
            if len(self._token_times) >= self.token_burst:
                retry = max(1, round(self._token_times[0] + self.token_window - now))
                raise _Problem(429, "Too many token requests", {"Retry-After": str(retry)})
            self._token_times.append(now)
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return Response(json.dumps({"error": "unsupported_grant_type"}), status=400, mimetype="application/json")
        ok = (hmac.compare_digest(form.get("client_id", "").encode(), self.client_id.encode())
              and hmac.compare_digest(form.get("client_secret", "").encode(), self.client_secret.encode()))
        if not ok:
            return Response(json.dumps({"error": "unauthorized_client",
                                        "error_description": "Invalid client or Invalid client credentials"}),
                            status=401, mimetype="application/json")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = now + self.token_lifetime
            self.counters.tokens += 1
        return _json({"access_token": token, "expires_in": int(self.token_lifetime), "token_type": "Bearer",
                      "not-before-policy": 0, "scope": "email profile"})

    # -------------------------------------------------------------------------------- Catalog
    def on_landing(self, request: Request) -> Response:
        base = self._base(request) + CATALOG_PATH.rstrip("/")
        links = [
            {"href": f"{base}/", "rel": "self", "type": "application/json"},
            {"href": f"{base}/", "rel": "root", "type": "application/json"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
            {"href": f"{base}/search", "rel": "search", "type": "application/geo+json", "method": "GET"},
            {"href": f"{base}/search", "rel": "search", "type": "application/geo+json", "method": "POST"},
        ] + [{"href": f"{base}/collections/{cid}", "rel": "child", "type": "application/json"}
             for cid in self._collection_sizes]
        body = {"type": "Catalog", "stac_version": "1.0.0", "id": "sentinel-hub",
                "title": "Sentinel Hub STAC catalog", "description": "STAC v1.0.0 implementation by Sentinel Hub",
                "conformsTo": FULL_CONFORMANCE if self.conformance == "full" else CORE_CONFORMANCE,
                "links": links}
        return _json(body)

    def on_conformance(self, request: Request) -> Response:
        return _json({"conformsTo": FULL_CONFORMANCE})

    def _collection(self, base: str, cid: str) -> dict[str, Any]:
        if cid not in self._collection_sizes:
            raise _Problem(404, f"Collection {cid} not found")
        scenes = self.scenes(cid)
        info = COLLECTIONS.get(cid, {"title": cid})
        first = scenes[0].datetime.strftime("%Y-%m-%dT%H:%M:%SZ") if scenes else None
        return {
            "stac_version": "1.0.0",
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.0.0/schema.json",
                                "https://stac-extensions.github.io/projection/v1.0.0/schema.json"],
            "type": "Collection", "id": cid, "title": info["title"],
            "description": f"{info['title']} imagery",
            "license": "proprietary",
            "providers": [{"name": "Sentinel Hub", "roles": ["processor", "host"],
                           "url": "https://www.sentinel-hub.com/"},
                          {"name": "ESA", "roles": ["producer", "licensor"], "url": "https://sentinel.esa.int/"}],
            "keywords": ["sentinel", "copernicus", "esa", "msi"],
            "extent": {"spatial": {"bbox": [[-180, -56, 180, 83]]}, "temporal": {"interval": [[first, None]]}},
            "summaries": {"platform": ["sentinel-2a", "sentinel-2b"], "instruments": ["msi"],
                          "constellation": ["sentinel-2"], "gsd": [10]},
            "links": [
                {"href": f"{base}/collections/{cid}", "rel": "self", "type": "application/json"},
                {"href": f"{base}/", "rel": "root", "type": "application/json"},
                {"href": f"{base}/", "rel": "parent", "type": "application/json"},
                {"href": f"{base}/collections/{cid}/queryables", "rel": "http://www.opengis.net/def/rel/ogc/1.0/"
                 "queryables", "type": "application/schema+json"},
                {"href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice",
                 "rel": "license", "title": "Legal notice on the use of Copernicus Sentinel Data and Service "
                                            "Information"},
            ],
        }

    def on_collections(self, request: Request) -> Response:
        base = self._base(request) + CATALOG_PATH.rstrip("/")
        return _json({"collections": [self._collection(base, cid) for cid in self._collection_sizes],
                      "links": [{"href": f"{base}/collections", "rel": "self"}]})

    def on_collection(self, request: Request, cid: str) -> Response:
        return _json(self._collection(self._base(request) + CATALOG_PATH.rstrip("/"), cid))

    def on_queryables(self, request: Request, cid: str) -> Response:
        self._collection("", cid)
        return _json({"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object",
                      "title": f"Queryables of {cid}",
                      "properties": {"eo:cloud_cover": {"type": "number", "minimum": 0, "maximum": 100},
                                     "platform": {"type": "string"}, "proj:epsg": {"type": "integer"}}},
                     "application/schema+json")

    def on_item(self, request: Request, cid: str, item_id: str) -> Response:
        self._collection("", cid)
        base = self._base(request) + CATALOG_PATH
        for scene in self.scenes(cid):
            if scene.id == item_id:
                return _json(scene.item(base), "application/geo+json")
        raise _Problem(404, f"Item {item_id} not found")

    def on_search(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                params = json.loads(request.get_data() or b"{}")
            except ValueError:
                raise _Problem(400, "The request body is not JSON") from None
            if not isinstance(params, dict):
                raise _Problem(400, "The request body must be a JSON object")
        else:
            params = dict(request.args)
        try:
            search = Search.from_params(params, set(self._collection_sizes))
            matches = self._matching(search, self._base(request) + CATALOG_PATH)
        except SearchError as exc:
            raise _Problem(400, str(exc)) from None
        page = matches[search.next: search.next + search.limit]
        after = search.next + len(page)
        if search.distinct:
            values = sorted({json.dumps(item["properties"].get(search.distinct)) for _, item in matches
                             if search.distinct in item["properties"]})
            distinct = [json.loads(v) for v in values]
            page_values = distinct[search.next: search.next + search.limit]
            after = search.next + len(page_values)
            features: list[Any] = page_values
            more = after < len(distinct)
        else:
            features = [self._shaped(item, search) for _, item in page]
            more = after < len(matches)
        body: dict[str, Any] = {"type": "FeatureCollection", "features": features, "links": []}
        base = self._base(request) + CATALOG_PATH.rstrip("/")
        body["links"].append({"href": f"{base}/search", "rel": "self", "type": "application/geo+json"})
        context: dict[str, Any] = {"limit": search.limit, "returned": len(features)}
        if more:
            context["next"] = after
            if self.paging == "link":
                if request.method == "POST":
                    body["links"].append({"href": f"{base}/search", "rel": "next", "type": "application/geo+json",
                                          "title": "Next set of results", "method": "POST",
                                          "body": {"next": after}, "merge": True})
                else:
                    query = {k: v for k, v in request.args.items() if k != "next"}
                    query["next"] = str(after)
                    body["links"].append({"href": f"{base}/search?{urlencode(query)}", "rel": "next",
                                          "type": "application/geo+json"})
        body["context"] = context
        return _json(body, "application/geo+json")

    def _matching(self, search: Search, catalog_url: str) -> list[tuple[Scene, dict[str, Any]]]:
        key = search.key()
        with self._lock:
            cached = self._matches.get(key)
        if cached is not None:
            return cached
        shape = None
        if search.intersects is not None:
            from shapely.geometry import shape as to_shape

            try:
                shape = to_shape(search.intersects)
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                raise SearchError(f"intersects: not a GeoJSON geometry ({exc})") from None
        found = []
        for scene in self.scenes(search.collection):
            item = scene.item(catalog_url)
            if search.matches(scene, item, shape):
                found.append((scene, item))
        with self._lock:
            if len(self._matches) > 64:
                self._matches.clear()
            self._matches[key] = found
        return found

    @staticmethod
    def _shaped(item: dict[str, Any], search: Search) -> dict[str, Any]:
        from adapters.sentinelhub.simcatalog import apply_fields

        if not (search.include or search.exclude):
            return item  # serialised as it is: the cached item is never changed
        return apply_fields(json.loads(json.dumps(item)), search.include, search.exclude)

    # ---------------------------------------------------------------------------- Async Process
    def on_async_submit(self, request: Request) -> Response:
        body = self._process_body(request)
        s3 = ((body["output"].get("delivery") or {}).get("s3")) or {}
        if not str(s3.get("url", "")).startswith("s3://"):
            raise _Problem(400, "output.delivery.s3.url is required (s3://bucket/prefix)")
        if not (s3.get("iamRoleARN") or (s3.get("accessKey") and s3.get("secretAccessKey"))):
            raise _Problem(400, "output.delivery.s3 needs accessKey and secretAccessKey, or iamRoleARN")
        with self._lock:
            self._advance()
            if sum(1 for r in self.async_requests.values() if not r.finished) >= self.concurrency:
                self.refused_submissions += 1
                raise _Problem(429, "Too many concurrent async requests; try again when one has finished",
                               {"Retry-After": "1"})
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            self._submissions[digest] += 1
            request_id = str(uuid.uuid5(self._namespace, f"{digest}/{self._submissions[digest]}"))
            self.async_requests[request_id] = AsyncRequest(request_id, body, self.clock())
        return _json({"id": request_id, "status": "RUNNING"})

    def on_async_status(self, request: Request, request_id: str) -> Response:
        with self._lock:
            entry = self.async_requests.get(request_id)
            if entry is not None and not entry.finished:
                entry.polls += 1
            self._advance()
            if entry is None or entry.finished:
                raise _Problem(404, f"Request {request_id} not found")
        return _json({"id": request_id, "status": "RUNNING"})

    def _advance(self) -> None:
        """Finish the requests whose time has come, writing their outputs (the lock is held)."""
        now = self.clock()
        for entry in self.async_requests.values():
            if not entry.finished and (entry.polls >= self.polls_to_finish or now - entry.submitted >= self.run_seconds):
                self._deliver(entry)
                entry.finished = True

    def _deliver(self, entry: AsyncRequest) -> None:
        from adapters.s3 import S3Location
        from adapters.sentinelhub.simrasters import render_tiff, userdata

        s3 = self.s3()
        location = S3Location.parse(entry.body["output"]["delivery"]["s3"]["url"]).child(entry.id)
        try:
            s3.head_bucket(Bucket=location.bucket)
        except Exception:  # noqa: BLE001 - botocore's ClientError: the bucket is missing
            region = s3.meta.region_name
            s3.create_bucket(Bucket=location.bucket, **({} if region in (None, "us-east-1") else {
                "CreateBucketConfiguration": {"LocationConstraint": region}}))
        if FAIL_MARKER in str(entry.body.get("evalscript", "")):
            error = {"error": {"status": 400, "reason": "Bad Request", "code": "RENDERER_EXCEPTION",
                               "message": "Failed to evaluate script! evaluatePixel must return an array"}}
            s3.put_object(Bucket=location.bucket, Key=location.key("error.json"), Body=json.dumps(error).encode())
            return
        for position, response in enumerate(entry.body["output"].get("responses") or [{"identifier": "default"}]):
            identifier = str(response.get("identifier", "default"))
            data = render_tiff(entry.body, identifier, position, seed=entry.id, max_size=self.max_size)
            s3.put_object(Bucket=location.bucket, Key=location.key(f"{identifier}.tif"), Body=data)
        s3.put_object(Bucket=location.bucket, Key=location.key("userdata.json"), Body=userdata(entry.id, entry.body))

    def _process_body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise _Problem(400, "The request body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict) \
                or not isinstance(body.get("output"), dict):
            raise _Problem(400, "input and output are required")
        if not body.get("evalscript"):
            raise _Problem(400, "evalscript is required")
        if not (body["input"].get("bounds") or {}).get("bbox") and not (body["input"].get("bounds") or {}).get(
                "geometry"):
            raise _Problem(400, "input.bounds needs a bbox or a geometry")
        if not body["input"].get("data"):
            raise _Problem(400, "input.data needs at least one data source")
        return body

    # --------------------------------------------------------------------------------- Process
    def on_process(self, request: Request) -> Response:
        from adapters.sentinelhub.simrasters import render_tiff, userdata

        body = self._process_body(request)
        responses = body["output"].get("responses") or [{"identifier": "default", "format": {"type": "image/tiff"}}]
        accept = request.headers.get("Accept", "")
        request_id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        if "tar" in accept or len(responses) > 1:
            import tarfile

            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                members = [(f"{r.get('identifier', 'default')}.tif",
                            render_tiff(body, str(r.get("identifier", "default")), i, seed=request_id,
                                        max_size=self.max_size)) for i, r in enumerate(responses)]
                members.append(("userdata.json", userdata(request_id, body)))
                for name, data in members:
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mtime = 0
                    tar.addfile(info, io.BytesIO(data))
            return Response(buffer.getvalue(), mimetype="application/x-tar")
        identifier = str(responses[0].get("identifier", "default"))
        data = render_tiff(body, identifier, 0, seed=request_id, max_size=self.max_size)
        return Response(data, mimetype="image/tiff")


# ----------------------------------------------------------------------------------------- serving


class SimulatorServer(ServedSimulator[SentinelHubSimulator]):
    """A `SentinelHubSimulator` served on loopback behind a `FaultInjector` (control API under ``/_simkit/``)."""

    def environment(self) -> dict[str, str]:
        """What the adapters read to use this simulator (its URLs and client credentials)."""
        return {"SH_BASE_URL": self.url, "SH_AUTH_URL": self.sim.token_url, "SH_CLIENT_ID": self.sim.client_id,
                "SH_CLIENT_SECRET": self.sim.client_secret}


def serve(port: int = 0, *, host: str = "127.0.0.1", **kw: Any) -> SimulatorServer:
    """Serve a new `SentinelHubSimulator` (``kw``: its constructor arguments) on ``host:port`` (0: any free port)."""
    served = serve_simulator(SentinelHubSimulator(**kw), port=port, host=host, served=SimulatorServer)
    assert isinstance(served, SimulatorServer)
    return served


def main(argv: list[str] | None = None) -> int:
    """Serve the Sentinel Hub simulator, with a loopback S3 server for its deliveries, until stdin closes."""
    from adapters.s3sim import LoopbackS3

    parser = argparse.ArgumentParser(prog="python -m adapters.sentinelhub.simulator", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paging", choices=("link", "context"), default="link")
    parser.add_argument("--conformance", choices=("full", "core"), default="full")
    parser.add_argument("--scenes", type=int, default=None, help="Sentinel-2 L2A scenes in the Catalog")
    parser.add_argument("--no-s3", action="store_true", help="no S3 server (Catalog and Process API only)")
    args = parser.parse_args(argv)
    collections = None if args.scenes is None else {"sentinel-2-l2a": args.scenes}
    with ExitStack() as stack:
        s3 = None if args.no_s3 else stack.enter_context(LoopbackS3())
        served = stack.enter_context(serve(args.port, seed=args.seed, paging=args.paging,
                                           conformance=args.conformance, collections=collections,
                                           s3=s3.client if s3 else None))
        print(served.url, flush=True)
        for key, value in {**served.environment(), **(s3.environment() if s3 else {})}.items():
            print(f"export {key}={value}", file=sys.stderr, flush=True)
        wait_for_stdin_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
