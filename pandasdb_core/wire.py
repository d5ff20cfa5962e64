"""What the SDK and the HTTP API agree on: formats, media types, limits, frame encoding.

Frames travel as parquet whose key-value metadata carries pandasdb's schema (pandas dtypes,
categories, index), so dtypes survive the trip exactly; JSON records and CSV are accepted and
offered for other clients.

Example
-------
>>> import polars as pl
>>> data = frame_to_bytes(pl.DataFrame({"a": [1]}), "csv")
>>> data
b'a\\n1\\n'
"""

from __future__ import annotations

import io
import json
from typing import Any, Literal

import polars as pl

from .schema import Schema
from .staging import STAGING_PREFIX  # noqa: F401 - where lambdas has always imported it from

WireFormat = Literal["json", "csv", "parquet"]
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
#: parquet key-value metadata entry holding the schema
SCHEMA_KEY = "pandasdb.schema"
#: API Gateway takes 10 MB requests and Lambda returns 6 MB; stay below with margin (and
#: base64 inflates binary bodies by a third)
MAX_INLINE_REQUEST = 6 * 1024 * 1024
MAX_INLINE_RESPONSE = 4 * 1024 * 1024
PRESIGN_SECONDS = 900


def frame_to_bytes(frame: pl.DataFrame, fmt: WireFormat, schema: Schema | None = None) -> bytes:
    """Serialise a frame for the wire; parquet carries ``schema`` in its metadata."""
    buf = io.BytesIO()
    if fmt == "parquet":
        metadata = {SCHEMA_KEY: json.dumps(schema)} if schema is not None else None
        frame.write_parquet(buf, compression="zstd", compression_level=1, metadata=metadata)
    elif fmt == "csv":
        frame.write_csv(buf)
    else:
        frame.write_json(buf)
    return buf.getvalue()


def parquet_schema(data: bytes) -> Schema | None:
    """The pandasdb schema a parquet payload carries, if any."""
    text = pl.read_parquet_metadata(io.BytesIO(data)).get(SCHEMA_KEY)
    return json.loads(text) if text else None


def media_format(content_type: str | None) -> WireFormat | None:
    """Map a Content-Type or Accept value to a wire format (None if not one of ours)."""
    if not content_type:
        return None
    base = content_type.split(";", 1)[0].strip().lower()
    for fmt, media in MEDIA_TYPES.items():
        if base == media:
            return fmt  # type: ignore[return-value]
    if base in ("application/octet-stream", "application/x-parquet"):
        return "parquet"
    return None


def error_body(code: str, message: str) -> dict[str, Any]:
    """The error model: ``{"error": CODE, "message": TEXT}``."""
    return {"error": code, "message": message}
