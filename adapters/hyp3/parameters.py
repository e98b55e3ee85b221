"""The parameter file of a HyP3 InSAR product (``<name>.txt``), read into what an item needs.

GAMMA (INSAR_GAMMA) and ISCE2 (INSAR_ISCE_BURST, INSAR_ISCE_MULTI_BURST) write the same ``Key: value`` lines::

    Reference Granule: S1_372326_IW3_20180628T151555_VV_4673-BURST
    Secondary Granule: S1_372326_IW3_20190705T151602_VV_D62F-BURST
    Reference Pass Direction: DESCENDING
    Reference Orbit Number: 11575
    Secondary Pass Direction: DESCENDING
    Secondary Orbit Number: 17000
    Baseline: 7.636373874371554
    UTC time: 54955.501598
    Heading: -163.184113207136
    ...
    Range looks: 2
    Azimuth looks: 10

(the file of a real Sentinel-1B burst pair, as hyp3-isce2's tests show it; GAMMA's starts the same way).
Multi-burst products list their granules separated by commas. A line that is missing or does not read
leaves its field None: the file describes the product, it does not make or break it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_LINE = re.compile(r"^\s*(?P<key>[^:]+?)\s*:\s*(?P<value>.*?)\s*$")
_DIRECTIONS = {"ASCENDING": "ascending", "DESCENDING": "descending"}


@dataclass(frozen=True)
class ParameterFile:
    """What a product's parameter file says about its acquisitions and processing."""

    reference_granules: tuple[str, ...] = ()
    secondary_granules: tuple[str, ...] = ()
    reference_pass_direction: str | None = None   # "ascending" | "descending"
    secondary_pass_direction: str | None = None
    reference_orbit: int | None = None            # absolute orbit numbers
    secondary_orbit: int | None = None
    heading: float | None = None                  # degrees clockwise from north
    utc_time: float | None = None                 # seconds since midnight of the reference acquisition
    range_looks: int | None = None
    azimuth_looks: int | None = None


def read_parameters(path: Path) -> ParameterFile:
    """The parameter file at ``path`` (undecodable bytes are replaced, not fatal)."""
    return parse_parameters(path.read_text(encoding="utf-8", errors="replace"), source=path.name)


def parse_parameters(text: str, *, source: str = "parameter file") -> ParameterFile:
    """Parse the text of a parameter file; ``source`` names it in log messages."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if match := _LINE.match(line):
            values.setdefault(match["key"].lower(), match["value"])

    def integer(key: str) -> int | None:
        raw = values.get(key)
        try:
            return None if raw is None else int(raw)
        except ValueError:
            log.warning("%s: %s %r is not a whole number; ignored", source, key, raw)
            return None

    def real(key: str) -> float | None:
        raw = values.get(key)
        try:
            return None if raw is None else float(raw)
        except ValueError:
            log.warning("%s: %s %r is not a number; ignored", source, key, raw)
            return None

    def granules(key: str) -> tuple[str, ...]:
        return tuple(g for g in re.split(r"[,\s]+", values.get(key, "")) if g)

    return ParameterFile(
        reference_granules=granules("reference granule"),
        secondary_granules=granules("secondary granule"),
        reference_pass_direction=_DIRECTIONS.get(values.get("reference pass direction", "").upper()),
        secondary_pass_direction=_DIRECTIONS.get(values.get("secondary pass direction", "").upper()),
        reference_orbit=integer("reference orbit number"),
        secondary_orbit=integer("secondary orbit number"),
        heading=real("heading"),
        utc_time=real("utc time"),
        range_looks=integer("range looks"),
        azimuth_looks=integer("azimuth looks"),
    )
