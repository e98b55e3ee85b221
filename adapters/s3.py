"""S3-compatible object storage, through boto3: locations, a client, listing, downloads and bulk uploads.

boto3 is the project's one S3 library (the Sentinel Hub adapter reads Async Process outputs with it, and
catalogs are published with it). It was chosen over obstore because it implements the whole AWS credential
chain (environment, shared credentials and config files with profiles, SSO, assume-role, container and
instance metadata) and region resolution, honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` itself,
and brings multipart, parallel transfers (s3transfer); obstore is faster per call but resolves only part
of that chain without boto3's help. boto3 is heavy to import, so it is imported here only when a client is
made: nothing that merely names an ``s3://`` location loads it.

Errors from botocore become the project's errors, naming the bucket and key and never a credential.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from adapters.errors import AuthError, DownloadError, NotFoundError, ProviderError, ProviderUnavailableError
from catalogs.errors import HarvestError
from catalogs.fsio import atomic_path

if TYPE_CHECKING:
    from botocore.client import BaseClient

log = logging.getLogger(__name__)

#: parallel connections of one client: enough for the pipeline's download threads and parallel uploads
MAX_POOL_CONNECTIONS = 32


class BadLocationError(HarvestError):
    """A string given as an ``s3://`` location that is not one."""


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: a bucket and a key prefix (no leading slash; empty for the whole bucket)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str, *, what: str = "S3 location") -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise BadLocationError(f"{what} {url!r} is not an s3://bucket/prefix URL")
        if parts.query or parts.fragment:
            raise BadLocationError(f"{what} {url!r} has a query or fragment; give s3://bucket/prefix only")
        return cls(parts.netloc, parts.path.lstrip("/"))

    def key(self, *names: str) -> str:
        """The key of ``names`` below this prefix (joined with ``/``)."""
        return "/".join(part.strip("/") for part in (self.prefix, *names) if part.strip("/"))

    def child(self, *names: str) -> S3Location:
        return S3Location(self.bucket, self.key(*names))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


def make_s3_client(region: str | None = None, *, endpoint_url: str | None = None) -> BaseClient:
    """A boto3 S3 client: credentials from the AWS chain, ``AWS_ENDPOINT_URL`` honoured (by botocore).

    ``region`` is the bucket's region where the caller knows it (a delivery's region); otherwise the chain's
    (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the config file).
    """
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=MAX_POOL_CONNECTIONS)
    return boto3.session.Session().client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


def iter_objects(client: BaseClient, location: S3Location, *, page_size: int | None = None) -> Iterator[S3Object]:
    """Every object below ``location`` (all pages of ``page_size``, S3's 1000 by default), in key order."""
    prefix = location.prefix.rstrip("/") + "/" if location.prefix else ""
    paginator = client.get_paginator("list_objects_v2")
    with s3_errors(f"listing {location}"):
        for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix,
                                       PaginationConfig={"PageSize": page_size} if page_size else {}):
            for entry in page.get("Contents", ()):
                yield S3Object(entry["Key"], int(entry["Size"]), str(entry.get("ETag", "")).strip('"'))


def download_object(client: BaseClient, bucket: str, key: str, dest: Path) -> int:
    """Download ``s3://bucket/key`` to ``dest`` atomically (a temporary name, then a rename); its size."""
    with s3_errors(f"downloading s3://{bucket}/{key}", download=True), atomic_path(Path(dest)) as tmp:
        client.download_file(bucket, key, str(tmp))
        return tmp.stat().st_size


def presigned_url(client: BaseClient, bucket: str, key: str, seconds: int = 3600) -> str:
    """A URL that GETs ``s3://bucket/key`` without further credentials for ``seconds`` (its query holds the
    signature and the access key id: store and show it only through `adapters.redact.redact_url`)."""
    with s3_errors(f"signing a URL for s3://{bucket}/{key}"):
        return str(client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                 ExpiresIn=seconds))


def read_object(client: BaseClient, bucket: str, key: str) -> bytes:
    with s3_errors(f"reading s3://{bucket}/{key}"):
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def write_object(client: BaseClient, bucket: str, key: str, data: bytes, content_type: str) -> None:
    with s3_errors(f"writing s3://{bucket}/{key}"):
        client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)


@dataclass(frozen=True)
class Upload:
    """One object to upload: from a file (``path``) or from memory (``data``)."""

    key: str
    content_type: str
    path: Path | None = None
    data: bytes | None = None


#: parts of this size and more go multipart (s3transfer's default, 8 MiB)
MULTIPART_THRESHOLD = 8 * 1024 * 1024


def upload_all(client: BaseClient, bucket: str, uploads: Iterable[Upload], *, concurrency: int = 16,
               multipart_threshold: int = MULTIPART_THRESHOLD) -> int:
    """Upload every one of ``uploads`` concurrently (s3transfer's transfer manager: ``concurrency`` threads,
    files of ``multipart_threshold`` bytes and more in parallel parts) and wait for all; the bytes sent.

    Raises the translated error of the first upload that failed, once the others have finished.
    """
    import io

    from boto3.s3.transfer import TransferConfig, create_transfer_manager

    config = TransferConfig(max_concurrency=concurrency, multipart_threshold=multipart_threshold,
                            multipart_chunksize=multipart_threshold, preferred_transfer_client="classic")
    futures = []
    sent = 0
    with create_transfer_manager(client, config) as manager:
        for upload in uploads:
            source: Any = str(upload.path) if upload.path is not None else io.BytesIO(upload.data or b"")
            extra = {"ContentType": upload.content_type}
            futures.append((upload, manager.upload(source, bucket, upload.key, extra_args=extra)))
        for upload, future in futures:
            with s3_errors(f"uploading s3://{bucket}/{upload.key}"):
                future.result()
            sent += future.meta.size or 0
    return sent


def delete_objects(client: BaseClient, bucket: str, keys: Iterable[str]) -> int:
    """Delete ``keys`` (S3's batch delete, 1000 a request); how many were deleted. A key that is not there
    counts as deleted (S3 does not tell them apart)."""
    keys = list(keys)
    deleted = 0
    for start in range(0, len(keys), 1000):
        batch = keys[start:start + 1000]
        with s3_errors(f"deleting {len(batch)} object(s) in s3://{bucket}"):
            response = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                                     "Quiet": True})
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise ProviderError(f"deleting s3://{bucket}/{first.get('Key')}: {first.get('Code')} "
                                f"{first.get('Message', '')}".rstrip() + f" ({len(errors)} object(s) not deleted)")
        deleted += len(batch)
    return deleted


class s3_errors:  # noqa: N801 - used as a context manager, named like one
    """Translate botocore's exceptions raised inside into the project's errors, naming ``what``."""

    def __init__(self, what: str, *, download: bool = False) -> None:
        self.what = what
        self.download = download

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, ProviderError) or not _is_botocore(exc):
            return False
        raise translate_error(exc, self.what, download=self.download) from exc


def _is_botocore(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("botocore", "boto3", "s3transfer"))


def translate_error(exc: BaseException, what: str, *, download: bool = False) -> ProviderError:
    """A project error for a botocore/boto3 exception; its text is botocore's, which names no secret."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return AuthError(f"{what}: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                         "AWS_PROFILE or another source of the AWS credential chain)")
    if isinstance(exc, EndpointConnectionError):
        return ProviderUnavailableError(f"{what}: cannot reach the S3 endpoint ({exc})")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"{what}: {code or status} {error.get('Message', '')}".rstrip()
        if code in {"NoSuchKey", "NoSuchBucket", "404", "NotFound"} or status == 404:
            return NotFoundError(message)
        if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "403"} \
                or status == 403:
            return AuthError(message + " (check the AWS credentials and the bucket's policy)")
        if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "InternalError"}:
            return ProviderUnavailableError(message)
        return DownloadError(message) if download else ProviderError(message)
    return DownloadError(f"{what}: {exc}") if download else ProviderError(f"{what}: {exc}")
