"""The read path: query -> the frame's head and version -> a plan (one layout, an index range,
row filters) -> the chunks that version sees -> fetch, decode with the stored schema, filter.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> from pandasdb_core.operations import ReadQuery
>>> db = pdb.open("memory://")
>>> _ = db.upload(pd.DataFrame({"id": [3, 1, 2]}), "u", columns_keys={"id": "ID"})
>>> frame, schema = db.read(ReadQuery.build(name="u", start_id=2))
>>> frame["id"].to_list()
[2, 3]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from . import codecs, progress
from .conversion import empty_frame, to_pandas
from .errors import BlobNotFound, ChunkMissing, InvalidArgument, VersionNotFound
from .layouts import BATCH, KINDS, NOW_KEY, Selection, describe, kind_of
from .operations import ReadQuery
from .pandas_assembly import PandasAssembly
from .records import ChunkRecord, FrameHead, Layout
from .schema import Schema, polars_schema, user_columns
from .visibility import visible

if TYPE_CHECKING:
    from .store import Store

#: stored bytes of chunk files parsed per call, by format: a read holds about two batches
#: besides its result (one parsed, the next fetched), and calls of ~2 MB keep the fetch
#: threads and the parser busy at once (measured on 1M rows: 32 MB parquet batches peaked at
#: 3x the result and read 40% slower than 2 MB ones, which peak at 1.5x)
BATCH_BYTES = {"csv.gz": 2 * 1024 * 1024, "parquet": 2 * 1024 * 1024}


@dataclass(frozen=True)
class ReadPlan:
    """What one read fetches: which version, which layout and index range, which chunks and
    rows of it, which columns."""

    head: FrameHead
    version: int
    layout: Layout
    selection: Selection
    row_filters: tuple[Selection, ...]
    columns: tuple[str, ...]

    @property
    def needed(self) -> list[str]:
        """Columns to decode: the wanted ones and those the row filters read."""
        reads = [c for s in self.row_filters for c in s.reads]
        return list(dict.fromkeys([*self.columns, *reads]))


def resolve_version(head: FrameHead, as_of: int | None) -> int:
    """The version a read sees: ``as_of`` if still retained, else the latest."""
    if as_of is None:
        return head.version
    if not head.min_version <= as_of <= head.version:
        raise VersionNotFound(
            f"as_of={as_of} is out of range: frame {head.name!r} has versions "
            f"{head.min_version}..{head.version}"
        )
    return as_of


def wanted_columns(schema: Schema, version: int, columns: tuple[str, ...] | None) -> list[str]:
    """The columns a read returns: index levels first, then the asked ones (or all).

    Linear in the columns asked and stored (sets, not lists: thousands of each are common)."""
    present = list(polars_schema(schema, as_of=version))
    if columns is None:
        return present
    known = set(present)
    unknown = [c for c in columns if c not in known]
    if unknown:
        data_columns = user_columns(schema)
        listed = repr(data_columns[:_LISTED])[:-1] + (
            f", ... {len(data_columns) - _LISTED} more]" if len(data_columns) > _LISTED else "]"
        )
        more = f" (and {len(unknown) - _LISTED} more)" if len(unknown) > _LISTED else ""
        raise InvalidArgument(
            f"columns: unknown column(s) {unknown[:_LISTED]!r}{more}; the frame has {listed}"
        )
    data = set(user_columns(schema))
    levels = [c for c in present if c not in data]
    level_set = set(levels)
    return levels + [c for c in dict.fromkeys(columns) if c not in level_set]


#: how many names an error about unknown columns lists
_LISTED = 20


def plan(head: FrameHead, query: ReadQuery) -> ReadPlan:
    """Check ``query``'s filters against the frame's layouts and choose what to read: the
    layout of the first kind the query filters by (in registry order) bounds the index
    range; every asked kind filters rows."""
    version = resolve_version(head, query.as_of)
    if query.external_key == NOW_KEY and head.layouts != (BATCH,):
        # the original backend's SDK sends "NOW" (the default key) whatever the frame; a
        # partitioned frame has no keys, so it asks for nothing, as on upload
        query = query.model_copy(update={"external_key": None})
    selections: list[tuple[Layout, Selection]] = []
    for kind in KINDS.values():
        if not kind.asked(query):
            continue
        layout = next((lay for lay in head.layouts if lay.kind == kind.name), None)
        if layout is None:
            given = "/".join(f for f in kind.filters if getattr(query, f) not in (None, False))
            article = "an" if kind.user_name[:1] in ("A", "E", "I", "O", "U") else "a"
            wanted = f"{article} {kind.user_name} layout" if kind.user_name else "batches"
            raise InvalidArgument(
                f"{given} needs {wanted}; frame {head.name!r} is stored by {describe(head.layouts)}"
            )
        selections.append((layout, kind.select(query, layout)))
    layout, selection = selections[0] if selections else (head.layouts[0], Selection())
    return ReadPlan(
        head=head,
        version=version,
        layout=layout,
        selection=selection,
        row_filters=tuple(s for _, s in selections if s.keep_rows is not None),
        columns=tuple(wanted_columns(head.schema, version, query.columns)),
    )


def chunks_to_read(store: Store, plan: ReadPlan) -> list[ChunkRecord]:
    """The chunk files the planned version sees, in the order their rows are returned."""
    head, selection = plan.head, plan.selection
    chunks = visible(
        store.meta, head.frame_id, plan.layout.tag, plan.version, selection.lo, selection.hi
    )
    if selection.keep_chunks is not None:
        chunks = selection.keep_chunks(chunks)
    return kind_of(plan.layout).order(chunks)


def decode_chunk(plan: ReadPlan, data: bytes, version: int) -> pl.DataFrame:
    """One chunk file's bytes (of a chunk written by ``version``) as the rows and columns
    ``plan`` returns from it: decoded with the stored schema, columns added after it filled
    with nulls, row filters applied. The one decoder of every reader (``get``,
    ``iter_batches``, the SDK's chunk manifests, ``to_dask``'s partitions).

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> _ = db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    >>> head = db.head("f")
    >>> read_plan = plan(head, ReadQuery.build(name="f"))
    >>> chunk = chunks_to_read(db, read_plan)[0]
    >>> decode_chunk(read_plan, db.blobs.get(chunk.key), chunk.version)["a"].to_list()
    [1, 2]
    """
    return decode_chunks(plan, [(codecs.unpack(data, plan.head.format), version)])


def decode_chunks(plan: ReadPlan, files: Sequence[tuple[codecs.Unpacked, int]]) -> pl.DataFrame:
    """Several chunk files (unpacked, each with the version that wrote it) as
    :func:`decode_chunk` returns them, one after the other. Each run of files that hold the
    same columns is parsed in one call: a call per small file costs more than the parsing.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> for a in (1, 2):
    ...     _ = db.upload(pd.DataFrame({"a": [a]}), "f")
    >>> read_plan = plan(db.head("f"), ReadQuery.build(name="f"))
    >>> files = [(codecs.unpack(db.blobs.get(c.key), "csv.gz"), c.version)
    ...          for c in chunks_to_read(db, read_plan)]
    >>> decode_chunks(read_plan, files)["a"].to_list()
    [1, 2]
    """
    head = plan.head
    dtypes = polars_schema(head.schema, as_of=plan.version)
    since = {c["name"]: c["since"] for c in head.schema["columns"]}
    needed = plan.needed
    runs: list[tuple[list[str], list[codecs.Unpacked]]] = []
    by_version: dict[int, list[str]] = {}  # files of one version hold the same columns
    for unpacked, version in files:
        present = by_version.get(version)
        if present is None:
            present = by_version[version] = [c for c in needed if since[c] <= version]
        if runs and runs[-1][0] == present:
            runs[-1][1].append(unpacked)
        else:
            runs.append((present, [unpacked]))
    parts = []
    for present, run in runs:
        part = codecs.parse(run, head.format, dtypes, present)
        have = set(present)  # a set: thousands of columns stay linear
        missing = [pl.lit(None, dtype=dtypes[c]).alias(c) for c in needed if c not in have]
        part = part.with_columns(missing) if missing else part
        for selection in plan.row_filters:
            part = part.filter(selection.keep_rows(part))  # type: ignore[misc]
        parts.append(part.select(plan.columns))
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts, how="vertical", rechunk=False)


def fetch_data(store: Store, plan: ReadPlan, chunk: ChunkRecord) -> bytes:
    """The bytes of one chunk file of ``plan``, or :class:`ChunkMissing`."""
    try:
        return store.blobs.get(chunk.key)
    except BlobNotFound:
        raise ChunkMissing(
            f"frame {plan.head.name!r} version {plan.version}: chunk file {chunk.key!r} is "
            "gone (removed by vacuum while this read ran, or outside pandasdb); read again, "
            "and run check() if it persists"
        ) from None


def fetch_chunk(store: Store, plan: ReadPlan, chunk: ChunkRecord) -> pl.DataFrame:
    """One chunk of ``plan`` from the blob store, decoded (see :func:`decode_chunk`)."""
    return decode_chunk(plan, fetch_data(store, plan, chunk), chunk.version)


def batches(chunks: Sequence[ChunkRecord], limit: int) -> Iterator[list[ChunkRecord]]:
    """``chunks`` in runs of at most ``limit`` stored bytes (at least one chunk each).

    Example
    -------
    >>> from pandasdb_core.records import ChunkRecord
    >>> chunk = ChunkRecord("c", "date:ts", "d", "d", "k", 1, 600, "", 1, "t", 0, None)
    >>> [len(b) for b in batches([chunk] * 5, limit=1000)]
    [1, 1, 1, 1, 1]
    """
    batch: list[ChunkRecord] = []
    size = 0
    for chunk in chunks:
        if batch and size + chunk.size > limit:
            yield batch
            batch, size = [], 0
        batch.append(chunk)
        size += chunk.size
    if batch:
        yield batch


def read(store: Store, query: ReadQuery) -> tuple[pl.DataFrame, Schema]:
    """The frame ``query`` asks for, as stored (polars, index levels as columns), with the
    frame's schema (see :func:`decoded`)."""
    head = store.head(query.name)
    read_plan = plan(head, query)
    parts = list(decoded(store, read_plan, chunks_to_read(store, read_plan)))
    if not parts:
        return empty_frame(head.schema, list(read_plan.columns)), head.schema
    frame = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical", rechunk=False)
    return frame, head.schema


def read_pandas(store: Store, query: ReadQuery) -> Any:
    """The frame ``query`` asks for in pandas, with its recorded dtypes and index, built
    batch by batch as the batches are decoded (:mod:`pandasdb_core.pandas_assembly`): the
    read holds its result and about one batch, not a polars frame beside its pandas copy.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> _ = db.upload(pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 6], name="k")), "f")
    >>> read_pandas(db, ReadQuery.build(name="f")).loc[6, "a"]
    np.int64(2)
    """
    head = store.head(query.name)
    read_plan = plan(head, query)
    chunks = chunks_to_read(store, read_plan)
    assembly = PandasAssembly(head.schema, sum(chunk.rows for chunk in chunks))
    for part in decoded(store, read_plan, chunks):
        assembly.add(part)
    if not assembly.rows:
        return to_pandas(empty_frame(head.schema, list(read_plan.columns)), head.schema)
    return assembly.finish()


def decoded(store: Store, plan: ReadPlan, chunks: Sequence[ChunkRecord]) -> Iterator[pl.DataFrame]:
    """The rows of ``chunks`` (those ``plan`` reads, in order) decoded batch by batch.

    Chunk files are fetched and unpacked (decompressed) on the store's threads, and each
    batch of :data:`BATCH_BYTES` is parsed in one call while the next batch is fetched: a
    CSV read holds the text of two batches at most, never all of it."""
    head = plan.head

    def unpack(chunk: ChunkRecord) -> tuple[codecs.Unpacked, int]:
        data = fetch_data(store, plan, chunk)
        return codecs.unpack(data, head.format, chunk.key), chunk.version

    if len(chunks) <= 1:  # a one-day or one-id read: no thread to start
        if chunks:
            yield decode_chunks(plan, [unpack(chunks[0])])
        return
    bar = progress.bar(
        total=len(chunks), desc="reading chunks", unit="chunk", progress=store.progress
    )

    def unpack_run(run: list[ChunkRecord]) -> list[tuple[codecs.Unpacked, int]]:
        return [unpack(chunk) for chunk in run]

    # one pool for every batch: starting threads per batch costs more than small batches save
    workers = min(store.workers, len(chunks))
    with ThreadPoolExecutor(workers) as pool, contextlib.nullcontext() if bar is None else bar:
        pending: list[Future[list[tuple[codecs.Unpacked, int]]]] = []
        for batch in [*batches(chunks, BATCH_BYTES[head.format]), []]:
            # the next batch is fetched and unpacked while this one is parsed, no more; in a
            # run per worker, not a task per chunk (a task costs more than a small local file)
            step = max(1, -(-len(batch) // workers))
            runs = [batch[i : i + step] for i in range(0, len(batch), step)]
            upcoming = [pool.submit(unpack_run, run) for run in runs]
            if pending:
                files = [file for future in pending for file in future.result()]
                yield decode_chunks(plan, files)
                if bar is not None:
                    bar.update(len(files))
            pending = upcoming
