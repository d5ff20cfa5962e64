"""The read path, one executor for every read: query -> the frame's head and version -> a plan
(the layouts' index range and row filters, the columns, the read's own steps) -> the chunk
files of that version -> fetch (a callable: the blob port, a presigned URL, S3) -> decode batch
by batch with the stored schema -> a sink (a polars frame, a pandas frame built batch by batch,
or the batches themselves).

``get`` and ``iter_batches`` of the store and of the SDK, the HTTP API's reads and the CLI all
run :class:`ReadFiles`; ``scan`` and ``to_dask`` plan and decode with it
(:mod:`pandasdb_core.snapshot`). A filter that no layout answers (the first rows, say) is a
:class:`ReadStep` of the plan: one class here, and every reader applies it.

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
import itertools
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from . import codecs, progress
from .conversion import empty_frame, output_polars, to_pandas
from .errors import BlobNotFound, ChunkMissing, InvalidArgument, VersionNotFound
from .layouts import KINDS, Selection, describe, kind_of
from .operations import OutputOptions, ReadQuery
from .pandas_assembly import PandasAssembly
from .records import ChunkFile, ChunkRecord, FrameHead, Layout
from .schema import Schema, polars_schema, user_columns
from .visibility import visible

if TYPE_CHECKING:
    from .store import Store

#: stored bytes of chunk files parsed per call, by format: a read holds about two batches
#: besides its result (one parsed, the next fetched), and calls of ~2 MB keep the fetch
#: threads and the parser busy at once (measured on 1M rows: 32 MB parquet batches peaked at
#: 3x the result and read 40% slower than 2 MB ones, which peak at 1.5x)
BATCH_BYTES = {"csv.gz": 2 * 1024 * 1024, "parquet": 2 * 1024 * 1024}
#: ... and at most this many values (rows times the columns decoded), at least one file:
#: repeated values compress some 2,000 to one, so 2 MB of chunk files can hold 200 million
#: rows, which a batch of stored bytes alone would decode at once (1.6 GB of one int column)
BATCH_VALUES = 16_000_000
#: reads a chunk file's bytes: ``fetch(file) -> bytes``
Fetch = Callable[[ChunkFile], bytes]
#: what a read's rows become: pandas or polars as ``get`` returns them, or the polars frame
#: as stored (index levels as ``__index_level_i__`` columns)
Sink = Literal["pandas", "polars", "stored"]


class ReadStep(ABC):
    """A filter of a read that no layout answers: it works on the decoded rows of the whole
    read, in ``get``'s order, after the layouts' row filters. A step is built from the query
    by :func:`steps_of`; every reader applies it (:meth:`ReadFiles.batches` to the batches,
    :meth:`lazy` to ``scan``'s frame), and ``to_dask``, whose partitions are read apart,
    refuses a read with steps rather than ignore them."""

    #: the :class:`~pandasdb_core.operations.ReadQuery` field the step answers
    field: str

    @abstractmethod
    def batches(self, parts: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        """The read's batches, in order, with the step applied."""

    @abstractmethod
    def lazy(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """The whole read's lazy frame with the step applied."""


def steps_of(query: ReadQuery) -> tuple[ReadStep, ...]:
    """The steps ``query`` asks for, in the order they apply (none yet: every filter of
    :class:`~pandasdb_core.operations.ReadQuery` today is a layout's)."""
    return ()


@dataclass(frozen=True)
class ReadPlan:
    """What one read fetches: which version, which layout and index range, which chunks and
    rows of it, which columns, and the read's own steps."""

    head: FrameHead
    version: int
    layout: Layout
    selection: Selection
    row_filters: tuple[Selection, ...]
    columns: tuple[str, ...]
    steps: tuple[ReadStep, ...] = ()

    @property
    def needed(self) -> list[str]:
        """Columns to decode: the wanted ones and those the row filters read."""
        reads = [c for s in self.row_filters for c in s.reads]
        return list(dict.fromkeys([*self.columns, *reads]))

    @property
    def whole_files(self) -> bool:
        """Whether the read returns every row and column of the files it reads (no column
        selection, no filter within a file, no step), so its result is larger than they are."""
        every = len(polars_schema(self.head.schema, as_of=self.version))
        return not self.row_filters and not self.steps and len(self.columns) == every


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
        all_data = user_columns(schema)
        # a column added after the version read: say so, not "unknown" beside its name
        data_columns = [c for c in all_data if c in known]
        later = set(all_data) - known
        listed = repr(data_columns[:_LISTED])[:-1] + (
            f", ... {len(data_columns) - _LISTED} more]" if len(data_columns) > _LISTED else "]"
        )
        more = f" (and {len(unknown) - _LISTED} more)" if len(unknown) > _LISTED else ""
        has = f"version {version} of the frame has" if later else "the frame has"
        added = [c for c in unknown if c in later]
        since = f" ({added[:_LISTED]!r} came in a later version)" if added else ""
        raise InvalidArgument(
            f"columns: unknown column(s) {unknown[:_LISTED]!r}{more}{since}; {has} {listed}"
        )
    data = set(user_columns(schema))
    levels = [c for c in present if c not in data]
    level_set = set(levels)
    return levels + [c for c in dict.fromkeys(columns) if c not in level_set]


#: how many names an error about unknown columns lists
_LISTED = 20


def plan(head: FrameHead, query: ReadQuery) -> ReadPlan:
    """Check ``query``'s filters against the frame's layouts and choose what to read. Each
    kind (in registry order) whose filters the query uses selects on the frame's first
    layout of that kind: the first such selection bounds the index range, and every one
    filters rows. A filter of a kind the frame has no layout of is refused, unless another
    kind of the frame answers it too (a filter may belong to several kinds)."""
    version = resolve_version(head, query.as_of)
    for kind in KINDS.values():
        query = kind.adapt(query, head.layouts)
    answered = {f for lay in head.layouts for f in kind_of(lay).given(query)}
    selections: list[tuple[Layout, Selection]] = []
    for kind in KINDS.values():
        given = kind.given(query)
        if not given:
            continue
        layout = next((lay for lay in head.layouts if lay.kind == kind.name), None)
        if layout is None:
            if all(f in answered for f in given):
                continue  # the frame's other kinds answer them
            raise InvalidArgument(
                f"{'/'.join(given)} needs {kind.wanted}; frame {head.name!r} is stored by "
                f"{describe(head.layouts)}"
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
        steps=steps_of(query),
    )


def narrowed(plan: ReadPlan, files: Sequence[ChunkFile]) -> ReadPlan:
    """``plan`` without its own layout's row filter when each of ``files`` lies wholly
    inside it (a read of whole days or id ranges): the filter would keep every row, and
    applying it costs a one-day read a tenth of its time.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> _ = db.upload(pd.DataFrame({"ts": pd.to_datetime(["2024-01-01 10:00"])}), "f",
    ...               columns_keys={"ts": "Date"})
    >>> whole = plan(db.head("f"), ReadQuery.build(name="f", start_date="2024-01-01",
    ...                                             end_date="2024-01-01"))
    >>> files = db.files("f").files
    >>> len(whole.row_filters), len(narrowed(whole, files).row_filters)
    (1, 0)
    """
    own = plan.selection
    if own.covers is None or not any(s is own for s in plan.row_filters):
        return plan
    try:
        if not all(f.layout == plan.layout.tag and own.covers(f) for f in files):  # type: ignore[arg-type]
            return plan
    except (TypeError, ValueError):  # a bound not comparable with a file's range: filter
        return plan
    return replace(plan, row_filters=tuple(s for s in plan.row_filters if s is not own))


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
            present = [c for c in needed if since[c] <= version]
            if not present:
                # none of the asked columns is in files this old (they came later): parse
                # one column they hold, for their rows, each null in the asked columns
                present = [next(c for c in dtypes if since[c] <= version)]
            by_version[version] = present
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


# ---------------------------------------------------------------------------------- fetch


class BlobFetch:
    """Reads chunk files through a store's blob port (its credentials and endpoint: S3 with
    the request's own on the server, local files, memory), in the threads of this process."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, file: ChunkFile) -> bytes:
        return self.store.blobs.get(file.key)

    def __dask_tokenize__(self) -> str:
        # Dask names tasks by hashing their inputs; a store (connections, locks) cannot be
        # hashed, and its identity in this process is what the tasks depend on
        return f"pandasdb-blobs-{id(self.store)}"


def runs(
    files: Sequence[ChunkFile], limit: int, max_rows: int | None = None
) -> Iterator[list[ChunkFile]]:
    """``files`` in runs of at most ``limit`` stored bytes and ``max_rows`` rows (at least
    one file each).

    Example
    -------
    >>> file = ChunkFile("", "date:ts", "d", "d", rows=1, bytes=600, format="csv.gz", version=1)
    >>> [len(run) for run in runs([file] * 5, limit=1000)]
    [1, 1, 1, 1, 1]
    >>> [len(run) for run in runs([file] * 5, limit=10_000, max_rows=2)]
    [2, 2, 1]
    """
    run: list[ChunkFile] = []
    size = rows = 0
    for file in files:
        over_rows = max_rows is not None and rows + file.rows > max_rows
        if run and (size + file.bytes > limit or over_rows):
            yield run
            run, size, rows = [], 0, 0
        run.append(file)
        size += file.bytes
        rows += file.rows
    if run:
        yield run


# ---------------------------------------------------------------------------------- executor


@dataclass(frozen=True)
class ReadFiles:
    """One read carried out: its plan, the chunk files of its version in row order, and how
    to fetch a file (through the store's blob port, by presigned URL...).

    Files are fetched and unpacked (decompressed) on ``workers`` threads, and each batch of
    :data:`BATCH_BYTES` stored bytes is parsed in one call while the next batch is fetched:
    a read holds the unpacked files of two batches at most, never all of them.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> from pandasdb_core.operations import ReadQuery
    >>> db = pdb.open("memory://", chunk_rows=2)
    >>> _ = db.upload(pd.DataFrame({"a": range(5)}), "f")
    >>> read = files_of(db, ReadQuery.build(name="f"))
    >>> len(read.files), read.collect("pandas")["a"].tolist()
    (3, [0, 1, 2, 3, 4])
    """

    plan: ReadPlan
    files: Sequence[ChunkFile]
    fetch: Fetch
    workers: int = 8
    #: progress bars for reads of many chunks (see :mod:`pandasdb_core.progress`)
    progress: bool | None = False

    @property
    def rows(self) -> int:
        """Rows in the files (before any row filter): at least the read's."""
        return sum(f.rows for f in self.files)

    def unpack(self, file: ChunkFile) -> tuple[codecs.Unpacked, int]:
        """One file fetched and unpacked, with the version that wrote it; a file gone is
        :class:`ChunkMissing`, a damaged one :class:`~pandasdb_core.errors.ChunkCorrupt`."""
        try:
            data = self.fetch(file)
        except BlobNotFound:
            raise ChunkMissing(
                f"frame {self.plan.head.name!r} version {self.plan.version}: chunk file "
                f"{file.name!r} is gone (removed by vacuum while this read ran, or outside "
                "pandasdb); read again, and run check() if it persists"
            ) from None
        return codecs.unpack(data, file.format, file.name), file.version

    def batches(
        self, *, per_file: bool = False, label: str | None = "reading chunks"
    ) -> Iterator[pl.DataFrame]:
        """The read's rows, decoded batch by batch in row order, its steps applied; with
        ``per_file``, one frame per chunk file, decoded as the caller asks for it while the
        files after it are fetched on the threads (:meth:`_ahead`: fetched one at a time, a
        read from S3 or presigned URLs would wait a round trip per file); ``label``: the
        progress bar's, None for none."""
        parts = self._decoded(per_file, label)
        for step in self.plan.steps:
            parts = step.batches(parts)
        return parts

    def _decoded(self, per_file: bool, label: str | None) -> Iterator[pl.DataFrame]:
        planned, files = self.plan, self.files
        if len(files) <= 1:  # a one-day or one-id read: no thread to start
            if files:
                yield decode_chunks(planned, [self.unpack(files[0])])
            return
        bar = None
        if label is not None:
            bar = progress.bar(total=len(files), desc=label, unit="chunk", progress=self.progress)

        def unpack_run(run: list[ChunkFile]) -> list[tuple[codecs.Unpacked, int]]:
            return [self.unpack(file) for file in run]

        # one pool for every batch: starting threads per batch costs more than small batches save
        workers = max(1, min(self.workers, len(files)))
        limit = BATCH_BYTES[planned.head.format]
        with ThreadPoolExecutor(workers) as pool, contextlib.nullcontext() if bar is None else bar:
            if per_file:

                def decoded(one: tuple[codecs.Unpacked, int]) -> pl.DataFrame:
                    if bar is not None:
                        bar.update(1)
                    return decode_chunks(planned, [one])

                # map holds neither a file's bytes nor its rows once given
                yield from map(decoded, self._ahead(pool, limit))
                return
            pending: list[Future[list[tuple[codecs.Unpacked, int]]]] = []
            max_rows = max(1, BATCH_VALUES // max(1, len(planned.needed)))
            for batch in [*runs(files, limit, max_rows), []]:
                # the next batch is fetched and unpacked while this one is parsed, no more; in
                # a run per worker, not a task per file (a task costs more than a small local
                # file)
                step = max(1, -(-len(batch) // workers))
                upcoming = [
                    pool.submit(unpack_run, batch[i : i + step]) for i in range(0, len(batch), step)
                ]
                if pending:
                    unpacked = [file for future in pending for file in future.result()]
                    yield decode_chunks(planned, unpacked)
                    if bar is not None:
                        bar.update(len(unpacked))
                pending = upcoming

    def _ahead(self, pool: ThreadPoolExecutor, limit: int) -> Iterator[tuple[codecs.Unpacked, int]]:
        """The files unpacked in order, each fetched on ``pool`` while those before it are
        taken, at most ``limit`` stored bytes ahead of the caller (at least one file): a
        window that slides a file at a time hides a remote store's round trip per file (S3,
        presigned URLs) without holding a batch of files twice, as runs fetched whole do."""
        window: deque[tuple[Future[tuple[codecs.Unpacked, int]], int]] = deque()
        ahead = 0
        for file in self.files:
            while window and ahead + file.bytes > limit:
                ahead -= window[0][1]
                yield window.popleft()[0].result()  # no local keeps the file once given
            window.append((pool.submit(self.unpack, file), file.bytes))
            ahead += file.bytes
        while window:
            yield window.popleft()[0].result()

    def collect(self, sink: Sink) -> Any:
        """The whole read in ``sink``'s form (see :func:`collect`)."""
        planned = self.plan
        return collect(self.batches(), planned.head.schema, planned.columns, self.rows, sink)

    def pandas_schema(self) -> Schema:
        """The schema each piece of this read converts to pandas with (each ``iter_batches``
        batch, each Dask partition and its ``meta``), so that each has the dtypes ``get``
        gives the whole read: ``get`` turns an integer or boolean column into pandas'
        nullable dtype (``Int64``, ``boolean``) when the rows it returns hold a null there,
        so each such column is made nullable for every piece when any row of the read holds
        one.

        Which columns hold nulls is known from the index: each chunk records its integer and
        boolean columns holding a null (:attr:`~pandasdb_core.records.ChunkRecord.nulls`),
        and a file older than a column holds only nulls there. When no row filter or step
        may drop rows, that answers; otherwise only the files that may hold a null in such
        a column are read first, for those columns only (and the filters' columns), as are
        files whose chunk did not record its nulls (written by an older pandasdb). Nothing
        is read for a frame with no integer or boolean column whose pandas dtype depends on
        nulls."""
        planned = self.plan
        schema = planned.head.schema
        columns = {c["name"]: c for c in schema["columns"]}
        dtypes = polars_schema(schema)
        candidates = [n for n in planned.columns if _null_dependent(columns[n], dtypes[n])]
        if not candidates or not self.files:
            return schema
        whole = not planned.row_filters and not planned.steps
        nullable: set[str] = set()
        if whole:
            for file in self.files:
                if file.rows:
                    nullable.update(n for n in candidates if columns[n]["since"] > file.version)
                    nullable.update(n for n in candidates if n in (file.nulls or ()))
        todo = tuple(n for n in candidates if n not in nullable)

        def may_hold_null(file: ChunkFile) -> bool:
            if file.nulls is None:
                return True  # not recorded: read it
            return not whole and any(
                n in file.nulls or columns[n]["since"] > file.version for n in todo
            )

        unknown = [f for f in self.files if f.rows and may_hold_null(f)] if todo else []
        if unknown:
            narrow = replace(self, plan=replace(planned, columns=todo), files=unknown)
            for part in narrow.batches(label="reading types"):
                nullable.update(n for n in todo if part[n].null_count())
        if not nullable:
            return schema
        out = [
            {**c, "pandas": _nullable_name(c, dtypes[c["name"]])} if c["name"] in nullable else c
            for c in schema["columns"]
        ]
        return {**schema, "columns": out}


def files_of(store: Store, query: ReadQuery) -> ReadFiles:
    """The read ``query`` asks of a store: planned against the frame's head, over the chunk
    files its version sees, fetched through the store's blob port on its threads."""
    head = store.head(query.name)
    planned = plan(head, query)
    files = tuple(ChunkFile.of(c, head.format) for c in chunks_to_read(store, planned))
    return ReadFiles(
        narrowed(planned, files), files, BlobFetch(store), store.workers, store.progress
    )


def read(store: Store, query: ReadQuery) -> tuple[pl.DataFrame, Schema]:
    """The frame ``query`` asks for, as stored (polars, index levels as columns), with the
    frame's schema."""
    files = files_of(store, query)
    return files.collect("stored"), files.plan.head.schema


# ---------------------------------------------------------------------------------- sinks


def collect(
    parts: Iterable[pl.DataFrame], schema: Schema, columns: Sequence[str], rows: int, sink: Sink
) -> Any:
    """A read's batches as one frame: in pandas, built batch by batch as they come
    (:mod:`pandasdb_core.pandas_assembly`: the read holds its result and about one batch, not
    a polars frame beside its pandas copy), with the recorded dtypes and index; in polars as
    ``get`` returns it, or as stored. ``rows``: at least the rows of every batch together.

    Example
    -------
    >>> schema = {"columns": [{"name": "a", "dtype": {"type": "Int64"}, "since": 1,
    ...                        "pandas": "int64"}], "index": []}
    >>> parts = [pl.DataFrame({"a": [1]}), pl.DataFrame({"a": [2]})]
    >>> collect(parts, schema, ["a"], 2, "pandas")["a"].tolist()
    [1, 2]
    """
    if sink == "pandas":
        assembly = PandasAssembly(schema, rows)
        for part in parts:
            assembly.add(part)
        if not assembly.rows:
            return to_pandas(empty_frame(schema, list(columns)), schema)
        return assembly.finish()
    held = list(parts)
    if not held:
        frame = empty_frame(schema, list(columns))
    else:
        frame = held[0] if len(held) == 1 else pl.concat(held, how="vertical", rechunk=False)
    return frame if sink == "stored" else output_polars(frame, schema)


def iter_batches(open_read: Callable[[], ReadFiles], output: OutputOptions) -> Iterator[Any]:
    """The batches of the read ``open_read()`` makes (when the first is asked for), in
    ``get``'s order and with its dtypes: ``output.batch_rows`` rows each (None: one per chunk
    file), in ``output.engine``. Files are fetched ahead of the caller (:meth:`ReadFiles._ahead`).

    A batch is built as its files are decoded, as :func:`collect` builds ``get``'s frame: each
    file's rows are copied into the batch and let go before the next file is decoded, so
    making a batch holds the batch and about one file, not every file of the batch beside it."""
    read = open_read()
    # the pandas dtypes of the whole read, as get gives them, for every batch
    schema = read.pandas_schema() if output.engine == "pandas" else read.plan.head.schema
    sink: Sink = "pandas" if output.engine == "pandas" else "polars"
    columns, left = read.plan.columns, read.rows
    pieces = cut(read.batches(per_file=True, label=None), output.batch_rows)
    for first, ends in pieces:
        capacity = first.height if output.batch_rows is None else min(left, output.batch_rows)
        group = itertools.chain([first], () if ends else _through_batch_end(pieces))
        del first  # the group is its only holder: collect lets it go once copied
        out = collect(group, schema, columns, capacity, sink)
        left -= len(out)
        yield out
        del out  # a generator's locals live while it waits at yield


def _through_batch_end(pieces: Iterator[tuple[pl.DataFrame, bool]]) -> Iterator[pl.DataFrame]:
    """The pieces of :func:`cut` up to and with the next one that ends a batch (or the
    last)."""
    for piece, ends in pieces:
        yield piece
        if ends:
            return


def cut(
    parts: Iterable[pl.DataFrame], batch_rows: int | None
) -> Iterator[tuple[pl.DataFrame, bool]]:
    """``parts`` cut where batches of exactly ``batch_rows`` rows end, each piece with whether
    a batch ends after it (the last batch, which may hold fewer rows, ends with the pieces);
    with None, each non-empty part is a batch. Parts are taken one at a time, as pieces are
    asked for; empty ones are skipped.

    Example
    -------
    >>> parts = [pl.DataFrame({"a": [1, 2, 3]}), pl.DataFrame({"a": [4]})]
    >>> [(p["a"].to_list(), ends) for p, ends in cut(parts, 2)]
    [([1, 2], True), ([3], False), ([4], True)]
    """
    rows = 0
    for part in parts:
        if part.height == 0:
            continue
        if batch_rows is None:
            yield part, True
            continue
        while rows + part.height >= batch_rows:
            take = batch_rows - rows
            piece, part, rows = part.slice(0, take), part.slice(take), 0
            yield piece, True
        if part.height:
            rows += part.height
            yield part, False


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
