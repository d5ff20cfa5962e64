"""The composition root's body: build every component of a stage and export its outputs.

``__main__.py`` calls :func:`build` with the stack's settings and the Lambda code; the unit
tests call it with mocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .api import Api, ApiArgs
from .auth import Auth, AuthArgs
from .config import StackSettings
from .monitoring import Monitoring, MonitoringArgs
from .storage import LogBucket, UserStorage, UserStorageArgs
from .table import MetadataTable


@dataclass(frozen=True)
class Stage:
    """The built components, for tests to inspect."""

    storages: dict[str, UserStorage]
    table: MetadataTable
    auth: Auth
    api: Api
    monitoring: Monitoring


def build(settings: StackSettings, code: pulumi.Archive) -> Stage:
    """Provision one stage for ``settings.users`` and export the stack outputs."""
    prefix = "pandasdb"
    logs = LogBucket(f"{prefix}-access-logs", settings.log_retention_days)
    storages = {
        user.name: UserStorage(
            f"{prefix}-{user.name}",
            UserStorageArgs(
                user=user.name,
                log_bucket=logs.bucket,
                cors_origins=settings.cors_origins,
                noncurrent_days=settings.noncurrent_days,
                staging_days=settings.staging_days,
            ),
        )
        for user in settings.users
    }
    table = MetadataTable(f"{prefix}-meta")
    auth = Auth(
        f"{prefix}-users",
        AuthArgs(users=settings.users, allow_self_signup=settings.allow_self_signup),
    )
    api = Api(
        f"{prefix}-api",
        ApiArgs(
            settings=settings,
            code=code,
            table=table.table,
            buckets={name: s.bucket for name, s in storages.items()},
            user_pool=auth.pool,
            user_pool_client=auth.client,
        ),
    )
    monitoring = Monitoring(
        f"{prefix}-monitoring",
        MonitoringArgs(
            api_name=api.rest_api.name,
            stage_name=pulumi.get_stack(),
            function_name=api.function.name,
            table_name=table.table.name,
            bucket_names=[s.bucket.bucket for s in storages.values()],
            alarm_email=settings.alarm_email,
            region=aws.get_region_output().region,
        ),
    )

    pulumi.export("api_url", api.url)
    pulumi.export("user_pool_id", auth.pool.id)
    pulumi.export("user_pool_client_id", auth.client.id)
    pulumi.export("buckets", {name: s.bucket.bucket for name, s in storages.items()})
    pulumi.export("table_name", table.table.name)
    pulumi.export("alarm_topic_arn", monitoring.topic.arn)
    pulumi.export("dashboard", monitoring.dashboard.dashboard_name)
    return Stage(storages, table, auth, api, monitoring)
