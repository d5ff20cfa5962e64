"""Read results built in the function with bounded memory: the chunk files of a snapshot read
through the caller's own store, batch by batch, and encoded batch by batch.

A read holds, besides the encoded result, one batch of fetched files (``BATCH_BYTES`` of
stored bytes, the next batch fetched while this one is decoded) and its decoded rows, never
the whole frame in polars and pandas at once. The encoded result itself is bounded by
``limit`` (:data:`pandasdb_core.wire.MAX_RESULT_BYTES` for a result staged for a 303): past
it the read stops with a 413 that says how to read the chunk files instead.

Files are fetched through the store's blob port (:class:`pandasdb_core.reading.BlobFetch`),
so on AWS with the request's scoped credentials: the function's own role has no S3
permission, and a client of its own (what :func:`pandasdb_core.snapshot.fetcher` builds for
other processes) would be refused. The read itself is the library's one executor
(:class:`pandasdb_core.reading.ReadFiles`), as every reader's.

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
from dataclasses import dataclass

import polars as pl

from pandasdb_core import snapshot
from pandasdb_core.codecs import as_text
from pandasdb_core.conversion import empty_frame, output_polars
from pandasdb_core.errors import PayloadTooLarge
from pandasdb_core.operations import ReadQuery
from pandasdb_core.reading import BlobFetch
from pandasdb_core.store import Store
from pandasdb_core.wire import MAX_RESULT_BYTES, WireFormat, frame_to_bytes

#: threads fetching one batch's files
FETCH_WORKERS = 8


def read_batches(store: Store, snap: snapshot.Snapshot, query: ReadQuery) -> Iterator[pl.DataFrame]:
    """The rows ``query`` reads from ``snap``, a batch of files at a time, decoded as ``get``
    does (as stored: index levels as columns), in ``get``'s order. The files come through
    ``store``'s own blob port, the next batch fetched while this one is decoded."""
    workers = max(1, min(FETCH_WORKERS, store.workers))
    return snapshot.reader(snap, query, BlobFetch(store), workers=workers).batches(label=None)


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
