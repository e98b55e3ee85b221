"""Opening rasters, local files or remote COGs, with one error for whatever GDAL cannot read."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import rasterio
from rasterio._err import CPLE_BaseError  # GDAL errors raised while reading (not RasterioError subclasses)
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from catalogs.errors import NotARasterError

#: GDAL settings while a remote COG is open: read its header in one range request, list no folder, retry
REMOTE_GDAL_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_MAX_RETRY": "3",
                       "GDAL_HTTP_RETRY_DELAY": "1", "GDAL_INGESTED_BYTES_AT_OPEN": "65536"}


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


@contextmanager
def open_raster(path: Path | str) -> Iterator[rasterio.io.DatasetReader]:
    """Open a raster file, or a remote COG (with `REMOTE_GDAL_OPTIONS` for as long as it is open).

    GDAL failures while opening it or inside the ``with`` block raise `NotARasterError` naming ``path``.
    A raster without georeferencing (radar geometry) is still read; GDAL's warning about it is noise.
    """
    with rasterio.Env(**REMOTE_GDAL_OPTIONS) if is_url(str(path)) else nullcontext():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                dataset = rasterio.open(path)
                with dataset:
                    yield dataset
        except (RasterioError, CPLE_BaseError, OSError) as exc:
            raise NotARasterError(path, str(exc.__cause__ or exc).strip() or type(exc).__name__) from exc
