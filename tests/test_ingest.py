"""Users' bytes into frames (CSV text, JSON records, parquet bodies): types from every row,
exact values, and whatever the bytes only a pandasdb error, never a crash or a panic."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandasdb_lambdas.payloads import frame_from_bytes, frame_from_records, frame_from_text

import pandasdb_core as pdb
from pandasdb_core.ingest import read_csv


def parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------ CSV


def test_csv_types_come_from_every_row_not_the_first_hundred():
    frame = frame_from_text("a,b\n" + "1,1\n" * 150 + "x,1.5\n")
    assert frame.schema == {"a": pl.String, "b": pl.Float64}
    assert frame["a"][150] == "x" and frame["a"][0] == "1"
    assert frame["b"].to_list()[-2:] == [1.0, 1.5]


def test_csv_integers_beyond_64_bits_stay_exact_text():
    frame = read_csv("big,u\n" + "9" * 5000 + f",1\n1,{2**64 - 1}\n")
    assert frame["big"].to_list() == ["9" * 5000, "1"]
    assert frame["u"].dtype.is_integer() and frame["u"][1] == 2**64 - 1


def test_csv_datetimes_keep_nanoseconds_and_offsets():
    frame = read_csv(
        "ns,off,mixed,old,local\n"
        "2024-01-01T00:00:00.123456789,2024-01-01T00:00:00+05:30,2024-01-01T00:00:00+01:00,"
        "0001-01-01T00:00:00.123456789,1/2/2024\n"
        ",2024-06-01T00:00:00Z,2024-01-01T00:00:00,,\n"
    )
    assert str(frame["ns"].dtype) == "Datetime(time_unit='ns', time_zone=None)"
    assert frame["ns"].cast(int)[0] % 1_000_000_000 == 123456789
    assert frame["off"][0] == dt.datetime(2023, 12, 31, 18, 30, tzinfo=dt.UTC)
    # mixed offsets and local times, nanoseconds outside datetime64[ns], non-ISO: text
    assert frame["mixed"].dtype == pl.String
    assert frame["old"][0] == "0001-01-01T00:00:00.123456789"
    assert frame["local"][0] == "1/2/2024"


def test_csv_line_endings_quotes_and_header_names():
    cr_only = read_csv('a,b\r1,"x\ry"\r2,z\r')
    assert cr_only.rows() == [(1, "x\ry"), (2, "z")]
    assert read_csv("a,b\r\n1,2\r\n").rows() == [(1, 2)]
    quoted = read_csv('"say ""hi""","x\ny",c\n1,2,3\n')
    assert quoted.columns == ['say "hi"', "x\ny", "c"]
    stray = read_csv('a"b,c\n1,2\n3,4\n')  # polars alone would swallow every row
    assert stray.columns == ['a"b', "c"] and stray.height == 2
    assert read_csv("\ufeffa\n1\n").columns == ["a"]
    assert read_csv("a,b\nTRUE,\nfalse,\n").schema == {"a": pl.Boolean, "b": pl.String}


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "CSV is empty"),
        ("a,a\n1,2\n", "duplicated"),
        ("a,b\n1,2,3\n", "could not be parsed"),
        ("\na\n1\n", "header, is empty"),
    ],
)
def test_bad_csv_is_a_clear_invalid_argument(text, words):
    with pytest.raises(pdb.InvalidArgument, match=words):
        frame_from_text(text)


# ------------------------------------------------------------------------------ JSON


@pytest.mark.parametrize(
    "records, words",
    [
        ([{"a": True}, {"a": 2}], "column 'a' mixes booleans and integers"),
        ({"a": [1.5, False]}, "column 'a' mixes booleans and floats"),
        ([{"a": "x"}, {"a": 2}], "column 'a' mixes strings and integers"),
        ([{"a": 2**53 + 1}, {"a": 0.5}], "beyond 2\\*\\*53"),
        ([{"a": int("9" * 4000)}], "beyond the int64"),
        ([{"a": -1}, {"a": 2**64 - 1}], "beyond the int64"),
        ([{"a": [1, [2]]}], "nested list"),
        ([{"a": {"b": 1}}], "nested object"),
        ({"a": [1], "b": [1, 2]}, "different lengths"),
    ],
)
def test_json_columns_of_mixed_kinds_are_refused_naming_the_column(records, words):
    with pytest.raises(pdb.InvalidArgument, match=words):
        frame_from_records(records)


def test_json_values_keep_their_types():
    frame = frame_from_records(
        [
            {"i": 2**63 - 1, "u": 2**64 - 1, "n": 1, "b": True, "d": "2024-01-01"},
            {"i": None, "u": 0, "n": 2.5, "b": None, "d": None, "t": "2024-01-01T10:00:00Z"},
        ]
    )
    assert frame.row(0, named=True)["i"] == 2**63 - 1
    assert str(frame.schema["u"]) == "UInt64" and frame["u"][0] == 2**64 - 1
    assert frame["n"].to_list() == [1.0, 2.5]
    assert frame["b"].to_list() == [True, None]
    assert frame["d"][0] == dt.date(2024, 1, 1)
    assert frame["t"][1] == dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)


# ------------------------------------------------------------------------------ parquet


@pytest.mark.parametrize(
    "column, words",
    [
        (pa.array([0], pa.timestamp("us", "+05:30")), "time zone: '\\+05:30'"),
        (pa.array([0], pa.timestamp("us", "Mars/Olympus_Mons")), "time zone"),
        (pa.array([Decimal("1.5")], pa.decimal256(76, 1)), "precision"),
    ],
)
def test_parquet_bodies_polars_panics_on_are_invalid_arguments(column, words):
    """polars panics (pyo3's PanicException, a BaseException) on these; it must not escape."""
    with pytest.raises(pdb.InvalidArgument, match=words):
        frame_from_bytes(parquet(pa.table({"a": column})))


def test_parquet_128_bit_decimals_are_stored_exactly(tmp_path):
    values = [Decimal("9" * 37 + ".9"), Decimal("-0.5"), None]
    body = parquet(pa.table({"a": pa.array(values, pa.decimal128(38, 1))}))
    frame = frame_from_bytes(body)
    for fmt in ("csv.gz", "parquet"):
        db = pdb.open(tmp_path / fmt, format=fmt)
        db.upload(frame, "dec")
        assert db.get("dec", engine="polars")["a"].to_list() == values
        assert db.get("dec")["a"].tolist() == values


def test_parquet_with_a_broken_schema_entry_is_refused():
    table = pa.table({"a": [1]}).replace_schema_metadata({"pandasdb.schema": "{not json"})
    with pytest.raises(pdb.InvalidArgument, match="schema"):
        frame_from_bytes(parquet(table))


# ------------------------------------------------------------------------------ fuzz

FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
CSV_ALPHABET = st.sampled_from(list('ab1.-9:T +Z",\n\r\t\x00\ufeffé'))
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["2024-01-01", "2024-01-01T00:00:00+05:30", "0001-01-01T00:00:00+05:00"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


def stored_or_refused(parse, data) -> None:
    """``parse(data)`` gives a frame or a pandasdb error; an accepted frame reads back."""
    try:
        frame = parse(data)
        db = pdb.open("memory://")
        db.upload(frame, "fuzz")
    except pdb.PandasDBError:
        return
    db.get("fuzz")
    db.get("fuzz", engine="polars")


@given(text=st.text(alphabet=CSV_ALPHABET, max_size=80))
@FUZZ
def test_any_csv_text_is_a_frame_or_a_pandasdb_error(text):
    stored_or_refused(frame_from_text, text)


@given(data=st.binary(max_size=80) | st.binary(max_size=80).map(lambda b: b"PAR1" + b))
@FUZZ
def test_any_bytes_are_a_frame_or_a_pandasdb_error(data):
    stored_or_refused(frame_from_bytes, data)


@given(
    records=st.lists(
        st.dictionaries(st.sampled_from(["a", "b", 'c"']), json_values, max_size=3), max_size=4
    )
    | st.dictionaries(st.sampled_from(["a", "b"]), st.lists(json_values, max_size=3), max_size=2)
    | json_values
)
@FUZZ
def test_any_json_is_a_frame_or_a_pandasdb_error(records):
    # as the API gets them: through json.dumps/loads (no NaN objects of Python's own)
    stored_or_refused(frame_from_records, json.loads(json.dumps(records)))


def test_corrupted_parquet_bodies_are_pandasdb_errors():
    body = parquet(pa.table({"a": [1, 2, 3], "t": pa.array([0, 1, 2], pa.timestamp("ns", "UTC"))}))
    for cut in range(4, len(body), max(1, len(body) // 60)):
        stored_or_refused(frame_from_bytes, body[:cut] + body[-8:])
        flipped = bytearray(body)
        flipped[cut] ^= 0xFF
        stored_or_refused(frame_from_bytes, bytes(flipped))


# ------------------------------------------------------------------------------ date layout, CLI


def test_year_1_with_a_positive_offset_in_a_date_layout_is_refused_clearly():
    frame = frame_from_text("a,v\n0001-01-01T00:00:00+05:00,1\n")  # 0000-12-31 19:00 UTC
    db = pdb.open("memory://")
    with pytest.raises(pdb.InvalidPartition, match="'a'"):
        db.upload(frame, "old", columns_keys={"a": "Date"})


def _cli(store, *args):
    import subprocess
    import sys

    command = [sys.executable, "-m", "pandasdb_core.cli", "--store", str(store), "--no-progress"]
    return subprocess.run([*command, *args], capture_output=True, timeout=120)


def test_cli_upload_types_csv_by_every_row_and_keeps_nanoseconds(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("a,t\n" + "1,2024-01-01T00:00:00.123456789\n" * 150 + "x,\n")
    proc = _cli(tmp_path / "store", "upload", str(src), "f")
    assert proc.returncode == 0, proc.stderr.decode()
    back = pdb.open(tmp_path / "store").get("f", engine="polars")
    assert back["a"][-1] == "x"
    assert back["t"].cast(int)[0] % 1_000_000_000 == 123456789


pandas_names = st.sampled_from(
    [
        "category",
        "Int64",
        "int8",
        "str",
        "object",
        "datetime64[ns, Mars/Base]",
        "period[M]",
        "float16",
        "boolean",
        "datetime64[ns, UTC+05:30]",
        "timedelta64[s]",
        "nonsense",
        "",
    ]
)
hostile_columns = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b"])},
    optional={
        "pandas": st.none() | pandas_names,
        "categories": st.none()
        | st.lists(json_scalars.filter(lambda v: v is not None), max_size=4),
        "categories_dtype": st.none() | pandas_names | st.just("date"),
        "ordered": st.booleans(),
    },
)


@given(
    columns=st.lists(hostile_columns, max_size=3),
    a=st.lists(st.none() | st.integers(-5, 5), min_size=2, max_size=2),
)
@FUZZ
def test_any_schema_a_client_sends_reads_back_without_error(columns, a):
    """A parquet body's pandasdb.schema is the sender's word: whatever it says, the frame is
    refused with a pandasdb error or stored, and then reads back into pandas."""
    table = pa.table({"a": pa.array(a, pa.int64()), "b": ["x", None]})
    sent = json.dumps({"columns": columns, "index": []})
    stored_or_refused(
        frame_from_bytes, parquet(table.replace_schema_metadata({"pandasdb.schema": sent}))
    )
