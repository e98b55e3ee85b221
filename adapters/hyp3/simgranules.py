"""The simulator's own reading of granule names and Sentinel-1 orbit arithmetic (no product rendering).

Kept apart from `adapters.hyp3.simproducts`, which renders rasters with numpy, rasterio and h5py, so that the
simulator answers its API (job checks, listings) without loading that stack until a product is asked for.
The patterns are the simulator's own on purpose, not the adapter's (`adapters.hyp3.granules`): it stays an
independent fake of the service.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime

S1_SCENE = re.compile(
    r"^(?P<platform>S1[ABCD])_(?P<beam>IW|EW|S[1-6])_(?P<product>GRD[HMF]|SLC_)_(?P<level>\d)[SA](?P<mode>[SD])"
    r"(?P<pol>[VH])_(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{6})_[0-9A-F]{6}_[0-9A-F]{4}$")
S1_BURST = re.compile(
    r"^S1_(?P<burst>\d{6})_IW(?P<swath>[1-3])_(?P<time>\d{8}T\d{6})_(?P<pol>VV|VH|HH|HV)_[0-9A-F]{4}-BURST$")
S2_L1C = re.compile(
    r"^S2[ABCD]_MSIL1C_(?P<time>\d{8}T\d{6})_N\d{4}_R\d{3}_T(?P<zone>\d{2})(?P<band>[C-X])[A-Z]{2}_\d{8}T\d{6}$")
LANDSAT_C2 = re.compile(
    r"^L[COTE]0[4-9]_L1(?:TP|GT|GS)_(?P<path>\d{3})(?P<row>\d{3})_(?P<date>\d{8})_\d{8}_02_(?:T1|T2|RT)$")

#: Sentinel-1 units: launch, and the offset of their track numbers (track = (absolute orbit - offset) % 175 + 1)
_S1_UNITS = {"S1A": (datetime(2014, 4, 3, 21, 2), 73), "S1B": (datetime(2016, 4, 25, 21, 2), 27)}
_ORBIT_SECONDS = 12 * 86_400 / 175


@dataclass(frozen=True)
class S1Scene:
    """A Sentinel-1 scene (GRD or SLC) granule name, parsed."""

    name: str
    platform: str     # S1A
    beam: str         # IW
    product: str      # GRDH, SLC_
    mode: str         # S single / D dual polarization
    pol: str          # V or H: the transmit (co-)polarization
    start: datetime
    orbit: int

    @property
    def polarizations(self) -> list[str]:
        co = self.pol * 2
        return [co, co[0] + ("H" if co[0] == "V" else "V")] if self.mode == "D" else [co]


@dataclass(frozen=True)
class Burst:
    """A Sentinel-1 burst granule name (``S1_136231_IW2_20200604T022312_VV_7C85-BURST``), parsed."""

    name: str
    burst_id: int
    swath: int
    time: datetime
    pol: str

    @property
    def track(self) -> int:
        """The relative orbit the burst id belongs to (ESA numbers 375,887 burst ids over 175 tracks)."""
        return 1 + (self.burst_id - 1) * 175 // 375_887


def parse_scene(name: str) -> S1Scene:
    """Parse a Sentinel-1 GRD/SLC scene name; ValueError if it is not one."""
    m = S1_SCENE.match(name)
    if m is None:
        raise ValueError(f"not a Sentinel-1 scene name: {name!r}")
    return S1Scene(name, m["platform"], m["beam"], m["product"].rstrip("_"), m["mode"], m["pol"],
                   datetime.strptime(m["start"], "%Y%m%dT%H%M%S"), int(m["orbit"]))


def parse_burst(name: str) -> Burst:
    """Parse a Sentinel-1 burst granule name; ValueError if it is not one."""
    m = S1_BURST.match(name)
    if m is None:
        raise ValueError(f"not a Sentinel-1 burst name: {name!r}")
    return Burst(name, int(m["burst"]), int(m["swath"]), datetime.strptime(m["time"], "%Y%m%dT%H%M%S"),
                 m["pol"])


def granule_date(name: str) -> datetime:
    """The acquisition time of any granule name AUTORIFT accepts (S1 SLC, S2 L1C, Landsat C2)."""
    if (m := S1_SCENE.match(name)) is not None:
        return datetime.strptime(m["start"], "%Y%m%dT%H%M%S")
    if (m := S2_L1C.match(name)) is not None:
        return datetime.strptime(m["time"], "%Y%m%dT%H%M%S")
    if (m := LANDSAT_C2.match(name)) is not None:
        return datetime.strptime(m["date"], "%Y%m%d")
    raise ValueError(f"not a Sentinel-1, Sentinel-2 L1C or Landsat Collection 2 name: {name!r}")


def scene_track(scene: S1Scene) -> int:
    """The relative orbit of a scene, from its absolute orbit."""
    return (scene.orbit - _S1_UNITS[scene.platform][1]) % 175 + 1


def orbit_on_track(unit: str, track: int, when: datetime) -> int:
    """The absolute orbit ``unit`` flew over ``track`` around ``when`` (its orbit count since launch, moved
    to the nearest orbit of that track)."""
    launched, offset = _S1_UNITS[unit]
    estimate = round(1 + (when - launched).total_seconds() / _ORBIT_SECONDS)
    shift = (track - ((estimate - offset) % 175 + 1)) % 175
    return estimate + shift - (175 if shift > 87 else 0)


def unit_on_track(track: int, when: datetime) -> str:
    """Which satellite passed: S1A, or while S1B flew, S1A and S1B on alternate 6-day slots of each track
    (so that pairs 12 days apart come from one satellite and pairs 6 days apart from both)."""
    day = when.date()
    if date(2016, 9, 26) <= day <= date(2021, 12, 23) and (day.toordinal() // 6 + track) % 2:
        return "S1B"
    return "S1A"


def pass_direction(grid_epsg: int, when: datetime) -> str:
    """ASCENDING or DESCENDING, as a dawn-dusk orbit sees it: Sentinel-1 crosses the equator northwards at
    18:00 local solar time, so afternoon and evening passes are ascending (the grid's UTM zone gives the
    longitude)."""
    longitude = -183 + 6 * (grid_epsg % 100)
    local_hours = (when.hour + when.minute / 60 + longitude / 15) % 24
    return "ASCENDING" if local_hours >= 12 else "DESCENDING"


def hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
