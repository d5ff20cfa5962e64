"""Buckets as Pulumi resources, from the one definition of a hardened bucket the sign-up
trigger also uses (:mod:`pandasdb_core.adapters.bucket_hardening`): each S3 request of that
definition becomes the Pulumi resource that makes the same request.

User buckets, and every setting that protects them, are retained when removed from the
program (``retain_on_delete``): dropping a user from config, or ``pulumi destroy``, leaves
their data and its protections in place (Pulumi resource options, ``retainOnDelete``).
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
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pandasdb:index:HardenedBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, retain_on_delete=retain)
        self.bucket = aws.s3.Bucket(
            name, bucket=bucket_name, force_destroy=force_destroy, opts=child
        )
        made = {
            method: RESOURCES[method][1](
                f"{name}-{RESOURCES[method][0]}",
                bucket=self.bucket.id,
                **snake_case(RESOURCES[method][2](params)),
                opts=child,
            )
            for method, params in hardening.settings()
        }
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=self.bucket.bucket.apply(lambda b: json.dumps(hardening.policy(b))),
            # as the trigger does: public access is blocked before any policy is written
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[made["put_public_access_block"]])
            ),
        )
        self.register_outputs({"bucket": self.bucket.bucket})
