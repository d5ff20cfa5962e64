"""Dtypes, values and the index come back exactly as uploaded, in both formats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import polars as pl
import pytest
from pandas.testing import assert_frame_equal
from polars.testing import assert_frame_equal as assert_pl_equal

import pandasdb_core as pdb


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


# --- exactness at the edges (issue 10): each comes back exactly, or is refused up front ---

FORMATS = ["csv.gz", "parquet"]


def extreme_integers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i64": pd.array([2**53 + 1, None, 2**63 - 1, -(2**63), 0], dtype="Int64"),
            "u64": pd.array([2**64 - 1, None, 2**53 + 1, 0, 1], dtype="UInt64"),
            "i8": pd.array([127, -128, None, 0, 1], dtype="Int8"),
            "u32": pd.array([2**32 - 1, 0, None, 1, 2], dtype="UInt32"),
            "np_u64": np.array([2**64 - 1, 0, 1, 2, 3], dtype="uint64"),
            "np_i64": np.array([2**63 - 1, -(2**63), 2**53 + 1, 0, 1], dtype="int64"),
            "flag": pd.array([True, None, False, True, None], dtype="boolean"),
        }
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_integers_beyond_2_53_read_back_exactly(db, fmt):
    df = extreme_integers()
    db.upload(df, "ints", format=fmt)
    back = db.get("ints")
    assert_frame_equal(back, df, check_exact=True)
    assert back["i64"][0] == 2**53 + 1 and back["i64"][2] == 2**63 - 1
    assert back["u64"][0] == 2**64 - 1
    polars_back = db.get("ints", engine="polars")
    assert polars_back["u64"].dtype == pl.UInt64 and polars_back["u64"][0] == 2**64 - 1


def test_polars_integers_with_nulls_read_into_pandas_as_nullable(db):
    df = pl.DataFrame({"a": pl.Series([2**63 - 1, None], dtype=pl.Int64), "b": [True, None]})
    db.upload(df, "p")
    back = db.get("p")
    assert str(back["a"].dtype) == "Int64" and back["a"][0] == 2**63 - 1
    assert str(back["b"].dtype) == "boolean" and back["b"].isna().tolist() == [False, True]


def test_integer_column_added_later_is_nullable_not_float(db):
    db.upload(pd.DataFrame({"k": [1]}), "late")
    db.upload(pd.DataFrame({"k": [2], "big": np.array([2**63 - 1], dtype="int64")}), "late")
    back = db.get("late")
    assert str(back["big"].dtype) == "Int64"
    assert back["big"].tolist() == [pd.NA, 2**63 - 1]


HOSTILE_NAMES = [
    'say "hi"',
    '"',
    '""',
    "a,b",
    "line\nbreak",
    "cr\rreturn",
    " leading space",
    "trailing space ",
    "#hash",
    "tab\there",
    "ünï ✓",
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_csv_hostile_column_names_round_trip(db, fmt):
    df = pd.DataFrame({name: [i, i + 1] for i, name in enumerate(HOSTILE_NAMES)})
    db.upload(df, "names", format=fmt)
    assert_frame_equal(db.get("names"), df)
    assert_frame_equal(db.get("names", columns=['say "hi"', "a,b"]), df[['say "hi"', "a,b"]])
    assert db.check().ok


@pytest.mark.parametrize("fmt", FORMATS)
def test_all_null_columns_round_trip(db, fmt):
    df = pd.DataFrame(
        {
            "obj": pd.Series([None, None], dtype=object),
            "f": [np.nan, np.nan],
            "I": pd.array([None, None], dtype="Int64"),
            "s": pd.array([None, None], dtype="str"),
            "v": [1, 2],
        }
    )
    db.upload(df, "nulls", format=fmt)
    assert_frame_equal(db.get("nulls"), df)
    polars_df = pl.DataFrame({"n": pl.Series([None, None], dtype=pl.Null), "v": [1, 2]})
    db.upload(polars_df, "pnulls", format=fmt)
    assert_pl_equal(db.get("pnulls", engine="polars"), polars_df)
    assert db.check().ok


@pytest.mark.parametrize("fmt", FORMATS)
def test_null_typed_column_later_given_a_type(db, fmt):
    db.upload(
        pl.DataFrame({"k": [1, 2], "x": pl.Series([None, None], dtype=pl.Null)}), "t", format=fmt
    )
    db.upload(pl.DataFrame({"k": [3], "x": [7]}), "t")
    back = db.get("t", engine="polars")
    assert back.schema["x"] == pl.Int64
    assert back["x"].to_list() == [None, None, 7]
    assert db.get("t", as_of=1, engine="polars")["x"].to_list() == [None, None]
    db.upload(pd.DataFrame({"k": [4], "s": pd.Series([None], dtype=object)}), "u", format=fmt)
    db.upload(pd.DataFrame({"k": [5], "s": ["text"]}), "u")
    assert db.get("u")["s"].tolist()[1] == "text"
    assert db.check().ok


@pytest.mark.parametrize("fmt", FORMATS)
def test_durations_bytes_decimals_times_float16_and_dates_round_trip(db, fmt):
    df = pd.DataFrame(
        {
            "td": pd.to_timedelta([1, None, -5], unit="ns"),
            "td_s": pd.Series(pd.to_timedelta([1, 2, 3], unit="s")).astype("timedelta64[s]"),
            "bin": [b"\x00\xff", None, b""],
            "dec": [Decimal("1.10"), None, Decimal("-99999999999999999999.25")],
            "time": [dt.time(1, 2, 3, 4), None, dt.time(23, 59, 59, 999999)],
            "f16": np.array([1.5, np.nan, np.inf], dtype="float16"),
            "f32": np.array([1.1, np.nan, -np.inf], dtype="float32"),
            "date": [dt.date(1, 1, 1), None, dt.date(9999, 12, 31)],
        }
    )
    db.upload(df, "zoo", format=fmt)
    assert_frame_equal(db.get("zoo"), df, check_exact=True)
    polars_df = pl.DataFrame(
        {
            "dur": pl.Series([1, None, -5], dtype=pl.Duration("us")),
            "bin": pl.Series([b"\x00", None, b"\xff" * 3], dtype=pl.Binary),
            "f16": pl.Series([0.5, None, float("nan")], dtype=pl.Float16),
        }
    )
    db.upload(polars_df, "pzoo", format=fmt)
    assert_pl_equal(db.get("pzoo", engine="polars"), polars_df)
    assert db.check().ok


@pytest.mark.parametrize("fmt", FORMATS)
def test_datetimes_in_every_unit_and_zone(db, fmt):
    moments = pd.Series(
        pd.to_datetime(
            ["2024-03-10 01:59:59.123456789", None, "1890-06-01 12:00:00.000000001", "2262-04-10"],
            format="ISO8601",
        )
    ).astype("datetime64[ns]")
    columns = {}
    for unit in ("s", "ms", "us", "ns"):
        columns[f"naive_{unit}"] = moments.astype(f"datetime64[{unit}]")
    for tz in ("UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"):
        columns[tz] = moments.dt.tz_localize("UTC").dt.tz_convert(tz)
    for offset in (dt.timedelta(hours=5, minutes=30), dt.timedelta(hours=-3, minutes=-30)):
        columns[f"offset {offset}"] = moments.dt.tz_localize(dt.timezone(offset))
    df = pd.DataFrame(columns)
    db.upload(df, "times", format=fmt)
    assert_frame_equal(db.get("times"), df, check_exact=True)


def categorical_zoo() -> pd.DataFrame:
    stamps = pd.to_datetime(["2024-01-02", "2024-01-01"]).tz_localize("Asia/Kolkata")
    return pd.DataFrame(
        {
            "ints": pd.Categorical([3, 1, None, 3], categories=[3, 2, 1], ordered=True),
            "u64": pd.Categorical(
                np.array([2**64 - 1, 0, 0, 0], dtype="uint64"),
                categories=np.array([2**64 - 1, 5, 0], dtype="uint64"),
            ),
            "floats": pd.Categorical([2.5, None, -0.5, 2.5], categories=[2.5, -0.5, np.inf]),
            "bools": pd.Categorical([True, False, None, True], categories=[True, False]),
            "dates": pd.Categorical(
                [dt.date(2024, 1, 2), None, dt.date(2024, 1, 1), dt.date(2024, 1, 1)],
                categories=[dt.date(2024, 1, 2), dt.date(2024, 1, 1)],
                ordered=True,
            ),
            "stamps": pd.Categorical([stamps[1], None, stamps[0], stamps[1]], categories=stamps),
            "spans": pd.Categorical(
                pd.to_timedelta([2, 1, None, 2], unit="h"),
                categories=pd.to_timedelta([2, 1, 3], unit="h"),
                ordered=True,
            ),
            "strings": pd.Categorical(["b", "a", None, "b"], categories=["b", "a", "c"]),
        }
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_categoricals_of_any_category_type_keep_categories_and_order(db, fmt):
    df = categorical_zoo()
    db.upload(df, "cats", format=fmt)
    back = db.get("cats")
    assert_frame_equal(back, df, check_exact=True)
    for name in df.columns:
        assert back[name].cat.categories.equals(df[name].cat.categories), name
        assert back[name].cat.ordered == df[name].cat.ordered, name


def test_later_uploads_extend_unordered_categories_and_refuse_other_orders(db):
    first = pd.DataFrame({"c": pd.Categorical([2, 1], categories=[2, 1])})
    db.upload(first, "c")
    db.upload(pd.DataFrame({"c": pd.Categorical([7], categories=[7, 2])}), "c")
    back = db.get("c")
    assert back["c"].tolist() == [2, 1, 7]
    assert back["c"].cat.categories.tolist() == [2, 1, 7]
    db.upload(
        pd.DataFrame({"o": pd.Categorical(["lo"], categories=["lo", "hi"], ordered=True)}), "o"
    )
    before = db.versions("o")
    with pytest.raises(pdb.SchemaMismatch, match="'o'.*ordered"):
        db.upload(
            pd.DataFrame({"o": pd.Categorical(["hi"], categories=["hi", "lo"], ordered=True)}), "o"
        )
    assert db.versions("o") == before


def test_values_outside_the_recorded_categories_are_never_lost(db):
    db.upload(pd.DataFrame({"c": pd.Categorical([1, 2], categories=[1, 2])}), "keep")
    db.upload(pd.DataFrame({"c": np.array([9], dtype="int64")}), "keep")
    assert db.get("keep")["c"].tolist() == [1, 2, 9]
    db.upload(pd.DataFrame({"s": pd.Categorical(["a", "b"])}), "strings")
    db.upload(pl.DataFrame({"s": pl.Series(["z"], dtype=pl.Categorical)}), "strings")
    back = db.get("strings")
    assert back["s"].tolist() == ["a", "b", "z"]
    assert back["s"].cat.categories.tolist() == ["a", "b", "z"]


def test_sdk_reads_integers_beyond_2_53_and_categoricals_exactly(open_server):
    remote = pdb.connect(open_server.url, progress=False)
    for name, df in (("sdk/ints", extreme_integers()), ("sdk/cats", categorical_zoo())):
        remote.upload(df, name, format="parquet")
        assert_frame_equal(remote.get(name), df, check_exact=True)
    raw = pd.DataFrame({"i": pd.array([2**53 + 1, None], dtype="Int64")})
    remote.upload(raw, "sdk/csv")  # the default csv.gz chunks
    assert remote.get("sdk/csv")["i"].tolist() == [2**53 + 1, pd.NA]
