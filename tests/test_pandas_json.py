"""The original backend's clients send ``df.to_json()`` in a string, and that backend read it
with ``pandas.read_json``: pandasdb types such a column as read_json does (checked here
against the installed pandas, value by value), except where read_json would change the data
or lose a later upload (the module docstring of ``lambdas/pandas_json.py`` lists each case)."""

from __future__ import annotations

import io
import json
import math
import warnings

import pandas as pd
import polars as pl
import pytest

from lambdas.pandas_json import frame_from_pandas_json, typed
from pandasdb_core.conversion import PreparedFrame
from pandasdb_core.errors import InvalidArgument, InvalidPartition

#: column name -> JSON values; read_json and pandasdb must agree on type and values
SAME_AS_READ_JSON = {
    "ints": [1, 2],
    "ints_with_null": [1, None],
    "whole_floats": [1.0, 2.0],
    "halves": [1.5, 2.0],
    "whole_floats_with_null": [1.0, None],
    "ints_and_floats": [1, 2.5],
    "scientific": [1e3, 2.0],
    "big_floats": [1e20, 1.0],
    "bools": [True, False],
    "text": ["a", "b"],
    "digits": ["007", "010"],
    "decimals": ["1.5", "2"],
    "digits_with_null": ["1", None],
    "exponent": ["1e3", "2"],
    "padded": [" 1", "2"],
    "digits_and_ints": [1, "2"],
    "iso_text": ["2024-01-01", "2024-01-02"],
    "true_text": ["true", "false"],
    "uint64": [2**63, 1],
    "date": [1704067200000, 1704153600000],
    "created_at": [1704067200, None],
    "end_time": ["2024-01-01", "2024-01-02T10:00:00"],
    "timestamp_x": ["2024-01-01", None],
    "datetime": [1704067200000000, 1704067200000001],
    "fraction_at": [1704067200000.5, 1704067200000.0],
    "digits_at": ["1704067200000", "1704153600000"],
    "modified": [5, 6],
    "Date": ["2024-01-01", "x"],
    "negative_at": [-1704067200000, 1704067200000],
    "bool_at": [True, False],
    "local_and_utc_at": ["2024-01-01T00:00:00", "2024-01-02T00:00:00Z"],
}


def read_json(records: list[dict]) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.read_json(io.StringIO(json.dumps(records)))


def _kind(dtype: object) -> str:
    text = str(dtype).lower()
    for kind in ("datetime", "uint", "int", "float", "bool"):
        if text.startswith(kind):
            return kind
    return "text"


def _same(ours: list, theirs: list) -> bool:
    def plain(value: object) -> object:
        if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            return None
        return pd.Timestamp(value).tz_localize(None) if hasattr(value, "year") else value

    return [plain(v) for v in ours] == [plain(v) for v in theirs]


@pytest.mark.parametrize("column", sorted(SAME_AS_READ_JSON))
def test_a_column_gets_the_type_and_values_read_json_gives(column):
    records = [{column: value} for value in SAME_AS_READ_JSON[column]]
    theirs = read_json(records)[column]
    ours = frame_from_pandas_json(json.dumps(records), ())[column]
    assert _kind(ours.dtype) == _kind(theirs.dtype), (ours.dtype, theirs.dtype)
    assert _same(ours.to_list(), theirs.tolist()), (ours.to_list(), theirs.tolist())


def test_offsets_become_utc_where_read_json_keeps_a_fixed_offset():
    records = [{"tz_at": "2024-01-01T00:00:00+01:00"}, {"tz_at": "2024-01-02T00:00:00+01:00"}]
    theirs = read_json(records)["tz_at"]
    ours = frame_from_pandas_json(json.dumps(records), ())["tz_at"]
    assert ours.dtype == pl.Datetime("us", "UTC")
    assert [pd.Timestamp(v) for v in ours.to_list()] == theirs.tolist(), "the same instants"


@pytest.mark.parametrize(
    "values, dtype, why",
    [
        ([True, None], pl.Boolean, "pandas 3 reads true/null as 1.0/NaN"),
        ([None, None], pl.Null, "read_json's float64 would refuse text in a later upload"),
        ([2**60 + 1, None], pl.Int64, "read_json rounds integers beyond 2**53 to floats"),
        (["Jan 5 2024", "Feb 1 2024"], pl.String, "only ISO dates are read as dates"),
        (["9" * 25, "1"], pl.String, "integers beyond 64 bits stay exact, as text"),
    ],
)
def test_where_read_json_changes_data_pandasdb_keeps_it(values, dtype, why):
    name = "date" if values[0] == "Jan 5 2024" else "v"
    assert typed(name, values).dtype == dtype, why
    assert typed(name, values).to_list() == values


@pytest.mark.parametrize(
    "values, words",
    [
        ([True, 2], "mixes booleans and integers"),
        ([1, "a"], "mixes strings and integers"),
        (["a", False], "mixes booleans and strings"),
        ([[1], 2], "nested list"),
        ([-1, 2**63], "beyond the int64 and uint64"),
        ([1.5, 2**60], r"beyond 2\*\*53"),
    ],
)
def test_values_read_json_would_keep_as_python_objects_are_refused(values, words):
    with pytest.raises(InvalidArgument, match=words):
        typed("v", values)


def test_a_date_keyed_column_takes_epochs_iso_dates_and_datetimes_mixed():
    document = {
        "ts": {
            "0": 1704067200000,
            "1": "2024-01-02",
            "2": "2024-01-03T23:30:00-02:00",
            "3": "1704326400000",
            "4": 1704412800000.0,
        }
    }
    days = frame_from_pandas_json(json.dumps(document), ["ts"])["ts"].dt.date()
    assert [d.isoformat() for d in days] == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-04",
        "2024-01-04",
        "2024-01-05",
    ]


@pytest.mark.parametrize(
    "value, words",
    [
        ("soon", "'soon', which is not an ISO date"),
        (20240101, "20240101, which is no epoch time"),
        (True, "holds booleans"),
        ("2024-02-30", "'2024-02-30', which is not an ISO date"),
    ],
)
def test_a_date_keyed_column_refuses_what_is_no_date(value, words):
    document = [{"ts": 1704067200000}, {"ts": value}]
    with pytest.raises(InvalidPartition, match=words):
        frame_from_pandas_json(json.dumps(document), ["ts"])


def test_the_columns_form_aligns_rows_by_label_and_keeps_other_labels_as_the_index():
    aligned = frame_from_pandas_json('{"a": {"1": 10, "0": 20}, "b": {"0": 5, "1": 6}}', ())
    assert isinstance(aligned, PreparedFrame), "labels out of order are an index"
    assert aligned.frame.to_dicts() == [
        {"__index_level_0__": 1, "a": 10, "b": 6},
        {"__index_level_0__": 0, "a": 20, "b": 5},
    ]
    default = frame_from_pandas_json('{"a": {"0": 1, "1": 2}, "b": {"1": 4, "0": 3}}', ())
    assert isinstance(default, pl.DataFrame), "labels 0..n-1 in order are no index"
    assert default.to_dicts() == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_day = pd.DataFrame({"v": [1, 2]}, index=pd.to_datetime(["2024-01-01", "2024-01-02"]))
        text = by_day.to_json()
    indexed = frame_from_pandas_json(text, ())
    assert indexed.schema["index"] == [None]
    assert indexed.frame["__index_level_0__"].dt.date().to_list() == list(by_day.index.date)


@pytest.mark.parametrize(
    "text, words",
    [
        ("[]", "no rows"),
        ("[1, 2]", "one object per row"),
        ('{"columns": ["a"], "data": [[1]]}', "'split' and 'table' orients"),
        ('{"a": 1}', "an object of {row label: value}"),
        ('{"a": [1, 2], "b": [1]}', "different lengths"),
        ('[{"a": 1}', "not valid JSON"),
        ("[" * 5_000, "nested too deeply"),
    ],
)
def test_documents_that_are_no_frame_are_refused_clearly(text, words):
    with pytest.raises(InvalidArgument, match=words):
        frame_from_pandas_json(text, ())
