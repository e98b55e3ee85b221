"""Cloud-Optimized GeoTIFFs: validate them, and turn any raster GDAL reads into one.

A file that already is a valid COG is never re-encoded: it is hard-linked (or copied) into place.
"""

from __future__ import annotations

import logging
import os
import warnings as _warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError  # GDAL errors raised by rasterio.shutil.copy; not re-exported
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from catalogs.drafts import RasterKind
from catalogs.errors import CogConversionError, NotARasterError
from catalogs.fsio import atomic_path, copy_file

log = logging.getLogger(__name__)

#: overviews are made until the larger side of the smallest one is at most this many pixels
SMALLEST_OVERVIEW = 256
#: rio-cogeo's strict validation wants tiles and overviews in any image larger than this on either side
STRICT_TILING_LIMIT = 512

_RESAMPLING_BY_KIND = {"continuous": "AVERAGE", "categorical": "MODE", "mask": "NEAREST"}
# metadata domains that GDAL copies anyway, or that describe the file rather than the data
_USUAL_DOMAINS = {"IMAGE_STRUCTURE", "DERIVED_SUBDATASETS", "RPC", "xml:XMP", "json:ISIS3", "json:VICAR"}
_PREDICTOR_CODECS = {"LZW", "DEFLATE", "ZSTD"}
# rasterio.shutil.copy raises SystemError ("Unknown GDAL Error") when GDAL fails without a message
_GDAL_ERRORS = (RasterioError, CPLE_BaseError, SystemError)
# GDAL puts what a GeoTIFF cannot hold (such as a different nodata value per band) in this sidecar
_SIDECARS = (".aux.xml",)


@dataclass(frozen=True)
class CogResult:
    """Where the COG is, and whether it was encoded (``False``: the input already was a COG)."""

    path: Path
    converted: bool


def validate_cog(path: str | os.PathLike[str]) -> tuple[bool, list[str], list[str]]:
    """Validate ``path`` as a COG in strict mode (warnings count as errors): ``(is_valid, errors, warnings)``.

    rio-cogeo reads only headers; a file that passes its checks is also checked to hold all of its last
    blocks, which catches a COG cut short. Raises `NotARasterError` if the file is missing, cut short or
    GDAL cannot read it.
    """
    ok, errors, warnings, _ = _validate(Path(path))
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
    """How many halvings bring the larger side down to ``smallest`` pixels or less.

    Sizes are halved as GDAL's COG driver does: rounded down (1025 px gives overviews of 512, 256...).
    """
    size, count = max(width, height), 0
    while size > smallest:
        size //= 2
        count += 1
    return count


def block_size_for(width: int, height: int, overviews: int, preferred: int = 512) -> int:
    """The COG tile size for an image of ``width`` x ``height`` px with ``overviews`` overviews.

    ``preferred``, unless the image or one of its overviews is larger than 512 px on either side and exactly
    as wide as a tile: rio-cogeo takes a level whose tiles are as wide as itself for a striped one and refuses
    it ("not tiled"), which a 512 px wide image taller than 512 px is with 512 px tiles. Then the nearest
    power-of-two multiple or fraction of ``preferred`` (halving first) that is as wide as none of them.
    """
    widths = set()
    for _ in range(overviews + 1):
        if width > STRICT_TILING_LIMIT or height > STRICT_TILING_LIMIT:
            widths.add(width)
        width, height = max(1, width // 2), max(1, height // 2)  # the COG driver's overview sizes
    if preferred not in widths:
        return preferred
    for step in range(1, 6):
        for size in (preferred >> step, preferred << step):
            if size not in widths and size >= 16 and size % 16 == 0:  # TIFF tiles: multiples of 16 px
                return size
    return preferred


def cog_creation_options(
    dataset: DatasetReader,
    kind: RasterKind = "auto",
    *,
    threads: int | str = "ALL_CPUS",
    blocksize: int = 512,
    compress: str = "DEFLATE",
) -> dict[str, str]:
    """The creation options of GDAL's COG driver that `ensure_cog` uses for ``dataset``.

    ``blocksize`` is the tile size wanted; see `block_size_for` for when another one is taken.
    """
    resampling = resampling_for(kind, dataset)
    # an overview of a 1 px wide image is 1 px wide too, and rasterio (so rio-cogeo) measures the decimation
    # of overviews by width alone: it would count as decimation 1, which strict validation refuses
    count = overview_count(dataset.width, dataset.height) if dataset.width > 1 else 0
    options = {
        "COMPRESS": compress.upper(),
        "NUM_THREADS": str(threads),
        "BLOCKSIZE": str(block_size_for(dataset.width, dataset.height, count, blocksize)),
        "BIGTIFF": "IF_SAFER",
        "RESAMPLING": resampling,
        "OVERVIEW_RESAMPLING": resampling,
        **_metadata_domain_options(dataset),
    }
    if options["COMPRESS"] in _PREDICTOR_CODECS:
        options["PREDICTOR"] = "YES"  # the driver picks floating point (3) for floats, horizontal (2) else
    if count:
        # existing overviews may have been made with the wrong resampling, or be external
        options.update(OVERVIEWS="IGNORE_EXISTING", OVERVIEW_COUNT=str(count))
    else:
        # rather than OVERVIEW_COUNT=0, on which GDAL 3.10 fails ("Unknown GDAL Error") for some sources
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
    valid, _, _, files = _validate(src)
    if valid and len(files) == 1:  # a sidecar (.aux.xml, .msk...) would be left behind
        if _same_file(src, dst):
            log.debug("%s is already a COG", src)
        else:
            place_copy(src, dst, link=link)
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

    Nodata, masks, colormaps, scale/offset, units, band descriptions and metadata are kept (for metadata
    domains other than the default one, see `_metadata_domain_options`); the options are those of
    `cog_creation_options`. Errors as for `ensure_cog`.
    """
    src, dst = Path(src), Path(dst)
    try:
        with rasterio.open(src) as dataset:
            options = cog_creation_options(
                dataset, kind, threads=threads, blocksize=blocksize, compress=compress
            )
            width, height = dataset.width, dataset.height
    except (*_GDAL_ERRORS, OSError) as exc:
        raise NotARasterError(src, str(exc)) from exc
    if width == 1 and height > STRICT_TILING_LIMIT:
        raise CogConversionError(
            src,
            f"a raster 1 pixel wide and {height} tall cannot be a strict COG: it needs overviews, "
            "which cannot be narrower than 1 pixel",
        )
    with atomic_path(dst, sidecars=_SIDECARS) as tmp:
        try:
            # NUM_THREADS alone: GDAL_NUM_THREADS on top made it no faster (2 cores), if anything slower
            rasterio.shutil.copy(src, tmp, driver="COG", **options)
        except _GDAL_ERRORS as exc:
            # GDAL's message does not always say which side failed: a source that cannot be read through
            # (say, a download cut short) is not a raster, anything else a failure to write
            if (read_error := _read_error(src)) is not None:
                raise NotARasterError(src, read_error) from exc
            raise CogConversionError(src, f"writing {dst}: {exc}") from exc
        try:
            valid, errors, warnings = validate_cog(tmp)
        except NotARasterError as exc:
            raise CogConversionError(src, f"the result cannot be read back: {exc.reason}") from exc
        if not valid:
            raise CogConversionError(src, "the result is not a valid COG: " + "; ".join(errors + warnings))
    if _aux_xml(dst).exists():  # renamed along with the COG (a stale one was removed)
        log.warning("%s: GDAL keeps part of its metadata in %s", dst, _aux_xml(dst).name)
    log.debug("%s -> %s: COG with %s", src, dst, ", ".join(f"{k}={v}" for k, v in options.items()))
    return dst


def _metadata_domain_options(dataset: DatasetReader) -> dict[str, str]:
    """``COPY_SRC_MDD=YES`` if the GeoTIFF has metadata in domains of its own, which GDAL drops by default.

    GDAL 3.10 loses the default-domain metadata of the bands when copying all domains, so a file that has
    both keeps its band metadata and loses the other domains (with a warning). Other formats' own domains
    (netCDF, HDF...) describe their containers and are not copied.
    """
    if dataset.driver != "GTiff":
        return {}
    bands = range(1, dataset.count + 1)
    extra = set(dataset.tag_namespaces()).union(*(dataset.tag_namespaces(b) for b in bands)) - _USUAL_DOMAINS
    if not extra:
        return {}
    if any(dataset.tags(b) for b in bands):
        log.warning(
            "%s: metadata domains %s are not kept in the COG (GDAL would lose the band metadata)",
            dataset.name,
            ", ".join(sorted(extra)),
        )
        return {}
    return {"COPY_SRC_MDD": "YES"}


def _read_error(path: Path) -> str | None:
    """What GDAL says when reading every pixel of ``path``, or None if all of it reads."""
    try:
        with rasterio.open(path) as dataset:
            row_bytes = dataset.width * sum(np.dtype(dtype).itemsize for dtype in dataset.dtypes)
            step = max(1, (64 << 20) // max(1, row_bytes))
            for row in range(0, dataset.height, step):
                dataset.read(window=Window(0, row, dataset.width, min(step, dataset.height - row)))
    except (*_GDAL_ERRORS, OSError) as exc:
        return str(exc)
    return None


def _validate(path: Path) -> tuple[bool, list[str], list[str], list[str]]:
    """`validate_cog`, plus the files GDAL reads for the raster (more than one: sidecars beside it)."""
    if not path.exists():
        raise NotARasterError(path, "no such file")
    try:
        # whether a raster without georeferencing is a COG is a fair question; GDAL's warning is noise
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ok, errors, warnings = cog_validate(path, strict=True, quiet=True)
            dataset = rasterio.open(path)
        with dataset:
            files = dataset.files
            if ok and (end := _end_of_data(dataset)) > (size := path.stat().st_size):
                raise NotARasterError(path, f"cut short: {size} bytes, its last block ends at byte {end}")
    except (*_GDAL_ERRORS, OSError) as exc:
        raise NotARasterError(path, str(exc)) from exc
    return ok, errors, warnings, files


def _end_of_data(dataset: DatasetReader) -> int:
    """Where the last block of the full-resolution image ends (GDAL writes these last in a COG)."""
    block_height, block_width = dataset.block_shapes[0]
    last = f"{(dataset.width - 1) // block_width}_{(dataset.height - 1) // block_height}"
    end = 0
    for band in range(1, dataset.count + 1):
        offset = dataset.get_tag_item(f"BLOCK_OFFSET_{last}", "TIFF", bidx=band)
        size = dataset.get_tag_item(f"BLOCK_SIZE_{last}", "TIFF", bidx=band)
        end = max(end, int(offset or 0) + int(size or 0))  # a sparse file may have no last block
    return end


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _aux_xml(path: Path) -> Path:
    return path.with_name(path.name + ".aux.xml")


def place_copy(src: Path, dst: Path, *, link: bool) -> None:
    """Put the bytes of ``src`` at ``dst``: a hard link if allowed and possible, else a copy.

    A stale ``.aux.xml`` beside ``dst`` is removed: it would lay outdated metadata over the file.
    """
    how = copy_file(src, dst, link=link, sidecars=_SIDECARS)
    log.debug("%s -> %s: already a COG, %s", src, dst, how)
