"""IAM policy documents and bucket names for the AWS layout, as pure functions the deployment
and the Lambda functions share: what the service may touch, what one caller may touch, and
which bucket is whose.

The storage layout decides the scoping: a user's blobs are their own bucket, named from the
stage's bucket prefix and the user's Cognito ``sub`` (:func:`user_bucket_name`), and every
DynamoDB key of theirs begins with ``{owner}#`` (see :mod:`.dynamodb`), so
``dynamodb:LeadingKeys`` confines a caller to their items.

Example
-------
>>> doc = user_data_policy("arn:aws:s3:::b-alice", "arn:aws:dynamodb:us-east-1:1:table/t", "sub-1")
>>> doc["Statement"][1]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
['sub-1#*']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidArgument

#: S3 bucket names: 3-63 characters of [a-z0-9.-]; pandasdb uses no dots (virtual-hosted TLS)
BUCKET_NAME_MAX = 63
#: a user bucket is ``{prefix}-{32 hex digits of the sub}``: the prefix gets what is left
USER_ID_HEX = 32
BUCKET_PREFIX_MAX = BUCKET_NAME_MAX - 1 - USER_ID_HEX
_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
#: S3 reserves these name prefixes (general purpose bucket naming rules)
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_COGNITO_SUB = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: what the store does in S3: chunk files, staging, listing for vacuum
S3_OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
S3_BUCKET_ACTIONS = ["s3:ListBucket"]
#: what the metadata adapter does in DynamoDB (never Scan)
DYNAMODB_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
]
#: TransactWriteItems is authorised per contained action, plus this for the call itself
DYNAMODB_TABLE_ACTIONS = ["dynamodb:DescribeTable"]


def _policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def check_bucket_prefix(prefix: str, key: str = "bucket prefix") -> str:
    """``prefix`` if user bucket names can be built on it, else :class:`InvalidArgument`
    naming ``key`` (the setting it came from) and the rule it breaks.

    Example
    -------
    >>> check_bucket_prefix("pdb-prod-123456789012")
    'pdb-prod-123456789012'
    >>> check_bucket_prefix("Prod_Data", "pandasdb:bucketPrefix")
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.InvalidArgument: pandasdb:bucketPrefix: 'Prod_Data' must be ...
    """
    if not _PREFIX.fullmatch(prefix) or prefix.startswith(_RESERVED_PREFIXES):
        raise InvalidArgument(
            f"{key}: {prefix!r} must be lower-case letters, digits and '-', begin and end with a "
            f"letter or digit, and not begin with {', '.join(_RESERVED_PREFIXES)} (S3 bucket "
            "naming rules)"
        )
    if len(prefix) > BUCKET_PREFIX_MAX:
        raise InvalidArgument(
            f"{key}: {prefix!r} is {len(prefix)} characters; at most {BUCKET_PREFIX_MAX} leave "
            f"room for '-' and the {USER_ID_HEX} hex digits of a user id in a "
            f"{BUCKET_NAME_MAX}-character bucket name"
        )
    return prefix


def user_bucket_name(prefix: str, user_id: str) -> str:
    """The bucket of the user whose Cognito ``sub`` is ``user_id``: ``{prefix}-{sub's 32 hex
    digits}``. Deterministic, so the stack, the sign-up trigger and the API function agree
    without any table, and unique per stage when the prefix names the stage and account.

    Example
    -------
    >>> user_bucket_name("pdb-prod-123456789012", "0d3f14a0-c744-4969-b289-c16d6a1b0308")
    'pdb-prod-123456789012-0d3f14a0c7444969b289c16d6a1b0308'
    """
    if not isinstance(user_id, str) or not _COGNITO_SUB.fullmatch(user_id):
        raise InvalidArgument(f"user id {user_id!r} is not a Cognito sub (a lower-case UUID)")
    return f"{check_bucket_prefix(prefix)}-{user_id.replace('-', '')}"


def user_bucket_arn_pattern(prefix: str, partition: str = "aws") -> str:
    """An IAM resource pattern matching every user bucket of the stage and nothing else: one
    ``?`` per hex digit, so ``{prefix}-eu-...`` (another stage whose prefix begins with this
    one) and ``{prefix}-logs`` do not match, as a ``*`` would let them. ARNs name their
    ``partition`` (``aws``, ``aws-cn``, ``aws-us-gov``): a pattern of another partition
    grants nothing (IAM user guide, "IAM identifiers").

    Example
    -------
    >>> user_bucket_arn_pattern("pdb-prod-1").count("?")
    32
    >>> user_bucket_arn_pattern("pdb-prod-1", "aws-cn")[:20]
    'arn:aws-cn:s3:::pdb-'
    """
    return f"arn:{partition}:s3:::{check_bucket_prefix(prefix)}-{'?' * USER_ID_HEX}"


def data_role_policy(bucket_arns: Sequence[str], table_arn: str) -> dict[str, Any]:
    """What the function's data role may do: the stage's user buckets (their ARNs or the
    stage's :func:`user_bucket_arn_pattern`, so the policy stays one size for any number of
    users) and its table.

    Example
    -------
    >>> doc = data_role_policy([user_bucket_arn_pattern("p")], "arn:aws:dynamodb:r:1:table/t")
    >>> doc["Statement"][0]["Resource"] == [f"arn:aws:s3:::p-{'?' * 32}/*"]
    True
    """
    return _policy(
        [
            {
                "Sid": "UserObjects",
                "Effect": "Allow",
                "Action": S3_OBJECT_ACTIONS,
                "Resource": [f"{arn}/*" for arn in bucket_arns],
            },
            {
                "Sid": "UserBuckets",
                "Effect": "Allow",
                "Action": S3_BUCKET_ACTIONS + ["s3:GetBucketLocation"],
                "Resource": list(bucket_arns),
            },
            {
                "Sid": "MetadataTable",
                "Effect": "Allow",
                "Action": DYNAMODB_ACTIONS + DYNAMODB_TABLE_ACTIONS,
                "Resource": [table_arn],
            },
        ]
    )


def user_data_policy(bucket_arn: str, table_arn: str, owner: str) -> dict[str, Any]:
    """The session policy for one request: the caller's bucket, and only table items whose
    key begins with the caller's id. Intersected with :func:`data_role_policy`."""
    return _policy(
        [
            {
                "Sid": "OwnObjects",
                "Effect": "Allow",
                "Action": S3_OBJECT_ACTIONS + S3_BUCKET_ACTIONS + ["s3:GetBucketLocation"],
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
            },
            {
                "Sid": "OwnItems",
                "Effect": "Allow",
                "Action": DYNAMODB_ACTIONS,
                "Resource": [table_arn],
                "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{owner}#*"]}},
            },
            {
                "Sid": "DescribeTable",
                "Effect": "Allow",
                "Action": DYNAMODB_TABLE_ACTIONS,
                "Resource": [table_arn],
            },
        ]
    )
