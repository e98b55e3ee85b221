"""Where a Sentinel Hub deployment is: its token URL, API base and Catalog URL, set together by a preset.

``deployment = "sentinelhub"`` (services.sentinel-hub.com) or ``"cdse"`` (the Copernicus Data Space
Ecosystem, sh.dataspace.copernicus.eu); ``SH_BASE_URL`` / ``SH_AUTH_URL`` (or the ``base_url``, ``auth_url``
and ``catalog_url`` settings) override single parts, e.g. for the regional endpoints (``services-uswest2``
for Landsat/MODIS/HLS) or a simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

CATALOG_PATH = "/api/v1/catalog/1.0.0/"
ASYNC_PATH = "/api/v1/async/process"
PROCESS_PATH = "/api/v1/process"


@dataclass(frozen=True)
class Deployment:
    name: str
    token_url: str
    base_url: str
    catalog_url: str

    @property
    def async_url(self) -> str:
        return self.base_url.rstrip("/") + ASYNC_PATH

    @property
    def process_url(self) -> str:
        return self.base_url.rstrip("/") + PROCESS_PATH


PRESETS: dict[str, tuple[str, str]] = {
    "sentinelhub": ("https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token",
                    "https://services.sentinel-hub.com"),
    "cdse": ("https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token",
             "https://sh.dataspace.copernicus.eu"),
}


def catalog_url_of(base_url: str) -> str:
    return base_url.rstrip("/") + CATALOG_PATH


def resolve(name: str, *, token_url: str | None = None, base_url: str | None = None,
            catalog_url: str | None = None) -> Deployment:
    """The deployment ``name`` with the parts given overriding its preset (the Catalog follows the base URL
    unless given itself)."""
    if name not in PRESETS:
        raise ValueError(f"unknown Sentinel Hub deployment {name!r} (known: {', '.join(sorted(PRESETS))})")
    preset_token, preset_base = PRESETS[name]
    base = (base_url or preset_base).rstrip("/")
    catalog = catalog_url or catalog_url_of(base)
    return Deployment(name, token_url or preset_token, base, catalog if catalog.endswith("/") else catalog + "/")
