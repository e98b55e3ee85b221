"""catalogs.fsio: the one way files are written, on the real file system (no simulated writes)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from catalogs import fsio
from catalogs.errors import OutputNotWritableError
from catalogs.fsio import atomic_path, atomic_write_bytes, copy_file, move_file, rename_into_place, temp_name

ROOT = Path(__file__).resolve().parents[2]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------------ atomic_write_bytes


def test_a_write_puts_a_new_file_in_place_by_a_rename(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    old = b"old content " * 1000
    path.write_bytes(old)
    inode = path.stat().st_ino
    with open(path, "rb") as reader:  # opened before the write: an in-place write would change what it reads
        atomic_write_bytes(path, b'{"new": true}')
        assert reader.read() == old
    assert path.read_bytes() == b'{"new": true}'
    assert path.stat().st_ino != inode  # another file took the name (the old one was still open meanwhile)
    assert listing(tmp_path) == ["catalog.json"]


def test_a_write_creates_a_missing_file(tmp_path: Path) -> None:
    atomic_write_bytes(str(tmp_path / "a.json"), b"[]")
    assert (tmp_path / "a.json").read_bytes() == b"[]"
    assert listing(tmp_path) == ["a.json"]


def test_the_temporary_file_is_the_hidden_one_of_this_process(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    stale = tmp_path / f".c.json.{os.getpid()}.tmp"
    stale.write_bytes(b"x" * 5000)  # left by a killed run that had this process id
    assert temp_name(path) == stale
    atomic_write_bytes(path, b"{}")
    assert path.read_bytes() == b"{}"  # the stale bytes were not kept past the new ones
    assert listing(tmp_path) == ["c.json"]


def test_a_write_that_fails_part_way_leaves_the_old_content(tmp_path: Path) -> None:
    """The disk fills up in the middle of the write (a file size limit of 64 KiB, in a process of its own)."""
    path = tmp_path / "item.json"
    old = b'{"old": "item"}'
    path.write_bytes(old)
    script = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from catalogs.errors import OutputNotWritableError
        from catalogs.fsio import atomic_write_bytes
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
        try:
            atomic_write_bytes({str(path)!r}, b"n" * (1 << 20))
        except OutputNotWritableError as exc:
            print(exc)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{path}: cannot write (File too large)"
    assert path.read_bytes() == old
    assert listing(tmp_path) == ["item.json"]


def test_a_rename_that_fails_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.mkdir()
    (target / "keep").write_text("kept")
    with pytest.raises(OutputNotWritableError) as raised:
        atomic_write_bytes(target, b"data")
    assert raised.value.path == str(target)
    assert str(raised.value) == f"{target}: cannot write (Is a directory)"
    assert listing(tmp_path) == ["x.json"] and (target / "keep").read_text() == "kept"


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "a.json"
    with pytest.raises(OutputNotWritableError) as raised:
        atomic_write_bytes(path, b"{}")
    assert str(raised.value) == f"{path}: cannot write (No such file or directory)"


def test_readers_see_one_whole_version_or_the_other(tmp_path: Path) -> None:
    path = tmp_path / "busy.json"
    versions = [bytes([65 + i]) * (256 * 1024) for i in range(2)]
    atomic_write_bytes(path, versions[0])
    seen: list[bytes] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(path.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(300):
            atomic_write_bytes(path, versions[i % 2])
    finally:
        stop.set()
        reader.join()
    assert seen and all(body in versions for body in seen)
    assert listing(tmp_path) == ["busy.json"]


# ------------------------------------------------------------------------------------------ atomic_path


def test_atomic_path_renames_what_the_writer_made(tmp_path: Path) -> None:
    dst = tmp_path / "cog.tif"
    dst.write_bytes(b"old")
    with atomic_path(dst) as tmp:
        assert tmp == temp_name(dst) and not tmp.exists()  # the writer creates it anew
        tmp.write_bytes(b"new")
        assert dst.read_bytes() == b"old"
    assert dst.read_bytes() == b"new"
    assert listing(tmp_path) == ["cog.tif"]


def test_atomic_path_removes_the_writers_files_on_failure(tmp_path: Path) -> None:
    dst = tmp_path / "cog.tif"
    dst.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="GDAL gave up"):
        with atomic_path(dst, sidecars=(".aux.xml",)) as tmp:
            tmp.write_bytes(b"half")
            for leftover in (".ovr.tmp", ".msk.ovr.tmp", ".aux.xml"):  # what GDAL leaves beside its output
                tmp.with_name(tmp.name + leftover).write_bytes(b"?")
            raise RuntimeError("GDAL gave up")
    assert dst.read_bytes() == b"old"
    assert listing(tmp_path) == ["cog.tif"]


def test_atomic_path_moves_sidecars_with_the_file_and_removes_stale_ones(tmp_path: Path) -> None:
    dst = tmp_path / "a.tif"
    stale = tmp_path / "a.tif.aux.xml"
    stale.write_text("<old/>")
    with atomic_path(dst, sidecars=(".aux.xml",)) as tmp:
        tmp.write_bytes(b"A")
        tmp.with_name(tmp.name + ".aux.xml").write_text("<new/>")
    assert (dst.read_bytes(), stale.read_text()) == (b"A", "<new/>")
    with atomic_path(dst, sidecars=(".aux.xml",)) as tmp:
        tmp.write_bytes(b"B")  # no sidecar this time: the old one would lay its metadata over the new file
    assert dst.read_bytes() == b"B"
    assert listing(tmp_path) == ["a.tif"]


@pytest.mark.parametrize("case", ["missing", "a file"])
def test_atomic_path_names_a_folder_it_cannot_write_in(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "out"
    if case == "a file":
        folder.write_text("")
    with pytest.raises(OutputNotWritableError) as raised:
        with atomic_path(folder / "x.tif"):
            pytest.fail("the block must not run")
    reason = "the folder does not exist" if case == "missing" else "not a folder"
    assert raised.value.path == str(folder) and str(raised.value) == f"{folder}: cannot write ({reason})"


def test_atomic_path_names_a_target_it_cannot_replace(tmp_path: Path) -> None:
    dst = tmp_path / "x.tif"
    dst.mkdir()
    with pytest.raises(OutputNotWritableError) as raised:
        with atomic_path(dst) as tmp:
            tmp.write_bytes(b"cog")
    assert str(raised.value) == f"{dst}: cannot write (Is a directory)"
    assert listing(tmp_path) == ["x.tif"]


def test_rename_into_place_names_the_target(tmp_path: Path) -> None:
    with pytest.raises(OutputNotWritableError) as raised:
        rename_into_place(tmp_path / "a.part", tmp_path / "a.tif")
    assert str(raised.value) == f"{tmp_path / 'a.tif'}: cannot write (No such file or directory)"


# ------------------------------------------------------------------------------------- copies and moves


def test_copy_file_links_when_asked_and_copies_otherwise(tmp_path: Path) -> None:
    src = tmp_path / "src.tif"
    src.write_bytes(b"cog bytes")
    (tmp_path / "linked.tif").write_bytes(b"older")
    assert copy_file(src, tmp_path / "linked.tif", link=True) == "hard link"
    assert copy_file(src, tmp_path / "copied.tif", link=False) == "copy"
    assert (tmp_path / "linked.tif").stat().st_ino == src.stat().st_ino
    assert (tmp_path / "copied.tif").stat().st_ino != src.stat().st_ino
    assert (tmp_path / "linked.tif").read_bytes() == (tmp_path / "copied.tif").read_bytes() == b"cog bytes"
    assert listing(tmp_path) == ["copied.tif", "linked.tif", "src.tif"]


def test_copy_file_of_a_missing_source_names_the_target(tmp_path: Path) -> None:
    dst = tmp_path / "dst.tif"
    with pytest.raises(OutputNotWritableError) as raised:
        copy_file(tmp_path / "gone.tif", dst, link=True)
    assert str(raised.value) == f"{dst}: cannot write (No such file or directory)"
    assert listing(tmp_path) == []


def test_move_file_renames_on_one_file_system(tmp_path: Path) -> None:
    src, dst = tmp_path / "download.tif", tmp_path / "item" / "asset.tif"
    src.write_bytes(b"asset")
    dst.parent.mkdir()
    inode = src.stat().st_ino
    move_file(src, dst)
    assert dst.read_bytes() == b"asset" and dst.stat().st_ino == inode and not src.exists()


def test_move_file_copies_across_file_systems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = tmp_path / "download.tif", tmp_path / "item" / "asset.tif"
    src.write_bytes(b"asset")
    dst.parent.mkdir()
    real_replace = os.replace

    def replace(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
        if Path(a) == src:  # as a rename between two file systems does
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        real_replace(a, b)

    monkeypatch.setattr(fsio.os, "replace", replace)
    move_file(src, dst)
    assert dst.read_bytes() == b"asset" and not src.exists()
    assert listing(dst.parent) == ["asset.tif"]


def test_move_file_into_a_missing_folder_keeps_the_source(tmp_path: Path) -> None:
    src, dst = tmp_path / "download.tif", tmp_path / "missing" / "asset.tif"
    src.write_bytes(b"asset")
    with pytest.raises(OutputNotWritableError) as raised:
        move_file(src, dst)
    assert str(raised.value) == f"{dst}: cannot write (No such file or directory)"
    assert src.read_bytes() == b"asset"
