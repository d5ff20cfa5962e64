"""The exact snapshot other engines read: the committed chunk files one version of a frame
reads, in the order ``get`` returns their rows, with the stored schema.

A frame's folders also hold files no version reads (chunks a ``keep_last`` superseded, files
of uploads that never committed, each layout's copy of the data): engines that list folders
read those too. :func:`snapshot` asks the metadata store instead, exactly as ``get`` does.
:func:`scan` turns a snapshot into a polars ``LazyFrame`` and :func:`to_dask` into a Dask
DataFrame (one partition per chunk file), both decoding as ``get`` does.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb, tempfile
>>> db = pdb.open(tempfile.mkdtemp(), format="parquet")
>>> _ = db.upload(pd.DataFrame({"a": [1, 2]}), "f")
>>> snap = db.files("f")
>>> snap.version, [(f.rows, f.format) for f in snap.files]
(1, [(2, 'parquet')])
>>> db.scan("f").collect()["a"].to_list()
[1, 2]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from . import codecs, url_fetch
from .conversion import empty_frame, output_polars, to_pandas
from .errors import ChunkMissing, InvalidArgument, StoreUnavailable
from .layouts import Layout
from .operations import ReadQuery
from .reading import (
    BlobFetch,
    Fetch,
    ReadFiles,
    ReadPlan,
    chunks_to_read,
    decode_chunk,
    narrowed,
    plan,
)
from .records import ChunkFile, ChunkRecord, FrameHead
from .schema import Schema, polars_schema

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class Snapshot:
    """The committed chunk files of one version of a frame, in row order, and its schema.

    ``schema`` is pandasdb's stored schema (pandas dtypes, index); :attr:`dtypes` gives the
    polars dtypes of the columns the snapshot returns.
    """

    name: str
    version: int
    format: codecs.Format
    #: every layout of the frame, and the one these files belong to
    layouts: tuple[str, ...]
    layout: str
    schema: Schema = field(repr=False)
    files: tuple[ChunkFile, ...] = field(repr=False)
    #: the columns a read returns (index levels first), as the query asked
    columns: tuple[str, ...] = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"<Snapshot {self.name!r} version {self.version}: {len(self.files)} {self.format} "
            f"file(s), {self.rows:,} rows, layout {self.layout}>"
        )

    @property
    def rows(self) -> int:
        """Rows in the files (before any row filter of the query)."""
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        """Bytes of the files."""
        return sum(f.bytes for f in self.files)

    @property
    def uris(self) -> list[str]:
        """The files' URIs, in row order (what a DuckDB or pyarrow reader takes)."""
        return [f.uri for f in self.files]

    @property
    def dtypes(self) -> dict[str, pl.DataType]:
        """The polars dtypes of the returned columns, as stored."""
        stored = polars_schema(self.schema, as_of=self.version)
        return {c: stored[c] for c in self.columns}

    @property
    def arrow_schema(self) -> Any:
        """The returned columns as a ``pyarrow.Schema``, for engines that read the files
        themselves. Files written before a column was added lack it, and pyarrow and DuckDB
        take the first file's columns unless told otherwise (dropping later ones without a
        word): give pyarrow this schema, and DuckDB ``union_by_name=true``.

        Example
        -------
        >>> import pandas as pd, pandasdb_core as pdb, pyarrow.parquet as pq, tempfile
        >>> db = pdb.open(tempfile.mkdtemp(), format="parquet")
        >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
        >>> _ = db.upload(pd.DataFrame({"a": [2], "b": ["x"]}), "f")  # a column added
        >>> snap = db.files("f")
        >>> pq.ParquetDataset(snap.uris, schema=snap.arrow_schema).read()["b"].to_pylist()
        [None, 'x']
        """
        # the oldest compat level: large strings, which every pyarrow and engine reads
        empty = pl.DataFrame(schema=self.dtypes)
        return empty.to_arrow(compat_level=pl.CompatLevel.oldest()).schema

    def to_json(self) -> dict[str, Any]:
        """The snapshot as a JSON object (the HTTP API's form)."""
        return {
            "name": self.name,
            "version": self.version,
            "format": self.format,
            "layouts": list(self.layouts),
            "layout": self.layout,
            "schema": self.schema,
            "columns": list(self.columns),
            "files": [f.to_json() for f in self.files],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        """Rebuild a snapshot from :meth:`to_json`'s form."""
        return cls(
            name=data["name"],
            version=data["version"],
            format=data["format"],
            layouts=tuple(data["layouts"]),
            layout=data["layout"],
            schema=data["schema"],
            columns=tuple(data["columns"]),
            files=tuple(ChunkFile.from_json(f) for f in data["files"]),
        )


def _layout(tag: str) -> Layout:
    kind, _, column = tag.partition(":")
    return Layout(kind, column)  # type: ignore[arg-type]


def read_plan(snap: Snapshot, query: ReadQuery) -> ReadPlan:
    """The read plan of ``query`` against the snapshot's version: what a reader holding only
    the snapshot (the SDK, a Dask worker) needs to decode its files as ``get`` does.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> _ = db.upload(pd.DataFrame({"a": [1], "b": [2]}), "f")
    >>> read_plan(db.files("f"), ReadQuery.build(name="f", columns=["b"])).columns
    ('b',)
    """
    head = FrameHead(
        name=snap.name,
        frame_id="",
        version=snap.version,
        format=snap.format,
        layouts=tuple(_layout(t) for t in snap.layouts),
        schema=snap.schema,
        chunk_rows=0,
        rows=0,
        created_at=0.0,
        updated_at=0.0,
        min_version=snap.version,
    )
    return plan(head, query.model_copy(update={"as_of": None}))


def snapshot(store: Store, query: ReadQuery) -> Snapshot:
    """The snapshot ``query`` reads (see :meth:`Store.files`)."""
    head = store.head(query.name)
    planned = plan(head, query)
    return snapshot_of(store, planned, chunks_to_read(store, planned))


def snapshot_of(store: Store, planned: ReadPlan, chunks: Sequence[ChunkRecord]) -> Snapshot:
    """The snapshot of a planned read and the chunks it reads."""
    head = planned.head
    return Snapshot(
        name=head.name,
        version=planned.version,
        format=head.format,
        layouts=tuple(lay.tag for lay in head.layouts),
        layout=planned.layout.tag,
        schema=head.schema,
        files=tuple(ChunkFile.of(c, head.format, store.blobs.uri(c.key) or "") for c in chunks),
        columns=planned.columns,
    )


def with_uris(snap: Snapshot, uri: Any) -> Snapshot:
    """The snapshot with each file's URI replaced by ``uri(file)`` (e.g. presigned URLs).

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
    >>> with_uris(db.files("f"), lambda f: "https://x/" + f.key).uris[0][:20]
    'https://x/f/external'
    """
    return replace(snap, files=tuple(replace(f, uri=uri(f)) for f in snap.files))


# ---------------------------------------------------------------------------------- engines


def _scan_file(file: ChunkFile, planned: ReadPlan, storage_options: Any) -> pl.LazyFrame:
    """One chunk file as a lazy frame with the plan's columns, decoded as ``get`` does."""
    head = planned.head
    dtypes = polars_schema(head.schema, as_of=planned.version)
    since = {c["name"]: c["since"] for c in head.schema["columns"]}
    in_file = [name for name in dtypes if since[name] <= file.version]
    if file.format == "parquet":
        lazy = pl.scan_parquet(file.uri, storage_options=storage_options)
    else:
        lazy = pl.scan_csv(
            file.uri,
            has_header=True,
            # by position: names come from the schema, not the header (polars keeps the
            # doubled quotes of a quoted header name)
            schema={name: codecs.csv_type(dtypes[name]) for name in in_file},
            storage_options=storage_options,
        )
    restore = [
        codecs.restore(pl.col(name), dtypes[name])
        for name in in_file
        if file.format != "parquet" or dtypes[name] == pl.Null
    ]
    lazy = lazy.with_columns(restore) if restore else lazy
    lazy = lazy.select(in_file).cast({n: dtypes[n] for n in in_file})
    missing = [pl.lit(None, dtype=dtypes[c]).alias(c) for c in dtypes if c not in in_file]
    lazy = lazy.with_columns(missing) if missing else lazy
    for selection in planned.row_filters:
        keep = selection.keep_rows
        lazy = lazy.map_batches(lambda frame, keep=keep: frame.filter(keep(frame)))  # type: ignore[misc]
    return lazy.select(planned.columns)


def scan(
    snap: Snapshot,
    query: ReadQuery,
    *,
    storage_options: dict[str, Any] | None = None,
    fetch: Fetch | None = None,
) -> pl.LazyFrame:
    """A polars ``LazyFrame`` over exactly the snapshot's files (local paths, ``s3://``
    URIs with ``storage_options``), returning what ``get(engine="polars")`` returns for
    ``query``. Files without a URI (a memory store's) or with an ``http(s)`` one (presigned,
    from the SDK) are fetched with ``fetch`` and decoded at once."""
    planned = read_plan(snap, query)
    parts = [
        _scan_file(f, planned, storage_options)
        if f.uri and not f.uri.startswith(("http://", "https://"))
        # a memory store's files, or presigned URLs: fetched and decoded now
        else decode_chunk(planned, fetch(f), f.version).lazy()  # type: ignore[misc]
        for f in snap.files
    ]
    if not parts:
        lazy = empty_frame(snap.schema, list(planned.columns)).lazy()
    else:
        lazy = pl.concat(parts, how="vertical")
    for step in planned.steps:
        lazy = step.lazy(lazy)
    return lazy.pipe(_named, snap)


def _named(lazy: pl.LazyFrame, snap: Snapshot) -> pl.LazyFrame:
    # index levels under their real names, as get(engine="polars") returns them
    renamed = output_polars(pl.DataFrame(schema=lazy.collect_schema()), snap.schema).columns
    return lazy.rename(dict(zip(lazy.collect_schema().names(), renamed, strict=True)))


def reader(snap: Snapshot, query: ReadQuery, fetch: Fetch, *, workers: int = 8) -> ReadFiles:
    """The read of ``query`` over the snapshot's files, fetched with ``fetch`` on ``workers``
    threads (the read executor of :mod:`pandasdb_core.reading`): what the SDK does with a
    large read's manifest, and the HTTP API with a snapshot it answers inline.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> _ = db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    >>> query = ReadQuery.build(name="f")
    >>> reader(db.files("f"), query, fetcher(db)).collect("stored")["a"].to_list()
    [1, 2]
    """
    planned = narrowed(read_plan(snap, query), snap.files)
    return ReadFiles(planned, snap.files, fetch, workers=workers)


def _partition(
    file: ChunkFile,
    snap: Snapshot,
    query: ReadQuery,
    fetch: Any,
    engine: str,
    schema: Schema | None = None,
) -> Any:
    """One Dask partition: a chunk file fetched and decoded as ``get`` does, converted to
    pandas with the read's ``schema`` (:func:`batch_schema`)."""
    planned = narrowed(read_plan(snap, query), [file])
    frame = decode_chunk(planned, fetch(file), file.version)
    if engine == "polars":
        return output_polars(frame, snap.schema)
    return to_pandas(frame, schema or snap.schema)


def batch_schema(snap: Snapshot, query: ReadQuery, fetch: Fetch, *, workers: int = 8) -> Schema:
    """The schema every piece of a read of ``snap`` (for ``query``) converts to pandas with,
    so that each has ``get``'s dtypes (see :meth:`ReadFiles.pandas_schema`); its files are
    fetched with ``fetch`` when their nulls must be looked at.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> _ = db.upload(pd.DataFrame({"a": [1], "e": [7]}), "f")
    >>> _ = db.upload(pd.DataFrame({"a": [2]}), "f")  # no e: null in its row
    >>> query = ReadQuery.build(name="f")
    >>> [c["pandas"] for c in batch_schema(db.files("f"), query, fetcher(db))["columns"]]
    ['int64', 'Int64']
    """
    return reader(snap, query, fetch, workers=workers).pandas_schema()


def read_file(file: ChunkFile, session: Any = None) -> bytes:
    """The bytes of a file at a local path or an ``http(s)://`` URL (a presigned one); a
    plain function, so Dask can ship it to workers in other processes. ``session`` (a
    ``requests.Session``): the adapters and proxies a caller set, when it has (else the
    process's shared pool of :mod:`pandasdb_core.url_fetch`)."""
    if file.uri.startswith(("http://", "https://")):
        try:
            return url_fetch.get(file.uri, session)
        except url_fetch.FetchFailed as exc:
            # errors name the URL without its query: a presigned URL's query holds a signature
            if exc.status == 404:
                raise _gone(file, exc.reason) from None
            expiry = " (a presigned URL expires after 15 minutes: read again)"
            raise StoreUnavailable(
                f"cannot fetch chunk file {file.name}: {exc.reason}"
                + (expiry if exc.status is not None else "")
            ) from None
    try:
        with open(file.uri, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise _gone(file, "no such file") from None


def _gone(file: ChunkFile, reason: str) -> ChunkMissing:
    """A committed chunk file that is not there (its URL answered 404, its path is absent),
    as the store's own reads say it: never a transient error to retry."""
    return ChunkMissing(
        f"chunk file {file.name} is gone ({reason}): removed by vacuum while this read ran, "
        "or outside pandasdb; read again, and run check() if it persists"
    )


def fetcher(store: Store) -> Fetch:
    """How to read a store's snapshot files: from their paths when they are local files,
    else through the store's blob port (S3 credentials and endpoint, or memory)."""
    uri = store.blobs.uri("probe")
    if uri and "://" not in uri:
        return read_file
    if uri and uri.startswith("s3://"):
        client = store.blobs.client  # type: ignore[attr-defined]
        return S3Fetch(client.meta.endpoint_url, client.meta.region_name)
    return BlobFetch(store)


@dataclass(frozen=True)
class S3Fetch:
    """Reads ``s3://`` files with a client of its own, built where it runs: it pickles, so
    Dask workers in other processes or machines read the files themselves (with the AWS
    credentials of their environment)."""

    endpoint_url: str | None
    region: str | None

    def __call__(self, file: ChunkFile) -> bytes:
        bucket, _, key = file.uri.removeprefix("s3://").partition("/")
        response = _s3_client(self.endpoint_url, self.region).get_object(Bucket=bucket, Key=key)
        return response["Body"].read()  # type: ignore[no-any-return]


@functools.cache
def _s3_client(endpoint_url: str | None, region: str | None) -> Any:
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region)


def to_dask(snap: Snapshot, query: ReadQuery, fetch: Fetch) -> Any:
    """A Dask DataFrame with one partition per file of ``snap``, each fetched with
    ``fetch(file) -> bytes`` and decoded as ``get`` does; ``meta`` comes from the stored
    schema, and partitions and ``meta`` have ``get``'s dtypes (:func:`batch_schema`: the
    integer and boolean columns of the files are read first when their nulls decide the
    dtype). Needs ``pip install 'pandasdb[dask]'``. A read with steps (filters of the whole
    read, :class:`~pandasdb_core.reading.ReadStep`) is refused: partitions are read apart."""
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - an optional extra
        raise InvalidArgument(
            "to_dask needs Dask: pip install 'pandasdb[dask]' (dask[dataframe])"
        ) from None
    read = reader(snap, query, fetch)
    if read.plan.steps:
        fields = ", ".join(step.field for step in read.plan.steps)
        raise InvalidArgument(
            f"{fields}: to_dask reads each chunk file as its own partition, and {fields} "
            "applies to the whole read; use get, iter_batches or scan"
        )
    schema = read.pandas_schema()
    meta = to_pandas(empty_frame(snap.schema, list(read.plan.columns)), schema)
    # Dask turns text columns into pyarrow strings by default; keep the dtypes get returns
    with dask.config.set({"dataframe.convert-string": False}):
        if not snap.files:
            return dd.from_pandas(meta, npartitions=1)
        return dd.from_map(
            _partition,
            list(snap.files),
            snap=snap,
            query=query,
            fetch=fetch,
            engine="pandas",
            schema=schema,
            meta=meta,
            enforce_metadata=False,
        )
