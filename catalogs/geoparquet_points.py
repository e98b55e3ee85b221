"""Point tables as GeoParquet 1.1, written batch by batch in bounded memory: one module, so that every
provider (NGU ground-motion points, AppEEARS point samples) writes points the same way.

The geometry column is GeoArrow's native ``point`` encoding (a struct of x/y doubles, which GeoParquet 1.1
allows beside WKB), made by ``geoarrow.pyarrow`` from the longitude and latitude arrays without a copy
per point, with OGC:CRS84 on its type. The rows go through `pyarrow.parquet.ParquetWriter` one batch at a
time (gathered into row groups of at least `ROW_GROUP_ROWS` rows); the ``geo`` metadata, whose ``bbox``
covers the whole file, is added to the footer at close (`ParquetWriter.add_key_value_metadata`), once every
batch has been seen. geoarrow's own writer (`geoarrow.pyarrow.io.write_geoparquet_table`) and geopandas'
``to_parquet`` take a whole table, which is what a file of millions of points must not need.

`PointWriter` streams; `write_points` writes a small table in one call and returns what the table
extension says about it. This module imports pyarrow: import it only where points are written (a worker).
"""


from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import geoarrow.pyarrow as ga
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GEOPARQUET_VERSION = "1.1.0"
#: batches are gathered into row groups of at least this many rows (readers skip by row group)
ROW_GROUP_ROWS = 65_536
GEOMETRY = "geometry"
POINT_TYPE = ga.point().with_crs(ga.OGC_CRS84)


def point_array(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """GeoArrow points (native encoding, OGC:CRS84) from longitude and latitude arrays."""
    return POINT_TYPE.from_geobuffers(None, np.ascontiguousarray(lon, dtype=np.float64),
                                      np.ascontiguousarray(lat, dtype=np.float64))


def geo_metadata(bbox: list[float] | None) -> dict[str, Any]:
    """The ``geo`` file metadata of a GeoParquet 1.1 file whose one geometry column holds points in OGC:CRS84
    (the default CRS, so no ``crs`` key)."""
    column: dict[str, Any] = {"encoding": "point", "geometry_types": ["Point"]}
    if bbox is not None:
        column["bbox"] = bbox
    return {"version": GEOPARQUET_VERSION, "primary_column": GEOMETRY, "columns": {GEOMETRY: column}}


class PointWriter:
    """Writes batches of points and their attributes to a GeoParquet file.

    ``schema`` is the attribute schema (without the geometry, which is added first); ``metadata`` goes into
    the file's key-value metadata with ``geo``, at close. Use as a context manager; `write` takes the
    lon/lat and the attribute arrays of each batch.

    The Arrow schema is not stored in the file (``store_schema=False``): pyarrow readers then take the
    file's key-value metadata (``geo`` among it) as the schema metadata, as GeoParquet readers expect,
    instead of the metadata frozen into the stored schema when the writer opened.
    """

    def __init__(self, path: Path, schema: pa.Schema, *, metadata: dict[str, str] | None = None,
                 compression: str = "zstd", row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.path = Path(path)
        self.row_group_rows = row_group_rows
        self.schema = pa.schema([pa.field(GEOMETRY, POINT_TYPE, nullable=False), *schema])
        self.metadata = dict(metadata or {})
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.rows = 0
        self._bounds = [math.inf, math.inf, -math.inf, -math.inf]
        self._writer = pq.ParquetWriter(str(self.path), self.schema, compression=compression, store_schema=False)

    def write(self, lon: np.ndarray, lat: np.ndarray, columns: list[pa.Array]) -> None:
        if len(lon) == 0:
            return
        b = self._bounds
        b[0], b[1] = min(b[0], float(np.min(lon))), min(b[1], float(np.min(lat)))
        b[2], b[3] = max(b[2], float(np.max(lon))), max(b[3], float(np.max(lat)))
        batch = pa.RecordBatch.from_arrays([point_array(lon, lat), *columns], schema=self.schema)
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += len(lon)
        if self._pending_rows >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.Table.from_batches(self._pending, schema=self.schema)
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
            self._pending, self._pending_rows = [], 0

    @property
    def bbox(self) -> list[float] | None:
        return None if self.rows == 0 else [round(v, 9) for v in self._bounds]

    def table_info(self, described: Mapping[str, Mapping[str, Any]] | None = None) -> TableInfo:
        """The table extension's view of what was written: the geometry, then each column's name and Arrow
        type, with what ``described`` adds or overrides for it (``description``, ``unit``, a ``type``)."""
        columns: list[dict[str, Any]] = [dict(GEOMETRY_COLUMN)]
        for f in self.schema:
            if f.name != GEOMETRY:
                columns.append({"name": f.name, "type": str(f.type), **(described or {}).get(f.name, {})})
        return TableInfo(columns, self.rows)

    def close(self) -> None:
        if self._writer is not None:
            self._flush()
            self._writer.add_key_value_metadata({**self.metadata, "geo": json.dumps(geo_metadata(self.bbox))})
            self._writer.close()
            self._writer = None  # type: ignore[assignment]

    def abort(self) -> None:
        self._pending = []
        if self._writer is not None:
            self._writer.close()
            self._writer = None  # type: ignore[assignment]
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> PointWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass(frozen=True)
class TableInfo:
    """``table:columns`` (name and Arrow type of each column) and ``table:row_count`` of a written table."""

    columns: list[dict[str, Any]]
    row_count: int
    primary_geometry: str = GEOMETRY

    def fields(self) -> dict[str, Any]:
        """The table extension fields of the asset."""
        return {"table:columns": self.columns, "table:row_count": self.row_count,
                "table:primary_geometry": self.primary_geometry}


#: how `table:columns` describes the geometry column this module writes
GEOMETRY_COLUMN = {"name": GEOMETRY, "type": "point",
                   "description": "point location (GeoArrow point, OGC:CRS84 longitude/latitude)"}


def write_points(path: Path, columns: Mapping[str, Sequence[Any]], longitudes: Sequence[float],
                 latitudes: Sequence[float], *, descriptions: Mapping[str, str] | None = None) -> TableInfo:
    """Write ``columns`` (equal lengths; types inferred by Arrow) and their points to ``path`` in one batch."""
    arrays = [pa.array(list(values)) for values in columns.values()]
    schema = pa.schema([pa.field(name, array.type) for name, array in zip(columns, arrays, strict=True)])
    path.parent.mkdir(parents=True, exist_ok=True)
    with PointWriter(path, schema) as writer:
        writer.write(np.asarray(longitudes, dtype=np.float64), np.asarray(latitudes, dtype=np.float64), arrays)
    return writer.table_info({name: {"description": text} for name, text in (descriptions or {}).items()})
