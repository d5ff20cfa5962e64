"""Helpers for the tests (not a test module): pandasdb's API as deployed on AWS, as far as this
machine can have one. The Lambda entry (``pandasdb_lambdas.aws.handler``) runs behind a local HTTP
server that plays API Gateway: a Cognito authorizer that checks each ID token's RS256
signature against the pool's published keys, its issuer, expiry and use, as API Gateway's
COGNITO_USER_POOLS authorizer does, and answers 401 ``{"message": "Unauthorized"}`` itself.
S3, DynamoDB and Cognito are moto's HTTP server; clients reach Cognito there too
(``AWS_ENDPOINT_URL``), over real HTTP.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from pandasdb_lambdas import aws as aws_entry

from pandasdb_core.adapters.aws_access import user_bucket_name
from pandasdb_core.adapters.dynamodb import create_table
from pandasdb_core.http_routes import find

PREFIX = "pdb-test-123456789012"
PASSWORD = "Real-pass-1!"


@dataclass
class Authorizer:
    """API Gateway's Cognito authorizer: a token's claims, or None (401)."""

    keys: KeySet
    issuer: str
    #: seconds added to the clock, to make tokens expire
    skew: float = 0.0
    #: every token presented, in order
    seen: list[str] = field(default_factory=list)
    #: tokens refused whatever they hold (as if revoked)
    refused: set[str] = field(default_factory=set)

    def claims(self, header: str | None) -> dict[str, Any] | None:
        value = (header or "").strip()
        if value.lower().startswith("bearer "):  # both forms work, as on API Gateway
            value = value[7:].strip()
        if not value:
            return None
        self.seen.append(value)
        if value in self.refused:
            return None
        try:
            claims = jwt.decode(value, self.keys, algorithms=["RS256"]).claims
        except Exception:  # a malformed token or a bad signature
            return None
        fresh = claims.get("exp", 0) > time.time() + self.skew
        if not fresh or claims.get("iss") != self.issuer or claims.get("token_use") != "id":
            return None
        return claims


@dataclass
class Deployment:
    """One deployed stage: its URL, pool, app clients, users and authorizer."""

    url: str
    pool_id: str
    client_id: str
    #: another app client of the same pool, whose tokens the API must refuse
    other_client_id: str
    users: tuple[str, ...]
    authorizer: Authorizer

    def add_user(
        self,
        user: str,
        password: str = PASSWORD,
        *,
        temporary: bool = False,
        provisioned: bool = True,
    ) -> None:
        """A Cognito user with their bucket (none unless ``provisioned``); a ``temporary``
        password must be replaced at the first sign-in (Cognito's NEW_PASSWORD_REQUIRED)."""
        idp = boto3.client("cognito-idp")
        idp.admin_create_user(
            UserPoolId=self.pool_id,
            Username=user,
            TemporaryPassword=password,
            MessageAction="SUPPRESS",
        )
        if not temporary:
            idp.admin_set_user_password(
                UserPoolId=self.pool_id, Username=user, Password=password, Permanent=True
            )
        if not provisioned:
            return
        attributes = idp.admin_get_user(UserPoolId=self.pool_id, Username=user)["UserAttributes"]
        sub = next(a["Value"] for a in attributes if a["Name"] == "sub")
        boto3.client("s3").create_bucket(Bucket=user_bucket_name(PREFIX, sub))

    def id_token(self, user: str, client_id: str | None = None) -> str:
        """Sign ``user`` in with boto3, as the original backend's SDK did."""
        answer = boto3.client("cognito-idp").initiate_auth(
            ClientId=client_id or self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD},
        )
        return answer["AuthenticationResult"]["IdToken"]


def _event(method: str, target: str, headers: dict[str, str], body: bytes, claims: Any) -> dict:
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    kind = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    # API Gateway hands binary media types (parquet) to the function as base64
    binary = bool(body) and not kind.startswith(("application/json", "text/"))
    text = (base64.b64encode(body).decode() if binary else body.decode()) if body else None
    return {
        "resource": "/{proxy+}",
        # as a REST API sends them: the path as received, its proxy part decoded once
        "path": parts.path,
        "pathParameters": {"proxy": unquote(parts.path).lstrip("/")},
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": {
            "requestId": uuid.uuid4().hex,
            "stage": "test",
            "authorizer": {"claims": claims} if claims else {},
        },
        "body": text,
        "isBase64Encoded": binary,
    }


def _gateway(authorizer: Authorizer) -> type[BaseHTTPRequestHandler]:
    class Gateway(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            route = find(self.command, unquote(urlsplit(self.path).path))
            claims = None
            if route is not None and route.auth:
                claims = authorizer.claims(self.headers.get("Authorization"))
                if claims is None:
                    return self._answer(
                        401, {"Content-Type": "application/json"}, b'{"message":"Unauthorized"}'
                    )
            event = _event(self.command, self.path, dict(self.headers.items()), body, claims)
            response = aws_entry.handler(event, None)
            raw = response.get("body") or ""
            data = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
            headers = dict(response.get("headers") or {})
            headers.update({k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()})
            self._answer(response["statusCode"], headers, data)

        def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _handle

        def log_message(self, *args: Any) -> None:  # keep the test output quiet
            pass

    return Gateway


@contextmanager
def deployed(
    moto_url: str, monkeypatch: Any, users: tuple[str, ...] = ("alice", "bob")
) -> Iterator[Deployment]:
    """A stage on moto's server: table, user pool with the SDK's app client and another one,
    ``users`` with permanent passwords and their buckets, and the API at a local URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    table = f"t-{uuid.uuid4().hex[:12]}"
    create_table(boto3.client("dynamodb"), table)
    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName=f"p-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]
    flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    client_id, other_id = (
        idp.create_user_pool_client(UserPoolId=pool, ClientName=name, ExplicitAuthFlows=flows)[
            "UserPoolClient"
        ]["ClientId"]
        for name in ("sdk", "other-app")
    )
    for key, value in {
        "PANDASDB_TABLE": table,
        "PANDASDB_BUCKET_PREFIX": PREFIX,
        "PANDASDB_USER_POOL_ID": pool,
        "PANDASDB_CLIENT_IDS": client_id,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(aws_entry, "_stores", {})
    jwks = requests.get(f"{moto_url}/{pool}/.well-known/jwks.json", timeout=30).json()
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool}"
    authorizer = Authorizer(KeySet.import_key_set(jwks), issuer)
    server = HTTPServer(("127.0.0.1", 0), _gateway(authorizer))  # one request at a time
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stage = Deployment(
        f"http://127.0.0.1:{server.server_address[1]}", pool, client_id, other_id, users, authorizer
    )
    for user in users:
        stage.add_user(user)
    try:
        yield stage
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
