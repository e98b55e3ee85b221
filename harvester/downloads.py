"""Downloads: streamed to disk, resumable, verified, concurrent.

A file is streamed to ``<target>.part`` beside its target, hashed on the way (SHA-256 always, and the
provider's checksum algorithm), verified (size and checksum) and renamed into place. A ``.part`` left by an
interrupted run is resumed with ``Range: bytes=<length>-``; the ``<target>.part.json`` sidecar remembers the
file's (redacted) URL, size and ETag, so that the resumed request carries ``If-Range`` and a file that changed
on the server is fetched again from the start instead of being spliced. A body cut in the middle is resumed
from what is on disk, up to the retry policy's attempts. A target that is already complete is not fetched.

Errors are returned in each `DownloadResult` (one failed file does not stop the others) and never contain
a URL's query string or credentials.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from adapters.base import RemoteFile
from adapters.errors import (
    ChecksumMismatchError,
    DownloadError,
    UnsafePathError,
    error_for_response,
)
from adapters.http import RetryPolicy, transport_error
from adapters.redact import loggable_url, redact_url
from catalogs.errors import HarvestError
from catalogs.fsio import atomic_write_bytes, rename_into_place
from harvester.fastio import body_blocks, preallocate

log = logging.getLogger(__name__)

Progress = Callable[["DownloadRequest", int, "int | None"], None]

#: failures in the middle of a body, after which the transfer is resumed from what is on disk
INTERRUPTIONS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout)
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTENT_RANGE = re.compile(r"^bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$")
_PROGRESS_EVERY = 0.25  # seconds between progress callbacks


@dataclass(frozen=True)
class DownloadRequest:
    """A file to fetch into ``dest_dir`` (under its ``remote.name``).

    ``auth`` goes with the request only when ``remote.auth`` is true; otherwise no credentials are sent at
    all, not even the client's default ones (outputs often live on hosts that must not see them).
    """

    remote: RemoteFile
    dest_dir: Path
    auth: httpx.Auth | None = None

    @property
    def name(self) -> str:
        return self.remote.name


@dataclass
class DownloadResult:
    """What became of a `DownloadRequest`.

    ``path`` is the verified file (None when it failed, or was optional and missing); ``bytes_transferred``
    counts the body bytes received in this run; ``resumed`` says bytes from an earlier attempt or run were
    kept; ``skipped`` says no transfer was needed (already complete on disk, optional and missing, or not to
    be fetched).
    """

    request: DownloadRequest
    path: Path | None = None
    size: int = 0
    sha256: str | None = None
    bytes_transferred: int = 0
    resumed: bool = False
    skipped: bool = False
    error: HarvestError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# ------------------------------------------------------------------------------------------ file names


def safe_target(dest_dir: str | Path, name: str) -> Path:
    """The path of file ``name`` (``/``-separated, relative) inside ``dest_dir``.

    Raises `UnsafePathError` for names that are absolute, start with a drive letter, contain ``..``, ``.``
    or empty components, a backslash or a NUL, or that resolve outside ``dest_dir`` (through symlinks).
    """
    reason = _unsafe_reason(name)
    if reason:
        raise UnsafePathError(f"unsafe file name {name!r}: {reason}")
    root = Path(dest_dir).resolve()
    target = root.joinpath(*name.split("/"))
    if not target.resolve().is_relative_to(root):
        raise UnsafePathError(f"unsafe file name {name!r}: it leads outside {root} (through a symlink)")
    return target


def _unsafe_reason(name: str) -> str | None:
    if not name:
        return "empty"
    if "\x00" in name:
        return "contains NUL"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "absolute"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    parts = name.split("/")
    if any(p == ".." for p in parts):
        return "contains '..'"
    if any(p in ("", ".") for p in parts):
        return "contains an empty or '.' component"
    return None


# ------------------------------------------------------------------------------------------- checksums


def parse_checksum(checksum: str, name: str = "") -> tuple[str, str]:
    """``"algo:hex"`` as a `hashlib` algorithm name and lower-case hex (``SHA-256:AB..`` -> ``sha256``, ``ab..``)."""
    algo, sep, digest = checksum.partition(":")
    normal = algo.strip().lower().replace("-", "")
    if normal.startswith("sha3") and "_" not in normal:
        normal = "sha3_" + normal[4:]
    try:
        hashlib.new(normal)
    except ValueError:
        raise DownloadError(f"{name}: unsupported checksum algorithm {algo!r}") from None
    digest = digest.strip().lower()
    if not sep or not re.fullmatch(r"[0-9a-f]+", digest):
        raise DownloadError(f"{name}: malformed checksum {checksum!r}")
    return normal, digest


class _Hasher:
    """Feeds `_Digests` from a background thread, so hashing (which releases the GIL) overlaps the transfer.

    Use as a context manager around the writes; on exit every queued block has been hashed.
    """

    def __init__(self, digests: _Digests, depth: int = 32) -> None:
        self.digests = digests
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="download-hash", daemon=True)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self.digests.update(data)

    def update(self, data: bytes) -> None:
        self._queue.put(data)

    def __enter__(self) -> _Hasher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()


class _Digests:
    """SHA-256 of the bytes written, and the provider's algorithm when it is another one."""

    def __init__(self, algo: str | None) -> None:
        self.algo = algo
        self.reset()

    def reset(self) -> None:
        self.sha256 = hashlib.sha256()
        self.other = hashlib.new(self.algo) if self.algo and self.algo != "sha256" else None

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        if self.other is not None:
            self.other.update(data)

    def update_from_file(self, path: Path, length: int | None = None, block_size: int = 1 << 20) -> int:
        """Hash the first ``length`` bytes of ``path`` (all of it by default); returns the bytes hashed."""
        done = 0
        with open(path, "rb") as f:
            while length is None or done < length:
                block = f.read(block_size if length is None else min(block_size, length - done))
                if not block:
                    break
                self.update(block)
                done += len(block)
        return done

    def hexdigest(self, algo: str | None = None) -> str:
        if algo is None or algo == "sha256":
            return self.sha256.hexdigest()
        assert self.other is not None
        return self.other.hexdigest()


# ------------------------------------------------------------------------------------------ downloader


class Downloader:
    """Fetches `DownloadRequest` s with ``client`` (from `adapters.http.make_client`).

    ``concurrency`` bounds the simultaneous transfers of `fetch_all` (the client's pool should allow as
    many connections). ``chunk_size`` is the block size for reading files already on disk (to hash them);
    received data is written as it arrives (httpcore's reads, 256 KiB with `make_client`). ``retries`` governs resuming interrupted bodies (the client's transport retries
    the requests themselves). ``on_progress(request, bytes_done, total)`` is called at most every quarter
    of a second per file, and once at its end.
    """

    def __init__(self, client: httpx.Client, *, concurrency: int = 4, chunk_size: int = 1 << 20,
                 on_progress: Progress | None = None, retries: RetryPolicy | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = client
        self.concurrency = concurrency
        self.chunk_size = chunk_size
        self.on_progress = on_progress
        self.retries = retries or RetryPolicy()
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def fetch_all(self, requests: Iterable[DownloadRequest]) -> list[DownloadResult]:
        """Fetch every request, ``concurrency`` at a time; results in the order of ``requests``."""
        reqs = list(requests)
        if not reqs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(reqs)),
                                thread_name_prefix="download") as pool:
            futures = [pool.submit(self.fetch, req) for req in reqs]
            return [self._outcome(req, future.exception(), future) for req, future in zip(reqs, futures)]

    @staticmethod
    def _outcome(req: DownloadRequest, exc: BaseException | None, future: Any) -> DownloadResult:
        if exc is None:
            return future.result()
        log.error("download of %s failed unexpectedly", req.name, exc_info=exc)
        return DownloadResult(req, error=DownloadError(f"download of {req.name}: unexpected {type(exc).__name__}"))

    def fetch(self, req: DownloadRequest) -> DownloadResult:
        """Fetch one file; a failure is returned in the result's ``error``, not raised."""
        try:
            target = safe_target(req.dest_dir, req.name)
            if not req.remote.fetch:
                return DownloadResult(req, skipped=True)
            algo, digest = parse_checksum(req.remote.checksum, req.name) if req.remote.checksum else (None, None)
            with self._lock_for(target):
                done = self._complete_already(req, target, algo, digest)
                if done is not None:
                    return done
                try:
                    return _Transfer(self, req, target, algo, digest).run()
                except ChecksumMismatchError as exc:
                    # a corrupted transfer (or copy at the provider): fetched once more from the start, and
                    # reported when that one is no better
                    log.warning("%s; downloading it once more", exc)
                    return _Transfer(self, req, target, algo, digest).run()
        except HarvestError as exc:
            log.warning("%s", exc)
            return DownloadResult(req, error=exc)
        except OSError as exc:
            error = DownloadError(f"download of {req.name}: cannot write the file ({exc.strerror or exc})")
            log.warning("%s", error)
            return DownloadResult(req, error=error)

    def _lock_for(self, target: Path) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(target, threading.Lock())

    def _complete_already(self, req: DownloadRequest, target: Path, algo: str | None,
                          digest: str | None) -> DownloadResult | None:
        """A skipped result when ``target`` exists with the announced size and checksum (one known at least)."""
        remote = req.remote
        if not target.is_file() or (remote.size is None and digest is None):
            return None
        size = target.stat().st_size
        if remote.size is not None and size != remote.size:
            log.info("%s exists with %d bytes instead of %d; downloading it again", target, size, remote.size)
            return None
        digests = _Digests(algo)
        digests.update_from_file(target, block_size=self.chunk_size)
        if digest is not None and digests.hexdigest(algo) != digest:
            log.info("%s exists with another checksum; downloading it again", target)
            return None
        log.debug("%s is complete already", target)
        return DownloadResult(req, path=target, size=size, sha256=digests.hexdigest(), skipped=True)

    def _progress(self, req: DownloadRequest, done: int, total: int | None) -> None:
        if self.on_progress is not None:
            self.on_progress(req, done, total)


class _Restart(Exception):
    """The server's answer does not fit the part on disk: start the file again from byte 0."""


class _OptionalMissing(Exception):
    """An optional file the server does not have."""


class _Transfer:
    """The transfer of one file into its ``.part``, across resumed attempts."""

    def __init__(self, downloader: Downloader, req: DownloadRequest, target: Path, algo: str | None,
                 digest: str | None) -> None:
        self.d = downloader
        self.req = req
        self.remote = req.remote
        self.target = target
        self.part = target.with_name(target.name + ".part")
        self.sidecar = target.with_name(target.name + ".part.json")
        self.algo = algo
        self.expected_digest = digest
        self.digests = _Digests(algo)
        self.what = f"download of {req.name}"
        self.offset = 0  # bytes in the part (all hashed)
        self.total: int | None = req.remote.size
        self.etag: str | None = None
        self.transferred = 0
        self.resumed = False
        self._last_progress = 0.0

    # -- the whole transfer
    def run(self) -> DownloadResult:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._adopt_part()
        attempt, restarts = 1, 0
        while True:
            try:
                self._attempt()
                break
            except _OptionalMissing:
                self._discard()
                log.info("%s: optional file not found; skipped", self.req.name)
                return DownloadResult(self.req, skipped=True, bytes_transferred=self.transferred)
            except _Restart as why:
                restarts += 1
                if restarts > 1:
                    self._discard()
                    raise DownloadError(f"{self.what}: the server's ranges do not match the file ({why})") from None
                log.info("%s: %s; starting again from the beginning", self.req.name, why)
                self._discard()
            except INTERRUPTIONS as exc:
                if attempt >= self.d.retries.max_attempts:
                    raise DownloadError(f"{self.what}: interrupted {attempt} times, {self.offset} of "
                                        f"{self.total if self.total is not None else '?'} bytes kept") from exc
                wait = self.d.retries.backoff(attempt)
                log.info("%s: transfer interrupted at %d bytes (%s); resuming in %.2f s (attempt %d of %d)",
                         self.req.name, self.offset, type(exc).__name__, wait, attempt + 1,
                         self.d.retries.max_attempts)
                self.d.retries.sleep(wait)
                attempt += 1
        return self._finish()

    def _adopt_part(self) -> None:
        """Keep a ``.part`` left by an earlier run when it may be the same file; hash what it holds."""
        if not self.part.is_file():
            self.sidecar.unlink(missing_ok=True)
            return
        meta = self._read_sidecar()
        size = self.part.stat().st_size
        if meta is not None and not self._same_file(meta):
            log.info("%s: the partial download is of another file; discarding it", self.req.name)
            self._discard()
            return
        if self.total is not None and size > self.total:
            log.info("%s: the partial download is larger than the file; discarding it", self.req.name)
            self._discard()
            return
        if meta is not None:
            etag, total = meta.get("etag"), meta.get("size")
            self.etag = etag if isinstance(etag, str) else None
            if self.total is None and isinstance(total, int):
                self.total = total
        self.offset = self.digests.update_from_file(self.part, size, self.d.chunk_size)
        self.resumed = self.offset > 0
        if self.offset:
            log.info("%s: resuming a partial download at %d bytes", self.req.name, self.offset)

    def _same_file(self, meta: dict[str, Any]) -> bool:
        same_url = meta.get("url") == loggable_url(self.remote.url)
        sizes = (meta.get("size"), self.remote.size)
        return same_url and (None in sizes or sizes[0] == sizes[1])

    # -- one request
    def _attempt(self) -> None:
        """One request for the rest of the file, streamed into the part. Raises `INTERRUPTIONS` when cut."""
        if self.total is not None and 0 < self.offset == self.total:
            return  # complete on disk: just verify
        post = self.remote.post_json
        if post is not None and self.offset:
            self._truncate()  # the answer to a POST cannot be asked for from a byte on: start again
        headers = {"Accept-Encoding": "identity", **dict(self.remote.headers)}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            if self.etag:
                headers["If-Range"] = self.etag
        try:
            if post is None:
                request = self.d.client.build_request("GET", self.remote.url, headers=headers)
            else:
                request = self.d.client.build_request("POST", self.remote.url, content=post,
                                                      headers={"Content-Type": "application/json", **headers})
            if not self.remote.auth:
                response = self.d.client.send(request, stream=True, auth=None)  # not even the client's
            else:
                response = self._send_with_credentials(request, headers)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.what) from exc
        except httpx.TooManyRedirects as exc:
            raise DownloadError(f"{self.what}: too many redirects") from exc
        try:
            if self._accept(response):
                self._write_body(response)
        finally:
            response.close()

    def _send_with_credentials(self, request: httpx.Request, headers: dict[str, str]) -> httpx.Response:
        """Send ``request`` with the credentials, and follow a redirect without them.

        The credentials are for the URL the provider named; where it redirects (signed object-storage URLs,
        another path of the same host) gets none: httpx would keep ``Authorization`` on a same-origin
        redirect, and storage refuses a request with two authentications.
        """
        auth = self.req.auth if self.req.auth is not None else httpx.USE_CLIENT_DEFAULT
        response = self.d.client.send(request, stream=True, auth=auth, follow_redirects=False)
        if not response.is_redirect:
            return response
        location = response.headers.get("Location")
        response.close()
        if not location:
            raise DownloadError(f"{self.what}: HTTP {response.status_code} without a Location")
        target = self.d.client.build_request("GET", response.url.join(location), headers=headers)
        return self.d.client.send(target, stream=True, auth=None, follow_redirects=True)

    def _accept(self, response: httpx.Response) -> bool:
        """Check the response against the part on disk; True when its body is to be appended."""
        status = response.status_code
        if status == 404 and self.remote.optional:
            raise _OptionalMissing
        if status == 416 and self.offset:
            first, _last, total = _content_range(response)
            if total is not None and total == self.offset:
                self.total = total
                return False  # the part is the whole file already
            raise _Restart(f"the server cannot serve from byte {self.offset} (HTTP 416)")
        if status not in (200, 206):
            raise error_for_response(response, self.what)
        if status == 206:
            first, _last, total = _content_range(response)
            if first != self.offset:
                raise _Restart(f"the server answered a range from byte {first} for byte {self.offset}")
            self.resumed = self.resumed or self.offset > 0
        else:
            if self.offset:
                log.info("%s: the server ignored the range request; starting again from the beginning",
                         self.req.name)
                self._truncate()
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        self._check_total(total)
        self._remember(response)
        return True

    def _check_total(self, total: int | None) -> None:
        if total is None:
            return
        if self.remote.size is not None and total != self.remote.size:
            self._discard()
            raise ChecksumMismatchError(f"{self.req.name}: size mismatch: expected {self.remote.size} bytes, "
                                        f"the server has {total}")
        self.total = total

    def _remember(self, response: httpx.Response) -> None:
        """Write the sidecar (URL, size, strong ETag) that lets a later run resume safely."""
        etag = response.headers.get("ETag")
        etag = etag if etag and not etag.startswith("W/") else None
        if self.offset and etag == self.etag and self.sidecar.exists():
            return
        self.etag = etag
        meta = {"url": loggable_url(self.remote.url), "redacted_url": redact_url(self.remote.url),
                "size": self.total, "etag": etag}
        atomic_write_bytes(self.sidecar, json.dumps(meta).encode())

    def _write_body(self, response: httpx.Response) -> None:
        mode = "ab" if self.offset else "wb"
        # unbuffered: the chunks are large already (httpcore's reads), a buffer would only copy them
        with open(self.part, mode, buffering=0) as f, _Hasher(self.digests) as hasher:
            if self.total is not None:
                preallocate(f.fileno(), self.offset, self.total - self.offset)
            for chunk in body_blocks(response):
                _write_all(f, chunk)
                hasher.update(chunk)
                self.offset += len(chunk)
                self.transferred += len(chunk)
                self._tick()
        self._tick(final=True)

    def _tick(self, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self._last_progress >= _PROGRESS_EVERY:
            self._last_progress = now
            self.d._progress(self.req, self.offset, self.total)

    # -- the part on disk
    def _truncate(self) -> None:
        self.offset = 0
        self.digests.reset()
        self.resumed = False
        self.part.unlink(missing_ok=True)

    def _discard(self) -> None:
        self._truncate()
        self.etag = None
        self.sidecar.unlink(missing_ok=True)

    def _read_sidecar(self) -> dict[str, Any] | None:
        try:
            meta = json.loads(self.sidecar.read_text())
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    # -- verification
    def _finish(self) -> DownloadResult:
        size = self.part.stat().st_size if self.part.exists() else 0
        expected_size = self.remote.size if self.remote.size is not None else self.total
        if expected_size is not None and size != expected_size:
            self._discard()
            raise ChecksumMismatchError(f"{self.req.name}: size mismatch: expected {expected_size} bytes, "
                                        f"got {size}")
        if self.expected_digest is not None:
            got = self.digests.hexdigest(self.algo)
            if got != self.expected_digest:
                self._discard()
                raise ChecksumMismatchError(f"{self.req.name}: checksum mismatch: expected "
                                            f"{self.algo}:{self.expected_digest}, got {self.algo}:{got}")
        rename_into_place(self.part, self.target)  # the part is kept across runs: not a temporary file
        self.sidecar.unlink(missing_ok=True)
        log.debug("downloaded %s (%d bytes, %d transferred%s) from %s", self.req.name, size, self.transferred,
                 ", resumed" if self.resumed else "", loggable_url(self.remote.url))
        return DownloadResult(self.req, path=self.target, size=size, sha256=self.digests.hexdigest(),
                              bytes_transferred=self.transferred, resumed=self.resumed)


def _write_all(f: Any, data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (raw writes may be short)."""
    view = memoryview(data)
    while view:
        view = view[f.write(view):]


def _content_range(response: httpx.Response) -> tuple[int | None, int | None, int | None]:
    """``Content-Range: bytes a-b/n`` (or ``bytes */n``) as (a, b, n); Nones for what is absent or ``*``."""
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
    if not match:
        return None, None, None
    first, last, total = match.groups()
    as_int = lambda v: int(v) if v and v != "*" else None  # noqa: E731
    return as_int(first), as_int(last), as_int(total)
