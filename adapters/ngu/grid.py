"""Points onto a regular UTM grid, the median of the points in each cell, without holding the point table.

`MedianGrid` takes batches of lon/lat and values, projects them at once (pyproj) to the UTM zone of the
area's centre, and keeps only what the medians need: each point's cell column and row (int32, counted
from a cell near the centre, 8 bytes a point) and each value layer (float32). At the end the grid's extent
is known; points get their cell number, are sorted by (cell, value) and each cell's median is read off the
sorted run (the mean of the two middle values when the count is even). Cells without a point are nodata
(NaN). For a million points that is about 12 MB while streaming and 8 MB more for the sort, however many
attributes and dates the file has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from affine import Affine

NODATA = float("nan")


def utm_epsg(lon: float, lat: float) -> int:
    """The EPSG code of the WGS84 UTM zone at (lon, lat): 326xx north of the equator, 327xx south."""
    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class Grid:
    """A regular grid: ``epsg``, top-left corner, cell size (m) and shape."""

    epsg: int
    west: float
    north: float
    cell: float
    width: int
    height: int


class MedianGrid:
    """Accumulates points of ``layers`` (names) in the UTM zone of (``lon``, ``lat``) for ``cell``-metre cells."""

    def __init__(self, lon: float, lat: float, cell: float, layers: tuple[str, ...]) -> None:
        if cell <= 0:
            raise ValueError("the cell size must be positive")
        self.epsg = utm_epsg(lon, lat)
        self.cell = float(cell)
        self.layers = layers
        self._to_utm = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(self.epsg), always_xy=True)
        x0, y0 = self._to_utm.transform(lon, lat)
        # cells are numbered from a whole-cell origin near the centre: int32 column and row per point
        self._origin = (math.floor(x0 / self.cell) * self.cell, math.floor(y0 / self.cell) * self.cell)
        self._cols: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._values: dict[str, list[np.ndarray]] = {name: [] for name in layers}

    def add(self, lon: np.ndarray, lat: np.ndarray, values: dict[str, np.ndarray]) -> None:
        x, y = self._to_utm.transform(lon, lat)
        self._cols.append(np.floor((np.asarray(x) - self._origin[0]) / self.cell).astype(np.int32))
        self._rows.append(np.floor((np.asarray(y) - self._origin[1]) / self.cell).astype(np.int32))
        for name in self.layers:
            self._values[name].append(np.asarray(values[name], dtype=np.float32))

    @property
    def count(self) -> int:
        return sum(len(a) for a in self._cols)

    def grid(self) -> Grid:
        """The grid that covers every point (whole cells, aligned on multiples of the cell size)."""
        if not self._cols:
            raise ValueError("no points")
        col0 = min(int(a.min()) for a in self._cols)
        col1 = max(int(a.max()) for a in self._cols)
        row0 = min(int(a.min()) for a in self._rows)
        row1 = max(int(a.max()) for a in self._rows)
        c = self.cell
        return Grid(self.epsg, self._origin[0] + col0 * c, self._origin[1] + (row1 + 1) * c, c,
                    col1 - col0 + 1, row1 - row0 + 1)

    def medians(self, name: str, grid: Grid) -> np.ndarray:
        """The (height, width) float32 grid of the median of layer ``name`` per cell (NaN: no point).

        One sort of one uint64 key per point: the cell number in the high 32 bits, the value's bits in an
        order-preserving form in the low 32 (8 bytes a point, no index arrays)."""
        out = np.full((grid.height, grid.width), NODATA, dtype=np.float32)
        col0 = round((grid.west - self._origin[0]) / grid.cell)
        row_top = round((grid.north - self._origin[1]) / grid.cell) - 1
        keys = np.empty(self.count, dtype=np.uint64)
        used = 0
        for cols, rows, values in zip(self._cols, self._rows, self._values[name]):
            keep = np.isfinite(values)
            cells = (row_top - rows[keep]).astype(np.uint64) * np.uint64(grid.width) + (cols[keep] - col0).astype(
                np.uint64)
            n = cells.size
            keys[used:used + n] = (cells << np.uint64(32)) | _sortable(values[keep]).astype(np.uint64)
            used += n
        keys = keys[:used]
        if used == 0:
            return out
        keys.sort()
        cells = keys >> np.uint64(32)
        starts = np.flatnonzero(np.concatenate(([True], cells[1:] != cells[:-1])))
        counts = np.diff(np.append(starts, used))
        low = _unsortable(keys[starts + (counts - 1) // 2]).astype(np.float64)
        high = _unsortable(keys[starts + counts // 2]).astype(np.float64)
        out.ravel()[cells[starts].astype(np.int64)] = ((low + high) / 2.0).astype(np.float32)
        return out

    def write(self, name: str, grid: Grid, path: Path, *, unit: str, description: str) -> bool:
        """Write layer ``name`` as a float32 GeoTIFF (nodata NaN) at ``path``; False when it has no value."""
        data = self.medians(name, grid)
        if not np.isfinite(data).any():
            return False
        profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": 1, "dtype": "float32",
                   "crs": f"EPSG:{grid.epsg}", "transform": Affine(grid.cell, 0.0, grid.west, 0.0, -grid.cell, grid.north),
                   "nodata": NODATA, "compress": "deflate", "tiled": grid.width > 256 and grid.height > 256}
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(data, 1)
            ds.set_band_description(1, name)
            ds.units = (unit,)
            ds.update_tags(AREA_OR_POINT="Area")
            ds.update_tags(1, description=description)
        return True


_SIGN = np.uint32(0x80000000)


def _sortable(values: np.ndarray) -> np.ndarray:
    """float32 -> uint32 whose unsigned order is the floats' order (negative: all bits flipped; else the sign)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def _unsortable(keys: np.ndarray) -> np.ndarray:
    """The float32 values back from the low 32 bits of keys made with `_sortable`."""
    bits = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return np.where(bits & _SIGN, bits & ~_SIGN, ~bits).view(np.float32)
