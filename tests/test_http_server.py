"""``pandasdb serve`` as a real process, driven over real HTTP: routes, errors, the SDK."""

from __future__ import annotations

import io
import json
import uuid

import numpy as np
import pandas as pd
import polars as pl
import pytest
import requests
from pandas.testing import assert_frame_equal
from serving import is_error

import pandasdb_core as pdb
from pandasdb_core import reading
from pandasdb_core.sample_data import sample_frame


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_every_route_with_curl_like_requests(open_server):
    base = open_server.url
    name = unique("sales") + "/daily"
    up = requests.post(
        f"{base}/dataframes/upload",
        json={
            "dataframe": "ts,shop,amount\n2024-01-01T10:00:00,1,9.5\n2024-01-02T11:00:00,2,3.25\n",
            "dataframe_name": name,
            "columns_keys": {"ts": "Date"},
        },
    )
    assert up.status_code == 200, up.text
    assert up.json()["version"] == 1 and up.json()["rows"] == 2
    assert all(k.startswith(f"{name}/ts/2024-01-0") for k in up.json()["keys"])

    records = requests.post(
        f"{base}/dataframes/upload",
        json={
            "dataframe": [{"ts": "2024-01-03T00:00:00", "shop": 3, "amount": 1.0}],
            "dataframe_name": name,
        },
    )
    assert records.status_code == 200 and records.json()["version"] == 2

    raw = requests.post(
        f"{base}/dataframes/upload",
        params={"dataframe_name": name},
        data="ts,shop,amount\n2024-01-04T00:00:00,4,2.0\n",
        headers={"Content-Type": "text/csv"},
    )
    assert raw.status_code == 200 and raw.json()["version"] == 3

    got = requests.get(f"{base}/dataframes/{name}")
    assert got.status_code == 200 and got.headers["Content-Type"].startswith("application/json")
    assert [r["shop"] for r in got.json()] == [1, 2, 3, 4]

    day = requests.get(
        f"{base}/dataframes/{name}", params={"start_date": "2024-01-02", "end_date": "2024-01-02"}
    )
    assert [r["shop"] for r in day.json()] == [2]

    csv = requests.get(f"{base}/dataframes/{name}", params={"format": "csv", "columns": "shop"})
    assert csv.text.splitlines() == ["shop", "1", "2", "3", "4"]

    parquet = requests.get(
        f"{base}/dataframes/{name.replace('/', '%2F')}",
        headers={"Accept": "application/vnd.apache.parquet"},
        params={"as_of": 1},
    )
    assert pl.read_parquet(io.BytesIO(parquet.content))["shop"].to_list() == [1, 2]

    listed = requests.get(f"{base}/dataframes", params={"prefix": name.split("/")[0]}).json()
    assert [(f["name"], f["version"], f["rows"]) for f in listed] == [(name, 3, 4)]
    versions = requests.get(f"{base}/dataframes/{name}/versions").json()
    assert [v["rows_total"] for v in versions] == [2, 3, 4]

    batch = unique("preds")
    for value in (1, 2):
        requests.post(
            f"{base}/dataframes/upload",
            json={
                "dataframe": [{"p": value}],
                "dataframe_name": batch,
                "external_key": "run-1",
                "keep_last": value == 2,
            },
        ).raise_for_status()
    last = requests.get(
        f"{base}/dataframes/{batch}", params={"external_key": "run-1", "use_last": "true"}
    )
    assert last.json() == [{"p": 2}]

    gone = requests.delete(f"{base}/dataframes/{name}")
    assert gone.status_code == 200 and gone.json() == {"deleted": name}
    assert requests.get(f"{base}/dataframes/{name}").status_code == 404

    assert requests.get(f"{base}/openapi.json").json()["openapi"].startswith("3.")
    assert "pandasdb HTTP API" in requests.get(f"{base}/docs").text


@pytest.mark.parametrize(
    "method, path, kwargs, status, code, words",
    [
        ("GET", "/dataframes/no-such-frame", {}, 404, "not_found", "no-such-frame"),
        ("GET", "/dataframes/x", {"params": {"bogus": "1"}}, 400, "invalid_argument", "bogus"),
        ("GET", "/dataframes/x", {"params": {"as_of": "abc"}}, 400, "invalid_argument", "as_of"),
        ("GET", "/nowhere", {}, 404, "no_route", "route"),
        (
            "POST",
            "/dataframes/upload",
            {"data": "{broken", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_argument",
            "JSON",
        ),
        (
            "POST",
            "/dataframes/upload",
            {"json": {"dataframe": "a\n1\n"}},
            400,
            "invalid_argument",
            "dataframe_name",
        ),
        (
            "POST",
            "/dataframes/upload",
            {"json": {"dataframe": "a\n1\n", "dataframe_name": "../etc"}},
            400,
            "invalid_name",
            "'..'",
        ),
        (
            "POST",
            "/dataframes/upload",
            {
                "json": {
                    "dataframe": "d\nnope\n",
                    "dataframe_name": "f",
                    "columns_keys": {"d": "Date"},
                }
            },
            400,
            "invalid_partition",
            "not dates",
        ),
        (
            "POST",
            "/dataframes/upload",
            {"json": {"dataframe": "a\n1\n", "dataframe_name": "f", "colour": 1}},
            400,
            "invalid_argument",
            "colour",
        ),
        (
            "POST",
            "/dataframes/upload",
            {"data": b"x" * (11 * 1024 * 1024), "headers": {"Content-Type": "text/csv"}},
            413,
            "too_large",
            "staging",
        ),
        (
            "POST",
            "/dataframes/upload",
            {"params": {"staged": "0" * 32, "dataframe_name": "f"}},
            400,
            "invalid_argument",
            "staged",
        ),
    ],
)
def test_error_codes_and_messages(open_server, method, path, kwargs, status, code, words):
    response = requests.request(method, open_server.url + path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert is_error(body, code) and words in body["message"]


def test_schema_conflict_is_400_and_store_unchanged(open_server):
    name = unique("typed")
    base = open_server.url
    requests.post(
        f"{base}/dataframes/upload", json={"dataframe": "a\n1\n", "dataframe_name": name}
    ).raise_for_status()
    bad = requests.post(
        f"{base}/dataframes/upload", json={"dataframe": "a\nx\n", "dataframe_name": name}
    )
    assert bad.status_code == 400 and is_error(bad.json(), "schema_mismatch")
    assert requests.get(f"{base}/dataframes/{name}/versions").json()[-1]["version"] == 1


def test_sdk_round_trip_keeps_dtypes(open_server):
    db = pdb.connect(open_server.url, progress=False)
    df = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=6, freq="9h", tz="Europe/Paris").as_unit(
                "ns"
            ),
            "i": np.arange(6, dtype="int32"),
            "I": pd.array([1, None, 3, None, 5, 6], dtype="Int64"),
            "f": [0.5, np.nan, 1e-300, -0.0, np.inf, 2.0],
            "b": [True, False] * 3,
            "s": ["a,b", 'q"', "new\nline", "ü", "", None],
            "c": pd.Categorical(["x", "y"] * 3, categories=["y", "x", "z"], ordered=True),
        },
        index=pd.Index(list("abcdef"), name="key"),
    )
    name = unique("sdk") + "/typed"
    commit = db.upload(df, name, columns_keys={"ts": "Date"})
    assert commit.version == 1 and commit.rows == 6
    assert_frame_equal(db.get(name), df, check_exact=True)
    some = db.get(name, start_date="2024-01-02", columns=["i", "c"], engine="polars")
    assert some.columns == ["key", "i", "c"] and some.height == 3
    assert [v.version for v in db.versions(name)] == [1]
    assert any(f.name == name for f in db.list(prefix=name.split("/")[0]))
    with pytest.raises(pdb.FrameNotFound):
        db.get(name + "-missing")
    with pytest.raises(pdb.SchemaMismatch):
        db.upload(df.assign(i=df["i"].astype(str)), name)
    with pytest.raises(pdb.InvalidName):
        db.upload(df, "bad//name")
    db.delete(name)
    with pytest.raises(pdb.FrameNotFound):
        db.versions(name)


def test_sixty_megabyte_frame_through_the_sdk(open_server):
    db = pdb.connect(open_server.url, progress=False)
    df = sample_frame(1_150_000, days=60)
    assert df.memory_usage(deep=True).sum() > 60e6
    name = unique("big")
    commit = db.upload(df, name, columns_keys={"ts": "Date"})
    assert commit.rows == len(df)
    back = db.get(name)
    assert_frame_equal(back, df)
    one_day = db.get(name, start_date="2024-02-01", end_date="2024-02-01")
    assert len(one_day) == (df.ts.dt.strftime("%F") == "2024-02-01").sum()
    log = open_server.log_path.read_text()
    pieces = '"route":"POST /dataframes/sessions/{session}/pieces"'
    assert log.count(pieces) > 1, "the upload went through an upload session, in pieces"
    assert '"ChunkManifests":[1.0]' in log, "the read answered a manifest of chunk URLs"


def test_large_json_result_redirects_to_a_presigned_url(open_server):
    base = open_server.url
    name = unique("wide")
    frame = pl.DataFrame({"x": np.arange(400_000), "y": ["some text here"] * 400_000})
    buf = io.BytesIO()
    frame.write_parquet(buf)
    requests.post(
        f"{base}/dataframes/upload",
        params={"dataframe_name": name},
        data=buf.getvalue(),
        headers={"Content-Type": "application/vnd.apache.parquet"},
    ).raise_for_status()
    first = requests.get(
        f"{base}/dataframes/{name}", params={"format": "csv"}, allow_redirects=False
    )
    assert first.status_code == 303 and "/_blobs/" in first.headers["Location"]
    assert first.json()["rows"] == 400_000
    followed = requests.get(first.headers["Location"])
    assert followed.status_code == 200
    assert pl.read_csv(followed.content).equals(frame)
    tampered = first.headers["Location"].replace("signature=", "signature=0")
    assert requests.get(tampered).status_code == 403
    # a signature that is not ASCII is refused the same way, never a 500
    for bad in ("%C3%A9", "%FF", "\u00e9"):
        url = first.headers["Location"].split("signature=")[0] + "signature=" + bad
        answer = requests.get(url)
        assert answer.status_code == 403, (bad, answer.text)
        assert answer.json()["code"] == "forbidden"


def test_cors_preflight(open_server):
    response = requests.options(
        f"{open_server.url}/dataframes",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_logs_are_json_with_request_ids(open_server):
    requests.get(f"{open_server.url}/dataframes")
    lines = [
        json.loads(line)
        for line in open_server.log_path.read_text().splitlines()
        if line.startswith("{") and '"message":"request"' in line
    ]
    assert lines and all(entry["correlation_id"] for entry in lines)
    metrics = [line for line in open_server.log_path.read_text().splitlines() if '"_aws"' in line]
    assert metrics and "Latency" in metrics[-1], "metrics are emitted as CloudWatch EMF"


def test_an_empty_column_list_means_one_thing_everywhere(open_server, tmp_path):
    """pandas' df[[]] keeps the rows and no column, which a read that decodes no column
    cannot count: an empty list of columns is refused, the same way by the local store, the
    SDK and ``columns=`` over HTTP (it was three different frames)."""
    name = unique("cols")
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    remote = pdb.connect(open_server.url, progress=False)
    remote.upload(df, name)
    local = pdb.open(tmp_path / "store")
    local.upload(df, name)
    words = "columns is empty: name at least one column, or leave columns out to read them all"
    for db in (local, remote):
        with pytest.raises(pdb.InvalidArgument, match=words):
            db.get(name, columns=[])
        assert db.get(name, columns=["b"])["b"].tolist() == ["x", "y", "z"]
    for value in ("", ","):
        response = requests.get(f"{open_server.url}/dataframes/{name}", params={"columns": value})
        assert response.status_code == 400 and words in response.json()["error"]


def test_the_sdk_says_when_its_url_is_no_pandasdb_api(open_server):
    import http.server
    import threading

    with pytest.raises(pdb.InvalidArgument, match=r"http:// or https://"):
        pdb.connect("127.0.0.1:8123", token="token-alice-1")
    with pytest.raises(pdb.InvalidArgument, match=r"http:// or https://"):
        pdb.connect("ftp://127.0.0.1:8123")
    staged = f"{open_server.url}/prod"
    with pytest.raises(pdb.InvalidArgument) as wrong:
        pdb.connect(staged).list()
    message = str(wrong.value)
    assert f"{staged}/dataframes answered HTTP 404" in message
    assert f"{staged} does not look like the base URL of a pandasdb API" in message

    class Html404(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            page = b"<html><body>" + b"<p>Not here</p>" * 200 + b"</body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html404)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}"
        with pytest.raises(pdb.InvalidArgument) as html:
            pdb.connect(url).get("x")
        assert "does not look like the base URL of a pandasdb API" in str(html.value)
        assert "text/html" in str(html.value) and "<p>" not in str(html.value)
    finally:
        other.shutdown()
        other.server_close()


def test_the_sdk_says_when_a_web_page_answers_200_for_every_path():
    """A web app answering every path with its page (200, HTML): each method says the URL
    is no pandasdb API's, never a JSON or parquet decoding error."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def _page(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            page = b"<html><body><p>My app</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        do_GET = do_POST = do_DELETE = _page  # noqa: N815 - the standard library's names

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        db = pdb.connect(f"http://127.0.0.1:{other.server_address[1]}")
        calls = {
            "list": db.list,
            "get": lambda: db.get("x"),
            "upload": lambda: db.upload(pd.DataFrame({"a": [1]}), "x"),
            "versions": lambda: db.versions("x"),
            "dates": lambda: db.dates("x"),
        }
        for what, call in calls.items():
            with pytest.raises(pdb.InvalidArgument) as page:
                call()
            message = str(page.value)
            assert "answered HTTP 200 (text/html" in message, (what, message)
            assert "no pandasdb API's answer" in message and "<p>" not in message, what
    finally:
        other.shutdown()
        other.server_close()


def test_a_chunk_file_gone_under_an_sdk_read_is_chunk_missing(open_server, monkeypatch):
    """A committed chunk file removed while the SDK reads (vacuum, or outside pandasdb): its
    presigned URL answers 404, which is ChunkMissing as in the store's own reads, not a
    StoreUnavailable that says the URL may have expired."""
    for fmt in reading.BATCH_BYTES:  # one file fetched ahead: the rest are fetched after
        monkeypatch.setitem(reading.BATCH_BYTES, fmt, 1)
    db = pdb.connect(open_server.url)
    name = unique("gone")
    db.upload(pd.DataFrame({"x": np.arange(200_000)}), name, chunk_rows=20_000)
    batches = db.iter_batches(name)
    next(batches)
    for path in (open_server.log_path.parent / "data" / name).rglob("*.csv.gz"):
        path.unlink()
    with pytest.raises(pdb.ChunkMissing, match="is gone .*HTTP 404") as gone:
        for _ in batches:
            pass
    assert "expires" not in str(gone.value)
