"""AppEEARS task requests: read from a JSON file or built from flags, and checked before they are sent.

A request JSON that AppEEARS itself exported (``<task>-request.json`` of a finished task, with its
``task_id``, ``status``, ``estimate``... beside ``params``) is accepted as it is and sent unchanged: the
service takes its own exports. `check_task` refuses what the service would refuse, with the field named,
against the product and layer lists and the projections list of the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from adapters.errors import RequestRejectedError

TASK_TYPES = ("area", "point")
FILE_TYPES = ("geotiff", "netcdf4")
_DATE = re.compile(r"^(\d{2})-(\d{2})-(\d{4})$")
_RECURRING_DATE = re.compile(r"^(\d{2})-(\d{2})$")


class TaskError(RequestRejectedError):
    """A task request that cannot be sent; the message names the file or flag and the field."""


def load_task(path: Path) -> dict[str, Any]:
    """The task in a JSON file (an object with ``task_type``, ``task_name`` and ``params``)."""
    try:
        task = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaskError(f"{path}: cannot read the task file ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise TaskError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(task, dict):
        raise TaskError(f"{path}: the task must be a JSON object")
    return task


def build_task(*, name: str, task_type: str, start: str, end: str, layers: Sequence[str],
               recurring: bool = False, year_range: Sequence[int] | None = None,
               bbox: Sequence[float] | None = None, polygon: Sequence[float] | None = None,
               geojson: Path | None = None, coordinates: Sequence[Any] | str | None = None,
               file_type: str = "geotiff", projection: str = "geographic") -> dict[str, Any]:
    """A task from flags, as the query-string form of ``POST /task`` describes them.

    ``layers``: ``PRODUCT.VERSION,LAYER`` strings (or the two parts as consecutive items); ``bbox``:
    ``min_lon,min_lat,max_lon,max_lat``; ``polygon``: ``lon,lat,...`` closed; ``geojson``: a GeoJSON
    file; ``coordinates``: ``[id,][category,]lat,lon`` strings separated by ``;`` (or a list of them, or of
    tables with ``latitude``/``longitude``/``id``/``category``).
    """
    dates: dict[str, Any] = {"startDate": start, "endDate": end}
    if recurring:
        dates["recurring"] = True
    if year_range:
        dates["yearRange"] = [int(y) for y in year_range]
    params: dict[str, Any] = {"dates": [dates], "layers": parse_layers(layers)}
    if task_type == "area":
        features = []
        if bbox:
            if len(bbox) % 4:
                raise TaskError("--bbox: give min_lon,min_lat,max_lon,max_lat")
            for i in range(0, len(bbox), 4):
                w, s, e, n = (float(v) for v in bbox[i:i + 4])
                features.append(_feature({"type": "Polygon",
                                          "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}))
        if polygon:
            values = [float(v) for v in polygon]
            if len(values) % 2 or len(values) < 8 or values[:2] != values[-2:]:
                raise TaskError("--polygon: give lon,lat pairs, at least 4, the last the same as the first")
            features.append(_feature({"type": "Polygon",
                                      "coordinates": [[values[i:i + 2] for i in range(0, len(values), 2)]]}))
        if geojson is not None:
            features += _geojson_features(geojson)
        params["geo"] = {"type": "FeatureCollection", "features": features}
        params["output"] = {"format": {"type": file_type}, "projection": projection}
    elif task_type == "point":
        params["coordinates"] = parse_coordinates(coordinates)
    return {"task_type": task_type, "task_name": name, "params": params}


def parse_layers(layers: Sequence[str] | str) -> list[dict[str, str]]:
    """``PRODUCT.VERSION,LAYER`` items (``;``-separated in one string) as layer objects."""
    items = [p.strip() for p in layers.split(";")] if isinstance(layers, str) else [str(p).strip() for p in layers]
    items = [p for p in items if p]
    out: list[dict[str, str]] = []
    i = 0
    while i < len(items):
        item = items[i]
        if "," not in item and i + 1 < len(items) and "." in item:  # a list split at the comma
            item = f"{item},{items[i + 1]}"
            i += 1
        product, sep, layer = item.partition(",")
        if not sep or not product or not layer or "." not in product:
            raise TaskError(f"--layer {item!r}: give PRODUCT.VERSION,LAYER (e.g. MOD13Q1.061,_250m_16_days_NDVI)")
        out.append({"product": product.strip(), "layer": layer.strip()})
        i += 1
    return out


def parse_coordinates(value: Sequence[Any] | str | None) -> list[dict[str, Any]]:
    if value is None:
        return []
    entries: list[Any] = [p for p in value.split(";") if p.strip()] if isinstance(value, str) else list(value)
    out = []
    for entry in entries:
        if isinstance(entry, Mapping):
            out.append(dict(entry))
            continue
        parts = [p.strip() for p in str(entry).split(",")]
        if len(parts) not in (2, 3, 4):
            raise TaskError(f"--coordinate {entry!r}: give [id,][category,]latitude,longitude")
        try:
            lat, lon = float(parts[-2]), float(parts[-1])
        except ValueError:
            raise TaskError(f"--coordinate {entry!r}: latitude and longitude must be numbers") from None
        point: dict[str, Any] = {"latitude": lat, "longitude": lon}
        if len(parts) >= 3:
            point["id"] = parts[0]
        if len(parts) == 4:
            point["category"] = parts[1]
        out.append(point)
    return out


def _feature(geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": {}, "geometry": geometry}


def _geojson_features(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaskError(f"{path}: cannot read the GeoJSON file ({exc})") from exc
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        return list(data.get("features") or [])
    if isinstance(data, dict) and data.get("type") == "Feature":
        return [data]
    if isinstance(data, dict) and "coordinates" in data:
        return [_feature(data)]
    raise TaskError(f"{path}: not a GeoJSON FeatureCollection, Feature or geometry")


# ------------------------------------------------------------------------------------------ checking


def check_task(task: Mapping[str, Any], where: str, *, layers_of: Callable[[str], Mapping[str, Any] | None],
               projections: Sequence[str]) -> None:
    """Refuse (`TaskError` naming ``where`` and the field) what AppEEARS would refuse.

    ``layers_of(product_id)`` gives the layers of a product (None: no such product); ``projections`` are
    the names ``GET /spatial/proj`` lists.
    """
    def fail(field: str, message: str) -> TaskError:
        return TaskError(f"{where}: {field}: {message}")

    if not isinstance(task.get("task_name"), str) or not task["task_name"].strip():
        raise fail("task_name", "required (a non-empty string)")
    if task.get("task_type") not in TASK_TYPES:
        raise fail("task_type", f"must be one of {', '.join(TASK_TYPES)}, not {task.get('task_type')!r}")
    params = task.get("params")
    if not isinstance(params, Mapping):
        raise fail("params", "required (an object)")
    dates = params.get("dates")
    if not isinstance(dates, list) or not dates:
        raise fail("params.dates", "required (a list of date objects)")
    for i, d in enumerate(dates):
        _check_dates(d, f"params.dates[{i}]", fail)
    layers = params.get("layers")
    if not isinstance(layers, list) or not layers:
        raise fail("params.layers", "required (a list of {product, layer})")
    for i, layer in enumerate(layers):
        field = f"params.layers[{i}]"
        if not isinstance(layer, Mapping) or not layer.get("product") or not layer.get("layer"):
            raise fail(field, "needs product and layer")
        known = layers_of(str(layer["product"]))
        if known is None:
            raise fail(f"{field}.product", f"AppEEARS has no product {layer['product']!r}")
        if layer["layer"] not in known:
            raise fail(f"{field}.layer", f"{layer['product']} has no layer {layer['layer']!r} "
                                         f"(it has {', '.join(sorted(known))})")
    if task["task_type"] == "area":
        _check_geo(params.get("geo"), fail)
        output = params.get("output")
        if not isinstance(output, Mapping):
            raise fail("params.output", "required for area tasks ({format: {type}, projection})")
        file_type = (output.get("format") or {}).get("type") if isinstance(output.get("format"), Mapping) else None
        if file_type not in FILE_TYPES:
            raise fail("params.output.format.type", f"must be one of {', '.join(FILE_TYPES)}, not {file_type!r}")
        if output.get("projection") not in projections:
            raise fail("params.output.projection",
                       f"{output.get('projection')!r} is not a projection AppEEARS knows ({', '.join(projections)})")
    else:
        coordinates = params.get("coordinates")
        if not isinstance(coordinates, list) or not coordinates:
            raise fail("params.coordinates", "required for point tasks (a list of {latitude, longitude})")
        for i, point in enumerate(coordinates):
            lat = point.get("latitude") if isinstance(point, Mapping) else None
            lon = point.get("longitude") if isinstance(point, Mapping) else None
            if not _is_number(lat) or not -90 <= float(lat) <= 90:
                raise fail(f"params.coordinates[{i}].latitude", f"must be a number from -90 to 90, not {lat!r}")
            if not _is_number(lon) or not -180 <= float(lon) <= 180:
                raise fail(f"params.coordinates[{i}].longitude", f"must be a number from -180 to 180, not {lon!r}")


def _check_dates(d: Any, field: str, fail: Callable[[str, str], TaskError]) -> None:
    if not isinstance(d, Mapping):
        raise fail(field, "must be an object with startDate and endDate")
    recurring = bool(d.get("recurring"))
    pattern = _RECURRING_DATE if recurring else _DATE
    form = "MM-DD" if recurring else "MM-DD-YYYY"
    parsed = []
    for key in ("startDate", "endDate"):
        value = d.get(key)
        match = pattern.match(value) if isinstance(value, str) else None
        if match is None:
            raise fail(f"{field}.{key}", f"must be {form}, not {value!r}")
        month, day = int(match[1]), int(match[2])
        year = int(match[3]) if not recurring else 2000  # a leap year: 02-29 is a valid recurring day
        try:
            parsed.append(date(year, month, day))
        except ValueError:
            raise fail(f"{field}.{key}", f"{value!r} is not a date") from None
    if recurring:
        years = d.get("yearRange")
        if (not isinstance(years, list) or len(years) != 2 or not all(isinstance(y, int) for y in years)
                or years[0] > years[1]):
            raise fail(f"{field}.yearRange", f"a recurring range needs [first_year, last_year], not {years!r}")
    elif parsed[0] > parsed[1]:
        raise fail(field, f"startDate {d['startDate']} is after endDate {d['endDate']}")


def _check_geo(geo: Any, fail: Callable[[str, str], TaskError]) -> None:
    if not isinstance(geo, Mapping):
        raise fail("params.geo", "required for area tasks (a GeoJSON FeatureCollection)")
    features = geo.get("features") if geo.get("type") == "FeatureCollection" else [geo]
    if not isinstance(features, list) or not features:
        raise fail("params.geo", "has no features")
    for i, feature in enumerate(features):
        geometry = feature.get("geometry") if isinstance(feature, Mapping) and feature.get("type") == "Feature" else feature
        if not isinstance(geometry, Mapping) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise fail(f"params.geo.features[{i}]", "must be a Polygon or MultiPolygon")
        try:
            from shapely.geometry import shape

            shape(geometry)
        except Exception as exc:  # shapely's errors have no common base
            raise fail(f"params.geo.features[{i}]", f"not a valid geometry ({exc})") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def features_of(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's GeoJSON geometries, in ``aid`` order (aid 1 is the first)."""
    geo = (task.get("params") or {}).get("geo") or {}
    features = geo.get("features") if geo.get("type") == "FeatureCollection" else [geo]
    out = []
    for feature in features or []:
        geometry = feature.get("geometry") if feature.get("type") == "Feature" else feature
        if isinstance(geometry, Mapping):
            out.append(dict(geometry))
    return out
