"""The demo: the provider simulators on loopback, harvested through exactly the pipeline `harvester run` uses.

`run_demo` starts each provider's simulator on a free loopback port, describes one source per provider
(for HyP3: a job list with every job type, from the examples of the HyP3 API page; for AppEEARS: an area
task in geographic projection and a point task, built from flags; for NGU: the API page's example box in one
dataset, which spans two swaths, and a query of a second dataset in the newer release layout; for Sentinel
Hub: a Catalog search with a CQL2 filter and one Async Process request delivered to a loopback S3 server), runs
`harvester.pipeline.run` on that config and validates the catalog offline. The simulators are
deterministic (job ids and products derive from a seed and the request), so a second demo into the same
folder submits, downloads, converts and rewrites nothing.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from adapters.appeears.simulator import PREFIX as APPEEARS_PREFIX, AppeearsSimulator
from adapters.hyp3.jobs import API_EXAMPLES
from adapters.hyp3.simulator import Hyp3Simulator
from adapters.ngu.simulator import NguSimulator
from adapters.simkit import LoopbackServer
from catalogs.validate import ValidationReport, validate_catalog
from harvester import pipeline
from harvester.config import CatalogConfig, Config, RunOptions, SourceConfig, parse_source
from harvester.pipeline import Summary
from harvester.progress import NullProgress, Progress

log = logging.getLogger(__name__)

DEMO_SEED = 0
#: the AppEEARS sources of the demo: an area task (MOD13Q1 NDVI around Oslo, geographic) and a point task
APPEEARS_SOURCES = (
    {"name": "demo-appeears-area", "task_type": "area", "start_date": "01-01-2020", "end_date": "02-15-2020",
     "layers": "MOD13Q1.061,_250m_16_days_NDVI", "bbox": [10.6, 59.85, 10.9, 60.0], "projection": "geographic"},
    {"name": "demo-appeears-points", "task_type": "point", "start_date": "06-01-2020", "end_date": "07-15-2020",
     "layers": "MOD13Q1.061,_250m_16_days_NDVI", "coordinates": "oslo,city,59.91,10.75;bergen,coast,60.39,5.32"},
)

#: the NGU API page's example box (corners as it gives them, upside down): swaths IW1 and IW2 of its dataset
NGU_DEMO_BBOX = [20.1404, 69.3438, 20.1827, 69.3293]
#: a box inside one swath of a descending dataset, served in the newer release layout
NGU_DEMO_BBOX_2 = [20.155, 69.335, 20.19, 69.35]
NGU_DEMO_DATASETS = ("in-asc1-v20a", "in-dsc1-v20a")

@dataclass
class DemoResult:
    root: Path
    items: dict[str, int]
    report: ValidationReport
    summary: Summary


def run_demo(out: Path, *, progress: Progress | None = None, run: RunOptions | None = None) -> DemoResult:
    """Harvest the simulators into the catalog at ``out`` and validate it."""
    out = Path(out).resolve()
    options = run or RunOptions(poll_interval=0.2, poll_max_interval=1.0, timeout=600.0)
    with ExitStack() as stack:
        simulator = Hyp3Simulator(seed=DEMO_SEED)
        server = stack.enter_context(LoopbackServer(simulator))
        simulator.url = server.url
        stack.enter_context(_environment(EARTHDATA_TOKEN=simulator.token))
        hyp3 = parse_source({"provider": "hyp3", "name": "demo-hyp3", "url": server.url, "jobs": API_EXAMPLES},
                            "demo", base_dir=out, env={}, origin="demo")
        sources = [hyp3, *_appeears_sources(stack, out), *_ngu_sources(stack, out),
                   *_sentinelhub_sources(stack, out)]
        config = Config(CatalogConfig(out, title="stac-harvester demo",
                                      description="Products of the built-in provider simulators, harvested by "
                                                  "stac-harvester"), options, sources)
        summary = pipeline.run(config, progress=progress or NullProgress())
    report = validate_catalog(out)
    log.debug("demo catalog at %s: %d objects, %s", out, len(report.objects), "valid" if report.ok else "INVALID")
    return DemoResult(out, _item_counts(report, out), report, summary)


def _appeears_sources(stack: ExitStack, out: Path) -> list[SourceConfig]:
    """The AppEEARS simulator on loopback, its Earthdata login in the environment, and the demo's two tasks."""
    simulator = AppeearsSimulator(seed=DEMO_SEED)
    server = stack.enter_context(LoopbackServer(simulator))
    simulator.url = server.url
    user, password = next(iter(simulator.users.items()))
    stack.enter_context(_environment(EARTHDATA_USERNAME=user, EARTHDATA_PASSWORD=password,
                                     APPEEARS_CACHE_DIR=str(out / ".harvest" / "appeears-products")))
    return [parse_source({"provider": "appeears", "url": server.url + APPEEARS_PREFIX, **source},
                         "demo", base_dir=out, env={}, origin="demo") for source in APPEEARS_SOURCES]


def _ngu_sources(stack: ExitStack, out: Path) -> list[SourceConfig]:
    """The NGU simulator on loopback and the demo's two NGU sources (three result files)."""
    simulator = NguSimulator(seed=DEMO_SEED, dates=36, styles={NGU_DEMO_DATASETS[1]: "2023"})
    server = stack.enter_context(LoopbackServer(simulator))
    sources = [{"provider": "ngu", "name": "demo-ngu", "url": server.url, "dataset": NGU_DEMO_DATASETS[0],
                "bbox": NGU_DEMO_BBOX},
               {"provider": "ngu", "name": "demo-ngu-2023", "url": server.url, "dataset": NGU_DEMO_DATASETS[1],
                "bbox": NGU_DEMO_BBOX_2}]
    return [parse_source(raw, "demo", base_dir=out, env={}, origin="demo") for raw in sources]


# -- Sentinel Hub: a Catalog search with a CQL2 filter, and one Async Process request delivered to S3


#: the demo's Async Process request: an NDVI over the simulated Sentinel-2 tiles in UTM 33N, December 2020
SENTINELHUB_REQUEST = {
    "input": {"bounds": {"bbox": [370000, 5020000, 410000, 5060000],
                         "properties": {"crs": "http://www.opengis.net/def/crs/EPSG/0/32633"}},
              "data": [{"type": "sentinel-2-l2a", "dataFilter": {
                  "timeRange": {"from": "2020-12-01T00:00:00Z", "to": "2020-12-31T23:59:59Z"},
                  "maxCloudCoverage": 30, "mosaickingOrder": "leastCC"}}]},
    "output": {"resx": 50, "resy": 50, "responses": [{"identifier": "ndvi", "format": {"type": "image/tiff"}},
                                                     {"identifier": "truecolor", "format": {"type": "image/tiff"}}],
               "delivery": {"s3": {"url": "s3://demo-deliveries/sentinelhub", "region": "eu-central-1",
                                   "accessKey": "demo-access-key", "secretAccessKey": "demo-secret-key"}}},
    "evalscript": ('//VERSION=3\nfunction setup() {\n  return {input: [{bands: ["B02", "B03", "B04", "B08"]}],\n'
                   '    output: [{id: "ndvi", bands: 1, sampleType: "FLOAT32"},\n'
                   '             {id: "truecolor", bands: 3, sampleType: "UINT16"}]};\n}\n'
                   'function evaluatePixel(s) {\n  return {ndvi: [index(s.B08, s.B04)],\n'
                   '          truecolor: [10000 * s.B04, 10000 * s.B03, 10000 * s.B02]};\n}\n'),
}


def _sentinelhub_sources(stack: ExitStack, out: Path) -> list[SourceConfig]:
    """The Sentinel Hub simulator on loopback, its sources, and its S3 delivery server started lazily: only
    when the simulator first writes an output (a re-run that submits nothing never loads boto3 or moto)."""
    from adapters.sentinelhub.simulator import SentinelHubSimulator

    def start_s3() -> object:
        from adapters.s3sim import LoopbackS3

        s3 = stack.enter_context(LoopbackS3())
        # where the adapter lists and fetches outputs (AWS_ENDPOINT_URL_S3 would win over AWS_ENDPOINT_URL)
        stack.enter_context(_environment(**s3.environment(), AWS_ENDPOINT_URL_S3=s3.url))
        return s3.client()

    simulator = SentinelHubSimulator(seed=DEMO_SEED, s3=start_s3, polls_to_finish=2)
    server = stack.enter_context(LoopbackServer(simulator))
    simulator.url = server.url
    stack.enter_context(_environment(SH_CLIENT_ID=simulator.client_id, SH_CLIENT_SECRET=simulator.client_secret))
    where = {"base_url": server.url, "auth_url": simulator.token_url}
    search = {"provider": "sentinelhub-catalog", "name": "demo-sentinelhub-search", "collection": "sentinel-2-l2a",
              "bbox": [13.0, 45.0, 15.0, 46.0], "datetime": "2020-12-01T00:00:00Z/2020-12-31T23:59:59Z",
              "filter": "eo:cloud_cover < 30", "search_every": 86400.0, **where}
    process = {"provider": "sentinelhub-async", "name": "demo-sentinelhub-async", "request": SENTINELHUB_REQUEST,
               **where}
    return [parse_source(raw, "demo", base_dir=out, env={}, origin="demo") for raw in (search, process)]


def _item_counts(report: ValidationReport, root: Path) -> dict[str, int]:
    """Items per collection, from the validation that read them all (``<collection>/.../<id>.json``)."""
    return dict(Counter(obj.path.relative_to(root).parts[0] for obj in report.objects if obj.kind == "Item"))


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration (the adapters read credentials from the environment)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
