"""Deployment presets set the token URL, API base and Catalog URL together; parts can be overridden."""

from __future__ import annotations

import pytest

from adapters.sentinelhub.adapter import CatalogSettings
from adapters.sentinelhub.deployments import resolve
from harvester.config import ConfigError, parse_source


def test_presets() -> None:
    hub = resolve("sentinelhub")
    assert (hub.token_url, hub.base_url, hub.catalog_url, hub.async_url) == (
        "https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token",
        "https://services.sentinel-hub.com", "https://services.sentinel-hub.com/api/v1/catalog/1.0.0/",
        "https://services.sentinel-hub.com/api/v1/async/process")
    cdse = resolve("cdse")
    assert (cdse.token_url, cdse.catalog_url, cdse.process_url) == (
        "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token",
        "https://sh.dataspace.copernicus.eu/api/v1/catalog/1.0.0/", "https://sh.dataspace.copernicus.eu/api/v1/process")


def test_overrides_and_environment() -> None:
    moved = resolve("cdse", base_url="https://services-uswest2.sentinel-hub.com/")
    assert moved.catalog_url == "https://services-uswest2.sentinel-hub.com/api/v1/catalog/1.0.0/"
    assert moved.token_url.startswith("https://identity.dataspace.copernicus.eu/")
    raw = {"provider": "sentinelhub-catalog", "collection": "sentinel-2-l2a", "datetime": "2020-01-01/..",
           "deployment": "cdse"}
    source = parse_source(raw, "sources[0]", base_dir=None, env={"SH_AUTH_URL": "http://127.0.0.1:9/token"})  # type: ignore[arg-type]
    assert isinstance(source.settings, CatalogSettings)
    assert source.settings.resolved().token_url == "http://127.0.0.1:9/token"
    assert source.settings.resolved().base_url == "https://sh.dataspace.copernicus.eu"
    with pytest.raises(ConfigError, match="deployment must be one of 'sentinelhub', 'cdse'"):
        parse_source({**raw, "deployment": "planet"}, "sources[0]", base_dir=None, env={})  # type: ignore[arg-type]
