"""The Pulumi program under Pulumi's unit-test mocks (no Pulumi CLI, no AWS): policies that
every deployment must satisfy. The rules AWS documents and mocks do not enforce have their
own tests, each naming its source, in test_aws_rules_infra.py."""

from __future__ import annotations

import contextvars
import fnmatch
import itertools
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from infra_mocks import ACCOUNT, deploy, named, of, sub_of
from test_gateway_routing import FRAME_NAMES, gateway_resource

from infra.config import StackSettings, UserSpec, parse_users
from infra.routes import gateway_methods
from pandasdb_core.adapters.aws_access import user_bucket_name, user_data_policy
from pandasdb_core.http_routes import ROUTES, find

DATA_PREFIXES = ("s3:", "dynamodb:")
PREFIX = f"pdb-prod-{ACCOUNT}"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"


@pytest.fixture(scope="module")
def deployed():
    settings = StackSettings(
        users=(UserSpec("alice", "alice@example.com"), UserSpec("bob")),
        alarm_email="ops@example.com",
        log_retention_days=14,
    )
    return deploy(settings)


def bucket_of(user: str) -> str:
    return user_bucket_name(PREFIX, sub_of(user))


def test_two_users_two_hardened_buckets_plus_logs_and_artifacts(deployed):
    resources, outputs = deployed
    buckets = {b["bucket"]: name for name, b in named(resources, "aws:s3/bucket:Bucket").items()}
    users = {bucket_of("alice"), bucket_of("bob")}
    assert set(buckets) == users | {f"{PREFIX}-logs", f"{PREFIX}-artifacts"}
    assert sorted(outputs["buckets"]) == sorted(users)
    for kind in (
        SSE,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        LIFECYCLE,
    ):
        assert sorted(r["bucket"] for r in of(resources, kind)) == sorted(
            f"{b}-id" for b in buckets.values()
        ), kind
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
        deny = json.loads(policy["policy"])["Statement"][-1]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    user_ids = {f"{buckets[b]}-id" for b in users}
    versioned = {v["bucket"] for v in of(resources, "aws:s3/bucketVersioning:BucketVersioning")}
    logged = {r["bucket"]: r for r in of(resources, "aws:s3/bucketLogging:BucketLogging")}
    assert versioned == user_ids and set(logged) == user_ids
    assert {r["targetBucket"] for r in logged.values()} == {f"{PREFIX}-logs"}


def test_user_buckets_are_named_from_the_cognito_sub(deployed):
    resources, _ = deployed
    users = {u["username"]: u for u in of(resources, "aws:cognito/user:User")}
    assert sorted(users) == ["alice", "bob"]
    buckets = named(resources, "aws:s3/bucket:Bucket")
    for user in users:
        assert buckets[f"pandasdb-user-{user}"]["bucket"] == bucket_of(user)


def test_table_has_pitr_encryption_and_the_adapters_keys(deployed):
    resources, _ = deployed
    (table,) = of(resources, "aws:dynamodb/table:Table")
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["serverSideEncryption"] == {"enabled": True}
    assert table["deletionProtectionEnabled"] is True
    assert (table["hashKey"], table["rangeKey"], table["billingMode"]) == (
        "pk",
        "sk",
        "PAY_PER_REQUEST",
    )


def full_paths(resources) -> dict[str, str]:
    """API Gateway resource id -> its full path, from the mocked resources."""
    parts = {
        f"{name}-id": (r["pathPart"], r["parentId"])
        for name, r in named(resources, "aws:apigateway/resource:Resource").items()
    }

    def path(rid: str) -> str:
        if rid == "root":
            return ""
        part, parent = parts[rid]
        return f"{path(parent)}/{part}"

    return {rid: path(rid) or "/" for rid in [*parts, "root"]}


def gateway_match(deployed_methods: dict[tuple[str, str], dict], method: str, path: str):
    """The deployed method API Gateway picks for ``method path``: it matches the resource by
    path alone (a static part beats a ``{proxy+}`` sibling), then needs the method there."""
    resource = gateway_resource(
        path,
        {
            "/".join(r.split("/")[:n]) or "/"
            for r, _ in deployed_methods
            for n in range(2, r.count("/") + 2)
        },
    )
    return deployed_methods.get((resource, method)) if resource else None


def deployed_methods(resources) -> dict[tuple[str, str], dict]:
    paths = full_paths(resources)
    return {
        (paths[m["resourceId"]], m["httpMethod"]): m
        for m in of(resources, "aws:apigateway/method:Method")
    }


def test_deployed_methods_serve_exactly_the_route_table(deployed):
    """Every route of the table reaches the function through a deployed method with the
    route's authorization, and every deployed method serves a route of the table (or is its
    resource's CORS preflight)."""
    resources, _ = deployed
    methods = deployed_methods(resources)
    used = set()
    for route, frame in itertools.product(ROUTES, FRAME_NAMES):
        concrete = re.sub(r"\{\w+\}", frame, route.path)
        if find(route.method, concrete) is not route:
            continue  # e.g. GET /dataframes/upload/versions is the versions route
        found = gateway_match(methods, route.method, concrete)
        assert found is not None, (route, frame)
        assert found["authorization"] == ("COGNITO_USER_POOLS" if route.auth else "NONE"), route
        used.add(id(found))
    for (resource, method), m in methods.items():
        assert method == "OPTIONS" or id(m) in used, (resource, method)
        if m["authorization"] == "NONE":
            assert "authorizerId" not in m and "requestValidatorId" not in m, resource
        else:
            assert m["authorizerId"] == "pandasdb-api-cognito-id"
            assert m["requestValidatorId"] == "pandasdb-api-validator-id"
    assert all(methods[r, "OPTIONS"]["authorization"] == "NONE" for r, _ in methods)
    assert any(not route.auth for route in ROUTES) == any(
        m["authorization"] == "NONE" for (_, method), m in methods.items() if method != "OPTIONS"
    )
    integrations = of(resources, "aws:apigateway/integration:Integration")
    assert len(integrations) == len(methods)
    assert {i["uri"] for i in integrations} == {
        "arn:aws:apigateway:us-east-1:lambda:path/pandasdb-api"
    }


def Route(method: str, path: str, auth: bool = True) -> SimpleNamespace:
    return SimpleNamespace(method=method, path=path, auth=auth)


def test_routes_without_auth_get_no_authorizer_and_conflicts_are_refused():
    methods = gateway_methods([Route("GET", "/auth/config", auth=False), Route("GET", "/a")])
    assert [(m.resource, m.method, m.auth) for m in methods] == [
        ("/a", "GET", True),
        ("/a", "OPTIONS", False),
        ("/auth/config", "GET", False),
        ("/auth/config", "OPTIONS", False),
    ]
    with pytest.raises(ValueError, match="cannot tell them apart"):
        gateway_methods([Route("GET", "/f/{name}"), Route("GET", "/f/{name}/x", auth=False)])


def test_stage_logging_tracing_and_throttling(deployed):
    resources, _ = deployed
    (stage,) = of(resources, "aws:apigateway/stage:Stage")
    assert stage["stageName"] == "prod" and stage["xrayTracingEnabled"] is True
    assert "destinationArn" in stage["accessLogSettings"]
    (throttle,) = of(resources, "aws:apigateway/methodSettings:MethodSettings")
    assert throttle["settings"]["throttlingRateLimit"] == 50.0


def test_every_log_group_has_the_configured_retention(deployed):
    resources, _ = deployed
    groups = of(resources, "aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == 4  # two functions, API access and execution logs
    assert all(g["retentionInDays"] == 14 for g in groups)


def _statements(resources) -> list[tuple[str, dict]]:
    return [
        (name, statement)
        for name, outputs in named(resources, "aws:iam/rolePolicy:RolePolicy").items()
        for statement in json.loads(outputs["policy"])["Statement"]
    ]


def test_no_policy_has_wildcard_actions_or_wildcard_data_resources(deployed):
    resources, _ = deployed
    statements = _statements(resources)
    assert len(statements) >= 8
    for name, statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all("*" not in action for action in actions), (name, actions)
        if any(a.startswith(DATA_PREFIXES) for a in actions):
            assert all(r != "*" and not r.endswith(":*:*") for r in statement["Resource"])


def test_data_role_reaches_only_this_stages_user_buckets_and_table(deployed):
    resources, _ = deployed
    policies = named(resources, "aws:iam/rolePolicy:RolePolicy")
    policy = json.loads(policies["pandasdb-api-data-access"]["policy"])
    reached = {r for s in policy["Statement"] for r in s["Resource"]}
    pattern = f"arn:aws:s3:::{PREFIX}-{'?' * 32}"
    assert reached == {
        pattern,
        f"{pattern}/*",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/pandasdb-meta",
    }
    s3 = [r for r in reached if r.startswith("arn:aws:s3:::") and not r.endswith("/*")]
    for bucket in (bucket_of("alice"), bucket_of("bob")):
        assert fnmatch.fnmatchcase(f"arn:aws:s3:::{bucket}", s3[0])
    for other in (f"{PREFIX}-logs", f"{PREFIX}-artifacts", f"pdb-prod-eu-{ACCOUNT}-x"):
        assert not fnmatch.fnmatchcase(f"arn:aws:s3:::{other}", s3[0]), other
    function = json.loads(policies["pandasdb-api-function-access"]["policy"])
    assume = [s for s in function["Statement"] if s["Action"] == ["sts:AssumeRole"]]
    assert assume[0]["Resource"] == [f"arn:aws:iam::{ACCOUNT}:role/pandasdb-api-data-role"]
    roles = named(resources, "aws:iam/role:Role")
    trust = json.loads(roles["pandasdb-api-data-role"]["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{ACCOUNT}:role/pandasdb-api-function-role"
    }


def test_sign_up_trigger_may_only_configure_user_buckets(deployed):
    resources, _ = deployed
    policy = json.loads(
        named(resources, "aws:iam/rolePolicy:RolePolicy")["pandasdb-provisioning-access"]["policy"]
    )
    (logs, buckets) = policy["Statement"]
    assert buckets["Resource"] == [f"arn:aws:s3:::{PREFIX}-{'?' * 32}"]
    assert "s3:CreateBucket" in buckets["Action"]
    assert not any(a in buckets["Action"] for a in ("s3:GetObject", "s3:PutObject"))
    (pool,) = of(resources, "aws:cognito/userPool:UserPool")
    functions = named(resources, "aws:lambda/function:Function")
    assert pool["lambdaConfig"]["postConfirmation"] == functions["pandasdb-provisioning"]["arn"]
    invoke = [
        p
        for p in of(resources, "aws:lambda/permission:Permission")
        if p["principal"] == "cognito-idp.amazonaws.com"
    ]
    assert invoke[0]["sourceArn"] == pool["arn"]


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_a_users_session_names_only_their_bucket_and_key_prefix(user):
    bucket = bucket_of(user)
    doc = user_data_policy(f"arn:aws:s3:::{bucket}", "arn:aws:dynamodb:r:1:table/t", sub_of(user))
    s3_resources = {r for s in doc["Statement"] for r in s["Resource"] if ":s3:" in r}
    assert s3_resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    leading = [
        s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for s in doc["Statement"]
        if "Condition" in s
    ]
    assert leading == [[f"{sub_of(user)}#*"]]


def test_function_configuration(deployed):
    resources, outputs = deployed
    functions = named(resources, "aws:lambda/function:Function")
    api = functions["pandasdb-api"]
    assert api["handler"] == "pandasdb_lambdas.aws.handler"
    assert functions["pandasdb-provisioning"]["handler"] == "pandasdb_lambdas.provisioning.handler"
    env = api["environment"]["variables"]
    assert env["PANDASDB_BUCKET_PREFIX"] == PREFIX and "PANDASDB_BUCKETS" not in env
    assert env["PANDASDB_TABLE"] == "pandasdb-meta"
    (client_name,) = named(resources, "aws:cognito/userPoolClient:UserPoolClient")
    assert env["PANDASDB_CLIENT_IDS"] == f"{client_name}-id"  # the mocks' id for a resource
    assert api["tracingConfig"] == {"mode": "Active"}
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
        "Stored bytes (user buckets)",
    ]
    alarms = named(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert sorted(alarms) == [
        "pandasdb-monitoring-api-5xx-rate",
        "pandasdb-monitoring-function-errors",
        "pandasdb-monitoring-provisioning-errors",
    ]
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:pandasdb-monitoring-alarms"
    assert all(a["alarmActions"] == [topic] for a in alarms.values())
    (subscription,) = of(resources, "aws:sns/topicSubscription:TopicSubscription")
    assert subscription["endpoint"] == "ops@example.com"


def test_cognito_admin_created_users_and_password_policy(deployed):
    resources, _ = deployed
    (pool,) = of(resources, "aws:cognito/userPool:UserPool")
    assert pool["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}
    assert pool["passwordPolicy"]["minimumLength"] >= 12
    (client,) = of(resources, "aws:cognito/userPoolClient:UserPoolClient")
    assert client["generateSecret"] is False


@pytest.mark.parametrize(
    "raw, message",
    [
        (["Alice"], "a-z0-9"),
        (["a", "a"], "twice"),
        ("alice", "must be a list"),
    ],
)
def test_bad_user_config_is_refused(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_users(raw)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"bucket_prefix": "Prod_Data"}, "pandasdb:bucketPrefix"),
        ({"bucket_prefix": "p" * 31}, "pandasdb:bucketPrefix: .* at most 30"),
        ({"lambda_memory_mb": 64}, "pandasdb:lambdaMemoryMb"),
        ({"staging_days": 0}, "pandasdb:stagingDays"),
    ],
)
def test_bad_stack_settings_name_their_key(settings, message):
    with pytest.raises(ValueError, match=message):
        StackSettings(users=(), **settings)


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


def test_the_example_stack_config_is_valid_and_owns_the_account_logging_role():
    """Pulumi.prod.yaml, the README's example of a first stack on a fresh account: every key
    is a setting the program reads, the values pass its checks, and it creates API Gateway's
    account logging role (without which a fresh account's first stage fails: API Gateway
    developer guide, "Set up CloudWatch logging for REST APIs")."""
    import pulumi.runtime.config as runtime_config
    import yaml

    from infra import config as infra_config

    root = Path(__file__).resolve().parents[1]
    example = yaml.safe_load((root / "Pulumi.prod.yaml").read_text())["config"]
    read = set(re.findall(r'cfg\.get\w*\("(\w+)"\)', Path(infra_config.__file__).read_text()))
    ours = {key.split(":", 1)[1] for key in example if key.startswith("pandasdb:")}
    assert ours <= read, ours - read

    def load():
        runtime_config.set_all_config(
            {k: v if isinstance(v, str) else json.dumps(v) for k, v in example.items()}
        )
        return infra_config.load_settings()

    # in a copy of the context: the config stays as it was for the other tests
    settings = contextvars.copy_context().run(load)
    assert settings.manage_account_logging is True
    assert [u.name for u in settings.users] == ["alice", "bob"]
    assert settings.tags == {"app": "pandasdb", "stage": "prod"}
    # and says, where it sets it, that only the first stack of the account and region does
    said = (root / "Pulumi.prod.yaml").read_text().split("pandasdb:manageAccountLogging")[0]
    assert "ONE stack" in said and "first" in said
