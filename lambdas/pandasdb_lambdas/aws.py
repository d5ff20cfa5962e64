"""The Lambda entry point on AWS: callers map to their own bucket and DynamoDB partition.

Configuration (set by the Pulumi program):

- ``PANDASDB_TABLE``, ``PANDASDB_TABLE_ARN``: the metadata table;
- ``PANDASDB_BUCKET_PREFIX``: the stage's bucket prefix; a caller's bucket is
  ``user_bucket_name(prefix, sub)`` (:mod:`pandasdb_core.adapters.aws_access`), so the
  environment holds nothing per user and stays within Lambda's 4 KB at any number of users;
- ``PANDASDB_DATA_ROLE_ARN``: the role holding the data permissions; each request assumes it
  with a session policy naming only the caller's bucket and DynamoDB key prefix;
- ``PANDASDB_USER_POOL_ID``: the Cognito user pool (what ``GET /auth/config`` names);
- ``PANDASDB_CLIENT_IDS``: comma-separated app client ids whose tokens are accepted (API
  Gateway's Cognito authorizer checks signature, issuer and expiry but not the audience);
- ``PANDASDB_CHUNK_ROWS``: rows per chunk file for new frames;
- ``PANDASDB_CORS_ORIGINS``: comma-separated allowed origins (default ``*``);
- ``PANDASDB_MANIFESTS``: ``true`` to rewrite a frame's symlink manifests with each commit
  (default off; :func:`pandasdb_lambdas.context.manifests_setting`);
- ``PANDASDB_TIME_BUDGET_S``: seconds a commit may keep retrying at most; each request's
  retries also stop at its own deadline, taken at handler entry
  (:func:`pandasdb_lambdas.context.request_deadline`), so the answer leaves before API
  Gateway's 29 s integration timeout however long a cold start or the body's parsing took.

The bucket and the DynamoDB owner come only from the verified ``sub`` claim: nothing in the
request can name another user's storage, and IAM enforces the same scoping again (defence in
depth). Presigned URLs are SigV4 (S3 refuses SigV2 on buckets created since June 2020 and on
SSE-KMS objects, and boto3 presigns with SigV2 unless told otherwise) and name the bucket's
regional endpoint, ``{bucket}.s3.{region}.amazonaws.com``: on the global endpoint S3
answers a bucket younger than a day, in any region but us-east-1, with a 307 redirect to the
regional one, which a browser's CORS preflight cannot follow and whose host the signature
does not cover; buckets of opt-in regions are never reachable there (S3 user guide,
"Temporary redirects"; boto/boto3 issues #2989 and #2728).

Example
-------
``handler(event, context)`` is the function API Gateway invokes (``pandasdb_lambdas.aws.handler``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pandasdb_core as pdb
from pandasdb_core.adapters.aws_access import user_bucket_name, user_data_policy
from pandasdb_core.adapters.s3 import error_code
from pandasdb_core.errors import InvalidArgument, StoreUnavailable, Unauthorized
from pandasdb_core.store import DEFAULT_CHUNK_ROWS
from pandasdb_core.wire import PRESIGN_SECONDS

from .context import StoreContext, manifests_setting
from .handler import make_handler
from .identity import Caller

_stores: dict[str, tuple[float, StoreContext]] = {}
_lock = threading.Lock()
#: API Gateway's integration timeout is 29 s and the function's 28 s: commits give up before
DEFAULT_TIME_BUDGET_S = 25.0
#: assumed-role sessions last an hour; rebuild well before, so presigned URLs stay valid
SESSION_SECONDS = 3600
REFRESH_AFTER = 2400


def _client_ids() -> set[str]:
    return {c.strip() for c in os.environ.get("PANDASDB_CLIENT_IDS", "").split(",") if c.strip()}


def resolve_store(caller: Caller) -> StoreContext:
    """The caller's StoreContext on S3 + DynamoDB, cached while its credentials are fresh."""
    allowed = _client_ids()
    if allowed and caller.client_id not in allowed:
        raise Unauthorized("the token was issued to another app client")
    bucket = caller_bucket(caller)
    with _lock:
        built_at, ctx = _stores.get(caller.user_id, (0.0, None))
        if ctx is None or time.time() - built_at > REFRESH_AFTER:
            ctx = _build(caller, bucket)
            _stores[caller.user_id] = (time.time(), ctx)
        return ctx


def caller_bucket(caller: Caller) -> str:
    """The caller's bucket, from the stage's prefix and their ``sub`` alone."""
    prefix = os.environ.get("PANDASDB_BUCKET_PREFIX")
    if not prefix:
        raise StoreUnavailable("the function has no PANDASDB_BUCKET_PREFIX configured")
    try:
        return user_bucket_name(prefix, caller.user_id)
    except InvalidArgument:
        raise Unauthorized(f"user {caller.username!r} has no storage provisioned") from None


def scoped_session(caller: Caller, bucket: str) -> Any:
    """A boto3 session whose credentials reach only ``bucket`` and the caller's items, or
    None when no data role is configured (local runs, tests)."""
    role = os.environ.get("PANDASDB_DATA_ROLE_ARN")
    if not role:
        return None
    import boto3

    table_arn = os.environ["PANDASDB_TABLE_ARN"]
    policy = user_data_policy(
        f"arn:{partition(table_arn)}:s3:::{bucket}", table_arn, caller.user_id
    )
    creds = boto3.client("sts").assume_role(
        RoleArn=role,
        # the sub, not the user name: Cognito allows any letter, mark, symbol or punctuation
        # in user names, AssumeRole only [\w+=,.@-] in session names
        RoleSessionName=f"pandasdb-{caller.user_id}"[:64],
        Policy=json.dumps(policy),
        DurationSeconds=SESSION_SECONDS,
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def partition(arn: str) -> str:
    """The AWS partition an ARN belongs to (``aws``, ``aws-cn``, ``aws-us-gov``).

    Example
    -------
    >>> partition("arn:aws-cn:dynamodb:cn-north-1:123456789012:table/t")
    'aws-cn'
    """
    return arn.split(":", 2)[1]


#: the presigning client's configuration: SigV4, and the bucket's regional virtual-hosted
#: endpoint (``{bucket}.s3.{region}.amazonaws.com``, in the region's own partition) rather
#: than the global ``{bucket}.s3.amazonaws.com`` botocore presigns with by default
PRESIGN_CONFIG = {
    "signature_version": "s3v4",
    "s3": {"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"},
}


def presigning_client(session: Any) -> Any:
    """An S3 client that presigns with SigV4 (``X-Amz-Algorithm=AWS4-HMAC-SHA256``) for the
    bucket's regional endpoint (see the module's docstring); the function's region is the
    buckets' region.

    Example
    -------
    >>> import boto3
    >>> session = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b",
    ...                                 region_name="eu-west-1")
    >>> url = presigning_client(session).generate_presigned_url(
    ...     "get_object", Params={"Bucket": "pdb-x", "Key": "k"})
    >>> url.split("?")[0]
    'https://pdb-x.s3.eu-west-1.amazonaws.com/k'
    """
    import boto3
    from botocore.config import Config

    session = session or boto3.session.Session()
    return session.client("s3", config=Config(**PRESIGN_CONFIG))


def _require_bucket(s3: Any, bucket: str, caller: Caller) -> None:
    """A user confirmed in Cognito whose bucket is missing gets a clear 401, not a 503."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            raise Unauthorized(f"user {caller.username!r} has no storage provisioned") from None
        raise


def time_budget() -> float:
    """Seconds a commit may keep retrying at most: ``PANDASDB_TIME_BUDGET_S`` (default 25);
    the handler also ends them at the request's deadline (:mod:`pandasdb_lambdas.handler`).

    Example
    -------
    >>> time_budget() > 0
    True
    """
    return float(os.environ.get("PANDASDB_TIME_BUDGET_S", DEFAULT_TIME_BUDGET_S))


def _build(caller: Caller, bucket: str) -> StoreContext:
    session = scoped_session(caller, bucket)
    s3 = presigning_client(session)
    _require_bucket(s3, bucket, caller)
    store = pdb.open(
        f"s3://{bucket}",
        table=os.environ["PANDASDB_TABLE"],
        owner=caller.user_id,
        session=session,
        chunk_rows=int(os.environ.get("PANDASDB_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)),
        progress=False,
        commit_timeout=time_budget(),
        manifests=manifests_setting(),
    )

    def presign(method: str, key: str) -> str:
        operation = {"GET": "get_object", "PUT": "put_object"}[method]
        return s3.generate_presigned_url(
            operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_SECONDS
        )

    return StoreContext(store, presign, PRESIGN_SECONDS)


handler = make_handler(resolve_store)
