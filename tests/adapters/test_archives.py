"""Safe unzipping: traversal, symlinks, size caps, zip bombs, truncation, and the happy path."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from adapters.archives import safe_unzip
from adapters.errors import BadProductError, UnsafePathError


def _zip(path: Path, entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_extracts_every_entry_with_its_folder(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "P.zip", {"P/P_VV.tif": b"vv" * 1000, "P/P.README.md.txt": b"readme", "P/sub/x.txt": b"x"})
    result = safe_unzip(archive, tmp_path / "out")
    assert set(result.files) == {"P/P_VV.tif", "P/P.README.md.txt", "P/sub/x.txt"}
    assert result.files["P/P_VV.tif"].read_bytes() == b"vv" * 1000
    assert result.files["P/sub/x.txt"] == tmp_path / "out" / "P" / "sub" / "x.txt"
    assert result.total_bytes == 2000 + 6 + 1
    assert not list(tmp_path.glob(".out.unzip*"))


def test_replaces_what_a_previous_attempt_left(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.txt").write_text("old")
    (tmp_path / ".out.unzip").mkdir()  # a killed extraction
    safe_unzip(_zip(tmp_path / "a.zip", {"new.txt": b"new"}), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["new.txt"]


@pytest.mark.parametrize("entry", ["../evil.txt", "P/../../evil.txt", "/etc/evil", "C:/evil.txt", "P\\..\\evil.txt"])
def test_refuses_entries_that_escape(tmp_path: Path, entry: str) -> None:
    archive = _zip(tmp_path / "bad.zip", {"P/ok.txt": b"ok", entry: b"evil"})
    with pytest.raises(UnsafePathError) as err:
        safe_unzip(archive, tmp_path / "out", what="HyP3 job j1")
    assert "HyP3 job j1: bad.zip" in str(err.value) and repr(entry) in str(err.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_refuses_symlinks(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("P/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        safe_unzip(archive, tmp_path / "out")


def test_refuses_a_zip_bomb_by_ratio(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("P/zeros.bin", "w", force_zip64=True) as out:
        chunk = bytes(1 << 20)
        for _ in range(64):
            out.write(chunk)
    assert archive.stat().st_size < 1 << 20
    with pytest.raises(BadProductError, match="zip bomb"):
        safe_unzip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refuses_more_than_the_cap_from_declared_sizes(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "big.zip", {"a.bin": bytes(3000), "b.bin": bytes(3000)}, compression=zipfile.ZIP_STORED)
    with pytest.raises(BadProductError, match="6,000 bytes, more than the 5,000 allowed"):
        safe_unzip(archive, tmp_path / "out", max_total_bytes=5000)


def test_refuses_entries_that_lie_about_their_size(tmp_path: Path) -> None:
    """A header that declares a small size must not let more bytes through: zipfile stops at the declared
    size, so the entry fails its CRC and the archive is refused as corrupt."""
    archive = _zip(tmp_path / "liar.zip", {"a.bin": bytes(4000)}, compression=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    # shrink the declared uncompressed size in the central directory (the local header keeps the truth)
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(BadProductError, match="entry 'a.bin' is corrupt or truncated"):
        safe_unzip(archive, tmp_path / "out", max_total_bytes=1000)
    assert not (tmp_path / "out").exists()


def test_detects_a_truncated_zip(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "cut.zip", {f"P/f{i}.bin": bytes(range(256)) * 400 for i in range(4)})
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(BadProductError, match="cut.zip: not a readable zip"):
        safe_unzip(archive, tmp_path / "out", what="HyP3 job j2")


def test_detects_a_corrupt_entry(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 64
    archive = _zip(tmp_path / "crc.zip", {"P/a.bin": payload}, compression=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    at = data.find(payload[:64])
    data[at + 100] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(BadProductError, match="corrupt or truncated"):
        safe_unzip(archive, tmp_path / "out")


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_text("<html>Access denied</html>")
    with pytest.raises(BadProductError, match="x.zip: not a readable zip"):
        safe_unzip(tmp_path / "x.zip", tmp_path / "out")
