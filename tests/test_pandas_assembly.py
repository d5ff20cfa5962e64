"""A pandas read built batch by batch gives exactly what converting the whole frame gives.

``get`` fills its pandas frame batch by batch (``pandas_assembly``); these tests read frames
whose batches differ (nulls only in a later batch, a column added by a later upload, a
categorical growing, zones, units) one chunk per batch, and compare every column and dtype
with the whole-frame conversion and with what was uploaded.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

import pandasdb_core as pdb
from pandasdb_core import reading
from pandasdb_core.conversion import to_pandas
from pandasdb_core.operations import ReadQuery


@pytest.fixture(autouse=True)
def one_chunk_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "BATCH_BYTES", {"csv.gz": 1, "parquet": 1})


def _pieces() -> list[pd.DataFrame]:
    """Three uploads of one frame: the first without nulls, the later ones with them, the
    last adding a column."""
    first = pd.DataFrame(
        {
            "i8": pd.Series([1, -128], dtype="int8"),
            "i64": [2**63 - 1, -(2**63)],
            "u64": pd.Series([2**64 - 1, 0], dtype="uint64"),
            "n64": pd.array([2**53 + 1, 5], dtype="Int64"),
            "f16": pd.Series([0.5, -0.0], dtype="float16"),
            "f64": [np.inf, np.nan],
            "F64": pd.array([1.5, 2.5], dtype="Float64"),
            "b": [True, False],
            "nb": pd.array([True, False], dtype="boolean"),
            "ts": pd.to_datetime(["2024-01-01 00:00:00.000000001", "1700-01-01"], format="ISO8601"),
            "tz": pd.to_datetime(["2024-03-31 01:30", "2024-10-27 02:30"]).tz_localize(
                "Europe/Paris", ambiguous=[True, False]
            ),
            "off": pd.to_datetime(["2024-01-01 10:00"] * 2).tz_localize("+05:30"),
            "ms": pd.Series(np.array(["0001-01-01", "9999-12-31"], dtype="datetime64[ms]")),
            "td": pd.to_timedelta([1, -(10**15)], unit="ns"),
            "s": pd.Series(['a,"b"\n', ""], dtype="str"),
            "cat": pd.Categorical(["x", "y"], categories=["y", "x"], ordered=True),
            "day": [dt.date(2024, 1, 1), dt.date(1, 1, 1)],
            "obj": pd.Series([Decimal("1.5"), Decimal("-2")], dtype=object),
        }
    )
    later = first.copy()
    for col in ("n64", "F64", "nb", "s"):
        later[col] = later[col].astype(later[col].dtype)
        later.loc[1, col] = None
    later.loc[0, "f64"] = None
    later.loc[1, "ts"] = pd.NaT
    later.loc[0, "tz"] = pd.NaT
    later.loc[1, "td"] = pd.NaT
    added = later.assign(extra=pd.Series([7, 8], dtype="int32"))
    return [first, later, added]


@pytest.mark.parametrize("fmt", ["parquet", "csv.gz"])
def test_batch_by_batch_equals_the_whole_frame_converted(tmp_path, fmt):
    db = pdb.open(tmp_path, format=fmt)
    for piece in _pieces():
        db.upload(piece, "zoo")
    got = db.get("zoo")
    whole = to_pandas(*db.read(ReadQuery.build(name="zoo")))
    pd.testing.assert_frame_equal(got, whole, check_exact=True)
    assert list(got.dtypes) == list(whole.dtypes)
    # and what was uploaded, batch for batch (the column added last is null before it)
    expected = pd.concat(_pieces(), ignore_index=True)
    expected["extra"] = expected["extra"].astype("Int32")
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_an_int_column_with_nulls_in_one_later_batch_only_is_nullable(tmp_path):
    db = pdb.open(tmp_path)
    db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    db.upload(pd.DataFrame({"b": [3]}), "f")  # "a" is null in this batch only
    got = db.get("f")
    assert str(got["a"].dtype) == "Int64"
    assert got["a"].tolist() == [1, 2, pd.NA]


def test_filters_and_an_index_come_through_batches(tmp_path):
    db = pdb.open(tmp_path)
    days = pd.date_range("2024-01-01", periods=6, freq="12h", tz="UTC")
    df = pd.DataFrame({"ts": days, "v": range(6)}, index=pd.Index(list("abcdef"), name="k"))
    db.upload(df, "f", columns_keys={"ts": "Date"})
    got = db.get("f", start_date="2024-01-02", end_date="2024-01-03", columns=["v"])
    pd.testing.assert_frame_equal(got, df.iloc[2:6][["v"]], check_exact=True)
    assert db.get("f", start_date="2030-01-01").empty
