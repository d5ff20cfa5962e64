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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from . import codecs
from .conversion import empty_frame, output_polars, to_pandas
from .errors import StoreUnavailable
from .layouts import Layout
from .operations import ReadQuery
from .reading import BATCH_BYTES, ReadPlan, chunks_to_read, decode_chunk, decode_chunks, plan
from .records import ChunkRecord, FrameHead, PartitionValue
from .schema import Schema, polars_schema

if TYPE_CHECKING:
    from .store import Store

T = TypeVar("T")


@dataclass(frozen=True)
class ChunkFile:
    """One committed chunk file of a snapshot."""

    #: where engines read it: an absolute local path, an ``s3://`` URI, or (from the SDK) a
    #: presigned ``https://`` URL; "" for a store only this process can read (memory)
    uri: str
    #: the layout it belongs to (``date:ts``, ``id:uid``, ``batch``)
    layout: str
    #: its partition: the day (``YYYY-MM-DD``), the id range, or the batch key
    lo: PartitionValue
    hi: PartitionValue
    rows: int
    bytes: int
    format: codecs.Format
    #: the version that wrote it (columns added later are absent from it)
    version: int
    sha256: str = ""
    #: its key inside the store
    key: str = field(default="", repr=False)

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
        }


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
            files=tuple(ChunkFile(**f) for f in data["files"]),
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
        files=tuple(_file(store, head, c) for c in chunks),
        columns=planned.columns,
    )


def _file(store: Store, head: FrameHead, chunk: ChunkRecord) -> ChunkFile:
    return ChunkFile(
        uri=store.blobs.uri(chunk.key) or "",
        layout=chunk.layout,
        lo=chunk.lo,
        hi=chunk.hi,
        rows=chunk.rows,
        bytes=chunk.size,
        format=head.format,
        version=chunk.version,
        sha256=chunk.sha256,
        key=chunk.key,
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
        return empty_frame(snap.schema, list(planned.columns)).lazy().pipe(_named, snap)
    return pl.concat(parts, how="vertical").pipe(_named, snap)


def _named(lazy: pl.LazyFrame, snap: Snapshot) -> pl.LazyFrame:
    # index levels under their real names, as get(engine="polars") returns them
    renamed = output_polars(pl.DataFrame(schema=lazy.collect_schema()), snap.schema).columns
    return lazy.rename(dict(zip(lazy.collect_schema().names(), renamed, strict=True)))


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
    planned = read_plan(snap, query)
    frame = decode_chunk(planned, fetch(file), file.version)
    if engine == "polars":
        return output_polars(frame, snap.schema)
    return to_pandas(frame, schema or snap.schema)


def read_schema(
    planned: ReadPlan,
    items: Sequence[T],
    version_of: Callable[[T], int],
    rows_of: Callable[[T], int],
    load: Callable[[ReadPlan, T], pl.DataFrame],
    mapper: Callable[[Callable[[T], list[str]], list[T]], Iterable[list[str]]],
) -> Schema:
    """The schema a read converts every piece to pandas with (each ``iter_batches`` batch,
    each Dask partition and its ``meta``), so that each has the dtypes ``get`` gives the
    whole read: ``get`` turns an integer or boolean column into pandas' nullable dtype
    (``Int64``, ``boolean``) when the rows it returns hold a null there, so each such column
    is made nullable for every piece when any row of the read holds one.

    Which columns hold nulls is known from the index for files older than a column (absent
    from them: null), when no row filter may drop their rows; for the others, the files are
    read first, for those columns only (and the filters' columns), with ``load(plan, item)``
    (``items`` are the read's files or chunks), mapped on threads by ``mapper``. Nothing is
    read for a frame with no integer or boolean column whose pandas dtype depends on nulls.
    """
    schema = planned.head.schema
    columns = {c["name"]: c for c in schema["columns"]}
    dtypes = polars_schema(schema)
    candidates = [n for n in planned.columns if _null_dependent(columns[n], dtypes[n])]
    if not candidates or not items:
        return schema
    nullable: set[str] = set()
    if not planned.row_filters:
        for item in items:
            if rows_of(item):
                nullable.update(n for n in candidates if columns[n]["since"] > version_of(item))
    todo = tuple(n for n in candidates if n not in nullable)
    if todo:
        narrow = replace(planned, columns=todo)

        def nulls(item: T) -> list[str]:
            frame = load(narrow, item)
            return [n for n in todo if frame[n].null_count()]

        for found in mapper(nulls, list(items)):
            nullable.update(found)
    if not nullable:
        return schema
    out = [
        {**c, "pandas": _nullable_name(c, dtypes[c["name"]])} if c["name"] in nullable else c
        for c in schema["columns"]
    ]
    return {**schema, "columns": out}


def _null_dependent(col: dict[str, Any], dtype: pl.DataType) -> bool:
    """Whether ``get`` gives column ``col`` a pandas dtype that depends on its nulls: an
    integer or boolean column not recorded as a nullable, categorical, object or arrow
    dtype (see :func:`pandasdb_core.conversion.to_pandas`)."""
    from .conversion import _MASKED

    if not (dtype.is_integer() or dtype == pl.Boolean):
        return False
    target = col.get("pandas")
    return target not in _MASKED and target not in ("category", "object") and not col.get("arrow")


def _nullable_name(col: dict[str, Any], dtype: pl.DataType) -> str:
    """The nullable pandas dtype ``get`` gives an integer or boolean column with nulls."""
    from .conversion import _NULLABLE

    target = col.get("pandas")
    if target in _NULLABLE:
        return _NULLABLE[target]
    return "boolean" if dtype == pl.Boolean else str(dtype)


def batch_schema(snap: Snapshot, query: ReadQuery, fetch: Fetch, *, workers: int = 8) -> Schema:
    """The schema every piece of a read of ``snap`` (for ``query``) converts to pandas with,
    so that each has ``get``'s dtypes (see :func:`read_schema`); its files are fetched with
    ``fetch`` when their nulls must be looked at.

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
    planned = read_plan(snap, query)

    def load(narrow: ReadPlan, file: ChunkFile) -> pl.DataFrame:
        return decode_chunk(narrow, fetch(file), file.version)

    def mapper(fn: Callable[[ChunkFile], list[str]], files: list[ChunkFile]) -> Any:
        with ThreadPoolExecutor(max(1, min(workers, len(files)))) as pool:
            return list(pool.map(fn, files))

    return read_schema(planned, snap.files, _version, _rows, load, mapper)


def _version(file: ChunkFile) -> int:
    return file.version


def _rows(file: ChunkFile) -> int:
    return file.rows


def nullable_schema(
    snap: Snapshot, query: ReadQuery | None = None, fetch: Fetch | None = None
) -> Schema:
    """The schema pieces of a read of ``snap`` convert to pandas with: with ``query`` and
    ``fetch``, :func:`batch_schema` (``get``'s dtypes exactly); without, only columns some
    file lacks (added by a later version) are made nullable, which misses nulls written
    into a column that existed.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
    >>> _ = db.upload(pd.DataFrame({"a": [2], "b": [3]}), "f")
    >>> [c["pandas"] for c in nullable_schema(db.files("f"))["columns"]]
    ['int64', 'Int64']
    """
    if query is not None and fetch is not None:
        return batch_schema(snap, query, fetch)
    oldest = min((f.version for f in snap.files), default=snap.version)
    from .conversion import _NULLABLE  # the numpy dtype -> nullable dtype table

    columns = []
    for col in snap.schema["columns"]:
        if col["since"] > oldest and col.get("pandas") in _NULLABLE:
            col = {**col, "pandas": _NULLABLE[col["pandas"]]}
        columns.append(col)
    return {**snap.schema, "columns": columns}


#: reads a snapshot's file: ``fetch(file) -> bytes``
Fetch = Callable[[ChunkFile], bytes]


def read_file(file: ChunkFile, session: Any = None) -> bytes:
    """The bytes of a file at a local path or an ``http(s)://`` URL (a presigned one); a
    plain function, so Dask can ship it to workers in other processes. ``session`` (a
    ``requests.Session``) reuses its connections: a manifest's files come from one host."""
    if file.uri.startswith(("http://", "https://")):
        import requests

        # errors name the URL without its query: a presigned URL's query holds a signature
        where = file.uri.split("?", 1)[0]
        try:
            response = (session or requests).get(file.uri, timeout=300)
        except requests.RequestException as exc:
            reason = getattr(exc.args[0] if exc.args else None, "reason", None) or type(exc)
            raise StoreUnavailable(f"cannot fetch chunk file {where}: {reason}") from None
        if response.status_code >= 400:
            raise StoreUnavailable(
                f"cannot fetch chunk file {where}: HTTP {response.status_code} (a presigned URL "
                "expires after 15 minutes: read again)"
            )
        return response.content
    with open(file.uri, "rb") as fh:
        return fh.read()


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


class BlobFetch:
    """Reads a snapshot's files through a store's blob port (S3 with its credentials and
    endpoint, or memory), in the threads of this process."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, file: ChunkFile) -> bytes:
        return self.store.blobs.get(file.key)

    def __dask_tokenize__(self) -> str:
        # Dask names tasks by hashing their inputs; a store (connections, locks) cannot be
        # hashed, and its identity in this process is what the tasks depend on
        return f"pandasdb-blobs-{id(self.store)}"


def to_dask(snap: Snapshot, query: ReadQuery, fetch: Fetch) -> Any:
    """A Dask DataFrame with one partition per file of ``snap``, each fetched with
    ``fetch(file) -> bytes`` and decoded as ``get`` does; ``meta`` comes from the stored
    schema, and partitions and ``meta`` have ``get``'s dtypes (:func:`batch_schema`: the
    integer and boolean columns of the files are read first when their nulls decide the
    dtype). Needs ``pip install 'pandasdb[dask]'``."""
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - an optional extra
        from .errors import InvalidArgument

        raise InvalidArgument(
            "to_dask needs Dask: pip install 'pandasdb[dask]' (dask[dataframe])"
        ) from None
    planned = read_plan(snap, query)
    schema = batch_schema(snap, query, fetch)
    meta = to_pandas(empty_frame(snap.schema, list(planned.columns)), schema)
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


def read_files(snap: Snapshot, query: ReadQuery, fetch: Fetch, *, workers: int = 8) -> pl.DataFrame:
    """Every file of ``snap`` fetched in parallel and decoded as ``get`` does, concatenated
    in row order (as stored: index levels as columns); what the SDK does with a large
    read's manifest, so the server never assembles the result.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> _ = db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    >>> query = ReadQuery.build(name="f")
    >>> read_files(db.files("f"), query, fetcher(db))["a"].to_list()
    [1, 2]
    """
    from concurrent.futures import ThreadPoolExecutor

    planned = read_plan(snap, query)

    def load(file: ChunkFile) -> tuple[codecs.Unpacked, int]:
        return codecs.unpack(fetch(file), file.format), file.version

    # fetched and unpacked on threads, then parsed a batch (BATCH_BYTES) per call, as get does
    batches: list[list[ChunkFile]] = []
    limit = size = BATCH_BYTES[snap.format]
    for file in snap.files:
        if size + file.bytes > limit:
            batches.append([])
            size = 0
        batches[-1].append(file)
        size += file.bytes
    with ThreadPoolExecutor(max(1, workers)) as pool:
        parts = [decode_chunks(planned, list(pool.map(load, batch))) for batch in batches]
    if not parts:
        return empty_frame(snap.schema, list(planned.columns))
    return pl.concat(parts, how="vertical", rechunk=False)
