"""The Cognito post-confirmation trigger under moto: a user who signs themselves up gets a
hardened bucket, their next API request works, and a second confirmation changes nothing."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from infra_mocks import ACCOUNT, deploy, named
from pandasdb_lambdas import aws as aws_entry
from pandasdb_lambdas import provisioning

from infra.config import StackSettings
from pandasdb_core.adapters.aws_access import user_bucket_arn_pattern, user_bucket_name
from pandasdb_core.adapters.bucket_hardening import log_bucket, user_bucket
from pandasdb_core.adapters.dynamodb import create_table

PREFIX = f"pdb-prod-{ACCOUNT}"
LOGS = f"{PREFIX}-logs"
PASSWORD = "Sign-up-pass-1!"


@pytest.fixture
def tls_requests(monkeypatch):
    """moto evaluates only StringEquals conditions and treats any other operator as met
    (moto/iam/policy_conditions.py), so the TLS-only Deny, a Bool condition on
    aws:SecureTransport, matches every request. The SDK's requests are HTTPS, to which the
    Deny does not apply in S3: make moto see it so."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    original = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self, *args, **kwargs):
        if self._statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}:
            return PermissionResult.NEUTRAL
        return original(self, *args, **kwargs)

    monkeypatch.setattr(IAMPolicyStatement, "is_action_permitted", is_action_permitted)


@pytest.fixture
def stage(aws, tls_requests, monkeypatch):
    """What the stack leaves in the account before anyone signs up: the log bucket, the
    table, a user pool whose app client allows self sign-up, and the functions' settings."""
    s3 = boto3.client("s3")
    provisioning.provision(
        s3, LOGS, log_bucket(LOGS, ACCOUNT, user_bucket_arn_pattern(PREFIX), retention_days=30)
    )
    create_table(boto3.client("dynamodb"), "pandasdb-meta")
    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="pandasdb-prod")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="sdk", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    for key, value in {
        "PANDASDB_BUCKET_PREFIX": PREFIX,
        "PANDASDB_LOG_BUCKET": LOGS,
        "PANDASDB_CORS_ORIGINS": "https://app.example.com",
        "PANDASDB_NONCURRENT_DAYS": "30",
        "PANDASDB_STAGING_DAYS": "1",
        "PANDASDB_TABLE": "pandasdb-meta",
        "PANDASDB_CLIENT_IDS": client,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(aws_entry, "_stores", {})
    return idp, pool, client


def sign_up(idp, pool: str, client: str, username: str) -> str:
    """Sign ``username`` up and confirm them; return their sub."""
    sub = idp.sign_up(
        ClientId=client,
        Username=username,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}],
    )["UserSub"]
    idp.admin_confirm_sign_up(UserPoolId=pool, Username=username)
    return sub


def confirmation(pool: str, username: str, sub: str, source: str) -> dict:
    """The event Cognito sends the post-confirmation trigger."""
    return {
        "version": "1",
        "region": "us-east-1",
        "userPoolId": pool,
        "userName": username,
        "triggerSource": source,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown", "clientId": "sdk"},
        "request": {
            "userAttributes": {
                "sub": sub,
                "email": f"{username}@example.com",
                "cognito:user_status": "CONFIRMED",
            }
        },
        "response": {},
    }


def bucket_settings(bucket: str) -> dict:
    """Everything S3 reports about ``bucket``'s protections."""
    s3 = boto3.client("s3")
    return {
        "block": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "ownership": s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"],
        "encryption": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"],
        "policy": json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]),
        "versioning": s3.get_bucket_versioning(Bucket=bucket)["Status"],
        "lifecycle": s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"],
        "cors": s3.get_bucket_cors(Bucket=bucket)["CORSRules"],
        "logging": s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"],
    }


def claims_of(idp, client: str, username: str) -> dict:
    tokens = idp.initiate_auth(
        ClientId=client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    part = tokens["IdToken"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def request(method: str, path: str, claims: dict, body: str | None = None) -> dict:
    return aws_entry.handler(
        {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": {"Content-Type": "application/json"} if body else {},
            "multiValueHeaders": {},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "requestContext": {"requestId": "r", "stage": "prod", "authorizer": {"claims": claims}},
            "body": body,
            "isBase64Encoded": False,
        },
        None,
    )


def test_a_new_user_gets_a_hardened_bucket_and_can_use_it(stage):
    idp, pool, client = stage
    sub = sign_up(idp, pool, client, "carol")
    bucket = user_bucket_name(PREFIX, sub)
    existing = boto3.client("s3").list_buckets().get("Buckets", [])
    assert bucket not in {b["Name"] for b in existing}
    event = confirmation(pool, "carol", sub, "PostConfirmation_ConfirmSignUp")
    assert provisioning.handler(event, None) == event

    found = bucket_settings(bucket)
    assert found["block"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert found["ownership"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    default = found["encryption"]["Rules"][0]
    assert default["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    deny = found["policy"]["Statement"][-1]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert found["versioning"] == "Enabled"
    rules = {r["ID"]: r for r in found["lifecycle"]}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": 30
    }
    assert rules["expire-noncurrent-versions"]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert rules["expire-staging"]["Filter"] == {"Prefix": ".staging/"}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }
    assert found["cors"][0]["AllowedOrigins"] == ["https://app.example.com"]
    assert found["logging"]["TargetBucket"] == LOGS

    # the user's next request finds their storage through the API function
    claims = claims_of(idp, client, "carol")
    assert claims["sub"] == sub
    upload = request(
        "POST",
        "/dataframes/upload",
        claims,
        json.dumps({"dataframe": [{"a": 1}, {"a": 2}], "dataframe_name": "first"}),
    )
    assert upload["statusCode"] == 200, upload["body"]
    listed = request("GET", "/dataframes", claims)
    assert listed["statusCode"] == 200 and "first" in listed["body"]
    keys = boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    assert keys, "the frame's chunks are in the user's own bucket"


def test_a_second_confirmation_changes_nothing(stage):
    idp, pool, client = stage
    sub = sign_up(idp, pool, client, "dave")
    bucket = user_bucket_name(PREFIX, sub)
    provisioning.handler(confirmation(pool, "dave", sub, "PostConfirmation_ConfirmSignUp"), None)
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="kept.txt", Body=b"data")
    before = (bucket_settings(bucket), s3.list_buckets()["Buckets"])

    again = confirmation(pool, "dave", sub, "PostConfirmation_ConfirmForgotPassword")
    assert provisioning.handler(again, None) == again
    assert provisioning.provision(s3, bucket, provisioning.hardening_from_env()) is False
    assert (bucket_settings(bucket), s3.list_buckets()["Buckets"]) == before
    assert s3.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"data"


def test_a_bucket_name_owned_by_another_account_is_refused():
    class Taken:
        class meta:
            region_name = "eu-west-1"

        def head_bucket(self, Bucket):
            raise ClientError({"Error": {"Code": "404"}}, "HeadBucket")

        def create_bucket(self, **kwargs):
            assert kwargs["CreateBucketConfiguration"] == {"LocationConstraint": "eu-west-1"}
            raise ClientError({"Error": {"Code": "BucketAlreadyExists"}}, "CreateBucket")

    with pytest.raises(provisioning.BucketTaken, match="another AWS account"):
        hardening = user_bucket("logs", ("*",), noncurrent_days=1, staging_days=1)
        provisioning.provision(Taken(), "b-x", hardening)


def test_the_trigger_and_the_stack_harden_buckets_alike(monkeypatch):
    """The stack passes the trigger the settings it hardens configured users' buckets with:
    the trigger's hardening, read from the deployed function's environment, is the same."""
    settings = StackSettings(
        users=(), cors_origins=("https://a.example", "https://b.example"), noncurrent_days=7
    )
    resources, _ = deploy(settings, stack="prod")
    variables = named(resources, "aws:lambda/function:Function")["pandasdb-provisioning"][
        "environment"
    ]["variables"]
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    assert provisioning.hardening_from_env() == user_bucket(
        LOGS, settings.cors_origins, noncurrent_days=7, staging_days=settings.staging_days
    )


def test_the_triggers_bucket_policy_names_the_clients_partition():
    """IAM user guide, "IAM identifiers" (ARN format arn:partition:...): a bucket policy of the
    China or GovCloud partitions names its resources there. The trigger's requests take the
    partition of its S3 client, as the stack's take the deployer's."""

    class Recording:
        class meta:
            region_name = "cn-north-1"
            partition = "aws-cn"

        def __init__(self):
            self.sent = []

        def head_bucket(self, Bucket):
            return {}

        def __getattr__(self, method):
            return lambda **params: self.sent.append((method, params))

    s3 = Recording()
    hardening = user_bucket("logs", ("*",), noncurrent_days=1, staging_days=1)
    assert provisioning.provision(s3, "pdb-cn-x", hardening) is False
    (policy,) = [json.loads(p["Policy"]) for m, p in s3.sent if m == "put_bucket_policy"]
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {"arn:aws-cn:s3:::pdb-cn-x", "arn:aws-cn:s3:::pdb-cn-x/*"}
    assert [m for m, _ in s3.sent] == [m for m, _ in hardening.requests("pdb-cn-x")]


#: the tags test_aws_rules_infra deploys with too: the program's stack transformation stays
#: registered in the process after a deploy under mocks
TAGS = {"team": "data", "cost-center": "42"}


def tag_set(bucket: str) -> dict[str, str]:
    found = boto3.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
    return {t["Key"]: t["Value"] for t in found}


def test_a_self_signed_up_users_bucket_carries_the_stacks_tags(stage, monkeypatch):
    """The buckets the stack declares carry ``pandasdb:tags`` (its stack transformation);
    a bucket the sign-up trigger creates gets the same tags, from the stack's settings."""
    idp, pool, client = stage
    monkeypatch.setenv("PANDASDB_BUCKET_TAGS", json.dumps(TAGS))
    sub = sign_up(idp, pool, client, "erin")
    bucket = user_bucket_name(PREFIX, sub)
    provisioning.handler(confirmation(pool, "erin", sub, "PostConfirmation_ConfirmSignUp"), None)
    assert tag_set(bucket) == TAGS
    again = confirmation(pool, "erin", sub, "PostConfirmation_ConfirmForgotPassword")
    provisioning.handler(again, None)
    assert tag_set(bucket) == TAGS


def test_the_stack_passes_its_tags_to_the_trigger_and_lets_it_tag():
    settings = StackSettings(users=(), tags=TAGS)
    resources, _ = deploy(settings, stack="prod")
    variables = named(resources, "aws:lambda/function:Function")["pandasdb-provisioning"][
        "environment"
    ]["variables"]
    assert provisioning.tags_from_env(variables) == TAGS
    policy = json.loads(
        named(resources, "aws:iam/rolePolicy:RolePolicy")["pandasdb-provisioning-access"]["policy"]
    )
    (buckets,) = [s for s in policy["Statement"] if s["Sid"] == "UserBuckets"]
    assert "s3:PutBucketTagging" in buckets["Action"]
    untagged = deploy(StackSettings(users=()), stack="prod")[0]
    plain = named(untagged, "aws:lambda/function:Function")["pandasdb-provisioning"]
    assert "PANDASDB_BUCKET_TAGS" not in plain["environment"]["variables"]


def test_tags_larger_than_the_triggers_environment_are_refused_at_deploy_time():
    """Lambda takes 4 KB of environment variables per function: 50 tags at their longest
    are valid tags (about 20 KB as JSON) but cannot reach the trigger; refused, named."""
    from infra.provisioning import ProvisioningArgs, trigger_environment

    longest = {f"{i:02d}" + "k" * 126: "v" * 256 for i in range(50)}
    settings = StackSettings(users=(), tags=longest)
    hardening = user_bucket(LOGS, ("*",), noncurrent_days=30, staging_days=1)
    with pytest.raises(ValueError, match=r"4,096 .*pandasdb:tags"):
        trigger_environment(ProvisioningArgs(settings, None, PREFIX, LOGS, hardening))
    few = StackSettings(users=(), tags={f"k{i}": "v" * 40 for i in range(20)})
    variables = trigger_environment(ProvisioningArgs(few, None, PREFIX, LOGS, hardening))
    assert len(json.loads(variables["PANDASDB_BUCKET_TAGS"])) == 20


def test_the_shared_documents_name_the_partition_they_are_given():
    """No document is rewritten after it is built: each builder names the partition."""
    assert user_bucket_arn_pattern(PREFIX, "aws-us-gov").startswith("arn:aws-us-gov:s3:::")
    logs = log_bucket(LOGS, ACCOUNT, user_bucket_arn_pattern(PREFIX, "aws-cn"),
                      retention_days=30, partition="aws-cn")  # fmt: skip
    hardening = user_bucket(LOGS, ("*",), noncurrent_days=1, staging_days=1)
    for doc in (logs.policy("l", "aws-cn"), hardening.policy("b", "aws-cn")):
        text = json.dumps(doc)
        assert "arn:aws:" not in text and text.count("arn:aws-cn:") >= 2
    assert not hasattr(provisioning, "in_partition")
