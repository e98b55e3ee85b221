"""Publishing a catalog folder to S3-compatible object storage, incrementally and in an order readers survive.

``harvester publish DIR s3://bucket/prefix [--base-url URL]`` (or ``[publish] url`` at the end of a run):

- every file of the catalog (hidden files and folders such as ``.harvest/`` left out) is hashed (SHA-256)
  and compared with the manifest of the last publish, kept in the bucket beside the catalog
  (`MANIFEST`): only new or changed files are uploaded, files published before and gone since are deleted;
- uploads run in parallel through s3transfer's transfer manager (`adapters.s3.upload_all`), large files in
  parts; each object gets its content type (the media type its item or collection gives the asset, else
  one by extension; items ``application/geo+json``, catalogs and collections ``application/json``);
- with a base URL the published root gets an absolute ``self`` link (``BASE/catalog.json``); everything
  else stays relative, so the copy works from any URL.

The order keeps every link a reader can follow resolvable at any moment, also when the publish is killed:
assets first, then item files, then catalogs and collections from the deepest up, the root last; objects
to delete only once the new root is up. After each of those steps the manifest is rewritten to say what
the bucket now holds (deletions still to do included), so a publish that was interrupted is completed by
the next one, which uploads only what is still missing.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import mimetypes
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from adapters.errors import NotFoundError
from adapters.s3 import MULTIPART_THRESHOLD, S3Location, Upload, delete_objects, make_s3_client, read_object, \
    upload_all, write_object
from catalogs import stac
from catalogs.errors import CatalogFormatError
from catalogs.fsio import atomic_write_bytes, lock_file, unlock_file
from catalogs.stac import STATE_DIR

if TYPE_CHECKING:
    from botocore.client import BaseClient

log = logging.getLogger(__name__)

#: the manifest of what was published, beside the catalog in the bucket
MANIFEST = ".stac-harvester-publish.json"
#: the digests of the last publish's files, by size and modification time, in the catalog's hidden folder
DIGEST_CACHE = "publish-digests.json"
MANIFEST_FORMAT = "stac-harvester-publish/1"

@dataclass(frozen=True)
class LocalFile:
    key: str              # the path below the catalog folder, with "/"
    path: Path
    sha256: str
    size: int
    data: bytes | None = None  # what to upload instead of the file (the root with its absolute self link)
    mtime_ns: int = 0         # of the file, for the digest cache


@dataclass
class PublishResult:
    """What a publish did: keys are relative to the target's prefix."""

    target: str
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    bytes_uploaded: int = 0

    def __str__(self) -> str:
        return (f"published {self.target}: {len(self.uploaded)} file(s) uploaded "
                f"({self.bytes_uploaded / 1e6:.1f} MB), {len(self.deleted)} deleted, {self.unchanged} unchanged")


class PublishLockedError(CatalogFormatError):
    """A harvest is running on the catalog being published."""


def publish(root: Path, target: str | S3Location, *, base_url: str | None = None, client: BaseClient | None = None,
            concurrency: int = 16, multipart_threshold: int = MULTIPART_THRESHOLD, lock: bool = True,
            lock_wait: float = 5.0) -> PublishResult:
    """Publish the catalog folder ``root`` to ``target`` (``s3://bucket/prefix``); see the module docstring.

    ``lock``: hold the catalog's run lock meanwhile (when it is a harvester catalog), so that no harvest
    changes it half way; the pipeline, which holds it already, passes False.
    """
    root = Path(root)
    location = target if isinstance(target, S3Location) else S3Location.parse(target, what="publish target")
    if not root.is_dir():
        raise CatalogFormatError(f"{root}: no such catalog folder")
    held = None
    if lock and (root / STATE_DIR).is_dir():
        held = lock_file(root / STATE_DIR / "run.lock", lock_wait)
        if held is None:
            raise PublishLockedError(f"{root}: a harvester run is working on this catalog; publish it when "
                                     "the run is done")
    try:
        return _Publisher(root, location, base_url, client or make_s3_client(), concurrency,
                          multipart_threshold).run()
    finally:
        unlock_file(held)


class _Publisher:
    def __init__(self, root: Path, location: S3Location, base_url: str | None, client: BaseClient,
                 concurrency: int, multipart_threshold: int) -> None:
        self.root = root
        self.location = location
        self.base_url = base_url
        self.client = client
        self.concurrency = concurrency
        self.multipart_threshold = multipart_threshold
        self.result = PublishResult(str(location))

    def run(self) -> PublishResult:
        root_name = stac.root_document(self.root)
        if root_name is None:
            raise CatalogFormatError(f"{self.root}: no catalog.json or collection.json to publish")
        published, pending = self._read_manifest()
        local = self._scan(root_name)
        changed = [f for key, f in local.items() if published.get(key, {}).get("sha256") != f.sha256]
        gone = sorted((set(published) - set(local)) | (pending - set(local)))
        self.result.unchanged = len(local) - len(changed)
        log.info("publishing %s to %s: %d file(s) to upload, %d to delete, %d unchanged", self.root,
                 self.location, len(changed), len(gone), self.result.unchanged)
        state = dict(published)  # what the bucket holds, as the manifest will say
        types = self._content_types(changed, local)
        for step in _steps(changed, root_name):
            uploads = [Upload(self.location.key(f.key), types.get(f.key) or _by_extension(f.key),
                              path=f.path if f.data is None else None, data=f.data) for f in step]
            self.result.bytes_uploaded += upload_all(self.client, self.location.bucket, uploads,
                                                     concurrency=self.concurrency,
                                                     multipart_threshold=self.multipart_threshold)
            for f in step:
                state[f.key] = {"sha256": f.sha256, "size": f.size}
                self.result.uploaded.append(f.key)
            self._write_manifest(state, root_name, pending=gone)
        if gone:
            delete_objects(self.client, self.location.bucket, [self.location.key(key) for key in gone])
            for key in gone:
                state.pop(key, None)
            self.result.deleted = gone
            self._write_manifest(state, root_name, pending=[])
        log.info("%s", self.result)
        return self.result

    # -- the local side
    def _scan(self, root_name: str) -> dict[str, LocalFile]:
        """Every file to publish, hashed (in threads: hashlib lets go of the GIL). A file whose size and
        modification time are those of the last publish keeps that publish's digest: the catalog's files are
        written by renaming new files into place, so a changed file has a new time, and a re-publish of a
        catalog of COGs does not read them all again."""
        cache_path = self.root / STATE_DIR / DIGEST_CACHE
        cached = _read_digests(cache_path)
        paths = list(_catalog_files(self.root))
        with cf.ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            files = list(pool.map(lambda p: self._local(p, root_name, cached), paths))
        if cache_path.parent.is_dir():
            atomic_write_bytes(cache_path, json.dumps(
                {f.key: [f.size, f.mtime_ns, f.sha256] for f in files if f.data is None}).encode())
        return {f.key: f for f in files}

    def _local(self, path: Path, root_name: str, cached: dict[str, list[Any]]) -> LocalFile:
        key = path.relative_to(self.root).as_posix()
        if key == root_name and self.base_url is not None:
            data = with_self_link(path.read_bytes(), f"{self.base_url.rstrip('/')}/{root_name}")
            return LocalFile(key, path, hashlib.sha256(data).hexdigest(), len(data), data)
        stat = path.stat()
        known = cached.get(key)
        if known is not None and known[:2] == [stat.st_size, stat.st_mtime_ns]:
            return LocalFile(key, path, str(known[2]), stat.st_size, mtime_ns=stat.st_mtime_ns)
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        return LocalFile(key, path, digest, stat.st_size, mtime_ns=stat.st_mtime_ns)

    def _content_types(self, changed: list[LocalFile], local: dict[str, LocalFile]) -> dict[str, str]:
        """Content types of the files to upload: STAC objects by kind, assets by the media type the item or
        collection that holds them gives (only the STAC objects being uploaded are read: an asset changes
        with its item, whose file:checksum changes)."""
        types: dict[str, str] = {}
        for f in changed:
            if not f.key.endswith(".json") or _kind(f.key) == "asset":
                continue
            try:
                obj = json.loads(f.data if f.data is not None else f.path.read_bytes())
            except (OSError, ValueError):
                continue  # published as it is; validation is what reports it
            if not isinstance(obj, dict):
                continue
            types[f.key] = stac.GEOJSON if obj.get("type") == "Feature" else stac.JSON
            assets = obj.get("assets")
            folder = PurePosixPath(f.key).parent
            for asset in assets.values() if isinstance(assets, dict) else ():
                href = asset.get("href") if isinstance(asset, dict) else None
                media = asset.get("type") if isinstance(asset, dict) else None
                if isinstance(href, str) and isinstance(media, str) and not urlsplit(href).scheme:
                    key = os.path.normpath(str(folder / unquote(href))).replace(os.sep, "/")
                    if key in local:
                        types.setdefault(key, media)
        return types

    # -- the manifest
    def _read_manifest(self) -> tuple[dict[str, dict[str, Any]], set[str]]:
        try:
            raw = read_object(self.client, self.location.bucket, self.location.key(MANIFEST))
        except NotFoundError:
            return {}, set()
        try:
            manifest = json.loads(raw)
            files = manifest["files"]
            pending = set(manifest.get("pending_delete", []))
            if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
                raise ValueError(f"format {manifest.get('format')!r}")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s/%s is not a manifest this harvester wrote (%s): publishing every file again",
                        self.location, MANIFEST, exc)
            return {}, set()
        return files, pending

    def _write_manifest(self, files: dict[str, dict[str, Any]], root_name: str, *, pending: Iterable[str]) -> None:
        manifest = {"format": MANIFEST_FORMAT, "root": root_name, "base_url": self.base_url,
                    "files": dict(sorted(files.items())), "pending_delete": sorted(pending)}
        write_object(self.client, self.location.bucket, self.location.key(MANIFEST),
                     json.dumps(manifest, indent=1).encode(), stac.JSON)


def with_self_link(data: bytes, href: str) -> bytes:
    """A root catalog's JSON with an absolute ``self`` link to ``href`` (replacing any it had)."""
    obj = json.loads(data)
    links = [link for link in obj.get("links", []) if not (isinstance(link, dict) and link.get("rel") == "self")]
    obj["links"] = [{"rel": "self", "href": href, "type": stac.JSON}, *links]
    return json.dumps(obj, indent=2, ensure_ascii=False).encode() + b"\n"


def _catalog_files(root: Path) -> Iterable[Path]:
    """The files of a catalog folder: not hidden ones (``.harvest/``, temporary ``.name.tmp`` files) and not
    symbolic links (a link could lead anywhere on this machine)."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d)))
        for name in sorted(names):
            path = Path(folder) / name
            if not name.startswith(".") and not name.endswith(".part") and not path.is_symlink():
                yield path


def _kind(key: str) -> str:
    """``root``, ``parent`` (a catalog or collection), ``item`` (``<id>/<id>.json``) or ``asset``."""
    path = PurePosixPath(key)
    if path.name in stac.ROOT_DOCUMENTS:
        return "root" if len(path.parts) == 1 else "parent"
    if path.suffix == ".json" and path.stem == path.parent.name:
        return "item"
    return "asset"


def _read_digests(path: Path) -> dict[str, list[Any]]:
    """The digest cache (key -> [size, mtime_ns, sha256]); empty when missing or unreadable (all is hashed)."""
    try:
        cached = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _steps(files: list[LocalFile], root_name: str) -> list[list[LocalFile]]:
    """The files to upload in the order readers survive: assets, items, catalogs and collections from the
    deepest up (a collection's year catalogs before the collection), the root last. Empty steps left out."""
    assets = [f for f in files if _kind(f.key) == "asset"]
    items = [f for f in files if _kind(f.key) == "item"]
    parents: dict[int, list[LocalFile]] = {}
    for f in files:
        if _kind(f.key) == "parent":
            parents.setdefault(len(PurePosixPath(f.key).parts), []).append(f)
    root = [f for f in files if f.key == root_name]
    steps = [assets, items, *(parents[depth] for depth in sorted(parents, reverse=True)), root]
    return [step for step in steps if step]


def _by_extension(key: str) -> str:
    """The content type of a file no item or collection gives a media type: by its suffix."""
    return stac.media_type_for(key) or mimetypes.guess_type(key)[0] or "application/octet-stream"
