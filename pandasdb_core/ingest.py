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

import polars as pl

from .errors import InvalidArgument

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


def read_csv(data: str | bytes, field: str = "dataframe") -> pl.DataFrame:
    """Parse CSV (header row first) into a frame typed by every row.

    Line endings may be ``\\n``, ``\\r\\n`` or ``\\r`` alone (old Mac exports). Raises
    :class:`InvalidArgument` (its message starts with ``field``) for anything unreadable.

    Example
    -------
    >>> read_csv("a\\n" + "1\\n" * 150 + "x\\n")["a"].dtype
    String
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
        frame = pl.read_csv(io.BytesIO(f"{ours}\n{body}".encode()), infer_schema=False)
        frame.columns = header
        return frame.with_columns(infer_column(frame[name]) for name in header)
    except (Exception, PanicException) as exc:
        raise InvalidArgument(f"{field}: the CSV could not be parsed: {first_line(exc)}") from None


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
