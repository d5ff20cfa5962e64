"""Chunk files decoded many at a time give what decoding each alone gives, and datetimes in
CSV come back exactly whether the file holds polars' layout (the fast path) or another."""

from __future__ import annotations

import datetime as dt
import gzip
import re
import sys

import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pandasdb_core as pdb
from pandasdb_core import codecs
from pandasdb_core.errors import ChunkCorrupt

DATETIMES = [
    pl.Datetime(unit, zone)
    for unit in ("ms", "us", "ns")
    for zone in (None, "UTC", "America/New_York")
]


def _stamps(dtype: pl.Datetime) -> pl.Series:
    values = [
        dt.datetime(2024, 1, 31, 9, 30, 0, 123456),
        None,
        dt.datetime(1970, 1, 1),
        dt.datetime(1900, 2, 28, 23, 59, 59, 999999),
        dt.datetime(2262, 4, 11) if dtype.time_unit == "ns" else dt.datetime(9999, 12, 31, 1),
        dt.datetime(1678, 1, 1) if dtype.time_unit == "ns" else dt.datetime(1, 1, 1, 0, 0, 1),
    ]
    series = pl.Series("t", values, dtype=pl.Datetime(dtype.time_unit))
    if dtype.time_unit == "ns":  # a digit only nanoseconds show
        series = (series.cast(pl.Int64) + 7).cast(series.dtype)
    if dtype.time_zone:
        series = series.dt.replace_time_zone("UTC").dt.convert_time_zone(dtype.time_zone)
    return series


@pytest.mark.parametrize("dtype", DATETIMES, ids=str)
def test_datetimes_of_every_unit_and_zone_come_back_exactly_from_csv(dtype):
    frame = pl.DataFrame({"t": _stamps(dtype), "n": range(6)})
    back = codecs.decode(codecs.encode(frame, "csv.gz"), "csv.gz", dict(frame.schema))
    assert_frame_equal(back, frame)


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-31 09:30:00",  # pandas' to_csv, as the seed wrote
        "2024-01-31T09:30:00",  # no fraction
        "2024-01-31T09:30:00.123",  # fewer digits than the unit has
        "2024-01-31T09:30:00.123456789+0530",  # an offset other than UTC's
        "2024-01-31T09:30:00.12345678+",  # the right length, not the layout
        "+2024-01-31T09:30:00.123456789",
    ],
)
def test_datetime_text_of_other_layouts_is_read_as_polars_reads_it(text):
    """A file another writer made (the seed's pandas, a hand-edited file) is parsed by the
    CSV reader itself, so the fast path never changes what a file means."""
    raw = f"t,n\n{text},1\n,2\n".encode()
    for dtype in (pl.Datetime("ns"), pl.Datetime("ns", "UTC")):
        dtypes = {"t": dtype, "n": pl.Int64()}
        try:
            expected = pl.read_csv(raw, schema=dtypes)
        except pl.exceptions.PolarsError as exc:
            # what polars refuses is a damaged file: pandasdb's error names it
            with pytest.raises(ChunkCorrupt, match=re.escape(str(exc).splitlines()[0][:40])):
                codecs.decode(gzip.compress(raw), "csv.gz", dtypes)
            continue
        assert_frame_equal(codecs.decode(gzip.compress(raw), "csv.gz", dtypes), expected)


def _files(fmt: str) -> tuple[list[bytes], dict[str, pl.DataType]]:
    """Chunk files of one frame over three versions: a column all null at first, typed
    later, and a column added by the last version."""
    first = pl.DataFrame({"a": [1, 2], "n": pl.Series([None, None], dtype=pl.Null)})
    second = pl.DataFrame({"a": [3], "n": pl.Series([7], dtype=pl.Int64)})
    third = pl.DataFrame({"a": [4], "n": [8], "s": ['x,"y"\nz']})
    dtypes = {"a": pl.Int64(), "n": pl.Int64(), "s": pl.String()}
    return [codecs.encode(f, fmt) for f in (first, second, third)], dtypes


@pytest.mark.parametrize("fmt", codecs.FORMATS)
def test_many_files_parse_as_each_file_alone(fmt):
    files, dtypes = _files(fmt)
    columns = ["a", "n"]
    alone = pl.concat([codecs.decode(f, fmt, dtypes, columns) for f in files])
    together = codecs.parse([codecs.unpack(f, fmt) for f in files], fmt, dtypes, columns)
    assert_frame_equal(together, alone)
    assert together["n"].to_list() == [None, None, 7, 8]


def test_csv_files_with_different_headers_are_parsed_apart():
    files, dtypes = _files("csv.gz")
    unpacked = [codecs.unpack(f, "csv.gz") for f in files]
    assert [u.header for u in unpacked] == [("a", "n"), ("a", "n"), ("a", "n", "s")]
    back = codecs.parse(unpacked, "csv.gz", dtypes, ["n", "a"])
    assert back.to_dict(as_series=False) == {"n": [None, None, 7, 8], "a": [1, 2, 3, 4]}


def test_csv_file_without_final_newline_does_not_run_into_the_next():
    dtypes = {"a": pl.Int64()}
    files = [codecs.unpack(gzip.compress(text), "csv.gz") for text in (b"a\n1", b"a\n2\n")]
    assert codecs.parse(files, "csv.gz", dtypes)["a"].to_list() == [1, 2]


@pytest.mark.parametrize("fmt", codecs.FORMATS)
def test_a_read_of_many_batches_returns_every_row_in_order(fmt, tmp_path, monkeypatch):
    """Reads parse in batches of BATCH_BYTES: made tiny, each day is its own batch."""
    from pandasdb_core import reading

    monkeypatch.setattr(reading, "BATCH_BYTES", {"csv.gz": 1, "parquet": 1})
    df = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=500, freq="37min", tz="UTC"),
            "v": range(500),
        }
    )
    db = pdb.open(tmp_path / "db", format=fmt)
    db.upload(df, "f", columns_keys={"ts": "Date"})
    db.upload(df.assign(extra=1.5), "f", columns_keys={"ts": "Date"})
    back = db.get("f")
    assert len(back) == 1000 and back["extra"].isna().sum() == 500
    by_day = back.groupby(back["ts"].dt.date, sort=False)["v"].apply(list)
    assert by_day.index.is_monotonic_increasing


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "UTC", "America/New_York"])
def test_csv_datetimes_read_the_same_without_pyarrow(monkeypatch, unit, zone):
    """The server's package has no pyarrow: its CSV datetime parse gives what arrow's does."""
    stamps = pl.Series(
        "t", [0, 1_700_000_000_123_456_789 // {"ms": 10**6, "us": 10**3, "ns": 1}[unit], None]
    )
    frame = pl.DataFrame({"t": stamps.cast(pl.Datetime(unit, zone))})
    stored = codecs.encode(frame, "csv.gz")
    with_arrow = codecs.parse([codecs.unpack(stored, "csv.gz")], "csv.gz", dict(frame.schema))
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.compute", None)
    without = codecs.parse([codecs.unpack(stored, "csv.gz")], "csv.gz", dict(frame.schema))
    assert with_arrow.equals(frame) and without.equals(frame)
