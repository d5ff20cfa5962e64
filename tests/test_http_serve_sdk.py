"""The SDK and a browser against ``pandasdb serve`` with API Gateway's rules on: upload
sessions aborted, manifests written through the API, presigned URLs that expire under a slow
reader, the request deadline counted from when the request arrived, a 5 MB round trip, and a
browser's preflight, upload and read with CORS."""

from __future__ import annotations

import functools
import json
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
import requests
from pandas.testing import assert_frame_equal
from pandasdb_lambdas.context import ANSWER_MARGIN_S, StoreContext
from pandasdb_lambdas.handler import make_handler
from serving import recorded, recording_handler, serving

import pandasdb_core as pdb
from pandasdb_core import reading
from pandasdb_core.adapters.memory import MemoryBlobStore, MemoryMetadataStore
from pandasdb_core.conversion import to_polars
from pandasdb_core.errors import CommitConflict, SchemaMismatch
from pandasdb_core.streaming import WIRE_PIECE_BYTES
from pandasdb_core.wire import LAMBDA_PAYLOAD, frame_to_bytes

PARQUET = "application/vnd.apache.parquet"


def leftovers(data: Path) -> list[str]:
    """Every file under the data folder but the metadata database's and an aborted session's
    claim (a few bytes kept until vacuum's grace, so that a commit racing the abort is
    refused)."""
    return sorted(
        str(p.relative_to(data))
        for p in data.rglob("*")
        if p.is_file()
        and ".pandasdb" not in p.parts
        and not (p.name == "claim.json" and p.parent.parent.name == "sessions")
    )


# ---------------------------------------------------------------------------------- task 6


def test_a_streamed_upload_that_fails_midway_aborts_its_session(tmp_path):
    """The SDK aborts its session when a piece is refused or its iterator raises: the chunk
    files of the pieces written go at once, not after vacuum's grace period."""
    data = tmp_path / "data"
    with serving(data, workers=2) as url:
        db = pdb.connect(url)

        def failing():
            yield pd.DataFrame({"a": range(1000)})
            yield pd.DataFrame({"a": range(1000, 2000)})
            raise RuntimeError("the source broke")

        with pytest.raises(RuntimeError, match="the source broke"):
            db.upload(failing(), "s", chunk_rows=100)
        assert leftovers(data) == [], "the session's chunks and staging files are gone"
        with pytest.raises(SchemaMismatch, match="piece 1"):
            db.upload(iter([pd.DataFrame({"a": [1]}), pd.DataFrame({"a": ["x"]})]), "s")
        assert leftovers(data) == []
        with pytest.raises(pdb.FrameNotFound):
            db.versions("s")


def test_the_abort_route(tmp_path):
    """``DELETE /dataframes/sessions/{id}``: 200 for an open session (its files removed), 404
    once gone, 409 for a committed one (its version stays); a frame named ``sessions/x`` is
    refused up front, since that path is the abort's."""
    data = tmp_path / "data"
    with serving(data, workers=1) as url:
        opened = requests.post(f"{url}/dataframes/sessions", params={"dataframe_name": "f"})
        session = opened.json()["session"]
        assert opened.json()["abort"] == f"DELETE /dataframes/sessions/{session}"
        piece = requests.post(
            f"{url}/dataframes/sessions/{session}/pieces",
            params={"piece": 0},
            data="a\n1\n2\n",
            headers={"Content-Type": "text/csv"},
        )
        assert piece.ok and leftovers(data) != []
        aborted = requests.delete(f"{url}/dataframes/sessions/{session}")
        assert aborted.status_code == 200 and aborted.json() == {"aborted": session, "name": "f"}
        assert leftovers(data) == []
        again = requests.delete(f"{url}/dataframes/sessions/{session}")
        assert again.status_code == 404 and again.json()["code"] == "not_found"
        commit = requests.post(f"{url}/dataframes/sessions/{session}/commit")
        assert commit.status_code == 400 and "no open upload session" in commit.json()["message"]

        done = requests.post(f"{url}/dataframes/sessions", params={"dataframe_name": "g"})
        other = done.json()["session"]
        requests.post(
            f"{url}/dataframes/sessions/{other}/pieces",
            params={"piece": 0},
            data="a\n1\n",
            headers={"Content-Type": "text/csv"},
        ).raise_for_status()
        requests.post(f"{url}/dataframes/sessions/{other}/commit").raise_for_status()
        refused = requests.delete(f"{url}/dataframes/sessions/{other}")
        assert refused.status_code == 409 and "version 1" in refused.json()["message"]
        assert pdb.connect(url).get("g")["a"].tolist() == [1]
        bad = requests.delete(f"{url}/dataframes/sessions/nope")
        assert bad.status_code == 400
        named = requests.post(
            f"{url}/dataframes/upload", json={"dataframe": "a\n1\n", "dataframe_name": "sessions/x"}
        )
        assert named.status_code == 400 and "cannot be reached over HTTP" in named.json()["error"]


# ---------------------------------------------------------------------------------- task 7


def test_manifests_through_the_api_on_demand_and_with_every_commit(tmp_path, monkeypatch):
    """``POST /dataframes/{name}/manifest`` (``db.manifest``) writes the symlink manifests of
    the latest version; with ``PANDASDB_MANIFESTS=true`` (the stack's ``manifests``
    setting) every commit through the API does."""
    df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02"]), "v": [1, 2]})
    data = tmp_path / "data"
    with serving(data, workers=1) as url:
        db = pdb.connect(url)
        db.upload(df, "sales", columns_keys={"ts": "Date"})
        assert not (data / "sales" / "_symlink_format_manifest").exists(), "off by default"
        keys = db.manifest("sales")
        assert keys == ["sales/_symlink_format_manifest/ts/manifest"]
        listed = (data / keys[0]).read_text().split()
        assert sorted(listed) == sorted(f.uri for f in pdb.open(data).files("sales").files)
        with pytest.raises(pdb.FrameNotFound):
            db.manifest("nothing")
    monkeypatch.setenv("PANDASDB_MANIFESTS", "true")
    with serving(tmp_path / "auto", workers=1) as url:
        db = pdb.connect(url)
        db.upload(df, "sales", columns_keys={"ts": "Date"})
        manifest = tmp_path / "auto" / "sales" / "_symlink_format_manifest" / "ts" / "manifest"
        assert len(manifest.read_text().split()) == 2
        db.upload(df.assign(ts=df.ts + pd.Timedelta(days=5)), "sales")
        assert len(manifest.read_text().split()) == 4, "rewritten by the commit"


# ---------------------------------------------------------------------------------- task 8


def test_iter_batches_renews_expired_urls_and_goes_on(tmp_path, monkeypatch):
    """S3 refuses a presigned URL once its X-Amz-Expires has passed (403 "Request has
    expired"; S3 user guide, "Sharing objects with presigned URLs"). A consumer slower than
    the URLs' lifetime (1 s here, 15 minutes on AWS) gets every batch: the SDK renews the
    snapshot once per expiry, for the same version, and goes on from the file it was at."""
    n = 6_000
    df = pd.DataFrame({"a": np.arange(n), "b": np.arange(n) * 0.5})
    for fmt in reading.BATCH_BYTES:  # one file fetched ahead: the others' URLs expire unused
        monkeypatch.setitem(reading.BATCH_BYTES, fmt, 1)
    with serving(tmp_path / "data", workers=1, presign_seconds=1) as url:
        db = pdb.connect(url)
        db.upload(df, "f", chunk_rows=1_500)
        db.upload(pd.DataFrame({"a": [-1], "b": [-1.0]}), "f")  # read version 1 only
        renewed: list[Any] = []
        real = db.snapshot_of

        def counted(query):
            renewed.append(query.as_of)
            return real(query)

        monkeypatch.setattr(db, "snapshot_of", counted)
        batches = []
        for batch in db.iter_batches("f", as_of=1):
            batches.append(batch)
            time.sleep(2.1)  # the URLs of the files not yet fetched expire meanwhile
        assert_frame_equal(pd.concat(batches, ignore_index=True), df)
        assert renewed[0] == 1 and len(renewed) >= 2 and set(renewed) == {1}
        with pytest.raises(pdb.InvalidArgument, match="batch_rows must be a positive integer"):
            db.iter_batches("f", batch_rows=0)  # refused at the call, not at the first batch


# ---------------------------------------------------------------------------------- task 9


class AlwaysMoved(MemoryMetadataStore):
    def commit(self, *args: Any, **kwargs: Any) -> None:
        raise CommitConflict("frame 'f' moved past version 0")


def conflicting_handler(resolve: Any) -> Any:
    """The real handler on a store whose commits always lose their race and whose own
    commit timeout (120 s) is far beyond any gateway's."""
    store = pdb.Store(MemoryBlobStore(), AlwaysMoved(), commit_timeout=120.0)
    return make_handler(lambda caller: StoreContext(store, lambda m, k: k))


def test_a_commit_retrying_under_serve_stops_before_the_gateway_timeout(tmp_path):
    """API Gateway quotas, "Integration timeout" (29 s, here --gateway-timeout 6): the
    function's deadline is the gateway's, counted from when the request arrived
    (requestContext.requestTimeEpoch; Lambda's context, get_remaining_time_in_millis), so
    a commit that keeps losing answers 409 before the gateway's 504, never after."""
    timeout = 6.0
    with serving(
        tmp_path / "data", workers=1, gateway_timeout=timeout, handler_factory=conflicting_handler
    ) as url:
        requests.get(f"{url}/openapi.json").raise_for_status()  # the worker is started
        started = time.monotonic()
        response = requests.post(
            f"{url}/dataframes/upload", json={"dataframe": "a\n1\n", "dataframe_name": "f"}
        )
        took = time.monotonic() - started
    assert response.status_code == 409, response.text
    assert timeout - ANSWER_MARGIN_S - 0.5 < took < timeout - 1.0, took


def test_the_request_time_is_taken_when_the_request_arrives(tmp_path):
    """The proxy event's requestTimeEpoch is when the gateway received the request ("Input
    format of a Lambda function for proxy integration"), before a slow body arrived."""
    events = tmp_path / "events.jsonl"
    with serving(
        tmp_path / "data", handler_factory=functools.partial(recording_handler, events, None)
    ) as url:
        parts = urlsplit(url)
        body = b"a\n1\n"
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sent = time.time()
            sock.sendall(
                b"POST /dataframes/upload?dataframe_name=x HTTP/1.1\r\nHost: h\r\n"
                b"Content-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % len(body)
            )
            time.sleep(1.5)
            sock.sendall(body)
            assert b" 200 " in sock.recv(65536)
    received = recorded(events)[0]["requestContext"]["requestTimeEpoch"] / 1000
    assert sent - 0.1 <= received < sent + 1.0


# ---------------------------------------------------------------------------------- task 11


def test_a_five_megabyte_frame_round_trips_through_the_sdk_with_gateway_rules(tmp_path):
    """Lambda quotas, "Invocation payload 6 MB", measured after base64 (API Gateway, "Binary
    media types for REST APIs"): between the small frame (one request) and the 60 MB one (a
    session, a manifest), a 5 MB frame's parquet is near the limit once base64, over the
    3 MB a piece aims at, so it goes as a session of pieces that each fit; it reads back
    whole (inline, as its files are small) and by day."""
    n = 220_000
    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) * 7, unit="s"),
            "x": rng.random(n),
            "y": rng.random(n),
        }
    )
    assert 5e6 < df.memory_usage().sum() < 6e6
    frame, schema = to_polars(df)
    wire = frame_to_bytes(frame, "parquet", schema)
    assert WIRE_PIECE_BYTES < len(wire) < LAMBDA_PAYLOAD
    with serving(tmp_path / "data", workers=2) as url:
        db = pdb.connect(url, progress=False)
        commit = db.upload(df, "five", columns_keys={"ts": "Date"}, format="parquet")
        assert commit.rows == n
        assert_frame_equal(db.get("five"), df)
        day = db.get("five", start_date="2024-01-05", end_date="2024-01-05")
        assert len(day) == (df.ts.dt.date == pd.Timestamp("2024-01-05").date()).sum()


def test_the_sdk_overwrites_and_replaces_partitions_of_frames_over_one_piece(tmp_path):
    """A frame whose parquet is over the 3 MB a piece aims at goes as an upload session of
    pieces whatever the upload's mode: overwrite and replace_partitions are each one commit
    of the session's pieces (the session is opened with the mode), and read back exactly."""
    n = 400_000
    start = pd.Timestamp("2024-01-01")

    def frame(first_day: int, days: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        seconds = np.sort(rng.integers(0, days * 86_400, n)) + first_day * 86_400
        return pd.DataFrame({"ts": start + pd.to_timedelta(seconds, unit="s"), "x": rng.random(n)})

    first, late, other = frame(0, 3, 1), frame(1, 1, 2), frame(5, 2, 3)  # days 1-3, 2, 6-7
    for df in (late, other):
        polars_frame, schema = to_polars(df)
        wire = frame_to_bytes(polars_frame, "parquet", schema)
        assert len(wire) > WIRE_PIECE_BYTES, "more than one piece"
    with serving(tmp_path / "data", workers=2) as url:
        db = pdb.connect(url, progress=False)
        db.upload(first, "f", columns_keys={"ts": "Date"}, format="parquet")
        replaced = db.upload(late, "f", mode="replace_partitions")
        day = first.ts.dt.day
        kept = pd.concat([first[day == 1], late, first[day == 3]], ignore_index=True)
        assert replaced.rows == n and replaced.rows_removed == int((day == 2).sum())
        assert_frame_equal(db.get("f"), kept)
        overwritten = db.upload(other, "f", mode="overwrite")
        assert overwritten.rows_removed == len(kept)
        assert_frame_equal(db.get("f"), other)
        operations = [v.operation for v in db.versions("f")]
        assert operations == ["append", "replace_partitions", "overwrite"]


def test_a_browser_preflights_uploads_and_reads_with_cors(tmp_path, monkeypatch):
    """ "Enabling CORS for a REST API resource" (API Gateway developer guide): the preflight
    answers the allowed origin, methods and headers without a token, and the real answers
    (the upload's 200, the read's 200) carry Access-Control-Allow-Origin for the page's
    origin, or the browser hides them from the page."""
    origin = "https://app.example"
    monkeypatch.setenv("PANDASDB_CORS_ORIGINS", f"https://other.example,{origin}")
    users = {"alice": "token-alice-1"}
    with serving(tmp_path / "data", users=users, workers=1) as url:
        preflight = requests.options(
            f"{url}/dataframes/upload",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["Access-Control-Allow-Origin"] == origin
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        auth = {"Origin": origin, "Authorization": "Bearer token-alice-1"}
        upload = requests.post(
            f"{url}/dataframes/upload",
            data=json.dumps({"dataframe": [{"a": 1}, {"a": 2}], "dataframe_name": "page"}),
            headers={**auth, "Content-Type": "application/json"},
        )
        assert upload.status_code == 200, upload.text
        assert upload.headers["Access-Control-Allow-Origin"] == origin
        read = requests.get(f"{url}/dataframes/page", headers=auth)
        assert read.status_code == 200 and read.json() == [{"a": 1}, {"a": 2}]
        assert read.headers["Access-Control-Allow-Origin"] == origin
        assert "X-Pandasdb-Rows" in read.headers.get("Access-Control-Expose-Headers", "")
        # a result too large for one response: the URL in a 200, fetched with the origin
        big = pd.DataFrame({"x": np.arange(400_000), "y": ["some text"] * 400_000})
        pdb.connect(url, token="token-alice-1").upload(big, "big")
        staged = requests.get(f"{url}/dataframes/big?format=csv", headers=auth)
        assert staged.status_code == 200 and staged.json()["delivery"] == "url"
        assert staged.headers["Access-Control-Allow-Origin"] == origin
        fetched = requests.get(staged.json()["url"], headers={"Origin": origin})
        assert fetched.status_code == 200
        assert fetched.headers["Access-Control-Allow-Origin"] == origin
        assert len(fetched.content) == staged.json()["bytes"]
