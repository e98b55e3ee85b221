"""HyP3 job lists: what each job type takes, checked before anything is sent.

The API validates job lists too, but a list of 500 jobs that fails at job 437 after two batches went in
is a mess to recover from; checking every job first means a bad list is refused whole, with a message
naming the job and the field, and nothing is submitted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.errors import RequestRejectedError
from adapters.hyp3.granules import LANDSAT_L1, S1_BURST, S1_SCENE, S2_L1C
from adapters.hyp3.names import JOB_TYPES

#: the API takes at most this many jobs per POST /jobs
MAX_JOBS_PER_REQUEST = 200
MAX_NAME_LENGTH = 100

Granule = Callable[[str], bool]


def _matches(pattern: re.Pattern[str], **allowed: tuple[str, ...]) -> Granule:
    """A granule check: ``pattern`` matches the whole name and each group in ``allowed`` has one of its values."""
    return lambda name: bool((g := pattern.fullmatch(name)) and all(g[k] in v for k, v in allowed.items()))


def _any_of(*checks: Granule) -> Granule:
    return lambda name: any(check(name) for check in checks)


_S1_SLC = _matches(S1_SCENE, product=("SLC_",), beam=("IW", "EW"))
_S1_BURSTS = _matches(S1_BURST)
#: what autoRIFT pairs: Sentinel-1 SLCs, Sentinel-2 L1C products, Landsat 7-9 (C, O or T sensors)
_AUTORIFT_SCENE = _any_of(_S1_SLC, _matches(S2_L1C),
                          _matches(LANDSAT_L1, sensor=("C", "O", "T"), number=("7", "8", "9")))
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Param:
    """One job parameter: a check of its value and a description of what it must be."""

    check: Any  # Callable[[Any], bool]
    want: str


def _granules(is_granule: Granule, count: int | tuple[int, int], what: str) -> Param:
    low, high = (count, count) if isinstance(count, int) else count
    size = f"{low}" if low == high else f"{low} to {high}"

    def check(value: Any) -> bool:
        return (isinstance(value, list) and low <= len(value) <= high
                and all(isinstance(v, str) and is_granule(v) for v in value))

    return Param(check, f"a list of {size} {what} name(s)")


def _bool() -> Param:
    return Param(lambda v: isinstance(v, bool), "true or false")


def _one_of(*values: Any) -> Param:
    return Param(lambda v: v in values, "one of " + ", ".join(json.dumps(v) for v in values))


def _number(low: float, high: float) -> Param:
    return Param(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high,
                 f"a number from {low:g} to {high:g}")


_DATE_PARAM = Param(lambda v: isinstance(v, str) and bool(_DATE.match(v)), "a date YYYY-MM-DD")

#: job type -> (required parameters, optional parameters)
JOB_PARAMETERS: dict[str, tuple[dict[str, Param], dict[str, Param]]] = {
    "RTC_GAMMA": (
        {"granules": _granules(_matches(S1_SCENE), 1, "Sentinel-1 GRD or SLC scene")},
        {"radiometry": _one_of("gamma0", "sigma0"), "scale": _one_of("power", "decibel", "amplitude"),
         "resolution": _one_of(10, 20, 30), "dem_matching": _bool(), "include_dem": _bool(),
         "include_inc_map": _bool(), "include_scattering_area": _bool(), "include_rgb": _bool(),
         "speckle_filter": _bool(), "dem_name": _one_of("copernicus")},
    ),
    "INSAR_GAMMA": (
        {"granules": _granules(_S1_SLC, 2, "Sentinel-1 SLC scene")},
        {"looks": _one_of("20x4", "10x2"), "include_look_vectors": _bool(), "include_los_displacement": _bool(),
         "include_displacement_maps": _bool(), "include_wrapped_phase": _bool(), "include_inc_map": _bool(),
         "include_dem": _bool(), "apply_water_mask": _bool(), "phase_filter_parameter": _number(0.0, 1.0)},
    ),
    "INSAR_ISCE_BURST": (
        {"granules": _granules(_S1_BURSTS, 2, "Sentinel-1 burst")},
        {"looks": _one_of("20x4", "10x2", "5x1"), "apply_water_mask": _bool()},
    ),
    "INSAR_ISCE_MULTI_BURST": (
        {"reference": _granules(_S1_BURSTS, (1, 15), "Sentinel-1 burst"),
         "secondary": _granules(_S1_BURSTS, (1, 15), "Sentinel-1 burst")},
        {"looks": _one_of("20x4", "10x2", "5x1"), "apply_water_mask": _bool()},
    ),
    "AUTORIFT": (
        {"granules": _granules(_AUTORIFT_SCENE, 2, "Sentinel-1 SLC, Sentinel-2 L1C or Landsat")},
        {},
    ),
    "ARIA_S1_GUNW": (
        {"reference_date": _DATE_PARAM, "secondary_date": _DATE_PARAM,
         "frame_id": Param(lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 27397,
                           "an ARIA frame id (integer 0 to 27397)")},
        {},
    ),
    "OPERA_RTC_S1": (
        {"granules": _granules(_matches(S1_BURST, pol=("VV", "HH")), 1,
                               "co-polarised (VV or HH) Sentinel-1 burst")},
        {},
    ),
}

#: every job of the HyP3 API page's examples (all seven job types)
API_EXAMPLES: list[dict[str, Any]] = [
    {"name": "minimal-rtc-example", "job_type": "RTC_GAMMA", "job_parameters": {
        "granules": ["S1A_IW_GRDH_1SDV_20210214T154837_20210214T154901_036588_044C54_032E"]}},
    {"name": "custom-rtc-example", "job_type": "RTC_GAMMA", "job_parameters": {
        "granules": ["S1B_IW_GRDH_1SDV_20210210T153157_20210210T153222_025546_030B48_2901"],
        "radiometry": "gamma0", "scale": "power", "dem_matching": False, "include_dem": True,
        "include_inc_map": True, "include_scattering_area": False, "speckle_filter": False}},
    {"name": "custom-rtc-example", "job_type": "RTC_GAMMA", "job_parameters": {
        "granules": ["S1B_IW_GRDH_1SDV_20210210T153132_20210210T153157_025546_030B48_4E31"],
        "radiometry": "sigma0", "scale": "amplitude", "dem_matching": False, "include_dem": False,
        "include_inc_map": False, "include_scattering_area": True, "speckle_filter": True}},
    {"name": "minimal-insar-example", "job_type": "INSAR_GAMMA", "job_parameters": {
        "granules": ["S1A_IW_SLC__1SDV_20200203T172103_20200203T172122_031091_03929B_3048",
                     "S1A_IW_SLC__1SDV_20200110T172104_20200110T172123_030741_03864E_A996"]}},
    {"name": "custom-insar-example", "job_type": "INSAR_GAMMA", "job_parameters": {
        "granules": ["S1A_IW_SLC__1SDV_20200527T195012_20200527T195028_032755_03CB56_3D96",
                     "S1A_IW_SLC__1SDV_20200515T195012_20200515T195027_032580_03C609_4EBA"],
        "looks": "10x2", "include_look_vectors": True, "include_los_displacement": True}},
    {"name": "single-burst-example", "job_type": "INSAR_ISCE_BURST", "job_parameters": {
        "granules": ["S1_136231_IW2_20200604T022312_VV_7C85-BURST", "S1_136231_IW2_20200616T022313_VV_5D11-BURST"]}},
    {"name": "multi-burst-example", "job_type": "INSAR_ISCE_MULTI_BURST", "job_parameters": {
        "reference": ["S1_136231_IW2_20200604T022312_VV_7C85-BURST", "S1_136232_IW2_20200604T022315_VV_7C85-BURST"],
        "secondary": ["S1_136231_IW2_20200616T022313_VV_5D11-BURST", "S1_136232_IW2_20200616T022316_VV_5D11-BURST"],
        "apply_water_mask": True, "looks": "5x1"}},
    {"name": "gunw-example", "job_type": "ARIA_S1_GUNW", "job_parameters": {
        "reference_date": "2019-12-31", "secondary_date": "2018-12-12", "frame_id": 11040}},
    {"name": "autorift-example", "job_type": "AUTORIFT", "job_parameters": {
        "granules": ["S1A_IW_SLC__1SSH_20170221T204710_20170221T204737_015387_0193F6_AB07",
                     "S1B_IW_SLC__1SSH_20170227T204628_20170227T204655_004491_007D11_6654"]}},
    {"name": "autorift-example", "job_type": "AUTORIFT", "job_parameters": {
        "granules": ["S2B_MSIL1C_20200612T150759_N0209_R025_T22WEB_20200612T184700",
                     "S2A_MSIL1C_20200627T150921_N0209_R025_T22WEB_20200627T170912"]}},
    {"name": "autorift-example", "job_type": "AUTORIFT", "job_parameters": {
        "granules": ["LC08_L1TP_009011_20200703_20200913_02_T1", "LC08_L1TP_009011_20200820_20200905_02_T1"]}},
    {"name": "opera-rtc-s1-example", "job_type": "OPERA_RTC_S1", "job_parameters": {
        "granules": ["S1_073251_IW2_20200128T020712_VV_2944-BURST"]}},
]
#: one example of each job type: the one asking for the most outputs (the optical pair for autoRIFT)
EXAMPLE_PER_TYPE: list[dict[str, Any]] = [API_EXAMPLES[i] for i in (1, 4, 5, 6, 9, 7, 11)]


def validate_job(job: Any, where: str) -> dict[str, Any]:
    """Check one job definition; return it as a plain dict. ``where`` names it in messages."""
    def reject(text: str) -> RequestRejectedError:
        return RequestRejectedError(f"{where}: {text}")

    if not isinstance(job, Mapping):
        raise reject("a job must be a table with job_type and job_parameters")
    unknown = set(job) - {"job_type", "job_parameters", "name"}
    if unknown:
        raise reject(f"unknown key(s) {', '.join(sorted(unknown))} (a job has job_type, job_parameters, name)")
    job_type = job.get("job_type")
    if job_type not in JOB_PARAMETERS:
        raise reject(f"job_type {job_type!r} is not one of {', '.join(JOB_TYPES)}")
    name = job.get("name")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH):
        raise reject(f"name must be a string of 1 to {MAX_NAME_LENGTH} characters")
    params = job.get("job_parameters")
    if not isinstance(params, Mapping):
        raise reject("job_parameters must be a table")
    required, optional = JOB_PARAMETERS[job_type]
    for key, param in required.items():
        if key not in params:
            raise reject(f"{job_type} needs job_parameters.{key} ({param.want})")
    for key, value in params.items():
        param = required.get(key) or optional.get(key)
        if param is None:
            known = ", ".join(sorted({*required, *optional}))
            raise reject(f"job_parameters.{key} is not a {job_type} parameter (known: {known})")
        if not param.check(value):
            raise reject(f"job_parameters.{key} must be {param.want}, not {json.dumps(value)}")
    if job_type == "INSAR_ISCE_MULTI_BURST" and len(params["reference"]) != len(params["secondary"]):
        raise reject("job_parameters.reference and .secondary must list the same number of bursts")
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in job.items()}


def validate_jobs(jobs: Any, where: str = "job list", *, default_name: str | None = None) -> list[dict[str, Any]]:
    """Check a whole job list (a list, or ``{"jobs": [...]}``); jobs without a name get ``default_name``."""
    if isinstance(jobs, Mapping) and "jobs" in jobs:
        jobs = jobs["jobs"]
    if not isinstance(jobs, Sequence) or isinstance(jobs, (str, bytes)) or not jobs:
        raise RequestRejectedError(f"{where}: a non-empty list of jobs is required")
    checked = []
    for i, job in enumerate(jobs):
        one = validate_job(job, f"{where}: job {i + 1}")
        if default_name and "name" not in one:
            one["name"] = default_name[:MAX_NAME_LENGTH]
        checked.append(one)
    return checked


def load_jobs(path: Path, *, default_name: str | None = None) -> list[dict[str, Any]]:
    """Read and check a JSON job list file (``[...]`` or ``{"jobs": [...]}``)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise RequestRejectedError(f"{path}: cannot read the job list ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise RequestRejectedError(f"{path}: the job list is not valid JSON ({exc})") from exc
    return validate_jobs(data, str(path), default_name=default_name)


def same_job(spec: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
    """Whether the job record ``job`` (as HyP3 returns it, defaults filled in) is the job ``spec`` asks for:
    same name and type, and every parameter ``spec`` gives has the same value."""
    if spec.get("name") != job.get("name") or spec.get("job_type") != job.get("job_type"):
        return False
    have = job.get("job_parameters") or {}
    return all(key in have and have[key] == value for key, value in (spec.get("job_parameters") or {}).items())


def batches(jobs: Sequence[dict[str, Any]], size: int = MAX_JOBS_PER_REQUEST) -> Iterator[list[dict[str, Any]]]:
    """The job list in requests of at most ``size`` jobs, in order."""
    for start in range(0, len(jobs), size):
        yield list(jobs[start:start + size])
