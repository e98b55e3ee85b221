"""The demo: a complete catalog from deterministic synthetic rasters and a table.

Until the provider simulators exist this stands in for them: it writes small realistic products (SAR
backscatter in UTM with a rotated valid-data swath, a scaled NDVI in lon/lat, MODIS-sinusoidal land cover
with a colour map, a scene across the antimeridian, and a point table), turns rasters into COGs, builds
items and writes them with the catalog writer, then validates the result offline. Everything derives from
fixed seeds, so running it again into the same folder rewrites nothing.
"""

from __future__ import annotations

import csv
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from catalogs import stac
from catalogs.cog import ensure_cog
from catalogs.drafts import AssetDraft, ItemDraft, RasterKind
from catalogs.items import build
from catalogs.store import STATE_DIR, CatalogStore, CollectionSpec
from catalogs.validate import ValidationReport, validate_catalog

log = logging.getLogger(__name__)

SINUSOIDAL = CRS.from_wkt(
    'PROJCS["MODIS Sinusoidal",GEOGCS["Custom",DATUM["Custom",SPHEROID["Custom",6371007.181,0]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Sinusoidal"],'
    'PARAMETER["longitude_of_center",0],PARAMETER["false_easting",0],PARAMETER["false_northing",0],'
    'UNIT["metre",1]]'
)
DEMO_PROVIDER = {"name": "stac-harvester demo", "roles": ["producer", "processor", "host"]}


@dataclass
class DemoResult:
    root: Path
    items: dict[str, int]
    report: ValidationReport


def run_demo(out: Path) -> DemoResult:
    """Build the demo catalog in ``out`` and validate it."""
    out = Path(out)
    with CatalogStore(out, title="stac-harvester demo",
                      description="Synthetic products standing in for the provider simulators") as store:
        staging = out / STATE_DIR / "demo-staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            for spec in COLLECTIONS:
                store.ensure_collection(spec)
            for draft in _drafts(staging):
                store.add(build(draft, workdir=staging), assets="move")
            counts = {spec.id: store.count(spec.id) for spec in COLLECTIONS}
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    report = validate_catalog(out)
    log.info("demo catalog at %s: %d objects, %s", out, len(report.objects), "valid" if report.ok else "INVALID")
    return DemoResult(out.resolve(), counts, report)


COLLECTIONS = [
    CollectionSpec("demo-sar-rtc", "Synthetic radiometrically terrain-corrected SAR backscatter (gamma0, power), "
                   "UTM zone 33N, with a rotated valid-data swath.", title="Demo SAR backscatter",
                   license="CC-BY-4.0", providers=[DEMO_PROVIDER], keywords=["sar", "backscatter", "demo"],
                   summaries=["platform", "proj:code"]),
    CollectionSpec("demo-ndvi", "Synthetic NDVI, int16 scaled by 0.0001, geographic lon/lat.", title="Demo NDVI",
                   license="CC-BY-4.0", providers=[DEMO_PROVIDER], keywords=["ndvi", "demo"], summaries=["proj:code"]),
    CollectionSpec("demo-landcover", "Synthetic land cover classes on the MODIS sinusoidal grid (no EPSG code).",
                   title="Demo land cover", license="CC-BY-4.0", providers=[DEMO_PROVIDER], keywords=["demo"]),
    CollectionSpec("demo-antimeridian", "A synthetic scene in UTM zone 60N that crosses the antimeridian.",
                   title="Demo antimeridian", license="CC-BY-4.0", providers=[DEMO_PROVIDER], keywords=["demo"]),
    CollectionSpec("demo-points", "Synthetic ground-motion points as a CSV table.", title="Demo points",
                   license="CC-BY-4.0", providers=[DEMO_PROVIDER], keywords=["insar", "demo"]),
]


def _drafts(staging: Path) -> list[ItemDraft]:
    drafts = []
    for day, seed in ((3, 1), (15, 2)):
        drafts.append(_sar_draft(staging, datetime(2023, 6, day, 5, 12, 40, tzinfo=timezone.utc), seed))
        drafts.append(_ndvi_draft(staging, datetime(2023, 7, day, tzinfo=timezone.utc), seed))
    drafts.append(_landcover_draft(staging))
    drafts.append(_antimeridian_draft(staging))
    drafts.append(_points_draft(staging))
    return drafts


def _sar_draft(staging: Path, when: datetime, seed: int) -> ItemDraft:
    item_id = f"DEMO_S1A_IW_{when:%Y%m%dT%H%M%S}_RTC20"
    height, width = 900, 1100
    transform = Affine(20.0, 0, 500_000.0, 0, -20.0, 7_700_000.0)
    rows, cols = np.mgrid[0:height, 0:width]
    # A swath tilted like a real ascending pass: valid between two slanted lines.
    swath = (cols - 0.18 * rows > 80) & (cols - 0.18 * rows < 900)
    rng = np.random.default_rng(seed)
    terrain = 0.08 + 0.05 * np.sin(rows / 70.0) * np.cos(cols / 90.0)
    assets = {}
    for pol, level in (("VV", 1.0), ("VH", 0.25)):
        gamma0 = (terrain * level * rng.gamma(4.0, 0.25, size=(height, width))).astype("float32")
        gamma0[~swath] = 0
        path = _tif(staging / f"{item_id}_{pol}.tif", gamma0, transform, CRS.from_epsg(32633), nodata=0,
                    description=f"gamma0 {pol} power")
        assets[pol] = _cog(path, "continuous", roles=("data",), title=f"{pol} backscatter (gamma0, power)")
    ls_map = np.where(swath, (rng.random((height, width)) > 0.97).astype("uint8") * 2 + 1, 0).astype("uint8")
    path = _tif(staging / f"{item_id}_ls_map.tif", ls_map, transform, CRS.from_epsg(32633), nodata=0)
    assets["ls_map"] = _cog(path, "mask", roles=("metadata",), title="Layover/shadow mask")
    return ItemDraft(
        id=item_id, collection="demo-sar-rtc", datetime=when,
        properties={"platform": "sentinel-1a", "constellation": "sentinel-1", "instruments": ["c-sar"]},
        assets=assets,
    )


def _ndvi_draft(staging: Path, when: datetime, seed: int) -> ItemDraft:
    item_id = f"DEMO_NDVI_{when:%Y%j}"
    height, width = 480, 720
    transform = Affine(0.0025, 0, 20.0, 0, -0.0025, 70.2)
    rows, cols = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    ndvi = 0.55 + 0.3 * np.sin(cols / 60.0) * np.cos(rows / 45.0) + rng.normal(0, 0.03, (height, width))
    data = np.clip(ndvi * 10_000, -2000, 10_000).astype("int16")
    data[(rows - 240) ** 2 + (cols - 500) ** 2 < 60**2] = -3000  # a cloud: nodata
    path = _tif(staging / f"{item_id}.tif", data, transform, CRS.from_epsg(4326), nodata=-3000,
                tags={"scale_factor": "0.0001", "add_offset": "0", "units": "NDVI"})
    return ItemDraft(id=item_id, collection="demo-ndvi", datetime=when, properties={},
                     assets={"ndvi": _cog(path, "continuous", roles=("data",), title="NDVI")})


def _landcover_draft(staging: Path) -> ItemDraft:
    item_id = "DEMO_LANDCOVER_h18v02_2022"
    height, width = 600, 600
    transform = Affine(463.3127, 0, 0.0, 0, -463.3127, 7_783_653.6)  # MODIS tile h18v02, 463 m cells
    rows, cols = np.mgrid[0:height, 0:width]
    classes = (1 + ((rows // 75) * 3 + (cols // 120)) % 7).astype("uint8")
    classes[:20, :] = 255
    path = _tif(staging / f"{item_id}.tif", classes, transform, SINUSOIDAL, nodata=255,
                colormap={1: (0, 100, 0, 255), 2: (34, 139, 34, 255), 3: (154, 205, 50, 255), 4: (240, 230, 140, 255),
                          5: (210, 180, 140, 255), 6: (70, 130, 180, 255), 7: (128, 128, 128, 255)})
    return ItemDraft(id=item_id, collection="demo-landcover",
                     start_datetime=datetime(2022, 1, 1, tzinfo=timezone.utc),
                     end_datetime=datetime(2022, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
                     datetime=datetime(2022, 1, 1, tzinfo=timezone.utc), properties={},
                     assets={"landcover": _cog(path, "categorical", roles=("data",), title="Land cover class")})


def _antimeridian_draft(staging: Path) -> ItemDraft:
    item_id = "DEMO_CHUKOTKA_20230801"
    height, width = 500, 500
    # UTM 60N (central meridian 177E), 120-170 km east of it at ~65N: about 179.6E to 180.7E.
    transform = Affine(100.0, 0, 620_000.0, 0, -100.0, 7_300_000.0)
    rows, cols = np.mgrid[0:height, 0:width]
    data = (280.0 + 10 * np.sin(rows / 40.0) + 5 * np.cos(cols / 25.0)).astype("float32")
    path = _tif(staging / f"{item_id}.tif", data, transform, CRS.from_epsg(32660), nodata=None, units="K")
    return ItemDraft(id=item_id, collection="demo-antimeridian",
                     datetime=datetime(2023, 8, 1, 23, 40, tzinfo=timezone.utc), properties={},
                     assets={"temperature": _cog(path, "continuous", roles=("data",), title="Surface temperature")})


def _points_draft(staging: Path) -> ItemDraft:
    item_id = "DEMO_POINTS_160_IW1_414"
    rng = np.random.default_rng(7)
    lons = 20.14 + rng.random(50) * 0.04
    lats = 69.33 + rng.random(50) * 0.014
    path = staging / f"{item_id}.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["pid", "latitude", "longitude", "mean_velocity"])
        for i, (lon, lat) in enumerate(zip(lons, lats)):
            writer.writerow([f"p{i:04d}", f"{lat:.6f}", f"{lon:.6f}", f"{rng.normal(-2, 3):.2f}"])
    hull = [[round(float(lons.min()), 6), round(float(lats.min()), 6)], [round(float(lons.max()), 6), round(float(lats.min()), 6)],
            [round(float(lons.max()), 6), round(float(lats.max()), 6)], [round(float(lons.min()), 6), round(float(lats.max()), 6)]]
    return ItemDraft(
        id=item_id, collection="demo-points", datetime=datetime(2023, 9, 1, tzinfo=timezone.utc), properties={},
        geometry={"type": "Polygon", "coordinates": [hull + [hull[0]]]},
        assets={"points": AssetDraft(path=path, roles=("data",), media_type=stac.CSV, title="Points")},
    )


def _tif(path: Path, data: np.ndarray, transform: Affine, crs: CRS, *, nodata: float | None,
         description: str | None = None, units: str | None = None, tags: dict[str, str] | None = None,
         colormap: dict[int, tuple[int, int, int, int]] | None = None) -> Path:
    """A plain striped GeoTIFF, like the non-COG outputs many providers deliver."""
    profile = {"driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1,
               "dtype": data.dtype.name, "crs": crs, "transform": transform, "nodata": nodata, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as ds:
        if colormap:  # before the pixels: libtiff cannot change the photometric tag once writing began
            ds.write_colormap(1, colormap)
        ds.write(data, 1)
        if description:
            ds.set_band_description(1, description)
        if units:
            ds.set_band_unit(1, units)
        if tags:
            ds.update_tags(**tags)
    return path


def _cog(path: Path, kind: RasterKind, *, roles: tuple[str, ...], title: str) -> AssetDraft:
    target = path.with_name(path.stem + ".cog.tif")
    ensure_cog(path, target, kind)
    target.replace(path)  # keep the product's own file name
    return AssetDraft(path=path, roles=roles, title=title, kind=kind)
