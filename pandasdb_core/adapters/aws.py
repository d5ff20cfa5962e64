"""``open("s3://bucket", table=...)``: build the S3 and DynamoDB adapters from AWS config.

boto3 reads the standard configuration: ``AWS_PROFILE``, ``AWS_REGION`` /
``AWS_DEFAULT_REGION``, credentials, ``AWS_ENDPOINT_URL`` and the per-service
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_DYNAMODB`` (so MinIO, LocalStack or moto's server
work). The URL may carry ``?table=NAME&owner=ID`` instead of keyword arguments, and a key
prefix after the bucket (``s3://bucket/some/prefix``).

**A prefix is a store of its own**, metadata included: the DynamoDB keys of a store at a
prefix begin with ``{owner}~{bucket/prefix, percent-escaped}`` instead of ``{owner}``, so
``s3://b/team-a`` and ``s3://b/team-b`` on one table and owner never see (or break) each
other's frames. A store without a prefix keeps the plain ``{owner}`` keys (what the HTTP
API on AWS uses: one bucket per user, owner = the user's id, which the session policy's
``dynamodb:LeadingKeys`` condition ``{owner}#*`` confines). A store at a prefix written
before prefixes had their own metadata keeps using the plain keys, so it stays readable:
when the prefix's own keys hold no frame yet, the files at the prefix are looked at, and if
the plain keys hold the frame of the first of them, they are the store's. Two such older
stores that already shared their metadata still share it (move one to a new prefix with a
fresh upload to separate them).

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
from urllib.parse import parse_qs, quote, urlsplit

from ..errors import InvalidArgument, StoreUnavailable
from ..staging import STAGING_PREFIX
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
    blobs = S3BlobStore(s3, bucket, parts.path)
    scoped = metadata_owner(blobs, dynamodb, table, owner)
    return blobs, DynamoDBMetadataStore(dynamodb, table, owner=scoped, workers=workers)


def scoped_owner(owner: str, bucket: str, prefix: str) -> str:
    """The owner a store at ``bucket``/``prefix`` keys its metadata by: ``owner`` for no
    prefix, else ``owner`` and the escaped location (no ``#``, which DynamoDB keys use).

    Example
    -------
    >>> scoped_owner("default", "b", ""), scoped_owner("default", "b", "team-a/x#1/")
    ('default', 'default~b%2Fteam-a%2Fx%231')
    """
    where = prefix.strip("/")
    if not where:
        return owner
    return f"{owner}~{quote(f'{bucket}/{where}', safe='')}"


def metadata_owner(blobs: S3BlobStore, dynamodb: Any, table: str, owner: str) -> str:
    """The owner the metadata of the store ``blobs`` (a bucket and prefix) is keyed by (see
    the module docstring): the prefix's own, unless those hold no frame and the plain keys
    hold the frame of the prefix's first file (a store written before prefixes had their own
    metadata)."""
    if not blobs.prefix:
        return owner
    scoped = scoped_owner(owner, blobs.bucket, blobs.prefix)
    if _has_frames(dynamodb, table, scoped):
        return scoped
    first = next((b.key for b in blobs.list() if not b.key.startswith(STAGING_PREFIX)), None)
    if first is None:
        return scoped  # a new store
    parts = first.split("/")[:-1]
    names = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    older = any(_has_head(dynamodb, table, owner, name) for name in names)
    return owner if older else scoped


def _has_frames(dynamodb: Any, table: str, owner: str) -> bool:
    """Whether the metadata keys of ``owner`` hold a frame (one item read; the key layout
    of :mod:`pandasdb_core.adapters.dynamodb`)."""
    found = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{owner}#frames"}},
        ProjectionExpression="pk",
        Limit=1,
    )
    return bool(found.get("Items"))


def _has_head(dynamodb: Any, table: str, owner: str, name: str) -> bool:
    item = dynamodb.get_item(
        TableName=table,
        Key={"pk": {"S": f"{owner}#frames"}, "sk": {"S": f"frame#{name}"}},
        ProjectionExpression="pk",
    )
    return "Item" in item
