"""Per-user buckets and the stage's access-log bucket.

Every bucket: encrypted, all public access blocked, ownership enforced, a policy denying
non-TLS requests. User buckets add versioning, lifecycle rules (staging uploads, noncurrent
versions, incomplete multipart uploads), CORS for presigned URLs, and access logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


def tls_only_policy(bucket_arn: str) -> str:
    """A bucket policy denying every request that is not over TLS.

    Example
    -------
    >>> json.loads(tls_only_policy("arn:aws:s3:::b"))["Statement"][0]["Effect"]
    'Deny'
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def _harden(
    name: str,
    bucket: aws.s3.Bucket,
    parent: pulumi.Resource,
    extra_statements: pulumi.Input[list] | None = None,
) -> None:
    opts = pulumi.ResourceOptions(parent=parent)
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-sse",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"},
                "bucket_key_enabled": True,
            }
        ],
        opts=opts,
    )
    block = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=opts,
    )

    def policy(args: list) -> str:
        arn, extra = args
        doc = json.loads(tls_only_policy(arn))
        doc["Statement"].extend(extra or [])
        return json.dumps(doc)

    aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=pulumi.Output.all(bucket.arn, extra_statements).apply(policy),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[block]),
    )


class LogBucket(pulumi.ComponentResource):
    """The stage's bucket for S3 server access logs (expires after ``retention_days``)."""

    def __init__(
        self, name: str, retention_days: int, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:LogBucket", name, None, opts)
        self.bucket = aws.s3.Bucket(f"{name}", opts=pulumi.ResourceOptions(parent=self))
        account = aws.get_caller_identity_output()
        logging_grant = pulumi.Output.all(self.bucket.arn, account.account_id).apply(
            lambda a: [
                {
                    "Sid": "S3ServerAccessLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{a[0]}/*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": a[1]}},
                }
            ]
        )
        _harden(name, self.bucket, self, logging_grant)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "expire-logs",
                    "status": "Enabled",
                    "filter": {},
                    "expiration": {"days": max(retention_days, 1)},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"bucket": self.bucket.bucket})


@dataclass(frozen=True)
class UserStorageArgs:
    """One user's storage: their name, CORS origins, log bucket and lifecycle settings."""

    user: str
    log_bucket: aws.s3.Bucket
    cors_origins: tuple[str, ...]
    noncurrent_days: int
    staging_days: int


class UserStorage(pulumi.ComponentResource):
    """A user's own bucket, hardened, versioned, logged, with lifecycle rules."""

    def __init__(
        self, name: str, args: UserStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:UserStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(name, opts=child)
        _harden(name, self.bucket, self)
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "expire-staging",
                    "status": "Enabled",
                    "filter": {"prefix": ".staging/"},
                    "expiration": {"days": args.staging_days},
                },
                {
                    "id": "expire-noncurrent",
                    "status": "Enabled",
                    "filter": {},
                    "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_days},
                },
                {
                    "id": "abort-multipart",
                    "status": "Enabled",
                    "filter": {},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                },
            ],
            opts=child,
        )
        aws.s3.BucketCorsConfiguration(
            f"{name}-cors",
            bucket=self.bucket.id,
            cors_rules=[
                {
                    "allowed_methods": ["GET", "PUT"],
                    "allowed_origins": list(args.cors_origins),
                    "allowed_headers": ["*"],
                    "max_age_seconds": 600,
                }
            ],
            opts=child,
        )
        aws.s3.BucketLogging(
            f"{name}-logging",
            bucket=self.bucket.id,
            target_bucket=args.log_bucket.id,
            target_prefix=f"{args.user}/",
            opts=child,
        )
        self.register_outputs({"bucket": self.bucket.bucket})
