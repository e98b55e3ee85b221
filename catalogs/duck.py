"""DuckDB with its spatial extension, offline.

DuckDB downloads extensions from its own server on first use; that server is not always reachable (and never
from CI here). The ``duckdb-extension-spatial`` package on PyPI ships the extension built for one DuckDB
version, laid out as ``extensions/v<version>/spatial.duckdb_extension``: `connect` loads it from there when
its version is the installed DuckDB's, and otherwise falls back to an extension DuckDB installed itself
(``INSTALL spatial`` once, with network).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from pathlib import Path

import duckdb

from catalogs.errors import CatalogError

log = logging.getLogger(__name__)


class SpatialUnavailableError(CatalogError):
    """DuckDB's spatial extension can be loaded neither from its PyPI package nor from DuckDB's own folder."""


def spatial_extension_file() -> Path | None:
    """The spatial extension that ``duckdb-extension-spatial`` ships for the installed DuckDB, if any."""
    spec = importlib.util.find_spec("duckdb_extension_spatial")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    candidate = folder / "extensions" / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    return candidate if candidate.is_file() else None


def connect(readable: Iterable[Path] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with spatial loaded that can read only the files ``readable``.

    With ``readable`` given, every other file-system access (reading or writing any other file, installing
    extensions) is switched off and the configuration locked, so that SQL built from a request cannot reach
    anything but those files.
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    packaged = spatial_extension_file()
    try:
        if packaged is not None:
            con.load_extension(str(packaged))
        else:
            con.execute("LOAD spatial")
    except duckdb.Error as exc:
        con.close()
        raise SpatialUnavailableError(
            f"DuckDB {duckdb.__version__} cannot load its spatial extension ({exc}); install the matching "
            f"package: pip install 'duckdb-extension-spatial=={duckdb.__version__}'") from exc
    paths = [str(Path(p).resolve()) for p in readable]
    if paths:
        con.execute("SET allowed_paths = ?", [paths])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier (double-quoted, inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'

