"""The catalog's static HTTP server (harvester.serve), exercised over loopback."""

from __future__ import annotations

import http.client
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from catalogs.errors import CatalogFormatError
from harvester.serve import make_server, range_to_answer, server_url

TIF = bytes(range(256)) * 40  # 10,240 bytes whose content says where they are
CATALOG = {"type": "Catalog", "stac_version": "1.1.0", "id": "c", "description": "d", "links": []}


@dataclass
class Served:
    base: str
    port: int
    folder: Path
    outside: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    folder = tmp_path / "catalog"
    (folder / "coll" / "item").mkdir(parents=True)
    (folder / "catalog.json").write_text(json.dumps(CATALOG))
    (folder / "coll" / "item" / "item.json").write_text("{}")
    (folder / "coll" / "item" / "data.tif").write_bytes(TIF)
    (folder / "coll" / "item" / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "coll" / "items.parquet").write_bytes(b"PAR1")
    (folder / "coll" / "footprints.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (folder / "coll" / "empty.bin").write_bytes(b"")
    (folder / "coll" / "points.csv.gz").write_bytes(b"\x1f\x8b\x08\x00")
    (folder / "coll" / "item" / "README.txt").write_text("read me")
    (folder / ".harvest").mkdir()
    (folder / ".harvest" / "state.sqlite").write_bytes(b"SQLite format 3\0secret state")
    (folder / ".catalog.json.123.tmp").write_text("{partial")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the catalog")
    os.symlink(outside / "secret.txt", folder / "leak.txt")
    os.symlink(outside, folder / "leakdir")
    os.symlink(folder / ".harvest" / "state.sqlite", folder / "state-link")  # inside, but hidden
    os.symlink(folder / "coll" / "item" / "data.tif", folder / "alias.tif")  # inside and visible: fine
    os.symlink(folder / "coll" / "item" / "data.tif", folder / ".hidden-alias.tif")  # a hidden name: never

    server = make_server(folder, port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="test-serve", daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", port, folder, outside)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        assert not thread.is_alive()


def raw_get(port: int, target: str, method: str = "GET") -> tuple[int, bytes]:
    """Send ``target`` exactly as given (httpx would normalise ``..`` away before sending)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_port_zero_gives_a_real_port(served: Served) -> None:
    assert served.port > 0
    with httpx.Client() as client:
        assert client.get(f"{served.base}/catalog.json").status_code == 200


def test_json_with_cors_and_type(served: Served) -> None:
    response = httpx.get(f"{served.base}/catalog.json", headers={"Origin": "https://radiantearth.github.io"})

    assert response.status_code == 200
    assert response.json() == CATALOG
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"content-range", "content-length", "accept-ranges", "etag"} <= exposed
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(len(json.dumps(CATALOG)))


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/coll/item/data.tif", "image/tiff; application=geotiff"),
        ("/coll/item/thumb.png", "image/png"),
        ("/coll/items.parquet", "application/vnd.apache.parquet"),
        ("/coll/footprints.geojson", "application/geo+json"),
        ("/coll/item/item.json", "application/json"),
        ("/coll/empty.bin", "application/octet-stream"),
        ("/coll/points.csv.gz", "application/octet-stream"),  # gzip bytes, not CSV text
        ("/coll/item/README.txt", "text/plain; charset=utf-8"),
    ],
)
def test_content_types(served: Served, path: str, media_type: str) -> None:
    response = httpx.get(served.base + path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


def test_options_preflight(served: Served) -> None:
    response = httpx.request(
        "OPTIONS",
        f"{served.base}/coll/item/data.tif",
        headers={
            "Origin": "https://radiantearth.github.io",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "HEAD", "OPTIONS"}
    headers = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"*", "range"} <= headers
    assert response.content == b""
    assert "access-control-allow-private-network" not in response.headers


def test_preflight_lets_a_public_page_read_from_loopback(served: Served) -> None:
    # what Chrome asks (Private Network Access) before STAC Browser, a public page, reads a loopback server
    response = httpx.request("OPTIONS", f"{served.base}/catalog.json",
                             headers={"Origin": "https://radiantearth.github.io", "Access-Control-Request-Method": "GET",
                                      "Access-Control-Request-Private-Network": "true"})

    assert response.status_code == 204
    assert response.headers["access-control-allow-private-network"] == "true"
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-300", 9940, 10239),
        ("bytes=10200-99999", 10200, 10239),  # the end is clamped to the file
        ("bytes=-99999", 0, 10239),  # a suffix longer than the file is the whole file
    ],
)
def test_range_requests(served: Served, header: str, first: int, last: int) -> None:
    with httpx.Client() as client:
        response = client.get(f"{served.base}/coll/item/data.tif", headers={"Range": header})

    assert response.status_code == 206
    assert response.content == TIF[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(TIF)}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-99999"])
def test_unsatisfiable_range(served: Served, header: str) -> None:
    response = httpx.get(f"{served.base}/coll/item/data.tif", headers={"Range": header})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(TIF)}"
    assert response.headers["access-control-allow-origin"] == "*"


def test_a_range_of_an_empty_file_is_the_empty_file(served: Served) -> None:
    # werkzeug ignores ranges of an empty file (RFC 9110 allows ignoring Range): 200 and no bytes
    response = httpx.get(f"{served.base}/coll/empty.bin", headers={"Range": "bytes=-5"})

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-2", "bytes=x-y"])
def test_ranges_we_do_not_honour_get_the_whole_file(served: Served, header: str) -> None:
    response = httpx.get(f"{served.base}/coll/item/data.tif", headers={"Range": header})
    assert response.status_code == 200
    assert response.content == TIF


def test_head_etag_and_if_range(served: Served) -> None:
    with httpx.Client() as client:
        head = client.head(f"{served.base}/coll/item/data.tif")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(TIF))
        assert head.content == b""
        etag = head.headers["etag"]

        again = client.get(f"{served.base}/coll/item/data.tif", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["access-control-allow-origin"] == "*"
        since = client.get(f"{served.base}/coll/item/data.tif",
                           headers={"If-Modified-Since": head.headers["last-modified"]})
        assert since.status_code == 304 and since.content == b""
        other = client.get(f"{served.base}/coll/item/data.tif", headers={"If-None-Match": '"another"'})
        assert other.status_code == 200 and other.content == TIF

        same = client.get(f"{served.base}/coll/item/data.tif", headers={"Range": "bytes=0-9", "If-Range": etag})
        assert same.status_code == 206 and same.content == TIF[:10]
        changed = client.get(f"{served.base}/coll/item/data.tif", headers={"Range": "bytes=0-9", "If-Range": '"old"'})
        assert changed.status_code == 200 and changed.content == TIF


def test_many_ranges_in_a_row_from_one_client(served: Served) -> None:
    # werkzeug's server closes the connection after each answer (it says so: "Connection: close"), and
    # http.client, like GDAL's curl, opens the next one by itself
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    try:
        for start in range(0, 4096, 512):
            connection.request("GET", "/coll/item/data.tif", headers={"Range": f"bytes={start}-{start + 511}"})
            response = connection.getresponse()
            assert response.status == 206
            assert response.getheader("Connection") == "close"
            assert response.read() == TIF[start : start + 512]
    finally:
        connection.close()


@pytest.mark.parametrize(
    "target",
    [
        "/../outside/secret.txt",
        "/coll/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E%2Foutside%2Fsecret.txt",
        "/coll/..%2f..%2foutside%2fsecret.txt",
        "/..%5coutside%5csecret.txt",
        "/leak.txt",
        "/leakdir/secret.txt",
        "/leakdir/",
        "/.harvest/state.sqlite",
        "/.harvest/",
        "/%2eharvest/state.sqlite",
        "/coll/../.harvest/state.sqlite",
        "/state-link",
        "/.hidden-alias.tif",
        "/.catalog.json.123.tmp",
        "/catalog.json%00.png",
        "/%ff%fe",
    ],
)
def test_nothing_outside_or_hidden_is_served(served: Served, target: str) -> None:
    status, body = raw_get(served.port, target)

    assert status in (403, 404), (status, body[:80])
    assert b"outside the catalog" not in body
    assert b"secret state" not in body


def test_percent_encoded_names(served: Served) -> None:
    (served.folder / "coll" / "with space.json").write_text("{}")
    response = httpx.get(f"{served.base}/coll/with%20space.json")
    assert response.status_code == 200 and response.json() == {}


def test_symlink_inside_the_folder_is_served(served: Served) -> None:
    response = httpx.get(f"{served.base}/alias.tif", headers={"Range": "bytes=0-3"})
    assert response.status_code == 206 and response.content == TIF[:4]


def test_listing_hides_dotfiles_and_folders_redirect(served: Served) -> None:
    with httpx.Client() as client:
        listing = client.get(f"{served.base}/")
        moved = client.get(f"{served.base}/coll")

    assert listing.status_code == 200
    assert listing.headers["content-type"].startswith("text/html")
    assert 'href="catalog.json"' in listing.text and 'href="coll/"' in listing.text
    assert ".harvest" not in listing.text and ".tmp" not in listing.text
    assert moved.status_code == 301 and moved.headers["location"] == "/coll/"
    assert moved.headers["access-control-allow-origin"] == "*"


def test_a_folder_with_an_index_serves_it(served: Served) -> None:
    (served.folder / "coll" / "index.html").write_text("<p>collection</p>")
    response = httpx.get(f"{served.base}/coll/")
    assert response.status_code == 200
    assert response.text == "<p>collection</p>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_not_found_carries_cors_too(served: Served) -> None:
    # so that STAC Browser can show the error instead of a CORS failure
    response = httpx.get(f"{served.base}/coll/nope.json")
    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == "*"


def test_read_only(served: Served) -> None:
    for method in ("POST", "PUT", "DELETE"):
        response = httpx.request(method, f"{served.base}/catalog.json", content=b"{}")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD, OPTIONS"
        assert response.headers["access-control-allow-origin"] == "*"
    assert json.loads((served.folder / "catalog.json").read_text()) == CATALOG


def test_requests_are_logged_through_logging_not_stderr(
    served: Served, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG, logger="harvester.serve"):
        httpx.get(f"{served.base}/catalog.json")
        httpx.get(f"{served.base}/nope.json")

    messages = [r.getMessage() for r in caplog.records if r.name == "harvester.serve"]
    assert any("GET /catalog.json" in m and "200" in m for m in messages)
    assert any("GET /nope.json" in m and "404" in m for m in messages)
    assert capfd.readouterr().err == ""


def test_server_url_and_bad_folder(tmp_path: Path) -> None:
    with pytest.raises(CatalogFormatError, match="missing: no such folder, nothing to serve"):
        make_server(tmp_path / "missing", port=0)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(CatalogFormatError, match="a-file: not a folder, nothing to serve"):
        make_server(tmp_path / "a-file", port=0)
    with make_server(tmp_path, port=0) as server:
        assert server_url(server) == f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, "bytes=0-99"),
        ("bytes=990-", 1000, "bytes=990-"),
        ("bytes=-10", 1000, "bytes=-10"),
        ("bytes = 5 - 6", 1000, "bytes = 5 - 6"),
        ("bytes=1000-", 1000, "bytes=1000-"),  # werkzeug answers 416
        ("bytes=-1001", 1000, "bytes=0-"),  # a suffix longer than the file is all of it
        ("bytes=-5", 0, "bytes=0-"),
        ("bytes=-0", 1000, None),
        ("bytes=-", 1000, None),
        ("bytes=5-4", 1000, None),
        ("bytes=0-1,3-4", 1000, None),
        ("pages=1-2", 1000, None),
    ],
)
def test_range_to_answer(header: str, size: int, expected: str | None) -> None:
    assert range_to_answer(header, size) == expected


def test_serving_imports_nothing_of_the_gdal_stack() -> None:
    # `harvester serve` must start fast: no rasterio, numpy or rio-cogeo behind it
    script = ("import sys, harvester.cli, harvester.serve; "
              "print(sorted(m for m in ('rasterio', 'rio_cogeo', 'numpy', 'osgeo') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
