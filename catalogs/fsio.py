"""Small file-system helpers: atomic writes, safe ids, checksums."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from pathlib import Path
from typing import IO

from catalogs.errors import InvalidIdError, OutputNotWritableError

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
    """A temporary name beside ``path``, unique to this process, hidden from catalog readers."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A reader (or a crash) sees either the old content or the new one, never a partial file. There is no
    fsync: the guarantee is against the process dying, which is what a killed run does; an OS crash may
    lose the newest files, which the next run writes again.
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
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputNotWritableError(path, exc.strerror or str(exc)) from exc


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
