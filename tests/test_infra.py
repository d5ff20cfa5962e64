"""The Pulumi program under Pulumi's unit-test mocks (no Pulumi CLI, no AWS): policies that
every deployment must satisfy."""

from __future__ import annotations

import json

import pulumi
import pytest

from infra.config import StackSettings, UserSpec, parse_users
from pandasdb_core.adapters.aws_access import user_data_policy

DATA_PREFIXES = ("s3:", "dynamodb:")


class Mocks(pulumi.runtime.Mocks):
    """Records every resource; fills in the outputs the program reads (arns, names, urls)."""

    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        name, kind = args.name, args.typ
        arn = f"arn:aws:{kind.split(':')[1].split('/')[0]}:us-east-1:123456789012:{name}"
        outputs.setdefault("arn", arn)
        if kind == "aws:s3/bucket:Bucket":
            outputs.update(bucket=name, arn=f"arn:aws:s3:::{name}")
        elif kind == "aws:dynamodb/table:Table":
            outputs.update(name=name, arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}")
        elif kind == "aws:lambda/function:Function":
            outputs["invokeArn"] = f"arn:aws:apigateway:us-east-1:lambda:path/{name}"
        elif kind == "aws:apigateway/restApi:RestApi":
            outputs.update(name=name, rootResourceId="root", executionArn=f"arn:exec:{name}")
        elif kind == "aws:apigateway/stage:Stage":
            outputs["invokeUrl"] = f"https://api.example/{args.inputs['stageName']}"
        elif kind == "aws:cloudwatch/logGroup:LogGroup":
            outputs["arn"] = f"arn:aws:logs:us-east-1:123456789012:log-group:{args.inputs['name']}"
        self.resources.append((kind, name, outputs))
        return [f"{name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": "123456789012",
                "arn": "arn:aws:iam::123456789012:user/x",
                "userId": "x",
            }
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": "us-east-1", "region": "us-east-1", "id": "us-east-1"}
        return {}


@pytest.fixture(scope="module")
def deployed():
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="pandasdb", stack="prod", preview=False)
    from infra.program import build

    settings = StackSettings(
        users=(UserSpec("alice", "alice@example.com"), UserSpec("bob")),
        alarm_email="ops@example.com",
        log_retention_days=14,
    )
    outputs = {}

    @pulumi.runtime.test
    def run():
        stage = build(settings, pulumi.AssetArchive({}))
        return pulumi.Output.all(stage.api.url, stage.auth.pool.id).apply(
            lambda values: outputs.update(url=values[0])
        )

    run()
    return mocks.resources, outputs


def of(resources, kind: str) -> list[dict]:
    return [outputs for typ, _, outputs in resources if typ == kind]


def named(resources, kind: str) -> dict[str, dict]:
    return {name: outputs for typ, name, outputs in resources if typ == kind}


def test_two_users_two_hardened_buckets(deployed):
    resources, _ = deployed
    buckets = named(resources, "aws:s3/bucket:Bucket")
    assert sorted(buckets) == ["pandasdb-access-logs", "pandasdb-alice", "pandasdb-bob"]
    for kind in (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    ):
        assert sorted(r["bucket"] for r in of(resources, kind)) == sorted(
            f"{b}-id" for b in buckets
        ), kind
    for sse in of(
        resources,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ):
        assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    for block in of(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert all(
            block[k] is True
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        )
    for policy in of(resources, "aws:s3/bucketPolicy:BucketPolicy"):
        deny = json.loads(policy["policy"])["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    logging = of(resources, "aws:s3/bucketLogging:BucketLogging")
    assert sorted(r["targetPrefix"] for r in logging) == ["alice/", "bob/"]
    rules = [
        r["rules"]
        for r in of(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    ]
    user_rules = [rs for rs in rules if len(rs) == 3]
    assert len(user_rules) == 2
    assert all(rs[0]["filter"]["prefix"] == ".staging/" for rs in user_rules)


def test_table_has_pitr_encryption_and_the_adapters_keys(deployed):
    resources, _ = deployed
    (table,) = of(resources, "aws:dynamodb/table:Table")
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["serverSideEncryption"] == {"enabled": True}
    assert (table["hashKey"], table["rangeKey"], table["billingMode"]) == (
        "pk",
        "sk",
        "PAY_PER_REQUEST",
    )


def test_every_method_but_options_uses_the_cognito_authorizer(deployed):
    resources, _ = deployed
    methods = of(resources, "aws:apigateway/method:Method")
    assert len(methods) == 9  # 5 authorised methods on 4 resources, plus 4 preflights
    for method in methods:
        if method["httpMethod"] == "OPTIONS":
            assert method["authorization"] == "NONE"
        else:
            assert method["authorization"] == "COGNITO_USER_POOLS"
            assert method["authorizerId"] == "pandasdb-api-cognito-id"
            assert method["requestValidatorId"] == "pandasdb-api-validator-id"
    parents = {
        r["pathPart"]: r["parentId"] for r in of(resources, "aws:apigateway/resource:Resource")
    }
    assert parents == {
        "dataframes": "root",
        "upload": "pandasdb-api-dataframes-id",
        "staging": "pandasdb-api-dataframes-id",
        "{proxy+}": "pandasdb-api-dataframes-id",
    }
    integrations = of(resources, "aws:apigateway/integration:Integration")
    assert {i["uri"] for i in integrations} == {
        "arn:aws:apigateway:us-east-1:lambda:path/pandasdb-api"
    }
    (authorizer,) = of(resources, "aws:apigateway/authorizer:Authorizer")
    assert authorizer["type"] == "COGNITO_USER_POOLS"
    (stage,) = of(resources, "aws:apigateway/stage:Stage")
    assert stage["stageName"] == "prod" and stage["xrayTracingEnabled"] is True
    assert "destinationArn" in stage["accessLogSettings"]
    (throttle,) = of(resources, "aws:apigateway/methodSettings:MethodSettings")
    assert throttle["settings"]["throttlingRateLimit"] == 50.0


def test_every_log_group_has_a_retention(deployed):
    resources, _ = deployed
    groups = of(resources, "aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == 3
    assert all(g["retentionInDays"] == 14 for g in groups)


def _statements(resources) -> list[tuple[str, dict]]:
    found = []
    for kind in ("aws:iam/rolePolicy:RolePolicy",):
        for name, outputs in named(resources, kind).items():
            for statement in json.loads(outputs["policy"])["Statement"]:
                found.append((name, statement))
    return found


def test_no_policy_has_wildcard_actions_or_wildcard_data_resources(deployed):
    resources, _ = deployed
    statements = _statements(resources)
    assert len(statements) >= 7
    for name, statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all("*" not in action for action in actions), (name, actions)
        if any(a.startswith(DATA_PREFIXES) for a in actions):
            assert all(r != "*" and not r.endswith(":*:*") for r in statement["Resource"])


def test_data_role_reaches_only_this_stages_buckets_and_table(deployed):
    resources, _ = deployed
    policy = json.loads(
        named(resources, "aws:iam/rolePolicy:RolePolicy")["pandasdb-api-data-access"]["policy"]
    )
    resources_named = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources_named == {
        "arn:aws:s3:::pandasdb-alice/*",
        "arn:aws:s3:::pandasdb-bob/*",
        "arn:aws:s3:::pandasdb-alice",
        "arn:aws:s3:::pandasdb-bob",
        "arn:aws:dynamodb:us-east-1:123456789012:table/pandasdb-meta",
    }
    function = json.loads(
        named(resources, "aws:iam/rolePolicy:RolePolicy")["pandasdb-api-function-access"]["policy"]
    )
    assume = [s for s in function["Statement"] if s["Action"] == ["sts:AssumeRole"]]
    assert len(assume) == 1 and "data-role" in assume[0]["Resource"][0]


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_a_users_session_names_only_their_bucket_and_key_prefix(user):
    doc = user_data_policy(
        f"arn:aws:s3:::pandasdb-{user}", "arn:aws:dynamodb:r:1:table/t", f"sub-{user}"
    )
    s3_resources = {r for s in doc["Statement"] for r in s["Resource"] if ":s3:" in r}
    assert s3_resources == {f"arn:aws:s3:::pandasdb-{user}", f"arn:aws:s3:::pandasdb-{user}/*"}
    leading = [
        s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for s in doc["Statement"]
        if "Condition" in s
    ]
    assert leading == [[f"sub-{user}#*"]]
    item_actions = [a for s in doc["Statement"] if "Condition" in s for a in s["Action"]]
    unconditioned = [
        a
        for s in doc["Statement"]
        if "Condition" not in s
        for a in s["Action"]
        if a.startswith("dynamodb:")
    ]
    assert "dynamodb:Query" in item_actions and unconditioned == ["dynamodb:DescribeTable"]


def test_function_configuration(deployed):
    resources, outputs = deployed
    (function,) = of(resources, "aws:lambda/function:Function")
    assert function["runtime"] == "python3.11" and function["handler"] == "lambdas.aws.handler"
    env = function["environment"]["variables"]
    assert json.loads(env["PANDASDB_BUCKETS"]) == {"alice": "pandasdb-alice", "bob": "pandasdb-bob"}
    assert env["PANDASDB_TABLE"] == "pandasdb-meta"
    (client_name,) = named(resources, "aws:cognito/userPoolClient:UserPoolClient")
    assert env["PANDASDB_CLIENT_IDS"] == f"{client_name}-id"  # the mocks' id for a resource
    assert function["tracingConfig"] == {"mode": "Active"}
    assert outputs["url"] == "https://api.example/prod"


def test_monitoring_dashboard_and_alarms(deployed):
    resources, _ = deployed
    (dashboard,) = of(resources, "aws:cloudwatch/dashboard:Dashboard")
    titles = [w["properties"]["title"] for w in json.loads(dashboard["dashboardBody"])["widgets"]]
    assert titles == [
        "API requests and errors",
        "API latency (ms)",
        "Function errors and throttles",
        "Function duration (ms)",
        "Table throttles",
        "Bucket bytes",
    ]
    alarms = named(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert sorted(alarms) == [
        "pandasdb-monitoring-api-5xx-rate",
        "pandasdb-monitoring-function-errors",
    ]
    topic = "pandasdb-monitoring-alarms"
    assert all(
        a["alarmActions"] == [f"arn:aws:sns:us-east-1:123456789012:{topic}"]
        for a in alarms.values()
    )
    (subscription,) = of(resources, "aws:sns/topicSubscription:TopicSubscription")
    assert subscription["endpoint"] == "ops@example.com"


def test_cognito_admin_created_users_and_password_policy(deployed):
    resources, _ = deployed
    (pool,) = of(resources, "aws:cognito/userPool:UserPool")
    assert pool["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}
    assert pool["passwordPolicy"]["minimumLength"] >= 12
    users = of(resources, "aws:cognito/user:User")
    assert sorted(u["username"] for u in users) == ["alice", "bob"]
    (client,) = of(resources, "aws:cognito/userPoolClient:UserPoolClient")
    assert client["generateSecret"] is False


@pytest.mark.parametrize(
    "raw, message",
    [
        ([], "non-empty"),
        (["Alice"], "a-z0-9"),
        (["a", "a"], "twice"),
        ("alice", "non-empty"),
    ],
)
def test_bad_user_config_is_refused(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_users(raw)


USER_MAPS = {"variables", "attributes", "dimensions", "triggers", "tags", "requestParameters"}


def _unknown_keys(value, path: str = "") -> list[str]:
    """Input keys the provider did not translate: its schema names are camelCase, so a key
    still in snake_case was not recognised."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if "_" in key and not key.startswith("__"):
                found.append(f"{path}.{key}")
            if key not in USER_MAPS:
                found += _unknown_keys(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _unknown_keys(inner, f"{path}[{i}]")
    return found


def test_every_input_is_a_property_of_the_provider_schema(deployed):
    resources, _ = deployed
    unknown = [
        f"{kind} {name}{key}"
        for kind, name, outputs in resources
        if kind.startswith("aws:")
        for key in _unknown_keys(outputs)
    ]
    assert unknown == []
