"""Reading a published catalog back from object storage: a local mirror the folder-based tools work on.

`mirror` copies what is below ``s3://bucket/prefix`` into a temporary folder: every JSON object downloaded,
every other object (the assets) a sparse placeholder of the size the bucket lists, so that
`catalogs.validate` checks the STAC objects as they are online, and that each asset they link to is in the
bucket with the ``file:size`` the item claims, without downloading the assets. Anything that reads a catalog
folder (validation, and an export that reads the items) can work on the mirror.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from adapters.s3 import S3Location, S3Object, iter_objects, make_s3_client, read_object
from catalogs.errors import CatalogFormatError
from harvester.publish import MANIFEST

if TYPE_CHECKING:
    from botocore.client import BaseClient

log = logging.getLogger(__name__)


@contextmanager
def mirror(url: str | S3Location, *, client: BaseClient | None = None, placeholders: bool = True,
           concurrency: int = 16) -> Iterator[Path]:
    """A temporary local mirror of the catalog published at ``url``, removed after the ``with`` block.

    ``placeholders=False`` leaves the assets out altogether (for readers of the items alone).
    Raises `CatalogFormatError` when nothing is published there.
    """
    location = url if isinstance(url, S3Location) else S3Location.parse(url, what="catalog location")
    client = client or make_s3_client()
    with tempfile.TemporaryDirectory(prefix="stac-harvester-mirror-") as tmp:
        folder = Path(tmp)
        json_objects: list[tuple[S3Object, Path]] = []
        for obj in iter_objects(client, location):
            relative = _relative(obj.key, location)
            if relative is None or relative == MANIFEST:
                continue
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if relative.endswith(".json"):
                json_objects.append((obj, path))
            elif placeholders:
                with open(path, "wb") as fh:  # sparse: no block is written
                    fh.truncate(obj.size)
        if not json_objects:
            raise CatalogFormatError(f"{location}: no catalog published there (no JSON object below it)")

        def fetch(entry: tuple[S3Object, Path]) -> None:
            obj, path = entry
            path.write_bytes(read_object(client, location.bucket, obj.key))

        with cf.ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(fetch, json_objects))
        log.info("mirrored %d JSON object(s) of %s into %s", len(json_objects), location, folder)
        yield folder


def _relative(key: str, location: S3Location) -> str | None:
    """The path of ``key`` below the location's prefix, or None for a key that would not stay in the mirror."""
    prefix = location.prefix.rstrip("/") + "/" if location.prefix else ""
    if not key.startswith(prefix) or key.endswith("/"):
        return None
    relative = key[len(prefix):]
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or any(part in ("..", ".") for part in parts):
        return None
    return relative
