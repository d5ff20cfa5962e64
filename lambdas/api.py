"""The routes of the HTTP API (Powertools for AWS Lambda), bound to a store resolver.

Routes run against the caller's :class:`StoreContext`, which a middleware resolves from the
authorizer claims before any route runs. Powertools' resolver holds the current event on the
app, so an app serves one request at a time, as a Lambda container does.

Example
-------
>>> import pandasdb_core as pdb
>>> from lambdas.context import StoreContext
>>> app = build_app(lambda caller: StoreContext(pdb.open("memory://"), lambda m, k: k))
>>> sorted(app.get_openapi_schema().paths)[:2]
['/dataframes', '/dataframes/staging']
"""

from __future__ import annotations

import json
import os
import time
import uuid
from contextvars import ContextVar
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote

import polars as pl
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.metrics import MetricUnit

from pandasdb_core import errors
from pandasdb_core.conversion import output_polars
from pandasdb_core.wire import (
    MAX_INLINE_REQUEST,
    MAX_INLINE_RESPONSE,
    MEDIA_TYPES,
    PRESIGN_SECONDS,
    STAGING_PREFIX,
    WireFormat,
    error_body,
    frame_to_bytes,
    media_format,
)

from .context import StoreContext, StoreResolver
from .identity import caller_from_claims
from .observability import logger, metrics
from .payloads import frame_from_bytes, frame_from_records, frame_from_text

#: the app and StoreContext of the request being handled (set by the resolve_caller
#: middleware; a ContextVar so that several apps in one process never see each other's)
_current: ContextVar[tuple[APIGatewayRestResolver, StoreContext]] = ContextVar("pandasdb_request")

STATUS = {
    errors.InvalidName: 400,
    errors.InvalidArgument: 400,
    errors.InvalidPartition: 400,
    errors.SchemaMismatch: 400,
    errors.FrameNotFound: 404,
    errors.VersionNotFound: 404,
    errors.CommitConflict: 409,
    errors.PayloadTooLarge: 413,
    errors.Unauthorized: 401,
    errors.StoreUnavailable: 503,
}
#: the upload's settings, as query parameters or JSON body fields
UPLOAD_SETTINGS = (
    "dataframe_name",
    "columns_keys",
    "external_key",
    "keep_last",
    "format",
    "chunk_rows",
)
UPLOAD_FIELDS = {"dataframe", *UPLOAD_SETTINGS}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, default=str),
        headers=headers,
    )


def _ctx() -> StoreContext:
    return _current.get()[1]


def _event() -> Any:
    return _current.get()[0].current_event


def _check_params(*allowed: str) -> None:
    given = set(_event().resolved_query_string_parameters or {})
    unknown = sorted(given - set(allowed))
    if unknown:
        raise errors.InvalidArgument(
            f"unknown query parameter(s) {unknown!r}; allowed: {sorted(allowed)!r}"
        )


def _raw_body() -> bytes:
    event = _event()
    if event.body is None:
        return b""
    if event.is_base64_encoded:
        import base64

        return base64.b64decode(event.body)
    return event.body.encode("utf-8")


def _parse_columns_keys(value: Any) -> dict[str, str] | None:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise errors.InvalidArgument("columns_keys is not valid JSON") from None
        # also "ts:Date,user_id:ID" for humans with curl
        pairs = [p.split(":", 1) for p in text.split(",") if p]
        if all(len(p) == 2 for p in pairs):
            return {k.strip(): v.strip() for k, v in pairs}
    raise errors.InvalidArgument(
        'columns_keys must be an object like {"ts": "Date"} or text like ts:Date,id:ID'
    )


def _frame_name(name: str) -> str:
    return unquote(name)


# ---------------------------------------------------------------------------------- upload


def upload(
    dataframe_name: Annotated[str | None, Query(max_length=2048)] = None,
    columns_keys: Annotated[str | None, Query(description='e.g. {"ts": "Date"}')] = None,
    external_key: Annotated[str | None, Query(max_length=2048)] = None,
    keep_last: Annotated[bool, Query()] = False,
    format: Annotated[Literal["csv.gz", "parquet"] | None, Query()] = None,
    chunk_rows: Annotated[int | None, Query(ge=1, le=100_000_000)] = None,
    staged: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
):
    _check_params(*UPLOAD_SETTINGS, "staged")
    ctx = _ctx()
    event = _event()
    body = _raw_body()
    fields: dict[str, Any] = {
        "dataframe_name": dataframe_name,
        "columns_keys": columns_keys,
        "external_key": external_key,
        "keep_last": keep_last,
        "format": format,
        "chunk_rows": chunk_rows,
    }
    staged_key = None
    if staged is not None:
        if body:
            raise errors.InvalidArgument("staged: send either a body or staged=<id>, not both")
        staged_key = f"{STAGING_PREFIX}uploads/{staged}"
        try:
            data = ctx.store.blobs.get(staged_key)
        except errors.BlobNotFound:
            raise errors.InvalidArgument(f"staged: no staged upload {staged!r}") from None
        frame = frame_from_bytes(data)
    else:
        kind = media_format(event.headers.get("content-type") or event.headers.get("Content-Type"))
        if len(body) > MAX_INLINE_REQUEST:
            raise errors.PayloadTooLarge(
                f"body of {len(body):,} bytes is over {MAX_INLINE_REQUEST:,}; stage it with "
                "POST /dataframes/staging"
            )
        if not body:
            raise errors.InvalidArgument("dataframe: the request has no body")
        if kind == "json" or (kind is None and body[:1] in (b"{", b"[")):
            frame, fields = _json_upload(body, fields)
        else:
            frame = frame_from_bytes(body)
    name = fields["dataframe_name"]
    if not name:
        raise errors.InvalidArgument("dataframe_name is required")
    keep = fields["keep_last"]
    if not isinstance(keep, bool):
        raise errors.InvalidArgument(f"keep_last must be true or false, got {keep!r}")
    commit = ctx.store.upload(
        frame,
        name,
        columns_keys=_parse_columns_keys(fields["columns_keys"]),
        external_key=fields["external_key"],
        keep_last=keep,
        chunk_rows=fields["chunk_rows"],
        format=fields["format"],
    )
    if staged_key:
        ctx.store.blobs.delete([staged_key])
    metrics.add_metric(name="RowsWritten", unit=MetricUnit.Count, value=commit.rows)
    metrics.add_metric(name="BytesWritten", unit=MetricUnit.Bytes, value=commit.bytes)
    metrics.add_metric(name="ChunksWritten", unit=MetricUnit.Count, value=commit.chunks)
    logger.info(
        "upload committed",
        extra={
            "frame": name,
            "version": commit.version,
            "rows": commit.rows,
            "chunks": commit.chunks,
        },
    )
    return json_response(
        200,
        {
            "name": commit.name,
            "version": commit.version,
            "rows": commit.rows,
            "chunks": commit.chunks,
            "bytes": commit.bytes,
            "keys": list(commit.keys),
        },
    )


def _json_upload(body: bytes, fields: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.InvalidArgument(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise errors.InvalidArgument("body must be a JSON object with a 'dataframe' field")
    unknown = sorted(set(payload) - UPLOAD_FIELDS)
    if unknown:
        raise errors.InvalidArgument(
            f"unknown field(s) {unknown!r}; allowed: {sorted(UPLOAD_FIELDS)!r}"
        )
    if "dataframe" not in payload:
        raise errors.InvalidArgument("dataframe is required")
    data = payload.pop("dataframe")
    merged = dict(fields)
    for key, value in payload.items():
        if value is not None:
            merged[key] = value
    if merged["chunk_rows"] is not None and (
        isinstance(merged["chunk_rows"], bool) or not isinstance(merged["chunk_rows"], int)
    ):
        raise errors.InvalidArgument("chunk_rows must be a positive integer")
    frame = frame_from_text(data) if isinstance(data, str) else frame_from_records(data)
    return frame, merged


def staging():
    _check_params()
    upload_id = uuid.uuid4().hex
    url = _ctx().presign("PUT", f"{STAGING_PREFIX}uploads/{upload_id}")
    return json_response(200, {"upload_id": upload_id, "url": url, "expires_in": PRESIGN_SECONDS})


# ---------------------------------------------------------------------------------- reads


def list_frames(prefix: Annotated[str, Query(max_length=2048)] = ""):
    _check_params("prefix")
    return json_response(200, [_info(f) for f in _ctx().store.list(prefix)])


def versions(name: str):
    _check_params()
    return json_response(200, [_info(v) for v in _ctx().store.versions(_frame_name(name))])


def get_frame(
    name: str,
    external_key: Annotated[str | None, Query(max_length=2048)] = None,
    use_last: Annotated[bool, Query()] = False,
    start_date: Annotated[str | None, Query(max_length=64)] = None,
    end_date: Annotated[str | None, Query(max_length=64)] = None,
    partition_value: Annotated[list[str] | None, Query()] = None,
    start_id: Annotated[str | None, Query(max_length=32)] = None,
    end_id: Annotated[str | None, Query(max_length=32)] = None,
    columns: Annotated[list[str] | None, Query()] = None,
    as_of: Annotated[int | None, Query()] = None,
    format: Annotated[Literal["json", "csv", "parquet"] | None, Query()] = None,
):
    _check_params(
        "external_key",
        "use_last",
        "start_date",
        "end_date",
        "partition_value",
        "start_id",
        "end_id",
        "columns",
        "as_of",
        "format",
    )
    fmt: WireFormat = (
        format
        or media_format(_event().headers.get("accept") or _event().headers.get("Accept"))
        or "json"
    )
    ids: Any = None
    if partition_value:
        ids = [v for value in partition_value for v in value.split(",") if v != ""]
        if len(ids) == 1:
            ids = ids[0]
    wanted = [c for value in columns for c in value.split(",")] if columns else None
    frame, schema = _ctx().store.read(
        _frame_name(name),
        external_key=external_key,
        use_last=use_last,
        start_date=start_date,
        end_date=end_date,
        partition_value=ids,
        start_id=start_id,
        end_id=end_id,
        columns=wanted,
        as_of=as_of,
    )
    metrics.add_metric(name="RowsRead", unit=MetricUnit.Count, value=frame.height)
    return _frame_response(frame, schema, fmt)


def _frame_response(frame: pl.DataFrame, schema: dict[str, Any], fmt: WireFormat) -> Response:
    if fmt == "parquet":
        data = frame_to_bytes(frame, "parquet", schema)
    else:
        data = frame_to_bytes(output_polars(frame, schema), fmt)
    metrics.add_metric(name="BytesRead", unit=MetricUnit.Bytes, value=len(data))
    headers = {"X-Pandasdb-Rows": str(frame.height)}
    if len(data) > MAX_INLINE_RESPONSE:
        ctx = _ctx()
        key = f"{STAGING_PREFIX}results/{uuid.uuid4().hex}.{fmt}"
        ctx.store.blobs.put(key, data)
        url = ctx.presign("GET", key)
        return json_response(
            303,
            {
                "delivery": "url",
                "url": url,
                "format": fmt,
                "rows": frame.height,
                "bytes": len(data),
                "expires_in": PRESIGN_SECONDS,
            },
            headers={"Location": url, **headers},
        )
    return Response(
        status_code=200,
        content_type=MEDIA_TYPES[fmt],
        body=data if fmt == "parquet" else data.decode(),
        headers=headers,
    )


def delete_frame(name: str):
    _check_params()
    frame = _frame_name(name)
    _ctx().store.delete(frame)
    return json_response(200, {"deleted": frame})


def _info(record: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(record)


# ---------------------------------------------------------------------------------- app


def route_path(path: str, method: str) -> str:
    """Percent-encode a frame name's slashes so ``/dataframes/<name>`` routes match.

    Example
    -------
    >>> route_path("/dataframes/sales/daily/versions", "GET")
    '/dataframes/sales%2Fdaily/versions'
    """
    prefix = "/dataframes/"
    if not path.startswith(prefix) or method not in ("GET", "DELETE"):
        return path
    rest = path[len(prefix) :]
    suffix = ""
    if method == "GET" and rest.endswith("/versions"):
        rest, suffix = rest[: -len("/versions")], "/versions"
    return prefix + quote(unquote(rest), safe="") + suffix


def build_app(resolve: StoreResolver) -> APIGatewayRestResolver:
    """The API bound to ``resolve`` (caller -> StoreContext)."""
    origins = [o.strip() for o in os.environ.get("PANDASDB_CORS_ORIGINS", "*").split(",")]
    app = APIGatewayRestResolver(
        enable_validation=True,
        cors=CORSConfig(
            allow_origin=origins[0],
            extra_origins=origins[1:],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            expose_headers=["X-Pandasdb-Rows", "Location"],
            max_age=600,
        ),
    )

    def resolve_caller(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        claims = app.current_event.request_context.authorizer.claims
        caller = caller_from_claims(claims)
        token = _current.set((app, resolve(caller)))
        try:
            return next_middleware(app)
        finally:
            _current.reset(token)

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

    app.use([timed, resolve_caller])
    app.post(
        "/dataframes/upload",
        summary="Upload a frame as a new version",
        description=(
            "Body: JSON `{dataframe, dataframe_name, columns_keys, external_key, keep_last}` where "
            "`dataframe` is CSV text, a list of records or an object of columns; or a raw "
            "`text/csv` or parquet body with those fields as query parameters; or no body and "
            "`staged=<upload_id>` for data PUT to a URL from `POST /dataframes/staging`."
        ),
        tags=["dataframes"],
    )(upload)
    app.post(
        "/dataframes/staging",
        summary="Get a presigned URL to PUT a large upload to",
        description="PUT the CSV or parquet body to `url`, then POST /dataframes/upload?staged=ID.",
        tags=["dataframes"],
    )(staging)
    app.get("/dataframes", summary="List frames", tags=["dataframes"])(list_frames)
    app.get(
        "/dataframes/<name>/versions", summary="Version history of a frame", tags=["dataframes"]
    )(versions)
    app.get(
        "/dataframes/<name>",
        summary="Read a frame",
        description=(
            "`name` may contain `/` (or `%2F`). Returns JSON records by default, or CSV/parquet "
            "by `format` or `Accept`. Results over 4 MB answer 303 with a presigned URL."
        ),
        tags=["dataframes"],
    )(get_frame)
    app.delete("/dataframes/<name>", summary="Delete a frame", tags=["dataframes"])(delete_frame)

    @app.exception_handler(errors.PandasDBError)
    def pandasdb_error(exc: errors.PandasDBError) -> Response:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
        if status >= 500:
            logger.error("store unavailable", extra={"reason": str(exc)})
        return json_response(status, error_body(exc.code, str(exc)))

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
            problems.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
        return json_response(400, error_body("invalid_argument", "; ".join(problems)))

    @app.not_found
    def no_route(exc: NotFoundError) -> Response:
        return json_response(404, error_body("no_route", "no such route"))

    @app.exception_handler(Exception)
    def internal(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return json_response(500, error_body("internal", "internal error; see the logs"))

    return app
