"""Everything STAC: COG conversion, items from rasters and tables, the static catalog writer and validation.

This package knows nothing about providers, the CLI or the harvest state database.
"""

#: the version of the stac-harvester distribution (all three packages), read by pyproject.toml
__version__ = "0.1.0"
