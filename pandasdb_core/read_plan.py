"""Turn ``get`` filters into a read plan: which layout, which partition range, which rows.

Example
-------
>>> day_bounds("2024-01-31", "end_date")
(datetime.datetime(2024, 2, 1, 0, 0), '2024-01-31', True)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .errors import InvalidArgument
from .names import validate_segment
from .partitioning import utc_datetimes
from .records import FrameHead, Layout, PartitionValue

RowFilter = Callable[[pl.DataFrame], pl.Series]


@dataclass
class ReadPlan:
    """What a ``get`` reads: one layout, a partition range, extra row filters."""

    layout: Layout
    lo: PartitionValue | None = None
    hi: PartitionValue | None = None
    ids: frozenset[int] | None = None
    external_key: str | None = None
    use_last: bool = False
    filters: list[tuple[str, RowFilter]] = field(default_factory=list)


def day_bounds(value: Any, field_name: str) -> tuple[dt.datetime, str, bool]:
    """Parse a date bound into (naive UTC datetime, its day, whether it was a whole day).

    An ``end_date`` without a time covers its whole day, so its datetime is the next midnight
    (exclusive); every other bound is inclusive.
    """
    whole_day = False
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment, whole_day = dt.datetime(value.year, value.month, value.day), True
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidArgument(
                f"{field_name} must be an ISO date or datetime, got {value!r}"
            ) from None
        whole_day = len(value.strip()) == 10
    elif hasattr(value, "to_pydatetime"):
        moment = value.to_pydatetime()
    else:
        raise InvalidArgument(f"{field_name} must be a date, got {type(value).__name__}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    day = moment.strftime("%Y-%m-%d")
    if whole_day and field_name == "end_date":
        moment += dt.timedelta(days=1)
    return moment, day, whole_day


def _as_int(value: Any, field_name: str) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"{field_name} must be an integer id, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{field_name} must be an integer id, got {value!r}") from None
    if isinstance(value, float) and value != number:
        raise InvalidArgument(f"{field_name} must be an integer id, got {value!r}")
    if not -(2**63) <= number < 2**63:
        raise InvalidArgument(f"{field_name} {number} is outside the int64 range")
    return number


def _layout(head: FrameHead, kind: str, wanted_by: str) -> Layout:
    for lay in head.layouts:
        if lay.kind == kind:
            return lay
    have = ", ".join(lay.tag for lay in head.layouts) or "batch"
    raise InvalidArgument(
        f"{wanted_by} needs a {kind.upper() if kind == 'id' else kind.title()} layout; "
        f"frame {head.name!r} has: {have}"
    )


def plan_read(
    head: FrameHead,
    *,
    external_key: str | None = None,
    use_last: bool = False,
    start_date: Any = None,
    end_date: Any = None,
    partition_value: Any = None,
    start_id: Any = None,
    end_id: Any = None,
) -> ReadPlan:
    """Validate the filters against the frame's layouts and build the plan."""
    dated = start_date is not None or end_date is not None
    by_id = partition_value is not None or start_id is not None or end_id is not None
    batched = external_key is not None or use_last
    if batched:
        if head.layouts:
            raise InvalidArgument(
                f"external_key and use_last apply to batch frames; frame {head.name!r} is "
                "partitioned by columns_keys"
            )
        if dated or by_id:
            raise InvalidArgument("date and id filters need a frame with columns_keys")
        key = validate_segment(external_key, "external_key") if external_key else None
        if use_last and key is None:
            key = "default"
        return ReadPlan(Layout("batch"), key, key, external_key=key, use_last=use_last)
    if not dated and not by_id:
        return ReadPlan(head.layouts[0] if head.layouts else Layout("batch"))
    plan: ReadPlan | None = None
    if dated:
        lay = _layout(head, "date", "start_date/end_date")
        plan = ReadPlan(lay)
        if start_date is not None:
            lo_t, plan.lo, _ = day_bounds(start_date, "start_date")
            plan.filters.append(
                (lay.column, lambda f, c=lay.column, t=lo_t: utc_datetimes(f[c]) >= t)
            )
        if end_date is not None:
            hi_t, plan.hi, whole = day_bounds(end_date, "end_date")
            plan.filters.append(
                (
                    lay.column,
                    lambda f, c=lay.column, t=hi_t, w=whole: (
                        (utc_datetimes(f[c]) < t) if w else (utc_datetimes(f[c]) <= t)
                    ),
                )
            )
        if plan.lo is not None and plan.hi is not None and plan.lo > plan.hi:
            raise InvalidArgument(f"start_date {start_date!r} is after end_date {end_date!r}")
    if by_id:
        lay = _layout(head, "id", "partition_value/start_id/end_id")
        if plan is None:
            plan = ReadPlan(lay)
        col = lay.column
        if partition_value is not None:
            values = (
                partition_value
                if isinstance(partition_value, list | tuple | set)
                else [partition_value]
            )
            if not values:
                raise InvalidArgument("partition_value is an empty list")
            ids = frozenset(_as_int(v, "partition_value") for v in values)
            if plan.layout is lay:
                plan.lo, plan.hi, plan.ids = min(ids), max(ids), ids
            plan.filters.append((col, lambda f, c=col, s=ids: f[c].is_in(list(s))))
        lo = _as_int(start_id, "start_id") if start_id is not None else None
        hi = _as_int(end_id, "end_id") if end_id is not None else None
        if lo is not None and hi is not None and lo > hi:
            raise InvalidArgument(f"start_id {lo} is greater than end_id {hi}")
        if plan.layout is lay and plan.ids is None:
            plan.lo, plan.hi = lo, hi
        if lo is not None:
            plan.filters.append((col, lambda f, c=col, v=lo: f[c] >= v))
        if hi is not None:
            plan.filters.append((col, lambda f, c=col, v=hi: f[c] <= v))
    assert plan is not None
    return plan
