"""``pandasdb serve``: the HTTP API on the embedded store, through the very Lambda handler.

Each HTTP request becomes an API Gateway REST proxy event whose authorizer claims name the
caller, then runs through :func:`lambdas.handler.make_handler`, as ``serverless offline`` did
for the seed. Without a users file there is one user (``local``, the whole data folder) and
the server refuses non-loopback hosts; with one, bearer tokens map to users, each with their
own folder ``DATA/{user}``. Presigned URLs are HMAC-signed, expiring, scoped to one key and
method, and served here at ``/_blobs/``.

Example
-------
``pandasdb serve --data ./pandasdb-data --port 8000`` then
``curl http://127.0.0.1:8000/dataframes``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import ipaddress
import json
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pandasdb_core as pdb
from pandasdb_core.errors import BlobNotFound
from pandasdb_core.names import validate_segment
from pandasdb_core.wire import PRESIGN_SECONDS, STAGING_PREFIX, error_body

from .context import StoreContext
from .handler import make_handler
from .identity import Caller

#: API Gateway's request payload limit, enforced here too so local behaviour matches AWS
MAX_API_BODY = 10 * 1024 * 1024
MAX_BLOB_BODY = 4 * 1024**3
LOCAL_USER = "local"
TEXT_TYPES = ("text/", "application/json")


def load_users(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a users file ``{"alice": "token-a", ...}``; returns token -> user.

    Example
    -------
    >>> import json, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "users.json")
    >>> _ = open(f, "w").write(json.dumps({"alice": "token-alice"}))
    >>> load_users(f)
    {'token-alice': 'alice'}
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"error: users file {str(path)!r} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise SystemExit("error: the users file must be a JSON object of user name -> token")
    tokens: dict[str, str] = {}
    for user, token in data.items():
        validate_segment(user, "user name")
        if not isinstance(token, str) or len(token) < 8:
            raise SystemExit(f"error: user {user!r} needs a token of at least 8 characters")
        if token in tokens:
            raise SystemExit("error: two users share a token")
        tokens[token] = user
    return tokens


class Presigner:
    """HMAC-signed, expiring URLs for one method on one key of one user's store."""

    def __init__(self, base_url: str, secret: bytes | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret or os.urandom(32)

    def _signature(self, method: str, user: str, key: str, expires: int) -> str:
        message = f"{method}\n{user}\n{key}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def sign(self, method: str, user: str, key: str, seconds: int = PRESIGN_SECONDS) -> str:
        """A URL allowing ``method`` on ``key`` of ``user`` for ``seconds``."""
        expires = int(time.time()) + seconds
        query = urlencode(
            {"expires": expires, "signature": self._signature(method, user, key, expires)}
        )
        return f"{self.base_url}/_blobs/{quote(user)}/{quote(key)}?{query}"

    def check(self, method: str, user: str, key: str, query: dict[str, list[str]]) -> str | None:
        """None if the URL is valid now, else the reason it is not."""
        try:
            expires = int(query["expires"][0])
            signature = query["signature"][0]
        except (KeyError, ValueError, IndexError):
            return "the URL is not signed"
        if expires < time.time():
            return "the URL has expired"
        if not hmac.compare_digest(signature, self._signature(method, user, key, expires)):
            return "the signature does not match"
        return None


class LocalAPI:
    """Routes local HTTP requests: presigned blobs, docs, and the API through the handler."""

    def __init__(self, data: Path, users: dict[str, str] | None, presigner: Presigner) -> None:
        self.data = data
        self.users = users
        self.presigner = presigner
        self._stores: dict[str, StoreContext] = {}
        self._lock = threading.Lock()
        self.handler = make_handler(self.resolve)
        # like one Lambda container, the handler serves one request at a time (Powertools
        # keeps the current event on the app); transfers through /_blobs/ run in parallel
        self.handler_lock = threading.Lock()

    def user_root(self, user: str) -> Path:
        return self.data if self.users is None else self.data / user

    def resolve(self, caller: Caller) -> StoreContext:
        with self._lock:
            ctx = self._stores.get(caller.username)
            if ctx is None:
                store = pdb.open(self.user_root(caller.username))

                def presign(method: str, key: str, user: str = caller.username) -> str:
                    return self.presigner.sign(method, user, key)

                ctx = self._stores[caller.username] = StoreContext(store, presign)
            return ctx

    def authenticate(self, headers: Any) -> str | None:
        """The user a request's bearer token names (None if it names nobody)."""
        if self.users is None:
            return LOCAL_USER
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        found = None
        for known, user in self.users.items():
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                found = user
        return found

    def event(
        self, method: str, target: str, headers: Any, body: bytes, user: str, source_ip: str
    ) -> dict[str, Any]:
        """An API Gateway REST proxy event for one request, with the caller's claims."""
        parts = urlsplit(target)
        multi = parse_qs(parts.query, keep_blank_values=True)
        content_type = headers.get("Content-Type") or ""
        textual = content_type.startswith(TEXT_TYPES) or not content_type
        try:
            text = body.decode("utf-8") if textual else None
        except UnicodeDecodeError:
            text = None
        header_map: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for key, value in headers.items():
            header_map[key] = value
            multi_headers.setdefault(key, []).append(value)
        request_id = uuid.uuid4().hex
        return {
            "resource": "/{proxy+}",
            "path": unquote(parts.path),
            "httpMethod": method,
            "headers": header_map,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
            "multiValueQueryStringParameters": multi or None,
            "pathParameters": {"proxy": unquote(parts.path).lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                "requestId": request_id,
                "stage": "local",
                "httpMethod": method,
                "path": parts.path,
                "resourcePath": "/{proxy+}",
                "identity": {"sourceIp": source_ip},
                "authorizer": {"claims": {"sub": user, "cognito:username": user}},
            },
            "body": (text if text is not None else base64.b64encode(body).decode())
            if body
            else None,
            "isBase64Encoded": bool(body) and text is None,
        }


def _make_request_handler(api: LocalAPI) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        server_version = "pandasdb"
        protocol_version = "HTTP/1.1"
        # headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every response
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the handler logs every request as JSON already

        def _send(
            self,
            status: int,
            body: bytes,
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for key, value in (headers or {}).items():
                if key.lower() not in ("content-type", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, json.dumps(error_body(code, message)).encode())

        def _body(self, limit: int) -> bytes | None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self._error(400, "invalid_argument", "Content-Length is not a number")
                return None
            if length < 0:
                self._error(400, "invalid_argument", "Content-Length is negative")
                return None
            if length > limit:
                self.close_connection = True
                self._error(
                    413,
                    "too_large",
                    f"body of {length:,} bytes is over {limit:,}; stage it with "
                    "POST /dataframes/staging",
                )
                return None
            return self.rfile.read(length) if length else b""

        def _blob(self) -> None:
            parts = urlsplit(self.path)
            segments = parts.path.split("/", 3)
            if len(segments) < 4:
                self._error(404, "not_found", "no such blob")
                return
            user, key = unquote(segments[2]), unquote(segments[3])
            reason = api.presigner.check(self.command, user, key, parse_qs(parts.query))
            if reason or not key.startswith(STAGING_PREFIX):
                self._error(403, "forbidden", reason or "only staging keys can be presigned")
                return
            blobs = api.resolve(Caller(user, user)).store.blobs
            if self.command == "PUT":
                body = self._body(MAX_BLOB_BODY)
                if body is not None:
                    blobs.put(key, body)
                    self._send(200, b"{}")
                return
            try:
                data = blobs.get(key)
            except BlobNotFound:
                self._error(404, "not_found", "no such blob")
                return
            self._send(200, data, content_type="application/octet-stream")

        def _api(self) -> None:
            path = urlsplit(self.path).path
            if path == "/openapi.json" and self.command == "GET":
                schema = api.handler.app.get_openapi_json_schema(  # type: ignore[attr-defined]
                    title="pandasdb", version="0.1.0"
                )
                self._send(200, schema.encode())
                return
            if path == "/docs" and self.command == "GET":
                self._send(200, docs_page().encode(), content_type="text/html; charset=utf-8")
                return
            user = api.authenticate(self.headers)
            if user is None and self.command != "OPTIONS":
                self._body(MAX_API_BODY)  # drain what the client sent
                self._error(401, "unauthorized", "missing or invalid token")
                return
            body = self._body(MAX_API_BODY)
            if body is None:
                return
            event = api.event(
                self.command,
                self.path,
                self.headers,
                body,
                user or "anonymous",
                self.client_address[0],
            )
            with api.handler_lock:
                response = api.handler(event, None)
            raw = response.get("body") or ""
            data = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
            headers = dict(response.get("headers") or {})
            for key, values in (response.get("multiValueHeaders") or {}).items():
                headers.setdefault(key, ", ".join(values))
            self._send(
                int(response["statusCode"]),
                data,
                headers,
                headers.get("Content-Type", "application/json"),
            )

        def _dispatch(self) -> None:
            try:
                if self.path.startswith("/_blobs/") and self.command in ("GET", "PUT"):
                    self._blob()
                else:
                    self._api()
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _dispatch

    return RequestHandler


def docs_page() -> str:
    """A self-contained HTML page describing the API (no CDN needed)."""
    return """<!doctype html><html><head><meta charset="utf-8"><title>pandasdb API</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}code{background:#eee}</style>
</head><body><h1>pandasdb HTTP API</h1>
<p>The machine-readable description is at <a href="/openapi.json">/openapi.json</a>.
Send <code>Authorization: Bearer TOKEN</code> when the server has a users file.</p>
<ul>
<li><code>POST /dataframes/upload</code> JSON <code>{dataframe, dataframe_name, columns_keys,
external_key, keep_last}</code>, or a raw CSV/parquet body with those as query parameters</li>
<li><code>POST /dataframes/staging</code> a presigned URL for large uploads</li>
<li><code>GET /dataframes/{name}</code> <code>external_key, use_last, start_date, end_date,
partition_value, start_id, end_id, columns, as_of, format=json|csv|parquet</code></li>
<li><code>GET /dataframes?prefix=</code>, <code>GET /dataframes/{name}/versions</code>,
<code>DELETE /dataframes/{name}</code></li>
</ul><p>Errors are <code>{"error": CODE, "message": TEXT}</code> with 400, 401, 404, 409 or
413.</p></body></html>"""


def is_loopback(host: str) -> bool:
    """Whether ``host`` resolves only to loopback addresses."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def make_server(
    data: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    users_file: str | None = None,
) -> ThreadingHTTPServer:
    """Build (not start) the local server; refuses a non-loopback host without users."""
    users = load_users(users_file) if users_file else None
    if users is None and not is_loopback(host):
        raise SystemExit(
            f"error: refusing to serve on {host!r} without --users: anyone could read the data"
        )
    root = Path(data)
    root.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    api = LocalAPI(root, users, Presigner(f"http://{shown}:{bound_port}"))
    server.RequestHandlerClass = _make_request_handler(api)
    server.daemon_threads = True
    return server


def serve_command(args: argparse.Namespace) -> None:
    """Run ``pandasdb serve`` until interrupted."""
    server = make_server(args.data, args.host, args.port, args.users)
    host, port = server.server_address[:2]
    print(
        f"pandasdb serving {Path(args.data).resolve()} on http://{host}:{port} "
        f"({'users file' if args.users else 'single user, no token'}); Ctrl-C stops",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(subparsers: Any) -> None:
    """Add ``serve`` to the ``pandasdb`` command (an entry point of ``pandasdb.commands``)."""
    serve = subparsers.add_parser("serve", help="serve the HTTP API on the local store")
    serve.add_argument("--data", default="./pandasdb-data", help="data folder")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument("--users", help="JSON file of user name -> bearer token")
    serve.set_defaults(func=serve_command, needs_store=False)
