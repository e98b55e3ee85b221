"""A simulator of the NASA AppEEARS API (``seeds/appeears-api.txt``, ``PROVIDERS.md`` "NASA AppEEARS").

Served under ``/api`` (so its URL is ``<server>/api``, like ``https://.../appeears/api``):

- ``POST /login`` with HTTP Basic -> ``{"token_type", "token", "expiration"}`` (403 "API access is not
  enabled" for users without API access, 401 otherwise); tokens expire after ``token_lifetime`` or after
  ``token_uses`` secure calls (then 403, as the real service answers an expired token); ``POST /logout`` -> 204;
- ``GET /product`` (paged, ``ETag``/``Last-Modified``, 304 on a matching conditional request),
  ``GET /product/{id}``, ``GET /spatial/proj``, ``GET /quality/{id}[/{layer}]``, without auth;
- ``POST /task`` validated (400 ``{"message"}``; the request JSON of a finished task is taken as it is),
  202 with ``Location``; ``GET /task`` (``limit``/``offset``, ``status``, ``task_type``), ``GET /task/{id}``;
- ``GET /status/{id}``: progress details while pending/processing; **303** with ``Location: /api/task/{id}``
  once done; tasks finish after ``polls_to_finish`` status calls;
- ``GET /bundle/{id}``: files with ``file_id``, ``file_name`` (tifs under a ``<P>.<V>_<start>_to_<end>\\``
  folder, with a backslash as the real listings have), ``file_size``, ``file_type``, ``sha256``;
  ``GET /bundle/{id}/{file_id}`` redirects (302) to a signed ``/s3/...`` path of the same server, which
  refuses a request carrying an ``Authorization`` header as S3 does (and counts it in ``auth_at_s3``).

Faults by task name: ``sim-error*`` (error status), ``sim-expired*`` (done, already expired),
``sim-corrupt*`` (the first download of each GeoTIFF is corrupted), ``sim-corrupt-always*`` (every
download is), ``sim-unsafe*`` (bundle names with ``..``, absolute paths and NUL). Transport faults come from
`adapters.simkit.FaultInjector` (``serve`` wraps the app in one).

`add_bundle` stores a finished task whose bundle is a folder of real files (listing built from the files,
sha256 computed), for tests with real outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import secrets
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from adapters.simkit import ServedSimulator, serve_simulator, wait_for_stdin_close

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

PREFIX = "/api"
NOT_ENABLED = ("API access is not enabled.  See the API Login Documentation to enable API access for the user "
               "account.")
BAD_CREDENTIALS = ("The server could not verify that you are authorized to access the URL requested.  You either "
                   "supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how "
                   "to supply the credentials required.")
FORBIDDEN = ("You don't have the permission to access the requested resource. It is either read-protected or not "
             "readable by the server.")
STEPS = ("Initializing", "Downloading", "Generating Files", "Extracting Stats", "Finalizing")
FAULTS = ("sim-corrupt-always", "sim-corrupt", "sim-error", "sim-expired", "sim-unsafe")
PRODUCTS_ETAG = '"lpdms-1508507462.2111995-40336-2044139119"'
PRODUCTS_MODIFIED = datetime(2017, 10, 20, 13, 51, 2, tzinfo=timezone.utc)


def fault_for(name: str | None) -> str | None:
    for prefix in FAULTS:
        if name and name.startswith(prefix):
            return prefix.removeprefix("sim-")
    return None


@dataclass
class SimFile:
    file_id: str
    file_name: str
    data: bytes
    file_type: str


@dataclass
class SimTask:
    task_id: str
    user: str
    request: dict[str, Any]
    created: datetime
    fault: str | None = None
    status: str = "pending"
    polls: int = 0
    updated: datetime | None = None
    files: list[SimFile] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.request.get("task_name"))


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


class AppeearsSimulator:
    """The AppEEARS API as a WSGI app (see the module docstring)."""

    def __init__(self, *, seed: int = 0, users: Mapping[str, str] | None = None,
                 api_disabled: Iterable[str] = (), token_lifetime: timedelta = timedelta(hours=48),
                 token_uses: int | None = None, polls_to_finish: int = 2,
                 now: Callable[[], datetime] | None = None, lifetime: timedelta = timedelta(days=30),
                 raster_size: int = 24) -> None:
        self.seed = seed
        self.users = dict(users) if users is not None else {"sim-user": "sim-password"}
        self.api_disabled = set(api_disabled)
        self.token_lifetime = token_lifetime
        self.token_uses = token_uses
        self.polls_to_finish = polls_to_finish
        self.lifetime = lifetime
        self.raster_size = raster_size
        self.url = ""
        self.tasks: dict[str, SimTask] = {}
        self.requests: Counter[str] = Counter()
        #: downloads served, by file name; S3 requests that carried an Authorization header
        self.downloads: Counter[str] = Counter()
        self.auth_at_s3 = 0
        #: answer 403 to every token (an account whose access was withdrawn after signing in)
        self.refuse_tokens = False
        self.logins = 0
        self.logouts = 0
        self._now = now or _utc_now
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"appeears-simulator/{seed}")
        self._counts: Counter[str] = Counter()
        self._tokens: dict[str, tuple[str, datetime, int]] = {}  # token -> (user, expiry, uses left)
        self._lock = threading.RLock()
        self._routes = Map([
            Rule(f"{PREFIX}/login", methods=["POST"], endpoint="login"),
            Rule(f"{PREFIX}/logout", methods=["POST"], endpoint="logout"),
            Rule(f"{PREFIX}/product", methods=["GET"], endpoint="products"),
            Rule(f"{PREFIX}/product/<product_id>", methods=["GET"], endpoint="layers"),
            Rule(f"{PREFIX}/spatial/proj", methods=["GET"], endpoint="projections"),
            Rule(f"{PREFIX}/quality/<product_id>", methods=["GET"], endpoint="quality_layers"),
            Rule(f"{PREFIX}/quality/<product_id>/<layer>", methods=["GET"], endpoint="quality_values"),
            Rule(f"{PREFIX}/task", methods=["POST"], endpoint="submit"),
            Rule(f"{PREFIX}/task", methods=["GET"], endpoint="list"),
            Rule(f"{PREFIX}/task/<task_id>", methods=["GET"], endpoint="task"),
            Rule(f"{PREFIX}/status/<task_id>", methods=["GET"], endpoint="status"),
            Rule(f"{PREFIX}/bundle/<task_id>", methods=["GET"], endpoint="bundle"),
            Rule(f"{PREFIX}/bundle/<task_id>/<file_id>", methods=["GET"], endpoint="download"),
            Rule("/s3/appeears-output/<task_id>/<file_id>/<path:name>", methods=["GET"], endpoint="s3"),
        ], strict_slashes=False)

    # ------------------------------------------------------------------------------------- Python API
    def now(self) -> datetime:
        moment = self._now()
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).replace(microsecond=0)

    def expire_tokens(self) -> None:
        """Make every token issued so far expired (the next secure call with one answers 403)."""
        with self._lock:
            self._tokens = {t: (u, self.now() - timedelta(seconds=1), n) for t, (u, _e, n) in self._tokens.items()}

    def add_task(self, request: Mapping[str, Any], *, user: str = "sim-user", status: str = "done") -> str:
        """Store a task as if ``user`` had submitted it, already ``status``; its id."""
        task = self._create(dict(request), user)
        with self._lock:
            if status == "done":
                self._finish(task)
            else:
                task.status = status
        return task.task_id

    def add_bundle(self, request: Mapping[str, Any], folder: Path, *, user: str = "sim-user",
                   tif_folder: str | None = None) -> str:
        """Store a finished task whose bundle is the files of ``folder`` as they are (tifs under
        ``tif_folder\\`` when given, as real listings name them)."""
        task = self._create(dict(request), user)
        files = []
        for path in sorted(Path(folder).iterdir()):
            if not path.is_file():
                continue
            name = path.name
            if tif_folder and name.lower().endswith(".tif"):
                name = f"{tif_folder}\\{name}"
            files.append(self._file(task, name, path.read_bytes()))
        with self._lock:
            task.files = files
            self._finish(task)
        return task.task_id

    def files(self, task_id: str) -> list[SimFile]:
        task = self.tasks[task_id]
        with self._lock:
            if task.files is None:
                from adapters.appeears.simbundles import make_bundle  # numpy/rasterio with the first bundle

                task.files = [self._file(task, name, data) for name, data in make_bundle(task, self.raster_size)]
            return task.files

    # ------------------------------------------------------------------------------------------ WSGI
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, values = self._routes.bind_to_environ(environ).match()
            with self._lock:
                self.requests[endpoint] += 1
            response = getattr(self, f"on_{endpoint}")(request, **values)
        except _Reject as exc:
            response = _json({"message": exc.message}, exc.status)
        except Exception as exc:  # werkzeug's NotFound / MethodNotAllowed
            code = getattr(exc, "code", None)
            if code is None:
                raise
            response = _json({"message": getattr(exc, "description", str(exc))}, code)
        return response(environ, start_response)

    def _base(self, request: Request) -> str:
        return (self.url or request.host_url).rstrip("/")

    def _user(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None or entry[1] <= self.now() or entry[2] == 0 or self.refuse_tokens:
                raise _Reject(403, FORBIDDEN)
            user, expiry, uses = entry
            self._tokens[token] = (user, expiry, uses - 1 if uses > 0 else uses)
        return user

    # -------------------------------------------------------------------------------------- sign-in
    def on_login(self, request: Request) -> Response:
        auth = request.authorization
        password = self.users.get(auth.username or "") if auth is not None and auth.type == "basic" else None
        if auth is None or password is None or not hmac.compare_digest((auth.password or "").encode(),
                                                                        password.encode()):
            return _json({"message": BAD_CREDENTIALS}, 401)
        if auth.username in self.api_disabled:
            return _json({"message": NOT_ENABLED}, 403)
        token = secrets.token_urlsafe(48)
        expiry = self.now() + self.token_lifetime
        with self._lock:
            self._tokens[token] = (auth.username or "", expiry, self.token_uses if self.token_uses else -1)
            self.logins += 1
        return _json({"token_type": "Bearer", "token": token,
                      "expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def on_logout(self, request: Request) -> Response:
        self._user(request)
        token = request.headers["Authorization"][7:].strip()
        with self._lock:
            self._tokens.pop(token, None)
            self.logouts += 1
        return Response(status=204)

    # -------------------------------------------------------------------------------- product API
    def on_products(self, request: Request) -> Response:
        from adapters.appeears.simproducts import PRODUCTS

        if request.headers.get("If-None-Match") == PRODUCTS_ETAG or self._not_modified_since(request):
            return Response(status=304, headers={"ETag": PRODUCTS_ETAG})
        records = [record for record, _layers, _q in PRODUCTS.values()]
        limit, offset = _paging(request)
        response = _json(records[offset:offset + limit if limit else None])
        response.headers["ETag"] = PRODUCTS_ETAG
        response.headers["Last-Modified"] = format_datetime(PRODUCTS_MODIFIED, usegmt=True)
        return response

    def _not_modified_since(self, request: Request) -> bool:
        value = request.headers.get("If-Modified-Since")
        if not value:
            return False
        try:
            return parsedate_to_datetime(value) >= PRODUCTS_MODIFIED
        except (TypeError, ValueError):
            return False

    def on_layers(self, request: Request, product_id: str) -> Response:
        from adapters.appeears.simproducts import PRODUCTS

        if product_id not in PRODUCTS:
            raise _Reject(404, f"Product '{product_id}' not found.")
        etag = f'"layers-{product_id}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        response = _json(PRODUCTS[product_id][1])
        response.headers["ETag"] = etag
        return response

    def on_projections(self, request: Request) -> Response:
        from adapters.appeears.simproducts import PROJECTIONS

        return _json(PROJECTIONS)

    def on_quality_layers(self, request: Request, product_id: str) -> Response:
        from adapters.appeears.simproducts import PRODUCTS

        if product_id not in PRODUCTS:
            raise _Reject(404, f"Product '{product_id}' not found.")
        layers = PRODUCTS[product_id][1]
        return _json([{"ProductAndVersion": product_id, "Layer": name, "QualityProductAndVersion": product_id,
                       "QualityLayers": json.loads(rec["QualityLayers"].replace("'", '"') or "[]")}
                      for name, rec in layers.items() if rec["QualityLayers"]])

    def on_quality_values(self, request: Request, product_id: str, layer: str) -> Response:
        from adapters.appeears.simproducts import PRODUCTS

        values = PRODUCTS.get(product_id, ({}, {}, {}))[2].get(layer)
        if values is None:
            raise _Reject(404, f"Quality layer '{layer}' of '{product_id}' not found.")
        return _json([{"ProductAndVersion": product_id, "QualityLayer": layer, "Name": name, "Value": value,
                       "Description": description, "Acceptable": None} for value, name, description in values])

    # ----------------------------------------------------------------------------------- task API
    def on_submit(self, request: Request) -> Response:
        user = self._user(request)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _Reject(400, "The request body must be a JSON object.")
        from adapters.appeears.simbundles import validate_request

        message = validate_request(body)
        if message is not None:
            raise _Reject(400, message)
        task = self._create(body, user)
        response = _json({"task_id": task.task_id, "status": "pending"}, 202)
        response.headers["Location"] = f"{PREFIX}/status/{task.task_id}"
        return response

    def on_list(self, request: Request) -> Response:
        user = self._user(request)
        limit, offset = _paging(request)
        status, task_type = request.args.get("status"), request.args.get("task_type")
        with self._lock:
            tasks = sorted((t for t in self.tasks.values() if t.user == user
                            and (status is None or t.status == status)
                            and (task_type is None or t.request.get("task_type") == task_type)),
                           key=lambda t: (t.created, t.task_id), reverse=True)
            page = tasks[offset:offset + limit if limit else None]
            return _json([self.record(t) for t in page])

    def on_task(self, request: Request, task_id: str) -> Response:
        user = self._user(request)
        task = self.tasks.get(task_id)
        if task is None or task.user != user:
            raise _Reject(404, f"Task {task_id} not found.")
        with self._lock:
            return _json(self.record(task))

    def on_status(self, request: Request, task_id: str) -> Response:
        user = self._user(request)
        task = self.tasks.get(task_id)
        if task is None or task.user != user:
            raise _Reject(404, f"Task {task_id} not found.")
        with self._lock:
            self._advance(task)
            if task.status == "done":
                response = _json({"task_id": task_id, "status": "done", "user_id": user,
                                  "updated": _iso(task.updated or self.now()), "status_type": "task"}, 303)
                response.headers["Location"] = f"{PREFIX}/task/{task_id}"
                return response
            pct = [100 if i < task.polls else 0 for i in range(len(STEPS))]
            body: dict[str, Any] = {"task_id": task_id, "user_id": user, "status": task.status,
                                    "updated": _iso(self.now()), "status_type": "task",
                                    "status_id": str(uuid.uuid5(self._namespace, f"status/{task_id}"))}
            if task.status == "processing":
                body["progress"] = {"details": [{"step": i + 1, "desc": desc, "pct_complete": pct[i]}
                                                for i, desc in enumerate(STEPS)],
                                    "summary": round(100 * task.polls / max(self.polls_to_finish, 1))}
            return _json(body)

    def on_bundle(self, request: Request, task_id: str) -> Response:
        task = self.tasks.get(task_id)
        if task is None or task.status != "done":
            raise _Reject(404, f"Bundle for task {task_id} not found.")
        files = self.files(task_id)
        return _json({"task_id": task_id, "bundle_type": task.request.get("task_type"),
                      "created": _iso(task.updated or self.now()), "updated": _iso(task.updated or self.now()),
                      "files": [{"file_id": f.file_id, "file_name": f.file_name, "file_size": len(f.data),
                                 "file_type": f.file_type, "sha256": hashlib.sha256(f.data).hexdigest(),
                                 "s3_url": f"s3://appeears-output/{task_id}/{f.file_id}"} for f in files]})

    def on_download(self, request: Request, task_id: str, file_id: str) -> Response:
        task = self.tasks.get(task_id)
        sim_file = next((f for f in self.files(task_id) if f.file_id == file_id), None) if task else None
        if task is None or sim_file is None:
            raise _Reject(404, f"File {file_id} of task {task_id} not found.")
        signature = hashlib.sha256(f"{self.seed}/{task_id}/{file_id}".encode()).hexdigest()
        name = sim_file.file_name.replace("\\", "/").split("/")[-1]
        location = (f"{self._base(request)}/s3/appeears-output/{task_id}/{file_id}/{name}"
                    f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={signature}")
        return Response(status=302, headers={"Location": location})

    def on_s3(self, request: Request, task_id: str, file_id: str, name: str) -> Response:
        if "Authorization" in request.headers:
            with self._lock:
                self.auth_at_s3 += 1
            body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidArgument</Code><Message>Only "
                    "one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
                    "parameter or the Authorization header should be specified</Message></Error>")
            return Response(body, 400, content_type="application/xml")
        task = self.tasks.get(task_id)
        sim_file = next((f for f in self.files(task_id) if f.file_id == file_id), None) if task else None
        if task is None or sim_file is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, content_type="application/xml")
        with self._lock:
            self.downloads[sim_file.file_name] += 1
            count = self.downloads[sim_file.file_name]
        data = sim_file.data
        corrupt = (task.fault == "corrupt-always" or (task.fault == "corrupt" and count == 1))
        if corrupt and name.lower().endswith(".tif"):
            data = data[:-16] + bytes(16)  # same size, other bytes: only the checksum can tell
        return Response(data, 200, content_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # -------------------------------------------------------------------------------------- internals
    def record(self, task: SimTask) -> dict[str, Any]:
        """``GET /task/{id}`` of ``task`` (call with the lock held)."""
        record = {k: v for k, v in task.request.items() if k in ("task_name", "task_type", "params")}
        record.update(task_id=task.task_id, user_id=task.user, status=task.status, created=_iso(task.created),
                      updated=_iso(task.updated or task.created), attempts=1, retry_at=None,
                      error=("Processing failed: no data for the requested dates and area"
                             if task.status == "error" else None), svc_version="3.28", api_version="v1",
                      web_version=None)
        if task.status == "done":
            done = task.updated or task.created
            record["expires_on"] = _iso(done - timedelta(days=1) if task.fault == "expired" else done + self.lifetime)
        return record

    def _create(self, request: dict[str, Any], user: str) -> SimTask:
        canonical = json.dumps({"user": user, **{k: request.get(k) for k in ("task_name", "task_type", "params")}},
                               sort_keys=True)
        with self._lock:
            count = self._counts[canonical]
            self._counts[canonical] += 1
            task_id = str(uuid.uuid5(self._namespace, f"{canonical}\n{count}"))
            task = SimTask(task_id, user, request, self.now(), fault_for(request.get("task_name")))
            self.tasks[task_id] = task
        return task

    def _advance(self, task: SimTask) -> None:
        if task.status in ("done", "error"):
            return
        task.polls += 1
        task.status = "processing"
        if task.polls >= self.polls_to_finish:
            if task.fault == "error":
                task.status = "error"
                task.updated = self.now()
            else:
                self._finish(task)

    def _finish(self, task: SimTask) -> None:
        task.status = "done"
        task.updated = self.now()

    def _file(self, task: SimTask, name: str, data: bytes) -> SimFile:
        file_id = str(uuid.uuid5(self._namespace, f"{task.task_id}/{name}"))
        suffix = name.rsplit(".", 1)[-1].lower() if "." in name else "txt"
        return SimFile(file_id, name, data, {"md": "txt"}.get(suffix, suffix))


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status, content_type="application/json")


def _paging(request: Request) -> tuple[int | None, int]:
    try:
        limit = int(request.args["limit"]) if "limit" in request.args else None
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise _Reject(400, "limit and offset must be integers") from None
    if (limit is not None and limit < 0) or offset < 0:
        raise _Reject(400, "limit and offset must not be negative")
    return limit, offset


# ------------------------------------------------------------------------------------------- serving



def serve(port: int = 0, *, host: str = "127.0.0.1", **kw: Any) -> ServedSimulator[AppeearsSimulator]:
    """Serve a new `AppeearsSimulator` (``kw``: its constructor arguments) on ``host:port`` (0: any free port)."""
    return serve_simulator(AppeearsSimulator(**kw), port=port, host=host, prefix=PREFIX)


def main(argv: list[str] | None = None) -> int:
    """Serve the AppEEARS simulator on loopback until stdin closes or the process is interrupted."""
    parser = argparse.ArgumentParser(prog="python -m adapters.appeears.simulator", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with serve(args.port, seed=args.seed) as served:
        print(served.url, flush=True)
        wait_for_stdin_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
