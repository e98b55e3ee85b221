"""Translation of HyP3 products into items, with the real RTC sample rasters packed like a real product."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pystac
import pytest
import rasterio
from shapely.geometry import shape

from adapters.base import JobRef, JobState, JobStatus, RemoteFile
from adapters.errors import BadProductError
from adapters.hyp3.adapter import Hyp3Adapter, Hyp3Settings, collection_spec
from adapters.hyp3.jobs import API_EXAMPLES
from adapters.hyp3.simproducts import make_product
from catalogs import stac
from catalogs.store import CatalogStore
from catalogs.validate import validate_catalog
from harvester.work import build_item

PRODUCT = "S1A_IW_20150621T120220_DVP_RTC30_G_gpuned_0AEA"
JOB_ID = "20c377be-2511-46a8-b908-e015abd3c24e"
URL = f"https://hyp3-contentbucket.s3.us-west-2.amazonaws.com/{JOB_ID}"


def _record(job_type: str = "RTC_GAMMA", files: list[str] | None = None) -> dict:
    return {"job_id": JOB_ID, "job_type": job_type, "name": "sample-rtc", "status_code": "SUCCEEDED",
            "user_id": "someone", "request_time": "2021-02-24T21:30:45+00:00",
            "expiration_time": "2099-03-11T00:00:00+00:00",
            "job_parameters": {"granules": ["S1A_IW_SLC__1SDV_20150621T120220_20150621T120232_006471_008934_72D8"],
                               "include_dem": True, "include_inc_map": True, "include_scattering_area": True},
            "files": [{"filename": name, "url": f"{URL}/{name}", "size": 1} for name in (files or [f"{PRODUCT}.zip"])]}


def _status(record: dict) -> JobStatus:
    return JobStatus(JobState.SUCCEEDED, expires=datetime(2099, 3, 11, tzinfo=timezone.utc), meta=record)


@pytest.fixture
def rtc_samples(samples: Path) -> Path:
    return samples / "hyp3" / "rtc"


def _sample_zip(rtc_samples: Path, folder: Path, extra: dict[str, bytes] | None = None) -> Path:
    """The sample rasters as GAMMA names them inside a real RTC zip (``<name>/<name>_VV.tif`` ...)."""
    archive = folder / f"{PRODUCT}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for sample in sorted(rtc_samples.iterdir()):
            suffix = sample.name[len("rtc"):]  # "_VV.tif", ".png", "_rgb.png"
            zf.write(sample, f"{PRODUCT}/{PRODUCT}{suffix}")
        zf.writestr(f"{PRODUCT}/{PRODUCT}.README.md.txt", "RTC product README\n")
        zf.writestr(f"{PRODUCT}/{PRODUCT}.log", "GAMMA log\n")
        zf.writestr(f"{PRODUCT}/{PRODUCT}_VV.tif.xml", "<metadata/>")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return archive


def _translate(tmp_path: Path, archive: Path, record: dict | None = None) -> list:
    record = record or _record()
    outputs = [RemoteFile(f"{URL}/{archive.name}", archive.name)]
    return Hyp3Adapter.translate(JobRef("hyp3", JOB_ID), _status(record), outputs, {archive.name: archive},
                                 tmp_path / "work", "download", Hyp3Settings())


def test_real_rtc_sample_becomes_a_valid_item_in_utm_15n(rtc_samples: Path, tmp_path: Path) -> None:
    drafts = _translate(tmp_path, _sample_zip(rtc_samples, tmp_path))
    assert len(drafts) == 1
    draft = drafts[0]
    assert draft.id == PRODUCT and draft.collection == "hyp3-rtc-gamma"
    assert {"VV", "VH", "area", "dem", "inc_map", "ls_map", "rgb", "browse", "rgb-browse", "readme", "log",
            "VV-xml"} <= set(draft.assets)
    assert draft.assets["VV"].roles == ("data", "backscatter") and draft.assets["ls_map"].kind == "mask"
    assert draft.assets["browse"].roles == ("overview",)
    built = build_item(draft, tmp_path / "item")
    item = pystac.Item.from_dict(built.item)
    assert item.properties["proj:code"] == "EPSG:32615"
    # the samples lie in UTM 15N (around 93-96 W, in the northern hemisphere): the footprint is WGS84 lon/lat
    lon, lat = shape(item.geometry).centroid.coords[0]
    assert -96.0 < lon < -90.0 and 0.0 < lat < 84.0
    assert item.datetime == datetime(2015, 6, 21, 12, 2, 20, tzinfo=timezone.utc)
    props = item.properties
    assert props["platform"] == "sentinel-1a" and props["constellation"] == "sentinel-1"
    assert props["sat:platform_international_designator"] == "2014-016A"
    assert props["sar:polarizations"] == ["VV", "VH"] and props["sar:instrument_mode"] == "IW"
    assert props["sar:frequency_band"] == "C" and props["sar:center_frequency"] == 5.405
    assert props["sar:product_type"] == "RTC" and props["sar:observation_direction"] == "right"
    assert props["hyp3:job_id"] == JOB_ID and props["hyp3:job_name"] == "sample-rtc"
    assert props["hyp3:radiometry"] == "gamma0" and props["hyp3:scale"] == "power"
    assert item.assets["VV"].media_type == stac.COG
    assert item.assets["VV"].extra_fields["bands"][0]["nodata"] == 0
    assert item.assets["dem"].extra_fields["bands"][0]["data_type"] == "int16"
    assert item.assets["ls_map"].extra_fields["bands"][0]["data_type"] == "uint8"
    assert "thumbnail" in item.assets  # made from the footprint raster: HyP3 thumbnails were not downloaded
    with CatalogStore(tmp_path / "catalog", title="t", description="d") as store:
        store.ensure_collection(collection_spec("hyp3-rtc-gamma"))
        store.add(item, assets="move")
    report = validate_catalog(tmp_path / "catalog")
    assert report.ok, report.format()
    assert len(report.objects) == 3


def test_a_traversal_entry_is_refused_naming_the_job(rtc_samples: Path, tmp_path: Path) -> None:
    archive = _sample_zip(rtc_samples, tmp_path, {"../../evil.txt": b"x"})
    with pytest.raises(BadProductError, match=f"HyP3 job {JOB_ID}: {PRODUCT}.zip: entry '../../evil.txt'"):
        _translate(tmp_path, archive)
    assert not (tmp_path / "evil.txt").exists()


def test_a_product_with_an_unknown_name_is_a_clear_error(tmp_path: Path) -> None:
    archive = tmp_path / "my_product.zip"
    archive.write_bytes(b"")
    record = _record(files=["my_product.zip"])
    with pytest.raises(BadProductError) as caught:
        _translate(tmp_path, archive, record)
    assert str(caught.value) == (f"HyP3 job {JOB_ID}: my_product.zip: not a HyP3 product name: "
                                 "no known product name at the start of 'my_product.zip'")


def test_a_product_without_rasters_is_a_clear_error(tmp_path: Path) -> None:
    archive = tmp_path / f"{PRODUCT}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{PRODUCT}/{PRODUCT}.README.md.txt", "only a readme")
    with pytest.raises(BadProductError, match="has no georeferenced raster"):
        _translate(tmp_path, archive)


SHAPEFILE = {f"{PRODUCT}/{PRODUCT}_shape{ext}": b"x" for ext in (".shp", ".shx", ".dbf", ".prj")}
ARCGIS_XML = {f"{PRODUCT}/{PRODUCT}_{raster}.tif.xml": b"<metadata/>" for raster in ("VH", "inc_map", "ls_map")}


def _built(tmp_path: Path, archive: Path, record: dict | None = None) -> pystac.Item:
    return pystac.Item.from_dict(build_item(_translate(tmp_path, archive, record)[0], tmp_path / "item").item)


def test_rtc_times_orbits_and_raster_facts_of_the_real_sample(rtc_samples: Path, tmp_path: Path) -> None:
    item = _built(tmp_path, _sample_zip(rtc_samples, tmp_path, {**SHAPEFILE, **ARCGIS_XML}))
    props = item.properties
    # the job's granule S1A_IW_SLC__1SDV_20150621T120220_20150621T120232_006471_...: its span and orbit
    assert item.datetime == datetime(2015, 6, 21, 12, 2, 20, tzinfo=timezone.utc)
    assert (props["start_datetime"], props["end_datetime"]) == ("2015-06-21T12:02:20Z", "2015-06-21T12:02:32Z")
    assert (props["sat:absolute_orbit"], props["sat:relative_orbit"]) == (6471, 99)
    assert "sat:orbit_state" not in props  # an RTC product says nothing of its pass direction
    assert stac.SAT in item.stac_extensions
    vv = item.assets["VV"]
    assert vv.title == "VV gamma0 backscatter (linear power)" and "unit" not in vv.extra_fields["bands"][0]
    assert vv.description == "Radiometrically terrain corrected gamma0 backscatter, VV polarization, linear power"
    assert vv.extra_fields["bands"][0]["raster:sampling"] == "point"  # the real GeoTIFF's AREA_OR_POINT=Point
    assert item.assets["inc_map"].extra_fields["bands"][0]["unit"] == "rad"
    assert {key: item.assets[key].title for key in ("VV-xml", "VH-xml", "inc_map-xml", "ls_map-xml")} == {
        "VV-xml": "Metadata (XML): VV backscatter", "VH-xml": "Metadata (XML): VH backscatter",
        "inc_map-xml": "Metadata (XML): Incidence angle map", "ls_map-xml": "Metadata (XML): Layover/shadow mask"}
    assert {key: item.assets[key].media_type for key in ("shape-shp", "shape-shx", "shape-dbf", "shape-prj")} == {
        "shape-shp": "application/vnd.shp", "shape-shx": "application/vnd.shx", "shape-dbf": "application/vnd.dbf",
        "shape-prj": "text/plain"}
    with CatalogStore(tmp_path / "catalog", title="t", description="d") as store:
        store.ensure_collection(collection_spec("hyp3-rtc-gamma"))
        store.add(item, assets="move")
    report = validate_catalog(tmp_path / "catalog")
    assert report.ok, report.format()
    collection = pystac.Collection.from_file(str(tmp_path / "catalog" / "hyp3-rtc-gamma" / "collection.json"))
    assert collection.license == "other"
    assert [(link.rel, link.href) for link in collection.links if link.rel == "license"] == [
        ("license", "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice")]
    assert {stac.SAR, stac.SAT, stac.PROJECTION} <= set(collection.stac_extensions)
    assert collection.summaries.get_range("sat:relative_orbit").minimum == 99


def test_a_decibel_product_says_db(rtc_samples: Path, tmp_path: Path) -> None:
    decibel = PRODUCT.replace("_gpuned_", "_gduned_")
    archive = tmp_path / f"{decibel}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for pol in ("VV", "VH"):
            zf.write(rtc_samples / f"rtc_{pol}.tif", f"{decibel}/{decibel}_{pol}.tif")
    record = _record(files=[archive.name])
    item = _built(tmp_path, archive, record)
    for pol in ("VV", "VH"):
        assert item.assets[pol].title == f"{pol} gamma0 backscatter (power in dB)"
        assert item.assets[pol].extra_fields["bands"][0]["unit"] == "dB"


@pytest.mark.parametrize(("corner", "lon", "lat"), [
    ("12768E_00423S", 127.68, -4.23),   # hundredths of a degree: the corner of the grid
    ("00128E_00004S", 128.0, -4.0),     # whole degrees, as some processor versions wrote it: the grid says which
    ("00129E_00005S", 1.29, -0.05),     # neither fits the grid: read as the name form says
])
def test_the_gunw_corner_is_read_as_the_grid_shows(tmp_path: Path, corner: str, lon: float, lat: float) -> None:
    spec = next(job for job in API_EXAMPLES if job["job_type"] == "ARIA_S1_GUNW")
    product = make_product("ARIA_S1_GUNW", spec["job_parameters"], "job-gunw", raster_size=64)
    name = re.sub(r"\d{5}[EW]_\d{5}[NS]", corner, product.name)
    nc = tmp_path / f"{name}.nc"
    nc.write_bytes(product.files[product.archive])
    record = {**_record("ARIA_S1_GUNW", [nc.name]), "job_parameters": spec["job_parameters"]}
    outputs = [RemoteFile(f"{URL}/{nc.name}", nc.name)]
    [draft] = Hyp3Adapter.translate(JobRef("hyp3", JOB_ID), _status(record), outputs, {nc.name: nc},
                                    tmp_path / "work", "download", Hyp3Settings())
    with rasterio.open(draft.assets["unwrapped_phase"].path) as ds:
        west, south = ds.bounds.left, ds.bounds.bottom
    assert (round(west, 2), round(south, 2)) == (127.68, -4.23)  # the simulated frame's grid
    assert (draft.properties["hyp3:lon"], draft.properties["hyp3:lat"]) == (lon, lat)
