"""What a layout kind is: how it cuts a frame into chunk files and how it narrows a read.

A kind is one object in the registry of :mod:`pandasdb_core.layouts`; a frame's stored
:class:`~pandasdb_core.records.Layout` names its kind and column. Adding a kind is one new
class and one registry line.

Example
-------
>>> from pandasdb_core.layouts import kind_of
>>> from pandasdb_core.records import Layout
>>> kind_of(Layout("date", "ts")).user_name
'Date'
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl

from ..records import ChunkRecord, Format, Layout, PartitionValue

if TYPE_CHECKING:
    from ..operations import ReadQuery

RowFilter = Callable[[pl.DataFrame], pl.Series]


@dataclass(frozen=True)
class PlannedChunk:
    """A chunk to write: its layout tag, partition bounds, blob key and rows."""

    layout: str
    lo: PartitionValue
    hi: PartitionValue
    key: str
    frame: pl.DataFrame
    external_key: str | None = None


@dataclass(frozen=True)
class WriteContext:
    """What cutting a frame needs besides the frame: where, how big, which format, when."""

    name: str
    chunk_rows: int
    fmt: Format
    external_key: str
    now: Any  # datetime.datetime in UTC

    def key(self, folder: str, stem: str = "") -> str:
        """A new chunk file's key: ``{name}/{folder}/{stem}{uuid}.{fmt}``."""
        return f"{self.name}/{folder}/{stem}{uuid.uuid4().hex}.{self.fmt}"


@dataclass(frozen=True)
class Selection:
    """How one layout narrows a read: the index range to query, which chunks of it to keep,
    which rows of them to keep, and the columns the row filter reads. ``covers`` tells, from
    a chunk's record alone, that every row of it is selected (an edit then drops the chunk
    without reading it)."""

    lo: PartitionValue | None = None
    hi: PartitionValue | None = None
    keep_chunks: Callable[[list[ChunkRecord]], list[ChunkRecord]] | None = None
    keep_rows: RowFilter | None = None
    reads: tuple[str, ...] = ()
    covers: Callable[[ChunkRecord], bool] | None = None


def slices(frame: pl.DataFrame, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """``frame`` in pieces of at most ``chunk_rows`` rows."""
    for start in range(0, frame.height, chunk_rows):
        yield frame.slice(start, chunk_rows)


def spare_name(frame: pl.DataFrame, stem: str) -> str:
    """A column name ``frame`` does not have, for a helper column (users may name a column
    anything, including the helper's usual name)."""
    name = stem
    while name in frame.columns:
        name += "_"
    return name


class LayoutKind(ABC):
    """One way of laying rows out in files."""

    #: the stored name (``Layout.kind``)
    name: ClassVar[str]
    #: the name users give in ``columns_keys`` (any case), or "" for a kind they cannot ask for
    user_name: ClassVar[str]
    #: the :class:`~pandasdb_core.operations.ReadQuery` fields this kind answers
    filters: ClassVar[tuple[str, ...]]

    def asked(self, query: ReadQuery) -> bool:
        """Whether ``query`` uses any of this kind's filters."""
        # identity, not equality: start_id=0 is a filter (0 == False in Python)
        values = [getattr(query, f) for f in self.filters]
        return any(v is not None and v is not False for v in values)

    @abstractmethod
    def check(self, frame: pl.DataFrame, layout: Layout) -> None:
        """Raise :class:`InvalidPartition` if ``frame``'s column does not fit this kind."""

    @abstractmethod
    def plan(self, frame: pl.DataFrame, layout: Layout, where: WriteContext) -> list[PlannedChunk]:
        """Cut ``frame`` into chunks with their keys and partition bounds."""

    @abstractmethod
    def select(self, query: ReadQuery, layout: Layout) -> Selection:
        """How ``query``'s filters of this kind narrow a read of ``layout``."""

    def holding(self, layout: Layout, values: pl.Series) -> Selection:
        """The chunks of ``layout`` that may hold rows with these values of its column, and
        those rows: what an edit that removes rows by these values reads. Kinds without a
        column cannot be edited by value."""
        raise NotImplementedError(f"{self.name} layouts are not edited by value")

    def merge_groups(self, chunks: Sequence[ChunkRecord]) -> list[list[ChunkRecord]]:
        """Groups of chunks ``compact`` may merge, each in row order (none by default: a
        batch keeps its identity)."""
        return []

    def order(self, chunks: Sequence[ChunkRecord]) -> list[ChunkRecord]:
        """Chunks in the order their rows are returned: by partition, then commit order (a
        chunk an edit rewrote keeps the place of the one it replaced)."""
        return sorted(chunks, key=lambda c: (c.lo, c.rank))
