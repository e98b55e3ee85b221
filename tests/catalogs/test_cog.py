"""COG conversion on rasters made here and on real provider samples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import MaskFlags

from catalogs.cog import (
    CogResult,
    block_size_for,
    cog_creation_options,
    convert_to_cog,
    ensure_cog,
    is_cog,
    overview_count,
    resampling_for,
    validate_cog,
)
from catalogs.errors import CogConversionError, NotARasterError, OutputNotWritableError

# Affine(...) rather than rasterio.transform.from_origin, which warns (PendingDeprecationWarning)
# with the installed affine
UTM_33N = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
CLASS_COLORS = {10: (255, 0, 0, 255), 20: (0, 255, 0, 255), 30: (0, 0, 255, 255), 200: (9, 9, 9, 255)}


def write_tif(path: Path, data: np.ndarray, *, internal_mask: np.ndarray | None = None, **profile) -> Path:
    """A plain striped GeoTIFF (no tiles, no overviews), as processors write them."""
    if data.ndim == 2:
        data = data[np.newaxis]
    options = dict(
        driver="GTiff",
        count=data.shape[0],
        height=data.shape[1],
        width=data.shape[2],
        dtype=data.dtype,
        crs="EPSG:32633",
        transform=UTM_33N,
    )
    options.update(profile)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", **options) as dataset:
            dataset.write(data)
            if internal_mask is not None:
                dataset.write_mask(internal_mask)
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_strict_cog(path: Path) -> None:
    assert validate_cog(path) == (True, [], [])


def same_raster(a: Path, b: Path) -> None:
    with rasterio.open(a) as one, rasterio.open(b) as two:
        assert one.dtypes == two.dtypes
        assert one.nodatavals == two.nodatavals
        assert one.crs == two.crs
        assert one.transform == two.transform
        np.testing.assert_array_equal(one.read(), two.read())
        np.testing.assert_array_equal(one.read_masks(), two.read_masks())


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def striped_float(tmp_path: Path) -> Path:
    """A 600x600 float32 GeoTIFF that is not a COG (striped, larger than 512 px, no overviews)."""
    y, x = np.indices((600, 600), dtype="float32")
    return write_tif(tmp_path / "striped.tif", x + y + 1, nodata=0)


@pytest.fixture
def valid_cog(tmp_path: Path, striped_float: Path) -> Path:
    return convert_to_cog(striped_float, tmp_path / "valid_cog.tif")


# --- conversion -----------------------------------------------------------------------------------------


def test_float32_becomes_a_cog_with_averaged_overviews_and_all_its_metadata(
    tmp_path: Path, out: Path
) -> None:
    height, width = 1300, 1500
    y, x = np.indices((height, width))
    # a smooth ramp, plus a bump on the top-left pixel of every 2x2 block that only averaging spreads evenly
    data = (100 + 0.5 * x + 0.25 * y + 4 * ((x % 2 == 0) & (y % 2 == 0))).astype("float32")
    data[:64, :64] = 0  # nodata
    src = write_tif(tmp_path / "rtc_VV.tif", data, nodata=0)
    with rasterio.open(src, "r+") as dataset:
        dataset.scales, dataset.offsets, dataset.units = (0.5,), (-10.0,), ("dB",)
        dataset.descriptions = ("VV backscatter",)
        dataset.update_tags(PROCESSOR="GAMMA", scale_factor="0.5")
        dataset.update_tags(1, POLARIZATION="VV")

    result = ensure_cog(src, out / "rtc_VV.tif")

    assert result == CogResult(out / "rtc_VV.tif", converted=True)
    assert_strict_cog(result.path)
    assert files_in(out) == ["rtc_VV.tif"]
    with rasterio.open(result.path) as cog:
        assert cog.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        assert cog.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
        assert cog.profile["tiled"] and cog.block_shapes == [(512, 512)]
        assert cog.overviews(1) == [2, 4, 8]  # 750, 375 and 188 px wide: down to about 256 px
        assert cog.nodata == 0
        assert (cog.scales, cog.offsets, cog.units) == ((0.5,), (-10.0,), ("dB",))
        assert cog.descriptions == ("VV backscatter",)
        assert cog.tags()["PROCESSOR"] == "GAMMA" and cog.tags()["scale_factor"] == "0.5"
        assert cog.tags(1)["POLARIZATION"] == "VV"
        np.testing.assert_array_equal(cog.read(1), data)
    with rasterio.open(result.path, overview_level=2) as smallest:
        assert max(smallest.shape) <= 256
    with rasterio.open(result.path, overview_level=0) as level0:
        overview = level0.read(1)
    block_means = data.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(overview[32:, 32:], block_means[32:, 32:], rtol=0, atol=1e-3)
    assert (overview[:32, :32] == 0).all()  # all-nodata blocks stay nodata


def test_int16_keeps_scale_factor_metadata_and_nodata(tmp_path: Path, out: Path) -> None:
    data = np.arange(600 * 600, dtype="int32").reshape(600, 600).astype("int16")
    data[:10] = 32767
    src = write_tif(tmp_path / "greenup.tif", data, nodata=32767, crs="EPSG:4326")
    with rasterio.open(src, "r+") as dataset:
        dataset.update_tags(scale_factor="0.01", add_offset="0", units="Day")
        dataset.scales = (0.01,)

    result = ensure_cog(src, out / "greenup.tif")

    assert result.converted
    assert_strict_cog(result.path)
    same_raster(src, result.path)
    with rasterio.open(result.path) as cog:
        assert cog.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
        assert {k: cog.tags()[k] for k in ("scale_factor", "add_offset", "units")} == {
            "scale_factor": "0.01",
            "add_offset": "0",
            "units": "Day",
        }
        assert cog.scales == (0.01,)
        assert cog.nodata == 32767


def test_metadata_in_other_domains_is_kept(striped_float: Path, out: Path) -> None:
    """GDAL's COG driver drops metadata domains other than the default one unless told to copy them."""
    with rasterio.open(striped_float, "r+") as dataset:
        dataset.update_tags(PROCESSOR="GAMMA")
        dataset.update_tags(ns="PROVENANCE", job="1234")
        dataset.update_tags(1, ns="PROVENANCE", band_job="5678")

    result = ensure_cog(striped_float, out / "x.tif")

    with rasterio.open(result.path) as cog:
        assert cog.tags()["PROCESSOR"] == "GAMMA"
        assert cog.tags(ns="PROVENANCE") == {"job": "1234"}
        assert cog.tags(1, ns="PROVENANCE") == {"band_job": "5678"}


def test_band_metadata_wins_over_other_domains(
    striped_float: Path, out: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GDAL 3.10 cannot copy both: copying all domains loses the bands' default metadata."""
    with rasterio.open(striped_float, "r+") as dataset:
        dataset.update_tags(1, POLARIZATION="VV")
        dataset.update_tags(ns="PROVENANCE", job="1234")

    result = ensure_cog(striped_float, out / "x.tif")

    with rasterio.open(result.path) as cog:
        assert cog.tags(1)["POLARIZATION"] == "VV"
        assert cog.tags(ns="PROVENANCE") == {}
    assert "PROVENANCE" in caplog.text and str(striped_float) in caplog.text


def _classes_with_a_minority(tmp_path: Path, *, colormap: bool) -> tuple[Path, np.ndarray]:
    """Classes 10/20/30 in 2x2 blocks whose top-left pixel (the one GDAL's nearest picks) is class 200."""
    y, x = np.indices((600, 600))
    majority = (10 * (1 + ((x // 2) // 7 + (y // 2) // 5) % 3)).astype("uint8")
    data = majority.copy()
    data[(y % 2 == 0) & (x % 2 == 0)] = 200
    src = write_tif(tmp_path / "classes.tif", data)
    if colormap:
        with rasterio.open(src, "r+") as dataset:
            dataset.write_colormap(1, CLASS_COLORS)
    return src, majority[::2, ::2]


# with a colormap GDAL averages colours and takes the nearest entry, which may or may not be the mode;
# without one, averaging would invent classes 58, 65 and 73
@pytest.mark.parametrize(
    ("kind", "colormap"), [("categorical", False), ("categorical", True), ("auto", True)]
)
def test_categorical_overviews_take_the_mode_and_keep_the_colormap(
    tmp_path: Path, out: Path, kind: str, colormap: bool
) -> None:
    src, majority = _classes_with_a_minority(tmp_path, colormap=colormap)

    result = ensure_cog(src, out / "classes.tif", kind)

    assert_strict_cog(result.path)
    same_raster(src, result.path)
    with rasterio.open(result.path) as cog:
        if colormap:
            written = cog.colormap(1)
            assert {value: written[value] for value in CLASS_COLORS} == CLASS_COLORS
        assert cog.overviews(1) == [2, 4]
    with rasterio.open(result.path, overview_level=0) as level0:
        np.testing.assert_array_equal(level0.read(1), majority)
    with rasterio.open(result.path, overview_level=1) as level1:
        assert set(np.unique(level1.read(1))) <= {10, 20, 30, 200}


def test_nearest_overviews_would_keep_the_minority_class(tmp_path: Path, out: Path) -> None:
    """The contrast to the test above: mode and nearest really differ on this raster."""
    src, _ = _classes_with_a_minority(tmp_path, colormap=False)
    ensure_cog(src, out / "classes.tif", "mask")
    with rasterio.open(out / "classes.tif", overview_level=0) as level0:
        assert set(np.unique(level0.read(1))) == {200}


@pytest.mark.parametrize(("kind", "only_0_and_255"), [("mask", True), ("auto", True), ("continuous", False)])
def test_mask_overviews_use_nearest(tmp_path: Path, out: Path, kind: str, only_0_and_255: bool) -> None:
    y, x = np.indices((600, 600))
    mask = np.where((x % 2 == 0) == (y < 300), 255, 0).astype("uint8")  # every other column, then the others
    src = write_tif(tmp_path / "valid.tif", mask)

    result = ensure_cog(src, out / "valid.tif", kind)

    assert_strict_cog(result.path)
    same_raster(src, result.path)
    with rasterio.open(result.path, overview_level=0) as level0:
        values = set(np.unique(level0.read(1)).tolist())
    assert (values == {0, 255}) is only_0_and_255


def test_imagery_with_an_internal_mask_keeps_the_mask(tmp_path: Path, out: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 255, size=(3, 600, 600), dtype="uint8")
    mask = np.zeros((600, 600), dtype="uint8")
    mask[50:550, 100:500] = 255
    src = write_tif(tmp_path / "rgb.tif", rgb, internal_mask=mask, photometric="RGB")

    result = ensure_cog(src, out / "rgb.tif")

    assert_strict_cog(result.path)
    same_raster(src, result.path)
    with rasterio.open(result.path) as cog:
        assert cog.mask_flag_enums == ([MaskFlags.per_dataset],) * 3
        assert cog_creation_options(cog)["RESAMPLING"] == "AVERAGE"
    with rasterio.open(result.path, overview_level=0) as level0:
        overview_mask = level0.read_masks(1)
    assert set(np.unique(overview_mask)) == {0, 255}
    assert overview_mask[0, 0] == 0 and overview_mask[150, 150] == 255


def test_small_raster_gets_no_overviews(tmp_path: Path, out: Path) -> None:
    src = write_tif(tmp_path / "small.tif", np.ones((200, 250), dtype="float32"))
    with rasterio.open(src, "r+") as dataset:
        dataset.build_overviews([2, 4])  # ignored: a raster this small needs none
    result = convert_to_cog(src, out / "small.tif")
    assert_strict_cog(result)
    with rasterio.open(result) as cog:
        assert cog.overviews(1) == []


def test_conversion_in_place(striped_float: Path) -> None:
    original = striped_float.with_name("original.tif")
    rasterio.shutil.copy(striped_float, original)

    result = ensure_cog(striped_float, striped_float)

    assert result == CogResult(striped_float, converted=True)
    assert_strict_cog(striped_float)
    same_raster(original, striped_float)
    assert files_in(striped_float.parent) == ["original.tif", "striped.tif"]


def test_metadata_in_a_sidecar_is_folded_into_the_cog(valid_cog: Path, out: Path) -> None:
    """A COG whose .aux.xml holds metadata is not self-contained: linking it alone would lose the metadata."""
    valid_cog.with_name(valid_cog.name + ".aux.xml").write_text(
        '<PAMDataset><Metadata><MDI key="SENSOR">S1A</MDI></Metadata></PAMDataset>'
    )
    result = ensure_cog(valid_cog, out / "cog.tif")
    assert result.converted
    assert files_in(out) == ["cog.tif"]
    with rasterio.open(result.path) as cog:
        assert cog.files == [str(result.path)]
        assert cog.tags()["SENSOR"] == "S1A"


def test_metadata_a_geotiff_cannot_hold_goes_to_a_sidecar_beside_dst(tmp_path: Path, out: Path) -> None:
    write_tif(tmp_path / "bands.tif", np.ones((2, 300, 300), dtype="int16"))
    vrt = tmp_path / "bands.vrt"
    band = (
        '<VRTRasterBand dataType="Int16" band="{n}"><NoDataValue>-{n}</NoDataValue><SimpleSource>'
        '<SourceFilename relativeToVRT="1">bands.tif</SourceFilename><SourceBand>{n}</SourceBand>'
        "</SimpleSource></VRTRasterBand>"
    )
    vrt.write_text(
        '<VRTDataset rasterXSize="300" rasterYSize="300"><SRS>EPSG:32633</SRS>'
        f"<GeoTransform>500000, 10, 0, 5000000, 0, -10</GeoTransform>{band.format(n=1)}{band.format(n=2)}"
        "</VRTDataset>"
    )
    (out / "bands.tif.aux.xml").write_text("<PAMDataset/>")  # stale, from an earlier run

    result = ensure_cog(vrt, out / "bands.tif")

    assert files_in(out) == ["bands.tif", "bands.tif.aux.xml"]
    with rasterio.open(result.path) as cog:
        assert cog.nodatavals == (-1, -2)  # one nodata per band: only the sidecar can hold that


# --- inputs that already are COGs -----------------------------------------------------------------------


def test_a_valid_cog_is_hard_linked_not_re_encoded(valid_cog: Path, out: Path) -> None:
    before = valid_cog.stat()

    result = ensure_cog(valid_cog, out / "cog.tif")

    assert result == CogResult(out / "cog.tif", converted=False)
    assert result.path.read_bytes() == valid_cog.read_bytes()
    assert result.path.stat().st_ino == before.st_ino  # same file system here: a hard link
    assert valid_cog.stat().st_mtime_ns == before.st_mtime_ns
    assert files_in(out) == ["cog.tif"]


def test_a_valid_cog_is_copied_when_links_are_off(valid_cog: Path, out: Path) -> None:
    before = valid_cog.stat()
    (out / "cog.tif").write_bytes(b"an older output")

    result = ensure_cog(valid_cog, out / "cog.tif", link=False)

    assert not result.converted
    assert result.path.read_bytes() == valid_cog.read_bytes()
    assert result.path.stat().st_ino != before.st_ino
    assert valid_cog.stat().st_mtime_ns == before.st_mtime_ns
    assert files_in(out) == ["cog.tif"]


def test_a_valid_cog_onto_itself_is_left_alone(valid_cog: Path) -> None:
    before = valid_cog.stat()
    assert ensure_cog(valid_cog, valid_cog, link=False) == CogResult(valid_cog, converted=False)
    after = valid_cog.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert files_in(valid_cog.parent) == ["striped.tif", "valid_cog.tif"]


def test_a_stale_sidecar_of_dst_is_removed(valid_cog: Path, out: Path) -> None:
    """An .aux.xml left from an earlier output would lay its metadata over the new file."""
    (out / "cog.tif.aux.xml").write_text(
        '<PAMDataset><Metadata><MDI key="SENSOR">old</MDI></Metadata></PAMDataset>'
    )
    result = ensure_cog(valid_cog, out / "cog.tif")
    assert files_in(out) == ["cog.tif"]
    with rasterio.open(result.path) as cog:
        assert "SENSOR" not in cog.tags()


def test_validate_cog_reports_what_is_wrong(striped_float: Path, valid_cog: Path) -> None:
    assert validate_cog(valid_cog) == (True, [], [])
    assert is_cog(valid_cog)
    ok, errors, warnings = validate_cog(striped_float)
    assert not ok
    assert any("not tiled" in error for error in errors)
    assert any("overviews" in warning for warning in warnings)
    assert not is_cog(striped_float)


# --- errors ---------------------------------------------------------------------------------------------


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _text(path: Path) -> None:
    path.write_text("job 1234 finished\n")


@pytest.mark.parametrize(
    ("name", "make"), [("corrupt.tif", _random_bytes), ("notes.txt", _text), ("gone.tif", None)]
)
def test_what_is_not_a_raster_raises_not_a_raster_error(
    tmp_path: Path, out: Path, name: str, make: Callable[[Path], None] | None
) -> None:
    src = tmp_path / name
    if make:
        make(src)

    with pytest.raises(NotARasterError) as raised:
        ensure_cog(src, out / "x.tif")

    assert str(src) in str(raised.value)
    assert files_in(out) == []
    with pytest.raises(NotARasterError, match=str(src)):
        validate_cog(src)
    assert not is_cog(src)


def test_a_truncated_cog_is_not_a_raster(valid_cog: Path, out: Path) -> None:
    """rio-cogeo reads only headers, so a COG cut short passes its checks; ours compares the file size."""
    content = valid_cog.read_bytes()
    valid_cog.write_bytes(content[: len(content) * 2 // 3])
    with pytest.raises(NotARasterError, match=str(valid_cog)):
        ensure_cog(valid_cog, out / "cog.tif")
    assert files_in(out) == []


def test_a_truncated_source_fails_while_converting_as_not_a_raster(tmp_path: Path, out: Path) -> None:
    data = np.random.default_rng(2).normal(size=(1000, 1000)).astype("float32")
    src = write_tif(tmp_path / "tiled.tif", data)
    # opens fine (the header comes first), but is not a strict COG (no overviews): it gets converted
    tiled = tmp_path / "tiled_no_overviews.tif"
    rasterio.shutil.copy(src, tiled, driver="COG", OVERVIEWS="NONE")
    tiled.write_bytes(tiled.read_bytes()[:1_000_000])
    with pytest.raises(NotARasterError, match=str(tiled)):
        ensure_cog(tiled, out / "x.tif")
    assert files_in(out) == []


@pytest.mark.parametrize("source", ["striped_float", "valid_cog"])
@pytest.mark.parametrize("case", ["missing folder", "folder is a file", "dst is a folder"])
def test_unwritable_output_raises_output_not_writable(
    request: pytest.FixtureRequest, tmp_path: Path, out: Path, source: str, case: str
) -> None:
    src = request.getfixturevalue(source)
    if case == "missing folder":
        dst, named = out / "missing" / "x.tif", out / "missing"
    elif case == "folder is a file":
        (out / "file").write_text("")
        dst, named = out / "file" / "x.tif", out / "file"
    else:
        (out / "x.tif").mkdir()
        dst, named = out / "x.tif", out / "x.tif"
    before = files_in(out)

    with pytest.raises(OutputNotWritableError) as raised:
        ensure_cog(src, dst)

    assert raised.value.path == str(named)
    assert str(named) in str(raised.value)
    assert files_in(out) == before  # no temporary files left


def test_a_result_that_is_not_a_strict_cog_is_refused(
    striped_float: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDAL's COG driver gives valid COGs; this guard is checked by asking it for no overviews at 600 px."""
    monkeypatch.setattr("catalogs.cog.overview_count", lambda width, height: 0)
    with pytest.raises(CogConversionError, match="overviews"):
        ensure_cog(striped_float, out / "x.tif")
    assert files_in(out) == []


def test_gdal_failure_raises_cog_conversion_error(striped_float: Path, out: Path) -> None:
    with pytest.raises(CogConversionError, match=str(striped_float)):
        ensure_cog(striped_float, out / "x.tif", blocksize=100)  # libtiff wants tiles 16k pixels wide
    assert files_in(out) == []


# --- choices --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "count", "colormap", "kind", "expected"),
    [
        ("float32", 1, False, "auto", "AVERAGE"),
        ("float64", 2, False, "auto", "AVERAGE"),
        ("uint8", 1, True, "auto", "MODE"),
        ("uint8", 3, False, "auto", "AVERAGE"),
        ("uint8", 4, False, "auto", "AVERAGE"),
        ("uint8", 1, False, "auto", "NEAREST"),
        ("uint8", 2, False, "auto", "NEAREST"),
        ("int16", 1, False, "auto", "NEAREST"),
        ("uint16", 3, False, "auto", "NEAREST"),
        ("float32", 1, False, "mask", "NEAREST"),
        ("float32", 1, False, "categorical", "MODE"),
        ("int16", 1, False, "continuous", "AVERAGE"),
    ],
)
def test_resampling_for(
    tmp_path: Path, dtype: str, count: int, colormap: bool, kind: str, expected: str
) -> None:
    path = write_tif(tmp_path / "r.tif", np.zeros((count, 4, 4), dtype=dtype))
    if colormap:
        with rasterio.open(path, "r+") as dataset:
            dataset.write_colormap(1, {0: (0, 0, 0, 255)})
    with rasterio.open(path) as dataset:
        assert resampling_for(kind, dataset) == expected


def test_resampling_for_refuses_unknown_kinds(striped_float: Path) -> None:
    with rasterio.open(striped_float) as dataset, pytest.raises(ValueError, match="bilinear"):
        resampling_for("bilinear", dataset)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(10, 10, 0), (256, 100, 0), (257, 10, 1), (513, 100, 1), (1025, 10, 2), (1500, 1300, 3), (6000, 6000, 5)],
)
def test_overview_count_goes_down_to_about_256_px(width: int, height: int, expected: int) -> None:
    """Halving rounds down, as in GDAL's COG driver: 513 px has one overview of 256, 1025 two (512, 256)."""
    assert overview_count(width, height) == expected


@pytest.mark.parametrize(
    ("width", "height", "overviews", "expected"),
    [
        (6000, 6000, 5, 512),  # no level is 512 px wide
        (512, 512, 0, 512),  # not larger than 512 px: strict validation does not look at its tiles
        (512, 513, 1, 256),  # 512 px tiles as wide as the image: taken for strips
        (512, 3000, 4, 1024),  # 256 px is the width of its first overview, 1500 px tall
        (1024, 3000, 4, 128),  # 1024, 512 and 256 px: the image and its first two overviews
        (1025, 3000, 4, 1024),  # its overviews are 512, 256, 128 and 64 px wide (rounded down)
        (3000, 512, 4, 512),  # wide and 512 px tall: tiles as tall as the image are fine
    ],
)
def test_block_size_avoids_tiles_as_wide_as_a_level_larger_than_512_px(
    width: int, height: int, overviews: int, expected: int
) -> None:
    assert block_size_for(width, height, overviews) == expected


def test_a_512_px_wide_raster_taller_than_512_px_gets_256_px_tiles(tmp_path: Path, out: Path) -> None:
    """Processing services often deliver 512 px wide images: with 512 px tiles they would not validate."""
    data = np.random.default_rng(3).normal(size=(1024, 512)).astype("float32")
    src = write_tif(tmp_path / "ndvi.tif", data)

    result = ensure_cog(src, out / "ndvi.tif")

    assert result.converted
    assert_strict_cog(result.path)
    same_raster(src, result.path)
    with rasterio.open(result.path) as cog:
        assert cog.block_shapes == [(256, 256)]
        assert cog.overviews(1) == [2, 4]


# --- real provider outputs ------------------------------------------------------------------------------


def _sample_rasters(samples: Path) -> list[Path]:
    rasters = sorted((samples / "hyp3" / "rtc").glob("*.tif")) + sorted(
        (samples / "appeears" / "polygon").glob("*.tif")
    )
    assert len(rasters) == 14  # 7 HyP3 RTC layers, 7 AppEEARS layers
    return rasters


def test_real_samples_already_are_cogs_and_are_put_in_place_unchanged(samples: Path, out: Path) -> None:
    for sample in _sample_rasters(samples):
        mtime = sample.stat().st_mtime_ns
        result = ensure_cog(sample, out / sample.name, link=False)  # no links into the shared folder
        assert result.converted is False, sample.name  # tiny striped files (<= 512 px) are valid COGs
        assert_strict_cog(result.path)
        assert result.path.read_bytes() == sample.read_bytes()
        assert sample.stat().st_mtime_ns == mtime


def test_real_samples_re_encoded_keep_values_nodata_and_metadata(samples: Path, out: Path) -> None:
    for sample in _sample_rasters(samples):
        dst = convert_to_cog(sample, out / sample.name)
        assert_strict_cog(dst)
        same_raster(sample, dst)
        with rasterio.open(sample) as before, rasterio.open(dst) as after:
            assert after.tags() == before.tags()
            assert (after.scales, after.offsets, after.units) == (before.scales, before.offsets, before.units)
            assert after.compression.name == "deflate"
    assert len(files_in(out)) == 14
