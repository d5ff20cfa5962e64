"""Frames from users' bytes: CSV text typed by every row, parquet read behind a guard.

Used by the HTTP API and the CLI, on polars alone (the server path has no pandas). Whatever
the bytes, the only error that comes out is :class:`InvalidArgument`: polars raises many
exception types, and on some inputs its Rust side panics (``PanicException``, a
``BaseException``), which would otherwise close the connection.

CSV columns are typed from all their values, never from the first rows only: integers
(int64, or uint64 beyond it), floats, booleans (``true``/``false``), ISO 8601 dates and
datetimes (a ``Z`` or ``+hh:mm`` offset makes them UTC; nanoseconds when a value has more
than six decimals), else text. Integers too long for 64 bits stay text, exactly as written,
rather than becoming rounded floats.

A column the frame has already recorded is read *as its recorded type* instead
(:func:`text_as`, given ``recorded``): ``007`` stays the text ``007`` in a String column,
whole seconds fill a nanosecond column, and a value the type cannot hold exactly (text in
an integer column, nanoseconds in a microsecond column) is refused, naming the column, the
value and its row. The server's CSV bodies and the streamed CSV files of
:mod:`pandasdb_core.streaming` are typed by these same functions.

Example
-------
>>> frame = read_csv("n,when\\n1,2024-01-01T10:00:00.123456789\\n2,\\n")
>>> frame.schema
Schema([('n', Int64), ('when', Datetime(time_unit='ns', time_zone=None))])
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import polars as pl

from .errors import InvalidArgument, SchemaMismatch

#: what polars' Rust side raises when it panics (a BaseException, not an Exception)
PanicException = pl.exceptions.PanicException
_INTEGER = r"^\s*[+-]?\d+\s*$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
_SUB_MICROSECOND = r"\.\d{7,}"
#: datetime64[ns] spans 1677-09-21 to 2262-04-11; polars wraps around outside it
_NS_RANGE = (dt.datetime(1677, 9, 22), dt.datetime(2262, 4, 10))
_PANIC_REASON = re.compile(r'ErrString\("(.*?)(?:\\n|"\))')
_LONE_CR = re.compile(r'("(?:[^"]|"")*")|\r')


def read_csv(
    data: str | bytes,
    field: str = "dataframe",
    recorded: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Parse CSV (header row first) into a frame typed by every row; the columns of
    ``recorded`` (a frame's recorded polars types) are read as those types (:func:`text_as`).

    Line endings may be ``\\n``, ``\\r\\n`` or ``\\r`` alone (old Mac exports). Raises
    :class:`InvalidArgument` (its message starts with ``field``) for anything unreadable, and
    :class:`SchemaMismatch` for a value its recorded type cannot hold.

    Example
    -------
    >>> read_csv("a\\n" + "1\\n" * 150 + "x\\n")["a"].dtype
    String
    >>> read_csv("code\\n007\\n", recorded={"code": pl.String()})["code"].to_list()
    ['007']
    """
    text = _text(data, field)
    if not text.strip():
        raise InvalidArgument(f"{field}: the CSV is empty")
    if "\r" in text and "\n" not in text:
        # a CR alone ends a line, except inside a quoted value
        text = _LONE_CR.sub(lambda m: m.group(1) or "\n", text)
    header, body = _split_header(text, field)
    dupes = sorted(name for name, count in Counter(header).items() if count > 1)
    if dupes:
        raise InvalidArgument(f"{field}: duplicated column names {dupes[:20]!r}")
    if not header:
        raise InvalidArgument(f"{field}: the CSV's first line, its header, is empty")
    try:
        # polars reads the rows under a header of our own: it keeps the doubled quotes of a
        # quoted name ("a""b") and swallows every row after a name with a stray quote (a"b)
        ours = ",".join(f"c{i}" for i in range(len(header)))
        rows = without_blank_lines(f"{ours}\n{body}".encode(), len(header))
        frame = pl.read_csv(io.BytesIO(rows), infer_schema=False)
        frame.columns = header
    except (Exception, PanicException) as exc:
        raise InvalidArgument(f"{field}: the CSV could not be parsed: {first_line(exc)}") from None
    try:
        return type_columns(frame, recorded, field)
    except SchemaMismatch:
        raise
    except (Exception, PanicException) as exc:
        raise InvalidArgument(f"{field}: the CSV could not be parsed: {first_line(exc)}") from None


def without_blank_lines(data: bytes, width: int) -> bytes:
    """CSV rows without the blank lines between them, for a CSV of ``width`` columns.

    Polars reads a blank line as a row of nulls (an integer column then turns nullable).
    No CSV writer writes a row of several columns as a blank line (polars writes ``,``), so
    such lines are not rows (as pandas reads them); in a CSV of one column, a blank line is
    how polars writes a null, and stays one. Blank lines inside quoted values are kept.

    Example
    -------
    >>> without_blank_lines(b'a,b\\n1,2\\n\\n3,"x\\n\\ny"\\r\\n\\r\\n', 2)
    b'a,b\\n1,2\\n3,"x\\n\\ny"\\r\\n'
    """
    if width <= 1 or not (
        b"\n\n" in data or b"\n\r\n" in data or data.startswith((b"\n", b"\r\n"))
    ):
        return data
    lines = data.split(b"\n")
    kept = []
    quoted = False
    for line in lines[:-1]:  # the last is what follows the last LF: not a line
        if quoted or line not in (b"", b"\r"):
            kept.append(line)
        quoted ^= line.count(b'"') % 2 == 1
    kept.append(lines[-1])
    return b"\n".join(kept)


def _split_header(text: str, field: str) -> tuple[list[str], str]:
    """The header's names, parsed by ``csv``, and the text after the header row."""
    consumed = 0

    def lines():  # the lines csv reads for the header, counted to find where it ends
        nonlocal consumed
        for line in io.StringIO(text, newline=""):
            consumed += len(line)
            yield line

    try:
        header = next(csv.reader(lines()), [])
    except csv.Error as exc:
        raise InvalidArgument(f"{field}: the CSV header could not be parsed: {exc}") from None
    return header, text[consumed:]


def read_parquet(data: bytes, field: str = "dataframe") -> pl.DataFrame:
    """Read a parquet body; anything polars cannot read is :class:`InvalidArgument`.

    Example
    -------
    >>> read_parquet(b"PAR1 not really")
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.InvalidArgument: dataframe: the parquet could not be read: ...
    """
    try:
        return pl.read_parquet(io.BytesIO(data))
    except (Exception, PanicException) as exc:
        raise InvalidArgument(
            f"{field}: the parquet could not be read: {first_line(exc)}"
        ) from None


def infer_column(series: pl.Series) -> pl.Series:
    """A text column as the type all its values share (see the module docstring).

    Example
    -------
    >>> infer_column(pl.Series("a", ["1", None, "2.5"])).to_list()
    [1.0, None, 2.5]
    """
    values = series.drop_nulls()
    if values.len() == 0:
        return series
    if values.str.contains(_INTEGER).all():
        for dtype in (pl.Int64, pl.UInt64):
            typed = series.str.strip_chars().cast(dtype, strict=False)
            if typed.null_count() == series.null_count():
                return typed
        return series  # beyond 64 bits: the text is the exact value
    floats = series.cast(pl.Float64, strict=False)
    if floats.null_count() == series.null_count():
        return floats
    lowered = values.str.to_lowercase()
    if lowered.is_in(["true", "false"]).all():
        return series.str.to_lowercase() == "true"
    return parse_temporal(series)


def parse_temporal(series: pl.Series) -> pl.Series:
    """A text column of ISO 8601 dates or datetimes as Date or Datetime, else unchanged.

    Example
    -------
    >>> parse_temporal(pl.Series("t", ["2024-01-01T00:00:00+05:30"])).dtype
    Datetime(time_unit='us', time_zone='UTC')
    """
    values = series.drop_nulls()
    if values.len() == 0:
        return series
    if values.str.contains(_DATE).all():
        dates = series.str.to_date("%Y-%m-%d", strict=False)
        return dates if dates.null_count() == series.null_count() else series
    if not values.str.contains(_DATETIME).all():
        return series
    try:
        moments = series.str.to_datetime(strict=False, time_unit="us")
    except (Exception, PanicException):  # no format fits the first value
        return series
    if moments.null_count() != series.null_count():
        return series  # mixed forms, or offsets beside local times: keep the text
    if values.str.contains(_SUB_MICROSECOND).any():
        naive = moments.dt.replace_time_zone(None)
        low, high = _NS_RANGE
        if not naive.is_between(low, high).all():
            return series  # nanoseconds outside datetime64[ns]'s span: keep the text
        return series.str.to_datetime(strict=False, time_unit="ns")
    return moments


def type_columns(
    text: pl.DataFrame,
    recorded: Mapping[str, pl.DataType] | None = None,
    source: str = "dataframe",
    first_row: int = 1,
) -> pl.DataFrame:
    """A frame of CSV text columns typed: each column of ``recorded`` as its recorded type
    (:func:`text_as`), the others by their values (:func:`infer_column`). ``first_row`` is
    the number of the frame's first row in the file (1: the row after the header), for
    messages.

    Example
    -------
    >>> text = pl.DataFrame({"a": ["1", "2"], "b": ["7", None]})
    >>> type_columns(text, {"b": pl.Float64()}).schema
    Schema([('a', Int64), ('b', Float64)])
    """
    recorded = recorded or {}
    return text.with_columns(
        text_as(text[name], recorded[name], source, first_row)
        if name in recorded
        else infer_column(text[name])
        for name in text.columns
    )


def text_as(
    text: pl.Series,
    dtype: pl.DataType,
    source: str = "dataframe",
    first_row: int = 1,
    why: str = "the type the frame recorded for it",
) -> pl.Series:
    """CSV text (a String column) as ``dtype``, exactly, or :class:`SchemaMismatch` naming
    the column, the first value that does not fit and its row (``first_row`` is the first
    value's). Empty values are nulls, which fit any type.

    - text stays as written (``007``); booleans are ``true``/``false`` (any case);
    - integers are whole numbers in the type's range (``7`` or ``7.0``), floats any number;
    - dates are ISO dates; datetimes ISO dates or datetimes, a ``Z`` or ``+hh:mm`` offset
      converted to the column's zone (naive values taken as UTC in a zoned column, and
      zoned ones as UTC in a naive column); digits finer than the column's unit, or a time
      outside what nanoseconds span (1677 to 2262), are refused;
    - a column recorded without a type (all null) is typed by its values; other types
      (decimals, durations, categoricals...) as polars converts the text, when it does.

    Example
    -------
    >>> text_as(pl.Series("t", ["2024-01-01", "2024-01-01 10:00:00.5"]), pl.Datetime("ns"))
    shape: (2,)
    Series: 't' [datetime[ns]]
    [
    \t2024-01-01 00:00:00
    \t2024-01-01 10:00:00.500
    ]
    >>> text_as(pl.Series("n", ["1", "x"]), pl.Int64(), "f.csv", first_row=10)
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.SchemaMismatch: dataframe: f.csv, row 11: column 'n' holds 'x', ...
    """
    if text.dtype != pl.String:
        text = text.cast(pl.String)
    if dtype == pl.String:
        return text
    if dtype == pl.Null or text.null_count() == text.len():
        return infer_column(text) if dtype == pl.Null else text.cast(dtype)
    stripped = text.str.strip_chars()

    def refuse(mask: pl.Series, what: str) -> SchemaMismatch:
        row = int(mask.fill_null(False).arg_true()[0])
        value = text[row]
        shown = value if len(value) <= 60 else value[:57] + "..."
        return SchemaMismatch(
            f"dataframe: {source}, row {first_row + row:,}: column {text.name!r} holds "
            f"{shown!r}, which {what} ({dtype}, {why}); nothing was written"
        )

    present = text.is_not_null()
    if dtype.is_integer():
        whole = stripped.str.contains(_WHOLE)
        if not whole.fill_null(True).all():
            raise refuse(present & ~whole, "is not a whole number")
        typed = stripped.str.replace(r"\.0*$", "").cast(dtype, strict=False)
        if typed.null_count() != text.null_count():
            raise refuse(present & typed.is_null(), f"is outside {dtype}'s range")
        return typed
    if dtype.is_float():
        typed = stripped.cast(dtype, strict=False)
        if typed.null_count() != text.null_count():
            raise refuse(present & typed.is_null(), "is not a number")
        return typed
    if dtype == pl.Boolean:
        lowered = stripped.str.to_lowercase()
        known = lowered.is_in(["true", "false"])
        if not known.fill_null(True).all():
            raise refuse(present & ~known, "is not true or false")
        return lowered == "true"
    if dtype == pl.Date:
        days = stripped.str.to_date("%Y-%m-%d", strict=False)
        # an empty value (null) fits: null & False is False, so nulls are kept out first
        bad = present & ~(stripped.str.contains(_DATE).fill_null(False) & days.is_not_null())
        if bad.any():
            raise refuse(bad, "is not an ISO date (YYYY-MM-DD)")
        return days
    if isinstance(dtype, pl.Datetime):
        return _text_to_datetime(stripped, dtype, present, refuse)
    if dtype == pl.Time:
        # polars casts no text to times (it raised InvalidOperationError)
        times = stripped.str.to_time("%H:%M:%S%.f", strict=False)
        bad = present & ~(stripped.str.contains(_TIME).fill_null(False) & times.is_not_null())
        if bad.any():
            raise refuse(bad, "is not a time of day (HH:MM:SS)")
        return times
    typed = text.cast(dtype, strict=False)
    if typed.null_count() != text.null_count():
        raise refuse(present & typed.is_null(), "does not convert")
    if isinstance(dtype, pl.Decimal):
        # the cast rounds digits past the scale (2.255 into 2 places is 2.26): refuse them
        places = stripped.str.extract(r"^[+-]?\d*\.(\d*?)0*$").str.len_chars().fill_null(0)
        finer = present & (places > (dtype.scale or 0))
        if finer.any():
            raise refuse(finer, f"has more than the column's {dtype.scale} decimal places")
    return typed


#: a time of day as polars and pandas write it: 03:04:05, with up to nine digits after
_TIME = r"^\d{2}:\d{2}:\d{2}(\.\d{1,9})?$"
#: a whole number as CSV writes it (pandas writes the integers of a float column as 7.0)
_WHOLE = r"^[+-]?\d+(\.0*)?$"
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2})?$"
#: the ticks of a second per datetime unit
_TICKS = {"ms": 10**3, "us": 10**6, "ns": 10**9}


def _text_to_datetime(
    stripped: pl.Series, dtype: pl.Datetime, present: pl.Series, refuse: Any
) -> pl.Series:
    """ISO text as ``dtype`` (see :func:`text_as`)."""
    fast = _plain_datetimes(stripped, dtype)
    if fast is not None:
        return fast
    iso = (
        stripped.str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1}T00:00:00")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})($|[Z+-])", "${1}:00${2}")
        .str.replace(r"Z$", "+00:00")
        .str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
    )
    shaped = iso.str.contains(_ISO_DATETIME)
    if not shaped.fill_null(True).all():
        raise refuse(present & ~shaped, "is not an ISO date or datetime")
    unit = dtype.time_unit or "us"
    fraction = iso.str.extract(r"\.(\d+)", 1).fill_null("")
    # digits finer than the unit, other than zeros, would be lost
    digits = {"ms": 3, "us": 6, "ns": 9}[unit]
    finer = fraction.str.slice(digits).str.contains(r"[1-9]")
    if finer.any():
        raise refuse(finer, f"needs finer units than {unit}")
    aware = iso.str.contains(r"[+-]\d{2}:\d{2}$")
    # parsed in microseconds first: polars wraps nanoseconds outside their span around
    coarse = _parse_iso(iso, aware, "us")
    bad = present & coarse.is_null()
    if bad.any():
        raise refuse(bad, "is not a valid date or time")
    if unit == "ns":
        low, high = _NS_RANGE
        outside = ~coarse.is_between(low, high)
        if outside.any():
            raise refuse(outside, "is outside the years 1677 to 2262 that nanoseconds span")
        moments = _parse_iso(iso, aware, "ns") if fraction.str.len_chars().max() > 6 else coarse
    else:
        moments = coarse
    moments = moments.cast(pl.Datetime(unit))
    if dtype.time_zone is not None:
        moments = moments.dt.replace_time_zone("UTC").dt.convert_time_zone(dtype.time_zone)
    return moments


#: the datetimes CSV writers write most (pandas, polars): no offset, a T or a space, seconds
_PLAIN_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$"


def _plain_datetimes(stripped: pl.Series, dtype: pl.Datetime) -> pl.Series | None:
    """The common case of :func:`_text_to_datetime`, in one parse: every value a plain ISO
    datetime (see :data:`_PLAIN_DATETIME`) that ``dtype`` holds exactly; None otherwise (the
    general path then types the column, or names the value that does not fit)."""
    if not stripped.str.contains(_PLAIN_DATETIME).fill_null(True).all():
        return None
    unit = dtype.time_unit or "us"
    digits = {"ms": 3, "us": 6, "ns": 9}[unit]
    longest = stripped.str.len_chars().max()
    if longest is not None and longest > 20 + digits:  # type: ignore[operator]
        return None  # finer digits than the unit: zeros, or a value to refuse
    years = stripped.str.slice(0, 4).cast(pl.Int32, strict=False)
    if unit == "ns" and not years.drop_nulls().is_between(1678, 2261).all():
        return None  # near or outside what nanoseconds span
    text = stripped.str.replace(" ", "T", literal=True, n=1)
    moments = text.str.strptime(
        pl.Datetime(unit),  # type: ignore[arg-type]
        "%Y-%m-%dT%H:%M:%S%.f",
        strict=False,
        cache=False,
    )
    if moments.null_count() != stripped.null_count():
        return None  # an impossible date or time: named by the general path
    if dtype.time_zone is not None:
        moments = moments.dt.replace_time_zone("UTC").dt.convert_time_zone(dtype.time_zone)
    return moments


def _parse_iso(iso: pl.Series, aware: pl.Series, unit: str) -> pl.Series:
    """Normalised ISO text in ``unit`` as naive UTC-or-local datetimes: those with an offset
    converted to UTC, the others as written."""
    local = iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit=unit, strict=False)  # type: ignore[arg-type]
    zoned = (
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit=unit, strict=False)  # type: ignore[arg-type]
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )
    return pl.select(pl.when(aware).then(zoned).otherwise(local)).to_series().alias(iso.name)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, cut to 300 characters, for a 400 message.

    Example
    -------
    >>> first_line(ValueError("bad\\nmore"))
    'bad'
    """
    text = str(exc).strip()
    inner = _PANIC_REASON.search(text)  # a panic's message wraps polars' own error
    if inner:
        text = inner.group(1)
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def _text(data: str | bytes, field: str) -> str:
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument(f"{field}: the body is neither parquet nor UTF-8 CSV") from None
    return text.removeprefix("\ufeff")  # a byte order mark from spreadsheet exports
