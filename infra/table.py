"""The stage's metadata table: the key schema the DynamoDB adapter uses, on demand, with
point-in-time recovery and encryption; protected from deletion and retained when the stack is
destroyed, as it holds every user's frame metadata."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


class MetadataTable(pulumi.ComponentResource):
    """One DynamoDB table (``pk`` hash, ``sk`` range; see pandasdb_core.adapters.dynamodb)."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pandasdb:index:MetadataTable", name, None, opts)
        self.table = aws.dynamodb.Table(
            name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="pk",
            range_key="sk",
            attributes=[{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}],
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True},
            deletion_protection_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.register_outputs({"name": self.table.name, "arn": self.table.arn})
