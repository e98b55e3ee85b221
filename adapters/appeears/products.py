"""What AppEEARS says about its products and layers, and the time a composite covers.

`ProductCache` reads the product API (``GET /product``, ``GET /product/{id}``, ``GET /quality/{id}/{layer}``,
``GET /spatial/proj``; none needs a token) through the harvester's client and keeps every answer on disk with
its ``ETag`` / ``Last-Modified``: the next run asks with ``If-None-Match`` / ``If-Modified-Since`` and a 304
reuses the stored answer. The pure helpers below turn those records into what items and collections say.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.errors import ProviderError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

CACHE_ENV = "APPEEARS_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$APPEEARS_CACHE_DIR``, else ``$XDG_CACHE_HOME/stac-harvester/appeears`` (``~/.cache/...``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "stac-harvester" / "appeears"


class ProductCache:
    """GETs of the product, quality and projection endpoints, conditional and cached on disk."""

    def __init__(self, client: httpx.Client, url: str, cache_dir: Path | None = None) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._memory: dict[str, Any] = {}
        #: how the answers came: "fetched" (200), "revalidated" (304), per path (for tests and logs)
        self.answers: dict[str, str] = {}

    def products(self) -> list[dict[str, Any]]:
        """Every product (``GET /product``, paged with ``limit``/``offset`` until a short page)."""
        out: list[dict[str, Any]] = []
        limit, offset = 1000, 0
        while True:
            page = self.get(f"/product?limit={limit}&offset={offset}")
            if not isinstance(page, list):
                raise ProviderError("AppEEARS: GET /product did not answer a list")
            out += page
            if len(page) < limit:
                return out
            offset += limit

    def product(self, product_id: str) -> dict[str, Any] | None:
        """The ``GET /product`` record of ``product_id`` (``MCD12Q2.006``), or None when unknown."""
        return next((p for p in self.products() if p.get("ProductAndVersion") == product_id), None)

    def layers(self, product_id: str) -> dict[str, dict[str, Any]]:
        """``GET /product/{id}``: layer name -> its record."""
        answer = self.get(f"/product/{product_id}")
        if not isinstance(answer, dict):
            raise ProviderError(f"AppEEARS: GET /product/{product_id} did not answer an object")
        return answer

    def quality_values(self, product_id: str, layer: str) -> list[dict[str, Any]]:
        """``GET /quality/{id}/{layer}``: the values of a quality layer (empty when the API has none)."""
        try:
            answer = self.get(f"/quality/{product_id}/{layer}")
        except ProviderError as exc:
            log.info("AppEEARS: no quality values for %s %s (%s)", product_id, layer, exc)
            return []
        return answer if isinstance(answer, list) else []

    def projections(self) -> list[dict[str, Any]]:
        answer = self.get("/spatial/proj")
        return answer if isinstance(answer, list) else []

    def get(self, path: str) -> Any:
        """The JSON at ``path``: from memory, or asked again with the stored validators (304: the stored answer)."""
        if path in self._memory:
            return self._memory[path]
        from adapters.http import raise_for_status, transport_error  # httpx only where the engine runs
        import httpx

        file = self.cache_dir / (hashlib.sha256(f"{self.url}{path}".encode()).hexdigest()[:32] + ".json")
        stored = _read(file)
        headers = {}
        if stored is not None:
            if stored.get("etag"):
                headers["If-None-Match"] = stored["etag"]
            if stored.get("last_modified"):
                headers["If-Modified-Since"] = stored["last_modified"]
        what = f"AppEEARS: GET {path.split('?')[0]}"
        try:
            response = self.client.get(f"{self.url}{path}", headers=headers, auth=None)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        if response.status_code == 304 and stored is not None:
            body = stored["body"]
            self.answers[path] = "revalidated"
        else:
            raise_for_status(response, what)
            try:
                body = response.json()
            except ValueError as exc:
                raise ProviderError(f"{what}: the answer is not JSON") from exc
            self.answers[path] = "fetched"
            entry = {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified"),
                     "body": body}
            if entry["etag"] or entry["last_modified"]:
                _write(file, entry)
        self._memory[path] = body
        return body


def _read(file: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "body" in data else None


def _write(file: Path, entry: dict[str, Any]) -> None:
    from catalogs.fsio import atomic_write_bytes

    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(file, json.dumps(entry).encode())
    except OSError as exc:  # a cache that cannot be written costs a refetch next time, nothing more
        log.warning("AppEEARS: cannot write the product cache %s (%s)", file, exc.strerror or exc)


# ------------------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class LayerInfo:
    """What the product API says about one layer, as the catalog writes it."""

    name: str
    description: str | None = None
    unit: str | None = None
    scale: float | None = None
    offset: float | None = None
    fill: float | int | None = None
    valid_range: tuple[float | int, float | int] | None = None
    data_type: str | None = None
    quality_layers: tuple[str, ...] = ()


def layer_info(name: str, record: dict[str, Any] | None) -> LayerInfo:
    """A `LayerInfo` from a ``GET /product/{id}`` layer record (empty strings and ``"None"`` units are absent)."""
    record = record or {}
    unit = record.get("Units")
    unit = unit if isinstance(unit, str) and unit.strip() and unit.strip().lower() not in ("none", "n/a") else None
    low, high = _number(record.get("ValidMin")), _number(record.get("ValidMax"))
    return LayerInfo(name, record.get("Description") or None, unit, _number(record.get("ScaleFactor")),
                     _number(record.get("AddOffset")), _number(record.get("FillValue")),
                     (low, high) if low is not None and high is not None else None,
                     record.get("DataType") or None, _quality_layers(record.get("QualityLayers")))


def layer_record_name(layer: str, layers: dict[str, Any]) -> str:
    """The product API's name of a file's layer: itself, or without the cycle suffix (MCD12Q2 delivers its
    ``Greenup`` layer as ``Greenup_0`` and ``Greenup_1``)."""
    if layer in layers or not layers:
        return layer
    base = re.sub(r"_\d+$", "", layer)
    return base if base in layers else layer


def is_quality_layer(name: str, layers: dict[str, dict[str, Any]] | None = None) -> bool:
    """A quality layer: named as one of another layer's ``QualityLayers``, or called QA/QC/quality."""
    for record in (layers or {}).values():
        if name in _quality_layers(record.get("QualityLayers")) and record.get("Layer") != name:
            return True
    lowered = name.lower()
    return "quality" in lowered or any(part in ("qa", "qc") for part in lowered.replace("-", "_").split("_"))


def _quality_layers(value: Any) -> tuple[str, ...]:
    """``QualityLayers`` is a list, or a string like ``"['Band1']"``."""
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if isinstance(value, str) and value.strip():
        return tuple(v.strip().strip("'\"") for v in value.strip("[] ").split(",") if v.strip().strip("'\""))
    return ()


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def composite_end(start: datetime, granularity: str | None) -> datetime | None:
    """The last second a composite starting at ``start`` covers, from the product's ``TemporalGranularity``
    (``8 day``, ``16 day``, ``Monthly``, ``Yearly``/``Annual``, ``Daily``); None when it is a single time.

    8- and 16-day MODIS composites restart on 1 January: the last one of a year ends on 31 December.
    """
    text = (granularity or "").strip().lower()
    days = None
    if text.split(" ")[0].isdigit() and "day" in text:
        days = int(text.split(" ")[0])
    elif text in ("daily", "day"):
        days = 1
    if days is not None:
        end = start + timedelta(days=days)
        if days > 1:
            end = min(end, start.replace(year=start.year + 1, month=1, day=1, hour=0, minute=0, second=0))
        return end - timedelta(seconds=1)
    if text in ("monthly", "month"):
        last = monthrange(start.year, start.month)[1]
        return start.replace(day=last, hour=23, minute=59, second=59)
    if text in ("yearly", "annual", "year"):
        return start.replace(month=12, day=31, hour=23, minute=59, second=59)
    return None
