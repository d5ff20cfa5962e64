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

from .codecs import as_text
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
#: Lambda's synchronous invocation payload limit (request and response, 6 MB), measured on
#: the proxy event and response as they travel: binary bodies base64-encoded, text bodies
#: JSON-escaped (AWS Lambda quotas; API Gateway, "Binary media types for Lambda proxy")
LAMBDA_PAYLOAD = 6 * 1024 * 1024
#: room left in that payload for the event's or response's other fields (headers, context)
ENVELOPE = 128 * 1024
PRESIGN_SECONDS = 900


def carried_size(body: bytes, *, binary: bool) -> int:
    """How many bytes ``body`` takes inside a Lambda proxy event or response: base64 for a
    binary body, the JSON-escaped string for a text one.

    Example
    -------
    >>> carried_size(b"x" * 3000, binary=True), carried_size(b'"q"', binary=False)
    (4000, 7)
    """
    if binary:
        return 4 * -(-len(body) // 3)
    return len(json.dumps(body.decode("utf-8", errors="replace")))


def fits_inline(body: bytes, *, binary: bool) -> bool:
    """Whether ``body`` can travel inside one Lambda invocation, envelope included.

    Example
    -------
    >>> fits_inline(b"x" * 4_000_000, binary=True), fits_inline(b"x" * 5_000_000, binary=True)
    (True, False)
    """
    return carried_size(body, binary=binary) + ENVELOPE <= LAMBDA_PAYLOAD


def frame_to_bytes(frame: pl.DataFrame, fmt: WireFormat, schema: Schema | None = None) -> bytes:
    """Serialise a frame for the wire; parquet carries ``schema`` in its metadata."""
    buf = io.BytesIO()
    if fmt == "parquet":
        metadata = {SCHEMA_KEY: json.dumps(schema)} if schema is not None else None
        frame.write_parquet(buf, compression="zstd", compression_level=1, metadata=metadata)
    elif fmt == "csv":
        as_text(frame).write_csv(buf)
    else:
        as_text(frame).write_json(buf)
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
    """The error model: ``{"error": TEXT, "message": TEXT, "code": CODE}``.

    ``error`` is the sentence a person reads, since the original backend's SDK shows only that
    field; ``message`` holds the same sentence (pandasdb's first clients read it); ``code`` is
    the stable identifier programs branch on (``invalid_argument``, ``not_found``...).

    Example
    -------
    >>> error_body("not_found", "frame 'x' does not exist")["code"]
    'not_found'
    """
    return {"error": message, "message": message, "code": code}
