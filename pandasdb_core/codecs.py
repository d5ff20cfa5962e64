"""Chunk file formats: gzip-compressed CSV (the seed's, the default) and parquet, via polars.

Both read back exactly what was written, with the dtypes recorded in the frame's schema:

- parquet keeps every dtype itself; a column recorded later with a new type (an all-null
  column that got one) is cast to it on read.
- CSV has no types, so the recorded dtypes parse it. CSV cannot hold durations or bytes:
  durations are written as integer counts of their unit and binary as hex text, and turned
  back on read. Zoned datetimes are written in UTC: a local time's offset would be cut to
  whole minutes (Asia/Kolkata was +05:21:10 before 1906). The header is parsed here with the
  ``csv`` module, because polars' reader keeps the doubled quotes of a quoted column name
  (``"a""b"`` would read as ``a""b``).

Example
-------
>>> import polars as pl
>>> df = pl.DataFrame({'say "hi"': [1, 2], "wait": pl.Series([5, None], dtype=pl.Duration("ms"))})
>>> decode(encode(df, "csv.gz"), "csv.gz", dict(df.schema)).equals(df)
True
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from isal import igzip

from .errors import ChunkCorrupt, InvalidArgument, PandasDBError
from .records import Format

FORMATS: tuple[Format, ...] = ("csv.gz", "parquet")
#: ISA-L's gzip level 1: three times faster than zlib's level 1, and smaller files; any gzip
#: reader reads them (ISA-L also decompresses twice as fast as zlib)
GZIP_LEVEL = 1


#: what the rust side of polars raises when it panics (a BaseException, not an Exception)
PanicException = pl.exceptions.PanicException
#: the days polars' CSV writer and reader hold (chrono's NaiveDate: years -262143..262142);
#: a date or datetime outside them makes the writer panic
_CSV_DAYS = (-96_465_292, 95_026_236)
_PER_SECOND = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def check_encodable(frame: pl.DataFrame, fmt: Format) -> None:
    """Refuse, before anything is written, values ``fmt`` cannot write exactly: in csv.gz,
    dates and datetimes outside the years -262143..262142 (the text polars writes and reads
    back; parquet holds any). Raises :class:`InvalidArgument` naming the column.

    Example
    -------
    >>> check_encodable(pl.DataFrame({"d": [0]}).cast(pl.Date), "csv.gz")
    """
    if fmt != "csv.gz":
        return
    low_day, high_day = _CSV_DAYS
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            per_day = 86_400 * _PER_SECOND[dtype.time_unit]
            low, high = low_day * per_day, (high_day + 1) * per_day - 1
        elif dtype == pl.Date:
            low, high = low_day, high_day
        else:
            continue
        values = frame.get_column(name).to_physical()
        smallest, largest = values.min(), values.max()
        if smallest is None or (low <= smallest and largest <= high):  # type: ignore[operator]
            continue
        raise InvalidArgument(
            f"column {name!r} holds a {'date' if dtype == pl.Date else 'datetime'} outside the "
            "years -262143..262142, which csv.gz cannot write; store the frame as parquet "
            "(format='parquet'), which holds it"
        )


def encode(frame: pl.DataFrame, fmt: Format) -> bytes:
    """Serialise one chunk; :class:`InvalidArgument` if polars cannot (see
    :func:`check_encodable`, which refuses the known cases before anything is written).

    Example
    -------
    >>> encode(pl.DataFrame({"a": [1]}), "parquet")[:4]
    b'PAR1'
    """
    return encode_many([frame], fmt)[0]


def encode_many(frames: Sequence[pl.DataFrame], fmt: Format) -> list[bytes]:
    """Serialise several chunks in one polars call (see :func:`render_many`).

    Example
    -------
    >>> files = encode_many([pl.DataFrame({"a": [i]}) for i in range(3)], "csv.gz")
    >>> [decode(f, "csv.gz", {"a": pl.Int64()})["a"][0] for f in files]
    [0, 1, 2]
    """
    return [finish(part) for part in render_many(frames, fmt)]


@dataclass(frozen=True)
class Rendered:
    """A chunk file as :func:`render_many` leaves it: the file, or the CSV text that
    :func:`finish` compresses into it."""

    data: bytes
    compress: bool = False


#: a CSV chunk of at most this many rows is written as text whole, then compressed in one call
#: (a fifth less CPU than streaming it through the compressor, a Python call per block, and
#: :func:`finish` can run on another thread); a longer one streams, its text never held whole
TEXT_ROWS = 16_384


def render_many(frames: Sequence[pl.DataFrame], fmt: Format) -> list[Rendered]:
    """Write several chunks in one polars call; :func:`finish` makes each one's file.

    Each polars write costs ~0.35 ms besides the rows (a query planned in Python and run by
    polars' streaming engine): more than the rows of a day of a typical frame. One call for
    many chunks pays it once and lets polars spread the files over its threads.

    Example
    -------
    >>> [r.compress for r in render_many([pl.DataFrame({"a": [1]})], "csv.gz")]
    [True]
    """
    buffers = [io.BytesIO() for _ in frames]
    text = fmt != "parquet"
    streamed = [text and frame.height > TEXT_ROWS for frame in frames]
    # mtime=0 makes the same rows the same bytes
    targets: list[io.BytesIO | igzip.IGzipFile] = [
        igzip.IGzipFile(fileobj=b, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) if gz else b
        for b, gz in zip(buffers, streamed, strict=True)
    ]
    try:
        pl.collect_all(
            [_sink(frame, target, fmt) for frame, target in zip(frames, targets, strict=True)]
        )
    except (pl.exceptions.PolarsError, PanicException) as exc:
        if len(frames) > 1:  # one of them: rendered alone, it is found and named
            return [part for frame in frames for part in render_many([frame], fmt)]
        check_encodable(frames[0], fmt)  # the known reason, named, if it is one
        raise InvalidArgument(f"the data cannot be written as {fmt}: {_reason(exc)}") from None
    for target, gz in zip(targets, streamed, strict=True):
        if gz:
            target.close()  # ends the gzip stream; the BytesIO under it stays open
    return [
        Rendered(b.getvalue(), compress=text and not gz)
        for b, gz in zip(buffers, streamed, strict=True)
    ]


def finish(rendered: Rendered) -> bytes:
    """The chunk file of a :class:`Rendered` chunk: its CSV text compressed, if it is text
    (ISA-L releases the GIL: several threads compress at once).

    Example
    -------
    >>> finish(Rendered(b"a,b", compress=True))[:2]
    b'\\x1f\\x8b'
    """
    if not rendered.compress:
        return rendered.data
    return igzip.compress(rendered.data, GZIP_LEVEL, mtime=0)


def _sink(frame: pl.DataFrame, target: io.BytesIO | igzip.IGzipFile, fmt: Format) -> pl.LazyFrame:
    """The lazy write of one chunk into ``target``, for :func:`pl.collect_all`."""
    if fmt == "parquet":
        # min/max statistics per column chunk let engines (DuckDB, Spark, Athena, polars)
        # skip data their filters exclude
        return frame.lazy().sink_parquet(
            target, compression="zstd", compression_level=1, statistics=True, lazy=True
        )
    return as_text(frame).lazy().sink_csv(target, lazy=True)


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _corrupt(keys: Sequence[str], what: str, exc: BaseException) -> ChunkCorrupt:
    named = [repr(k) for k in keys if k]
    if not named:
        which = "a stored chunk file"
    elif len(named) == 1:
        which = f"chunk file {named[0]}"
    else:  # files parsed in one call: one of them
        more = f" and {len(named) - 3} more" if len(named) > 3 else ""
        which = f"one of the chunk files {', '.join(named[:3])}{more}"
    return ChunkCorrupt(
        f"{which} cannot be {what}: {_reason(exc)}; it changed since it was committed: run "
        "check() to list every damaged file"
    )


def decode(
    data: bytes,
    fmt: Format,
    dtypes: dict[str, pl.DataType],
    columns: list[str] | None = None,
) -> pl.DataFrame:
    """Parse one chunk with the recorded dtypes, reading only ``columns`` when given.

    Example
    -------
    >>> data = encode(pl.DataFrame({"a": [1], "b": ["x"]}), "csv.gz")
    >>> decode(data, "csv.gz", {"a": pl.Int64, "b": pl.String}, ["b"]).to_dicts()
    [{'b': 'x'}]
    """
    return parse([unpack(data, fmt)], fmt, dtypes, columns)


@dataclass(frozen=True)
class Unpacked:
    """A chunk file made ready to parse: a parquet file as it is, or a CSV file's column names
    and its decompressed rows (``body[start:]``)."""

    body: bytes
    header: tuple[str, ...] | None = None
    #: where the CSV rows start: a byte offset and the lines before it (a quoted column name
    #: may hold newlines)
    start: int = 0
    lines: int = 0
    #: the file's key, named by the error of a file that does not decode ("" if not known)
    key: str = ""


def unpack(data: bytes, fmt: Format, key: str = "") -> Unpacked:
    """The per-file step of decoding: decompress a CSV file and read its header. Many files
    can be unpacked on threads at once (zlib releases the GIL), then parsed in one call.
    A file that does not decompress raises :class:`ChunkCorrupt` naming ``key``.

    Example
    -------
    >>> unpack(encode(pl.DataFrame({"a": [1]}), "csv.gz"), "csv.gz").header
    ('a',)
    """
    if fmt == "parquet":
        return Unpacked(data, key=key)
    try:
        raw = igzip.decompress(data)
        end = _header_end(raw)
        header = next(csv.reader(io.StringIO(raw[:end].decode("utf-8"), newline="")), [])
    except (OSError, EOFError, ValueError, csv.Error) as exc:  # isal's errors are OSErrors
        raise _corrupt([key], "decompressed", exc) from None
    return Unpacked(raw, tuple(header), end + 1, raw.count(b"\n", 0, end) + 1, key)


def parse(
    parts: Sequence[Unpacked],
    fmt: Format,
    dtypes: dict[str, pl.DataType],
    columns: list[str] | None = None,
) -> pl.DataFrame:
    """Several unpacked chunk files holding the same columns, parsed with the recorded dtypes
    in one call (polars spreads one call over its threads; a call per small file costs more
    than the parsing), their rows in the order given.

    Example
    -------
    >>> dtypes = {"a": pl.Int64()}
    >>> files = [unpack(encode(pl.DataFrame({"a": [i]}), "parquet"), "parquet") for i in (1, 2)]
    >>> parse(files, "parquet", dtypes)["a"].to_list()
    [1, 2]
    """
    if not parts:
        return pl.DataFrame(schema={c: dtypes[c] for c in columns or dtypes})
    try:
        return _parse(parts, fmt, dtypes, columns)
    except PandasDBError:
        raise
    except (Exception, PanicException) as exc:  # noqa: BLE001 - polars raises many types
        if isinstance(exc, MemoryError):
            raise
        raise _corrupt([p.key for p in parts], "parsed", exc) from None


def _parse(
    parts: Sequence[Unpacked],
    fmt: Format,
    dtypes: dict[str, pl.DataType],
    columns: list[str] | None,
) -> pl.DataFrame:
    if fmt == "parquet":
        frame = _read_parquet([p.body for p in parts], dtypes, columns)
    else:
        groups: list[list[Unpacked]] = []
        for part in parts:  # a run of files with one header is parsed as one text
            if groups and groups[-1][0].header == part.header:
                groups[-1].append(part)
            else:
                groups.append([part])
        frames = [_read_csv(group, dtypes, columns) for group in groups]
        order = frames[0].columns
        frame = pl.concat([f.select(order) for f in frames], how="vertical", rechunk=False)
    changed = [
        restore(pl.col(name), dtypes[name])
        for name, dtype in frame.schema.items()
        if name in dtypes and dtype != dtypes[name]
    ]
    return frame.with_columns(changed) if changed else frame


def csv_type(dtype: pl.DataType) -> pl.DataType:
    """The type a column has inside a CSV file (what a CSV reader is told to parse).

    Example
    -------
    >>> csv_type(pl.Duration("ms"))
    Int64
    """
    if isinstance(dtype, pl.Duration):
        return pl.Int64()
    if dtype in (pl.Binary, pl.Null):  # polars' CSV reader takes neither type
        return pl.String()
    return dtype


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the types text formats (CSV, JSON) cannot write exactly turned into ones
    they can: durations into integer counts of their unit, binary into hex text, and zoned
    datetimes into UTC (text offsets have whole minutes; old local mean times do not).

    Example
    -------
    >>> as_text(pl.DataFrame({"b": [b"\\x00\\xff"]})).to_dicts()
    [{'b': '00ff'}]
    """
    exprs = []
    for name, dtype in frame.schema.items():
        column = frame.get_column(name)  # by name, literally (never a pattern)
        if isinstance(dtype, pl.Duration):
            exprs.append(column.cast(pl.Int64))
        elif dtype == pl.Binary:
            exprs.append(column.bin.encode("hex"))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone not in (None, "UTC"):
            exprs.append(column.dt.convert_time_zone("UTC"))
    return frame.with_columns(exprs) if exprs else frame


def restore(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Turn a column as read from a file into its recorded dtype.

    Example
    -------
    >>> pl.DataFrame({"b": ["00ff"]}).select(restore(pl.col("b"), pl.Binary()))["b"][0]
    b'\\x00\\xff'
    """
    if dtype == pl.Binary:
        return column.str.decode("hex")
    return column.cast(dtype)


def _read_parquet(
    files: list[bytes], dtypes: dict[str, pl.DataType], columns: list[str] | None
) -> pl.DataFrame:
    try:
        # the recorded dtypes as the files' schema: a column a file holds as all-null (Null)
        # is read as its later type; a column a file lacks comes back as nulls
        lazy = pl.scan_parquet(
            files, schema=dtypes, missing_columns="insert", extra_columns="ignore"
        )
        return lazy.select(columns if columns is not None else list(dtypes)).collect()
    except pl.exceptions.SchemaError:
        # a file whose types differ otherwise (a foreign or older writer's): read each file
        # as it is; parse() casts what differs
        frames = [pl.read_parquet(f, columns=columns) for f in files]
        return pl.concat(frames, how="vertical_relaxed", rechunk=False)


#: digits after the seconds in polars' CSV text of each datetime unit
_FRACTION = {"ms": 3, "us": 6, "ns": 9}


def _read_csv(
    group: list[Unpacked], dtypes: dict[str, pl.DataType], columns: list[str] | None
) -> pl.DataFrame:
    header = group[0].header or ()
    position = {name: i for i, name in enumerate(header)}
    wanted = list(header) if columns is None else [c for c in columns if c in position]
    schema = {name: csv_type(dtypes.get(name, pl.String())) for name in header}
    text, skip, start = _joined(group)
    # polars' reader drops a byte order mark at the start of the rows (a value's first
    # character): a row of nulls before them keeps it, and is dropped after
    padded = text[start : start + len(_BOM)] == _BOM
    if padded:
        text, skip = b"," * (len(header) - 1) + b"\n" + bytes(text[start:]), 0
    stamps = {n: t for n, t in schema.items() if isinstance(t, pl.Datetime) and n in wanted}

    def read(types: dict[str, pl.DataType]) -> pl.DataFrame:
        frame = pl.read_csv(
            text,
            has_header=False,
            skip_lines=skip,
            schema=types,
            columns=[position[name] for name in wanted],
            raise_if_empty=False,
        )
        return frame.slice(1) if padded else frame

    if not stamps:
        return read(schema).select(wanted)
    # polars' CSV reader parses datetimes several times slower than everything else: read
    # them as text and convert the fixed layout polars writes them in; any other text
    # (a file from elsewhere) is read again by the reader itself
    frame = read({**schema, **{n: pl.String() for n in stamps}})
    converted = _datetimes(frame, stamps)
    return (read(schema) if converted is None else converted).select(wanted)


#: UTF-8's byte order mark (U+FEFF)
_BOM = "\ufeff".encode()


def _joined(group: list[Unpacked]) -> tuple[bytes, int, int]:
    """The rows of CSV files as one text, the lines to skip before them (a single file is
    parsed in place, past its header) and the offset where they start. Each body ends with a
    newline, so no row runs into the next."""
    if len(group) == 1:
        return group[0].body, group[0].lines, group[0].start
    bodies = [memoryview(p.body)[p.start :] for p in group]
    return b"".join(b if b[-1:] in (b"", b"\n") else bytes(b) + b"\n" for b in bodies), 0, 0


def _datetimes(frame: pl.DataFrame, stamps: dict[str, pl.Datetime]) -> pl.DataFrame | None:
    """``frame`` with the text columns ``stamps`` names turned into their datetimes, if every
    value has the layout polars writes (``2024-01-31T09:30:00.123456789``, then ``+0000``
    when zoned: zoned datetimes are written in UTC); else None.

    The checks are exact and cheap: the length (and the ``+0000``), then a strict parse. The
    parse is arrow's ISO-8601 cast where pyarrow is installed (six times polars' ``strptime``:
    0.04 s against 0.26 s per million values), else a strict parse of the seconds with the
    dot after them and of the fraction's digits as an unsigned integer (no sign, no space)."""
    checks = []
    for name, dtype in stamps.items():
        suffix = "+0000" if dtype.time_zone else ""
        text = pl.col(name)
        checks.append((text.str.len_bytes() == 20 + _FRACTION[dtype.time_unit] + len(suffix)).all())
        if suffix:
            checks.append(text.str.ends_with(suffix).all())
    if not all(frame.select(c.alias(str(i)) for i, c in enumerate(checks)).row(0)):
        return None
    try:
        converted = [_stamps(frame.get_column(name), dtype) for name, dtype in stamps.items()]
    except pl.exceptions.PolarsError:  # a value out of range or not of the layout
        return None
    return frame.with_columns(converted)


def _stamps(text: pl.Series, dtype: pl.Datetime) -> pl.Series:
    """A text column of polars' datetime layout (checked by :func:`_datetimes`) as ``dtype``:
    counts since the epoch in UTC, which is what a zoned datetime holds."""
    unit, zone = dtype.time_unit, dtype.time_zone
    utc = pl.Datetime(unit, "UTC" if zone else None)
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # the server's package has no pyarrow
        digits = _FRACTION[unit]
        seconds = text.str.slice(0, 20).str.strptime(pl.Datetime(unit), "%Y-%m-%dT%H:%M:%S.")
        fraction = text.str.slice(20, digits).cast(pl.UInt64).cast(pl.Int64)
        value = (seconds.cast(pl.Int64) + fraction).cast(utc)
    else:
        try:
            parsed = pc.cast(text.to_arrow(), pa.timestamp(unit, "UTC" if zone else None))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise pl.exceptions.ComputeError(str(exc)) from None
        value = pl.Series(text.name, parsed).cast(utc)
    return value.dt.convert_time_zone(zone) if zone and zone != "UTC" else value


def _header_end(raw: bytes) -> int:
    """Offset of the newline that ends the header row (names may hold quoted newlines)."""
    end = raw.find(b"\n")
    while end != -1 and raw.count(b'"', 0, end) % 2:
        end = raw.find(b"\n", end + 1)
    return len(raw) if end == -1 else end
