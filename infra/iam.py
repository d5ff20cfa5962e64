"""IAM documents of the deployment, built from data (the data-access documents themselves are
shared with the functions: ``pandasdb_core.adapters.aws_access``).

Least privilege, in two steps:

1. the function's own role may write its logs and traces and assume the *data role*, nothing
   else;
2. the data role may touch only this stage's user buckets and metadata table; each request
   assumes it with a **session policy** naming only the caller's bucket and DynamoDB items
   whose key begins with the caller's id (``dynamodb:LeadingKeys``).

A session policy rather than one role per user: one role serves any number of users, adding
a user needs no IAM change, and the effective permissions are the intersection of the role's
and the session's, so a bug in the function cannot widen them past the caller's own data.

Example
-------
>>> assume_role_policy({"Service": "lambda.amazonaws.com"})["Statement"][0]["Action"]
'sts:AssumeRole'
"""

from __future__ import annotations

from typing import Any

#: the standard partition (the shared documents of ``pandasdb_core.adapters`` take the
#: partition they name as a parameter, defaulting to this one)
STANDARD_PARTITION = "aws"


def partition_of(arn: str) -> str:
    """The partition of an ARN (``aws``, ``aws-cn``, ``aws-us-gov``).

    Example
    -------
    >>> partition_of("arn:aws-cn:iam::123456789012:user/x")
    'aws-cn'
    """
    return arn.split(":", 2)[1]


def _policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def assume_role_policy(principal: dict[str, Any], action: str = "sts:AssumeRole") -> dict[str, Any]:
    """A trust policy letting ``principal`` assume the role."""
    return _policy([{"Effect": "Allow", "Principal": principal, "Action": action}])


def function_policy(log_group_arn: str, data_role_arn: str) -> dict[str, Any]:
    """The function role's permissions: its log group, X-Ray, and assuming the data role.

    Example
    -------
    >>> doc = function_policy("arn:aws:logs:r:1:log-group:/aws/lambda/f", "arn:aws:iam::1:role/d")
    >>> [s["Sid"] for s in doc["Statement"]]
    ['OwnLogs', 'Tracing', 'AssumeDataRole']
    """
    return _policy(
        [
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"{log_group_arn}:*"],
            },
            # X-Ray has no resource-level permissions; these actions carry no data
            {
                "Sid": "Tracing",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": ["*"],
            },
            {
                "Sid": "AssumeDataRole",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole"],
                "Resource": [data_role_arn],
            },
        ]
    )


def provisioning_policy(log_group_arn: str, bucket_arn_pattern: str, actions: list[str]) -> dict:
    """The sign-up trigger's permissions: its log group, and creating and configuring buckets
    of the stage's user-bucket pattern (``actions`` come from the bucket hardening, so the
    role allows exactly the requests the trigger sends). No object or table access.

    Example
    -------
    >>> doc = provisioning_policy("arn:log", "arn:aws:s3:::p-??", ["s3:CreateBucket"])
    >>> doc["Statement"][1]["Resource"]
    ['arn:aws:s3:::p-??']
    """
    return _policy(
        [
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"{log_group_arn}:*"],
            },
            {
                "Sid": "UserBuckets",
                "Effect": "Allow",
                "Action": sorted(set(actions)),
                "Resource": [bucket_arn_pattern],
            },
        ]
    )


def api_gateway_logging_policy(partition: str = STANDARD_PARTITION) -> str:
    """The AWS managed policy API Gateway's account-wide CloudWatch role carries: the role
    serves every REST API of the account and region, not this stage alone (API Gateway
    developer guide, "Set up CloudWatch logging for REST APIs").

    Example
    -------
    >>> api_gateway_logging_policy("aws-us-gov")
    'arn:aws-us-gov:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'
    """
    return f"arn:{partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
