"""The Lambda entry point on AWS: callers map to their own bucket and DynamoDB partition.

Configuration (set by the Pulumi program):

- ``PANDASDB_TABLE``: the metadata table;
- ``PANDASDB_BUCKETS``: JSON ``{"cognito username": "bucket name"}``;
- ``PANDASDB_CORS_ORIGINS``: comma-separated allowed origins (default ``*``).

The bucket comes only from the verified ``cognito:username`` claim and the DynamoDB owner from
the ``sub`` claim: nothing in the request can name another user's storage.

Example
-------
``handler(event, context)`` is the function API Gateway invokes (``lambdas.aws.handler``).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import pandasdb_core as pdb
from pandasdb_core.errors import Unauthorized
from pandasdb_core.wire import PRESIGN_SECONDS

from .context import StoreContext
from .handler import make_handler
from .identity import Caller

_stores: dict[str, StoreContext] = {}
_lock = threading.Lock()


def _buckets() -> dict[str, str]:
    return json.loads(os.environ.get("PANDASDB_BUCKETS", "{}"))


def resolve_store(caller: Caller) -> StoreContext:
    """The caller's StoreContext on S3 + DynamoDB, cached for the life of the container."""
    bucket = _buckets().get(caller.username)
    if bucket is None:
        raise Unauthorized(f"user {caller.username!r} has no storage provisioned")
    with _lock:
        cached = _stores.get(caller.user_id)
        if cached is None:
            store = pdb.open(
                f"s3://{bucket}", table=os.environ["PANDASDB_TABLE"], owner=caller.user_id
            )
            client: Any = store.blobs.client  # type: ignore[attr-defined]

            def presign(method: str, key: str, bucket: str = bucket) -> str:
                operation = {"GET": "get_object", "PUT": "put_object"}[method]
                return client.generate_presigned_url(
                    operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_SECONDS
                )

            cached = _stores[caller.user_id] = StoreContext(store, presign)
        return cached


handler = make_handler(resolve_store)
