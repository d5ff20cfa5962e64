"""Read results built in the function with bounded memory: the chunk files of a snapshot read
through the caller's own store, batch by batch, and encoded batch by batch.

A read holds, besides the encoded result, one batch of fetched files (``BATCH_BYTES`` of
stored bytes, the next batch fetched while this one is decoded) and its decoded rows, never
the whole frame in polars and pandas at once. The encoded result itself is bounded by
``limit`` (:data:`pandasdb_core.wire.MAX_RESULT_BYTES` for a result staged for a 303): past
it the read stops with a 413 that says how to read the chunk files instead.

Files are fetched through the store's blob port (:class:`pandasdb_core.snapshot.BlobFetch`),
so on AWS with the request's scoped credentials: the function's own role has no S3
permission, and a client of its own (what :func:`pandasdb_core.snapshot.fetcher` builds for
other processes) would be refused.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> from pandasdb_core.operations import ReadQuery
>>> db = pdb.open("memory://", chunk_rows=2)
>>> _ = db.upload(pd.DataFrame({"a": range(5)}), "f")
>>> query = ReadQuery.build(name="f")
>>> encoded = encode(read_batches(db, db.files("f"), query), db.files("f"), "csv")
>>> encoded.data, encoded.rows
(b'a\\n0\\n1\\n2\\n3\\n4\\n', 5)
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from pandasdb_core import codecs, snapshot
from pandasdb_core.codecs import as_text
from pandasdb_core.conversion import empty_frame, output_polars
from pandasdb_core.errors import BlobNotFound, ChunkMissing, PayloadTooLarge
from pandasdb_core.operations import ReadQuery
from pandasdb_core.reading import BATCH_BYTES, decode_chunks
from pandasdb_core.store import Store
from pandasdb_core.wire import MAX_RESULT_BYTES, WireFormat, frame_to_bytes

#: threads fetching one batch's files
FETCH_WORKERS = 8


def _runs(files: Iterable[snapshot.ChunkFile], limit: int) -> Iterator[list[snapshot.ChunkFile]]:
    """``files`` in runs of at most ``limit`` stored bytes (at least one file each)."""
    run: list[snapshot.ChunkFile] = []
    size = 0
    for file in files:
        if run and size + file.bytes > limit:
            yield run
            run, size = [], 0
        run.append(file)
        size += file.bytes
    if run:
        yield run


def read_batches(store: Store, snap: snapshot.Snapshot, query: ReadQuery) -> Iterator[pl.DataFrame]:
    """The rows ``query`` reads from ``snap``, a batch of files at a time, decoded as ``get``
    does (as stored: index levels as columns), in ``get``'s order. The files come through
    ``store``'s own blob port, the next batch fetched while this one is decoded."""
    planned = snapshot.read_plan(snap, query)
    fetch = snapshot.BlobFetch(store)

    def load(file: snapshot.ChunkFile) -> tuple[codecs.Unpacked, int]:
        try:
            data = fetch(file)
        except BlobNotFound:
            raise ChunkMissing(
                f"frame {snap.name!r} version {snap.version}: chunk file {file.key!r} is gone "
                "(removed by vacuum while this read ran, or outside pandasdb); read again"
            ) from None
        return codecs.unpack(data, file.format, file.key), file.version

    workers = max(1, min(FETCH_WORKERS, store.workers, len(snap.files)))
    with ThreadPoolExecutor(workers) as pool:
        pending: list[Future[tuple[codecs.Unpacked, int]]] = []
        for run in _runs(snap.files, BATCH_BYTES[snap.format]):
            upcoming = [pool.submit(load, file) for file in run]
            if pending:
                yield decode_chunks(planned, [future.result() for future in pending])
            pending = upcoming
        if pending:
            yield decode_chunks(planned, [future.result() for future in pending])


@dataclass(frozen=True)
class Encoded:
    """A result encoded for the wire: its bytes and rows."""

    data: bytes
    rows: int


def too_large(what: str, limit: int) -> PayloadTooLarge:
    """The 413 of a read whose result is over what the function builds."""
    return PayloadTooLarge(
        f"the result is over {limit:,} bytes of {what}, more than one request of the function "
        "builds within its memory and API Gateway's 29 s: read the stored chunk files instead "
        "(chunked=true answers a manifest of presigned chunk URLs, as the SDK reads; "
        "GET /dataframes/{name}/files the same snapshot), or a part of the frame at a time "
        "(start_date/end_date, start_id/end_id, columns)"
    )


def encode(
    batches: Iterable[pl.DataFrame],
    snap: snapshot.Snapshot,
    fmt: WireFormat,
    *,
    limit: int = MAX_RESULT_BYTES,
) -> Encoded:
    """``batches`` (stored frames of ``snap``) as one JSON array of records, one CSV or one
    parquet file (carrying the schema), encoded a batch at a time: what is held is the
    encoding so far and one batch (for parquet, the batches' rows, then their encoding).
    Past ``limit`` bytes (for parquet: of rows in memory) raises :func:`too_large`.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://", chunk_rows=1)
    >>> _ = db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    >>> snap, query = db.files("f"), ReadQuery.build(name="f")
    >>> encode(read_batches(db, snap, query), snap, "json").data
    b'[{"a":1},{"a":2}]'
    """
    if fmt == "parquet":
        held: list[pl.DataFrame] = []
        size = 0
        for batch in batches:
            size += batch.estimated_size()
            if size > limit:
                raise too_large("rows in memory (parquet)", limit)
            held.append(batch)
        frame = pl.concat(held, how="vertical") if held else _empty(snap)
        del held
        return Encoded(frame_to_bytes(frame, "parquet", snap.schema), frame.height)
    out = io.BytesIO()
    rows = 0
    first = True
    for batch in batches:
        if fmt == "json" and batch.height == 0:
            continue
        text = as_text(output_polars(batch, snap.schema))
        buf = io.BytesIO()
        if fmt == "csv":
            text.write_csv(buf, include_header=first)  # one header, the first batch's
            part = buf.getvalue()
        else:
            text.write_json(buf)  # [{...},...]: the records go between the result's brackets
            part = (b"[" if first else b",") + buf.getvalue().strip()[1:-1]
        rows += batch.height
        first = False
        out.write(part)
        del batch, text, buf, part
        if out.tell() > limit:
            raise too_large(fmt.upper(), limit)
    if first:  # no batch: the header alone (CSV) or an empty array
        return Encoded(frame_to_bytes(output_polars(_empty(snap), snap.schema), fmt), 0)
    if fmt == "json":
        out.write(b"]")
    return Encoded(out.getvalue(), rows)


def _empty(snap: snapshot.Snapshot) -> pl.DataFrame:
    """The zero-row stored frame of the snapshot's columns."""
    return empty_frame(snap.schema, list(snap.columns))
