"""The HTTP API as one table: every route's method, path, request type and whether it needs a
token. The Lambda app (``pandasdb_lambdas``), the deployed API Gateway resources (``infra``), the
OpenAPI document, the docs page, the metric labels and the SDK's URLs are all derived from
it, so a route exists everywhere or nowhere.

A ``{name}`` path parameter is a frame name, which may contain ``/``.

Example
-------
>>> route = find("GET", "/dataframes/sales/daily/versions")
>>> route.name, route.path_params("/dataframes/sales/daily/versions")
('versions', {'name': 'sales/daily'})
>>> ROUTES_BY_NAME["read"].url(name="sales/daily")
'/dataframes/sales%2Fdaily'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import quote

from .names import validate_addressable
from .operations import (
    CommitRequest,
    CompactOptions,
    DatesQuery,
    DeleteRequest,
    DeleteRowsOptions,
    FrameRef,
    ListQuery,
    Operation,
    PieceRequest,
    ReadQuery,
    ReadRequest,
    ReplaceRequest,
    SessionRef,
    UploadOptions,
    UploadRequest,
)

#: the parameter of a path segment that may hold ``/``
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    """One route of the HTTP API."""

    #: identifies the route's handler and its metric label
    name: str
    method: str
    #: the path template, e.g. ``/dataframes/{name}/versions``
    path: str
    #: the request type its query parameters build (None: it takes none)
    request: type[Operation] | None
    summary: str
    description: str = ""
    #: whether the caller must present a token
    auth: bool = True
    #: a route of the original PandasDB backend's protocol, kept for its clients
    compat: bool = False
    #: the handler builds the request from the query and the body together
    body: bool = False
    #: the body is data the handler reads (a piece), its request built from the query alone;
    #: a route with neither this nor ``body`` refuses a body rather than ignore it
    data: bool = False

    @property
    def static(self) -> str:
        """The path up to its first parameter (the whole path if it has none)."""
        return self.path.split("{", 1)[0].rstrip("/") if "{" in self.path else self.path

    @property
    def suffix(self) -> str:
        """What follows the parameter (``/versions``), or ""."""
        return _PARAM.split(self.path)[-1] if "{" in self.path else ""

    def path_params(self, path: str) -> dict[str, str] | None:
        """The parameters of ``path`` if it matches, else None. ``path`` is the request's
        path decoded once, as API Gateway decodes it before routing; its values are taken
        as they are: decoding them again would make ``sec%252Fd`` the frame ``sec/d``.

        Example
        -------
        >>> ROUTES_BY_NAME["read"].path_params("/dataframes/sec%2Fd")
        {'name': 'sec%2Fd'}
        """
        found = _pattern(self.path).match(path)
        return None if found is None else found.groupdict()

    def url(self, **params: str) -> str:
        """The path for these parameters, each percent-encoded (``/`` too)."""
        return _PARAM.sub(lambda m: quote(params[m.group(1)], safe=""), self.path)


ROUTES: tuple[Route, ...] = (
    Route(
        "upload",
        "POST",
        "/dataframes/upload",
        UploadRequest,
        "Upload a frame as a new version",
        "Body: JSON `{dataframe, dataframe_name, columns_keys, external_key, keep_last}` where "
        "`dataframe` is CSV text, a list of records or an object of columns; or a raw "
        "`text/csv` or parquet body with those fields as query parameters; or no body and "
        "`staged=<upload_id>` for data PUT to a URL from `POST /dataframes/staging`.",
        body=True,
    ),
    Route(
        "staging",
        "POST",
        "/dataframes/staging",
        None,
        "Get a presigned URL to PUT a large upload to",
        "PUT the CSV or parquet body to `url`, then POST /dataframes/upload?staged=ID.",
    ),
    Route("list", "GET", "/dataframes", ListQuery, "List frames"),
    Route("versions", "GET", "/dataframes/{name}/versions", FrameRef, "Version history of a frame"),
    Route(
        "dates",
        "GET",
        "/dataframes/{name}/dates",
        DatesQuery,
        "Days a frame's Date layout holds",
        "ISO dates, oldest first, read from the chunk index.",
    ),
    Route(
        "read",
        "GET",
        "/dataframes/{name}",
        ReadRequest,
        "Read a frame",
        "`name` may contain `/` (or `%2F`). Returns JSON records by default, or CSV/parquet by "
        "`format` or `Accept`. Results too large for one Lambda response (6 MB after base64 "
        "or JSON escaping) answer 303 with a presigned URL (`{delivery: url, url, format, "
        "rows, bytes, expires_in}`), or 200 with that body to a request with an `Origin` "
        "(a browser, whose redirects would send `Origin: null`); past 256 MB of result, 413: "
        "read with `chunked=true` (a manifest of presigned chunk URLs) or `/files` instead. "
        "Every JSON answer of the API too large for one response is delivered the same way.",
    ),
    Route(
        "read_compat",
        "GET",
        "/dataframes/get/{name}",
        ReadRequest,
        "Read a frame",
        "The original backend's read route: the same as `GET /dataframes/{name}`, with the "
        "name percent-encoded (`my-test%2Ftest1`).",
        compat=True,
    ),
    Route(
        "delete",
        "DELETE",
        "/dataframes/{name}",
        DeleteRequest,
        "Delete a frame, or one external key's batches",
        "With `external_key`, only that key's batches go, as a new version (time travel to the "
        "version before still reads them).",
    ),
    Route(
        "auth_config",
        "GET",
        "/auth/config",
        None,
        "How to get a token",
        "On AWS: the Cognito user pool, app client and region to sign in with "
        "(`USER_PASSWORD_AUTH`); the ID token is the bearer token. On `pandasdb serve`: "
        "`auth` says that tokens come from the server's users file (or that none is needed).",
        auth=False,
    ),
    Route(
        "auth_verify",
        "GET",
        "/auth/verify",
        None,
        "Check a token",
        '200 `{"status": "valid", "user": NAME}` for a token this API accepts, else 401.',
    ),
    Route(
        "replace",
        "POST",
        "/dataframes/{name}/replace",
        ReplaceRequest,
        "Replace the rows of a date or id range",
        "The body's rows (as for upload: JSON, CSV, parquet, or `staged=<upload_id>`) replace "
        "those the range selects, in one commit; a row outside the range is refused.",
        body=True,
    ),
    Route(
        "delete_rows",
        "POST",
        "/dataframes/{name}/delete_rows",
        DeleteRowsOptions,
        "Delete the rows a date or id filter selects",
        "One commit; `as_of` the version before still reads them.",
    ),
    Route(
        "compact",
        "POST",
        "/dataframes/{name}/compact",
        CompactOptions,
        "Merge a frame's small chunk files",
        "One commit that changes no row; vacuum later frees the old files.",
    ),
    Route(
        "files",
        "GET",
        "/dataframes/{name}/files",
        ReadQuery,
        "The committed chunk files a read fetches",
        "The exact snapshot of one version for other engines: each file's presigned URL, "
        "layout, partition, rows, bytes and format, in the order the read returns their "
        "rows, and the stored schema.",
    ),
    Route(
        "session_open",
        "POST",
        "/dataframes/sessions",
        UploadOptions,
        "Open an upload session: a frame of any size, in pieces, as one version",
        "Takes the upload's options as query parameters. Send the pieces to "
        "`POST /dataframes/sessions/{session}/pieces?piece=N` (piece 0 first), then commit.",
    ),
    Route(
        "session_piece",
        "POST",
        "/dataframes/sessions/{session}/pieces",
        PieceRequest,
        "Write one piece of an upload session",
        "The body is the piece (parquet carrying its schema, CSV or JSON records; at most "
        "6 MB after base64), or `staged=<upload_id>`. Its chunk files are written and stay "
        "invisible until the commit.",
        data=True,
    ),
    Route(
        "session_commit",
        "POST",
        "/dataframes/sessions/{session}/commit",
        CommitRequest,
        "Commit an upload session's pieces as one version",
        "Refused if `pieces` is given and a piece is missing. A repeated commit returns the "
        "first one's answer.",
    ),
    Route(
        "session_abort",
        "DELETE",
        "/dataframes/sessions/{session}",
        SessionRef,
        "Abort an upload session",
        "Removes the chunk files its pieces wrote and its staging files; nothing was ever "
        "visible. A committed session is refused (409): its version stays.",
    ),
    Route(
        "manifest",
        "POST",
        "/dataframes/{name}/manifest",
        FrameRef,
        "Write a frame's symlink manifests",
        "Rewrites `{name}/_symlink_format_manifest/{column}/manifest` for the latest version "
        "of each layout (the files Athena, Trino and Spark tables over the manifest read); "
        "answers their keys.",
    ),
    Route("openapi", "GET", "/openapi.json", None, "This API's OpenAPI document", auth=False),
    Route("docs", "GET", "/docs", None, "This API's documentation page", auth=False),
)
ROUTES_BY_NAME = {route.name: route for route in ROUTES}


@functools.cache
def _pattern(path: str) -> re.Pattern[str]:
    regex = re.escape(path)
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+)", regex)
    return re.compile(f"^{regex}$")


@functools.cache
def _in_order(method: str) -> tuple[Route, ...]:
    """``method``'s routes in the order :func:`find` tries them (every request routes)."""
    candidates = [r for r in ROUTES if r.method == method]
    return tuple(sorted(candidates, key=lambda r: ("{" in r.path, -len(r.suffix), -len(r.static))))


def find(method: str, path: str) -> Route | None:
    """The route serving ``method`` on ``path``: static routes before parameterised ones,
    and among those the longest suffix first (``/x/versions`` is the versions route), then
    the longest static part (``/dataframes/get/x`` is the original backend's read route)."""
    for route in _in_order(method):
        if route.path_params(path) is not None:
            return route
    return None


def read_path(name: str) -> str:
    """The path that reads frame ``name``; a name that some route would take for another
    (``report/versions``, ``get/x``: servers decode ``%2F`` before routing) is
    :class:`~pandasdb_core.errors.InvalidName`, as the server would answer.

    Example
    -------
    >>> read_path("sales/daily")
    '/dataframes/sales%2Fdaily'
    >>> read_path("get/x")
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.InvalidName: name 'get/x' cannot be reached over HTTP: ...
    """
    return ROUTES_BY_NAME["read"].url(name=validate_addressable(name))
