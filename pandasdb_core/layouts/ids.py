"""The ID layout: rows sorted by an integer column and cut into chunks named by their id
range, ``{name}/{column}/from_{min}_to_{max}/{uuid}.{fmt}``.

Example
-------
>>> import polars as pl
>>> integer_ids(pl.Series("uid", [3.0, 1.0])).to_list()
[3, 1]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import polars as pl

from ..errors import InvalidArgument, InvalidPartition
from ..records import ChunkRecord, Layout
from ..values import INT64_MAX, INT64_MIN
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
        if len(series) and (series.max() > INT64_MAX or series.min() < INT64_MIN):  # type: ignore[operator]
            raise InvalidPartition(f"column {name!r} has ids beyond the int64 range")
        return series.cast(pl.Int64)
    if dtype.is_float():
        finite = series.is_finite().all()
        if not finite or not (series == series.round(0)).all():
            raise InvalidPartition(
                f"column {name!r} is an ID partition but holds non-integer values"
            )
        # -2.0**63 is int64's minimum exactly; 2.0**63 is one past its maximum
        if len(series) and (series.min() < INT64_MIN or series.max() >= 2**63):  # type: ignore[operator]
            raise InvalidPartition(f"column {name!r} has ids beyond the int64 range")
        return series.cast(pl.Int64)
    raise InvalidPartition(
        f"column {name!r} is an ID partition but has dtype {dtype}, not integers"
    )


def _rows(column: str, ids: tuple[int, ...] | None, lo: int | None, hi: int | None) -> RowFilter:
    """The rows with one of ``ids`` (sorted) inside ``[lo, hi]``. The ids are one Series,
    built once per read, and each chunk is matched against the ids inside its own range
    only: linear in rows and ids, never chunks x ids (is_in with a Python tuple converted
    every id again for every chunk)."""
    wanted = None if ids is None else pl.Series(column, ids, dtype=pl.Int64)

    def keep(frame: pl.DataFrame) -> pl.Series:
        # compare as Int64 whatever the stored type (Int8, UInt64, integral floats...), so a
        # bound outside the column's own range cannot overflow
        values = integer_ids(frame[column])
        mask = pl.repeat(True, frame.height, dtype=pl.Boolean, eager=True).alias(column)
        if wanted is not None and ids is not None:
            smallest, largest = values.min(), values.max()
            if smallest is None:  # no rows
                return mask
            first = bisect_left(ids, smallest)
            inside = wanted.slice(first, bisect_right(ids, largest) - first)
            mask = mask & values.is_in(inside.implode())
        if lo is not None:
            mask = mask & (values >= lo)
        if hi is not None:
            mask = mask & (values <= hi)
        return mask

    return keep


def _holding(ids: tuple[int, ...]) -> Callable[[list[ChunkRecord]], list[ChunkRecord]]:
    """Keep the chunks whose range holds one of ``ids`` (sorted): a binary search per chunk."""

    def keep(chunks: list[ChunkRecord]) -> list[ChunkRecord]:
        out = []
        for chunk in chunks:
            at = bisect_left(ids, chunk.lo)
            if at < len(ids) and ids[at] <= chunk.hi:  # type: ignore[operator]
                out.append(chunk)
        return out

    return keep


def _of_ids(column: str, ids: tuple[int, ...], lo: int | None, hi: int | None) -> Selection:
    """The chunks holding ``ids`` (sorted) and their rows with those ids; none for no ids."""
    if not ids:
        return Selection(keep_chunks=lambda chunks: [])  # no id can match: no chunk
    return Selection(
        lo=ids[0],
        hi=ids[-1],
        keep_chunks=_holding(ids),
        keep_rows=_rows(column, ids, lo, hi),
        reads=(column,),
    )


class IdKind(LayoutKind):
    """Partition by sorted ranges of an integer id column."""

    name = "id"
    user_name = "ID"
    filters = ("partition_value", "start_id", "end_id")
    cli_help = "partition by id ranges of COL"

    def longest_key_tail(self, segment_bytes: int) -> str:
        return f"/{'c' * segment_bytes}/from_{INT64_MIN}_to_{INT64_MAX}/{LONGEST_FILE}"

    def check(self, frame: pl.DataFrame, layout: Layout) -> None:
        integer_ids(frame[layout.column])

    def plan(self, frame: pl.DataFrame, layout: Layout, where: WriteContext) -> list[PlannedChunk]:
        id_col = spare_name(frame, "__id__")
        ids = integer_ids(frame[layout.column]).alias(id_col)
        ordered = frame.with_columns(ids).sort(id_col, maintain_order=True)
        planned = []
        for part in slices(ordered, where.chunk_rows):
            lo, hi = int(part[id_col][0]), int(part[id_col][-1])
            key = where.key(f"{layout.column}/from_{lo}_to_{hi}")
            planned.append(PlannedChunk(layout.tag, lo, hi, key, part.drop(id_col)))
        return planned

    def holding(self, layout: Layout, values: pl.Series) -> Selection:
        ids = tuple(integer_ids(values).unique().sort().to_list())
        return _of_ids(layout.column, ids, None, None)

    def merge_groups(self, chunks: Sequence[ChunkRecord]) -> list[list[ChunkRecord]]:
        # id ranges of chunks from different commits overlap: the merged rows are sorted by
        # id again and cut afresh, so all of them form one group
        return [self.order(chunks)] if chunks else []

    def select(self, query: ReadQuery, layout: Layout) -> Selection:
        ids, lo, hi = query.partition_value, query.start_id, query.end_id
        if lo is not None and hi is not None and lo > hi:
            raise InvalidArgument(f"start_id {lo} is greater than end_id {hi}")
        if ids is not None:
            ids = tuple(i for i in ids if (lo is None or i >= lo) and (hi is None or i <= hi))
            return _of_ids(layout.column, ids, lo, hi)
        return Selection(
            lo=lo,
            hi=hi,
            keep_rows=_rows(layout.column, None, lo, hi),
            reads=(layout.column,),
            covers=lambda c: (lo is None or lo <= c.lo) and (hi is None or c.hi <= hi),  # type: ignore[operator]
        )
