"""The downloader's two speed tricks, kept apart so that they are easy to drop: reading big bodies straight
from the socket, and reserving disk space with ``fallocate``.

`body_blocks` relies on private parts of httpcore (checked with httpcore 1.0.9):

- ``httpcore._backends.sync.SyncStream``, the class of the plain synchronous network stream, whose
  ``get_extra_info("socket")`` is the connection's socket (TCP, or the TLS socket wrapping it). Any other
  stream (TLS in TLS through an HTTPS proxy, a test transport) makes it fall back to the usual path, and so
  does an httpcore without that class.
- that reading the rest of a body past h11 is safe when h11 is never asked for it again: httpcore then
  sees an unfinished response on close and closes the connection instead of putting it back in the pool.

`preallocate` calls glibc's ``fallocate`` through ctypes (Linux only; a no-op elsewhere).

To drop them, in `harvester.downloads` read ``response.iter_raw()`` where it reads ``body_blocks(response)``
and remove the `preallocate` call; nothing else depends on this module. The download tests run every
transfer through both body paths (``DIRECT_MIN`` set to 0, and the default), so a change in httpcore that
breaks the direct path shows there.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import sys
from collections.abc import Callable, Iterator

import httpx

__all__ = ["DIRECT_MIN", "body_blocks", "preallocate"]


# ------------------------------------------------------------------------------------- preallocation


@functools.cache
def _fallocate() -> Callable[[int, int, int, int], int] | None:
    """glibc's ``fallocate`` (Linux), which Python's ``os`` lacks with flags; None elsewhere.

    Looked up on first use: loading ctypes and libc is most of this module's import time, which a run that
    downloads nothing should not pay."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fallocate = libc.fallocate
    except (OSError, AttributeError):
        return None
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fallocate.restype = ctypes.c_int
    return fallocate


_FALLOC_FL_KEEP_SIZE = 1
_PREALLOCATE_MIN = 8 << 20


def preallocate(fd: int, offset: int, length: int) -> None:
    """Reserve disk space for ``length`` bytes at ``offset`` of an open file, without changing its size.

    The writes that follow then need no block allocation (a quarter less CPU for big downloads on ext4), and
    a full disk is found before the transfer instead of in its middle (raises ``OSError(ENOSPC)``). The
    size is kept so that a ``.part`` still says how much arrived. Best effort: skipped for small lengths
    and where the system or file system cannot do it.
    """
    fallocate = _fallocate() if length >= _PREALLOCATE_MIN else None
    if fallocate is None:
        return
    if fallocate(fd, _FALLOC_FL_KEEP_SIZE, offset, length) != 0:
        import ctypes

        err = ctypes.get_errno()
        if err == errno.ENOSPC:
            raise OSError(err, os.strerror(err))


# --------------------------------------------------------------------------------- reading the body


#: a body at least this long is read straight from the connection's socket (see `body_blocks`)
DIRECT_MIN = 8 << 20
_BLOCK = 1 << 20


def body_blocks(response: httpx.Response) -> Iterator[bytes | memoryview]:
    """The raw bytes of a streamed ``response``'s body, block by block.

    httpx parses HTTP/1.1 with h11, which copies every received block three times on its way out (into
    its buffer, then two slices); for a big file that is more CPU than receiving, writing and hashing it,
    and keeps a download well below curl's speed. So a plain body of known length (``Content-Length``, no
    transfer coding) of at least `DIRECT_MIN` bytes is read, after the bytes h11 already holds, straight
    from the connection's socket into fresh buffers: one copy, as curl does. h11 then never sees the end
    of the body, so httpcore closes that connection instead of reusing it; small bodies, where reuse
    matters more, keep the usual path. Failures are raised as the httpx errors the usual path raises.
    """
    chunks = response.iter_raw()  # kept referenced: a collected generator would close the connection
    sock = _direct_socket(response)
    if sock is None:
        yield from chunks
        return
    remaining = int(response.headers["Content-Length"])
    for chunk in chunks:  # the first block (what h11 read with the headers), through the usual path
        remaining -= len(chunk)
        yield chunk
        break
    while remaining > 0:
        buffer = bytearray(min(_BLOCK, remaining))  # fresh each time: the hashing thread may hold the last
        try:
            received = sock.recv_into(buffer)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out reading the body") from exc
        except OSError as exc:
            raise httpx.ReadError(f"reading the body failed ({exc.strerror or exc})") from exc
        if received == 0:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        remaining -= received
        yield memoryview(buffer)[:received]


def _direct_socket(response: httpx.Response) -> socket.socket | None:
    """The socket to read the rest of ``response``'s body from, when that is safe; else None."""
    length = response.headers.get("Content-Length", "")
    if (response.http_version != "HTTP/1.1" or "Transfer-Encoding" in response.headers
            or not length.isdigit() or int(length) < DIRECT_MIN):
        return None
    stream = response.extensions.get("network_stream")
    # Only httpcore's plain synchronous stream (TCP, or TLS on it): its socket yields the body's bytes. A
    # TLS-in-TLS stream (an HTTPS proxy) or a test transport has no such socket.
    if _SyncStream is None or type(stream) is not _SyncStream:
        return None
    sock = stream.get_extra_info("socket")
    return sock if isinstance(sock, socket.socket) else None


try:
    from httpcore._backends.sync import SyncStream as _SyncStream
except ImportError:  # pragma: no cover - another httpcore layout: always the usual path
    _SyncStream = None  # type: ignore[assignment,misc]
