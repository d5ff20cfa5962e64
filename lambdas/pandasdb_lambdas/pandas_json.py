"""JSON documents as pandas writes them (``DataFrame.to_json``), typed as ``pandas.read_json``
types them, on polars alone (the server path has no pandas).

The original backend's clients send their frame this way: the upload's ``dataframe`` field is a
*string* holding ``df.to_json(orient="records")`` (or the default ``df.to_json()``, an object
of ``{column: {row label: value}}``), and the original backend read it with
``pandas.read_json`` (``../shared/SEED-WIRE.md``). So a column gets the type read_json gives:

- integers: int64 (uint64 above it); with nulls, float64 (integers beyond 2**53 with nulls
  stay exact, as nullable int64, where read_json would round them);
- JSON numbers with a float among them (``10.0``, ``1e3``): float64. *Unlike read_json*,
  which makes whole floats int64: pandas writes a float64 column's ``10.0`` with its point,
  so the point says the column is float, and the batch after (``1.5``) is not refused as a
  change of type;
- text that is all numbers becomes numbers, as read_json converts it (``"007"`` is 7;
  ``"1.0"`` is 1.0); other text stays text, ISO dates included, unless the column's name is
  one read_json takes for a date;
- booleans: bool (with nulls they stay booleans, where pandas 3 turns them into 1.0/NaN);
- a column whose name read_json takes for a date (ending in ``_at`` or ``_time``, starting
  with ``timestamp``, or ``date``, ``datetime``, ``modified``; any case): epoch numbers all
  over one year of seconds become datetimes, in the first unit (s, ms, us, ns) whose values
  fit ``datetime64[ns]``, as read_json guesses it; ISO dates and datetimes become datetimes
  (nanoseconds when a value has more than six decimals, as ``date_unit="ns"`` writes them;
  UTC when they carry offsets; text that mixes offsets and local times stays text);
- a ``Date`` column of ``columns_keys`` always holds dates: epoch numbers, ISO dates and ISO
  datetimes, mixed in any way, as naive UTC datetimes; anything else is a 400 naming the
  value. Epoch numbers there are *milliseconds*, pandas' to_json default (so 0, negative
  numbers and days before April 1970 are read right); only when milliseconds would put a
  value outside the years 1 to 9999 are they microseconds, or failing that nanoseconds
  (``date_unit="us"`` and ``"ns"``; seconds cannot be told from milliseconds: send ms).
  Digits in text count as epoch numbers, except within a year of seconds of 1970
  (``"20240101"`` is a date without dashes, refused, not a moment of 1970-01-01).

Refused with a 400 naming the column, where read_json would keep Python objects or silently
turn ``true`` into 1: booleans with numbers or text, text with numbers (unless the text is
numbers), nested lists and objects, integers beyond uint64. Also unlike read_json: a column
that is all null stays untyped until an upload gives it a type (read_json's float64 would
refuse text later), non-ISO date text (``Jan 5 2024``) stays text, and column names stay
text.

Row labels of the columns form are the pandas index, which the original backend's answers
never carried (they are JSON records, as ``to_json(orient="records")`` writes batches): they
are dropped, rows keeping the document's order, so ``df.to_json()`` and
``df.to_json(orient="records")`` store the same rows whatever labels filtering or sorting left
(``reset_index()`` first keeps an index as a column).

A batch for a frame that exists is typed toward the types the frame recorded
(:func:`pandasdb_lambdas.payloads.fit_column`): a text column keeps its text as sent
(``"007"``), and the read_json rules above decide only for new columns.

Example
-------
>>> frame = frame_from_pandas_json('[{"created_at": 1704067200000, "n": "7"}]', ())
>>> frame.schema
Schema([('created_at', Datetime(time_unit='us', time_zone=None)), ('n', Int64)])
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection, Sequence
from typing import Any

import polars as pl

from pandasdb_core.errors import InvalidArgument, InvalidPartition

from .payloads import (
    Recorded,
    fit_column,
    from_epoch,
    loads_json,
    looks_like_json,
    mixed_kinds,
    short,
    value_kinds,
)

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_ISO = re.compile(
    r"(?P<day>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<clock>\d{2}:\d{2}(?::\d{2}(?:\.(?P<fraction>\d{1,9}))?)?)"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?)?"
)
#: read_json converts only numbers over one year of seconds (its ``min_stamp``)
MIN_STAMP = 31_536_000
#: read_json's units, tried in this order: the first whose values fit datetime64[ns] wins
_UNITS = (("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1))
#: a Date column's epoch units: milliseconds unless they leave the years 1 to 9999
_DATE_UNITS = (("ms", 10**6), ("us", 10**3), ("ns", 1))
_EPOCH = dt.datetime(1970, 1, 1)
#: 0001-01-01 and 9999-12-31T23:59:59.999999999 as epoch nanoseconds
_CALENDAR_NS = (
    (dt.datetime(1, 1, 1) - _EPOCH) // dt.timedelta(microseconds=1) * 1000,
    (dt.datetime(9999, 12, 31, 23, 59, 59, 999999) - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    + 999,
)
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
_FLOAT_EXACT = 2**53
_DATE_NAMES = ("date", "datetime", "modified")


def is_pandas_json(text: str) -> bool:
    """Whether a ``dataframe`` string is a JSON document rather than CSV text (see
    :func:`pandasdb_lambdas.payloads.looks_like_json`: a CSV header may start with a bracket too).

    Example
    -------
    >>> is_pandas_json(' [{"a": 1}]'), is_pandas_json("a,b\\n1,2\\n")
    (True, False)
    >>> is_pandas_json("[a],b\\n1,2\\n")
    False
    """
    return looks_like_json(text)


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
    text: str, date_columns: Collection[str], recorded: Recorded | None = None
) -> pl.DataFrame:
    """A JSON document of records or columns as a frame typed as the module docstring says;
    ``date_columns`` are the ``Date`` columns of ``columns_keys``, ``recorded`` the types of
    the frame the rows are added to (None: a new frame).

    Example
    -------
    >>> frame = frame_from_pandas_json('{"d": {"0": "2024-01-02", "1": 1704067200000}}', ["d"])
    >>> frame["d"].dt.date().to_list()
    [datetime.date(2024, 1, 2), datetime.date(2024, 1, 1)]
    >>> frame_from_pandas_json('[{"p": 10}]', (), {"p": pl.Float64()})["p"].to_list()
    [10.0]
    """
    context = (
        f"dataframe: text starting with {text.lstrip()[:1]!r} is read as JSON (as pandas' "
        "to_json writes it), and this"
    )
    columns = _columns(loads_json(text, context))
    recorded = recorded or {}
    return pl.DataFrame(
        [
            _column(name, values, name in date_columns, recorded.get(name))
            for name, values in columns.items()
        ]
    )


def _column(name: str, values: list[Any], date_keyed: bool, want: pl.DataType | None) -> pl.Series:
    """One column, typed toward ``want`` (the frame's recorded type) when there is one."""
    if want is None:
        return _date_keyed(name, values) if date_keyed else typed(name, values)
    if want == pl.String and all(v is None or type(v) is str for v in values):
        return pl.Series(name, values, dtype=pl.String)  # text as sent: "007" stays "007"
    if date_keyed:
        return fit_column(_date_keyed(name, values), want)
    # read_json's date rules only where the frame holds dates: a number column stays numbers
    date_like = want.is_temporal() and read_json_takes_for_a_date(name)
    return fit_column(typed(name, values, date_like=date_like), want, epoch="ms")


def _columns(document: Any) -> dict[str, list[Any]]:
    """The document's columns, missing values as None (row labels are no data: dropped)."""
    if isinstance(document, list):
        if not document:
            raise InvalidArgument("dataframe has no rows; nothing to upload")
        if not all(isinstance(row, dict) for row in document):
            raise InvalidArgument(
                "dataframe: a JSON list must hold one object per row, as "
                "to_json(orient='records') writes it"
            )
        names = list(dict.fromkeys(name for row in document for name in row))
        return {name: [row.get(name) for row in document] for name in names}
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
        return document
    if not all(isinstance(v, dict) for v in document.values()):
        raise InvalidArgument(
            "dataframe: a JSON object must map each column to an object of {row label: value}, "
            "as to_json() writes it, or to a list"
        )
    # rows are aligned by label, in the order labels first appear, as pandas does
    labels = list(dict.fromkeys(label for column in document.values() for label in column))
    if not labels:
        raise InvalidArgument("dataframe has no rows; nothing to upload")
    return {name: [col.get(label) for label in labels] for name, col in document.items()}


def typed(name: str, values: Sequence[Any], *, date_like: bool | None = None) -> pl.Series:
    """One column as ``pandas.read_json`` would type it (see the module docstring);
    ``date_like`` defaults to whether read_json takes the name for a date.

    Example
    -------
    >>> typed("n", [1.0, 2.0]).dtype, typed("n", [1, None]).dtype, typed("z", ["007"]).to_list()
    (Float64, Float64, [7])
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
        return _numbers(name, values)
    converted = [_number(v) if isinstance(v, str) else v for v in values]
    if any(isinstance(v, str) for v in converted):
        if len(kinds) > 1:
            raise mixed_kinds(name, values, kinds, "strings")
        return pl.Series(name, values, dtype=pl.String)
    return _numbers(name, converted)


def _integer(text: str) -> int | None:
    """The integer ``text`` spells if it is one of at most 20 digits (every 64-bit integer;
    longer ones cannot be stored as numbers, and ``int()`` refuses thousands of digits)."""
    if not _INTEGER.fullmatch(text):
        return None
    body = text.strip()
    sign = "-" if body[:1] == "-" else ""
    digits = body.lstrip("+-").lstrip("0") or "0"
    return int(sign + digits) if len(digits) <= 20 else None


def _number(text: str) -> int | float | str:
    """``text`` as the number it spells (integers beyond int64 stay text, exact), or as is."""
    if _INTEGER.fullmatch(text):
        value = _integer(text)
        return value if value is not None and _INT64[0] <= value <= _INT64[1] else text
    return float(text) if _NUMBER.fullmatch(text) else text


def _numbers(name: str, values: Sequence[Any]) -> pl.Series:
    """A column of JSON numbers (and nulls) typed as read_json types it, except that a float
    among them makes the column float (see the module docstring)."""
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
    return pl.Series(name, values, dtype=pl.Float64)


def _epoch_unit(numbers: Sequence[int | float]) -> tuple[str, int] | None:
    """read_json's unit for epoch ``numbers``: the first whose values fit datetime64[ns]."""
    top = max(abs(v) for v in numbers)
    return next(((u, f) for u, f in _UNITS if top * f <= _INT64[1]), None)


def _date_unit(numbers: Sequence[int | float]) -> str | None:
    """A Date column's unit for epoch ``numbers``: ms, unless ms puts one outside the years 1
    to 9999, then us, then ns (see the module docstring); None if none fits them all."""
    low, high = min(numbers), max(numbers)
    for unit, factor in _DATE_UNITS:
        floor, top = _CALENDAR_NS
        if unit == "ns":  # nanoseconds are int64 ticks: datetime64[ns]'s 1677 to 2262
            floor, top = max(floor, _INT64[0] + 1), min(top, _INT64[1])
        if floor <= low * factor and high * factor <= top:
            return unit
    return None


def _iso(name: str, texts: Sequence[str | None]) -> tuple[pl.Series, bool] | str:
    """ISO dates and datetimes as naive UTC datetimes (nanoseconds when a text has more than
    six decimals, else microseconds), and whether any carried an offset; or the first text
    that is not one. Offsets are taken off as whole ticks, so an instant that leaves the
    years 1 to 9999 in UTC (9999-12-31T23:00-05:00) is one more datetime, not an overflow."""
    ticks: dict[str, int] = {}
    aware = fine = False
    for text in dict.fromkeys(t for t in texts if t is not None):
        found = _ISO.fullmatch(text.strip())
        nanos = _epoch_nanos(found) if found else None
        if nanos is None:
            return text
        ticks[text] = nanos
        fine = fine or len(found["fraction"] or "") > 6  # type: ignore[index]
        aware = aware or found["zone"] is not None  # type: ignore[index]
    outside = [t for t in ticks if not _INT64[0] < ticks[t] <= _INT64[1]]
    if fine and outside:
        if any(n % 1000 for n in ticks.values()):
            return outside[0]  # nanoseconds outside the years 1677 to 2262 of datetime64[ns]
        fine = False  # nine decimals, all zero past the microsecond
    per = 1 if fine else 1000
    values = [None if t is None else ticks[t] // per for t in texts]
    return pl.Series(name, values, dtype=pl.Int64).cast(pl.Datetime("ns" if fine else "us")), aware


def _epoch_nanos(found: re.Match[str]) -> int | None:
    """An :data:`_ISO` match as UTC nanoseconds since the epoch, or None if it names no
    moment (a month 13, a day 32, an offset of 25 hours)."""
    clock = (found["clock"] or "00:00").split(".", 1)[0]
    try:
        naive = dt.datetime.fromisoformat(f"{found['day']}T{clock}")
    except ValueError:
        return None
    offset = _offset_minutes(found["zone"]) if found["zone"] else 0
    if offset is None:
        return None
    micros = (naive - _EPOCH) // dt.timedelta(microseconds=1) - offset * 60_000_000
    return micros * 1000 + int((found["fraction"] or "").ljust(9, "0"))


def _offset_minutes(zone: str) -> int | None:
    """A ``Z``, ``+hh:mm`` or ``+hhmm`` offset in minutes east of UTC, or None if it is no
    offset (hours past 23, minutes past 59)."""
    if zone == "Z":
        return 0
    hours, minutes = int(zone[1:3]), int(zone[-2:])
    if hours > 23 or minutes > 59:
        return None
    return (hours * 60 + minutes) * (-1 if zone[0] == "-" else 1)


def _read_json_dates(name: str, values: Sequence[Any], kinds: dict[str, int]) -> pl.Series | None:
    """A date-named column as read_json converts it, or None when it would not."""
    nulls = any(v is None for v in values)
    if not nulls and all(type(v) is int or isinstance(v, str) for v in values):
        whole = [v if type(v) is int else _integer(v) for v in values]
        if all(v is not None for v in whole):
            values = whole  # read_json first tries the column as int64
            kinds = {"integers": 0}
    if kinds and set(kinds) <= {"integers", "floats"}:
        numbers = [v for v in values if v is not None]
        if not all(math.isfinite(v) for v in numbers):
            return None
        unit = _epoch_unit(numbers)
        if unit is None or not all(v > MIN_STAMP for v in numbers):
            return None
        return from_epoch(name, values, unit[0])
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
    """A Date column's value as an epoch number or as text. Digits in text are epoch numbers
    too, as read_json casts text to int64 first, but not within a year of seconds of 1970:
    text such as ``"20240101"`` is far likelier a date written without dashes than
    milliseconds of 1970-01-01, so it stays text (and is refused as no ISO date)."""
    if isinstance(value, str):
        number = _integer(value)
        if number is not None and abs(number) > MIN_STAMP:
            return number, None
        return None, value
    return value, None


def _date_keyed(name: str, values: Sequence[Any]) -> pl.Series:
    """A ``Date`` column of ``columns_keys``: epoch numbers (milliseconds, see
    :func:`_date_unit`), ISO dates and ISO datetimes, in any mix, as naive UTC datetimes;
    anything else is :class:`InvalidPartition`."""
    kinds = value_kinds(name, values)
    if "booleans" in kinds:
        raise InvalidPartition(
            f"column {name!r} is a Date partition but holds booleans (row {kinds['booleans']})"
        )
    epochs = [_epoch_or_text(v)[0] for v in values]
    texts = [_epoch_or_text(v)[1] for v in values]
    parts: list[pl.Series] = []
    present = [v for v in epochs if v is not None]
    if present:
        odd = next((v for v in present if isinstance(v, float) and not math.isfinite(v)), None)
        unit = None if odd is not None else _date_unit(present)
        if unit is None:
            shown = odd if odd is not None else max(present, key=abs)
            raise InvalidPartition(
                f"column {name!r} is a Date partition but holds the number {short(shown)}, "
                "which is no epoch time in milliseconds (nor micro- or nanoseconds) within "
                "the years 1 to 9999; send epoch milliseconds, as pandas' to_json writes "
                "them, or ISO dates"
            )
        parts.append(from_epoch(name, epochs, unit))
    if any(t is not None for t in texts):
        found = _iso(name, texts)
        if isinstance(found, str):
            raise InvalidPartition(
                f"column {name!r} is a Date partition but holds {short(found)}, which is not "
                "an ISO date or datetime (e.g. 2024-01-31 or 2024-01-31T09:30:00Z) nor "
                "epoch milliseconds"
            )
        parts.append(found[0])
    unit = "ns" if any(p.dtype == pl.Datetime("ns") for p in parts) else "us"
    if not parts:  # all null: the Date layout says so
        return pl.Series(name, values, dtype=pl.Datetime(unit))
    return pl.select(pl.coalesce([p.cast(pl.Datetime(unit)) for p in parts])).to_series()
