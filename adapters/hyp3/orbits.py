"""Sentinel-1 orbit arithmetic: relative orbit (track) from the absolute orbit or an ESA burst id, the
satellite from its orbit number and the date, ascending or descending from the heading.

- Relative orbit = ``(absolute - offset) % 175 + 1``, the offset fixed per satellite: S1A 73, S1B 27 (ESA's
  Mission Performance Centre, as quoted on the ESA STEP forum and in sentiwiki's "S1 products" page),
  S1C 172 up to absolute orbit 8018 and 99 after its orbital reconfiguration of June 2026 (ESA at FRINGE
  2026, as applied in isce2 and sentineleof), S1D 42 (s1-reader and sentineleof, checked with S1D
  products of 2026).
- An ESA burst id numbers the bursts of the 175 tracks in time from the ascending node of track 1, one
  every ``T_BEAM`` seconds after a preamble of ``T_PRE`` seconds (Sentinel-1 burst id definition, as
  implemented by s1-reader), so the track is ``1 + floor(((id - 1) * T_BEAM + T_PRE) / T_ORBIT)``. Burst
  136231 lies on track 64 (the OPERA burst ``t064_136231_iw2``).
- A satellite's absolute orbit grows by one every ``T_ORBIT`` seconds since its launch, so an orbit number and
  a date name at most one of the four satellites (their counts are thousands of orbits apart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

#: repeat cycle: 175 orbits in 12 days
T_ORBIT = 12 * 86_400 / 175
#: one burst cycle and the preamble before the first burst of a track (ESA burst id definition), seconds
T_BEAM = 2.758273
T_PRE = 2.299849
TRACKS = 175
#: how far (in orbits) an absolute orbit may be from the one expected at its date and still be that satellite's
ORBIT_TOLERANCE = 100


@dataclass(frozen=True)
class Satellite:
    """One Sentinel-1 unit: its STAC platform name, launch, end of operations and track offsets."""

    platform: str
    launched: datetime
    ended: datetime | None
    #: (first absolute orbit, offset) pairs in order: the offset holds from that orbit on
    offsets: tuple[tuple[int, int], ...]

    def offset(self, absolute_orbit: int) -> int:
        return [offset for first, offset in self.offsets if absolute_orbit >= first][-1]


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


SATELLITES = {
    s.platform: s for s in (
        Satellite("sentinel-1a", _utc(2014, 4, 3, 21, 2), None, ((1, 73),)),
        Satellite("sentinel-1b", _utc(2016, 4, 25, 21, 2), _utc(2021, 12, 23), ((1, 27),)),
        Satellite("sentinel-1c", _utc(2024, 12, 5, 21, 20), None, ((1, 172), (8019, 99))),
        Satellite("sentinel-1d", _utc(2025, 11, 4, 21, 2), None, ((1, 42),)),
    )
}


def relative_orbit(platform: str, absolute_orbit: int) -> int | None:
    """The track of ``absolute_orbit`` of ``platform`` (``"sentinel-1a"`` ...); None for other platforms."""
    satellite = SATELLITES.get(platform)
    if satellite is None or absolute_orbit < 1:
        return None
    return (absolute_orbit - satellite.offset(absolute_orbit)) % TRACKS + 1


def relative_orbit_of_burst(burst_id: int) -> int:
    """The track an ESA burst id belongs to (burst ids run from 1 to 375,887 over the 175 tracks)."""
    if not 1 <= burst_id <= math.floor(TRACKS * T_ORBIT / T_BEAM):
        raise ValueError(f"{burst_id} is not an ESA burst id (1 to 375887)")
    return min(TRACKS, 1 + math.floor(((burst_id - 1) * T_BEAM + T_PRE) / T_ORBIT))


def expected_absolute_orbit(platform: str, when: datetime) -> float:
    """The absolute orbit ``platform`` flew at ``when``, from its launch and the nominal orbit period."""
    return 1 + (when - SATELLITES[platform].launched).total_seconds() / T_ORBIT


def platform_of_orbit(absolute_orbit: int, when: datetime, track: int | None = None) -> str | None:
    """The satellite that flew ``absolute_orbit`` at ``when`` (on ``track`` when given); None when no
    satellite or more than one fits."""
    fits = [s.platform for s in SATELLITES.values()
            if s.launched <= when and (s.ended is None or when <= s.ended)
            and abs(absolute_orbit - expected_absolute_orbit(s.platform, when)) <= ORBIT_TOLERANCE
            and (track is None or relative_orbit(s.platform, absolute_orbit) == track)]
    return fits[0] if len(fits) == 1 else None


def orbit_state_of_heading(heading: float) -> str | None:
    """``"ascending"`` or ``"descending"`` for a ground-track heading in degrees clockwise from north
    (Sentinel-1: about -12 ascending, about -165 descending); None near east or west (only at the poles)."""
    north = math.cos(math.radians(heading))
    if abs(north) < 0.1:
        return None
    return "ascending" if north > 0 else "descending"
