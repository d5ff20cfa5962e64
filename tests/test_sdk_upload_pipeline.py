"""The SDK's upload of a large frame as a pipeline (issue 14's benchmark: within 2x of a
local upload through ``pandasdb serve``): a small piece 0 written alone first, the staged
pieces encoded one after the other while earlier ones are written, their staging URLs asked
for ahead, lz4 parquet without statistics on the wire; and the server's side of it: bodies
read in large reads, worker processes that load what a piece needs before the first one."""

from __future__ import annotations

import io
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal
from pandasdb_lambdas.local_functions import PRELOADED, FunctionConfig, FunctionPool
from pandasdb_lambdas.local_http import RECV_BYTES, LocalServer
from serving import serving

import pandasdb_core as pdb
from pandasdb_core import client, streaming
from pandasdb_core.conversion import to_polars
from pandasdb_core.errors import StoreUnavailable
from pandasdb_core.wire import frame_to_bytes


def _codecs(data: bytes) -> set[str]:
    meta = pq.read_metadata(pa.BufferReader(data))
    return {
        meta.row_group(g).column(c).compression
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    }


def _large_frame(n: int = 200_000) -> pd.DataFrame:
    rng = np.random.default_rng(14)
    seconds = np.sort(rng.integers(0, 20 * 86_400, n))
    return pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(seconds, unit="s"),
            "x": rng.random(n),
            "k": rng.integers(0, 1000, n),
        }
    )


@pytest.fixture
def small_pieces(monkeypatch):
    """A frame of a few MB counts as large (pieces of 512 KB in memory, staged)."""
    monkeypatch.setattr(streaming, "PIECE_MEMORY", 512 * 1024)


def test_a_large_frames_piece_0_is_its_first_rows_about_one_requests_worth(small_pieces):
    """Piece 0 is written alone before any other: of a large frame it is the first rows,
    an eighth of a staged piece (3 MB of 24), so the other pieces wait for one short request,
    not for a staged piece's round trip; the pieces hold every row, in order."""
    frame, _ = to_polars(_large_frame())
    pieces = list(client._wire_pieces([frame]))
    rows = [len(part) for part, _, _ in pieces]
    assert all(staged for _, _, staged in pieces)
    assert len(pieces) > 3
    assert rows[0] * 7 <= rows[1] + rows[0] <= rows[0] * 9, rows[:3]
    assert rows[0] + rows[1] == rows[2], "piece 0 and 1 are the first slice cut in two"
    assert pl.concat([part for part, _, _ in pieces]).equals(frame)


def test_a_small_frame_goes_in_pieces_as_before():
    """A frame that is not large is sliced as before: no piece of its own for its head."""
    frame = pl.DataFrame({"a": range(1_000)})
    assert [(len(p), staged) for p, _, staged in client._wire_pieces([frame])] == [(1000, False)]


def test_a_staged_upload_writes_piece_0_alone_first_and_its_pieces_as_lz4(
    tmp_path, small_pieces, monkeypatch
):
    """Through ``pandasdb serve`` with the gateway's rules: piece 0 goes inline and is
    answered before any other piece is sent; the other pieces are staged, as lz4 parquet,
    and the frame reads back exactly (pieces over 100 KB are staged here, not over 6 MB)."""
    df = _large_frame()
    monkeypatch.setattr(client, "fits_inline", lambda data, binary: len(data) < 100_000)
    pieces: list[tuple[float, float, dict[str, Any]]] = []
    staged: list[bytes] = []
    real_call, real_stage = client.RemoteStore._call, client.RemoteStore._stage

    def call(self, method, path, **kwargs):
        started = time.monotonic()
        answer = real_call(self, method, path, **kwargs)
        if path.endswith("/pieces"):
            pieces.append((started, time.monotonic(), dict(kwargs.get("params") or {})))
        return answer

    def stage(self, data, url=None):
        staged.append(data)
        return real_stage(self, data, url)

    monkeypatch.setattr(client.RemoteStore, "_call", call)
    monkeypatch.setattr(client.RemoteStore, "_stage", stage)
    with serving(tmp_path / "data", workers=2) as url:
        db = pdb.connect(url, progress=False)
        commit = db.upload(df, "big", columns_keys={"ts": "Date"}, format="parquet")
        assert commit.rows == len(df)
        assert_frame_equal(db.get("big"), df)
    first = next(p for p in pieces if p[2]["piece"] == 0)
    assert "staged" not in first[2], "piece 0 is small: inline"
    others = sorted((p for p in pieces if p[2]["piece"] != 0), key=lambda p: p[2]["piece"])
    assert len(others) > 2
    assert all("staged" in p[2] for p in others[:-1]), "the last holds the rows left over"
    assert all(started >= first[1] for started, _, _ in others), "piece 0 was written alone"
    assert staged and all(_codecs(data) == {"LZ4"} for data in staged)


class _FakeAPI:
    """The staging route of a store: URLs numbered in order, each valid ``seconds``; the
    threads that asked, and an error to raise instead."""

    def __init__(self, seconds: float = 900) -> None:
        self.seconds = seconds
        self.asked: list[str] = []
        self.error: Exception | None = None
        self.lock = threading.Lock()

    def _staging_url(self) -> dict[str, Any]:
        with self.lock:
            if self.error is not None:
                raise self.error
            self.asked.append(threading.current_thread().name)
            number = len(self.asked)
        return {"upload_id": f"{number:032x}", "url": f"u{number}", "expires_in": self.seconds}


def _settle(urls: client._StagingURLs) -> None:
    deadline = time.monotonic() + 10
    while urls._asked and time.monotonic() < deadline:
        time.sleep(0.01)


def test_staging_urls_are_asked_for_ahead_on_a_thread_of_their_own():
    """``fill`` asks for ``depth`` URLs in the background; a piece takes one at once, and
    another is asked for in its place, so none is asked for while a piece waits."""
    api = _FakeAPI()
    urls = client._StagingURLs(api, 3)  # type: ignore[arg-type]
    try:
        urls.fill()
        _settle(urls)
        assert len(api.asked) == 3
        taken = [urls.take()["url"] for _ in range(3)]
        assert taken == ["u1", "u2", "u3"]
        _settle(urls)
        assert len(api.asked) == 6, "each taken URL is replaced"
        assert all(name.startswith("pandasdb-staging") for name in api.asked)
    finally:
        urls.close()


def test_a_staging_url_past_half_its_life_is_not_taken():
    """A URL asked for ahead is taken only within the first half of its lifetime: one
    older is dropped and a new one asked for at once, by the piece that needs it."""
    api = _FakeAPI(seconds=0)
    urls = client._StagingURLs(api, 2)  # type: ignore[arg-type]
    try:
        urls.fill()
        _settle(urls)
        assert urls.take()["url"] == "u3"
        assert api.asked[2] == threading.current_thread().name
    finally:
        urls.close()


def test_a_staging_url_that_failed_ahead_fails_in_the_callers_thread():
    """A URL asked for ahead that fails is not an error then: the piece that needs one asks
    again, and that error is the upload's."""
    api = _FakeAPI()
    api.error = StoreUnavailable("the API is down")
    urls = client._StagingURLs(api, 2)  # type: ignore[arg-type]
    try:
        urls.fill()
        _settle(urls)
        with pytest.raises(StoreUnavailable, match="down"):
            urls.take()
        api.error = None
        assert urls.take()["upload_id"]  # works again when the API does
    finally:
        urls.close()


def test_wire_parquet_carries_no_statistics():
    """A reader of the wire takes every row: its parquet has no min/max statistics, which
    cost a tenth of the encoding; the pandasdb schema is still in its metadata."""
    frame, schema = to_polars(pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]}))
    for compression in ("zstd", "lz4"):
        data = frame_to_bytes(frame, "parquet", schema, compression=compression)
        meta = pq.read_metadata(pa.BufferReader(data))
        assert not any(meta.row_group(0).column(c).is_stats_set for c in range(2))
        assert b"pandasdb.schema" in meta.metadata
        assert pl.read_parquet(io.BytesIO(data)).equals(frame)
    assert _codecs(frame_to_bytes(frame, "parquet", schema)) == {"ZSTD"}


def test_the_server_reads_a_connection_in_large_reads():
    """waitress reads 8 KB at a time by default, each appended to the body's temporary file
    with a seek, a write and a seek back: a 24 MB staged piece took 3,000 of them, most of
    the event loop's time in an SDK upload. The server reads 256 KB at a time."""
    server = LocalServer(lambda environ, start_response: [], "127.0.0.1", 0, threads=1)
    try:
        assert server._server.adj.recv_bytes == RECV_BYTES >= 256 * 1024
    finally:
        server.server_close()


def _loaded(modules: tuple[str, ...]) -> list[str]:
    """In a worker process: which of ``modules`` it has imported."""
    return [m for m in modules if m in sys.modules]


def test_a_worker_loads_what_a_piece_needs_before_its_first_request():
    """A worker imports, as it starts, what the handler imports only on a request's first
    need (pyarrow to size a parquet body): a worker's first upload piece paid 0.2 s for it,
    which piece 0, written alone, made everyone wait for."""
    config = FunctionConfig(tempfile.mkdtemp(), False, "http://h", b"k" * 32)
    pool = FunctionPool(config, 1)
    try:
        pool.warm()
        worker = pool._take(None)
        worker.conn.send((_loaded, (PRELOADED,)))
        answer = pool._answer(worker, 60)
        assert answer is not None and answer[1] == list(PRELOADED)
        assert "pyarrow.parquet" in PRELOADED
    finally:
        pool.close()
