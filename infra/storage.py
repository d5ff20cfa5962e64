"""Buckets as Pulumi resources, from the one definition of a hardened bucket the sign-up
trigger also uses (:mod:`pandasdb_core.adapters.bucket_hardening`): each S3 request of that
definition becomes the Pulumi resource that makes the same request.

User buckets, and every setting that protects them, are retained when removed from the
program (``retain_on_delete``): dropping a user from config, or ``pulumi destroy``, leaves
their data and its protections in place (Pulumi resource options, ``retainOnDelete``).

A bucket's settings are written one after the other, in the order the sign-up trigger sends
them (:meth:`BucketHardening.requests`: public access blocked before the policy, the policy
before the data settings): S3 refuses a bucket-level request while another is in progress on
the same bucket with 409 OperationAborted, "A conflicting conditional operation is currently
in progress against this resource" (S3 API reference, error codes;
hashicorp/terraform-provider-aws#7628), and Pulumi would otherwise send them all at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from pandasdb_core.adapters.bucket_hardening import BucketHardening

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(value: Any) -> Any:
    """An S3 API shape (``SSEAlgorithm``, ``CORSRules``, ``ID``) with the snake_case keys of
    Pulumi's inputs (``sse_algorithm``, ``cors_rules``, ``id``).

    Example
    -------
    >>> snake_case({"CORSRules": [{"MaxAgeSeconds": 1}], "ID": "x", "SSEAlgorithm": "AES256"})
    {'cors_rules': [{'max_age_seconds': 1}], 'id': 'x', 'sse_algorithm': 'AES256'}
    """
    if isinstance(value, dict):
        return {_WORD_BOUNDARY.sub("_", k).lower(): snake_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_case(v) for v in value]
    return value


#: S3 request -> (name suffix, the Pulumi resource making it, its inputs from the request's
#: parameters, still in the S3 API's case)
RESOURCES: dict[str, tuple[str, type[pulumi.CustomResource], Callable[[dict], dict]]] = {
    "put_public_access_block": (
        "public-block",
        aws.s3.BucketPublicAccessBlock,
        lambda p: p["PublicAccessBlockConfiguration"],
    ),
    "put_bucket_ownership_controls": (
        "ownership",
        aws.s3.BucketOwnershipControls,
        lambda p: {"Rule": p["OwnershipControls"]["Rules"][0]},
    ),
    "put_bucket_encryption": (
        "sse",
        aws.s3.BucketServerSideEncryptionConfiguration,
        lambda p: p["ServerSideEncryptionConfiguration"],
    ),
    "put_bucket_versioning": (
        "versioning",
        aws.s3.BucketVersioning,
        lambda p: {"VersioningConfiguration": p["VersioningConfiguration"]},
    ),
    "put_bucket_lifecycle_configuration": (
        "lifecycle",
        aws.s3.BucketLifecycleConfiguration,
        lambda p: p["LifecycleConfiguration"],
    ),
    "put_bucket_cors": ("cors", aws.s3.BucketCorsConfiguration, lambda p: p["CORSConfiguration"]),
    "put_bucket_logging": (
        "logging",
        aws.s3.BucketLogging,
        lambda p: p["BucketLoggingStatus"]["LoggingEnabled"],
    ),
}


class HardenedBucket(pulumi.ComponentResource):
    """A bucket named ``bucket_name`` with every setting of ``hardening``; ``retain`` keeps
    it and its settings when the resource leaves the program, ``force_destroy`` lets
    ``pulumi destroy`` empty it (artifacts only)."""

    def __init__(
        self,
        name: str,
        bucket_name: pulumi.Input[str],
        hardening: BucketHardening,
        *,
        retain: bool = False,
        force_destroy: bool = False,
        partition: str = "aws",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pandasdb:index:HardenedBucket", name, None, opts)
        self.bucket = aws.s3.Bucket(
            name,
            bucket=bucket_name,
            force_destroy=force_destroy,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=retain),
        )
        #: the settings in the order they are written, each after the one before
        self.settings: list[pulumi.CustomResource] = []
        # the bucket's name is known only at deploy time: the policy's parameters are not read
        for method, params in hardening.requests("bucket"):
            after = pulumi.ResourceOptions(
                parent=self,
                retain_on_delete=retain,
                depends_on=self.settings[-1:] or [self.bucket],
            )
            if method == "put_bucket_policy":
                made: pulumi.CustomResource = aws.s3.BucketPolicy(
                    f"{name}-policy",
                    bucket=self.bucket.id,
                    policy=self.bucket.bucket.apply(
                        lambda b: json.dumps(hardening.policy(b, partition))
                    ),
                    opts=after,
                )
            else:
                suffix, kind, inputs = RESOURCES[method]
                made = kind(
                    f"{name}-{suffix}",
                    bucket=self.bucket.id,
                    **snake_case(inputs(params)),
                    opts=after,
                )
            self.settings.append(made)
        self.register_outputs({"bucket": self.bucket.bucket})
