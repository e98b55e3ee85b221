"""A simulator of the NGU InSAR Norway API (``seeds/ngu-insar-api.txt``, ``PROVIDERS.md``), as a WSGI app.

- ``GET /list-datasets``: the six datasets of the API page (``name``, ``displayName``, ``attribution``);
- ``POST /<dataset>/query?bbox=lon1,lat1,lon2,lat2`` -> ``{"id": ...}`` (400 for an unknown dataset or a bad
  box; the corners may come in any order, as on the API page);
- ``GET /query-state?id=``: each poll moves the query one state on, ``created, queued, init, tiles, process``
  then ``complete``, with the API's ``messages`` ("Processing tile 1 of 2", "Stored 922 points to ..."),
  ``progress``, ``num_points``, ``duration``, ``started``/``updated``/``expires`` timestamps and, once
  complete, the ``csv`` list. A query is removed ``lifetime`` seconds after completion (one hour, scaled
  down in tests): then its state and its downloads answer 404;
- ``GET /query-download?id=&csv=``: the gzipped CSV (`adapters.ngu.simdata`), one file per swath the box
  spans (swaths are 0.05 degree bands of longitude, cycling IW1-IW3, so the API page's own example box gives
  ``160-IW1-414-in-asc1-v20a.csv.gz`` and ``160-IW2-414-...``), with Range support.

Faults, by Python API (`NguSimulator` arguments and attributes): ``errors`` (dataset -> messages: its
queries end in ``error``), ``malformed_rows`` (bad rows in every file), ``not_visible_polls`` (a new query
answers 404 to its first polls), ``expire_at_download`` (how many queries lose their results when their
first file is downloaded: expiry between polling and downloading), ``plain_downloads`` (serve the CSVs
un-gzipped, as a stack that decompresses on the way would). Transport faults come from
`adapters.simkit.FaultInjector`, which `serve` wraps the app in.

Run ``python -m adapters.ngu.simulator --port N`` (or ``harvester simulate ngu``).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from adapters.errors import RequestRejectedError
from adapters.ngu.names import DATASETS, BBox, normalise_bbox, result_name
from adapters.simkit import ServedSimulator, range_response, serve_simulator, wait_for_stdin_close

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from adapters.ngu.simdata import FileSpec

#: the states a query passes through, one per poll
PROGRESSION = ("created", "queued", "init", "tiles", "process", "complete")
TRACKS = {"in-asc1-v20a": 160, "in-asc2-v20a": 58, "in-asc3-v20a": 131, "in-dsc1-v20a": 37,
          "in-dsc2-v20a": 139, "in-dsc3-v20a": 66}
SWATH_BAND = 0.05  # degrees of longitude per swath
ATTRIBUTION = "2015-2019"
LIFETIME = 3600.0


@dataclass
class SimQuery:
    id: str
    dataset: str
    bbox_text: str
    bbox: BBox
    created: float
    polls: int = 0
    state: str = "created"
    started: float | None = None
    completed: float | None = None
    gone: bool = False
    expire_at_download: bool = False
    files: dict[str, FileSpec] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


class NguSimulator:
    """The NGU InSAR API as a WSGI app (see the module docstring).

    ``density``: points per km² of each file (at least 20 a file); ``dates``: acquisitions per file;
    ``lifetime``: seconds a completed query stays; ``styles``: dataset -> release style (``"2020"`` default,
    ``"2023"``); ``step_seconds``: a query also moves one state on per this many seconds since its submission
    (None: per poll only, as the tests count them; `harvester simulate ngu` sets it, so a query found by a
    harvest's first poll, 30 s after the submission by default, is complete as real queries of small boxes
    are); ``clock``: the time (default `time.time`).
    """

    def __init__(self, *, seed: int = 0, density: float = 150.0, dates: int = 40, lifetime: float = LIFETIME,
                 styles: dict[str, str] | None = None, errors: dict[str, list[str]] | None = None,
                 malformed_rows: int = 0, not_visible_polls: int = 0, expire_at_download: int = 0,
                 plain_downloads: bool = False, step_seconds: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.seed = seed
        self.density = density
        self.dates = dates
        self.lifetime = lifetime
        self.styles = dict(styles or {})
        self.errors = dict(errors or {})
        self.malformed_rows = malformed_rows
        self.not_visible_polls = not_visible_polls
        self.expire_at_download = expire_at_download
        self.plain_downloads = plain_downloads
        self.step_seconds = step_seconds
        self.clock = clock
        self.queries: dict[str, SimQuery] = {}
        #: requests by endpoint (``datasets``, ``query``, ``state``, ``download``)
        self.requests: Counter[str] = Counter()
        #: downloads that served bytes, by ``"<query id>/<csv>"``
        self.downloads: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._cache: dict[tuple[str, str], bytes] = {}
        self._lock = threading.RLock()
        self._routes = Map([
            Rule("/list-datasets", methods=["GET"], endpoint="datasets"),
            Rule("/<dataset>/query", methods=["POST"], endpoint="query"),
            Rule("/query-state", methods=["GET"], endpoint="state"),
            Rule("/query-download", methods=["GET"], endpoint="download"),
        ], strict_slashes=False)

    # ------------------------------------------------------------------------------ Python API
    def file_specs(self, dataset: str, bbox: BBox) -> dict[str, FileSpec]:
        """The result files of a query: one per swath band the box crosses (its part of the box)."""
        from adapters.ngu.simdata import FileSpec

        west, south, east, north = bbox
        track = TRACKS.get(dataset, 100 + int(hashlib.sha256(dataset.encode()).hexdigest()[:4], 16) % 75)
        burst = int(math.floor(((south + north) / 2.0) * 10.0)) - 279
        files: dict[str, FileSpec] = {}
        band = math.floor(west / SWATH_BAND)
        while band * SWATH_BAND < east:
            lo, hi = max(west, band * SWATH_BAND), min(east, (band + 1) * SWATH_BAND)
            if hi > lo:
                mode = band % 3
                width_km = (hi - lo) * 111.32 * math.cos(math.radians((south + north) / 2.0))
                points = max(20, int(width_km * (north - south) * 110.57 * self.density))
                name = result_name(track, f"IW{mode + 1}", burst, dataset)
                spec = files.get(name)
                box = (lo, south, hi, north) if spec is None else (spec.box[0], south, hi, north)
                files[name] = FileSpec(track, mode, burst, box, bbox, points + (spec.points if spec else 0),
                                       self.dates, self.styles.get(dataset, "2020"), self.seed, self.malformed_rows)
            band += 1
        return files

    def file_bytes(self, query: SimQuery, name: str) -> bytes:
        from adapters.ngu.simdata import gzip_bytes

        key = (query.id, name)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = gzip_bytes(query.files[name])
            with self._lock:
                self._cache[key] = cached
        if self.plain_downloads:
            import gzip

            return gzip.decompress(cached)
        return cached

    # ------------------------------------------------------------------------------------ WSGI
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        adapter = self._routes.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
        except Exception:  # werkzeug's NotFound / MethodNotAllowed
            return _text(404, "Not found")(environ, start_response)
        with self._lock:
            self.requests[endpoint] += 1
        response = getattr(self, f"on_{endpoint}")(request, **values)
        return response(environ, start_response)

    def on_datasets(self, request: Request) -> Response:
        return _json([{"attribution": ATTRIBUTION, "displayName": display, "name": name}
                      for name, display in DATASETS.items()])

    def on_query(self, request: Request, dataset: str) -> Response:
        if dataset not in DATASETS:
            return _json({"message": f"Unknown dataset: {dataset}"}, 400)
        text = request.args.get("bbox", "")
        try:
            bbox = normalise_bbox(text)
        except RequestRejectedError as exc:
            return _json({"message": f"Invalid bbox: {exc}"}, 400)
        with self._lock:
            self._counts[f"{dataset}/{text}"] += 1
            key = f"{self.seed}/{dataset}/{text}/{self._counts[f'{dataset}/{text}']}"
            query_id = hashlib.sha256(key.encode()).hexdigest()[:32]
            query = SimQuery(query_id, dataset, text, bbox, self.clock(), files=self.file_specs(dataset, bbox))
            if self.expire_at_download > 0:
                self.expire_at_download -= 1
                query.expire_at_download = True
            self.queries[query_id] = query
        return _json({"id": query_id})

    def on_state(self, request: Request) -> Response:
        query = self._live(request.args.get("id", ""))
        if query is None:
            return _text(404, "Not found")
        with self._lock:
            query.polls += 1
            if query.polls <= self.not_visible_polls:
                return _text(404, "Not found")
            if query.polls > self.not_visible_polls + 1:  # the first answer shows it as created
                self._advance(query)
            if self.step_seconds:
                due = int((self.clock() - query.created) / self.step_seconds)
                while query.state in PROGRESSION and PROGRESSION.index(query.state) < min(due, len(PROGRESSION) - 1):
                    self._advance(query)
            return _json(self._state(query))

    def on_download(self, request: Request) -> Response:
        query = self._live(request.args.get("id", ""))
        name = request.args.get("csv", "")
        if query is None or query.state != "complete" or name not in query.files:
            return _text(404, "Not found")
        with self._lock:
            if query.expire_at_download:
                query.gone = True
                return _text(404, "Not found")
        body = self.file_bytes(query, name)
        with self._lock:
            self.downloads[f"{query.id}/{name}"] += 1
        etag = hashlib.sha256(body).hexdigest()[:16]
        return range_response(request, len(body), lambda offset, length: body[offset:offset + length], etag=etag,
                              content_type="text/csv" if self.plain_downloads else "application/gzip")

    # ------------------------------------------------------------------------------ the queries
    def _live(self, query_id: str) -> SimQuery | None:
        with self._lock:
            query = self.queries.get(query_id)
            if query is None or query.gone:
                return None
            if query.completed is not None and self.clock() > query.completed + self.lifetime:
                query.gone = True
                return None
            return query

    def _advance(self, query: SimQuery) -> None:
        if query.state in ("complete", "error"):
            return
        step = PROGRESSION.index(query.state) + 1
        query.state = PROGRESSION[step]
        now = self.clock()
        files = query.files
        if query.state == "queued":
            query.messages = ["Queued"]
        elif query.state == "init":
            query.started = now
            query.messages.append("Query initializing")
        elif query.state == "tiles":
            query.messages += ["Determining overlapping tiles", f"Got {len(files)} tiles",
                               f"Approximately {sum(f.points for f in files.values()) * 7} points to store"]
            if query.dataset in self.errors:
                query.state = "error"
                query.messages += list(self.errors[query.dataset])
        elif query.state == "process":
            for i, (name, spec) in enumerate(files.items(), 1):
                query.messages += [f"Processing tile {i} of {len(files)}", f"Got {spec.points} points",
                                   "Tile contains points from 1 different sets",
                                   f"Stored {spec.points} points to {name}", "Stored data from 1 different sets",
                                   f"Finished tile {i} of {len(files)}"]
        elif query.state == "complete":
            query.completed = now
            query.messages.append("All done")

    def _state(self, query: SimQuery) -> dict[str, Any]:
        now = self.clock()
        step = PROGRESSION.index(query.state) if query.state in PROGRESSION else 2
        total = sum(f.points for f in query.files.values())
        state: dict[str, Any] = {"id": query.id, "state": query.state, "duration": round(now - query.created, 6),
                                 "messages": list(query.messages), "complete": query.state == "complete",
                                 "progress": round(max(0.0, (step - 2) / 3.0), 4) if query.state != "error" else 0.0,
                                 "version": "1.0.0"}
        if query.started is not None:
            done = total if query.state == "complete" else (total // 2 if query.state == "process" else 0)
            state.update(dataset=query.dataset, bbox=query.bbox_text, started=query.started, updated=now,
                         expires=(query.completed or now) + self.lifetime, pid=29851, num_points=done)
        if query.state == "complete":
            state["csv"] = list(query.files)
            state["updated"] = query.completed
        return state


def _json(data: Any, status: int = 200) -> Response:
    import json

    return Response(json.dumps(data), status=status, mimetype="application/json")


def _text(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


# ----------------------------------------------------------------------------------------- serving



#: ``step_seconds`` of a simulator served to be tried by hand (`harvester simulate ngu`, `main`): a harvest's first
#: poll (30 s after the submission by default) finds its query complete
HAND_STEP_SECONDS = 1.0


def serve(port: int = 0, *, host: str = "127.0.0.1", **kw: Any) -> ServedSimulator[NguSimulator]:
    """Serve a new `NguSimulator` (``kw``: its constructor arguments) on ``host:port`` (0: any free port)."""
    return serve_simulator(NguSimulator(**kw), port=port, host=host)


def main(argv: list[str] | None = None) -> int:
    """Serve the NGU InSAR simulator on loopback until stdin closes or the process is interrupted."""
    parser = argparse.ArgumentParser(prog="python -m adapters.ngu.simulator", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=LIFETIME, help="seconds a completed query stays")
    args = parser.parse_args(argv)
    with serve(args.port, seed=args.seed, lifetime=args.lifetime, step_seconds=HAND_STEP_SECONDS) as served:
        print(served.url, flush=True)
        wait_for_stdin_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
