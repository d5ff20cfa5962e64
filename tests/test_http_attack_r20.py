"""Hostile values in the query parameters and JSON fields of the API's routes, through
``pandasdb serve``: each gets a 4xx naming the field and the reason, never a 5xx, a timeout
or another user's data. Real servers, real sockets."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import requests
from serving import is_error, serving

import pandasdb_core as pdb
from pandasdb_core import errors, sessions
from pandasdb_core.operations import session as session_requests

USERS = {"alice": "token-alice-1", "bob": "token-bob-22"}
ALICE = {"Authorization": "Bearer token-alice-1"}
BOB = {"Authorization": "Bearer token-bob-22"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("attack") / "data", users=USERS) as url:
        yield url


def open_session(url: str, name: str) -> str:
    answer = requests.post(
        f"{url}/dataframes/sessions", headers=ALICE, params={"dataframe_name": name}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["session"]


@pytest.mark.parametrize("pieces", ["1000001", "2147483648", "9223372036854775807", str(2**64)])
def test_a_session_commit_announcing_more_pieces_than_a_session_holds_is_a_400(server, pieces):
    # pieces=2147483648 made the function build a list of 2**31 numbers (16 GB): a 500
    # (MemoryError) or a worker held past the gateway's 504; a larger one an OverflowError
    session = open_session(server, "announced")
    started = time.monotonic()
    answer = requests.post(
        f"{server}/dataframes/sessions/{session}/commit",
        headers=ALICE,
        params={"pieces": pieces},
        timeout=60,
    )
    assert time.monotonic() - started < 10
    assert answer.status_code == 400
    assert is_error(answer.json(), "invalid_argument")
    message = answer.json()["error"]
    assert message.startswith("pieces")
    assert "1000000" in message or "must be a positive integer" in message
    # the session is untouched: its pieces still commit
    piece = requests.post(
        f"{server}/dataframes/sessions/{session}/pieces",
        headers={**ALICE, "Content-Type": "text/csv"},
        params={"piece": 0},
        data="a\n1\n",
        timeout=30,
    )
    assert piece.status_code == 200, piece.text
    done = requests.post(
        f"{server}/dataframes/sessions/{session}/commit",
        headers=ALICE,
        params={"pieces": 1},
        timeout=30,
    )
    assert done.status_code == 200 and done.json()["rows"] == 1


def test_the_http_bound_on_pieces_is_the_sessions_own():
    assert session_requests.MAX_PIECES == sessions.MAX_PIECES


def test_an_upload_naming_a_field_in_the_query_and_the_body_with_two_values_is_a_400(server):
    # the body's dataframe_name used to win silently: the frame landed under one of two names
    answer = requests.post(
        f"{server}/dataframes/upload",
        headers=ALICE,
        params={"dataframe_name": "other"},
        json={"dataframe": "a\n1\n", "dataframe_name": "both"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert is_error(answer.json(), "invalid_argument")
    message = answer.json()["error"]
    assert message.startswith("dataframe_name") and "'other'" in message and "'both'" in message
    listed = requests.get(f"{server}/dataframes", headers=ALICE, timeout=30).json()
    assert not {"other", "both"} & {frame["name"] for frame in listed}


def test_an_upload_giving_a_field_in_the_query_and_the_body_with_one_meaning_is_taken(server):
    answer = requests.post(
        f"{server}/dataframes/upload",
        headers=ALICE,
        params={"dataframe_name": "same", "keep_last": "true", "chunk_rows": "10"},
        json={"dataframe": "a\n1\n", "dataframe_name": "same", "keep_last": True, "chunk_rows": 10},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_the_sdk_selects_a_column_whose_name_holds_a_comma(server):
    # the API splits columns at commas: columns=["v,id"] came back as the columns v and id,
    # then the SDK refused it; it now sends a JSON array, which the API takes whole
    db = pdb.connect(server, token="token-alice-1")
    db.upload(pd.DataFrame({"v,id": [1], "v": [2], "id": [3]}), "commas", keep_last=True)
    assert db.get("commas", columns=["v,id"]).to_dict("list") == {"v,id": [1]}
    assert list(db.get("commas", columns=["id", "v,id"]).columns) == ["id", "v,id"]
    assert db.get("commas", columns=["v", "id"]).to_dict("list") == {"v": [2], "id": [3]}


@pytest.mark.parametrize(
    "columns, expected",
    [
        ('["v,id"]', {"v,id": 1}),
        ('["id","v,id"]', {"id": 3, "v,id": 1}),
        ("v,id", {"v": 2, "id": 3}),  # the comma-separated form is unchanged
        (["v", "id"], {"v": 2, "id": 3}),  # and the repeated one
        ("[v]", None),  # not a JSON array of strings: a name, which the frame lacks
    ],
)
def test_columns_take_a_json_array_whose_names_may_hold_commas(server, columns, expected):
    db = pdb.connect(server, token="token-alice-1")
    db.upload(pd.DataFrame({"v,id": [1], "v": [2], "id": [3]}), "commas", keep_last=True)
    answer = requests.get(
        f"{server}/dataframes/commas", headers=ALICE, params={"columns": columns}, timeout=30
    )
    if expected is None:
        assert answer.status_code == 400 and "'[v]'" in answer.json()["message"]
    else:
        assert answer.status_code == 200, answer.text
        assert answer.json() == [expected]


@pytest.mark.parametrize("token", ["token-alice-1\r\nX-Injected: 1", "tok\nen-alice-1", "\x00" * 9])
def test_the_sdk_refuses_a_token_with_line_breaks_without_showing_it(server, token):
    with pytest.raises(errors.InvalidArgument) as raised:
        pdb.connect(server, token=token)
    assert str(raised.value).startswith("token:") and "alice" not in str(raised.value)
