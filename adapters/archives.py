"""Unpacking delivered archives safely.

A provider's zip is input we do not control. `safe_unzip` refuses, with a `BadProductError` naming the
archive (and the entry):

- entries that would land outside the destination (``../``, absolute paths, drive letters, ``\\``),
  and symbolic links;
- a total uncompressed size above a cap, checked twice: first from the sizes the zip declares (a quick
  refusal), then while extracting, counting the bytes really written (a zip can lie about its sizes);
- an entry whose compression ratio is beyond anything real data reaches (a zip bomb);
- truncated or corrupt archives (a missing central directory, a bad CRC, a short entry).

Extraction streams entry by entry in constant memory. It goes to a temporary folder beside the
destination which is renamed into place only when everything is out, so a failed or killed unzip never
leaves a half-extracted folder that looks complete.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from adapters.errors import BadProductError, UnsafePathError

#: default cap on the total uncompressed size of one archive (real HyP3 products are at most a few GB)
MAX_TOTAL_BYTES = 32 << 30
#: an entry bigger than this may not be compressed more than MAX_RATIO : 1
RATIO_MIN_BYTES = 16 << 20
MAX_RATIO = 200
_CHUNK = 1 << 20


@dataclass
class Extracted:
    """What `safe_unzip` wrote: the destination folder and every file in it by its entry name."""

    root: Path
    files: dict[str, Path]
    total_bytes: int


def safe_unzip(archive: Path, dest: Path, *, max_total_bytes: int = MAX_TOTAL_BYTES,
               what: str | None = None) -> Extracted:
    """Extract ``archive`` into ``dest`` (created; replaced if it exists). ``what`` prefixes messages
    (e.g. ``"HyP3 job 1234"``) so that they name the job as well as the file."""
    archive, dest = Path(archive), Path(dest)
    label = f"{what}: {archive.name}" if what else str(archive.name)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise BadProductError(f"{label}: not a readable zip (truncated or corrupt: {exc})") from exc
    except OSError as exc:
        raise BadProductError(f"{label}: cannot open the archive ({exc.strerror or exc})") from exc
    with zf:
        infos = [info for info in zf.infolist() if not info.is_dir()]
        for info in infos:
            _check_entry(info, label)
        declared = sum(info.file_size for info in infos)
        if declared > max_total_bytes:
            raise BadProductError(f"{label}: would unpack to {declared:,} bytes, more than the "
                                  f"{max_total_bytes:,} allowed (a zip bomb?)")
        tmp = dest.with_name(f".{dest.name}.unzip")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            files, total = _extract(zf, infos, tmp, label, max_total_bytes)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return Extracted(dest, {name: dest / rel for name, rel in files.items()}, total)


def _check_entry(info: zipfile.ZipInfo, label: str) -> None:
    name = info.filename
    path = PurePosixPath(name)
    if ("\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":")
            or any(part == ".." for part in path.parts) or "\x00" in name):
        raise UnsafePathError(f"{label}: entry {name!r} would be written outside the extraction folder")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafePathError(f"{label}: entry {name!r} is a symbolic link")
    if (info.file_size > RATIO_MIN_BYTES and info.compress_size
            and info.file_size / info.compress_size > MAX_RATIO):
        raise BadProductError(f"{label}: entry {name!r} expands {info.file_size / info.compress_size:,.0f} times "
                              f"(to {info.file_size:,} bytes): refused as a zip bomb")


def _extract(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], root: Path, label: str,
             cap: int) -> tuple[dict[str, Path], int]:
    files: dict[str, Path] = {}
    total = 0
    for info in infos:
        rel = Path(*PurePosixPath(info.filename).parts)
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        try:
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    total += len(chunk)
                    if total > cap:
                        raise BadProductError(f"{label}: unpacks to more than the {cap:,} bytes allowed "
                                              f"(at entry {info.filename!r}; a zip bomb?)")
                    out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise BadProductError(f"{label}: entry {info.filename!r} is corrupt or truncated ({exc})") from exc
        if written != info.file_size:
            raise BadProductError(f"{label}: entry {info.filename!r} gave {written:,} bytes, "
                                  f"not the {info.file_size:,} it declares (truncated?)")
        files[info.filename] = rel
    return files, total
