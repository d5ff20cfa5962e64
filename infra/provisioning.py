"""The Cognito post-confirmation trigger (``pandasdb_lambdas.provisioning.handler``): people
who sign themselves up get a hardened bucket, tagged with the stack's ``pandasdb:tags`` as
the buckets the stack declares are, without a redeploy.

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
from pandasdb_core.adapters.bucket_hardening import IAM_ACTIONS, BucketHardening

from .config import StackSettings, check_environment
from .functions import FunctionCode, FunctionSpec, PythonFunction, lambda_role
from .iam import provisioning_policy

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


def trigger_environment(args: ProvisioningArgs) -> dict[str, str]:
    """The trigger's environment: what it hardens a new user's bucket with and the stack's
    tags, which the bucket gets (``PANDASDB_BUCKET_TAGS``, JSON), checked against Lambda's
    4 KB for all of a function's variables.

    Example
    -------
    >>> from pandasdb_core.adapters.bucket_hardening import user_bucket
    >>> from infra.config import StackSettings
    >>> hardening = user_bucket("logs", ("*",), noncurrent_days=30, staging_days=1)
    >>> args = ProvisioningArgs(StackSettings(users=(), tags={"team": "data"}), None, "p",
    ...                         "logs", hardening)
    >>> trigger_environment(args)["PANDASDB_BUCKET_TAGS"]
    '{"team":"data"}'
    """
    settings = args.settings
    variables = {
        "PANDASDB_BUCKET_PREFIX": args.bucket_prefix,
        "PANDASDB_LOG_BUCKET": args.log_bucket,
        "PANDASDB_CORS_ORIGINS": ",".join(settings.cors_origins),
        "PANDASDB_NONCURRENT_DAYS": str(settings.noncurrent_days),
        "PANDASDB_STAGING_DAYS": str(settings.staging_days),
        "POWERTOOLS_SERVICE_NAME": "pandasdb-provisioning",
    }
    if settings.tags:
        tags = json.dumps(settings.tags, separators=(",", ":"), ensure_ascii=False)
        variables["PANDASDB_BUCKET_TAGS"] = tags
    return check_environment(variables, "the sign-up trigger")


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
                variables=trigger_environment(args),
                log_retention_days=settings.log_retention_days,
            ),
            role,
            opts=pulumi.ResourceOptions(parent=self),
        )
        pattern = user_bucket_arn_pattern(args.bucket_prefix, args.partition)
        actions = args.hardening.iam_actions()
        if settings.tags:  # the trigger tags the buckets it creates as the stack tags its own
            actions.append(IAM_ACTIONS["put_bucket_tagging"])
        aws.iam.RolePolicy(
            f"{name}-access",
            role=role.id,
            policy=made.log_group.arn.apply(
                lambda arn: json.dumps(provisioning_policy(arn, pattern, actions))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.function = made.function
        self.register_outputs({"function": self.function.name})
