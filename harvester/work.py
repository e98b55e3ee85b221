"""The CPU-heavy step of the pipeline, run in a worker process: drafts -> COGs -> a STAC item.

Everything here is a plain function of picklable arguments, so that it runs in any
`concurrent.futures.Executor` (a process pool by default; Dask distributed's executor works the same).
The pipeline submits every task through `run_task`, so whatever a task raises comes back across the seam
as an error that pickles: a `HarvestError` as it is, anything else (a bug, a `MemoryError`, a library's
own error) as a `WorkerError` carrying its type, message and traceback as text.
"""

from __future__ import annotations

import pickle
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from catalogs import stac
from catalogs.drafts import AssetDraft, ItemDraft
from catalogs.errors import HarvestError, OutputNotWritableError

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


class WorkerError(HarvestError):
    """An exception that is not a `HarvestError`, raised by a task in a worker, carried back as text.

    ``task`` names the function (``FakeAdapter.translate``), ``type_name`` the exception's class
    (``KeyError``, ``rasterio.errors.RasterioIOError``), ``detail`` is its formatted traceback.
    """

    def __init__(self, task: str, type_name: str, message: str, detail: str = "") -> None:
        self.task = task
        self.type_name = type_name
        self.message = message
        self.detail = detail
        super().__init__(f"{task} failed: {type_name}" + (f": {message}" if message else ""))


def timed(fn: Callable[..., T], /, *args: Any) -> tuple[T, float]:
    """``fn(*args)`` and the seconds it took (for the run's time accounting; picklable when ``fn`` is)."""
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def run_task(fn: Callable[..., T], /, *args: Any) -> tuple[T, float]:
    """`timed` ``fn(*args)`` as a worker runs it: whatever it raises is re-raised as an error that pickles.

    A process pool unpickles a task's exception in its result thread; an exception that does not unpickle
    there breaks the whole pool. So an error is sent back as it is only when it is a `HarvestError` that
    survives a pickle round trip here; anything else becomes a `WorkerError` (Ctrl-C stays Ctrl-C).

    The `WorkerError` is raised outside the handler, so it carries neither the original as its cause or
    context nor the original's traceback (its ``detail`` has that as text): where Dask distributed is
    loaded, tblib makes every exception pickle its cause and context too, and the original may not pickle.
    """
    try:
        return timed(fn, *args)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and MemoryError too: any of them is the failure of this task only
        error = portable(exc, task_name(fn))
        if error is exc:
            raise
    raise error


def portable(exc: BaseException, task: str) -> HarvestError:
    """``exc`` if it is a `HarvestError` that pickles, otherwise a `WorkerError` describing it."""
    if isinstance(exc, HarvestError):
        try:
            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:  # an attribute that does not pickle: fall back to the text
            pass
    return WorkerError(task, type_name(exc), _message(exc), "".join(traceback.format_exception(exc)))


def describe(exc: BaseException) -> str:
    """How an error reads in a summary: a `HarvestError` by its message, anything else by type and message."""
    if isinstance(exc, HarvestError):
        return str(exc)
    message = _message(exc)
    return f"{type_name(exc)}: {message}" if message else type_name(exc)


def type_name(exc: BaseException) -> str:
    """``KeyError``, or ``module.Class`` for an exception that is not a builtin."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not hide the original error
        return f"<unprintable {type(exc).__name__}>"


def task_name(fn: Callable[..., Any]) -> str:
    """How errors and logs name the function a task runs (``FakeAdapter.translate``)."""
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def build_item(draft: ItemDraft, workdir: Path) -> BuiltItem:
    """Make every local GeoTIFF asset of ``draft`` a COG and build the item, all inside ``workdir``.

    The draft's own files (the downloads) are never moved or changed: COGs are written to ``workdir``,
    other files are hard-linked (or copied) there, so a re-run after a crash finds the downloads intact.
    """
    # the GDAL stack is loaded here, in the worker (preloaded by its forkserver), never by the engine itself
    from catalogs.cog import ensure_cog, place_copy
    from catalogs.items import build

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

