"""Publishing to S3 against moto's S3 server on loopback: what is uploaded (everything, nothing, only the new),
deletions, content types, the order of uploads, multipart, the absolute root link; reading the published
catalog back (validation from s3://, pystac over HTTP); a publish killed by SIGKILL and completed by the next."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pystac
import pytest

from adapters.s3 import make_s3_client
from adapters.s3sim import REGION, LoopbackS3
from catalogs import stac
from catalogs.validate import validate_catalog
from harvester import pipeline
from harvester.cli import main
from harvester.publish import MANIFEST, PublishLockedError, publish
from harvester.readback import mirror
from harvester.state import StateDB
from tests.harvester import fakeprovider
from tests.harvester.conftest import FakeServer, fake_config
from tests.harvester.fakeprovider import COLLECTION

BUCKET = "cats"
TARGET = f"s3://{BUCKET}/pub"


def local_files(root: Path) -> dict[str, str]:
    """The files a publish of ``root`` sends: key -> SHA-256 (no hidden files or folders)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def bucket_objects(s3: LoopbackS3, prefix: str = "pub/") -> dict[str, dict[str, Any]]:
    """key below ``prefix`` -> its bytes' SHA-256, content type and ETag, read back from the server."""
    client = s3.client()
    found = {}
    for entry in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        obj = client.get_object(Bucket=BUCKET, Key=entry["Key"])
        found[entry["Key"][len(prefix):]] = {"sha256": hashlib.sha256(obj["Body"].read()).hexdigest(),
                                             "type": obj["ContentType"], "etag": obj["ETag"].strip('"')}
    return found


def harvest(server: FakeServer, root: Path, jobs: list[str]) -> None:
    summary = pipeline.run(fake_config(root, server.url, jobs))
    assert summary.ok, summary.failures


@pytest.fixture
def s3(s3_server: LoopbackS3) -> LoopbackS3:
    """A bucket anyone may read objects of (as a published catalog's is), written with credentials."""
    client = s3_server.client()
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    return s3_server


@pytest.fixture
def catalog(fake_server: FakeServer, tmp_path: Path) -> Path:
    root = tmp_path / "cat"
    harvest(fake_server, root, ["alpha", "beta"])
    return root


def test_a_first_publish_uploads_every_file_with_its_content_type(s3: LoopbackS3, catalog: Path) -> None:
    result = publish(catalog, TARGET)

    files = local_files(catalog)
    assert sorted(result.uploaded) == sorted(files) and (result.unchanged, result.deleted) == (0, [])
    online = bucket_objects(s3)
    assert set(online) == set(files) | {MANIFEST}  # nothing of .harvest/
    assert {key: obj["sha256"] for key, obj in online.items() if key != MANIFEST} == files
    types = {key: obj["type"] for key, obj in online.items()}
    assert types["catalog.json"] == types[f"{COLLECTION}/collection.json"] == "application/json"
    assert types[f"{COLLECTION}/ALPHA/ALPHA.json"] == "application/geo+json"
    assert types[f"{COLLECTION}/ALPHA/ALPHA_VV.tif"] == stac.COG
    assert types[f"{COLLECTION}/ALPHA/ALPHA.README.txt"] == "text/plain"
    assert types[f"{COLLECTION}/ALPHA/ALPHA.thumbnail.png"] == "image/png"
    manifest = json.loads(s3.client().get_object(Bucket=BUCKET, Key=f"pub/{MANIFEST}")["Body"].read())
    assert {key: entry["sha256"] for key, entry in manifest["files"].items()} == files
    assert manifest["pending_delete"] == []


def test_a_second_publish_uploads_nothing(s3: LoopbackS3, catalog: Path) -> None:
    publish(catalog, TARGET)
    before = bucket_objects(s3)
    again = publish(catalog, TARGET)
    assert (again.uploaded, again.deleted, again.unchanged) == ([], [], len(local_files(catalog)))
    assert bucket_objects(s3) == before


def test_a_publish_after_a_new_item_uploads_only_it_and_its_collection(s3: LoopbackS3, catalog: Path,
                                                                        fake_server: FakeServer) -> None:
    publish(catalog, TARGET)
    harvest(fake_server, catalog, ["alpha", "beta", "gamma"])
    result = publish(catalog, TARGET)

    gamma = {f"{COLLECTION}/GAMMA/{p.name}" for p in (catalog / COLLECTION / "GAMMA").iterdir()}
    assert {"GAMMA.json", "GAMMA_VV.tif", "GAMMA_mask.tif"} <= {Path(k).name for k in gamma}
    # the root links to the collection, not to its items: unchanged, not uploaded again
    assert set(result.uploaded) == gamma | {f"{COLLECTION}/collection.json"}
    assert {key: obj["sha256"] for key, obj in bucket_objects(s3).items() if key != MANIFEST} == \
        local_files(catalog)


def test_uploads_are_ordered_for_readers_and_deletions_come_last(s3: LoopbackS3, catalog: Path) -> None:
    publish(catalog, TARGET)
    # BETA leaves the catalog: its folder, and its link from the collection
    shutil.rmtree(catalog / COLLECTION / "BETA")
    collection_file = catalog / COLLECTION / "collection.json"
    collection = json.loads(collection_file.read_text())
    collection["links"] = [link for link in collection["links"] if "BETA" not in link["href"]]
    collection_file.write_text(json.dumps(collection, indent=2))
    catalog_file = catalog / "catalog.json"
    catalog_file.write_text(catalog_file.read_text().replace('"Fake harvest"', '"Fake harvest, fewer items"'))
    (catalog / COLLECTION / "ALPHA" / "notes.txt").write_text("an asset that came later\n")

    client = make_s3_client()
    calls: list[tuple[str, str]] = []
    client.meta.events.register("provide-client-params.s3.PutObject",
                                lambda params, **kw: calls.append(("put", params["Key"])))
    client.meta.events.register("provide-client-params.s3.DeleteObjects",
                                lambda params, **kw: calls.extend(("delete", o["Key"])
                                                                  for o in params["Delete"]["Objects"]))
    result = publish(catalog, TARGET, client=client)

    beta = sorted(f"pub/{key}" for key in bucket_objects(s3) if key.startswith(f"{COLLECTION}/BETA/"))
    assert beta == []  # gone online too
    manifest = f"pub/{MANIFEST}"
    assert [c for c in calls if c[1] != manifest] == [
        ("put", f"pub/{COLLECTION}/ALPHA/notes.txt"),      # assets
        ("put", f"pub/{COLLECTION}/collection.json"),      # then collections
        ("put", "pub/catalog.json"),                       # then the root
        *sorted(("delete", f"pub/{key}") for key in result.deleted),  # then what is gone
    ]
    assert {Path(k).name for k in result.deleted} >= {"BETA.json", "BETA_VV.tif", "BETA_mask.tif"}
    assert all(k.startswith(f"{COLLECTION}/BETA/") for k in result.deleted)
    assert json.loads(s3.client().get_object(Bucket=BUCKET, Key=manifest)["Body"].read())["pending_delete"] == []
    # the manifest is written after each step: the last one says what the bucket holds now
    assert calls[-1] == ("put", manifest)
    online = bucket_objects(s3)
    assert {key: obj["sha256"] for key, obj in online.items() if key != MANIFEST} == local_files(catalog)


def test_large_files_are_uploaded_in_parts(s3: LoopbackS3, catalog: Path) -> None:
    big = catalog / COLLECTION / "ALPHA" / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    publish(catalog, TARGET, multipart_threshold=5 * 1024 * 1024)  # S3's smallest part
    online = bucket_objects(s3)
    key = f"{COLLECTION}/ALPHA/big.bin"
    assert online[key]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert online[key]["etag"].endswith("-2")  # S3's ETag of an object uploaded in two parts
    assert online[key]["type"] == "application/octet-stream"
    assert "-" not in online[f"{COLLECTION}/ALPHA/ALPHA_VV.tif"]["etag"]


def test_a_base_url_gives_the_root_an_absolute_self_link_and_pystac_reads_it_over_http(
        s3: LoopbackS3, catalog: Path) -> None:
    base = f"{s3.url}/{BUCKET}/pub"
    publish(catalog, TARGET, base_url=base)
    root = json.loads(s3.client().get_object(Bucket=BUCKET, Key="pub/catalog.json")["Body"].read())
    assert [link for link in root["links"] if link["rel"] == "self"] == [
        {"rel": "self", "href": f"{base}/catalog.json", "type": "application/json"}]
    assert all(link["rel"] != "self" for link in json.loads((catalog / "catalog.json").read_text())["links"])

    read = pystac.Catalog.from_file(f"{base}/catalog.json")  # plain HTTP GETs to the server
    items = {item.id: item for item in read.get_items(recursive=True)}
    assert set(items) == {"ALPHA", "BETA"}
    vv = items["ALPHA"].assets["VV"]
    assert vv.get_absolute_href() == f"{base}/{COLLECTION}/ALPHA/ALPHA_VV.tif"
    body = httpx.get(vv.get_absolute_href()).content
    assert "1220" + hashlib.sha256(body).hexdigest() == vv.extra_fields["file:checksum"]

    # changing the base URL changes the root only
    again = publish(catalog, TARGET, base_url="https://data.example/pub")
    assert again.uploaded == ["catalog.json"]


def test_without_a_base_url_the_published_root_is_the_local_one(s3: LoopbackS3, catalog: Path) -> None:
    publish(catalog, TARGET)
    online = s3.client().get_object(Bucket=BUCKET, Key="pub/catalog.json")["Body"].read()
    assert online == (catalog / "catalog.json").read_bytes()
    read = pystac.Catalog.from_file(f"{s3.url}/{BUCKET}/pub/catalog.json")
    assert {item.id for item in read.get_items(recursive=True)} == {"ALPHA", "BETA"}


def test_validate_reads_a_published_catalog_from_s3(s3: LoopbackS3, catalog: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", str(catalog), TARGET]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"published {TARGET}: {len(local_files(catalog))} file(s) uploaded (")
    assert main(["validate", TARGET]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "checked 4 object(s) (1 catalog, 1 collection, 2 items): all valid")

    # an asset missing online is found (from the listing: assets are not downloaded)
    s3.client().delete_object(Bucket=BUCKET, Key=f"pub/{COLLECTION}/BETA/BETA_mask.tif")
    assert main(["validate", TARGET]) == 1
    out = capsys.readouterr().out
    assert f"{COLLECTION}/BETA/BETA.json (Item 'BETA'): 1 error(s)" in out
    assert "  - asset 'mask' href='./BETA_mask.tif': file not found (" in out


def test_the_mirror_holds_json_and_sparse_placeholders(s3: LoopbackS3, catalog: Path) -> None:
    publish(catalog, TARGET)
    with mirror(TARGET) as folder:
        assert (folder / "catalog.json").read_bytes() == (catalog / "catalog.json").read_bytes()
        tif = folder / COLLECTION / "ALPHA" / "ALPHA_VV.tif"
        assert tif.stat().st_size == (catalog / COLLECTION / "ALPHA" / "ALPHA_VV.tif").stat().st_size
        assert tif.stat().st_blocks == 0  # sparse: nothing was downloaded
        assert not (folder / MANIFEST).exists()
    assert not folder.exists()


def test_publish_waits_for_no_run_and_refuses_while_one_holds_the_catalog(s3: LoopbackS3, catalog: Path) -> None:
    with StateDB(catalog):
        with pytest.raises(PublishLockedError, match="a harvester run is working on this catalog"):
            publish(catalog, TARGET, lock_wait=0)


@pytest.mark.parametrize(("args", "expected"), [
    (["https://bucket/x"], "error: command line: the target 'https://bucket/x' is not an s3://bucket/prefix URL"),
    ([TARGET, "--base-url", "ftp://x"],
     "error: command line: --base-url must be an absolute http(s) URL such as https://host/path, not 'ftp://x'"),
])
def test_publish_refuses_bad_targets_as_usage_errors(catalog: Path, capsys: pytest.CaptureFixture[str],
                                                     args: list[str], expected: str) -> None:
    assert main(["publish", str(catalog), *args]) == 2
    assert capsys.readouterr().err.strip() == expected


def test_a_run_publishes_at_the_end_when_configured(s3: LoopbackS3, fake_server: FakeServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    config = fakeprovider.write_config(tmp_path / "harvest.toml", "cat", fake_server.url, ["alpha"])
    config.write_text(config.read_text() + f'\n[publish]\nurl = "{TARGET}"\n')
    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    count = len(local_files(tmp_path / "cat"))
    assert any(line.startswith(f"published {TARGET}: {count} file(s) uploaded (") for line in out)
    assert {k: o["sha256"] for k, o in bucket_objects(s3).items() if k != MANIFEST} == local_files(tmp_path / "cat")

    assert main(["run", str(config)]) == 0  # nothing new: nothing uploaded
    out = capsys.readouterr().out.splitlines()
    assert f"published {TARGET}: 0 file(s) uploaded (0.0 MB), 0 deleted, {count} unchanged" in out


def test_a_publish_killed_midway_leaves_a_valid_catalog_and_the_next_completes_it(
        s3: LoopbackS3, fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    harvest(fake_server, root, ["alpha"])
    publish(root, TARGET)
    old_items = {"ALPHA"}
    # a new version with many items (one table job of many point items)
    harvest(fake_server, root, ["alpha", "many:multi"])
    new_items = {p.name for p in (root / fakeprovider.TABLE_COLLECTION).iterdir() if p.is_dir()} | old_items
    assert len(new_items) > 50

    env = {**os.environ, **s3.environment(), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-m", "harvester.cli", "-q", "publish", str(root), TARGET,
                              "--concurrency", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    client = s3.client()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and child.poll() is None:
            listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"pub/{fakeprovider.TABLE_COLLECTION}/")
            if listed.get("KeyCount", 0) >= 10:  # some of the new items are up, not all
                break
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL  # killed, not finished
    table = f"{fakeprovider.TABLE_COLLECTION}/"
    online_new = [key for key in bucket_objects(s3) if key.startswith(table)]
    assert 10 <= len(online_new) < len([key for key in local_files(root) if key.startswith(table)])  # midway

    with mirror(TARGET) as folder:
        report = validate_catalog(folder)
        assert report.ok, report.format()
        online_items = {obj.id for obj in report.objects if obj.kind == "Item"}
    assert online_items in (old_items, new_items)

    result = publish(root, TARGET)
    assert result.uploaded  # what the killed publish had not done
    assert {k: o["sha256"] for k, o in bucket_objects(s3).items() if k != MANIFEST} == local_files(root)
    with mirror(TARGET) as folder:
        report = validate_catalog(folder)
        assert report.ok and {obj.id for obj in report.objects if obj.kind == "Item"} == new_items


@pytest.mark.parametrize(("publish_table", "expected"), [
    ({"url": "http://bucket/x"}, "cfg: publish.url 'http://bucket/x' is not an s3://bucket/prefix URL"),
    ({"url": TARGET, "base_url": "bucket.example"},
     "cfg: publish.base_url must be an absolute http(s) URL such as https://host/path, not 'bucket.example'"),
    ({"url": TARGET, "acl": "public"}, "cfg: unknown key 'publish.acl' (known here: base_url, url)"),
    ({}, "cfg: publish.url is required"),
])
def test_the_publish_table_is_checked(tmp_path: Path, publish_table: dict[str, str], expected: str) -> None:
    from harvester.config import ConfigError, parse_config

    raw = {"catalog": {"path": str(tmp_path / "cat")}, "publish": publish_table,
           "sources": [{"provider": "hyp3", "name": "x", "job_ids": ["a"]}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, base_dir=tmp_path, env={}, origin="cfg")
    assert str(caught.value) == expected


def test_a_run_whose_publish_fails_reports_it_and_keeps_its_catalog(s3_server: LoopbackS3, fake_server: FakeServer,
                                                                    tmp_path: Path) -> None:
    from harvester.config import PublishConfig

    config = fake_config(tmp_path / "cat", fake_server.url, ["alpha"])
    config.publish = PublishConfig("s3://no-such-bucket/pub")
    summary = pipeline.run(config)

    assert summary.published is None and summary.jobs_harvested == 1
    assert [(f.source, f.error) for f in summary.failures] == [
        ("publish", "publishing to s3://no-such-bucket/pub failed: uploading s3://no-such-bucket/pub/"
                    f"{COLLECTION}/ALPHA/ALPHA.README.txt: NoSuchBucket The specified bucket does not exist")]
    assert validate_catalog(tmp_path / "cat").ok


def test_export_geoparquet_reads_a_published_catalog_from_s3(s3: LoopbackS3, catalog: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from catalogs.geoparquet import read_items

    publish(catalog, TARGET)
    out = tmp_path / "online.parquet"
    assert main(["export", "geoparquet", TARGET, str(out)]) == 0
    assert capsys.readouterr().out == (f"{out}: 2 item(s), written (2 item file(s) read, 0 row(s) kept from the "
                                       "previous export)\n")
    items = {item["id"]: item for item in read_items(out)}
    local = {i.id: i for i in pystac.Catalog.from_file(str(catalog / "catalog.json")).get_items(recursive=True)}
    assert sorted(items) == sorted(local) == ["ALPHA", "BETA"]
    # relative hrefs became URLs of the published files, which are there
    href = items["ALPHA"]["assets"]["VV"]["href"]
    assert href == f"{TARGET}/{COLLECTION}/ALPHA/ALPHA_VV.tif"
    key = href.removeprefix(f"s3://{BUCKET}/")
    assert s3.client().head_object(Bucket=BUCKET, Key=key)["ContentLength"] == (
        catalog / COLLECTION / "ALPHA" / "ALPHA_VV.tif").stat().st_size
    # a second export of the same online catalog reads nothing; one item changed online is read again
    assert main(["export", "geoparquet", TARGET, str(out)]) == 0
    assert "unchanged (0 item file(s) read, 2 row(s) kept" in capsys.readouterr().out
    beta = json.loads((catalog / COLLECTION / "BETA" / "BETA.json").read_bytes())
    beta["properties"]["title"] = "changed online"
    s3.client().put_object(Bucket=BUCKET, Key=f"pub/{COLLECTION}/BETA/BETA.json", Body=json.dumps(beta).encode())
    assert main(["export", "geoparquet", TARGET, str(out)]) == 0
    assert "written (1 item file(s) read, 1 row(s) kept" in capsys.readouterr().out
    assert {i["id"]: i for i in read_items(out)}["BETA"]["properties"]["title"] == "changed online"


def test_a_second_publish_reads_only_the_files_that_changed(s3: LoopbackS3, catalog: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Files whose size and modification time are those of the last publish keep its digest; a file written
    since (a new time) is read and uploaded."""
    import hashlib

    from harvester import publish as publishing

    publish(catalog, TARGET)
    read: list[str] = []
    real = hashlib.file_digest

    def counting(fh: Any, name: str) -> Any:
        read.append(Path(fh.name).relative_to(catalog).as_posix())
        return real(fh, name)

    monkeypatch.setattr(publishing.hashlib, "file_digest", counting)
    again = publish(catalog, TARGET)
    assert (read, again.uploaded) == ([], [])
    tif = next(catalog.glob(f"{COLLECTION}/*/*_VV.tif"))
    key = tif.relative_to(catalog).as_posix()
    tif.write_bytes(tif.read_bytes()[::-1])  # same size, other bytes, a new modification time
    changed = publish(catalog, TARGET)
    assert (read, changed.uploaded) == ([key], [key])
    assert bucket_objects(s3)[key]["sha256"] == local_files(catalog)[key]
