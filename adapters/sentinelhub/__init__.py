"""Sentinel Hub (and the Copernicus Data Space Ecosystem): its STAC Catalog, Async and synchronous Process API."""
