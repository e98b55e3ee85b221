"""Everything STAC: COG conversion, items from rasters and tables, the static catalog writer and validation.

This package knows nothing about providers, the CLI or the harvest state database.
"""
