"""What one request of the function holds and answers stays bounded, whatever the data:

- reads go through the caller's own store (on AWS, the request's scoped credentials: the
  function's role has no S3 permission), and are built a batch of chunk files at a time;
- JSON answers (lists of frames, versions, days, chunk files) too large for one Lambda
  response are staged and answered by URL, as large results are, and the SDK follows;
- a browser (a request with an ``Origin``) gets the URL in a 200, not a 303;
- staged bodies are capped at what one request decodes whole, before they are read.

The handler runs in this process, behind API Gateway's rules as ``pandasdb serve`` applies
them (:func:`pandasdb_lambdas.local_gateway.http_answer`: a response over 6 MB becomes a 502)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pandasdb_lambdas.api as api
import pandasdb_lambdas.results as results
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from botocore.signers import RequestSigner
from pandasdb_lambdas.context import StoreContext
from pandasdb_lambdas.handler import make_handler
from pandasdb_lambdas.local_gateway import http_answer, proxy_event
from requests.adapters import BaseAdapter
from test_handlers_aws import call, deployed, event  # noqa: F401 - deployed is a fixture

import pandasdb_core as pdb
from pandasdb_core import reading, snapshot
from pandasdb_core.adapters.memory import MemoryBlobStore, MemoryMetadataStore
from pandasdb_core.errors import PayloadTooLarge
from pandasdb_core.operations import ReadQuery, UploadOptions
from pandasdb_core.records import VersionRecord
from pandasdb_core.sessions import UploadSession
from pandasdb_core.wire import ENVELOPE, LAMBDA_PAYLOAD, MAX_STAGED_BYTES, frame_to_bytes

BLOBS = "https://blobs.test/"
API = "https://api.test"
PARQUET = "application/vnd.apache.parquet"


class InProcessAPI(BaseAdapter):
    """``requests`` to the API answered by the handler in this process through API
    Gateway's rules, and to :data:`BLOBS` (the stand-in for presigned S3 URLs) from the
    store's blobs. Records each answer's status."""

    def __init__(self, store: pdb.Store) -> None:
        super().__init__()
        self.store = store
        self.handle = make_handler(
            lambda caller: StoreContext(store, lambda method, key: BLOBS + key)
        )
        self.statuses: list[tuple[str, int]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        out = requests.Response()
        out.url = request.url or ""
        out.request = request
        if out.url.startswith(BLOBS):
            out.status_code, out._content = 200, self.store.blobs.get(out.url[len(BLOBS) :])
            return out
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        ev = proxy_event(
            request.method or "GET",
            request.path_url,
            list(request.headers.items()),
            body,
            {"sub": "u1"},
            "127.0.0.1",
            strict=True,
        )
        answer = http_answer(
            self.handle(ev, None),
            request.headers.get("Accept"),
            strict=True,
            origin=None,
            allowed=["*"],
        )
        self.statuses.append((request.path_url.split("?")[0], answer.status))
        out.status_code = answer.status
        out.headers.update(dict(answer.headers))
        out._content = answer.body
        return out

    def close(self) -> None:
        pass


def connected(store: pdb.Store) -> tuple[pdb.RemoteStore, InProcessAPI]:
    db = pdb.connect(API, retries=0)
    adapter = InProcessAPI(store)
    db._session.mount(API, adapter)
    db._session.mount(BLOBS, adapter)
    return db, adapter


def get(handle: Any, path: str, query: dict | None = None, headers: dict | None = None) -> dict:
    """The handler's answer to a GET, its headers merged into ``headers``."""
    response = handle(event("GET", path, {"sub": "u1"}, query=query, headers=headers), None)
    merged = dict(response.get("headers") or {})
    merged.update({k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()})
    return {**response, "headers": merged}


# ---------------------------------------------------------------------------------- task 1


def test_a_small_chunked_read_on_aws_uses_the_requests_scoped_credentials(
    deployed,  # noqa: F811
    monkeypatch,
):
    """AWS STS AssumeRole with a session policy ("Session policies", IAM user guide): the
    function's own role has no S3 permission; every S3 call of a request is signed with the
    credentials of the data role assumed for its caller. A ``chunked=true`` read small
    enough to answer inline is read by the function through the caller's store, never with
    a client of its own (whose default credentials S3 would refuse)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}],
    }
    role = boto3.client("iam").create_role(
        RoleName="pandasdb-data", AssumeRolePolicyDocument=json.dumps(trust)
    )
    monkeypatch.setenv("PANDASDB_DATA_ROLE_ARN", role["Role"]["Arn"])
    monkeypatch.setenv(
        "PANDASDB_TABLE_ARN", "arn:aws:dynamodb:us-east-1:123456789012:table/pandasdb-prod-meta"
    )
    alice = deployed["alice"]
    frame = pl.DataFrame({"x": range(50_000), "y": ["v"] * 50_000})
    status, _, body = call(
        event(
            "POST",
            "/dataframes/upload",
            alice,
            body=frame_to_bytes(frame, "parquet"),
            query={"dataframe_name": ["small"], "chunk_rows": ["10000"]},
            headers={"Content-Type": PARQUET},
        )
    )
    assert status == 200, body
    signed: list[tuple[str, str]] = []
    real_sign = RequestSigner.sign

    def spying_sign(self, operation_name, request, *args, **kwargs):
        if str(self._service_id).lower() == "s3":
            signed.append((operation_name, self._credentials.access_key))
        return real_sign(self, operation_name, request, *args, **kwargs)

    def no_own_client(*args, **kwargs):
        raise AssertionError("the function built an S3 client of its own")

    monkeypatch.setattr(RequestSigner, "sign", spying_sign)
    monkeypatch.setattr(snapshot, "_s3_client", no_own_client)
    status, headers, body = call(
        event(
            "GET",
            "/dataframes/small",
            alice,
            query={"chunked": ["true"], "format": ["parquet"]},
            headers={"Accept": PARQUET},
        )
    )
    assert status == 200 and headers["Content-Type"] == PARQUET, body
    assert pl.read_parquet(io.BytesIO(body)).equals(frame)
    reads = [key for operation, key in signed if operation == "GetObject"]
    assert len(reads) == 5, signed  # one per chunk file
    default = boto3.session.Session().get_credentials().access_key
    assert default not in reads, "a chunk was read with the function's own credentials"


def test_every_read_goes_through_the_stores_blob_port():
    """The same on any store: the read's files come through the store the request resolved
    (a counter on its blobs sees every chunk), for small chunked reads and whole ones."""

    class Counted(MemoryBlobStore):
        gets = 0

        def _get(self, key: str) -> bytes:
            type(self).gets += 1
            return super()._get(key)

    store = pdb.Store(Counted(), MemoryMetadataStore(), chunk_rows=100)
    store.upload(pd.DataFrame({"a": range(1000)}), "f")
    handle = make_handler(lambda caller: StoreContext(store, lambda m, k: k))
    for query in ({"chunked": ["true"]}, {}, {"format": ["csv"]}):
        Counted.gets = 0
        response = get(handle, "/dataframes/f", query)
        assert response["statusCode"] == 200
        assert Counted.gets == 10, query


# ---------------------------------------------------------------------------------- task 3


class LongHistory(MemoryMetadataStore):
    """A metadata store whose one frame has ``count`` versions (generated, not committed)
    and whose listing repeats it under ``frames`` names: a history and a catalogue too large
    for one Lambda response, without writing them."""

    def __init__(self, count: int = 0, frames: int = 0) -> None:
        super().__init__()
        self.count, self.listed = count, frames

    def versions(self, frame_id: str) -> list[VersionRecord]:
        real = super().versions(frame_id)
        if not self.count:
            return real
        first = real[0]
        return [
            VersionRecord(v, f"txn-{v}", first.created_at + v, 1, v, 1, 100, operation="append")
            for v in range(1, self.count + 1)
        ]

    def frames(self, prefix: str = ""):
        real = super().frames(prefix)
        if not self.listed or not real:
            return real
        import dataclasses

        head = real[0]
        return [dataclasses.replace(head, name=f"{head.name}/{i:06d}") for i in range(self.listed)]


def test_a_history_and_a_catalogue_over_6_mb_are_staged_and_the_sdk_follows():
    """Lambda quotas ("Invocation payload 6 MB" for a response) and API Gateway's 502 for a
    response Lambda refuses ("How do I resolve HTTP 502 errors from API Gateway REST APIs
    with Lambda proxy integration?"): ``GET /dataframes/{name}/versions`` of 40,000 versions
    and ``GET /dataframes`` of 25,000 frames are over 6 MB of JSON; they are staged and
    answered 303, which the SDK follows (it used to get 502 and retry it five times)."""
    store = pdb.Store(MemoryBlobStore(), LongHistory(40_000, 25_000))
    store.upload(pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"]), "v": [1]}), "f")
    db, adapter = connected(store)
    history = db.versions("f")
    assert [v.version for v in history] == list(range(1, 40_001))
    assert len(json.dumps(history.to_json(), default=str)) > LAMBDA_PAYLOAD
    listed = db.list()
    assert len(listed) == 25_000 and listed[0].name == "f/000000"
    assert adapter.statuses == [("/dataframes/f/versions", 303), ("/dataframes", 303)]


def test_json_answers_past_the_limit_are_staged_for_every_catalogue_route(capsys, monkeypatch):
    """The same rule on each JSON route (the limit lowered, so small answers reach it)."""
    monkeypatch.setattr(api, "RESPONSE_LIMIT", ENVELOPE + 30_000)
    store = pdb.open("memory://", chunk_rows=10)
    days = pd.date_range("2024-01-01", periods=3000, freq="D")
    store.upload(pd.DataFrame({"ts": days, "v": range(3000)}), "long", columns_keys={"ts": "Date"})
    handle = make_handler(lambda caller: StoreContext(store, lambda m, k: "https://s/" + k))
    for path in ("/dataframes/long/dates", "/dataframes/long/files"):
        response = get(handle, path)
        assert response["statusCode"] == 303, path
        staged = json.loads(response["body"])
        assert staged["delivery"] == "url" and response["headers"]["Location"] == staged["url"]
        body = json.loads(store.blobs.get(staged["url"].removeprefix("https://s/")))
        assert len(body if path.endswith("dates") else body["files"]) == 3000
    small = get(handle, "/dataframes", {"prefix": ["lo"]})
    assert small["statusCode"] == 200 and json.loads(small["body"])[0]["name"] == "long"
    capsys.readouterr()


# ---------------------------------------------------------------------------------- task 4


def test_a_browser_gets_the_url_in_a_200_not_a_303(capsys, monkeypatch):
    """Fetch standard, "HTTP-redirect fetch": after a cross-origin redirect the request's
    origin is serialised as ``null``, and S3 answers CORS only for the bucket's configured
    origins (S3 user guide, "Using cross-origin resource sharing (CORS)"): a browser cannot
    follow a 303 to a presigned URL. A request carrying ``Origin`` gets the same body as a
    200, and the page fetches ``url`` itself; clients without it still get the 303."""
    monkeypatch.setattr(api, "RESPONSE_LIMIT", ENVELOPE + 64_000)
    store = pdb.open("memory://", chunk_rows=50)
    store.upload(pd.DataFrame({"x": range(20_000)}), "wide")
    handle = make_handler(lambda caller: StoreContext(store, lambda m, k: "https://s/" + k))
    origin = {"Origin": "https://app.example"}
    for path, query in (("/dataframes/wide", {"format": ["csv"]}), ("/dataframes/wide/files", {})):
        plain = get(handle, path, query)
        browser = get(handle, path, query, headers=origin)
        assert plain["statusCode"] == 303 and "Location" in plain["headers"]
        assert browser["statusCode"] == 200 and "Location" not in browser["headers"]
        body = json.loads(browser["body"])
        assert body["delivery"] == "url" and body["url"].startswith("https://s/.staging/")
        assert {"format", "bytes", "expires_in"} <= set(body)
        assert browser["headers"]["Access-Control-Allow-Origin"] == "*"
    staged = store.blobs.get(body["url"].removeprefix("https://s/"))
    assert len(json.loads(staged)["files"]) == 400
    capsys.readouterr()


# ---------------------------------------------------------------------------------- task 5


def test_staged_bodies_over_the_piece_limit_are_refused_before_they_are_read(capsys):
    """A staged upload or replace is decoded whole by one request (the 288 MB CSV that took
    a worker to 1.79 GB): over MAX_STAGED_BYTES it is a 413 saying what to do instead, and
    its data is never read."""

    class Watched(MemoryBlobStore):
        read: list[str] = []

        def _get(self, key: str) -> bytes:
            self.read.append(key)
            return super()._get(key)

    store = pdb.Store(Watched(), MemoryMetadataStore())
    store.upload(pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"]), "v": [1]}), "f")
    handle = make_handler(lambda caller: StoreContext(store, lambda m, k: k))
    upload_id = store.staging.new_upload_id()
    store.blobs.put(store.staging.upload_key(upload_id), b"v\n" + b"1\n" * (MAX_STAGED_BYTES // 2))
    session = json.loads(
        handle(
            event("POST", "/dataframes/sessions", {"sub": "u1"}, query={"dataframe_name": ["g"]}),
            None,
        )["body"]
    )
    Watched.read.clear()
    cases = [
        ("/dataframes/upload", {"dataframe_name": ["g"]}, "upload session"),
        ("/dataframes/f/replace", {"start_date": ["2024-01-01"]}, "narrower range"),
        (f"/dataframes/sessions/{session['session']}/pieces", {"piece": ["0"]}, "smaller pieces"),
    ]
    for path, query, hint in cases:
        response = handle(
            event("POST", path, {"sub": "u1"}, query={**query, "staged": [upload_id]}), None
        )
        answer = json.loads(response["body"])
        assert response["statusCode"] == 413 and answer["code"] == "too_large", answer
        assert f"{MAX_STAGED_BYTES:,}" in answer["message"] and hint in answer["message"]
    assert store.staging.upload_key(upload_id) not in Watched.read
    capsys.readouterr()


def test_the_sdk_refuses_a_replace_too_large_to_stage_before_sending_it():
    store = pdb.open("memory://")
    db, adapter = connected(store)
    noise = pl.Series("b", [os.urandom(1000) for _ in range(70_000)], dtype=pl.Binary)
    big = pl.DataFrame({"ts": [dt.datetime(2024, 1, 1)] * 70_000, "b": noise})
    with pytest.raises(PayloadTooLarge, match="narrower range"):
        db.replace("f", big, start_date="2024-01-01", end_date="2024-01-01")
    assert adapter.statuses == [], "nothing was sent"


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_a_read_without_chunks_is_built_batch_by_batch_and_equals_the_whole(
    fmt, capsys, monkeypatch
):
    """A result of many batches of chunk files (several MB, staged) is what encoding the
    whole frame at once gave, and no request reads the frame whole (``Store.read``)."""
    store = pdb.open("memory://", chunk_rows=20_000)
    n = 400_000
    frame = pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(range(n), unit="min"),
            "s": [f"row {i}" for i in range(n)],
            "f": [i / 7 for i in range(n)],
        },
        index=pd.Index(range(n), name="k"),
    )
    store.upload(frame, "f", columns_keys={"ts": "Date"})
    whole, schema = store.read(_query("f"))

    def never(self, query):
        raise AssertionError("the function read the frame whole")

    monkeypatch.setattr(pdb.Store, "read", never)
    monkeypatch.setattr(api, "RESPONSE_LIMIT", ENVELOPE + 1_000_000)  # every result is staged
    batches = list(api.results.read_batches(store, store.files("f"), _query("f")))
    assert len(batches) >= 2 and max(b.height for b in batches) < n
    handle = make_handler(lambda caller: StoreContext(store, lambda m, k: "https://s/" + k))
    response = get(handle, "/dataframes/f", {"format": [fmt]})
    assert response["statusCode"] == 303
    staged = store.blobs.get(json.loads(response["body"])["url"].removeprefix("https://s/"))
    capsys.readouterr()
    assert staged == _whole_encoding(whole, schema, fmt)


def _query(name: str) -> Any:
    from pandasdb_core.operations import ReadQuery

    return ReadQuery.build(name=name)


def _whole_encoding(frame: pl.DataFrame, schema: Any, fmt: str) -> bytes:
    """What the function answered before: the whole frame encoded at once."""
    from pandasdb_core.conversion import output_polars

    if fmt == "parquet":
        return frame_to_bytes(frame, "parquet", schema)
    return frame_to_bytes(output_polars(frame, schema), fmt)  # type: ignore[arg-type]


def test_a_result_past_the_limit_is_a_413_that_points_to_the_chunk_files(capsys, monkeypatch):
    """Past MAX_RESULT_BYTES (lowered here) a read without chunked=true stops with a 413
    naming chunked=true and /files: refused at once when the files alone are larger (a read
    of whole files), else when the encoding passes it (holding no more than it)."""
    monkeypatch.setattr(api, "MAX_RESULT_BYTES", 100_000)
    store = pdb.open("memory://", chunk_rows=5_000)
    store.upload(pd.DataFrame({"x": range(100_000), "s": ["text"] * 100_000}), "f")
    handle = make_handler(lambda caller: StoreContext(store, lambda m, k: "https://s/" + k))
    for query in ({"format": ["csv"]}, {"format": ["json"], "columns": ["x"]}, {}):
        response = get(handle, "/dataframes/f", query)
        answer = json.loads(response["body"])
        assert response["statusCode"] == 413 and answer["code"] == "too_large", query
        assert "chunked=true" in answer["message"] and "/files" in answer["message"]
    chunked = get(handle, "/dataframes/f", {"chunked": ["true"], "format": ["parquet"]})
    assert chunked["statusCode"] == 200  # a manifest, or the rows inline: never refused
    capsys.readouterr()


def test_the_sdks_batches_have_gets_dtypes_when_nulls_come_from_some_chunks():
    """As the store's iter_batches: an int64 column that some chunks leave null is Int64 in
    every batch when the read holds a null there, int64 when it does not."""
    store = pdb.open("memory://")
    store.upload(pd.DataFrame({"a": [1, 2], "e": [7, 8]}), "f")
    store.upload(pd.DataFrame({"a": [3]}), "f")  # omits e: null in its row
    db, _ = connected(store)
    for read in ({}, {"as_of": 1}):
        expected = store.get("f", **read)
        batches = list(db.iter_batches("f", batch_rows=1, **read))
        assert [b.dtypes.to_dict() for b in batches] == [expected.dtypes.to_dict()] * len(batches)
        pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), expected)


def test_a_parquet_body_that_decodes_to_gigabytes_is_a_413_before_it_is_decoded(tmp_path):
    """A few hundred KB of parquet can hold a column of 80 million repeated values (640 MB
    decoded; a 6 MB body, billions of rows): refused from its footer, inline or as a piece
    (staged bodies are decoded by the same code), and nothing is written."""
    block = pa.table({"a": pa.array(np.zeros(10_000_000, dtype="int64"))})
    path = tmp_path / "bomb.parquet"
    with pq.ParquetWriter(path, block.schema, compression="zstd") as writer:
        for _ in range(8):
            writer.write_table(block)
    bomb = path.read_bytes()
    assert len(bomb) < 1_000_000
    store = pdb.open("memory://")
    handle = make_handler(lambda caller: StoreContext(store, lambda m, k: "https://s/" + k))

    def post(path: str, query: dict) -> dict:
        ev = event(
            "POST", path, {"sub": "u1"}, query=query, body=bomb, headers={"Content-Type": PARQUET}
        )
        response = handle(ev, None)
        return {"status": response["statusCode"], **json.loads(response["body"])}

    answer = post("/dataframes/upload", {"dataframe_name": ["f"]})
    assert answer["status"] == 413 and answer["code"] == "too_large", answer
    assert "80,000,000 rows" in answer["message"] and "upload session" in answer["message"]
    session = UploadSession.open(store, UploadOptions(name="f"))
    answer = post(f"/dataframes/sessions/{session.session_id}/pieces", {"piece": ["0"]})
    assert answer["status"] == 413 and answer["code"] == "too_large", answer
    assert store.list().to_json() == [] and not session.pieces()


def test_a_read_decodes_a_bounded_number_of_values_per_batch_however_well_files_compress(
    monkeypatch,
):
    """Chunk files of repeated values are tiny (2 MB of them can hold 200 million rows), so
    a batch of stored bytes alone decoded them all at once (a GET of such a frame took
    2.4 GB); batches stop at BATCH_VALUES values too (lowered here), and the read is whole."""
    monkeypatch.setattr(reading, "BATCH_VALUES", 20_000)
    store = pdb.open("memory://", chunk_rows=5_000)
    frame = pd.DataFrame({"x": np.zeros(100_000, dtype="int64"), "y": 1.5})
    store.upload(frame, "f")
    snap = store.files("f")
    assert len(snap.files) == 20 and snap.bytes < reading.BATCH_BYTES["csv.gz"]
    batches = list(results.read_batches(store, snap, ReadQuery.build(name="f")))
    assert max(b.height for b in batches) <= 10_000  # 20,000 values of two columns
    assert pl.concat(batches).to_pandas().equals(frame)
