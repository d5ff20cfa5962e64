"""The Lambda handler on API Gateway proxy events under moto: S3, DynamoDB, Cognito claims."""

from __future__ import annotations

import base64
import io
import json
import time
from urllib.parse import parse_qs, urlsplit

import boto3
import polars as pl
import pytest
import requests
from pandasdb_lambdas import aws as aws_entry
from pandasdb_lambdas.context import (
    ANSWER_MARGIN_S,
    GATEWAY_TIMEOUT_S,
    StoreContext,
    request_deadline,
)
from pandasdb_lambdas.handler import make_handler

import pandasdb_core as pdb
from pandasdb_core.adapters.aws_access import user_bucket_name
from pandasdb_core.adapters.memory import MemoryBlobStore, MemoryMetadataStore
from pandasdb_core.errors import CommitConflict


def cognito_claims(username: str, pool_id: str, client_id: str) -> dict[str, dict]:
    """Sign a user in through moto's Cognito; return the claims of the ``IdToken`` and of
    the ``AccessToken``."""
    idp = boto3.client("cognito-idp")
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        TemporaryPassword="Temp-pass-1!",
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password="Real-pass-1!", Permanent=True
    )
    tokens = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": "Real-pass-1!"},
    )
    return {
        kind: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        for kind in ("IdToken", "AccessToken")
        for part in [tokens["AuthenticationResult"][kind].split(".")[1]]
    }


def event(
    method: str,
    path: str,
    claims: dict | None,
    *,
    query: dict | None = None,
    body: bytes | str | None = None,
    headers: dict | None = None,
) -> dict:
    binary = isinstance(body, bytes)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers or {},
        "multiValueHeaders": {},
        "queryStringParameters": {k: v[-1] for k, v in (query or {}).items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": {
            "requestId": "req-1",
            "stage": "prod",
            "authorizer": {"claims": claims} if claims else {},
        },
        "body": base64.b64encode(body).decode() if binary else body,
        "isBase64Encoded": binary,
    }


#: the stage's bucket prefix; a user's bucket is user_bucket_name(PREFIX, their sub)
PREFIX = "pdb-prod-123456789012"


def bucket_of(claims: dict) -> str:
    return user_bucket_name(PREFIX, claims["sub"])


@pytest.fixture
def deployed(aws, monkeypatch):
    """Two provisioned users (buckets named from their sub + table) and their verified
    Cognito claims."""
    from pandasdb_core.adapters.dynamodb import create_table

    create_table(boto3.client("dynamodb"), "pandasdb-prod-meta")
    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="pandasdb-prod")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="sdk", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
    )
    client_id = client["UserPoolClient"]["ClientId"]
    monkeypatch.setenv("PANDASDB_TABLE", "pandasdb-prod-meta")
    monkeypatch.setenv("PANDASDB_BUCKET_PREFIX", PREFIX)
    monkeypatch.setenv("PANDASDB_CLIENT_IDS", client_id)
    monkeypatch.setattr(aws_entry, "_stores", {})
    tokens = {user: cognito_claims(user, pool, client_id) for user in ("alice", "bob")}
    claims = {user: t["IdToken"] for user, t in tokens.items()}
    claims["alice-access"] = tokens["alice"]["AccessToken"]
    for user in ("alice", "bob"):
        boto3.client("s3").create_bucket(Bucket=bucket_of(claims[user]))
    other = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="other-app", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    # a valid token of the same pool, issued to another app, naming alice
    carol = cognito_claims("carol", pool, other)["IdToken"]
    claims["other-app"] = {**carol, "cognito:username": "alice"}
    return claims


def call(ev: dict) -> tuple[int, dict, bytes]:
    response = aws_entry.handler(ev, None)
    raw = response["body"] or ""
    data = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    headers = dict(response.get("headers") or {})
    headers.update({k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()})
    return response["statusCode"], headers, data


def test_upload_read_list_versions_delete_on_s3_and_dynamodb(deployed):
    alice = deployed["alice"]
    status, _, body = call(
        event(
            "POST",
            "/dataframes/upload",
            alice,
            body=json.dumps(
                {
                    "dataframe": "ts,v\n2024-01-01,1\n2024-01-02,2\n",
                    "dataframe_name": "sales/daily",
                    "columns_keys": {"ts": "Date"},
                }
            ),
        )
    )
    assert status == 200, body
    keys = json.loads(body)["keys"]
    stored = boto3.client("s3").list_objects_v2(Bucket=bucket_of(alice))["Contents"]
    assert sorted(o["Key"] for o in stored) == sorted(keys)
    items = boto3.client("dynamodb").scan(TableName="pandasdb-prod-meta")["Items"]
    assert all(i["pk"]["S"].startswith(alice["sub"] + "#") for i in items)

    status, headers, body = call(
        event(
            "GET",
            "/dataframes/sales/daily",
            alice,
            query={"format": ["parquet"], "end_date": ["2024-01-01"]},
        )
    )
    assert status == 200 and headers["Content-Type"] == "application/vnd.apache.parquet"
    assert pl.read_parquet(io.BytesIO(body))["v"].to_list() == [1]
    status, _, body = call(event("GET", "/dataframes", alice))
    assert [f["name"] for f in json.loads(body)] == ["sales/daily"]
    status, _, body = call(event("GET", "/dataframes/sales/daily/versions", alice))
    assert [v["version"] for v in json.loads(body)] == [1]
    status, _, _ = call(event("DELETE", "/dataframes/sales/daily", alice))
    assert status == 200
    assert call(event("GET", "/dataframes/sales/daily", alice))[0] == 404


def test_chunk_size_comes_from_the_stack_setting(deployed, monkeypatch):
    monkeypatch.setenv("PANDASDB_CHUNK_ROWS", "2")
    status, _, body = call(
        event(
            "POST",
            "/dataframes/upload",
            deployed["alice"],
            body=json.dumps({"dataframe": "v\n1\n2\n3\n4\n5\n", "dataframe_name": "five"}),
        )
    )
    assert status == 200, body
    assert json.loads(body)["chunk_count"] == 3


def test_storage_follows_the_claims_never_the_request(deployed):
    alice, bob = deployed["alice"], deployed["bob"]
    call(
        event(
            "POST",
            "/dataframes/upload",
            alice,
            body=json.dumps({"dataframe": [{"secret": 987654321}], "dataframe_name": "ledger"}),
        )
    )
    for path in (
        "/dataframes/ledger",
        "/dataframes/ledger/versions",
        f"/dataframes/{bucket_of(alice)}/ledger",
        "/dataframes/..%2Fledger",
    ):
        status, _, body = call(event("GET", path, bob))
        # a value no bucket name, request id or hex can contain by chance
        assert status in (400, 404) and b"987654321" not in body
    assert json.loads(call(event("GET", "/dataframes", bob))[2]) == []
    assert call(event("DELETE", "/dataframes/ledger", bob))[0] == 404
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=bucket_of(bob))
    assert call(event("GET", "/dataframes/ledger", alice))[0] == 200


@pytest.mark.parametrize("claims", [None, {}, {"sub": "../../x"}, {"cognito:username": "alice"}])
def test_missing_or_bad_claims_get_401(deployed, claims):
    status, _, body = call(event("GET", "/dataframes", claims))
    assert status == 401 and json.loads(body)["code"] == "unauthorized"


@pytest.mark.parametrize("username", ["José", "o'brien/ü", "名前", "a+b=c!"])
def test_any_user_name_cognito_allows_is_served_from_the_sub(deployed, username):
    """Cognito API reference, AdminCreateUser and SignUp, Username: 1-128 characters of
    [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}] (letters, marks, symbols, numbers, punctuation of any
    script). Storage follows the sub alone, so a user whose name is outside ASCII
    [A-Za-z0-9._@+-] is served, from their own bucket, instead of getting 401 forever."""
    claims = {**deployed["alice"], "cognito:username": username}
    upload = json.dumps({"dataframe": [{"a": 1}], "dataframe_name": "mine"})
    status, _, body = call(event("POST", "/dataframes/upload", claims, body=upload))
    assert status == 200, body
    stored = boto3.client("s3").list_objects_v2(Bucket=bucket_of(deployed["alice"]))
    assert any(o["Key"].startswith("mine/") for o in stored["Contents"])
    for bad in ("with space", "x" * 129, "tab\t", "nul\x00"):
        status, _, _ = call(event("GET", "/dataframes", {**claims, "cognito:username": bad}))
        assert status == 401, bad


def test_a_token_issued_to_another_app_client_gets_401(deployed):
    """API Gateway's Cognito authorizer does not check the audience; the function does."""
    assert deployed["alice"]["aud"] != deployed["other-app"]["aud"]
    assert call(event("GET", "/dataframes", deployed["alice"]))[0] == 200
    assert call(event("GET", "/dataframes", deployed["alice-access"]))[0] == 200
    status, _, body = call(event("GET", "/dataframes", deployed["other-app"]))
    assert status == 401 and "another app client" in json.loads(body)["message"]


def test_a_user_without_provisioned_storage_gets_401(deployed):
    """A confirmed user whose bucket does not exist (or whose sub cannot name one) gets a
    clear 401, not a 5xx."""
    unprovisioned = "7d444840-9dc0-11d1-b245-5ffdce74fad2"
    for sub in (unprovisioned, "m-1"):
        stranger = dict(deployed["alice"], **{"cognito:username": "mallory", "sub": sub})
        status, _, body = call(event("GET", "/dataframes", stranger))
        assert status == 401 and "no storage provisioned" in json.loads(body)["message"]


def test_staged_upload_through_a_presigned_s3_url(deployed):
    alice = deployed["alice"]
    status, _, body = call(event("POST", "/dataframes/staging", alice))
    staged = json.loads(body)
    assert status == 200 and bucket_of(alice) in staged["url"]
    frame = pl.DataFrame({"x": list(range(1000))})
    buf = io.BytesIO()
    frame.write_parquet(buf)
    assert requests.put(staged["url"], data=buf.getvalue()).status_code == 200
    status, _, body = call(
        event(
            "POST",
            "/dataframes/upload",
            alice,
            query={"staged": [staged["upload_id"]], "dataframe_name": ["staged"]},
        )
    )
    assert status == 200, body
    assert json.loads(body)["rows"] == 1000
    leftovers = boto3.client("s3").list_objects_v2(Bucket=bucket_of(alice), Prefix=".staging/")
    assert "Contents" not in leftovers, "the staged object is removed after the commit"


def test_presigned_urls_are_sigv4(deployed):
    """S3's SigV2 deprecation notice: buckets created since June 2020, and SSE-KMS objects,
    refuse SigV2 signatures, which boto3 still makes for presigned URLs unless the client is
    configured with signature_version="s3v4" (moto accepts both)."""
    status, _, body = call(event("POST", "/dataframes/staging", deployed["alice"]))
    assert status == 200
    query = parse_qs(urlsplit(json.loads(body)["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].endswith("/us-east-1/s3/aws4_request")
    assert "X-Amz-Signature" in query and "X-Amz-Expires" in query
    assert "Signature" not in query and "AWSAccessKeyId" not in query
    # the bucket's regional endpoint, never the global s3.amazonaws.com
    host = urlsplit(json.loads(body)["url"]).hostname
    assert host == f"{bucket_of(deployed['alice'])}.s3.us-east-1.amazonaws.com"


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "af-south-1"])
def test_presigned_urls_name_the_buckets_regional_endpoint(region):
    """S3 user guide, "Temporary redirects" (Making requests, request routing): a request to
    the global endpoint {bucket}.s3.amazonaws.com for a bucket younger than a day, outside
    us-east-1, gets 307 Temporary Redirect to the regional endpoint; a browser cannot follow
    a redirect on a CORS preflight, and the SigV4 signature covers the host it was made for.
    Buckets of opt-in regions (af-south-1) are not served on the global endpoint at all.
    boto3 presigns for the global endpoint unless told to address the bucket virtually
    (boto/boto3 issues #2989 and #2728), so the function's presigning client does."""
    session = boto3.session.Session(
        aws_access_key_id="a", aws_secret_access_key="b", region_name=region
    )
    s3 = aws_entry.presigning_client(session)
    for method in ("get_object", "put_object"):
        url = s3.generate_presigned_url(
            method, Params={"Bucket": "pdb-prod-1-0123", "Key": ".staging/a b"}, ExpiresIn=60
        )
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname) == (
            "https",
            f"pdb-prod-1-0123.s3.{region}.amazonaws.com",
        )
        assert parts.path == "/.staging/a%20b"
        query = parse_qs(parts.query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Credential"][0].endswith(f"/{region}/s3/aws4_request")
        assert query["X-Amz-SignedHeaders"] == ["host"]


def test_large_results_answer_303_with_a_presigned_s3_url(deployed):
    alice = deployed["alice"]
    frame = pl.DataFrame({"x": range(300_000), "y": ["text to make it big"] * 300_000})
    buf = io.BytesIO()
    frame.write_parquet(buf)
    call(
        event(
            "POST",
            "/dataframes/upload",
            alice,
            body=buf.getvalue(),
            query={"dataframe_name": ["big"]},
            headers={"Content-Type": "application/vnd.apache.parquet"},
        )
    )
    status, headers, body = call(event("GET", "/dataframes/big", alice, query={"format": ["csv"]}))
    assert status == 303 and json.loads(body)["rows"] == 300_000
    fetched = requests.get(headers["Location"])
    assert pl.read_csv(fetched.content).equals(frame)


def test_unresolvable_conflicts_answer_409():
    class AlwaysMoved(MemoryMetadataStore):
        def commit(self, *args, **kwargs):
            raise CommitConflict("frame 'f' moved past version 0")

    store = pdb.Store(MemoryBlobStore(), AlwaysMoved(), commit_timeout=0.2)
    handle = make_handler(lambda caller: StoreContext(store, lambda m, k: k))
    response = handle(
        event(
            "POST",
            "/dataframes/upload",
            {"sub": "u1"},
            body=json.dumps({"dataframe": "a\n1\n", "dataframe_name": "f"}),
        ),
        None,
    )
    assert response["statusCode"] == 409
    assert json.loads(response["body"])["code"] == "conflict"


def test_each_caller_assumes_the_data_role_with_their_own_session_policy(deployed, monkeypatch):
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}],
    }
    role = boto3.client("iam").create_role(
        RoleName="pandasdb-data", AssumeRolePolicyDocument=json.dumps(trust)
    )
    monkeypatch.setenv("PANDASDB_DATA_ROLE_ARN", role["Role"]["Arn"])
    monkeypatch.setenv(
        "PANDASDB_TABLE_ARN", "arn:aws:dynamodb:us-east-1:123456789012:table/pandasdb-prod-meta"
    )
    seen: list[dict] = []
    real_client = boto3.client

    def spying_client(service, *args, **kwargs):
        client = real_client(service, *args, **kwargs)
        if service == "sts":
            client.meta.events.register(
                "provide-client-params.sts.AssumeRole", lambda params, **_: seen.append(params)
            )
        return client

    monkeypatch.setattr(boto3, "client", spying_client)
    for user in ("alice", "bob"):
        status, _, body = call(
            event(
                "POST",
                "/dataframes/upload",
                deployed[user],
                body=json.dumps({"dataframe": [{"a": 1}], "dataframe_name": "f"}),
            )
        )
        assert status == 200, body
    assert [p["RoleArn"] for p in seen] == [role["Role"]["Arn"]] * 2
    # named by the sub: AssumeRole takes only [\w+=,.@-] in a session name
    assert [p["RoleSessionName"] for p in seen] == [
        f"pandasdb-{deployed[user]['sub']}" for user in ("alice", "bob")
    ]
    for params, user in zip(seen, ("alice", "bob"), strict=True):
        policy = json.loads(params["Policy"])
        buckets = {r for s in policy["Statement"] for r in s["Resource"] if ":s3:" in r}
        assert buckets == {
            f"arn:aws:s3:::{bucket_of(deployed[user])}",
            f"arn:aws:s3:::{bucket_of(deployed[user])}/*",
        }
        keys = [
            s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            for s in policy["Statement"]
            if "Condition" in s
        ]
        assert keys == [[deployed[user]["sub"] + "#*"]]


class AlwaysMovedStore(MemoryMetadataStore):
    """Every commit loses its race: the request retries until its time is up."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0

    def commit(self, *args, **kwargs):
        self.commits += 1
        raise CommitConflict("frame 'f' moved past version 0")


class LambdaContext:
    """Lambda's context object as the Python runtime gives it: the time left until the
    function's timeout, counted from the start of the invocation."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends - time.monotonic()) * 1000))


def _conflicting_upload(store, context, *, received_ms=None, before_commit_s=0.0):
    """Run an upload that can never commit; return (status, seconds from handler entry)."""

    def resolve(caller):
        time.sleep(before_commit_s)  # e.g. the time a large body takes to arrive and parse
        return StoreContext(store, lambda m, k: k)

    handle = make_handler(resolve)
    ev = event(
        "POST",
        "/dataframes/upload",
        {"sub": "u1"},
        body=json.dumps({"dataframe": "a\n1\n", "dataframe_name": "f"}),
    )
    if received_ms is not None:
        ev["requestContext"]["requestTimeEpoch"] = received_ms
    started = time.monotonic()
    response = handle(ev, context)
    return response["statusCode"], time.monotonic() - started


def test_commit_retries_end_at_the_deadline_taken_at_handler_entry():
    """API Gateway quotas, "Integration timeout" (29 s); Lambda developer guide, "Using the
    Lambda context object to retrieve Python function information"
    (get_remaining_time_in_millis). The commit's retries stop at one deadline taken when the
    request reached the handler, Lambda's remaining time less the answer's margin, however
    long the request spent before its commit loop began: the configured 25 s budget counted
    from the loop's start would run past the function's timeout, and past the gateway's 504."""
    store = pdb.Store(MemoryBlobStore(), AlwaysMovedStore(), commit_timeout=25.0)
    context = LambdaContext(ANSWER_MARGIN_S + 1.0)  # the deadline: 1 s after entry
    status, took = _conflicting_upload(store, context, before_commit_s=0.6)
    assert status == 409
    assert 1.0 <= took < 2.5, f"retried for {took:.2f} s after entry"  # not 25 s
    assert store.meta.commits >= 2, "it did retry until the deadline"
    assert store.commit_timeout == 25.0 and type(store.commit_timeout) is float, (
        "the store keeps its own budget for the next request"
    )


def test_a_cold_start_counts_against_the_gateways_29_s():
    """API Gateway quotas, "Integration timeout": 29 s from when API Gateway received the
    request (requestContext.requestTimeEpoch, "Input format of a Lambda function for proxy
    integration"), a cold start's init included; Lambda's own timeout, and so
    get_remaining_time_in_millis, starts only after the init phase (Lambda developer guide,
    "Understanding the Lambda execution environment lifecycle"). A request that arrives 27 s
    after the gateway received it makes one attempt and answers, instead of retrying for its
    function's 28 s."""
    store = pdb.Store(MemoryBlobStore(), AlwaysMovedStore(), commit_timeout=25.0)
    received = int((time.time() - (GATEWAY_TIMEOUT_S - 2)) * 1000)
    status, took = _conflicting_upload(store, LambdaContext(28.0), received_ms=received)
    assert status == 409 and took < 1.0 and store.meta.commits == 1


def test_the_deadline_is_the_stores_only_for_the_request():
    """The request's deadline is an explicit attribute of the store while the request runs
    (Store.until), and the store has none again after it: a direct call of the same store
    retries for its own commit_timeout."""
    store = pdb.Store(MemoryBlobStore(), AlwaysMovedStore(), commit_timeout=0.3)
    seen: list[float | None] = []

    class Watching(AlwaysMovedStore):
        def commit(self, *args, **kwargs):
            seen.append(store.deadline)
            super().commit(*args, **kwargs)

    store.meta = Watching()
    status, _ = _conflicting_upload(store, LambdaContext(ANSWER_MARGIN_S + 0.5))
    assert status == 409 and seen and all(d is not None for d in seen)
    assert store.deadline is None
    seen.clear()
    started = time.monotonic()
    with pytest.raises(CommitConflict):
        store.upload(pl.DataFrame({"a": [1]}), "f")
    assert 0.3 <= time.monotonic() - started < 2.0 and seen and set(seen) == {None}


def test_the_request_deadline_is_the_earlier_of_lambdas_and_the_gateways():
    """The two clocks of a request (see the tests above): Lambda's remaining time and API
    Gateway's 29 s from requestTimeEpoch, less the answer's margin; neither: no deadline."""
    now = time.monotonic()
    lambda_only = request_deadline({}, LambdaContext(10.0)) - now
    assert 10.0 - ANSWER_MARGIN_S - 0.1 < lambda_only <= 10.0 - ANSWER_MARGIN_S
    received = {"requestContext": {"requestTimeEpoch": int((time.time() - 5) * 1000)}}
    gateway_first = request_deadline(received, LambdaContext(28.0)) - now
    assert abs(gateway_first - (GATEWAY_TIMEOUT_S - 5 - ANSWER_MARGIN_S)) < 0.1
    assert request_deadline({"requestContext": {}}, None) is None
