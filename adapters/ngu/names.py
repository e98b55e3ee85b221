"""NGU InSAR Norway names: datasets, result files (``160-IW1-414-in-asc1-v20a.csv.gz``), bounding boxes.

A result file name is ``<track>-<swath>-<burst>-<dataset>.csv.gz``: the Sentinel-1 relative orbit, the
swath (``IW1``..``IW3``, ``EW1``), NGU's own burst number (not an ESA burst id) and the dataset, whose name
says the orbit direction (``asc``/``dsc``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from adapters.errors import BadProductError, RequestRejectedError

API_URL = "https://insar.ngu.no/insar-api"
#: the datasets of the API page (``list-datasets`` is the authority; these are its documented answer)
DATASETS = {
    "in-asc1-v20a": "Sentinel-1 Ascending 1",
    "in-asc2-v20a": "Sentinel-1 Ascending 2",
    "in-asc3-v20a": "Sentinel-1 Ascending 3",
    "in-dsc1-v20a": "Sentinel-1 Descending 1",
    "in-dsc2-v20a": "Sentinel-1 Descending 2",
    "in-dsc3-v20a": "Sentinel-1 Descending 3",
}
#: the ``mode`` column's numbers
COLLECTION_PREFIX = "ngu-insar-"

_RESULT = re.compile(r"^(?P<track>\d{1,3})-(?P<swath>(?:IW|EW)\d)-(?P<burst>\d+)-(?P<dataset>[A-Za-z0-9._-]+?)"
                     r"\.csv(?:\.gz)?$")
_DATASET = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class ResultName:
    """What a result file's name says."""

    track: int
    swath: str
    burst: int
    dataset: str

    @property
    def item_id(self) -> str:
        return f"{self.track}-{self.swath}-{self.burst}-{self.dataset}"

    @property
    def orbit_state(self) -> str | None:
        return orbit_state(self.dataset)


def parse_result_name(name: str) -> ResultName:
    """Split ``160-IW1-414-in-asc1-v20a.csv.gz``; `BadProductError` for any other shape."""
    match = _RESULT.match(name.rsplit("/", 1)[-1])
    if match is None:
        raise BadProductError(f"NGU result file {name!r}: not named <track>-<swath>-<burst>-<dataset>.csv.gz")
    return ResultName(int(match["track"]), match["swath"], int(match["burst"]), match["dataset"])


def result_name(track: int, swath: str, burst: int, dataset: str) -> str:
    return f"{track}-{swath}-{burst}-{dataset}.csv.gz"


def orbit_state(dataset: str) -> str | None:
    """``ascending``/``descending`` from ``asc``/``dsc`` in a dataset name (None when it says neither)."""
    lower = dataset.lower()
    if "asc" in lower:
        return "ascending"
    if "dsc" in lower or "desc" in lower:
        return "descending"
    return None


def collection_id(dataset: str) -> str:
    return f"{COLLECTION_PREFIX}{dataset.lower()}"


def check_dataset(name: str, where: str) -> str:
    if not isinstance(name, str) or not _DATASET.match(name):
        raise RequestRejectedError(f"{where}: {name!r} is not a dataset name (letters, digits, '.', '_', '-')")
    return name


BBox = tuple[float, float, float, float]


def normalise_bbox(value: Sequence[float] | str, where: str = "bbox") -> BBox:
    """``(west, south, east, north)`` from two lon/lat corners in any order (``[lon1, lat1, lon2, lat2]`` or
    ``"lon1,lat1,lon2,lat2"``, as the API takes them; its own example has them upside down).

    Refused with `RequestRejectedError` (before any request): not four numbers, a longitude outside
    [-180, 180], a latitude outside [-90, 90], or an empty box (no width or no height).
    """
    parts: Sequence[object] = value.split(",") if isinstance(value, str) else value
    if isinstance(parts, str) or len(parts) != 4:
        raise RequestRejectedError(f"{where}: {value!r} is not four numbers lon1,lat1,lon2,lat2")
    try:
        lon1, lat1, lon2, lat2 = (float(p) for p in parts)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RequestRejectedError(f"{where}: {value!r} is not four numbers lon1,lat1,lon2,lat2") from None
    for lon in (lon1, lon2):
        if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
            raise RequestRejectedError(f"{where}: longitude {lon:g} is outside [-180, 180]")
    for lat in (lat1, lat2):
        if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise RequestRejectedError(f"{where}: latitude {lat:g} is outside [-90, 90]")
    west, east = sorted((lon1, lon2))
    south, north = sorted((lat1, lat2))
    if west == east or south == north:
        raise RequestRejectedError(f"{where}: {value!r} is an empty box (no width or no height)")
    return west, south, east, north


def bbox_text(bbox: BBox) -> str:
    """The API's ``bbox`` parameter: ``west,south,east,north`` (two lon/lat corners)."""
    return ",".join(format(round(v, 7), ".12g") for v in bbox)
