"""`ensure_cog` over a matrix of GeoTIFFs shaped like those processing services hand back.

Every case must come out as a COG that passes ``rio_cogeo.cog_validate(strict=True)`` with the same pixels,
data types, nodata, CRS, transform, band count and ``AREA_OR_POINT`` as its source, both through
`ensure_cog` (which keeps a source that already is a COG) and through `convert_to_cog` (which always
encodes, so the encoder meets small inputs too).

The matrix has two parts, so that it stays small:

- the size grid: every width by every height of `SIZES` (1-band uint8, cheap even at 3000 px), striped
  and tiled sources alternating like a checkerboard so that each size meets both layouts as width and
  as height;
- the attribute table: data type, band count, nodata, layout, byte order, raster type (PixelIsArea or
  PixelIsPoint) and kind of CRS, combined pairwise (every two values of any two of these meet in some
  case, `test_the_attribute_table_covers_every_pair` checks it), on a few small odd sizes.

NaN nodata is only a case for floating-point types: an integer band cannot hold NaN, so NaN as its nodata
would mark no pixel (rasterio refuses to write it). A raster 1 pixel wide and more than 512 tall cannot be a
strict COG at all (see `test_a_raster_one_pixel_wide_and_taller_than_512_px_is_refused`).
"""

from __future__ import annotations

import itertools
import warnings
import zlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.errors import NodataShadowWarning

from catalogs.cog import convert_to_cog, ensure_cog, validate_cog
from catalogs.errors import CogConversionError

SIZES = (1, 7, 255, 256, 257, 511, 512, 513, 856, 1024, 1025, 3000)
SOURCE_TILE = 256  # the GTiff driver's default tile size, the one processors that tile usually keep

# Affine(...) rather than rasterio.transform.from_origin, which warns with the installed affine
TRANSFORMS = {
    "projected": ("EPSG:32633", Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 7_600_000.0)),
    "geographic": ("EPSG:4326", Affine(0.0001, 0.0, 20.14, 0.0, -0.0001, 69.34)),
}
# a value nodata per type, at the edge of its range where providers usually put it
NODATA_VALUES = {
    "uint8": 255,
    "int16": -32768,
    "uint16": 65535,
    "int32": -2147483648,
    "float32": float(np.finfo("float32").min),
    "float64": -9999.0,
}


@dataclass(frozen=True)
class Case:
    width: int
    height: int
    dtype: str = "uint8"
    bands: int = 1
    nodata: Literal["none", "value", "nan"] = "none"
    layout: Literal["striped", "tiled"] = "striped"
    endian: Literal["little", "big"] = "little"
    pixel: Literal["area", "point"] = "area"
    crs: Literal["projected", "geographic"] = "projected"

    @property
    def id(self) -> str:
        nodata = {"none": "no-nodata", "value": "nodata", "nan": "nan-nodata"}[self.nodata]
        return (
            f"{self.width}x{self.height}-{self.dtype}-{self.bands}b-{nodata}-{self.layout}-{self.endian}"
            f"-pixelis{self.pixel}-{self.crs}"
        )


def _checkerboard_layout(column: int, row: int) -> Literal["striped", "tiled"]:
    return "striped" if (column + row) % 2 == 0 else "tiled"


SIZE_GRID = [
    Case(width, height, layout=_checkerboard_layout(column, row))
    for column, width in enumerate(SIZES)
    for row, height in enumerate(SIZES)
    if not (width == 1 and height > 512)
]

ATTRIBUTES = ("dtype", "bands", "nodata", "layout", "endian", "pixel", "crs")
# pairwise over ATTRIBUTES: 6 types x 3 band counts take 18 rows, NaN nodata (floats only) one more to meet
# every band count and CRS; sizes go round in turn
ATTRIBUTE_ROWS = [
    ("uint8", 1, "none", "striped", "little", "area", "projected"),
    ("int16", 3, "value", "tiled", "big", "point", "projected"),
    ("uint16", 4, "value", "striped", "big", "area", "geographic"),
    ("int32", 4, "none", "tiled", "little", "point", "geographic"),
    ("float32", 3, "nan", "striped", "little", "point", "geographic"),
    ("float64", 1, "nan", "tiled", "big", "area", "geographic"),
    ("float64", 3, "none", "striped", "big", "area", "projected"),
    ("float32", 4, "value", "tiled", "big", "area", "projected"),
    ("int32", 1, "value", "striped", "big", "area", "projected"),
    ("uint16", 1, "none", "tiled", "little", "point", "projected"),
    ("int16", 4, "none", "striped", "little", "area", "geographic"),
    ("uint8", 4, "value", "tiled", "big", "point", "geographic"),
    ("float64", 4, "value", "tiled", "little", "point", "geographic"),
    ("uint8", 3, "value", "tiled", "big", "area", "geographic"),
    ("int16", 1, "value", "tiled", "big", "area", "geographic"),
    ("uint16", 3, "value", "tiled", "big", "area", "geographic"),
    ("int32", 3, "value", "tiled", "big", "area", "geographic"),
    ("float32", 1, "none", "tiled", "big", "area", "geographic"),
    ("float64", 4, "nan", "tiled", "little", "point", "projected"),
]
# odd sizes, sizes below and above a tile, one that takes overviews, a tile-wide one taller than 512
ATTRIBUTE_SIZES = [(257, 513), (7, 255), (512, 856), (1, 7), (856, 511), (255, 1025)]
ATTRIBUTE_TABLE = [
    Case(*ATTRIBUTE_SIZES[index % len(ATTRIBUTE_SIZES)], **dict(zip(ATTRIBUTES, row)))
    for index, row in enumerate(ATTRIBUTE_ROWS)
]
VALUES = {field.name: {getattr(case, field.name) for case in ATTRIBUTE_TABLE} for field in fields(Case)}


def write_source(path: Path, case: Case) -> Path:
    """The GeoTIFF of ``case``: random values over the type's range, with nodata pixels where it has one."""
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    shape = (case.bands, case.height, case.width)
    if case.dtype.startswith("float"):
        data = rng.normal(0.0, 1000.0, size=shape).astype(case.dtype)
    else:
        info = np.iinfo(case.dtype)
        data = rng.integers(info.min, info.max, size=shape, dtype=case.dtype, endpoint=True)
    crs, transform = TRANSFORMS[case.crs]
    profile: dict[str, object] = dict(
        driver="GTiff",
        width=case.width,
        height=case.height,
        count=case.bands,
        dtype=case.dtype,
        crs=crs,
        transform=transform,
        ENDIANNESS=case.endian.upper(),
    )
    if case.nodata != "none":
        nodata = NODATA_VALUES[case.dtype] if case.nodata == "value" else float("nan")
        profile["nodata"] = nodata
        data[:, : max(1, case.height // 3), : max(1, case.width // 2)] = nodata
    if case.layout == "tiled":
        profile.update(tiled=True, blockxsize=SOURCE_TILE, blockysize=SOURCE_TILE)
    with rasterio.open(path, "w", **profile) as dataset:
        if case.pixel == "point":
            dataset.update_tags(AREA_OR_POINT="Point")
        dataset.write(data)
    _check_source(path, case)
    return path


def _check_source(path: Path, case: Case) -> None:
    """The source really is what its case says: otherwise the case would test something else."""
    assert path.read_bytes()[:2] == {"little": b"II", "big": b"MM"}[case.endian]
    with rasterio.open(path) as dataset:
        block_height, block_width = dataset.block_shapes[0]
        if case.layout == "tiled":
            assert (block_height, block_width) == (SOURCE_TILE, SOURCE_TILE)
        else:
            assert block_width == case.width and dataset.profile.get("tiled") is not True
        assert dataset.tags()["AREA_OR_POINT"] == {"area": "Area", "point": "Point"}[case.pixel]
        assert dataset.transform == TRANSFORMS[case.crs][1]
        assert dataset.overviews(1) == []


def assert_same_raster(src: Path, dst: Path) -> None:
    with rasterio.open(src) as before, rasterio.open(dst) as after:
        assert after.count == before.count
        assert after.dtypes == before.dtypes
        np.testing.assert_equal(after.nodatavals, before.nodatavals)  # NaN equals NaN here
        assert after.crs == before.crs
        assert after.transform == before.transform
        assert after.tags()["AREA_OR_POINT"] == before.tags()["AREA_OR_POINT"]
        assert after.colorinterp == before.colorinterp
        np.testing.assert_array_equal(after.read(), before.read())  # NaNs in the same places are equal
        with warnings.catch_warnings():
            # 4-band uint8 is RGBA to GDAL: rasterio says the nodata value, not the alpha band, makes the mask
            warnings.simplefilter("ignore", NodataShadowWarning)
            np.testing.assert_array_equal(after.read_masks(), before.read_masks())


def check_case(case: Case, folder: Path) -> None:
    src = write_source(folder / "source.tif", case)

    kept_or_converted = ensure_cog(src, folder / "ensured.tif")
    converted = convert_to_cog(src, folder / "converted.tif")

    for dst in (kept_or_converted.path, converted):
        assert validate_cog(dst) == (True, [], []), dst.name
        assert_same_raster(src, dst)
    if not kept_or_converted.converted:
        assert kept_or_converted.path.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("case", SIZE_GRID, ids=lambda case: case.id)
def test_every_size_gives_a_strict_cog_with_the_same_raster(case: Case, tmp_path: Path) -> None:
    check_case(case, tmp_path)


@pytest.mark.parametrize("case", ATTRIBUTE_TABLE, ids=lambda case: case.id)
def test_every_attribute_gives_a_strict_cog_with_the_same_raster(case: Case, tmp_path: Path) -> None:
    check_case(case, tmp_path)


@pytest.mark.parametrize("height", [size for size in SIZES if size > 512])
def test_a_raster_one_pixel_wide_and_taller_than_512_px_is_refused(height: int, tmp_path: Path) -> None:
    """Strict validation wants overviews above 512 px, and rasterio measures their decimation by width alone:
    an overview of a 1 px wide raster is 1 px wide too, so it counts as decimation 1, which is invalid."""
    src = write_source(tmp_path / "source.tif", Case(1, height))
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(CogConversionError) as raised:
        ensure_cog(src, out / "x.tif")

    assert str(raised.value) == (
        f"{src}: COG conversion failed (a raster 1 pixel wide and {height} tall cannot be a strict COG: "
        "it needs overviews, which cannot be narrower than 1 pixel)"
    )
    assert list(out.iterdir()) == []


def test_the_attribute_table_covers_every_pair() -> None:
    """Each value of each attribute meets each value of every other attribute (NaN nodata: floats only)."""
    present = {
        ((a, row[a]), (b, row[b]))
        for row in map(asdict, ATTRIBUTE_TABLE)
        for a, b in itertools.combinations(ATTRIBUTES, 2)
    }
    wanted = {
        ((a, x), (b, y))
        for a, b in itertools.combinations(ATTRIBUTES, 2)
        for x, y in itertools.product(sorted(VALUES[a], key=str), sorted(VALUES[b], key=str))
        if not ((a, b) == ("dtype", "nodata") and y == "nan" and not str(x).startswith("float"))
    }
    assert VALUES["dtype"] == {"uint8", "int16", "uint16", "int32", "float32", "float64"}
    assert (VALUES["bands"], VALUES["nodata"]) == ({1, 3, 4}, {"none", "value", "nan"})
    assert (VALUES["layout"], VALUES["endian"]) == ({"striped", "tiled"}, {"little", "big"})
    assert (VALUES["pixel"], VALUES["crs"]) == ({"area", "point"}, {"projected", "geographic"})
    assert wanted - present == set()
