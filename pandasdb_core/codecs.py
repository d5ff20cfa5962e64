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
import gzip
import io

import polars as pl

from .records import Format

FORMATS: tuple[Format, ...] = ("csv.gz", "parquet")
#: gzip level 1: several times faster than the default 6 for ~10-20% larger files
GZIP_LEVEL = 1


def encode(frame: pl.DataFrame, fmt: Format) -> bytes:
    """Serialise one chunk.

    Example
    -------
    >>> encode(pl.DataFrame({"a": [1]}), "parquet")[:4]
    b'PAR1'
    """
    buf = io.BytesIO()
    if fmt == "parquet":
        frame.write_parquet(buf, compression="zstd", compression_level=1, statistics=False)
    else:
        as_text(frame).write_csv(buf, compression="gzip", compression_level=GZIP_LEVEL)
    return buf.getvalue()


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
    if fmt == "parquet":
        frame = pl.read_parquet(data, columns=columns)
    else:
        frame = _read_csv(gzip.decompress(data), dtypes, columns)
    changed = [
        _restore(pl.col(name), dtypes[name])
        for name, dtype in frame.schema.items()
        if name in dtypes and dtype != dtypes[name]
    ]
    return frame.with_columns(changed) if changed else frame


def _csv_type(dtype: pl.DataType) -> pl.DataType:
    """The type a column has inside a CSV file."""
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
        if isinstance(dtype, pl.Duration):
            exprs.append(pl.col(name).cast(pl.Int64))
        elif dtype == pl.Binary:
            exprs.append(pl.col(name).bin.encode("hex"))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone not in (None, "UTC"):
            exprs.append(pl.col(name).dt.convert_time_zone("UTC"))
    return frame.with_columns(exprs) if exprs else frame


def _restore(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Turn a column as read from a file into its recorded dtype."""
    if dtype == pl.Binary:
        return column.str.decode("hex")
    return column.cast(dtype)


def _read_csv(
    raw: bytes, dtypes: dict[str, pl.DataType], columns: list[str] | None
) -> pl.DataFrame:
    end = _header_end(raw)
    header = next(csv.reader(io.StringIO(raw[:end].decode("utf-8"), newline="")), [])
    position = {name: i for i, name in enumerate(header)}
    wanted = header if columns is None else [c for c in columns if c in position]
    frame = pl.read_csv(
        raw[end + 1 :],
        has_header=False,
        schema={name: _csv_type(dtypes.get(name, pl.String())) for name in header},
        columns=[position[name] for name in wanted],
        raise_if_empty=False,
    )
    return frame.select(wanted)


def _header_end(raw: bytes) -> int:
    """Offset of the newline that ends the header row (names may hold quoted newlines)."""
    end = raw.find(b"\n")
    while end != -1 and raw.count(b'"', 0, end) % 2:
        end = raw.find(b"\n", end + 1)
    return len(raw) if end == -1 else end
