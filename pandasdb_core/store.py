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
from .conversion import Engine, check_engine, to_engine
from .errors import CommitConflict, FrameNotFound
from .layouts import BATCH
from .names import validate_frame_name
from .operations import (
    CompactOptions,
    DatesQuery,
    DeleteRequest,
    DeleteRowsOptions,
    FrameRef,
    ListQuery,
    ReadQuery,
    ReplaceOptions,
    UploadOptions,
    VacuumOptions,
)
from .operations.base import takes
from .parallel import map_parallel
from .ports import BlobStore, MetadataStore
from .records import CheckReport, Commit, FrameHead, FrameInfo, VacuumReport, VersionInfo
from .results import FrameList, VersionList
from .schema import Schema, user_columns
from .snapshot import Snapshot
from .staging import Staging
from .writing import attempts, backoff, last_key_frame

DEFAULT_CHUNK_ROWS = 250_000
#: how long a writer keeps retrying a commit that other writers keep beating; each conflict
#: means another commit succeeded, so the store as a whole always makes progress
COMMIT_TIMEOUT = 120.0
T = TypeVar("T")
R = TypeVar("R")


class Store:
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
        Seconds a commit keeps retrying while other writers win the race.
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
        self.staging = Staging(blobs)
        self.manifests = manifests
        #: where the data is, as :func:`pandasdb_core.open` was given it (shown by ``repr``)
        self.location = location

    def __repr__(self) -> str:
        if self.location:
            return f"<pandasdb Store {self.location}>"
        return f"<pandasdb Store blobs={type(self.blobs).__name__} meta={type(self.meta).__name__}>"

    # ------------------------------------------------------------------ writing

    @takes(UploadOptions)
    def upload(self, df: Any, name: str, **options: Any) -> Commit:
        """Store ``df`` as a new version of frame ``name``.

        Parameters
        ----------
        df
            A pandas or polars DataFrame with at least one row.
        name
            ``[A-Za-z0-9._-]`` segments joined by ``/``.
        <options>

        Returns
        -------
        Commit
            The new version, its rows and the chunk keys written.

        Raises
        ------
        InvalidName, InvalidArgument, InvalidPartition, SchemaMismatch
            Bad input; nothing is written.
        CommitConflict
            Other writers kept moving the head through every retry.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02"]), "v": [1, 2]})
        >>> db.upload(df, "sales/daily", columns_keys={"ts": "Date"}).chunks
        2
        """
        return self.write(df, UploadOptions.build(name=name, **options))

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

    @takes(ReplaceOptions)
    def replace(self, name: str, df: Any, **options: Any) -> Commit:
        """Replace the rows of a date or id range of frame ``name`` by ``df``, as one commit.

        Parameters
        ----------
        name
            The frame (it must exist).
        df
            The new rows of the range (pandas or polars); every row must lie inside it.
        <options>

        Returns
        -------
        Commit
            The new version: ``rows`` written, ``rows_removed`` taken out.

        Raises
        ------
        InvalidArgument
            No range given, or a row of ``df`` outside it (named); nothing is written.
        FrameNotFound, SchemaMismatch, InvalidPartition, CommitConflict

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02"]), "v": [1, 2]})
        >>> _ = db.upload(df, "f", columns_keys={"ts": "Date"})
        >>> fix = pd.DataFrame({"ts": pd.to_datetime(["2024-01-02"]), "v": [20]})
        >>> db.replace("f", fix, start_date="2024-01-02", end_date="2024-01-02").rows_removed
        1
        >>> db.get("f")["v"].tolist()
        [1, 20]
        """
        return self.change(ReplaceOptions.build(name=name, **options), df)

    @takes(DeleteRowsOptions)
    def delete_rows(self, name: str, **options: Any) -> Commit:
        """Remove the rows a date or id filter selects from frame ``name``, as one commit
        (``as_of`` the version before still reads them). Chunks wholly removed are dropped
        without being read; chunks partly removed are rewritten.

        Parameters
        ----------
        name
            The frame.
        <options>

        Returns
        -------
        Commit
            The new version and ``rows_removed``; the current version, with nothing removed,
            when no row matched.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"uid": [1, 2, 3]}), "u", columns_keys={"uid": "ID"})
        >>> db.delete_rows("u", partition_value=2).rows_removed, db.get("u")["uid"].tolist()
        (1, [1, 3])
        """
        return self.change(DeleteRowsOptions.build(name=name, **options))

    @takes(CompactOptions)
    def compact(self, name: str, **options: Any) -> Commit:
        """Merge the small chunk files of each partition of frame ``name`` into files of about
        ``target_rows`` rows, as one commit that changes no row (nor their order within a
        day). ``vacuum`` later frees the old files, once no retained version reads them.

        Parameters
        ----------
        name
            The frame.
        <options>

        Returns
        -------
        Commit
            The new version (``chunks`` written, ``chunks_dropped`` merged); the current
            version when nothing was worth merging.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> for v in range(3):
        ...     _ = db.upload(pd.DataFrame({"uid": [v]}), "u", columns_keys={"uid": "ID"})
        >>> commit = db.compact("u")
        >>> commit.chunks_dropped, commit.chunks, db.get("u")["uid"].tolist()
        (3, 1, [0, 1, 2])
        """
        return self.change(CompactOptions.build(name=name, **options))

    def change(
        self,
        options: ReplaceOptions | DeleteRowsOptions | CompactOptions,
        df: Any = None,
    ) -> Commit:
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

    # ------------------------------------------------------------------ reading

    @takes(ReadQuery)
    def get(self, name: str, *, engine: Engine = "pandas", **filters: Any) -> Any:
        """Read frame ``name``, fetching only the chunks the filters need.

        Parameters
        ----------
        name
            The frame.
        engine
            ``"pandas"`` (default) or ``"polars"``.
        <options>

        Raises
        ------
        FrameNotFound, VersionNotFound, InvalidArgument

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"id": [3, 1, 2], "v": ["c", "a", "b"]}), "u",
        ...               columns_keys={"id": "ID"})
        >>> db.get("u", partition_value=2)["v"].tolist()
        ['b']
        """
        check_engine(engine)
        query = ReadQuery.build(name=name, **filters)
        if engine == "pandas":
            return reading.read_pandas(self, query)
        frame, schema = self.read(query)
        return to_engine(frame, schema, engine)

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

    @takes(ReadQuery)
    def iter_batches(
        self,
        name: str,
        *,
        batch_rows: int | None = None,
        engine: Engine = "pandas",
        **filters: Any,
    ) -> Iterator[Any]:
        """Read frame ``name`` batch by batch: the rows ``get`` returns, in its order and
        with its dtypes, holding about one batch in memory (the next chunk is fetched while
        the caller works on the current batch).

        Parameters
        ----------
        name
            The frame.
        batch_rows
            Rows per batch (the last may be shorter); None: one batch per chunk file.
        engine
            ``"pandas"`` (default) or ``"polars"``.
        <options>

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"a": range(5)}), "f")
        >>> [b["a"].tolist() for b in db.iter_batches("f", batch_rows=2)]
        [[0, 1], [2, 3], [4]]
        """
        check_engine(engine)
        query = ReadQuery.build(name=name, **filters)
        return streaming.iter_batches(self, query, batch_rows=batch_rows, engine=engine)

    @takes(ReadQuery)
    def files(self, name: str, **filters: Any) -> Snapshot:
        """The committed chunk files the read of ``name`` with these filters fetches, in the
        order ``get`` returns their rows, with the stored schema: the exact snapshot of one
        version for other engines (DuckDB, pyarrow, Spark). The files hold whole chunks;
        ``scan`` and ``to_dask`` also apply the filters to rows.

        Parameters
        ----------
        name
            The frame.
        <options>

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb, tempfile
        >>> db = pdb.open(tempfile.mkdtemp())
        >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
        >>> db.files("f").files[0].uri.endswith(".csv.gz")
        True
        """
        return snapshot.snapshot(self, ReadQuery.build(name=name, **filters))

    @takes(ReadQuery)
    def scan(
        self, name: str, *, storage_options: dict[str, Any] | None = None, **filters: Any
    ) -> pl.LazyFrame:
        """A polars ``LazyFrame`` over exactly the files of :meth:`files`, returning what
        ``get(name, engine="polars", **filters)`` returns.

        Parameters
        ----------
        name
            The frame.
        storage_options
            For ``s3://`` stores: polars' cloud options (``aws_region``, ``aws_endpoint_url``...).
        <options>

        Examples
        --------
        >>> import pandas as pd, polars as pl, pandasdb_core as pdb, tempfile
        >>> db = pdb.open(tempfile.mkdtemp())
        >>> _ = db.upload(pd.DataFrame({"a": [1, 2]}), "f")
        >>> db.scan("f").filter(pl.col("a") > 1).collect()["a"].to_list()
        [2]
        """
        query = ReadQuery.build(name=name, **filters)
        snap = snapshot.snapshot(self, query)
        return snapshot.scan(
            snap, query, storage_options=storage_options, fetch=snapshot.fetcher(self)
        )

    @takes(ReadQuery)
    def to_dask(self, name: str, **filters: Any) -> Any:
        """A Dask DataFrame over the files of :meth:`files`: one partition per chunk file,
        decoded as ``get`` does, with ``meta`` from the stored schema (nothing is read to
        build it). Needs the ``dask`` extra.

        Parameters
        ----------
        name
            The frame.
        <options>
        """
        query = ReadQuery.build(name=name, **filters)
        snap = snapshot.snapshot(self, query)
        return snapshot.to_dask(snap, query, snapshot.fetcher(self))

    def manifest(self, name: str) -> list[str]:
        """Write the symlink manifests of frame ``name``'s latest version, one per layout
        (see :mod:`pandasdb_core.manifest`); returns their keys.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb, tempfile
        >>> db = pdb.open(tempfile.mkdtemp())
        >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
        >>> db.manifest("f")
        ['f/_symlink_format_manifest/external_key/manifest']
        """
        return manifest.write_manifests(self, FrameRef.build(name=name).name)

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

    # ------------------------------------------------------------------ catalogue

    def list(self, prefix: str = "") -> FrameList:
        """One record per frame whose name starts with ``prefix`` (literally), by name: a list
        that shows as a table (``to_pandas()``, ``to_polars()``, HTML in notebooks).

        Examples
        --------
        >>> import pandasdb_core as pdb
        >>> pdb.open("memory://").list()
        0 frames
        """
        query = ListQuery.build(prefix=prefix)
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

    def versions(self, name: str) -> VersionList:
        """The retained version history of frame ``name``, oldest first: a list that shows as
        a table (``to_pandas()``, ``to_polars()``, HTML in notebooks).

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> for value in (1, 2):
        ...     _ = db.upload(pd.DataFrame({"a": [value]}), "f")
        >>> [v.rows_total for v in db.versions("f")]
        [1, 2]
        """
        head = self.head(FrameRef.build(name=name).name)
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

    @takes(DatesQuery)
    def dates(self, name: str, **options: Any) -> list[dt.date]:
        """The days a Date layout of frame ``name`` holds rows for, oldest first, read from the
        chunk index (no data is read).

        Parameters
        ----------
        name
            The frame.
        <options>

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-03", "2024-01-01"])})
        >>> _ = db.upload(df, "sales", columns_keys={"ts": "Date"})
        >>> db.dates("sales")
        [datetime.date(2024, 1, 1), datetime.date(2024, 1, 3)]
        """
        return stats.days(self, DatesQuery.build(name=name, **options))

    @takes(DeleteRequest)
    def delete(self, name: str, **options: Any) -> None:
        """Delete frame ``name`` atomically; ``vacuum`` later frees its files. With
        ``external_key``, remove only that key's batches, as a new version (``as_of`` the
        version before still reads them; see :mod:`pandasdb_core.batch_removal`).

        Parameters
        ----------
        name
            The frame.
        <options>

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
        >>> db.delete("f"); db.list()
        0 frames
        """
        request = DeleteRequest.build(name=name, **options)
        if request.external_key is not None:
            batch_removal.remove_key(self, request.name, request.external_key)
            return
        for attempt in attempts(self.commit_timeout):
            head = self.head(request.name)
            try:
                self.meta.drop_frame(request.name, expected=head)
            except CommitConflict:
                backoff(attempt)
                continue
            # exactly this frame's own files: another frame's can live under any prefix of
            # this one's (a frame may be named "a/external_key/b" or
            # "a/_symlink_format_manifest/b"), so nothing is removed by prefix
            if head.layouts == (BATCH,):
                self.blobs.delete(
                    b.key
                    for b in self.blobs.list(f"{request.name}/external_key/")
                    if last_key_frame(b.key) == request.name
                )
            self.blobs.delete(manifest.manifest_key(request.name, lay) for lay in head.layouts)
            return
        raise CommitConflict(
            f"frame {request.name!r}: could not delete while writers kept committing"
        )

    @takes(VacuumOptions, skip=())
    def vacuum(self, **options: Any) -> VacuumReport:
        """Remove chunk files no retained version references, and stale staged files.

        Only files older than ``grace_seconds`` are removed: that is what protects a writer
        between writing its chunk files and committing them, and a reader of a version
        ``retain_versions`` just retired. A grace shorter than the longest write (an upload
        or edit, from its first chunk file to its commit; a streamed upload or session
        included) is unsafe while writers run: vacuum can remove the files of a write in
        flight, which then commits a version whose files are gone (``check()`` reports them
        missing). Use a short grace (``grace_seconds=0``) only when no writer is running.

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
