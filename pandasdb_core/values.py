"""Parsed filter values: date bounds and ids, as every surface (Python, query string, CLI)
gives them.

A date bound keeps the text it round-trips through a query string and the instant it means
(UTC, nanoseconds since the epoch, so bounds outside any time unit's range stay exact). A
date without a time covers its whole day.

Example
-------
>>> bound = parse_date_bound("20240131", "end_date")
>>> bound.day, bound.whole_day, bound.text
('2024-01-31', True, '2024-01-31')
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = dt.datetime(1970, 1, 1)
_NS_PER_DAY = 86_400 * 10**9
#: fractional seconds beyond microseconds, which ``datetime.fromisoformat`` cannot hold
_NANOS = re.compile(r"(T|\s)(\d{2}:?\d{2}:?\d{2})[.,](\d{7,9})")


@dataclass(frozen=True)
class DateBound:
    """One inclusive date bound: ``text`` as given (normalised), ``ns`` the instant in UTC
    nanoseconds since 1970, ``whole_day`` when no time was given."""

    text: str
    ns: int
    whole_day: bool

    @property
    def day(self) -> str:
        """The bound's calendar day, ``YYYY-MM-DD`` (zero-padded for any year; an instant
        before year 1 or after 9999 in UTC gives the first or last day there is)."""
        days, _ = divmod(self.ns, _NS_PER_DAY)
        first = (dt.date.min - _EPOCH.date()).days
        last = (dt.date.max - _EPOCH.date()).days
        return (_EPOCH.date() + dt.timedelta(days=min(max(days, first), last))).isoformat()

    @property
    def end_ns(self) -> int:
        """The last nanosecond this bound covers as an upper bound (its day's last, when
        whole)."""
        return self.ns + _NS_PER_DAY - 1 if self.whole_day else self.ns

    def __str__(self) -> str:
        return self.text


def _ns(moment: dt.datetime, extra_ns: int = 0) -> int:
    # subtract the offset as a timedelta: converting year 1 (or 9999) to UTC with
    # astimezone() can leave datetime's range
    delta = moment.replace(tzinfo=None) - _EPOCH - (moment.utcoffset() or dt.timedelta(0))
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000 + extra_ns


def parse_date_bound(value: Any, field: str) -> DateBound:
    """A ``start_date``/``end_date`` value (ISO text, basic ISO ``20240131``, ``date``,
    ``datetime``, pandas ``Timestamp``, numpy ``datetime64``) as a :class:`DateBound`.

    Example
    -------
    >>> parse_date_bound("0999-12-31T23:00:00+02:00", "start_date").day
    '0999-12-31'
    """
    if isinstance(value, DateBound):
        return value
    if hasattr(value, "to_pydatetime") and hasattr(value, "nanosecond"):  # pandas Timestamp
        if value != value:  # NaT
            raise InvalidArgument(f"{field} is NaT; give a date")
        return DateBound(
            value.isoformat(), _ns(value.to_pydatetime(warn=False), value.nanosecond), False
        )
    if type(value).__name__ == "datetime64":
        value = str(value)
    if isinstance(value, dt.datetime):
        return DateBound(value.isoformat(), _ns(value), False)
    if isinstance(value, dt.date):
        return DateBound(
            value.isoformat(), _ns(dt.datetime(value.year, value.month, value.day)), True
        )
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a date, got {type(value).__name__}")
    text = value.strip()
    if len(text) > 64:
        raise InvalidArgument(f"{field} must be an ISO date or datetime, got {text[:64]!r}...")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return parse_date_bound(day, field)
    extra_ns = 0
    nanos = _NANOS.search(text)
    if nanos:
        digits = nanos.group(3).ljust(9, "0")
        extra_ns = int(digits[6:])
        text_us = text[: nanos.start(3)] + digits[:6] + text[nanos.end(3) :]
    else:
        text_us = text
    try:
        moment = dt.datetime.fromisoformat(text_us)
    except ValueError:
        raise InvalidArgument(f"{field} must be an ISO date or datetime, got {value!r}") from None
    return DateBound(text, _ns(moment, extra_ns), False)


def parse_id(value: Any, field: str) -> int:
    """An integer id (``int``, integral ``float``, numpy integer or decimal text) within
    int64.

    Example
    -------
    >>> parse_id("42", "start_id")
    42
    """
    if isinstance(value, bool):
        raise InvalidArgument(f"{field} must be an integer id, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise InvalidArgument(f"{field} must be an integer id, got {value[:40]!r}")
        if len(text.lstrip("+-0")) > 19:  # int() of thousands of digits is slow, and out of range
            raise InvalidArgument(f"{field} {text[:40]} is outside the int64 range")
        number = int(text)
    else:
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidArgument(f"{field} must be an integer id, got {value!r}") from None
        if number != value:
            raise InvalidArgument(f"{field} must be an integer id, got {value!r}")
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidArgument(f"{field} {number} is outside the int64 range")
    return number


def parse_ids(value: Any, field: str) -> tuple[int, ...]:
    """One id or a list of ids, sorted and without repeats.

    Example
    -------
    >>> parse_ids([3, "1", 3], "partition_value")
    (1, 3)
    """
    many = hasattr(value, "__iter__") and not isinstance(value, str | bytes)
    values = list(value) if many else [value]
    if not values:
        raise InvalidArgument(f"{field} is an empty list")
    return tuple(sorted({parse_id(v, field) for v in values}))
