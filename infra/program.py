"""The composition root's body: build every component of a stage and export its outputs.

``__main__.py`` calls :func:`build` with the stack's settings and the Lambda package; the unit
tests call it with mocks.

What a stage holds, by how often it exists:

- once per account and region, in the one stack with ``manageAccountLogging``: API
  Gateway's CloudWatch role (:mod:`infra.account`);
- once per stage: the artifact bucket with the Lambda package, the access-log bucket, the
  metadata table, the user pool and its app client, the API and sign-up functions, the REST
  API and its stage, the dashboard, alarms and their topic;
- once per user: a Cognito user (configured users) and a bucket named
  ``{prefix}-{sub's hex}``, made by the stack for configured users and by the sign-up trigger
  for users who sign themselves up. Nothing per user anywhere else.

Every taggable resource carries ``pandasdb:tags`` (a stack transformation adds them, as a
provider's ``default_tags`` would, without moving the stack's resources to an explicit
provider, which ignores the stack's ``aws:`` settings). ARNs the program writes name the
caller's partition (``aws``, ``aws-cn``, ``aws-us-gov``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from pandasdb_core.adapters.aws_access import user_bucket_arn_pattern, user_bucket_name
from pandasdb_core.adapters.bucket_hardening import log_bucket, user_bucket

from .account import ApiGatewayAccount
from .api import Api, ApiArgs
from .artifacts import Artifacts
from .auth import Auth, AuthArgs
from .catalog import Catalog
from .config import (
    COGNITO_DEFAULT_DAILY_EMAILS,
    StackSettings,
    bucket_prefix,
    check_stage_name,
)
from .iam import partition_of
from .monitoring import Monitoring, MonitoringArgs
from .provisioning import Provisioning, ProvisioningArgs
from .storage import HardenedBucket
from .table import MetadataTable


@dataclass(frozen=True)
class LambdaPackage:
    """The built package (a folder archive) and its content digest."""

    archive: pulumi.Archive
    digest: str


@dataclass(frozen=True)
class Stage:
    """The built components, for tests to inspect."""

    bucket_prefix: str
    storages: dict[str, HardenedBucket]
    table: MetadataTable
    auth: Auth
    api: Api
    provisioning: Provisioning
    monitoring: Monitoring


def takes_tags(resource: pulumi.Resource) -> bool:
    """Whether a pulumi-aws resource has a ``tags`` input (its ``...Args`` class says so).

    Example
    -------
    >>> takes_tags(aws.s3.Bucket.__new__(aws.s3.Bucket))
    True
    >>> takes_tags(aws.s3.BucketPolicy.__new__(aws.s3.BucketPolicy))
    False
    """
    kind = type(resource)
    inputs = getattr(sys.modules.get(kind.__module__), f"{kind.__name__}Args", None)
    return isinstance(getattr(inputs, "tags", None), property)


def tagging(tags: dict[str, str]) -> Callable[[pulumi.ResourceTransformationArgs], object]:
    """A stack transformation giving every taggable AWS resource ``tags`` (its own tags, if
    any, win)."""

    def transform(args: pulumi.ResourceTransformationArgs) -> object:
        if not args.type_.startswith("aws:") or not takes_tags(args.resource):
            return None
        own = args.props.get("tags")
        merged = (
            {**tags, **(own or {})}
            if own is None or isinstance(own, dict)
            else pulumi.Output.from_input(own).apply(lambda found: {**tags, **(found or {})})
        )
        return pulumi.ResourceTransformationResult({**args.props, "tags": merged}, args.opts)

    return transform


def build(settings: StackSettings, package: LambdaPackage) -> Stage:
    """Provision one stage for ``settings`` and export the stack outputs."""
    name = "pandasdb"
    stage_name = check_stage_name(pulumi.get_stack())
    if settings.tags:
        pulumi.runtime.register_stack_transformation(tagging(settings.tags))
    if settings.allow_self_signup and not settings.ses_source_arn:
        pulumi.log.warn(
            "pandasdb:allowSelfSignup without pandasdb:sesSourceArn: Cognito's default e-mail "
            f"sends at most {COGNITO_DEFAULT_DAILY_EMAILS} sign-up codes and invitations a day "
            "for the pool; set pandasdb:sesSourceArn before more people sign up"
        )
    caller = aws.get_caller_identity()
    account_id = caller.account_id
    partition = partition_of(caller.arn)
    prefix = bucket_prefix(settings, stage_name, account_id)
    account_logging = (
        ApiGatewayAccount(f"{name}-apigateway-account", partition).setting
        if settings.manage_account_logging
        else None
    )
    artifacts = Artifacts(
        f"{name}-artifacts", f"{prefix}-artifacts", package.archive, package.digest, partition
    )
    logs_bucket = f"{prefix}-logs"
    HardenedBucket(
        f"{name}-access-logs",
        logs_bucket,
        log_bucket(
            logs_bucket,
            account_id,
            user_bucket_arn_pattern(prefix, partition),
            retention_days=settings.log_retention_days,
            partition=partition,
        ),
        retain=True,
        partition=partition,
    )
    hardening = user_bucket(
        logs_bucket,
        settings.cors_origins,
        noncurrent_days=settings.noncurrent_days,
        staging_days=settings.staging_days,
    )
    provisioning = Provisioning(
        f"{name}-provisioning",
        ProvisioningArgs(settings, artifacts.code, prefix, logs_bucket, hardening, partition),
    )
    auth = Auth(
        f"{name}-users",
        AuthArgs(
            users=settings.users,
            post_confirmation=provisioning.function,
            allow_self_signup=settings.allow_self_signup,
            ses_source_arn=settings.ses_source_arn,
            email_from=settings.email_from,
        ),
    )
    storages = {
        user: HardenedBucket(
            f"{name}-user-{user}",
            cognito_user.sub.apply(lambda sub: user_bucket_name(prefix, sub)),
            hardening,
            retain=True,
            partition=partition,
        )
        for user, cognito_user in auth.users.items()
    }
    table = MetadataTable(f"{name}-meta")
    api = Api(
        f"{name}-api",
        ApiArgs(
            settings=settings,
            code=artifacts.code,
            table=table.table,
            bucket_prefix=prefix,
            user_pool=auth.pool,
            user_pool_client=auth.client,
            account_logging=account_logging,
            partition=partition,
        ),
    )
    monitoring = Monitoring(
        f"{name}-monitoring",
        MonitoringArgs(
            api_name=api.rest_api.name,
            stage_name=stage_name,
            function_name=api.function.name,
            provisioning_function_name=provisioning.function.name,
            table_name=table.table.name,
            bucket_prefix=prefix,
            alarm_email=settings.alarm_email,
            region=aws.get_region_output().region,
            account_id=account_id,
            partition=partition,
        ),
    )

    pulumi.export("api_url", api.url)
    pulumi.export("user_pool_id", auth.pool.id)
    pulumi.export("user_pool_client_id", auth.client.id)
    pulumi.export("bucket_prefix", prefix)
    pulumi.export("buckets", {user: s.bucket.bucket for user, s in storages.items()})
    pulumi.export("table_name", table.table.name)
    pulumi.export("alarm_topic_arn", monitoring.topic.arn)
    pulumi.export("dashboard", monitoring.dashboard.dashboard_name)
    if settings.glue_database:
        pulumi.export("glue_database", Catalog(f"{name}-catalog", stage_name).database.name)
    return Stage(prefix, storages, table, auth, api, provisioning, monitoring)
