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
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus, urlsplit

import polars as pl

from .codecs import as_text
from .errors import InvalidArgument
from .schema import Schema

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
#: the most staged data one request of the function reads whole (``POST /dataframes/upload``
#: and ``/replace`` with ``staged=``, a session's staged piece): the function's memory holds
#: the body and its decoded rows, several times its size; larger data goes as an upload
#: session, in pieces
MAX_STAGED_BYTES = 64 * 1024 * 1024
#: the largest result a read without ``chunked=true`` builds in the function (its JSON, CSV
#: or, for parquet, its rows in memory), batch by batch, to stage it for a 303: what a Lambda
#: function of 2 GB builds and stores within API Gateway's 29 s; past it the read is a 413
#: that says to read the chunk files instead (``chunked=true``, ``/files``, the SDK)
MAX_RESULT_BYTES = 256 * 1024 * 1024
#: API Gateway's REST API quotas, neither of which can be increased ("Quotas for configuring
#: and running a REST API in API Gateway":
#: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html):
#: "Length, in characters, of the URL for a regional API: 10240" and "Total combined size of
#: request line and header values: 10240 bytes". A read's filters travel in its URL, so a
#: long list of ids meets them first
MAX_REQUEST_HEAD = 10240
#: what the SDK leaves of that quota for headers added on the way (a proxy's
#: ``X-Forwarded-For``, ``Via``, trace ids) and for a longer host or stage than it measured
HEAD_ALLOWANCE = 512


@dataclass(frozen=True)
class HeadTooLarge:
    """A request whose URL or head (request line and headers) API Gateway refuses: 414 when
    the URL alone is over :data:`MAX_REQUEST_HEAD` characters ("414 Request URI too long" is
    the answer AWS documents for an over-long URI, on its quotas page), else 431 Request
    Header Fields Too Large (RFC 6585, section 5; AWS names no status for this quota).
    ``field`` is the query parameter or header that takes the most room."""

    status: int
    code: str
    field: str
    message: str


def request_head_size(method: str, target: str, headers: Iterable[tuple[str, str]]) -> int:
    """Bytes of a request's head as HTTP/1.1 sends it: ``METHOD TARGET HTTP/1.1`` and one
    ``Name: value`` line per header, each ending in CRLF. Header names are counted, though the
    quota speaks of "header values": a request that fits here fits on AWS either way.

    Example
    -------
    >>> request_head_size("GET", "/dataframes", [("Host", "x")])
    35
    """
    size = len(f"{method} {target} HTTP/1.1\r\n".encode())
    return size + sum(len(f"{name}: {value}\r\n".encode()) for name, value in headers)


def head_too_large(
    method: str, target: str, headers: Iterable[tuple[str, str]], *, allowance: int = 0
) -> HeadTooLarge | None:
    """Whether API Gateway refuses this request's URL or head (see :class:`HeadTooLarge`);
    ``allowance`` bytes are kept free for what is added on the way (the SDK's margin).

    Example
    -------
    >>> head_too_large("GET", "/dataframes/u?partition_value=1", []) is None
    True
    >>> ids = ",".join(str(i) for i in range(3000))
    >>> problem = head_too_large("GET", f"/dataframes/u?partition_value={ids}", [])
    >>> problem.status, problem.field
    (414, 'partition_value')
    >>> head_too_large("GET", "/dataframes", [("X-Big", "a" * 11000)]).status
    431
    """
    headers = list(headers)
    limit = MAX_REQUEST_HEAD - allowance
    size = request_head_size(method, target, headers)
    if size <= limit:
        return None
    parts = _parts(target, headers)
    field, (count, room) = max(parts.items(), key=lambda item: item[1][1])
    kind = "header" if any(field == name for name, _ in headers) else "query parameter"
    values = f"{count:,} values, " if count > 1 else ""
    hint = (
        "read a range (start_id/end_id) or fewer ids per request"
        if field == "partition_value"
        else f"send a shorter {field}"
    )
    kept = f", {allowance:,} of which are kept for headers added on the way" if allowance else ""
    if len(target) > limit:
        return HeadTooLarge(
            414,
            "uri_too_long",
            field,
            f"{field}: the URL is {len(target):,} characters; API Gateway takes at most "
            f"{MAX_REQUEST_HEAD:,} (its REST API quota for the URL of a regional API{kept}): "
            f"{kind} {field} ({values}{room:,} characters) takes the most; {hint}",
        )
    return HeadTooLarge(
        431,
        "headers_too_large",
        field,
        f"{field}: the request line and headers are {size:,} bytes; API Gateway takes at most "
        f"{MAX_REQUEST_HEAD:,} of both together (its REST API quota{kept}): {kind} {field} "
        f"({values}{room:,} bytes) takes the most; {hint}",
    )


def _parts(target: str, headers: list[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """Each query parameter and header of a request: how many values, how many bytes."""
    parts: dict[str, tuple[int, int]] = {"path": (1, len(urlsplit(target).path))}
    for piece in urlsplit(target).query.split("&"):
        if piece:
            key = unquote_plus(piece.split("=", 1)[0])
            count, room = parts.get(key, (0, 0))
            parts[key] = (count + 1 + piece.count("%2C") + piece.count(","), room + len(piece) + 1)
    for name, value in headers:
        count, room = parts.get(name, (0, 0))
        parts[name] = (count + 1, room + len(name) + len(value) + 4)
    return parts


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


def fits_inline(body: bytes, *, binary: bool, limit: int = LAMBDA_PAYLOAD) -> bool:
    """Whether ``body`` can travel inside one Lambda invocation (of ``limit`` bytes, Lambda's
    6 MB by default), envelope included.

    Example
    -------
    >>> fits_inline(b"x" * 4_000_000, binary=True), fits_inline(b"x" * 5_000_000, binary=True)
    (True, False)
    """
    if len(body) + ENVELOPE > limit:  # encoding never shrinks a body: no copy to measure
        return False
    return carried_size(body, binary=binary) + ENVELOPE <= limit


def frame_to_bytes(
    frame: pl.DataFrame,
    fmt: WireFormat,
    schema: Schema | None = None,
    *,
    compression: Literal["zstd", "lz4"] = "zstd",
) -> bytes:
    """Serialise a frame for the wire; parquet carries ``schema`` in its metadata and is
    compressed with ``compression``: zstd (level 1) by default, the denser; lz4 for the
    staged pieces of a large upload, which encodes in about two thirds of zstd's time and
    decodes in half, for some 13% more bytes (the issue's frame: 1.19M rows in 26.8 MB
    against 23.6 MB)."""
    buf = io.BytesIO()
    if fmt == "parquet":
        metadata = {SCHEMA_KEY: json.dumps(schema)} if schema is not None else None
        # no statistics: a reader of the wire takes every row (a tenth of the encoding)
        level = 1 if compression == "zstd" else None
        frame.write_parquet(
            buf,
            compression=compression,
            compression_level=level,
            statistics=False,
            metadata=metadata,
        )
    elif fmt == "csv":
        as_text(frame).write_csv(buf)
    else:
        as_text(frame).write_json(buf)
    return buf.getvalue()


def parquet_schema(data: bytes) -> Schema | None:
    """The pandasdb schema a parquet payload carries, if any."""
    text = pl.read_parquet_metadata(io.BytesIO(data)).get(SCHEMA_KEY)
    return json.loads(text) if text else None


#: the media types each wire format answers to (the first is the one it is sent as)
_FORMAT_TYPES: dict[str, tuple[str, ...]] = {
    "json": (MEDIA_TYPES["json"],),
    "csv": (MEDIA_TYPES["csv"],),
    "parquet": (MEDIA_TYPES["parquet"], "application/octet-stream", "application/x-parquet"),
}


def media_format(content_type: str | None) -> WireFormat | None:
    """Map a Content-Type value to a wire format (None if not one of ours).

    Example
    -------
    >>> media_format("text/csv; charset=utf-8"), media_format("application/xml")
    ('csv', None)
    """
    if not content_type:
        return None
    base = content_type.split(";", 1)[0].strip().lower()
    return next((f for f, types in _FORMAT_TYPES.items() if base in types), None)  # type: ignore[return-value]


def accepted_format(accept: str | None) -> WireFormat | None:
    """The format an ``Accept`` header asks for, by its q-values (RFC 9110, 12.5.1): each of
    the formats takes the q of the most specific range that matches it (``text/csv``, then
    ``text/*``, then ``*/*``; no q means 1, ``q=0`` means not acceptable); the highest q
    wins, a tie going to the range listed first, then to json, csv, parquet. None when the
    header matches none of them (the caller's default applies).

    API Gateway decides whether a binary answer travels as binary from the *first* type of
    the header alone (``lambdas/pandasdb_lambdas/local_gateway.py``), whatever this chooses.

    Raises
    ------
    InvalidArgument
        The header refuses every format (``application/json;q=0`` alone).

    Example
    -------
    >>> accepted_format("text/csv;q=0.1, application/json"), accepted_format("text/*")
    ('json', 'csv')
    >>> accepted_format("image/png, */*;q=0.1"), accepted_format("application/xml")
    ('json', None)
    """
    ranges = [r for r in (_media_range(part) for part in (accept or "").split(",")) if r]
    best: dict[str, tuple[int, float, int]] = {}  # format -> (specificity, q, position)
    for position, (kind, q) in enumerate(ranges):
        for fmt, types in _FORMAT_TYPES.items():
            specificity = max(_specificity(kind, media) for media in types)
            if specificity and specificity > best.get(fmt, (0, 0.0, 0))[0]:
                best[fmt] = (specificity, q, position)
    if not best:
        return None
    order = list(_FORMAT_TYPES)
    acceptable = [
        (q, -position, -order.index(f), f) for f, (_, q, position) in best.items() if q > 0
    ]
    if not acceptable:
        raise InvalidArgument(
            f"Accept: {accept[:200]!r} refuses every format this API answers "  # type: ignore[index]
            f"({', '.join(MEDIA_TYPES.values())}); accept one of them, or send format="
        )
    return max(acceptable)[3]  # type: ignore[return-value]


def _media_range(part: str) -> tuple[str, float] | None:
    """One ``type/subtype;q=...`` of an Accept header, lowercased, with its q; None if it is
    no media range or its q is no number from 0 to 1."""
    pieces = [p.strip() for p in part.split(";")]
    kind = pieces[0].lower()
    if kind.count("/") != 1 or not all(kind.split("/")):
        return None
    q = 1.0
    for param in pieces[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
            if not 0 <= q <= 1:
                return None
    return kind, q


def _specificity(kind: str, media: str) -> int:
    """How closely range ``kind`` matches ``media``: 3 exactly, 2 by ``type/*``, 1 by
    ``*/*``, 0 not at all."""
    if kind == media:
        return 3
    major = media.split("/", 1)[0]
    if kind == f"{major}/*":
        return 2
    return 1 if kind == "*/*" else 0


#: a quoted value long enough to be user data rather than a word of the sentence
_LONG_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.){200,}'|\"(?:[^\"\\\n]|\\.){200,}\"")
#: the most of an error message an answer carries (the sentence, not the user's data)
MAX_ERROR_CHARS = 1000


def error_body(code: str, message: str) -> dict[str, Any]:
    """The error model: ``{"error": TEXT, "message": TEXT, "code": CODE}``.

    ``error`` is the sentence a person reads, since the original backend's SDK shows only that
    field; ``message`` holds the same sentence (pandasdb's first clients read it); ``code`` is
    the stable identifier programs branch on (``invalid_argument``, ``not_found``...). A
    value quoted in the sentence is cut to its start (saying how long it was), and the
    sentence to ``MAX_ERROR_CHARS``: an answer never echoes kilobytes of the request.

    Example
    -------
    >>> error_body("not_found", "frame 'x' does not exist")["code"]
    'not_found'
    >>> error_body("invalid_argument", f"bad value {'x' * 5000!r}")["error"][-30:]
    "xxxxxxx'... (5,002 characters)"
    """
    text = readable(message)
    return {"error": text, "message": text, "code": code}


def readable(message: str) -> str:
    """``message`` with long quoted values cut and the whole at most ``MAX_ERROR_CHARS``.

    Example
    -------
    >>> len(readable("x" * 5000))
    1022
    """

    def cut(found: re.Match[str]) -> str:
        quoted = found.group(0)
        return f"{quoted[:61]}{quoted[0]}... ({len(quoted):,} characters)"

    text = _LONG_QUOTED.sub(cut, message)
    if len(text) > MAX_ERROR_CHARS:
        text = f"{text[:MAX_ERROR_CHARS]}... ({len(text):,} characters)"
    return text
