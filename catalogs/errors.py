"""Errors of the catalog layer, and the base class every harvester error shares.

    HarvestError                    base of every error the harvester raises on purpose
     +-- CatalogError               problems with catalogs, rasters and files
          +-- NotARasterError       a file that GDAL cannot read as a raster (missing, corrupt, wrong format)
          +-- CogConversionError    GDAL failed to write a COG, or the result does not validate
          +-- InvalidIdError        an item or collection id that is not safe as a file name
          +-- OutputNotWritableError  the catalog folder (or a file in it) cannot be written
          +-- CatalogFormatError    an existing catalog folder that is not one of ours, or is damaged
          +-- SchemaUnavailableError  a JSON schema that cannot be had offline

`adapters.errors` and `harvester.config` derive their errors from `HarvestError` too, so the CLI can catch
everything in one place and turn it into an exit code.

Every one of them pickles (they cross the executor seam from worker processes): `HarvestError.__reduce__`
rebuilds an error from its ``args`` and attributes without calling its ``__init__``, so a subclass may take
whatever constructor arguments it likes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class HarvestError(Exception):
    """Base class of every error raised on purpose by the harvester."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce unpickles by calling ``cls(*self.args)``: with a subclass whose __init__ takes
        # other arguments than the message (NotARasterError(path, reason)) that raises TypeError in the
        # unpickling process, which a process pool reports as a broken pool
        return _rebuild, (type(self), self.args), self.__dict__ or None


def _rebuild(cls: type[HarvestError], args: tuple[Any, ...]) -> HarvestError:
    """An instance of ``cls`` with ``args``, not initialised again (pickle restores its attributes after)."""
    return cls.__new__(cls, *args)


class CatalogError(HarvestError):
    """A problem with a catalog, a raster or a file."""


class NotARasterError(CatalogError):
    """A file that cannot be read as a raster."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: not a readable raster ({reason})")


class CogConversionError(CatalogError):
    """Writing a Cloud-Optimized GeoTIFF failed, or the result did not validate."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: COG conversion failed ({reason})")


class InvalidIdError(CatalogError):
    """An item or collection id that cannot be used as a file or folder name."""

    def __init__(self, kind: str, value: str, reason: str) -> None:
        self.kind = kind
        self.value = value
        super().__init__(f"invalid {kind} id {value!r}: {reason}")


class OutputNotWritableError(CatalogError):
    """The catalog folder or a file in it cannot be written."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: cannot write ({reason})")


class CatalogFormatError(CatalogError):
    """An existing catalog folder that is damaged or was not written by the harvester."""


class SchemaUnavailableError(CatalogError):
    """A JSON schema needed for validation that is neither in the schema folder, bundled, nor cached."""

    def __init__(self, url: str, hint: str) -> None:
        self.url = url
        super().__init__(f"schema {url} is not available offline ({hint})")
