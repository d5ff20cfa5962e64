"""The Date layout: one folder per calendar day (UTC) of a column,
``{name}/{column}/{YYYY-MM-DD}/{uuid}.{fmt}``.

Example
-------
>>> import polars as pl
>>> utc_datetimes(pl.Series("ts", ["2024-01-01T23:30:00-02:00"])).dt.date().to_list()
[datetime.date(2024, 1, 2)]
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import polars as pl

from ..errors import InvalidArgument, InvalidPartition
from ..records import ChunkRecord, Layout, PartitionValue
from ..values import INT64_MAX, INT64_MIN, DateBound
from .base import (
    LONGEST_FILE,
    LayoutKind,
    PlannedChunk,
    RowFilter,
    Selection,
    WriteContext,
    slices,
    spare_name,
)

if TYPE_CHECKING:
    from ..operations import ReadQuery

_NS_PER = {"ns": 1, "us": 1_000, "ms": 1_000_000}
_NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH_DAY = dt.date(1970, 1, 1)
#: the days of the years 1..9999 (a folder's name), counted from 1970-01-01
_CALENDAR_DAYS = ((dt.date.min - _EPOCH_DAY).days, (dt.date.max - _EPOCH_DAY).days)


def utc_datetimes(series: pl.Series) -> pl.Series:
    """A Date-layout column as naive UTC datetimes, or :class:`InvalidPartition` if it holds
    anything but dates (strings must parse as dates)."""
    name = series.name
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime | pl.Date):
        # on the stored counts, before any calendar arithmetic: polars panics on instants
        # past the years its calendar holds (a Date of 2**31 - 1 days, or 2**62 ms)
        _check_calendar(series)
    if isinstance(dtype, pl.Datetime):
        out = (
            series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            if dtype.time_zone
            else series
        )
    elif dtype == pl.Date:
        out = series.cast(pl.Datetime("us"))
    elif dtype == pl.String:
        out = _parse_text(series)
        if isinstance(out.dtype, pl.Datetime):  # text names instants of any year
            _check_calendar(out)
    else:
        raise InvalidPartition(
            f"column {name!r} is a Date partition but has dtype {dtype}, not a date or datetime"
        )
    nulls = out.null_count()
    if nulls:
        raise InvalidPartition(f"column {name!r} is a Date partition but has {nulls} null value(s)")
    return out


def _ticks_per_day(dtype: pl.DataType) -> int:
    """The stored counts of a day in a Date (1) or Datetime column."""
    return 1 if dtype == pl.Date else _NS_PER_DAY // _NS_PER[dtype.time_unit]  # type: ignore[attr-defined]


def _check_calendar(series: pl.Series) -> None:
    """:class:`InvalidPartition` unless every instant of a Date or (naive or UTC) Datetime
    column lies in the years 1 to 9999, from its counts alone (no calendar arithmetic, which
    costs a tenth of an upload and panics past the years polars' calendar holds)."""
    dtype = series.dtype
    per_day = _ticks_per_day(dtype)
    counts = series.to_physical()
    smallest, largest = counts.min(), counts.max()
    first, last = _CALENDAR_DAYS
    if smallest is not None and (
        smallest < first * per_day or largest >= (last + 1) * per_day  # type: ignore[operator]
    ):
        raise InvalidPartition(
            f"column {series.name!r} is a Date partition but holds instants outside the years "
            "1 to 9999 in UTC, which have no calendar day to name a folder"
        )


def day_runs(moments: pl.Series) -> list[tuple[dt.date, int, int]] | None:
    """The calendar days of naive UTC datetimes in ascending order (see
    :func:`utc_datetimes`), each with the offset and count of its rows; None when the days
    they span outnumber the rows (then grouping the rows costs less).

    Each day's first row is found by a binary search of its midnight, on the stored counts:
    no per-row day column (4 bytes a row, plus polars' temporaries) is made.

    Example
    -------
    >>> stamps = [dt.datetime(2024, 1, 1, 5), dt.datetime(2024, 1, 1, 6), dt.datetime(2024, 1, 3)]
    >>> day_runs(pl.Series(stamps))
    [(datetime.date(2024, 1, 1), 0, 2), (datetime.date(2024, 1, 3), 2, 1)]
    """
    counts = moments.to_physical()
    if counts.is_empty():
        return []
    per_day = _ticks_per_day(moments.dtype)
    first, last = counts[0] // per_day, counts[-1] // per_day
    if last - first + 1 > len(counts):
        return None
    # the midnights after the first day's, up to the last day's: all within the counts'
    # range (the midnight after the last day may be past what int64 holds)
    midnights = list(range((first + 1) * per_day, (last + 1) * per_day, per_day))
    found = counts.search_sorted(pl.Series(midnights, dtype=pl.Int64), side="left").to_list()
    starts = [0, *found, len(counts)]
    return [
        (_EPOCH_DAY + dt.timedelta(days=first + i), start, end - start)
        for i, (start, end) in enumerate(itertools.pairwise(starts))
        if end > start
    ]


def _runs(days: pl.Series) -> list[tuple[dt.date, int, int]]:
    """The runs of equal days of a sorted Date column: each day, its offset and row count."""
    lengths = days.rle().struct.unnest().rows()  # (rows, day) in day order
    ends = itertools.accumulate(n for n, _ in lengths)
    return [(day, end - n, n) for (n, day), end in zip(lengths, ends, strict=True)]


def _parse_text(series: pl.Series) -> pl.Series:
    try:
        out = series.str.to_datetime(strict=False)
    except pl.exceptions.PolarsError:  # no format could be inferred from the first values
        out = _parse_iso(series)
    if isinstance(out.dtype, pl.Datetime) and out.dtype.time_zone:
        out = out.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    bad = series.filter(out.is_null() & series.is_not_null())
    if len(bad):
        raise InvalidPartition(
            f"column {series.name!r} is a Date partition but holds {len(bad)} value(s) that are "
            f"not dates, e.g. {bad[0]!r}"
        )
    return out


def _parse_iso(series: pl.Series) -> pl.Series:
    """Parse ISO date strings one distinct value at a time; unparseable values become null."""
    parsed: dict[str, dt.datetime | None] = {}
    for value in series.drop_nulls().unique().to_list():
        try:
            moment = dt.datetime.fromisoformat(value.strip())
            if moment.tzinfo is not None:
                moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):
            moment = None
        parsed[value] = moment
    return series.replace_strict(parsed, default=None, return_dtype=pl.Datetime("us"))


def _compare(moments: pl.Series, bound_ns: int, op: str) -> pl.Series:
    """``moments >= bound`` or ``<=``, exact in the column's own time unit, for bounds far
    outside what that unit can hold."""
    per = _NS_PER[moments.dtype.time_unit]  # type: ignore[attr-defined]
    # ceil for a lower bound, floor for an upper one: no value between units is lost
    limit = -(-bound_ns // per) if op == ">=" else bound_ns // per
    if limit > INT64_MAX or limit < INT64_MIN:
        everything = (limit < INT64_MIN) if op == ">=" else (limit > INT64_MAX)
        return pl.Series(moments.name, [everything] * len(moments), dtype=pl.Boolean)
    ticks = moments.to_physical()
    return ticks >= limit if op == ">=" else ticks <= limit


def _rows_between(column: str, lo: DateBound | None, hi: DateBound | None) -> RowFilter:
    def keep(frame: pl.DataFrame) -> pl.Series:
        moments = utc_datetimes(frame[column])
        mask = pl.repeat(True, frame.height, dtype=pl.Boolean, eager=True).alias(column)
        if lo is not None:
            mask = mask & _compare(moments, lo.ns, ">=")
        if hi is not None:
            mask = mask & _compare(moments, hi.end_ns, "<=")
        return mask

    return keep


def _whole_days(lo: DateBound | None, hi: DateBound | None) -> Callable[[ChunkRecord], bool]:
    """Whether a chunk's day lies wholly inside the bounds (its rows need not be read)."""

    def covers(chunk: ChunkRecord) -> bool:
        first = (dt.date.fromisoformat(str(chunk.lo)) - _EPOCH_DAY).days * _NS_PER_DAY
        last = first + _NS_PER_DAY - 1
        return (lo is None or lo.ns <= first) and (hi is None or hi.end_ns >= last)

    return covers


class DateKind(LayoutKind):
    """Partition by the calendar day (UTC) of a date, datetime or ISO-text column."""

    name = "date"
    user_name = "Date"
    filters = ("start_date", "end_date")
    dated = True
    cli_help = "partition by the day of COL"

    def longest_key_tail(self, segment_bytes: int) -> str:
        return f"/{'c' * segment_bytes}/YYYY-MM-DD/{LONGEST_FILE}"

    def day(self, chunk: ChunkRecord) -> dt.date:
        return dt.date.fromisoformat(str(chunk.lo))

    def check(self, frame: pl.DataFrame, layout: Layout) -> None:
        utc_datetimes(frame[layout.column])

    def plan(self, frame: pl.DataFrame, layout: Layout, where: WriteContext) -> list[PlannedChunk]:
        moments = utc_datetimes(frame[layout.column])
        runs = day_runs(moments) if moments.is_sorted() else None
        days = None
        if runs is None:
            # group on the date itself and format only the distinct days: formatting every
            # row as text costs more than the grouping
            days = moments.dt.date()
            if days.is_sorted():  # in day order, not in time order within a day
                runs = _runs(days)
        if runs is not None:
            # rows already in day order (a time series): each day is a slice of the frame,
            # not a copy, so an upload holds the frame once
            groups = {(day,): frame.slice(start, rows) for day, start, rows in runs}
        else:
            day_col = spare_name(frame, "__day__")
            groups = frame.with_columns(days.alias(day_col)).partition_by(
                day_col, as_dict=True, maintain_order=True, include_key=False
            )
        planned = []
        for (date,), group in sorted(groups.items()):
            day = date.isoformat()
            for part in slices(group, where.chunk_rows):
                key = where.key(f"{layout.column}/{day}")
                planned.append(PlannedChunk(layout.tag, day, day, key, part))
        return planned

    def holding(self, layout: Layout, values: pl.Series) -> Selection:
        days = utc_datetimes(values).dt.date().unique().sort()
        wanted = {d.isoformat() for d in days.to_list()}
        column = layout.column
        return Selection(
            lo=days[0].isoformat() if len(days) else None,
            hi=days[-1].isoformat() if len(days) else None,
            keep_chunks=lambda chunks: [c for c in chunks if c.lo in wanted],
            keep_rows=lambda frame: utc_datetimes(frame[column]).dt.date().is_in(days.implode()),
            reads=(column,),
            covers=lambda chunk: True,  # a chunk holds one day: all of it or none
        )

    def merge_groups(self, chunks: Sequence[ChunkRecord]) -> list[list[ChunkRecord]]:
        by_day: dict[PartitionValue, list[ChunkRecord]] = {}
        for chunk in self.order(chunks):
            by_day.setdefault(chunk.lo, []).append(chunk)
        return list(by_day.values())

    def select(self, query: ReadQuery, layout: Layout) -> Selection:
        lo, hi = query.start_date, query.end_date
        if lo is not None and hi is not None and lo.ns > hi.end_ns:
            raise InvalidArgument(f"start_date {lo.text!r} is after end_date {hi.text!r}")
        return Selection(
            lo=lo.day if lo is not None else None,
            hi=hi.day if hi is not None else None,
            keep_rows=_rows_between(layout.column, lo, hi),
            reads=(layout.column,),
            covers=_whole_days(lo, hi),
        )
