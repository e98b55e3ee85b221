"""The CPU-heavy step of the pipeline, run in a worker process: drafts -> COGs -> a STAC item.

Everything here is a plain function of picklable arguments, so that it runs in any
`concurrent.futures.Executor` (a process pool by default; Dask distributed's executor works the same).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from catalogs import stac
from catalogs.cog import ensure_cog, place_copy
from catalogs.drafts import AssetDraft, ItemDraft
from catalogs.errors import OutputNotWritableError
from catalogs.items import build

GEOTIFF_SUFFIXES = (".tif", ".tiff")
T = TypeVar("T")


@dataclass
class BuiltItem:
    """An item ready for the catalog (local asset hrefs are absolute paths under the work folder)."""

    item: dict[str, Any]
    conversions: int
    collection: str
    seconds_convert: float = 0.0  # in ensure_cog
    seconds_build: float = 0.0    # reading the files, footprint, statistics, thumbnail, checksums


def timed(fn: Callable[..., T], /, *args: Any) -> tuple[T, float]:
    """``fn(*args)`` and the seconds it took (for the run's time accounting; picklable when ``fn`` is)."""
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def build_item(draft: ItemDraft, workdir: Path) -> BuiltItem:
    """Make every local GeoTIFF asset of ``draft`` a COG and build the item, all inside ``workdir``.

    The draft's own files (the downloads) are never moved or changed: COGs are written to ``workdir``,
    other files are hard-linked (or copied) there, so a re-run after a crash finds the downloads intact.
    """
    workdir = Path(workdir)
    if workdir.exists():  # left by a killed run: start clean
        shutil.rmtree(workdir)
    try:
        workdir.mkdir(parents=True)
    except OSError as exc:
        raise OutputNotWritableError(workdir, exc.strerror or str(exc)) from exc
    conversions = 0
    convert_seconds = 0.0
    assets: dict[str, AssetDraft] = {}
    for key, asset in draft.assets.items():
        if asset.path is None:
            assets[key] = asset
            continue
        target = workdir / asset.path.name
        if asset.cog and asset.path.suffix.lower() in GEOTIFF_SUFFIXES:
            result, seconds = timed(ensure_cog, asset.path, target, asset.kind)
            conversions += int(result.converted)
            convert_seconds += seconds
            # ensure_cog checked the output already: saying so spares the item builder a second check
            asset = replace(asset, media_type=asset.media_type or stac.COG)
        else:
            place_copy(asset.path, target, link=True)
        assets[key] = replace(asset, path=target)
    item, build_seconds = timed(lambda: build(replace(draft, assets=assets), workdir=workdir))
    return BuiltItem(item.to_dict(include_self_link=False, transform_hrefs=False), conversions, draft.collection,
                     convert_seconds, build_seconds)

