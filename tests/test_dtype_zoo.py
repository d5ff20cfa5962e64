"""Property-based round trips over the dtype zoo, in both formats and both engines.

Every frame either comes back exactly (dtypes, values, nulls, categories and their order) or
is refused up front with a pandasdb error and nothing written: never stored and then
unreadable. The zoo: nullable and numpy integers at their extremes, uint64, float16/32/64
with nan and inf, durations, categoricals of any category type (ordered or not), datetimes in
every unit and in named and fixed-offset zones, all-null columns, empty strings beside nulls,
booleans with nulls, text with unicode, newlines and quotes, and CSV-hostile column names.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from polars.testing import assert_frame_equal as assert_pl_equal

import pandasdb_core as pdb
from pandasdb_core.conversion import to_polars

EXAMPLES = 60
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
NAMES = st.text(alphabet=st.sampled_from('ab ,"\n\r\t#ü✓'), min_size=1, max_size=6).filter(
    lambda n: not n.startswith("__index_level_")
)
ZONES = [
    "UTC",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(dt.timedelta(hours=-9, minutes=-30)),
]
INT_RANGES = {
    "Int8": (-(2**7), 2**7 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "UInt8": (0, 2**8 - 1),
    "UInt16": (0, 2**16 - 1),
    "UInt32": (0, 2**32 - 1),
    "UInt64": (0, 2**64 - 1),
}
# 1700-2200 in nanoseconds, inside datetime64[ns] after any zone's offset
NANOS = st.integers(-8_520_336_000 * 10**9, 7_258_118_400 * 10**9)


def extremes(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers in range, with the edges and 2**53 +- 1 drawn often."""
    edges = [v for v in (low, high, 0, 2**53 - 1, 2**53 + 1, -(2**53) - 1) if low <= v <= high]
    return st.sampled_from(edges) | st.integers(low, high)


@st.composite
def categories(draw) -> pd.Index:
    kind = draw(st.sampled_from(["str", "int", "uint64", "float", "bool", "date", "stamp", "span"]))
    if kind == "str":
        values = draw(st.lists(TEXT, min_size=1, max_size=4, unique=True))
        return pd.Index(values, dtype="str")
    if kind == "int":
        return pd.Index(
            draw(st.lists(extremes(-(2**63), 2**63 - 1), min_size=1, max_size=4, unique=True))
        )
    if kind == "uint64":
        values = draw(st.lists(extremes(0, 2**64 - 1), min_size=1, max_size=4, unique=True))
        return pd.Index(np.array(values, dtype="uint64"))
    if kind == "float":
        floats = st.floats(allow_nan=False, allow_infinity=True)
        return pd.Index(
            draw(st.lists(floats, min_size=1, max_size=4, unique=True)), dtype="float64"
        )
    if kind == "bool":
        return pd.Index(draw(st.permutations([True, False]))[: draw(st.integers(1, 2))])
    if kind == "date":
        dates = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
        return pd.Index(draw(st.lists(dates, min_size=1, max_size=4, unique=True)), dtype=object)
    if kind == "stamp":
        nanos = draw(st.lists(NANOS, min_size=1, max_size=4, unique=True))
        stamps = pd.to_datetime(nanos, unit="ns", utc=True).tz_convert(draw(st.sampled_from(ZONES)))
        return pd.Index(stamps)
    counts = draw(st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=4, unique=True))
    return pd.Index(pd.to_timedelta(counts, unit="us"))


@st.composite
def zoo_column(draw, n: int) -> pd.Series:
    kind = draw(
        st.sampled_from(
            [
                "nullable_int",
                "numpy_int",
                "float",
                "timedelta",
                "category",
                "datetime",
                "all_null",
                "text",
                "object_text",
                "bool",
            ]
        )
    )

    def values(strategy, nulls: bool = True) -> list:
        item = (st.none() | strategy) if nulls else strategy
        return draw(st.lists(item, min_size=n, max_size=n))

    if kind == "nullable_int":
        dtype = draw(st.sampled_from(sorted(INT_RANGES)))
        return pd.Series(pd.array(values(extremes(*INT_RANGES[dtype])), dtype=dtype))
    if kind == "numpy_int":
        dtype = draw(st.sampled_from(["int64", "uint64", "int8", "uint32"]))
        info = np.iinfo(dtype)
        return pd.Series(
            np.array(values(extremes(int(info.min), int(info.max)), False), dtype=dtype)
        )
    if kind == "float":
        dtype = draw(st.sampled_from(["float16", "float32", "float64"]))
        width = {"float16": 16, "float32": 32, "float64": 64}[dtype]
        floats = st.floats(width=width, allow_nan=True, allow_infinity=True)
        return pd.Series(np.array(values(floats, False), dtype=dtype))
    if kind == "timedelta":
        spans = values(st.integers(-(2**62), 2**62))
        return pd.Series(pd.to_timedelta(spans, unit="ns"), dtype="timedelta64[ns]")
    if kind == "category":
        cats = draw(categories())
        picks = values(st.integers(0, len(cats) - 1))
        codes = np.array([-1 if p is None else p for p in picks], dtype="int64")
        ordered = draw(st.booleans())
        return pd.Series(pd.Categorical.from_codes(codes, categories=cats, ordered=ordered))
    if kind == "datetime":
        unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
        stamps = pd.Series(pd.to_datetime(values(NANOS), unit="ns")).astype(f"datetime64[{unit}]")
        zone = draw(st.none() | st.sampled_from(ZONES))
        return stamps if zone is None else stamps.dt.tz_localize("UTC").dt.tz_convert(zone)
    if kind == "all_null":
        dtype = draw(st.sampled_from(["object", "float64", "Int64", "str", "boolean"]))
        return pd.Series([None] * n, dtype=dtype)
    if kind == "text":
        return pd.Series(pd.array(values(TEXT), dtype="str"))
    if kind == "object_text":
        return pd.Series(values(TEXT | st.just("")), dtype=object)
    nullable = draw(st.booleans())
    return pd.Series(
        pd.array(values(st.booleans(), nullable), dtype="boolean" if nullable else "bool")
    )


@st.composite
def zoo_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 12))
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    return pd.DataFrame({name: draw(zoo_column(n)) for name in names})


def _round_trip_or_refused(db: pdb.Store, df, fmt: str):
    """Upload ``df``; a refusal must be a pandasdb error with nothing written."""
    try:
        db.upload(df, "zoo", format=fmt)
    except pdb.PandasDBError:
        assert db.list() == [] and list(db.blobs.list()) == []
        return False
    return True


@given(df=zoo_frames(), fmt=st.sampled_from(["csv.gz", "parquet"]))
@SETTINGS
def test_pandas_zoo_round_trips_exactly_in_both_engines(df, fmt):
    db = pdb.open("memory://", chunk_rows=5)
    if not _round_trip_or_refused(db, df, fmt):
        return
    assert_frame_equal(db.get("zoo"), df, check_exact=True, check_dtype=True)
    stored, _ = to_polars(df)
    assert_pl_equal(db.get("zoo", engine="polars"), stored)
    assert db.check().ok


POLARS_TYPES = st.sampled_from(
    [
        pl.Int8,
        pl.Int64,
        pl.UInt64,
        pl.Float16,
        pl.Float32,
        pl.Float64,
        pl.Boolean,
        pl.String,
        pl.Binary,
        pl.Date,
        pl.Time,
        pl.Null,
        pl.Categorical,
        pl.Enum(["x", "y, z", 'q"']),
        pl.Duration("ns"),
        pl.Duration("ms"),
        pl.Decimal(38, 4),
        pl.Datetime("ns", "Asia/Kolkata"),
        pl.Datetime("us"),
        pl.Datetime("ms", "UTC"),
    ]
)


def _polars_values(dtype: pl.DataType, n: int) -> st.SearchStrategy[list]:
    """Values for a column of ``dtype``; datetimes and durations as microsecond counts."""
    if dtype == pl.Null:
        return st.just([None] * n)
    if isinstance(dtype, pl.Enum):
        item = st.sampled_from(dtype.categories.to_list())
    elif dtype == pl.Categorical or dtype == pl.String:
        item = TEXT
    elif dtype == pl.Binary:
        item = st.binary(max_size=6)
    elif dtype == pl.Boolean:
        item = st.booleans()
    elif dtype == pl.Date:
        item = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
    elif dtype == pl.Time:
        item = st.times()
    elif isinstance(dtype, pl.Decimal):
        item = st.decimals(
            min_value=-(10**30), max_value=10**30, places=4, allow_nan=False, allow_infinity=False
        )
    elif isinstance(dtype, pl.Duration | pl.Datetime):
        item = NANOS.map(lambda v: v // 1000)
    elif dtype.is_float():
        width = {pl.Float16: 16, pl.Float32: 32}.get(dtype, 64)
        item = st.floats(width=width, allow_nan=True, allow_infinity=True)
    else:
        info = np.iinfo(str(dtype).lower())
        item = extremes(int(info.min), int(info.max))
    return st.lists(st.none() | item, min_size=n, max_size=n)


@st.composite
def native_polars_frames(draw) -> pl.DataFrame:
    n = draw(st.integers(1, 12))
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    columns = []
    for name in names:
        dtype = draw(POLARS_TYPES)
        values = draw(_polars_values(dtype, n))
        if isinstance(dtype, pl.Duration | pl.Datetime):
            unit_counts = pl.Series(name, values, dtype=pl.Int64)
            series = unit_counts.cast(
                pl.Datetime("us") if isinstance(dtype, pl.Datetime) else pl.Duration("us")
            )
            series = series.cast(
                pl.Datetime(dtype.time_unit) if isinstance(dtype, pl.Datetime) else dtype
            )
            if isinstance(dtype, pl.Datetime) and dtype.time_zone:
                series = series.dt.replace_time_zone("UTC").dt.convert_time_zone(dtype.time_zone)
        else:
            series = pl.Series(name, values, dtype=dtype, strict=False)
        columns.append(series.alias(name))
    return pl.DataFrame(columns)


@given(df=native_polars_frames(), fmt=st.sampled_from(["csv.gz", "parquet"]))
@SETTINGS
def test_polars_zoo_round_trips_exactly(df, fmt):
    db = pdb.open("memory://", chunk_rows=5)
    if not _round_trip_or_refused(db, df, fmt):
        return
    assert_pl_equal(db.get("zoo", engine="polars"), df, check_exact=True)
    db.get("zoo")  # and pandas can take it
    assert db.check().ok


#: pandas columns no stored type holds, with words of what to do instead
UNSTORABLE = {
    "complex128": (pd.Series([1 + 2j]), ".real and .imag"),
    "complex64": (pd.Series(np.array([1 + 2j], dtype="complex64")), ".real and .imag"),
    "|V2": (pd.Series(np.array([b"ab"], dtype="V2")), "fields"),
    "float128": (pd.Series(np.array([1.5], dtype="longdouble")), "float64"),
    "Sparse[int64, 0]": (pd.Series(pd.arrays.SparseArray([0, 1])), "dense"),
    "period[M]": (pd.Series(pd.period_range("2024-01", periods=2, freq="M")), "to_timestamp"),
    "interval[int64, right]": (pd.Series(pd.interval_range(0, 2)), "bounds"),
}


@pytest.mark.parametrize(
    "dtype, where",
    [(d, w) for d in sorted(UNSTORABLE) for w in ("column", "index") if (d, w) != ("|V2", "index")],
)
@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_an_unstorable_dtype_is_refused_naming_the_column_and_what_is_stored(dtype, where, fmt):
    """A complex column said only 'Unsupported numpy type 15' (void 20, long double 13,
    sparse 'Did not pass numpy.dtype object'); each now names the column, its dtype, what to
    do and what pandasdb stores, and nothing is written."""
    values, advice = UNSTORABLE[dtype]
    if where == "column":
        df, label = pd.DataFrame({"c": values, "ok": 1}), "column 'c'"
    else:
        df, label = pd.DataFrame({"ok": [1] * len(values)}, index=values), "index level 0"
    db = pdb.open("memory://", format=fmt)
    with pytest.raises(pdb.errors.InvalidArgument) as refused:
        db.upload(df, "f")
    message = str(refused.value)
    assert message.startswith(f"{label} has dtype {dtype}, which pandasdb cannot store")
    assert advice in message and "pandasdb stores integers" in message
    assert db.list() == []


@pytest.mark.parametrize("dtype", ["complex128", "float128", "period[M]"])
def test_the_sdk_refuses_an_unstorable_dtype_as_the_library_does(open_server, dtype):
    values, _ = UNSTORABLE[dtype]
    db = pdb.connect(open_server.url, progress=False)
    with pytest.raises(
        pdb.errors.InvalidArgument, match=re.escape(f"column 'c' has dtype {dtype}")
    ):
        db.upload(pd.DataFrame({"c": values}), "unstorable/f")
    assert db.list(prefix="unstorable/") == []


@pytest.mark.parametrize(
    "values",
    [
        np.array(["2024-01-01"], dtype="datetime64[D]"),
        np.array(["2024"], dtype="datetime64[Y]"),
        np.array([3], dtype="timedelta64[D]"),
        np.array([3], dtype="timedelta64[M]"),
        np.array([1.5, np.nan], dtype="float16"),
    ],
    ids=str,
)
def test_unusual_numpy_units_and_float16_round_trip(values):
    """pandas turns datetime64[D]/[Y] and timedelta64[D]/[M] into seconds when it builds
    the frame: what it holds comes back."""
    df = pd.DataFrame({"c": values})
    db = pdb.open("memory://")
    db.upload(df, "f")
    assert_frame_equal(db.get("f"), df)


@pytest.mark.parametrize(
    "arrow_type, values, advice",
    [
        ("decimal256(50, 2)", [1], "decimal128"),
        ("month_day_nano_interval", [(1, 2, 3)], "three integer columns"),
        ("timestamp[s, tz=+05:30]", [1], ".astype('datetime64[ns, +05:30]')"),
    ],
)
def test_an_arrow_dtype_polars_cannot_take_is_refused_naming_it(arrow_type, values, advice):
    """These said 'operator does not support primitive Int256', 'could not import from
    month_day_nano_interval' (with a hint about a polars setting) and 'unable to parse time
    zone: +05:30'."""
    import pyarrow as pa

    types = {
        "decimal256(50, 2)": pa.decimal256(50, 2),
        "month_day_nano_interval": pa.month_day_nano_interval(),
        "timestamp[s, tz=+05:30]": pa.timestamp("s", tz="+05:30"),
    }
    array = pa.array(values, type=types[arrow_type])
    df = pd.DataFrame({"c": pd.array(array, dtype=pd.ArrowDtype(array.type))})
    db = pdb.open("memory://")
    with pytest.raises(pdb.errors.InvalidArgument) as refused:
        db.upload(df, "f")
    message = str(refused.value)
    assert message.startswith(f"column 'c' has dtype {arrow_type}[pyarrow], which pandasdb")
    assert advice in message
    assert db.list() == []
