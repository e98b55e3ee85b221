"""PNG thumbnails: size and aspect, stretches, colormaps, RGB, transparency, errors, no side files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp

from catalogs.errors import NotARasterError, OutputNotWritableError
from catalogs.thumbnails import thumbnail_shape, write_thumbnail

TRANSFORM = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 6_000_000.0)


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    nodata: float | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
) -> Path:
    data = data if data.ndim == 3 else data[np.newaxis]
    count, height, width = data.shape
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=count, dtype=data.dtype.name,
        crs="EPSG:32633", transform=TRANSFORM, nodata=nodata,
    ) as dst:
        dst.write(data)
        if colormap is not None:
            dst.write_colormap(1, colormap)
    return path


def read_png(path: Path) -> tuple[np.ndarray, tuple[ColorInterp, ...]]:
    with rasterio.open(path) as png:
        assert png.driver == "PNG"
        assert png.crs is None and png.transform.is_identity  # no georeferencing
        return png.read(), png.colorinterp


def test_float_raster_gray_alpha(tmp_path: Path) -> None:
    # 1000 rows x 800 columns: a west-east gradient with a nodata block in the upper-left quarter
    data = np.tile(np.linspace(0.0, 100.0, 800, dtype="float32"), (1000, 1))
    data[:500, :400] = -9999
    src = write_raster(tmp_path / "float.tif", data, nodata=-9999)

    dst = write_thumbnail(src, tmp_path / "float.png")

    assert dst == tmp_path / "float.png"
    bands, colorinterp = read_png(dst)
    assert bands.shape == (2, 600, 480)  # longer side 600, aspect 1000:800 kept
    assert colorinterp == (ColorInterp.gray, ColorInterp.alpha)
    gray, alpha = bands
    assert np.all(alpha[:290, :230] == 0)  # inside the nodata block
    assert np.all(alpha[310:, :] == 255) and np.all(alpha[:, 250:] == 255)
    valid = gray[alpha == 255]
    assert valid.min() >= 1 and valid.max() == 255
    # linear 2-98 % stretch: the lowest 2 % are clipped to 1, the middle maps linearly
    assert np.all(gray[400:, :5] == 1) and np.all(gray[:, -5:] == 255)
    middle = gray[550, 240]
    assert 110 < middle < 145


def test_thumbnail_sizes(tmp_path: Path) -> None:
    wide = write_raster(tmp_path / "wide.tif", np.ones((300, 1500), dtype="float32"))
    assert read_png(write_thumbnail(wide, tmp_path / "wide.png"))[0].shape == (2, 120, 600)
    assert read_png(write_thumbnail(wide, tmp_path / "small.png", max_size=100))[0].shape == (2, 20, 100)
    assert thumbnail_shape(1000, 800) == (600, 480)
    assert thumbnail_shape(10, 10) == (10, 10)  # never upscaled


def test_constant_raster_is_mid_gray(tmp_path: Path) -> None:
    src = write_raster(tmp_path / "flat.tif", np.full((50, 50), 7.5, dtype="float32"))
    gray, alpha = read_png(write_thumbnail(src, tmp_path / "flat.png"))[0]
    assert np.all(gray == 128) and np.all(alpha == 255)


def test_categorical_with_colormap_gives_rgba(tmp_path: Path) -> None:
    data = np.zeros((100, 300), dtype="uint8")  # 0 is nodata
    data[:, 100:200] = 1
    data[:, 200:] = 2
    data[:50, :100] = 3
    colormap = {0: (0, 0, 0, 0), 1: (255, 0, 0, 255), 2: (0, 128, 255, 255), 3: (10, 200, 30, 255)}
    src = write_raster(tmp_path / "classes.tif", data, nodata=0, colormap=colormap)

    bands, colorinterp = read_png(write_thumbnail(src, tmp_path / "classes.png"))

    assert bands.shape == (4, 100, 300)
    assert colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha)
    assert tuple(bands[:, 50, 150]) == (255, 0, 0, 255)
    assert tuple(bands[:, 50, 250]) == (0, 128, 255, 255)
    assert tuple(bands[:, 10, 10]) == (10, 200, 30, 255)
    assert bands[3, 80, 50] == 0  # nodata is transparent


def test_three_band_uint8_is_kept_as_rgb(tmp_path: Path) -> None:
    rgb = np.empty((3, 40, 60), dtype="uint8")
    rgb[0], rgb[1], rgb[2] = 10, 200, 30
    rgb[:, :, 30:] = (np.array([250, 5, 99], dtype="uint8"))[:, None, None]
    src = write_raster(tmp_path / "rgb.tif", rgb)

    bands, colorinterp = read_png(write_thumbnail(src, tmp_path / "rgb.png"))

    assert bands.shape == (4, 40, 60)
    assert colorinterp[3] == ColorInterp.alpha
    assert tuple(bands[:, 20, 10]) == (10, 200, 30, 255)
    assert tuple(bands[:, 20, 50]) == (250, 5, 99, 255)


def test_three_band_uint16_is_stretched_per_band(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(100, dtype="uint16"), (50, 1))
    data = np.stack([ramp * 10, ramp * 100 + 1000, 5000 - ramp]).astype("uint16")
    src = write_raster(tmp_path / "uint16.tif", data)

    bands = read_png(write_thumbnail(src, tmp_path / "uint16.png"))[0]

    assert bands.shape == (4, 50, 100)
    for band in (0, 1):
        assert bands[band, :, 0].max() == 1 and bands[band, :, -1].min() == 255
    assert bands[2, :, 0].min() == 255 and bands[2, :, -1].max() == 1  # decreasing band
    assert np.all(bands[3] == 255)


def test_integer_auto_kind(tmp_path: Path) -> None:
    # few distinct values: categorical, min..max
    few = np.ones((20, 20), dtype="int16")
    few[:, 10:] = 5
    gray = read_png(write_thumbnail(write_raster(tmp_path / "few.tif", few), tmp_path / "few.png"))[0][0]
    assert gray[0, 0] == 1 and gray[0, 19] == 255
    # many distinct values (a DEM): continuous, 2-98 % stretch clips the extremes
    dem = np.arange(400, dtype="int16").reshape(20, 20)
    dem[0, 0] = -5000  # an outlier that a min..max stretch would let dominate
    gray = read_png(write_thumbnail(write_raster(tmp_path / "dem.tif", dem), tmp_path / "dem.png"))[0][0]
    assert gray[0, 0] == 1 and gray[-1, -1] == 255
    assert 100 < gray[10, 0] < 150  # the outlier did not squeeze everything to the top
    # the same values drawn as classes when asked
    gray = read_png(
        write_thumbnail(tmp_path / "dem.tif", tmp_path / "dem_classes.png", kind="categorical")
    )[0][0]
    assert gray[10, 0] > 200


def test_small_sample_is_not_upscaled(samples: Path, tmp_path: Path) -> None:
    src = samples / "hyp3" / "rtc" / "rtc_VV.tif"
    bands = read_png(write_thumbnail(src, tmp_path / "rtc.png"))[0]
    assert bands.shape[1:] == (10, 10)
    assert bands.shape[0] == 2


def test_all_nodata_is_fully_transparent_without_warnings(tmp_path: Path) -> None:
    nan = write_raster(tmp_path / "nan.tif", np.full((30, 40), np.nan, dtype="float32"), nodata=np.nan)
    zeros = write_raster(tmp_path / "zeros.tif", np.zeros((30, 40), dtype="int16"), nodata=0)
    rgb = write_raster(tmp_path / "rgb0.tif", np.zeros((3, 30, 40), dtype="uint8"), nodata=0)
    cmap = write_raster(tmp_path / "cmap.tif", np.zeros((30, 40), dtype="uint8"), nodata=0,
                        colormap={0: (0, 0, 0, 255), 1: (255, 0, 0, 255)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
        for src in (nan, zeros, rgb, cmap):
            for kind in ("auto", "continuous", "categorical", "mask"):
                bands = read_png(write_thumbnail(src, tmp_path / f"{src.stem}-{kind}.png", kind=kind))[0]
                assert bands.shape[1:] == (30, 40)
                assert np.all(bands[-1] == 0), (src.name, kind)


def test_unreadable_source_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 100)
    with pytest.raises(NotARasterError) as info:
        write_thumbnail(bad, tmp_path / "corrupt.png")
    assert info.value.path == str(bad)
    # ours exactly; the reason is GDAL's own wording (which GDAL versions change), but it must name the file
    assert str(info.value) == f"{bad}: not a readable raster ({info.value.reason})"
    assert str(bad) in info.value.reason
    missing = tmp_path / "missing.tif"
    with pytest.raises(NotARasterError) as info:
        write_thumbnail(missing, tmp_path / "missing.png")
    assert str(info.value) == f"{missing}: not a readable raster ({missing}: No such file or directory)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.tif"]


def test_unwritable_destination(tmp_path: Path) -> None:
    src = write_raster(tmp_path / "ok.tif", np.ones((10, 10), dtype="float32"))
    dst = tmp_path / "no-such-folder" / "thumb.png"
    with pytest.raises(OutputNotWritableError) as info:
        write_thumbnail(src, dst)
    assert str(info.value) == f"{dst}: cannot write (No such file or directory)"


def test_no_side_files_and_replaces_old_thumbnail(tmp_path: Path) -> None:
    src = write_raster(tmp_path / "data.tif", np.arange(100, dtype="float32").reshape(10, 10), nodata=0)
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "thumb.png"
    dst.write_bytes(b"old")
    with rasterio.Env(GDAL_PAM_ENABLED="YES"):  # even where PAM is on for everything else
        write_thumbnail(src, dst)
    assert [p.name for p in out.iterdir()] == ["thumb.png"]  # no .aux.xml, no temp file
    assert dst.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    read_png(dst)
    assert [p.name for p in out.iterdir()] == ["thumb.png"]
