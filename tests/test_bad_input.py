"""A corpus of malformed and hostile requests: each gets a 4xx naming the problem, never a
5xx, and the store is unchanged afterwards."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from conftest import ServerProcess

GOOD_CSV = "ts,uid,v\n2024-01-01,1,1.5\n2024-01-02,2,2.5\n"
J = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}


def up(body=None, params=None, headers=None, raw=None):
    """An upload request's kwargs: a JSON body, or raw data."""
    kwargs: dict = {"params": params or {}}
    if raw is not None:
        kwargs["data"] = raw
        kwargs["headers"] = headers or CSV
    else:
        kwargs["data"] = body if isinstance(body, str | bytes) else json.dumps(body)
        kwargs["headers"] = headers or J
    return ("POST", "/dataframes/upload", kwargs)


def parquet_body(column: pa.Array) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"a": column}), buf)
    return buf.getvalue()


PARQUET = {"Content-Type": "application/vnd.apache.parquet"}


def get(path, **params):
    return ("GET", path, {"params": params})


def frame(**fields):
    return {"dataframe": GOOD_CSV, "dataframe_name": "fresh", **fields}


CORPUS = [
    # broken or wrongly shaped JSON
    (up("{"), "JSON"),
    (up('{"dataframe": "a\\n1\\n", "dataframe_name": }'), "JSON"),
    (up("[1, 2, 3]"), "dataframe"),
    (up('"just a string"'), "JSON object"),
    (up("null"), "JSON object"),
    (up(b"\xff\xfe{}"), "JSON"),
    (up({"dataframe_name": "x"}), "dataframe is required"),
    (up({"dataframe": 42, "dataframe_name": "x"}), "dataframe"),
    (up({"dataframe": True, "dataframe_name": "x"}), "dataframe"),
    (up({"dataframe": [1, 2], "dataframe_name": "x"}), "records must all be objects"),
    (up({"dataframe": {"a": 1}, "dataframe_name": "x"}), "map columns to lists"),
    (up({"dataframe": [[{"a": 1}]], "dataframe_name": "x"}), "objects"),
    (up({"dataframe": {"a": [1, 2], "b": [1]}, "dataframe_name": "x"}), "dataframe"),
    # ragged, empty, huge CSV
    (up(frame(dataframe="a,b\n1,2,3\n")), "CSV could not be parsed"),
    (up(frame(dataframe="")), "CSV is empty"),
    (up(frame(dataframe="   \n")), "CSV is empty"),
    (up(frame(dataframe="a,b\n")), "no rows"),
    (up(frame(dataframe="a,a\n1,2\n")), "duplicated"),
    (up(raw="a,a\n1,2\n", params={"dataframe_name": "x"}), "duplicated"),
    (up(raw="x" * (11 * 1024 * 1024), params={"dataframe_name": "x"}), "staging"),
    (up(frame(dataframe="a\n" + "1\n" * 10), params={"bogus": "1"}), "bogus"),
    (up({"dataframe": [], "dataframe_name": "x"}), "no rows"),
    # wrong types of fields
    (up(frame(keep_last="yes")), "keep_last"),
    (up(frame(keep_last=1)), "keep_last"),
    (up(frame(chunk_rows="many")), "chunk_rows"),
    (up(frame(chunk_rows=0)), "chunk_rows"),
    (up(frame(chunk_rows=-5)), "chunk_rows"),
    (up(frame(chunk_rows=1.5)), "chunk_rows"),
    (up(frame(format="xlsx")), "format"),
    (up(frame(columns_keys=["ts"])), "columns_keys"),
    (up(frame(columns_keys={"ts": "Month"})), "'Date' or 'ID'"),
    (up(frame(columns_keys={"nope": "Date"})), "nope"),
    (up(frame(columns_keys="{not json")), "columns_keys"),
    (up(frame(external_key={"a": 1})), "external_key"),
    (up(frame(dataframe_name=["a"])), "name"),
    (up(frame(colour="red")), "colour"),
    # dates and ids that are not
    (up(frame(dataframe="ts,v\n2024-13-45,1\n", columns_keys={"ts": "Date"})), "not dates"),
    (up(frame(dataframe="ts,v\nyesterday,1\n", columns_keys={"ts": "Date"})), "not dates"),
    (up(frame(dataframe="ts,v\n,1\n2024-01-01,2\n", columns_keys={"ts": "Date"})), "null"),
    (
        up(frame(dataframe="uid\n99999999999999999999\n", columns_keys={"uid": "ID"})),
        "not integers",
    ),
    (
        up(frame(dataframe="uid\n-99999999999999999999\n", columns_keys={"uid": "ID"})),
        "not integers",
    ),
    (up(frame(dataframe="uid\nNaN\n1\n", columns_keys={"uid": "ID"})), "non-integer"),
    (up(frame(dataframe="uid\n1.5\n", columns_keys={"uid": "ID"})), "non-integer"),
    (up(frame(dataframe="uid\nabc\n", columns_keys={"uid": "ID"})), "not integers"),
    (up(frame(dataframe="uid\n\n1\n", columns_keys={"uid": "ID"})), "null"),
    # names: traversal, encoded traversal, control characters, length, charset
    (up(frame(dataframe_name="../etc/passwd")), "'..'"),
    (up(frame(dataframe_name="a/../../b")), "'..'"),
    (up(frame(dataframe_name="/abs")), "'/'"),
    (up(frame(dataframe_name="a//b")), "empty path segment"),
    (up(frame(dataframe_name="%2e%2e/x")), "outside"),
    (up(frame(dataframe_name="ctl\x01")), "outside"),
    (up(frame(dataframe_name="new\nline")), "outside"),
    (up(frame(dataframe_name="x" * 1100)), "1024"),
    (up(frame(dataframe_name="sp ace")), "outside"),
    (up(frame(dataframe_name=".hidden")), "'.'"),
    (up(frame(dataframe_name="")), "dataframe_name"),
    (up(frame(external_key="../k")), "external_key"),
    (get("/dataframes/..%2F..%2Fetc%2Fpasswd"), "'..'"),
    (get("/dataframes/%2e%2e"), "'..'"),
    (get("/dataframes/a%00b"), "outside"),
    (get("/dataframes/" + "y" * 1100), "1024"),
    (("DELETE", "/dataframes/..%2Ftarget", {}), "'..'"),
    # wrong content types
    (
        up(
            raw=b"\x89PNG\r\n\x1a\n\x00\x00",
            params={"dataframe_name": "x"},
            headers={"Content-Type": "image/png"},
        ),
        "neither parquet nor UTF-8",
    ),
    (
        up(raw="<a/>", params={"dataframe_name": "x"}, headers={"Content-Type": "application/xml"}),
        "no rows",
    ),
    (
        up(
            raw=b"PAR1garbage",
            params={"dataframe_name": "x"},
            headers={"Content-Type": "application/vnd.apache.parquet"},
        ),
        "parquet could not be read",
    ),
    (up(raw="", params={"dataframe_name": "x"}), "no body"),
    # read parameters
    (get("/dataframes/target", as_of="-1"), "as_of"),
    (get("/dataframes/target", as_of="1" + "0" * 30), "as_of"),
    (get("/dataframes/target", as_of="1.5"), "as_of"),
    (get("/dataframes/target", as_of="0"), "as_of"),
    (get("/dataframes/target", start_date="2024-99-01"), "start_date"),
    (get("/dataframes/target", end_date="soon"), "end_date"),
    (get("/dataframes/target", start_date="2024-02-01", end_date="2024-01-01"), "after"),
    (get("/dataframes/target", partition_value="abc"), "partition_value"),
    (get("/dataframes/target", start_id="x"), "start_id"),
    (get("/dataframes/target", partition_value=str(2**70)), "int64"),
    (get("/dataframes/target", columns="nope"), "nope"),
    (get("/dataframes/target", format="xlsx"), "format"),
    (get("/dataframes/target", use_last="maybe"), "use_last"),
    (get("/dataframes/target", external_key="k"), "external_key"),
    (get("/dataframes/target", limit="5"), "limit"),
    (get("/dataframes", prefix="x", sort="name"), "sort"),
    (get("/dataframes/missing-frame"), "missing-frame"),
    (("DELETE", "/dataframes/missing-frame", {}), "missing-frame"),
    (up(params={"staged": "not-an-id", "dataframe_name": "x"}, raw=""), "staged"),
    (up(params={"staged": "0" * 32, "dataframe_name": "x"}, raw=""), "staged"),
    (("PUT", "/dataframes/upload", {"data": "x"}), "route"),
    (("PATCH", "/dataframes/target", {}), "route"),
    # issue 10: values that would be stored changed, or crash the parser
    (up({"dataframe": [{"a": True}, {"a": 2}], "dataframe_name": "x"}), "mixes booleans"),
    (up({"dataframe": {"a": ["x", 1.5]}, "dataframe_name": "x"}), "mixes strings"),
    (up({"dataframe": [{"a": [[[1]]]}], "dataframe_name": "x"}), "nested list"),
    (up({"dataframe": [{"a": 2**64}], "dataframe_name": "x"}), "beyond the int64"),
    (up(frame(dataframe="a\x00b\n1\n")), "NUL characters"),
    (
        up(
            raw=parquet_body(pa.array([0], pa.timestamp("us", "+05:30"))),
            params={"dataframe_name": "x"},
            headers=PARQUET,
        ),
        "time zone",
    ),
    (
        up(
            raw=parquet_body(pa.array([0], pa.timestamp("us", "Mars/Base"))),
            params={"dataframe_name": "x"},
            headers=PARQUET,
        ),
        "time zone",
    ),
    # names that storage would refuse: NAME_MAX segments, 1,024-byte keys
    (up(frame(dataframe_name="x" * 256)), "255"),
    (up(frame(dataframe_name="/".join(["x" * 200] * 4))), "678"),
    (up(frame(external_key="k" * 256)), "255"),
    (up(frame(dataframe="c\n1\n".replace("c", "c" * 256), columns_keys={"c" * 256: "ID"})), "255"),
    (get("/dataframes/" + "y" * 256), "255"),
    (up('{"dataframe": ' + "[" * 100_000 + "]" * 100_000 + ', "dataframe_name": "x"}'), "deeply"),
    (up('{"dataframe": [{"a": ' + "9" * 5000 + '}], "dataframe_name": "x"}'), "4,300 digits"),
    # the original backend's JSON strings: offsets past year 9999, huge digits, surrogates
    (
        up(frame(dataframe='[{"d": "9999-12-31T23:00:00-05:00"}]', columns_keys={"d": "Date"})),
        "outside the years 1 to 9999",
    ),
    (
        up(frame(dataframe='[{"d": "0001-01-01T00:00:00+05:00"}]', columns_keys={"d": "Date"})),
        "outside the years 1 to 9999",
    ),
    (up(frame(dataframe=json.dumps([{"d": "9" * 5000}]), columns_keys={"d": "Date"})), "5,000"),
    (up(frame(dataframe='[{"a": ' + "9" * 5000 + "}]")), "4,300 digits"),
    (up('{"dataframe": [{"a": "\\ud800"}], "dataframe_name": "x"}'), "lone UTF-16 surrogate"),
    (up('{"dataframe": [{"\\udc80": 1}], "dataframe_name": "x"}'), "lone UTF-16 surrogate"),
    (up(frame(dataframe='[{"a": "\\ud800"}]')), "lone UTF-16 surrogate"),
    (up(frame(dataframe='{"\\udc80": {"0": 1}}')), "lone UTF-16 surrogate"),
    (up('{"dataframe": "a\\n\\ud800\\n", "dataframe_name": "x"}'), "lone UTF-16 surrogate"),
    # a batch the frame's recorded types cannot hold
    (
        up(frame(dataframe=[{"ts": "2024-01-03", "uid": 3, "v": "x"}], dataframe_name="target")),
        "row 0 holds 'x'",
    ),
    (
        up(frame(dataframe='[{"ts": "2024-01-03", "uid": 3.5, "v": 1}]', dataframe_name="target")),
        "not a whole number",
    ),
    # names that a route would take for another frame, and paths that mean another frame
    (up(frame(dataframe_name="get/target")), "cannot be reached over HTTP"),
    (up(frame(dataframe_name="target/versions")), "cannot be reached over HTTP"),
    (up(raw="a\n1\n", params={"dataframe_name": "t/dates"}), "cannot be reached over HTTP"),
    (("DELETE", "/dataframes/get/target", {}), "cannot be reached over HTTP"),
    (("POST", "/dataframes/get/target/compact", {}), "cannot be reached over HTTP"),
    # a body on a route that reads none: refused, never ignored (the whole frame deleted)
    (("DELETE", "/dataframes/target", {"json": {"external_key": "k"}}), "'external_key'"),
    (("POST", "/dataframes/target/delete_rows", {"json": {"start_id": 2}}), "query param"),
    (("POST", "/dataframes/target/compact", {"data": "chunk_rows=5"}), "without one"),
    (("POST", "/dataframes/sessions", {"json": {"dataframe_name": "s"}}), "query param"),
    (("POST", "/dataframes/staging", {"data": GOOD_CSV, "headers": CSV}), "without one"),
    # a form's file field (curl -F): its boundary lines were stored as rows
    (
        up(
            raw="--b\r\nContent-Disposition: form-data; name=file\r\n\r\na\n1\n\r\n--b--\r\n",
            params={"dataframe_name": "x"},
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        ),
        "--data-binary",
    ),
    (("POST", "/dataframes/upload", {"files": {"file": ("x.csv", "a\n1\n")}}), "form"),
    # a key twice in one JSON object: refused, never one of them picked
    (up('{"dataframe": "a\\n1\\n", "dataframe_name": "x", "dataframe_name": "y"}'), "twice"),
    (up('{"dataframe": [{"a": 1, "a": 2}], "dataframe_name": "x"}'), "'a' twice"),
    (up(frame(dataframe='[{"a": 1, "a": 2}]')), "'a' twice"),
    # a parameter of one value given twice: refused, never one of them picked
    (("DELETE", "/dataframes/target?external_key=a&external_key=b", {}), "2 times"),
    (("GET", "/dataframes/target?as_of=1&as_of=2", {}), "as_of is given 2 times"),
    (up(raw=GOOD_CSV, params={"dataframe_name": ["x", "y"]}), "dataframe_name is given"),
    # reads: q-values that refuse every format, no column
    (("GET", "/dataframes/target", {"headers": {"Accept": "application/json;q=0"}}), "Accept"),
    (get("/dataframes/target", columns=""), "columns is empty"),
    (get("/dataframes/get/target", columns=","), "columns is empty"),
]


@pytest.fixture(scope="module")
def corpus_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    server = ServerProcess(base / "data", None, base / "server.log")
    server.data = base / "data"
    requests.post(
        f"{server.url}/dataframes/upload",
        json={
            "dataframe": GOOD_CSV,
            "dataframe_name": "target",
            "columns_keys": {"ts": "Date", "uid": "ID"},
        },
    ).raise_for_status()
    yield server
    server.stop()


def state(server) -> tuple:
    files = sorted(
        (str(p.relative_to(server.data)), p.stat().st_size)
        for p in server.data.rglob("*")
        if p.is_file() and ".pandasdb" not in p.parts
    )
    listing = requests.get(f"{server.url}/dataframes").json()
    rows = requests.get(f"{server.url}/dataframes/target").json()
    return files, [(f["name"], f["version"], f["rows"]) for f in listing], rows


def test_corpus_size():
    assert len(CORPUS) >= 75


@pytest.mark.parametrize(
    "request_spec, words", CORPUS, ids=[f"{i:02d}" for i in range(len(CORPUS))]
)
def test_bad_request_is_a_clear_4xx_and_changes_nothing(corpus_server, request_spec, words):
    before = state(corpus_server)
    method, path, kwargs = request_spec
    response = requests.request(method, corpus_server.url + path, timeout=60, **kwargs)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "message", "code"} and body["error"] == body["message"]
    assert words.lower() in body["message"].lower(), body
    assert state(corpus_server) == before


@pytest.mark.parametrize(
    "request_spec",
    [
        up(frame(dataframe="ts\n" + "x" * 5000 + "\n", columns_keys={"ts": "Date"})),
        up(frame(dataframe=[{"ts": "x" * 5000}], columns_keys={"ts": "Date"})),
        up(frame(dataframe=json.dumps([{"ts": "x" * 5000}]), columns_keys={"ts": "Date"})),
        get("/dataframes/target", columns="x" * 5000),
        get("/dataframes/target", as_of="1" * 5000),
        get("/dataframes/target", **{"x" * 5000: "1"}),
    ],
    ids=["csv", "records", "pandas-json", "columns", "as_of", "parameter"],
)
def test_a_value_of_thousands_of_characters_is_quoted_short(corpus_server, request_spec):
    method, path, kwargs = request_spec
    response = requests.request(method, corpus_server.url + path, timeout=60, **kwargs)
    assert response.status_code == 400
    error = response.json()["error"]
    assert len(error) < 600 and "5,0" in error, error


def test_a_json_body_with_a_byte_order_mark_and_no_content_type_is_read_as_json(corpus_server):
    """Windows tools write a byte order mark first: without a Content-Type, a pretty-printed
    JSON body was taken for CSV and each of its lines stored as a row."""
    body = "\ufeff" + json.dumps({"dataframe": [{"a": 1}, {"a": 2}]}, indent=2)
    answer = requests.post(
        f"{corpus_server.url}/dataframes/upload",
        params={"dataframe_name": "bom"},
        data=body.encode(),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert requests.get(f"{corpus_server.url}/dataframes/bom").json() == [{"a": 1}, {"a": 2}]
    requests.delete(f"{corpus_server.url}/dataframes/bom").raise_for_status()
