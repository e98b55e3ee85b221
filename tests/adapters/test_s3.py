"""adapters.s3 against moto's S3 server on loopback: locations, listing across pages, downloads, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from adapters.errors import AuthError, NotFoundError
from adapters.s3 import BadLocationError, S3Location, S3Object, download_object, iter_objects, make_s3_client, \
    read_object
from adapters.s3sim import LoopbackS3


def test_location_parses_bucket_and_prefix() -> None:
    loc = S3Location.parse("s3://bucket/some/prefix/")
    assert loc == S3Location("bucket", "some/prefix/")
    assert loc.key("req-1", "default.tif") == "some/prefix/req-1/default.tif"
    assert str(loc.child("req-1")) == "s3://bucket/some/prefix/req-1"
    assert str(S3Location.parse("s3://bucket")) == "s3://bucket"
    assert S3Location.parse("s3://bucket").key("a") == "a"


@pytest.mark.parametrize("url", ["https://bucket/x", "s3:///nobucket", "bucket/prefix", "s3://b/p?x=1"])
def test_bad_location_is_refused_naming_it(url: str) -> None:
    with pytest.raises(BadLocationError, match="delivery"):
        S3Location.parse(url, what="delivery")


def test_client_honours_aws_endpoint_url(s3_server: LoopbackS3) -> None:
    s3_server.client().create_bucket(Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    client = make_s3_client()  # endpoint and credentials from the environment only
    assert client.meta.endpoint_url == s3_server.url
    assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["bkt"]


def test_listing_pages_through_everything_below_the_prefix(s3_server: LoopbackS3) -> None:
    raw = s3_server.client()
    raw.create_bucket(Bucket="out", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    keys = [f"p/req/{i:04d}.tif" for i in range(25)]  # three pages of 10
    for key in keys:
        raw.put_object(Bucket="out", Key=key, Body=b"x" * 3)
    raw.put_object(Bucket="out", Key="p/request-other/a.tif", Body=b"y")  # shares the prefix's text, not folder
    found = list(iter_objects(make_s3_client(), S3Location("out", "p/req"), page_size=10))
    assert [o.key for o in found] == keys
    assert found[0] == S3Object("p/req/0000.tif", 3, hashlib.md5(b"xxx").hexdigest())  # a single-part ETag


def test_download_is_atomic_and_reports_missing_keys(s3_server: LoopbackS3, tmp_path: Path) -> None:
    raw = s3_server.client()
    raw.create_bucket(Bucket="out", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    raw.put_object(Bucket="out", Key="r/default.tif", Body=b"tiff bytes")
    client = make_s3_client()
    dest = tmp_path / "default.tif"
    assert download_object(client, "out", "r/default.tif", dest) == 10
    assert dest.read_bytes() == b"tiff bytes"
    assert read_object(client, "out", "r/default.tif") == b"tiff bytes"
    with pytest.raises(NotFoundError, match="s3://out/r/missing.tif"):
        download_object(client, "out", "r/missing.tif", tmp_path / "missing.tif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default.tif"]  # no partial file left behind
    with pytest.raises(NotFoundError, match="listing s3://nobucket"):
        list(iter_objects(client, S3Location("nobucket", "x")))


def test_missing_credentials_name_the_chain_not_a_secret(s3_server: LoopbackS3,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AuthError, match="no AWS credentials found"):
        list(iter_objects(make_s3_client(), S3Location("out", "x")))
