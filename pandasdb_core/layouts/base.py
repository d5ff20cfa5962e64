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
    import datetime as dt

    from ..operations import ReadQuery
    from ..ports import BlobStore

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
    #: the batch key the upload names (None: the kind's default)
    external_key: str | None
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


#: the longest chunk file name after its folder: a uuid and the longer format's suffix
LONGEST_FILE = f"{'u' * 32}.parquet"


class LayoutKind(ABC):
    """One way of laying rows out in files."""

    #: the stored name (``Layout.kind``)
    name: ClassVar[str]
    #: the name users give in ``columns_keys`` (any case), or "" for a kind they cannot ask for
    user_name: ClassVar[str]
    #: the :class:`~pandasdb_core.operations.ReadQuery` fields this kind answers (a field may
    #: belong to several kinds: a read asks any layout of the frame that answers it)
    filters: ClassVar[tuple[str, ...]]
    #: whether the kind keeps batches under external keys (uploads, reads and ``delete``
    #: name one); ``external_key`` is refused for frames without such a layout
    keyed: ClassVar[bool] = False
    #: whether the kind's partitions are calendar days (what ``dates()`` lists, and the
    #: columns the HTTP API types as dates)
    dated: ClassVar[bool] = False
    #: the help of the command-line flag ``--{name}-col COL`` that partitions by COL ("" for
    #: a kind users cannot ask for)
    cli_help: ClassVar[str] = ""

    @property
    def wanted(self) -> str:
        """What a read of this kind's filters needs, for messages: ``a Date layout``."""
        if not self.user_name:
            return "batches"
        article = "an" if self.user_name[:1] in ("A", "E", "I", "O", "U") else "a"
        return f"{article} {self.user_name} layout"

    def given(self, query: ReadQuery) -> tuple[str, ...]:
        """The filters of this kind that ``query`` uses."""
        # identity, not equality: start_id=0 is a filter (0 == False in Python)
        values = {f: getattr(query, f) for f in self.filters}
        return tuple(f for f, v in values.items() if v is not None and v is not False)

    def asked(self, query: ReadQuery) -> bool:
        """Whether ``query`` uses any of this kind's filters."""
        return bool(self.given(query))

    def adapt(self, query: ReadQuery, layouts: Sequence[Layout]) -> ReadQuery:
        """``query`` as a frame stored by ``layouts`` reads it (a kind may drop a filter that
        means nothing to such a frame)."""
        return query

    def folder(self, layout: Layout) -> str:
        """The folder of the frame that holds this layout's chunk files (and its manifest)."""
        return layout.column

    @abstractmethod
    def longest_key_tail(self, segment_bytes: int) -> str:
        """The longest a chunk key of this kind can be after the frame's name, for a column
        or key of ``segment_bytes`` bytes (see :mod:`pandasdb_core.names`)."""

    def batch_key(self, external_key: str | None) -> str | None:
        """The external key a commit of this kind records (None: the kind has none)."""
        return None

    def day(self, chunk: ChunkRecord) -> dt.date:
        """The calendar day a chunk of a :attr:`dated` kind holds."""
        raise NotImplementedError(f"{self.name} layouts have no days")

    def side_files(self, blobs: BlobStore, name: str) -> list[str]:
        """Keys of the files besides chunk files this kind keeps for frame ``name`` (those
        ``delete`` removes with the frame)."""
        return []

    def committed(
        self, blobs: BlobStore, name: str, external_key: str | None, keys: Sequence[str]
    ) -> None:
        """After a commit of frame ``name`` that wrote chunk files ``keys``: the kind's
        informational files, if it keeps any."""
        return None

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
