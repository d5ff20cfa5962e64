"""Streaming: uploads of iterators, LazyFrames and files written piece by piece and committed
as one version (nothing visible before, nothing left after a failure or a crash), reads
batch by batch, and the CLI uploading a file larger than its memory limit."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import pandasdb_core as pdb
from pandasdb_core.errors import InvalidArgument, InvalidPartition, SchemaMismatch
from pandasdb_core.ingest import read_csv
from pandasdb_core.operations import UploadOptions
from pandasdb_core.sessions import SESSIONS_PREFIX, UploadSession
from pandasdb_core.streaming import csv_pieces, gathered

ROOT = Path(__file__).resolve().parents[1]


def frame(n: int, start: int = 0) -> pd.DataFrame:
    ids = np.arange(start, start + n)
    return pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(ids * 7919, unit="s"),
            "uid": (ids * 7) % 1000,
            "v": ids * 0.5,
            "tag": pd.Categorical([f"t{i % 3}" for i in ids]),
        }
    )


def pieces_of(df: pd.DataFrame, size: int):
    return (df.iloc[i : i + size] for i in range(0, len(df), size))


def write_csv_stream(db: pdb.Store, stream, block_bytes: int, **options) -> None:
    """``db.write`` of a CSV stream read in blocks of ``block_bytes``, one piece per block."""
    db.write(
        gathered(csv_pieces(stream, block_bytes=block_bytes), piece_bytes=1),
        UploadOptions.build(name=options.pop("name", "f"), **options),
    )


def chunk_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name.endswith((".parquet", ".csv.gz")))


def assert_nothing_stays(root: Path) -> None:
    """No frame, no chunk file and no session record is left in the local store at ``root``."""
    assert len(pdb.open(root).list()) == 0
    assert chunk_files(root) == []
    assert not list((root / SESSIONS_PREFIX).rglob("*.json"))


def test_iterator_upload_is_one_version_equal_to_the_whole_upload(db):
    df = frame(5000)
    commit = db.upload(pieces_of(df, 700), "s", columns_keys={"ts": "Date", "uid": "ID"})
    whole = pdb.open("memory://", chunk_rows=1000)
    whole.upload(df, "s", columns_keys={"ts": "Date", "uid": "ID"})
    assert commit.version == 1 and commit.rows == 5000
    assert [v.version for v in db.versions("s")] == [1]
    # Date layout: days in order, rows of a day in arrival order: exactly the whole upload
    pd.testing.assert_frame_equal(db.get("s"), whole.get("s"))
    pd.testing.assert_frame_equal(
        db.get("s", start_date="2024-01-10", end_date="2024-01-12"),
        whole.get("s", start_date="2024-01-10", end_date="2024-01-12"),
    )
    by_id = db.get("s", start_id=10, end_id=20).sort_values(["uid", "v"], ignore_index=True)
    expected = whole.get("s", start_id=10, end_id=20).sort_values(["uid", "v"], ignore_index=True)
    pd.testing.assert_frame_equal(by_id, expected)
    assert db.check().ok


def test_lazyframe_and_parquet_file_uploads(tmp_path):
    db = pdb.open(tmp_path / "store", format="parquet")
    lazy = pl.LazyFrame({"a": range(10_000), "b": [f"x{i}" for i in range(10_000)]})
    assert db.upload(lazy.filter(pl.col("a") % 2 == 0), "lazy").rows == 5000
    assert db.get("lazy", engine="polars").equals(lazy.filter(pl.col("a") % 2 == 0).collect())
    path = tmp_path / "in.parquet"
    lazy.collect().write_parquet(path, row_group_size=1000)
    db.upload(path, "file")
    assert db.get("file", engine="polars").equals(lazy.collect())
    assert [v.version for v in db.versions("file")] == [1]


def test_csv_blocks_are_typed_like_the_whole_csv_and_keep_nanoseconds(tmp_path):
    rows = [
        f"{i},{i * 0.25},2024-01-01T00:00:{i % 60:02d}.00000000{i % 10},n{i},true"
        for i in range(3000)
    ]
    text = "id,x,ts,name,ok\n" + "\n".join(rows) + "\n"
    path = tmp_path / "in.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    with gzip.open(path) as stream:
        streamed = pl.concat(list(csv_pieces(stream, block_bytes=4096)))
    assert streamed.equals(read_csv(text))
    assert streamed.schema["ts"] == pl.Datetime("ns")
    db = pdb.open(tmp_path / "store")
    db.upload(path, "csv")
    assert db.get("csv", engine="polars")["ts"].equals(streamed["ts"])


def test_quoted_newlines_never_split_a_row(tmp_path):
    text = 'a,b\n1,"x\ny"\n2,"say ""hi""\n"\n3,z\n'
    parts = list(csv_pieces(io.BytesIO(text.encode()), block_bytes=3))
    assert pl.concat(parts).equals(read_csv(text))


def test_a_later_block_that_does_not_fit_is_refused_and_nothing_stays(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("n,v\n" + "".join(f"{i},{i}\n" for i in range(2000)) + "7,oops\n")
    db = pdb.open(tmp_path / "store")
    with (
        open(path, "rb") as stream,
        pytest.raises(SchemaMismatch, match=r"column 'v' holds 'oops'.*Int64"),
    ):
        write_csv_stream(db, stream, 1024)
    assert_nothing_stays(tmp_path / "store")


def test_a_piece_of_another_type_or_bad_partition_is_refused(db):
    good = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"]), "a": [1]})
    with pytest.raises(SchemaMismatch, match="piece 1"):
        db.upload(iter([good, good.assign(a="text")]), "f", columns_keys={"ts": "Date"})
    with pytest.raises(InvalidPartition):
        db.upload(
            iter([good, good.assign(ts=pd.Series([pd.NaT], dtype=good["ts"].dtype))]),
            "f",
            columns_keys={"ts": "Date"},
        )
    assert len(db.list()) == 0
    assert [b.key for b in db.blobs.list() if not b.key.startswith(".pandasdb")] == []


def test_keep_last_and_external_key_stream_like_whole_uploads(db):
    db.upload(pd.DataFrame({"a": [1, 2]}), "b", external_key="k")
    db.upload(
        iter([pd.DataFrame({"a": [3]}), pd.DataFrame({"a": [4]})]),
        "b",
        external_key="k",
        keep_last=True,
    )
    assert db.get("b")["a"].tolist() == [3, 4]
    assert db.get("b", as_of=1)["a"].tolist() == [1, 2]
    assert db.versions("b")[-1].rows_total == 2


def test_an_uncommitted_session_is_invisible_and_vacuum_removes_it_after_its_grace(
    local_db, tmp_path
):
    db = local_db
    db.upload(pd.DataFrame({"a": [0]}), "f")
    session = UploadSession.open(db, UploadOptions.build(name="f"))
    session.write_piece(0, pd.DataFrame({"a": [1, 2]}))
    session.write_piece(1, pd.DataFrame({"a": [3]}))
    root = tmp_path / "store"
    assert db.get("f")["a"].tolist() == [0] and len(chunk_files(root)) == 3
    assert db.files("f").rows == 1
    # an hour later, the session still writing: its old chunk files are kept
    old = time.time() - 7200
    for path in chunk_files(root):
        os.utime(path, (old, old))
    for path in (root / SESSIONS_PREFIX).rglob("session.json"):
        os.utime(path, (old, old))
    assert db.vacuum().blobs_deleted == ()
    assert session.commit(pieces=2).version == 2
    assert db.get("f")["a"].tolist() == [0, 1, 2, 3]
    # an abandoned session: untouched for longer than the grace period, all of it goes
    abandoned = UploadSession.open(db, UploadOptions.build(name="f"))
    abandoned.write_piece(0, pd.DataFrame({"a": [9]}))
    report = db.vacuum(grace_seconds=0)
    assert any(k.endswith(".csv.gz") for k in report.blobs_deleted)
    assert not list((root / SESSIONS_PREFIX).rglob("piece-*"))
    assert db.get("f")["a"].tolist() == [0, 1, 2, 3] and db.check().ok


def test_a_session_commit_repeated_after_a_lost_answer_commits_once(db):
    session = UploadSession.open(db, UploadOptions.build(name="f"))
    session.write_piece(0, pd.DataFrame({"a": [1]}))
    first = session.commit(pieces=1)
    again = UploadSession.resume(db, session.session_id).commit(pieces=1)
    assert first == again and db.get("f")["a"].tolist() == [1]


def test_a_killed_streaming_upload_leaves_nothing_visible(tmp_path):
    script = f"""
import os, pandas as pd, pandasdb_core as pdb
db = pdb.open({str(tmp_path / "store")!r})
def parts():
    for i in range(5):
        if i == 3:
            os._exit(9)  # the process dies mid-upload
        yield pd.DataFrame({{"a": range(i * 100, i * 100 + 100)}})
db.upload(parts(), "f")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == 9
    db = pdb.open(tmp_path / "store")
    assert len(db.list()) == 0 and len(chunk_files(tmp_path / "store")) == 3
    db.vacuum(grace_seconds=0)
    assert chunk_files(tmp_path / "store") == []
    assert not list((tmp_path / "store" / SESSIONS_PREFIX).rglob("*.json"))


def test_iter_batches_yields_what_get_returns_in_order_with_its_dtypes(db):
    df = frame(3000)
    db.upload(df, "f", columns_keys={"ts": "Date"})
    db.upload(frame(500, 3000).assign(extra=7), "f")  # a column older chunks lack
    for filters in ({}, {"start_date": "2024-01-05", "end_date": "2024-01-09 12:00"}):
        whole = db.get("f", **filters)
        batches = list(db.iter_batches("f", batch_rows=256, **filters))
        assert all(len(b) == 256 for b in batches[:-1]) and 0 < len(batches[-1]) <= 256
        assert all((b.dtypes == whole.dtypes).all() for b in batches)
        pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole)
        polars = pl.concat(list(db.iter_batches("f", engine="polars", **filters)))
        assert polars.equals(db.get("f", engine="polars", **filters))
    assert db.get("f")["extra"].dtype == "Int64"


def test_a_batch_of_many_files_holds_about_one_decoded_file_at_a_time(db, monkeypatch):
    """A batch is filled as its files are decoded: when a file's rows are copied into it, no
    more than the file after it has been decoded (the batch used to wait for all its files,
    holding every one of them beside itself)."""
    from pandasdb_core import pandas_assembly, reading

    db.upload(frame(3000), "f", columns_keys={"ts": "Date"})
    days = len(db.dates("f"))
    decoded, ahead = [0], []
    batches = reading.ReadFiles.batches

    def counted(self, **kwargs):
        for part in batches(self, **kwargs):
            decoded[0] += 1
            yield part

    add = pandas_assembly.PandasAssembly.add

    def copied(self, batch):
        ahead.append(decoded[0] - len(ahead) - 1)  # files decoded beyond those copied
        add(self, batch)

    monkeypatch.setattr(reading.ReadFiles, "batches", counted)
    monkeypatch.setattr(pandas_assembly.PandasAssembly, "add", copied)
    batches_got = list(db.iter_batches("f", batch_rows=10**6))
    assert len(batches_got) == 1 and len(batches_got[0]) == 3000 and days > 5
    assert max(ahead) <= 1, ahead


def test_iter_batches_fetches_files_ahead_on_threads_within_a_byte_budget(db, monkeypatch):
    """A store that answers each file after a round trip (S3, presigned URLs) is read with
    several files in flight while earlier ones are decoded, so a read waits about one round
    trip, not one per file; what is fetched ahead stays within a whole read's batch of
    stored bytes (one file at a time, a 365-day frame on S3 waited 365 round trips)."""
    import threading

    from pandasdb_core import reading

    monkeypatch.setitem(reading.BATCH_BYTES, "csv.gz", 4096)
    db.upload(frame(3000), "f", columns_keys={"ts": "Date"})
    sizes = {f.key: f.bytes for f in db.files("f").files}
    assert len(sizes) > 20 and max(sizes.values()) < 4096 // 3
    lock, in_flight, peak = threading.Lock(), [0, 0], [0, 0]
    get = db.blobs.get

    def slow(key: str) -> bytes:
        with lock:
            in_flight[0] += 1
            in_flight[1] += sizes[key]
            peak[0], peak[1] = max(peak[0], in_flight[0]), max(peak[1], in_flight[1])
        time.sleep(0.01)
        try:
            return get(key)
        finally:
            with lock:
                in_flight[0] -= 1
                in_flight[1] -= sizes[key]

    whole = db.get("f")
    monkeypatch.setattr(db.blobs, "get", slow)
    batches = list(db.iter_batches("f", batch_rows=500))
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole)
    assert peak[0] >= 3, peak  # fetched together, not one at a time
    assert peak[1] <= 4096, peak  # never more than the budget ahead


def test_cli_uploads_a_file_larger_than_its_memory_limit(tmp_path):
    """``pandasdb upload`` of a ~210 MB CSV under an address-space limit (RLIMIT_AS) of
    600 MB, one polars thread: reading the file whole needs ~800 MB of address space under
    the same limit and fails, streaming it commits one exact version."""
    n = 3_500_000
    path = tmp_path / "big.csv"
    pl.select(
        id=pl.int_range(0, n, dtype=pl.Int64),
        x=pl.int_range(0, n) * 0.25,
        y=pl.int_range(0, n) % 1000,
        s=pl.format("name-{}", pl.int_range(0, n) % 5000),
        ts=pl.datetime_range(
            pl.datetime(2024, 1, 1),
            pl.datetime(2024, 1, 1) + pl.duration(seconds=n - 1),
            "1s",
            time_unit="ns",
        )
        + pl.duration(nanoseconds=7),
    ).write_csv(path)
    assert path.stat().st_size > 200 * 2**20
    limit = 600 * 2**20
    env = {**os.environ, "POLARS_MAX_THREADS": "1", "MALLOC_ARENA_MAX": "1"}

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    whole = subprocess.run(
        [sys.executable, "-c", f"import polars as pl; pl.read_csv({str(path)!r})"],
        preexec_fn=limited,
        env=env,
        capture_output=True,
    )
    assert whole.returncode != 0  # the limit is real: the file does not fit whole
    store = tmp_path / "store"
    cli = [sys.executable, "-m", "pandasdb_core.cli", "--store", str(store), "--no-progress"]
    proc = subprocess.run(
        [*cli, "upload", str(path), "big", "--format", "parquet"],
        preexec_fn=limited,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    db = pdb.open(store)
    assert [v.version for v in db.versions("big")] == [1]
    got = db.scan("big").collect()
    assert got.height == n and got["ts"].dtype == pl.Datetime("ns")
    expected = pl.read_csv(path, schema=dict(got.schema))
    assert got.equals(expected)
    assert json.loads(json.dumps(db.files("big").to_json()))["version"] == 1


# ---------------------------------------------------------------------------------- types


def _cli(store: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pandasdb_core.cli", "--store", str(store), "--no-progress"]
    return subprocess.run([*command, *args], input=stdin, capture_output=True)


def test_nanoseconds_after_the_first_block_are_kept_not_cut(db, tmp_path):
    """The first rows have microseconds (or milliseconds with Z), later rows nanoseconds: a
    streamed CSV keeps a new datetime column in nanoseconds, so nothing is cut."""
    for first, later, zone in (
        ("2024-01-01T00:00:00.000123", "2024-01-01T07:33:19.000456789", None),
        ("2024-01-01T00:00:00.123Z", "2024-01-01T07:33:19.000456789Z", "UTC"),
    ):
        path = tmp_path / f"ns-{zone}.csv"
        path.write_text("ts,v\n" + f"{first},0\n" * 3000 + f"{later},1\n")
        name = f"ns{zone}"
        with open(path, "rb") as stream:
            write_csv_stream(db, stream, 4096, name=name, columns_keys={"ts": "Date"})
        got = db.get(name, engine="polars")
        assert got.schema["ts"] == pl.Datetime("ns", zone)
        assert got["ts"].cast(pl.Int64)[-1] % 1_000_000_000 == 456789
    local = tmp_path / "cli"
    proc = _cli(local, "upload", str(tmp_path / "ns-None.csv"), "t", "--date-col", "ts")
    assert proc.returncode == 0, proc.stderr
    assert pdb.open(local).get("t")["ts"].iloc[-1].nanosecond == 789


def test_a_frame_that_keeps_microseconds_refuses_nanoseconds_clearly(db, tmp_path):
    stamps = pl.Series("ts", ["2024-01-01"]).str.to_datetime(time_unit="us")
    db.upload(pl.DataFrame([stamps, pl.Series("v", [0])]), "us")
    path = tmp_path / "late.csv"
    path.write_text("ts,v\n" + "2024-01-02T00:00:00,1\n" * 10 + "2024-01-02T07:33:19.000456789,2\n")
    with pytest.raises(SchemaMismatch, match=r"row 11: column 'ts' holds .*finer units than us"):
        db.upload(str(path), "us")
    assert len(db.get("us")) == 1 and [v.version for v in db.versions("us")] == [1]


def test_a_csv_into_an_existing_frame_is_read_as_its_recorded_types(db, tmp_path):
    """Daily files into a frame made from another file: whole seconds into a nanosecond
    column (and back), digits-only codes into a text column, integers into floats; a value
    that does not fit is refused, naming the column, the value and its row."""
    (tmp_path / "ns.csv").write_text("ts,code,x\n2024-01-01T00:00:00.000000001,A07,1.5\n")
    (tmp_path / "sec.csv").write_text("ts,code,x\n2024-01-02T00:00:00,008,2\n")
    db.upload(str(tmp_path / "ns.csv"), "daily", columns_keys={"ts": "Date"})
    assert db.upload(str(tmp_path / "sec.csv"), "daily").version == 2
    got = db.get("daily", engine="polars")
    assert got["code"].to_list() == ["A07", "008"] and got["x"].to_list() == [1.5, 2.0]
    assert got.schema["ts"] == pl.Datetime("ns")
    (tmp_path / "s.csv").write_text("ts\n2024-01-02T00:00:00\n")
    (tmp_path / "n.csv").write_text("ts\n2024-01-01T00:00:00.000000001\n")
    db.upload(str(tmp_path / "s.csv"), "seconds-first")
    assert db.upload(str(tmp_path / "n.csv"), "seconds-first").version == 2
    assert db.get("seconds-first")["ts"].iloc[-1].nanosecond == 1
    (tmp_path / "bad.csv").write_text("ts,code,x\n2024-01-03T00:00:00,9,3\n2024-01-03,10,x3\n")
    with pytest.raises(SchemaMismatch, match=r"row 2: column 'x' holds 'x3'"):
        db.upload(str(tmp_path / "bad.csv"), "daily")
    # the server's CSV bodies are typed by the same function
    assert read_csv("code\n007\n", recorded={"code": pl.String()})["code"].to_list() == ["007"]


def test_csv_into_recorded_dates_times_and_decimals_is_exact_or_refused(tmp_path):
    """A CSV into a frame's recorded types: an empty value in a Date column was an
    IndexError, a Time column an InvalidOperationError (polars casts no text to times), and
    2.255 into a decimal of 2 places was stored as 2.26. Nulls fit, times are parsed, and
    a decimal with more places than its column's is refused, nothing written."""
    db = pdb.open(tmp_path / "store")
    first = pd.DataFrame({"d": [dt.date(2024, 1, 1)], "t": [dt.time(1, 2)], "x": [Decimal("1.10")]})
    db.upload(first, "f")
    (tmp_path / "ok.csv").write_text("d,t,x\n,03:04:05.25,2.5\n2024-01-03,,\n")
    assert db.upload(tmp_path / "ok.csv", "f").version == 2
    got = db.get("f")
    assert got["d"].tolist() == [dt.date(2024, 1, 1), None, dt.date(2024, 1, 3)]
    assert got["t"].tolist() == [dt.time(1, 2), dt.time(3, 4, 5, 250000), None]
    assert got["x"].tolist() == [Decimal("1.10"), Decimal("2.50"), None]
    (tmp_path / "fine.csv").write_text("d,t,x\n2024-01-04,05:06:07,2.255\n")
    with pytest.raises(SchemaMismatch, match=r"'2.255', which has more than the column's 2"):
        db.upload(tmp_path / "fine.csv", "f")
    (tmp_path / "clock.csv").write_text("d,t,x\n2024-01-04,25:00:00,2\n")
    with pytest.raises(SchemaMismatch, match=r"'25:00:00', which is not a time of day"):
        db.upload(tmp_path / "clock.csv", "f")
    assert [v.version for v in db.versions("f")] == [1, 2]


def test_a_later_block_that_does_not_fit_names_its_own_value_and_row(tmp_path):
    text = "n,v\n" + "".join(f"{i},{i}\n" for i in range(2000)) + "2000,12\n2001,1e\n"
    with pytest.raises(SchemaMismatch, match=r"row 2,002: column 'v' holds '1e'"):
        list(csv_pieces(io.BytesIO(text.encode()), block_bytes=1024))


def test_pandas_csv_chunks_stream_like_one_frame(db, tmp_path):
    """The README's example on an ordinary CSV: a text column empty in the first chunk
    (pandas: float64 NaN), an integer column that gets a NaN in a later chunk (pandas:
    float64), a column only later chunks have. Each column gets the type one frame of all
    the rows would have, and every chunk file of the version holds that schema."""
    path = tmp_path / "plain.csv"
    rows = [f"{i},,{i}" for i in range(10)] + [
        f"{i},s{i},{i if i % 2 else ''}" for i in range(10, 30)
    ]
    path.write_text("k,s,n\n" + "\n".join(rows) + "\n")
    chunks = (c for c in pd.read_csv(path, chunksize=10))
    commit = db.upload(chunks, "plain")
    assert commit.rows == 30 and [v.version for v in db.versions("plain")] == [1]
    got = db.get("plain", engine="polars")
    assert got.schema == pl.Schema({"k": pl.Int64, "s": pl.String, "n": pl.Float64})
    assert got["s"].to_list() == [None] * 10 + [f"s{i}" for i in range(10, 30)]
    assert got["n"].to_list()[9:13] == [9.0, None, 11.0, None]
    late = iter([pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2], "b": ["x"]})])
    db.upload(late, "late")
    assert db.get("late", engine="polars").rows() == [(1, None), (2, "x")]
    assert db.check().ok


def test_every_chunk_file_of_a_reconciled_stream_has_the_versions_schema(tmp_path):
    db = pdb.open(tmp_path / "store", format="parquet", chunk_rows=5)
    parts = [
        pd.DataFrame({"a": [1, 2], "s": [np.nan, np.nan]}),
        pd.DataFrame({"a": [3.5, np.nan], "s": ["x", "y"], "new": [True, False]}),
    ]
    db.upload(iter(parts), "f")
    schemas = {str(pl.read_parquet_schema(f.uri)) for f in db.files("f").files}
    assert len(schemas) == 1 and db.scan("f").collect().schema["a"] == pl.Float64
    big = iter([pd.DataFrame({"a": [2**53 + 1]}), pd.DataFrame({"a": [0.5]})])
    with pytest.raises(SchemaMismatch, match=r"column 'a' holds 9007199254740993"):
        db.upload(big, "g")  # integers beyond 2**53 do not fit floats
    assert [f.name for f in db.list()] == ["f"]


def test_gzip_on_standard_input_is_read(tmp_path):
    data = gzip.compress(b"a,b\n1,x\n2,y\n")
    proc = _cli(tmp_path / "store", "upload", "-", "n", stdin=data)
    assert proc.returncode == 0, proc.stderr
    assert pdb.open(tmp_path / "store").get("n")["b"].tolist() == ["x", "y"]


# ---------------------------------------------------------------------------------- modes


def test_streamed_overwrite_and_replace_partitions_are_one_commit_each(db, tmp_path):
    both = {"ts": "Date", "uid": "ID"}
    first = frame(3000)
    db.upload(first, "s", columns_keys=both)
    days = frame(400, start=500)  # rows of a few days, some the frame has
    stored_days = set(first["ts"].dt.date)
    commit = db.upload(pieces_of(days, 150), "s", mode="replace_partitions")
    assert commit.version == 2 and db.versions("s")[-1].operation == "replace_partitions"
    replaced = set(days["ts"].dt.date)
    kept = first[~first["ts"].dt.date.isin(replaced)]
    expected = pd.concat([kept, days]).sort_values(["ts", "v"], ignore_index=True)
    for read in ({}, {"start_id": 0}):
        got = db.get("s", **read).sort_values(["ts", "v"], ignore_index=True)
        pd.testing.assert_frame_equal(got, expected)
    assert commit.rows_removed == len(first) - len(kept) and replaced <= stored_days
    commit = db.upload(pieces_of(frame(700, 9000), 300), "s", mode="overwrite")
    assert (commit.version, commit.rows_removed) == (3, len(expected))
    assert db.versions("s")[-1].operation == "overwrite"
    pd.testing.assert_frame_equal(db.get("s"), db.get("s", as_of=3))
    assert sorted(db.get("s")["v"]) == sorted(frame(700, 9000)["v"])
    assert len(db.get("s", as_of=2)) == len(expected) and db.check().ok
    keep_last = db.upload(pieces_of(frame(10), 5), "s", keep_last=True)
    assert keep_last.rows_removed == 700 and db.versions("s")[-1].operation == "overwrite"


def test_the_cli_streams_overwrite_and_replace_partitions(tmp_path):
    store = tmp_path / "store"
    path = tmp_path / "f.csv"
    path.write_text("ts,v\n2024-01-01T01:00:00,1\n2024-01-02T01:00:00,2\n")
    assert _cli(store, "upload", str(path), "f", "--date-col", "ts").returncode == 0
    path.write_text("ts,v\n2024-01-02T05:00:00,20\n")
    for mode, expected in (("replace_partitions", [1, 20]), ("overwrite", [20])):
        proc = _cli(store, "upload", str(path), "f", "--mode", mode)
        assert proc.returncode == 0, proc.stderr
        assert pdb.open(store).get("f")["v"].tolist() == expected


def test_a_repeated_streamed_upload_writes_nothing(db):
    """A repeat reads its source for the rows' digest only (141c9bb): the same rows, cut
    otherwise, answer the first commit and write no chunk and leave no session."""
    df = frame(2000)
    first = db.upload(pieces_of(df, 500), "f", columns_keys={"ts": "Date"}, idempotency_key="k")
    blobs = sorted(b.key for b in db.blobs.list())
    assert db.upload(pieces_of(df, 700), "f", idempotency_key="k") == first
    assert sorted(b.key for b in db.blobs.list()) == blobs  # no chunk, no session left
    with pytest.raises(InvalidArgument, match="'k' already named an append, not an overwrite"):
        db.upload(pieces_of(df, 500), "f", idempotency_key="k", keep_last=True)
    # a session opened on the key writes nothing and answers the first commit
    session = UploadSession.open(db, UploadOptions.build(name="f", idempotency_key="k"))
    assert session.write_piece(0, df).chunks == 0 and session.commit(pieces=1) == first
    assert len(db.get("f")) == 2000


def test_a_commit_reads_the_pieces_records_in_parallel(tmp_path):
    """Each piece's record is a blob read; a commit of many pieces reads them on the store's
    threads (one after another, 100 pieces at 20 ms each would take 2 s)."""
    from pandasdb_core.adapters.memory import MemoryBlobStore, MemoryMetadataStore
    from pandasdb_core.store import Store

    class Slow(MemoryBlobStore):
        def _get(self, key: str) -> bytes:
            if "/piece-" in key:
                time.sleep(0.02)
            return super()._get(key)

    db = Store(Slow(), MemoryMetadataStore(), workers=8, progress=False)
    session = UploadSession.open(db, UploadOptions.build(name="f"))
    for n in range(100):
        session.write_piece(n, pd.DataFrame({"a": [n]}))
    started = time.perf_counter()
    assert session.commit(pieces=100).rows == 100
    assert time.perf_counter() - started < 1.2


def test_a_parquet_file_polars_cannot_take_is_refused_naming_the_file_and_column(tmp_path):
    """A parquet file with repeated column names, a 256-bit decimal or a fixed-offset zone
    was a DuplicateError, a panic or a ComputeError out of upload; now each is refused as
    bad input naming the file (and the column), and nothing is stored."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    db = pdb.open(tmp_path / "store")
    tables = {
        "repeated": (pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]), r"\['a'\]"),
        "wide": (pa.table({"d": pa.array([1], pa.decimal256(50, 2))}), "column 'd'"),
        "offset": (
            pa.table({"t": pa.array([0], pa.timestamp("us", tz="+05:30"))}),
            "column 't'.*time zone",
        ),
    }
    for name, (table, reason) in tables.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path)
        with pytest.raises(InvalidArgument, match=rf"{name}\.parquet.*{reason}"):
            db.upload(path, name)
    assert len(db.list()) == 0


def test_a_csv_header_that_is_not_utf8_or_names_no_column_is_refused(tmp_path):
    """The header was decoded with replacement characters (a latin-1 'café' stored as
    'caf\\ufffd') and an empty name became polars' 'column_2': columns the file does not
    have. Both are refused, as a whole-frame upload refuses them."""
    db = pdb.open(tmp_path / "store")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("caf\xe9,b\n1,2\n".encode("latin-1"))
    with pytest.raises(InvalidArgument, match="latin.csv is not UTF-8"):
        db.upload(latin, "latin")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"a,,b\n1,2,3\n")
    with pytest.raises(InvalidArgument, match="empty column name .column 2"):
        db.upload(empty, "empty")
    assert len(db.list()) == 0


def test_piece_0_written_again_with_another_index_is_refused_at_the_commit():
    """Pieces are written toward piece 0's index; piece 0 written again without its index
    committed piece 1's stored level as a data column beside no index: a frame get() could
    not build (pandas' ValueError). The commit now says which piece to write again."""
    db = pdb.open("memory://")
    session = UploadSession.open(db, UploadOptions.build(name="f"))
    keyed = pd.Index([7], name="k")
    session.write_piece(0, pd.DataFrame({"a": [1]}, index=keyed))
    session.write_piece(1, pd.DataFrame({"a": [2]}, index=keyed))
    session.write_piece(0, pd.DataFrame({"a": [1]}))
    with pytest.raises(SchemaMismatch, match="write piece 1 again"):
        session.commit(pieces=2)
    assert len(db.list()) == 0
    session.write_piece(1, pd.DataFrame({"a": [2]}))
    assert session.commit(pieces=2).rows == 2
    assert db.get("f").to_dict("list") == {"a": [1, 2]}


def test_a_streamed_csv_adds_no_category_to_an_ordered_categorical(tmp_path):
    """A CSV streamed into a frame's ordered categorical appended its new value to the
    order (['a', 'b', 'z']); it is refused like a pandas upload with other categories."""
    db = pdb.open(tmp_path / "store")
    ordered = pd.Categorical(["a"], categories=["a", "b"], ordered=True)
    db.upload(pd.DataFrame({"c": ordered}), "f")
    (tmp_path / "new.csv").write_text("c\nz\n")
    with pytest.raises(SchemaMismatch, match=r"ordered categorical.*\['z'\]"):
        db.upload(tmp_path / "new.csv", "f")
    (tmp_path / "known.csv").write_text("c\nb\n")
    assert db.upload(tmp_path / "known.csv", "f").version == 2
    assert db.get("f")["c"].cat.categories.tolist() == ["a", "b"]


def test_streamed_decimals_of_other_digits_make_one_decimal_column(tmp_path):
    """A decimal column of pandas objects takes its precision from its values, so pieces
    of 10.50 and 9.99 (or a piece of 100.25 into a frame of 10.50) were refused as two
    types. Decimals of the column's places or fewer fit, the widest precision wins, and
    more places than a recorded column's are still refused."""
    db = pdb.open(tmp_path / "store", format="parquet")
    pieces = ([Decimal("10.50")], [Decimal("9.99")], [Decimal("1.5"), Decimal("100.25")])
    assert db.upload(iter(pd.DataFrame({"d": p}) for p in pieces), "f").rows == 4
    db.upload(iter([pd.DataFrame({"d": [Decimal("1000.5")]})]), "f")
    want = ["10.50", "9.99", "1.50", "100.25", "1000.50"]
    assert db.get("f")["d"].tolist() == [Decimal(v) for v in want]
    with pytest.raises(SchemaMismatch, match="1.125"):
        db.upload(iter([pd.DataFrame({"d": [Decimal("1.125")]})]), "f")
    assert db.check().ok
