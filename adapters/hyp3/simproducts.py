"""Deterministic, realistic HyP3 products for the simulator.

`make_product` builds every file a finished HyP3 job publishes, named and formatted like the real outputs
described in ``PROVIDERS.md`` ("ASF HyP3"): the product archive (a ``.zip`` holding ``<name>/``, or a ``.nc``
for AUTORIFT and ARIA_S1_GUNW), every zip member again under its flat name (HyP3 publishes them beside the
zip), browse and thumbnail PNGs. Everything derives from the job type, its parameters and its job id (never
from the time of the request), so the same inputs give byte-identical files.

Rasters are small but real: GeoTIFFs with the product's CRS, pixel spacing, data type and nodata (RTC and
OPERA rasters are COGs; INSAR_GAMMA and ISCE rasters are plain GeoTIFFs larger than 512 px without overviews,
so they are *not* valid COGs, like the real ones), netCDF files with a grid mapping GDAL understands, PNGs,
and a valid polygon shapefile.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import h5netcdf
import h5py
import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.warp import transform_bounds

from adapters.hyp3.simgranules import (
    S1_SCENE,
    S2_L1C,
    Burst,
    granule_date,
    hash_int,
    orbit_on_track,
    parse_burst,
    parse_scene,
    pass_direction,
    unit_on_track,
)

#: product faults `make_product` understands (the simulator maps job names ``sim-<fault>*`` to them)
PRODUCT_FAULTS = ("zip-traversal", "zip-truncated", "zip-bomb")
COG_SIZE = 256      # default side of COG rasters (RTC, OPERA)
PLAIN_SIZE = 600    # default side of the other rasters: > 512 px, so without overviews they are not COGs
BOMB_SIZE = 200 * 1024 * 1024
TRAVERSAL_ENTRY = "../../evil.txt"

_LOOKS_SPACING = {"20x4": 80, "10x2": 40, "5x1": 20}
_WAVELENGTH = 0.05546576  # Sentinel-1 C band, m


@dataclass
class Product:
    """The files of one finished job.

    ``files`` maps every published file name (flat, no folder) to its bytes: the archive, every zip member
    under its flat name (not the fault entries), browse and thumbnail PNGs. ``zip_members`` is the zip's
    name list in order (with the ``<name>/`` folder entry), empty for netCDF products.
    """

    name: str
    archive: str
    files: dict[str, bytes]
    browse: list[str] = field(default_factory=list)
    thumbnails: list[str] = field(default_factory=list)
    zip_members: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ input names


# ---------------------------------------------------------------------------------------------- entry


def make_product(job_type: str, job_parameters: dict[str, Any], job_id: str, *, fault: str | None = None,
                 raster_size: int | None = None) -> Product:
    """Every file of a finished ``job_type`` job with these parameters and id.

    ``fault``: ``"zip-traversal"`` (the zip also holds ``../../evil.txt``), ``"zip-truncated"`` (the archive
    is cut at 60 %), ``"zip-bomb"`` (the zip also holds 200 MiB of zeros, deflated to ~200 kB).
    ``raster_size`` overrides the side of every raster (default 256 px for COG products, 600 px otherwise).
    """
    builders: dict[str, Callable[[_Ctx], Product]] = {
        "RTC_GAMMA": _rtc_gamma, "INSAR_GAMMA": _insar_gamma, "INSAR_ISCE_BURST": _isce_burst,
        "INSAR_ISCE_MULTI_BURST": _isce_multi_burst, "AUTORIFT": _autorift, "ARIA_S1_GUNW": _aria_gunw,
        "OPERA_RTC_S1": _opera_rtc,
    }
    if job_type not in builders:
        raise ValueError(f"unknown job type {job_type!r}")
    if fault is not None and fault not in PRODUCT_FAULTS:
        raise ValueError(f"unknown product fault {fault!r}")
    return builders[job_type](_Ctx(job_parameters, job_id, fault, raster_size))


@dataclass(frozen=True)
class _Ctx:
    params: dict[str, Any]
    job_id: str
    fault: str | None
    raster_size: int | None

    def size(self, cog: bool) -> int:
        return self.raster_size or (COG_SIZE if cog else PLAIN_SIZE)

    def rng(self, what: str) -> np.random.Generator:
        """A generator for one file, so that a file does not change when optional ones come or go."""
        return np.random.default_rng(hash_int(f"{self.job_id}/{what}"))

    @property
    def hex_id(self) -> str:
        """The 4-hex "random" id ending a product name."""
        return hashlib.sha256(self.job_id.encode()).hexdigest()[:4].upper()

    def get(self, key: str, default: Any) -> Any:
        return self.params.get(key, default)


# ----------------------------------------------------------------------------------------- job types


def _rtc_gamma(ctx: _Ctx) -> Product:
    scene = parse_scene(ctx.params["granules"][0])
    spacing = int(ctx.get("resolution", 30))
    scale = ctx.get("scale", "power")
    radiometry = ctx.get("radiometry", "gamma0")
    speckle = bool(ctx.get("speckle_filter", False))
    options = ("g" if radiometry == "gamma0" else "s") + {"power": "p", "decibel": "d", "amplitude": "a"}[scale] \
        + "u" + ("f" if speckle else "n") + "e" + ("m" if ctx.get("dem_matching", False) else "d")
    name = (f"{scene.platform}_{scene.beam}_{scene.start:%Y%m%dT%H%M%S}_{scene.mode}{scene.pol}P_RTC{spacing}_G_"
            f"{options}_{ctx.hex_id}")
    size = ctx.size(cog=True)
    grid = _utm_grid(scene.name, spacing, size)
    valid = _swath_mask(ctx.rng("mask"), (size, size))
    members: dict[str, bytes] = {}

    def tif(suffix: str, data: np.ndarray, nodata: float | None) -> None:
        members[f"{name}_{suffix}.tif"] = _geotiff(data, grid, nodata=nodata, layout="cog", point=True)
        members[f"{name}_{suffix}.tif.xml"] = _arcgis_xml(f"{name}_{suffix}.tif", grid)

    power = {}
    for pol in scene.polarizations:
        mean = 0.12 if pol[0] == pol[1] else 0.025
        power[pol] = _backscatter(ctx.rng(pol), (size, size), mean * (1.0 if radiometry == "gamma0" else 1.15),
                                  looks=8.0 if speckle else 2.0)
        tif(pol, _scaled(power[pol], scale, valid), nodata=0.0)
    terrain = _smooth(ctx.rng("terrain"), (size, size), cells=6)
    ls_map = np.where(valid, 1, 0).astype("uint8")
    ls_map[valid & (terrain > 2.0)] = 2     # layover on the steepest slopes facing the radar
    ls_map[valid & (terrain < -2.0)] = 4    # shadow behind them
    tif("ls_map", ls_map, nodata=0)
    if ctx.get("include_inc_map", False):
        tif("inc_map", _masked(_incidence(size, terrain), valid), nodata=0.0)
    if ctx.get("include_scattering_area", False):
        tif("area", _masked(spacing * spacing * (1.0 + 0.25 * np.tanh(terrain)), valid), nodata=0.0)
    if ctx.get("include_dem", False):
        tif("dem", np.where(valid, 600 + 250 * terrain, 0).astype("int16"), nodata=0)
    co, cross = power[scene.polarizations[0]], power.get(scene.polarizations[-1])
    if scene.mode == "D" and ctx.get("include_rgb", False):
        tif("rgb", np.stack([_masked(np.clip(v, 0, 1), valid) for v in (cross * 4, co, co - cross)]), nodata=0.0)
    grey = _to_byte(_db(co), valid, -25.0, 0.0)
    rgb = _rgb_browse(co, cross, valid) if scene.mode == "D" else None
    members[f"{name}.png"] = _png(grey)
    browse, thumbnails = [f"{name}.png"], [f"{name}_thumb.png"]
    if rgb is not None:
        members[f"{name}_rgb.png"] = _png(rgb)
        browse.append(f"{name}_rgb.png")
        thumbnails.append(f"{name}_rgb_thumb.png")
    members[f"{name}.kmz"] = _kmz(name, members[f"{name}.png"], grid)
    members[f"{name}.README.md.txt"] = _readme(name, "Radiometric Terrain Corrected (RTC) product", scene.name, [
        f"Radiometry: {radiometry}", f"Scale: {scale}", f"Pixel spacing: {spacing} m",
        f"DEM matching: {ctx.get('dem_matching', False)}", f"Speckle filter: {speckle}",
        f"DEM: {ctx.get('dem_name', 'copernicus')}", f"Projection: EPSG:{grid.epsg}"])
    members[f"{name}.log"] = _gamma_log(name, scene.name)
    members.update(_shapefile(f"{name}_shape", grid, valid))
    extra = {thumbnails[0]: _png(_thumbnail(grey))}
    if rgb is not None:
        extra[thumbnails[1]] = _png(_thumbnail(rgb))
    return _zip_product(ctx, name, members, browse, thumbnails, extra, scene.start)


def _insar_gamma(ctx: _Ctx) -> Product:
    ref, sec = (parse_scene(g) for g in ctx.params["granules"])
    looks = ctx.get("looks", "20x4")
    spacing = _LOOKS_SPACING[looks]
    days = abs((ref.start.date() - sec.start.date()).days)
    water = bool(ctx.get("apply_water_mask", False))
    pol = ref.pol * 2
    name = (f"S1{ref.platform[-1]}{sec.platform[-1]}_{ref.start:%Y%m%dT%H%M%S}_{sec.start:%Y%m%dT%H%M%S}_"
            f"{pol}P{days:03d}_INT{spacing}_G_{'w' if water else 'u'}eF_{ctx.hex_id}")
    size = ctx.size(cog=False)
    grid = _utm_grid(ref.name, spacing, size)
    fields = _interferogram(ctx, size, days)
    valid = fields["valid"]
    members: dict[str, bytes] = {}

    def tif(suffix: str, data: np.ndarray, nodata: float | None = 0.0) -> None:
        members[f"{name}_{suffix}.tif"] = _geotiff(data, grid, nodata=nodata, layout="striped", point=True)

    tif("amp", _masked(fields["amp"], valid))
    tif("corr", _masked(fields["corr"], valid))
    tif("unw_phase", _masked(fields["unw"], valid))
    tif("water_mask", fields["water"], nodata=None)
    if ctx.get("include_wrapped_phase", False):
        tif("wrapped_phase", _masked(fields["wrapped"], valid))
    los = -fields["unw"] * _WAVELENGTH / (4 * np.pi)
    if ctx.get("include_los_displacement", False) or ctx.get("include_displacement_maps", False):
        tif("los_disp", _masked(los, valid))
    if ctx.get("include_displacement_maps", False):
        tif("vert_disp", _masked(los / np.cos(fields["inc"]), valid))
    if ctx.get("include_look_vectors", False):
        tif("lv_phi", _masked(fields["lv_phi"], valid))
        tif("lv_theta", _masked(fields["lv_theta"], valid))
    if ctx.get("include_dem", False):
        tif("dem", _masked(fields["dem"], valid))
    if ctx.get("include_inc_map", False):
        tif("inc_map", _masked(fields["inc"], valid))
    color = _phase_colors(fields["wrapped"], valid, fields["amp"])
    unw = _phase_colors(fields["unw"] / 4, valid)
    members[f"{name}_color_phase.png"] = _png(color)
    members[f"{name}_unw_phase.png"] = _png(unw)
    orbits = (ref.orbit, sec.orbit)
    members[f"{name}.txt"] = _insar_parameters(ctx, [ref.name], [sec.name], ref.start, looks, water, orbits,
                                               pass_direction(grid.epsg, ref.start), dem="GLO-30", unwrapping="mcf")
    members[f"{name}.README.md.txt"] = _readme(name, "GAMMA InSAR product", f"{ref.name}, {sec.name}", [
        f"Looks: {looks}", f"Pixel spacing: {spacing} m", f"Temporal baseline: {days} days",
        f"Water mask applied: {water}", f"Phase filter parameter: {ctx.get('phase_filter_parameter', 0.6)}",
        f"Projection: EPSG:{grid.epsg}"])
    browse = [f"{name}_color_phase.png", f"{name}_unw_phase.png"]
    thumbnails = [f"{name}_color_phase_thumb.png", f"{name}_unw_phase_thumb.png"]
    extra = {thumbnails[0]: _png(_thumbnail(color)), thumbnails[1]: _png(_thumbnail(unw))}
    return _zip_product(ctx, name, members, browse, thumbnails, extra, ref.start)


def _isce_burst(ctx: _Ctx) -> Product:
    ref, sec = (parse_burst(g) for g in ctx.params["granules"])
    looks = ctx.get("looks", "20x4")
    name = (f"S1_{ref.burst_id:06d}_IW{ref.swath}_{ref.time:%Y%m%d}_{sec.time:%Y%m%d}_{ref.pol}_"
            f"INT{_LOOKS_SPACING[looks]}_{ctx.hex_id}")
    return _isce_product(ctx, name, [ref], [sec], radar=True)


def _isce_multi_burst(ctx: _Ctx) -> Product:
    refs = [parse_burst(g) for g in ctx.params["reference"]]
    secs = [parse_burst(g) for g in ctx.params["secondary"]]
    swaths = []
    for swath in (1, 2, 3):
        ids = [b.burst_id for b in refs if b.swath == swath]
        swaths.append(f"{min(ids):06d}s{swath}n{len(ids):02d}" if ids else f"000000s{swath}n00")
    looks = ctx.get("looks", "20x4")
    name = (f"S1_{refs[0].track:03d}_{'-'.join(swaths)}_IW_{refs[0].time:%Y%m%d}_{secs[0].time:%Y%m%d}_"
            f"{refs[0].pol}_INT{_LOOKS_SPACING[looks]}_{ctx.hex_id}")
    return _isce_product(ctx, name, refs, secs, radar=False)


def _isce_product(ctx: _Ctx, name: str, refs: list[Burst], secs: list[Burst], *, radar: bool) -> Product:
    """The files of a hyp3-isce2 burst InSAR product (radar-geometry layers only for single bursts)."""
    looks = ctx.get("looks", "20x4")
    spacing = _LOOKS_SPACING[looks]
    size = ctx.size(cog=False)
    grid = _utm_grid(refs[0].name, spacing, size)
    days = abs((refs[0].time.date() - secs[0].time.date()).days)
    fields = _interferogram(ctx, size, days)
    valid = fields["valid"]
    members: dict[str, bytes] = {}

    def tif(suffix: str, data: np.ndarray, nodata: float | None = 0.0, georef: bool = True) -> None:
        members[f"{name}_{suffix}.tif"] = _geotiff(data, grid if georef else None, nodata=nodata, layout="tiled")

    tif("unw_phase", _masked(fields["unw"], valid))
    tif("corr", _masked(fields["corr"], valid))
    tif("dem", _masked(fields["dem"], valid))
    tif("conncomp", np.where(valid, 1 + (fields["unw"] > fields["unw"].mean() + 15), 0).astype("uint16"))
    tif("wrapped_phase", _masked(fields["wrapped"], valid))
    tif("lv_theta", _masked(fields["lv_theta"], valid))
    tif("lv_phi", _masked(fields["lv_phi"], valid))
    tif("water_mask", fields["water"], nodata=None)
    if radar:
        lat, lon = _radar_lat_lon(grid, size)
        tif("wrapped_phase_rdr", np.where(fields["valid"], fields["wrapped"], 0).astype("float32"), georef=False)
        tif("lat_rdr", lat, nodata=None, georef=False)
        tif("lon_rdr", lon, nodata=None, georef=False)
        tif("los_rdr", np.stack([fields["inc"] * 180 / np.pi, fields["lv_phi"] * 180 / np.pi]).astype("float32"),
            nodata=None, georef=False)
    unw = _phase_colors(fields["unw"] / 4, valid)
    members[f"{name}_unw_phase.png"] = _png(unw)
    track = refs[0].track
    orbits = (orbit_on_track(unit_on_track(track, refs[0].time), track, refs[0].time),
              orbit_on_track(unit_on_track(track, secs[0].time), track, secs[0].time))
    members[f"{name}.txt"] = _insar_parameters(ctx, [b.name for b in refs], [b.name for b in secs], refs[0].time,
                                               looks, bool(ctx.get("apply_water_mask", False)), orbits,
                                               pass_direction(grid.epsg, refs[0].time), dem="GLO_30",
                                               unwrapping="snaphu_mcf")
    members[f"{name}_README.md.txt"] = _readme(name, "ISCE2 burst InSAR product",
                                               ", ".join(b.name for b in refs + secs), [
        f"Looks: {looks}", f"Pixel spacing: {spacing} m", f"Temporal baseline: {days} days",
        f"Projection: EPSG:{grid.epsg}"])
    browse, thumbnails = [f"{name}_unw_phase.png"], [f"{name}_unw_phase_thumb.png"]
    return _zip_product(ctx, name, members, browse, thumbnails, {thumbnails[0]: _png(_thumbnail(unw))},
                        refs[0].time)


def _autorift(ctx: _Ctx) -> Product:
    first, second = ctx.params["granules"]
    size = ctx.size(cog=False)
    epsg = _autorift_epsg(first)
    spacing = 120
    if epsg == 3413:
        x0 = -200_000 + 1_000 * (hash_int(first) % 400)
        y0 = -2_000_000 + 1_000 * (hash_int(first + "y") % 600)
    else:
        x0 = 200_000 + 1_000 * (hash_int(first) % 300)
        y0 = 7_000_000 + 1_000 * (hash_int(first + "y") % 800)
    rng = ctx.rng("velocity")
    vx = 150 * _smooth(rng, (size, size), cells=4) + 40 * rng.standard_normal((size, size))
    vy = 150 * _smooth(rng, (size, size), cells=4) + 40 * rng.standard_normal((size, size))
    valid = _swath_mask(ctx.rng("mask"), (size, size)) & (_smooth(rng, (size, size), cells=8) > -1.2)
    percent = int(round(100 * valid.mean()))
    name = f"{first}_X_{second}_G0120V02_P{percent:03d}"
    nc = _autorift_netcdf(first, second, epsg, x0, y0, spacing, vx, vy, valid)
    speed = np.hypot(vx, vy)
    browse_png = _to_byte(np.log10(1 + speed), valid, 0.0, 3.0)
    files = {f"{name}.nc": _maybe_truncated(ctx, nc), f"{name}.png": _png(browse_png),
             f"{name}_thumb.png": _png(_thumbnail(browse_png))}
    return Product(name, f"{name}.nc", files, [f"{name}.png"], [f"{name}_thumb.png"], [])


def _aria_gunw(ctx: _Ctx) -> Product:
    frame = int(ctx.params["frame_id"])
    dates = sorted(date.fromisoformat(d) for d in (ctx.params["reference_date"], ctx.params["secondary_date"]))
    earlier, later = dates
    h = hash_int(f"aria-frame/{frame}")
    track = 1 + h % 175
    seconds = (h >> 9) % 86_400
    lon = ((h >> 27) % 36_000) / 100 - 180
    lat = ((h >> 43) % 13_500) / 100 - 60
    direction = "A" if (seconds / 3600 + lon / 15) % 24 >= 12 else "D"  # see pass_direction
    size = ctx.size(cog=False)
    step = 1 / 1200  # 3 arc seconds
    west, north = round(lon - size * step / 2, 6), round(lat + size * step / 2, 6)
    south = round(north - size * step, 6)
    hhmmss = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
    # the name's corner: the south-west one of the extent, in hundredths of a degree
    lon_text = f"{abs(round(west * 100)):05d}{'E' if west >= 0 else 'W'}"
    lat_text = f"{abs(round(south * 100)):05d}{'N' if south >= 0 else 'S'}"
    name = (f"S1-GUNW-{direction}-R-{track:03d}-tops-{later:%Y%m%d}_{earlier:%Y%m%d}-{hhmmss}-{lon_text}_"
            f"{lat_text}-PP-{ctx.hex_id.lower()}-v3_0_1")
    fields = _interferogram(ctx, size, (later - earlier).days)
    granules = {role: _frame_slcs(track, datetime.combine(day, datetime.min.time()) + timedelta(seconds=seconds))
                for role, day in (("reference", later), ("secondary", earlier))}
    nc = _gunw_netcdf(name, fields, west, north, step, frame, later, earlier, granules)
    color = _phase_colors(fields["wrapped"], fields["valid"], fields["amp"])
    meta = {"product": name, "frame_id": frame, "track": track, "orbit_direction":
            "ascending" if direction == "A" else "descending", "reference_date": later.isoformat(),
            "secondary_date": earlier.isoformat(), "bbox": [west, south, round(west + size * step, 6), north],
            "version": "3.0.1", "processing": "ISCE2 topsApp (simulated)"}
    files = {f"{name}.nc": _maybe_truncated(ctx, nc), f"{name}.png": _png(color),
             f"{name}.json": json.dumps(meta, indent=2).encode()}
    return Product(name, f"{name}.nc", files, [f"{name}.png"], [], [])


def _frame_slcs(track: int, centre: datetime) -> list[str]:
    """The two consecutive SLCs (27 s each, 25 s apart) of one pass over a GUNW frame centred at ``centre``."""
    unit = unit_on_track(track, centre)
    orbit = orbit_on_track(unit, track, centre)
    datatake = hash_int(f"{unit}/{orbit}") % 0xFFFFFF
    names = []
    for offset in (-26, -1):
        start = centre + timedelta(seconds=offset)
        stop = start + timedelta(seconds=27)
        names.append(f"{unit}_IW_SLC__1SDV_{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_{orbit:06d}_{datatake:06X}_"
                     f"{hash_int(f'{unit}/{start}') % 0xFFFF:04X}")
    return names


def _opera_rtc(ctx: _Ctx) -> Product:
    burst = parse_burst(ctx.params["granules"][0])
    h = hash_int(ctx.job_id)
    processed = datetime.combine(burst.time.date() + timedelta(days=1 + h % 20), datetime.min.time()) \
        + timedelta(seconds=(h >> 5) % 86_400)
    platform = "S1B" if (h >> 30) & 1 and date(2016, 9, 26) <= burst.time.date() <= date(2021, 12, 23) else "S1A"
    name = (f"OPERA_L2_RTC-S1_T{burst.track:03d}-{burst.burst_id:06d}-IW{burst.swath}_{burst.time:%Y%m%dT%H%M%S}Z_"
            f"{processed:%Y%m%dT%H%M%S}Z_{platform}_30_v1.0")
    size = ctx.size(cog=True)
    grid = _utm_grid(burst.name, 30, size)
    valid = _swath_mask(ctx.rng("mask"), (size, size))
    co = burst.pol[0] * 2
    cross = co[0] + ("H" if co[0] == "V" else "V")
    members: dict[str, bytes] = {}
    layers = {}
    for pol, mean in ((co, 0.12), (cross, 0.025)):
        layers[pol] = np.where(valid, _backscatter(ctx.rng(pol), (size, size), mean, looks=4.0), np.nan)
        members[f"{name}_{pol}.tif"] = _geotiff(layers[pol].astype("float32"), grid, nodata=float("nan"),
                                                layout="cog")
    terrain = _smooth(ctx.rng("terrain"), (size, size), cells=6)
    mask = np.where(valid, 0, 255).astype("uint8")
    mask[valid & (terrain < -2.0)] = 1  # shadow
    mask[valid & (terrain > 2.0)] = 2   # layover
    members[f"{name}_mask.tif"] = _geotiff(mask, grid, nodata=255, layout="cog")
    members[f"{name}.h5"] = _opera_h5(name, layers, grid, burst, orbit_on_track(platform, burst.track, burst.time),
                                      pass_direction(grid.epsg, burst.time).lower())
    members[f"{name}.iso.xml"] = _iso_xml(name, burst, grid)
    members[f"{name}_BROWSE.png"] = _png(_to_byte(_db(np.nan_to_num(layers[co])), valid, -25.0, 0.0))
    return _zip_product(ctx, name, members, [f"{name}_BROWSE.png"], [], {}, burst.time)


# ------------------------------------------------------------------------------------------ archives


def _zip_product(ctx: _Ctx, name: str, members: dict[str, bytes], browse: list[str], thumbnails: list[str],
                 extra: dict[str, bytes], when: datetime) -> Product:
    """A zipped product: ``<name>.zip`` holding ``<name>/`` and the members; faults applied to the zip."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_zip_info(f"{name}/", stamp, directory=True), b"")
        for member, data in members.items():
            zf.writestr(_zip_info(f"{name}/{member}", stamp), data, compresslevel=1)
        if ctx.fault == "zip-traversal":
            zf.writestr(_zip_info(TRAVERSAL_ENTRY, stamp), b"This file was written outside the product folder.\n")
        if ctx.fault == "zip-bomb":
            _write_zeros(zf, _zip_info(f"{name}/{name}_bomb.dat", stamp), BOMB_SIZE)
        names = zf.namelist()
    archive = buf.getvalue()
    if ctx.fault == "zip-truncated":
        archive = archive[: len(archive) * 6 // 10]
    files = {f"{name}.zip": archive, **members, **extra}
    return Product(name, f"{name}.zip", files, browse, thumbnails, names)


def _zip_info(name: str, stamp: tuple[int, int, int, int, int, int], *, directory: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, stamp)
    info.create_system = 3  # unix, whatever platform builds it
    info.external_attr = ((0o40755 << 16) | 0x10) if directory else (0o100644 << 16)
    info.compress_type = zipfile.ZIP_STORED if directory else zipfile.ZIP_DEFLATED
    return info


def _write_zeros(zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: int) -> None:
    """Stream ``size`` zero bytes into the zip, one MiB at a time (deflate shrinks them ~1000 times)."""
    chunk = bytes(1 << 20)
    with zf.open(info, "w", force_zip64=True) as handle:
        for offset in range(0, size, len(chunk)):
            handle.write(chunk[: min(len(chunk), size - offset)])


def _maybe_truncated(ctx: _Ctx, data: bytes) -> bytes:
    return data[: len(data) * 6 // 10] if ctx.fault == "zip-truncated" else data


# --------------------------------------------------------------------------------------------- rasters


@dataclass(frozen=True)
class _Grid:
    epsg: int
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        return left, top + self.transform.e * self.height, left + self.transform.a * self.width, top


def _utm_grid(key: str, spacing: float, size: int) -> _Grid:
    """A north-up UTM (northern hemisphere) grid chosen from ``key`` (the input granule)."""
    h = hash_int(key)
    zone = 1 + h % 60
    x0 = 200_000 + 1_000 * ((h >> 8) % 300)
    y0 = 1_500_000 + 1_000 * ((h >> 20) % 6_000)
    return _Grid(32600 + zone, Affine(spacing, 0.0, x0, 0.0, -spacing, y0), size, size)


def _geotiff(data: np.ndarray, grid: _Grid | None, *, nodata: float | None,
             layout: Literal["cog", "striped", "tiled"], point: bool = False) -> bytes:
    """A GeoTIFF of one band (2-D ``data``) or several (3-D).

    ``cog``: a COG (DEFLATE, 128 px tiles, overviews down to 1/16); ``striped``: plain strips, no compression
    (GAMMA); ``tiled``: 256 px tiles, LZW, no overviews (ISCE2). ``grid`` None: no CRS and no geotransform.
    ``point``: ``AREA_OR_POINT=Point`` as GAMMA writes it.
    """
    bands = data if data.ndim == 3 else data[np.newaxis]
    if bands.dtype.kind == "f":
        bands = _quantized(bands)
    profile: dict[str, Any] = {"driver": "GTiff", "count": bands.shape[0], "height": bands.shape[1],
                               "width": bands.shape[2], "dtype": str(bands.dtype), "nodata": nodata}
    if grid is not None:
        profile.update(crs=CRS.from_epsg(grid.epsg), transform=grid.transform)
    if layout == "cog":
        levels = max(1, min(4, int(np.log2(max(min(bands.shape[1:]), 32) / 16))))
        profile.update(driver="COG", compress="DEFLATE", blocksize=128, overview_count=levels,
                       overview_resampling="average")
    elif layout == "tiled":
        profile.update(tiled=True, blockxsize=256, blockysize=256, compress="LZW", num_threads="ALL_CPUS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as mem:
            with mem.open(**profile) as ds:
                ds.write(bands)
                if point:
                    ds.update_tags(AREA_OR_POINT="Point")
            return mem.read()


def _quantized(values: np.ndarray) -> np.ndarray:
    """Floats keeping 11 of their mantissa bits (float32: relative precision 5e-4) or 28 (float64: 4e-9):
    still realistic, but compressible, so products stay small and quick to build. 0 and NaN stay as they are."""
    if values.dtype == np.float64:
        return (values.view("uint64") & np.uint64(0xFFFF_FFFF_FF00_0000)).view("float64")
    return (values.astype("float32").view("uint32") & np.uint32(0xFFFFF000)).view("float32")


def _smooth(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """A smooth random field of unit-ish variance: ``cells`` x ``cells`` noise, bilinearly interpolated."""
    coarse = rng.standard_normal((cells + 1, cells + 1))
    rows = np.linspace(0, cells, shape[0])
    cols = np.linspace(0, cells, shape[1])
    r0 = np.minimum(rows.astype(int), cells - 1)
    c0 = np.minimum(cols.astype(int), cells - 1)
    fr, fc = (rows - r0)[:, None], cols - c0
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c0 + 1] * fc
    bottom = coarse[r0 + 1][:, c0] * (1 - fc) + coarse[r0 + 1][:, c0 + 1] * fc
    return top * (1 - fr) + bottom * fr


def _swath_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Valid pixels: a tilted swath, with a nodata margin on every side (as a SAR scene in map geometry)."""
    rows, cols = np.indices(shape)
    h, w = shape
    tilt = rng.uniform(0.08, 0.2)
    left = w * rng.uniform(0.04, 0.1) + tilt * (h - rows)
    right = w * rng.uniform(0.9, 0.96) - tilt * rows
    return (cols >= left) & (cols < right) & (rows >= 2) & (rows < h - 2)


def _backscatter(rng: np.random.Generator, shape: tuple[int, int], mean: float, looks: float) -> np.ndarray:
    """Linear-power backscatter: gamma-distributed speckle over a smooth texture."""
    texture = np.exp(0.6 * _smooth(rng, shape, cells=5))
    return texture * rng.gamma(looks, mean / looks, shape)


def _scaled(power: np.ndarray, scale: str, valid: np.ndarray) -> np.ndarray:
    values = {"power": power, "amplitude": np.sqrt(power), "decibel": _db(power)}[scale]
    return _masked(values, valid)


def _db(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(power, 1e-6))


def _masked(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """float32 values, 0 (the nodata value) outside ``valid`` and never 0 inside."""
    out = np.where(valid, values, 0).astype("float32")
    out[valid & (out == 0)] = np.float32(1e-6)
    return out


def _incidence(size: int, terrain: np.ndarray) -> np.ndarray:
    """Local incidence angle in radians: 30-46 degrees from near to far range, tilted by the terrain."""
    across = np.linspace(np.radians(30), np.radians(46), size)[None, :]
    return across + 0.08 * np.tanh(terrain)


def _interferogram(ctx: _Ctx, size: int, days: int) -> dict[str, np.ndarray]:
    """The layers of an interferometric pair, consistent with each other."""
    shape = (size, size)
    rng = ctx.rng("interferogram")
    valid = _swath_mask(ctx.rng("mask"), shape)
    terrain = _smooth(rng, shape, cells=6)
    deformation = _smooth(rng, shape, cells=3) * (2 + days / 6)
    rows, cols = np.indices(shape)
    unw = (deformation + 4e-3 * cols + 2e-3 * rows).astype("float32")
    wrapped = np.angle(np.exp(1j * (unw + 0.3 * rng.standard_normal(shape)))).astype("float32")
    corr = np.clip(0.75 - 0.01 * days + 0.15 * _smooth(rng, shape, cells=8) + 0.05 * rng.standard_normal(shape),
                   0.02, 1.0)
    water = np.where(_smooth(ctx.rng("water"), shape, cells=4) > 1.3, 0, 1).astype("uint8")
    inc = _incidence(size, terrain)
    return {
        "valid": valid, "unw": unw, "wrapped": wrapped, "corr": corr, "water": water, "inc": inc,
        "amp": np.sqrt(_backscatter(rng, shape, 0.12, looks=20.0)),
        "dem": 400 + 300 * terrain, "lv_theta": np.pi / 2 - inc, "lv_phi": np.full(shape, np.radians(-100.0))
        + 0.01 * terrain,
    }


def _radar_lat_lon(grid: _Grid, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of radar-geometry pixels: the map grid rotated like a descending pass."""
    west, south, east, north = transform_bounds(CRS.from_epsg(grid.epsg), CRS.from_epsg(4326), *grid.bounds)
    rows, cols = np.indices((size, size), dtype="float64") / size
    lat = north - (north - south) * (0.9 * rows + 0.1 * cols)
    lon = west + (east - west) * (0.9 * cols + 0.1 * (1 - rows))
    return lat, lon


# -------------------------------------------------------------------------------------------- netCDF


def _autorift_epsg(granule: str) -> int:
    """UTM zone of a Sentinel-2 tile, Greenland polar stereographic for HH (polar) Sentinel-1 pairs,
    otherwise a UTM zone chosen from the name."""
    if (m := S2_L1C.match(granule)) is not None:
        return (32600 if m["band"] >= "N" else 32700) + int(m["zone"])
    if (m := S1_SCENE.match(granule)) is not None and m["pol"] == "H":
        return 3413
    return 32601 + hash_int(granule) % 60


def _autorift_netcdf(first: str, second: str, epsg: int, x0: float, y0: float, spacing: float,
                     vx: np.ndarray, vy: np.ndarray, valid: np.ndarray) -> bytes:
    """An ITS_LIVE-style autoRIFT granule: ``vx``, ``vy``, ``v`` (int16, m/y, fill -32767) on x/y."""
    size = vx.shape[0]
    crs = CRS.from_epsg(epsg)
    buffer = io.BytesIO()
    with h5netcdf.File(buffer, "w") as ds:
        ds.attrs.update({
            "Conventions": "CF-1.8", "title": "autoRIFT surface velocities",
            "institution": "NASA Jet Propulsion Laboratory (JPL), California Institute of Technology",
            "autoRIFT_software_version": "1.5.0",
            "scene_pair_type": "optical" if first[:2] != "S1" else "radar", "motion_detection_method": "feature",
            "date_center": (granule_date(first) + (granule_date(second) - granule_date(first)) / 2
                            ).strftime("%Y%m%dT%H:%M:%S")})
        ds.dimensions = {"x": size, "y": size}
        _variable(ds, "x", ("x",), x0 + spacing * (np.arange(size) + 0.5),
                  standard_name="projection_x_coordinate", description="x coordinate of projection", units="m")
        _variable(ds, "y", ("y",), y0 - spacing * (np.arange(size) + 0.5),
                  standard_name="projection_y_coordinate", description="y coordinate of projection", units="m")
        grid_mapping = "polar_stereographic" if epsg == 3413 else "universal_transverse_mercator"
        mapping = _variable(ds, "mapping", (), np.int32(0), grid_mapping_name=grid_mapping, spatial_epsg=epsg,
                            crs_wkt=crs.to_wkt(), spatial_ref=crs.to_wkt(),
                            GeoTransform=f"{x0} {spacing} 0 {y0} 0 {-spacing}")
        if epsg != 3413:
            mapping.attrs["utm_zone_number"] = epsg % 100
        _variable(ds, "img_pair_info", (), np.int32(0), id_img1=first, id_img2=second,
                  acquisition_date_img1=granule_date(first).strftime("%Y%m%dT%H:%M:%S"),
                  acquisition_date_img2=granule_date(second).strftime("%Y%m%dT%H:%M:%S"))
        speed = np.hypot(vx, vy)
        for key, values, standard_name, description in (
                ("vx", vx, "land_ice_surface_x_velocity", "velocity component in x direction"),
                ("vy", vy, "land_ice_surface_y_velocity", "velocity component in y direction"),
                ("v", speed, "land_ice_surface_velocity", "velocity magnitude")):
            _variable(ds, key, ("y", "x"), np.where(valid, np.rint(values), -32767).astype("int16"), fill=-32767,
                      standard_name=standard_name, description=description, units="m/y", grid_mapping="mapping")
    return buffer.getvalue()


def _gunw_netcdf(name: str, fields: dict[str, np.ndarray], west: float, north: float, step: float,
                 frame: int, reference: date, secondary: date, granules: dict[str, list[str]]) -> bytes:
    """An ARIA GUNW-style file: layers in ``/science/grids/data`` on latitude/longitude, EPSG:4326."""
    size = fields["unw"].shape[0]
    valid = fields["valid"]
    buffer = io.BytesIO()
    with h5netcdf.File(buffer, "w") as ds:
        ds.attrs.update({"Conventions": "CF-1.6", "title": "ARIA standard product UNW GUNW", "version": "3.0.1",
                         "product_name": name, "frame_id": frame, "reference_date": reference.isoformat(),
                         "secondary_date": secondary.isoformat()})
        radar = ds.create_group("science/radarMetaData")
        _variable(radar, "wavelength", (), np.float64(_WAVELENGTH), units="m")
        for role, names in granules.items():  # the SLCs of each pass, as the real product lists them
            group = radar.create_group(f"inputSLC/{role}")
            group.dimensions = {"nSLC": len(names)}
            group.create_variable("L1InputGranules", ("nSLC",), dtype=h5py.string_dtype(),
                                  data=np.array(names, dtype=object))
        data = ds.create_group("science/grids/data")
        data.dimensions = {"longitude": size, "latitude": size}
        _variable(data, "longitude", ("longitude",), west + step * (np.arange(size) + 0.5),
                  standard_name="longitude", long_name="longitude", units="degrees_east")
        _variable(data, "latitude", ("latitude",), north - step * (np.arange(size) + 0.5),
                  standard_name="latitude", long_name="latitude", units="degrees_north")
        wkt = CRS.from_epsg(4326).to_wkt()
        _variable(data, "crs", (), np.int32(0), grid_mapping_name="latitude_longitude", spatial_ref=wkt,
                  crs_wkt=wkt, semi_major_axis=6378137.0, inverse_flattening=298.257223563,
                  longitude_of_prime_meridian=0.0)
        layers: list[tuple[str, str, np.ndarray, float, str]] = [
            ("unwrappedPhase", "f4", fields["unw"], 0.0, "radians"),
            ("coherence", "f4", fields["corr"], 0.0, "1"),
            ("connectedComponents", "i2", 1 + (fields["unw"] > fields["unw"].mean() + 15), -1, "1"),
            ("amplitude", "f4", fields["amp"], 0.0, "watt"),
        ]
        for key, dtype, values, fill, units in layers:
            _variable(data, key, ("latitude", "longitude"), np.where(valid, values, fill).astype(dtype), fill=fill,
                      long_name=key, units=units, grid_mapping="crs")
    return buffer.getvalue()


def _opera_h5(name: str, layers: dict[str, np.ndarray], grid: _Grid, burst: Burst, orbit: int, direction: str
              ) -> bytes:
    """A small HDF5 file shaped like the OPERA RTC-S1 one (``/data/<pol>`` at 1/4 resolution, and the
    ``/identification`` datasets RTC-S1 writes: burst, orbit, pass direction, zero-Doppler start and end)."""
    buffer = io.BytesIO()
    start = burst.time + timedelta(microseconds=hash_int(name) % 1_000_000)
    with h5netcdf.File(buffer, "w") as ds:
        identification = ds.create_group("identification")
        for key, value in (("productVersion", "1.0"), ("granuleId", name),
                           ("burstID", f"t{burst.track:03d}_{burst.burst_id:06d}_iw{burst.swath}"),
                           ("trackNumber", np.int64(burst.track)), ("absoluteOrbitNumber", np.int64(orbit)),
                           ("orbitPassDirection", direction), ("lookDirection", "right"),
                           ("zeroDopplerStartTime", f"{start:%Y-%m-%dT%H:%M:%S.%f}Z"),
                           ("zeroDopplerEndTime", f"{start + timedelta(seconds=2.758273):%Y-%m-%dT%H:%M:%S.%f}Z")):
            if isinstance(value, str):
                identification.create_variable(key, (), dtype=h5py.string_dtype(), data=np.array(value, dtype=object))
            else:
                identification.create_variable(key, (), data=value)
        data = ds.create_group("data")
        sample = {pol: values[::4, ::4] for pol, values in layers.items()}
        first = next(iter(sample.values()))
        data.dimensions = {"yCoordinates": first.shape[0], "xCoordinates": first.shape[1]}
        _variable(data, "projection", (), np.int32(0), epsg_code=grid.epsg)
        for pol, values in sample.items():
            _variable(data, pol, ("yCoordinates", "xCoordinates"), values.astype("float32"))
    return buffer.getvalue()


def _variable(group: Any, key: str, dims: tuple[str, ...], data: Any, *, fill: float | None = None,
              **attrs: Any) -> Any:
    """A netCDF variable with ``attrs``; arrays are deflated. h5netcdf (h5py) keeps no object timestamps in the
    file, so the same inputs give the same bytes (netCDF4's HDF5 headers carry the time of writing)."""
    options: dict[str, Any] = {"compression": "gzip", "compression_opts": 2} if dims else {}
    if fill is not None:
        options["fillvalue"] = fill
    var = group.create_variable(key, dims, data=data, **options)
    var.attrs.update(attrs)
    return var


# ------------------------------------------------------------------------------------- images and text


def _png(pixels: np.ndarray) -> bytes:
    """An 8-bit PNG, grey (2-D) or RGB (3-D, bands last), with 0 / black transparent as GDAL writes it."""
    height, width = pixels.shape[:2]
    color = 0 if pixels.ndim == 2 else 2
    rows = pixels.reshape(height, -1).astype("uint8")
    raw = np.hstack([np.zeros((height, 1), "uint8"), rows]).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    transparent = b"\x00\x00" * (1 if color == 0 else 3)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tRNS", transparent)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _to_byte(values: np.ndarray, valid: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values stretched to 1..255 (0 stays for nodata)."""
    scaled = np.clip((np.nan_to_num(values) - low) / (high - low), 0, 1) * 254 + 1
    return np.where(valid, scaled, 0).astype("uint8")


def _rgb_browse(co: np.ndarray, cross: np.ndarray, valid: np.ndarray) -> np.ndarray:
    bands = [_to_byte(np.sqrt(v), valid, 0.0, 0.6) for v in (cross * 4, co, np.abs(co - cross))]
    return np.stack(bands, axis=-1)


def _phase_colors(phase: np.ndarray, valid: np.ndarray, amplitude: np.ndarray | None = None) -> np.ndarray:
    """A cyclic colour wheel over the phase, darkened by the amplitude if given."""
    shade = 1.0 if amplitude is None else np.clip(amplitude / np.percentile(amplitude, 95), 0.2, 1.0)
    bands = [(127 * (1 + np.sin(phase + offset)) * shade + 1) for offset in (0, 2 * np.pi / 3, 4 * np.pi / 3)]
    return np.stack([np.where(valid, b, 0).astype("uint8") for b in bands], axis=-1)


def _thumbnail(pixels: np.ndarray) -> np.ndarray:
    step = max(1, pixels.shape[0] // 64)
    return np.ascontiguousarray(pixels[::step, ::step])


def _readme(name: str, title: str, inputs: str, lines: list[str]) -> bytes:
    body = "\n".join(f"- {line}" for line in lines)
    return (f"# {title}: {name}\n\nThis product was generated by the HyP3 simulator (ASF HyP3 look-alike).\n\n"
            f"Input granule(s): {inputs}\n\n## Processing parameters\n{body}\n\n"
            "The data are synthetic and carry no information about the Earth.\n").encode()


def _gamma_log(name: str, granule: str) -> bytes:
    steps = ["ingesting granule", "getting DEM", "geocoding (look-up table refinement)", "radiometric terrain "
             "correction", "creating browse images", "creating metadata", "zipping product"]
    lines = [f"{granule} - INFO - {step}" for step in steps]
    return ("\n".join([f"HyP3 RTC_GAMMA processing log for {name}", *lines, "done"]) + "\n").encode()


def _insar_parameters(ctx: _Ctx, refs: list[str], secs: list[str], when: datetime, looks: str, water: bool,
                      orbits: tuple[int, int], direction: str, *, dem: str, unwrapping: str) -> bytes:
    """The InSAR parameter file (``<name>.txt``): granules, pass direction and orbit numbers of both scenes,
    and a heading that fits the direction (Sentinel-1: about -12 ascending, -165 descending)."""
    rng = ctx.rng("parameters")
    range_looks, azimuth_looks = looks.split("x")
    seconds = when.hour * 3600 + when.minute * 60 + when.second + float(rng.uniform(0, 1))
    heading = float(rng.uniform(-16, -11)) if direction == "ASCENDING" else float(rng.uniform(-168, -162))
    lines = [
        f"Reference Granule: {', '.join(refs)}",
        f"Secondary Granule: {', '.join(secs)}",
        f"Reference Pass Direction: {direction}",
        f"Reference Orbit Number: {orbits[0]}",
        f"Secondary Pass Direction: {direction}",
        f"Secondary Orbit Number: {orbits[1]}",
        f"Baseline: {float(rng.uniform(-150, 150)):.4f}",
        f"UTC time: {seconds:.6f}",
        f"Heading: {heading:.10f}",
        "Spacecraft height: 693000.0",
        "Earth radius at nadir: 6337286.638938101",
        "Slant range near: 799732.9308",
        "Slant range center: 876094.2283",
        "Slant range far: 952455.5258",
        f"Range looks: {range_looks}",
        f"Azimuth looks: {azimuth_looks}",
        "INSAR phase filter: adf",
        f"Phase filter parameter: {ctx.get('phase_filter_parameter', 0.6)}",
        "Range bandpass filter: no",
        "Azimuth bandpass filter: no",
        f"DEM source: {dem}",
        "DEM resolution (m): 30",
        f"Unwrapping type: {unwrapping}",
        "Speckle filter: yes",
        f"Water mask: {'yes' if water else 'no'}",
    ]
    return ("\n".join(lines) + "\n").encode()


def _arcgis_xml(file_name: str, grid: _Grid) -> bytes:
    """The ArcGIS metadata HyP3 ships beside each RTC GeoTIFF (``*.tif.xml``), much shortened."""
    west, south, east, north = grid.bounds
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<metadata xml:lang="en"><Esri><CreaDate>19800101</CreaDate>'
            f"</Esri><dataIdInfo><idCitation><resTitle>{file_name}</resTitle></idCitation><dataExt><geoEle>"
            f"<GeoBndBox><westBL>{west}</westBL><eastBL>{east}</eastBL><southBL>{south}</southBL>"
            f"<northBL>{north}</northBL></GeoBndBox></geoEle></dataExt></dataIdInfo><refSysInfo><RefSystem>"
            f"<refSysID><identCode code=\"{grid.epsg}\"/></refSysID></RefSystem></refSysInfo></metadata>\n").encode()


def _iso_xml(name: str, burst: Burst, grid: _Grid) -> bytes:
    west, south, east, north = transform_bounds(CRS.from_epsg(grid.epsg), CRS.from_epsg(4326), *grid.bounds)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<gmi:MI_Metadata xmlns:gmi="http://www.isotc211.org/2005/gmi"'
            f' xmlns:gco="http://www.isotc211.org/2005/gco"><fileIdentifier><gco:CharacterString>{name}'
            f"</gco:CharacterString></fileIdentifier><burstId>{burst.burst_id}</burstId>"
            f"<EX_GeographicBoundingBox><westBoundLongitude>{west:.6f}</westBoundLongitude><eastBoundLongitude>"
            f"{east:.6f}</eastBoundLongitude><southBoundLatitude>{south:.6f}</southBoundLatitude>"
            f"<northBoundLatitude>{north:.6f}</northBoundLatitude></EX_GeographicBoundingBox>"
            f"</gmi:MI_Metadata>\n").encode()


def _kmz(name: str, png: bytes, grid: _Grid) -> bytes:
    """A KMZ: a KML ground overlay of the browse image over its lon/lat box."""
    west, south, east, north = transform_bounds(CRS.from_epsg(grid.epsg), CRS.from_epsg(4326), *grid.bounds)
    kml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><GroundOverlay>'
           f"<name>{name}</name><Icon><href>{name}.png</href></Icon><LatLonBox><north>{north:.6f}</north>"
           f"<south>{south:.6f}</south><east>{east:.6f}</east><west>{west:.6f}</west></LatLonBox>"
           f"</GroundOverlay></kml>\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_zip_info("doc.kml", (1980, 1, 1, 0, 0, 0)), kml)
        zf.writestr(_zip_info(f"{name}.png", (1980, 1, 1, 0, 0, 0)), png)
    return buf.getvalue()


def _shapefile(stem: str, grid: _Grid, valid: np.ndarray) -> dict[str, bytes]:
    """A valid one-polygon shapefile (``.shp``, ``.shx``, ``.dbf``, ``.prj``) of the valid-data footprint."""
    rows = np.flatnonzero(valid.any(axis=1))
    top, bottom = rows[0], rows[-1] + 1
    corners = []
    for row in (top, bottom - 1):
        cols = np.flatnonzero(valid[row])
        corners.append((cols[0], cols[-1] + 1, row))
    (tl, tr, _), (bl, br, _) = corners
    pixels = [(tl, top), (tr, top), (br, bottom), (bl, bottom), (tl, top)]  # clockwise: an outer ring
    t = grid.transform
    points = [(t.c + t.a * col, t.f + t.e * row) for col, row in pixels]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    box = struct.pack("<4d", min(xs), min(ys), max(xs), max(ys))
    content = struct.pack("<i", 5) + box + struct.pack("<2i", 1, len(points)) + struct.pack("<i", 0) \
        + b"".join(struct.pack("<2d", x, y) for x, y in points)
    record = struct.pack(">2i", 1, len(content) // 2) + content

    def header(length: int) -> bytes:
        return struct.pack(">7i", 9994, 0, 0, 0, 0, 0, length // 2) + struct.pack("<2i", 1000, 5) + box \
            + struct.pack("<4d", 0, 0, 0, 0)

    shp = header(100 + len(record)) + record
    shx = header(108) + struct.pack(">2i", 50, len(content) // 2)
    field = b"ID".ljust(11, b"\x00") + b"N" + b"\x00" * 4 + bytes([4, 0]) + b"\x00" * 14
    dbf = struct.pack("<4BIHH20x", 3, 95, 7, 26, 1, 32 + 32 + 1, 1 + 4) + field + b"\r" + b"    1" + b"\x1a"
    return {f"{stem}.shp": shp, f"{stem}.shx": shx, f"{stem}.dbf": dbf,
            f"{stem}.prj": CRS.from_epsg(grid.epsg).to_wkt(version="WKT1_ESRI").encode()}
