"""The API: the Lambda function, its roles, and an API Gateway REST API derived from the
route table (:data:`pandasdb_core.http_routes.ROUTES`, through :mod:`infra.routes`): the
Cognito authorizer on every route that needs a token, CORS preflights without one, gateway
responses with CORS headers, request validation, throttling, and a stage per stack with
access logging and X-Ray tracing.

Timing: API Gateway ends a REST integration after 29 s (API Gateway quotas), so the
integration says 29 s, the function's timeout is below it, and the function's time budget
(``PANDASDB_TIME_BUDGET_S``, commit retries included) below that, so an answer always leaves
before the gateway gives up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from pandasdb_core.adapters.aws_access import data_role_policy, user_bucket_arn_pattern
from pandasdb_core.http_routes import ROUTES
from pandasdb_core.wire import MEDIA_TYPES, error_body

from .config import INTEGRATION_TIMEOUT_S, StackSettings
from .functions import FunctionCode, FunctionSpec, PythonFunction, lambda_role
from .iam import assume_role_policy, function_policy
from .routes import GatewayMethod, gateway_methods, gateway_resources

HANDLER = "pandasdb_lambdas.aws.handler"
#: API Gateway passes a body through as binary only for these types (API Gateway developer
#: guide, "Binary media types for REST APIs"): the parquet type the SDK asks for, and raw bytes
BINARY_TYPES = [MEDIA_TYPES["parquet"], "application/octet-stream"]
#: API Gateway's own error answers, with the ``error`` code of pandasdb's error bodies; each
#: carries CORS headers so a browser can read it (API Gateway developer guide, "Enabling CORS
#: for a REST API resource": gateway responses are not answered by the function)
GATEWAY_RESPONSES = {
    "DEFAULT_4XX": ("bad_request", "the API refused the request"),
    "DEFAULT_5XX": ("unavailable", "the API could not answer; try again"),
    "UNAUTHORIZED": ("unauthorized", "missing or invalid token"),
    "ACCESS_DENIED": ("forbidden", "the token does not allow this request"),
    "THROTTLED": ("throttled", "too many requests; slow down and retry"),
    "REQUEST_TOO_LARGE": ("too_large", "requests carry at most 10 MB; use a staged upload"),
    "INTEGRATION_TIMEOUT": (
        "timeout",
        f"no answer within {INTEGRATION_TIMEOUT_S} s; an upload may still have committed: "
        "check the frame's versions before sending it again",
    ),
}
CORS_HEADERS = "Authorization,Content-Type,Accept"
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "user": "$context.authorizer.claims.sub",
        "method": "$context.httpMethod",
        "path": "$context.path",
        "status": "$context.status",
        "error": "$context.error.responseType",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "bytes": "$context.responseLength",
    }
)


def gateway_response_parameters(cors_origins: tuple[str, ...]) -> dict[str, str]:
    """The CORS headers of a gateway response: one allowed origin is named; with several, the
    request's own ``Origin`` is echoed (a gateway response cannot choose among them, and it
    carries no data).

    Example
    -------
    >>> gateway_response_parameters(("*",))["gatewayresponse.header.Access-Control-Allow-Origin"]
    "'*'"
    """
    origin = f"'{cors_origins[0]}'" if len(cors_origins) == 1 else "method.request.header.Origin"
    return {
        "gatewayresponse.header.Access-Control-Allow-Origin": origin,
        "gatewayresponse.header.Access-Control-Allow-Headers": f"'{CORS_HEADERS}'",
    }


def gateway_response_template(code: str, message: str) -> str:
    """The JSON body of a gateway response: pandasdb's error model (``wire.error_body``), so
    the SDK and the original backend's clients read gateway errors as the function's.

    Example
    -------
    >>> json.loads(gateway_response_template("throttled", "slow down"))
    {'error': 'slow down', 'message': 'slow down', 'code': 'throttled'}
    """
    return json.dumps(error_body(code, message))


@dataclass(frozen=True)
class ApiArgs:
    """What the API needs: settings, code, the table, the stage's bucket prefix, the user
    pool and the app client whose tokens it accepts, and the account's logging setting when
    this stack manages it (stages are ordered after it)."""

    settings: StackSettings
    code: FunctionCode
    table: aws.dynamodb.Table
    bucket_prefix: str
    user_pool: aws.cognito.UserPool
    user_pool_client: aws.cognito.UserPoolClient
    account_logging: pulumi.Resource | None = None
    #: the AWS partition the stage's ARNs are in
    partition: str = "aws"


def _slug(resource: str) -> str:
    return resource.strip("/").replace("{proxy+}", "proxy").replace("/", "-") or "root"


class Api(pulumi.ComponentResource):
    """Function + REST API + stage; exposes ``url``, ``function``, ``rest_api``, ``stage``
    and the log groups."""

    def __init__(
        self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:Api", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stage_name = pulumi.get_stack()
        settings = args.settings
        function_role = lambda_role(f"{name}-function-role", child)
        self._data_role(name, function_role, args, child)
        made = PythonFunction(
            name,
            args.code,
            FunctionSpec(
                function_name=f"{name}-{stage_name}",
                handler=HANDLER,
                memory_mb=settings.lambda_memory_mb,
                timeout_s=settings.lambda_timeout_s,
                # nothing per user: the caller's bucket follows from the prefix and their sub
                variables={
                    "PANDASDB_TABLE": args.table.name,
                    "PANDASDB_TABLE_ARN": args.table.arn,
                    "PANDASDB_BUCKET_PREFIX": args.bucket_prefix,
                    "PANDASDB_DATA_ROLE_ARN": self.data_role.arn,
                    "PANDASDB_USER_POOL_ID": args.user_pool.id,
                    "PANDASDB_CLIENT_IDS": args.user_pool_client.id,
                    "PANDASDB_CHUNK_ROWS": str(settings.chunk_rows),
                    "PANDASDB_CORS_ORIGINS": ",".join(settings.cors_origins),
                    "PANDASDB_TIME_BUDGET_S": str(settings.time_budget_s),
                    "PANDASDB_MANIFESTS": "true" if settings.manifests else "false",
                    "POWERTOOLS_SERVICE_NAME": "pandasdb",
                    "POWERTOOLS_METRICS_NAMESPACE": "pandasdb",
                },
                log_retention_days=settings.log_retention_days,
                tracing=True,
            ),
            function_role,
            opts=child,
        )
        self.function = made.function
        self.function_log_group = made.log_group
        aws.iam.RolePolicy(
            f"{name}-function-access",
            role=function_role.id,
            policy=pulumi.Output.all(made.log_group.arn, self.data_role.arn).apply(
                lambda a: json.dumps(function_policy(a[0], a[1]))
            ),
            opts=child,
        )

        self.rest_api = aws.apigateway.RestApi(
            name,
            binary_media_types=BINARY_TYPES,
            endpoint_configuration={"types": "REGIONAL"},
            opts=child,
        )
        methods = gateway_methods(ROUTES)
        wiring = [*self._routes(name, methods, args, child), *self._responses(name, settings)]

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
            name=f"/aws/apigateway/{name}-{stage_name}/access",
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
        shape = json.dumps(
            {
                "methods": [[m.resource, m.method, m.auth] for m in methods],
                "responses": GATEWAY_RESPONSES,
                "cors": settings.cors_origins,
            }
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            triggers={"shape": hashlib.sha256(shape.encode()).hexdigest()},
            opts=pulumi.ResourceOptions(parent=self, depends_on=wiring),
        )
        # logging needs the account's CloudWatch role first (see infra/account.py)
        first = [
            self.execution_log_group,
            *([args.account_logging] if args.account_logging else []),
        ]
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=first),
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

    def _data_role(
        self,
        name: str,
        function_role: aws.iam.Role,
        args: ApiArgs,
        child: pulumi.ResourceOptions,
    ) -> None:
        """The role each request assumes with a session policy naming the caller's bucket and
        keys; it reaches the stage's bucket pattern and table, so its policy has one size
        for any number of users (IAM quotas: 10,240 characters of inline policy per role)."""
        self.data_role = aws.iam.Role(
            f"{name}-data-role",
            assume_role_policy=function_role.arn.apply(
                lambda arn: json.dumps(assume_role_policy({"AWS": arn}))
            ),
            max_session_duration=3600,
            opts=child,
        )
        pattern = user_bucket_arn_pattern(args.bucket_prefix, args.partition)
        aws.iam.RolePolicy(
            f"{name}-data-access",
            role=self.data_role.id,
            policy=args.table.arn.apply(lambda arn: json.dumps(data_role_policy([pattern], arn))),
            opts=child,
        )

    def _routes(
        self,
        name: str,
        methods: list[GatewayMethod],
        args: ApiArgs,
        child: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """Resources, methods and Lambda proxy integrations for ``methods``."""
        authorizer = aws.apigateway.Authorizer(
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
        ids: dict[str, pulumi.Input[str]] = {"/": self.rest_api.root_resource_id}
        for path in gateway_resources(methods):
            parent, _, part = path.rpartition("/")
            ids[path] = aws.apigateway.Resource(
                f"{name}-{_slug(path)}",
                rest_api=self.rest_api.id,
                path_part=part,
                parent_id=ids[parent or "/"],
                opts=child,
            ).id
        made: list[pulumi.Resource] = []
        self.methods: list[aws.apigateway.Method] = []
        for m in methods:
            params = {"method.request.header.Authorization": True} if m.auth else {}
            if m.resource.endswith("{proxy+}"):
                params["method.request.path.proxy"] = True
            label = f"{name}-{_slug(m.resource)}-{m.method.lower()}"
            method = aws.apigateway.Method(
                label,
                rest_api=self.rest_api.id,
                resource_id=ids[m.resource],
                http_method=m.method,
                authorization="COGNITO_USER_POOLS" if m.auth else "NONE",
                authorizer_id=authorizer.id if m.auth else None,
                request_parameters=params or None,
                request_validator_id=validator.id if m.auth else None,
                opts=child,
            )
            integration = aws.apigateway.Integration(
                f"{label}-lambda",
                rest_api=self.rest_api.id,
                resource_id=ids[m.resource],
                http_method=method.http_method,
                type="AWS_PROXY",
                integration_http_method="POST",
                uri=self.function.invoke_arn,
                timeout_milliseconds=INTEGRATION_TIMEOUT_S * 1000,
                opts=child,
            )
            self.methods.append(method)
            made += [method, integration]
        return made

    def _responses(self, name: str, settings: StackSettings) -> list[pulumi.Resource]:
        """API Gateway's own error answers, with CORS headers and pandasdb's error body."""
        return [
            aws.apigateway.Response(
                f"{name}-response-{kind.lower().replace('_', '-')}",
                rest_api_id=self.rest_api.id,
                response_type=kind,
                response_parameters=gateway_response_parameters(settings.cors_origins),
                response_templates={"application/json": gateway_response_template(*body)},
                opts=pulumi.ResourceOptions(parent=self),
            )
            for kind, body in GATEWAY_RESPONSES.items()
        ]
