"""What every Lambda function of the stage shares: the runtime and architecture the package
is built for, the code object in the artifact bucket, a log group with retention, and a role
Lambda may assume."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .iam import assume_role_policy
from .lambda_package import LAMBDA


@dataclass(frozen=True)
class FunctionCode:
    """Where the package lies: the artifact bucket and the object's key."""

    bucket: pulumi.Input[str]
    key: pulumi.Input[str]


@dataclass(frozen=True)
class FunctionSpec:
    """One function: its name, handler, size, timeout, environment and log retention."""

    function_name: str
    handler: str
    memory_mb: int
    timeout_s: int
    variables: dict[str, pulumi.Input[str]]
    log_retention_days: int
    tracing: bool = False


def lambda_role(name: str, opts: pulumi.ResourceOptions) -> aws.iam.Role:
    """A role only Lambda may assume; its permissions are attached by the function's owner."""
    return aws.iam.Role(
        name,
        assume_role_policy=json.dumps(assume_role_policy({"Service": "lambda.amazonaws.com"})),
        opts=opts,
    )


class PythonFunction(pulumi.ComponentResource):
    """A function of the package running as ``role``, with its own log group (``log_group``,
    for the role's permissions to name)."""

    def __init__(
        self,
        name: str,
        code: FunctionCode,
        spec: FunctionSpec,
        role: aws.iam.Role,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pandasdb:index:PythonFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{spec.function_name}",
            retention_in_days=spec.log_retention_days,
            opts=child,
        )
        self.function = aws.lambda_.Function(
            name,
            name=spec.function_name,
            runtime=LAMBDA.runtime,
            architectures=[LAMBDA.architecture],
            handler=spec.handler,
            s3_bucket=code.bucket,
            s3_key=code.key,
            role=role.arn,
            memory_size=spec.memory_mb,
            timeout=spec.timeout_s,
            tracing_config={"mode": "Active" if spec.tracing else "PassThrough"},
            logging_config={"log_format": "Text", "log_group": self.log_group.name},
            environment={"variables": spec.variables},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
        )
        self.register_outputs({"name": self.function.name})
