"""Request bodies in (JSON records, CSV, parquet) as frames, with clear 400s.

Whatever the bytes, the only error that comes out is a pandasdb error (HTTP 4xx): the
decoding itself lives in :mod:`pandasdb_core.ingest`, shared with the CLI, which also keeps
a polars panic from escaping a request.

CSV columns are typed from all their rows (see :mod:`pandasdb_core.ingest`). JSON values
keep their JSON types, and each column holds one kind of value (and nulls):

- integers and floats together become float64, as in pandas, unless an integer is beyond
  2**53, which a float64 cannot hold exactly: that is refused;
- booleans with numbers (``[true, 2]``), or strings with numbers or booleans, are refused
  with a 400 naming the column: pandas would keep them as Python objects, which neither
  chunk format stores, and reading ``true`` back as ``1`` would change the data;
- nested lists and objects are refused (no column type holds them);
- ISO 8601 date and datetime strings become dates and datetimes, as in CSV.

Example
-------
>>> frame_from_text("a,b\\n1,x\\n").shape
(1, 2)
>>> frame_from_records([{"a": True}, {"a": 2}])
Traceback (most recent call last):
...
pandasdb_core.errors.InvalidArgument: dataframe: column 'a' mixes booleans and integers ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from pandasdb_core.conversion import PreparedFrame, prepare_from_wire
from pandasdb_core.errors import InvalidArgument
from pandasdb_core.ingest import PanicException, first_line, parse_temporal, read_csv, read_parquet
from pandasdb_core.wire import parquet_schema

PARQUET_MAGIC = b"PAR1"
#: the largest integer a float64 holds exactly, with all smaller ones
_FLOAT_EXACT = 2**53
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
_KINDS = {bool: "booleans", int: "integers", float: "floats", str: "strings"}


def frame_from_text(text: str) -> pl.DataFrame:
    """Parse CSV text (header row first) into a frame typed by all its rows.

    Example
    -------
    >>> frame_from_text("a\\n" + "1\\n" * 150 + "x\\n")["a"].dtype
    String
    """
    return read_csv(text)


def frame_from_records(records: Any) -> pl.DataFrame:
    """JSON records (a list of objects) or columns (an object of lists) into a frame.

    Example
    -------
    >>> frame_from_records({"n": [1, 2.5], "day": ["2024-01-01", None]}).schema
    Schema([('n', Float64), ('day', Date)])
    """
    if isinstance(records, list):
        if not records:
            raise InvalidArgument("dataframe has no rows; nothing to upload")
        if not all(isinstance(r, dict) for r in records):
            raise InvalidArgument("dataframe: JSON records must all be objects")
        names = list(dict.fromkeys(name for record in records for name in record))
        columns = {name: [record.get(name) for record in records] for name in names}
    elif isinstance(records, dict):
        if not all(isinstance(v, list) for v in records.values()):
            raise InvalidArgument("dataframe: a JSON object must map columns to lists")
        lengths = {len(v) for v in records.values()}
        if len(lengths) > 1:
            raise InvalidArgument(
                f"dataframe: the JSON columns have different lengths {sorted(lengths)[:10]}"
            )
        columns = records
    else:
        raise InvalidArgument(
            "dataframe must be CSV text, a list of records or an object of columns"
        )
    series = [_json_column(name, values) for name, values in columns.items()]
    return pl.DataFrame(series).with_columns(
        parse_temporal(s) for s in series if s.dtype == pl.String
    )


def value_kinds(name: str, values: Sequence[Any]) -> dict[str, int]:
    """The kinds of JSON value column ``name`` holds (``integers``, ``floats``, ``booleans``,
    ``strings``), each with the first row holding one; a nested list or object is a 400.

    Example
    -------
    >>> value_kinds("a", [None, 1, 2.5, 3])
    {'integers': 1, 'floats': 2}
    """
    kinds: dict[str, int] = {}
    for row, value in enumerate(values):
        if value is not None:
            kind = _KINDS.get(type(value))
            if kind is None:
                raise InvalidArgument(
                    f"dataframe: column {name!r} holds a nested "
                    f"{'list' if isinstance(value, list) else 'object'} at row {row}; "
                    "only strings, numbers, booleans and null can be stored"
                )
            kinds.setdefault(kind, row)
    return kinds


def mixed_kinds(
    name: str, values: Sequence[Any], kinds: dict[str, int], odd: str
) -> InvalidArgument:
    """The 400 for a column that mixes ``odd`` values with another kind, naming the row."""
    other = min((k for k in kinds if k != odd), key=kinds.__getitem__)
    row = max(kinds[odd], kinds[other])
    return InvalidArgument(
        f"dataframe: column {name!r} mixes {odd} and {other} (row {row} holds "
        f"{_short(values[row])}); send one kind of value per column, or strings"
    )


def _json_column(name: str, values: list[Any]) -> pl.Series:
    """One JSON column as a typed series, or a 400 saying why it cannot be one."""
    kinds = value_kinds(name, values)
    if len(kinds) > 1 and set(kinds) != {"integers", "floats"}:
        raise mixed_kinds(name, values, kinds, "booleans" if "booleans" in kinds else "strings")
    dtype: pl.DataType | None = None
    if "integers" in kinds:
        ints = [v for v in values if type(v) is int]
        low, high = min(ints), max(ints)
        if "floats" in kinds:
            if max(-low, high) > _FLOAT_EXACT:
                raise InvalidArgument(
                    f"dataframe: column {name!r} mixes floats with integers beyond 2**53, "
                    "which a float64 cannot hold exactly; send them as strings"
                )
            dtype = pl.Float64()
        elif _INT64[0] <= low and high <= _INT64[1]:
            dtype = pl.Int64()
        elif low >= 0 and high <= _UINT64_MAX:
            dtype = pl.UInt64()
        else:
            raise InvalidArgument(
                f"dataframe: column {name!r} holds integers beyond the int64 and uint64 "
                "ranges; send them as strings"
            )
    return pl.Series(name, values, dtype=dtype, strict=False)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def frame_from_bytes(data: bytes) -> pl.DataFrame | PreparedFrame:
    """A raw body: parquet (by its magic bytes, keeping a schema it carries) or CSV.

    Example
    -------
    >>> frame_from_bytes(b"a\\n1\\n").shape
    (1, 1)
    """
    if data[:4] != PARQUET_MAGIC:
        return read_csv(data)
    frame = read_parquet(data)
    try:
        sent = parquet_schema(data)
    except (Exception, PanicException) as exc:  # a foreign or broken pandasdb.schema entry
        raise InvalidArgument(
            f"dataframe: the parquet's schema could not be read: {first_line(exc)}"
        ) from None
    return prepare_from_wire(frame, sent) if sent is not None else frame
