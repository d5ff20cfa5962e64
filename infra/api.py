"""The API: the Lambda function, its roles, and an API Gateway REST API with the Cognito
authorizer on every route but CORS preflight, request validation, throttling, a stage per
stack with access logging and X-Ray tracing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from pandasdb_core.adapters.aws_access import data_role_policy

from .config import StackSettings
from .iam import api_logging_policy, assume_role_policy, function_policy

LAMBDA_RUNTIME = "python3.11"
HANDLER = "lambdas.aws.handler"
BINARY_TYPES = ["application/vnd.apache.parquet", "application/octet-stream"]
#: (path part, parent path part, methods); OPTIONS is added to each for CORS preflight
ROUTES: list[tuple[str, str | None, list[str]]] = [
    ("dataframes", None, ["GET"]),
    ("upload", "dataframes", ["POST"]),
    ("staging", "dataframes", ["POST"]),
    ("{proxy+}", "dataframes", ["GET", "DELETE"]),
]
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "user": "$context.authorizer.claims.sub",
        "method": "$context.httpMethod",
        "path": "$context.path",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "bytes": "$context.responseLength",
    }
)


@dataclass(frozen=True)
class ApiArgs:
    """What the API needs: settings, code, the table, user buckets, the user pool and the app
    client whose tokens it accepts."""

    settings: StackSettings
    code: pulumi.Archive
    table: aws.dynamodb.Table
    buckets: dict[str, aws.s3.Bucket]
    user_pool: aws.cognito.UserPool
    user_pool_client: aws.cognito.UserPoolClient


class Api(pulumi.ComponentResource):
    """Function + REST API + stage; exposes ``url``, ``function`` and the log groups."""

    def __init__(
        self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:Api", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stage_name = pulumi.get_stack()
        settings = args.settings
        function_name = f"{name}-{stage_name}"

        self.function_log_group = aws.cloudwatch.LogGroup(
            f"{name}-function-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=settings.log_retention_days,
            opts=child,
        )

        function_role = aws.iam.Role(
            f"{name}-function-role",
            assume_role_policy=json.dumps(assume_role_policy({"Service": "lambda.amazonaws.com"})),
            opts=child,
        )
        data_role = aws.iam.Role(
            f"{name}-data-role",
            assume_role_policy=function_role.arn.apply(
                lambda arn: json.dumps(assume_role_policy({"AWS": arn}))
            ),
            max_session_duration=3600,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-data-access",
            role=data_role.id,
            policy=pulumi.Output.all(
                [b.arn for b in args.buckets.values()],
                args.table.arn,
            ).apply(lambda a: json.dumps(data_role_policy(a[0], a[1]))),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-function-access",
            role=function_role.id,
            policy=pulumi.Output.all(self.function_log_group.arn, data_role.arn).apply(
                lambda a: json.dumps(function_policy(a[0], a[1]))
            ),
            opts=child,
        )

        buckets_by_user = pulumi.Output.all(
            **{user: b.bucket for user, b in args.buckets.items()}
        ).apply(json.dumps)
        self.function = aws.lambda_.Function(
            name,
            name=function_name,
            runtime=LAMBDA_RUNTIME,
            architectures=["x86_64"],
            handler=HANDLER,
            code=args.code,
            role=function_role.arn,
            memory_size=settings.lambda_memory_mb,
            timeout=settings.lambda_timeout_s,
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "Text", "log_group": self.function_log_group.name},
            environment={
                "variables": {
                    "PANDASDB_TABLE": args.table.name,
                    "PANDASDB_TABLE_ARN": args.table.arn,
                    "PANDASDB_BUCKETS": buckets_by_user,
                    "PANDASDB_DATA_ROLE_ARN": data_role.arn,
                    "PANDASDB_CLIENT_IDS": args.user_pool_client.id,
                    "PANDASDB_CHUNK_ROWS": str(settings.chunk_rows),
                    "PANDASDB_CORS_ORIGINS": ",".join(settings.cors_origins),
                    "POWERTOOLS_SERVICE_NAME": "pandasdb",
                    "POWERTOOLS_METRICS_NAMESPACE": "pandasdb",
                }
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.function_log_group]),
        )

        self.rest_api = aws.apigateway.RestApi(
            name,
            binary_media_types=BINARY_TYPES,
            endpoint_configuration={"types": "REGIONAL"},
            opts=child,
        )
        self.authorizer = aws.apigateway.Authorizer(
            f"{name}-cognito",
            rest_api=self.rest_api.id,
            type="COGNITO_USER_POOLS",
            provider_arns=[args.user_pool.arn],
            identity_source="method.request.header.Authorization",
            opts=child,
        )
        validator = aws.apigateway.RequestValidator(
            f"{name}-validator",
            rest_api=self.rest_api.id,
            name="parameters",
            validate_request_parameters=True,
            validate_request_body=False,
            opts=child,
        )

        resources: dict[str, pulumi.Output[str]] = {}
        self.methods: list[aws.apigateway.Method] = []
        integrations: list[aws.apigateway.Integration] = []
        for part, parent, methods in ROUTES:
            resource = aws.apigateway.Resource(
                f"{name}-{part.strip('{}+')}",
                rest_api=self.rest_api.id,
                path_part=part,
                parent_id=resources[parent] if parent else self.rest_api.root_resource_id,
                opts=child,
            )
            resources[part] = resource.id
            for http_method in [*methods, "OPTIONS"]:
                preflight = http_method == "OPTIONS"
                params = {} if preflight else {"method.request.header.Authorization": True}
                if part == "{proxy+}":
                    params["method.request.path.proxy"] = True
                label = f"{name}-{part.strip('{}+')}-{http_method.lower()}"
                method = aws.apigateway.Method(
                    label,
                    rest_api=self.rest_api.id,
                    resource_id=resource.id,
                    http_method=http_method,
                    authorization="NONE" if preflight else "COGNITO_USER_POOLS",
                    authorizer_id=None if preflight else self.authorizer.id,
                    request_parameters=params or None,
                    request_validator_id=None if preflight else validator.id,
                    opts=child,
                )
                self.methods.append(method)
                integrations.append(
                    aws.apigateway.Integration(
                        f"{label}-lambda",
                        rest_api=self.rest_api.id,
                        resource_id=resource.id,
                        http_method=method.http_method,
                        type="AWS_PROXY",
                        integration_http_method="POST",
                        uri=self.function.invoke_arn,
                        opts=child,
                    )
                )

        aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.rest_api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
            opts=child,
        )

        self.access_log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{function_name}/access",
            retention_in_days=settings.log_retention_days,
            opts=child,
        )
        self.execution_log_group = aws.cloudwatch.LogGroup(
            f"{name}-execution-logs",
            name=self.rest_api.id.apply(
                lambda api_id: f"API-Gateway-Execution-Logs_{api_id}/{stage_name}"
            ),
            retention_in_days=settings.log_retention_days,
            opts=child,
        )
        self._account_logging(name, child)

        routes_hash = hashlib.sha256(json.dumps(ROUTES).encode()).hexdigest()
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            triggers={"routes": routes_hash},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.methods, *integrations]),
        )
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=deployment.id,
            stage_name=stage_name,
            xray_tracing_enabled=True,
            access_log_settings={
                "destination_arn": self.access_log_group.arn,
                "format": ACCESS_LOG_FORMAT,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.execution_log_group]),
        )
        aws.apigateway.MethodSettings(
            f"{name}-throttling",
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings={
                "throttling_rate_limit": settings.throttle_rate,
                "throttling_burst_limit": settings.throttle_burst,
                "metrics_enabled": True,
                "logging_level": "ERROR",
                "data_trace_enabled": False,
            },
            opts=child,
        )
        self.url = self.stage.invoke_url
        self.register_outputs({"url": self.url, "function": self.function.name})

    def _account_logging(self, name: str, child: pulumi.ResourceOptions) -> None:
        """API Gateway needs an account-level role to write access and execution logs."""
        role = aws.iam.Role(
            f"{name}-apigw-logs-role",
            assume_role_policy=json.dumps(
                assume_role_policy({"Service": "apigateway.amazonaws.com"})
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-apigw-logs",
            role=role.id,
            policy=pulumi.Output.all(self.access_log_group.arn, self.execution_log_group.arn).apply(
                lambda arns: json.dumps(api_logging_policy(list(arns)))
            ),
            opts=child,
        )
        aws.apigateway.Account(f"{name}-account", cloudwatch_role_arn=role.arn, opts=child)
