"""Property-based round trips: any frame of the supported dtypes reads back exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

import pandasdb_core as pdb

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
# nanosecond timestamps across 1970-2200, tz-aware
NANOS = st.integers(0, 7_258_118_400 * 10**9)


@st.composite
def frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 25))

    def col(strategy):
        return draw(st.lists(strategy, min_size=n, max_size=n))

    categories = draw(
        st.lists(
            st.text(alphabet='abcxyz," ', min_size=1, max_size=4),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    tz = draw(st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"]))
    df = pd.DataFrame(
        {
            "i": np.array(col(INT64), dtype="int64"),
            "f": np.array(col(FLOATS), dtype="float64"),
            "b": np.array(col(st.booleans()), dtype="bool"),
            "s": pd.array(col(st.none() | TEXT), dtype="str"),
            "I": pd.array(col(st.none() | st.integers(-(2**40), 2**40)), dtype="Int64"),
            "ts": pd.to_datetime(col(NANOS), utc=True).tz_convert(tz).as_unit("ns"),
            "c": pd.Categorical(
                col(st.none() | st.sampled_from(categories)),
                categories=categories,
                ordered=draw(st.booleans()),
            ),
        }
    )
    df.index = pd.Index(col(st.integers(-1000, 1000)), name=draw(st.sampled_from(["k", "id"])))
    return df


@given(df=frames(), fmt=st.sampled_from(["csv.gz", "parquet"]), dated=st.booleans())
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_frame_round_trips_exactly(df, fmt, dated):
    db = pdb.open("memory://", chunk_rows=7)
    keys = {"ts": "Date"} if dated else None
    db.upload(df, "p", columns_keys=keys, format=fmt)
    back = db.get("p")
    if dated:  # a Date layout returns rows by day, then upload order
        order = df["ts"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d").reset_index(drop=True)
        df = df.iloc[order.sort_values(kind="stable").index]
    assert_frame_equal(back, df, check_exact=True)
