"""IAM policy documents for the AWS layout, as pure functions the deployment and the Lambda
functions share: what the service may touch, and what one caller may touch.

The storage layout decides the scoping: a user's blobs are their own bucket, and every
DynamoDB key of theirs begins with ``{owner}#`` (see :mod:`.dynamodb`), so
``dynamodb:LeadingKeys`` confines a caller to their items.

Example
-------
>>> doc = user_data_policy("arn:aws:s3:::b-alice", "arn:aws:dynamodb:us-east-1:1:table/t", "sub-1")
>>> doc["Statement"][1]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
['sub-1#*']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def data_role_policy(bucket_arns: Sequence[str], table_arn: str) -> dict[str, Any]:
    """What the function's data role may do: the stage's user buckets and its table.

    Example
    -------
    >>> doc = data_role_policy(["arn:aws:s3:::b"], "arn:aws:dynamodb:r:1:table/t")
    >>> doc["Statement"][0]["Resource"]
    ['arn:aws:s3:::b/*']
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
