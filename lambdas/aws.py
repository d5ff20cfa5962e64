"""The Lambda entry point on AWS: callers map to their own bucket and DynamoDB partition.

Configuration (set by the Pulumi program):

- ``PANDASDB_TABLE``, ``PANDASDB_TABLE_ARN``: the metadata table;
- ``PANDASDB_BUCKETS``: JSON ``{"cognito username": "bucket name"}``;
- ``PANDASDB_DATA_ROLE_ARN``: the role holding the data permissions; each request assumes it
  with a session policy naming only the caller's bucket and DynamoDB key prefix;
- ``PANDASDB_CLIENT_IDS``: comma-separated app client ids whose tokens are accepted (API
  Gateway's Cognito authorizer checks signature, issuer and expiry but not the audience);
- ``PANDASDB_CHUNK_ROWS``: rows per chunk file for new frames;
- ``PANDASDB_CORS_ORIGINS``: comma-separated allowed origins (default ``*``).

The bucket comes only from the verified ``cognito:username`` claim and the DynamoDB owner from
the ``sub`` claim: nothing in the request can name another user's storage, and IAM enforces
the same scoping again (defence in depth).

Example
-------
``handler(event, context)`` is the function API Gateway invokes (``lambdas.aws.handler``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pandasdb_core as pdb
from pandasdb_core.adapters.aws_access import user_data_policy
from pandasdb_core.errors import Unauthorized
from pandasdb_core.store import DEFAULT_CHUNK_ROWS
from pandasdb_core.wire import PRESIGN_SECONDS

from .context import StoreContext
from .handler import make_handler
from .identity import Caller

_stores: dict[str, tuple[float, StoreContext]] = {}
_lock = threading.Lock()
#: assumed-role sessions last an hour; rebuild well before, so presigned URLs stay valid
SESSION_SECONDS = 3600
REFRESH_AFTER = 2400


def _buckets() -> dict[str, str]:
    return json.loads(os.environ.get("PANDASDB_BUCKETS", "{}"))


def _client_ids() -> set[str]:
    return {c.strip() for c in os.environ.get("PANDASDB_CLIENT_IDS", "").split(",") if c.strip()}


def resolve_store(caller: Caller) -> StoreContext:
    """The caller's StoreContext on S3 + DynamoDB, cached while its credentials are fresh."""
    allowed = _client_ids()
    if allowed and caller.client_id not in allowed:
        raise Unauthorized("the token was issued to another app client")
    bucket = _buckets().get(caller.username)
    if bucket is None:
        raise Unauthorized(f"user {caller.username!r} has no storage provisioned")
    with _lock:
        built_at, ctx = _stores.get(caller.user_id, (0.0, None))
        if ctx is None or time.time() - built_at > REFRESH_AFTER:
            ctx = _build(caller, bucket)
            _stores[caller.user_id] = (time.time(), ctx)
        return ctx


def scoped_session(caller: Caller, bucket: str) -> Any:
    """A boto3 session whose credentials reach only ``bucket`` and the caller's items, or
    None when no data role is configured (local runs, tests)."""
    role = os.environ.get("PANDASDB_DATA_ROLE_ARN")
    if not role:
        return None
    import boto3

    policy = user_data_policy(
        f"arn:aws:s3:::{bucket}", os.environ["PANDASDB_TABLE_ARN"], caller.user_id
    )
    creds = boto3.client("sts").assume_role(
        RoleArn=role,
        RoleSessionName=f"pandasdb-{caller.username}"[:64],
        Policy=json.dumps(policy),
        DurationSeconds=SESSION_SECONDS,
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _build(caller: Caller, bucket: str) -> StoreContext:
    store = pdb.open(
        f"s3://{bucket}",
        table=os.environ["PANDASDB_TABLE"],
        owner=caller.user_id,
        session=scoped_session(caller, bucket),
        chunk_rows=int(os.environ.get("PANDASDB_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)),
    )
    client: Any = store.blobs.client  # type: ignore[attr-defined]

    def presign(method: str, key: str) -> str:
        operation = {"GET": "get_object", "PUT": "put_object"}[method]
        return client.generate_presigned_url(
            operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_SECONDS
        )

    return StoreContext(store, presign)


handler = make_handler(resolve_store)
