"""``open("s3://bucket", table=...)``: build the S3 and DynamoDB adapters from AWS config.

boto3 reads the standard configuration: ``AWS_PROFILE``, ``AWS_REGION`` /
``AWS_DEFAULT_REGION``, credentials, ``AWS_ENDPOINT_URL`` and the per-service
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_DYNAMODB`` (so MinIO, LocalStack or moto's server
work). The URL may carry ``?table=NAME&owner=ID`` instead of keyword arguments, and a key
prefix after the bucket (``s3://bucket/some/prefix``).

Example
-------
>>> from moto import mock_aws
>>> with mock_aws():
...     blobs, meta = open_s3("s3://my-bucket?table=my-meta", create=True)
...     meta.frames()
[]
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import InvalidArgument, StoreUnavailable
from .dynamodb import DynamoDBMetadataStore, create_table
from .s3 import S3BlobStore, error_code

DEFAULT_REGION = "us-east-1"


def _clients(
    region: str | None, profile: str | None, pool: int, session: Any = None
) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    session = session or boto3.session.Session(profile_name=profile, region_name=region)
    config = Config(
        region_name=session.region_name or DEFAULT_REGION,
        retries={"mode": "adaptive", "max_attempts": 10},
        max_pool_connections=max(10, pool),
    )
    return session.client("s3", config=config), session.client("dynamodb", config=config)


def _ensure_bucket(s3: Any, bucket: str, create: bool) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        code = error_code(exc)
        if code in ("403", "AccessDenied"):
            raise StoreUnavailable(f"access denied to bucket {bucket!r}") from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    if not create:
        raise StoreUnavailable(f"bucket {bucket!r} does not exist (pass create=True to create it)")
    region = s3.meta.region_name
    extra = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=bucket, **extra)


def _ensure_table(dynamodb: Any, table: str, create: bool) -> None:
    from botocore.exceptions import ClientError

    try:
        dynamodb.describe_table(TableName=table)
        return
    except ClientError as exc:
        code = error_code(exc)
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            raise StoreUnavailable(f"access denied to DynamoDB table {table!r}") from None
        if code != "ResourceNotFoundException":
            raise
    if not create:
        raise StoreUnavailable(
            f"DynamoDB table {table!r} does not exist (pass create=True to create it)"
        )
    create_table(dynamodb, table)


def open_s3(
    url: str,
    *,
    table: str | None = None,
    create: bool = False,
    owner: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    workers: int = 8,
    session: Any = None,
) -> tuple[S3BlobStore, DynamoDBMetadataStore]:
    """Build the blob and metadata adapters for ``s3://bucket[/prefix][?table=..&owner=..]``.

    ``owner`` (default ``"default"``) is the user id every DynamoDB key begins with;
    ``session`` a boto3 Session to use (e.g. with credentials scoped to one user).
    """
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    bucket = parts.netloc
    if not bucket:
        raise InvalidArgument(f"url {url!r} names no bucket; use s3://bucket")
    table = table or query.get("table")
    if not table:
        raise InvalidArgument(
            f"url {url!r}: an s3:// store needs a DynamoDB table (table=... or ?table=NAME)"
        )
    owner = owner or query.get("owner") or "default"
    s3, dynamodb = _clients(region or query.get("region"), profile, workers * 2, session)
    _ensure_bucket(s3, bucket, create)
    _ensure_table(dynamodb, table, create)
    return (
        S3BlobStore(s3, bucket, parts.path),
        DynamoDBMetadataStore(dynamodb, table, owner=owner, workers=workers),
    )
