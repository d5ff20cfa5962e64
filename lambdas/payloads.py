"""Request bodies in (JSON records, CSV, parquet) and frames out, with clear 400s.

Example
-------
>>> frame_from_text("a,b\\n1,x\\n").shape
(1, 2)
"""

from __future__ import annotations

import csv
import io
from typing import Any

import polars as pl

from pandasdb_core.conversion import PreparedFrame, prepare_from_wire
from pandasdb_core.errors import InvalidArgument
from pandasdb_core.wire import parquet_schema

PARQUET_MAGIC = b"PAR1"


def frame_from_text(text: str) -> pl.DataFrame:
    """Parse CSV text (header row first) into a frame; ISO dates become datetimes."""
    if not text.strip():
        raise InvalidArgument("dataframe: the CSV is empty")
    header = next(csv.reader(io.StringIO(text)), [])
    dupes = sorted({name for name in header if header.count(name) > 1})
    if dupes:
        raise InvalidArgument(f"dataframe: duplicated column names {dupes!r}")
    try:
        return pl.read_csv(io.BytesIO(text.encode()), try_parse_dates=True)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise InvalidArgument(
            f"dataframe: the CSV could not be parsed: {_first_line(exc)}"
        ) from None


def frame_from_records(records: Any) -> pl.DataFrame:
    """JSON records (a list of objects) or columns (an object of lists) into a frame."""
    try:
        if isinstance(records, list):
            if not records:
                raise InvalidArgument("dataframe has no rows; nothing to upload")
            if not all(isinstance(r, dict) for r in records):
                raise InvalidArgument("dataframe: JSON records must all be objects")
            return _parse_dates(pl.from_dicts(records, infer_schema_length=None))
        if isinstance(records, dict):
            if not all(isinstance(v, list) for v in records.values()):
                raise InvalidArgument("dataframe: a JSON object must map columns to lists")
            return _parse_dates(pl.DataFrame(records, strict=False))
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, InvalidArgument):
            raise
        raise InvalidArgument(
            f"dataframe: the JSON could not be read: {_first_line(exc)}"
        ) from None
    raise InvalidArgument("dataframe must be CSV text, a list of records or an object of columns")


def _parse_dates(frame: pl.DataFrame) -> pl.DataFrame:
    """Give ISO date and datetime strings their types, as CSV parsing does."""
    for name, dtype in frame.schema.items():
        if dtype != pl.String:
            continue
        for parse in (
            lambda s: s.str.to_date("%Y-%m-%d", strict=True),
            lambda s: s.str.to_datetime(strict=True, time_unit="us"),
        ):
            try:
                frame = frame.with_columns(parse(frame[name]))
                break
            except (pl.exceptions.PolarsError, ValueError):
                continue
    return frame


def frame_from_bytes(data: bytes) -> pl.DataFrame | PreparedFrame:
    """A raw body: parquet (by its magic bytes, keeping a schema it carries) or CSV."""
    if data[:4] == PARQUET_MAGIC:
        try:
            frame = pl.read_parquet(io.BytesIO(data))
            sent = parquet_schema(data)
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            raise InvalidArgument(
                f"dataframe: the parquet could not be read: {_first_line(exc)}"
            ) from None
        return prepare_from_wire(frame, sent) if sent is not None else frame
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("dataframe: the body is neither parquet nor UTF-8 CSV") from None
    return frame_from_text(text)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
