"""Simulated NGU result files: gzipped CSVs with the real layouts, made column-wise with numpy.

Two release styles (``PROVIDERS.md``): ``"2020"`` (the ``v20a`` datasets: ``pid, track, mode, burst, line,
pixel, latitude, longitude, height, height_wgs84, mean_velocity, rmse, temporal_coherence,
amplitude_quality, pixel, line, incidence_angle, track_angle, los_east, los_north, los_up``) and ``"2023"``
(adds ``easting, northing, vertical_velocity, amplitude_dispersion, acceleration, seasonality``, drops
``amplitude_quality``); then one ``YYYYMMDD`` column per acquisition (cumulative LOS displacement, mm). The
header has a space after each comma, as the real files do.

Values are plausible and deterministic (from a seed and the file): velocities near zero with a subsiding
bowl (`subsidence_centre`, down to `SUBSIDENCE_MM_YR` at its centre), coherence 0-1, 12-day acquisitions.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO

import numpy as np

from adapters.ngu.names import BBox

STYLE_2020 = ("pid", "track", "mode", "burst", "line", "pixel", "latitude", "longitude", "height", "height_wgs84",
              "mean_velocity", "rmse", "temporal_coherence", "amplitude_quality", "pixel", "line",
              "incidence_angle", "track_angle", "los_east", "los_north", "los_up")
STYLE_2023 = ("pid", "track", "mode", "burst", "easting", "northing", "line", "pixel", "latitude", "longitude",
              "height", "height_wgs84", "mean_velocity", "vertical_velocity", "rmse", "temporal_coherence",
              "amplitude_dispersion", "acceleration", "seasonality", "pixel", "line", "incidence_angle",
              "track_angle", "los_east", "los_north", "los_up")
STYLES = {"2020": STYLE_2020, "2023": STYLE_2023}
FIRST_DATE = date(2015, 6, 12)
STEP_DAYS = 12
SUBSIDENCE_MM_YR = -25.0
#: the bowl's radius as a share of the smaller side of the area
SUBSIDENCE_RADIUS = 0.2


def subsidence_centre(area: BBox) -> tuple[float, float]:
    """Where the subsiding bowl of an area is: a third of the way in from its west and south edges."""
    west, south, east, north = area
    return west + (east - west) / 3.0, south + (north - south) / 3.0


def acquisition_dates(count: int, first: date = FIRST_DATE) -> list[date]:
    return [first + timedelta(days=STEP_DAYS * i) for i in range(count)]


@dataclass(frozen=True)
class FileSpec:
    """One result file to make: its points lie in ``box``; the bowl is placed by ``area``."""

    track: int
    mode: int
    burst: int
    box: BBox
    area: BBox
    points: int
    dates: int
    style: str = "2020"
    seed: int = 0
    malformed: int = 0


def _rng(spec: FileSpec) -> np.random.Generator:
    key = f"{spec.seed}/{spec.track}/{spec.mode}/{spec.burst}/{spec.box}/{spec.points}/{spec.dates}/{spec.style}"
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))


#: printf formats of the columns (the rest, and the dates, are "%.2f")
FORMATS = {"pid": "%d", "track": "%d", "mode": "%d", "burst": "%d", "line": "%d", "pixel": "%d",
           "latitude": "%.6f", "longitude": "%.6f", "temporal_coherence": "%.3f", "amplitude_quality": "%.3f",
           "amplitude_dispersion": "%.3f", "acceleration": "%.3f", "los_east": "%.4f", "los_north": "%.4f",
           "los_up": "%.4f", "track_angle": "%.1f"}


def columns(spec: FileSpec, start: int = 0, count: int | None = None) -> tuple[list[str], list[np.ndarray]]:
    """Header names (duplicates included) and column arrays of rows ``start``..``start+count`` of ``spec``."""
    count = spec.points - start if count is None else count
    rng = _rng(replace(spec, seed=spec.seed + start))
    west, south, east, north = spec.box
    lon = rng.uniform(west, east, count)
    lat = rng.uniform(south, north, count)
    cx, cy = subsidence_centre(spec.area)
    aw, as_, ae, an = spec.area
    radius = SUBSIDENCE_RADIUS * min((ae - aw) * math.cos(math.radians(cy)), an - as_)
    dist = np.hypot((lon - cx) * math.cos(math.radians(cy)), lat - cy)
    velocity = SUBSIDENCE_MM_YR * np.exp(-((dist / max(radius, 1e-9)) ** 2)) + rng.normal(0.0, 1.0, count)
    years = np.arange(spec.dates) * STEP_DAYS / 365.25
    series = velocity[:, None] * years[None, :] + rng.normal(0.0, 1.5, (count, spec.dates))
    series[:, 0] = 0.0
    height = rng.uniform(5.0, 400.0, count)
    incidence = 30.0 + 15.0 * (lon - west) / max(east - west, 1e-9)
    los_up = np.cos(np.radians(incidence))
    values: dict[str, np.ndarray] = {
        "pid": np.arange(start, start + count) + spec.burst * 10_000_000,
        "track": np.full(count, spec.track), "mode": np.full(count, spec.mode), "burst": np.full(count, spec.burst),
        "line": rng.integers(0, 1500, count), "pixel": rng.integers(0, 25000, count),
        "latitude": np.round(lat, 6), "longitude": np.round(lon, 6),
        "easting": np.round(500000.0 + (lon - 21.0) * 111320.0 * math.cos(math.radians(cy)), 2),
        "northing": np.round(lat * 110574.0, 2),
        "height": np.round(height, 2), "height_wgs84": np.round(height + 30.0, 2),
        "mean_velocity": np.round(velocity, 2), "vertical_velocity": np.round(velocity / los_up, 2),
        "rmse": np.round(rng.uniform(0.5, 3.0, count), 2),
        "temporal_coherence": np.round(rng.uniform(0.3, 1.0, count), 3),
        "amplitude_quality": np.round(rng.uniform(0.0, 1.0, count), 3),
        "amplitude_dispersion": np.round(rng.uniform(0.1, 0.4, count), 3),
        "acceleration": np.round(rng.normal(0.0, 0.3, count), 3),
        "seasonality": np.round(rng.uniform(0.0, 4.0, count), 2),
        "incidence_angle": np.round(incidence, 2),
        "track_angle": np.full(count, -12.5 if spec.track % 2 == 0 else -167.5),
        "los_east": np.round(-np.sin(np.radians(incidence)) * 0.98, 4),
        "los_north": np.round(np.sin(np.radians(incidence)) * 0.17, 4),
        "los_up": np.round(los_up, 4),
    }
    names = list(STYLES[spec.style])
    arrays: list[np.ndarray] = []
    second: dict[str, np.ndarray] = {"pixel": rng.integers(0, 25000, count), "line": rng.integers(0, 1500, count)}
    seen: set[str] = set()
    for name in names:
        arrays.append(second[name] if name in seen else values[name])
        seen.add(name)
    for i, day in enumerate(acquisition_dates(spec.dates)):
        names.append(day.strftime("%Y%m%d"))
        arrays.append(series[:, i])
    return names, arrays


def write_csv(spec: FileSpec, out: BinaryIO, *, chunk: int = 50_000) -> None:
    """Write the CSV text of ``spec`` to ``out`` (a binary stream; gzip it by passing a compressed one)."""
    header_names: list[str] | None = None
    for start in range(0, max(spec.points, 1), chunk):
        count = min(chunk, spec.points - start)
        if count <= 0:
            break
        names, arrays = columns(spec, start, count)
        if header_names is None:
            header_names = names
            out.write((", ".join(names) + "\n").encode())
        # numpy formats the rows (no pyarrow: the simulator runs in the demo's main process)
        np.savetxt(out, np.column_stack(arrays).astype(np.float64), fmt=[FORMATS.get(n, "%.2f") for n in names],
                   delimiter=",")
    if spec.malformed:
        _write_malformed(spec, out, header_names or list(STYLES[spec.style]))


def _write_malformed(spec: FileSpec, out: BinaryIO, names: list[str]) -> None:
    """``spec.malformed`` bad rows: all but one with a value that is not a number, then a truncated last row."""
    fields = len(names)
    velocity = names.index("mean_velocity")
    for i in range(max(0, spec.malformed - 1)):
        row = ["0"] * fields
        row[0] = f"BAD{i}"
        lat, lon = names.index("latitude"), names.index("longitude")
        row[lat], row[lon] = f"{spec.box[1]:.6f}", f"{spec.box[0]:.6f}"
        row[velocity] = "n/a-garbled"
        out.write((",".join(row) + "\n").encode())
    out.write((",".join(["BADLAST", str(spec.track), str(spec.mode)]) + "\n").encode())


def gzip_bytes(spec: FileSpec) -> bytes:
    """The gzipped CSV of ``spec`` in memory (simulator-sized files)."""
    import gzip
    import io

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as gz:
        write_csv(spec, gz)  # type: ignore[arg-type]
    return buffer.getvalue()


def write_gzip_file(spec: FileSpec, path: Path, *, chunk: int = 50_000, level: int = 1) -> None:
    """Write the gzipped CSV of ``spec`` to ``path`` (benchmark-sized files: gzip level 1 is ten times
    faster to write than the default, and reads as fast)."""
    import gzip

    with gzip.open(path, "wb", compresslevel=level) as stream:
        write_csv(spec, stream, chunk=chunk)  # type: ignore[arg-type]
