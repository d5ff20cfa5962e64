"""``pandasdb serve`` applies API Gateway's rules, so clients tested against it meet what AWS
does. One test per rule, each naming the AWS document it follows. Real servers, real HTTP;
where a rule is about what the function does (sleeps, answers too much), the function is
the real handler wrapped, or a stub that records what it received (in a file: handlers run in
worker processes)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from functools import partial

import polars as pl
import pytest
import requests
from pandasdb_lambdas.handler import make_handler
from pandasdb_lambdas.local_gateway import BINARY_MEDIA_TYPES, LAMBDA_MAX_REQUEST
from serving import is_error, recorded, recording_handler, serving

PARQUET = "application/vnd.apache.parquet"
ORIGIN = {"Origin": "https://app.example"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_cors(response: requests.Response) -> None:
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_request_body_over_10_mb_is_413_with_cors(open_server):
    """API Gateway quotas, "Payload size 10 MB" for REST APIs
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html); gateway
    responses carry CORS headers ("Enabling CORS for a REST API resource")."""
    big = b"x" * (10 * 1024 * 1024 + 1)
    for body in (big, iter([big[:5_000_000], big[5_000_000:]])):  # sized, then chunked
        response = requests.post(
            f"{open_server.url}/dataframes/upload",
            data=body,
            headers={"Content-Type": "text/csv", **ORIGIN},
        )
        assert response.status_code == 413
        assert is_error(response.json(), "too_large")
        assert "staging" in response.json()["message"]
        assert_cors(response)
    # the connection was read to the end: the server still answers
    assert requests.get(f"{open_server.url}/dataframes").status_code == 200


def test_lambdas_6_mb_is_measured_after_base64(tmp_path):
    """Lambda quotas, "Invocation payload 6 MB" synchronous
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), measured on
    the event, where a binary body is base64 ("Binary media types for REST APIs",
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html):
    4.8 MB of parquet is refused, 4.8 MB of CSV text reaches the function, and 3.5 MB of
    newlines, which JSON escapes to 7 MB, does not."""
    events = tmp_path / "events.jsonl"
    size = 4_800_000
    with serving(
        tmp_path / "data", handler_factory=partial(recording_handler, events, None)
    ) as url:
        binary = requests.post(
            f"{url}/dataframes/upload",
            data=os.urandom(size),
            headers={"Content-Type": PARQUET, **ORIGIN},
        )
        assert binary.status_code == 413 and recorded(events) == []
        assert is_error(binary.json(), "too_large") and "base64" in binary.json()["message"]
        assert_cors(binary)
        text = requests.post(
            f"{url}/dataframes/upload", data=b"a\n" + (b"7" * 999 + b"\n") * 4800, headers=ORIGIN
        )
        assert text.status_code == 200
        assert len(recorded(events)) == 1 and not recorded(events)[0]["isBase64Encoded"]
        # newlines are escaped in the event's JSON: 3.5 MB of them weigh 7 MB there
        escaped = requests.post(f"{url}/dataframes/upload", data=b"a\n" + b"\n" * 3_500_000)
        assert escaped.status_code == 413 and len(recorded(events)) == 1
        assert len(json.dumps(recorded(events)[0])) < LAMBDA_MAX_REQUEST


@pytest.mark.parametrize(
    "body, encoded, status",
    [
        (base64.b64encode(b"\0" * 4_000_000).decode(), True, 200),
        (base64.b64encode(b"\0" * 4_800_000).decode(), True, 502),  # 6.4 MB once base64
        ('"' * 3_500_000, False, 502),  # 7 MB once JSON-escaped
    ],
)
def test_a_response_over_6_mb_after_encoding_is_api_gateways_502(tmp_path, body, encoded, status):
    """Lambda refuses a response over 6 MB (Lambda quotas, as above; its JSON, base64 and
    escapes included) and API Gateway then answers 502 {"message": "Internal server error"}
    ("How do I resolve HTTP 502 errors from API Gateway REST APIs with Lambda proxy
    integration?", https://repost.aws/knowledge-center/malformed-502-api-gateway)."""
    answer = {
        "statusCode": 200,
        "headers": {"Content-Type": "application/octet-stream"},
        "body": body,
        "isBase64Encoded": encoded,
    }
    stub = partial(recording_handler, tmp_path / "events.jsonl", answer)
    with serving(tmp_path / "data", handler_factory=stub) as url:
        response = requests.get(
            f"{url}/dataframes/x", headers={"Accept": "application/octet-stream", **ORIGIN}
        )
    assert response.status_code == status
    if status == 502:
        assert response.json() == {"message": "Internal server error"}
        assert_cors(response)


def test_binary_only_when_the_first_accept_type_is_binary(open_server):
    """ "API Gateway uses the first Accept header from clients to determine if a response
    should return binary media"; otherwise the client receives the base64 text ("Binary media
    types for REST APIs", as above)."""
    name = unique("accept")
    base = open_server.url
    requests.post(
        f"{base}/dataframes/upload", json={"dataframe": "a\n1\n2\n", "dataframe_name": name}
    ).raise_for_status()
    url = f"{base}/dataframes/{name}?format=parquet"
    for accept in (PARQUET, "application/octet-stream", f"{PARQUET};q=0.5, */*"):
        raw = requests.get(url, headers={"Accept": accept})
        assert raw.content[:4] == b"PAR1", accept
        assert pl.read_parquet(io.BytesIO(raw.content))["a"].to_list() == [1, 2]
    for accept in ("*/*", f"text/html, {PARQUET}", None):
        text = requests.get(url, headers={"Accept": accept})
        assert text.status_code == 200 and text.content[:4] != b"PAR1", accept
        frame = pl.read_parquet(io.BytesIO(base64.b64decode(text.content)))
        assert frame["a"].to_list() == [1, 2]


@pytest.mark.parametrize(
    "accept, fmt",
    [
        ("text/csv;q=0.1, application/json", "json"),
        ("application/json;q=0, text/csv", "csv"),
        ("text/*", "csv"),
        ("image/png, */*;q=0.1", "json"),
        ("application/xml", "json"),
        (f"application/json;q=0.5, {PARQUET}", "parquet"),
        (f"{PARQUET};q=0.9, text/csv", "csv"),
    ],
)
def test_accept_q_values_choose_the_format(open_server, accept, fmt):
    """The highest q wins (ties by order, q=0 refuses); API Gateway still decides binary by
    the first type alone, so parquet chosen after a text type arrives as base64 text."""
    name = unique("q")
    base = open_server.url
    requests.post(
        f"{base}/dataframes/upload", json={"dataframe": "a\n1\n2\n", "dataframe_name": name}
    ).raise_for_status()
    response = requests.get(f"{base}/dataframes/{name}", headers={"Accept": accept})
    assert response.status_code == 200, response.text
    media = {"json": "application/json", "csv": "text/csv", "parquet": PARQUET}[fmt]
    assert response.headers["Content-Type"].startswith(media), accept
    if fmt == "json":
        assert response.json() == [{"a": 1}, {"a": 2}]
    elif fmt == "csv":
        assert response.text == "a\n1\n2\n"
    else:
        assert response.content[:4] != b"PAR1", "the first type is not binary: base64 text"
        frame = pl.read_parquet(io.BytesIO(base64.b64decode(response.content)))
        assert frame["a"].to_list() == [1, 2]


def test_an_accept_header_that_refuses_every_format_is_a_clear_400(open_server):
    name = unique("q")
    base = open_server.url
    requests.post(
        f"{base}/dataframes/upload", json={"dataframe": "a\n1\n", "dataframe_name": name}
    ).raise_for_status()
    for accept in ("application/json;q=0", "*/*;q=0"):
        refused = requests.get(f"{base}/dataframes/{name}", headers={"Accept": accept})
        assert refused.status_code == 400 and is_error(refused.json(), "invalid_argument")
        assert (
            "Accept" in refused.json()["error"]
            and "refuses every format" in refused.json()["error"]
        )
    explicit = requests.get(
        f"{base}/dataframes/{name}", params={"format": "csv"}, headers={"Accept": accept}
    )
    assert explicit.status_code == 200 and explicit.text == "a\n1\n", "format= decides"


def test_the_stacks_binary_media_types_are_the_servers():
    """The server's list is the stack's ``binaryMediaTypes``."""
    pytest.importorskip("pulumi_aws")
    from infra.api import BINARY_TYPES

    assert list(BINARY_MEDIA_TYPES) == BINARY_TYPES


def test_a_binary_body_needs_a_binary_content_type(open_server):
    """API Gateway passes a body as text unless its Content-Type is a binary media type
    ("Binary media types for REST APIs", as above): non-UTF-8 bytes sent as text would be
    corrupted, so the server refuses them with a hint."""
    response = requests.post(
        f"{open_server.url}/dataframes/upload?dataframe_name=x",
        data=b"PAR1\xff\xfe\x00",
        headers={"Content-Type": "application/x-parquet"},
    )
    assert response.status_code == 415
    assert PARQUET in response.json()["message"]


def slow_uploads(seconds: float, resolve):
    """The real handler, whose uploads first wait ``seconds``."""
    real = make_handler(resolve)

    def handler(event, context):
        if event["path"] == "/dataframes/upload":
            time.sleep(seconds)
        return real(event, context)

    return handler


def test_a_function_over_the_timeout_gets_504_and_its_work_goes_on(tmp_path):
    """API Gateway quotas, "Maximum integration timeout 29 seconds" (configurable here: 1 s);
    the client gets INTEGRATION_TIMEOUT's 504 {"message": "Endpoint request timed out"} while
    the function runs on ("Gateway response types",
    https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html)."""
    name = unique("slow")
    with serving(
        tmp_path / "data", handler_factory=partial(slow_uploads, 2.0), gateway_timeout=1
    ) as url:
        response = requests.post(
            f"{url}/dataframes/upload",
            json={"dataframe": "a\n1\n", "dataframe_name": name},
            headers=ORIGIN,
        )
        assert response.status_code == 504
        assert response.json() == {"message": "Endpoint request timed out"}
        assert_cors(response)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            versions = requests.get(f"{url}/dataframes/{name}/versions")
            if versions.status_code == 200:
                break
            threading.Event().wait(0.2)
        assert [v["version"] for v in versions.json()] == [1], "the upload committed anyway"


def test_a_preflight_reaches_the_function_without_claims_or_token(tmp_path):
    """A CORS preflight meets no authorizer ("Enabling CORS for a REST API resource",
    https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html): OPTIONS
    needs no token and its event carries no claims; nor do the routes the route table marks
    public."""
    events = tmp_path / "events.jsonl"
    with serving(
        tmp_path / "data",
        users={"alice": "token-alice-1"},
        handler_factory=partial(recording_handler, events, None),
    ) as url:
        response = requests.options(
            f"{url}/dataframes/upload",
            headers={**ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 200
        assert [e["httpMethod"] for e in recorded(events)] == ["OPTIONS"]
        assert "authorizer" not in recorded(events)[0]["requestContext"]
        public = requests.get(f"{url}/openapi.json")  # a route without auth
        assert public.status_code == 200
        assert "authorizer" not in recorded(events)[1]["requestContext"]
        assert requests.get(f"{url}/dataframes").status_code == 401
        assert len(recorded(events)) == 2, "a request without a token never reaches the function"


def test_without_gateway_rules_binary_is_raw_and_nothing_is_measured(tmp_path):
    """``--no-gateway-rules``: for local work only; the gateway's limits and encodings are off."""
    events = tmp_path / "events.jsonl"
    answer = {
        "statusCode": 200,
        "headers": {"Content-Type": PARQUET},
        "body": base64.b64encode(b"\0" * 4_800_000).decode(),
        "isBase64Encoded": True,
    }
    with serving(
        tmp_path / "data",
        handler_factory=partial(recording_handler, events, answer),
        gateway_rules=False,
    ) as url:
        response = requests.get(f"{url}/dataframes/x", headers={"Accept": "*/*"})
        assert response.status_code == 200 and response.content == b"\0" * 4_800_000
        upload = requests.post(
            f"{url}/dataframes/upload",
            data=b"\0" * 4_800_000,
            headers={"Content-Type": PARQUET},
        )
        assert upload.status_code == 200 and recorded(events)[-1]["isBase64Encoded"]


def test_the_serve_command_takes_the_gateway_options(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pandasdb_core.cli",
            "serve",
            "--data",
            str(tmp_path / "data"),
            "--port",
            "0",
            "--no-gateway-rules",
            "--gateway-timeout",
            "3",
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        line = proc.stdout.readline().decode()
        assert "gateway rules off" in line and "http://127.0.0.1:" in line
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert requests.get(f"{url}/dataframes").json() == []
    finally:
        proc.terminate()
        proc.wait(10)
    bad = subprocess.run(
        [sys.executable, "-m", "pandasdb_core.cli", "serve", "--gateway-timeout", "0"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "must be positive" in bad.stderr


@pytest.mark.parametrize(
    "body",
    [
        "UEFSMQ==" * 1000,
        "a,b\n1,2\n",
        'say "hi"',
        "back\\slash",
        "caf\u00e9",
        "tab\there",
        "\x7f",
        "",
        None,
    ],
)
def test_lambdas_6_mb_are_measured_exactly_without_encoding_base64(body):
    """The event's and the response's sizes are their JSON's bytes (escapes included), as
    before; a body that needs no escape (base64) is measured by its length, not encoded."""
    from pandasdb_lambdas.local_gateway import event_size, json_size, proxy_event

    document = {
        "statusCode": 200,
        "headers": {"X": "\u00e9"},
        "body": body,
        "isBase64Encoded": True,
    }
    assert json_size(document) == len(json.dumps(document).encode())
    raw = (body or "").encode()
    for kind in ("application/vnd.apache.parquet", "text/csv"):
        event = proxy_event(
            "POST", "/x?a=%C3%A9", [("Content-Type", kind)], raw, None, "", strict=False
        )
        assert event_size(event) == len(json.dumps(event).encode())
