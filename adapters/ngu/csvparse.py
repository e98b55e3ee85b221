"""Reading NGU InSAR result CSVs in batches with pyarrow's streaming CSV reader (never row by row in Python).

The layout (``PROVIDERS.md``): a header whose names have leading spaces, known columns in an order and a
set that vary by release, ``pixel`` and ``line`` twice (the second ones are kept as ``pixel_2`` and
``line_2``), unknown columns kept as they come, then one column per acquisition named ``YYYYMMDD`` (the
cumulative line-of-sight displacement in mm). Columns are found by name, never by position.

Broken rows never stop the file: a row with the wrong number of fields (a truncated last row) is skipped by
the parser's invalid-row handler, and a row with a value that is not a number is dropped from its batch;
both are counted (`CsvStats.bad_rows`). Values are converted by the reader itself (typed columns) on the
fast path; only a file that has a bad number is read a second time with text columns, converted batch by
batch with the bad rows taken out.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from adapters.errors import BadProductError

GZIP_MAGIC = b"\x1f\x8b"
#: bytes of CSV text per batch (about 5,000 rows of a file with 100 dates). pyarrow's streaming reader reads
#: up to 32 blocks ahead of its consumer, so this also bounds the memory a file can take: 32 x 4 MiB
BLOCK_SIZE = 4 << 20
_DATE = re.compile(r"^\d{8}$")
_INT_TEXT = r"^\s*[-+]?\d+\s*$"
_FLOAT_TEXT = r"^\s*([-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[nN][aA][nN]|[iI][nN][fF](inity)?))?\s*$"


@dataclass(frozen=True)
class Column:
    """A known column: its Arrow type, unit and what it holds."""

    type: pa.DataType
    description: str
    unit: str | None = None


_F32, _F64 = pa.float32(), pa.float64()
#: every column a release is known to have (other columns are kept with the type the reader infers)
KNOWN: dict[str, Column] = {
    "pid": Column(pa.string(), "point identifier"),
    "track": Column(pa.int16(), "Sentinel-1 relative orbit (track)"),
    "mode": Column(pa.int8(), "swath: 0=IW1, 1=IW2, 2=IW3, 3=EW1"),
    "burst": Column(pa.int32(), "NGU burst number"),
    "line": Column(_F64, "radar line (azimuth) coordinate"),
    "pixel": Column(_F64, "radar pixel (range) coordinate"),
    "latitude": Column(_F64, "WGS84 latitude", "deg"),
    "longitude": Column(_F64, "WGS84 longitude", "deg"),
    "easting": Column(_F64, "easting", "m"),
    "northing": Column(_F64, "northing", "m"),
    "height": Column(_F32, "height", "m"),
    "height_wgs84": Column(_F32, "ellipsoidal height (WGS84)", "m"),
    "mean_velocity": Column(_F32, "mean line-of-sight velocity (negative: away from the satellite)", "mm/yr"),
    "vertical_velocity": Column(_F32, "mean vertical velocity", "mm/yr"),
    "rmse": Column(_F32, "root mean square error of the velocity model", "mm"),
    "temporal_coherence": Column(_F32, "temporal coherence (0-1)"),
    "amplitude_quality": Column(_F32, "amplitude quality"),
    "amplitude_dispersion": Column(_F32, "amplitude dispersion"),
    "acceleration": Column(_F32, "line-of-sight acceleration", "mm/yr^2"),
    "seasonality": Column(_F32, "seasonal amplitude", "mm"),
    "line_2": Column(_F64, "radar line coordinate (the file's second 'line' column)"),
    "pixel_2": Column(_F64, "radar pixel coordinate (the file's second 'pixel' column)"),
    "incidence_angle": Column(_F32, "incidence angle", "deg"),
    "track_angle": Column(_F32, "track (heading) angle", "deg"),
    "los_east": Column(_F32, "east component of the line-of-sight unit vector"),
    "los_north": Column(_F32, "north component of the line-of-sight unit vector"),
    "los_up": Column(_F32, "up component of the line-of-sight unit vector"),
}
REQUIRED = ("latitude", "longitude", "mean_velocity")
DISPLACEMENT_TYPE = _F32


@dataclass(frozen=True)
class Layout:
    """What a file's header says: unique column names in file order, and the acquisition dates."""

    names: tuple[str, ...]
    attributes: tuple[str, ...]       # every column that is not a date, in file order
    date_columns: tuple[str, ...]     # the ``YYYYMMDD`` columns, in file order
    dates: tuple[date, ...]


@dataclass
class CsvStats:
    bad_rows: int = 0
    #: the first few problems, for the log and the error text
    examples: list[str] = field(default_factory=list)

    def bad(self, count: int, why: str) -> None:
        self.bad_rows += count
        if len(self.examples) < 5:
            self.examples.append(why)


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def _text_stream(path: Path) -> Any:
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def read_layout(path: Path, what: str) -> Layout:
    """Parse the header line of a result file (gzipped or not)."""
    try:
        with _text_stream(path) as f:
            header = f.readline(1 << 20).decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise BadProductError(f"{what}: cannot read the CSV header: {exc}") from exc
    if not header.strip():
        raise BadProductError(f"{what}: empty file (no CSV header)")
    names: list[str] = []
    seen: dict[str, int] = {}
    dates: list[tuple[str, date]] = []
    for raw in header.rstrip("\r\n").split(","):
        name = raw.strip()
        if not name:
            name = f"column_{len(names) + 1}"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        names.append(name)
        if _DATE.match(name):
            try:
                dates.append((name, date(int(name[:4]), int(name[4:6]), int(name[6:]))))
            except ValueError:
                pass  # eight digits that are not a date: an attribute
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise BadProductError(f"{what}: the CSV header has no {', '.join(missing)} column "
                              f"(it has: {', '.join(names[:30])})")
    date_names = {name for name, _ in dates}
    return Layout(tuple(names), tuple(n for n in names if n not in date_names),
                  tuple(n for n, _ in dates), tuple(d for _, d in dates))


def column_types(layout: Layout) -> dict[str, pa.DataType]:
    types = {name: KNOWN[name].type for name in layout.attributes if name in KNOWN}
    types.update({name: DISPLACEMENT_TYPE for name in layout.date_columns})
    return types


def batches(path: Path, layout: Layout, stats: CsvStats, what: str, *,
            block_size: int = BLOCK_SIZE) -> Iterator[pa.RecordBatch]:
    """The file's rows in record batches, typed (`column_types`; other columns as inferred), bad rows skipped
    and counted in ``stats``.

    Raises `BadNumber` on the first value that does not convert (the caller then reads again with
    `careful_batches`)."""
    reader = _open(path, layout, stats, what, block_size, column_types(layout))
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            if "conversion error" in str(exc) or "invalid value" in str(exc):
                raise BadNumber(str(exc), reader.schema) from exc
            raise BadProductError(f"{what}: unreadable CSV: {exc}") from exc
        except (OSError, EOFError) as exc:  # a gzip stream cut short
            raise BadProductError(f"{what}: the file is cut short or corrupt: {exc}") from exc
        yield batch


def careful_batches(path: Path, layout: Layout, stats: CsvStats, what: str, schema: pa.Schema, *,
                    block_size: int = BLOCK_SIZE) -> Iterator[pa.RecordBatch]:
    """Like `batches`, for a file with bad numbers: read as text, rows whose numbers do not parse dropped
    (and counted), then converted to ``schema`` (the types the fast path used)."""
    if len(schema) == 0:  # the first block already failed: unknown columns stay text
        known = column_types(layout)
        schema = pa.schema([(name, known.get(name, pa.string())) for name in layout.names])
    text = {name: pa.string() for name in layout.names}
    reader = _open(path, layout, stats, what, block_size, text)
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError, EOFError) as exc:
            raise BadProductError(f"{what}: unreadable CSV: {exc}") from exc
        good = None
        for name in layout.names:
            target = schema.field(name).type
            if pa.types.is_string(target) or pa.types.is_large_string(target):
                continue
            pattern = _INT_TEXT if pa.types.is_integer(target) else _FLOAT_TEXT
            ok = pc.fill_null(pc.match_substring_regex(batch.column(name), pattern), True)
            good = ok if good is None else pc.and_(good, ok)
        if good is not None:
            kept = pc.sum(good).as_py() or 0
            if kept < batch.num_rows:
                stats.bad(batch.num_rows - kept, f"{batch.num_rows - kept} row(s) with a value that is not a number")
                batch = batch.filter(good)
        try:
            arrays = [pc.cast(pc.utf8_trim_whitespace(batch.column(f.name)) if not pa.types.is_string(f.type)
                              else batch.column(f.name), f.type) for f in schema]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:  # e.g. an integer out of range
            stats.bad(batch.num_rows, f"a batch of {batch.num_rows} row(s) dropped: {exc}")
            continue
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        yield batch


class BadNumber(Exception):
    """A value the typed reader could not convert; ``schema`` is what it was reading into."""

    def __init__(self, message: str, schema: pa.Schema) -> None:
        super().__init__(message)
        self.schema = schema


def _open(path: Path, layout: Layout, stats: CsvStats, what: str, block_size: int,
          types: dict[str, pa.DataType]) -> pacsv.CSVStreamingReader:
    def invalid_row(row: Any) -> str:
        stats.bad(1, f"line {row.number}: {row.actual_columns} field(s), {row.expected_columns} expected"
                  if row.number is not None else f"a row with {row.actual_columns} field(s), "
                  f"{row.expected_columns} expected")
        return "skip"

    source = pa.input_stream(str(path), compression="gzip" if is_gzip(path) else None,
                             buffer_size=1 << 20)
    try:
        return pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=list(layout.names), skip_rows=1, block_size=block_size),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid_row),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        source.close()
        if "conversion error" in str(exc) or "invalid value" in str(exc):
            raise BadNumber(str(exc), pa.schema([])) from exc
        raise BadProductError(f"{what}: unreadable CSV: {exc}") from exc
    except (OSError, EOFError) as exc:
        source.close()
        raise BadProductError(f"{what}: the file is cut short or corrupt: {exc}") from exc


__all__ = ["BadNumber", "Column", "CsvStats", "KNOWN", "Layout", "batches", "careful_batches", "column_types",
           "is_gzip", "read_layout"]
