"""Point tables as GeoParquet (one module, so that every provider writes points the same way).

`write_points` writes columns and a longitude/latitude pair as a GeoParquet 1.x file with a WKB ``geometry``
column in OGC:CRS84 (geoarrow-pyarrow writes the ``geo`` metadata) and returns what the table extension
says about it. pyarrow is imported here only, in the worker that translates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TableInfo:
    """``table:columns`` (name and Arrow type of each column) and ``table:row_count`` of a written table."""

    columns: list[dict[str, str]]
    row_count: int
    primary_geometry: str = "geometry"

    def fields(self) -> dict[str, Any]:
        """The table extension fields of the asset."""
        return {"table:columns": self.columns, "table:row_count": self.row_count,
                "table:primary_geometry": self.primary_geometry}


def write_points(path: Path, columns: Mapping[str, Sequence[Any]], longitudes: Sequence[float],
                 latitudes: Sequence[float], *, descriptions: Mapping[str, str] | None = None) -> TableInfo:
    """Write ``columns`` (equal lengths; types inferred by Arrow) plus a point ``geometry`` to ``path``."""
    import geoarrow.pyarrow as ga
    import pyarrow as pa
    from geoarrow.pyarrow import io as gio

    points = ga.as_wkb(ga.point().from_geobuffers(None, pa.array(longitudes, pa.float64()).to_numpy(),
                                                  pa.array(latitudes, pa.float64()).to_numpy()))
    points = ga.with_crs(points, ga.OGC_CRS84)
    table = pa.table({**{name: pa.array(list(values)) for name, values in columns.items()}, "geometry": points})
    path.parent.mkdir(parents=True, exist_ok=True)
    gio.write_geoparquet_table(table, str(path), write_bbox=True, write_geometry_types=True, compression="zstd")
    described = []
    for field in table.schema:
        column: dict[str, str] = {"name": field.name, "type": "binary (WKB point)" if field.name == "geometry"
                                  else str(field.type)}
        if descriptions and field.name in descriptions:
            column["description"] = descriptions[field.name]
        described.append(column)
    return TableInfo(described, table.num_rows)
