"""A frame name in a URL path is percent-decoded once, as API Gateway decodes a path
parameter: ``/dataframes/sec%252Fd`` names the frame ``sec%2Fd`` (an invalid name, so a 400),
never the frame ``sec/d``; the same through ``pandasdb serve`` and the Lambda handler."""

from __future__ import annotations

import contextlib
import io
import json

import pandas as pd
import pytest
import requests
from pandasdb_lambdas.context import StoreContext
from pandasdb_lambdas.handler import make_handler
from serving import is_error

import pandasdb_core as pdb

#: alice's frame ``sec/d`` as paths that decode, once, to a name that is not it
NOT_SEC_D = ["sec%252Fd", "sec%25%32Fd", "sec%252fd", "%2573ec%252Fd"]


@pytest.fixture(scope="module")
def alice(users_server):
    db = pdb.connect(users_server.url, token=users_server.tokens["alice"], progress=False)
    # keep_last: the fixture may be set up again on the same server (xdist's worksteal)
    db.upload(pd.DataFrame({"secret": [7]}), "sec/d", keep_last=True)
    return {"Authorization": f"Bearer {users_server.tokens['alice']}"}


@pytest.mark.parametrize("path", NOT_SEC_D)
@pytest.mark.parametrize(
    "method, suffix", [("GET", ""), ("GET", "/versions"), ("GET", "/files"), ("DELETE", "")]
)
def test_serve_decodes_a_path_once(users_server, alice, path, method, suffix):
    url = f"{users_server.url}/dataframes/{path}{suffix}"
    response = requests.request(method, url, headers=alice)
    assert response.status_code == 400, response.text
    body = response.json()
    assert is_error(body, "invalid_name")
    assert "'%'" in body["message"], "says the name holds a '%'"
    still = requests.get(f"{users_server.url}/dataframes/sec/d", headers=alice)
    assert still.json() == [{"secret": 7}], "sec/d is neither read nor deleted"


@pytest.mark.parametrize("path", ["sec/d", "sec%2Fd", "sec%2fd", "%73ec%2Fd"])
def test_serve_reads_a_name_sent_encoded_once(users_server, alice, path):
    response = requests.get(f"{users_server.url}/dataframes/{path}", headers=alice)
    assert response.status_code == 200 and response.json() == [{"secret": 7}]


def lambda_call(store: pdb.Store, resource: str, path: str, proxy: str | None) -> dict:
    """The Lambda handler's answer to GET ``path`` as API Gateway sends it: the path as
    received, and ``pathParameters.proxy`` (the part under ``{proxy+}``) decoded once."""
    handler = make_handler(lambda caller: StoreContext(store, lambda method, key: key))
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": {},
        "pathParameters": None if proxy is None else {"proxy": proxy},
        "requestContext": {"requestId": "r1", "authorizer": {"claims": {"sub": "u1"}}},
    }
    with contextlib.redirect_stdout(io.StringIO()):  # the request's metrics (EMF)
        return handler(event, None)


@pytest.mark.parametrize(
    "resource, path, proxy, status",
    [
        ("/dataframes/{proxy+}", "/dataframes/sec%252Fd", "sec%2Fd", 400),
        ("/dataframes/{proxy+}", "/dataframes/sec%2Fd", "sec/d", 200),
        ("/dataframes/get/{proxy+}", "/dataframes/get/sec%252Fd", "sec%2Fd", 400),
        ("/dataframes/get/{proxy+}", "/dataframes/get/sec%2Fd", "sec/d", 200),
        # an event without path parameters: its path, as a REST API sends it (encoded)
        ("/dataframes/{proxy+}", "/dataframes/sec%252Fd", None, 400),
        ("/dataframes/{proxy+}", "/dataframes/sec%2Fd", None, 200),
    ],
)
def test_the_lambda_handler_decodes_a_path_once(resource, path, proxy, status):
    store = pdb.open("memory://")
    store.upload(pd.DataFrame({"secret": [7]}), "sec/d")
    response = lambda_call(store, resource, path, proxy)
    assert response["statusCode"] == status, response["body"]
    body = json.loads(response["body"])
    if status == 200:
        assert body == [{"secret": 7}]
    else:
        assert is_error(body, "invalid_name") and "sec%2Fd" in body["message"]
