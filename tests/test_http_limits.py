"""API Gateway's limits on what a request may be, as ``pandasdb serve`` applies them and the
SDK keeps to them: the URL and the head (request line and headers, 10,240 bytes), and the
request's content coding. Real servers, real sockets.

Sources: "Quotas for configuring and running a REST API in API Gateway"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html)
and "Call an API method with a compressed payload"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-make-request-with-compressed-payload.html).
"""

from __future__ import annotations

import gzip
import json
import zlib

import pandas as pd
import pytest
import requests
from serving import exchange, is_error, json_body, serving, statuses

import pandasdb_core as pdb
from pandasdb_core import errors
from pandasdb_core.wire import MAX_REQUEST_HEAD

USERS = {"alice": "token-alice-1", "bob": "token-bob-22"}
ALICE = {"Authorization": "Bearer token-alice-1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server with users, and alice's ID-layout frame ``ids`` of ids 0..4999."""
    data = tmp_path_factory.mktemp("limits") / "data"
    with serving(data, users=USERS) as url:
        db = pdb.connect(url, token="token-alice-1")
        db.upload(
            pd.DataFrame({"id": range(5000), "v": range(5000)}),
            "ids",
            columns_keys={"id": "ID"},
            chunk_rows=1000,
        )
        yield url


def raw_get(url: str, target: str, headers: dict[str, str]) -> bytes:
    """A GET with exactly this target and these headers (and Host), on a new connection."""
    host = url.split("//", 1)[1]
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return exchange(url, ("\r\n".join(lines) + "\r\n\r\n").encode())


def head_of(url: str, target: str, headers: dict[str, str]) -> int:
    """The size of that request's head as the quota counts it (line and header lines)."""
    host = url.split("//", 1)[1]
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return sum(len(line) + 2 for line in lines)


# --- the URL and the head: 10,240 bytes ------------------------------------------------------


def test_serve_answers_414_uri_too_long_to_a_url_over_api_gateways_10240_characters(server):
    # thousands of ids in the query: what a client tested locally must not build for AWS
    ids = "&".join(f"partition_value={i}" for i in range(5000))
    answer = requests.get(f"{server}/dataframes/ids?{ids}", headers=ALICE, timeout=30)
    assert answer.status_code == 414
    body = answer.json()
    assert is_error(body, "uri_too_long")
    assert body["error"].startswith("partition_value:")
    assert "10,240" in body["error"] and "5,000 values" in body["error"]
    assert "start_id/end_id" in body["error"]
    assert answer.headers["Access-Control-Allow-Origin"] == "*"  # a gateway response


def test_serve_answers_431_to_a_request_line_and_headers_over_10240_bytes(server):
    answer = requests.get(
        f"{server}/dataframes", headers={**ALICE, "X-Padding": "a" * 11_000}, timeout=30
    )
    assert answer.status_code == 431
    body = answer.json()
    assert is_error(body, "headers_too_large")
    assert body["error"].startswith("X-Padding:") and "10,240" in body["error"]


def test_serve_takes_a_head_of_exactly_10240_bytes_and_refuses_one_byte_more(server):
    headers = {**ALICE, "X-Padding": ""}
    headers["X-Padding"] = "a" * (MAX_REQUEST_HEAD - head_of(server, "/dataframes", headers))
    assert head_of(server, "/dataframes", headers) == MAX_REQUEST_HEAD
    assert statuses(raw_get(server, "/dataframes", headers)) == [200]
    headers["X-Padding"] += "a"
    received = raw_get(server, "/dataframes", headers)
    assert statuses(received) == [431]
    assert is_error(json_body(received), "headers_too_large")


def test_serve_refuses_a_long_url_before_asking_for_a_token(server):
    # the gateway measures the request before its authorizer runs
    answer = requests.get(f"{server}/dataframes?prefix={'a' * 11_000}", timeout=30)
    assert answer.status_code == 414
    assert answer.json()["error"].startswith("prefix:")


def test_serve_without_gateway_rules_takes_a_long_url(tmp_path):
    with serving(tmp_path / "data", gateway_rules=False) as url:
        answer = requests.get(f"{url}/dataframes?prefix={'a' * 11_000}", timeout=30)
    # the function's own rule answers (a prefix longer than any name), not the gateway's
    assert answer.status_code == 400 and answer.json()["error"].startswith("prefix")


def test_sdk_refuses_a_read_whose_ids_make_the_url_too_long_before_sending_it():
    # nothing listens on port 9: a request that was sent would fail as StoreUnavailable
    db = pdb.connect("http://127.0.0.1:9", token="token-alice-1")
    with pytest.raises(errors.InvalidArgument) as raised:
        db.get("ids", partition_value=list(range(5000)))
    message = str(raised.value)
    assert message.startswith("partition_value:")
    assert "10,240" in message and "5,000 values" in message and "start_id/end_id" in message


def test_sdk_sends_ids_comma_separated_so_a_thousand_fit_the_url(server):
    db = pdb.connect(server, token="token-alice-1")
    wanted = list(range(0, 5000, 4))  # 1,250 ids of up to four digits
    got = db.get("ids", partition_value=wanted)
    assert got["id"].tolist() == wanted and got["v"].tolist() == wanted


# --- Content-Encoding: what API Gateway decodes ----------------------------------------------


def upload_encoded(url: str, name: str, body: bytes, coding: str) -> requests.Response:
    return requests.post(
        f"{url}/dataframes/upload",
        data=body,
        headers={**ALICE, "Content-Type": "application/json", "Content-Encoding": coding},
        timeout=30,
    )


def raw_deflate(data: bytes) -> bytes:
    """Deflate without zlib's header and checksum, as some clients send ``deflate``."""
    coder = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return coder.compress(data) + coder.flush()


def upload_body(name: str) -> bytes:
    return json.dumps({"dataframe": "a,b\n1,x\n2,y\n", "dataframe_name": name}).encode()


@pytest.mark.parametrize(
    "coding, encode",
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),
        ("identity", lambda data: data),
        ("gzip, identity", gzip.compress),
    ],
)
def test_serve_decodes_a_body_whose_content_encoding_api_gateway_supports(server, coding, encode):
    name = f"coded-{zlib.crc32(coding.encode() + encode(b'x'))}"
    answer = upload_encoded(server, name, encode(upload_body(name)), coding)
    assert answer.status_code == 200, answer.text
    read = requests.get(f"{server}/dataframes/{name}", headers=ALICE, timeout=30).json()
    assert read == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_serve_answers_415_naming_content_encoding_to_a_coding_api_gateway_does_not_decode(
    server,
):
    answer = upload_encoded(server, "brotli", b"\x8b\x02\x80hello\x03", "br")
    assert answer.status_code == 415
    body = answer.json()
    assert is_error(body, "unsupported_media_type")
    assert "Content-Encoding 'br'" in body["error"]
    assert "gzip, deflate or identity" in body["error"]
    assert "media type" not in body["error"]


def test_serve_answers_415_to_a_body_not_encoded_as_its_content_encoding_says(server):
    plain = upload_encoded(server, "liar", upload_body("liar"), "gzip")
    cut = upload_encoded(server, "cut", gzip.compress(upload_body("cut"))[:-12], "gzip")
    for answer in (plain, cut):
        assert answer.status_code == 415
        assert "not gzip-encoded as its Content-Encoding says" in answer.json()["error"]
    listed = requests.get(f"{server}/dataframes", headers=ALICE, timeout=30).json()
    assert not {"liar", "cut"} & {frame["name"] for frame in listed}


def test_serve_answers_413_to_a_small_gzip_body_that_inflates_past_the_gateways_limit(server):
    bomb = gzip.compress(b"0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MB in some 60 KB
    assert len(bomb) < 100_000
    answer = upload_encoded(server, "bomb", bomb, "gzip")
    assert answer.status_code == 413
    assert is_error(answer.json(), "too_large")
    assert "decodes (gzip) to more than 10,485,760 bytes" in answer.json()["error"]
