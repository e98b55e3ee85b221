"""The simulator toolkit (adapters.simkit): loopback server, request log, fault injection, range responses."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from adapters.simkit import (
    FaultInjector,
    LoopbackServer,
    PatternBody,
    RequestLog,
    body_app,
    file_response,
    pattern_app,
    range_response,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = bytes(range(256)) * 40  # 10,240 bytes whose content says where they are


def data_app(data: bytes = DATA, *, ranges: bool = True, etag: str | None = '"v1"'):
    return body_app(lambda offset, length: data[offset:offset + length], len(data), etag=etag, ranges=ranges,
                    chunk_size=1000)


def in_process(app) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sim")


# ------------------------------------------------------------------------------------------- server


def test_loopback_server_serves_an_app_and_stops() -> None:
    server = LoopbackServer(data_app())
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    response = httpx.get(server.url + "/anything")
    assert response.status_code == 200 and response.content == DATA
    server.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/anything", timeout=2)


def test_loopback_server_handles_many_concurrent_connections() -> None:
    """Thirty requests that only finish once all thirty are in the app at the same time."""
    n = 30
    barrier = threading.Barrier(n, timeout=10)

    @Request.application
    def app(request: Request) -> Response:
        barrier.wait()
        return Response("ok")

    log = RequestLog()
    with LoopbackServer(log.wrap(app)) as server, httpx.Client(limits=httpx.Limits(max_connections=n)) as client:
        with ThreadPoolExecutor(n) as pool:
            statuses = list(pool.map(lambda i: client.get(f"{server.url}/r{i}").status_code, range(n)))
    assert statuses == [200] * n
    assert log.max_concurrent == n
    assert len(log.records()) == n


# -------------------------------------------------------------------------------------- range responses


@pytest.fixture
def sim() -> Iterator[httpx.Client]:
    with in_process(data_app()) as client:
        yield client


def test_whole_body_with_range_headers(sim: httpx.Client) -> None:
    response = sim.get("/f")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["ETag"] == '"v1"'


@pytest.mark.parametrize("header,first,last", [
    ("bytes=10-19", 10, 19),
    ("bytes=10000-", 10000, len(DATA) - 1),
    ("bytes=-5", len(DATA) - 5, len(DATA) - 1),
    ("bytes=0-999999", 0, len(DATA) - 1),
    ("bytes=0-0", 0, 0),
])
def test_single_ranges_get_206(sim: httpx.Client, header: str, first: int, last: int) -> None:
    response = sim.get("/f", headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response.content == DATA[first:last + 1]
    assert response.headers["Content-Length"] == str(last - first + 1)


@pytest.mark.parametrize("header", [f"bytes={len(DATA)}-", f"bytes={len(DATA) + 5}-{len(DATA) + 9}"])
def test_unsatisfiable_range_is_416(sim: httpx.Client, header: str) -> None:
    response = sim.get("/f", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-5", "nonsense"])
def test_multi_malformed_or_foreign_ranges_get_the_whole_body(sim: httpx.Client, header: str) -> None:
    response = sim.get("/f", headers={"Range": header})
    assert response.status_code == 200 and response.content == DATA


def test_if_range_matching_the_etag_gets_the_range_otherwise_the_whole_body(sim: httpx.Client) -> None:
    same = sim.get("/f", headers={"Range": "bytes=100-", "If-Range": '"v1"'})
    assert same.status_code == 206 and same.content == DATA[100:]
    changed = sim.get("/f", headers={"Range": "bytes=100-", "If-Range": '"v0"'})
    assert changed.status_code == 200 and changed.content == DATA


def test_unquoted_etags_are_quoted() -> None:
    with in_process(data_app(etag="abc")) as client:
        response = client.get("/f")
        assert response.headers["ETag"] == '"abc"'
        assert client.get("/f", headers={"Range": "bytes=1-", "If-Range": '"abc"'}).status_code == 206


def test_without_range_support_range_is_ignored() -> None:
    with in_process(data_app(ranges=False)) as client:
        response = client.get("/f", headers={"Range": "bytes=100-"})
    assert response.status_code == 200 and response.content == DATA
    assert response.headers["Accept-Ranges"] == "none"


def test_head_has_the_length_and_no_body(sim: httpx.Client) -> None:
    response = sim.head("/f")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.content == b""


def test_body_is_read_in_aligned_chunks_and_closed_even_when_cut_short() -> None:
    reads: list[tuple[int, int]] = []
    closed = threading.Event()

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return DATA[offset:offset + length]

    @Request.application
    def app(request: Request) -> Response:
        return range_response(request, len(DATA), read, chunk_size=4096, on_close=closed.set)

    with in_process(app) as client:
        assert client.get("/f", headers={"Range": "bytes=100-"}).content == DATA[100:]
        assert reads == [(100, 3996), (4096, 4096), (8192, 2048)]
        assert closed.is_set()
        closed.clear()
        with client.stream("GET", "/f") as response:
            next(response.iter_raw())
    assert closed.is_set()


def test_file_response(tmp_path: Path) -> None:
    path = tmp_path / "data.tif"
    path.write_bytes(DATA)

    @Request.application
    def app(request: Request) -> Response:
        return file_response(request, tmp_path / request.path.lstrip("/"), chunk_size=1000)

    with in_process(app) as client:
        whole = client.get("/data.tif")
        assert whole.content == DATA and whole.headers["Content-Type"] == "image/tiff"
        etag = whole.headers["ETag"]
        part = client.get("/data.tif", headers={"Range": "bytes=5000-5009", "If-Range": etag})
        assert part.status_code == 206 and part.content == DATA[5000:5010]
        assert client.get("/missing.tif").status_code == 404


def test_pattern_body_is_deterministic_and_consistent_at_any_offset() -> None:
    body = PatternBody(3 * PatternBody.PERIOD + 12345, seed=7)
    whole = body.bytes()
    assert len(whole) == body.size
    assert PatternBody(body.size, seed=7).bytes() == whole
    assert PatternBody(body.size, seed=8).bytes() != whole
    for offset, length in [(0, 10), (PatternBody.PERIOD - 3, 10), (5, 2 * PatternBody.PERIOD), (body.size - 4, 100)]:
        assert body.read(offset, length) == whole[offset:offset + length]
    assert body.read(PatternBody.PERIOD, PatternBody.PERIOD) is body.read(0, PatternBody.PERIOD)  # not copied
    assert body.digest() == hashlib.sha256(whole).hexdigest()
    with in_process(pattern_app(body)) as client:
        assert client.get("/x", headers={"Range": "bytes=1000000-"}).content == whole[1000000:]


# ------------------------------------------------------------------------------- request log and faults


@pytest.fixture
def faulty() -> Iterator[tuple[FaultInjector, str]]:
    injector = FaultInjector(data_app())
    with LoopbackServer(injector) as server:
        yield injector, server.url


def test_request_log_records_what_was_asked_and_sent(faulty: tuple[FaultInjector, str]) -> None:
    injector, url = faulty
    httpx.get(url + "/a/b.tif?x=1", headers={"Range": "bytes=10-", "If-Range": '"v1"'})
    httpx.get(url + "/c")
    first, second = injector.log.records()
    assert (first.method, first.path, first.query, first.range, first.if_range) == ("GET", "/a/b.tif", "x=1",
                                                                                    "bytes=10-", '"v1"')
    assert (first.status, first.bytes_sent, first.done) == (206, len(DATA) - 10, True)
    assert (second.range, second.status, second.bytes_sent) == (None, 200, len(DATA))
    assert injector.log.records("/c") == [second]
    assert injector.log.total_bytes() == 2 * len(DATA) - 10
    injector.log.clear()
    assert injector.log.records() == []


def test_status_faults_with_retry_after_are_used_up_in_order(faulty: tuple[FaultInjector, str]) -> None:
    injector, url = faulty
    injector.add(r"^/f$", status=429, retry_after=7, times=2)
    injector.add(r"^/f$", status=503)
    injector.add(r"/g", method="POST", status=500)
    answers = [httpx.get(url + "/f") for _ in range(4)]
    assert [r.status_code for r in answers] == [429, 429, 503, 200]
    assert answers[0].headers["Retry-After"] == "7" and "Retry-After" not in answers[2].headers
    assert httpx.get(url + "/g").status_code == 200  # the rule is for POST only
    assert httpx.post(url + "/g").status_code == 500
    assert injector.pending() == []
    faults = [r.fault for r in injector.log.records()]
    assert faults == ["status 429", "status 429", "status 503", None, None, "status 500"]


def test_a_dropped_connection_is_an_incomplete_body_for_the_client(faulty: tuple[FaultInjector, str]) -> None:
    injector, url = faulty
    injector.add(r"^/big$", drop_after_bytes=4000)
    received = bytearray()
    with httpx.Client() as client, client.stream("GET", url + "/big") as response:
        assert response.headers["Content-Length"] == str(len(DATA))  # the full length was announced
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_raw():
                received += chunk
    assert bytes(received) == DATA[:4000]
    (record,) = injector.log.records()
    assert (record.status, record.bytes_sent, record.fault) == (200, 4000, "drop after 4000 bytes")
    assert httpx.get(url + "/big").content == DATA  # used up


def test_a_dropped_connection_in_process_raises_too() -> None:
    injector = FaultInjector(data_app())
    injector.add("/", drop_after_bytes=2500)
    with in_process(injector) as client, client.stream("GET", "/x") as response:
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()


def test_faults_are_taken_exactly_once_under_concurrency(faulty: tuple[FaultInjector, str]) -> None:
    injector, url = faulty
    injector.add("/c", status=503, times=5)
    with httpx.Client(limits=httpx.Limits(max_connections=20)) as client, ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda i: client.get(f"{url}/c").status_code, range(20)))
    assert sorted(statuses) == [200] * 15 + [503] * 5


def test_a_rule_needs_exactly_one_fault() -> None:
    injector = FaultInjector(data_app())
    with pytest.raises(ValueError):
        injector.add("/x")
    with pytest.raises(ValueError):
        injector.add("/x", status=500, drop_after_bytes=10)
    with pytest.raises(ValueError):
        injector.add("/x", status=500, times=0)


def test_standalone_server_with_control_api() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "adapters.simkit", "--size", "100000", "--seed", "3"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with httpx.Client(base_url=url) as client:
            assert client.get("/blob").content == PatternBody(100000, seed=3).bytes()
            assert client.post("/_simkit/faults", json={"path": "^/blob$", "status": 503}).status_code == 204
            assert client.get("/blob").status_code == 503
            assert client.get("/blob", headers={"Range": "bytes=99990-"}).content == PatternBody(100000, 3).read(
                99990, 10)
            log = client.get("/_simkit/requests").json()
            assert [(r["status"], r["range"]) for r in log] == [(200, None), (503, None), (206, "bytes=99990-")]
            assert (log[0]["bytes_sent"], log[2]["bytes_sent"]) == (100000, 10)
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.stdout.close()
        assert proc.wait(timeout=10) == 0
