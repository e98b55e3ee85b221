"""AppEEARS bundle file names: where a file may be put, and what its name says.

- Area GeoTIFFs: ``<Product>.<Version>_<Layer>_doy<YYYYDDD>[HHMMSS]_aid<NNNN>.tif``, inside a folder such as
  ``MCD12Q2.006_2010001_to_2010365/``. The product is split at its first ``.`` (``SRTMGL1_NC.003``), the
  layer may start with ``_`` (``MOD13Q1.061__250m_16_days_NDVI_doy2020049_aid0001.tif``), newer service
  versions append a time to the day of year. ``aid`` is the 1-based index of the feature in the request.
- netCDF outputs: ``<Product>.<Version>_<resolution>_aid<NNNN>.nc``.
- Bundle files: ``<task>-request.json``, ``<task>-granule-list.txt``, ``<task>-<PROD>-<VER>-metadata.xml``,
  ``README.md``, ``<PROD>-<VER>-<QA>-lookup.csv``, ``<PROD>-<VER>-<QA>-Statistics-QA.csv``,
  ``<PROD>-<VER>-Statistics.csv``, and (point tasks) ``<task>-<PROD>-<VER>-results.csv``.

A bundle ``file_name`` may use ``\\`` or ``/`` between folders: `bundle_path` turns it into a relative
``/``-separated path or refuses it (``..``, absolute paths, drive letters, NUL, empty parts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from adapters.errors import UnsafePathError

_TIF = re.compile(r"^(?P<product>[^./\\]+)\.(?P<version>[^_./\\]+)_(?P<layer>.+)_doy(?P<year>\d{4})(?P<doy>\d{3})"
                  r"(?P<time>\d{6})?_aid(?P<aid>\d+)\.tiff?$", re.IGNORECASE)
_NC = re.compile(r"^(?P<product>[^./\\]+)\.(?P<version>[^_./\\]+)_(?P<resolution>.+?)_aid(?P<aid>\d+)\.nc$",
                 re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:")


class NameError_(ValueError):  # noqa: N801 -- not the builtin NameError
    """A file name that does not follow the AppEEARS naming."""


@dataclass(frozen=True)
class LayerFile:
    """What an area GeoTIFF's name says."""

    product: str
    version: str
    layer: str
    start: datetime
    aid: int

    @property
    def product_id(self) -> str:
        """``ProductAndVersion`` as the API names it (``MCD12Q2.006``)."""
        return f"{self.product}.{self.version}"

    @property
    def date_key(self) -> str:
        """``YYYYDDD`` (with ``HHMMSS`` when the name had a time)."""
        key = f"{self.start.year:04d}{self.start.timetuple().tm_yday:03d}"
        return key + (self.start.strftime("%H%M%S") if self.start.time() != datetime.min.time() else "")


@dataclass(frozen=True)
class NetcdfFile:
    product: str
    version: str
    resolution: str
    aid: int

    @property
    def product_id(self) -> str:
        return f"{self.product}.{self.version}"


def base_name(path: str) -> str:
    """The last part of a ``/``- or ``\\``-separated name."""
    return re.split(r"[/\\]", path)[-1]


def parse_layer_file(name: str) -> LayerFile:
    """Parse an area GeoTIFF name (folders before it are ignored). Raises `NameError_`."""
    match = _TIF.match(base_name(name))
    if match is None:
        raise NameError_(f"{name!r} is not named <Product>.<Version>_<Layer>_doy<YYYYDDD>_aid<NNNN>.tif")
    year, doy = int(match["year"]), int(match["doy"])
    if not 1 <= doy <= (366 if _leap(year) else 365):
        raise NameError_(f"{name!r}: day of year {doy} does not exist in {year}")
    start = datetime(year, 1, 1, tzinfo=timezone.utc) + timedelta(days=doy - 1)
    if match["time"]:
        t = match["time"]
        hour, minute, second = int(t[:2]), int(t[2:4]), int(t[4:])
        if hour > 23 or minute > 59 or second > 59:
            raise NameError_(f"{name!r}: {t} is not a time of day")
        start = start.replace(hour=hour, minute=minute, second=second)
    return LayerFile(match["product"], match["version"], match["layer"], start, int(match["aid"]))


def parse_netcdf_file(name: str) -> NetcdfFile:
    match = _NC.match(base_name(name))
    if match is None:
        raise NameError_(f"{name!r} is not named <Product>.<Version>_<resolution>_aid<NNNN>.nc")
    return NetcdfFile(match["product"], match["version"], match["resolution"], int(match["aid"]))


def is_layer_file(name: str) -> bool:
    return _TIF.match(base_name(name)) is not None


def bundle_path(file_name: str) -> str:
    """A bundle ``file_name`` as a relative ``/``-separated path inside the task's folder.

    ``\\`` and ``/`` both separate folders. Raises `UnsafePathError` for names that could leave the folder
    (absolute, a drive letter, ``..``) or that no file system takes as given (NUL, empty or ``.`` parts).
    """
    if not file_name:
        raise UnsafePathError("bundle file name is empty")
    if "\x00" in file_name:
        raise UnsafePathError(f"bundle file name {file_name!r} contains NUL")
    if file_name.startswith(("/", "\\")) or _DRIVE.match(file_name):
        raise UnsafePathError(f"bundle file name {file_name!r} is absolute")
    parts = re.split(r"[/\\]", file_name)
    if any(p == ".." for p in parts):
        raise UnsafePathError(f"bundle file name {file_name!r} contains '..'")
    if any(p in ("", ".") for p in parts):
        raise UnsafePathError(f"bundle file name {file_name!r} contains an empty or '.' part")
    return "/".join(parts)


def normal_key(text: str) -> str:
    """A layer or file-name part compared loosely: lower case, letters and digits only
    (``QA_Detailed_0`` and ``QA-Detailed-0`` are the same layer)."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def collection_id(product: str, version: str) -> str:
    """``appeears-<product>-<version>`` in lower case, with anything but letters, digits and ``-`` as ``-``."""
    return "appeears-" + re.sub(r"[^0-9a-z]+", "-", f"{product}-{version}".lower()).strip("-")


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
