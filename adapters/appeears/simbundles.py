"""What the AppEEARS simulator checks in a task request, and the bundle a finished task delivers."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from adapters.appeears.simproducts import (PRODUCTS, PROJECTIONS, area_netcdf, area_tif, composite_dates,
                                           layer_values, output_shape, parse_mmddyyyy, results_csv)

if TYPE_CHECKING:
    from adapters.appeears.simulator import SimTask


def validate_request(body: dict[str, Any]) -> str | None:
    """The ``message`` of the 400 the real service answers for ``body``, or None when it is accepted."""
    for key in ("task_type", "task_name", "params"):
        if key not in body:
            return f"'{key}' is a required property"
    if body["task_type"] not in ("area", "point"):
        return f"'{body['task_type']}' is not one of ['area', 'point']"
    params = body["params"]
    if not isinstance(params, dict):
        return f"{params!r} is not of type 'object'"
    for key in ("dates", "layers"):
        if not params.get(key):
            return f"'{key}' is a required property"
    for d in params["dates"]:
        try:
            if d.get("recurring"):
                if not isinstance(d.get("yearRange"), list):
                    return "'yearRange' is a required property for recurring dates"
            else:
                if parse_mmddyyyy(d["startDate"]) > parse_mmddyyyy(d["endDate"]):
                    return "The start date must be before the end date."
        except (KeyError, ValueError, AttributeError, TypeError):
            return f"{d!r} is not a valid date object (MM-DD-YYYY)"
    for layer in params["layers"]:
        product = layer.get("product") if isinstance(layer, dict) else None
        if product not in PRODUCTS:
            return f"'{product}' is not a valid product."
        if layer.get("layer") not in PRODUCTS[product][1]:
            return f"'{layer.get('layer')}' is not a valid layer for product '{product}'."
    if body["task_type"] == "area":
        if "geo" not in params:
            return "'geo' is a required property"
        output = params.get("output") or {}
        if (output.get("format") or {}).get("type") not in ("geotiff", "netcdf4"):
            return "'format' must be one of ['geotiff', 'netcdf4']"
        if output.get("projection") not in [p["Name"] for p in PROJECTIONS]:
            return f"'{output.get('projection')}' is not a valid projection."
    elif not params.get("coordinates"):
        return "'coordinates' is a required property"
    return None


def _dates(params: dict[str, Any]) -> tuple[date, date]:
    d = params["dates"][0]
    if d.get("recurring"):
        first, last = d["yearRange"]
        sm, sd = map(int, d["startDate"].split("-")[:2])
        em, ed = map(int, d["endDate"].split("-")[:2])
        return date(first, sm, sd), date(last, em, ed)
    return parse_mmddyyyy(d["startDate"]), parse_mmddyyyy(d["endDate"])


def _layers(params: dict[str, Any]) -> dict[str, list[str]]:
    """Product -> the requested layers and, after them, their quality layers (which always come along)."""
    out: dict[str, list[str]] = {}
    for entry in params["layers"]:
        layers = out.setdefault(entry["product"], [])
        record = PRODUCTS[entry["product"]][1][entry["layer"]]
        for name in [entry["layer"]] + json.loads(record["QualityLayers"].replace("'", '"') or "[]"):
            if name not in layers:
                layers.append(name)
    return out


def _bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    from shapely.geometry import shape

    return tuple(shape(geometry).bounds)  # type: ignore[return-value]


def make_bundle(task: SimTask, size: int) -> list[tuple[str, bytes]]:
    """The bundle of a finished task: ``(file_name, bytes)`` in the order the listing gives them."""
    request, name = task.request, task.name
    params = request["params"]
    start, end = _dates(params)
    files: list[tuple[str, bytes]] = []
    granules: list[str] = []
    for product_id, layers in _layers(params).items():
        days = composite_dates(product_id, start, end)
        product = PRODUCTS[product_id][0]
        dash = product_id.replace(".", "-")
        granules += [f"https://e4ftl01.cr.usgs.gov/MOLT/{product_id}/{d:%Y.%m.%d}/{product['Product']}."
                     f"A{d:%Y%j}.h11v05.{product['Version']}.2021000000000.hdf" for d in days]
        if request["task_type"] == "point":
            files.append((f"{name}-{dash}-results.csv",
                          results_csv(task.task_id, product_id, layers, days, params["coordinates"])))
        else:
            features = _features(params["geo"])
            output = params["output"]
            if output["format"]["type"] == "netcdf4":
                for aid, geometry in enumerate(features, 1):
                    files.append((f"{product_id}_{product['Resolution']}_aid{aid:04d}.nc",
                                  area_netcdf(task.task_id, product_id, layers, days, _bounds(geometry), size)))
            else:
                folder = f"{product_id}_{start:%Y%j}_to_{end:%Y%j}"
                stats: list[list[Any]] = []
                for aid, geometry in enumerate(features, 1):
                    for day in days:
                        for layer in layers:
                            file_name = f"{product_id}_{layer}_doy{day:%Y%j}_aid{aid:04d}.tif"
                            files.append((f"{folder}\\{file_name}",
                                          area_tif(task.task_id, product_id, layer, day, _bounds(geometry),
                                                   output["projection"], size)))
                            if not _is_quality(product_id, layer):
                                shape = output_shape(_bounds(geometry), output["projection"], size)
                                stats.append(_stats_row(task.task_id, product_id, layer, day, aid, shape))
                files.append((f"{dash}-Statistics.csv", _csv(
                    ["File Name", "Dataset", "aid", "Date", "Count", "Minimum", "Maximum", "Range", "Mean",
                     "Standard Deviation", "Variance", "Upper Quartile", "Upper 1.5 IQR", "Median",
                     "Lower 1.5 IQR", "Lower Quartile"], stats)))
            for layer in layers:
                values = PRODUCTS[product_id][2].get(layer)
                if values:
                    files.append((f"{dash}-{layer.strip('_').replace('_', '-')}-lookup.csv",
                                  _csv(["Value", "MODLAND" if "VI" in layer else "Name"],
                                       [[value, description] for value, _n, description in values])))
        files.append((f"{name}-{dash}-metadata.xml", _metadata_xml(product_id)))
    files.append((f"{name}-granule-list.txt", ("\n".join(granules) + "\n").encode()))
    files.append((f"{name}-request.json", json.dumps({**request, "task_id": task.task_id}).encode()))
    files.append(("README.md", f"# AppEEARS {request['task_type'].title()} Sample Extraction Readme\n\n"
                               f"    Name: {name}\n\n    ID: {task.task_id}\n".encode()))
    if task.fault == "unsafe":
        files += [("..\\..\\escaped.txt", b"outside"), ("/etc/appeears.txt", b"absolute"),
                  ("bad\x00name.txt", b"nul")]
    return files


def _is_quality(product_id: str, layer: str) -> bool:
    return layer.startswith("QA") or "Quality" in layer


def _features(geo: dict[str, Any]) -> list[dict[str, Any]]:
    features = geo["features"] if geo.get("type") == "FeatureCollection" else [geo]
    return [f["geometry"] if f.get("type") == "Feature" else f for f in features]


def _stats_row(task_id: str, product_id: str, layer: str, day: date, aid: int, shape: tuple[int, int]) -> list[Any]:
    """The layer's row of the Statistics CSV: of the scaled values, as AppEEARS summarises them."""
    record = PRODUCTS[product_id][1][layer]
    raw = layer_values(task_id, product_id, layer, day, shape).astype("float64")
    valid = raw[raw != record["FillValue"]] * float(record["ScaleFactor"] or 1.0)
    q = np.percentile(valid, [25, 50, 75])
    return [f"{product_id.replace('.', '_')}_{layer}_doy{day:%Y%j}_aid{aid:04d}", layer.strip("_"), f"aid{aid:04d}",
            day.isoformat(), float(valid.size), round(valid.min(), 4), round(valid.max(), 4),
            f"({valid.min():.4f},{valid.max():.4f})", round(valid.mean(), 6), round(valid.std(), 6),
            round(valid.var(), 6), round(q[2], 4), round(q[2], 4), round(q[1], 4), round(q[0], 4), round(q[0], 4)]


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _metadata_xml(product_id: str) -> bytes:
    product = PRODUCTS[product_id][0]
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<metadata><idinfo><citation><citeinfo><title>{product_id}'
            f"</title><onlink>{product['DocLink']}</onlink></citeinfo></citation><descript><abstract>"
            f"{product['Description']}</abstract></descript></idinfo></metadata>\n").encode()
