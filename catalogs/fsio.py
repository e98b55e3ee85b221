"""Small file-system helpers: atomic writes, safe ids, checksums, locks.

Every file the harvester writes into a catalog goes through one mechanism: a temporary file beside its
target (`temp_name`: ``.<name>.<pid>.tmp``), renamed into place by `rename_into_place`. (Files in a
job's own work folder, such as unzipped members or a GeoTIFF extracted from a netCDF, are written in
place: a killed run discards that folder and starts it again.) `atomic_write_bytes`
writes bytes that way; `atomic_path` gives the temporary path to writers that want a path (GDAL, copies,
hard links), `copy_file` and `move_file` are built on it. The downloader's resumable ``.part`` files are
kept on purpose across runs, so they are not temporary files, but their completion is the same rename.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from catalogs.errors import InvalidIdError, OutputNotWritableError

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
_RESERVED = {"catalog", "collection"}  # would collide with catalog.json / collection.json beside them
MAX_ID_LENGTH = 200


def check_id(value: str, kind: str = "item") -> str:
    """Return ``value`` if it is safe as a single file or folder name on every common file system."""
    if not isinstance(value, str) or not value:
        raise InvalidIdError(kind, str(value), "it is empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(kind, value, f"longer than {MAX_ID_LENGTH} characters")
    if not _SAFE_ID.match(value):
        raise InvalidIdError(
            kind, value, "use letters, digits, '.', '_' and '-' only, starting with a letter or digit"
        )
    if value.endswith("."):
        raise InvalidIdError(kind, value, "it ends with '.'")
    if value.lower() in _RESERVED:
        raise InvalidIdError(kind, value, "the name is reserved")
    return value


def temp_name(path: Path) -> Path:
    """A temporary name beside ``path``, unique to this process, hidden from catalog readers.

    ``.<name>.<pid>.tmp``: the pipeline's sweep of a killed run's leftovers and the server's rule of not
    serving hidden files both rely on this form.
    """
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def rename_into_place(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Rename ``src`` over ``dst`` (same folder): a reader sees the old file or the new one, never a mix.

    The last step of every write into the catalog and its work folders. Raises `OutputNotWritableError`
    naming ``dst``.
    """
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise OutputNotWritableError(dst, exc.strerror or str(exc)) from exc


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A reader (or a crash) sees either the old content or the new one, never a partial file. There is no
    fsync: the guarantee is against the process dying, which is what a killed run does; an OS crash may
    lose the newest files, which the next run writes again. Two threads of one process must not write the
    same ``path`` at once: they would share the temporary name. Raises `OutputNotWritableError` naming
    ``path``.
    """
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")  # same as temp_name(), without pathlib's cost
    try:
        # A bare descriptor, not open(): a buffered file object costs three more system calls per file,
        # which is a tenth of the time of a catalog of many small items.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        rename_into_place(tmp, path)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, OSError):
            raise OutputNotWritableError(path, exc.strerror or str(exc)) from exc
        raise


@contextmanager
def atomic_path(dst: str | os.PathLike[str], *, sidecars: tuple[str, ...] = ()) -> Iterator[Path]:
    """A temporary path beside ``dst`` for a file someone else writes, renamed to ``dst`` when all went well.

    For writers that want a path rather than bytes (GDAL, a copy, a hard link)::

        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)

    On entering, the folder is shown to be writable by making and removing the temporary file, so the
    writer creates it anew: writing over an existing file (truncating it) makes some file systems (ext4)
    flush it on close, which doubled the time of a copy in the benchmark; a hard link needs a free name.
    When the block ends normally the file is renamed into place; when it raises, the file is removed along
    with whatever the writer named after it (GDAL's ``<tmp>.ovr.tmp``, ``<tmp>.aux.xml``) and ``dst`` is as
    it was. ``sidecars`` are suffixes of files the writer may put beside its output (GDAL's ``.aux.xml``):
    on success each is renamed along with it, and a stale one of ``dst`` is removed, so that it never lays
    outdated content over the new file. Raises `OutputNotWritableError` naming the folder (missing, not a
    folder, not writable) or ``dst`` (the rename failed).
    """
    dst = Path(dst)
    folder = dst.parent
    if not folder.is_dir():
        raise OutputNotWritableError(folder, "not a folder" if folder.exists() else "the folder does not exist")
    tmp = temp_name(dst)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666))
        os.unlink(tmp)
    except OSError as exc:
        raise OutputNotWritableError(folder, exc.strerror or str(exc)) from exc
    try:
        yield tmp
        rename_into_place(tmp, dst)
        for suffix in sidecars:
            sidecar, old_sidecar = tmp.with_name(tmp.name + suffix), dst.with_name(dst.name + suffix)
            if sidecar.exists():
                rename_into_place(sidecar, old_sidecar)
            else:
                try:
                    old_sidecar.unlink(missing_ok=True)
                except OSError as exc:
                    raise OutputNotWritableError(old_sidecar, exc.strerror or str(exc)) from exc
    except BaseException:
        for path in (tmp, *folder.glob(glob.escape(tmp.name) + ".*")):
            _remove_quietly(path)
        raise


def copy_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, link: bool,
              sidecars: tuple[str, ...] = ()) -> str:
    """Put the bytes of ``src`` at ``dst`` through `atomic_path`: a hard link if ``link`` and possible, else a copy.

    Returns how (``"hard link"`` or ``"copy"``). Raises `OutputNotWritableError` naming ``dst`` (or its folder).
    """
    with atomic_path(dst, sidecars=sidecars) as tmp:
        if link:
            try:
                os.link(src, tmp)
                return "hard link"
            except OSError:  # another file system, links not supported or not allowed
                pass
        try:
            shutil.copyfile(src, tmp)
        except OSError as exc:
            raise OutputNotWritableError(dst, exc.strerror or str(exc)) from exc
    return "copy"


def move_file(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Move ``src`` to ``dst``: a rename on one file system, else a `copy_file` and the removal of ``src``.

    Either way ``dst`` appears whole or not at all, and ``src`` is only removed once ``dst`` is in place.
    Raises `OutputNotWritableError` naming ``dst``.
    """
    try:
        rename_into_place(src, dst)
        return
    except OutputNotWritableError as exc:
        if not isinstance(exc.__cause__, OSError) or exc.__cause__.errno != errno.EXDEV:
            raise
    copy_file(src, dst, link=False)
    try:
        os.unlink(src)
    except OSError as exc:
        log.warning("%s was copied to %s but cannot be removed: %s", src, dst, exc.strerror or exc)


def _remove_quietly(path: str | os.PathLike[str]) -> None:
    """Remove a temporary file if it is there; one that cannot be removed is the next run's to sweep."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.debug("could not remove temporary file %s: %s", path, exc.strerror or exc)


def sha256_multihash(path: Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file as a multihash hex string (``1220`` + digest), as the file extension wants."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return "1220" + digest.hexdigest()


def lock_file(path: Path, wait: float = 0.0) -> IO[str] | None:
    """Take an exclusive lock on ``path`` (created if needed), waiting up to ``wait`` seconds.

    Returns the open file holding the lock (give it to `unlock_file`), or None when another process
    holds it. The lock dies with its process, so a killed run never leaves a catalog locked.
    """
    fh = open(path, "a+")
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.close()
                return None
            time.sleep(0.1)


def unlock_file(fh: IO[str] | None) -> None:
    if fh is not None:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
