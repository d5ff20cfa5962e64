"""Frames larger than memory, uploaded: written piece by piece and committed as one version
(reads batch by batch are :func:`pandasdb_core.reading.iter_batches`).

An upload source may be a frame (the whole-frame path of :mod:`.writing`), an iterator of
frames, a polars ``LazyFrame`` (collected in batches by polars' streaming engine) or a file
path: CSV, CSV.gz or parquet. CSV is read in blocks of ``PIECE_BYTES`` of text cut at row
ends, so memory holds one block and its frame, never the file. Each piece goes through an
:class:`~pandasdb_core.sessions.UploadSession`: its chunk files are written, uncommitted,
and the session commits them all as one version at the end. Nothing is visible before;
a failure removes what was written, and a crash leaves files ``vacuum`` removes.

CSV types: a column the frame has recorded is read as its recorded type, exactly
(:func:`pandasdb_core.ingest.text_as`: ``007`` stays text in a String column, whole seconds
fill a nanosecond column; a value that does not fit is refused, naming the column, the value
and its row). A new column is typed by every row of the first block that has a value in it
(as :mod:`.ingest` types a whole CSV), and later blocks must fit: integers in a float column
are fine, floats after integers make the column a float one (as one read of the whole file
would), text in a number column is refused. A new datetime column is kept in nanoseconds, so
a later row's nanoseconds are never cut (a column with times outside the years 1677-2262 that
nanoseconds span stays in microseconds, and a later row with nanoseconds is then refused).
The pieces are then reconciled as one frame (see :mod:`pandasdb_core.sessions`).

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> parts = (pd.DataFrame({"a": [i, i + 1]}) for i in (0, 2, 4))
>>> db.upload(parts, "f").rows
6
>>> [len(b) for b in db.iter_batches("f", batch_rows=4)]
[4, 2]
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from .conversion import to_polars
from .errors import InvalidArgument, SchemaMismatch
from .idempotency import RowDigest, earlier_commit
from .ingest import (
    _NS_RANGE,
    PanicException,
    first_line,
    infer_column,
    text_as,
    without_blank_lines,
)
from .operations import UploadOptions
from .records import Commit, FrameHead
from .schema import polars_schema
from .sessions import UploadSession, upload_request
from .writing import after_commit

if TYPE_CHECKING:
    from .store import Store

#: CSV text parsed at once: parsing holds several times this as text columns
BLOCK_BYTES = 4 * 1024 * 1024
#: the in-memory size of a piece written at once (CSV blocks, once typed, are gathered to
#: it): peak memory is a few times this, whatever the file's size
PIECE_BYTES = 16 * 1024 * 1024
#: rows per piece of a LazyFrame or a parquet file
PIECE_ROWS = 500_000


def is_stream(source: Any) -> bool:
    """Whether ``source`` is uploaded piece by piece (a path, a LazyFrame, an iterator of
    frames) rather than as one frame.

    Example
    -------
    >>> import polars as pl
    >>> is_stream(pl.DataFrame({"a": [1]})), is_stream("sales.csv"), is_stream(iter([]))
    (False, True, True)
    """
    if isinstance(source, str | os.PathLike | pl.LazyFrame):
        return True
    if isinstance(source, pl.DataFrame) or type(source).__module__.startswith("pandas"):
        return False
    return isinstance(source, Iterator | list | tuple)


def pieces(
    source: Any,
    *,
    piece_bytes: int = PIECE_BYTES,
    piece_rows: int = PIECE_ROWS,
    recorded: dict[str, pl.DataType] | None = None,
) -> Iterator[Any]:
    """The pieces of an upload source (see the module docstring); a CSV's columns that
    ``recorded`` names (the frame's recorded polars types) are read as those types.

    Example
    -------
    >>> import polars as pl
    >>> [p.height for p in pieces(pl.LazyFrame({"a": range(5)}), piece_rows=2)]
    [2, 2, 1]
    """
    if isinstance(source, pl.LazyFrame):
        return _guarded(source.collect_batches(chunk_size=piece_rows))
    if isinstance(source, str | os.PathLike):
        return file_pieces(
            source, piece_bytes=piece_bytes, piece_rows=piece_rows, recorded=recorded
        )
    return iter(source)


def _guarded(batches: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Polars errors (and panics) while producing pieces become :class:`InvalidArgument`."""
    iterator = iter(batches)
    while True:
        try:
            piece = next(iterator)
        except StopIteration:
            return
        except (pl.exceptions.PolarsError, PanicException) as exc:
            raise InvalidArgument(f"dataframe: could not be read: {first_line(exc)}") from None
        yield piece


def file_pieces(
    path: str | os.PathLike[str],
    *,
    piece_bytes: int = PIECE_BYTES,
    piece_rows: int = PIECE_ROWS,
    recorded: dict[str, pl.DataType] | None = None,
) -> Iterator[pl.DataFrame]:
    """A CSV, CSV.gz or parquet file (``-``: CSV or CSV.gz on standard input) in pieces;
    gzip and parquet are recognised by their first bytes as well as by the file's name.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.csv")
    >>> _ = open(path, "w").write("a\\n1\\n2\\n")
    >>> [p["a"].to_list() for p in file_pieces(path)]
    [[1, 2]]
    """
    if os.fspath(path) == "-":
        stream = sys.stdin.buffer
        if _magic(stream) == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
        csv = csv_pieces(stream, source="standard input", recorded=recorded)
        return gathered(csv, piece_bytes)
    file = Path(path)
    if not file.is_file():
        raise InvalidArgument(f"dataframe: input file {os.fspath(path)!r} does not exist")
    with open(file, "rb") as probe:
        magic = probe.read(4)
    if file.suffix == ".parquet" or magic == b"PAR1":
        return parquet_pieces(file, piece_rows)
    gzipped = file.suffix == ".gz" or magic[:2] == GZIP_MAGIC
    opener = gzip.open if gzipped else open
    return gathered(_closing(opener(file, "rb"), file.name, recorded), piece_bytes)  # type: ignore[operator]


#: the first bytes of a gzip stream (RFC 1952)
GZIP_MAGIC = b"\x1f\x8b"


def _magic(stream: Any) -> bytes:
    """The first two bytes of a buffered stream, without consuming them."""
    peek = getattr(stream, "peek", None)
    return peek(2)[:2] if peek is not None else b""


def _closing(
    stream: IO[bytes], name: str, recorded: dict[str, pl.DataType] | None
) -> Iterator[pl.DataFrame]:
    with stream:
        yield from csv_pieces(stream, source=name, recorded=recorded)


def gathered(frames: Iterable[pl.DataFrame], piece_bytes: int) -> Iterator[pl.DataFrame]:
    """Consecutive frames joined into pieces of about ``piece_bytes`` in memory: text is
    parsed in small blocks (parsing needs many times the text's size), then written in
    pieces large enough to make few chunk files. Frames of other types (a column typed by a
    later block) start a new piece: the pieces are reconciled when committed.

    Example
    -------
    >>> frames = [pl.DataFrame({"a": [i]}) for i in range(5)]
    >>> [p.height for p in gathered(frames, piece_bytes=16)]
    [2, 2, 1]
    """
    held: list[pl.DataFrame] = []
    size = 0
    for frame in frames:
        if held and frame.schema != held[0].schema:
            yield pl.concat(held, how="vertical")
            held, size = [], 0
        held.append(frame)
        size += frame.estimated_size()
        if size >= piece_bytes:
            yield pl.concat(held, how="vertical")
            held, size = [], 0
    if held:
        yield pl.concat(held, how="vertical")


def parquet_pieces(path: Path, piece_rows: int = PIECE_ROWS) -> Iterator[pl.DataFrame]:
    """A parquet file in pieces of ``piece_rows`` rows, one row group at a time."""
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for bad files
        reason = first_line(exc)
        raise InvalidArgument(
            f"dataframe: {path.name} is not a readable parquet file: {reason}"
        ) from None
    names = reader.schema_arrow.names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidArgument(f"dataframe: {path.name} has duplicated column names {dupes[:20]!r}")
    batches = reader.iter_batches(batch_size=piece_rows)
    while True:
        # a row group that does not decode, or a column polars cannot hold (a 256-bit
        # decimal, a fixed-offset zone): the file's fault, said as such, never a crash
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for bad files
            raise InvalidArgument(
                f"dataframe: {path.name} could not be read: {first_line(exc)}"
            ) from None
        try:
            piece = pl.from_arrow(batch)
        except (Exception, PanicException) as exc:  # noqa: BLE001 - polars raises many types
            where = _unreadable_column(batch)
            column = f" column {where!r}:" if where is not None else ""
            raise InvalidArgument(
                f"dataframe: {path.name} could not be read:{column} {first_line(exc)}"
            ) from None
        yield piece  # type: ignore[misc]


def _unreadable_column(batch: Any) -> str | None:
    """The first column of an arrow record batch polars cannot take, if one alone fails."""
    for i, name in enumerate(batch.schema.names):
        try:
            pl.from_arrow(batch.select([i]))
        except (Exception, PanicException):  # noqa: BLE001 - as the caller's
            return name
    return None


def csv_pieces(
    stream: IO[bytes],
    *,
    block_bytes: int = BLOCK_BYTES,
    source: str = "the CSV",
    recorded: dict[str, pl.DataType] | None = None,
) -> Iterator[pl.DataFrame]:
    """CSV bytes from ``stream`` in blocks of about ``block_bytes``, cut at row ends (never
    inside a quoted value), typed as the module docstring says (``recorded``: the frame's
    recorded polars types, for its columns).

    Example
    -------
    >>> data = io.BytesIO(b"a,b\\n1,x\\n2,y\\n3,z\\n")
    >>> [p["a"].to_list() for p in csv_pieces(data, block_bytes=8)]
    [[1, 2], [3]]
    """
    typer: _BlockTyper | None = None
    try:
        stream = _lf_lines(stream)
        header = _csv_header(stream, source)
        typer = _BlockTyper(header, recorded or {}, source)
        for data in _blocks(stream, block_bytes):
            yield typer.typed(data)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        # a gzip file cut short (an interrupted download) or damaged: the rows read so far
        # are not the file, so nothing is committed
        read = typer.first_row - 1 if typer is not None else 0
        after = f" after row {read:,}" if read else ""
        raise InvalidArgument(
            f"dataframe: {source} could not be read as gzip{after}: {first_line(exc)}; "
            "nothing was written"
        ) from None


#: the bytes read first to tell a CSV's line ends (as :func:`pandasdb_core.ingest.read_csv`
#: tells them in a whole body: a CR alone ends rows when no LF comes)
_HEAD_BYTES = 64 * 1024


def _lf_lines(stream: IO[bytes]) -> IO[bytes]:
    """``stream`` with rows ending in LF: a CSV whose rows end in a CR alone (old Mac
    exports; no LF in its first bytes) has each CR outside quotes read as an LF, as a whole
    CSV body is read. Other streams are returned as they are, their first bytes put back.

    Example
    -------
    >>> _lf_lines(io.BytesIO(b'a,b\\r1,"x\\ry"\\r')).read()
    b'a,b\\n1,"x\\ry"\\n'
    """
    head = stream.read(_HEAD_BYTES)
    lone_cr = b"\r" in head and b"\n" not in head
    return io.BufferedReader(_Replayed(head, stream, lone_cr), buffer_size=1024 * 1024)


class _Replayed(io.RawIOBase):
    """The bytes ``head`` already read from ``rest``, then the rest; with ``lone_cr``, CRs
    outside quotes become LFs (the quote state carried from one read to the next)."""

    def __init__(self, head: bytes, rest: IO[bytes], lone_cr: bool):
        self.rest, self.lone_cr = rest, lone_cr
        self.quoted = False
        self.head = self._translated(head)

    def readable(self) -> bool:
        return True

    def _translated(self, data: bytes) -> bytes:
        if not self.lone_cr or not data:
            return data
        parts = data.split(b'"')
        # parts alternate outside and inside quotes, starting as the last read ended
        for i in range(1 if self.quoted else 0, len(parts), 2):
            parts[i] = parts[i].replace(b"\r", b"\n")
        self.quoted ^= len(parts) % 2 == 0
        return b'"'.join(parts)

    def readinto(self, buffer: Any) -> int:
        if self.head:
            data, self.head = self.head[: len(buffer)], self.head[len(buffer) :]
        else:  # a CR becomes an LF: the same length as read
            data = self._translated(self.rest.read(len(buffer)))
        buffer[: len(data)] = data
        return len(data)


def _blocks(stream: IO[bytes], block_bytes: int) -> Iterator[bytes]:
    """The stream's bytes in blocks of about ``block_bytes``, each ending at a row's end."""
    carry = b""
    while True:
        block = stream.read(block_bytes)
        data = carry + block
        if block:
            cut = _last_row_end(data)
            if cut < 0:  # one row longer than a block: read on
                carry = data
                continue
            data, carry = data[: cut + 1], data[cut + 1 :]
        if data.strip():
            yield data
        if not block:
            return


#: the types polars parses CSV text into exactly as :func:`text_as` would (others are parsed
#: as text and typed by it)
def _parses_exactly(dtype: pl.DataType) -> bool:
    return dtype == pl.String or dtype.is_integer() or dtype.is_float()


class _BlockTyper:
    """Types the blocks of one CSV (see the module docstring)."""

    def __init__(self, header: list[str], recorded: dict[str, pl.DataType], source: str):
        self.header = header
        self.source = source
        self.recorded = {n: d for n, d in recorded.items() if n in header}
        #: the types of columns a block has typed (or the frame recorded)
        self.dtypes: dict[str, pl.DataType] = dict(self.recorded)
        self.first_row = 1

    def typed(self, data: bytes) -> pl.DataFrame:
        wanted = {n: self.dtypes.get(n, pl.String()) for n in self.header}
        fast = {n: d if _parses_exactly(d) else pl.String() for n, d in wanted.items()}
        # polars parses the known types itself, several times faster than typing text; a
        # block it refuses is parsed as text and typed column by column, for the rule and a
        # clear message
        data = without_blank_lines(data, len(self.header))
        text = _parse_as(data, self.header, fast)
        if text is None:
            text = _parse(data, self.header, self.source, self.first_row)
        columns = [self._column(text[name]) for name in self.header]
        self.first_row += text.height
        return pl.DataFrame(columns)

    def _column(self, column: pl.Series) -> pl.Series:
        name = column.name
        want = self.dtypes.get(name)
        if want is not None and column.dtype == want:
            return column
        if name in self.recorded:
            return text_as(column, want, self.source, self.first_row)  # type: ignore[arg-type]
        if want is None:  # the first block with values in the column types it
            typed = _streamed(infer_column(column))
            if typed.null_count() == typed.len():
                return pl.repeat(None, typed.len(), dtype=pl.Null, eager=True).alias(name)
            self.dtypes[name] = typed.dtype
            return typed
        why = "as the first rows with values typed it"
        try:
            return text_as(column, want, self.source, self.first_row, why)
        except SchemaMismatch:
            if not want.is_integer() or not infer_column(column).dtype.is_float():
                raise
        # floats after integers: a float column, as one read of the whole file would make
        self.dtypes[name] = pl.Float64()
        return text_as(column, pl.Float64(), self.source, self.first_row, why)


def _streamed(series: pl.Series) -> pl.Series:
    """A newly typed column as a stream keeps it: datetimes in nanoseconds when they fit
    there (a later row may have nanoseconds, and every piece must have one type)."""
    dtype = series.dtype
    if not isinstance(dtype, pl.Datetime) or dtype.time_unit == "ns":
        return series
    naive = series.dt.replace_time_zone(None) if dtype.time_zone else series
    low, high = _NS_RANGE
    if not naive.drop_nulls().is_between(low, high).all():
        return series  # outside what nanoseconds span: later nanoseconds are refused
    return series.cast(pl.Datetime("ns", dtype.time_zone))


def _csv_header(stream: IO[bytes], source: str) -> list[str]:
    line = b""
    while True:
        more = stream.readline()
        line += more
        if not more or line.count(b'"') % 2 == 0:
            break
    try:
        text = line.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        # never a column name with U+FFFD in the place of what the file said
        raise InvalidArgument(f"dataframe: {source} is not UTF-8 CSV (its header row)") from None
    header = next(csv.reader(io.StringIO(text, newline="")), [])
    if not header:
        raise InvalidArgument(f"dataframe: {source} is empty (no header row)")
    if "" in header:
        # polars would name it column_N: a column the file does not have
        raise InvalidArgument(
            f"dataframe: {source} has an empty column name (column {header.index('') + 1} "
            "of its header); column names must be non-empty strings"
        )
    dupes = sorted({n for n in header if header.count(n) > 1})
    if dupes:
        raise InvalidArgument(f"dataframe: {source} has duplicated column names {dupes[:20]!r}")
    return header


def _last_row_end(data: bytes) -> int:
    """The offset of the last newline of ``data`` outside quotes, or -1."""
    end = data.rfind(b"\n")
    quotes = data.count(b'"', 0, end) if end >= 0 else 0
    while end >= 0 and quotes % 2:
        previous = data.rfind(b"\n", 0, end)
        quotes -= data.count(b'"', previous + 1, end) if previous >= 0 else quotes
        end = previous
    return end


def _parse(data: bytes, header: list[str], source: str, first_row: int) -> pl.DataFrame:
    """Rows as text columns, or :class:`InvalidArgument` naming what does not parse (a row
    of more fields than the header: its number, counted from ``first_row``)."""
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            new_columns=[f"c{i}" for i in range(len(header))],
            infer_schema=False,
        )
    except (pl.exceptions.PolarsError, PanicException) as exc:
        long = _long_row(data, len(header))
        if long is not None:
            row, fields = long
            raise InvalidArgument(
                f"dataframe: {source}, row {first_row + row:,} has {fields} fields where its "
                f"header has {len(header)}; nothing was written"
            ) from None
        raise InvalidArgument(
            f"dataframe: {source} could not be parsed: {first_line(exc)}"
        ) from None
    if frame.width != len(header):
        raise InvalidArgument(
            f"dataframe: {source} has rows of {frame.width} fields under a header of {len(header)}"
        )
    frame.columns = header
    return frame


def _long_row(data: bytes, width: int) -> tuple[int, int] | None:
    """The index and field count of the first row of ``data`` with more than ``width``
    fields, if one has (polars refuses it and names no row)."""
    rows = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    for i, fields in enumerate(rows):
        if len(fields) > width:
            return i, len(fields)
    return None


def _parse_as(
    data: bytes, header: list[str], dtypes: dict[str, pl.DataType]
) -> pl.DataFrame | None:
    """Rows parsed straight into ``dtypes``, or None if some value does not parse."""
    names = [f"c{i}" for i in range(len(header))]
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            schema=dict(zip(names, dtypes.values(), strict=True)),
        )
    except (pl.exceptions.PolarsError, PanicException):
        return None
    frame.columns = header
    return frame


# ---------------------------------------------------------------------------------- upload


def upload_stream(store: Store, source: Any, options: UploadOptions) -> Commit:
    """Upload ``source`` piece by piece as one version (see the module docstring). A repeat
    of an idempotency key the frame committed writes nothing: its rows are read and
    compared with the first commit's (:func:`repeated`)."""
    head = store.meta.head(options.name)
    earlier = earlier_commit(store, head, options.idempotency_key, upload_request(options))
    if earlier is not None:
        return repeated(store, head, source, options, earlier)  # type: ignore[arg-type]
    recorded = polars_schema(head.schema) if head is not None else None
    session = UploadSession.open(store, options)
    count = 0
    try:
        for count, piece in enumerate(pieces(source, recorded=recorded), start=1):  # noqa: B007
            session.write_piece(count - 1, piece)
        if count == 0:
            raise InvalidArgument("dataframe has no rows; nothing to upload")
        commit = session.commit(pieces=count)
    except BaseException:
        # nothing was committed: take back what was written; but a commit that began may
        # have landed (its answer lost): its chunk files stay, and vacuum removes them after
        # its grace if no version took them
        if not session.commit_began():
            session.abandon()
        raise
    # the answer is here: no repeat of this commit will come
    after_commit(commit.name, commit.version, "its upload session", session.close, "vacuum does")
    return commit


def repeated(
    store: Store, head: FrameHead, source: Any, options: UploadOptions, earlier: Commit
) -> Commit:
    """The answer to a streamed upload repeating an idempotency key that committed
    ``earlier``: that commit when ``source`` holds the same rows (or no piece at all, as an
    upload session without pieces asks for the key's answer), else :class:`InvalidArgument`
    (a key names one write: as a whole-frame upload with other rows is refused). Nothing is
    written; the rows are read piece by piece and only their digest is kept.

    A file is typed as the first upload typed it: toward the types the frame recorded before
    that commit (a CSV's new column is typed by its values, and later blocks of floats may
    have made a float column of it since), so the same file has the same digest.

    Example
    -------
    >>> import pandas as pd, pandasdb_core as pdb
    >>> db = pdb.open("memory://")
    >>> first = db.upload(iter([pd.DataFrame({"a": [1, 2]})]), "f", idempotency_key="k")
    >>> db.upload(iter([pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]})]), "f",
    ...           idempotency_key="k") == first
    True
    >>> db.upload(iter([pd.DataFrame({"a": [3]})]), "f", idempotency_key="k")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    pandasdb_core.errors.InvalidArgument: idempotency_key 'k' already named an append of other...
    """
    before = polars_schema(head.schema, as_of=earlier.version - 1) if earlier.version > 1 else {}
    digest = RowDigest()
    count = 0
    for count, piece in enumerate(pieces(source, recorded=before), start=1):  # noqa: B007
        digest.add(to_polars(piece)[0])
    if count:
        earlier_commit(store, head, options.idempotency_key, upload_request(options, digest.text))
    return earlier


#: the parquet bytes the SDK aims at per piece sent in the request: with base64 and the
#: event around it, a piece stays under Lambda's 6 MB payload
WIRE_PIECE_BYTES = 3 * 1024 * 1024
#: the parquet bytes per piece staged by presigned URL (large frames: fewer requests)
STAGED_PIECE_BYTES = 24 * 1024 * 1024
#: the in-memory size of any piece: what one request of the function decodes and cuts
PIECE_MEMORY = 48 * 1024 * 1024


def wire_slices(
    frame: pl.DataFrame, schema: Any, target: int = WIRE_PIECE_BYTES
) -> Iterator[pl.DataFrame]:
    """``frame`` in slices whose parquet (carrying ``schema``) takes about ``target`` bytes
    and whose rows take at most about ``PIECE_MEMORY`` in memory, sized from the first rows'
    encoding, so the slices can be encoded in parallel.

    Example
    -------
    >>> frame = pl.DataFrame({"a": range(100_000)})
    >>> len(list(wire_slices(frame, None, target=64 * 1024))) > 1
    True
    """
    from .wire import frame_to_bytes

    sample = frame.head(16_384)
    per_row = len(frame_to_bytes(sample, "parquet", schema)) / max(sample.height, 1)
    in_memory = frame.estimated_size() / max(frame.height, 1)
    step = max(1, int(min(target / max(per_row, 1e-3), PIECE_MEMORY / max(in_memory, 1e-3))))
    for start in range(0, frame.height, step):
        yield frame.slice(start, step)
