"""When each scene of a HyP3 product was acquired, by which satellite, on which orbit, from the most precise
source at hand.

A product name alone often gives dates only (burst InSAR: ``..._20200604_20200616_...``) and never orbits;
the input granule names carry the time of day (``S1_136231_IW2_20200604T022312_VV_7C85-BURST``), the start
and stop of a scene and its absolute orbit (``S1A_IW_SLC__1SDV_20200203T172103_20200203T172122_031091_...``).
The sources, in order of preference for each scene:

1. what the product file states of its scene (OPERA RTC-S1: ``/identification``: zero-Doppler start and
   end, absolute orbit, pass direction); the granules the job names (``job_parameters``: ``granules``, or
   ``reference``/``secondary``), or the ones the product itself lists (ARIA GUNW:
   ``/science/radarMetaData/inputSLC/*/L1InputGranules``);
2. the granules of the product's parameter file (``Reference Granule: ...``);
3. the granules inside an autoRIFT product name;
4. the product name.

A granule is used only when it was acquired within a day of the time the product name gives for its scene,
so that a mismatched job record cannot relabel a product. Orbits: the absolute orbit from the granule
name or the parameter file, the track from it (or from the ESA burst id), the satellite from the granule
name or else from its orbit number and date (`adapters.hyp3.orbits`). The pass direction comes from the
parameter file (``Reference Pass Direction``, else ``Heading``), the product file (OPERA) or the product
name (GUNW); the looks from
the parameter file, else the job's ``looks`` (``20x4`` is 20 range by 4 azimuth looks).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import h5netcdf

from adapters.errors import BadProductError
from adapters.hyp3.granules import LANDSAT_L1, S1_BURST, S1_SCENE, S2_L1C, S2_L1C_COG
from adapters.hyp3.names import ProductName
from adapters.hyp3.orbits import orbit_state_of_heading, platform_of_orbit, relative_orbit, relative_orbit_of_burst
from adapters.hyp3.parameters import ParameterFile

log = logging.getLogger(__name__)

#: how far a granule's start may be from the time the product name gives for its scene
MATCH_WINDOW = timedelta(days=1, hours=1)
GUNW_GRANULES = "science/radarMetaData/inputSLC/{role}/L1InputGranules"
OPERA_IDENTIFICATION = "identification"
_LOOKS = re.compile(r"(?P<range>\d+)x(?P<azimuth>\d+)")


@dataclass(frozen=True)
class Acquisition:
    """One scene (or the granules of one pass, merged): its time span, satellite and orbits."""

    start: datetime
    end: datetime
    platform: str | None = None          # STAC platform name, e.g. "sentinel-1a"
    absolute_orbit: int | None = None
    relative_orbit: int | None = None


@dataclass(frozen=True)
class Acquisitions:
    """The scenes of one product: ``secondary`` only for pairs; pass direction and looks of the product."""

    reference: Acquisition
    secondary: Acquisition | None = None
    orbit_state: str | None = None       # "ascending" | "descending"
    looks_range: int | None = None
    looks_azimuth: int | None = None

    @property
    def scenes(self) -> list[Acquisition]:
        """The scenes, earliest first."""
        return sorted(filter(None, (self.reference, self.secondary)), key=lambda a: a.start)

    @property
    def start(self) -> datetime:
        return min(a.start for a in self.scenes)

    @property
    def end(self) -> datetime:
        return max(a.end for a in self.scenes)


@dataclass(frozen=True)
class Identification:
    """What a product file states about its one scene."""

    start: datetime
    end: datetime
    absolute_orbit: int | None = None
    orbit_state: str | None = None


def granule_acquisition(name: str) -> Acquisition | None:
    """What a granule name says about its acquisition; None for a name of no known form (or an impossible
    date or burst id)."""
    try:
        return _granule_acquisition(name)
    except ValueError:
        return None


def _granule_acquisition(name: str) -> Acquisition | None:
    if g := S1_SCENE.fullmatch(name):
        platform = f"sentinel-1{g['unit'].lower()}"
        orbit = int(g["absolute_orbit"])
        return Acquisition(_utc(g["start"]), _utc(g["stop"]), platform, orbit, relative_orbit(platform, orbit))
    if g := S1_BURST.fullmatch(name):
        start = _utc(g["start"])
        return Acquisition(start, start, relative_orbit=relative_orbit_of_burst(int(g["burst_id"])))
    if g := S2_L1C.fullmatch(name):
        start = _utc(g["start"])
        return Acquisition(start, start, f"sentinel-2{g['unit'].lower()}", relative_orbit=int(g["relative_orbit"]))
    if g := S2_L1C_COG.fullmatch(name):
        start = _utc(g["date"], "%Y%m%d")
        return Acquisition(start, start, f"sentinel-2{g['unit'].lower()}")
    if g := LANDSAT_L1.fullmatch(name):
        start = _utc(g["date"], "%Y%m%d")
        return Acquisition(start, start, f"landsat-{g['number']}")
    return None


def merge(scenes: Sequence[Acquisition]) -> Acquisition:
    """The granules of one pass as one acquisition: from the earliest start to the latest end, with the
    orbit of the earliest; platform and track when all granules agree."""
    first = min(scenes, key=lambda a: a.start)
    platforms = {a.platform for a in scenes}
    tracks = {a.relative_orbit for a in scenes}
    return Acquisition(first.start, max(a.end for a in scenes),
                       platforms.pop() if len(platforms) == 1 else None, first.absolute_orbit,
                       tracks.pop() if len(tracks) == 1 else None)


def read_gunw_granules(path: Path, *, what: str) -> tuple[list[str], list[str]] | None:
    """The reference and secondary SLC granules an ARIA GUNW netCDF lists; None when it lists none."""
    roles: list[list[str]] = []
    try:
        with h5netcdf.File(path, "r") as nc:
            for role in ("reference", "secondary"):
                key = GUNW_GRANULES.format(role=role)
                if key not in nc:
                    return None
                values = nc[key][...]
                names = [v.decode() if isinstance(v, bytes) else str(v) for v in values.reshape(-1).tolist()]
                roles.append([n.strip() for n in names if n.strip()])
    except OSError as exc:
        raise BadProductError(f"{what}: {path.name}: not a readable netCDF file ({exc})") from exc
    return (roles[0], roles[1]) if roles[0] and roles[1] else None


def read_opera_identification(path: Path, *, what: str) -> Identification | None:
    """The ``/identification`` datasets of an OPERA RTC-S1 HDF5 file; None when they are not there."""
    try:
        with h5netcdf.File(path, "r") as h5:
            if OPERA_IDENTIFICATION not in h5.groups:
                return None
            group = h5[OPERA_IDENTIFICATION]

            def value(key: str) -> Any:
                if key not in group.variables:
                    return None
                raw = group[key][()]
                return raw.decode() if isinstance(raw, bytes) else raw.item() if hasattr(raw, "item") else raw

            start, end = value("zeroDopplerStartTime"), value("zeroDopplerEndTime")
            orbit, direction = value("absoluteOrbitNumber"), value("orbitPassDirection")
    except OSError as exc:
        raise BadProductError(f"{what}: {path.name}: not a readable HDF5 file ({exc})") from exc
    try:
        first, last = datetime.fromisoformat(str(start)), datetime.fromisoformat(str(end))
    except ValueError:
        log.warning("%s: %s: no readable zero-Doppler start and end time", what, path.name)
        return None
    state = str(direction).lower() if direction is not None else None
    return Identification(first.astimezone(timezone.utc), last.astimezone(timezone.utc),
                          orbit if isinstance(orbit, int) and orbit > 0 else None,
                          state if state in ("ascending", "descending") else None)


def describe(product: ProductName, job_parameters: Mapping[str, Any], parameters: ParameterFile | None,
             input_granules: tuple[Sequence[str], Sequence[str]] | None = None,
             identification: Identification | None = None) -> Acquisitions:
    """The acquisitions of ``product`` from every source at hand (see the module docstring)."""
    pair = product.reference is not None
    named = _named(product, pair)
    candidates = _granule_lists(product, job_parameters, parameters, input_granules, pair)
    roles = ("reference", "secondary") if pair else ("reference",)
    scenes: list[Acquisition] = []
    for index, role in enumerate(roles):
        expected = named[index]
        if identification is not None and not pair and abs(identification.start - expected.start) <= MATCH_WINDOW:
            chosen = replace(expected, start=identification.start, end=identification.end,
                             absolute_orbit=identification.absolute_orbit)
        else:
            sources = [(source, lists[index]) for source, lists in candidates]
            chosen = _from_granules(product.name, role, expected, sources)
        scenes.append(_with_orbits(chosen, _parameter_orbit(parameters, role)))
    state = _orbit_state(product, parameters) or (identification.orbit_state if identification else None)
    return Acquisitions(scenes[0], scenes[1] if pair else None, state, *_looks(parameters, job_parameters))


def _from_granules(product: str, role: str, expected: Acquisition, sources: list[tuple[str, list[str]]]
                   ) -> Acquisition:
    """The scene of the first source whose granules read and fit the name's ``expected`` scene."""
    for source, names in sources:
        found = _acquisition(names)
        if found is None:
            continue
        if abs(found.start - expected.start) > MATCH_WINDOW:
            log.warning("%s: the %s granules of the %s (%s) are not of the product's %s scene (%s): ignored",
                        product, role, source, ", ".join(names), role, expected.start.date())
            continue
        # the track a product name states was read from the scene's metadata: it wins over one derived
        return replace(found, platform=found.platform or expected.platform,
                       relative_orbit=expected.relative_orbit or found.relative_orbit)
    return expected


def _named(product: ProductName, pair: bool) -> list[Acquisition]:
    """What the product name says of each scene."""
    track = product.options.get("relative_orbit")
    track = track if isinstance(track, int) else None
    platforms = list(product.platforms)
    if not pair:
        return [Acquisition(product.start, product.end, platforms[0] if len(platforms) == 1 else None,
                            relative_orbit=track)]
    assert product.reference is not None and product.secondary is not None
    by_role = platforms * 2 if len(platforms) == 1 else platforms if len(platforms) == 2 else [None, None]
    return [Acquisition(when, when, platform, relative_orbit=track)
            for when, platform in zip((product.reference, product.secondary), by_role)]


def _granule_lists(product: ProductName, job_parameters: Mapping[str, Any], parameters: ParameterFile | None,
                   input_granules: tuple[Sequence[str], Sequence[str]] | None, pair: bool
                   ) -> list[tuple[str, list[list[str]]]]:
    """Granule names per scene from each source, most precise first: (source, [reference[, secondary]])."""
    def strings(value: Any) -> list[str]:
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    out: list[tuple[str, list[list[str]]]] = []
    granules = strings(job_parameters.get("granules"))
    if pair and len(granules) == 2:
        out.append(("job", [[granules[0]], [granules[1]]]))
    elif not pair and len(granules) == 1:
        out.append(("job", [granules]))
    reference, secondary = strings(job_parameters.get("reference")), strings(job_parameters.get("secondary"))
    if pair and reference and secondary:
        out.append(("job", [reference, secondary]))
    if input_granules is not None:
        out.append(("product", [list(input_granules[0]), list(input_granules[1])]))
    if parameters is not None and parameters.reference_granules and (parameters.secondary_granules or not pair):
        out.append(("parameter file", [list(parameters.reference_granules), list(parameters.secondary_granules)]))
    if product.job_type == "AUTORIFT":
        out.append(("product name", [[str(product.options["reference_granule"])],
                                     [str(product.options["secondary_granule"])]]))
    return out


def _acquisition(names: Sequence[str]) -> Acquisition | None:
    scenes = [granule_acquisition(name) for name in names]
    if not scenes or any(s is None for s in scenes):
        return None
    return merge([s for s in scenes if s is not None])


def _parameter_orbit(parameters: ParameterFile | None, role: str) -> int | None:
    if parameters is None:
        return None
    return parameters.reference_orbit if role == "reference" else parameters.secondary_orbit


def _with_orbits(scene: Acquisition, orbit: int | None) -> Acquisition:
    """Fill in the absolute orbit (from the parameter file), then the satellite and track it implies."""
    absolute = scene.absolute_orbit or orbit
    if absolute is None:
        return scene
    platform = scene.platform or platform_of_orbit(absolute, scene.start, scene.relative_orbit)
    track = scene.relative_orbit or (relative_orbit(platform, absolute) if platform else None)
    return replace(scene, platform=platform, absolute_orbit=absolute, relative_orbit=track)


def _orbit_state(product: ProductName, parameters: ParameterFile | None) -> str | None:
    if parameters is not None:
        if parameters.reference_pass_direction:
            return parameters.reference_pass_direction
        if parameters.heading is not None:
            return orbit_state_of_heading(parameters.heading)
    state = product.options.get("orbit_state")
    return state if state in ("ascending", "descending") else None


def _looks(parameters: ParameterFile | None, job_parameters: Mapping[str, Any]) -> tuple[int | None, int | None]:
    if parameters is not None and parameters.range_looks and parameters.azimuth_looks:
        return parameters.range_looks, parameters.azimuth_looks
    looks = job_parameters.get("looks")
    if isinstance(looks, str) and (m := _LOOKS.fullmatch(looks)):
        return int(m["range"]), int(m["azimuth"])
    return None, None


def _utc(text: str, fmt: str = "%Y%m%dT%H%M%S") -> datetime:
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
