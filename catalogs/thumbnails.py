"""PNG thumbnails of rasters (the ``thumbnail`` asset of every item that has a raster).

A thumbnail is at most ``max_size`` pixels on its longer side, keeps the raster's aspect ratio and is never
larger than the raster. It is read decimated (GDAL uses the overviews of a COG, so this is cheap), stretched to
8 bits and written with GDAL's PNG driver, without georeferencing and without a ``.aux.xml`` sidecar, through a
temporary name and a rename.

Output bands: **gray + alpha** (2 bands) for a single-band grey stretch, **RGBA** (4 bands) for colour
(a colormap, or three bands). Pixels that are nodata, masked or not finite have alpha 0, all others 255 (or
the colormap entry's alpha). Stretched values go to 1..255, so 0 is never a valid grey.

How the pixels are rendered, by ``kind`` (see `catalogs.drafts.AssetDraft.kind`):

- the first band has a colormap and ``kind`` is ``auto``, ``categorical`` or ``mask``: the colormap is applied;
- three or more bands and ``kind`` is ``auto`` or ``continuous``: the first three bands as RGB, unchanged when
  they are ``uint8`` (imagery), each stretched from its 2nd to 98th percentile otherwise;
- otherwise the first band, in grey: ``continuous`` is a linear stretch from the 2nd to the 98th percentile of
  the valid pixels, ``categorical`` and ``mask`` a linear stretch from the minimum to the maximum valid value.
  ``auto`` is ``continuous`` for floats; for integers it is ``continuous`` when the thumbnail has more than
  ``CATEGORY_LIMIT`` distinct values and ``categorical`` otherwise.

Continuous data is read with average resampling, everything else with nearest (so classes are never mixed).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from catalogs.drafts import RasterKind
from catalogs.fsio import atomic_write_bytes
from catalogs.rasters import open_raster

__all__ = ["CATEGORY_LIMIT", "THUMBNAIL_SIZE", "thumbnail_shape", "write_diverging_thumbnail", "write_thumbnail"]

THUMBNAIL_SIZE = 600
#: an integer band with at most this many distinct values (in the thumbnail) is drawn as classes
CATEGORY_LIMIT = 32


def thumbnail_shape(height: int, width: int, max_size: int = THUMBNAIL_SIZE) -> tuple[int, int]:
    """(rows, columns) of the thumbnail of a ``height`` x ``width`` raster: aspect kept, never upscaled."""
    scale = max(height, width) / max(1, max_size)
    if scale <= 1:
        return height, width
    return max(1, round(height / scale)), max(1, round(width / scale))


def write_thumbnail(src: Path, dst: Path, *, kind: RasterKind = "auto", max_size: int = THUMBNAIL_SIZE) -> Path:
    """Write a PNG thumbnail of the raster ``src`` to ``dst`` and return ``dst``.

    Raises `NotARasterError` naming ``src`` when it cannot be read as a raster, and `OutputNotWritableError`
    when ``dst`` cannot be written (its folder must exist).
    """
    src, dst = Path(src), Path(dst)
    with open_raster(src) as dataset:
        bands = _render(dataset, kind, max_size)
    atomic_write_bytes(dst, _png_bytes(bands))
    return dst


def write_diverging_thumbnail(src: Path, dst: Path, *, limit: float | None = None,
                              max_size: int = THUMBNAIL_SIZE) -> Path:
    """Write a PNG thumbnail of the first band of ``src`` in a diverging colour map centred on zero (RGBA):
    red for negative values, white at zero, blue for positive ones, saturated at ``-limit`` and ``limit``
    (default: the 98th percentile of the absolute valid values). For signed quantities such as velocities."""
    src, dst = Path(src), Path(dst)
    with open_raster(src) as dataset:
        out_shape = thumbnail_shape(dataset.height, dataset.width, max_size)
        values, valid = _read(dataset, [1], out_shape, Resampling.average)
    atomic_write_bytes(dst, _png_bytes(_diverging(values[0], valid, limit)))
    return dst


# --- rendering ----------------------------------------------------------------------------------------


def _render(dataset: Any, kind: RasterKind, max_size: int) -> np.ndarray:
    """The thumbnail's uint8 bands: (2, rows, cols) gray + alpha or (4, rows, cols) RGBA."""
    out_shape = thumbnail_shape(dataset.height, dataset.width, max_size)
    dtype = np.dtype(dataset.dtypes[0])
    colormap = _colormap(dataset)
    if colormap is not None and kind in ("auto", "categorical", "mask"):
        values, valid = _read(dataset, [1], out_shape, Resampling.nearest)
        return _apply_colormap(values[0], valid, colormap)
    if dataset.count >= 3 and kind in ("auto", "continuous"):
        uint8 = all(np.dtype(t) == np.uint8 for t in dataset.dtypes[:3])
        resampling = Resampling.average
        values, valid = _read(dataset, [1, 2, 3], out_shape, resampling)
        if uint8:
            rgb = values.astype(np.uint8)
        else:
            rgb = np.stack([_stretch(band, valid, _percentiles(band, valid)) for band in values])
        rgb[:, ~valid] = 0
        return np.concatenate([rgb, _alpha(valid)[np.newaxis]])
    if kind == "auto":
        if np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.complexfloating):
            kind = "continuous"
        else:
            values, valid = _read(dataset, [1], out_shape, Resampling.nearest)
            distinct = np.unique(values[0][valid]).size
            kind = "continuous" if distinct > CATEGORY_LIMIT else "categorical"
            return _gray(values[0], valid, kind)
    resampling = Resampling.average if kind == "continuous" else Resampling.nearest
    values, valid = _read(dataset, [1], out_shape, resampling)
    return _gray(values[0], valid, kind)


def _read(
    dataset: Any, indexes: list[int], out_shape: tuple[int, int], resampling: Resampling
) -> tuple[np.ndarray, np.ndarray]:
    """Decimated bands as float64 (or ints for exact classes) and one validity mask (True = valid).

    A pixel is valid where the dataset mask says so (nodata in every band, a mask band or an alpha band, as
    GDAL defines it) and, for the bands read, its values are finite.
    """
    rows, cols = out_shape
    data = dataset.read(indexes, out_shape=(len(indexes), rows, cols), masked=True, resampling=resampling)
    if np.iscomplexobj(data):
        data = np.ma.abs(data)
    values = np.ma.getdata(data)
    band_mask = np.ma.getmaskarray(data)
    valid = dataset.dataset_mask(out_shape=(rows, cols), resampling=Resampling.nearest) > 0
    if len(indexes) == 1:
        valid &= ~band_mask[0]  # the band's own mask is what counts for a single band
    if np.issubdtype(values.dtype, np.floating):
        valid &= np.isfinite(values).all(axis=0)
    return values, valid


def _alpha(valid: np.ndarray) -> np.ndarray:
    return np.where(valid, 255, 0).astype(np.uint8)


def _percentiles(band: np.ndarray, valid: np.ndarray) -> tuple[float, float] | None:
    if not valid.any():
        return None
    low, high = np.percentile(band[valid].astype(np.float64), [2.0, 98.0])
    return float(low), float(high)


def _min_max(band: np.ndarray, valid: np.ndarray) -> tuple[float, float] | None:
    if not valid.any():
        return None
    values = band[valid]
    return float(values.min()), float(values.max())


def _stretch(band: np.ndarray, valid: np.ndarray, limits: tuple[float, float] | None) -> np.ndarray:
    """Linear stretch of ``limits`` to 1..255 (a constant image is mid-grey); invalid pixels are 0."""
    out = np.zeros(band.shape, dtype=np.uint8)
    if limits is None:
        return out
    low, high = limits
    values = band[valid].astype(np.float64)
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        out[valid] = 128
        return out
    with np.errstate(all="ignore"):  # extreme float ranges must not leak overflow warnings
        scaled = 1.0 + (np.clip(values, low, high) - low) * (254.0 / (high - low))
        out[valid] = np.rint(np.nan_to_num(np.clip(scaled, 1.0, 255.0), nan=1.0)).astype(np.uint8)
    return out


#: ColorBrewer RdBu (11 classes), from the most negative to the most positive value
_DIVERGING = np.array([(103, 0, 31), (178, 24, 43), (214, 96, 77), (244, 165, 130), (253, 219, 199),
                       (247, 247, 247), (209, 229, 240), (146, 197, 222), (67, 147, 195), (33, 102, 172),
                       (5, 48, 97)], dtype=np.float64)


def _diverging(band: np.ndarray, valid: np.ndarray, limit: float | None) -> np.ndarray:
    rgba = np.zeros((4, *band.shape), dtype=np.uint8)
    if not valid.any():
        return rgba
    values = band[valid].astype(np.float64)
    if limit is None:
        limit = float(np.percentile(np.abs(values), 98.0))
    if not (math.isfinite(limit) and limit > 0):
        limit = 1.0
    position = (np.clip(values / limit, -1.0, 1.0) + 1.0) * (len(_DIVERGING) - 1) / 2.0
    stops = np.arange(len(_DIVERGING))
    for channel in range(3):
        rgba[channel][valid] = np.rint(np.interp(position, stops, _DIVERGING[:, channel])).astype(np.uint8)
    rgba[3][valid] = 255
    return rgba


def _gray(band: np.ndarray, valid: np.ndarray, kind: str) -> np.ndarray:
    limits = _percentiles(band, valid) if kind == "continuous" else _min_max(band, valid)
    return np.stack([_stretch(band, valid, limits), _alpha(valid)])


def _colormap(dataset: Any) -> dict[int, tuple[int, ...]] | None:
    try:
        return dataset.colormap(1)
    except ValueError:  # no colormap on this band
        return None


def _apply_colormap(band: np.ndarray, valid: np.ndarray, colormap: dict[int, tuple[int, ...]]) -> np.ndarray:
    """RGBA from the colormap; values without an entry are transparent, as are invalid pixels."""
    rgba = np.zeros((4, *band.shape), dtype=np.uint8)
    if not valid.any():
        return rgba
    values = band[valid]
    classes, inverse = np.unique(values, return_inverse=True)
    table = np.zeros((len(classes), 4), dtype=np.uint8)
    for i, value in enumerate(classes):
        entry = colormap.get(int(value)) if float(value).is_integer() else None
        if entry is not None:
            table[i, : len(entry)] = entry[:4]
            if len(entry) < 4:
                table[i, 3] = 255
    rgba[:, valid] = table[inverse.ravel()].T
    return rgba


# --- writing ------------------------------------------------------------------------------------------


def _png_bytes(bands: np.ndarray) -> bytes:
    """Encode (count, rows, cols) uint8 bands as PNG with GDAL, without georeferencing or side files."""
    count, rows, cols = bands.shape
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(filename="thumbnail.png") as memfile:
            # PNG is a CreateCopy-only driver: rasterio buffers the bands in a MEM dataset and copies on close
            with memfile.open(driver="PNG", width=cols, height=rows, count=count, dtype="uint8") as png:
                png.write(bands)
            return bytes(memfile.read())
