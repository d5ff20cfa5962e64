"""Cut a frame into chunk files by layout, with the seed's storage paths.

``{name}/{date_col}/{YYYY-MM-DD}/{uuid}.csv.gz``, ``{name}/{id_col}/from_{min}_to_{max}/{uuid}``,
``{name}/external_key/{key}/{YYYY-MM-DD}/{HH:MM:SS}_{uuid}``.

Example
-------
>>> parse_columns_keys({"ts": "date", "uid": "ID"})
(Layout(kind='date', column='ts'), Layout(kind='id', column='uid'))
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl

from .errors import InvalidArgument, InvalidPartition
from .names import validate_segment
from .records import Format, Layout, PartitionValue

_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class PlannedChunk:
    """A chunk to write: its layout, partition bounds, blob key and rows."""

    layout: str
    lo: PartitionValue
    hi: PartitionValue
    key: str
    frame: pl.DataFrame
    external_key: str | None = None


def parse_columns_keys(columns_keys: Any) -> tuple[Layout, ...]:
    """Validate ``columns_keys`` ({column: "Date"|"ID"}, any case) into layouts."""
    if columns_keys is None:
        return ()
    if not isinstance(columns_keys, dict):
        raise InvalidArgument(
            f"columns_keys must map column names to 'Date' or 'ID', got {columns_keys!r}"
        )
    layouts = []
    for column, kind in columns_keys.items():
        validate_segment(column, "columns_keys column")
        if not isinstance(kind, str) or kind.lower() not in ("date", "id"):
            raise InvalidArgument(f"columns_keys[{column!r}] must be 'Date' or 'ID', got {kind!r}")
        layouts.append(Layout(kind.lower(), column))  # type: ignore[arg-type]
    return tuple(layouts)


def utc_datetimes(series: pl.Series) -> pl.Series:
    """A Date-layout column as naive UTC datetimes, or :class:`InvalidPartition` if it holds
    anything but dates (strings must parse as dates)."""
    name = series.name
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime):
        out = (
            series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            if dtype.time_zone
            else series
        )
    elif dtype == pl.Date:
        out = series.cast(pl.Datetime("us"))
    elif dtype == pl.String:
        try:
            out = series.str.to_datetime(strict=False)
        except pl.exceptions.PolarsError:  # no format could be inferred from the first values
            out = _parse_iso(series)
        if isinstance(out.dtype, pl.Datetime) and out.dtype.time_zone:
            out = out.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        bad = series.filter(out.is_null() & series.is_not_null())
        if len(bad):
            raise InvalidPartition(
                f"column {name!r} is a Date partition but holds {len(bad)} value(s) that are "
                f"not dates, e.g. {bad[0]!r}"
            )
    else:
        raise InvalidPartition(
            f"column {name!r} is a Date partition but has dtype {dtype}, not a date or datetime"
        )
    nulls = out.null_count()
    if nulls:
        raise InvalidPartition(f"column {name!r} is a Date partition but has {nulls} null value(s)")
    return out


def _parse_iso(series: pl.Series) -> pl.Series:
    """Parse ISO date strings one distinct value at a time; unparseable values become null."""
    parsed: dict[str, dt.datetime | None] = {}
    for value in series.drop_nulls().unique().to_list():
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            parsed[value] = None
            continue
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        parsed[value] = moment
    return series.replace_strict(parsed, default=None, return_dtype=pl.Datetime("us"))


def integer_ids(series: pl.Series) -> pl.Series:
    """An ID-layout column as Int64, or :class:`InvalidPartition` for nulls, non-integers or
    values beyond int64."""
    name = series.name
    if series.null_count():
        raise InvalidPartition(
            f"column {name!r} is an ID partition but has {series.null_count()} null id(s)"
        )
    dtype = series.dtype
    if dtype.is_integer():
        if len(series) and (series.max() > _INT64_MAX or series.min() < -_INT64_MAX - 1):  # type: ignore[operator]
            raise InvalidPartition(f"column {name!r} has ids beyond the int64 range")
        return series.cast(pl.Int64)
    if dtype.is_float():
        finite = series.is_finite().all()
        if not finite or not (series == series.round(0)).all():
            raise InvalidPartition(
                f"column {name!r} is an ID partition but holds non-integer values"
            )
        if len(series) and max(abs(series.min()), abs(series.max())) >= 2**63:  # type: ignore[arg-type]
            raise InvalidPartition(f"column {name!r} has ids beyond the int64 range")
        return series.cast(pl.Int64)
    raise InvalidPartition(
        f"column {name!r} is an ID partition but has dtype {dtype}, not integers"
    )


def check_layout_columns(frame: pl.DataFrame, layouts: tuple[Layout, ...]) -> None:
    """Every layout column must be present and fit its kind; raise before anything is written."""
    for lay in layouts:
        if lay.column not in frame.columns:
            raise InvalidPartition(
                f"columns_keys names column {lay.column!r}, which the dataframe does not have"
            )
        if lay.kind == "date":
            utc_datetimes(frame[lay.column])
        else:
            integer_ids(frame[lay.column])


def _slices(frame: pl.DataFrame, chunk_rows: int) -> Iterator[pl.DataFrame]:
    for start in range(0, frame.height, chunk_rows):
        yield frame.slice(start, chunk_rows)


def plan_chunks(
    frame: pl.DataFrame,
    name: str,
    layouts: tuple[Layout, ...],
    *,
    chunk_rows: int,
    fmt: Format,
    external_key: str,
    now: dt.datetime,
) -> list[PlannedChunk]:
    """Split ``frame`` into chunks for every layout (batch layout when there is none)."""
    suffix = fmt
    planned: list[PlannedChunk] = []
    if not layouts:
        day, clock = now.strftime("%Y-%m-%d"), now.strftime("%H:%M:%S")
        for part in _slices(frame, chunk_rows):
            key = f"{name}/external_key/{external_key}/{day}/{clock}_{uuid.uuid4().hex}.{suffix}"
            planned.append(
                PlannedChunk("batch", external_key, external_key, key, part, external_key)
            )
        return planned
    for lay in layouts:
        if lay.kind == "date":
            # group on the date itself and format only the distinct days: formatting every
            # row as text costs more than the grouping
            days = utc_datetimes(frame[lay.column]).dt.date()
            groups = frame.with_columns(days.alias("__day__")).partition_by(
                "__day__", as_dict=True, maintain_order=True, include_key=False
            )
            for (date,), group in sorted(groups.items()):
                day = date.isoformat()
                for part in _slices(group, chunk_rows):
                    key = f"{name}/{lay.column}/{day}/{uuid.uuid4().hex}.{suffix}"
                    planned.append(PlannedChunk(lay.tag, day, day, key, part))
        else:
            ids = integer_ids(frame[lay.column])
            ordered = frame.with_columns(ids.alias("__id__")).sort("__id__", maintain_order=True)
            for part in _slices(ordered, chunk_rows):
                lo, hi = int(part["__id__"][0]), int(part["__id__"][-1])
                key = f"{name}/{lay.column}/from_{lo}_to_{hi}/{uuid.uuid4().hex}.{suffix}"
                planned.append(PlannedChunk(lay.tag, lo, hi, key, part.drop("__id__")))
    return planned
