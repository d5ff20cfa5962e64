"""pandas <-> polars at the edges of the store, restoring recorded dtypes exactly.

pandas is imported only when a pandas frame comes in or is asked for, so the server path can
run on polars alone.

What comes back into pandas is what went in: integers (nullable ones too, up to ``Int64``'s
and ``UInt64``'s extremes) never pass through float64; categoricals keep categories of any
type (strings, ints, floats, bools, dates, datetimes, durations), their order and ``ordered``;
a fixed-offset time zone (``+05:30``), which polars lacks, is stored as UTC and restored (IANA
zones, ``Etc/GMT+5`` included, stay themselves); pyarrow-backed dtypes pandas cannot name back
(``decimal128(10, 2)``, ``fixed_size_binary[3]``, ``string``) record their arrow type. An object
column holds one kind of value, checked value by value against what would come back (polars'
own conversion turns dates beside datetimes into dates, ``UUID`` into bytes...).
What cannot be stored exactly (periods, intervals, lists, objects of mixed kinds, index names
that are not strings) is refused before anything is written, with an error naming the column.

Example
-------
>>> import pandas as pd
>>> df = pd.DataFrame({"a": pd.array([2**63 - 1, None], dtype="Int64")})
>>> frame, schema = to_polars(df)
>>> to_pandas(frame, schema)["a"].tolist() == [2**63 - 1, pd.NA]
True
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import operator
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from .dtypes import STORABLE
from .errors import InvalidArgument
from .schema import INDEX_PREFIX, Schema, capture, polars_schema, shown

#: pandas' nullable counterpart of each numpy integer/bool dtype
_NULLABLE = {
    "int8": "Int8",
    "int16": "Int16",
    "int32": "Int32",
    "int64": "Int64",
    "uint8": "UInt8",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "uint64": "UInt64",
    "bool": "boolean",
}
#: pandas dtypes built from a polars column's values and null mask, never through float64
_MASKED = {*_NULLABLE.values(), "Float32", "Float64"}
#: what the rust side of polars raises when it panics (a BaseException, not an Exception)
PanicException = pl.exceptions.PanicException


@dataclass(frozen=True)
class PreparedFrame:
    """A polars frame already converted, with its captured schema (pandas dtypes, index).

    The SDK and the HTTP handlers use it to carry a pandas frame's schema across the wire;
    ``Store.upload`` accepts it like any frame.
    """

    frame: pl.DataFrame
    schema: Schema


def _check_names(names: list[Any]) -> None:
    bad = [n for n in names if not isinstance(n, str) or n == ""]
    if bad:
        raise InvalidArgument(f"columns: column names must be non-empty strings, got {bad[:5]!r}")
    if any("\x00" in n for n in names):  # arrow passes names as C strings: polars panics
        nul = [n for n in names if "\x00" in n][:5]
        raise InvalidArgument(f"columns: column names may not contain NUL characters: {nul!r}")
    dupes = sorted(n for n, count in Counter(names).items() if count > 1)
    if dupes:
        raise InvalidArgument(f"columns: duplicated column names {dupes!r}")
    if any(n.startswith(INDEX_PREFIX) for n in names):
        raise InvalidArgument(f"columns: names starting with {INDEX_PREFIX!r} are reserved")
    patterns = [n for n in names if is_pattern(n)][:5]
    if patterns:
        raise InvalidArgument(
            f"columns: {patterns!r}: polars reads a column name that is '*' or starts with '^' "
            "and ends with '$' as a pattern, not a name; rename the column"
        )


def is_pattern(name: str) -> bool:
    """Whether polars reads ``name`` in ``pl.col(name)`` or ``select(name)`` as a pattern
    (``*``, or a regex ``^...$``) rather than as the column of that name: such a column would
    be dropped or duplicated by any engine's selection, so pandasdb refuses it.

    Example
    -------
    >>> is_pattern("^price$"), is_pattern("*"), is_pattern("price$")
    (True, True, False)
    """
    return name == "*" or (len(name) > 1 and name.startswith("^") and name.endswith("$"))


def _index_names(index: Any) -> list[str | None]:
    """The index's level names, each a string or None (numpy strings become ``str``), or
    :class:`InvalidArgument` for other names and for two levels of one name."""
    names: list[str | None] = []
    for i, level in enumerate(index.names):
        if level is None or isinstance(level, str):
            names.append(None if level is None else str(level))
            continue
        raise InvalidArgument(
            f"index: level {i} is named {level!r} ({type(level).__name__}); index level names "
            "must be strings or None (rename it with df.index.set_names)"
        )
    dupes = sorted(
        n for n, count in Counter(n for n in names if n is not None).items() if count > 1
    )
    if dupes:
        raise InvalidArgument(f"index: duplicated index level names {dupes!r}")
    return names


def to_polars(df: Any) -> tuple[pl.DataFrame, Schema]:
    """Turn a pandas or polars frame into a polars frame plus its captured schema.

    A pandas index other than an unnamed RangeIndex is kept as ``__index_level_i__`` columns.
    Raises :class:`InvalidArgument` or :class:`SchemaMismatch` naming a column that cannot
    be stored exactly.

    Example
    -------
    >>> to_polars(pl.DataFrame({"a": [1]}))[1]["columns"][0]["dtype"]
    {'type': 'Int64'}
    """
    if isinstance(df, PreparedFrame):
        return df.frame, df.schema
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if isinstance(df, pl.DataFrame):
        _check_names(list(df.columns))
        return df, capture(df)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency of the library
        pd = None
    if pd is None or not isinstance(df, pd.DataFrame):
        raise InvalidArgument(
            f"dataframe must be a pandas or polars DataFrame, got {type(df).__name__}"
        )
    _check_names(list(df.columns))
    index_names: list[str | None] = []
    if not (isinstance(df.index, pd.RangeIndex) and df.index.name is None):
        index_names = _index_names(df.index)
        levels = [f"{INDEX_PREFIX}{i}__" for i in range(len(index_names))]
        df = df.copy(deep=False)
        df.index = df.index.set_names(levels)
        df = df.reset_index()
    for name, dtype in df.dtypes.items():
        _refuse_unstorable(name, dtype)
    pandas_dtypes: dict[str, dict[str, Any]] = {}
    replaced: dict[str, Any] = {}
    null_objects: list[str] = []
    objects: dict[str, tuple[str, Any]] = {}
    arrows: dict[str, Any] = {}
    for name, dtype in df.dtypes.items():
        entry: dict[str, Any] = {"pandas": pandas_name(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            entry.update(_describe_categories(name, dtype))
        elif isinstance(dtype, pd.DatetimeTZDtype) and _fixed_offset(name, dtype):
            replaced[name] = df[name].dt.tz_convert("UTC")
        elif isinstance(dtype, pd.ArrowDtype):
            arrow = _arrow_entry(dtype)
            if arrow is not None:
                entry["arrow"] = arrow
                arrows[name] = dtype.pyarrow_dtype
        elif pd.api.types.is_object_dtype(dtype):
            kind, converted = _object_kind(name, df[name])
            if kind == "empty":
                null_objects.append(name)
            elif kind not in _EXACT_OBJECTS:
                objects[name] = (kind, df[name])
            if converted is not None:
                replaced[name] = converted
        pandas_dtypes[name] = entry
    if replaced:
        df = df.copy(deep=False)
        for name, series in replaced.items():
            df[name] = series
    frame = _from_pandas(df)
    if null_objects:
        # an all-null object column has no type: Null, which takes the first type given later
        height = frame.height
        frame = frame.with_columns(
            pl.repeat(None, height, dtype=pl.Null, eager=True).alias(n) for n in null_objects
        )
    for name, (kind, original) in objects.items():
        _verify_objects(name, kind, original, frame.get_column(name))
    for name, arrow_type in arrows.items():
        _verify_arrow(name, arrow_type, df[name], frame.get_column(name))
    return frame, capture(frame, pandas_dtypes, index_names)


def _unstorable_hint(dtype: Any) -> str | None:
    """How to convert a column of a pandas or numpy ``dtype`` that has no stored type, or
    None for a dtype pandasdb stores (or checks further, value by value)."""
    import pandas as pd

    if isinstance(dtype, pd.SparseDtype):
        return "convert it to a dense column first (.sparse.to_dense())"
    if isinstance(dtype, pd.PeriodDtype):
        return "convert it to timestamps (.dt.to_timestamp()) or to strings first"
    if isinstance(dtype, pd.IntervalDtype):
        return "store its bounds as two columns (.array.left, .array.right) first"
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_hint(dtype.pyarrow_dtype)
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return None  # pandas' other dtypes (nullable, categorical...) are checked later
    kind, size = dtype.kind, dtype.itemsize
    if kind == "c":
        return "store its .real and .imag parts as two float columns first"
    if kind == "V":
        return "store each of its fields as a column, or convert it (e.g. .astype(str)) first"
    if kind == "f" and size > 8:
        return "convert it to float64 first (.astype('float64'))"
    return None


def _arrow_hint(arrow_type: Any) -> str | None:
    """How to convert a pyarrow-backed column polars cannot take (its own errors say
    ``operator does not support primitive Int256`` or ``unable to parse time zone``), or
    None."""
    import pyarrow as pa

    if pa.types.is_interval(arrow_type):
        return "store its months, days and nanoseconds as three integer columns first"
    if pa.types.is_decimal256(arrow_type):
        return "cast it to a decimal128 (precision at most 38) first"
    zone = getattr(arrow_type, "tz", None) if pa.types.is_timestamp(arrow_type) else None
    if zone is not None and _FIXED_OFFSET.fullmatch(zone):
        return (
            f"convert it to pandas' own dtype first (.astype('datetime64[ns, {zone}]')), "
            "whose fixed offset pandasdb stores"
        )
    return None


#: a time zone written as a fixed offset (``+05:30``), which polars does not parse
_FIXED_OFFSET = re.compile(r"[+-]\d{2}:?\d{2}")


def _refuse_unstorable(name: str, dtype: Any) -> None:
    """Refuse a column whose dtype has no stored type (complex, structured or void, long
    double, sparse, period, interval, and the pyarrow types of :func:`_arrow_hint`) before
    polars meets it: its own error says only ``Unsupported numpy type 15``."""
    hint = _unstorable_hint(dtype)
    if hint is not None:
        raise InvalidArgument(
            f"{shown(name)} has dtype {dtype}, which pandasdb cannot store: {hint}; {STORABLE}"
        )


#: the name pandasdb records for ``StringDtype("python", na_value=nan)``: pandas names it
#: ``str``, which reads back as its default string storage (arrow's), and has no name of its
#: own; a reader that does not know this name keeps the default ``str``
PYTHON_STR = "str[python]"


def pandas_name(dtype: Any) -> str:
    """The name a column's pandas ``dtype`` is recorded by, one that rebuilds it
    (:func:`pandas_dtype`): its own, except for pandas' strings, whose name (``string``,
    ``str``) does not say where their values live (python objects or arrow), so that a
    ``string[python]`` column would come back as ``string[pyarrow]``.

    Example
    -------
    >>> import pandas as pd
    >>> pandas_name(pd.StringDtype("python")), pandas_name(pd.Int64Dtype())
    ('string[python]', 'Int64')
    """
    import pandas as pd

    if not isinstance(dtype, pd.StringDtype):
        return str(dtype)
    for name in (f"string[{dtype.storage}]", str(dtype)):
        with contextlib.suppress(TypeError, ValueError, ImportError):
            if pd.api.types.pandas_dtype(name) == dtype:
                return name
    return PYTHON_STR if dtype.storage == "python" else str(dtype)


def pandas_dtype(name: str) -> Any:
    """The pandas dtype a recorded name (:func:`pandas_name`) stands for: a dtype, or the name
    itself for pandas to read.

    Example
    -------
    >>> pandas_dtype("str[python]").storage, pandas_dtype("Int64")
    ('python', 'Int64')
    """
    if name != PYTHON_STR:
        return name
    import numpy as np
    import pandas as pd

    return pd.StringDtype("python", na_value=np.nan)


def _fixed_offset(name: str, dtype: Any) -> bool:
    """Whether a tz-aware column has a fixed offset other than UTC (polars has no such zone),
    after checking that pandas can rebuild its dtype from the recorded name. A named IANA zone
    is kept as it is, even one of constant offset (``Etc/GMT+5``): polars holds it."""
    if getattr(dtype.tz, "key", None):  # a zoneinfo.ZoneInfo: a name polars knows
        return False
    offset = dtype.tz.utcoffset(None)
    if offset is None or offset == dt.timedelta(0):
        return False
    import pandas as pd

    try:
        same = pd.api.types.pandas_dtype(str(dtype)) == dtype
    except (TypeError, ValueError):
        same = False
    if not same:
        raise InvalidArgument(
            f"column {name!r}: time zone {dtype.tz!r} is a fixed offset pandas cannot name "
            "back; convert it with .dt.tz_convert(datetime.timezone(offset)) or to an IANA zone"
        )
    return True


def _describe_categories(name: str, dtype: Any) -> dict[str, Any]:
    """A categorical's categories as JSON values that rebuild them exactly, with their dtype.

    Ints and bools stay themselves, floats become ``repr`` text (exact, and JSON has no inf),
    datetimes and durations integer counts of their unit, dates ISO text.
    """
    cats = dtype.categories
    kind = cats.dtype.kind
    values: list[Any]
    cats_dtype = pandas_name(cats.dtype)
    if kind in "iub":
        values = cats.tolist()
    elif kind == "f":
        values = [repr(float(c)) for c in cats]
    elif kind in "mM":
        values = cats.asi8.tolist()
    elif all(isinstance(c, str) for c in cats):
        values = list(cats)
    elif all(type(c) is dt.date for c in cats):
        values, cats_dtype = [c.isoformat() for c in cats], "date"
    else:
        kinds = sorted({type(c).__name__ for c in cats})
        raise InvalidArgument(
            f"column {name!r}: a categorical with categories of {cats.dtype} ({kinds}) cannot be "
            "stored; categories may be strings, numbers, bools, dates, datetimes or durations"
        )
    return {"categories": values, "categories_dtype": cats_dtype, "ordered": bool(dtype.ordered)}


#: object columns pandas' own inference finds of one kind polars converts exactly
_FAST_OBJECTS = {
    "string": "str",
    "bytes": "bytes",
    "empty": "empty",
    "boolean": "bool",
    "integer": "int",
    "floating": "float",
}
#: kinds whose conversion needs no check value by value
_EXACT_OBJECTS = {"str", "bytes", "empty", "bool", "int", "float", "date"}
#: kinds of objects pandasdb stores (one kind per column)
_OBJECT_KINDS = {*_EXACT_OBJECTS, "Decimal", "datetime", "time", "timedelta"}


def _kind(value: Any) -> str:
    """The kind of one object value, as an error names it (``datetime`` covers pandas
    ``Timestamp`` and numpy ``datetime64``)."""
    return _kind_of_type(type(value))


@functools.lru_cache(maxsize=256)
def _kind_of_type(kind: type) -> str:
    import decimal

    import numpy as np

    for types, name in (
        ((str,), "str"),
        ((bytes, bytearray), "bytes"),
        ((bool, np.bool_), "bool"),
        ((int, np.integer), "int"),
        ((float, np.floating), "float"),
        ((decimal.Decimal,), "Decimal"),
        ((dt.datetime, np.datetime64), "datetime"),  # before date: a datetime is a date
        ((dt.date,), "date"),
        ((dt.time,), "time"),
        ((dt.timedelta, np.timedelta64), "timedelta"),
    ):
        if issubclass(kind, types):
            return name
    return kind.__name__


def _zone(tz: Any) -> str | None:
    if tz is None:
        return None
    return getattr(tz, "key", None) or str(tz)


def _object_kind(name: str, series: Any) -> tuple[str, Any]:
    """The one kind of value an object column holds, and the column to convert instead
    (nanosecond datetimes and durations, which polars would cut to microseconds), or None.

    Raises :class:`InvalidArgument` naming the column for a column mixing kinds (``date`` and
    ``datetime``, ``bytes`` and ``str``, two time zones...) and for objects pandasdb cannot
    store exactly (``UUID``, dicts, times with a time zone...). Linear, with C loops: a type
    per value, then a little work per distinct type."""
    import pandas as pd

    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in _FAST_OBJECTS:
        return _FAST_OBJECTS[inferred], None
    values = series[series.notna().to_numpy()].tolist()
    types = set(map(type, values))
    kinds = {_kind_of_type(t) for t in types}
    if len(kinds) > 1:
        first: dict[str, Any] = {}
        for value in values:
            first.setdefault(_kind(value), value)
        a, b = sorted(first)[:2]
        raise InvalidArgument(
            f"column {name!r} mixes {a} and {b} values ({first[a]!r}, {first[b]!r}); an "
            "object column must hold one kind of value: convert it (e.g. .astype(str)) first"
        )
    if not kinds:
        return "empty", None
    (kind,) = kinds
    if kind not in _OBJECT_KINDS:
        raise InvalidArgument(
            f"column {name!r} holds {kind} objects ({values[0]!r}), which pandasdb cannot "
            "store exactly; convert them first (e.g. .astype(str))"
        )
    if kind == "Decimal" and not all(map(operator.methodcaller("is_finite"), values)):
        special = next(v for v in values if not v.is_finite())
        raise InvalidArgument(f"column {name!r}: {special!r} cannot be stored as a decimal")
    if kind == "time" and any(v.tzinfo is not None for v in values):
        zoned = next(v for v in values if v.tzinfo is not None)
        raise InvalidArgument(
            f"column {name!r}: times with a time zone ({zoned!r}) cannot be stored; "
            "store naive times, or datetimes with their zone"
        )
    if kind in ("datetime", "timedelta"):
        return kind, _nanoseconds(name, kind, series, values, types)
    return kind, None


def _nanoseconds(name: str, kind: str, series: Any, values: list[Any], types: set[type]) -> Any:
    """An object column of datetimes (one zone) or durations as a ``[ns]`` column when some
    value has nanoseconds (polars would cut them to microseconds), else None."""
    import numpy as np
    import pandas as pd

    if kind == "datetime":
        zones = {_zone(tz) for tz in map(operator.attrgetter("tzinfo"), _of(values, dt.datetime))}
        if any(issubclass(t, np.datetime64) for t in types):
            zones.add(None)
        if len(zones) > 1:
            shown = sorted(z or "no time zone" for z in zones)[:2]
            raise InvalidArgument(
                f"column {name!r} mixes datetimes of {shown[0]!r} and {shown[1]!r}; an object "
                "column must hold one time zone (convert with pd.to_datetime(..., utc=True))"
            )
        convert = pd.to_datetime
    else:
        convert = pd.to_timedelta
    if all(t in (dt.datetime, dt.timedelta) for t in types):  # microseconds at most
        return None
    attribute = "nanosecond" if kind == "datetime" else "nanoseconds"
    boxed = _of(values, pd.Timestamp | pd.Timedelta)  # pandas' own: they say it cheaply
    fine = any(map(operator.attrgetter(attribute), boxed)) or any(
        map(_sub_microsecond, _of(values, np.datetime64 | np.timedelta64))
    )
    if not fine:
        return None
    try:
        return convert(series).dt.as_unit("ns")
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgument(
            f"column {name!r} holds nanoseconds but cannot be held in nanoseconds: "
            f"{_first_line(exc)}"
        ) from None


def _of(values: list[Any], kind: type) -> list[Any]:
    return [v for v in values if isinstance(v, kind)]


def _sub_microsecond(value: Any) -> bool:
    """Whether a numpy datetime64 or timedelta64 has digits beyond microseconds."""
    import numpy as np

    unit = np.datetime_data(value.dtype)[0]
    if unit not in ("ps", "fs", "as", "ns"):
        return False
    return bool(value.astype("int64") % 1000) if unit == "ns" else True


def _verify_objects(name: str, kind: str, original: Any, stored: pl.Series) -> None:
    """Refuse an object column whose values would not come back as they went in (the net
    under :func:`_object_kind`: whatever polars' conversion changes is caught here). The
    comparisons run as C loops (``map``); a value is looked for only to name it."""
    back = pandas_column(stored, {"pandas": "object"})
    mask = original.notna().to_numpy()
    if not (back.notna().to_numpy() == mask).all():
        raise InvalidArgument(f"column {name!r}: its nulls would not come back as nulls")
    was = original[mask].tolist()
    came = back[mask].tolist()
    same = {_kind_of_type(t) for t in set(map(type, came))} <= {kind}
    if same and kind == "datetime":
        same = _same_datetimes(was, came)
    elif same and kind == "float":
        same = all(map(_same_float, was, came))
    elif same:  # a decimal's scale may grow: the same number (1.1 == 1.10)
        same = all(map(operator.eq, was, came))
    if same:
        return
    for value, back_value in zip(was, came, strict=True):
        if not _same_value(kind, value, back_value):
            raise InvalidArgument(
                f"column {name!r}: the value {value!r} would come back as {back_value!r}; "
                "convert the column to a dtype pandasdb stores exactly"
            )
    raise InvalidArgument(f"column {name!r} would not come back as it is")  # pragma: no cover


def _same_datetimes(was: list[Any], came: list[Any]) -> bool:
    """The same instants (to the nanosecond: Timestamps compare so with datetimes) with the
    same offsets from UTC, value by value."""
    import numpy as np
    import pandas as pd

    if any(isinstance(v, np.datetime64) for v in was):
        was = [pd.Timestamp(v) if isinstance(v, np.datetime64) else v for v in was]
    if not all(map(operator.eq, came, was)):
        return False
    zones = set(map(operator.attrgetter("tzinfo"), was))
    if zones == {None}:
        return set(map(operator.attrgetter("tzinfo"), came)) <= {None}
    offset = operator.methodcaller("utcoffset")
    return all(map(operator.eq, map(offset, was), map(offset, came)))


def _same_float(a: Any, b: Any) -> bool:
    return float(a) == float(b) and math.copysign(1, a) == math.copysign(1, b)


def _same_value(kind: str, a: Any, b: Any) -> bool:
    import pandas as pd

    if b is None or _kind(b) != kind:
        return False
    try:
        if kind == "datetime":
            ta, tb = pd.Timestamp(a), pd.Timestamp(b)
            return bool(ta == tb) and ta.utcoffset() == tb.utcoffset()
        if kind == "timedelta":
            return bool(pd.Timedelta(a) == pd.Timedelta(b))
        if kind == "time":
            return bool(a == b) and a.utcoffset() == b.utcoffset()
        if kind == "float":
            return _same_float(a, b)
        return bool(a == b)
    except (TypeError, ValueError, OverflowError):
        return False


def _arrow_entry(dtype: Any) -> str | None:
    """A pyarrow-backed dtype pandas cannot rebuild from its name (``decimal128(10, 2)``,
    ``fixed_size_binary[3]``, ``string``: pandas reads that name as ``StringDtype``), as the
    arrow type itself: a one-field IPC schema, base64. None when the name suffices."""
    import base64

    import pandas as pd
    import pyarrow as pa

    try:
        if pd.api.types.pandas_dtype(str(dtype)) == dtype:
            return None
    except (TypeError, ValueError, NotImplementedError):
        pass
    schema = pa.schema([pa.field("a", dtype.pyarrow_dtype)])
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def _arrow_type(entry: Any) -> Any:
    """The arrow type an ``arrow`` schema entry records, or None if it does not parse."""
    import base64
    import binascii

    import pyarrow as pa

    if not isinstance(entry, str) or len(entry) > _ARROW_ENTRY_LIMIT:
        return None
    try:
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(entry, validate=True)))
    except (pa.ArrowException, binascii.Error, ValueError, TypeError):
        return None
    return schema.field(0).type if len(schema) == 1 else None


#: the longest ``arrow`` entry accepted (a nested type of a few fields is a few hundred)
_ARROW_ENTRY_LIMIT = 8192


def _arrow_array(series: pl.Series, arrow_type: Any) -> Any:
    """A stored column as a pandas ArrowExtensionArray of ``arrow_type``; raises if the
    values do not convert."""
    import pandas as pd
    import pyarrow as pa

    array = series.to_arrow()
    try:
        array = array.cast(arrow_type)
    except (pa.ArrowException, TypeError, ValueError):
        if not pa.types.is_dictionary(arrow_type):
            raise
        array = array.dictionary_encode().cast(arrow_type)
    return pd.arrays.ArrowExtensionArray(array)


def _verify_arrow(name: str, arrow_type: Any, original: Any, stored: pl.Series) -> None:
    """Refuse a pyarrow-backed column that would not come back as the same arrow array."""
    import pyarrow as pa

    try:
        back = _arrow_array(stored, arrow_type)
        same = pa.array(back).equals(pa.array(original.array))
    except (pa.ArrowException, TypeError, ValueError) as exc:
        same, reason = False, _first_line(exc)
    else:
        reason = "the values would change"
    if not same:
        raise InvalidArgument(
            f"column {name!r}: {original.dtype} cannot be stored exactly ({reason}); convert it "
            "to another dtype first"
        )


def _from_pandas(df: Any) -> pl.DataFrame:
    try:
        return pl.from_pandas(df)
    except (Exception, PanicException) as exc:  # pyarrow and polars raise many types
        for name in df.columns:
            try:
                pl.from_pandas(df[[name]])
            except (Exception, PanicException) as col_exc:
                reason = _first_line(col_exc)
                raise InvalidArgument(f"column {name!r} cannot be stored: {reason}") from None
        raise InvalidArgument(f"dataframe cannot be stored: {_first_line(exc)}") from None


def prepare_from_wire(frame: pl.DataFrame, sent: Any) -> PreparedFrame:
    """Rebuild a :class:`PreparedFrame` from a frame and the schema a client sent with it.

    Only the pandas parts of ``sent`` are taken (dtype names, categories, index names), and
    only after checking their shape; polars dtypes always come from the frame itself.

    Example
    -------
    >>> sent = {"columns": [{"name": "a", "pandas": "Int64"}], "index": []}
    >>> prepare_from_wire(pl.DataFrame({"a": [1]}), sent).schema["columns"][0]["pandas"]
    'Int64'
    """
    if not isinstance(sent, dict) or not isinstance(sent.get("columns"), list):
        raise InvalidArgument("schema: expected an object with a 'columns' list")
    index = sent.get("index", [])
    levels = [c for c in frame.columns if c.startswith(INDEX_PREFIX)]
    if (
        not isinstance(index, list)
        or len(index) != len(levels)
        or not all(n is None or isinstance(n, str) for n in index)
    ):
        raise InvalidArgument(f"schema: 'index' must list {len(levels)} index name(s)")
    dupes = sorted(
        n for n, count in Counter(n for n in index if n is not None).items() if count > 1
    )
    if dupes:
        raise InvalidArgument(f"index: duplicated index level names {dupes!r}")
    expected = [f"{INDEX_PREFIX}{i}__" for i in range(len(levels))]
    if levels != expected:
        raise InvalidArgument(f"columns: index columns must be named {expected!r}")
    _check_names([c for c in frame.columns if not c.startswith(INDEX_PREFIX)])
    present = set(frame.columns)
    pandas_dtypes: dict[str, dict[str, Any]] = {}
    for entry in sent["columns"]:
        if not isinstance(entry, dict) or entry.get("name") not in present:
            continue
        pandas = entry.get("pandas")
        categories = entry.get("categories")
        cats_dtype = entry.get("categories_dtype")
        if pandas is not None and (not isinstance(pandas, str) or len(pandas) > 64):
            raise InvalidArgument(f"schema: column {entry['name']!r} has an invalid pandas dtype")
        if categories is not None and (
            not isinstance(categories, list)
            or not all(isinstance(c, str | int | float | bool) for c in categories)
        ):
            raise InvalidArgument(f"schema: column {entry['name']!r} has invalid categories")
        if cats_dtype is not None and (not isinstance(cats_dtype, str) or len(cats_dtype) > 64):
            raise InvalidArgument(
                f"schema: column {entry['name']!r} has an invalid categories dtype"
            )
        arrow = entry.get("arrow")
        if arrow is not None and _arrow_type(arrow) is None:
            raise InvalidArgument(f"schema: column {entry['name']!r} has an invalid arrow type")
        pandas_dtypes[entry["name"]] = {
            "pandas": pandas,
            "categories": categories,
            "categories_dtype": cats_dtype,
            "ordered": bool(entry.get("ordered")),
        }
        if arrow is not None:
            pandas_dtypes[entry["name"]]["arrow"] = arrow
    return PreparedFrame(frame, capture(frame, pandas_dtypes, index))


def to_pandas(frame: pl.DataFrame, schema: Schema) -> Any:
    """Turn a polars frame read from the store into pandas with the recorded dtypes/index.

    Each column is let go once it is converted, so the two frames are not both held whole
    (a read builds its frame batch by batch instead: :mod:`pandasdb_core.pandas_assembly`).

    Example
    -------
    >>> import pandas as pd
    >>> frame, schema = to_polars(pd.DataFrame({"u": pd.array([2**64 - 1, None], "UInt64")}))
    >>> to_pandas(frame, schema)["u"].dtype
    UInt64Dtype()
    """
    recorded = {c["name"]: c for c in schema["columns"]}
    height = frame.height
    frame = frame.clone()  # the caller's frame keeps its columns; this one gives them up
    columns = {}
    for name in list(frame.columns):
        columns[name] = pandas_column(frame.drop_in_place(name), recorded.get(name))
    return frame_from_columns(columns, height, schema)


def frame_from_columns(columns: dict[str, Any], rows: int, schema: Schema) -> Any:
    """A pandas frame of converted columns (:func:`pandas_column`), stored index levels
    turned back into the recorded index.

    Example
    -------
    >>> import pandas as pd
    >>> schema = {"columns": [], "index": ["k"]}
    >>> frame_from_columns({"__index_level_0__": pd.Series([7]), "a": pd.Series([1])}, 1,
    ...                    schema).index.name
    'k'
    """
    import pandas as pd

    # arrays rather than Series (thousands of Series sharing one index cost quadratic time),
    # except object columns: from an array pandas would infer them as strings
    arrays = {n: c if c.dtype == object else c.array for n, c in columns.items()}
    out = pd.DataFrame(arrays, index=pd.RangeIndex(rows), copy=False)
    levels = [n for n in out.columns if n.startswith(INDEX_PREFIX)]
    if levels:
        out = out.set_index(levels)
        out.index.names = schema["index"][: len(levels)]
    return out


ColumnKind = Literal["numbers", "times", "text", "other"]


def column_kind(dtype: pl.DataType, col: dict[str, Any] | None) -> ColumnKind:
    """How a stored column of ``dtype`` becomes pandas: from numpy values and a null mask
    (``numbers``: integers, floats, booleans), from 64-bit ticks (``times``: datetimes and
    durations), from arrow chunks (``text``), or by its own conversion (``other``:
    categoricals, objects, recorded arrow types, dates, decimals...).

    Example
    -------
    >>> column_kind(pl.Int8, None), column_kind(pl.String, {"pandas": "category"})
    ('numbers', 'other')
    """
    col = col or {}
    if col.get("pandas") in ("category", "object") or col.get("arrow"):
        return "other"
    if dtype.is_integer() or dtype.is_float() or dtype == pl.Boolean:
        return "numbers"
    if isinstance(dtype, pl.Datetime | pl.Duration):
        return "times"
    return "text" if dtype == pl.String else "other"


def pandas_column(series: pl.Series, col: dict[str, Any] | None) -> Any:
    """One column in pandas, exactly: the recorded pandas dtype if it applies, else the
    closest exact one (a nullable integer rather than float64 when there are nulls).

    Example
    -------
    >>> pandas_column(pl.Series("a", [1, None]), {"pandas": "int64"}).dtype
    Int64Dtype()
    """
    import pandas as pd

    target: str | None = col.get("pandas") if col else None
    dtype = series.dtype
    kind = column_kind(dtype, col)
    if kind == "numbers":
        if not series.null_count() or (dtype.is_float() and target not in _MASKED):
            # (a float column's nulls come out of polars as NaN, as numpy holds them)
            return numbers_column(series.name, dtype, series.to_numpy(), None, col)
        mask = series.is_null().to_numpy()
        filled = series.fill_null(False if dtype == pl.Boolean else 0)
        return numbers_column(series.name, dtype, filled.to_numpy(), mask, col)
    if kind == "times":
        physical = series.to_physical()
        ticks = physical.fill_null(NAT_TICKS) if physical.null_count() else physical
        return times_column(series.name, dtype, ticks.to_numpy(), col)
    if kind == "text":
        import pyarrow as pa

        return text_column(series.name, pa.chunked_array(series.to_arrow()), col)
    if target == "category":
        return _categorical(series, col or {})
    if dtype == pl.Time and not (col or {}).get("arrow"):
        _times_of_day_fit(series)
    if target == "object":
        # objects as they went in: None for nulls, dates as dates, Decimals as Decimals;
        # nanosecond datetimes and durations as pandas Timestamps and Timedeltas, which hold
        # nanoseconds (datetime and timedelta do not)
        if isinstance(dtype, pl.Datetime | pl.Duration) and dtype.time_unit == "ns":
            objects = series.to_pandas().astype(object)
            return objects.where(objects.notna(), None).rename(series.name)
        return pd.Series(series.to_list(), dtype=object, name=series.name)
    arrow_type = _arrow_type(col.get("arrow")) if col else None
    if arrow_type is not None:
        with contextlib.suppress(Exception):  # a foreign writer's entry: keep what data gives
            return pd.Series(_arrow_array(series, arrow_type), name=series.name, copy=False)
    return _restored(series.to_pandas(), target)


def _times_of_day_fit(series: pl.Series) -> None:
    """Refuse a times-of-day column with nanoseconds (written by polars, whose times are
    nanoseconds): pandas holds times as ``datetime.time``, which has microseconds, so they
    would come back cut (or pyarrow would raise)."""
    cut = (series.to_physical() % 1000 != 0).arg_true()
    if len(cut):
        row = int(cut[0])
        value = series.dt.to_string("%H:%M:%S%.9f")[row]
        raise InvalidArgument(
            f"engine: column {series.name!r} holds times of day with nanoseconds ({value}), "
            "which pandas' datetime.time cannot hold; read it with engine='polars' (or "
            "without that column)"
        )


#: the physical value of a null datetime or duration in numpy: NaT
NAT_TICKS = -(2**63)


def numbers_column(
    name: str, dtype: pl.DataType, values: Any, mask: Any, col: dict[str, Any] | None
) -> Any:
    """A ``numbers`` column (:func:`column_kind`) from its numpy values (anything at its
    nulls) and null mask (None: no nulls): a masked array (``Int64``, ``boolean``,
    ``Float64``...) when it has nulls or was recorded so, never through float64.

    Example
    -------
    >>> import numpy as np
    >>> numbers_column("a", pl.Int64, np.array([1, 0]), np.array([False, True]), None).tolist()
    [1, <NA>]
    """
    import numpy as np
    import pandas as pd

    target: str | None = col.get("pandas") if col else None
    has_nulls = mask is not None and bool(mask.any())
    if dtype.is_float() and target not in _MASKED:
        if has_nulls:
            values[mask] = np.nan  # a float column's nulls are NaN in numpy, as polars gives
        return _restored(pd.Series(values, name=name, copy=False), target)
    if has_nulls or target in _MASKED:
        mask = mask if mask is not None else np.zeros(len(values), dtype=bool)
        if dtype == pl.Boolean:
            array = pd.arrays.BooleanArray(values, mask)
        elif dtype.is_float():
            array = pd.arrays.FloatingArray(values, mask)
        else:
            array = pd.arrays.IntegerArray(values, mask)
        out = pd.Series(array, name=name, copy=False)
    else:
        out = pd.Series(values, name=name, copy=False)
    if has_nulls and not dtype.is_float():
        # older rows lack a column added later: a numpy int/bool dtype becomes nullable
        target = _NULLABLE.get(target or "", target)
    return _restored(out, target)


def times_column(name: str, dtype: pl.DataType, ticks: Any, col: dict[str, Any] | None) -> Any:
    """A ``times`` column (:func:`column_kind`) from its int64 ticks in ``dtype``'s unit
    (:data:`NAT_TICKS` for nulls); zoned datetimes are UTC ticks shown in their zone.

    Example
    -------
    >>> import numpy as np
    >>> times_column("t", pl.Datetime("ms", "UTC"), np.array([0]), None).dtype
    datetime64[ms, UTC]
    """
    import pandas as pd

    unit = dtype.time_unit  # type: ignore[attr-defined]
    kind = "M8" if isinstance(dtype, pl.Datetime) else "m8"
    out = pd.Series(ticks.view(f"{kind}[{unit}]"), name=name, copy=False)
    zone = getattr(dtype, "time_zone", None)
    if zone is not None:
        out = out.dt.tz_localize("UTC").dt.tz_convert(zone)
    return _restored(out, col.get("pandas") if col else None)


def text_column(name: str, chunks: Any, col: dict[str, Any] | None) -> Any:
    """A ``text`` column (:func:`column_kind`) from an arrow chunked array of strings, its
    chunks kept (pandas' ``str`` arrays hold arrow chunks; nothing is joined or copied).

    Example
    -------
    >>> import pyarrow as pa
    >>> text_column("s", pa.chunked_array([["a"], [None]]), None).tolist()
    ['a', nan]
    """
    import numpy as np
    import pandas as pd

    array = pd.array(chunks, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    return _restored(pd.Series(array, name=name, copy=False), col.get("pandas") if col else None)


def _restored(out: Any, target: str | None) -> Any:
    """``out`` in its recorded pandas dtype when it is another and converts."""
    if target is not None and str(out.dtype) != target:
        # metadata from an old or foreign writer may not apply: then keep what the data gives
        # (an unknown zone is a KeyError: zoneinfo.ZoneInfoNotFoundError)
        with contextlib.suppress(TypeError, ValueError, OverflowError, KeyError):
            out = out.astype(pandas_dtype(target))
    return out


def _categorical(series: pl.Series, col: dict[str, Any]) -> Any:
    """A categorical with the recorded categories and order; a value outside them (written
    by an older schema) adds a category rather than being lost."""
    import pandas as pd

    if series.dtype == pl.Categorical or isinstance(series.dtype, pl.Enum):
        series = series.cast(pl.String)
    # values as the categories hold them: dates as datetime.date, not as timestamps
    as_dates = col.get("categories_dtype") == "date"
    values = pandas_column(series, {"pandas": "object"} if as_dates else None)
    ordered = bool(col.get("ordered"))
    categories = _category_index(col)
    if categories is None:
        return pd.Series(pd.Categorical(values, ordered=ordered), name=series.name)
    unknown = values[values.notna() & ~values.isin(categories)]
    if len(unknown):
        categories = categories.append(pd.Index(pd.unique(unknown)))
    return pd.Series(
        pd.Categorical(values, categories=categories, ordered=ordered), name=series.name
    )


def _category_index(col: dict[str, Any]) -> Any:
    """Rebuild recorded categories (see :func:`_describe_categories`); None if absent or not
    rebuildable (a foreign or hostile writer's), so that the data's own categories are used."""
    values, kind = col.get("categories"), col.get("categories_dtype")
    if values is None:
        return None
    try:
        index = _rebuild_categories(values, kind)
    except (TypeError, ValueError, OverflowError, KeyError):
        return None
    return index if index.is_unique and not index.hasnans else None


def _rebuild_categories(values: list[Any], kind: str | None) -> Any:
    import numpy as np
    import pandas as pd

    if kind is None:  # written before categories had a recorded dtype: strings
        return pd.Index(values)
    if kind == "date":
        return pd.Index([dt.date.fromisoformat(v) for v in values], dtype=object)
    dtype = pd.api.types.pandas_dtype(pandas_dtype(kind))
    if dtype.kind in "mM":
        unit = dtype.unit if isinstance(dtype, pd.DatetimeTZDtype) else np.datetime_data(dtype)[0]
        counts = np.array(values, dtype="int64").view(f"{dtype.kind}8[{unit}]")
        index = pd.Index(counts)
        if isinstance(dtype, pd.DatetimeTZDtype):
            index = index.tz_localize("UTC").tz_convert(dtype.tz)
        return index
    if dtype.kind == "f":
        return pd.Index([float(v) for v in values], dtype=dtype)
    return pd.Index(values, dtype=dtype)


def output_polars(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """A frame for ``engine="polars"``: stored index levels become ordinary named columns.

    Example
    -------
    >>> s = {"columns": [], "index": ["k"]}
    >>> output_polars(pl.DataFrame({"__index_level_0__": [1], "a": [2]}), s).columns
    ['k', 'a']
    """
    names = schema["index"]
    levels = [c for c in frame.columns if c.startswith(INDEX_PREFIX)]
    if not levels:
        return frame
    # every name unique: a level's own name when free, else index_{i} (made unique too)
    taken = {c for c in frame.columns if not c.startswith(INDEX_PREFIX)}
    renames: dict[str, str] = {}
    unnamed: list[tuple[str, int]] = []
    for col in levels:
        i = int(col[len(INDEX_PREFIX) :].rstrip("_"))
        real = names[i] if i < len(names) else None
        if isinstance(real, str) and real and real not in taken:
            renames[col] = real
            taken.add(real)
        else:
            unnamed.append((col, i))
    for col, i in unnamed:
        fallback = f"index_{i}"
        while fallback in taken:
            fallback += "_"
        renames[col] = fallback
        taken.add(fallback)
    return frame.rename(renames)


Engine = Literal["pandas", "polars"]


def to_engine(frame: pl.DataFrame, schema: Schema, engine: Engine) -> Any:
    """A frame read from the store, as ``engine`` gives it to the caller.

    Example
    -------
    >>> to_engine(pl.DataFrame({"a": [1]}), {"columns": [], "index": []}, "polars").shape
    (1, 1)
    """
    return output_polars(frame, schema) if engine == "polars" else to_pandas(frame, schema)


def empty_frame(schema: Schema, columns: list[str]) -> pl.DataFrame:
    """A zero-row polars frame with the schema's dtypes for ``columns``.

    Example
    -------
    >>> empty_frame({"columns": [{"name": "a", "dtype": {"type": "Int8"}, "since": 1}]}, ["a"])
    shape: (0, 1)
    ┌─────┐
    │ a   │
    │ --- │
    │ i8  │
    ╞═════╡
    └─────┘
    """
    dtypes = polars_schema(schema)
    return pl.DataFrame(schema={c: dtypes[c] for c in columns})


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
