"""Frozen records exchanged between the store and its ports, and returned to users.

Example
-------
>>> Layout("date", "ts").tag
'date:ts'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

#: the stored name of a layout kind: a key of the registry :data:`pandasdb_core.layouts.KINDS`
LayoutKind = str
Format = Literal["csv.gz", "parquet"]
#: a partition bound: "YYYY-MM-DD" for a Date layout, an int for an ID layout, "" for batches
PartitionValue = str | int


@dataclass(frozen=True)
class Layout:
    """One way a frame's rows are laid out in files: a kind of the layout registry
    (:mod:`pandasdb_core.layouts`: ``date`` or ``id`` of a column, versioned ``batch`` es
    without one) and its column."""

    kind: LayoutKind
    column: str = ""

    @property
    def tag(self) -> str:
        """A short stable identifier, e.g. ``date:ts``; the metadata stores index chunks by it."""
        return f"{self.kind}:{self.column}" if self.column else self.kind


@dataclass(frozen=True)
class FrameHead:
    """The current state of one frame: its identity, latest version and how it is stored."""

    name: str
    frame_id: str
    version: int
    format: Format
    layouts: tuple[Layout, ...]
    schema: dict[str, Any]
    chunk_rows: int
    rows: int
    created_at: float
    updated_at: float
    #: the oldest version ``as_of`` may still read (raised by ``vacuum(retain_versions=...)``)
    min_version: int = 1
    #: the floor before the last raise of ``min_version``, and when it was raised: vacuum frees
    #: what only older versions read once the raise is older than its grace period, so a
    #: reader that resolved a version just before the raise still finds its files
    previous_min_version: int = 1
    retired_at: float = 0.0
    #: per layout, what the chunks ``version`` reads hold (rows, files, bytes, range), kept up
    #: to date by every commit; empty in heads written before pandasdb kept it (then computed
    #: from the chunk index when asked: :func:`pandasdb_core.stats.frame_stats`)
    stats: tuple[LayoutStats, ...] = ()
    #: a token every write of the head changes (a commit, vacuum raising ``min_version``):
    #: a conditional write compares it, so no writer that read an older head can overwrite a
    #: newer one of the same version (vacuum's raise, then a commit copying the old floor);
    #: "" in heads written before pandasdb kept it
    revision: str = ""

    def freeable_floor(self, cutoff: float) -> int:
        """The oldest version whose files vacuum must keep, for a grace ``cutoff`` (epoch s)."""
        return self.min_version if self.retired_at <= cutoff else self.previous_min_version


def new_revision() -> str:
    """A fresh :attr:`FrameHead.revision` for a head about to be written.

    Example
    -------
    >>> len(new_revision())
    32
    """
    return uuid.uuid4().hex


@dataclass(frozen=True)
class VersionRecord:
    """One committed version. ``txn`` ties the chunks written for it to this commit."""

    version: int
    txn: str
    created_at: float
    rows_added: int
    rows_total: int
    chunks_added: int
    bytes_added: int
    external_key: str | None = None
    keep_last: bool = False
    #: what the commit did: ``append``, ``overwrite``, ``replace_partitions``, ``replace``,
    #: ``delete_rows`` or ``compact``
    operation: str = "append"
    #: how many drop records (see :class:`DropRecord`) the commit wrote; readers consult the
    #: drop index only for frames where some version did
    drop_records: int = 0
    #: the key the writer named the commit by; a repeat with it commits nothing
    idempotency_key: str | None = None


def nulls_from(value: Iterable[str] | None) -> tuple[str, ...] | None:
    """A chunk's null columns as its records hold them (see :attr:`ChunkRecord.nulls`),
    from the list JSON, DynamoDB and session pieces give; None stays None (not recorded).

    Example
    -------
    >>> nulls_from(["a", "b"]), nulls_from([]), nulls_from(None)
    (('a', 'b'), (), None)
    """
    return None if value is None else tuple(value)


@dataclass(frozen=True)
class ChunkRecord:
    """One immutable chunk file of one layout, as indexed in the metadata store."""

    chunk_id: str
    layout: str
    lo: PartitionValue
    hi: PartitionValue
    key: str
    rows: int
    size: int
    sha256: str
    version: int
    txn: str
    seq: int
    external_key: str | None = None
    #: the version whose place in the row order this chunk takes: an edit that rewrites a
    #: chunk (deleting some rows, or merging small chunks) keeps the place (``origin``,
    #: ``seq``) of the chunk it replaces, so rows keep their order; None: its own version
    origin: int | None = None
    #: the integer and boolean columns of its file that hold a null (what decides their
    #: pandas dtype: ``Int64`` rather than ``int64``), so a read gives every batch ``get``'s
    #: dtypes without reading those columns first; None: not recorded (a chunk written
    #: before pandasdb recorded them, or one with more such columns than a record lists:
    #: see :func:`pandasdb_core.writing.null_columns`)
    nulls: tuple[str, ...] | None = None

    @property
    def rank(self) -> tuple[int, int]:
        """The chunk's place in commit order, for ordering rows within a partition."""
        return (self.version if self.origin is None else self.origin, self.seq)


@dataclass(frozen=True)
class ChunkFile:
    """One committed chunk file as a reader fetches it: what a snapshot lists
    (:class:`pandasdb_core.snapshot.Snapshot`) and what a read decodes."""

    #: where engines read it: an absolute local path, an ``s3://`` URI, or (from the SDK) a
    #: presigned ``https://`` URL; "" for a store only this process can read (memory), and
    #: for the files of a read through the store's own blob port
    uri: str
    #: the layout it belongs to (``date:ts``, ``id:uid``, ``batch``)
    layout: str
    #: its partition: the day (``YYYY-MM-DD``), the id range, or the batch key
    lo: PartitionValue
    hi: PartitionValue
    rows: int
    bytes: int
    format: Format
    #: the version that wrote it (columns added later are absent from it)
    version: int
    sha256: str = ""
    #: its key inside the store
    key: str = field(default="", repr=False)
    #: the integer and boolean columns holding a null (see :attr:`ChunkRecord.nulls`);
    #: None: not recorded
    nulls: tuple[str, ...] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, chunk: ChunkRecord, fmt: Format, uri: str = "") -> ChunkFile:
        """The file of an indexed chunk (of a frame stored as ``fmt``)."""
        return cls(
            uri=uri,
            layout=chunk.layout,
            lo=chunk.lo,
            hi=chunk.hi,
            rows=chunk.rows,
            bytes=chunk.size,
            format=fmt,
            version=chunk.version,
            sha256=chunk.sha256,
            key=chunk.key,
            nulls=chunk.nulls,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkFile:
        """Inverse of :meth:`to_json`; keys it does not know (a newer server's) are
        ignored.

        Example
        -------
        >>> file = ChunkFile("f.parquet", "batch", "k", "k", 2, 10, "parquet", 1, nulls=("a",))
        >>> ChunkFile.from_json(file.to_json()) == file
        True
        """
        known = {f.name for f in dataclasses.fields(cls)} - {"key"}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**{**values, "nulls": nulls_from(values.get("nulls"))})

    @property
    def name(self) -> str:
        """What errors call the file: its key, or its URI without a query (a presigned
        URL's query holds a signature)."""
        return self.key or self.uri.split("?", 1)[0]

    def to_json(self) -> dict[str, Any]:
        """The file as a JSON object (the HTTP API's form)."""
        return {
            "uri": self.uri,
            "layout": self.layout,
            "lo": self.lo,
            "hi": self.hi,
            "rows": self.rows,
            "bytes": self.bytes,
            "format": self.format,
            "version": self.version,
            "sha256": self.sha256,
            "nulls": None if self.nulls is None else list(self.nulls),
        }


@dataclass(frozen=True)
class DropRecord:
    """A commit's removal of one chunk from the versions from its own on: a tombstone,
    indexed like the chunk (same layout and ``[lo, hi]``), so a range query of chunks finds
    the drops of that range. Like a chunk record, it counts only if the version named
    ``version`` carries its ``txn`` (a losing commit's drops are invisible)."""

    chunk_id: str
    layout: str
    lo: PartitionValue
    hi: PartitionValue
    version: int
    txn: str


@dataclass(frozen=True)
class BlobInfo:
    """A listed blob: its key, size in bytes and last-modified time (epoch seconds)."""

    key: str
    size: int
    modified: float


@dataclass(frozen=True)
class Commit:
    """What ``upload`` returns: the new version and the chunk files written for it."""

    name: str
    version: int
    rows: int
    chunks: int
    keys: tuple[str, ...] = field(repr=False)
    bytes: int = 0
    #: the rows of each chunk file, in the order of ``keys``
    chunk_rows: tuple[int, ...] = field(default=(), repr=False)
    #: the batch key written (None for a partitioned frame)
    external_key: str | None = None
    #: rows the commit took out (an overwrite, a replace, delete_rows; 0 for an append)
    rows_removed: int = 0
    #: chunk files the commit dropped from the frame (read no more from its version on)
    chunks_dropped: int = 0


class _ShowsTimes:
    """A record whose ``repr`` shows its epoch-second fields (``created_at``,
    ``updated_at``) as ISO-8601 UTC, as the tables of :mod:`pandasdb_core.results` show them;
    the fields keep their float values."""

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name in ("created_at", "updated_at"):
                moment = dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="seconds")
                shown.append(f"{f.name}={moment.replace('+00:00', 'Z')}")
            else:
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


@dataclass(frozen=True, repr=False)
class VersionInfo(_ShowsTimes):
    """One entry of ``versions(name)``.

    Example
    -------
    >>> VersionInfo(1, 0.0, 2, 2, 1, 10, None, False)
    VersionInfo(version=1, created_at=1970-01-01T00:00:00Z, rows_added=2, ...)
    """

    version: int
    created_at: float
    rows_added: int
    rows_total: int
    chunks_added: int
    bytes_added: int
    external_key: str | None
    keep_last: bool
    #: what the commit did (``append``, ``replace_partitions``, ``delete_rows``, ``compact``...)
    operation: str = "append"


@dataclass(frozen=True)
class LayoutStats:
    """What one layout of a frame holds at its latest version, as the chunk index says (no
    data is read): rows, chunk files and their bytes, and the days (Date layout, as
    ``YYYY-MM-DD``) or ids (ID layout) its chunks cover; ``lo``/``hi`` are None for batches
    and for a layout that holds nothing."""

    layout: str
    rows: int = 0
    chunks: int = 0
    bytes: int = 0
    lo: PartitionValue | None = None
    hi: PartitionValue | None = None

    @property
    def avg_chunk_rows(self) -> float:
        """Mean rows per chunk file: far below ``chunk_rows`` means ``compact`` would help."""
        return self.rows / self.chunks if self.chunks else 0.0


@dataclass(frozen=True, repr=False)
class FrameInfo(_ShowsTimes):
    """One entry of ``list()``: a frame's latest version, its rows and columns, and per
    layout (``stats``) the range it covers, its chunk files and bytes on storage.

    Example
    -------
    >>> FrameInfo("f", 1, 2, "parquet", ("batch",), ("a",), 86400.5)
    FrameInfo(name='f', version=1, rows=2, ..., updated_at=1970-01-02T00:00:00Z, stats=())
    """

    name: str
    version: int
    rows: int
    format: Format
    layouts: tuple[str, ...]
    columns: tuple[str, ...]
    updated_at: float
    stats: tuple[LayoutStats, ...] = ()

    @property
    def chunks(self) -> int:
        """Chunk files over all layouts."""
        return sum(s.chunks for s in self.stats)

    @property
    def bytes(self) -> int:
        """Bytes on storage over all layouts (each layout stores the data once)."""
        return sum(s.bytes for s in self.stats)


@dataclass(frozen=True)
class VacuumReport:
    """What ``vacuum`` removed (or, with ``dry_run``, would remove)."""

    blobs_deleted: tuple[str, ...]
    chunk_records_forgotten: int
    bytes_freed: int
    dry_run: bool


@dataclass(frozen=True)
class CheckReport:
    """What ``check`` found: committed chunk files that are missing, whose bytes differ from
    the checksum recorded at commit, or that do not decode with the frame's schema."""

    frames: int
    chunks_checked: int
    missing: tuple[str, ...]
    corrupt: tuple[str, ...]
    undecodable: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every committed chunk is present, intact and readable."""
        return not self.missing and not self.corrupt and not self.undecodable
