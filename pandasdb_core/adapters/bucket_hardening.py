"""One definition of a hardened S3 bucket, as the S3 API requests that configure it.

The Pulumi program declares these settings as resources (``infra/storage.py``) and the Cognito
post-confirmation trigger sends them with boto3 (``lambdas/pandasdb_lambdas/provisioning.py``),
so a user's bucket carries the same protections whether the stack or a self sign-up created
it:

- default encryption: SSE-KMS with a bucket key for user data; SSE-S3 (AES256) for the
  access-log bucket, because S3 server access logs are not delivered to a bucket whose
  default encryption is SSE-KMS (S3 user guide, "Enabling Amazon S3 server access logging");
- all public access blocked and ACLs disabled (``BucketOwnerEnforced``);
- a bucket policy denying every request not made over TLS;
- versioning, with lifecycle rules that expire noncurrent versions and the expired delete
  markers they leave behind, expire staged uploads and their noncurrent versions after a day
  (S3 keeps noncurrent versions until a rule removes them: S3 user guide, "Lifecycle
  configuration elements"), and abort incomplete multipart uploads;
- CORS for presigned URLs, and server access logs to the stage's log bucket.

Example
-------
>>> h = user_bucket("pdb-prod-1-logs", ("*",), noncurrent_days=30, staging_days=1)
>>> [op for op, _ in h.requests("pdb-prod-1-b")][2:5]
['put_bucket_encryption', 'put_bucket_policy', 'put_bucket_versioning']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from ..staging import STAGING_PREFIX

#: the S3 request each setting is written with -> the IAM action that authorises it
IAM_ACTIONS = {
    "head_bucket": "s3:ListBucket",
    "create_bucket": "s3:CreateBucket",
    "put_public_access_block": "s3:PutBucketPublicAccessBlock",
    "put_bucket_ownership_controls": "s3:PutBucketOwnershipControls",
    "put_bucket_encryption": "s3:PutEncryptionConfiguration",
    "put_bucket_policy": "s3:PutBucketPolicy",
    "put_bucket_versioning": "s3:PutBucketVersioning",
    "put_bucket_lifecycle_configuration": "s3:PutLifecycleConfiguration",
    "put_bucket_cors": "s3:PutBucketCORS",
    "put_bucket_logging": "s3:PutBucketLogging",
    # the sign-up trigger's alone: the stack tags the buckets it declares itself
    "put_bucket_tagging": "s3:PutBucketTagging",
}
#: S3 server access logs land under ``{this}{account}/{region}/{source bucket}/YYYY/MM/DD/``
LOG_PREFIX = "s3/"
#: the service that delivers server access logs (it writes through the bucket policy, since
#: ``BucketOwnerEnforced`` disables the ACL grants older setups used)
LOGGING_SERVICE = "logging.s3.amazonaws.com"


def _abort_multipart() -> dict[str, Any]:
    return {
        "ID": "abort-incomplete-multipart-uploads",
        "Status": "Enabled",
        "Filter": {},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


@dataclass(frozen=True)
class BucketHardening:
    """The protections of one kind of bucket; :meth:`requests` spells them as S3 requests.

    ``policy_statements`` are added to the TLS-only bucket policy; ``log_bucket`` turns on
    server access logging to that bucket.
    """

    sse_algorithm: Literal["aws:kms", "AES256"]
    versioned: bool = False
    lifecycle_rules: tuple[dict[str, Any], ...] = ()
    cors_origins: tuple[str, ...] = ()
    log_bucket: str | None = None
    policy_statements: tuple[dict[str, Any], ...] = ()

    def settings(self) -> list[tuple[str, dict[str, Any]]]:
        """The requests that do not depend on the bucket's name, as ``(boto3 method,
        parameters without Bucket)``, in the order they are sent."""
        kms = self.sse_algorithm == "aws:kms"
        found: list[tuple[str, dict[str, Any]]] = [
            (
                "put_public_access_block",
                {
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "IgnorePublicAcls": True,
                        "BlockPublicPolicy": True,
                        "RestrictPublicBuckets": True,
                    }
                },
            ),
            (
                "put_bucket_ownership_controls",
                {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}},
            ),
            (
                "put_bucket_encryption",
                {
                    "ServerSideEncryptionConfiguration": {
                        "Rules": [
                            {
                                "ApplyServerSideEncryptionByDefault": {
                                    "SSEAlgorithm": self.sse_algorithm
                                },
                                # one KMS request per bucket key instead of one per object
                                "BucketKeyEnabled": kms,
                            }
                        ]
                    }
                },
            ),
        ]
        if self.versioned:
            found.append(
                ("put_bucket_versioning", {"VersioningConfiguration": {"Status": "Enabled"}})
            )
        if self.lifecycle_rules:
            found.append(
                (
                    "put_bucket_lifecycle_configuration",
                    {"LifecycleConfiguration": {"Rules": list(self.lifecycle_rules)}},
                )
            )
        if self.cors_origins:
            found.append(
                (
                    "put_bucket_cors",
                    {
                        "CORSConfiguration": {
                            "CORSRules": [
                                {
                                    "AllowedMethods": ["GET", "PUT"],
                                    "AllowedOrigins": list(self.cors_origins),
                                    "AllowedHeaders": ["*"],
                                    "MaxAgeSeconds": 600,
                                }
                            ]
                        }
                    },
                )
            )
        if self.log_bucket:
            found.append(
                (
                    "put_bucket_logging",
                    {
                        "BucketLoggingStatus": {
                            "LoggingEnabled": {
                                "TargetBucket": self.log_bucket,
                                "TargetPrefix": LOG_PREFIX,
                                # the key names the source bucket: no per-bucket prefix needed
                                "TargetObjectKeyFormat": {
                                    "PartitionedPrefix": {"PartitionDateSource": "EventTime"}
                                },
                            }
                        }
                    },
                )
            )
        return found

    def policy(self, bucket: str, partition: str = "aws") -> dict[str, Any]:
        """The bucket policy: deny every request not over TLS, plus ``policy_statements``;
        its ARNs name ``partition`` (the bucket's: ``aws``, ``aws-cn``, ``aws-us-gov``).

        Example
        -------
        >>> BucketHardening("AES256").policy("b")["Statement"][-1]["Condition"]
        {'Bool': {'aws:SecureTransport': 'false'}}
        >>> BucketHardening("AES256").policy("b", "aws-cn")["Statement"][-1]["Resource"][0]
        'arn:aws-cn:s3:::b'
        """
        arn = f"arn:{partition}:s3:::{bucket}"
        deny_plain_http = {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        return {"Version": "2012-10-17", "Statement": [*self.policy_statements, deny_plain_http]}

    def requests(self, bucket: str, partition: str = "aws") -> list[tuple[str, dict[str, Any]]]:
        """Every request that hardens ``bucket`` (of ``partition``), in order: public access
        is blocked before the policy is written, the policy before the data settings."""
        found = self.settings()
        policy = json.dumps(self.policy(bucket, partition))
        found.insert(3, ("put_bucket_policy", {"Policy": policy}))
        return found

    def iam_actions(self) -> list[str]:
        """The IAM actions needed to look for a bucket, create it and send :meth:`requests`.

        Example
        -------
        >>> BucketHardening("AES256").iam_actions()[:3]
        ['s3:ListBucket', 's3:CreateBucket', 's3:PutBucketPublicAccessBlock']
        """
        calls = ["head_bucket", "create_bucket", *(op for op, _ in self.requests("b"))]
        return [IAM_ACTIONS[op] for op in calls]


def user_bucket(
    log_bucket: str,
    cors_origins: tuple[str, ...],
    *,
    noncurrent_days: int,
    staging_days: int,
) -> BucketHardening:
    """A user's data bucket: SSE-KMS, versioned, lifecycle, CORS, access logs."""
    return BucketHardening(
        sse_algorithm="aws:kms",
        versioned=True,
        lifecycle_rules=(
            {
                "ID": "expire-staging",
                "Status": "Enabled",
                "Filter": {"Prefix": STAGING_PREFIX},
                "Expiration": {"Days": staging_days},
                # a removed staged file leaves a noncurrent version: gone a day later
                "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            },
            {
                "ID": "expire-noncurrent-versions",
                "Status": "Enabled",
                "Filter": {},
                "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
                # a delete marker with no versions left behind it is removed too
                "Expiration": {"ExpiredObjectDeleteMarker": True},
            },
            _abort_multipart(),
        ),
        cors_origins=cors_origins,
        log_bucket=log_bucket,
    )


def log_bucket(
    bucket: str,
    account_id: str,
    source_bucket_arn: str,
    *,
    retention_days: int,
    partition: str = "aws",
) -> BucketHardening:
    """The stage's bucket for S3 server access logs: SSE-S3, writable by S3's logging
    service only for ``source_bucket_arn`` (a pattern) of ``account_id``, expiring logs; its
    ARNs name ``partition``.

    Example
    -------
    >>> logs = log_bucket("l", "1", "arn:aws-cn:s3:::p-*", retention_days=9, partition="aws-cn")
    >>> logs.policy_statements[0]["Resource"]
    'arn:aws-cn:s3:::l/s3/*'
    """
    return BucketHardening(
        sse_algorithm="AES256",
        lifecycle_rules=(
            {
                "ID": "expire-logs",
                "Status": "Enabled",
                "Filter": {},
                "Expiration": {"Days": retention_days},
            },
            _abort_multipart(),
        ),
        policy_statements=(
            {
                "Sid": "S3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": LOGGING_SERVICE},
                "Action": "s3:PutObject",
                "Resource": f"arn:{partition}:s3:::{bucket}/{LOG_PREFIX}*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": source_bucket_arn},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
        ),
    )


def artifact_bucket() -> BucketHardening:
    """The stage's bucket for deployment artifacts (the Lambda package): SSE-S3, so Lambda
    reads the code with the deployer's S3 permissions alone."""
    return BucketHardening(sse_algorithm="AES256", lifecycle_rules=(_abort_multipart(),))
