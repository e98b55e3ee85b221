"""A simulator of the ASF HyP3 API (``seeds/hyp3-api.txt``, ``PROVIDERS.md`` "ASF HyP3"), as a WSGI app.

It follows the real service closely enough that the HyP3 adapter cannot tell the difference:

- auth: ``Authorization: Bearer <token>``, or the ``asf-urs`` cookie from an Earthdata-Login-like sign-in
  (``GET /oauth/authorize`` with HTTP Basic -> 302 to ``/login?code=`` -> cookie); 401 problem otherwise;
- ``GET /user``; ``POST /jobs`` validated like the real API (job types, parameters, defaults, at most 200 jobs,
  ``validate_only``); ``GET /jobs`` with its filters and ``next`` pagination (``start_token``);
  ``GET /jobs/<id>``; errors as RFC 7807 problems (``{"detail", "status", "title", "type"}``);
- jobs move PENDING -> RUNNING -> SUCCEEDED as they are polled; finished jobs list their archive in ``files``,
  browse/thumbnail images and logs; downloads (``/files/<job_id>/<name>``, no auth, like S3) support Range and
  disappear at ``expiration_time``; every zip member is published beside the zip;
- deterministic: job ids derive from the seed, the user and the job spec; products from the job id
  (`adapters.hyp3.simproducts`).

Faults are chosen by job name, so they work over plain HTTP: ``sim-fail*`` (FAILED), ``sim-expired*`` (finished
but already expired), ``sim-zip-traversal*``, ``sim-zip-truncated*``, ``sim-zip-bomb*`` (bad archives),
``sim-never*`` (RUNNING forever). Transport faults (429, 5xx, dropped connections) come from wrapping the app
in `adapters.simkit.FaultInjector`, which `serve` does.

Run ``python -m adapters.hyp3.simulator --port N`` to serve it on loopback; it prints its URL first.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hashlib
import hmac
import json
import logging
import mimetypes
import re
import secrets
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from adapters.hyp3.jobs import EXAMPLE_PER_TYPE
from adapters.hyp3.names import JOB_TYPES
from adapters.hyp3.simgranules import LANDSAT_C2, S1_BURST, S1_SCENE, S2_L1C, Burst, hash_int, parse_burst
from adapters.simkit import ServedSimulator, range_response, serve_simulator, wait_for_stdin_close

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from adapters.hyp3.simproducts import Product

log = logging.getLogger(__name__)

STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")
MAX_JOBS = 200
BUCKET = "hyp3-sim-contentbucket"
DEFAULT_BASE = "http://localhost"
#: job-name prefixes that inject a fault, and the fault they inject
FAULT_PREFIXES = {"sim-fail": "fail", "sim-expired": "expired", "sim-zip-traversal": "zip-traversal",
                  "sim-zip-truncated": "zip-truncated", "sim-zip-bomb": "zip-bomb", "sim-never": "never"}
UNAUTHORIZED = "No authorization token provided"

#: one job of every type, from the API page (useful for demos and tests)
EXAMPLE_JOBS = EXAMPLE_PER_TYPE


# ------------------------------------------------------------------------------------------ validation


class JobSpecError(ValueError):
    """A job list the real API would refuse (400); the message is the problem's ``detail``."""


_REQUIRED = object()
Check = Callable[[Any, str], None]


def _fail(message: str, where: str) -> None:
    raise JobSpecError(f"{message} - '{where}'")


def _one_of(*choices: Any) -> Check:
    def check(value: Any, where: str) -> None:
        same_kind = isinstance(value, bool) == isinstance(choices[0], bool) and (
            isinstance(value, str) == isinstance(choices[0], str))
        if not same_kind or value not in choices:
            _fail(f"{value!r} is not one of {list(choices)!r}", where)
    return check


def _boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        _fail(f"{value!r} is not of type 'boolean'", where)


def _fraction(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        _fail(f"{value!r} is not a number between 0.0 and 1.0", where)


def _names(low: int, high: int, *patterns: re.Pattern[str]) -> Check:
    """A list of ``low``..``high`` granule names, each matching one of ``patterns``."""
    def check(value: Any, where: str) -> None:
        if not isinstance(value, list):
            _fail(f"{value!r} is not of type 'array'", where)
        if len(value) < low:
            _fail(f"{value!r} is too short", where)
        if len(value) > high:
            _fail(f"{value!r} is too long", where)
        for i, item in enumerate(value):
            if not isinstance(item, str) or not any(p.match(item) for p in patterns):
                expected = " or ".join(repr(p.pattern) for p in patterns)
                _fail(f"{item!r} does not match {expected}", f"{where}.{i}")
    return check


def _iso_date(value: Any, where: str) -> None:
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        _fail(f"{value!r} is not a 'date' (YYYY-MM-DD)", where)


def _frame_id(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 27_397:
        _fail(f"{value!r} is not a frame id (an integer from 0 to 27397)", where)


_RTC_GRANULE = re.compile(S1_SCENE.pattern.replace("(?P<beam>IW|EW|S[1-6])", "(?P<beam>IW|EW)"))
_SLC_GRANULE = re.compile(S1_SCENE.pattern.replace("(?P<beam>IW|EW|S[1-6])", "(?P<beam>IW)")
                          .replace("(?P<product>GRD[HMF]|SLC_)", "(?P<product>SLC_)"))
_AUTORIFT_GRANULES = (_SLC_GRANULE, S2_L1C, LANDSAT_C2)
_LOOKS = ("20x4", "10x2")
_BURST_LOOKS = ("20x4", "10x2", "5x1")

#: per job type: parameter -> (check, default); in the order the API lists them
SCHEMAS: dict[str, dict[str, tuple[Check, Any]]] = {
    "RTC_GAMMA": {
        "granules": (_names(1, 1, _RTC_GRANULE), _REQUIRED),
        "radiometry": (_one_of("gamma0", "sigma0"), "gamma0"),
        "scale": (_one_of("power", "decibel", "amplitude"), "power"),
        "resolution": (_one_of(10, 20, 30), 30),
        "dem_matching": (_boolean, False),
        "include_dem": (_boolean, False),
        "include_inc_map": (_boolean, False),
        "include_scattering_area": (_boolean, False),
        "include_rgb": (_boolean, False),
        "speckle_filter": (_boolean, False),
        "dem_name": (_one_of("copernicus"), "copernicus"),
    },
    "INSAR_GAMMA": {
        "granules": (_names(2, 2, _SLC_GRANULE), _REQUIRED),
        "looks": (_one_of(*_LOOKS), "20x4"),
        "include_look_vectors": (_boolean, False),
        "include_los_displacement": (_boolean, False),
        "include_displacement_maps": (_boolean, False),
        "include_wrapped_phase": (_boolean, False),
        "include_inc_map": (_boolean, False),
        "include_dem": (_boolean, False),
        "apply_water_mask": (_boolean, False),
        "phase_filter_parameter": (_fraction, 0.6),
    },
    "INSAR_ISCE_BURST": {
        "granules": (_names(2, 2, S1_BURST), _REQUIRED),
        "apply_water_mask": (_boolean, False),
        "looks": (_one_of(*_BURST_LOOKS), "20x4"),
    },
    "INSAR_ISCE_MULTI_BURST": {
        "reference": (_names(1, 15, S1_BURST), _REQUIRED),
        "secondary": (_names(1, 15, S1_BURST), _REQUIRED),
        "apply_water_mask": (_boolean, False),
        "looks": (_one_of(*_BURST_LOOKS), "20x4"),
    },
    "AUTORIFT": {
        "granules": (_names(2, 2, *_AUTORIFT_GRANULES), _REQUIRED),
    },
    "ARIA_S1_GUNW": {
        "reference_date": (_iso_date, _REQUIRED),
        "secondary_date": (_iso_date, _REQUIRED),
        "frame_id": (_frame_id, _REQUIRED),
    },
    "OPERA_RTC_S1": {
        "granules": (_names(1, 1, S1_BURST), _REQUIRED),
    },
}


def validate_job(index: int, job: Any) -> dict[str, Any]:
    """One job of a submission, checked like the real API, with its parameters' defaults filled in.

    Returns ``{"job_type", "job_parameters"[, "name"]}``; raises `JobSpecError` naming ``jobs.<index>.<field>``.
    """
    where = f"jobs.{index}"
    if not isinstance(job, dict):
        _fail(f"{job!r} is not of type 'object'", where)
    extra = sorted(set(job) - {"job_type", "job_parameters", "name"})
    if extra:
        _fail(f"Additional properties are not allowed ({', '.join(map(repr, extra))} were unexpected)", where)
    if "job_type" not in job:
        _fail("'job_type' is a required property", where)
    job_type = job["job_type"]
    if job_type not in JOB_TYPES:
        _fail(f"{job_type!r} is not one of {list(JOB_TYPES)!r}", f"{where}.job_type")
    if "name" in job:
        name = job["name"]
        if not isinstance(name, str):
            _fail(f"{name!r} is not of type 'string'", f"{where}.name")
        if not 1 <= len(name) <= 100:
            _fail(f"{name!r} is {'too long' if name else 'too short'} (1 to 100 characters)", f"{where}.name")
    params = job.get("job_parameters")
    if not isinstance(params, dict):
        _fail("'job_parameters' is a required property of type 'object'", where)
    schema = SCHEMAS[job_type]
    unknown = sorted(set(params) - set(schema))
    if unknown:
        _fail(f"Additional properties are not allowed ({', '.join(map(repr, unknown))} were unexpected)",
              f"{where}.job_parameters")
    filled: dict[str, Any] = {}
    for key, (check, default) in schema.items():
        if key in params:
            check(params[key], f"{where}.job_parameters.{key}")
            filled[key] = copy.deepcopy(params[key])
        elif default is _REQUIRED:
            _fail(f"{key!r} is a required property", f"{where}.job_parameters")
        else:
            filled[key] = default
    _check_semantics(job_type, filled, f"{where}.job_parameters")
    out: dict[str, Any] = {"job_type": job_type, "job_parameters": filled}
    if "name" in job:
        out["name"] = job["name"]
    return out


def _check_semantics(job_type: str, params: dict[str, Any], where: str) -> None:
    """The checks the real API makes beyond its schema (pairs that cannot be processed)."""
    if job_type in ("INSAR_GAMMA", "AUTORIFT") and params["granules"][0] == params["granules"][1]:
        _fail("the two granules are the same", f"{where}.granules")
    if job_type == "AUTORIFT":
        kinds = {next(i for i, p in enumerate(_AUTORIFT_GRANULES) if p.match(g))
                 for g in params["granules"]}
        if len(kinds) > 1:
            _fail("the granules must come from the same mission", f"{where}.granules")
    if job_type == "INSAR_ISCE_BURST":
        _check_burst_pair([parse_burst(params["granules"][0])], [parse_burst(params["granules"][1])],
                          f"{where}.granules")
    if job_type == "INSAR_ISCE_MULTI_BURST":
        if len(params["reference"]) != len(params["secondary"]):
            _fail("reference and secondary must list the same number of bursts", where)
        _check_burst_pair([parse_burst(b) for b in params["reference"]],
                          [parse_burst(b) for b in params["secondary"]], where)
    if job_type == "ARIA_S1_GUNW" and params["reference_date"] == params["secondary_date"]:
        _fail("reference_date and secondary_date must differ", where)
    if job_type == "OPERA_RTC_S1":
        burst = parse_burst(params["granules"][0])
        if burst.pol not in ("VV", "HH"):
            _fail(f"{burst.name!r} is not a co-polarized (VV or HH) burst", f"{where}.granules.0")
        if not date(2016, 4, 14) <= burst.time.date() <= date(2021, 12, 31):
            _fail(f"{burst.name!r} was not acquired between 2016-04-14 and 2021-12-31", f"{where}.granules.0")


def _check_burst_pair(refs: list[Burst], secs: list[Burst], where: str) -> None:
    if [(b.burst_id, b.swath) for b in refs] != [(b.burst_id, b.swath) for b in secs]:
        _fail("reference and secondary bursts must have the same burst ids, in the same order", where)
    if len({b.time.date() for b in refs}) != 1 or len({b.time.date() for b in secs}) != 1:
        _fail("the reference bursts, and the secondary bursts, must each come from one acquisition", where)
    if refs[0].time.date() == secs[0].time.date():
        _fail("reference and secondary bursts must come from different dates", where)
    if {b.pol for b in refs + secs} - {"VV"} and {b.pol for b in refs + secs} - {"HH"}:
        _fail("all bursts must have the same co-polarization (VV or HH)", where)


def credit_cost(job_type: str, params: dict[str, Any]) -> float:
    """What a job costs, roughly as HyP3 charges."""
    if job_type == "RTC_GAMMA":
        return {30: 5.0, 20: 15.0, 10: 60.0}[int(params["resolution"])]
    if job_type == "INSAR_GAMMA":
        return 10.0 if params["looks"] == "20x4" else 15.0
    if job_type == "INSAR_ISCE_MULTI_BURST":
        return float(len(params["reference"]))
    return {"INSAR_ISCE_BURST": 1.0, "AUTORIFT": 25.0, "ARIA_S1_GUNW": 60.0, "OPERA_RTC_S1": 1.0}[job_type]


def fault_for(name: str | None) -> str | None:
    """The fault a job name asks for (``sim-fail-1`` -> ``"fail"``), or None."""
    for prefix, fault in FAULT_PREFIXES.items():
        if name is not None and name.startswith(prefix):
            return fault
    return None


# ---------------------------------------------------------------------------------------------- state


@dataclass
class SimJob:
    """A job as the simulator keeps it. ``polls`` counts the GETs that returned it."""

    job_id: str
    user_id: str
    job_type: str
    job_parameters: dict[str, Any]
    name: str | None
    request_time: datetime
    priority: int
    credit_cost: float
    fault: str | None = None
    status: str = "PENDING"
    polls: int = 0
    execution_started: datetime | None = None
    expiration_time: datetime | None = None
    product: Product | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED")

    def sort_key(self) -> tuple[datetime, str]:
        return self.request_time, self.job_id


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


class _Problem(Exception):
    """Answer with an RFC 7807 problem."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def problem(status: int, detail: str) -> Response:
    """The API's error body: ``{"detail", "status", "title", "type": "about:blank"}``."""
    body = {"detail": detail, "status": status, "title": HTTP_STATUS_CODES.get(status, "Error"),
            "type": "about:blank"}
    return Response(json.dumps(body), status, content_type="application/problem+json")


# ------------------------------------------------------------------------------------------------ app


class Hyp3Simulator:
    """The HyP3 API as a WSGI app (see the module docstring).

    ``token``: the accepted bearer token (it belongs to the first of ``users``); ``users``: Earthdata Login
    accounts for the sign-in; ``page_size``: jobs per ``GET /jobs`` page; ``polls_to_finish``: GETs of a job
    before it is finished (the first one already shows RUNNING); ``raster_size``: side of every raster
    (default: 256 px COG products, 600 px others); ``now``: the clock (default: real UTC time, whole seconds);
    ``credits``: the user's starting credits; ``lifetime``: how long finished products stay downloadable.
    ``url`` is set by whoever serves the app (when empty, URLs are built from the request's host).
    """

    def __init__(self, *, seed: int = 0, token: str = "sim-token", users: dict[str, str] | None = None,
                 page_size: int = 3, polls_to_finish: int = 2, raster_size: int | None = None,
                 now: Callable[[], datetime] | None = None, credits: float = 10_000,
                 lifetime: timedelta = timedelta(days=14)) -> None:
        self.seed = seed
        self.token = token
        self.users = dict(users) if users is not None else {"sim-user": "sim-password"}
        self.token_user = next(iter(self.users), "sim-user")
        self.page_size = page_size
        self.polls_to_finish = polls_to_finish
        self.raster_size = raster_size
        self.lifetime = lifetime
        self.url = ""
        self.jobs: dict[str, SimJob] = {}
        #: GETs that served bytes, by ``"<job_id>/<filename>"``
        self.file_gets: Counter[str] = Counter()
        #: requests by endpoint (``"submit"``, ``"list"``, ``"job"``, ``"file"``, ``"user"``, ...)
        self.requests: Counter[str] = Counter()
        self._now = now or _utc_now
        self._credits: dict[str, float] = {}
        self._starting_credits = credits
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"hyp3-simulator/{seed}")
        self._spec_counts: Counter[str] = Counter()
        self._codes: dict[str, str] = {}      # sign-in code -> user
        self._sessions: dict[str, str] = {}   # asf-urs cookie -> user
        self._lock = threading.RLock()
        self._product_locks: dict[str, threading.Lock] = {}
        self._routes = Map([
            Rule("/", methods=["GET"], endpoint="root"),
            Rule("/oauth/authorize", methods=["GET"], endpoint="authorize"),
            Rule("/login", methods=["GET"], endpoint="login"),
            Rule("/user", methods=["GET"], endpoint="user"),
            Rule("/jobs", methods=["POST"], endpoint="submit"),
            Rule("/jobs", methods=["GET"], endpoint="list"),
            Rule("/jobs/<job_id>", methods=["GET"], endpoint="job"),
            Rule("/files/<job_id>/<path:filename>", methods=["GET"], endpoint="file"),
        ], strict_slashes=False)

    # ------------------------------------------------------------------------------ Python API
    def now(self) -> datetime:
        """The simulator clock (aware UTC, whole seconds)."""
        moment = self._now()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).replace(microsecond=0)

    def add_job(self, spec: dict[str, Any], *, user: str = "sim-user", status: str = "SUCCEEDED",
                request_time: datetime | None = None) -> dict[str, Any]:
        """Store a job as if ``user`` had submitted it (validated like a submission; raises `JobSpecError`),
        already in ``status``; return its record (a SUCCEEDED job's product is built now). No credits used."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        job = self._create(validate_job(0, spec), user, request_time or self.now(), priority=9999)
        with self._lock:
            if status != "PENDING":
                job.polls = 1
                job.execution_started = job.request_time
                job.status = "RUNNING"
            if status in ("SUCCEEDED", "FAILED"):
                self._finish(job, status)
        return self.record(job)

    def product(self, job_id: str) -> Product:
        """The product of a job (built on first use, then cached)."""
        return self._product(self.jobs[job_id])

    def record(self, job: SimJob, base: str | None = None) -> dict[str, Any]:
        """The API's JSON record of ``job`` (without counting a poll)."""
        base = (base or self.url or DEFAULT_BASE).rstrip("/")
        with self._lock:
            rec: dict[str, Any] = {"job_id": job.job_id, "user_id": job.user_id, "job_type": job.job_type,
                                   "job_parameters": copy.deepcopy(job.job_parameters)}
            if job.name is not None:
                rec["name"] = job.name
            rec.update(status_code=job.status, request_time=_iso(job.request_time), priority=job.priority,
                       credit_cost=job.credit_cost)
            status, expiration = job.status, job.expiration_time
            if job.execution_started is not None:
                rec["execution_started"] = _iso(job.execution_started)
        if status in ("SUCCEEDED", "FAILED"):
            rec["processing_times"] = [round(300 + hash_int(job.job_id) % 3000 + 0.123, 3)]
            if expiration is not None:
                rec["expiration_time"] = _iso(expiration)
            files = f"{base}/files/{job.job_id}"
            if status == "SUCCEEDED":
                product = self._product(job)
                rec["files"] = [{"filename": product.archive, "s3": {"bucket": BUCKET,
                                 "key": f"{job.job_id}/{product.archive}"},
                                 "size": len(product.files[product.archive]),
                                 "url": f"{files}/{product.archive}"}]
                rec["browse_images"] = [f"{files}/{name}" for name in product.browse]
                rec["thumbnail_images"] = [f"{files}/{name}" for name in product.thumbnails]
            rec["logs"] = [f"{files}/{job.job_id}.log"]
        return rec

    # ------------------------------------------------------------------------------------ WSGI
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, values = self._routes.bind_to_environ(environ).match()
            with self._lock:
                self.requests[endpoint] += 1
            response = getattr(self, f"on_{endpoint}")(request, **values)
        except _Problem as exc:
            response = problem(exc.status, exc.detail)
        except HTTPException as exc:
            response = problem(exc.code or 500, exc.description or exc.name)
        return response(environ, start_response)

    def _base(self, request: Request) -> str:
        return (self.url or request.host_url).rstrip("/")

    def _user(self, request: Request) -> str:
        """The signed-in user, or a 401 problem."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), self.token.encode()):
            return self.token_user
        cookie = request.cookies.get("asf-urs")
        with self._lock:
            user = self._sessions.get(cookie) if cookie else None
        if user is None:
            raise _Problem(401, UNAUTHORIZED)
        return user

    # ----------------------------------------------------------------------------------- sign-in
    def on_root(self, request: Request) -> Response:
        return _json({"message": "HyP3 simulator", "docs": f"{self._base(request)}/ui/"})

    def on_authorize(self, request: Request) -> Response:
        """Earthdata Login's authorize step: HTTP Basic credentials -> a redirect carrying a one-time code."""
        auth = request.authorization
        password = self.users.get(auth.username or "") if auth is not None and auth.type == "basic" else None
        if auth is None or password is None or not hmac.compare_digest((auth.password or "").encode(),
                                                                        password.encode()):
            body = {"error": "invalid_credentials", "error_description": "Invalid user credentials"}
            return Response(json.dumps(body), 401, content_type="application/json",
                            headers={"WWW-Authenticate": 'Basic realm="Earthdata Login"'})
        if request.args.get("response_type", "code") != "code":
            raise _Problem(400, "response_type must be 'code'")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = auth.username or ""
        return _redirect(f"{self._base(request)}/login?{urlencode({'code': code})}")

    def on_login(self, request: Request) -> Response:
        """ASF's login step: trade the code for the ``asf-urs`` session cookie."""
        with self._lock:
            user = self._codes.pop(request.args.get("code", ""), None)
            if user is None:
                raise _Problem(401, UNAUTHORIZED)
            session = secrets.token_urlsafe(32)
            self._sessions[session] = user
        response = _redirect(f"{self._base(request)}/")
        response.set_cookie("asf-urs", session, path="/", httponly=True)
        return response

    # ------------------------------------------------------------------------------------- API
    def on_user(self, request: Request) -> Response:
        user = self._user(request)
        with self._lock:
            names = sorted({j.name for j in self.jobs.values() if j.user_id == user and j.name is not None})
            credits = self._credits.get(user, self._starting_credits)
        return _json({"user_id": user, "application_status": "APPROVED",
                      "remaining_credits": int(credits) if float(credits).is_integer() else credits,
                      "job_names": names})

    def on_submit(self, request: Request) -> Response:
        user = self._user(request)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _Problem(400, "Request body is not valid JSON")
        extra = sorted(set(body) - {"jobs", "validate_only"})
        if extra:
            raise _Problem(400, f"Additional properties are not allowed ({', '.join(map(repr, extra))} were "
                                "unexpected)")
        jobs, validate_only = body.get("jobs"), body.get("validate_only", False)
        if not isinstance(validate_only, bool):
            raise _Problem(400, f"{validate_only!r} is not of type 'boolean' - 'validate_only'")
        if not isinstance(jobs, list):
            raise _Problem(400, "'jobs' is a required property of type 'array'")
        if not jobs:
            raise _Problem(400, "[] is too short - 'jobs'")
        if len(jobs) > MAX_JOBS:
            raise _Problem(400, f"{len(jobs)} jobs is too many: at most {MAX_JOBS} per request - 'jobs'")
        try:
            specs = [validate_job(i, job) for i, job in enumerate(jobs)]
        except JobSpecError as exc:
            raise _Problem(400, str(exc)) from exc
        if validate_only:
            return _json({"jobs": specs, "validate_only": True})
        cost = sum(credit_cost(s["job_type"], s["job_parameters"]) for s in specs)
        with self._lock:
            remaining = self._credits.get(user, self._starting_credits)
            if cost > remaining:
                raise _Problem(400, f"These jobs would cost {cost:g} credits, but you have only {remaining:g} "
                                    "remaining")
            created = []
            for spec in specs:
                created.append(self._create(spec, user, self.now(), priority=int(min(remaining, 9999))))
                remaining -= created[-1].credit_cost
            self._credits[user] = remaining
        base = self._base(request)
        return _json({"jobs": [self.record(job, base) for job in created]})

    def on_list(self, request: Request) -> Response:
        user = self._user(request)
        args = request.args
        filters = {key: args[key] for key in ("name", "status_code", "job_type", "start", "end", "user_id")
                   if key in args}
        if filters.get("status_code", "PENDING") not in STATUSES:
            raise _Problem(400, f"{filters['status_code']!r} is not one of {list(STATUSES)!r} - 'status_code'")
        if filters.get("job_type", JOB_TYPES[0]) not in JOB_TYPES:
            raise _Problem(400, f"{filters['job_type']!r} is not one of {list(JOB_TYPES)!r} - 'job_type'")
        start, end = (_query_time(filters, key) for key in ("start", "end"))
        owner = filters.get("user_id", user)
        cursor = _decode_token(args["start_token"]) if "start_token" in args else None
        with self._lock:
            candidates = sorted(
                (j for j in self.jobs.values()
                 if j.user_id == owner and ("name" not in filters or j.name == filters["name"])
                 and ("job_type" not in filters or j.job_type == filters["job_type"])
                 and (start is None or j.request_time >= start) and (end is None or j.request_time <= end)
                 and (cursor is None or j.sort_key() < cursor)),
                key=SimJob.sort_key, reverse=True)
            wanted = filters.get("status_code")
            page: list[SimJob] = []
            more = False
            for job in candidates:
                if len(page) == self.page_size:
                    more = wanted is None or self._status_after_poll(job) == wanted
                    if more:
                        break
                    continue
                self._poll(job)
                if wanted is None or job.status == wanted:
                    page.append(job)
        base = self._base(request)
        body: dict[str, Any] = {"jobs": [self.record(job, base) for job in page]}
        if more:
            token = _encode_token(page[-1])
            body["next"] = f"{base}/jobs?{urlencode({**filters, 'start_token': token})}"
        return _json(body)

    def on_job(self, request: Request, job_id: str) -> Response:
        self._user(request)
        job = self.jobs.get(job_id)
        if job is None:
            raise _Problem(404, f"Job {job_id} does not exist")
        with self._lock:
            self._poll(job)
        return _json(self.record(job, self._base(request)))

    def on_file(self, request: Request, job_id: str, filename: str) -> Response:
        """A product file, like the public S3 content bucket serves it (no auth; 404 once expired)."""
        job = self.jobs.get(job_id)
        data = self._file_bytes(job, filename) if job is not None else None
        if data is None:
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The '
                    f"specified key does not exist.</Message><Key>{job_id}/{filename}</Key></Error>")
            return Response(body, 404, content_type="application/xml")
        if request.method == "GET":
            with self._lock:
                self.file_gets[f"{job_id}/{filename}"] += 1
        media = mimetypes.guess_type(filename)[0] or "binary/octet-stream"
        if filename.endswith(".nc"):
            media = "application/x-netcdf"
        return range_response(request, len(data), lambda offset, length: data[offset:offset + length],
                              etag=hashlib.md5(data).hexdigest(), content_type=media)

    # --------------------------------------------------------------------------------- internals
    def _create(self, spec: dict[str, Any], user: str, when: datetime, *, priority: int) -> SimJob:
        canonical = json.dumps({"user": user, **spec}, sort_keys=True, separators=(",", ":"))
        with self._lock:
            count = self._spec_counts[canonical]
            self._spec_counts[canonical] += 1
            job_id = str(uuid.uuid5(self._namespace, f"{canonical}\n{count}"))
            job = SimJob(job_id, user, spec["job_type"], spec["job_parameters"], spec.get("name"),
                         when.astimezone(timezone.utc).replace(microsecond=0), priority,
                         credit_cost(spec["job_type"], spec["job_parameters"]), fault_for(spec.get("name")))
            self.jobs[job_id] = job
            self._product_locks[job_id] = threading.Lock()
        log.debug("job %s (%s, %s) submitted by %s", job_id, job.job_type, job.name, user)
        return job

    def _status_after_poll(self, job: SimJob) -> str:
        """The status ``job`` would show if polled once more (without polling it)."""
        if job.finished or job.fault == "never":
            return "RUNNING" if job.fault == "never" else job.status
        if job.polls + 1 >= self.polls_to_finish:
            return "FAILED" if job.fault == "fail" else "SUCCEEDED"
        return "RUNNING"

    def _poll(self, job: SimJob) -> None:
        """Count a GET of ``job`` and move it on (call with the lock held)."""
        if job.finished:
            return
        job.polls += 1
        if job.status == "PENDING":
            job.status = "RUNNING"
            job.execution_started = self.now()
        if job.fault != "never" and job.polls >= self.polls_to_finish:
            self._finish(job, "FAILED" if job.fault == "fail" else "SUCCEEDED")

    def _finish(self, job: SimJob, status: str) -> None:
        job.status = status
        if job.fault == "expired":
            job.expiration_time = min(job.request_time, self.now()) - timedelta(days=1)
        else:
            job.expiration_time = job.request_time + self.lifetime
        log.debug("job %s %s", job.job_id, status)

    def _product(self, job: SimJob) -> Product:
        # rendering needs numpy, rasterio and h5py: loaded with the first product, not with the simulator
        from adapters.hyp3.simproducts import PRODUCT_FAULTS, make_product

        with self._product_locks[job.job_id]:
            if job.product is None:
                fault = job.fault if job.fault in PRODUCT_FAULTS else None
                job.product = make_product(job.job_type, job.job_parameters, job.job_id, fault=fault,
                                           raster_size=self.raster_size)
            return job.product

    def _file_bytes(self, job: SimJob, filename: str) -> bytes | None:
        """The bytes of a published file, or None (not finished, expired, or no such file)."""
        with self._lock:
            status, expiration = job.status, job.expiration_time
        if status not in ("SUCCEEDED", "FAILED") or (expiration is not None and self.now() >= expiration):
            return None
        if filename == f"{job.job_id}.log":
            return self._log(job, status)
        if status != "SUCCEEDED":
            return None
        return self._product(job).files.get(filename)

    def _log(self, job: SimJob, status: str) -> bytes:
        lines = [f"HyP3 {job.job_type} job {job.job_id}", f"parameters: {json.dumps(job.job_parameters)}",
                 "processing started"]
        if status == "FAILED":
            lines += ["ERROR: processing failed: the requested scenes do not overlap the DEM", "job FAILED"]
        else:
            lines += [f"uploading {self._product(job).archive}", "job SUCCEEDED"]
        return ("\n".join(lines) + "\n").encode()


def _json(data: Any) -> Response:
    return Response(json.dumps(data), 200, content_type="application/json")


def _redirect(location: str) -> Response:
    return Response("", 302, headers={"Location": location})


def _query_time(filters: dict[str, str], key: str) -> datetime | None:
    if key not in filters:
        return None
    try:
        moment = datetime.fromisoformat(filters[key])
    except ValueError:
        raise _Problem(400, f"{filters[key]!r} is not a 'date-time' - '{key}'") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _encode_token(job: SimJob) -> str:
    data = {"job_id": job.job_id, "user_id": job.user_id, "request_time": _iso(job.request_time)}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(data["request_time"]), str(data["job_id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _Problem(400, f"Invalid start_token value: {token!r}") from None


# ----------------------------------------------------------------------------------------- serving


#: a `Hyp3Simulator` served on loopback behind a `FaultInjector` (control API under ``/_simkit/``)
SimulatorServer = ServedSimulator[Hyp3Simulator]


def serve(port: int = 0, *, host: str = "127.0.0.1", **kw: Any) -> ServedSimulator[Hyp3Simulator]:
    """Serve a new `Hyp3Simulator` (``kw``: its constructor arguments) on ``host:port`` (0: any free port)."""
    return serve_simulator(Hyp3Simulator(**kw), port=port, host=host)


def main(argv: list[str] | None = None) -> int:
    """Serve the HyP3 simulator on loopback until stdin closes or the process is interrupted."""
    parser = argparse.ArgumentParser(prog="python -m adapters.hyp3.simulator", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token", default="sim-token", help="accepted bearer token")
    parser.add_argument("--user", action="append", metavar="NAME:PASSWORD",
                        help="an Earthdata Login account for the sign-in (repeatable; default sim-user:sim-password)")
    parser.add_argument("--page-size", type=int, default=3)
    parser.add_argument("--polls-to-finish", type=int, default=2)
    parser.add_argument("--raster-size", type=int, default=None)
    parser.add_argument("--demo", action="store_true", help="start with one finished job of every type")
    args = parser.parse_args(argv)
    users = dict(u.split(":", 1) for u in args.user) if args.user else None
    with serve(args.port, seed=args.seed, token=args.token, users=users, page_size=args.page_size,
               polls_to_finish=args.polls_to_finish, raster_size=args.raster_size) as served:
        if args.demo:
            for spec in EXAMPLE_JOBS:
                served.sim.add_job(spec, user=served.sim.token_user)
        print(served.url, flush=True)
        print(f"HyP3 simulator: bearer token {args.token!r}, users {sorted(served.sim.users)}", file=sys.stderr,
              flush=True)
        wait_for_stdin_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
