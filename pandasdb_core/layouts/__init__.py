"""The registry of layout kinds, and ``columns_keys`` parsed into layouts.

Example
-------
>>> parse_columns_keys({"ts": "date", "uid": "ID"})
(Layout(kind='date', column='ts'), Layout(kind='id', column='uid'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InvalidArgument
from ..names import validate_segment
from ..records import Layout
from .base import LayoutKind, PlannedChunk, Selection, WriteContext
from .batch import BATCH, DEFAULT_KEY, NOW_KEY, BatchKind, last_key_frame
from .date import DateKind, utc_datetimes
from .ids import IdKind, integer_ids

#: every kind, by stored name; the order is the order reads prefer when several are asked
KINDS: dict[str, LayoutKind] = {kind.name: kind for kind in (DateKind(), IdKind(), BatchKind())}
_BY_USER_NAME = {kind.user_name.lower(): kind for kind in KINDS.values() if kind.user_name}
#: the kinds users name in ``columns_keys`` (``Date``, ``ID``), in registry order
USER_KINDS: tuple[LayoutKind, ...] = tuple(k for k in KINDS.values() if k.user_name)


def kind_of(layout: Layout) -> LayoutKind:
    """The kind object of a stored layout."""
    return KINDS[layout.kind]


def keyed(layouts: Sequence[Layout]) -> bool:
    """Whether a frame stored by ``layouts`` keeps batches under external keys.

    Example
    -------
    >>> keyed((BATCH,)), keyed((Layout("date", "ts"),))
    (True, False)
    """
    return any(kind_of(lay).keyed for lay in layouts)


def batch_key(layouts: Sequence[Layout], external_key: str | None) -> str | None:
    """The external key a commit of a frame stored by ``layouts`` records: ``external_key``
    or the default key for a keyed frame, None for a partitioned one.

    Example
    -------
    >>> batch_key((BATCH,), None), batch_key((Layout("id", "uid"),), None)
    ('default', None)
    """
    keys = (kind_of(lay).batch_key(external_key) for lay in layouts)
    return next((key for key in keys if key is not None), None)


def dated_columns(layouts: Sequence[Layout]) -> list[str]:
    """The columns of the layouts whose partitions are calendar days.

    Example
    -------
    >>> dated_columns((Layout("date", "ts"), Layout("id", "uid")))
    ['ts']
    """
    return [lay.column for lay in layouts if kind_of(lay).dated]


def parse_columns_keys(columns_keys: Any) -> tuple[Layout, ...]:
    """Validate ``columns_keys`` (``{column: "Date" | "ID"}``, any case) into layouts; none
    means the batch layout."""
    if columns_keys is None or columns_keys == {}:
        return (BATCH,)
    if not isinstance(columns_keys, dict):
        raise InvalidArgument(
            f"columns_keys must map column names to {_choices()}, got {columns_keys!r}"
        )
    layouts = []
    for column, kind in columns_keys.items():
        validate_segment(column, "columns_keys column")
        found = _BY_USER_NAME.get(kind.lower()) if isinstance(kind, str) else None
        if found is None:
            raise InvalidArgument(f"columns_keys[{column!r}] must be {_choices()}, got {kind!r}")
        same = [lay.column for lay in layouts if lay.kind == found.name]
        if same:
            # a read's start_date or start_id names no column: it would answer the first only
            raise InvalidArgument(
                f"columns_keys: {same[0]!r} and {column!r} are both {found.user_name}; a frame "
                f"has at most one {found.user_name} layout, since its filters name no column"
            )
        layouts.append(Layout(found.name, column))  # type: ignore[arg-type]
    return tuple(layouts)


def _choices() -> str:
    return " or ".join(repr(k.user_name) for k in USER_KINDS)


def describe(layouts: tuple[Layout, ...]) -> str:
    """Layouts as users wrote them: ``ts (Date), uid (ID)``, or ``batches``."""
    shown = [f"{lay.column} ({kind_of(lay).user_name})" for lay in layouts if lay.column]
    return ", ".join(shown) or "batches (no columns_keys)"


__all__ = [
    "BATCH",
    "DEFAULT_KEY",
    "KINDS",
    "NOW_KEY",
    "USER_KINDS",
    "LayoutKind",
    "PlannedChunk",
    "Selection",
    "WriteContext",
    "batch_key",
    "dated_columns",
    "describe",
    "integer_ids",
    "keyed",
    "kind_of",
    "last_key_frame",
    "parse_columns_keys",
    "utc_datetimes",
]
