"""``FrameStore``: the public methods every pandasdb store offers, embedded (:class:`Store`)
or over HTTP (the SDK's :class:`~pandasdb_core.client.RemoteStore`), each written once.

A public method takes keyword arguments, builds its operation's request object
(:mod:`pandasdb_core.operations`: ``ReadQuery``, ``UploadOptions``, ``OutputOptions``...),
which validates them before any work is done, and hands it to one of the primitives each
implementation provides: :meth:`~FrameStore.write`, :meth:`~FrameStore.change`,
:meth:`~FrameStore.read_frame`, :meth:`~FrameStore.read_files`,
:meth:`~FrameStore.snapshot_of`, :meth:`~FrameStore.fetcher`, :meth:`~FrameStore.frames`,
:meth:`~FrameStore.history`, :meth:`~FrameStore.days`, :meth:`~FrameStore.remove` and
:meth:`~FrameStore.write_manifests`. Signatures and parameter docs come from the request types'
fields (:func:`~pandasdb_core.operations.base.takes`), so code written against one store runs
against the other.

Example
-------
>>> import pandasdb_core as pdb
>>> isinstance(pdb.open("memory://"), FrameStore)
True
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import reading, snapshot
from .conversion import Engine
from .operations import (
    CompactOptions,
    DatesQuery,
    DeleteRequest,
    DeleteRowsOptions,
    FrameRef,
    ListQuery,
    OutputOptions,
    ReadQuery,
    ReplaceOptions,
    UploadOptions,
)
from .operations.base import takes
from .records import Commit
from .results import FrameList, VersionList

if TYPE_CHECKING:
    import polars as pl

    from .reading import Fetch, ReadFiles
    from .snapshot import Snapshot

#: the edits :meth:`FrameStore.change` carries out
Edit = ReplaceOptions | DeleteRowsOptions | CompactOptions


class FrameStore(ABC):
    """What every pandasdb store offers, embedded or over HTTP (see the module docstring)."""

    # ------------------------------------------------------------------ primitives

    @abstractmethod
    def write(self, df: Any, options: UploadOptions) -> Commit:
        """Carry out an upload described by :class:`UploadOptions` (see :meth:`upload`)."""

    @abstractmethod
    def change(self, options: Edit, df: Any = None) -> Commit:
        """Carry out an edit described by its request type (see :meth:`replace`,
        :meth:`delete_rows`, :meth:`compact`); ``df`` is the new rows of a replace."""

    @abstractmethod
    def read_frame(self, query: ReadQuery, output: OutputOptions) -> Any:
        """Carry out a :class:`ReadQuery`: the whole frame, in ``output.engine``."""

    @abstractmethod
    def read_files(self, query: ReadQuery) -> ReadFiles:
        """The read ``query`` asks for, ready to run (:class:`pandasdb_core.reading.ReadFiles`:
        its plan, the chunk files of its version, how to fetch them)."""

    @abstractmethod
    def snapshot_of(self, query: ReadQuery) -> Snapshot:
        """The committed chunk files a read fetches, with the stored schema (see :meth:`files`)."""

    @abstractmethod
    def fetcher(self, snap: Snapshot, query: ReadQuery, *, shipped: bool = False) -> Fetch:
        """How to read the files of ``snap`` (taken for ``query``); ``shipped``: the fetch
        runs in other processes (Dask workers), so it must pickle."""

    @abstractmethod
    def frames(self, query: ListQuery) -> FrameList:
        """Carry out a :class:`ListQuery` (see :meth:`list`)."""

    @abstractmethod
    def history(self, ref: FrameRef) -> VersionList:
        """A frame's retained versions (see :meth:`versions`)."""

    @abstractmethod
    def days(self, query: DatesQuery) -> list[dt.date]:
        """Carry out a :class:`DatesQuery` (see :meth:`dates`)."""

    @abstractmethod
    def remove(self, request: DeleteRequest) -> None:
        """Carry out a :class:`DeleteRequest` (see :meth:`delete`)."""

    @abstractmethod
    def write_manifests(self, ref: FrameRef) -> list[str]:
        """Write a frame's symlink manifests; their keys (see :meth:`manifest`)."""

    # ------------------------------------------------------------------ writing

    @takes(UploadOptions)
    def upload(self, df: Any, name: str, **options: Any) -> Commit:
        """Store ``df`` as a new version of frame ``name``.

        Parameters
        ----------
        df
            A pandas or polars DataFrame with at least one row; also an iterator of frames,
            a polars ``LazyFrame`` or a CSV, CSV.gz or parquet file path, uploaded piece by
            piece as one version.
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
        output = OutputOptions.build(engine=engine)
        return self.read_frame(ReadQuery.build(name=name, **filters), output)

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
        with its dtypes, holding about one batch in memory (the next chunk files are fetched
        while the caller works on the current batch). A loop's variable keeps its batch
        alive while the next is built: ``del batch`` at the end of the loop's body lets it
        go first, halving the peak.

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
        # checked now, not at the first batch: batch_rows=0 would yield empty frames forever
        output = OutputOptions.build(batch_rows=batch_rows, engine=engine)
        query = ReadQuery.build(name=name, **filters)
        return reading.iter_batches(lambda: self.read_files(query), output)

    @takes(ReadQuery)
    def files(self, name: str, **filters: Any) -> Snapshot:
        """The committed chunk files the read of ``name`` with these filters fetches, in the
        order ``get`` returns their rows, with the stored schema: the exact snapshot of one
        version for other engines (DuckDB, pyarrow, Spark). The files hold whole chunks;
        ``scan`` and ``to_dask`` also apply the filters to rows. Over HTTP the files are
        presigned URLs, valid for 15 minutes.

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
        return self.snapshot_of(ReadQuery.build(name=name, **filters))

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
            For ``s3://`` stores: polars' cloud options (``aws_region``, ``aws_endpoint_url``...);
            unused over HTTP (the files are presigned URLs).
        <options>

        Examples
        --------
        >>> import pandas as pd, polars as pl, pandasdb_core as pdb, tempfile
        >>> db = pdb.open(tempfile.mkdtemp())
        >>> _ = db.upload(pd.DataFrame({"a": [1, 2]}), "f")
        >>> db.scan("f").filter(pl.col("a") > 1).collect()["a"].to_list()
        [2]
        """
        output = OutputOptions.build(storage_options=storage_options)
        query = ReadQuery.build(name=name, **filters)
        snap = self.snapshot_of(query)
        fetch = self.fetcher(snap, query)
        return snapshot.scan(snap, query, storage_options=output.storage_options, fetch=fetch)

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
        snap = self.snapshot_of(query)
        return snapshot.to_dask(snap, query, self.fetcher(snap, query, shipped=True))

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
        return self.write_manifests(FrameRef.build(name=name))

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
        return self.frames(ListQuery.build(prefix=prefix))

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
        return self.history(FrameRef.build(name=name))

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
        return self.days(DatesQuery.build(name=name, **options))

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
        self.remove(DeleteRequest.build(name=name, **options))
