"""The Cognito post-confirmation trigger (``pandasdb_lambdas.provisioning.handler``): people
who sign themselves up get a hardened bucket without a redeploy.

Its role may create and configure buckets of the stage's user-bucket pattern and nothing
else: no object, no table. Cognito gives a trigger about 5 s (Cognito developer guide,
"Customizing user pool workflows with Lambda triggers"), hence its timeout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from pandasdb_core.adapters.aws_access import user_bucket_arn_pattern
from pandasdb_core.adapters.bucket_hardening import BucketHardening

from .config import StackSettings
from .functions import FunctionCode, FunctionSpec, PythonFunction, lambda_role
from .iam import in_partition, provisioning_policy

HANDLER = "pandasdb_lambdas.provisioning.handler"
#: Cognito waits about 5 s for a trigger
TIMEOUT_S = 5


@dataclass(frozen=True)
class ProvisioningArgs:
    """The stage's settings, code, bucket prefix, log bucket, and user-bucket hardening."""

    settings: StackSettings
    code: FunctionCode
    bucket_prefix: str
    log_bucket: str
    hardening: BucketHardening
    partition: str = "aws"


class Provisioning(pulumi.ComponentResource):
    """The trigger function and its permissions; ``function`` is what the pool invokes."""

    def __init__(
        self, name: str, args: ProvisioningArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:Provisioning", name, None, opts)
        settings = args.settings
        role = lambda_role(f"{name}-role", pulumi.ResourceOptions(parent=self))
        made = PythonFunction(
            name,
            args.code,
            FunctionSpec(
                function_name=f"{name}-{pulumi.get_stack()}",
                handler=HANDLER,
                # more memory is more CPU: a cold start imports the package within Cognito's 5 s
                memory_mb=1024,
                timeout_s=TIMEOUT_S,
                variables={
                    "PANDASDB_BUCKET_PREFIX": args.bucket_prefix,
                    "PANDASDB_LOG_BUCKET": args.log_bucket,
                    "PANDASDB_CORS_ORIGINS": ",".join(settings.cors_origins),
                    "PANDASDB_NONCURRENT_DAYS": str(settings.noncurrent_days),
                    "PANDASDB_STAGING_DAYS": str(settings.staging_days),
                    "POWERTOOLS_SERVICE_NAME": "pandasdb-provisioning",
                },
                log_retention_days=settings.log_retention_days,
            ),
            role,
            opts=pulumi.ResourceOptions(parent=self),
        )
        pattern = in_partition(user_bucket_arn_pattern(args.bucket_prefix), args.partition)
        aws.iam.RolePolicy(
            f"{name}-access",
            role=role.id,
            policy=made.log_group.arn.apply(
                lambda arn: json.dumps(
                    provisioning_policy(arn, pattern, args.hardening.iam_actions())
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.function = made.function
        self.register_outputs({"function": self.function.name})
