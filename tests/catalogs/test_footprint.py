"""WGS84 footprints of rasters: projected, geographic, sinusoidal, antimeridian, polar, valid data, samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from shapely.geometry import Point, box, shape

from catalogs.errors import NotARasterError
from catalogs.footprint import Footprint, footprint_from_path, is_georeferenced, raster_footprint

MODIS_SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
MODIS_TILE = 1111950.5197665  # metres per MODIS tile side


def north_up(west: float, north: float, xres: float, yres: float) -> Affine:
    # (rasterio.transform.from_origin uses affine's deprecated `*` operator: PendingDeprecationWarning)
    return Affine(xres, 0.0, west, 0.0, -yres, north)


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:4326",
    transform: Affine | None = None,
    nodata: float | None = None,
) -> Path:
    data = data if data.ndim == 3 else data[np.newaxis]
    count, height, width = data.shape
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=data.dtype.name, nodata=nodata)
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def ones(height: int, width: int, dtype: str = "float32") -> np.ndarray:
    return np.ones((height, width), dtype=dtype)


def corners_lonlat(crs: str, transform: Affine, width: int, height: int) -> list[tuple[float, float]]:
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    corners = [transform @ (0, 0), transform @ (width, 0), transform @ (width, height), transform @ (0, height)]
    return [to_wgs84.transform(x, y) for x, y in corners]


def parts(footprint: Footprint) -> list[shapely.Polygon]:
    geom = shape(footprint.geometry)
    return list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]


def all_coords(footprint: Footprint) -> np.ndarray:
    return np.concatenate([np.asarray(p.exterior.coords) for p in parts(footprint)])


def check_well_formed(footprint: Footprint, precision: int = 7) -> None:
    """Valid, counter-clockwise, no holes, lon/lat in range, rounded, bbox of 4 numbers."""
    assert footprint.geometry["type"] in ("Polygon", "MultiPolygon")
    assert len(footprint.bbox) == 4
    for polygon in parts(footprint):
        assert polygon.is_valid
        assert shapely.is_ccw(polygon.exterior)
        assert not polygon.interiors
    coords = all_coords(footprint)
    assert np.all(np.abs(coords[:, 0]) <= 180) and np.all(np.abs(coords[:, 1]) <= 90)
    assert np.array_equal(np.round(coords, precision), coords)
    # plain lists, as json.dumps / a loaded STAC item would have them
    ring = footprint.geometry["coordinates"][0]
    assert isinstance(ring, list) and isinstance(ring[0], list)


def test_utm_footprint_matches_projected_corners(tmp_path: Path) -> None:
    transform = north_up(500_000, 6_000_000, 100, 100)
    path = write_raster(tmp_path / "utm.tif", ones(150, 200), crs="EPSG:32633", transform=transform)

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    assert footprint.geometry["type"] == "Polygon"
    geom = shape(footprint.geometry)
    for lon, lat in corners_lonlat("EPSG:32633", transform, 200, 150):
        assert geom.exterior.distance(Point(lon, lat)) < 1e-6
        assert 14.9 < lon < 15.4 and 54.0 < lat < 54.2  # near the central meridian of zone 33, at 54 N
    coords = all_coords(footprint)
    west, south, east, north = footprint.bbox
    assert np.all((coords[:, 0] >= west) & (coords[:, 0] <= east))
    assert np.all((coords[:, 1] >= south) & (coords[:, 1] <= north))
    assert footprint.bbox == pytest.approx(list(geom.bounds))


def test_geographic_footprint_is_its_bounds(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "geo.tif", ones(100, 200), transform=north_up(10, 50, 0.01, 0.01))

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    assert footprint.bbox == pytest.approx([10, 49, 12, 50], abs=1e-9)
    assert shape(footprint.geometry).equals(box(10, 49, 12, 50))
    assert len(footprint.geometry["coordinates"][0]) == 5  # densified points that stayed collinear are gone


def test_modis_sinusoidal_edges_are_curved(tmp_path: Path) -> None:
    # tile h18v02: x from 0 to one tile east of the central meridian, 60 to 70 degrees north
    top = 10_007_554.677 - 2 * MODIS_TILE
    transform = north_up(0.0, top, MODIS_TILE / 240, MODIS_TILE / 240)
    path = write_raster(tmp_path / "sinu.tif", ones(240, 240), crs=MODIS_SINUSOIDAL, transform=transform)

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    geom = shape(footprint.geometry)
    assert geom.geom_type == "Polygon"
    assert len(set(geom.exterior.coords)) > 5
    corners = corners_lonlat(MODIS_SINUSOIDAL, transform, 240, 240)
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    assert footprint.bbox == pytest.approx([min(lons), min(lats), max(lons), max(lats)], abs=1e-6)
    assert 0 <= footprint.bbox[0] and footprint.bbox[2] < 30 and 59.9 < footprint.bbox[1] < footprint.bbox[3] < 70.1
    # the eastern edge is a curve in lon/lat: its middle is far from the chord between its corners, yet on
    # the footprint's boundary
    to_wgs84 = Transformer.from_crs(MODIS_SINUSOIDAL, "EPSG:4326", always_xy=True)
    middle = Point(to_wgs84.transform(MODIS_TILE, top - MODIS_TILE / 2))
    chord = shapely.LineString([corners[1], corners[2]])
    assert chord.distance(middle) > 0.5
    assert geom.exterior.distance(middle) < 0.01


@pytest.mark.parametrize(
    ("crs", "transform", "width", "height"),
    [
        pytest.param("EPSG:4326", north_up(179.0, 10.0, 0.02, 0.02), 100, 100, id="lonlat-179-181"),
        pytest.param("EPSG:32660", north_up(550_000, 7_000_000, 1000, 1000), 300, 100, id="utm-60n"),
        pytest.param("EPSG:3832", north_up(3_000_000, 1_000_000, 1000, 1000), 1000, 100, id="pdc-mercator"),
    ],
)
def test_antimeridian_crossing_is_split(
    tmp_path: Path, crs: str, transform: Affine, width: int, height: int
) -> None:
    path = write_raster(tmp_path / "am.tif", ones(height, width), crs=crs, transform=transform)

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    assert footprint.geometry["type"] == "MultiPolygon"
    polygons = parts(footprint)
    assert len(polygons) == 2
    east = [p for p in polygons if p.bounds[0] > 0]
    west = [p for p in polygons if p.bounds[2] < 0]
    assert len(east) == 1 and len(west) == 1
    assert east[0].bounds[2] == 180 and west[0].bounds[0] == -180
    bbox = footprint.bbox
    assert bbox[0] > bbox[2]
    assert bbox[0] == east[0].bounds[0] and bbox[2] == west[0].bounds[2]
    # the two halves together cover what the raster covers: compare with its corners (unwrapped)
    corners = corners_lonlat(crs, transform, width, height)
    unwrapped = [lon % 360 for lon, _ in corners]
    assert bbox[0] == pytest.approx(min(unwrapped), abs=1e-6)
    assert bbox[2] == pytest.approx(max(unwrapped) - 360, abs=1e-6)
    assert bbox[1] == pytest.approx(min(lat for _, lat in corners), abs=0.01)
    assert bbox[3] == pytest.approx(max(lat for _, lat in corners), abs=0.01)


def test_lonlat_raster_beyond_180_is_normalised(tmp_path: Path) -> None:
    # a grid stored entirely east of 180 (lon 185..190) is an ordinary polygon in -175..-170
    path = write_raster(tmp_path / "east.tif", ones(10, 50), transform=north_up(185.0, 10.0, 0.1, 0.1))

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    assert footprint.geometry["type"] == "Polygon"
    assert footprint.bbox == pytest.approx([-175, 9, -170, 10], abs=1e-9)


def test_global_lonlat_grid_covers_every_longitude(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "global.tif", ones(18, 36, "uint8"), transform=north_up(0, 90, 10, 10))

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    assert footprint.bbox == [-180, -90, 180, 90]
    assert shape(footprint.geometry).equals(box(-180, -90, 180, 90))


def test_polar_stereographic_raster_around_the_pole(tmp_path: Path) -> None:
    transform = north_up(-500_000, 500_000, 10_000, 10_000)
    path = write_raster(tmp_path / "arctic.tif", ones(100, 100), crs="EPSG:3413", transform=transform)

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    west, south, east, north = footprint.bbox
    assert (west, east, north) == (-180, 180, 90)
    corner_lats = [lat for _, lat in corners_lonlat("EPSG:3413", transform, 100, 100)]
    assert south == pytest.approx(min(corner_lats), abs=1e-6)
    geom = shape(footprint.geometry)
    assert geom.covers(Point(0, 89.9)) and geom.covers(Point(179, 88)) and not geom.covers(Point(0, 80))


def test_valid_data_footprint_of_a_diamond(tmp_path: Path) -> None:
    n = 1000
    rows, cols = np.mgrid[0:n, 0:n]
    diamond = np.abs(cols - n / 2) + np.abs(rows - n / 2) < 0.4 * n
    data = np.where(diamond, 5.0, -9999.0).astype("float32")
    transform = north_up(10.0, 50.0, 0.001, 0.001)
    path = write_raster(tmp_path / "diamond.tif", data, transform=transform, nodata=-9999)
    bounds = box(10, 49, 11, 50)

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    geom = shape(footprint.geometry)
    assert geom.geom_type == "Polygon"
    assert geom.contains(Point(10.5, 49.5))
    # the true diamond has half of 0.8 x 0.8 degrees: 0.32; the rectangle 1
    assert geom.area == pytest.approx(0.32, rel=0.05)
    assert geom.area < 0.5 * bounds.area
    assert bounds.buffer(1e-9).contains(geom)
    assert len(geom.exterior.coords) <= 12  # the pixel staircase was simplified away
    # data=False: the whole grid
    with rasterio.open(path) as dataset:
        assert shape(raster_footprint(dataset, data=False).geometry).equals(bounds)


def test_valid_data_parts_and_holes(tmp_path: Path) -> None:
    data = np.zeros((200, 300), dtype="uint8")
    data[20:80, 20:80] = 1  # a square with a hole
    data[40:60, 40:60] = 0
    data[120:180, 200:280] = 2  # and a separate block
    data[100, 150] = 3  # and a single pixel of noise
    path = write_raster(tmp_path / "parts.tif", data, transform=north_up(0.0, 2.0, 0.01, 0.01), nodata=0)

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    assert footprint.geometry["type"] == "MultiPolygon"
    square, block = sorted(parts(footprint), key=lambda p: p.bounds[0])
    assert square.equals(box(0.2, 1.2, 0.8, 1.8))  # the hole is gone
    assert block.equals(box(2.0, 0.2, 2.8, 0.8))
    assert footprint.bbox == pytest.approx([0.2, 0.2, 2.8, 1.8])


def test_speckled_valid_data_becomes_its_convex_hull(tmp_path: Path) -> None:
    data = np.zeros((200, 200), dtype="uint8")
    for row in range(10, 190, 20):  # 9 x 9 = 81 separate blocks, more than MAX_PARTS
        for col in range(10, 190, 20):
            data[row : row + 5, col : col + 5] = 1
    path = write_raster(tmp_path / "speckle.tif", data, transform=north_up(0.0, 2.0, 0.01, 0.01), nodata=0)

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    assert footprint.geometry["type"] == "Polygon"
    assert shape(footprint.geometry).equals(box(0.1, 0.25, 1.75, 1.9))  # rows 10..185, columns 10..175
    assert footprint.bbox == pytest.approx([0.1, 0.25, 1.75, 1.9])


def test_all_valid_all_invalid_and_nan(tmp_path: Path) -> None:
    transform = north_up(10.0, 50.0, 0.01, 0.01)
    rectangle = box(10, 49, 12, 50)
    # nodata declared but every pixel valid
    valid = write_raster(tmp_path / "valid.tif", ones(100, 200), transform=transform, nodata=-9999)
    assert shape(footprint_from_path(valid).geometry).equals(rectangle)
    # nothing valid: fall back to the grid
    empty = write_raster(tmp_path / "empty.tif", np.zeros((100, 200), "int16"), transform=transform, nodata=0)
    assert shape(footprint_from_path(empty).geometry).equals(rectangle)
    # float without nodata: NaN counts as nodata
    data = ones(100, 200)
    data[:, 100:] = np.nan
    nan = write_raster(tmp_path / "nan.tif", data, transform=transform)
    assert shape(footprint_from_path(nan).geometry).equals(box(10, 49, 11, 50))


def test_rotated_grid_uses_its_corners(tmp_path: Path) -> None:
    # 30 degrees rotation about the upper-left corner
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    transform = Affine(0.01 * c, 0.01 * s, 10.0, 0.01 * s, -0.01 * c, 50.0)
    path = write_raster(tmp_path / "rotated.tif", ones(100, 100), transform=transform)

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    corners = [transform @ xy for xy in [(0, 0), (100, 0), (100, 100), (0, 100)]]
    assert shape(footprint.geometry).hausdorff_distance(shapely.Polygon(corners)) < 1e-7


def test_not_georeferenced_raster_is_refused(tmp_path: Path) -> None:
    # a radar-geometry layer like HyP3's _lat_rdr: no CRS, no geotransform
    path = write_raster(tmp_path / "S1_lat_rdr.tif", ones(20, 30), crs=None, transform=None)
    with rasterio.open(path) as dataset:
        assert not is_georeferenced(dataset)
        with pytest.raises(NotARasterError, match="not georeferenced") as info:
            raster_footprint(dataset)
    assert info.value.path == str(path)
    with pytest.raises(NotARasterError) as info:
        footprint_from_path(path)
    assert str(info.value) == f"{path}: not a readable raster (not georeferenced)"
    # a CRS without a geotransform is not enough either
    crs_only = write_raster(tmp_path / "crs_only.tif", ones(20, 30), crs="EPSG:4326", transform=None)
    with rasterio.open(crs_only) as dataset:
        assert not is_georeferenced(dataset)


def test_unreadable_file_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00not really a tiff")
    with pytest.raises(NotARasterError) as info:
        footprint_from_path(bad)
    assert info.value.path == str(bad)
    # ours exactly; the reason is GDAL's (libtiff's) own wording, which GDAL versions change, naming the file
    assert str(info.value) == f"{bad}: not a readable raster ({info.value.reason})"
    assert "broken.tif" in info.value.reason


def test_hyp3_rtc_sample(samples: Path) -> None:
    path = samples / "hyp3" / "rtc" / "rtc_VV.tif"
    with rasterio.open(path) as dataset:
        crs, transform, width, height = dataset.crs.to_string(), dataset.transform, dataset.width, dataset.height
        assert is_georeferenced(dataset)

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    corners = corners_lonlat(crs, transform, width, height)
    expected = shapely.Polygon(corners)
    geom = shape(footprint.geometry)
    assert expected.buffer(1e-6).contains(geom)
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    # the sample's pixels are all nodata: the footprint falls back to the grid
    assert footprint.bbox == pytest.approx([min(lons), min(lats), max(lons), max(lats)], abs=1e-6)


def test_appeears_sample(samples: Path) -> None:
    path = samples / "appeears" / "polygon" / "MCD12Q2.006_Greenup_0_doy2010001_aid0001.tif"
    with rasterio.open(path) as dataset:
        grid = box(*dataset.bounds)
        valid_fraction = dataset.dataset_mask().mean() / 255

    footprint = footprint_from_path(path)

    check_well_formed(footprint)
    geom = shape(footprint.geometry)
    assert grid.buffer(1e-6).contains(geom)
    assert 0.5 * valid_fraction * grid.area < geom.area <= grid.area + 1e-9
    whole = footprint_from_path(path, data=False)
    assert shape(whole.geometry).hausdorff_distance(grid) < 1e-7  # coordinates are rounded to 7 decimals
