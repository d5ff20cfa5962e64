"""The stage's artifact bucket and the Lambda package uploaded to it.

The package zips to more than 50 MB, the most a direct ``CreateFunction`` upload carries, so
the functions read it from S3 (Lambda quotas, "Deployment package (.zip file archive) size").
Its key carries the package's digest: a new package is a new object, and the functions
update to it.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from pandasdb_core.adapters.bucket_hardening import artifact_bucket

from .functions import FunctionCode
from .storage import HardenedBucket


class Artifacts(pulumi.ComponentResource):
    """A hardened bucket (emptied by ``pulumi destroy``: it holds only what a build makes
    again) and the package object; ``code`` is what functions deploy."""

    def __init__(
        self,
        name: str,
        bucket_name: str,
        package: pulumi.Archive,
        digest: str,
        partition: str = "aws",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pandasdb:index:Artifacts", name, None, opts)
        storage = HardenedBucket(
            name,
            bucket_name,
            artifact_bucket(),
            force_destroy=True,
            partition=partition,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.package = aws.s3.BucketObjectv2(
            f"{name}-lambda-package",
            bucket=storage.bucket.id,
            key=f"lambda/pandasdb-{digest[:32]}.zip",
            source=package,
            content_type="application/zip",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.code = FunctionCode(bucket=self.package.bucket, key=self.package.key)
        self.register_outputs({"key": self.package.key})
