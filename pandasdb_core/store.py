"""The store: the public operations over a BlobStore + MetadataStore.

Each method builds its operation's request object (:mod:`pandasdb_core.operations`), which
validates it, and hands it to the path that carries it out (:mod:`.writing`,
:mod:`.reading`, :mod:`.maintenance`).

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> db.upload(pd.DataFrame({"a": [1, 2]}), "demo").version
1
>>> db.get("demo")["a"].tolist()
[1, 2]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import polars as pl

from . import (
    batch_removal,
    codecs,
    editing,
    maintenance,
    manifest,
    reading,
    snapshot,
    stats,
    streaming,
    writing,
)
from .errors import CommitConflict, FrameNotFound
from .frame_store import Edit, FrameStore
from .layouts import kind_of
from .names import validate_frame_name
from .operations import (
    DatesQuery,
    DeleteRequest,
    DeleteRowsOptions,
    FrameRef,
    ListQuery,
    OutputOptions,
    ReadQuery,
    ReplaceOptions,
    UploadOptions,
    VacuumOptions,
)
from .operations.base import takes
from .parallel import map_parallel
from .ports import BlobStore, MetadataStore
from .reading import Fetch, ReadFiles
from .records import CheckReport, Commit, FrameHead, FrameInfo, VacuumReport, VersionInfo
from .results import FrameList, VersionList
from .schema import Schema, user_columns
from .snapshot import Snapshot
from .staging import Staging
from .writing import after_landing, attempts, backoff

DEFAULT_CHUNK_ROWS = 250_000
#: how long a writer keeps retrying a commit that other writers keep beating; each conflict
#: means another commit succeeded, so the store as a whole always makes progress
COMMIT_TIMEOUT = 120.0
T = TypeVar("T")
R = TypeVar("R")


class Store(FrameStore):
    """A partitioned, chunked, versioned DataFrame store on a blob store and a metadata store.

    Every upload is one atomic commit: concurrent writers never lose each other's rows and
    readers see whole versions only.

    Parameters
    ----------
    blobs, meta
        The two ports (see :mod:`pandasdb_core.ports`); usually built by :func:`pandasdb_core.open`.
    chunk_rows
        Default rows per chunk file for new frames.
    format
        Default file format for new frames: ``"csv.gz"`` or ``"parquet"``.
    workers
        Threads used to encode, write, fetch and decode chunks.
    progress
        Progress bars for uploads and reads of many chunks: None (default) shows them when a
        person is watching (see :mod:`pandasdb_core.progress`); True or False forces.
    commit_timeout
        Seconds a commit keeps retrying while other writers win the race (and at the latest
        until :attr:`deadline`, when one is set: see :meth:`until`).
    manifests
        Rewrite each frame's symlink manifests (:mod:`pandasdb_core.manifest`) after every
        commit, for Athena, Trino and Spark tables over them.
    location
        Where the data is, for ``repr`` (``./data (local)``, ``memory://``...).
    """

    def __init__(
        self,
        blobs: BlobStore,
        meta: MetadataStore,
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        format: codecs.Format = "csv.gz",
        workers: int = 8,
        progress: bool | None = None,
        commit_timeout: float = COMMIT_TIMEOUT,
        manifests: bool = False,
        location: str = "",
    ) -> None:
        defaults = UploadOptions.build(name="defaults", chunk_rows=chunk_rows, format=format)
        self.blobs = blobs
        self.meta = meta
        self.chunk_rows: int = defaults.chunk_rows  # type: ignore[assignment]
        self.format: codecs.Format = defaults.format  # type: ignore[assignment]
        self.workers = workers
        self.progress = progress
        self.commit_timeout = commit_timeout
        #: a :func:`time.monotonic` time by which commit retries end whatever
        #: ``commit_timeout`` says (the deadline of the HTTP request under way); None: none
        self.deadline: float | None = None
        self.staging = Staging(blobs)
        self.manifests = manifests
        #: where the data is, as :func:`pandasdb_core.open` was given it (shown by ``repr``)
        self.location = location

    @contextmanager
    def until(self, deadline: float | None) -> Iterator[Store]:
        """Within the block, commit retries end at ``deadline`` (a :func:`time.monotonic`
        time; None: ``commit_timeout`` alone) at the latest, however late a commit begins;
        after it, the store's own deadline again.

        Example
        -------
        >>> import time, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> with db.until(time.monotonic() + 5):
        ...     db.deadline is not None
        True
        >>> db.deadline is None
        True
        """
        previous, self.deadline = self.deadline, deadline
        try:
            yield self
        finally:
            self.deadline = previous

    def __repr__(self) -> str:
        if self.location:
            return f"<pandasdb Store {self.location}>"
        return f"<pandasdb Store blobs={type(self.blobs).__name__} meta={type(self.meta).__name__}>"

    # ------------------------------------------------------------------ primitives

    def write(self, df: Any, options: UploadOptions) -> Commit:
        """Carry out an upload described by :class:`UploadOptions` (see :meth:`upload`).

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> from pandasdb_core.operations import UploadOptions
        >>> db = pdb.open("memory://")
        >>> db.write(pd.DataFrame({"a": [1]}), UploadOptions.build(name="f")).rows
        1
        """
        if streaming.is_stream(df):
            # a file, a LazyFrame or an iterator of frames: piece by piece, one commit
            return streaming.upload_stream(self, df, options)
        return writing.upload(
            self,
            df,
            options,
            operation=editing.operation_of(options),
            remove=editing.upload_remover(self, options),
        )

    def change(self, options: Edit, df: Any = None) -> Commit:
        """Carry out an edit described by its request type (see :meth:`replace`,
        :meth:`delete_rows`, :meth:`compact`); ``df`` is the new rows of a replace.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> from pandasdb_core.operations import CompactOptions
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
        >>> db.change(CompactOptions.build(name="f")).version
        1
        """
        if isinstance(options, ReplaceOptions):
            return editing.replace(self, df, options)
        if isinstance(options, DeleteRowsOptions):
            return editing.delete_rows(self, options)
        return editing.compact(self, options)

    def read_frame(self, query: ReadQuery, output: OutputOptions) -> Any:
        """Carry out a :class:`ReadQuery`: the frame in ``output.engine``, decoded batch by
        batch on the store's threads (see :mod:`pandasdb_core.reading`)."""
        return self.read_files(query).collect(output.engine)

    def read(self, query: ReadQuery) -> tuple[pl.DataFrame, Schema]:
        """Carry out a :class:`ReadQuery`: the stored polars frame (index levels as
        ``__index_level_i__`` columns) and the frame's schema, for callers that convert
        elsewhere (the HTTP API hands both to the SDK).

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> from pandasdb_core.operations import ReadQuery
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"a": [1]}, index=pd.Index([7], name="k")), "f")
        >>> db.read(ReadQuery.build(name="f"))[0].columns
        ['__index_level_0__', 'a']
        """
        return reading.read(self, query)

    def read_files(self, query: ReadQuery) -> ReadFiles:
        """The read ``query`` asks for: planned against the frame's head, over the chunk
        files its version sees, fetched through the blob port on the store's threads."""
        return reading.files_of(self, query)

    def snapshot_of(self, query: ReadQuery) -> Snapshot:
        """The committed chunk files a read fetches, with the stored schema (see :meth:`files`)."""
        return snapshot.snapshot(self, query)

    def fetcher(self, snap: Snapshot, query: ReadQuery, *, shipped: bool = False) -> Fetch:
        """How to read the store's snapshot files: from their paths when they are local
        files, else through the blob port (see :func:`pandasdb_core.snapshot.fetcher`)."""
        return snapshot.fetcher(self)

    def write_manifests(self, ref: FrameRef) -> list[str]:
        """Write the symlink manifests of a frame's latest version; their keys."""
        return manifest.write_manifests(self, ref.name)

    def head(self, name: str) -> FrameHead:
        """The frame's current head, or :class:`FrameNotFound`."""
        validate_frame_name(name)
        head = self.meta.head(name)
        if head is None:
            # one list call, only on a miss, to suggest the names the user may have meant
            raise FrameNotFound(name, known=(h.name for h in self.meta.frames()))
        return head

    def find_head(self, name: str) -> FrameHead | None:
        """The frame's current head, or None if there is no such frame: one metadata read,
        never a listing of the frames (for callers to whom a missing frame is an answer,
        not an error; :meth:`head` lists them on a miss, to suggest names).

        Examples
        --------
        >>> import pandasdb_core as pdb
        >>> pdb.open("memory://").find_head("nope") is None
        True
        """
        validate_frame_name(name)
        return self.meta.head(name)

    def frames(self, query: ListQuery) -> FrameList:
        """One record per frame whose name starts with the query's prefix (see :meth:`list`)."""
        return FrameList(
            FrameInfo(
                name=h.name,
                version=h.version,
                rows=h.rows,
                format=h.format,
                layouts=tuple(lay.tag for lay in h.layouts),
                columns=tuple(user_columns(h.schema)),
                updated_at=h.updated_at,
                stats=stats.frame_stats(self, h),
            )
            for h in self.meta.frames(query.prefix)
        )

    def history(self, ref: FrameRef) -> VersionList:
        """The retained version history of a frame, oldest first (see :meth:`versions`)."""
        head = self.head(ref.name)
        history = [
            VersionInfo(
                version=v.version,
                created_at=v.created_at,
                rows_added=v.rows_added,
                rows_total=v.rows_total,
                chunks_added=v.chunks_added,
                bytes_added=v.bytes_added,
                external_key=v.external_key,
                keep_last=v.keep_last,
                operation=v.operation,
            )
            for v in self.meta.versions(head.frame_id)
            if v.version >= head.min_version
        ]
        return VersionList(history, name=head.name)

    def days(self, query: DatesQuery) -> list[dt.date]:
        """The days a Date layout holds rows for, from the chunk index (see :meth:`dates`)."""
        return stats.days(self, query)

    def remove(self, request: DeleteRequest) -> None:
        """Delete a frame, or with ``external_key`` only that key's batches (see
        :meth:`delete`)."""
        if request.external_key is not None:
            batch_removal.remove_key(self, request.name, request.external_key)
            return
        for attempt in attempts(self.commit_timeout, self.deadline):
            head = self.head(request.name)
            try:
                self.meta.drop_frame(request.name, expected=head)
            except CommitConflict:
                backoff(attempt)
                continue
            # the frame is deleted: its side files are garbage, whose removal may fail (a
            # storage error) without undoing the delete; vacuum removes what stays
            after_landing(
                f"frame {request.name!r} is deleted",
                "its side files (last_key.txt, manifests) could not be removed",
                lambda head=head: self._remove_side_files(head),
                "vacuum removes them",
            )
            return
        raise CommitConflict(
            f"frame {request.name!r}: could not delete while writers kept committing"
        )

    def _remove_side_files(self, head: FrameHead) -> None:
        """Remove exactly frame ``head``'s own files (its kinds' side files, its manifests):
        another frame's can live under any prefix of this one's (a frame may be named
        ``a/external_key/b`` or ``a/_symlink_format_manifest/b``), so nothing goes by prefix."""
        own = [k for lay in head.layouts for k in kind_of(lay).side_files(self.blobs, head.name)]
        own += [manifest.manifest_key(head.name, lay) for lay in head.layouts]
        self.blobs.delete(own)

    @takes(VacuumOptions, skip=())
    def vacuum(self, **options: Any) -> VacuumReport:
        """Remove chunk files no retained version references, and stale staged files.

        Only files older than ``grace_seconds`` are removed: that protects a reader of a
        version ``retain_versions`` just retired, and spares writers work. A writer never
        loses its files: vacuum records its cutoff store-wide before it looks
        (:meth:`~pandasdb_core.ports.MetadataStore.begin_vacuum`), and a commit whose files
        were written before a later cutoff is refused in its atomic step
        (:class:`~pandasdb_core.errors.VacuumRaced`), so the writer writes them again under
        fresh keys; ``grace_seconds=0`` beside running writers costs them that rewrite,
        never a row.

        Parameters
        ----------
        <options>

        Examples
        --------
        >>> import pandasdb_core as pdb
        >>> pdb.open("memory://").vacuum(dry_run=True).blobs_deleted
        ()
        """
        return maintenance.vacuum(self, VacuumOptions.build(**options))

    def check(self, prefix: str = "") -> CheckReport:
        """Verify that every chunk a retained version references exists, matches the size and
        SHA-256 recorded at commit, and decodes with the frame's schema.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
        >>> db.check().ok
        True
        """
        return maintenance.check(self, ListQuery.build(prefix=prefix).prefix)

    # ------------------------------------------------------------------ helpers

    def map(self, fn: Callable[[T], R], items: Sequence[T], label: str) -> list[R]:
        """Run per-chunk work on the store's worker threads."""
        return map_parallel(fn, items, workers=self.workers, label=label, progress=self.progress)
