"""The HTTP API (Powertools for AWS Lambda), built from the route table of
:mod:`pandasdb_core.http_routes`: one handler function per route, bound to a store resolver.

Each route's query parameters build its request type, which validates them; routes that need
a token resolve the caller's store from the authorizer claims first. A handler gets a
:class:`Call` (the request, the caller's store, the event) and answers a Response.

Example
-------
>>> import pandasdb_core as pdb
>>> from pandasdb_lambdas.context import StoreContext
>>> app = build_app(lambda caller: StoreContext(pdb.open("memory://"), lambda m, k: k))
>>> sorted(HANDLERS) == sorted(r.name for r in ROUTES)
True
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import polars as pl
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.metrics import MetricUnit

from pandasdb_core import errors, snapshot
from pandasdb_core.http_routes import ROUTES, Route
from pandasdb_core.idempotency import earlier_commit, request_of, upload_request
from pandasdb_core.layouts import kind_of
from pandasdb_core.names import validate_addressable
from pandasdb_core.operations import (
    CommitRequest,
    PieceRequest,
    ReadQuery,
    ReadRequest,
    ReplaceRequest,
    SessionRef,
    UploadRequest,
)
from pandasdb_core.records import Commit, Layout
from pandasdb_core.schema import polars_schema
from pandasdb_core.sessions import UploadSession
from pandasdb_core.wire import (
    LAMBDA_PAYLOAD,
    MAX_RESULT_BYTES,
    MAX_STAGED_BYTES,
    MEDIA_TYPES,
    WireFormat,
    accepted_format,
    error_body,
    fits_inline,
    media_format,
)

from . import results
from .auth_config import auth_config
from .context import StoreContext, StoreResolver
from .identity import caller_from_claims
from .observability import logger, metrics
from .openapi import docs_page, openapi_document
from .pandas_json import frame_from_pandas_json, is_pandas_json
from .payloads import (
    PARQUET_MAGIC,
    Recorded,
    frame_from_bytes,
    frame_from_records,
    frame_from_text,
    loads_json,
    looks_like_json,
)
from .upload_answer import upload_answer

#: a chunked read answers its rows inline up to this many stored bytes, else a manifest
INLINE_READ_BYTES = LAMBDA_PAYLOAD // 4
#: ... and up to this many bytes of rows in memory (files that compress very well decode to
#: far more than their size), else a manifest too
INLINE_READ_ROWS_BYTES = 16 * LAMBDA_PAYLOAD
#: the largest staged piece (or staged upload, or replace) one request reads: the
#: function's memory holds one
STAGED_PIECE_BYTES = MAX_STAGED_BYTES
#: the read filters of calendar days: a layout kind that answers them has a date column
_DATE_FILTERS = frozenset({"start_date", "end_date"})
#: what one response carries (Lambda's 6 MB, measured after base64 or JSON escaping); a
#: parameter so that tests can reach it with small results
RESPONSE_LIMIT = LAMBDA_PAYLOAD

STATUS = {
    errors.InvalidName: 400,
    errors.InvalidArgument: 400,
    errors.InvalidPartition: 400,
    errors.SchemaMismatch: 400,
    errors.FrameNotFound: 404,
    errors.VersionNotFound: 404,
    errors.CommitConflict: 409,
    errors.ChunkMissing: 409,
    errors.PayloadTooLarge: 413,
    errors.Unauthorized: 401,
    errors.StoreUnavailable: 503,
}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, default=str),
        headers=headers,
    )


@dataclass(frozen=True)
class Call:
    """One request as a route's handler sees it."""

    app: APIGatewayRestResolver
    #: the caller's store (None on routes that need no token)
    ctx: StoreContext | None
    #: the route's request object, built from the query string and path (None: it has none)
    request: Any
    #: how the app maps callers to stores (``GET /auth/config`` asks it how tokens are got)
    resolve: StoreResolver | None = None

    @property
    def store_ctx(self) -> StoreContext:
        """The caller's store, on routes that need a token."""
        assert self.ctx is not None, "a route without auth has no store"
        return self.ctx

    def header(self, name: str) -> str | None:
        """A request header, whatever its case."""
        headers = self.app.current_event.headers or {}
        return next((v for k, v in headers.items() if k.lower() == name.lower()), None)

    def body(self) -> bytes:
        """The request body's bytes."""
        event = self.app.current_event
        if event.body is None:
            return b""
        if event.is_base64_encoded:
            return base64.b64decode(event.body)
        return event.body.encode("utf-8")


# ---------------------------------------------------------------------------------- upload


def upload(call: Call) -> Response:
    """``POST /dataframes/upload``: a JSON body, a raw CSV/parquet body, or staged data."""
    ctx = call.store_ctx
    repeated = _repeated(call, UploadRequest)
    if repeated is not None:
        return json_response(200, upload_answer(repeated[1], repeated[0].options))
    request, frame = _received(call, UploadRequest)
    commit = ctx.store.write(frame, request.options)
    if request.staged is not None:
        ctx.store.staging.discard_upload(request.staged)
    metrics.add_metric(name="RowsWritten", unit=MetricUnit.Count, value=commit.rows)
    metrics.add_metric(name="BytesWritten", unit=MetricUnit.Bytes, value=commit.bytes)
    metrics.add_metric(name="ChunksWritten", unit=MetricUnit.Count, value=commit.chunks)
    logger.info(
        "upload committed",
        extra={"frame": commit.name, "version": commit.version, "rows": commit.rows},
    )
    return json_response(200, upload_answer(commit, request.options))


def _received(call: Call, request_type: Any, **fixed: str) -> tuple[Any, Any]:
    """The request (an UploadRequest or ReplaceRequest; ``fixed``: path parameters) and the
    frame of a call that carries data: a JSON body, a raw CSV/parquet body, or staged data."""
    ctx = call.store_ctx
    event = call.app.current_event
    params = event.multi_value_query_string_parameters or {}
    body = call.body()
    if not fits_inline(body, binary=bool(event.is_base64_encoded)):
        raise errors.PayloadTooLarge(
            f"body of {len(body):,} bytes is over what one Lambda invocation carries "
            f"({LAMBDA_PAYLOAD:,} bytes, after base64 for binary bodies); stage it with "
            "POST /dataframes/staging"
        )
    _refuse_form(call)
    kind = media_format(call.header("content-type"))
    if kind == "json" or (kind is None and looks_like_json(body)):
        fields = _json_object(body)
        if "dataframe" not in fields:
            raise errors.InvalidArgument("dataframe is required")
        data = fields.pop("dataframe")
        request = request_type.from_sources(params, fields, **fixed)
        dates, recorded = _frame_types(ctx, request)
        frame = _json_frame(data, dates, recorded)
    else:
        request = request_type.from_query(params, **fixed)
        if request.staged is not None:
            if body:
                raise errors.InvalidArgument("staged: send either a body or staged=<id>, not both")
            body = _staged_body(ctx, request.staged, _STAGED_HINTS[request_type.verb])
        elif not body:
            raise errors.InvalidArgument("dataframe: the request has no body")
        # parquet carries its types; CSV is typed toward the frame's
        recorded = _frame_types(ctx, request)[1] if body[:4] != PARQUET_MAGIC else None
        frame = frame_from_bytes(body, recorded)
    return request, frame


def _refuse_form(call: Call) -> None:
    """Refuse an HTML form's body (``curl -F file=@x.csv``, ``requests.post(files=...)``):
    read as CSV, its boundary and part headers would be stored as rows."""
    kind = (call.header("content-type") or "").split(";", 1)[0].strip().lower()
    if kind.startswith("multipart/"):
        raise errors.InvalidArgument(
            f"body: a {kind} body (a form's file field) is not read: send the file itself "
            "as the body (curl --data-binary @file.csv -H 'Content-Type: text/csv', or "
            "parquet with Content-Type: application/vnd.apache.parquet)"
        )


#: what to do instead when staged data is too large for one request, by operation
_STAGED_HINTS = {
    "upload": (
        "send it as an upload session instead (POST /dataframes/sessions, then pieces of at "
        "most that size each, then one commit: one version), as the SDK does for large frames"
    ),
    "replace": (
        "replace a narrower range per request (each replace is one commit), or upload the "
        "new rows with an upload session and delete_rows the old ones"
    ),
    "write_piece": "send smaller pieces (the function's memory is bounded by one piece)",
}


def _staged_body(ctx: StoreContext, upload_id: str, hint: str) -> bytes:
    """The staged data of ``upload_id``, refused before it is read when it is over
    :data:`STAGED_PIECE_BYTES` (the function holds the body and its decoded rows whole)."""
    size = ctx.store.staging.upload_size(upload_id)
    if size is not None and size > STAGED_PIECE_BYTES:
        raise errors.PayloadTooLarge(
            f"staged data of {size:,} bytes is over {STAGED_PIECE_BYTES:,}, what one request "
            f"of the function reads whole: {hint}"
        )
    return ctx.store.staging.take_upload(upload_id)


def _json_frame(data: Any, dates: list[str], recorded: Recorded) -> Any:
    """The frame of a JSON body's ``dataframe``: pandas' to_json in a string (the original
    backend's clients, read as read_json reads it), CSV text, or records."""
    if isinstance(data, str) and is_pandas_json(data):
        return frame_from_pandas_json(data, dates, recorded)
    if isinstance(data, str):
        return frame_from_text(data, recorded)
    return frame_from_records(data, recorded)


def _repeated(call: Call, request_type: Any, **fixed: str) -> tuple[Any, Commit] | None:
    """A staged request whose idempotency key the frame has committed: the request and that
    commit. Its staged data was discarded when it committed, so a retried request (whose
    first answer was lost) is answered before its data is looked for."""
    params = call.app.current_event.multi_value_query_string_parameters or {}
    if "staged" not in params or call.body():
        return None
    request = request_type.from_query(params, **fixed)
    store = call.store_ctx.store
    # the key's first request must be this one: another operation or other options are
    # refused, not answered with the first commit (its rows are not compared: not read)
    if isinstance(request, ReplaceRequest):
        asked = request_of("replace", request.options)
    else:
        asked = upload_request(request.options)
    head = store.find_head(request.name)
    earlier = earlier_commit(store, head, request.idempotency_key, asked)
    return None if earlier is None else (request, earlier)


def _frame_types(ctx: StoreContext, request: Any) -> tuple[list[str], Recorded]:
    """What typing an upload's (or a replace's) rows must respect: its Date columns (those
    of its columns_keys, or of the frame's) and the types the frame recorded (none for a new
    frame), toward which a batch is typed (:func:`pandasdb_lambdas.payloads.fit_column`)."""
    head = ctx.store.find_head(request.name)
    asked = getattr(request, "columns_keys", None)
    # a replace names no layouts: of a frame that does not exist, the store says so later
    layouts = head.layouts if head is not None and not asked else getattr(request, "layouts", ())
    return date_columns(layouts), polars_schema(head.schema) if head is not None else {}


def date_columns(layouts: Sequence[Layout]) -> list[str]:
    """The columns of ``layouts`` that hold dates: those of the layout kinds that answer
    the date filters (the registry says which, so a new kind needs no change here). The
    original backend's JSON holds their values as epoch numbers or ISO text alike.

    Example
    -------
    >>> from pandasdb_core.layouts import parse_columns_keys
    >>> date_columns(parse_columns_keys({"ts": "Date", "uid": "ID"}))
    ['ts']
    """
    return [
        layout.column
        for layout in layouts
        if layout.column and _DATE_FILTERS.intersection(kind_of(layout).filters)
    ]


def _json_object(body: bytes) -> dict[str, Any]:
    payload = loads_json(body, "body")
    if not isinstance(payload, dict):
        raise errors.InvalidArgument("body must be a JSON object with a 'dataframe' field")
    return payload


def staging(call: Call) -> Response:
    """``POST /dataframes/staging``: a presigned URL to PUT a large upload to."""
    ctx = call.store_ctx
    upload_id = ctx.store.staging.new_upload_id()
    url = ctx.presign("PUT", ctx.store.staging.upload_key(upload_id))
    body = {
        "upload_id": upload_id,
        "url": url,
        "expires_in": ctx.presign_seconds,
        "max_bytes": STAGED_PIECE_BYTES,
    }
    return json_response(200, body)


# ---------------------------------------------------------------------------------- reads


def list_frames(call: Call) -> Response:
    """``GET /dataframes``: the caller's frames (staged and answered by URL past what one
    response carries: some 20,000 frames)."""
    records = call.store_ctx.store.list(call.request.prefix)
    return _json_answer(call, records.to_json())


def versions(call: Call) -> Response:
    """``GET /dataframes/{name}/versions``: a frame's history (staged and answered by URL
    past what one response carries: some 30,000 versions)."""
    records = call.store_ctx.store.versions(call.request.name)
    return _json_answer(call, records.to_json())


def dates(call: Call) -> Response:
    """``GET /dataframes/{name}/dates``: the days a Date layout holds, as ISO dates."""
    days = call.store_ctx.store.dates(**call.request.model_dump())
    return _json_answer(call, [day.isoformat() for day in days])


def read_frame(call: Call) -> Response:
    """``GET /dataframes/{name}``: the frame, as JSON records, CSV or parquet.

    The rows are read from the snapshot's files through the caller's store and encoded a
    batch at a time (:mod:`pandasdb_lambdas.results`): a result that fits one response is answered
    inline; a larger one, up to :data:`~pandasdb_core.wire.MAX_RESULT_BYTES`, is staged and
    answered by URL (:func:`_by_url`); past it the read is a 413 pointing to the chunk files.
    With ``chunked=true`` a result of more than :data:`INLINE_READ_BYTES` stored bytes (or
    of rows too large for one response) is answered as the manifest of its chunk files
    instead, whatever its size."""
    request: ReadRequest = call.request
    fmt: WireFormat = request.format or accepted_format(call.header("accept")) or "json"
    ctx = call.store_ctx
    snap = snapshot.snapshot(ctx.store, request.query)
    if request.chunked and snap.bytes > INLINE_READ_BYTES:
        return chunk_manifest(call, snap)
    if not request.chunked and _whole_files(request.query) and snap.bytes > MAX_RESULT_BYTES:
        # the encoded rows are larger than their compressed files: refused before any read
        raise results.too_large(f"{fmt} ({snap.bytes:,} bytes of chunk files)", MAX_RESULT_BYTES)
    batches = results.read_batches(ctx.store, snap, request.query)
    binary = fmt == "parquet"
    try:
        limit = (INLINE_READ_ROWS_BYTES if binary else RESPONSE_LIMIT) if request.chunked else None
        encoded = results.encode(batches, snap, fmt, limit=limit or MAX_RESULT_BYTES)
    except errors.PayloadTooLarge:
        if request.chunked:  # the client decodes chunk files itself
            return chunk_manifest(call, snap)
        raise
    inline = fits_inline(encoded.data, binary=binary, limit=RESPONSE_LIMIT)
    if request.chunked and not inline:
        return chunk_manifest(call, snap)
    metrics.add_metric(name="RowsRead", unit=MetricUnit.Count, value=encoded.rows)
    metrics.add_metric(name="BytesRead", unit=MetricUnit.Bytes, value=len(encoded.data))
    headers = {"X-Pandasdb-Rows": str(encoded.rows)}
    if inline:
        return Response(
            status_code=200,
            content_type=MEDIA_TYPES[fmt],
            body=encoded.data if fmt == "parquet" else encoded.data.decode(),
            headers=headers,
        )
    extra = {"format": fmt, "rows": encoded.rows}
    return _by_url(call, encoded.data, fmt, headers, extra)


def _whole_files(query: ReadQuery) -> bool:
    """Whether a read returns every row and column of the files it reads (no column
    selection, no filter within a chunk file), so its result is larger than the files."""
    fields = ("columns", "start_date", "end_date", "partition_value", "start_id", "end_id")
    return all(getattr(query, f) is None for f in fields)


def _by_url(
    call: Call, data: bytes, fmt: str, headers: dict[str, str], extra: dict[str, Any]
) -> Response:
    """A result too large for one Lambda response, staged: ``303 See Other`` with its
    presigned URL in ``Location`` (and the body), which clients follow.

    A request with an ``Origin`` header (a browser's) gets ``200`` and the same body
    instead: after a cross-origin redirect a browser sends ``Origin: null`` (Fetch standard,
    "HTTP-redirect fetch": the request's tainted origin serialises as null), which the
    bucket's CORS rules (its configured origins) refuse, so the page fetches ``url`` itself,
    with its real origin."""
    ctx = call.store_ctx
    url = ctx.presign("GET", ctx.store.staging.put_result(data, fmt))
    body = {
        "delivery": "url",
        "url": url,
        **extra,
        "bytes": len(data),
        "expires_in": ctx.presign_seconds,
    }
    if call.header("origin"):
        return json_response(200, body, headers=headers)
    return json_response(303, body, headers={"Location": url, **headers})


def chunk_manifest(call: Call, snap: snapshot.Snapshot) -> Response:
    """A large read's manifest for a client that decodes chunks itself (``chunked=true``):
    the snapshot with presigned URLs, so the function holds no row of the result, whatever
    its size."""
    ctx = call.store_ctx
    metrics.add_metric(name="ChunkManifests", unit=MetricUnit.Count, value=1)
    signed = snapshot.with_uris(snap, lambda f: ctx.presign("GET", f.key))
    body = {"delivery": "chunks", "expires_in": ctx.presign_seconds, "snapshot": signed.to_json()}
    return _json_answer(call, body, {"X-Pandasdb-Rows": str(snap.rows)})


def _json_answer(call: Call, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer inline, or, past what one Lambda response carries (a manifest of many
    thousand chunk files, a list of 20,000 frames, 30,000 versions), staged and answered by
    URL (:func:`_by_url`: 303, or 200 to a browser), which clients follow: API Gateway would
    answer 502 to a response over 6 MB."""
    data = json.dumps(body, default=str).encode()
    headers = headers or {}
    if fits_inline(data, binary=False, limit=RESPONSE_LIMIT):
        return Response(
            status_code=200, content_type="application/json", body=data.decode(), headers=headers
        )
    return _by_url(call, data, "json", headers, {"format": "json"})


def files(call: Call) -> Response:
    """``GET /dataframes/{name}/files``: the committed chunk files of one version, presigned."""
    ctx = call.store_ctx
    snap = snapshot.snapshot(ctx.store, call.request)
    signed = snapshot.with_uris(snap, lambda f: ctx.presign("GET", f.key))
    return _json_answer(call, {"expires_in": ctx.presign_seconds, **signed.to_json()})


def manifest(call: Call) -> Response:
    """``POST /dataframes/{name}/manifest``: the frame's symlink manifests rewritten for its
    latest version (see :mod:`pandasdb_core.manifest`); their keys."""
    name = call.request.name
    keys = call.store_ctx.store.manifest(name)
    return json_response(200, {"name": name, "manifests": keys})


# ---------------------------------------------------------------------------------- sessions


def session_open(call: Call) -> Response:
    """``POST /dataframes/sessions``: an upload session for a frame of any size (its name,
    like an upload's, one every route reaches: :class:`~pandasdb_core.operations.UploadOptions`)."""
    session = UploadSession.open(call.store_ctx.store, call.request)
    body = {
        "session": session.session_id,
        "name": session.options.name,
        "max_piece_bytes": LAMBDA_PAYLOAD,
        "max_staged_piece_bytes": STAGED_PIECE_BYTES,
        "abort": f"DELETE /dataframes/sessions/{session.session_id}",
    }
    if session.earlier is not None:
        # the key already committed: its answer now, so a client need send no piece (one
        # that does is answered as before: pieces taken unwritten, the commit this answer)
        body["commit"] = upload_answer(session.earlier, session.options)
    return json_response(200, body)


def session_piece(call: Call) -> Response:
    """``POST /dataframes/sessions/{session}/pieces``: one piece, written uncommitted; the
    work is bounded by the piece's size, whatever the frame's."""
    request: PieceRequest = call.request
    store = call.store_ctx.store
    event = call.app.current_event
    body = call.body()
    if not fits_inline(body, binary=bool(event.is_base64_encoded)):
        raise errors.PayloadTooLarge(
            f"piece of {len(body):,} bytes is over what one Lambda invocation carries "
            f"({LAMBDA_PAYLOAD:,} bytes, after base64 for binary bodies): send smaller pieces"
        )
    if request.staged is not None:
        if body:
            raise errors.InvalidArgument("staged: send either a body or staged=<id>, not both")
        body = _staged_body(call.store_ctx, request.staged, _STAGED_HINTS["write_piece"])
    elif not body:
        raise errors.InvalidArgument("dataframe: the piece has no body")
    session = UploadSession.resume(store, request.session)
    receipt = session.write_piece(request.piece, _piece_frame(call, session, body))
    if request.staged is not None:
        store.staging.discard_upload(request.staged)
    metrics.add_metric(name="RowsWritten", unit=MetricUnit.Count, value=receipt.rows)
    return json_response(200, dataclasses.asdict(receipt))


def _piece_frame(call: Call, session: UploadSession, body: bytes) -> Any:
    """A piece's rows: parquet or CSV bytes, or a JSON object whose ``dataframe`` holds them
    as the original backend's clients send an upload's (records, or pandas' ``to_json``)."""
    if body[:4] == PARQUET_MAGIC:
        return frame_from_bytes(body)  # parquet carries its types
    _refuse_form(call)
    # CSV and JSON are typed toward the frame's recorded types only: columns new to the
    # frame (piece 0's too) take the one type all the pieces share, at the commit
    recorded = session.recorded_types()
    kind = media_format(call.header("content-type"))
    if not (kind == "json" or (kind is None and looks_like_json(body))):
        return frame_from_bytes(body, recorded)
    fields = _json_object(body)
    if set(fields) != {"dataframe"}:
        raise errors.InvalidArgument(
            "a JSON piece is an object with one field, 'dataframe'; the upload's options "
            "were given when the session opened"
        )
    return _json_frame(fields["dataframe"], date_columns(session.settings.layouts), recorded)


def session_commit(call: Call) -> Response:
    """``POST /dataframes/sessions/{session}/commit``: every piece, as one version."""
    request: CommitRequest = call.request
    session = UploadSession.resume(call.store_ctx.store, request.session)
    commit = session.commit(pieces=request.pieces)
    logger.info(
        "session committed",
        extra={"frame": commit.name, "version": commit.version, "rows": commit.rows},
    )
    return json_response(200, upload_answer(commit, session.options))


def session_abort(call: Call) -> Response:
    """``DELETE /dataframes/sessions/{session}``: an upload session given up. Its chunk files
    and staging files are removed (nothing of it was ever visible); a committed session is
    refused, its version stays; an unknown one (never opened, or aborted already) is 404."""
    request: SessionRef = call.request
    try:
        session = UploadSession.resume(call.store_ctx.store, request.session)
    except errors.InvalidArgument as exc:
        return json_response(404, error_body("not_found", str(exc)))
    # decided against a commit of the session in flight: a CommitConflict (409) when the
    # commit claimed it first, which then stands
    session.abort()
    logger.info("session aborted", extra={"frame": session.options.name})
    return json_response(200, {"aborted": request.session, "name": session.options.name})


# ---------------------------------------------------------------------------------- edits


def edit_answer(commit: Commit) -> dict[str, Any]:
    """The JSON answer to an edit (replace, delete_rows, compact)."""
    return {
        "name": commit.name,
        "version": commit.version,
        "rows": commit.rows,
        "chunks": commit.chunks,
        "bytes": commit.bytes,
        "keys": list(commit.keys),
        "rows_removed": commit.rows_removed,
        "chunks_dropped": commit.chunks_dropped,
    }


def replace_rows(call: Call) -> Response:
    """``POST /dataframes/{name}/replace``: the rows of a range replaced by the body's."""
    ctx = call.store_ctx
    repeated = _repeated(call, ReplaceRequest, **call.request)
    if repeated is not None:
        return json_response(200, edit_answer(repeated[1]))
    request, frame = _received(call, ReplaceRequest, **call.request)
    commit = ctx.store.change(request.options, frame)
    if request.staged is not None:
        ctx.store.staging.discard_upload(request.staged)
    return json_response(200, edit_answer(commit))


def apply_edit(call: Call) -> Response:
    """``POST /dataframes/{name}/delete_rows`` (the rows a date or id filter selects) and
    ``POST /dataframes/{name}/compact`` (small chunk files merged)."""
    return json_response(200, edit_answer(call.store_ctx.store.change(call.request)))


def delete_frame(call: Call) -> Response:
    """``DELETE /dataframes/{name}``, or with ``external_key`` that key's batches."""
    request = call.request
    call.store_ctx.store.delete(**request.model_dump())
    if request.external_key is not None:
        return json_response(200, {"deleted": request.name, "external_key": request.external_key})
    return json_response(200, {"deleted": request.name})


def auth_config_route(call: Call) -> Response:
    """``GET /auth/config`` (no token): how callers get one (see
    :mod:`pandasdb_lambdas.auth_config`)."""
    return json_response(200, auth_config(call.resolve))


def auth_verify(call: Call) -> Response:
    """``GET /auth/verify``: reached only with a token the API accepts (the authorizer and
    the store resolver refuse others with 401)."""
    claims = call.app.current_event.request_context.authorizer.claims
    return json_response(200, {"status": "valid", "user": caller_from_claims(claims).username})


def openapi(call: Call) -> Response:
    """``GET /openapi.json``."""
    return json_response(200, openapi_document())


def docs(call: Call) -> Response:
    """``GET /docs``."""
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=docs_page())


#: route name -> its handler (a test checks this matches the route table one to one)
HANDLERS: dict[str, Callable[[Call], Response]] = {
    "files": files,
    "session_open": session_open,
    "session_piece": session_piece,
    "session_commit": session_commit,
    "session_abort": session_abort,
    "manifest": manifest,
    "upload": upload,
    "staging": staging,
    "replace": replace_rows,
    "delete_rows": apply_edit,
    "compact": apply_edit,
    "list": list_frames,
    "versions": versions,
    "dates": dates,
    "read": read_frame,
    "read_compat": read_frame,
    "delete": delete_frame,
    "auth_config": auth_config_route,
    "auth_verify": auth_verify,
    "openapi": openapi,
    "docs": docs,
}


# ---------------------------------------------------------------------------------- app


def powertools_path(route: Route) -> str:
    """A route's path in Powertools' syntax (``{name}`` -> ``<name>``).

    Example
    -------
    >>> from pandasdb_core.http_routes import ROUTES_BY_NAME
    >>> powertools_path(ROUTES_BY_NAME["versions"])
    '/dataframes/<name>/versions'
    """
    return route.path.replace("{", "<").replace("}", ">")


def request_path(event: dict[str, Any]) -> str:
    """The request's path decoded once, as API Gateway decodes it: its resource with the
    ``{proxy+}`` part replaced by ``pathParameters.proxy``, which API Gateway passes
    percent-decoded ("Set up a proxy integration with a proxy resource", API Gateway
    developer guide), whatever form ``path`` has. An event without them (a hand-built one)
    has its ``path`` decoded once, as a REST API sends it percent-encoded. No value is
    decoded again, so ``/dataframes/sec%252Fd`` names the frame ``sec%2Fd`` (an invalid
    name), never ``sec/d``.

    Example
    -------
    >>> request_path({"resource": "/dataframes/{proxy+}", "path": "/dataframes/sec%252Fd",
    ...               "pathParameters": {"proxy": "sec%2Fd"}})
    '/dataframes/sec%2Fd'
    >>> request_path({"path": "/dataframes/sales%2Fdaily"})
    '/dataframes/sales/daily'
    """
    resource = event.get("resource") or ""
    proxy = (event.get("pathParameters") or {}).get("proxy")
    if resource.endswith("{proxy+}") and isinstance(proxy, str):
        return resource.replace("{proxy+}", proxy)
    return unquote(event.get("path") or "")


def _endpoint(app: APIGatewayRestResolver, route: Route, resolve: StoreResolver) -> Callable:
    handle = HANDLERS[route.name]

    def endpoint(**path: str) -> Response:
        event = app.current_event
        ctx = None
        if route.auth:
            ctx = resolve(caller_from_claims(event.request_context.authorizer.claims))
        # the handler gave Powertools each parameter encoded by Route.url, one path
        # segment: this undoes that encoding only (the gateway's decode came before it)
        fixed = {key: unquote(value) for key, value in path.items()}
        if "name" in fixed:
            # a path that names a frame no route can address unambiguously means something
            # else to another route or method (GET /dataframes/get/x reads 'x'): refused,
            # never taken for another frame
            validate_addressable(fixed["name"], "name")
        params = event.multi_value_query_string_parameters or {}
        if not (route.body or route.data):
            _no_body(route, event)
        if route.request is None:
            if params:
                raise errors.UnknownParameter(f"{route.path} takes no query parameters")
            request = None
        elif route.body:
            # the handler reads the query and the body together; it gets the path's values
            request = fixed
        else:
            request = route.request.from_query(params, **fixed)
        try:
            return handle(Call(app, ctx, request, resolve))
        except errors.PandasDBError:
            raise
        except UnicodeError as exc:
            # text that is no Unicode (a lone surrogate) reaching an encoder: the request's
            # data, refused as such wherever the bodies' own check did not see it
            reason = str(exc).encode("ascii", "backslashreplace").decode()[:200]
            raise errors.InvalidArgument(
                f"the request holds text that is not Unicode: {reason}"
            ) from None
        except pl.exceptions.PanicException as exc:
            # a panic in the data engine is a BaseException: answer it, never crash the
            # request (user data is what reaches the engine's corners)
            first = (str(exc).strip().splitlines() or ["panic"])[0][:200]
            raise errors.InvalidArgument(f"the data could not be processed: {first}") from None

    endpoint.__name__ = f"route_{route.name}"
    return endpoint


def _no_body(route: Route, event: Any) -> None:
    """Refuse a body on a route that reads none (its parameters are in the query string):
    ignored, ``DELETE /dataframes/x`` with ``{"external_key": "k"}`` would delete the whole
    frame. An empty body, ``{}`` or ``null`` (what some clients send with every POST) says
    nothing and is taken."""
    raw = event.body
    if raw is None:
        return
    text = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8", "replace")
    text = text.strip()
    if text in (b"", b"{}", b"null"):
        return
    where = f"{route.method} {route.path}"
    try:
        fields = json.loads(text)
    except (ValueError, RecursionError):
        fields = None
    if isinstance(fields, dict):
        names = ", ".join(repr(str(k)[:40]) for k in list(fields)[:10])
        raise errors.InvalidArgument(
            f"body: {where} reads no body, so its field(s) {names} would be ignored; send "
            "them as query parameters (?name=value)"
        )
    raise errors.InvalidArgument(
        f"body: {where} reads no body (its parameters are query parameters); send the "
        "request without one"
    )


def build_app(resolve: StoreResolver) -> APIGatewayRestResolver:
    """The API bound to ``resolve`` (caller -> StoreContext)."""
    origins = [o.strip() for o in os.environ.get("PANDASDB_CORS_ORIGINS", "*").split(",")]
    app = APIGatewayRestResolver(
        cors=CORSConfig(
            allow_origin=origins[0],
            extra_origins=origins[1:],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            expose_headers=["X-Pandasdb-Rows", "Location"],
            max_age=600,
        ),
    )

    def timed(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        started = time.perf_counter()
        try:
            return next_middleware(app)
        finally:
            metrics.add_metric(
                name="Latency",
                unit=MetricUnit.Milliseconds,
                value=(time.perf_counter() - started) * 1000,
            )

    app.use([timed])
    for route in ROUTES:
        app.route(powertools_path(route), method=route.method)(_endpoint(app, route, resolve))

    @app.exception_handler(errors.PandasDBError)
    def pandasdb_error(exc: errors.PandasDBError) -> Response:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
        if status >= 500:
            logger.error("store unavailable", extra={"reason": str(exc)})
        return json_response(status, error_body(exc.code, str(exc)))

    @app.not_found
    def no_route(exc: NotFoundError) -> Response:
        return json_response(404, error_body("no_route", "no such route"))

    @app.exception_handler(Exception)
    def internal(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return json_response(500, error_body("internal", "internal error; see the logs"))

    return app
