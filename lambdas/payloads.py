"""Request bodies in (JSON records, CSV, parquet) and frames out, with clear 400s.

Example
-------
>>> frame_from_text("a,b\\n1,x\\n").shape
(1, 2)
"""

from __future__ import annotations

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
            if not all(isinstance(r, dict) for r in records):
                raise InvalidArgument("dataframe: JSON records must all be objects")
            return pl.from_dicts(records, infer_schema_length=None)
        if isinstance(records, dict):
            if not all(isinstance(v, list) for v in records.values()):
                raise InvalidArgument("dataframe: a JSON object must map columns to lists")
            return pl.DataFrame(records, strict=False)
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, InvalidArgument):
            raise
        raise InvalidArgument(
            f"dataframe: the JSON could not be read: {_first_line(exc)}"
        ) from None
    raise InvalidArgument("dataframe must be CSV text, a list of records or an object of columns")


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
