"""HyP3 products -> item drafts: one item per product, its files as assets, its name as properties.

Runs in a worker process (`Hyp3Adapter.translate`): everything here is a function of the job record and
the downloaded files, with no network. Two shapes of input:

- download mode: the product archive (a zip, unpacked safely; or a netCDF) plus the thumbnail and log
  files (browse images are taken from the zip). Every GeoTIFF becomes an asset keyed by its suffix (the
  engine makes it a COG); a netCDF product also gets GeoTIFFs of its main variables (autoRIFT ``v``,
  ``vx``, ``vy``; GUNW ``unwrappedPhase``);
- remote mode (RTC products, which HyP3 publishes as COGs file by file): assets are the published URLs,
  with the item's ``expires`` set to the job's expiration time.

Times, satellites, orbits, pass direction and looks come from `adapters.hyp3.acquisitions` (the job's
granules, the parameter file, the GUNW's own granule list, the product name).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import rasterio

from adapters.archives import safe_unzip
from adapters.base import JobRef, JobStatus, RemoteFile
from adapters.errors import BadProductError
from adapters.hyp3 import acquisitions
from adapters.hyp3.acquisitions import Acquisitions
from adapters.hyp3.assets import BACKSCATTER, FOOTPRINT_PREFERENCE, AssetRule, describe
from adapters.hyp3.names import ProductName, UnknownProductNameError, collection_id, split_file_name
from adapters.hyp3.parameters import ParameterFile, read_parameters
from adapters.netcdf import variable_to_geotiff
from catalogs import stac
from catalogs.drafts import AssetDraft, ItemDraft

log = logging.getLogger(__name__)

#: the variables of a netCDF product that are also written as GeoTIFFs (then COGs): (variable, key, title)
MAIN_VARIABLES = {
    "AUTORIFT": (("v", "v", "Velocity magnitude"), ("vx", "vx", "Velocity, x component"),
                 ("vy", "vy", "Velocity, y component")),
    "ARIA_S1_GUNW": (("/science/grids/data/unwrappedPhase", "unwrapped_phase", "Unwrapped phase"),),
}
#: units as netCDF products spell them -> the one spelling the catalog uses
UNIT_SPELLINGS = {"radians": "rad", "radian": "rad", "degrees": "deg", "degree": "deg"}
#: how the backscatter of a product with each ``scale`` is expressed
SCALES = {"power": "linear power", "amplitude": "linear amplitude", "decibel": "power in dB"}


PRODUCT_TYPES = {"RTC_GAMMA": "RTC", "OPERA_RTC_S1": "RTC", "INSAR_GAMMA": "INTERFEROGRAM",
                 "INSAR_ISCE_BURST": "INTERFEROGRAM", "INSAR_ISCE_MULTI_BURST": "INTERFEROGRAM",
                 "ARIA_S1_GUNW": "GUNW", "AUTORIFT": "OFFSET_TRACKING"}
SOFTWARE = {"RTC_GAMMA": "GAMMA", "INSAR_GAMMA": "GAMMA", "INSAR_ISCE_BURST": "ISCE2",
            "INSAR_ISCE_MULTI_BURST": "ISCE2", "ARIA_S1_GUNW": "ISCE2", "AUTORIFT": "autoRIFT",
            "OPERA_RTC_S1": "OPERA RTC-S1"}
#: COSPAR designators of the Sentinel-1 satellites
INTERNATIONAL_DESIGNATORS = {"sentinel-1a": "2014-016A", "sentinel-1b": "2016-025A", "sentinel-1c": "2024-235A"}
SENTINEL1_CENTER_FREQUENCY_GHZ = 5.405


def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
              workdir: Path, assets: str, settings: Any) -> list[ItemDraft]:
    """The item draft of one finished HyP3 job (see the module docstring)."""
    record = status.meta
    what = f"HyP3 job {job.id}"
    product_file = _product_output(outputs, what)
    product = _parse(product_file.name, what)
    job_type = record.get("job_type") or product.job_type

    drafts: dict[str, AssetDraft] = {}
    expires = None
    if not product_file.fetch:  # remote assets: outputs(...) listed the published files instead
        expires = status.expires
        for remote in outputs:
            _add(drafts, *_remote_asset(remote, product, job.id), remote.name)
    else:
        delivered = _add_product(drafts, product, product_file, files, workdir, what,
                                 int(settings.max_unzip_gb * 2**30))
        for remote in outputs:
            # browse images are in the zip too: the copy inside the product is the one kept
            if remote is product_file or remote.name not in files or remote.name in delivered:
                continue
            _add(drafts, *_draft(files[remote.name], _rule_for(remote.name, product, job.id)), remote.name)

    footprint = next((key for key in FOOTPRINT_PREFERENCE if key in drafts), None)
    if footprint is None:
        raise BadProductError(f"{what}: product {product.name} has no georeferenced raster to describe it")
    _describe_backscatter(drafts, product, job_type)
    if job_type == "ARIA_S1_GUNW" and drafts[footprint].path is not None:
        product = _gunw_corner_checked(product, drafts[footprint].path)
    scenes = acquisitions.describe(product, record.get("job_parameters") or {}, _parameter_file(drafts),
                                   _input_granules(job_type, product_file, files, what),
                                   _identification(job_type, drafts, what))
    properties, extensions = _properties(product, record, job, expires, scenes)
    start, end = scenes.start, scenes.end
    single_time = start == end
    return [ItemDraft(
        id=product.name,
        collection=collection_id(job_type),
        # a pair also has one datetime, its reference scene's: STAC Browser shows "Time of Data: n/a" otherwise
        datetime=scenes.reference.start,
        start_datetime=None if single_time else start,
        end_datetime=None if single_time else end,
        properties=properties,
        assets=drafts,
        stac_extensions=extensions,
        footprint_asset=footprint,
    )]


def _product_output(outputs: list[RemoteFile], what: str) -> RemoteFile:
    """The product itself: the zip or netCDF that ``files`` lists (or, for products published as loose
    files, the first data GeoTIFF)."""
    for suffixes in ((".zip",), (".nc",), (".tif",)):
        for remote in outputs:
            if remote.name.lower().endswith(suffixes) and not remote.optional:
                return remote
    raise BadProductError(f"{what}: the job lists no product file (.zip, .nc or .tif)")


def _parse(file_name: str, what: str) -> ProductName:
    try:
        product, _suffix = split_file_name(file_name)
    except UnknownProductNameError as exc:
        raise BadProductError(f"{what}: {exc}") from exc
    return product


def _add_product(drafts: dict[str, AssetDraft], product: ProductName, product_file: RemoteFile,
                 files: Mapping[str, Path], workdir: Path, what: str, max_bytes: int) -> set[str]:
    """Add the product's own files; returns their base names."""
    path = files.get(product_file.name)
    if path is None:
        raise BadProductError(f"{what}: the product file {product_file.name} was not downloaded")
    lower = product_file.name.lower()
    if lower.endswith(".zip"):
        unzipped = safe_unzip(path, workdir / "unzipped", max_total_bytes=max_bytes, what=what)
        for entry, local in sorted(unzipped.files.items()):
            _add(drafts, *_draft(local, _rule_for(entry, product, None)), entry)
        return {entry.rsplit("/", 1)[-1] for entry in unzipped.files}
    elif lower.endswith(".nc"):
        drafts["netcdf"] = AssetDraft(path, roles=("data",), title="Product (netCDF)", media_type=stac.NETCDF)
        for variable, key, title in MAIN_VARIABLES.get(product.job_type, ()):
            tif = variable_to_geotiff(path, variable, workdir / f"{product.name}_{key}.tif", what=what,
                                      unit_spellings=UNIT_SPELLINGS)
            drafts[key] = AssetDraft(tif, roles=("data",), title=title, kind="continuous")
    else:  # a product published as loose files (OPERA RTC): the GeoTIFF itself
        _add(drafts, *_draft(path, _rule_for(product_file.name, product, None)), product_file.name)
    return {product_file.name}


def _rule_for(file_name: str, product: ProductName, job_id: str | None) -> AssetRule:
    base = file_name.rsplit("/", 1)[-1]
    if job_id is not None and base == f"{job_id}.log":
        return AssetRule("job-log", "HyP3 job log", ("metadata",), media_type=stac.TEXT)
    if base.startswith(product.name):
        return describe(base[len(product.name):])
    try:  # a file of another product name (a browse image named differently): describe it by its own
        _other, suffix = split_file_name(base)
        return describe(suffix)
    except UnknownProductNameError:
        return describe("_" + base)


def _draft(path: Path, rule: AssetRule) -> tuple[str, AssetDraft]:
    fields = {"unit": rule.unit} if rule.unit else {}
    return rule.key, AssetDraft(path, roles=rule.roles, title=rule.title, media_type=rule.media_type,
                                kind=rule.kind, fields=fields, cog=rule.cog)


def _remote_asset(remote: RemoteFile, product: ProductName, job_id: str) -> tuple[str, AssetDraft]:
    rule = _rule_for(remote.name, product, job_id)
    media = rule.media_type
    if remote.name.lower().endswith((".tif", ".tiff")):
        media = stac.COG  # HyP3 publishes RTC GeoTIFFs as COGs
    return rule.key, AssetDraft(href=remote.url, roles=rule.roles, title=rule.title, media_type=media,
                                kind=rule.kind)


def _add(drafts: dict[str, AssetDraft], key: str, draft: AssetDraft, name: str) -> None:
    """Add an asset under its rule's key; a second file with the same key is keyed by its file name."""
    if key in drafts:
        key = name.rsplit("/", 1)[-1]
    drafts[key] = draft


def _describe_backscatter(drafts: dict[str, AssetDraft], product: ProductName, job_type: str) -> None:
    """Backscatter assets say what they hold: gamma0 or sigma0, in power, amplitude or decibels (``dB``)."""
    if job_type == "OPERA_RTC_S1":
        radiometry, scale = "gamma0", "power"  # OPERA RTC-S1 backscatter is gamma0 in linear power
    else:
        radiometry, scale = product.options.get("radiometry"), product.options.get("scale")
    if not isinstance(radiometry, str) or scale not in SCALES:
        return
    for pol in BACKSCATTER:
        if pol in drafts:
            draft = drafts[pol]
            draft.title = f"{pol} {radiometry} backscatter ({SCALES[scale]})"
            draft.description = (f"Radiometrically terrain corrected {radiometry} backscatter, {pol} polarization, "
                                 f"{SCALES[scale]}")
            if scale == "decibel":
                draft.fields.setdefault("unit", "dB")


def _parameter_file(drafts: Mapping[str, AssetDraft]) -> ParameterFile | None:
    draft = drafts.get("parameters")
    return read_parameters(draft.path) if draft is not None and draft.path is not None else None


def _input_granules(job_type: str, product_file: RemoteFile, files: Mapping[str, Path], what: str
                    ) -> tuple[list[str], list[str]] | None:
    """The granules a GUNW product lists inside itself (other products do not)."""
    path = files.get(product_file.name)
    if job_type != "ARIA_S1_GUNW" or path is None or not product_file.name.lower().endswith(".nc"):
        return None
    return acquisitions.read_gunw_granules(path, what=what)


def _identification(job_type: str, drafts: Mapping[str, AssetDraft], what: str
                    ) -> acquisitions.Identification | None:
    """What an OPERA RTC-S1 product's HDF5 file states about its burst."""
    draft = drafts.get("hdf5")
    if job_type != "OPERA_RTC_S1" or draft is None or draft.path is None:
        return None
    return acquisitions.read_opera_identification(draft.path, what=what)


def _gunw_corner_checked(product: ProductName, raster: Path) -> ProductName:
    """The corner of a GUNW name, read as hundredths of a degree, unless the raster shows it is in degrees:
    products written by some versions of the processor name it in whole degrees (``00121E_00010S``)."""
    lon, lat = product.options["lon"], product.options["lat"]
    with rasterio.open(raster) as ds:
        west, south, east, north = ds.bounds

    def near(x: float, y: float) -> bool:
        return west - 1 <= x <= east + 1 and south - 1 <= y <= north + 1

    whole = float(round(lon * 100)), float(round(lat * 100))  # the field's digits as degrees
    if not near(lon, lat) and near(*whole):
        log.info("%s: the corner %s is in whole degrees", product.name, product.options["lon_lat"])
        return replace(product, options={**product.options, "lon": whole[0], "lat": whole[1]})
    return product


def _properties(product: ProductName, record: Mapping[str, Any], job: JobRef, expires: datetime | None,
                scenes: Acquisitions) -> tuple[dict[str, Any], list[str]]:
    job_type = record.get("job_type") or product.job_type
    props: dict[str, Any] = {}
    extensions = [stac.PROCESSING]
    first = scenes.scenes[0]
    if product.constellation:
        props["constellation"] = product.constellation
    platforms = {scene.platform for scene in scenes.scenes}
    platform = platforms.pop() if len(platforms) == 1 else None
    if platform:
        props["platform"] = platform
        designator = INTERNATIONAL_DESIGNATORS.get(platform)
        if designator:
            props["sat:platform_international_designator"] = designator
        if first.absolute_orbit:
            props["sat:absolute_orbit"] = first.absolute_orbit
    track = first.relative_orbit or next((s.relative_orbit for s in scenes.scenes if s.relative_orbit), None)
    if track:
        props["sat:relative_orbit"] = track
    if scenes.orbit_state:
        props["sat:orbit_state"] = scenes.orbit_state
    if any(k.startswith("sat:") for k in props):
        extensions.append(stac.SAT)
    if product.constellation == "sentinel-1" or job_type in ("INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST",
                                                             "ARIA_S1_GUNW"):
        props["sar:instrument_mode"] = str(product.options.get("beam_mode") or "IW")
        props["sar:frequency_band"] = "C"
        props["sar:center_frequency"] = SENTINEL1_CENTER_FREQUENCY_GHZ
        props["sar:polarizations"] = list(product.polarizations) or ["VV"]
        props["sar:product_type"] = PRODUCT_TYPES.get(job_type, job_type)
        props["sar:observation_direction"] = str(product.options.get("observation_direction") or "right")
        if product.pixel_spacing:
            props["sar:pixel_spacing_range"] = product.pixel_spacing
            props["sar:pixel_spacing_azimuth"] = product.pixel_spacing
        if scenes.looks_range and scenes.looks_azimuth:
            props["sar:looks_range"] = scenes.looks_range
            props["sar:looks_azimuth"] = scenes.looks_azimuth
        extensions.append(stac.SAR)
    version = product.options.get("version")
    props["processing:software"] = {SOFTWARE.get(job_type, "HyP3"): str(version) if version else "unknown"}
    props["processing:level"] = "L2"
    props["processing:facility"] = "ASF HyP3"
    props["hyp3:job_id"] = job.id
    props["hyp3:job_type"] = job_type
    if record.get("name"):
        props["hyp3:job_name"] = record["name"]
    if record.get("job_parameters"):
        props["hyp3:job_parameters"] = record["job_parameters"]
    if product.product_id:
        props["hyp3:product_id"] = product.product_id
    if product.orbit:
        props["hyp3:orbit"] = product.orbit
    for key, value in sorted(product.options.items()):
        if key == "processing_time":  # OPERA names carry it: the standard field, which browsers show as a time
            props["processing:datetime"] = value
        elif key not in ("beam_mode", "observation_direction", "relative_orbit", "orbit_state", "version",
                         "software"):
            props[f"hyp3:{key}"] = value
    if scenes.secondary is not None:  # a pair
        props["hyp3:reference_datetime"] = _iso(scenes.reference.start)
        props["hyp3:secondary_datetime"] = _iso(scenes.secondary.start)
        for role, scene in (("reference", scenes.reference), ("secondary", scenes.secondary)):
            if scene.absolute_orbit:
                props[f"hyp3:{role}_absolute_orbit"] = scene.absolute_orbit
    if expires is not None:
        props["expires"] = _iso(expires)
        extensions.append(stac.TIMESTAMPS)
    return props, extensions


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")

