"""Dtypes, values and the index come back exactly as uploaded, in both formats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from pandas.testing import assert_frame_equal
from polars.testing import assert_frame_equal as assert_pl_equal


def tricky_frame() -> pd.DataFrame:
    n = 6
    return pd.DataFrame(
        {
            "i": np.arange(n, dtype="int64") - 3,
            "i32": np.arange(n, dtype="int32"),
            "f": [1.5, np.nan, -0.0, 1e-300, 1 / 3, np.inf],
            "b": [True, False, True, True, False, False],
            "s": ["plain", "comma, inside", 'quote "q"', "new\nline", "ümlaut ✓ 日本", ""],
            "s_null": pd.array(["a", None, "c", None, "", "f"], dtype="str"),
            "I": pd.array([1, None, 3, None, 5, 6], dtype="Int64"),
            "ts_utc": pd.date_range(
                "2024-01-01 00:00:00.123456789", periods=n, freq="13h", tz="UTC"
            ).as_unit("ns"),
            "ts_ny": pd.date_range(
                "2024-03-09 22:00", periods=n, freq="3h", tz="America/New_York"
            ).as_unit("ns"),
            "ts_naive": pd.to_datetime(["2024-01-01 00:00:00.000000001"] * n).as_unit("ns"),
            "cat": pd.Categorical(["x", "y", "x", None, "z", "y"], categories=["z", "y", "x"]),
            "ocat": pd.Categorical(
                ["lo", "hi", "lo", "hi", "lo", "hi"], categories=["lo", "hi"], ordered=True
            ),
        },
        index=pd.Index([10, 20, 30, 40, 50, 60], name="row_id"),
    )


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_pandas_dtypes_round_trip_exactly(db, fmt):
    df = tricky_frame()
    db.upload(df, "t/rt", format=fmt)
    back = db.get("t/rt")
    assert_frame_equal(back, df, check_exact=True)
    assert list(back.dtypes.astype(str)) == list(df.dtypes.astype(str))
    assert back.index.name == "row_id"


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_round_trip_through_date_layout_keeps_dtypes(db, fmt):
    df = tricky_frame()
    db.upload(df, "t/dated", columns_keys={"ts_utc": "Date"}, format=fmt, chunk_rows=2)
    back = db.get("t/dated")
    assert_frame_equal(back, df, check_exact=True)


def test_multi_index_round_trips(db):
    idx = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    df = pd.DataFrame({"v": [1.0, 2.0]}, index=idx)
    db.upload(df, "mi")
    assert_frame_equal(db.get("mi"), df)


def test_polars_in_polars_out(db):
    df = pl.DataFrame(
        {
            "ts": pl.datetime_range(
                pl.datetime(2024, 1, 1),
                pl.datetime(2024, 1, 3),
                "12h",
                time_unit="ns",
                eager=True,
                time_zone="UTC",
            ),
            "u8": pl.Series([1, 2, 3, 4, 5], dtype=pl.UInt8),
            "s": ["a", None, "c,d", "", "é"],
            "d": pl.Series(["2024-01-01"] * 5).str.to_date(),
            "e": pl.Series(["x", "y", "x", "y", "x"], dtype=pl.Enum(["y", "x"])),
        }
    )
    db.upload(df, "pl/frame", columns_keys={"ts": "Date"})
    back = db.get("pl/frame", engine="polars")
    assert_pl_equal(back, df)


def test_polars_upload_read_as_pandas(db):
    df = pl.DataFrame({"a": [1, 2], "s": ["x", None]})
    db.upload(df, "p")
    back = db.get("p")
    assert isinstance(back, pd.DataFrame)
    assert back["a"].tolist() == [1, 2]
    assert back["s"].isna().tolist() == [False, True]


def test_projection_returns_requested_columns_in_order(db):
    df = tricky_frame()
    db.upload(df, "proj", columns_keys={"ts_utc": "Date"})
    back = db.get("proj", columns=["s", "i"])
    assert list(back.columns) == ["s", "i"]
    assert_frame_equal(back, df[["s", "i"]])
