"""The original backend's clients send ``df.to_json()`` in a string, and that backend read it
with ``pandas.read_json``: pandasdb types such a column as read_json does (checked here
against the installed pandas, value by value), except where read_json would change the data
or lose a later upload (the module docstring of ``lambdas/pandasdb_lambdas/pandas_json.py``
lists each case)."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from pandasdb_lambdas.pandas_json import frame_from_pandas_json, is_pandas_json, typed
from pandasdb_lambdas.payloads import fit_column, loads_json

import pandasdb_core as pdb
from pandasdb_core.errors import InvalidArgument, InvalidPartition, SchemaMismatch

#: column name -> JSON values; read_json and pandasdb must agree on type and values
SAME_AS_READ_JSON = {
    "ints": [1, 2],
    "ints_with_null": [1, None],
    "halves": [1.5, 2.0],
    "whole_floats_with_null": [1.0, None],
    "ints_and_floats": [1, 2.5],
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
        (2**63, "no epoch time in milliseconds"),
        ("20240101", "'20240101', which is not an ISO date"),
        (float("nan"), "nan, which is no epoch time"),
        (True, "holds booleans"),
        ("2024-02-30", "'2024-02-30', which is not an ISO date"),
    ],
)
def test_a_date_keyed_column_refuses_what_is_no_date(value, words):
    document = [{"ts": 1704067200000}, {"ts": value}]
    with pytest.raises(InvalidPartition, match=words):
        frame_from_pandas_json(json.dumps(document), ["ts"])


def test_the_columns_form_aligns_rows_by_label_and_drops_the_labels():
    aligned = frame_from_pandas_json('{"a": {"1": 10, "0": 20}, "b": {"0": 5, "1": 6}}', ())
    assert isinstance(aligned, pl.DataFrame), "row labels are the pandas index: no data"
    assert aligned.to_dicts() == [{"a": 10, "b": 6}, {"a": 20, "b": 5}], "the document's order"
    default = frame_from_pandas_json('{"a": {"0": 1, "1": 2}, "b": {"1": 4, "0": 3}}', ())
    assert default.to_dicts() == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_day = pd.DataFrame({"v": [1, 2]}, index=pd.to_datetime(["2024-01-01", "2024-01-02"]))
        text = by_day.to_json()
    assert frame_from_pandas_json(text, ()).to_dicts() == [{"v": 1}, {"v": 2}]


def test_a_filtered_frame_in_the_columns_form_stores_the_rows_records_store():
    """``df[df.v > 2].to_json()`` labels its rows "2", "3": the same rows as the records form
    (and as the unfiltered frame's), with no index column for this batch alone."""
    df = pd.DataFrame({"v": [1, 2, 3, 4], "s": list("abcd")})
    for part in (
        df[df.v > 2],
        df.sort_values("v", ascending=False),
        df.sample(frac=1, random_state=1),
    ):
        columns = frame_from_pandas_json(part.to_json(), ())
        records = frame_from_pandas_json(part.to_json(orient="records"), ())
        assert columns.equals(records) and columns.columns == ["v", "s"]
        assert columns["v"].to_list() == part["v"].tolist()


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


# ------------------------------------------------------------------------------ audit findings


def test_floats_with_a_point_stay_floats_where_read_json_makes_them_int():
    """pandas writes a float64 column's 10.0 with its point; read_json makes the column
    int64, which would make the next batch of the same column (1.5) a change of type."""
    for values in ([1.0, 2.0], [1e3, 2.0], [1, 2.0]):
        assert typed("p", values).dtype == pl.Float64, values
    text = pd.DataFrame({"p": [10.0, 20.0]}).to_json(orient="records")
    assert '"p":10.0' in text, "the point arrives"
    assert frame_from_pandas_json(text, ())["p"].dtype == pl.Float64


@pytest.mark.parametrize(
    "text",
    ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T19:00:00-23:59"],
)
def test_offsets_that_leave_the_years_1_to_9999_are_no_overflow(text):
    """Taking the offset off may leave the years a Python datetime holds; the instant is
    exact (as from the records and CSV paths), and only a Date layout refuses it, whose days
    name folders."""
    created = frame_from_pandas_json(json.dumps([{"created_at": text}]), ())["created_at"]
    local = dt.datetime.fromisoformat(text)
    naive = local.replace(tzinfo=None) - dt.datetime(1970, 1, 1)
    micros = (naive - local.utcoffset()) // dt.timedelta(microseconds=1)
    assert created.dtype == pl.Datetime("us", "UTC")
    assert created.dt.epoch("us").to_list() == [micros]
    frame = frame_from_pandas_json(json.dumps([{"date": text}]), ["date"])
    with pytest.raises(InvalidPartition, match="outside the years 1 to 9999"):
        pdb.open("memory://").upload(frame, "r/y", columns_keys={"date": "Date"})


def test_integers_of_thousands_of_digits_are_text_or_a_clear_refusal():
    digits = "9" * 5000
    assert typed("a", [digits]).to_list() == [digits], "beyond 64 bits: the exact text"
    assert typed("created_at", [digits, "1"]).dtype == pl.String
    assert typed("a", ["0" * 5000 + "7"]).to_list() == [7]
    with pytest.raises(InvalidPartition, match=r"\(5,000 characters\)") as refused:
        frame_from_pandas_json(json.dumps([{"date": digits}]), ["date"])
    assert len(str(refused.value)) < 400, "the value is quoted short"
    with pytest.raises(InvalidArgument, match="more than 4,300 digits") as bare:
        frame_from_pandas_json('[{"a": ' + digits + "}]", ())
    assert "sys.set_int_max_str_digits" not in str(bare.value)
    assert "send longer ones as strings" in str(bare.value)


@pytest.mark.parametrize(
    "text, where",
    [
        ('[{"a": "\\ud800"}]', "the text at /0/a"),
        ('[{"\\udc80": 1}]', "the object key at /0/\\udc80"),
        ('{"a": {"0": "x\\udfff"}}', "the text at /a/0"),
        ('[{"a": "\ud800"}]', "the text at /"),
    ],
)
def test_a_lone_surrogate_anywhere_in_the_text_is_a_clear_400(text, where):
    with pytest.raises(InvalidArgument, match="lone UTF-16 surrogate") as refused:
        frame_from_pandas_json(text, ())
    assert where in str(refused.value)
    assert str(refused.value).encode("utf-8"), "the message itself is valid text"


def test_a_valid_surrogate_pair_is_one_character():
    assert frame_from_pandas_json('[{"a": "\\ud83d\\ude00"}]', ())["a"].to_list() == ["😀"]
    assert loads_json(b'{"k": "\\ud83d\\ude00"}', "body") == {"k": "😀"}


@pytest.mark.parametrize("unit", ["us", "ns"])
def test_iso_datetimes_with_more_than_six_decimals_are_nanoseconds(unit):
    """to_json(date_format="iso", date_unit="ns") writes nine decimals; read_json gives
    datetime64[ns]: so does a date-named column, and a Date column takes them."""
    df = pd.DataFrame(
        {
            "date": pd.to_datetime(
                ["2024-01-01 10:00", "2024-01-02 23:59:59.123456789"], utc=True, format="ISO8601"
            ),
            "created_at": pd.to_datetime(
                ["2024-01-01 10:00:00.000000001", "2024-01-03"], format="ISO8601"
            ),
        }
    )
    text = df.to_json(orient="records", date_format="iso", date_unit=unit)
    theirs = read_json(json.loads(text))
    frame = frame_from_pandas_json(text, ["date"])
    for column in ("date", "created_at"):
        ours = frame[column].dt.epoch("ns").to_list()
        assert ours == [t.value for t in theirs[column]], column
        assert frame[column].dtype.time_unit == ("ns" if unit == "ns" else "us")
    assert str(theirs["created_at"].dtype).startswith(
        "datetime64[ns" if unit == "ns" else "datetime64"
    )
    for bad in ("2024-01-01T10:00:00.1234567890Z", "2024-01-01T10:00:00.Z"):
        with pytest.raises(InvalidPartition, match="not an ISO date"):
            frame_from_pandas_json(json.dumps([{"date": bad}]), ["date"])


@pytest.mark.parametrize(
    "moment",
    [
        "1970-01-01",
        "1970-02-01",
        "1970-04-16 23:59:59.999",
        "1969-12-31 23:59:59",
        "1900-01-01",
        "2024-06-30 12:00",
        "0001-01-01",
        "9999-12-31 23:59:59.999",
    ],
)
def test_a_date_columns_epoch_numbers_are_milliseconds(moment):
    """pandas' to_json writes datetimes as epoch milliseconds (``date_unit="ms"``, the
    default the original backend's SDK always used): 0, negative numbers and days before
    1970-04-17 (where guessing the unit from the largest value said seconds) included."""
    stamp = pd.Timestamp(moment)
    ms = (stamp - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)
    rows = [{"date": ms}] + ([{"date": str(ms)}] if abs(ms) > 31_536_000 else [])
    got = frame_from_pandas_json(json.dumps(rows), ["date"])["date"]
    assert got.to_list() == [stamp.to_pydatetime()] * len(rows), "digits in text alike"


def test_a_date_column_reads_micro_and_nanoseconds_only_where_milliseconds_cannot_be():
    when = pd.Timestamp("2024-01-02 03:04:05.123456")
    for unit in ("us", "ns"):
        df = pd.DataFrame({"date": [when, when + pd.Timedelta(days=1)]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = df.to_json(orient="records", date_unit=unit)
        got = frame_from_pandas_json(text, ["date"])["date"].to_list()
        assert got == [t.to_pydatetime() for t in df["date"]], unit
    beside = frame_from_pandas_json('[{"date": 0}, {"date": 1704067200000}]', ["date"])
    assert [d.year for d in beside["date"].to_list()] == [1970, 2024], "one unit per column"


@pytest.mark.parametrize(
    "text, json_like",
    [
        ('[{"a": 1}]', True),
        ('  {"a": {"0": 1}}', True),
        ('[\n  {\n    "a": 1\n  }\n]', True),
        ("[]", True),
        ("[1, 2]", True),
        ("[a],b\n1,2\n", False),
        ("{id},v\n1,2\n", False),
        ("[x]\n1\n", False),
        ("a,b\n1,2\n", False),
    ],
)
def test_a_csv_header_may_start_with_a_bracket(text, json_like):
    assert is_pandas_json(text) is json_like


# ------------------------------------------------------------------------------ recorded types


def batches(*frames: pd.DataFrame, date_columns=()) -> pl.DataFrame:
    """Upload each frame's to_json() as the original backend's clients do, each batch typed
    toward what the frame recorded; the frame read back (polars)."""
    db = pdb.open("memory://")
    for df in frames:
        head = db.meta.head("f")
        recorded = pdb.schema.polars_schema(head.schema) if head else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = df.to_json(orient="records")
        frame = frame_from_pandas_json(text, date_columns, recorded)
        keys = {c: "Date" for c in date_columns}
        db.upload(frame, "f", columns_keys=keys or None)
    return db.get("f", engine="polars")


@pytest.mark.parametrize(
    "first, then",
    [
        ([1.5, 2.5], [10.0, 20.0]),
        ([10.0, 20.0], [1.5, 2.5]),
        ([1, 2], [1.0, np.nan]),
        ([1.0, np.nan], [1, 2]),
        (["a01", "b02"], ["007", "010"]),
        ([True, False], [None, True]),
        ([1, 2], [None, None]),
    ],
)
def test_batches_of_one_pandas_column_append(first, then):
    frame = batches(pd.DataFrame({"p": first}), pd.DataFrame({"p": then}))
    expected = pd.concat([pd.DataFrame({"p": first}), pd.DataFrame({"p": then})])["p"]
    got = frame["p"].to_list()
    assert [None if pd.isna(v) else v for v in expected] == got
    assert then != ["007", "010"] or frame["p"].dtype == pl.String, "text as sent"


def test_a_date_column_appends_in_every_form_and_unit():
    day = pd.Timestamp("2024-01-01 10:00")
    frames = [
        pd.DataFrame({"date": [day], "v": [1]}),
        pd.DataFrame({"date": ["2024-01-02"], "v": [2]}),
    ]
    db = pdb.open("memory://")
    with warnings.catch_warnings():  # pandas 3 warns that epoch dates will change
        warnings.simplefilter("ignore")
        texts = [frames[0].to_json(orient="records"), frames[1].to_json(orient="records")]
    texts.append(frames[0].to_json(orient="records", date_format="iso", date_unit="ns"))
    for text in texts:
        head = db.meta.head("d")
        recorded = pdb.schema.polars_schema(head.schema) if head else None
        frame = frame_from_pandas_json(text, ["date"], recorded)
        db.upload(frame, "d", columns_keys={"date": "Date"})
    got = db.get("d")
    assert got["date"].tolist() == [day, day, pd.Timestamp("2024-01-02")]


@pytest.mark.parametrize(
    "values, recorded, words",
    [
        ([1.5], pl.Int64(), "row 0 holds 1.5, which is not a whole number"),
        ([2**53 + 1], pl.Float64(), r"beyond 2\*\*53"),
        ([300], pl.Int8(), "outside Int8's range"),
        ([-1], pl.UInt64(), "outside UInt64's range"),
        ([True], pl.Int64(), "is a boolean"),
        ([7], pl.String(), "is an integer"),
        (["x"], pl.Float64(), "is text"),
        (["soon"], pl.Datetime("us"), "not an ISO date"),
        (["2024-01-01T10:00:00"], pl.Date(), "has a time of day"),
        (["2024-01-01T10:00:00.123456789"], pl.Datetime("us"), "finer units than us"),
    ],
)
def test_a_value_the_recorded_type_cannot_hold_is_refused_naming_it(values, recorded, words):
    series = typed("p", values, date_like=False)
    with pytest.raises(SchemaMismatch, match=words) as refused:
        fit_column(series, recorded, epoch="ms")
    assert "column 'p' was recorded as" in str(refused.value)


@pytest.mark.parametrize(
    "values, recorded, expected",
    [
        ([2**53], pl.Float64(), [float(2**53)]),
        ([3.0, None], pl.Int8(), [3, None]),
        ([None], pl.Boolean(), [None]),
        ([1704067200000], pl.Datetime("ns"), [pd.Timestamp("2024-01-01").to_pydatetime()]),
        (["2024-01-01T01:00:00+01:00"], pl.Datetime("us"), [dt.datetime(2024, 1, 1)]),
        (["2024-01-01"], pl.Datetime("us", "UTC"), [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)]),
        (["2024-01-01T00:00:00"], pl.Date(), [dt.date(2024, 1, 1)]),
    ],
)
def test_values_that_convert_exactly_take_the_recorded_type(values, recorded, expected):
    fitted = fit_column(typed("p", values, date_like=False), recorded, epoch="ms")
    assert fitted.dtype == recorded and fitted.to_list() == expected
