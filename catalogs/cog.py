"""Cloud-Optimized GeoTIFFs: validate them, and turn any raster GDAL reads into one.

A file that already is a valid COG is never re-encoded: it is hard-linked (or copied) into place.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError  # GDAL errors raised by rasterio.shutil.copy; not re-exported
from rasterio.enums import ColorInterp
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from catalogs.drafts import RasterKind
from catalogs.errors import CogConversionError, NotARasterError, OutputNotWritableError
from catalogs.fsio import temp_name

log = logging.getLogger(__name__)

#: overviews are made until the larger side of the smallest one is at most this many pixels
SMALLEST_OVERVIEW = 256

_RESAMPLING_BY_KIND = {"continuous": "AVERAGE", "categorical": "MODE", "mask": "NEAREST"}
_PREDICTOR_CODECS = {"LZW", "DEFLATE", "ZSTD"}
# rasterio.shutil.copy raises SystemError ("Unknown GDAL Error") when GDAL fails without a message
_GDAL_ERRORS = (RasterioError, CPLE_BaseError, SystemError)


@dataclass(frozen=True)
class CogResult:
    """Where the COG is, and whether it was encoded (``False``: the input already was a COG)."""

    path: Path
    converted: bool


def validate_cog(path: str | os.PathLike[str]) -> tuple[bool, list[str], list[str]]:
    """Validate ``path`` as a COG in strict mode (warnings count as errors): ``(is_valid, errors, warnings)``.

    On top of rio-cogeo's layout checks, the last block of a file that passes them is read, which catches a
    COG cut short (rio-cogeo reads only headers). Raises `NotARasterError` if the file is missing or GDAL
    cannot read it.
    """
    path = Path(path)
    if not path.exists():
        raise NotARasterError(path, "no such file")
    try:
        ok, errors, warnings = cog_validate(path, strict=True, quiet=True)
        if ok:
            with rasterio.open(path) as dataset:
                _read_last_block(dataset)
    except (*_GDAL_ERRORS, OSError) as exc:
        raise NotARasterError(path, str(exc)) from exc
    return ok, errors, warnings


def is_cog(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a valid COG (strict); False for anything else, including non-rasters."""
    try:
        return validate_cog(path)[0]
    except NotARasterError:
        return False


def resampling_for(kind: RasterKind, dataset: DatasetReader) -> str:
    """The GDAL overview resampling for a raster of this kind: averaging only where values are continuous.

    ``auto`` guesses from the data: floating point and 3- or 4-band uint8 imagery are averaged, paletted
    (colormap) bands take the mode, and any other integer data (masks, flags, classes) the nearest value, so
    that overviews never hold values the data does not have.
    """
    if kind != "auto":
        try:
            return _RESAMPLING_BY_KIND[kind]
        except KeyError:
            raise ValueError(f"unknown raster kind {kind!r}") from None
    dtypes = [str(dtype) for dtype in dataset.dtypes]
    if all(dtype.startswith(("float", "complex")) for dtype in dtypes):
        return "AVERAGE"
    if ColorInterp.palette in dataset.colorinterp:
        return "MODE"
    if dataset.count in (3, 4) and all(dtype == "uint8" for dtype in dtypes):
        return "AVERAGE"
    return "NEAREST"


def overview_count(width: int, height: int, smallest: int = SMALLEST_OVERVIEW) -> int:
    """How many halvings bring the larger side down to ``smallest`` pixels or less (GDAL rounds sizes up)."""
    size, count = max(width, height), 0
    while size > smallest:
        size = (size + 1) // 2
        count += 1
    return count


def cog_creation_options(
    dataset: DatasetReader,
    kind: RasterKind = "auto",
    *,
    threads: int | str = "ALL_CPUS",
    blocksize: int = 512,
    compress: str = "DEFLATE",
) -> dict[str, str]:
    """The creation options of GDAL's COG driver that `ensure_cog` uses for ``dataset``."""
    resampling = resampling_for(kind, dataset)
    options = {
        "COMPRESS": compress.upper(),
        "NUM_THREADS": str(threads),
        "BLOCKSIZE": str(blocksize),
        "BIGTIFF": "IF_SAFER",
        "RESAMPLING": resampling,
        "OVERVIEW_RESAMPLING": resampling,
        # metadata domains other than the default one are dropped unless asked for
        "COPY_SRC_MDD": "YES",
    }
    if options["COMPRESS"] in _PREDICTOR_CODECS:
        options["PREDICTOR"] = "YES"  # the driver picks floating point (3) for floats, horizontal (2) else
    count = overview_count(dataset.width, dataset.height)
    if count:
        # existing overviews may have been made with the wrong resampling, or be external
        options.update(OVERVIEWS="IGNORE_EXISTING", OVERVIEW_COUNT=str(count))
    else:
        # GDAL 3.10 fails ("Unknown GDAL Error") on OVERVIEW_COUNT=0 with IGNORE_EXISTING if the source has
        # overviews
        options["OVERVIEWS"] = "NONE"
    return options


def ensure_cog(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    kind: RasterKind = "auto",
    *,
    threads: int | str = "ALL_CPUS",
    blocksize: int = 512,
    compress: str = "DEFLATE",
    link: bool = True,
) -> CogResult:
    """Make ``dst`` a valid COG holding the raster in ``src`` (which may be the same path).

    A ``src`` that is already a valid, self-contained COG is hard-linked to ``dst`` (or copied, if linking
    fails or ``link`` is False), byte for byte; otherwise it is converted with `convert_to_cog`. ``dst`` is
    written through a temporary file beside it, so it is never left half-written.

    Raises `NotARasterError` (``src`` missing or unreadable), `OutputNotWritableError` (``dst``'s folder
    missing or not writable) or `CogConversionError` (GDAL failed, or the result is not a valid COG).
    """
    src, dst = Path(src), Path(dst)
    valid, _, _ = validate_cog(src)
    if valid and _is_self_contained(src):
        if _same_file(src, dst):
            log.debug("%s is already a COG", src)
        else:
            _place_copy(src, dst, link=link)
        return CogResult(dst, converted=False)
    convert_to_cog(src, dst, kind, threads=threads, blocksize=blocksize, compress=compress)
    return CogResult(dst, converted=True)


def convert_to_cog(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    kind: RasterKind = "auto",
    *,
    threads: int | str = "ALL_CPUS",
    blocksize: int = 512,
    compress: str = "DEFLATE",
) -> Path:
    """Encode ``src`` as a COG at ``dst``, even if it already is one; `ensure_cog` is what you usually want.

    Nodata, masks, colormaps, scale/offset, units, band descriptions and metadata of every domain are kept;
    the options are those of `cog_creation_options`. Errors as for `ensure_cog`.
    """
    src, dst = Path(src), Path(dst)
    try:
        with rasterio.open(src) as dataset:
            options = cog_creation_options(
                dataset, kind, threads=threads, blocksize=blocksize, compress=compress
            )
    except (*_GDAL_ERRORS, OSError) as exc:
        raise NotARasterError(src, str(exc)) from exc
    tmp = _claim_temp(dst)
    try:
        try:
            with rasterio.Env(GDAL_NUM_THREADS=str(threads)):
                rasterio.shutil.copy(src, tmp, driver="COG", **options)
        except _GDAL_ERRORS as exc:
            # GDAL names the dataset it failed on: a block it could not read from the source means a corrupt
            # source, anything else a failure to write
            if re.match(re.escape(str(src)) + "[,:]", str(exc)):
                raise NotARasterError(src, str(exc)) from exc
            raise CogConversionError(src, f"writing {dst}: {exc}") from exc
        try:
            valid, errors, warnings = validate_cog(tmp)
        except NotARasterError as exc:
            raise CogConversionError(src, f"the result cannot be read back: {exc.reason}") from exc
        if not valid:
            raise CogConversionError(src, "the result is not a valid COG: " + "; ".join(errors + warnings))
        _replace(tmp, dst)
    except BaseException:
        _remove_temps(tmp)
        raise
    log.debug("%s -> %s: COG with %s", src, dst, ", ".join(f"{k}={v}" for k, v in options.items()))
    return dst


def _read_last_block(dataset: DatasetReader) -> None:
    """Read the last block of the last band and its mask, which GDAL writes at the end of a COG."""
    block_height, block_width = dataset.block_shapes[-1]
    col = (dataset.width - 1) // block_width * block_width
    row = (dataset.height - 1) // block_height * block_height
    window = Window(col, row, dataset.width - col, dataset.height - row)
    dataset.read(dataset.count, window=window)
    dataset.read_masks(dataset.count, window=window)


def _is_self_contained(path: Path) -> bool:
    """False if GDAL reads part of the raster from files beside it (.aux.xml, .msk, world files...)."""
    with rasterio.open(path) as dataset:
        return len(dataset.files) == 1


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _claim_temp(dst: Path) -> Path:
    """Create the temporary file beside ``dst``, which checks that its folder exists and is writable."""
    folder = dst.parent
    if not folder.is_dir():
        reason = "not a folder" if folder.exists() else "the folder does not exist"
        raise OutputNotWritableError(folder, reason)
    tmp = temp_name(dst)
    try:
        tmp.open("wb").close()
    except OSError as exc:
        raise OutputNotWritableError(folder, exc.strerror or str(exc)) from exc
    return tmp


def _replace(tmp: Path, dst: Path) -> None:
    try:
        os.replace(tmp, dst)
    except OSError as exc:
        raise OutputNotWritableError(dst, exc.strerror or str(exc)) from exc


def _remove_temps(tmp: Path) -> None:
    """Remove ``tmp`` and what GDAL may have left beside it (``.ovr.tmp``, ``.msk.ovr.tmp``, ``.aux.xml``)."""
    for path in (tmp, *tmp.parent.glob(glob.escape(tmp.name) + ".*")):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            log.debug("could not remove temporary file %s", path)


def _place_copy(src: Path, dst: Path, *, link: bool) -> None:
    """Put the bytes of ``src`` at ``dst``: a hard link if allowed and possible, else a copy."""
    tmp = _claim_temp(dst)
    try:
        how = "copy"
        if link:
            tmp.unlink()
            try:
                os.link(src, tmp)
                how = "hard link"
            except OSError:  # another file system, links not supported or not allowed
                pass
        if how == "copy":
            try:
                shutil.copyfile(src, tmp)
            except OSError as exc:
                raise OutputNotWritableError(dst, exc.strerror or str(exc)) from exc
        _replace(tmp, dst)
    except BaseException:
        _remove_temps(tmp)
        raise
    log.debug("%s -> %s: already a COG, %s", src, dst, how)
