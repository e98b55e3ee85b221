"""AppEEARS bundles -> item drafts. Runs in a worker process (`AppeearsAdapter.translate`): a function of the
task record (with the product knowledge `poll` added to it) and the downloaded files, with no network.

- Area, GeoTIFF: one item per (product, version, aid, date), one asset per layer (quality layers with the
  role ``quality`` and their classes from the bundle's lookup CSVs, or the quality API), band statistics from
  the bundle's Statistics CSV where it has them, the period of the composite from the product's temporal
  granularity. The engine keeps the GeoTIFFs (COGs already) byte for byte.
- Area, netCDF: one item per file (product, aid): the file as ``data`` and a COG per layer and date slice.
- Point: the results CSV as ``source`` and a GeoParquet ``data`` table, MultiPoint of the coordinates.
- The bundle's own files (request, granule list, metadata XML, README, lookup and statistics CSVs) are the
  ``metadata`` assets of one item per task (geometry of the request), which the data items link to.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from adapters.appeears.names import (LayerFile, NameError_, base_name, collection_id, is_layer_file, normal_key,
                                     parse_layer_file, parse_netcdf_file)
from adapters.appeears.products import composite_end, is_quality_layer, layer_info, layer_record_name
from adapters.appeears.tasks import features_of
from adapters.base import JobRef, JobStatus, RemoteFile
from adapters.errors import BadProductError
from catalogs import stac
from catalogs.drafts import AssetDraft, ItemDraft

log = logging.getLogger(__name__)

TASK_ROLES = ("metadata",)


def translate(job: JobRef, status: JobStatus, outputs: list[RemoteFile], files: Mapping[str, Path],
              workdir: Path, assets: str, settings: Any) -> list[ItemDraft]:
    record = status.meta
    what = f"AppEEARS task {job.id}"
    knowledge: dict[str, Any] = record.get("products") or {}
    names = [o.name for o in outputs if o.name in files]
    tifs = [n for n in names if is_layer_file(n)]
    ncs = [n for n in names if n.lower().endswith(".nc")]
    results = [n for n in names if n.lower().endswith("-results.csv")]
    used = set(tifs) | set(ncs) | set(results)
    others = [n for n in names if n not in used]
    task_type = record.get("task_type") or ("point" if results else "area")
    products = sorted({_product_of(n, what) for n in tifs + ncs} | {_product_of_results(n) for n in results}
                      | {str(e.get("product")) for e in (record.get("params") or {}).get("layers") or []})
    products = [p for p in products if p]
    if not products:
        raise BadProductError(f"{what}: the bundle has no GeoTIFF, netCDF or results CSV")
    home = collection_id(*products[0].split(".", 1))
    task_item = _task_item_id(record, job)
    link = {"rel": "related", "href": f"../../{home}/{task_item}/{task_item}.json", "type": stac.GEOJSON,
            "title": f"AppEEARS task {record.get('task_name') or job.id}: request and bundle files"}
    common = {"appeears:task_id": job.id, "appeears:task_name": record.get("task_name")}

    drafts: list[ItemDraft] = []
    task_assets = {_key(base_name(n)): AssetDraft(files[n], roles=TASK_ROLES, title=_title_of(base_name(n)),
                                                  media_type=_media(n)) for n in others}
    if task_type == "point":
        drafts.append(_point_item(task_item, home, record, job, files, results, task_assets, workdir, knowledge,
                                  common, what))
        return drafts
    tables = _BundleTables(
        statistics=_statistics({n: files[n] for n in others if n.endswith("-Statistics.csv")}),
        lookups={normal_key(base_name(n)[: -len("-lookup.csv")]): files[n] for n in others if n.endswith("-lookup.csv")},
        class_counts={normal_key(base_name(n)[: -len("-Statistics-QA.csv")]): _class_counts(files[n])
                      for n in others if n.endswith("-Statistics-QA.csv")})
    drafts += _area_items(tifs, files, knowledge, tables, link, common, what)
    drafts += _netcdf_items(ncs, files, knowledge, workdir, link, common, what)
    geometry = _request_geometry(record)
    start, end = _request_period(record, drafts)
    drafts.append(ItemDraft(task_item, home, start_datetime=start, end_datetime=end, geometry=geometry,
                            properties={**common, "appeears:task_type": task_type,
                                        "appeears:products": products, "title": f"AppEEARS task "
                                        f"{record.get('task_name') or job.id}"},
                            assets=task_assets, thumbnail=False))
    return drafts


# ----------------------------------------------------------------------------------------- area items


@dataclass(frozen=True)
class _BundleTables:
    """The bundle's CSVs, by the loose key (`normal_key`) of what they describe."""

    statistics: Mapping[str, dict[str, float]]         # GeoTIFF stem -> statistics (Statistics.csv)
    lookups: Mapping[str, Path]                        # <PROD>-<VER>-<QA layer> -> its lookup CSV
    class_counts: Mapping[str, dict[tuple[str, str], dict[int, int]]]  # QA layer -> (date, aid) -> value counts


def _area_items(tifs: list[str], files: Mapping[str, Path], knowledge: Mapping[str, Any], tables: _BundleTables,
                link: dict[str, Any], common: dict[str, Any], what: str) -> list[ItemDraft]:
    groups: dict[tuple[str, int, str], list[tuple[str, LayerFile]]] = defaultdict(list)
    for name in tifs:
        parsed = parse_layer_file(name)
        groups[(parsed.product_id, parsed.aid, parsed.date_key)].append((name, parsed))
    drafts = []
    for (product_id, aid, date_key), members in sorted(groups.items()):
        info = knowledge.get(product_id) or {}
        product, layers = info.get("product") or {}, info.get("layers") or {}
        first = members[0][1]
        assets: dict[str, AssetDraft] = {}
        for name, parsed in sorted(members, key=lambda m: m[1].layer):
            assets[_key(parsed.layer)] = _layer_asset(files[name], parsed, layers, info.get("quality") or {},
                                                      tables)
        data_keys = [k for k, a in assets.items() if "data" in a.roles]
        start = first.start
        end = composite_end(start, product.get("TemporalGranularity"))
        item_id = f"{product_id}_{date_key}_aid{aid:04d}_{common['appeears:task_id'][:8]}"
        drafts.append(ItemDraft(
            item_id, collection_id(first.product, first.version),
            datetime=start if end is None else None, start_datetime=start if end else None, end_datetime=end,
            properties={**common, **_platform(product), "title": f"{product_id} {start:%Y-%m-%d}, feature {aid}",
                        "appeears:product": product_id, "appeears:aid": aid,
                        "appeears:layers": sorted(p.layer for _n, p in members)},
            assets=assets, links=[link], stac_extensions=_extensions(assets),
            footprint_asset=(data_keys or list(assets))[0]))
    return drafts


def _layer_asset(path: Path, parsed: LayerFile, layers: Mapping[str, Any], quality_api: Mapping[str, Any],
                 tables: _BundleTables) -> AssetDraft:
    record_name = layer_record_name(parsed.layer, layers)
    info = layer_info(record_name, layers.get(record_name))
    quality = is_quality_layer(record_name, layers) or is_quality_layer(parsed.layer)
    band: dict[str, Any] = {}
    if info.valid_range is not None:
        band["appeears:valid_range"] = list(info.valid_range)
    if info.description:
        band["description"] = info.description
    stem = path.name.rsplit(".", 1)[0]
    if normal_key(stem) in tables.statistics:
        band["statistics"] = _unscaled(tables.statistics[normal_key(stem)], info.scale, info.offset)
    classes = None
    layer_key = normal_key(f"{parsed.product}-{parsed.version}-{parsed.layer}")
    lookup = tables.lookups.get(layer_key)
    if lookup is None:
        lookup = tables.lookups.get(normal_key(f"{parsed.product}-{parsed.version}-{record_name}"))
    if quality:
        classes = _lookup_classes(lookup) if lookup is not None else _api_classes(
            quality_api.get(parsed.layer) or quality_api.get(record_name) or [])
        counts = tables.class_counts.get(layer_key, {}).get((parsed.start.date().isoformat(), f"aid{parsed.aid:04d}"))
        if classes and counts:
            total = sum(counts.values())
            for entry in classes:
                if entry["value"] in counts:
                    entry["count"] = counts[entry["value"]]
                    entry["percentage"] = round(100 * counts[entry["value"]] / total, 3)
    fields: dict[str, Any] = {"bands": [band]}
    if info.unit:
        fields["unit"] = info.unit
    if classes:
        fields["classification:classes"] = classes
    title = f"{parsed.layer}" + (f": {info.description}" if info.description else "")
    return AssetDraft(path, roles=("quality",) if quality else ("data",), title=title,
                      kind="categorical" if quality else "continuous", fields=fields)


# -------------------------------------------------------------------------------------- netCDF items


def _netcdf_items(ncs: list[str], files: Mapping[str, Path], knowledge: Mapping[str, Any], workdir: Path,
                  link: dict[str, Any], common: dict[str, Any], what: str) -> list[ItemDraft]:
    from adapters.netcdf import variable_to_geotiff

    drafts = []
    for name in ncs:
        try:
            parsed = parse_netcdf_file(name)
        except NameError_ as exc:
            raise BadProductError(f"{what}: {exc}") from exc
        info = knowledge.get(parsed.product_id) or {}
        product, layers = info.get("product") or {}, info.get("layers") or {}
        path = files[name]
        times, variables = _netcdf_contents(path, layers, what)
        assets: dict[str, AssetDraft] = {"netcdf": AssetDraft(path, roles=("data",), media_type=stac.NETCDF,
                                                             title=f"{parsed.product_id} (netCDF)")}
        for variable in variables:
            quality = is_quality_layer(variable, layers)
            for index, moment in enumerate(times):
                key = f"{_key(variable)}_{moment:%Y%j}"
                tif = variable_to_geotiff(path, variable, workdir / f"{path.stem}_{key}.tif", what=what,
                                          band=index + 1)
                assets[key] = AssetDraft(tif, roles=("quality",) if quality else ("data",),
                                         title=f"{variable}, {moment:%Y-%m-%d}",
                                         kind="categorical" if quality else "continuous")
        start, last = times[0], times[-1]
        end = composite_end(last, product.get("TemporalGranularity")) or last
        raster_keys = [k for k, a in assets.items() if k != "netcdf" and "data" in a.roles]
        item_id = f"{parsed.product_id}_{parsed.resolution}_aid{parsed.aid:04d}_{common['appeears:task_id'][:8]}"
        drafts.append(ItemDraft(item_id, collection_id(parsed.product, parsed.version), start_datetime=start,
                                end_datetime=end, properties={**common, **_platform(product),
                                                              "title": f"{parsed.product_id} {start:%Y-%m-%d} to "
                                                                       f"{end:%Y-%m-%d}, feature {parsed.aid}",
                                                              "appeears:product": parsed.product_id,
                                                              "appeears:aid": parsed.aid,
                                                              "appeears:layers": variables},
                                assets=assets, links=[link], footprint_asset=(raster_keys or [None])[0]))
    return drafts


def _netcdf_contents(path: Path, layers: Mapping[str, Any], what: str) -> tuple[list[datetime], list[str]]:
    """The time slices and the layer variables of an AppEEARS netCDF (h5netcdf reads it without GDAL)."""
    import h5netcdf
    import numpy as np

    try:
        with h5netcdf.File(path, "r") as ds:
            time = ds.variables.get("time")
            if time is None:
                raise BadProductError(f"{what}: {path.name}: no time variable")
            units = str(time.attrs.get("units", ""))
            match = re.match(r"days since (\d{4}-\d{2}-\d{2})", units)
            if match is None:
                raise BadProductError(f"{what}: {path.name}: time units {units!r} are not 'days since ...'")
            epoch = datetime.fromisoformat(match[1]).replace(tzinfo=timezone.utc)
            times = [epoch + timedelta(days=float(v)) for v in np.asarray(time[:]).ravel()]
            variables = [name for name, var in ds.variables.items()
                         if var.dimensions[:1] == ("time",) and len(var.dimensions) == 3]
    except OSError as exc:
        raise BadProductError(f"{what}: {path.name}: not a netCDF file ({exc})") from exc
    if not times or not variables:
        raise BadProductError(f"{what}: {path.name}: no layer on a time axis")
    return times, variables


# ---------------------------------------------------------------------------------------- point items


def _point_item(item_id: str, home: str, record: Mapping[str, Any], job: JobRef, files: Mapping[str, Path],
                results: list[str], task_assets: dict[str, AssetDraft], workdir: Path,
                knowledge: Mapping[str, Any], common: dict[str, Any], what: str) -> ItemDraft:
    from catalogs.geoparquet_points import write_points

    assets = dict(task_assets)
    dates: list[datetime] = []
    for name in results:
        path = files[name]
        columns, lons, lats = _read_results(path, what)
        dates += [datetime.fromisoformat(d).replace(tzinfo=timezone.utc) for d in columns.get("Date", [])]
        out = workdir / (path.name[: -len(".csv")] + ".parquet")
        table = write_points(out, columns, lons, lats)
        key = _key(path.name[: -len(".csv")].rsplit("-results", 1)[0].split("-", 1)[-1]) if len(results) > 1 else ""
        assets[f"data{'_' + key if key else ''}"] = AssetDraft(out, roles=("data",), media_type=stac.GEOPARQUET,
                                                               title="Point samples (GeoParquet)",
                                                               fields=table.fields())
        assets[f"results{'_' + key if key else ''}"] = AssetDraft(path, roles=("source",), media_type=stac.CSV,
                                                                  title="Point samples (results CSV)")
    if not dates:
        raise BadProductError(f"{what}: the results CSV has no dated rows")
    points = (record.get("params") or {}).get("coordinates") or []
    geometry = {"type": "MultiPoint", "coordinates": [[float(p["longitude"]), float(p["latitude"])] for p in points]}
    kept = [{k: p[k] for k in ("id", "category", "latitude", "longitude") if k in p} for p in points]
    products = sorted(knowledge) or sorted({_product_of_results(n) for n in results})
    first = (knowledge.get(products[0]) or {}).get("product") or {}
    return ItemDraft(item_id, home, start_datetime=min(dates), end_datetime=max(dates), geometry=geometry,
                     properties={**common, **_platform(first),
                                 "title": f"AppEEARS task {record.get('task_name') or job.id}: point samples",
                                 "appeears:task_type": "point",
                                 "appeears:products": products, "appeears:points": kept},
                     assets=assets, stac_extensions=[stac.TABLE], thumbnail=False)


def _read_results(path: Path, what: str) -> tuple[dict[str, list[Any]], list[float], list[float]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = reader.fieldnames or []
    for column in ("Latitude", "Longitude", "Date"):
        if column not in header:
            raise BadProductError(f"{what}: {path.name}: no {column} column")
    columns: dict[str, list[Any]] = {}
    for column in header:
        values = [row[column] for row in rows]
        columns[column] = _typed(values)
    try:
        lons = [float(v) for v in columns["Longitude"]]
        lats = [float(v) for v in columns["Latitude"]]
    except (TypeError, ValueError) as exc:
        raise BadProductError(f"{what}: {path.name}: a latitude or longitude is not a number") from exc
    return columns, lons, lats


def _typed(values: list[str]) -> list[Any]:
    """A CSV column as numbers when every value is one (integers when all are), else as text."""
    for kind in (int, float):
        try:
            return [kind(v) for v in values]
        except ValueError:
            continue
    return values


# --------------------------------------------------------------------------------------------- helpers


def _statistics(csvs: Mapping[str, Path]) -> dict[str, dict[str, float]]:
    """``<PROD>-<VER>-Statistics.csv`` rows by the loose key of their ``File Name`` (the GeoTIFF's stem)."""
    out: dict[str, dict[str, float]] = {}
    names = {"Minimum": "minimum", "Maximum": "maximum", "Mean": "mean", "Standard Deviation": "stddev",
             "Count": "count"}
    for path in csvs.values():
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                stats: dict[str, float] = {}
                for column, key in names.items():
                    try:
                        value = float(row.get(column) or "")
                    except ValueError:
                        continue
                    stats[key] = int(value) if key == "count" else value
                if row.get("File Name") and stats:
                    out[normal_key(row["File Name"])] = stats
    return out


def _class_counts(path: Path) -> dict[tuple[str, str], dict[int, int]]:
    """``<PROD>-<VER>-<QA>-Statistics-QA.csv``: pixels per quality value, by (date, aid); the columns after
    ``File``, ``aid`` and ``Date`` are the values."""
    out: dict[tuple[str, str], dict[int, int]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            counts = {}
            for column, text in row.items():
                if column in ("File", "aid", "Date") or column is None:
                    continue
                try:
                    counts[int(float(column))] = int(float(text or 0))
                except ValueError:
                    continue
            out[(str(row.get("Date")), str(row.get("aid")))] = counts
    return out


def _unscaled(stats: dict[str, float], scale: float | None, offset: float | None) -> dict[str, float]:
    """Statistics of the stored values: AppEEARS summarises layers with their scale factor and offset applied,
    while the GeoTIFFs hold the unscaled values (which ``raster:scale``/``raster:offset`` describe)."""
    if not scale or (scale == 1 and not offset):
        return dict(stats)
    out = dict(stats)
    for key in ("minimum", "maximum", "mean"):
        if key in out:
            out[key] = round((out[key] - (offset or 0)) / scale, 6)
    if "stddev" in out:
        out["stddev"] = round(out["stddev"] / abs(scale), 6)
    return out


def _lookup_classes(path: Path) -> list[dict[str, Any]]:
    """Classes of a quality layer from its ``*-lookup.csv`` (``Value`` and one or more description columns)."""
    classes = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = [c for c in (reader.fieldnames or []) if c != "Value"]
        for row in reader:
            try:
                value = int(float(row["Value"]))
            except (KeyError, TypeError, ValueError):
                continue
            texts = [(c, (row.get(c) or "").strip()) for c in columns]
            if len(texts) == 1:
                description = texts[0][1]
            else:
                description = "; ".join(f"{c}: {t}" for c, t in texts)
            distinct = list(dict.fromkeys(t for _c, t in texts if t))
            classes.append({"value": value, "name": _slug("_".join(distinct)) or str(value),
                            "description": description})
    return classes


def _api_classes(values: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Classes from ``GET /quality/{id}/{layer}`` (``Value``, ``Name``, ``Description``)."""
    classes, seen = [], set()
    for entry in values:
        value = entry.get("Value")
        if not isinstance(value, int) or value in seen:
            continue
        seen.add(value)
        description = str(entry.get("Description") or entry.get("Name") or value)
        classes.append({"value": value, "name": _slug(description) or str(value), "description": description})
    return classes


def _extensions(assets: Mapping[str, AssetDraft]) -> list[str]:
    return [stac.CLASSIFICATION] if any("classification:classes" in a.fields for a in assets.values()) else []


def _platform(product: Mapping[str, Any]) -> dict[str, Any]:
    """``platform``/``instruments`` from the product API's ``Platform`` (``Terra MODIS``, ``S-NPP NASA VIIRS``)."""
    text = str(product.get("Platform") or "")
    out: dict[str, Any] = {}
    for word, platform in (("terra", "terra"), ("aqua", "aqua"), ("s-npp", "suomi-npp"), ("noaa-20", "noaa-20")):
        if word in text.lower():
            out["platform"] = platform
    for word in ("MODIS", "VIIRS", "ASTER", "ECOSTRESS"):
        if word in text.upper():
            out["instruments"] = [word.lower()]
    if "combined" in text.lower() and "MODIS" in text.upper():
        out["constellation"] = "terra+aqua"
    return out


def _task_item_id(record: Mapping[str, Any], job: JobRef) -> str:
    name = _slug(str(record.get("task_name") or "task")).replace("_", "-") or "task"
    return f"{name[:60]}-task-{job.id[:8]}"


def _request_geometry(record: Mapping[str, Any]) -> dict[str, Any]:
    from shapely.geometry import mapping, shape
    from shapely.ops import unary_union

    geometries = [shape(g) for g in features_of(record)]
    if not geometries:
        raise BadProductError(f"AppEEARS task {record.get('task_id')}: the request has no features")
    return dict(mapping(unary_union(geometries)))


def _request_period(record: Mapping[str, Any], drafts: list[ItemDraft]) -> tuple[datetime, datetime]:
    starts = [d.start_datetime or d.datetime for d in drafts if (d.start_datetime or d.datetime)]
    ends = [d.end_datetime or d.datetime for d in drafts if (d.end_datetime or d.datetime)]
    if starts and ends:
        return min(starts), max(ends)  # type: ignore[type-var]
    dates = ((record.get("params") or {}).get("dates") or [{}])[0]
    start = datetime.strptime(dates["startDate"], "%m-%d-%Y").replace(tzinfo=timezone.utc)
    end = datetime.strptime(dates["endDate"], "%m-%d-%Y").replace(tzinfo=timezone.utc, hour=23, minute=59, second=59)
    return start, end


def _product_of(name: str, what: str) -> str:
    try:
        return (parse_layer_file(name) if is_layer_file(name) else parse_netcdf_file(name)).product_id
    except NameError_ as exc:
        raise BadProductError(f"{what}: {exc}") from exc


def _product_of_results(name: str) -> str:
    """``<task>-<PROD>-<VER>-results.csv`` -> ``PROD.VER`` (the task name may contain ``-``)."""
    parts = base_name(name)[: -len("-results.csv")].split("-")
    return f"{parts[-2]}.{parts[-1]}" if len(parts) >= 3 else ""


def _key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", name.strip("_")) or "file"


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def _title_of(name: str) -> str:
    lower = name.lower()
    for suffix, title in (("-request.json", "Task request"), ("-granule-list.txt", "Source granules"),
                          ("-metadata.xml", "Product metadata (FGDC XML)"), ("-lookup.csv", "Quality lookup table"),
                          ("-statistics-qa.csv", "Quality statistics"), ("-statistics.csv", "Layer statistics")):
        if lower.endswith(suffix):
            return f"{title}: {name}"
    return "Bundle README" if lower == "readme.md" else name


def _media(name: str) -> str | None:
    return stac.media_type_for(name)
