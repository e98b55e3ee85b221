"""Items from drafts: grid, geometry, bands, files, thumbnails; real samples; bad input."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import ColorInterp

from catalogs import stac
from catalogs.cog import ensure_cog, is_cog
from catalogs.drafts import AssetDraft, ItemDraft
from catalogs.errors import CatalogError, InvalidIdError, NotARasterError
from catalogs.items import build
from catalogs.schemas import SchemaStore
from catalogs.store import CatalogStore, CollectionSpec
from catalogs.validate import validate_catalog, validate_object

WHEN = datetime(2023, 6, 1, 12, tzinfo=timezone.utc)
SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"


def write_tif(path: Path, data: np.ndarray, transform: Affine, crs: CRS | str | None, nodata=None, **tags) -> Path:
    profile = {"driver": "GTiff", "height": data.shape[-2], "width": data.shape[-1],
               "count": 1 if data.ndim == 2 else data.shape[0], "dtype": data.dtype.name,
               "crs": crs, "transform": transform, "nodata": nodata}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data if data.ndim == 3 else data[np.newaxis])
        if tags:
            ds.update_tags(**tags)
    return path


def draft(path: Path, item_id: str = "item-1", **kw) -> ItemDraft:
    assets = kw.pop("assets", {"data": AssetDraft(path=path, roles=("data",), title="Data")})
    return ItemDraft(id=item_id, collection="tests", datetime=WHEN, assets=assets, **kw)


def check_valid(item: pystac.Item, tmp_path: Path) -> None:
    """The item, as the catalog writer stores it, is valid STAC with every extension it declares."""
    root = tmp_path / "catalog"
    with CatalogStore(root) as store:
        store.ensure_collection(CollectionSpec(item.collection_id, "tests"))
        store.add(item.clone(), assets="copy")
    report = validate_catalog(root)
    assert report.ok, report.format()
    assert validate_object(item.to_dict(include_self_link=False), SchemaStore()) == [
        "[STAC 1.1.0 item] $.collection: must not be present"
    ]  # before the writer adds its links, an item naming a collection is incomplete


def test_utm_raster_item(tmp_path: Path) -> None:
    data = np.linspace(0.01, 0.5, 600 * 800, dtype="float32").reshape(600, 800)
    data[:, :100] = 0
    path = write_tif(tmp_path / "utm.tif", data, Affine(15, 0, 500_000, 0, -15, 6_700_000), CRS.from_epsg(32633), nodata=0)
    item = build(draft(path), workdir=tmp_path)
    props = item.properties
    assert props["proj:code"] == "EPSG:32633"
    assert props["proj:shape"] == [600, 800]
    assert props["proj:transform"] == [15.0, 0.0, 500000.0, 0.0, -15.0, 6700000.0]
    assert props["proj:bbox"] == [500000.0, 6691000.0, 512000.0, 6700000.0]
    # geometry: the valid part (x from 501,500 m) in lon/lat, checked with pyproj
    to_wgs84 = Transformer.from_crs(32633, 4326, always_xy=True)
    lon_w, _ = to_wgs84.transform(501_500, 6_695_000)
    lon_e, lat_n = to_wgs84.transform(512_000, 6_700_000)
    west, south, east, north = item.bbox
    assert west == pytest.approx(lon_w, abs=0.01) and east == pytest.approx(lon_e, abs=0.01)
    assert north == pytest.approx(lat_n, abs=0.01)
    band = item.assets["data"].extra_fields["bands"][0]
    assert band["data_type"] == "float32" and band["nodata"] == 0
    stats = band["statistics"]
    assert stats["minimum"] > 0 and stats["maximum"] == pytest.approx(0.5, rel=1e-3)
    assert stats["valid_percent"] == pytest.approx(87.5, abs=0.5)
    assert band["raster:spatial_resolution"] == 15.0
    asset = item.assets["data"]
    assert asset.extra_fields["file:size"] == path.stat().st_size
    assert asset.extra_fields["file:checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert asset.media_type == stac.GEOTIFF  # a plain striped tiff over 512 px: not a COG
    assert "proj:code" not in asset.extra_fields  # same grid as the item: stated once
    thumb = item.assets["thumbnail"]
    assert thumb.roles == ["thumbnail"] and thumb.media_type == "image/png" and Path(thumb.href).is_file()
    assert {stac.PROJECTION, stac.FILE}.issubset(item.stac_extensions)
    check_valid(item, tmp_path)


def test_geographic_item_with_scale_from_gdal_metadata(tmp_path: Path) -> None:
    data = np.arange(100 * 200, dtype="int16").reshape(100, 200) % 9000
    path = write_tif(tmp_path / "ndvi.tif", data, Affine(0.01, 0, 10, 0, -0.01, 60), CRS.from_epsg(4326),
                     nodata=-3000, scale_factor="0.0001", add_offset="0", units="NDVI")
    item = build(draft(path), workdir=tmp_path)
    assert item.properties["proj:code"] == "EPSG:4326"
    assert item.bbox == pytest.approx([10, 59, 12, 60])
    band = item.assets["data"].extra_fields["bands"][0]
    assert band["raster:scale"] == 0.0001 and "raster:offset" not in band
    assert band["unit"] == "NDVI" and band["nodata"] == -3000 and band["data_type"] == "int16"
    assert stac.RASTER in item.stac_extensions
    check_valid(item, tmp_path)


def test_sinusoidal_item_uses_wkt2_and_curved_geometry(tmp_path: Path) -> None:
    data = np.ones((240, 240), dtype="int16")
    size = 1_111_950.5197665554  # one MODIS tile
    path = write_tif(tmp_path / "sinu.tif", data, Affine(size / 240, 0, 0, 0, -size / 240, 7_783_653.6),
                     CRS.from_proj4(SINUSOIDAL))
    item = build(draft(path), workdir=tmp_path)
    assert "proj:code" not in item.properties
    assert item.properties["proj:wkt2"].startswith("PROJCRS[")
    assert CRS.from_wkt(item.properties["proj:wkt2"]) == CRS.from_proj4(SINUSOIDAL)
    ring = item.geometry["coordinates"][0]
    assert len(ring) > 6  # densified edges follow the sinusoidal curves
    lons = [p[0] for p in ring]
    assert min(lons) == pytest.approx(0, abs=0.01) and max(lons) > 20  # the northern edge spans far east
    check_valid(item, tmp_path)


def test_antimeridian_item_is_split(tmp_path: Path) -> None:
    data = np.ones((200, 200), dtype="float32")
    # UTM 60N (central meridian 177E) from 100 km to 200 km east of it at ~65N: about 179.2E to 181.3E
    path = write_tif(tmp_path / "am.tif", data, Affine(500, 0, 600_000, 0, -500, 7_300_000), CRS.from_epsg(32660))
    item = build(draft(path), workdir=tmp_path)
    assert item.geometry["type"] == "MultiPolygon"
    lons = [p[0] for poly in item.geometry["coordinates"] for p in poly[0]]
    assert min(lons) >= -180 and max(lons) <= 180 and min(lons) < -170 and max(lons) > 170
    west, _, east, _ = item.bbox
    assert west > east  # the STAC/GeoJSON way of saying it crosses the antimeridian
    check_valid(item, tmp_path)


def test_assets_on_other_grids_state_their_own_projection(tmp_path: Path) -> None:
    a = write_tif(tmp_path / "a.tif", np.ones((10, 10), "float32"), Affine(20, 0, 0, 0, -20, 0), CRS.from_epsg(32633))
    b = write_tif(tmp_path / "b.tif", np.ones((5, 5), "uint8"), Affine(40, 0, 0, 0, -40, 0), CRS.from_epsg(32633))
    item = build(draft(a, assets={"a": AssetDraft(path=a), "mask": AssetDraft(path=b, roles=("metadata",))}),
                 workdir=tmp_path)
    assert item.properties["proj:shape"] == [10, 10]
    mask = item.assets["mask"].extra_fields
    assert mask["proj:shape"] == [5, 5] and mask["proj:transform"][0] == 40 and "proj:code" not in mask


def test_table_item_takes_geometry_from_draft_and_gets_no_thumbnail(tmp_path: Path) -> None:
    csv = tmp_path / "points.csv"
    csv.write_text("pid,latitude,longitude\n1,69.3,20.1\n")
    geometry = {"type": "Point", "coordinates": [20.1, 69.3]}
    item = build(draft(csv, assets={"table": AssetDraft(path=csv, media_type=stac.CSV)}, geometry=geometry))
    assert item.geometry == geometry and item.bbox == [20.1, 69.3, 20.1, 69.3]
    assert set(item.assets) == {"table"} and item.assets["table"].extra_fields["file:size"] == csv.stat().st_size
    check_valid(item, tmp_path)


def test_radar_geometry_raster_is_kept_without_geometry(tmp_path: Path) -> None:
    geo = write_tif(tmp_path / "geo.tif", np.ones((10, 10), "float32"), Affine(20, 0, 0, 0, -20, 0), CRS.from_epsg(32633))
    rdr = write_tif(tmp_path / "lat_rdr.tif", np.ones((8, 12), "float32"), Affine.identity(), None)
    item = build(draft(geo, assets={"rdr": AssetDraft(path=rdr), "geo": AssetDraft(path=geo)}), workdir=tmp_path)
    assert item.properties["proj:shape"] == [10, 10]  # from the georeferenced raster, not the first one
    assert "proj:shape" not in item.assets["rdr"].extra_fields
    assert item.assets["rdr"].extra_fields["bands"][0]["data_type"] == "float32"


def test_band_sampling_is_the_area_or_point_tag(tmp_path: Path) -> None:
    grid = Affine(30, 0, 500_000, 0, -30, 6_700_000)
    point = write_tif(tmp_path / "point.tif", np.ones((20, 20), "float32"), grid, CRS.from_epsg(32633),
                      AREA_OR_POINT="Point")
    area = write_tif(tmp_path / "area.tif", np.ones((20, 20), "float32"), grid, CRS.from_epsg(32633),
                     AREA_OR_POINT="Area")
    item = build(draft(point, assets={"point": AssetDraft(path=point), "area": AssetDraft(path=area)}),
                 workdir=tmp_path)
    assert item.assets["point"].extra_fields["bands"][0]["raster:sampling"] == "point"
    assert item.assets["area"].extra_fields["bands"][0]["raster:sampling"] == "area"
    assert stac.RASTER in item.stac_extensions
    check_valid(item, tmp_path)


def test_red_green_blue_bands_get_common_names_and_alpha_says_so(tmp_path: Path) -> None:
    path = tmp_path / "rgba.tif"
    profile = {"driver": "GTiff", "height": 32, "width": 32, "count": 4, "dtype": "uint8", "crs": CRS.from_epsg(32633),
               "transform": Affine(10, 0, 500_000, 0, -10, 6_700_000), "photometric": "RGB", "alpha": "YES"}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.full((4, 32, 32), 200, "uint8"))
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    grey = write_tif(tmp_path / "grey.tif", np.ones((32, 32), "uint8"), Affine(10, 0, 500_000, 0, -10, 6_700_000),
                     CRS.from_epsg(32633))
    item = build(draft(path, assets={"visual": AssetDraft(path=path, roles=("visual",)),
                                     "grey": AssetDraft(path=grey)}), workdir=tmp_path)
    bands = item.assets["visual"].extra_fields["bands"]
    assert [b.get("eo:common_name") for b in bands] == ["red", "green", "blue", None]
    assert [b.get("description") for b in bands] == [None, None, None, "alpha"]
    assert not any(k.startswith("eo:") or k == "description" for k in item.assets["grey"].extra_fields["bands"][0])
    assert stac.EO in item.stac_extensions
    check_valid(item, tmp_path)


def test_no_colour_no_eo_extension(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "grey.tif", np.ones((32, 32), "float32"), Affine(10, 0, 500_000, 0, -10, 6_700_000),
                     CRS.from_epsg(32633))
    item = build(draft(path), workdir=tmp_path)
    assert stac.EO not in item.stac_extensions


def test_real_hyp3_rtc_sample_converts_and_validates(samples: Path, tmp_path: Path) -> None:
    name = "S1A_IW_20150621T120220_SVP_RTC30_G_gpuned_0AEA"
    assets = {}
    for suffix, kind, roles in (("VV", "continuous", ("data",)), ("VH", "continuous", ("data",)),
                                ("ls_map", "mask", ("metadata",)), ("dem", "continuous", ("metadata",))):
        cog = tmp_path / f"{name}_{suffix}.tif"
        source = samples / "hyp3" / "rtc" / f"rtc_{suffix}.tif"
        result = ensure_cog(source, cog, kind)
        # 10x10 striped files are valid COGs (no tiling needed under 512 px): linked, never re-encoded
        assert not result.converted and cog.read_bytes() == source.read_bytes()
        assert is_cog(cog)
        assets[suffix] = AssetDraft(path=cog, roles=roles, kind=kind)
    item = build(ItemDraft(id=name, collection="hyp3-rtc-gamma", datetime=WHEN, assets=assets), workdir=tmp_path)
    assert item.properties["proj:code"] == "EPSG:32615"
    assert item.assets["VV"].media_type == stac.COG
    with rasterio.open(samples / "hyp3" / "rtc" / "rtc_VV.tif") as ds:
        b = ds.bounds
    lons, lats = Transformer.from_crs(32615, 4326, always_xy=True).transform(
        [b.left, b.right, b.left, b.right], [b.bottom, b.bottom, b.top, b.top])
    assert item.bbox == pytest.approx([min(lons), min(lats), max(lons), max(lats)], abs=1e-4)
    assert item.assets["ls_map"].extra_fields["bands"][0]["data_type"] == "uint8"
    assert item.assets["dem"].extra_fields["bands"][0]["data_type"] == "int16"
    root = tmp_path / "cat"
    with CatalogStore(root) as store:
        store.ensure_collection(CollectionSpec("hyp3-rtc-gamma", "RTC"))
        store.add(item)
    report = validate_catalog(root)
    assert report.ok, report.format()


def test_real_appeears_sample_converts_and_validates(samples: Path, tmp_path: Path) -> None:
    src = samples / "appeears" / "polygon" / "MCD12Q2.006_Greenup_0_doy2010001_aid0001.tif"
    cog = tmp_path / src.name
    ensure_cog(src, cog, "continuous")
    item = build(draft(cog, item_id="MCD12Q2.006_Greenup_0_doy2010001_aid0001"), workdir=tmp_path)
    assert item.properties["proj:code"] == "EPSG:4326"
    band = item.assets["data"].extra_fields["bands"][0]
    assert band["nodata"] == 32767 and band["data_type"] == "int16" and band["unit"] == "Day"
    with rasterio.open(src) as ds:
        assert item.properties["proj:shape"] == [ds.height, ds.width]
        b = ds.bounds
    west, south, east, north = item.bbox
    assert b.left - 1e-6 <= west and east <= b.right + 1e-6 and b.bottom - 1e-6 <= south and north <= b.top + 1e-6
    check_valid(item, tmp_path)


def test_corrupt_raster_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    with pytest.raises(NotARasterError, match="broken.tif"):
        build(draft(bad))


def test_missing_asset_file_names_item_asset_and_path(tmp_path: Path) -> None:
    gone = tmp_path / "gone.csv"
    with pytest.raises(CatalogError, match=r"item 'item-1', asset 'table': file not found: .*gone.csv"):
        build(draft(gone, assets={"table": AssetDraft(path=gone)}, geometry={"type": "Point", "coordinates": [0, 0]}))


def test_no_geometry_at_all_is_an_error(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(CatalogError, match="no geometry"):
        build(draft(csv, assets={"t": AssetDraft(path=csv)}))


def test_unsafe_id_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidIdError):
        build(draft(tmp_path / "x.tif", item_id="../escape"))
    assert list(tmp_path.iterdir()) == []


def test_shared_sample_files_are_not_touched(samples: Path, tmp_path: Path) -> None:
    """The builder reads a raster where it lies, and the pipeline hard-links a valid COG into the item's folder
    (same inode as the original): either way the original keeps its bytes, size, mode and time, and gets no
    sidecar (``.aux.xml``) beside it."""
    src = samples / "hyp3" / "rtc" / "rtc_VV.tif"

    def state(path: Path) -> tuple[str, int, int, int]:
        info = path.stat()
        return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_size, info.st_mode, info.st_mtime_ns

    before, listing = state(src), sorted(p.name for p in src.parent.iterdir())

    def assert_untouched() -> None:
        assert state(src) == before
        assert sorted(p.name for p in src.parent.iterdir()) == listing

    (tmp_path / "direct").mkdir()
    build(draft(src), workdir=tmp_path / "direct")  # the sample itself
    assert_untouched()
    placed = tmp_path / "item" / "item-1_VV.tif"
    placed.parent.mkdir()
    assert not ensure_cog(src, placed).converted  # a hard link to the sample where the file system allows it
    build(draft(placed), workdir=placed.parent)
    assert_untouched()
