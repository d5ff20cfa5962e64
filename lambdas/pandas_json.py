"""JSON documents as pandas writes them (``DataFrame.to_json``), typed as ``pandas.read_json``
types them, on polars alone (the server path has no pandas).

The original backend's clients send their frame this way: the upload's ``dataframe`` field is a
*string* holding ``df.to_json(orient="records")`` (or the default ``df.to_json()``, an object
of ``{column: {row label: value}}``), and the original backend read it with
``pandas.read_json`` (``../shared/SEED-WIRE.md``). So a column gets the type read_json gives:

- integers: int64 (uint64 above it); with nulls, float64 (integers beyond 2**53 with nulls
  stay exact, as nullable int64, where read_json would round them);
- JSON numbers that are all whole, without nulls: int64 (``[1, 2.0]``); else float64;
- text that is all numbers becomes numbers, as read_json converts it (``"007"`` is 7;
  ``"1.0"`` is 1.0); other text stays text, ISO dates included, unless the column's name is
  one read_json takes for a date;
- booleans: bool (with nulls they stay booleans, where pandas 3 turns them into 1.0/NaN);
- a column whose name read_json takes for a date (ending in ``_at`` or ``_time``, starting
  with ``timestamp``, or ``date``, ``datetime``, ``modified``; any case): epoch numbers all
  over one year of seconds become datetimes, in the first unit (s, ms, us, ns) whose values
  fit ``datetime64[ns]``, as read_json guesses it; ISO dates and datetimes become datetimes
  (UTC when they carry offsets; text that mixes offsets and local times stays text);
- a ``Date`` column of ``columns_keys`` always holds dates: epoch numbers (unit guessed as
  above; pandas writes milliseconds), ISO dates and ISO datetimes, mixed in any way, as naive
  UTC datetimes; anything else is a 400 naming the value.

Refused with a 400 naming the column, where read_json would keep Python objects or silently
turn ``true`` into 1: booleans with numbers or text, text with numbers (unless the text is
numbers), nested lists and objects, integers beyond uint64. Also unlike read_json: a column
that is all null stays untyped until an upload gives it a type (read_json's float64 would
refuse text later), non-ISO date text (``Jan 5 2024``) stays text, and column names stay
text. Row labels of the columns form other than ``"0"``, ``"1"``... are kept as the frame's
index, typed as read_json types them.

Example
-------
>>> frame = frame_from_pandas_json('[{"created_at": 1704067200000, "n": "7"}]', ())
>>> frame.schema
Schema([('created_at', Datetime(time_unit='us', time_zone=None)), ('n', Int64)])
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Collection, Sequence
from typing import Any

import polars as pl

from pandasdb_core.conversion import INDEX_PREFIX, PreparedFrame, prepare_from_wire
from pandasdb_core.errors import InvalidArgument, InvalidPartition

from .payloads import mixed_kinds, value_kinds

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?")
#: read_json converts only numbers over one year of seconds (its ``min_stamp``)
MIN_STAMP = 31_536_000
#: read_json's units, tried in this order: the first whose values fit datetime64[ns] wins
_UNITS = (("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1))
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
_FLOAT_EXACT = 2**53
_DATE_NAMES = ("date", "datetime", "modified")


def is_pandas_json(text: str) -> bool:
    """Whether a ``dataframe`` string is a JSON document (it starts with ``[`` or ``{``)
    rather than CSV text.

    Example
    -------
    >>> is_pandas_json(' [{"a": 1}]'), is_pandas_json("a,b\\n1,2\\n")
    (True, False)
    """
    return text.lstrip()[:1] in ("[", "{")


def read_json_takes_for_a_date(name: str) -> bool:
    """Whether ``pandas.read_json`` tries to read column ``name`` as dates.

    Example
    -------
    >>> read_json_takes_for_a_date("Created_At"), read_json_takes_for_a_date("day")
    (True, False)
    """
    lower = name.lower()
    return lower.endswith(("_at", "_time")) or lower.startswith("timestamp") or lower in _DATE_NAMES


def frame_from_pandas_json(
    text: str, date_columns: Collection[str]
) -> pl.DataFrame | PreparedFrame:
    """A JSON document of records or columns as a frame typed as the module docstring says;
    ``date_columns`` are the ``Date`` columns of ``columns_keys``.

    Example
    -------
    >>> frame = frame_from_pandas_json('{"d": {"0": "2024-01-02", "1": 1704067200000}}', ["d"])
    >>> frame["d"].dt.date().to_list()
    [datetime.date(2024, 1, 2), datetime.date(2024, 1, 1)]
    """
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidArgument(
            f"dataframe: text starting with {text.lstrip()[:1]!r} is read as JSON (as pandas' "
            f"to_json writes it), and this is not valid JSON: {reason}"
        ) from None
    columns, labels = _columns(document)
    frame = pl.DataFrame(
        [
            _date_keyed(name, values) if name in date_columns else typed(name, values)
            for name, values in columns.items()
        ]
    )
    if labels is None:
        return frame
    level = f"{INDEX_PREFIX}0__"
    index = typed(level, labels, date_like=True)
    return prepare_from_wire(frame.insert_column(0, index), {"columns": [], "index": [None]})


def _columns(document: Any) -> tuple[dict[str, list[Any]], list[str] | None]:
    """The document's columns (missing values as None) and its row labels (None: 0..n-1)."""
    if isinstance(document, list):
        if not document:
            raise InvalidArgument("dataframe has no rows; nothing to upload")
        if not all(isinstance(row, dict) for row in document):
            raise InvalidArgument(
                "dataframe: a JSON list must hold one object per row, as "
                "to_json(orient='records') writes it"
            )
        names = list(dict.fromkeys(name for row in document for name in row))
        return {name: [row.get(name) for row in document] for name in names}, None
    if not isinstance(document, dict) or not document:
        raise InvalidArgument(
            "dataframe: the JSON must be a list of rows (to_json(orient='records')) or an "
            "object of columns (to_json())"
        )
    if set(document) in ({"columns", "data"}, {"columns", "index", "data"}, {"schema", "data"}):
        raise InvalidArgument(
            "dataframe: the 'split' and 'table' orients are not read; send "
            "to_json(orient='records') or to_json()"
        )
    if all(isinstance(v, list) for v in document.values()):
        lengths = sorted({len(v) for v in document.values()})
        if len(lengths) > 1:
            raise InvalidArgument(f"dataframe: the JSON columns have different lengths {lengths}")
        return document, None
    if not all(isinstance(v, dict) for v in document.values()):
        raise InvalidArgument(
            "dataframe: a JSON object must map each column to an object of {row label: value}, "
            "as to_json() writes it, or to a list"
        )
    # rows are aligned by label, in the order labels first appear, as pandas does
    labels = list(dict.fromkeys(label for column in document.values() for label in column))
    if not labels:
        raise InvalidArgument("dataframe has no rows; nothing to upload")
    columns = {name: [col.get(label) for label in labels] for name, col in document.items()}
    default = labels == [str(i) for i in range(len(labels))]
    return columns, None if default else labels


def typed(name: str, values: Sequence[Any], *, date_like: bool | None = None) -> pl.Series:
    """One column as ``pandas.read_json`` would type it (see the module docstring);
    ``date_like`` defaults to whether read_json takes the name for a date.

    Example
    -------
    >>> typed("n", [1.0, 2.0]).dtype, typed("n", [1, None]).dtype, typed("z", ["007"]).to_list()
    (Int64, Float64, [7])
    """
    kinds = value_kinds(name, values)
    if read_json_takes_for_a_date(name) if date_like is None else date_like:
        moments = _read_json_dates(name, values, kinds)
        if moments is not None:
            return moments
    if not kinds:
        return pl.Series(name, values, dtype=pl.Null)
    if "booleans" in kinds:
        if len(kinds) > 1:
            raise mixed_kinds(name, values, kinds, "booleans")
        return pl.Series(name, values, dtype=pl.Boolean)
    if "strings" not in kinds:
        return _numbers(name, values, castable=True)
    converted = [_number(v) if isinstance(v, str) else v for v in values]
    if any(isinstance(v, str) for v in converted):
        if len(kinds) > 1:
            raise mixed_kinds(name, values, kinds, "strings")
        return pl.Series(name, values, dtype=pl.String)
    # read_json casts the *text* to int64 to decide: "1" may become 1, "1.0" stays 1.0
    castable = all(not isinstance(v, str) or _INTEGER.fullmatch(v) for v in values)
    return _numbers(name, converted, castable=castable)


def _number(text: str) -> int | float | str:
    """``text`` as the number it spells (integers beyond int64 stay text, exact), or as is."""
    if _INTEGER.fullmatch(text):
        value = int(text)
        return value if _INT64[0] <= value <= _INT64[1] else text
    return float(text) if _NUMBER.fullmatch(text) else text


def _numbers(name: str, values: Sequence[Any], *, castable: bool) -> pl.Series:
    """A column of JSON numbers (and nulls) typed as read_json types it."""
    present = [v for v in values if v is not None]
    nulls = len(present) < len(values)
    ints = [v for v in present if type(v) is int]
    low, high = (min(ints), max(ints)) if ints else (0, 0)
    if len(ints) == len(present):
        if _INT64[0] <= low and high <= _INT64[1]:
            exact = not nulls or max(-low, high) > _FLOAT_EXACT
            return pl.Series(name, values, dtype=pl.Int64 if exact else pl.Float64)
        if low >= 0 and high <= _UINT64_MAX and not nulls:
            return pl.Series(name, values, dtype=pl.UInt64)
        raise InvalidArgument(
            f"dataframe: column {name!r} holds integers beyond the int64 and uint64 ranges"
            f"{' beside nulls' if nulls else ''}; send them as strings"
        )
    if max(-low, high) > _FLOAT_EXACT:
        raise InvalidArgument(
            f"dataframe: column {name!r} mixes floats with integers beyond 2**53, which a "
            "float64 cannot hold exactly; send them as strings"
        )
    whole = all(
        isinstance(v, int) or (v.is_integer() and _INT64[0] <= v <= _INT64[1]) for v in present
    )
    if castable and whole and not nulls:
        return pl.Series(name, [int(v) for v in values], dtype=pl.Int64)
    return pl.Series(name, values, dtype=pl.Float64)


def _epoch_unit(numbers: Sequence[int | float]) -> tuple[str, int] | None:
    """read_json's unit for epoch ``numbers``: the first whose values fit datetime64[ns]."""
    top = max(abs(v) for v in numbers)
    return next(((u, f) for u, f in _UNITS if top * f <= _INT64[1]), None)


def _from_epoch(name: str, values: Sequence[Any], unit: str, factor: int) -> pl.Series:
    """Epoch numbers (and nulls) in ``unit`` as datetimes: microseconds, or nanoseconds when
    the unit or a fraction needs them."""
    fine = unit == "ns" or any(isinstance(v, float) and not v.is_integer() for v in values)
    ns = [None if v is None else _ticks(v, factor) for v in values]
    moments = pl.Series(name, ns, dtype=pl.Int64).cast(pl.Datetime("ns"))
    return moments if fine else moments.cast(pl.Datetime("us"))


def _ticks(value: int | float, factor: int) -> int:
    """``value * factor`` exactly for integers, and for floats without the float64 rounding
    of the product (1704067200000.5 ms is 500 us past the second, not 499.968)."""
    if isinstance(value, int):
        return value * factor
    fraction, whole = math.modf(value)
    return int(whole) * factor + round(fraction * factor)


def _iso(name: str, texts: Sequence[str | None]) -> tuple[pl.Series, bool] | str:
    """ISO dates and datetimes as naive UTC datetimes, and whether any carried an offset; or
    the first text that is not one."""
    parsed: dict[str, dt.datetime] = {}
    aware = False
    for text in dict.fromkeys(t for t in texts if t is not None):
        moment = None
        if _ISO.fullmatch(text.strip()):
            try:
                moment = dt.datetime.fromisoformat(text.strip())
            except ValueError:  # a month 13, a day 32...
                moment = None
        if moment is None:
            return text
        if moment.tzinfo is not None:
            aware = True
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        parsed[text] = moment
    values = [None if t is None else parsed[t] for t in texts]
    return pl.Series(name, values, dtype=pl.Datetime("us")), aware


def _read_json_dates(name: str, values: Sequence[Any], kinds: dict[str, int]) -> pl.Series | None:
    """A date-named column as read_json converts it, or None when it would not."""
    nulls = any(v is None for v in values)
    if not nulls and all(
        type(v) is int or (isinstance(v, str) and _INTEGER.fullmatch(v)) for v in values
    ):
        values = [int(v) for v in values]  # read_json first tries the column as int64
        kinds = {"integers": 0}
    if kinds and set(kinds) <= {"integers", "floats"}:
        numbers = [v for v in values if v is not None]
        unit = _epoch_unit(numbers)
        if unit is None or not all(v > MIN_STAMP for v in numbers):
            return None
        return _from_epoch(name, values, *unit)
    if set(kinds) == {"strings"}:
        found = _iso(name, values)
        if isinstance(found, str):
            return None
        moments, aware = found
        if aware and len({_has_offset(v) for v in values if v is not None}) > 1:
            return None  # offsets beside local times: read_json keeps the text
        return moments.dt.replace_time_zone("UTC") if aware else moments
    return None


def _has_offset(text: str) -> bool:
    return bool(re.search(r"(Z|[+-]\d{2}:?\d{2})\s*$", text))


def _epoch_or_text(value: Any) -> tuple[int | float | None, str | None]:
    if isinstance(value, str):
        return (int(value), None) if _INTEGER.fullmatch(value) else (None, value)
    return value, None


def _date_keyed(name: str, values: Sequence[Any]) -> pl.Series:
    """A ``Date`` column of ``columns_keys``: epoch numbers, ISO dates and ISO datetimes, in
    any mix, as naive UTC datetimes; anything else is :class:`InvalidPartition`."""
    kinds = value_kinds(name, values)
    if "booleans" in kinds:
        raise InvalidPartition(
            f"column {name!r} is a Date partition but holds booleans (row {kinds['booleans']})"
        )
    # digits in text are epoch numbers too, as read_json casts text to int64 first
    epochs = [_epoch_or_text(v)[0] for v in values]
    texts = [_epoch_or_text(v)[1] for v in values]
    parts: list[pl.Series] = []
    present = [v for v in epochs if v is not None]
    if present:
        unit = _epoch_unit(present)
        small = next((v for v in present if v <= MIN_STAMP), None)
        if small is not None or unit is None:
            raise InvalidPartition(
                f"column {name!r} is a Date partition but holds the number "
                f"{max(present) if small is None else small!r}, which is no epoch time "
                "(seconds to nanoseconds since 1970, after 1971); send epoch milliseconds, "
                "as pandas' to_json writes them, or ISO dates"
            )
        parts.append(_from_epoch(name, epochs, *unit))
    if any(t is not None for t in texts):
        found = _iso(name, texts)
        if isinstance(found, str):
            raise InvalidPartition(
                f"column {name!r} is a Date partition but holds {found[:60]!r}, which is not "
                "an ISO date or datetime (e.g. 2024-01-31 or 2024-01-31T09:30:00Z) nor "
                "epoch milliseconds"
            )
        parts.append(found[0])
    unit = "ns" if any(p.dtype == pl.Datetime("ns") for p in parts) else "us"
    if not parts:  # all null: the Date layout says so
        return pl.Series(name, values, dtype=pl.Datetime(unit))
    return pl.select(pl.coalesce([p.cast(pl.Datetime(unit)) for p in parts])).to_series()
