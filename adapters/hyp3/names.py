"""HyP3 product names: what a product's name alone says about it.

Every HyP3 job type names its products in a fixed-shape form; each form has one compiled regex below, ending on the
form's last fixed field (product id, hash or version) so that the name can also be found at the start of a file name.

=======================  =====================================================================================
job type                 form (example)
=======================  =====================================================================================
RTC_GAMMA                ``S1A_IW_20150621T120220_SVP_RTC30_G_gpuned_0AEA``: platform, beam mode, start time,
                         polarization (S/D single/dual, primary V/H), orbit (P/R/O), RTC + pixel spacing, G
                         (GAMMA), six option letters, product id
INSAR_GAMMA              ``S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ueF_4D09``: S1 + reference and
                         secondary platform letters, reference and secondary start times, polarization + orbit +
                         temporal baseline in days, INT + pixel spacing, G, three option letters, product id
INSAR_ISCE_BURST         ``S1_136231_IW2_20200604_20200616_VV_INT80_12E3``: burst id, swath, reference and
                         secondary dates, polarization, INT + pixel spacing, product id
INSAR_ISCE_MULTI_BURST   ``S1_123_111111s1n02-111111s2n01-000000s3n00_IW_20240101_20240115_VV_INT80_AEB4``:
                         relative orbit, ``<first burst id>s<swath>n<burst count>`` for swaths 1-3, beam mode,
                         dates, polarization, INT + pixel spacing, product id
AUTORIFT                 ``<reference granule>_X_<secondary granule>_G0120V02_P099`` (+ ``_IL_ASF_OD`` from the
                         ITS_LIVE on-demand naming scheme): granules are Sentinel-1 SLC, Sentinel-2 L1C (ESA or
                         COG id) or Landsat Collection 2 L1; G + grid spacing, V + version, P + valid pixel %
ARIA_S1_GUNW             ``S1-GUNW-D-R-163-tops-20250527_20250503-212910-00121E_00010S-PP-07c7-v3_0_1``: orbit
                         direction, look direction, track, reference (later) and secondary dates, centre time of
                         the reference pass, lon/lat, PP, hash, version
OPERA_RTC_S1             ``OPERA_L2_RTC-S1_T069-147170-IW1_20231017T134359Z_20231018T071238Z_S1A_30_v1.0``:
                         track-burst id-swath, acquisition time, processing time, platform, spacing, version
=======================  =====================================================================================

``ProductName.options`` (JSON values only):

- RTC_GAMMA: ``beam_mode`` ("IW"/"EW"), ``software`` ("GAMMA"), ``radiometry`` ("gamma0"/"sigma0" from g/s),
  ``scale`` ("power"/"decibel"/"amplitude" from p/d/a), ``masked`` (u -> False, w -> True; "m" is read as masked
  too), ``speckle_filter`` (n/f), ``clipped`` (e entire area / c clipped), ``dem_matching`` (d dead reckoning /
  m DEM matching), ``flags`` (the six letters as written).
- INSAR_GAMMA: ``temporal_baseline_days``, ``software`` ("GAMMA"), ``masked`` (u/w water mask), ``clipped``
  (e/c), ``swaths`` (["IW1", "IW2", "IW3"] for F = full swath, else the one sub-swath), ``flags`` (raw letters).
- INSAR_ISCE_BURST: ``burst_id`` (int), ``swath`` ("IW2"), ``beam_mode``.
- INSAR_ISCE_MULTI_BURST: ``relative_orbit``, ``beam_mode``, ``bursts``: one
  ``{"swath": "IW1", "first_burst_id": 111111, "count": 2}`` per swath that has bursts (swaths with count 0 are
  left out).
- AUTORIFT: ``reference_granule``, ``secondary_granule``, ``version`` ("02"), ``valid_percent`` (int),
  ``its_live_od`` (the name ends in ``_IL_ASF_OD``).
- ARIA_S1_GUNW: ``orbit_state`` ("ascending"/"descending"), ``observation_direction`` ("left"/"right"),
  ``relative_orbit``, ``lon_lat`` (raw, e.g. "00121E_00010S"), ``lon``/``lat`` (that field decoded: hundredths
  of a degree, ``12771E_00420S`` is 127.71, -4.2; the south-west corner of the product extent, W and S negative;
  see `adapters.hyp3.translate` for products that wrote whole degrees), ``pp`` (raw, a constant of the ARIA
  name), ``version`` ("3.0.1"). The name holds the reference pass's centre time only: the secondary time is taken to be
  the same time of day (repeat passes differ by seconds).
- OPERA_RTC_S1: ``opera_burst_id`` ("T069-147170-IW1"), ``relative_orbit``, ``burst_id``, ``swath``, ``beam_mode``,
  ``processing_time`` (ISO 8601, "Z"), ``version`` ("1.0").

Sources: the HyP3 RTC, InSAR and ARIA-S1-GUNW product guides and the code that writes the names (hyp3-gamma,
hyp3-isce2, hyp3-autorift, DockerizedTopsApp).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from adapters.errors import BadProductError
from adapters.hyp3.granules import LANDSAT_L1, S1_SCENE, S2_L1C, S2_L1C_COG

__all__ = ["JOB_TYPES", "ProductName", "UnknownProductNameError", "parse_product_name", "split_file_name"]

JOB_TYPES = ("RTC_GAMMA", "INSAR_GAMMA", "INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST", "AUTORIFT", "ARIA_S1_GUNW",
             "OPERA_RTC_S1")


def collection_id(job_type: str) -> str:
    """The collection of a job type's products: ``RTC_GAMMA`` -> ``hyp3-rtc-gamma``."""
    return "hyp3-" + job_type.lower().replace("_", "-")


COLLECTIONS = {job_type: collection_id(job_type) for job_type in JOB_TYPES}


class UnknownProductNameError(BadProductError):
    """A name that matches no known HyP3 product form; the message names it (and the file/job when given)."""


@dataclass
class ProductName:
    """The facts a HyP3 product name states."""

    name: str                          # the bare product name (no folder, no suffix)
    job_type: str                      # one of JOB_TYPES
    platforms: tuple[str, ...]         # STAC platform names, lower case; () when the name does not say
    constellation: str | None          # "sentinel-1", "sentinel-2" or "landsat"
    start: datetime                    # timezone-aware UTC; earliest acquisition
    end: datetime                      # latest acquisition (== start for one-scene products)
    reference: datetime | None         # pairs: the reference acquisition (GUNW: the later one)
    secondary: datetime | None
    polarizations: tuple[str, ...]     # e.g. ("VV", "VH"); () when the name does not say
    orbit: str | None                  # "precise" | "restituted" | "predicted" | None
    pixel_spacing: float | None        # metres
    product_id: str | None             # the trailing random hex id; GUNW: the hash field
    options: dict[str, Any] = field(default_factory=dict)  # job-type specific facts, JSON values only


class _BadField(Exception):
    """A field of the right shape but an impossible value (month 13, unknown granule)."""


_END = r"(?=[._]|$)"  # a name ends where a suffix starts, or at the end of the text
_DATETIME = "%Y%m%dT%H%M%S"
_DATE = "%Y%m%d"
_S1 = "sentinel-1"

_ORBITS = {"P": "precise", "R": "restituted", "O": "predicted"}
_CROSS_POL = {"V": "VH", "H": "HV"}
_ALL_IW_SWATHS = ["IW1", "IW2", "IW3"]

_RTC_GAMMA = re.compile(
    r"S1(?P<unit>[A-D])_(?P<beam_mode>IW|EW)_(?P<start>\d{8}T\d{6})"
    r"_(?P<pol_mode>[SD])(?P<pol_primary>[VH])(?P<orbit>[PRO])"
    r"_RTC(?P<spacing>\d{2,3})_G"
    r"_(?P<flags>(?P<radiometry>[gs])(?P<scale>[pda])(?P<mask>[uwm])(?P<filter>[nf])(?P<extent>[ec])(?P<matching>[dm]))"
    r"_(?P<product_id>[0-9A-F]{4})" + _END
)
_INSAR_GAMMA = re.compile(
    r"S1(?P<reference_unit>[A-D])(?P<secondary_unit>[A-D])"
    r"_(?P<reference>\d{8}T\d{6})_(?P<secondary>\d{8}T\d{6})"
    r"_(?P<polarization>VV|HH)(?P<orbit>[PRO])(?P<days>\d{3})"
    r"_INT(?P<spacing>\d{2,3})_G"
    r"_(?P<flags>(?P<mask>[uw])(?P<extent>[ec])(?P<swath>[123F]))"
    r"_(?P<product_id>[0-9A-F]{4})" + _END
)
_INSAR_ISCE_BURST = re.compile(
    r"S1_(?P<burst_id>\d{6})_(?P<swath>(?P<beam_mode>IW)[1-3])"
    r"_(?P<reference>\d{8})_(?P<secondary>\d{8})"
    r"_(?P<polarization>VV|HH|VH|HV)_INT(?P<spacing>\d{2,3})"
    r"_(?P<product_id>[0-9A-F]{4})" + _END
)
_INSAR_ISCE_MULTI_BURST = re.compile(
    r"S1_(?P<relative_orbit>\d{3})[_-]"  # an early hyp3-isce2 wrote "-" here
    r"(?P<first1>\d{6})s1n(?P<count1>\d{2})-(?P<first2>\d{6})s2n(?P<count2>\d{2})"
    r"-(?P<first3>\d{6})s3n(?P<count3>\d{2})"
    r"_(?P<beam_mode>IW)_(?P<reference>\d{8})_(?P<secondary>\d{8})"
    r"_(?P<polarization>VV|HH|VH|HV)_INT(?P<spacing>\d{2,3})"
    r"_(?P<product_id>[0-9A-F]{4})" + _END
)
# The granules are checked one by one against the granule forms below.
_AUTORIFT = re.compile(
    r"(?P<reference>[A-Z0-9_]+?)_X_(?P<secondary>[A-Z0-9_]+?)"
    r"_G(?P<spacing>\d{4})V(?P<version>\d{2})_P(?P<valid_percent>\d{3})"
    r"(?P<its_live_od>_IL_ASF_OD)?" + _END
)
_ARIA_S1_GUNW = re.compile(
    r"S1-GUNW-(?P<orbit_state>[AD])-(?P<look>[LR])-(?P<track>\d{3})-tops"
    r"-(?P<reference>\d{8})_(?P<secondary>\d{8})-(?P<time>\d{6})"
    r"-(?P<lon_lat>(?P<lon>\d{5})(?P<east_west>[EW])_(?P<lat>\d{5})(?P<north_south>[NS]))"
    r"-(?P<pp>[A-Z]{2})-(?P<product_id>[0-9a-f]{4})-v(?P<version>\d+(?:_\d+)*)" + _END
)
_OPERA_RTC_S1 = re.compile(
    r"OPERA_L2_RTC-S1"
    r"_(?P<opera_burst_id>T(?P<track>\d{3})-(?P<burst_id>\d{6})-(?P<swath>(?P<beam_mode>IW)[1-3]))"
    r"_(?P<acquired>\d{8}T\d{6})Z_(?P<processed>\d{8}T\d{6})Z"
    r"_S1(?P<unit>[A-D])_(?P<spacing>\d{2,3})_v(?P<version>\d+\.\d+)" + _END
)

@dataclass(frozen=True)
class _Granule:
    platform: str
    constellation: str
    acquired: datetime
    polarization: str | None  # the co-polarization of a Sentinel-1 SLC


def parse_product_name(name: str, *, file: str | None = None) -> ProductName:
    """Parse a bare HyP3 product name; ``file`` (the file or job it came from) is only used in error messages."""
    for pattern, build in _FORMS:
        if match := pattern.fullmatch(name):
            return _build(build, match, name, file)
    raise UnknownProductNameError(_message(name, file, "it matches no known product form"))


def split_file_name(file_name: str) -> tuple[ProductName, str]:
    """Split a published or zipped file name into its product name and the suffix after it.

    A folder prefix (``NAME/NAME_VV.tif``) is ignored: ``("NAME" parsed, "_VV.tif")``.
    """
    base = re.split(r"[\\/]", file_name)[-1]
    for pattern, build in _FORMS:
        if match := pattern.match(base):
            return _build(build, match, match[0], file_name), base[match.end():]
    raise UnknownProductNameError(
        f"{file_name}: not a HyP3 product name: no known product name at the start of {base!r}"
    )


def _build(build: Callable[[re.Match[str]], ProductName], match: re.Match[str], name: str,
           file: str | None) -> ProductName:
    try:
        return build(match)
    except _BadField as err:
        raise UnknownProductNameError(_message(name, file, str(err))) from err


def _message(name: str, file: str | None, reason: str) -> str:
    if file is None:
        return f"{name}: not a HyP3 product name: {reason}"
    if name in file:
        return f"{file}: not a HyP3 product name: {reason}"
    return f"{file}: not a HyP3 product name: {name!r}: {reason}"


def _utc(text: str, fmt: str) -> datetime:
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
    except ValueError:
        raise _BadField(f"impossible date or time {text!r}") from None


def _sentinel1(unit: str) -> str:
    return f"{_S1}{unit.lower()}"


def _pair(job_type: str, match: re.Match[str], reference: datetime, secondary: datetime, **fields: Any
          ) -> ProductName:
    """A two-acquisition product: start and end are the earlier and later of reference and secondary."""
    return ProductName(name=match[0], job_type=job_type, start=min(reference, secondary),
                       end=max(reference, secondary), reference=reference, secondary=secondary, **fields)


def _rtc_gamma(m: re.Match[str]) -> ProductName:
    start = _utc(m["start"], _DATETIME)
    primary = m["pol_primary"] * 2
    polarizations = (primary, _CROSS_POL[m["pol_primary"]]) if m["pol_mode"] == "D" else (primary,)
    return ProductName(
        name=m[0], job_type="RTC_GAMMA", platforms=(_sentinel1(m["unit"]),), constellation=_S1,
        start=start, end=start, reference=None, secondary=None, polarizations=polarizations,
        orbit=_ORBITS[m["orbit"]], pixel_spacing=float(m["spacing"]), product_id=m["product_id"],
        options={
            "beam_mode": m["beam_mode"],
            "software": "GAMMA",
            "radiometry": {"g": "gamma0", "s": "sigma0"}[m["radiometry"]],
            "scale": {"p": "power", "d": "decibel", "a": "amplitude"}[m["scale"]],
            "masked": m["mask"] != "u",
            "speckle_filter": m["filter"] == "f",
            "clipped": m["extent"] == "c",
            "dem_matching": m["matching"] == "m",
            "flags": m["flags"],
        },
    )


def _insar_gamma(m: re.Match[str]) -> ProductName:
    platforms = tuple(dict.fromkeys(_sentinel1(m[unit]) for unit in ("reference_unit", "secondary_unit")))
    swath = m["swath"]
    return _pair(
        "INSAR_GAMMA", m, _utc(m["reference"], _DATETIME), _utc(m["secondary"], _DATETIME),
        platforms=platforms, constellation=_S1, polarizations=(m["polarization"],), orbit=_ORBITS[m["orbit"]],
        pixel_spacing=float(m["spacing"]), product_id=m["product_id"],
        options={
            "temporal_baseline_days": int(m["days"]),
            "software": "GAMMA",
            "masked": m["mask"] == "w",
            "clipped": m["extent"] == "c",
            "swaths": list(_ALL_IW_SWATHS) if swath == "F" else [f"IW{swath}"],
            "flags": m["flags"],
        },
    )


def _insar_isce_burst(m: re.Match[str]) -> ProductName:
    return _pair(
        "INSAR_ISCE_BURST", m, _utc(m["reference"], _DATE), _utc(m["secondary"], _DATE),
        platforms=(), constellation=_S1, polarizations=(m["polarization"],), orbit=None,
        pixel_spacing=float(m["spacing"]), product_id=m["product_id"],
        options={"burst_id": int(m["burst_id"]), "swath": m["swath"], "beam_mode": m["beam_mode"]},
    )


def _insar_isce_multi_burst(m: re.Match[str]) -> ProductName:
    bursts = [
        {"swath": f"IW{swath}", "first_burst_id": int(m[f"first{swath}"]), "count": int(m[f"count{swath}"])}
        for swath in (1, 2, 3)
        if int(m[f"count{swath}"]) > 0
    ]
    return _pair(
        "INSAR_ISCE_MULTI_BURST", m, _utc(m["reference"], _DATE), _utc(m["secondary"], _DATE),
        platforms=(), constellation=_S1, polarizations=(m["polarization"],), orbit=None,
        pixel_spacing=float(m["spacing"]), product_id=m["product_id"],
        options={"relative_orbit": int(m["relative_orbit"]), "beam_mode": m["beam_mode"], "bursts": bursts},
    )


def _granule(text: str) -> _Granule:
    if (g := S1_SCENE.fullmatch(text)) and g["product"] == "SLC_":
        return _Granule(_sentinel1(g["unit"]), _S1, _utc(g["start"], _DATETIME), g["pol_primary"] * 2)
    if g := S2_L1C.fullmatch(text):
        return _Granule(f"sentinel-2{g['unit'].lower()}", "sentinel-2", _utc(g["start"], _DATETIME), None)
    if g := S2_L1C_COG.fullmatch(text):
        return _Granule(f"sentinel-2{g['unit'].lower()}", "sentinel-2", _utc(g["date"], _DATE), None)
    if g := LANDSAT_L1.fullmatch(text):
        return _Granule(f"landsat-{g['number']}", "landsat", _utc(g["date"], _DATE), None)
    raise _BadField(f"unknown granule {text!r}")


def _autorift(m: re.Match[str]) -> ProductName:
    reference, secondary = _granule(m["reference"]), _granule(m["secondary"])
    pair = (reference, secondary)
    constellations = {granule.constellation for granule in pair}
    return _pair(
        "AUTORIFT", m, reference.acquired, secondary.acquired,
        platforms=tuple(dict.fromkeys(granule.platform for granule in pair)),
        constellation=constellations.pop() if len(constellations) == 1 else None,
        polarizations=tuple(dict.fromkeys(granule.polarization for granule in pair if granule.polarization)),
        orbit=None, pixel_spacing=float(m["spacing"]), product_id=None,
        options={
            "reference_granule": m["reference"],
            "secondary_granule": m["secondary"],
            "version": m["version"],
            "valid_percent": int(m["valid_percent"]),
            "its_live_od": m["its_live_od"] is not None,
        },
    )


def _aria_s1_gunw(m: re.Match[str]) -> ProductName:
    # The name gives the reference pass's centre time; the secondary pass is taken at the same time of day.
    lon = int(m["lon"]) / 100 * (-1 if m["east_west"] == "W" else 1)
    lat = int(m["lat"]) / 100 * (-1 if m["north_south"] == "S" else 1)
    return _pair(
        "ARIA_S1_GUNW", m, _utc(m["reference"] + m["time"], _DATE + "%H%M%S"),
        _utc(m["secondary"] + m["time"], _DATE + "%H%M%S"),
        platforms=(), constellation=_S1, polarizations=("VV",), orbit=None, pixel_spacing=None,
        product_id=m["product_id"],
        options={
            "orbit_state": {"A": "ascending", "D": "descending"}[m["orbit_state"]],
            "observation_direction": {"L": "left", "R": "right"}[m["look"]],
            "relative_orbit": int(m["track"]),
            "lon_lat": m["lon_lat"],
            "lon": lon,
            "lat": lat,
            "pp": m["pp"],
            "version": m["version"].replace("_", "."),
        },
    )


def _opera_rtc_s1(m: re.Match[str]) -> ProductName:
    acquired = _utc(m["acquired"], _DATETIME)
    processed = _utc(m["processed"], _DATETIME)
    return ProductName(
        name=m[0], job_type="OPERA_RTC_S1", platforms=(_sentinel1(m["unit"]),), constellation=_S1,
        start=acquired, end=acquired, reference=None, secondary=None, polarizations=(), orbit=None,
        pixel_spacing=float(m["spacing"]), product_id=None,
        options={
            "opera_burst_id": m["opera_burst_id"],
            "relative_orbit": int(m["track"]),
            "burst_id": int(m["burst_id"]),
            "swath": m["swath"],
            "beam_mode": m["beam_mode"],
            "processing_time": processed.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "version": m["version"],
        },
    )


_FORMS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], ProductName]], ...] = (
    (_RTC_GAMMA, _rtc_gamma),
    (_INSAR_GAMMA, _insar_gamma),
    (_INSAR_ISCE_BURST, _insar_isce_burst),
    (_INSAR_ISCE_MULTI_BURST, _insar_isce_multi_burst),
    (_AUTORIFT, _autorift),
    (_ARIA_S1_GUNW, _aria_s1_gunw),
    (_OPERA_RTC_S1, _opera_rtc_s1),
)
