"""STAC vocabulary used across the package: versions, extension schema URLs, media types and roles."""

from __future__ import annotations

import os
from pathlib import Path

STAC_VERSION = "1.1.0"

#: the folder of a catalog that holds what the harvester keeps beside it (index, state, locks, downloads);
#: hidden, so that servers and readers of the catalog skip it
STATE_DIR = ".harvest"
#: the files a catalog folder's root may be: its catalog, or a lone collection
ROOT_DOCUMENTS = ("catalog.json", "collection.json")

PROJECTION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v2.0.0/schema.json"
FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
PROCESSING = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
TIMESTAMPS = "https://stac-extensions.github.io/timestamps/v1.1.0/schema.json"
SAR = "https://stac-extensions.github.io/sar/v1.3.0/schema.json"
SAT = "https://stac-extensions.github.io/sat/v1.2.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
TABLE = "https://stac-extensions.github.io/table/v1.2.0/schema.json"
# AppEEARS: quality-layer classes, and product DOIs
CLASSIFICATION = "https://stac-extensions.github.io/classification/v2.0.0/schema.json"
SCIENTIFIC = "https://stac-extensions.github.io/scientific/v1.0.0/schema.json"

COG = "image/tiff; application=geotiff; profile=cloud-optimized"
GEOTIFF = "image/tiff; application=geotiff"
PNG = "image/png"
JPEG = "image/jpeg"
JSON = "application/json"
GEOJSON = "application/geo+json"
GEOPARQUET = "application/vnd.apache.parquet"
NETCDF = "application/netcdf"
HDF5 = "application/x-hdf5"
CSV = "text/csv"
TEXT = "text/plain"
XML = "application/xml"
ZIP = "application/zip"
KMZ = "application/vnd.google-earth.kmz"

#: media type by file suffix, for files whose type the adapter did not state
MEDIA_TYPES = {
    ".tif": GEOTIFF,
    ".tiff": GEOTIFF,
    ".png": PNG,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".json": JSON,
    ".geojson": GEOJSON,
    ".parquet": GEOPARQUET,
    ".nc": NETCDF,
    ".h5": HDF5,
    ".csv": CSV,
    ".txt": TEXT,
    ".md": "text/markdown",
    ".log": TEXT,
    ".xml": XML,
    ".zip": ZIP,
    ".kmz": KMZ,
}


def media_type_for(name: str) -> str | None:
    """The media type for a file name by its suffix (``None`` when unknown)."""
    lower = name.lower()
    for suffix, media in MEDIA_TYPES.items():
        if lower.endswith(suffix):
            return media
    return None


def root_document(directory: str | os.PathLike[str]) -> str | None:
    """The root document of the catalog folder ``directory``: its catalog, or a lone collection."""
    return next((name for name in ROOT_DOCUMENTS if (Path(directory) / name).is_file()), None)
