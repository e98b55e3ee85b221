"""Run ``harvester run CONFIG`` with the fake provider, killing the process (SIGKILL) at a chosen point.

    python -m tests.harvester.crashrun CONFIG POINT N

POINT names a step of the pipeline (see `POINTS`); the process kills itself at the N-th time it gets
there, exactly as an outside ``kill -9`` would at that moment. Used by test_crash.py.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any, Callable

from tests.harvester import fakeprovider


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _hook(owner: Any, name: str, n: int, *, after: bool = False,
          when: Callable[..., bool] = lambda *a, **k: True) -> None:
    """Make the N-th call of ``owner.name`` (that satisfies ``when``) kill the process, before or after it runs."""
    real = getattr(owner, name)
    calls = 0

    @functools.wraps(real)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        if when(*args, **kwargs):
            calls += 1
            if calls == n and not after:
                _die()
        result = real(*args, **kwargs)
        if calls == n and after:
            _die()
        return result

    setattr(owner, name, wrapper)


def _atomic_write_then_die(path: Any, data: bytes) -> None:
    """Leave the temporary file an interrupted atomic write leaves, then die."""
    folder, base = os.path.split(os.fspath(path))
    with open(os.path.join(folder, f".{base}.{os.getpid()}.tmp"), "wb") as fh:
        fh.write(data[: len(data) // 2])
    _die()


def install(point: str, n: int) -> None:
    import catalogs.cog
    import catalogs.fsio
    import catalogs.items
    import catalogs.store
    from harvester.state import StateDB

    if point == "submit-unrecorded":  # the provider has the jobs, the state does not know their ids
        _hook(StateDB, "add_jobs", n)
    elif point == "poll":
        _hook(fakeprovider.FakeAdapter, "poll", n)
    elif point == "file-unrecorded":  # the file is in place, the state does not say so
        _hook(StateDB, "file_done", n)
    elif point == "converted":
        _hook(catalogs.cog, "convert_to_cog", n, after=True)
    elif point == "converting":  # GDAL wrote (or a COG was linked to) the temp file, not yet renamed
        _hook(catalogs.fsio, "rename_into_place", n,
              when=lambda src, dst: os.fspath(src).endswith(".tmp") and os.fspath(dst).endswith(".tif"))
    elif point == "thumbnail":
        _hook(catalogs.items, "write_thumbnail", n)
    elif point == "placing-assets":  # some assets moved into the catalog, the item file not written
        _hook(catalogs.store, "_place", n)
    elif point == "writing-item":
        calls = 0
        real = catalogs.store.atomic_write_bytes

        def write(path: Any, data: bytes) -> None:
            nonlocal calls
            calls += 1
            if calls == n:
                _atomic_write_then_die(path, data)
            real(path, data)

        catalogs.store.atomic_write_bytes = write
    elif point == "index-commit":
        _hook(catalogs.store.CatalogStore, "commit", n)
    elif point == "marking-harvested":
        _hook(StateDB, "set_stage", n, when=lambda self, source, job, stage, *a, **k: stage == "harvested")
    elif point == "writing-collection":
        _hook(catalogs.store.CatalogStore, "_write_collection", n)
    elif point == "writing-root":
        _hook(catalogs.store.CatalogStore, "_write_root", n)
    elif point != "none":
        raise SystemExit(f"unknown kill point {point!r}")


POINTS = ("submit-unrecorded", "poll", "file-unrecorded", "converted", "converting", "thumbnail",
          "placing-assets", "writing-item", "index-commit", "marking-harvested", "writing-collection",
          "writing-root")


def main(argv: list[str]) -> int:
    config, point, n = argv[0], argv[1], int(argv[2])
    fakeprovider.register()
    install(point, n)
    from harvester.cli import main as cli

    return cli(["-q", "run", config])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
