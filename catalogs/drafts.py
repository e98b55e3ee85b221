"""Provider-neutral descriptions of what an item should be, before the files are read.

Adapters produce `ItemDraft`s, which `catalogs.items.build` turns into STAC items by reading the files, and
a `CollectionSpec` for each collection, which `catalogs.store` completes with what its items say.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

RasterKind = Literal["auto", "continuous", "categorical", "mask"]


@dataclass
class AssetDraft:
    """One asset: a local file (``path``) or a remote one (``href``), with its roles.

    ``kind`` says how the raster's values behave, which picks the overview resampling of its COG and
    the stretch of its thumbnail: ``continuous`` (averaged), ``categorical`` (mode) or ``mask`` (nearest).
    ``fields`` are extra asset fields copied as they are (``title`` and ``description`` have their own).
    ``cog=False`` keeps a local GeoTIFF as delivered instead of making it a COG (e.g. a ``source`` copy).
    """

    path: Path | None = None
    href: str | None = None
    roles: tuple[str, ...] = ("data",)
    title: str | None = None
    description: str | None = None
    media_type: str | None = None
    kind: RasterKind = "auto"
    fields: dict[str, Any] = field(default_factory=dict)
    cog: bool = True

    def __post_init__(self) -> None:
        if (self.path is None) == (self.href is None):
            raise ValueError("an asset draft needs exactly one of path or href")
        if self.path is not None:
            self.path = Path(self.path)
        self.roles = tuple(self.roles)


@dataclass
class ItemDraft:
    """What an adapter knows about one item.

    Give either ``datetime`` or both ``start_datetime`` and ``end_datetime`` (or all three); an item given
    only the range has its start as its ``datetime``.
    ``geometry`` is required only when no asset is a georeferenced raster (tables, points); when given
    with rasters it wins over the raster footprint. ``footprint_asset`` names the raster whose footprint,
    grid and thumbnail represent the item (default: the first ``data`` raster).
    """

    id: str
    collection: str
    datetime: datetime | None = None
    start_datetime: datetime | None = None
    end_datetime: datetime | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    assets: dict[str, AssetDraft] = field(default_factory=dict)
    geometry: dict[str, Any] | None = None
    stac_extensions: list[str] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    footprint_asset: str | None = None
    thumbnail: bool = True
    #: what a user should know about the item that is not a failure (rows of a CSV skipped as malformed)
    warnings: list[str] = field(default_factory=list)


@dataclass
class CollectionSpec:
    """What a collection says about itself; extent, summaries, item_assets and links are derived."""

    id: str
    description: str
    title: str | None = None
    license: str = "other"
    providers: list[dict[str, Any]] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    #: item properties whose distinct values (or numeric range) are summarised
    summaries: list[str] = field(default_factory=list)
    #: item_assets given by the adapter win over the ones derived from items
    item_assets: dict[str, dict[str, Any]] = field(default_factory=dict)
    stac_extensions: list[str] = field(default_factory=list)
    extra_fields: dict[str, Any] = field(default_factory=dict)
    #: links beside the structural ones (root, parent, child, item): ``license``, ``about``, ...
    links: list[dict[str, Any]] = field(default_factory=list)

    def under_license(self, license: str) -> CollectionSpec:
        """This collection under ``license`` instead of its own: the provider's ``license`` links go too."""
        return replace(self, license=license, links=[link for link in self.links if link.get("rel") != "license"])
