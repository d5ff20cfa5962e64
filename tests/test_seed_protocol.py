"""A client written for the original PandasDB backend, unchanged, against pandasdb.

The client below speaks exactly the protocol of ``shared/SEED-WIRE.md`` with plain
``requests`` and pandas, as the original backend's SDK did: no pandasdb import. It runs
against a real ``pandasdb serve`` process with a users file, and against the Lambda entry
behind a stand-in for API Gateway's Cognito authorizer, with S3, DynamoDB and Cognito on
moto's server (``tests/cognito_api.py``), where it signs in as that SDK did
(``GET /auth/config``, then Cognito's ``USER_PASSWORD_AUTH``). Each call's answer and the
frame that results are checked. The last tests check what pandasdb adds around it: the
OpenAPI document, a stage without a pool, and pandasdb's own SDK beside the alias route.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from pathlib import Path
from urllib.parse import quote

import boto3
import numpy as np
import pandas as pd
import pytest
import requests
from cognito_api import PASSWORD, deployed


class SeedClient:
    """The original backend's SDK calls, as plain requests."""

    def __init__(self, url: str, token: str, *, bearer: bool = True) -> None:
        self.url = url
        # the first SDK sent "Bearer <IdToken>", a later one the token alone
        self.headers = {"Authorization": f"Bearer {token}" if bearer else token}

    def upload(
        self,
        df: pd.DataFrame,
        name: str,
        columns_keys: dict | None = None,
        external_key: str = "NOW",
        keep_last: bool = False,
        orient: str | None = "records",
    ) -> requests.Response:
        with warnings.catch_warnings():  # pandas 3 warns that epoch dates will change
            warnings.simplefilter("ignore")
            text = df.to_json(orient=orient) if orient else df.to_json()
        body = {
            "dataframe": text,
            "dataframe_name": name,
            "columns_keys": columns_keys,
            "external_key": external_key,
            "keep_last": keep_last,
        }
        return requests.post(
            f"{self.url}/dataframes/upload", json=body, headers=self.headers, timeout=60
        )

    def get(self, name: str, *, encoded: bool = False, **params: str) -> requests.Response:
        path = f"/dataframes/get/{quote(name, safe='')}" if encoded else f"/dataframes/{name}"
        return requests.get(self.url + path, params=params, headers=self.headers, timeout=60)

    def frame(self, name: str, **params: str) -> pd.DataFrame:
        response = self.get(name, **params)
        assert response.status_code == 200, response.text
        return pd.DataFrame(response.json())

    def list(self, prefix: str) -> requests.Response:
        return requests.get(
            f"{self.url}/dataframes", params={"prefix": prefix}, headers=self.headers, timeout=60
        )

    def delete(self, name: str, **params: str) -> requests.Response:
        return requests.delete(
            f"{self.url}/dataframes/{name}", params=params, headers=self.headers, timeout=60
        )


def seed_sign_in(url: str, user: str) -> str:
    """The original SDK's sign-in: the pool from the API, then Cognito, then the ID token."""
    config = requests.get(f"{url}/auth/config", timeout=60).json()
    answer = boto3.client("cognito-idp", region_name=config["region"]).initiate_auth(
        ClientId=config["userPoolClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD},
    )
    return answer["AuthenticationResult"]["IdToken"]


@pytest.fixture(params=["serve", "aws"])
def api(request):
    """``(kind, url, {user: token})`` of a pandasdb serve process or of the AWS stand-in."""
    if request.param == "serve":
        server = request.getfixturevalue("users_server")
        yield "serve", server.url, dict(server.tokens)
        return
    moto_url = request.getfixturevalue("moto_server")
    with deployed(moto_url, request.getfixturevalue("monkeypatch")) as stage:
        yield "aws", stage.url, {user: seed_sign_in(stage.url, user) for user in stage.users}


@pytest.fixture
def name() -> str:
    """A frame name of the original SDK's shape, new for each test (the server is shared)."""
    return f"seed-{uuid.uuid4().hex[:8]}/test1"


SALES = pd.DataFrame(
    {
        "date": pd.to_datetime(["2024-01-01 09:30", "2024-01-01 18:00", "2024-01-03 00:00"]),
        "units": [3, 5, 7],
        "price": [1.5, None, 2.25],
        "sku": ["a", None, "c"],
    }
)


def test_auth_config_needs_no_token_and_verify_checks_one(api):
    kind, url, tokens = api
    config = requests.get(f"{url}/auth/config", timeout=60)
    assert config.status_code == 200
    body = config.json()
    assert {"userPoolId", "userPoolClientId", "region"} <= set(body)
    if kind == "aws":
        assert body["auth"] == "cognito" and body["userPoolId"].startswith(body["region"] + "_")
    else:
        assert body["auth"] == "users-file" and body["userPoolId"] is None
        assert "users file" in body["message"]
    for header in (f"Bearer {tokens['alice']}", tokens["alice"]):
        verify = requests.get(f"{url}/auth/verify", headers={"Authorization": header}, timeout=60)
        assert verify.status_code == 200 and verify.json()["status"] == "valid"
    for header in ({"Authorization": "Bearer not-a-token-1"}, {}):
        assert requests.get(f"{url}/auth/verify", headers=header, timeout=60).status_code == 401


def test_records_with_epoch_dates_upload_and_read_back(api, name):
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"], bearer=kind == "aws")
    response = client.upload(SALES, name, columns_keys={"date": "Date"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["df_name"] == name and answer["columns_keys"] == {"date": "Date"}
    assert answer["external_key"] is None and answer["keep_last"] is False
    assert answer["total_rows"] == 3 and answer["version"] == 1
    chunks = sorted(answer["chunks"], key=lambda c: c["path"])
    assert [c["path"].split("/")[:4] for c in chunks] == [
        [*name.split("/"), "date", "2024-01-01"],
        [*name.split("/"), "date", "2024-01-03"],
    ]
    assert [c["rows"] for c in chunks] == [2, 1]
    assert sorted(c["number"] for c in chunks) == [0, 1] and answer["chunk_count"] == 2

    plain = client.get(name)
    encoded = client.get(name, encoded=True, external_key="NOW")
    assert plain.status_code == encoded.status_code == 200
    assert plain.json() == encoded.json()
    frame = pd.DataFrame(plain.json())
    assert len(frame) == 3
    assert pd.to_datetime(frame["date"]).tolist() == SALES["date"].tolist()
    assert [d.isoformat() for d in pd.to_datetime(frame["date"]).dt.date] == [
        "2024-01-01",
        "2024-01-01",
        "2024-01-03",
    ]
    assert frame["units"].tolist() == [3, 5, 7] and frame["units"].dtype == "int64"
    assert frame["price"].iloc[[0, 2]].tolist() == [1.5, 2.25] and pd.isna(frame["price"][1])
    assert [row["sku"] for row in plain.json()] == ["a", None, "c"]


def test_columns_orient_with_iso_dates_of_every_form(api, name):
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    df = pd.DataFrame(
        {
            "day": ["2024-02-01", "2024-02-02T10:00:00", "2024-02-03T00:30:00+01:00"],
            "note_day": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "code": ["007", "010", "011"],
        }
    )
    response = client.upload(df, name, columns_keys={"day": "Date"}, orient=None)
    assert response.status_code == 200, response.text
    assert sorted(c["rows"] for c in response.json()["chunks"]) == [1, 2]
    frame = client.frame(name)
    # 00:30 at +01:00 is 23:30 UTC the day before: the Date layout's days are UTC days
    assert [str(d) for d in pd.to_datetime(frame["day"]).dt.date] == [
        "2024-02-01",
        "2024-02-02",
        "2024-02-02",
    ]
    # as pandas.read_json reads them: ISO text in a column of another name stays text, and
    # text that is all digits becomes numbers
    assert frame["note_day"].tolist() == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert frame["code"].tolist() == [7, 10, 11]


def test_batches_now_is_the_default_key_with_use_last_and_keep_last(api, name):
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"], bearer=False)
    first = client.upload(pd.DataFrame({"x": [1, 2]}), name, columns_keys=None)
    second = client.upload(pd.DataFrame({"x": [3]}), name, columns_keys={})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert second.json()["external_key"] == "default"
    assert second.json()["chunks"][0]["path"].startswith(f"{name}/external_key/default/")
    assert client.frame(name)["x"].tolist() == [1, 2, 3]
    assert client.frame(name, external_key="NOW")["x"].tolist() == [1, 2, 3]
    assert client.frame(name, use_last="true")["x"].tolist() == [3]
    replaced = client.upload(pd.DataFrame({"x": [9, 9]}), name, keep_last=True)
    assert replaced.status_code == 200 and replaced.json()["keep_last"] is True
    assert client.frame(name)["x"].tolist() == [9, 9]


def test_delete_one_external_key_is_a_new_version(api, name):
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    for key, values in (("run-1", [1, 2]), ("run-2", [3])):
        assert client.upload(pd.DataFrame({"x": values}), name, external_key=key).status_code == 200
    deleted = client.delete(name, external_key="run-1")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"deleted": name, "external_key": "run-1"}
    assert client.frame(name)["x"].tolist() == [3]
    assert client.get(name, external_key="run-1").json() == []
    # pandasdb's own routes: a third version; the version before still has the batches
    headers = client.headers
    versions = requests.get(f"{url}/dataframes/{name}/versions", headers=headers, timeout=60)
    assert [v["version"] for v in versions.json()] == [1, 2, 3]
    assert [v["operation"] for v in versions.json()] == ["append", "append", "delete_key"]
    assert client.frame(name, as_of="2")["x"].tolist() == [1, 2, 3]
    again = client.delete(name, external_key="run-1")
    assert again.status_code == 200, "removing a key twice is harmless"
    versions = requests.get(f"{url}/dataframes/{name}/versions", headers=headers, timeout=60)
    assert len(versions.json()) == 3
    assert client.delete(name).status_code == 200
    gone = client.get(name)
    assert gone.status_code == 404 and "does not exist" in gone.json()["error"]


def test_list_by_prefix_shows_only_the_callers_frames(api, name):
    kind, url, tokens = api
    alice, bob = SeedClient(url, tokens["alice"]), SeedClient(url, tokens["bob"], bearer=False)
    folder = name.split("/")[0]
    for leaf in ("b", "a"):
        assert alice.upload(pd.DataFrame({"x": [1]}), f"{folder}/{leaf}").status_code == 200
    listed = alice.list(f"{folder}/")
    assert listed.status_code == 200
    assert [f["name"] for f in listed.json()] == [f"{folder}/a", f"{folder}/b"]
    assert bob.list(f"{folder}/").json() == []
    assert bob.get(f"{folder}/a").status_code == 404


def _same_refusal(first: requests.Response, second: requests.Response) -> dict:
    assert 400 <= first.status_code < 500, first.text
    assert (first.status_code, first.json()) == (second.status_code, second.json())
    body = first.json()
    # the original SDK shows only "error": a sentence, with the code beside it
    assert body["error"] == body["message"] and " " in body["error"]
    assert body["code"].replace("_", "").isalpha()
    return body


def test_bad_input_gets_the_same_clear_4xx_on_both_read_routes(api, name):
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    assert client.upload(SALES, name, columns_keys={"date": "Date"}).status_code == 200
    cases = [
        (name, {"as_of": "x"}, "as_of"),
        (name, {"start_date": "2024-13-01"}, "start_date"),
        (name, {"external_key": "k", "start_date": "2024-01-01"}, "external_key"),
        (name, {"columns": "nope"}, "nope"),
        (name, {"colums": "units"}, "columns"),
        (f"{name}-missing", {}, "does not exist"),
    ]
    for frame, params, words in cases:
        body = _same_refusal(client.get(frame, **params), client.get(frame, encoded=True, **params))
        assert words in body["error"], body


def test_bad_uploads_and_deletes_are_clear_4xx(api, name):
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"], bearer=False)
    headers = {**client.headers, "Content-Type": "text/csv"}
    own = requests.post(
        f"{url}/dataframes/upload",
        params={"dataframe_name": "a//b"},
        data="x\n1\n",
        headers=headers,
        timeout=60,
    )
    body = _same_refusal(client.upload(pd.DataFrame({"x": [1]}), "a//b"), own)
    assert "dataframe_name" in body["error"]
    bad = {"day": ["2024-01-01", "soon"]}
    refused = client.upload(pd.DataFrame(bad), name, columns_keys={"day": "Date"})
    assert refused.status_code == 400 and "'soon'" in refused.json()["error"]
    assert "day" in refused.json()["error"]
    broken = requests.post(
        f"{url}/dataframes/upload",
        json={"dataframe": '[{"x": 1}', "dataframe_name": name},
        headers=client.headers,
        timeout=60,
    )
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    mixed = client.upload(pd.DataFrame({"x": [True, 2]}, dtype=object), name)
    assert mixed.status_code == 400 and "mixes booleans and integers" in mixed.json()["error"]
    assert client.upload(SALES, name, columns_keys={"date": "Date"}).status_code == 200
    partitioned = client.delete(name, external_key="k")
    assert partitioned.status_code == 400 and "batch frames" in partitioned.json()["error"]
    slash = client.delete(name, external_key="a/b")
    assert slash.status_code == 400 and "external_key" in slash.json()["error"]
    assert client.frame(name)["units"].tolist() == [3, 5, 7], "nothing changed"


def test_openapi_and_docs_mark_the_compatibility_route(users_server):
    document = requests.get(f"{users_server.url}/openapi.json", timeout=60).json()
    compat = document["paths"]["/dataframes/get/{name}"]["get"]
    assert compat["tags"] == ["compatibility"] and "original backend" in compat["summary"]
    own = document["paths"]["/dataframes/{name}"]["get"]
    assert {p["name"] for p in compat["parameters"]} == {p["name"] for p in own["parameters"]}
    assert document["paths"]["/auth/config"]["get"]["security"] == []
    assert document["paths"]["/auth/verify"]["get"]["security"] == [{"bearer": []}]
    error = compat["responses"]["400"]["content"]["application/json"]["schema"]
    assert error["required"] == ["error", "message", "code"]
    page = requests.get(f"{users_server.url}/docs", timeout=60).text
    assert "GET /dataframes/get/{name}</code> <em>(compatibility)</em>" in page


@pytest.mark.parametrize("leaf", ["get/report", "report/versions", "report/dates", "files"])
def test_a_name_some_route_would_take_for_another_is_refused_at_upload(api, name, leaf):
    """Servers decode %2F before routing: GET /dataframes/get/report is the original
    backend's read of 'report', and /dataframes/report/versions the versions of 'report'.
    Such a name is refused when it would be created, on every way of uploading."""
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    folder = name.split("/")[0]
    frame = leaf if leaf.startswith("get/") else f"{folder}/{leaf}"
    refused = client.upload(pd.DataFrame({"x": [1]}), frame)
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["code"] == "invalid_name" and "cannot be reached over HTTP" in body["error"]
    assert "'get'" in body["error"] and "'versions'" in body["error"]
    raw = requests.post(
        f"{url}/dataframes/upload",
        params={"dataframe_name": frame},
        data="x\n1\n",
        headers={**client.headers, "Content-Type": "text/csv"},
        timeout=60,
    )
    assert (raw.status_code, raw.json()) == (refused.status_code, body)
    assert client.list(f"{folder}/").json() == [], "nothing was created"


def test_every_method_means_one_frame_by_a_path(api, name):
    """DELETE /dataframes/get/report cannot delete a frame 'get/report' while GET of the
    same path reads 'report': a path that some route takes for another frame is refused,
    on every method, and 'report' is untouched."""
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    report = name.split("/")[0]
    assert client.upload(pd.DataFrame({"x": [1]}), report).status_code == 200
    read = requests.get(f"{url}/dataframes/get/{report}", headers=client.headers, timeout=60)
    assert read.status_code == 200 and read.json() == [{"x": 1}]
    for method, path in (
        ("DELETE", f"/dataframes/get/{report}"),
        ("POST", f"/dataframes/get/{report}/compact"),
        ("GET", f"/dataframes/get/{report}/versions"),
    ):
        answer = requests.request(method, url + path, headers=client.headers, timeout=60)
        assert answer.status_code == 400, (method, path, answer.text)
        assert answer.json()["code"] == "invalid_name"
        assert f"with name {report!r}" in answer.json()["error"]
    assert client.frame(report)["x"].tolist() == [1], "nothing else was touched"
    assert client.delete(report).status_code == 200


def test_pandasdb_sdk_refuses_such_names_before_sending(open_server):
    import pandasdb_core as pdb

    db = pdb.connect(open_server.url)
    for frame in ("get/x", "x/versions"):
        with pytest.raises(pdb.InvalidName, match="cannot be reached over HTTP"):
            db.upload(pd.DataFrame({"x": [1]}), frame)
        with pytest.raises(pdb.InvalidName, match="cannot be reached over HTTP"):
            db.get(frame)


def test_a_stage_without_its_pool_configured_answers_a_clear_503(monkeypatch):
    from pandasdb_lambdas.aws import handler

    monkeypatch.delenv("PANDASDB_USER_POOL_ID", raising=False)
    event = {"httpMethod": "GET", "path": "/auth/config", "headers": {}, "requestContext": {}}
    response = handler(event, None)
    assert response["statusCode"] == 503
    assert "PANDASDB_USER_POOL_ID" in json.loads(response["body"])["error"]


def test_the_readme_example_runs_unchanged(users_server, monkeypatch, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Clients of the original PandasDB backend", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    monkeypatch.setenv("PANDASDB_API", users_server.url)
    exec(compile(example, "README: clients of the original backend", "exec"), {})
    assert capsys.readouterr().out.split("\n")[:3] == ["2 [1, 1]", "[1, 2]", "200"]


# ------------------------------------------------------------------------------ batches


@pytest.mark.parametrize(
    "first, then",
    [
        ([1.5, 2.5], [10.0, 20.0]),  # 10.0 is JSON's 10.0: an int to a JSON reader
        ([10.0, 20.0], [1.5, 2.5]),  # whole floats first
        ([1, 2], [3.0, np.nan]),  # an int column, then a batch with a null
        (["a01", "b02"], ["007", "010"]),  # text, then text of digits
    ],
)
def test_batches_of_one_pandas_column_append_unchanged(api, name, first, then):
    """Each batch is typed toward what the frame recorded, so an unchanged client appends
    batches of one pandas column, whatever each batch alone looks like."""
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    for values in (first, then):
        answer = client.upload(pd.DataFrame({"p": values}), name)
        assert answer.status_code == 200, answer.text
    expected = [None if pd.isna(v) else v for v in [*first, *then]]
    assert [row["p"] for row in client.get(name).json()] == expected


def test_a_value_the_frames_column_cannot_hold_is_refused_naming_it(api, name):
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    assert client.upload(pd.DataFrame({"p": [1, 2]}), name).status_code == 200
    refused = client.upload(pd.DataFrame({"p": [1.5]}), name)
    assert refused.status_code == 400 and refused.json()["code"] == "schema_mismatch"
    assert "row 0 holds 1.5, which is not a whole number" in refused.json()["error"]
    assert [row["p"] for row in client.get(name).json()] == [1, 2]


def test_filtered_frames_in_the_columns_form_append_the_rows_records_do(api, name):
    """to_json()'s row labels are the pandas index (after filtering "2", "3"): no data,
    as the original backend's answers (records) never carried them."""
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    df = pd.DataFrame({"v": [1, 2, 3, 4]})
    for part, orient in ((df, None), (df[df.v > 2], None), (df[df.v < 2], "records")):
        assert client.upload(part, name, orient=orient).status_code == 200
    rows = client.get(name).json()
    assert rows == [{"v": v} for v in (1, 2, 3, 4, 3, 4, 1)], "no index_0 column"


def test_date_column_epoch_milliseconds_of_any_day_are_read_as_milliseconds(api, name):
    """pandas' to_json writes epoch ms: 1970-02-01 is 2678400000 (not seconds of 2054),
    and days before 1970 are negative."""
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    days = pd.to_datetime(["1970-01-01", "1970-02-01", "1969-12-31", "1900-03-01", "2024-05-06"])
    df = pd.DataFrame({"date": days, "v": range(5)})
    answer = client.upload(df, name, columns_keys={"date": "Date"})
    assert answer.status_code == 200, answer.text
    paths = sorted(c["path"].split("/")[3] for c in answer.json()["chunks"])
    assert paths == sorted(d.date().isoformat() for d in days)
    frame = client.frame(name).sort_values("v")
    assert pd.to_datetime(frame["date"]).tolist() == days.tolist()


def test_nanosecond_iso_dates_are_dates(api, name):
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    df = pd.DataFrame(
        {
            "date": pd.to_datetime(
                ["2024-01-01 10:00", "2024-01-02 00:00:00.000000001"], format="ISO8601"
            ),
            "created_at": pd.to_datetime(["2024-01-03 10:00", "2024-01-04"], format="ISO8601"),
        }
    )
    text = df.to_json(orient="records", date_format="iso", date_unit="ns")
    assert '"2024-01-01T10:00:00.000000000"' in text
    body = {"dataframe": text, "dataframe_name": name, "columns_keys": {"date": "Date"}}
    answer = requests.post(
        f"{url}/dataframes/upload", json=body, headers=client.headers, timeout=60
    )
    assert answer.status_code == 200, answer.text
    frame = client.frame(name)
    for column in ("date", "created_at"):
        got = pd.to_datetime(frame[column], format="ISO8601").dt.tz_localize(None)
        assert got.tolist() == df[column].tolist(), column


def test_a_csv_string_whose_header_starts_with_a_bracket_is_csv(api, name):
    kind, url, tokens = api
    client = SeedClient(url, tokens["alice"])
    for header in ("[a],b", "{id},v"):
        body = {"dataframe": f"{header}\n1,2\n", "dataframe_name": f"{name}-{header[1]}"}
        answer = requests.post(
            f"{url}/dataframes/upload", json=body, headers=client.headers, timeout=60
        )
        assert answer.status_code == 200, answer.text
        columns = header.split(",")
        assert client.get(body["dataframe_name"]).json() == [
            dict(zip(columns, [1, 2], strict=True))
        ]
