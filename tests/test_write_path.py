"""The write path of an upload: chunk files are encoded many per polars call, exactly as one
at a time, and written while the next ones are encoded."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pandas as pd
import polars as pl
import pytest

import pandasdb_core as pdb
from pandasdb_core import codecs, parallel, writing
from pandasdb_core.layouts import date as date_layout


def _days(days: int, per_day: int = 5) -> pd.DataFrame:
    ts = pd.date_range("2024-01-01", periods=days * per_day, freq=f"{24 * 60 // per_day}min")
    rows = len(ts)
    return pd.DataFrame(
        {"ts": ts, "v": np.arange(rows), "s": [f"s{i % 7}" for i in range(rows)], "f": 0.5}
    )


@pytest.mark.parametrize("fmt", codecs.FORMATS)
def test_many_chunks_encoded_in_one_call_are_the_bytes_of_each_alone(fmt):
    frames = [pl.DataFrame({"a": list(range(i + 1)), "b": ["x" * i] * (i + 1)}) for i in range(5)]
    assert codecs.encode_many(frames, fmt) == [codecs.encode(f, fmt) for f in frames]


def test_csv_text_of_a_long_chunk_streams_through_the_compressor_and_a_short_one_does_not():
    short = pl.DataFrame({"a": range(codecs.TEXT_ROWS)})
    long = pl.DataFrame({"a": range(codecs.TEXT_ROWS + 1)})
    rendered = codecs.render_many([short, long], "csv.gz")
    assert [r.compress for r in rendered] == [True, False]  # the long one is compressed
    assert rendered[1].data[:2] == b"\x1f\x8b"
    for frame, part in zip([short, long], rendered, strict=True):
        back = codecs.decode(codecs.finish(part), "csv.gz", dict(frame.schema))
        assert back.equals(frame)


def test_a_chunk_polars_cannot_write_is_named_among_many(monkeypatch):
    frames = [pl.DataFrame({"a": [1]}), pl.DataFrame({"a": [2]})]
    sink = codecs._sink

    def failing(frame, target, fmt):
        if frame["a"][0] == 2:
            raise pl.exceptions.ComputeError("cannot write this one")
        return sink(frame, target, fmt)

    monkeypatch.setattr(codecs, "_sink", failing)
    with pytest.raises(pdb.InvalidArgument, match="cannot be written as parquet: cannot write"):
        codecs.encode_many(frames, "parquet")


@pytest.mark.parametrize("fmt", codecs.FORMATS)
def test_an_upload_encodes_its_day_files_a_batch_per_polars_call(tmp_path, monkeypatch, fmt):
    calls = []
    collect_all = pl.collect_all

    def counted(plans, *args, **kwargs):
        calls.append(len(plans))
        return collect_all(plans, *args, **kwargs)

    monkeypatch.setattr(pl, "collect_all", counted)
    db = pdb.open(tmp_path)
    df = _days(40)
    commit = db.upload(df, "f", columns_keys={"ts": "Date"}, format=fmt)
    assert commit.chunks == 40
    assert calls == [writing.ENCODE_FILES] * (40 // writing.ENCODE_FILES)
    pd.testing.assert_frame_equal(db.get("f"), df)


def test_encode_batches_hold_bounded_rows_and_files():
    rows = [writing.ENCODE_ROWS // 2, writing.ENCODE_ROWS // 2, 1, writing.ENCODE_ROWS * 3]
    assert writing.encode_batches("abcd", rows) == ["ab", "c", "d"]
    many = "x" * (writing.ENCODE_FILES + 1)
    assert [len(b) for b in writing.encode_batches(many, [1] * len(many))] == [
        writing.ENCODE_FILES,
        1,
    ]


def test_map_prepared_prepares_a_batch_only_once_the_one_before_the_last_is_done():
    done: list[int] = []
    lock = threading.Lock()

    def prepare(batch):
        # batch k is prepared once every item of batch k - 2 is done (at most two held)
        first = batch[0]
        if first >= 4:
            assert set(range(first - 4, first - 2)) <= set(done)
        return [x * 10 for x in batch]

    def work(item, made):
        with lock:
            done.append(item)
        return item + made

    batches = [[0, 1], [2, 3], [4, 5], [6, 7]]
    out = parallel.map_prepared(prepare, work, batches, workers=3, label="", progress=False)
    assert out == [11 * x for x in range(8)]


DAY_EDGES = [
    ("ns", dt.datetime(1677, 9, 22, 0, 13)),  # the first day ns hold
    ("ns", dt.datetime(2262, 4, 9, 1)),  # to the last: its next midnight is past int64
    ("us", dt.datetime(1, 1, 1)),
    ("us", dt.datetime(9999, 12, 29)),
    ("ms", dt.datetime(1969, 12, 31, 23)),  # days before the epoch (negative counts)
]


@pytest.mark.parametrize(("unit", "start"), DAY_EDGES, ids=str)
def test_day_runs_of_sorted_datetimes_are_the_runs_of_their_dates(unit, start):
    seconds = sorted({(i * 7_919) % 190_000 for i in range(60)})
    moments = pl.Series("t", [start + dt.timedelta(seconds=s) for s in seconds])
    moments = moments.cast(pl.Datetime(unit))
    days = moments.dt.date().to_list()
    expected = [
        (day, days.index(day), days.count(day)) for day in sorted(set(days), key=days.index)
    ]
    assert date_layout.day_runs(moments) == expected


def test_a_sorted_frame_is_cut_into_days_without_a_date_per_row(tmp_path, monkeypatch):
    def refused(self):
        raise AssertionError("a date per row was computed")

    df = _days(30)
    db = pdb.open(tmp_path)
    monkeypatch.setattr(pl.series.datetime.DateTimeNameSpace, "date", refused)
    assert db.upload(df, "f", columns_keys={"ts": "Date"}).chunks == 30
    monkeypatch.undo()
    pd.testing.assert_frame_equal(db.get("f"), df)


def test_a_frame_in_day_order_but_not_in_time_order_within_days_keeps_its_row_order(db):
    df = _days(6, per_day=4)
    df = df.iloc[[i ^ 1 for i in range(len(df))]]  # two rows of a day swapped
    df = df.reset_index(drop=True)
    db.upload(df, "f", columns_keys={"ts": "Date"})
    pd.testing.assert_frame_equal(db.get("f"), df)


def test_map_prepared_prepares_batches_on_several_threads_and_holds_a_bounded_number():
    both_started = threading.Barrier(2, timeout=10)  # broken unless two prepare at once
    done: list[int] = []
    lock = threading.Lock()

    def prepare(batch):
        first = batch[0]
        if first < 4:  # the first two batches
            both_started.wait()
        if first >= 6:  # batch k waits for batch k - 3: three batches held at most
            assert {first - 6, first - 5} <= set(done)
        return batch

    def work(item, made):
        with lock:
            done.append(item)
        return item

    batches = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    out = parallel.map_prepared(
        prepare, work, batches, workers=2, preparers=2, label="", progress=False
    )
    assert out == list(range(10))
