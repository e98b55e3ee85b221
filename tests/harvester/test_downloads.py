"""Downloads (harvester.downloads) against a file host on loopback: resume, restart, verify, refuse, bound."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from adapters.base import RemoteFile
from adapters.errors import (
    AuthError,
    ChecksumMismatchError,
    DownloadError,
    NotFoundError,
    ProviderUnavailableError,
    UnsafePathError,
)
from adapters.simkit import FaultInjector, LoopbackServer, RequestLog, range_response
from adapters.auth import BearerToken
from harvester import fastio
from harvester.downloads import Downloader, DownloadRequest, DownloadResult, parse_checksum, safe_target
from adapters.http import RetryPolicy, make_client

MARKER = "sig-MARKER-c4a7"
SIZE = 3 * 1024 * 1024 + 12345


def blob(seed: int, size: int = SIZE) -> bytes:
    return random.Random(seed).randbytes(size)


class Gate:
    """Holds requests until ``parties`` of them are in the server together, and counts the most there at once.

    A request is counted from when the app starts on it until its answer is handed back to the server, a
    span within the one in which its client waits for it: so `most` never exceeds the client's concurrency,
    and the gate makes it reach ``parties``, whatever the load. The first time they are there, the gate
    stays shut ``grace`` seconds more for requests beyond them to show up and be counted (a client that
    keeps to its bound sends none, so the count does not depend on this time; a client that does not is
    caught unless its requests take longer than that to come). When fewer than ``parties`` of the
    ``total`` requests expected are left, those left are enough. A request kept ``timeout`` seconds gets a 503.
    """

    def __init__(self, parties: int, total: int, grace: float = 0.2, timeout: float = 10.0) -> None:
        self.parties = parties
        self.left = total
        self.grace = grace
        self.timeout = timeout
        self.inside = 0
        self.most = 0
        self._opened = 0  # how many times the gate opened
        self._graced = False
        self._opening = False
        self._cond = threading.Condition()

    def enter(self) -> bool:
        """Wait at the gate; False when it did not open in time."""
        with self._cond:
            self.inside += 1
            self.most = max(self.most, self.inside)
            opened = self._opened
            if self.inside >= min(self.parties, self.left) and not self._opening:
                if not self._graced:
                    self._graced = self._opening = True
                    deadline = time.monotonic() + self.grace
                    while (remaining := deadline - time.monotonic()) > 0:
                        self._cond.wait(remaining)
                    self._opening = False
                self._open()
                return True
            return self._cond.wait_for(lambda: self._opened != opened, self.timeout)

    def leave(self) -> None:
        with self._cond:
            self.inside -= 1
            self.left -= 1
            if self.inside and self.inside >= min(self.parties, self.left) and not self._opening:
                self._open()  # those still waiting are all there are left

    def _open(self) -> None:
        self._opened += 1
        self._cond.notify_all()


class FileHost:
    """Files by path, with Range support (unless listed in ``no_ranges``) and ETags.

    A ``gate`` (see `Gate`) holds requests until enough are there together; ``hold`` keeps every answer
    until the event is set.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}
        self.no_ranges: set[str] = set()
        self.gate: Gate | None = None
        self.hold: threading.Event | None = None
        self.authorizations: list[str | None] = []

    @Request.application
    def __call__(self, request: Request) -> Response:
        self.authorizations.append(request.headers.get("Authorization"))
        data = self.files.get(request.path)
        if data is None:
            return Response("no such file", status=404)
        if self.hold is not None and not self.hold.wait(10):
            return Response("held too long", status=503)
        if self.gate is not None:
            try:
                if not self.gate.enter():
                    return Response("too few requests at the gate", status=503)
            finally:
                self.gate.leave()
        etag = self.etags.get(request.path, hashlib.md5(data).hexdigest())
        return range_response(request, len(data), lambda offset, length: data[offset:offset + length], etag=etag,
                              ranges=request.path not in self.no_ranges, chunk_size=256 * 1024)


@dataclass
class Host:
    files: FileHost
    faults: FaultInjector
    log: RequestLog
    url: str

    def add(self, path: str, data: bytes) -> RemoteFile:
        self.files.files[path] = data
        return RemoteFile(f"{self.url}{path}", path.lstrip("/"), size=len(data),
                          checksum=f"sha256:{hashlib.sha256(data).hexdigest()}")


@pytest.fixture(autouse=True, params=["h11", "direct"])
def body_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Every test runs twice: bodies read through h11, and (past the first block) straight from the socket.

    Yields a list that gets, for each body, whether it was read from the socket.
    """
    used: list[bool] = []
    real = fastio._direct_socket

    def spy(response: httpx.Response) -> Any:
        sock = real(response)
        used.append(sock is not None)
        return sock

    monkeypatch.setattr(fastio, "_direct_socket", spy)
    if request.param == "direct":
        monkeypatch.setattr(fastio, "DIRECT_MIN", 0)
    yield used


@pytest.fixture
def host() -> Iterator[Host]:
    files = FileHost()
    faults = FaultInjector(files)
    with LoopbackServer(faults) as server:
        yield Host(files, faults, faults.log, server.url)


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def policy(waits: list[float]) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, sleep=waits.append)


@pytest.fixture
def client(policy: RetryPolicy) -> Iterator[httpx.Client]:
    with make_client(retries=policy) as c:
        yield c


@pytest.fixture
def downloader(client: httpx.Client, policy: RetryPolicy) -> Downloader:
    return Downloader(client, retries=policy)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".part.json", ".tmp")))


def fetch_ok(downloader: Downloader, remote: RemoteFile, dest: Path) -> DownloadResult:
    result = downloader.fetch(DownloadRequest(remote, dest))
    assert result.error is None, result.error
    return result


# ------------------------------------------------------------------------------------------ the basics


def test_download_streams_verifies_and_places_the_file(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    data = blob(1)
    remote = host.add("/jobs/1/a/b/product.tif", data)
    result = fetch_ok(downloader, remote, tmp_path)
    assert result.path == tmp_path / "jobs" / "1" / "a" / "b" / "product.tif"
    assert result.path.read_bytes() == data
    assert (result.size, result.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (result.bytes_transferred, result.resumed, result.skipped) == (len(data), False, False)
    assert leftovers(tmp_path) == []
    (record,) = host.log.records()
    assert record.range is None and record.bytes_sent == len(data)


def test_each_finished_download_is_logged_at_debug_only(host: Host, downloader: Downloader, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A demo downloads 66 files: a line for each belongs to -v, not to the default output."""
    remote = host.add("/jobs/1/product.tif", blob(1))
    with caplog.at_level(logging.DEBUG, logger="harvester.downloads"):
        fetch_ok(downloader, remote, tmp_path)
    done = [r for r in caplog.records if r.getMessage().startswith("downloaded jobs/1/product.tif ")]
    assert [r.levelno for r in done] == [logging.DEBUG]


@pytest.mark.parametrize("algo", ["md5", "sha1", "SHA-512", "sha3-256", "blake2b", "SHA256"])
def test_any_hashlib_checksum_is_verified(host: Host, downloader: Downloader, tmp_path: Path, algo: str) -> None:
    data = blob(2, 100_000)
    host.files.files["/f.bin"] = data
    name = parse_checksum(f"{algo}:00")[0]
    right = hashlib.new(name, data).hexdigest()
    wrong = hashlib.new(name, data[:-1]).hexdigest()  # a digest of the same length, of other bytes
    url = f"{host.url}/f.bin"

    refused = downloader.fetch(DownloadRequest(RemoteFile(url, "f.bin", checksum=f"{algo}:{wrong}"), tmp_path / "a"))
    assert isinstance(refused.error, ChecksumMismatchError)
    assert str(refused.error) == f"f.bin: checksum mismatch: expected {name}:{wrong}, got {name}:{right}"
    assert refused.path is None and list((tmp_path / "a").iterdir()) == []

    result = fetch_ok(downloader, RemoteFile(url, "f.bin", checksum=f"{algo}:{right.upper()}"), tmp_path / "b")
    assert result.path == tmp_path / "b" / "f.bin" and result.path.read_bytes() == data
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_unknown_checksum_algorithm_is_an_error(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    remote = host.add("/f.bin", b"abc")
    result = downloader.fetch(DownloadRequest(RemoteFile(remote.url, "f.bin", checksum="crc99:abcd"), tmp_path))
    assert isinstance(result.error, DownloadError) and "crc99" in str(result.error)
    assert host.log.records() == []


def test_a_complete_target_is_skipped_without_a_request(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    data = blob(3, 50_000)
    remote = host.add("/done.tif", data)
    (tmp_path / "done.tif").write_bytes(data)
    result = fetch_ok(downloader, remote, tmp_path)
    assert result.skipped and result.path == tmp_path / "done.tif" and result.bytes_transferred == 0
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert host.log.records() == []


def test_a_target_with_other_content_is_downloaded_again(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    data = blob(4, 50_000)
    remote = host.add("/stale.tif", data)
    (tmp_path / "stale.tif").write_bytes(b"x" * len(data))  # right size, wrong bytes
    result = fetch_ok(downloader, remote, tmp_path)
    assert not result.skipped and (tmp_path / "stale.tif").read_bytes() == data


def test_bodies_are_read_from_the_socket_past_the_threshold(host: Host, downloader: Downloader, tmp_path: Path,
                                                           body_path: list[bool],
                                                           request: pytest.FixtureRequest) -> None:
    data = blob(11)
    fetch_ok(downloader, host.add("/a.bin", data), tmp_path)
    direct = request.node.callspec.params["body_path"] == "direct"
    assert body_path == [direct]  # 3 MiB: below the default threshold, above 0
    assert (tmp_path / "a.bin").read_bytes() == data


def test_a_body_that_stalls_half_way_times_out_and_resumes(tmp_path: Path, waits: list[float]) -> None:
    data = blob(12)
    calls: list[str | None] = []

    @Request.application
    def stalling(request: Request) -> Response:
        calls.append(request.headers.get("Range"))
        start = int(request.headers["Range"][6:-1]) if "Range" in request.headers else 0
        body = data[start:]

        def chunks() -> Iterator[bytes]:
            yield body[: len(body) // 2]
            if len(calls) == 1:
                time.sleep(1.5)  # longer than the client's read timeout
            yield body[len(body) // 2:]

        headers = {"Content-Length": str(len(body)), "Accept-Ranges": "bytes", "ETag": '"v1"'}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        return Response(chunks(), status=206 if start else 200, headers=headers, direct_passthrough=True)

    policy = RetryPolicy(max_attempts=3, sleep=waits.append)
    with LoopbackServer(stalling) as server, make_client(timeout=0.5, retries=policy) as client:
        remote = RemoteFile(f"{server.url}/slow.bin", "slow.bin", size=len(data),
                            checksum=f"sha256:{hashlib.sha256(data).hexdigest()}")
        result = fetch_ok(Downloader(client, retries=policy), remote, tmp_path)
    assert result.resumed and result.path is not None and result.path.read_bytes() == data
    assert calls[0] is None and calls[1] is not None and calls[1].startswith("bytes=")
    assert int(calls[1][6:-1]) >= len(data) // 2  # resumed from what had arrived, not from the start


def test_progress_is_reported_up_to_the_total(host: Host, client: httpx.Client, tmp_path: Path) -> None:
    remote = host.add("/p.bin", blob(5))
    calls: list[tuple[str, int, int | None]] = []
    Downloader(client, on_progress=lambda req, done, total: calls.append((req.name, done, total))).fetch(
        DownloadRequest(remote, tmp_path))
    assert calls[-1] == ("p.bin", SIZE, SIZE)
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)


# ------------------------------------------------------------------------------------ resume / restart


def test_a_dropped_connection_resumes_where_it_was(host: Host, downloader: Downloader, tmp_path: Path,
                                                   waits: list[float]) -> None:
    data = blob(6)
    remote = host.add("/big.tif", data)
    host.faults.add("^/big.tif$", drop_after_bytes=SIZE // 2)
    result = fetch_ok(downloader, remote, tmp_path)
    assert result.path is not None and result.path.read_bytes() == data
    assert result.resumed and result.bytes_transferred == SIZE
    first, second = host.log.records("/big.tif")
    assert first.fault == f"drop after {SIZE // 2} bytes" and first.bytes_sent == SIZE // 2
    assert second.range == f"bytes={SIZE // 2}-" and second.status == 206
    assert second.if_range == f'"{hashlib.md5(data).hexdigest()}"'  # the ETag of the first answer
    assert first.bytes_sent + second.bytes_sent == SIZE  # not twice
    assert len(waits) == 1 and leftovers(tmp_path) == []


def test_repeated_drops_resume_each_time_until_the_attempts_run_out(host: Host, downloader: Downloader,
                                                                   tmp_path: Path) -> None:
    data = blob(7)
    remote = host.add("/flaky.tif", data)
    for _ in range(4):
        host.faults.add("^/flaky.tif$", drop_after_bytes=SIZE // 8)
    result = downloader.fetch(DownloadRequest(remote, tmp_path))
    assert isinstance(result.error, DownloadError) and "interrupted 4 times" in str(result.error)
    part = tmp_path / "flaky.tif.part"
    assert part.stat().st_size == 4 * (SIZE // 8)  # what arrived is kept for the next run
    ranges = [r.range for r in host.log.records("/flaky.tif")]
    assert ranges == [None] + [f"bytes={n * (SIZE // 8)}-" for n in (1, 2, 3)]

    host.log.clear()
    again = fetch_ok(downloader, remote, tmp_path)  # the next run resumes from the part
    assert again.resumed and again.bytes_transferred == SIZE - 4 * (SIZE // 8)
    assert again.path is not None and again.path.read_bytes() == data
    (record,) = host.log.records("/flaky.tif")
    assert record.range == f"bytes={4 * (SIZE // 8)}-" and record.if_range is not None


def test_a_part_without_sidecar_is_resumed_without_if_range(host: Host, downloader: Downloader,
                                                            tmp_path: Path) -> None:
    data = blob(8)
    remote = host.add("/left.tif", data)
    (tmp_path / "left.tif.part").write_bytes(data[:1000])
    result = fetch_ok(downloader, remote, tmp_path)
    assert result.resumed and result.bytes_transferred == SIZE - 1000
    assert result.path is not None and result.path.read_bytes() == data
    (record,) = host.log.records()
    assert (record.range, record.if_range) == ("bytes=1000-", None)


def test_a_server_without_range_support_restarts_cleanly(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    data = blob(9)
    remote = host.add("/norange.tif", data)
    host.files.no_ranges.add("/norange.tif")
    host.faults.add("^/norange.tif$", drop_after_bytes=SIZE // 3)
    result = fetch_ok(downloader, remote, tmp_path)
    assert result.path is not None and result.path.read_bytes() == data
    assert not result.resumed and result.bytes_transferred == SIZE // 3 + SIZE
    first, second = host.log.records()
    assert second.range == f"bytes={SIZE // 3}-" and second.status == 200  # asked, ignored: started over
    assert leftovers(tmp_path) == []


def test_a_file_changed_on_the_server_is_fetched_from_the_start(host: Host, downloader: Downloader,
                                                                tmp_path: Path) -> None:
    old, new = blob(10), blob(11)
    remote = host.add("/changing.tif", old)
    host.faults.add("^/changing.tif$", drop_after_bytes=1000)
    host.faults.add("^/changing.tif$", drop_after_bytes=1000)  # two cuts: the attempts of this run run out
    result = Downloader(downloader.client, retries=RetryPolicy(max_attempts=2, sleep=lambda s: None)).fetch(
        DownloadRequest(remote, tmp_path))
    assert result.error is not None
    host.files.files["/changing.tif"] = new  # a new version, with another ETag
    remote = RemoteFile(remote.url, remote.name, size=len(new), checksum=f"sha256:{hashlib.sha256(new).hexdigest()}")
    host.log.clear()
    result = fetch_ok(downloader, remote, tmp_path)
    assert result.path is not None and result.path.read_bytes() == new
    (record,) = host.log.records()
    assert record.range == "bytes=2000-" and record.if_range is not None and record.status == 200


def test_a_complete_part_gets_416_and_is_verified(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    data = blob(12, 40_000)
    host.files.files["/whole.bin"] = data
    remote = RemoteFile(f"{host.url}/whole.bin", "whole.bin", checksum=f"sha256:{hashlib.sha256(data).hexdigest()}")
    (tmp_path / "whole.bin.part").write_bytes(data)  # size unknown to us: the server has to say it is complete
    result = fetch_ok(downloader, remote, tmp_path)
    assert result.path is not None and result.path.read_bytes() == data and result.bytes_transferred == 0
    (record,) = host.log.records()
    assert (record.range, record.status) == (f"bytes={len(data)}-", 416)


def test_a_part_longer_than_the_file_is_discarded(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    data = blob(13, 40_000)
    remote = host.add("/short.bin", data)
    (tmp_path / "short.bin.part").write_bytes(b"z" * 50_000)
    result = fetch_ok(downloader, remote, tmp_path)
    assert result.path is not None and result.path.read_bytes() == data and not result.resumed


def test_a_part_of_another_url_is_discarded(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    data = blob(14, 40_000)
    remote = host.add("/this.bin", data)
    (tmp_path / "this.bin.part").write_bytes(b"q" * 1000)
    (tmp_path / "this.bin.part.json").write_text(json.dumps({"url": f"{host.url}/that.bin", "size": 40_000,
                                                             "etag": '"x"'}))
    result = fetch_ok(downloader, remote, tmp_path)
    assert result.path is not None and result.path.read_bytes() == data
    assert host.log.records()[0].range is None


# ---------------------------------------------------------------------------------------- verification


def test_wrong_checksum_fails_that_file_only(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    good = [host.add(f"/ok{i}.bin", blob(20 + i, 200_000)) for i in range(3)]
    bad_data = blob(30, 200_000)
    host.files.files["/bad.bin"] = bad_data
    wrong = hashlib.sha256(b"something else").hexdigest()
    bad = RemoteFile(f"{host.url}/bad.bin", "bad.bin", size=len(bad_data), checksum=f"sha256:{wrong}")
    results = downloader.fetch_all([DownloadRequest(r, tmp_path) for r in [good[0], bad, *good[1:]]])
    assert [r.ok for r in results] == [True, False, True, True]
    error = results[1].error
    assert isinstance(error, ChecksumMismatchError)
    assert "bad.bin" in str(error) and wrong in str(error) and hashlib.sha256(bad_data).hexdigest() in str(error)
    assert results[1].path is None
    assert not (tmp_path / "bad.bin").exists() and leftovers(tmp_path) == []
    assert all((tmp_path / r.name).read_bytes() == host.files.files["/" + r.name] for r in good)


def test_wrong_announced_size_fails_before_the_transfer(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    remote = host.add("/sized.bin", blob(31, 100_000))
    remote = RemoteFile(remote.url, remote.name, size=99_999)
    result = downloader.fetch(DownloadRequest(remote, tmp_path))
    assert isinstance(result.error, ChecksumMismatchError) and "99999" in str(result.error)
    assert leftovers(tmp_path) == [] and not (tmp_path / "sized.bin").exists()


# ------------------------------------------------------------------------------------------ HTTP errors


def test_optional_missing_file_is_skipped(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    optional = RemoteFile(f"{host.url}/nope.xml", "nope.xml", optional=True)
    result = downloader.fetch(DownloadRequest(optional, tmp_path))
    assert result.ok and result.skipped and result.path is None
    required = downloader.fetch(DownloadRequest(RemoteFile(f"{host.url}/nope.xml", "nope.xml"), tmp_path))
    assert isinstance(required.error, NotFoundError) and str(required.error) == "download of nope.xml: HTTP 404"


def test_server_errors_are_retried_then_reported(host: Host, downloader: Downloader, tmp_path: Path,
                                                 waits: list[float]) -> None:
    remote = host.add("/busy.bin", blob(40, 10_000))
    host.faults.add("^/busy.bin$", status=503, times=3)
    assert fetch_ok(downloader, remote, tmp_path).bytes_transferred == 10_000
    assert len(waits) == 3
    host.faults.add("^/busy.bin$", status=503, times=10)
    (tmp_path / "busy.bin").unlink()
    result = downloader.fetch(DownloadRequest(remote, tmp_path))
    assert isinstance(result.error, ProviderUnavailableError)


def test_errors_and_logs_never_show_signed_query_strings(host: Host, downloader: Downloader, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    remote = host.add("/signed.tif", blob(41, 100_000))
    signed = RemoteFile(f"{remote.url}?X-Amz-Signature={MARKER}&token={MARKER}", remote.name, remote.size,
                        remote.checksum)
    host.faults.add("^/signed.tif$", drop_after_bytes=1000)
    host.faults.add("^/signed.tif$", drop_after_bytes=1000)
    Downloader(downloader.client, retries=RetryPolicy(max_attempts=2, sleep=lambda s: None)).fetch(
        DownloadRequest(signed, tmp_path))  # interrupted twice: a sidecar stays for the next run
    sidecar = (tmp_path / "signed.tif.part.json").read_text()
    assert MARKER not in sidecar and "X-Amz-Signature=REDACTED" in sidecar
    host.faults.add("^/signed.tif$", status=500, times=4)  # all the attempts of the policy
    result = downloader.fetch(DownloadRequest(signed, tmp_path))
    assert isinstance(result.error, ProviderUnavailableError) and MARKER not in str(result.error)
    assert fetch_ok(downloader, signed, tmp_path).resumed
    assert MARKER not in caplog.text


def test_auth_goes_only_with_files_that_want_it(host: Host, tmp_path: Path) -> None:
    public = host.add("/public.bin", b"p" * 100)
    private = RemoteFile(f"{host.url}/private.bin", "private.bin", auth=True)
    host.files.files["/private.bin"] = b"q" * 100
    token = BearerToken("tok-123")
    with make_client(auth=BearerToken("client-default")) as client:
        downloader = Downloader(client)
        fetch_ok(downloader, public, tmp_path / "1")  # not even the client's default credentials
        assert downloader.fetch(DownloadRequest(public, tmp_path / "2", token)).ok  # nor the request's
        fetch_ok(downloader, private, tmp_path / "3")  # the client's default
    with make_client() as client:
        downloader = Downloader(client)
        fetch_ok(downloader, private, tmp_path / "4")  # wanted, but none given
        assert downloader.fetch(DownloadRequest(private, tmp_path / "5", token)).ok
    assert host.files.authorizations == [None, None, "Bearer client-default", None, "Bearer tok-123"]


def test_auth_refused_is_an_auth_error(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    remote = host.add("/locked.bin", b"x" * 10)
    host.faults.add("^/locked.bin$", status=403)
    result = downloader.fetch(DownloadRequest(remote, tmp_path))
    assert isinstance(result.error, AuthError) and str(result.error) == "download of locked.bin: HTTP 403"


# -------------------------------------------------------------------------------------------- file names


@pytest.mark.parametrize("name", ["../x", "..\\x", "a\\b", "/abs", "C:x", "c:/x", "a/../../x", "a//b", "a/./b", "",
                                  "a/", "a\x00b", ".", ".."])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePathError) as caught:
        safe_target(tmp_path, name)
    assert repr(name) in str(caught.value)


def test_safe_names_stay_inside(tmp_path: Path) -> None:
    assert safe_target(tmp_path, "a/b/c.tif") == tmp_path.resolve() / "a" / "b" / "c.tif"
    assert safe_target(tmp_path, "..hidden/x..y") == tmp_path.resolve() / "..hidden" / "x..y"


def test_symlinks_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    os.symlink(outside, dest / "link")
    os.symlink(outside / "file", dest / "file-link")
    with pytest.raises(UnsafePathError, match="link/x"):
        safe_target(dest, "link/x")
    with pytest.raises(UnsafePathError):
        safe_target(dest, "file-link")


def test_unsafe_names_are_refused_without_a_request(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    result = downloader.fetch(DownloadRequest(RemoteFile(f"{host.url}/x", "../escape.tif"), tmp_path / "dest"))
    assert isinstance(result.error, UnsafePathError) and "'../escape.tif'" in str(result.error)
    assert host.log.records() == [] and not (tmp_path / "escape.tif").exists()


# ----------------------------------------------------------------------------------------- concurrency


def test_concurrency_is_bounded(host: Host, client: httpx.Client, tmp_path: Path) -> None:
    remotes = [host.add(f"/c{i}.bin", blob(50 + i, 20_000)) for i in range(10)]
    host.files.gate = gate = Gate(parties=3, total=len(remotes))
    results = Downloader(client, concurrency=3).fetch_all(DownloadRequest(r, tmp_path) for r in remotes)
    assert all(r.ok for r in results)
    assert [r.request.remote for r in results] == remotes  # in order
    assert gate.most == 3
    assert len(host.log.records()) == 10


def test_the_same_target_twice_is_fetched_once(host: Host, client: httpx.Client, tmp_path: Path) -> None:
    remote = host.add("/twice.bin", blob(60, 20_000))
    downloader = Downloader(client, concurrency=2)
    # the first request is answered only once both fetches have come to the target's lock
    host.files.hold = both_at_the_lock = threading.Event()
    real_lock_for, asked = downloader._lock_for, []

    def lock_for(target: Path) -> threading.Lock:
        asked.append(target)
        if len(asked) == 2:
            both_at_the_lock.set()
        return real_lock_for(target)

    downloader._lock_for = lock_for  # type: ignore[method-assign]
    first, second = downloader.fetch_all([DownloadRequest(remote, tmp_path)] * 2)
    assert asked == [tmp_path.resolve() / "twice.bin"] * 2
    assert first.ok and second.ok and [first.skipped, second.skipped].count(True) == 1
    assert len(host.log.records()) == 1
    assert (tmp_path / "twice.bin").read_bytes() == host.files.files["/twice.bin"]


def test_unexpected_failures_are_returned_too(host: Host, client: httpx.Client, tmp_path: Path) -> None:
    remotes = [host.add(f"/u{i}.bin", b"u" * 10) for i in range(3)]

    def progress(req: DownloadRequest, done: int, total: int | None) -> None:
        if req.name == "u1.bin":
            raise RuntimeError("a bug in a callback")

    results = Downloader(client, on_progress=progress).fetch_all(DownloadRequest(r, tmp_path) for r in remotes)
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, DownloadError) and "RuntimeError" in str(results[1].error)


def test_disk_errors_are_download_errors(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    remote = host.add("/ro/file.bin", b"r" * 10)
    (tmp_path / "ro").write_text("a file where a folder should be")
    result = downloader.fetch(DownloadRequest(remote, tmp_path))
    assert isinstance(result.error, DownloadError) and "ro/file.bin" in str(result.error)


def test_threads_do_not_leak(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    before = threading.active_count()
    downloader.fetch_all(DownloadRequest(host.add(f"/t{i}.bin", b"t" * 1000), tmp_path) for i in range(5))
    assert threading.active_count() <= before + 1  # the loopback server may still be closing a handler


def test_redirects_are_followed_but_not_forever(client: httpx.Client, tmp_path: Path) -> None:
    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/loop":
            return Response(status=302, headers={"Location": "/loop"})
        if request.path == "/moved":
            return Response(status=302, headers={"Location": "/file"})
        return Response(b"payload")

    with LoopbackServer(app) as server:
        downloader = Downloader(client)
        moved = downloader.fetch(DownloadRequest(RemoteFile(f"{server.url}/moved", "f.bin", size=7), tmp_path))
        assert moved.ok and moved.path is not None and moved.path.read_bytes() == b"payload"
        looping = downloader.fetch(DownloadRequest(RemoteFile(f"{server.url}/loop", "g.bin"), tmp_path))
    assert isinstance(looping.error, DownloadError) and "too many redirects" in str(looping.error)


def test_files_not_to_fetch_are_skipped(host: Host, downloader: Downloader, tmp_path: Path) -> None:
    remote = RemoteFile(f"{host.url}/remote-only.tif", "remote-only.tif", fetch=False)
    result = downloader.fetch(DownloadRequest(remote, tmp_path))
    assert result.ok and result.skipped and result.path is None
    assert host.log.records() == []


# ------------------------------------------------------------------------ corrupted transfers and redirects


class _ChangingHost:
    """``/file`` answers the bodies of ``bodies`` in turn (the last one from then on); ``/api/file`` redirects
    to ``/storage/file`` on the same host. Records the Authorization header of every request by path."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.served = 0
        self.authorizations: list[tuple[str, str | None]] = []

    @Request.application
    def __call__(self, request: Request) -> Response:
        self.authorizations.append((request.path, request.headers.get("Authorization")))
        if request.path == "/api/file":
            return Response("", status=302, headers={"Location": "/storage/file?X-Amz-Signature=abc"})
        body = self.bodies[min(self.served, len(self.bodies) - 1)]
        self.served += 1
        return Response(body, content_type="application/octet-stream")


def test_a_corrupted_transfer_is_fetched_once_more(tmp_path: Path) -> None:
    good = blob(50, 50_000)
    bad = good[:-10] + bytes(10)
    host = _ChangingHost([bad, good])
    remote = RemoteFile("", "f.bin", len(good), f"sha256:{hashlib.sha256(good).hexdigest()}")
    with LoopbackServer(host) as server, make_client() as client:
        result = Downloader(client).fetch(DownloadRequest(RemoteFile(f"{server.url}/file", **_fields(remote)),
                                                          tmp_path))
    assert result.ok and (tmp_path / "f.bin").read_bytes() == good
    assert host.served == 2


def test_a_transfer_corrupted_twice_is_reported(tmp_path: Path) -> None:
    good = blob(51, 50_000)
    bad = good[:-10] + bytes(10)
    host = _ChangingHost([bad, bad, good])
    remote = RemoteFile("", "f.bin", len(good), f"sha256:{hashlib.sha256(good).hexdigest()}")
    with LoopbackServer(host) as server, make_client() as client:
        result = Downloader(client).fetch(DownloadRequest(RemoteFile(f"{server.url}/file", **_fields(remote)),
                                                          tmp_path))
    assert isinstance(result.error, ChecksumMismatchError)
    assert str(result.error) == (f"f.bin: checksum mismatch: expected sha256:{hashlib.sha256(good).hexdigest()}, "
                                 f"got sha256:{hashlib.sha256(bad).hexdigest()}")
    assert host.served == 2 and leftovers(tmp_path) == [] and not (tmp_path / "f.bin").exists()


def test_credentials_never_follow_a_redirect_even_on_the_same_host(tmp_path: Path) -> None:
    data = blob(52, 20_000)
    host = _ChangingHost([data])
    with LoopbackServer(host) as server, make_client() as client:
        remote = RemoteFile(f"{server.url}/api/file", "f.bin", len(data), auth=True)
        result = Downloader(client).fetch(DownloadRequest(remote, tmp_path, BearerToken("tok-123")))
    assert result.ok and (tmp_path / "f.bin").read_bytes() == data
    assert host.authorizations == [("/api/file", "Bearer tok-123"), ("/storage/file", None)]


def _fields(remote: RemoteFile) -> dict[str, Any]:
    return {"name": remote.name, "size": remote.size, "checksum": remote.checksum}
