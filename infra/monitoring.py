"""Monitoring: a CloudWatch dashboard, and alarms on the API's 5xx rate and on errors of the
API and sign-up functions, notifying an SNS topic (with an e-mail subscription when
configured).

Every metric names the dimensions its service publishes it with (API Gateway developer guide,
"Amazon API Gateway dimensions and metrics": ``ApiName`` + ``Stage`` for a REST API's stage;
DynamoDB developer guide, "DynamoDB metrics and dimensions": ``ThrottledRequests`` per
``TableName`` + ``Operation``), or CloudWatch draws an empty graph. Per-bucket and
per-operation series come from ``SEARCH`` expressions, so the dashboard has one size for any
number of users.

The topic is encrypted with a customer managed KMS key whose policy lets CloudWatch use it:
CloudWatch alarms cannot publish to a topic encrypted with the AWS managed ``alias/aws/sns``
key, whose policy no one can change (SNS developer guide, "Encryption at rest", compatibility
between event sources from AWS services and encrypted topics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class MonitoringArgs:
    """Names of what to watch, and where alarms go."""

    api_name: pulumi.Input[str]
    stage_name: str
    function_name: pulumi.Input[str]
    provisioning_function_name: pulumi.Input[str]
    table_name: pulumi.Input[str]
    bucket_prefix: str
    alarm_email: str | None
    region: pulumi.Input[str]
    account_id: str
    partition: str = "aws"


def alarm_key_policy(account_id: str, partition: str = "aws") -> dict[str, Any]:
    """The alarm topic key's policy: the account administers it (the default key policy;
    without it the key could not be managed again), CloudWatch may use it to publish.

    Example
    -------
    >>> alarm_key_policy("1")["Statement"][1]["Principal"]
    {'Service': 'cloudwatch.amazonaws.com'}
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ],
    }


def _search(schema: str, terms: str, stat: str, period: int) -> str:
    return f"SEARCH('{{{schema}}} {terms}', '{stat}', {period})"


def dashboard_body(
    api: str,
    stage: str,
    functions: list[str],
    table: str,
    bucket_prefix: str,
    region: str,
) -> str:
    """The dashboard as CloudWatch's JSON: API, function, table and bucket widgets.

    Example
    -------
    >>> body = json.loads(dashboard_body("a", "prod", ["f"], "t", "pdb-prod-1", "us-east-1"))
    >>> [w["properties"]["title"] for w in body["widgets"]][:2]
    ['API requests and errors', 'API latency (ms)']
    """
    api_dims = ["ApiName", api, "Stage", stage]

    def widget(
        title: str, metrics: list[list[Any]], stat: str = "Sum", period: int = 300
    ) -> dict[str, Any]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "stat": stat,
                "period": period,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }

    throttled = _search(
        "AWS/DynamoDB,Operation,TableName",
        f'MetricName="ThrottledRequests" TableName="{table}"',
        "Sum",
        300,
    )
    # composite-token match on the prefix: every user bucket of the stage; a graph draws at
    # most 500 series (CloudWatch search expression limits), so the sum is one line
    stored = _search(
        "AWS/S3,BucketName,StorageType",
        f'MetricName="BucketSizeBytes" StorageType="StandardStorage" BucketName={bucket_prefix}',
        "Average",
        86400,
    )
    return json.dumps(
        {
            "widgets": [
                widget(
                    "API requests and errors",
                    [
                        ["AWS/ApiGateway", "Count", *api_dims],
                        [".", "4XXError", *api_dims],
                        [".", "5XXError", *api_dims],
                    ],
                ),
                widget("API latency (ms)", [["AWS/ApiGateway", "Latency", *api_dims]], stat="p90"),
                widget(
                    "Function errors and throttles",
                    [
                        ["AWS/Lambda", metric, "FunctionName", function]
                        for function in functions
                        for metric in ("Errors", "Throttles", "Invocations")
                    ],
                ),
                widget(
                    "Function duration (ms)",
                    [["AWS/Lambda", "Duration", "FunctionName", f] for f in functions],
                    stat="p90",
                ),
                widget(
                    "Table throttles",
                    [
                        ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", table],
                        [".", "WriteThrottleEvents", "TableName", table],
                        [{"expression": throttled, "id": "throttled", "label": "requests"}],
                    ],
                ),
                widget(
                    "Stored bytes (user buckets)",
                    [
                        [{"expression": stored, "id": "buckets", "visible": False}],
                        [{"expression": "SUM(buckets)", "id": "total", "label": "all users"}],
                    ],
                    stat="Average",
                    period=86400,
                ),
            ]
        }
    )


class Monitoring(pulumi.ComponentResource):
    """The dashboard, the alarm topic (with its key) and the alarms."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(
            f"{name}-alarms-key",
            description=f"pandasdb {args.stage_name}: alarm topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(alarm_key_policy(args.account_id, args.partition)),
            opts=child,
        )
        self.topic = aws.sns.Topic(f"{name}-alarms", kms_master_key_id=self.key.arn, opts=child)
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-alarm-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.alarm_email,
                opts=child,
            )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=f"pandasdb-{args.stage_name}",
            dashboard_body=pulumi.Output.all(
                args.api_name,
                args.function_name,
                args.provisioning_function_name,
                args.table_name,
                args.region,
            ).apply(
                lambda a: dashboard_body(
                    a[0], args.stage_name, [a[1], a[2]], a[3], args.bucket_prefix, a[4]
                )
            ),
            opts=child,
        )
        api_dims = {"ApiName": args.api_name, "Stage": args.stage_name}
        self.api_5xx = aws.cloudwatch.MetricAlarm(
            f"{name}-api-5xx-rate",
            alarm_description="More than 1% of API requests answered 5xx over 5 minutes",
            comparison_operator="GreaterThanThreshold",
            threshold=1,
            evaluation_periods=1,
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            metric_queries=[
                {
                    "id": "errors",
                    "metric": {
                        "namespace": "AWS/ApiGateway",
                        "metric_name": "5XXError",
                        "period": 300,
                        "stat": "Sum",
                        "dimensions": api_dims,
                    },
                },
                {
                    "id": "requests",
                    "metric": {
                        "namespace": "AWS/ApiGateway",
                        "metric_name": "Count",
                        "period": 300,
                        "stat": "Sum",
                        "dimensions": api_dims,
                    },
                },
                {
                    "id": "rate",
                    "expression": "IF(requests > 0, 100 * errors / requests, 0)",
                    "label": "5xx rate (%)",
                    "return_data": True,
                },
            ],
            opts=child,
        )
        self.function_errors = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{label}-errors",
                alarm_description=description,
                namespace="AWS/Lambda",
                metric_name="Errors",
                statistic="Sum",
                period=300,
                dimensions={"FunctionName": function},
                comparison_operator="GreaterThanOrEqualToThreshold",
                threshold=1,
                evaluation_periods=1,
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                opts=child,
            )
            for label, function, description in (
                ("function", args.function_name, "The API function raised errors"),
                (
                    "provisioning",
                    args.provisioning_function_name,
                    "The sign-up trigger failed: a new user may have no bucket",
                ),
            )
        ]
        self.register_outputs({"topic": self.topic.arn, "dashboard": self.dashboard.dashboard_name})
