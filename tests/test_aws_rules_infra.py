"""The rules of AWS-RULES.md that live in the Pulumi program and the AWS-side Lambda code: one
test per rule, each naming where AWS (or Pulumi) documents it. Pulumi's mocks and moto accept
every one of these violations silently, which is why each is checked here."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import boto3
import botocore.session
import pytest
from infra_mocks import ACCOUNT, deploy, named, of
from packaging.requirements import Requirement
from packaging.version import Version

from infra.admin import set_temporary_password
from infra.api import GATEWAY_RESPONSES
from infra.auth import user_delivery
from infra.config import (
    COGNITO_DEFAULT_DAILY_EMAILS,
    FUNCTION_NAME_MAX,
    LOG_RETENTION_DAYS,
    StackSettings,
    UserSpec,
    check_stage_name,
)
from infra.lambda_package import LAMBDA, REQUIREMENTS, canonical_name, read_constraints
from infra.storage import RESOURCES
from pandasdb_core.adapters import dynamodb
from pandasdb_core.adapters.aws_access import (
    BUCKET_NAME_MAX,
    user_bucket_arn_pattern,
    user_bucket_name,
    user_data_policy,
)
from pandasdb_core.adapters.bucket_hardening import artifact_bucket, log_bucket, user_bucket
from pandasdb_core.errors import StoreUnavailable
from pandasdb_core.wire import MEDIA_TYPES, error_body

BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"


@pytest.fixture(scope="module")
def stage():
    """A stage with users with and without e-mail, in the stack that manages the account's
    API Gateway logging setting."""
    return deploy(
        StackSettings(
            users=(UserSpec("alice", "alice@example.com"), UserSpec("bob")),
            alarm_email="ops@example.com",
            manage_account_logging=True,
        )
    )


#: a verified SES identity (a domain) Cognito may send through
SES_IDENTITY = f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/example.com"


@pytest.fixture(scope="module")
def thousand_users():
    """The program with 1,000 configured users with e-mail (about 10,000 mocked resources),
    so mailed through SES: Cognito's default e-mail would send 50 of their invitations."""
    users = tuple(
        UserSpec(f"user-{i:04d}-{'x' * 20}", f"user-{i:04d}@example.com") for i in range(1000)
    )
    return deploy(
        StackSettings(
            users=users,
            cors_origins=("https://app.example.com",),
            ses_source_arn=SES_IDENTITY,
            email_from="pandasdb <no-reply@example.com>",
        )
    )


def functions(resources) -> dict[str, dict]:
    return named(resources, "aws:lambda/function:Function")


def test_functions_run_on_a_supported_runtime_the_package_is_built_for(stage):
    """Lambda runtimes page (deprecation table) and runtime support policy: python3.10 and
    python3.11 (Amazon Linux 2) are deprecated; python3.13 and python3.14 run on Amazon Linux
    2023, on arm64 as on x86_64. The package is built for the same version and architecture."""
    resources, _ = stage
    assert LAMBDA.runtime in ("python3.13", "python3.14")
    assert LAMBDA.python_version == LAMBDA.runtime.removeprefix("python")
    assert all("aarch64" in tag for tag in LAMBDA.platforms)
    for function in functions(resources).values():
        assert function["runtime"] == LAMBDA.runtime
        assert function["architectures"] == ["arm64"] == [LAMBDA.architecture]


def test_the_package_reaches_lambda_through_an_s3_object(stage):
    """Lambda quotas, "Deployment package (.zip file archive) size": 50 MB zipped for a direct
    upload (the request is capped near 70 MB after base64), 250 MB unzipped from S3. The
    package zips to about 57 MB, so every function reads it from the artifact bucket."""
    resources, _ = stage
    (package,) = of(resources, "aws:s3/bucketObjectv2:BucketObjectv2")
    assert re.fullmatch(r"lambda/pandasdb-[0-9a-f]{32}\.zip", package["key"])
    artifacts = named(resources, BUCKET)["pandasdb-artifacts"]
    assert package["bucket"] == "pandasdb-artifacts-id"
    assert artifacts["bucket"] == f"pdb-prod-{ACCOUNT}-artifacts"
    for function in functions(resources).values():
        assert (function["s3Bucket"], function["s3Key"]) == (package["bucket"], package["key"])
        assert "code" not in function and "imageUri" not in function


def test_the_account_logging_role_is_shared_retained_and_set_before_the_stage(stage):
    """API Gateway developer guide, "Set up CloudWatch logging for REST APIs": a stage that
    logs needs the account's CloudWatch role set first; the setting is one per account and
    region, and deleting the Account resource resets it (terraform-provider-aws issue on
    aws_api_gateway_account deletion). So only the stack with manageAccountLogging has it,
    retained on delete, and its stage depends on it."""
    resources, outputs = stage
    options = outputs["options"]
    (account,) = of(resources, "aws:apigateway/account:Account")
    assert account["cloudwatchRoleArn"].endswith("pandasdb-apigateway-account-cloudwatch-role")
    for name in (
        "pandasdb-apigateway-account",
        "pandasdb-apigateway-account-cloudwatch-role",
        "pandasdb-apigateway-account-cloudwatch-policy",
    ):
        assert options[name]["retain_on_delete"], name
    (attachment,) = of(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment["policyArn"].endswith("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    assert "pandasdb-apigateway-account" in options["pandasdb-api-stage"]["depends_on"]
    # every other stack of the account and region leaves the setting alone
    others, _ = deploy(StackSettings(users=()), stack="dev")
    assert of(others, "aws:apigateway/account:Account") == []


def test_the_alarm_topic_key_lets_cloudwatch_publish(stage):
    """SNS developer guide, encryption at rest, "compatibility between event sources from AWS
    services and encrypted topics": CloudWatch alarms cannot publish to a topic encrypted
    with the AWS managed alias/aws/sns key; the topic needs a customer managed key whose
    policy lets cloudwatch.amazonaws.com call kms:Decrypt and kms:GenerateDataKey*."""
    resources, _ = stage
    (topic,) = of(resources, "aws:sns/topic:Topic")
    (key,) = of(resources, "aws:kms/key:Key")
    assert topic["kmsMasterKeyId"] == key["arn"] and "alias/aws/" not in topic["kmsMasterKeyId"]
    assert key["enableKeyRotation"] is True
    grants = [
        s
        for s in json.loads(key["policy"])["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(grants) == 1 and grants[0]["Effect"] == "Allow"
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(grants[0]["Action"])
    alarms = of(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms and all(a["alarmActions"] == [topic["arn"]] for a in alarms)


def test_the_access_log_bucket_uses_sse_s3(stage):
    """S3 user guide, "Enabling Amazon S3 server access logging": logs are not delivered to a
    target bucket whose default encryption is SSE-KMS; only SSE-S3 (AES256) works. The
    target's policy lets the logging service write, since BucketOwnerEnforced disables
    ACL grants."""
    resources, _ = stage
    log_bucket = f"pdb-prod-{ACCOUNT}-logs"
    targets = {r["targetBucket"] for r in of(resources, "aws:s3/bucketLogging:BucketLogging")}
    assert targets == {log_bucket}
    buckets = named(resources, BUCKET)
    name = next(n for n, b in buckets.items() if b["bucket"] == log_bucket)
    (sse,) = [r for r in of(resources, SSE) if r["bucket"] == f"{name}-id"]
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    policy = next(
        json.loads(p["policy"])
        for p in of(resources, "aws:s3/bucketPolicy:BucketPolicy")
        if p["bucket"] == f"{name}-id"
    )
    (grant,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert grant["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    # user data stays on SSE-KMS
    user_sse = [r for r in of(resources, SSE) if r["bucket"].startswith("pandasdb-user-")]
    assert {
        r["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] for r in user_sse
    } == {"aws:kms"}


def _env_bytes(variables: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in variables.items())


def test_a_thousand_users_deploy_within_every_aws_size_limit(thousand_users):
    """Lambda quotas: a function's environment variables total at most 4 KB. IAM quotas: a
    role's inline policies total at most 10,240 characters, a trust policy at most 2,048;
    an AssumeRole session policy at most 2,048. S3: a bucket policy at most 20 KB, at most
    10,000 general purpose buckets per account by default (S3 user guide, "General purpose
    bucket quotas"). CloudWatch: at most 500 widgets per dashboard ("Dashboard body structure
    and syntax"), 500 series per graph and 1,024 characters per search expression ("CloudWatch
    search expression syntax"), so per-user series come from SEARCH expressions."""
    resources, outputs = thousand_users
    assert len(outputs["buckets"]) == 1000 < 10_000
    for name, function in functions(resources).items():
        assert _env_bytes(function["environment"]["variables"]) <= 4096, name
    inline: dict[str, int] = {}
    for policy in of(resources, "aws:iam/rolePolicy:RolePolicy"):
        inline[policy["role"]] = inline.get(policy["role"], 0) + len(policy["policy"])
    assert inline and max(inline.values()) <= 10_240, inline
    for role in of(resources, "aws:iam/role:Role"):
        assert len(role["assumeRolePolicy"]) <= 2048
    for policy in of(resources, "aws:s3/bucketPolicy:BucketPolicy"):
        assert len(policy["policy"]) <= 20 * 1024
    (dashboard,) = of(resources, "aws:cloudwatch/dashboard:Dashboard")
    widgets = json.loads(dashboard["dashboardBody"])["widgets"]
    assert len(widgets) <= 500
    for widget in widgets:
        metrics = widget["properties"]["metrics"]
        assert len(metrics) <= 500
        searches = [m[0]["expression"] for m in metrics if isinstance(m[0], dict)]
        assert all(len(e) <= 1024 for e in searches if e.startswith("SEARCH"))
    # the longest session policy a request can carry
    longest = user_bucket_name("p" * 30, "f" * 8 + "-ffff" * 3 + "-" + "f" * 12)
    table = f"arn:aws:dynamodb:ap-southeast-2:{ACCOUNT}:table/pandasdb-meta-{'x' * 200}"
    session = json.dumps(user_data_policy(f"arn:aws:s3:::{longest}", table, "f" * 36))
    assert len(session) <= 2048


def test_user_data_is_retained_when_removed_from_the_program(stage):
    """Pulumi resource options, retainOnDelete: removing a resource from a program deletes it
    unless retained. A user dropped from config keeps their Cognito user (a re-created one
    gets a new sub), their bucket and every protection of it; the table and the pool too."""
    resources, outputs = stage
    options = outputs["options"]
    user_parts = [
        name
        for kind, name, _ in resources
        if name.startswith("pandasdb-user-") and kind.startswith("aws:s3/")
    ]
    assert len(user_parts) == 2 * 9  # bucket + 8 settings, per user
    kept = [
        *user_parts,
        "pandasdb-users",
        "pandasdb-users-user-alice",
        "pandasdb-users-user-bob",
        "pandasdb-meta",
        "pandasdb-access-logs",
    ]
    assert [n for n in kept if not options[n]["retain_on_delete"]] == []
    (table,) = of(resources, "aws:dynamodb/table:Table")
    (pool,) = of(resources, "aws:cognito/userPool:UserPool")
    assert table["deletionProtectionEnabled"] is True and pool["deletionProtection"] == "ACTIVE"
    assert all(
        b.get("forceDestroy") is not True
        for n, b in named(resources, BUCKET).items()
        if n.startswith("pandasdb-user-")
    )


def test_users_without_email_get_a_password_from_the_admin_command(stage, aws):
    """Cognito API reference, AdminCreateUser: without a delivery medium a created user never
    learns a password. Users with e-mail get the welcome message by EMAIL; the others are
    created with MessageAction SUPPRESS and an operator runs `python -m infra.admin
    set-password`, which sets a temporary password (AdminSetUserPassword, Permanent false)
    that the user must change at first sign-in."""
    resources, _ = stage
    users = {u["username"]: u for u in of(resources, "aws:cognito/user:User")}
    assert users["alice"]["desiredDeliveryMediums"] == ["EMAIL"]
    assert users["alice"]["attributes"]["email"] == "alice@example.com"
    assert (
        users["bob"]["messageAction"] == "SUPPRESS" and "desiredDeliveryMediums" not in users["bob"]
    )
    assert user_delivery(UserSpec("bob")) == {"message_action": "SUPPRESS"}

    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="p")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="sdk", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="bob", MessageAction="SUPPRESS")
    password = set_temporary_password(idp, pool, "bob")
    answer = idp.initiate_auth(
        ClientId=client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bob", "PASSWORD": password},
    )
    assert answer["ChallengeName"] == "NEW_PASSWORD_REQUIRED"


def test_noncurrent_versions_and_expired_delete_markers_expire(stage):
    """S3 user guide, lifecycle configuration elements: noncurrent versions stay until a
    NoncurrentVersionExpiration rule removes them, and delete markers accumulate without
    ExpiredObjectDeleteMarker. Staged files, deleted after their commit, leave a noncurrent
    version that expires a day later."""
    resources, _ = stage
    user_rules = [
        r["rules"] for r in of(resources, LIFECYCLE) if r["bucket"].startswith("pandasdb-user-")
    ]
    assert len(user_rules) == 2
    for rules in user_rules:
        by_id = {r["id"]: r for r in rules}
        everything = by_id["expire-noncurrent-versions"]
        assert everything["filter"] == {} and everything["status"] == "Enabled"
        assert everything["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
        assert everything["expiration"] == {"expiredObjectDeleteMarker": True}
        staging = by_id["expire-staging"]
        assert staging["filter"] == {"prefix": ".staging/"}
        assert staging["expiration"] == {"days": 1}
        assert staging["noncurrentVersionExpiration"] == {"noncurrentDays": 1}


class ThrottlingDynamoDB:
    """A BatchWriteItem stub that leaves items unprocessed ``throttled`` times."""

    def __init__(self, throttled: int) -> None:
        self.throttled = throttled
        self.calls: list[dict] = []

    def batch_write_item(self, RequestItems):
        self.calls.append(RequestItems)
        (table, items) = next(iter(RequestItems.items()))
        if len(self.calls) <= self.throttled:
            return {"UnprocessedItems": {table: items[len(items) // 2 :]}}
        return {"UnprocessedItems": {}}


def test_batch_write_retries_unprocessed_items_with_bounded_jittered_backoff(monkeypatch):
    """DynamoDB API reference, BatchWriteItem: UnprocessedItems must be sent again, and AWS
    strongly recommends an exponential backoff algorithm; retrying at once fails again
    while the table is throttled. The retries are bounded, then the commit fails as
    unavailable (a 503 the client may retry)."""
    sleeps: list[float] = []
    monkeypatch.setattr(dynamodb.time, "sleep", sleeps.append)
    items = [{"PutRequest": {"Item": {"pk": {"S": f"o#{i}"}}}} for i in range(16)]

    client = ThrottlingDynamoDB(throttled=3)
    dynamodb.DynamoDBMetadataStore(client, "t", owner="o")._batch(items)
    sent = [len(call["t"]) for call in client.calls]
    assert sent == [16, 8, 4, 2], "only what was left unprocessed is sent again"
    assert len(sleeps) == 3 and all(s >= 0 for s in sleeps)
    # full jitter below a doubling cap: many draws reach past the first cap
    caps = [0.1, 0.2, 0.4]
    assert all(s <= cap for s, cap in zip(sleeps, caps, strict=True))

    sleeps.clear()
    hopeless = ThrottlingDynamoDB(throttled=10**6)
    with pytest.raises(StoreUnavailable, match="unprocessed"):
        dynamodb.DynamoDBMetadataStore(hopeless, "t", owner="o")._batch(items)
    assert 2 <= len(hopeless.calls) <= 10 and len(sleeps) == len(hopeless.calls) - 1
    assert sum(sleeps) <= 10, "bounded well inside the function's time budget"
    assert max(sleeps) <= 2.0


def test_gateway_responses_carry_cors_headers_and_preflights_need_no_token(stage):
    """API Gateway developer guide, "Enabling CORS for a REST API resource": a preflight
    carries no token, so OPTIONS methods have no authorizer; API Gateway's own 4XX/5XX
    answers (authorizer refusals, throttling, timeouts) never reach the function, so they
    need CORS headers as gateway responses or the browser hides them."""
    resources, _ = stage
    responses = {r["responseType"]: r for r in of(resources, "aws:apigateway/response:Response")}
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED"):
        params = responses[kind]["responseParameters"]
        assert params["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'", kind
        body = json.loads(responses[kind]["responseTemplates"]["application/json"])
        assert body == error_body(*GATEWAY_RESPONSES[kind])
    options = [
        m for m in of(resources, "aws:apigateway/method:Method") if m["httpMethod"] == "OPTIONS"
    ]
    assert options and all(m["authorization"] == "NONE" for m in options)
    one_origin, _ = deploy(
        StackSettings(users=(), cors_origins=("https://app.example.com",)), stack="web"
    )
    params = of(one_origin, "aws:apigateway/response:Response")[0]["responseParameters"]
    assert (
        params["gatewayresponse.header.Access-Control-Allow-Origin"] == "'https://app.example.com'"
    )


def test_the_integration_times_out_at_29_s_and_the_function_before(stage):
    """API Gateway quotas, "Integration timeout": 50 ms to 29 s for REST APIs unless raised.
    The function's timeout is below it and its time budget (commit retries included) below
    that, so no commit lands after the client got a 504."""
    resources, _ = stage
    integrations = of(resources, "aws:apigateway/integration:Integration")
    assert integrations and {i["timeoutMilliseconds"] for i in integrations} == {29_000}
    api = functions(resources)["pandasdb-api"]
    budget = int(api["environment"]["variables"]["PANDASDB_TIME_BUDGET_S"])
    assert budget < api["timeout"] < 29
    with pytest.raises(ValueError, match="pandasdb:lambdaTimeoutS"):
        StackSettings(users=(), lambda_timeout_s=60)


def test_log_retention_is_one_cloudwatch_accepts():
    """CloudWatch Logs API reference, PutRetentionPolicy: retentionInDays must be one of 1, 3,
    5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288
    or 3653; anything else fails at deploy time, so config is checked first."""
    assert LOG_RETENTION_DAYS[:6] == (1, 3, 5, 7, 14, 30) and LOG_RETENTION_DAYS[-1] == 3653
    for days in LOG_RETENTION_DAYS:
        assert StackSettings(users=(), log_retention_days=days).log_retention_days == days
    for days in (0, 2, 10, 31, 365 * 2, 4000):
        with pytest.raises(ValueError, match=f"pandasdb:logRetentionDays: {days} "):
            StackSettings(users=(), log_retention_days=days)


def test_binary_media_types_include_the_parquet_type_the_sdk_asks_for(stage):
    """API Gateway developer guide, "Binary media types for REST APIs" with Lambda proxy:
    a body travels as binary only when its type (for responses, the request's first Accept
    type) is one of the API's binary media types; otherwise the client receives base64."""
    resources, _ = stage
    (api,) = of(resources, "aws:apigateway/restApi:RestApi")
    assert MEDIA_TYPES["parquet"] in api["binaryMediaTypes"]


DOCUMENTED_DIMENSIONS = {
    # API Gateway developer guide, "Amazon API Gateway dimensions and metrics"
    "AWS/ApiGateway": [
        {"ApiName"},
        {"ApiName", "Stage"},
        {"ApiName", "Method", "Resource", "Stage"},
    ],
    # Lambda developer guide, "Types of metrics for Lambda functions"
    "AWS/Lambda": [{"FunctionName"}, {"FunctionName", "Resource"}],
    # S3 user guide, "Metrics and dimensions" (daily storage metrics)
    "AWS/S3": [{"BucketName", "StorageType"}],
}
# DynamoDB developer guide, "DynamoDB metrics and dimensions"
DYNAMODB_DIMENSIONS = {
    "ThrottledRequests": {"TableName", "Operation"},
    "ReadThrottleEvents": {"TableName"},
    "WriteThrottleEvents": {"TableName"},
}


def _metrics(body: str) -> list[tuple[str, str, set[str]]]:
    """(namespace, metric, dimension names) of every dashboard series, expressions'
    SEARCH schemas included."""
    found = []
    for widget in json.loads(body)["widgets"]:
        previous = None
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], dict):
                search = re.search(r"SEARCH\('\{([^}]*)\} ([^']*)'", line[0]["expression"])
                if search:
                    namespace, *dims = search.group(1).split(",")
                    metric = re.search(r'MetricName="(\w+)"', search.group(2)).group(1)
                    found.append((namespace, metric, set(dims)))
                continue
            namespace = previous if line[0] == "." else line[0]
            previous = namespace
            found.append((namespace, line[1], set(line[2::2])))
    return found


def test_dashboard_and_alarm_metrics_use_the_dimensions_aws_publishes(stage):
    """API Gateway developer guide, "Amazon API Gateway dimensions and metrics" (a REST API
    stage: ApiName + Stage); DynamoDB developer guide, "DynamoDB metrics and dimensions"
    (ThrottledRequests per TableName + Operation): a metric asked for with other dimensions
    does not exist, and its graph or alarm stays empty."""
    resources, _ = stage
    (dashboard,) = of(resources, "aws:cloudwatch/dashboard:Dashboard")
    series = _metrics(dashboard["dashboardBody"])
    assert {n for n, _, _ in series} == {"AWS/ApiGateway", "AWS/Lambda", "AWS/DynamoDB", "AWS/S3"}
    for namespace, metric, dims in series:
        if namespace == "AWS/DynamoDB":
            assert dims == DYNAMODB_DIMENSIONS[metric], metric
        else:
            assert dims in DOCUMENTED_DIMENSIONS[namespace], (namespace, metric, dims)
    for alarm in of(resources, "aws:cloudwatch/metricAlarm:MetricAlarm"):
        queries = [q["metric"] for q in alarm.get("metricQueries", []) if "metric" in q]
        for metric in queries or [alarm]:
            namespace = metric["namespace"]
            assert set(metric["dimensions"]) in DOCUMENTED_DIMENSIONS[namespace], alarm


def test_bucket_names_follow_the_s3_naming_rules():
    """S3 user guide, "General purpose bucket naming rules": 3-63 characters of lower-case
    letters, digits, dots and hyphens, beginning and ending with a letter or digit, globally
    unique. A user's bucket is {prefix}-{32 hex digits of their Cognito sub}; the default
    prefix names the stage and the account."""
    sub = "0d3f14a0-c744-4969-b289-c16d6a1b0308"
    for prefix in ("a", "pdb-prod-123456789012", "p" * 30):
        name = user_bucket_name(prefix, sub)
        assert 3 <= len(name) <= BUCKET_NAME_MAX
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name)
        assert re.fullmatch(
            user_bucket_arn_pattern(prefix).replace("?", "[0-9a-f]"), f"arn:aws:s3:::{name}"
        )
    assert user_bucket_name("p", sub) != user_bucket_name("q", sub)
    for bad in ("", "Prod", "-p", "p-", "xn--p", "p" * 31, "p.q"):
        with pytest.raises(ValueError, match="bucket prefix"):
            user_bucket_name(bad, sub)
    with pytest.raises(ValueError, match="not a Cognito sub"):
        user_bucket_name("p", "../../other")


#: the first botocore (and boto3) whose S3 model has PutObject's IfNoneMatch
CONDITIONAL_PUT = Version("1.35.2")


def _floor(requirement: Requirement) -> Version:
    (lower,) = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return lower


def test_every_sdk_floor_has_conditional_put():
    """boto3 changelog, 1.35.2 (2024-08-20): "api-change:s3: Amazon Simple Storage Service /
    Features : Add support for conditional writes for PutObject and CompleteMultipartUpload
    APIs". The store's commits write with IfNoneMatch="*"; botocore 1.34.162, 1.35.0 and
    1.35.1 refuse that parameter (ParamValidationError), so every place that lets pip choose
    boto3 or botocore asks for 1.35.2 at least: the package's extras, the Lambda package's
    requirements and the versions it is pinned to."""
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    requirements = [
        Requirement(r)
        for extra in project["project"]["optional-dependencies"].values()
        for r in extra
    ] + [Requirement(r) for r in (*project["project"]["dependencies"], *REQUIREMENTS)]
    sdk = [r for r in requirements if r.name in ("boto3", "botocore")]
    assert {r.name for r in sdk} == {"boto3", "botocore"}
    assert [str(r) for r in sdk if _floor(r) < CONDITIONAL_PUT] == []
    for extra in ("aws", "dev", "bench"):
        named = {Requirement(r).name for r in project["project"]["optional-dependencies"][extra]}
        assert {"boto3", "botocore"} <= named, extra
    pins = read_constraints()
    assert Version(pins["boto3"]) >= CONDITIONAL_PUT <= Version(pins["botocore"])
    # and the botocore installed here knows the parameter
    s3 = botocore.session.get_session().get_service_model("s3")
    assert "IfNoneMatch" in s3.operation_model("PutObject").input_shape.members


def test_the_lambda_package_is_pinned_to_what_it_was_resolved_to():
    """pip's user guide, "Constraints Files": pinned versions make an install repeatable. The
    Lambda package's object is named by its content's digest, so an unpinned build (a new
    release of any dependency) would make a new object and update both functions at every
    `pulumi up`. Every requirement is pinned, to a version it allows."""
    pins = read_constraints()
    for line in REQUIREMENTS:
        requirement = Requirement(line)
        name = canonical_name(requirement.name)
        assert name in pins, f"{name} is not pinned in infra/lambda-constraints.txt"
        assert requirement.specifier.contains(pins[name]), (line, pins[name])


def test_more_users_with_email_than_cognitos_default_email_sends_need_ses(thousand_users):
    """Cognito developer guide, "Quotas in Amazon Cognito" and "Email settings for Amazon
    Cognito user pools": with its default e-mail (COGNITO_DEFAULT) a user pool sends at most
    50 e-mails a day, invitations (AdminCreateUser) and sign-up codes alike, and refuses the
    rest, so `pulumi up` fails at the 51st user. More users with e-mail than that need an SES
    identity (EmailSendingAccount DEVELOPER); the stack refuses them at config time, naming
    the setting."""
    mailed = tuple(UserSpec(f"u{i}", f"u{i}@example.com") for i in range(51))
    assert COGNITO_DEFAULT_DAILY_EMAILS == 50
    with pytest.raises(ValueError, match="pandasdb:sesSourceArn: 51 configured users"):
        StackSettings(users=mailed)
    # as many as the default sends, or any number without e-mail, need no SES
    StackSettings(users=mailed[:50])
    StackSettings(users=tuple(UserSpec(f"u{i}") for i in range(1000)))
    with pytest.raises(ValueError, match="pandasdb:emailFrom"):
        StackSettings(users=mailed, ses_source_arn=SES_IDENTITY)  # a domain needs a From
    with pytest.raises(ValueError, match="pandasdb:sesSourceArn: 'example.com'"):
        StackSettings(users=(), ses_source_arn="example.com")
    with pytest.raises(ValueError, match="pandasdb:emailFrom needs pandasdb:sesSourceArn"):
        StackSettings(users=(), email_from="no-reply@example.com")
    resources, _ = thousand_users
    (pool,) = of(resources, "aws:cognito/userPool:UserPool")
    assert pool["emailConfiguration"] == {
        "emailSendingAccount": "DEVELOPER",
        "sourceArn": SES_IDENTITY,
        "fromEmailAddress": "pandasdb <no-reply@example.com>",
    }


def test_a_buckets_settings_are_written_one_after_the_other(stage):
    """S3 API reference, error codes: OperationAborted (409), "A conflicting conditional
    operation is currently in progress against this resource", when two bucket-level
    requests meet on one bucket (hashicorp/terraform-provider-aws#7628: a policy and a
    public access block created at once). Each setting of every bucket depends on the one
    before, in the order the sign-up trigger sends them, starting from the bucket."""
    resources, outputs = stage
    options = outputs["options"]
    suffixes = {"put_bucket_policy": "policy"} | {m: r[0] for m, r in RESOURCES.items()}
    hardenings = {
        "pandasdb-user-alice": user_bucket("l", ("*",), noncurrent_days=30, staging_days=1),
        "pandasdb-access-logs": log_bucket("l", ACCOUNT, "arn:aws:s3:::p-*", retention_days=30),
        "pandasdb-artifacts": artifact_bucket(),
    }
    for bucket, hardening in hardenings.items():
        chain = [bucket] + [f"{bucket}-{suffixes[m]}" for m, _ in hardening.requests("b")]
        assert len(chain) >= 5
        for before, after in zip(chain, chain[1:], strict=False):
            assert options[after]["depends_on"] == {before}, (after, options[after])
    made = {n for _, n, _ in resources}
    assert {f"pandasdb-user-alice-{s}" for s in suffixes.values()} <= made


def test_the_stack_name_fits_lambda_function_and_stage_names():
    """Lambda API reference, CreateFunction, FunctionName: a name is [a-zA-Z0-9-_], "limited
    to 64 characters in length"; API Gateway API reference, Stage: "Stage names can only
    contain alphanumeric characters, hyphens, and underscores. Maximum length is 128
    characters". The stack's name names both, so a name with '.' (which Pulumi allows) or a
    long one is refused before anything deploys."""
    longest = "s" * (FUNCTION_NAME_MAX - len("pandasdb-provisioning-"))
    resources, _ = deploy(StackSettings(users=(), bucket_prefix="pdb-long"), stack=longest)
    for function in functions(resources).values():
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", function["name"]), function["name"]
    (stage_made,) = of(resources, "aws:apigateway/stage:Stage")
    assert stage_made["stageName"] == longest
    for bad in ("prod.eu", longest + "s", "prod eu", ""):
        with pytest.raises(ValueError, match="stack name"):
            check_stage_name(bad)
    with pytest.raises(ValueError, match="stack name 'prod.eu'"):
        deploy(StackSettings(users=()), stack="prod.eu")


def test_tags_reach_every_taggable_resource():
    """Tagging AWS resources, "Tag naming limits and requirements" (at most 50 tags per
    resource, keys of 128 and values of 256 characters, no aws: prefix); the pulumi-aws
    provider's defaultTags: tags set once apply to every resource that takes tags.
    pandasdb:tags is applied so, and checked."""
    tags = {"team": "data", "cost-center": "42"}
    resources, _ = deploy(StackSettings(users=(UserSpec("alice"),), tags=tags), stack="tagged")
    taggable = {
        "aws:s3/bucket:Bucket",
        "aws:lambda/function:Function",
        "aws:dynamodb/table:Table",
        "aws:cognito/userPool:UserPool",
        "aws:iam/role:Role",
        "aws:apigateway/restApi:RestApi",
        "aws:apigateway/stage:Stage",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:kms/key:Key",
        "aws:sns/topic:Topic",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:s3/bucketObjectv2:BucketObjectv2",
    }
    seen = set()
    for kind, name, outputs in resources:
        if kind in taggable:
            assert tags.items() <= (outputs.get("tags") or {}).items(), (kind, name)
            seen.add(kind)
        elif kind in ("aws:s3/bucketPolicy:BucketPolicy", "aws:cognito/user:User"):
            assert "tags" not in outputs, kind
    assert seen == taggable
    for bad in ({"aws:owner": "x"}, {"k": "v" * 257}, {f"k{i}": "v" for i in range(51)}):
        with pytest.raises(ValueError, match="pandasdb:tags"):
            StackSettings(users=(), tags=bad)


def test_policies_name_the_callers_partition(monkeypatch):
    """IAM user guide, "IAM identifiers" (ARN format arn:partition:service:...): the China
    (aws-cn) and GovCloud (aws-us-gov) partitions have their own ARNs, and a policy naming
    arn:aws: resources grants nothing there. Every ARN the program writes itself takes the
    partition of the deploying identity."""
    import infra_mocks

    real = infra_mocks.Mocks.call

    def in_china(self, args):
        found = real(self, args)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            found = {**found, "arn": f"arn:aws-cn:iam::{ACCOUNT}:user/x"}
        return found

    monkeypatch.setattr(infra_mocks.Mocks, "call", in_china)
    resources, _ = deploy(
        StackSettings(users=(UserSpec("alice"),), manage_account_logging=True), stack="cn"
    )
    written = [
        *(p["policy"] for p in of(resources, "aws:s3/bucketPolicy:BucketPolicy")),
        *(p["policy"] for p in of(resources, "aws:iam/rolePolicy:RolePolicy")),
        *(k["policy"] for k in of(resources, "aws:kms/key:Key")),
        *(
            a["policyArn"]
            for a in of(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        ),
    ]
    assert written
    # the mocks' own outputs (role and log group ARNs) stay in arn:aws:, so look for the ARNs
    # the program builds: buckets, the bucket pattern, the account root, the managed policy
    built = re.compile(r"arn:[a-z-]+:(s3:::|iam::(aws|\d{12}):(policy|root))")
    found = [m.group(0) for doc in written for m in built.finditer(doc)]
    assert found and all(f.startswith("arn:aws-cn:") for f in found), found
