"""Monitoring: a CloudWatch dashboard, and alarms on API 5xx rate and function errors that
notify an SNS topic (with an e-mail subscription when configured)."""

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
    table_name: pulumi.Input[str]
    bucket_names: list[pulumi.Input[str]]
    alarm_email: str | None
    region: pulumi.Input[str]


def dashboard_body(
    api: str, stage: str, function: str, table: str, buckets: list[str], region: str
) -> str:
    """The dashboard as CloudWatch's JSON: API, function, table and bucket widgets.

    Example
    -------
    >>> body = json.loads(dashboard_body("a", "prod", "f", "t", ["b"], "us-east-1"))
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
                        ["AWS/Lambda", "Errors", "FunctionName", function],
                        [".", "Throttles", "FunctionName", function],
                        [".", "Invocations", "FunctionName", function],
                    ],
                ),
                widget(
                    "Function duration (ms)",
                    [["AWS/Lambda", "Duration", "FunctionName", function]],
                    stat="p90",
                ),
                widget(
                    "Table throttles",
                    [
                        ["AWS/DynamoDB", "ThrottledRequests", "TableName", table],
                        [".", "ReadThrottleEvents", "TableName", table],
                        [".", "WriteThrottleEvents", "TableName", table],
                    ],
                ),
                widget(
                    "Bucket bytes",
                    [
                        [
                            "AWS/S3",
                            "BucketSizeBytes",
                            "BucketName",
                            bucket,
                            "StorageType",
                            "StandardStorage",
                        ]
                        for bucket in buckets
                    ],
                    stat="Average",
                    period=86400,
                ),
            ]
        }
    )


class Monitoring(pulumi.ComponentResource):
    """The dashboard, the alarm topic and the two alarms."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(f"{name}-alarms", kms_master_key_id="alias/aws/sns", opts=child)
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
                args.table_name,
                args.region,
                *args.bucket_names,
            ).apply(lambda a: dashboard_body(a[0], args.stage_name, a[1], a[2], list(a[4:]), a[3])),
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
        self.function_errors = aws.cloudwatch.MetricAlarm(
            f"{name}-function-errors",
            alarm_description="The API function raised errors in the last 5 minutes",
            namespace="AWS/Lambda",
            metric_name="Errors",
            statistic="Sum",
            period=300,
            dimensions={"FunctionName": args.function_name},
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=1,
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=child,
        )
        self.register_outputs({"topic": self.topic.arn, "dashboard": self.dashboard.dashboard_name})
