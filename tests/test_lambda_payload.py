"""Lambda's 6 MB synchronous payload limit, measured on what travels: a binary body is
base64-encoded inside the proxy event and response (a third larger), a text body is a JSON
string (escaped). Source: AWS Lambda quotas ("Invocation payload (request and response):
6 MB each for synchronous"), and API Gateway's "Binary media types for Lambda proxy
integrations". moto and a local handler call accept any size, so the limit is checked here
on the sizes the handler produces."""

from __future__ import annotations

import base64
import json
import random

import polars as pl
from pandasdb_lambdas.context import StoreContext
from pandasdb_lambdas.handler import make_handler

import pandasdb_core as pdb
from pandasdb_core.wire import ENVELOPE, LAMBDA_PAYLOAD, carried_size, fits_inline


def handler_for(store: pdb.Store):
    return make_handler(lambda caller: StoreContext(store, lambda method, key: f"https://s/{key}"))


def read(handle, name: str, fmt: str) -> dict:
    event = {
        "httpMethod": "GET",
        "path": f"/dataframes/{name}",
        "headers": {},
        "multiValueQueryStringParameters": {"format": [fmt]},
        "requestContext": {"requestId": "r", "authorizer": {"claims": {"sub": "u1"}}},
    }
    return handle(event, None)


def test_a_text_result_is_measured_after_json_escaping(capsys):
    """Quotes and backslashes double when the body becomes a JSON string: 3.5 MB of raw JSON
    made of them is over 6 MB once escaped, so it must go by URL, not inline."""
    store = pdb.open("memory://")
    rows = 50_000  # about 3.8 MB of JSON records, over 7 MB once escaped
    quoted = '"\\' * 16  # quotes and backslashes: each doubles when escaped
    store.upload(pl.DataFrame({"s": [quoted] * rows}), "q")
    response = read(handler_for(store), "q", "json")
    capsys.readouterr()
    assert response["statusCode"] == 303, "an escaped body over 6 MB was answered inline"
    staged = store.staging.blobs.get(json.loads(response["body"])["url"].split("/s/", 1)[1])
    assert len(staged) < LAMBDA_PAYLOAD < carried_size(staged, binary=False)


def test_a_binary_result_is_measured_after_base64(capsys):
    """5 MB of parquet is 6.7 MB of base64: by URL. 3 MB of parquet travels inline, and what
    the handler returns stays under the limit."""
    store = pdb.open("memory://")
    chance = random.Random(7)
    noise = pl.Series("b", [chance.randbytes(997) for _ in range(5_300)], dtype=pl.Binary)
    store.upload(pl.DataFrame({"x": range(5_300), "b": noise}), "big", format="parquet")
    store.upload(pl.DataFrame({"x": range(3_000), "b": noise[:3_000]}), "small", format="parquet")
    handle = handler_for(store)
    big, small = read(handle, "big", "parquet"), read(handle, "small", "parquet")
    capsys.readouterr()
    assert big["statusCode"] == 303
    assert small["statusCode"] == 200 and small["isBase64Encoded"]
    assert len(json.dumps(small)) < LAMBDA_PAYLOAD
    assert len(base64.b64decode(small["body"])) > 2_500_000


def test_the_sdk_stages_what_would_not_fit_after_base64():
    """The SDK sends a parquet body inline only if its base64 form fits one invocation."""
    assert fits_inline(b"\0" * 4_500_000, binary=True)
    assert not fits_inline(b"\0" * 4_700_000, binary=True)  # 6.27 MB of base64
    assert not fits_inline(b"\0" * 6_000_000, binary=True)  # fitted the old raw-size check


def test_a_manifest_too_large_for_one_response_is_staged(capsys, monkeypatch):
    """A read manifest of many thousand chunk files is itself over 6 MB: it is staged and
    answered 303 with its presigned URL, like any large result (here the limit is lowered to
    10 KB so that 200 chunks are enough)."""
    import pandasdb_lambdas.api as api

    monkeypatch.setattr(api, "RESPONSE_LIMIT", 10_000 + ENVELOPE)
    store = pdb.open("memory://", chunk_rows=1)
    store.upload(pl.DataFrame({"x": range(200)}), "many", format="parquet")
    event = {
        "httpMethod": "GET",
        "path": "/dataframes/many/files",
        "headers": {},
        "requestContext": {"requestId": "r", "authorizer": {"claims": {"sub": "u1"}}},
    }
    response = handler_for(store)(event, None)
    capsys.readouterr()
    assert response["statusCode"] == 303
    location = json.loads(response["body"])["url"]
    staged = json.loads(store.blobs.get(location.split("/s/", 1)[1]))
    assert len(staged["files"]) == 200 and sum(f["rows"] for f in staged["files"]) == 200
