"""API Gateway's account-wide CloudWatch role: a one-time setting per AWS account and region.

A stage that writes access or execution logs is refused until the account's CloudWatch role
is set (API Gateway developer guide, "Set up CloudWatch logging for REST APIs"). The setting
is shared by every REST API of the account and region, and deleting the ``Account`` resource
resets it (pulumi-aws / terraform-provider-aws issue on ``aws_api_gateway_account``
deletion), so no stage owns it: exactly one stack per account and region sets
``pandasdb:manageAccountLogging true`` and creates it, retained on delete; that stack's
stage is ordered after it, and every later stage finds it set.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from .iam import api_gateway_logging_policy, assume_role_policy


class ApiGatewayAccount(pulumi.ComponentResource):
    """The CloudWatch role and the account setting naming it, all retained on delete;
    ``setting`` is what stages depend on."""

    def __init__(
        self, name: str, partition: str = "aws", opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:ApiGatewayAccount", name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        role = aws.iam.Role(
            f"{name}-cloudwatch-role",
            assume_role_policy=json.dumps(
                assume_role_policy({"Service": "apigateway.amazonaws.com"})
            ),
            opts=keep,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-cloudwatch-policy",
            role=role.name,
            policy_arn=api_gateway_logging_policy(partition),
            opts=keep,
        )
        self.setting = aws.apigateway.Account(
            name,
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions.merge(
                keep, pulumi.ResourceOptions(depends_on=[attachment])
            ),
        )
        self.register_outputs({"cloudwatch_role_arn": role.arn})
