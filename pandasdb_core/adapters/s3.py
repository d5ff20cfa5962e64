"""Blobs in an S3 bucket (boto3): conditional puts, batched deletes, paginated listing. A
store at a prefix marks it as its root (``{prefix}/.pandasdb/store.json``) before its first
file, so that the bucket's root store (or one at a shorter prefix) leaves its files alone.

Example
-------
>>> import boto3
>>> from moto import mock_aws
>>> with mock_aws():
...     s3 = boto3.client("s3", region_name="us-east-1")
...     _ = s3.create_bucket(Bucket="my-bucket")
...     blobs = S3BlobStore(s3, "my-bucket")
...     blobs.put("f/x.csv.gz", b"data", if_absent=True)
...     blobs.get("f/x.csv.gz")
b'data'
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from ..errors import BlobExists, BlobNotFound, StoreUnavailable
from ..names import validate_blob_key
from ..ports import STORE_DIR, STORE_MARKER, BlobStore
from ..records import BlobInfo

#: S3's DeleteObjects limit
DELETE_BATCH = 1000


def error_code(exc: ClientError) -> str:
    """The AWS error code of a botocore ClientError (``NoSuchKey``, ``412``...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore(BlobStore):
    """The blob port on one bucket, optionally under a key prefix.

    The client should be built with a connection pool at least as large as the store's
    worker count (see :func:`pandasdb_core.adapters.aws.open_s3`); botocore's retry mode
    handles throttling with backoff.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        #: whether this store's prefix is known to carry its mark (a bucket's root needs none)
        self._marked = not self.prefix
        self._own = f"{self.prefix}{STORE_DIR}/"

    def _mark(self) -> None:
        """Mark the prefix as a store's root (:data:`~pandasdb_core.ports.STORE_MARKER`)
        before this store's first file, so that a store at a shorter prefix of the bucket
        never takes the files below it for its own garbage. Once per process; written again
        as it was, it changes nothing."""
        body = json.dumps({"store": "pandasdb", "prefix": self.prefix}).encode()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + STORE_MARKER, Body=body)
        except ClientError as exc:
            self._fail(exc, STORE_MARKER)
        self._marked = True

    def _fail(self, exc: ClientError, key: str = "") -> None:
        code = error_code(exc)
        if code in ("NoSuchBucket",):
            raise StoreUnavailable(f"bucket {self.bucket!r} does not exist") from exc
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            raise StoreUnavailable(f"access denied to bucket {self.bucket!r} ({key})") from exc
        raise exc

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{validate_blob_key(key)}"

    def _put(self, key: str, data: bytes, if_absent: bool) -> None:
        if not self._marked:
            self._mark()
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, **extra)
        except ClientError as exc:
            if error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise BlobExists(f"blob {key!r} already exists") from None
            self._fail(exc, key)

    def _get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                raise BlobNotFound(f"blob {key!r} does not exist") from None
            self._fail(exc, key)
        return response["Body"].read()

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": self.prefix + k} for k in keys[start : start + DELETE_BATCH]]
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except ClientError as exc:
                self._fail(exc)
            failed = response.get("Errors", [])
            if failed:
                first = failed[0]
                raise StoreUnavailable(
                    f"could not delete {len(failed)} blob(s) from bucket {self.bucket!r}: "
                    f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )

    def _list(self, prefix: str) -> Iterator[BlobInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for obj in page.get("Contents", []):
                    if self.prefix and obj["Key"].startswith(self._own):
                        continue  # the store's mark, not a blob (a local store's likewise)
                    yield BlobInfo(
                        obj["Key"][len(self.prefix) :],
                        int(obj["Size"]),
                        obj["LastModified"].timestamp(),
                    )
        except ClientError as exc:
            self._fail(exc)
