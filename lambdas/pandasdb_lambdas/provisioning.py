"""The Cognito post-confirmation trigger: a user who signed themselves up gets their own
bucket, hardened exactly as the stack hardens the buckets of configured users
(:mod:`pandasdb_core.adapters.bucket_hardening`), before their first request.

Cognito invokes the trigger on ConfirmSignUp, AdminConfirmSignUp and ConfirmForgotPassword
(Cognito developer guide, "Post confirmation Lambda trigger"), waits about 5 seconds for it
and calls it again when it fails or is slow (Cognito developer guide, "Customizing user pool
workflows with Lambda triggers"). So every step is idempotent: a bucket that exists is kept,
and its settings are written again with the same values, which changes nothing; a password
reset also repairs a bucket whose setup was cut short.

Configuration (set by the Pulumi program, none of it per user):

- ``PANDASDB_BUCKET_PREFIX``: the stage's bucket prefix (see
  :func:`pandasdb_core.adapters.aws_access.user_bucket_name`);
- ``PANDASDB_LOG_BUCKET``: the stage's access-log bucket;
- ``PANDASDB_CORS_ORIGINS``: comma-separated origins allowed to use presigned URLs;
- ``PANDASDB_NONCURRENT_DAYS``, ``PANDASDB_STAGING_DAYS``: lifecycle settings;
- ``PANDASDB_BUCKET_TAGS``: the stack's tags (``pandasdb:tags``) as a JSON object, which the
  bucket gets as the buckets the stack declares do (none: no tags).

Example
-------
``handler(event, context)`` is the function Cognito invokes
(``pandasdb_lambdas.provisioning.handler``); it returns the event unchanged, as Cognito expects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from pandasdb_core.adapters.aws_access import user_bucket_name
from pandasdb_core.adapters.bucket_hardening import BucketHardening, user_bucket
from pandasdb_core.adapters.s3 import error_code

from .observability import logger

#: Cognito gives a trigger about 5 s: fail fast and let Cognito's retry start over
CLIENT_TIMEOUTS = {"connect_timeout": 1, "read_timeout": 2, "retries": {"max_attempts": 2}}


class BucketTaken(RuntimeError):
    """The user's bucket name belongs to another AWS account."""


def hardening_from_env() -> BucketHardening:
    """The user-bucket protections configured for this stage."""
    origins = os.environ.get("PANDASDB_CORS_ORIGINS", "*")
    return user_bucket(
        os.environ["PANDASDB_LOG_BUCKET"],
        tuple(o.strip() for o in origins.split(",") if o.strip()),
        noncurrent_days=int(os.environ["PANDASDB_NONCURRENT_DAYS"]),
        staging_days=int(os.environ["PANDASDB_STAGING_DAYS"]),
    )


def _create(s3: Any, bucket: str) -> bool:
    """Create ``bucket`` in the client's region; False when a concurrent call of this
    trigger created it first."""
    from botocore.exceptions import ClientError

    region = s3.meta.region_name
    # us-east-1 is S3's default location and refuses it as an explicit constraint
    location = {"LocationConstraint": region}
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": location}
    try:
        s3.create_bucket(Bucket=bucket, **extra)
    except ClientError as exc:
        code = error_code(exc)
        if code == "BucketAlreadyExists":
            raise BucketTaken(f"bucket {bucket!r} belongs to another AWS account") from None
        if code != "BucketAlreadyOwnedByYou":
            raise
        return False
    return True


def tags_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The stack's tags (``pandasdb:tags``), which the buckets it declares carry, as the
    stack passes them: ``PANDASDB_BUCKET_TAGS``, a JSON object of strings (none: no tags).

    Example
    -------
    >>> tags_from_env({"PANDASDB_BUCKET_TAGS": '{"team": "data"}'})
    {'team': 'data'}
    >>> tags_from_env({})
    {}
    """
    text = (os.environ if environ is None else environ).get("PANDASDB_BUCKET_TAGS") or "{}"
    tags = json.loads(text)
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise ValueError("PANDASDB_BUCKET_TAGS must be a JSON object of strings")
    return tags


def provision(
    s3: Any, bucket: str, hardening: BucketHardening, tags: Mapping[str, str] | None = None
) -> bool:
    """Create ``bucket`` unless this account already owns it, then write every setting of
    ``hardening``, one after the other (S3 answers 409 OperationAborted to concurrent
    bucket-level requests), its policy's ARNs in the client's partition, and ``tags`` (the
    whole tag set, written again as it is on a repeat). True when the bucket was created now.

    Raises
    ------
    BucketTaken
        When another account owns a bucket of that name.
    """
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        created = False
    except ClientError as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        created = _create(s3, bucket)
    # ARNs name their partition: a policy of arn:aws: resources grants or denies nothing
    # in the China or GovCloud partitions (IAM user guide, "IAM identifiers")
    partition = getattr(s3.meta, "partition", "aws")
    for method, params in hardening.requests(bucket, partition):
        getattr(s3, method)(Bucket=bucket, **params)
    if tags:
        tag_set = [{"Key": key, "Value": value} for key, value in tags.items()]
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set})
    return created


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Provision the confirmed user's bucket; return the event, as Cognito expects."""
    import boto3
    from botocore.config import Config

    sub = event["request"]["userAttributes"]["sub"]
    bucket = user_bucket_name(os.environ["PANDASDB_BUCKET_PREFIX"], sub)
    s3 = boto3.client("s3", config=Config(**CLIENT_TIMEOUTS))
    created = provision(s3, bucket, hardening_from_env(), tags_from_env())
    logger.info(
        "user storage provisioned",
        extra={
            "trigger": event.get("triggerSource"),
            "user": event.get("userName"),
            "bucket": bucket,
            "new_bucket": created,
        },
    )
    return event
