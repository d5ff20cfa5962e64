"""Two users from a users file: neither can reach the other's frames by any route or name."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import requests
from pandasdb_lambdas.local_server import Presigner, load_users, make_server
from serving import is_error

import pandasdb_core as pdb


def auth(server, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.tokens[user]}"}


def read(server, user: str, name: str) -> list[dict]:
    """``user``'s frame ``name`` as JSON records (plain HTTP, as any client reads)."""
    response = requests.get(f"{server.url}/dataframes/{name}", headers=auth(server, user))
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def alices_frame(users_server):
    db = pdb.connect(users_server.url, token=users_server.tokens["alice"], progress=False)
    db.upload(pd.DataFrame({"secret": [42]}), "private/ledger")
    return "private/ledger"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "token-alice-1x"},
        {"Authorization": "Token token-alice-1"},
        {"Authorization": "Bearer token-alice-1 token-bob-22"},
        {"Authorization": "Basic dG9rZW4tYWxpY2UtMQ=="},
        {"Authorization": "Bearer "},
    ],
)
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/dataframes"),
        ("GET", "/dataframes/private/ledger"),
        ("GET", "/dataframes/private/ledger/versions"),
        ("DELETE", "/dataframes/private/ledger"),
        ("POST", "/dataframes/upload"),
        ("POST", "/dataframes/staging"),
    ],
)
def test_requests_without_a_valid_token_get_401(users_server, alices_frame, headers, method, path):
    response = requests.request(
        method,
        users_server.url + path,
        headers=headers,
        json={"dataframe": "a\n1\n", "dataframe_name": "x"},
    )
    assert response.status_code == 401
    body = response.json()
    assert is_error(body, "unauthorized")
    assert "Authorization: Bearer TOKEN" in body["message"], "says what to send"
    assert response.headers["Access-Control-Allow-Origin"] == "*", "a browser can read it"


@pytest.mark.parametrize(
    "header",
    ["Bearer token-alice-1", "bearer token-alice-1", "Bearer   token-alice-1 ", "token-alice-1"],
)
def test_the_token_works_with_or_without_bearer(users_server, alices_frame, header):
    """The seed's SDKs send ``Bearer TOKEN`` or the token alone (shared/SEED-WIRE.md)."""
    response = requests.get(
        f"{users_server.url}/dataframes/private/ledger", headers={"Authorization": header}
    )
    assert response.status_code == 200 and response.json() == [{"secret": 42}]


@pytest.mark.parametrize(
    "name",
    [
        "private/ledger",
        "../alice/private/ledger",
        "..%2Falice%2Fprivate%2Fledger",
        "%2e%2e/alice/private/ledger",
        "alice/private/ledger",
        "/private/ledger",
        "private%2Fledger",
        "private%252Fledger",
        "%252e%252e%252Falice%252Fprivate%252Fledger",
        "..%252Falice%252Fprivate%252Fledger",
        "private%00%2Fledger",
        "private%2Fledger%00",
        "%EF%BC%B0rivate/ledger",
        "private/ledger%2F..%2F..%2Falice%2Fprivate%2Fledger",
    ],
)
def test_bob_cannot_read_alices_frame_by_any_name(users_server, alices_frame, name):
    bob = auth(users_server, "bob")
    for suffix in ("", "/versions"):
        response = requests.get(f"{users_server.url}/dataframes/{name}{suffix}", headers=bob)
        assert response.status_code in (400, 404), response.text
        assert "42" not in response.text
    deleted = requests.delete(f"{users_server.url}/dataframes/{name}", headers=bob)
    assert deleted.status_code in (400, 404)
    assert read(users_server, "alice", "private/ledger") == [{"secret": 42}]


def test_bob_lists_and_overwrites_only_his_own(users_server, alices_frame):
    bob = pdb.connect(users_server.url, token=users_server.tokens["bob"], progress=False)
    assert all(f.name != "private/ledger" for f in bob.list())
    bob.upload(pd.DataFrame({"secret": [0]}), "private/ledger", keep_last=True)
    assert read(users_server, "bob", "private/ledger") == [{"secret": 0}]
    assert read(users_server, "alice", "private/ledger") == [{"secret": 42}]
    alice = pdb.connect(users_server.url, token=users_server.tokens["alice"], progress=False)
    assert [v.version for v in alice.versions("private/ledger")] == [1]


def test_presigned_urls_are_scoped_to_user_key_and_method(users_server, alices_frame):
    staged = requests.post(
        f"{users_server.url}/dataframes/staging", headers=auth(users_server, "alice")
    ).json()
    url = staged["url"]
    assert "/_blobs/alice/" in url
    assert requests.put(url, data=b"a\n1\n").status_code == 200
    assert requests.get(url).status_code == 403, "a PUT URL does not allow GET"
    assert requests.put(url.replace("/_blobs/alice/", "/_blobs/bob/"), data=b"x").status_code == 403
    other_key = url.replace(staged["upload_id"], "0" * 32)
    assert requests.put(other_key, data=b"x").status_code == 403
    sneaky = (
        url.split("?")[0].replace(
            ".staging/uploads/" + staged["upload_id"], "private/ledger/x.csv.gz"
        )
        + "?"
        + url.split("?")[1]
    )
    assert requests.put(sneaky, data=b"x").status_code == 403


def test_presigned_urls_expire():
    signer = Presigner("http://127.0.0.1:1", secret=b"k" * 32)
    url = signer.sign("GET", "alice", ".staging/results/a.csv", seconds=-1)
    query = {k: [v] for k, v in (p.split("=") for p in url.split("?")[1].split("&"))}
    assert signer.check("GET", "alice", ".staging/results/a.csv", query) == "the URL has expired"
    fresh = signer.sign("GET", "alice", ".staging/results/a.csv", seconds=60)
    query = {k: [v] for k, v in (p.split("=") for p in fresh.split("?")[1].split("&"))}
    assert signer.check("GET", "alice", ".staging/results/a.csv", query) is None
    assert signer.check("GET", "bob", ".staging/results/a.csv", query) is not None
    assert int(query["expires"][0]) <= time.time() + 61


def test_non_loopback_host_needs_a_users_file(tmp_path):
    with pytest.raises(SystemExit, match="refusing to serve"):
        make_server(tmp_path, host="0.0.0.0", port=0)
    server = make_server(tmp_path, host="127.0.0.1", port=0)
    server.server_close()


def test_tokens_never_appear_in_logs(users_server, alices_frame):
    log = users_server.log_path.read_text()
    assert "Bearer" not in log
    assert all(token not in log for token in users_server.tokens.values())


def test_concurrent_users_never_see_each_others_data(users_server):
    from concurrent.futures import ThreadPoolExecutor

    def work(user: str) -> list[int]:
        db = pdb.connect(users_server.url, token=users_server.tokens[user], progress=False)
        marker = 1 if user == "alice" else 2
        seen = []
        for i in range(8):
            db.upload(pd.DataFrame({"owner": [marker] * 3, "i": [i] * 3}), "race/frame")
            seen.extend(row["owner"] for row in read(users_server, user, "race/frame"))
        return seen

    # the server runs these at once, each request on a handler of its own
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {user: [pool.submit(work, user) for _ in range(2)] for user in ("alice", "bob")}
        results = {user: [v for f in fs for v in f.result()] for user, fs in futures.items()}
    assert set(results["alice"]) == {1}
    assert set(results["bob"]) == {2}


def test_two_users_whose_names_differ_only_by_case_are_refused(tmp_path):
    """Each user's folder is named by the user: on macOS or Windows "Alice" and "alice"
    would share one folder, so each could read the other's frames."""
    users = tmp_path / "users.json"
    users.write_text('{"alice": "token-alice-1", "Alice": "token-alice-2"}')
    with pytest.raises(SystemExit, match="'alice' and 'Alice' differ only by case"):
        load_users(users)
