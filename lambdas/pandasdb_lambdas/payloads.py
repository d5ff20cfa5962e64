"""Request bodies in (JSON records, CSV, parquet) as frames, with clear 400s.

Whatever the bytes, the only error that comes out is a pandasdb error (HTTP 4xx): the
decoding itself lives in :mod:`pandasdb_core.ingest`, shared with the CLI, which also keeps
a polars panic from escaping a request; JSON text is parsed by :func:`loads_json`, which
turns every way it can fail (bad UTF-8, nesting, integers of thousands of digits, lone
UTF-16 surrogates) into a sentence about the data.

CSV columns are typed from all their rows (see :mod:`pandasdb_core.ingest`). JSON values
keep their JSON types, and each column holds one kind of value (and nulls):

- integers and floats together become float64, as in pandas, unless an integer is beyond
  2**53, which a float64 cannot hold exactly: that is refused;
- booleans with numbers (``[true, 2]``), or strings with numbers or booleans, are refused
  with a 400 naming the column: pandas would keep them as Python objects, which neither
  chunk format stores, and reading ``true`` back as ``1`` would change the data;
- nested lists and objects are refused (no column type holds them);
- ISO 8601 date and datetime strings become dates and datetimes, as in CSV.

A batch added to a frame that exists is typed toward the types the frame recorded: each
batch alone may look like another type (``10.0`` and ``20.0`` beside a float column, an
integer column with a null, ``"007"`` in a text column), and a value is refused only when the
recorded type cannot hold it exactly. CSV text is read as the recorded types directly
(:func:`pandasdb_core.ingest.read_csv`, so ``007`` is never a number first); JSON values,
typed by their JSON kinds, are converted (:func:`fit_column`).

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

import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from pandasdb_core.conversion import PreparedFrame, prepare_from_wire
from pandasdb_core.errors import InvalidArgument, PayloadTooLarge, SchemaMismatch
from pandasdb_core.ingest import (
    PanicException,
    first_line,
    parse_temporal,
    read_csv,
    read_parquet,
)
from pandasdb_core.wire import MAX_STAGED_BYTES, parquet_schema

PARQUET_MAGIC = b"PAR1"
#: the most memory a parquet body's rows may take decoded: parquet compresses a column of
#: repeated values (run-length, dictionary, zstd) some 2,000 to one, so a body of 1 MB can
#: hold 200 million rows (1.6 GB); eight times the largest staged body, what a 2 GB
#: function holds beside its work (the SDK's pieces take at most 48 MB)
MAX_DECODED_BYTES = 8 * MAX_STAGED_BYTES
#: bytes per value decoded, by parquet physical type (a string: its view, its bytes apart)
_VALUE_BYTES = {
    "BOOLEAN": 1,
    "INT32": 4,
    "INT64": 8,
    "INT96": 12,
    "FLOAT": 4,
    "DOUBLE": 8,
    "BYTE_ARRAY": 16,
}
#: the largest integer a float64 holds exactly, with all smaller ones
_FLOAT_EXACT = 2**53
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
_KINDS = {bool: "booleans", int: "integers", float: "floats", str: "strings"}
#: column name -> the type the frame recorded for it (what a new batch is typed toward)
Recorded = Mapping[str, pl.DataType]
#: a ``\\uD800``-``\\uDFFF`` escape: the only way JSON text that is valid UTF-8 can carry a
#: surrogate, so documents without one need no walk
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES = re.compile(_SURROGATE_ESCAPE.pattern.encode())
#: integers of each float width's mantissa: every one up to it is held exactly
_FLOAT_MANTISSA = {pl.Float16: 11, pl.Float32: 24, pl.Float64: 53}
_TICKS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
#: what int64 ticks reach (in nanoseconds: datetime64[ns]'s 1677-09-21 to 2262-04-11)
_INT64_TICKS = (-(2**63) + 1, 2**63 - 1)


def frame_from_text(text: str, recorded: Recorded | None = None) -> pl.DataFrame:
    """Parse CSV text (header row first) into a frame: the columns a frame that exists
    recorded (``recorded``) read as their recorded types, exactly, the others typed by all
    their rows (:func:`pandasdb_core.ingest.read_csv`, as every CSV path types it).

    Example
    -------
    >>> frame_from_text("a\\n" + "1\\n" * 150 + "x\\n")["a"].dtype
    String
    >>> frame_from_text("p\\n10\\n", {"p": pl.Float64()})["p"].to_list()
    [10.0]
    >>> frame_from_text("code\\n007\\n", {"code": pl.String()})["code"].to_list()
    ['007']
    """
    return read_csv(text, recorded=recorded)


def frame_from_records(records: Any, recorded: Recorded | None = None) -> pl.DataFrame:
    """JSON records (a list of objects) or columns (an object of lists) into a frame, typed
    toward the types ``recorded`` for a frame that exists.

    Example
    -------
    >>> frame_from_records({"n": [1, 2.5], "day": ["2024-01-01", None]}).schema
    Schema([('n', Float64), ('day', Date)])
    >>> frame_from_records([{"z": "007"}], {"z": pl.String()})["z"].to_list()
    ['007']
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
    recorded = recorded or {}
    series = []
    for name, values in columns.items():
        if recorded.get(name) == pl.String and all(v is None or type(v) is str for v in values):
            series.append(pl.Series(name, values, dtype=pl.String))  # text as sent
            continue
        column = _json_column(name, values)
        if column.dtype == pl.String:
            column = parse_temporal(column)
        series.append(column)
    return fit_frame(pl.DataFrame(series), recorded)


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
        f"{short(values[row])}); send one kind of value per column, or strings"
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


def short(value: Any, limit: int = 60) -> str:
    """``value``'s repr, cut to ``limit`` characters (saying how long it was), for quoting
    user data in an error message.

    Example
    -------
    >>> short("x" * 5000, limit=30)
    "'xxxxxxxxxxxxxxxxx'... (5,000 characters)"
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return text[: limit - 12] + ("'..." if isinstance(value, str) else "...") + size


def frame_from_bytes(data: bytes, recorded: Recorded | None = None) -> pl.DataFrame | PreparedFrame:
    """A raw body: parquet (by its magic bytes, keeping a schema it carries) or CSV (its
    recorded columns read as ``recorded``'s types, as :func:`frame_from_text`).

    Example
    -------
    >>> frame_from_bytes(b"a\\n1\\n").shape
    (1, 1)
    """
    if data[:4] != PARQUET_MAGIC:
        return read_csv(data, recorded=recorded)
    _refuse_parquet_bomb(data)
    frame = read_parquet(data)
    try:
        sent = parquet_schema(data)
    except (Exception, PanicException) as exc:  # a foreign or broken pandasdb.schema entry
        raise InvalidArgument(
            f"dataframe: the parquet's schema could not be read: {first_line(exc)}"
        ) from None
    return prepare_from_wire(frame, sent) if sent is not None else frame


def decoded_size(data: bytes) -> tuple[int, int] | None:
    """The rows of a parquet body and about how many bytes they take decoded, from its
    footer alone (each column's values times their width, and for text and binary columns
    the bytes of their pages uncompressed); None when the footer cannot be read (the read
    says why).

    Example
    -------
    >>> import io, pyarrow as pa, pyarrow.parquet as pq
    >>> buf = io.BytesIO()
    >>> pq.write_table(pa.table({"a": [0] * 1000}), buf)
    >>> decoded_size(buf.getvalue())[0]
    1000
    """
    try:
        # imported here: the CLI loads this module, and pyarrow's libraries take a few
        # hundred MB of address space a streamed upload under a memory limit needs
        import pyarrow as pa
        import pyarrow.parquet as pq

        meta = pq.read_metadata(pa.BufferReader(data))
        total = 0
        for group in range(meta.num_row_groups):
            row_group = meta.row_group(group)
            for i in range(row_group.num_columns):
                column = row_group.column(i)
                kind = column.physical_type
                width = _VALUE_BYTES.get(kind) or meta.schema.column(i).length or 16
                total += column.num_values * width
                if kind == "BYTE_ARRAY":  # the values' bytes, beside their views
                    total += column.total_uncompressed_size
        return meta.num_rows, total
    except Exception:
        return None


def _refuse_parquet_bomb(data: bytes) -> None:
    """Refuse, before decoding it, a parquet body whose rows would take more than
    :data:`MAX_DECODED_BYTES` (a few KB of repeated values can hold billions of rows)."""
    found = decoded_size(data)
    if found is not None and found[1] > MAX_DECODED_BYTES:
        rows, size = found
        raise PayloadTooLarge(
            f"dataframe: the parquet's {rows:,} rows would take about {size:,} bytes "
            f"decoded, over the {MAX_DECODED_BYTES:,} one request decodes; send them in "
            "smaller pieces, as an upload session (POST /dataframes/sessions), as the SDK does"
        )


# ---------------------------------------------------------------------------------- JSON text


def looks_like_json(text: str | bytes) -> bool:
    """Whether a ``dataframe`` string (or a body without a Content-Type) is a JSON document
    rather than CSV: it starts with ``[`` or ``{`` followed by what JSON can hold there
    (``{ [ " ] }``, a digit or ``-``). A CSV header such as ``[a],b`` or ``{id},v`` starts
    with a bracket too, but a letter follows it.

    Example
    -------
    >>> looks_like_json(' [{"a": 1}]'), looks_like_json("a,b\\n1,2\\n")
    (True, False)
    >>> looks_like_json("[a],b\\n1,2"), looks_like_json('{"columns": {"0": 1}}')
    (False, True)
    >>> looks_like_json('\\ufeff{\\n  "dataframe": []}')  # with a byte order mark
    True
    """
    head = text[:200].decode("utf-8", "replace") if isinstance(text, bytes) else text[:200]
    head = head.lstrip().lstrip("\ufeff").lstrip()  # a byte order mark is no data
    if head[:1] not in ("[", "{"):
        return False
    after = head[1:].lstrip()
    return after == "" or after[0] in '{["]}-' or after[0].isdigit()


def loads_json(text: str | bytes, context: str) -> Any:
    """Parse JSON text from a request. Every way it can fail is :class:`InvalidArgument`:
    ``context`` (the subject, ``"body"``) and what is wrong with the data: not UTF-8, not
    JSON, nested too deeply, an integer of thousands of digits, or a lone UTF-16 surrogate
    (``"\\ud800"``), which is no Unicode character and which no column can store.

    Example
    -------
    >>> loads_json('{"a": [1, 2]}', "body")
    {'a': [1, 2]}
    >>> loads_json('["\\\\ud800"]', "body")
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.InvalidArgument: body holds a lone UTF-16 surrogate (\\ud800) in ...
    """
    if isinstance(text, str):
        _refuse_surrogate_in(text, "", context)

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # a key twice in one object ({"dataframe_name": "a", "dataframe_name": "b"}): which
        # is meant is not for the server to guess (json.loads would keep the last)
        found = dict(pairs)
        if len(found) < len(pairs):
            keys = [k for k, _ in pairs]
            twice = next(k for i, k in enumerate(keys) if k in keys[:i])
            raise InvalidArgument(
                f"{context} has the key {twice!r} twice in one JSON object; keys must be unique"
            )
        return found

    try:
        document = json.loads(text, object_pairs_hook=unique_keys)
    except InvalidArgument:
        raise
    except RecursionError:
        raise InvalidArgument(f"{context} is not valid JSON: it is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"{context} is not UTF-8 text: byte {exc.object[exc.start]:#04x} at position "
            f"{exc.start:,} starts no UTF-8 character"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and int()'s limit on digits
        if "integer string conversion" in str(exc):
            raise InvalidArgument(
                f"{context} holds an integer of more than {sys.get_int_max_str_digits():,} "
                "digits; pandasdb stores integers of 64 bits (up to 20 digits): send longer "
                "ones as strings"
            ) from None
        raise InvalidArgument(f"{context} is not valid JSON: {exc}") from None
    escapes = _SURROGATE_ESCAPE if isinstance(text, str) else _SURROGATE_ESCAPE_BYTES
    if escapes.search(text):  # type: ignore[arg-type]
        _refuse_surrogates(document, context)
    return document


def _refuse_surrogate_in(text: str, where: str, context: str, *, key: bool = False) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        what = f"the object key at {where or '/'}" if key else f"the text at {where or '/'}"
        char = text[exc.start].encode("ascii", "backslashreplace").decode()
        raise InvalidArgument(
            f"{context} holds a lone UTF-16 surrogate ({char}) in {what}, which is no Unicode "
            "character and cannot be stored; send valid UTF-8 text"
        ) from None


def _refuse_surrogates(document: Any, context: str) -> None:
    """Walk a parsed document (without recursion: it may be nested deeply) for a lone
    surrogate in any key or text, naming where it is as a JSON Pointer."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            _refuse_surrogate_in(value, where, context)
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}/{_pointer(key)}"
                _refuse_surrogate_in(key, path, context, key=True)
                stack.append((path, item))
        elif isinstance(value, list):
            stack.extend((f"{where}/{i}", item) for i, item in enumerate(value))


def _pointer(key: str) -> str:
    escaped = key.replace("~", "~0").replace("/", "~1")
    return escaped.encode("ascii", "backslashreplace").decode()


# ---------------------------------------------------------------------------------- epochs


def from_epoch(name: str, values: Sequence[Any], unit: str) -> pl.Series:
    """Epoch numbers (and nulls) in ``unit`` (``s``, ``ms``, ``us`` or ``ns``) as naive datetimes:
    microseconds, or nanoseconds when the unit or a fraction needs them. Integers are exact;
    a float's fraction is taken without the float64 rounding of the product (1704067200000.5
    ms is 500 us past the second, not 499.968).

    Example
    -------
    >>> from_epoch("t", [0, -86400000, None], "ms").to_list()
    [datetime.datetime(1970, 1, 1, 0, 0), datetime.datetime(1969, 12, 31, 0, 0), None]
    """
    odd = next((v for v in values if isinstance(v, float) and not math.isfinite(v)), None)
    if odd is not None:
        raise InvalidArgument(f"dataframe: column {name!r} holds {odd}, which is no epoch time")
    nanos = [None if v is None else _ticks(v, _TICKS[unit]) for v in values]
    fine = unit == "ns" or any(n % 1000 for n in nanos if n is not None)
    ticks = nanos if fine else [None if n is None else n // 1000 for n in nanos]
    low, high = _INT64_TICKS
    bad = next(
        (v for v, t in zip(values, ticks, strict=True) if t is not None and not low <= t <= high),
        None,
    )
    if bad is not None:
        raise InvalidArgument(
            f"dataframe: column {name!r} holds {short(bad)}, beyond any epoch time"
        )
    return pl.Series(name, ticks, dtype=pl.Int64).cast(pl.Datetime("ns" if fine else "us"))


def _ticks(value: int | float, factor: int) -> int:
    """``value * factor`` nanoseconds exactly for integers, and for floats without the
    float64 rounding of the product."""
    if isinstance(value, int):
        return value * factor
    fraction, whole = math.modf(value)
    return int(whole) * factor + round(fraction * factor)


# ---------------------------------------------------------------------------------- recorded types


def fit_frame(
    frame: pl.DataFrame, recorded: Recorded | None, *, epoch: str | None = None
) -> pl.DataFrame:
    """``frame`` with each column the frame recorded typed toward its recorded type (see
    :func:`fit_column`); other columns as they are.

    Example
    -------
    >>> fit_frame(pl.DataFrame({"p": [1], "q": ["x"]}), {"p": pl.Float64()}).schema
    Schema([('p', Float64), ('q', String)])
    """
    if not recorded:
        return frame
    changed = [
        fit_column(frame[name], recorded[name], epoch=epoch)
        for name in frame.columns
        if name in recorded and frame.schema[name] != recorded[name]
    ]
    return frame.with_columns(changed) if changed else frame


def fit_column(series: pl.Series, recorded: pl.DataType, *, epoch: str | None = None) -> pl.Series:
    """A new batch's column as the type its frame recorded for it, when every value converts
    exactly; else :class:`SchemaMismatch` naming the first value that does not.

    - nulls fit any type, and a column recorded without a type (all null) takes any;
    - integers become floats when the float holds them exactly (up to 2**53 for float64),
      floats become integers when they are whole and in range, integers change width in range;
      floats change width (to the recorded width's precision);
    - ISO text becomes dates or datetimes; numbers become datetimes as epoch times in
      ``epoch`` (``"ms"``: pandas' to_json writes milliseconds; None: numbers are refused);
      datetimes change unit when no digit is lost, and time zone as the same instants (naive
      ones taken as UTC); midnight datetimes become dates;
    - booleans stay booleans, and text columns take only text: the JSON paths keep a text
      column's text as sent, before any typing (``"007"``), and nothing else is text.

    Other recorded types (categoricals, decimals, durations...) are left for the store to
    compare, which refuses a change.

    Example
    -------
    >>> fit_column(pl.Series("p", [10, None]), pl.Float64()).to_list()
    [10.0, None]
    >>> fit_column(pl.Series("p", [1.5]), pl.Int64())
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.SchemaMismatch: column 'p' was recorded as Int64, which cannot hold ...
    """
    have = series.dtype
    if have == recorded or recorded == pl.Null:
        return series
    if have == pl.Null or series.null_count() == series.len():
        return series.cast(recorded)
    if recorded.is_integer():
        return _to_integer(series, recorded)
    if recorded.is_float():
        return _to_float(series, recorded)
    if isinstance(recorded, pl.Datetime | pl.Date):
        return _to_temporal(series, recorded, epoch)
    if recorded in (pl.Boolean, pl.String):
        raise _misfit(series, recorded, _first_present(series))
    return series


def _to_integer(series: pl.Series, recorded: pl.DataType) -> pl.Series:
    low, high = _integer_range(recorded)
    if not (series.dtype.is_integer() or series.dtype.is_float()):
        raise _misfit(series, recorded, _first_present(series))
    for row, value in enumerate(series.to_list()):
        if value is None:
            continue
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise _misfit(series, recorded, row, "is not a whole number")
        if not low <= value <= high:
            raise _misfit(series, recorded, row, f"is outside {recorded}'s range")
    return series.cast(recorded)


def _to_float(series: pl.Series, recorded: pl.DataType) -> pl.Series:
    if series.dtype.is_float():
        return series.cast(recorded)
    if not series.dtype.is_integer():
        raise _misfit(series, recorded, _first_present(series))
    bits = _FLOAT_MANTISSA.get(type(recorded), 53)
    for row, value in enumerate(series.to_list()):
        if value is not None and abs(value) > 2**bits:
            raise _misfit(series, recorded, row, f"is beyond 2**{bits}, past which it rounds")
    return series.cast(recorded)


def _to_temporal(
    series: pl.Series, recorded: pl.Datetime | pl.Date, epoch: str | None
) -> pl.Series:
    have = series.dtype
    if have == pl.String:
        parsed = parse_temporal(series)
        if parsed.dtype == pl.String:
            raise _misfit(series, recorded, _first_present(series), "is not an ISO date or time")
        return fit_column(parsed, recorded, epoch=epoch)
    if have.is_numeric() and epoch is not None:
        values = series.to_list()
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise _misfit(series, recorded, _first(~series.is_finite()))
        return fit_column(from_epoch(series.name, values, epoch), recorded)
    if have == pl.Date:
        moments = series.cast(pl.Datetime("us"))
        return moments.dt.date() if recorded == pl.Date else fit_column(moments, recorded)
    if not isinstance(have, pl.Datetime):
        raise _misfit(series, recorded, _first_present(series))
    if have.time_zone is not None and (recorded == pl.Date or recorded.time_zone is None):
        series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    if recorded == pl.Date:
        bad = _first(series.dt.truncate("1d") != series)
        if bad is not None:
            raise _misfit(series, recorded, bad, "has a time of day")
        return series.dt.date()
    if recorded.time_zone is not None:
        if series.dtype.time_zone is None:  # type: ignore[attr-defined]
            series = series.dt.replace_time_zone("UTC")
        series = series.dt.convert_time_zone(recorded.time_zone)
    unit, want = series.dtype.time_unit, recorded.time_unit  # type: ignore[attr-defined]
    if _TICKS[want] > _TICKS[unit]:
        lost = series.dt.epoch(unit) % (_TICKS[want] // _TICKS[unit]) != 0
        bad = _first(lost)
        if bad is not None:
            raise _misfit(series, recorded, bad, f"needs finer units than {want}")
    elif want == "ns" and unit != "ns":
        low, high = (t // _TICKS[unit] for t in _INT64_TICKS)
        bad = _first(~series.dt.epoch(unit).is_between(low, high))
        if bad is not None:
            raise _misfit(series, recorded, bad, "is outside the years 1677 to 2262 of nanoseconds")
    return series.cast(recorded)


def _integer_range(dtype: pl.DataType) -> tuple[int, int]:
    info = {
        pl.Int8: 8,
        pl.Int16: 16,
        pl.Int32: 32,
        pl.Int64: 64,
        pl.UInt8: 8,
        pl.UInt16: 16,
        pl.UInt32: 32,
        pl.UInt64: 64,
    }
    bits = info.get(type(dtype), 64)
    if dtype.is_signed_integer():
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _first(mask: pl.Series) -> int | None:
    """The first row where ``mask`` is true, or None."""
    found = mask.fill_null(False).arg_true()
    return int(found[0]) if found.len() else None


def _first_present(series: pl.Series) -> int | None:
    return _first(series.is_not_null())


def _misfit(
    series: pl.Series, recorded: pl.DataType, row: int | None, why: str | None = None
) -> SchemaMismatch:
    value = series[row] if row is not None else None
    if row is not None and series.dtype.is_temporal():  # as text: a Python datetime drops ns
        value = series.slice(row, 1).cast(pl.String).item()
    reason = f"{why}" if why else f"is {_kind(series.dtype)}"
    return SchemaMismatch(
        f"column {series.name!r} was recorded as {recorded}, which cannot hold this upload's "
        f"values exactly: row {row} holds {short(value)}, which {reason}; nothing was written"
    )


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.String:
        return "text"
    if dtype == pl.Boolean:
        return "a boolean"
    if dtype.is_integer():
        return "an integer"
    if dtype.is_float():
        return "a fractional or non-finite number"
    return f"of type {dtype}"
