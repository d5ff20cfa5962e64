"""Any size through the API: the SDK sends a large frame as an upload session (pieces that
each fit one request, one commit) and reads it back from a manifest of presigned chunk URLs,
so no request of the function holds the frame: through ``pandasdb serve`` whose worker
processes have a memory limit smaller than the frame, and through the Lambda handler on
S3 + DynamoDB under moto with every request and response inside Lambda's 6 MB."""

from __future__ import annotations

import functools
import io
import json
import resource
import threading
from typing import Any

import numpy as np
import pandas as pd
import pandasdb_lambdas.aws as aws_entry
import polars as pl
import pytest
import requests
from pandasdb_lambdas.handler import make_handler
from pandasdb_lambdas.local_gateway import LAMBDA_MAX_REQUEST, event_size, http_answer, proxy_event
from requests.adapters import BaseAdapter
from serving import serving
from test_handlers_aws import call, deployed, event  # noqa: F401 - deployed is a fixture

import pandasdb_core as pdb
from pandasdb_core import sessions
from pandasdb_core.errors import InvalidArgument, SchemaMismatch
from pandasdb_core.operations import UploadOptions
from pandasdb_core.wire import LAMBDA_PAYLOAD

#: the data a worker of the budgeted server may use (RLIMIT_DATA: heap and anonymous
#: mappings; a worker idles at about 200 MB of it)
WORKER_DATA_LIMIT = 400 * 2**20


def budgeted_handler(limit: int, resolve: Any) -> Any:
    """The function's handler in a worker process limited to ``limit`` bytes of data, as
    Lambda limits a function to its memory size."""
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return make_handler(resolve)


@pytest.fixture
def lean_workers(monkeypatch):
    """Workers whose allocators give memory back (one polars thread, one malloc arena, no
    jemalloc caches), so the limit measures the data a request holds, not what allocators
    keep."""
    monkeypatch.setenv("POLARS_MAX_THREADS", "1")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "1")
    monkeypatch.setenv("_RJEM_MALLOC_CONF", "narenas:1,tcache:false,dirty_decay_ms:0")


def test_a_frame_larger_than_the_workers_memory_limit_round_trips(tmp_path, lean_workers):
    n = 7_000_000
    df = pd.DataFrame({f"c{i}": np.arange(n, dtype="int64") * (i + 1) for i in range(8)})
    assert df.memory_usage().sum() > WORKER_DATA_LIMIT
    factory = functools.partial(budgeted_handler, WORKER_DATA_LIMIT)
    with serving(tmp_path / "data", workers=1, handler_factory=factory) as url:
        db = pdb.connect(url)
        commit = db.upload(df, "big", format="parquet")
        assert (commit.version, commit.rows) == (1, n)
        pd.testing.assert_frame_equal(db.get("big"), df)
        # the limit is real: the same frame staged whole is more than one worker holds
        data = io.BytesIO()
        pl.from_pandas(df).write_parquet(data)
        staged = requests.post(f"{url}/dataframes/staging", timeout=60).json()
        assert requests.put(staged["url"], data=data.getvalue(), timeout=60).ok
        whole = requests.post(
            f"{url}/dataframes/upload",
            params={"dataframe_name": "whole", "staged": staged["upload_id"]},
            timeout=120,
        )
        assert whole.status_code >= 500
        assert [v.version for v in db.versions("big")] == [1]


class HandlerAdapter(BaseAdapter):
    """``requests`` to the API answered by the Lambda handler in this process, through API
    Gateway's rules (6 MB events and responses measured as they travel, binary media types),
    recording the size of every event and response. One Lambda execution environment serves
    one request at a time (the SDK sends pieces from several threads; on AWS they reach
    several environments), so requests take turns on this one."""

    def __init__(self, claims: dict[str, Any]) -> None:
        super().__init__()
        self.claims = claims
        self.sizes: list[tuple[str, int, int]] = []
        self.environment = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        ev = proxy_event(
            request.method or "GET",
            request.path_url,
            list(request.headers.items()),
            body,
            self.claims,
            "127.0.0.1",
            strict=True,
        )
        size = event_size(ev)
        assert size <= LAMBDA_MAX_REQUEST, f"{request.path_url}: a {size:,}-byte event"
        with self.environment:
            response = aws_entry.handler(ev, None)
        self.sizes.append((request.path_url.split("?")[0], size, len(json.dumps(response))))
        answer = http_answer(
            response, request.headers.get("Accept"), strict=True, origin=None, allowed=["*"]
        )
        out = requests.Response()
        out.status_code = answer.status
        out.headers.update(dict(answer.headers))
        out._content = answer.body
        out.url = request.url or ""
        out.request = request
        return out

    def close(self) -> None:
        pass


def test_the_sdk_round_trips_a_frame_of_many_payloads_through_the_handler_on_moto(deployed):  # noqa: F811
    n = 1_200_000
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) * 11, unit="s"),
            "price": rng.random(n),
            "qty": rng.integers(0, 1_000_000, n),
        }
    )
    db = pdb.connect("https://api.test")
    adapter = HandlerAdapter(deployed["alice"])
    db._session.mount("https://api.test", adapter)
    commit = db.upload(df, "ticks", columns_keys={"ts": "Date"}, format="parquet")
    assert commit.rows == n and [v.version for v in db.versions("ticks")] == [1]
    sent = sum(size for path, size, _ in adapter.sizes if path.endswith("/pieces"))
    assert sent > 4 * LAMBDA_PAYLOAD  # several payloads' worth, each within one
    pd.testing.assert_frame_equal(db.get("ticks"), df)
    read = [s for s in adapter.sizes if s[0] == "/dataframes/ticks"][-1]
    assert read[2] < LAMBDA_PAYLOAD  # the read answered a manifest, not the rows
    batches = list(db.iter_batches("ticks", batch_rows=500_000, start_date="2024-01-03"))
    pd.testing.assert_frame_equal(
        pd.concat(batches, ignore_index=True), db.get("ticks", start_date="2024-01-03")
    )
    assert db.files("ticks").files[0].uri.startswith("https://")
    assert (
        db.scan("ticks", end_date="2024-01-02")
        .collect()
        .equals(db.get("ticks", engine="polars", end_date="2024-01-02"))
    )


@pytest.fixture
def remote(tmp_path):
    with serving(tmp_path / "data", workers=1) as url:
        yield url, pdb.connect(url)


def test_session_routes_refuse_what_would_commit_a_wrong_version(remote):
    url, db = remote
    opened = requests.post(f"{url}/dataframes/sessions", params={"dataframe_name": "f"}).json()
    pieces = f"{url}/dataframes/sessions/{opened['session']}/pieces"
    piece = io.BytesIO()
    pl.DataFrame({"a": [1, 2]}).write_parquet(piece)
    parquet = {"Content-Type": "application/vnd.apache.parquet"}
    early = requests.post(pieces, params={"piece": 1}, data=piece.getvalue(), headers=parquet)
    assert early.status_code == 400 and "piece 0 first" in early.json()["message"]
    assert requests.post(pieces, params={"piece": 0}, data=piece.getvalue(), headers=parquet).ok
    commit = f"{url}/dataframes/sessions/{opened['session']}/commit"
    short = requests.post(commit, params={"pieces": 2})
    assert short.status_code == 400 and "[1] are missing" in short.json()["message"]
    assert len(db.list()) == 0
    first = requests.post(commit, params={"pieces": 1}).json()
    again = requests.post(commit, params={"pieces": 1}).json()  # an answer lost, repeated
    assert first["version"] == again["version"] == 1 and len(db.get("f")) == 2
    bad = requests.post(f"{url}/dataframes/sessions/nope/pieces", params={"piece": 0})
    assert bad.status_code == 400
    unknown = requests.post(f"{url}/dataframes/sessions/{'0' * 32}/commit")
    assert unknown.status_code == 400 and "no open upload session" in unknown.json()["message"]


def test_sdk_streams_iterators_and_refuses_a_piece_that_does_not_fit(remote):
    _, db = remote
    parts = (pd.DataFrame({"a": range(i, i + 1000)}) for i in range(0, 5000, 1000))
    assert db.upload(parts, "s").rows == 5000
    assert db.get("s")["a"].tolist() == list(range(5000))
    with pytest.raises(SchemaMismatch, match="piece 1"):
        db.upload(iter([pd.DataFrame({"a": [1]}), pd.DataFrame({"a": ["x"]})]), "s")
    with pytest.raises(InvalidArgument, match="no rows"):
        db.upload(iter([]), "s")
    assert [v.version for v in db.versions("s")] == [1]


# the original backend's clients send epoch milliseconds, which pandas 3 deprecates
@pytest.mark.filterwarnings("ignore:'epoch' date format is deprecated")
def test_a_seed_style_client_sends_json_pieces(remote):
    """A plain ``requests`` client, as the original backend's SDK is, sends its pieces as
    the JSON it sends an upload (``dataframe``: pandas' ``to_json`` records)."""
    url, db = remote
    df = pd.DataFrame(
        {"Date": pd.date_range("2024-01-01", periods=3000, freq="h"), "v": range(3000)}
    )
    params = {"dataframe_name": "seed/ticks", "columns_keys": '{"Date": "Date"}'}
    session = requests.post(f"{url}/dataframes/sessions", params=params).json()["session"]
    for number, start in enumerate(range(0, len(df), 1000)):
        piece = {
            "dataframe": df.iloc[start : start + 1000].to_json(
                orient="records", date_format="epoch"
            )
        }
        answer = requests.post(
            f"{url}/dataframes/sessions/{session}/pieces", params={"piece": number}, json=piece
        )
        assert answer.ok, answer.text
    done = requests.post(f"{url}/dataframes/sessions/{session}/commit", params={"pieces": 3})
    assert done.json()["total_rows"] == 3000
    got = db.get("seed/ticks")
    assert got["v"].tolist() == list(range(3000))
    assert (got["Date"].astype("int64") == df["Date"].astype("int64")).all()


def test_session_routes_overwrite_and_replace_partitions(remote):
    """An upload session takes the upload's mode: overwrite drops what the frame held and
    replace_partitions the days any piece holds, in the session's one commit."""
    url, db = remote
    day = pd.Timestamp("2024-01-01")
    db.upload(pd.DataFrame({"ts": [day, day + pd.Timedelta(days=1)], "v": [1, 2]}), "f",
              columns_keys={"ts": "Date"})  # fmt: skip
    parquet = {"Content-Type": "application/vnd.apache.parquet"}

    def session(mode: str, frames: list[pd.DataFrame]) -> dict[str, Any]:
        opened = requests.post(
            f"{url}/dataframes/sessions", params={"dataframe_name": "f", "mode": mode}
        ).json()
        for number, part in enumerate(frames):
            data = io.BytesIO()
            pl.from_pandas(part).write_parquet(data)
            answer = requests.post(
                f"{url}/dataframes/sessions/{opened['session']}/pieces",
                params={"piece": number},
                data=data.getvalue(),
                headers=parquet,
            )
            assert answer.ok, answer.text
        commit = f"{url}/dataframes/sessions/{opened['session']}/commit"
        return requests.post(commit, params={"pieces": len(frames)}).json()

    late = pd.DataFrame({"ts": [day + pd.Timedelta(days=1, hours=3)], "v": [20]})
    other = pd.DataFrame({"ts": [day + pd.Timedelta(days=2)], "v": [30]})
    session("replace_partitions", [late, other])
    assert db.get("f")["v"].tolist() == [1, 20, 30]
    session("overwrite", [other])
    assert db.get("f")["v"].tolist() == [30]
    assert [v.operation for v in db.versions("f")] == ["append", "replace_partitions", "overwrite"]


@pytest.mark.parametrize("pieces", [sessions.MAX_PIECES + 1, 2**63, 10**30, 0, -1])
def test_a_python_commit_of_more_pieces_than_a_session_holds_is_refused(pieces):
    """``commit(pieces=2**63)`` called from Python raised OverflowError (2**31 built a list
    of 2**31 numbers): the core now caps ``pieces`` as the HTTP route does."""
    db = pdb.open("memory://")
    session = sessions.UploadSession.open(db, UploadOptions.build(name="f"))
    session.write_piece(0, pd.DataFrame({"a": [1]}))
    with pytest.raises(InvalidArgument, match=r"^pieces: input should be") as refused:
        session.commit(pieces=pieces)
    assert str(pieces) in str(refused.value)
    assert db.list() == [], "nothing committed"
    assert session.commit(pieces=1).rows == 1, "the session still commits its pieces"
