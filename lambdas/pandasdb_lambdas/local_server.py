"""``pandasdb serve``: the HTTP API on the embedded store, through the very Lambda handler,
behind a local stand-in for API Gateway.

Each HTTP request becomes an API Gateway REST proxy event whose authorizer claims name the
caller, then runs through :func:`pandasdb_lambdas.handler.make_handler`, as ``serverless
offline`` did for the seed. Requests run concurrently in a bounded pool of worker processes,
each with its own handler, as Lambda runs concurrent executions each in its own environment
(:mod:`pandasdb_lambdas.local_functions`); connections wait on one event loop, holding no
worker (:mod:`pandasdb_lambdas.local_http`, on waitress). Between client and function the
server applies API Gateway's rules (:mod:`pandasdb_lambdas.local_gateway`: payload limits,
binary media types, the 29 s timeout, gateway responses with CORS) unless started with
``--no-gateway-rules``.

Without a users file there is one user (``local``, the whole data folder) and the server
refuses non-loopback hosts; with one, tokens map to users, each with their own folder
``DATA/{user}``. Presigned URLs are HMAC-signed, expiring, scoped to one key and method, and
served here at ``/_blobs/``.

Example
-------
``pandasdb serve --data ./pandasdb-data --port 8000`` then
``curl http://127.0.0.1:8000/dataframes``.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pandasdb_core.errors import BlobNotFound
from pandasdb_core.http_routes import find
from pandasdb_core.names import validate_segment
from pandasdb_core.staging import STAGING_PREFIX
from pandasdb_core.wire import MAX_STAGED_BYTES, PRESIGN_SECONDS, error_body

from .context import StoreResolver
from .handler import make_handler
from .identity import Caller
from .local_functions import FunctionConfig, FunctionPool, Handler
from .local_gateway import (
    FUNCTION_FAILED,
    GATEWAY_MAX_REQUEST,
    INTEGRATION_TIMEOUT,
    LAMBDA_MAX_REQUEST,
    TIMED_OUT,
    BodyNotDecoded,
    BodyNotText,
    Headers,
    HttpAnswer,
    body_refusal,
    cors_headers,
    decoded_body,
    event_size,
    gateway_response,
    head_refusal,
    http_answer,
    lambda_payload_refusal,
    proxy_event,
)
from .local_http import LocalServer
from .local_stores import Presigner, StoreCache

#: the largest body a presigned blob URL takes (S3 takes 5 GB in one PUT)
MAX_BLOB_BODY = 4 * 1024**3
#: presigned GETs of blobs up to this size are answered on the server's event loop (see
#: :meth:`LocalAPI.serves_inline`): reading one takes about a millisecond at most
INLINE_BLOB_BYTES = 4 * 1024**2
#: the most a compressed API body may decode to (without the gateway rules; with them the
#: gateway's 10 MB): what one request of the function reads whole
MAX_INFLATED = MAX_STAGED_BYTES
LOCAL_USER = "local"
log = logging.getLogger("pandasdb.serve")


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
    folded: dict[str, str] = {}
    for user in data:
        # each user's folder is named by the user: on a case-insensitive file system
        # (macOS, Windows) "Alice" and "alice" would share one, and each other's frames
        other = folded.setdefault(user.casefold(), user)
        if other != user:
            raise SystemExit(
                f"error: users {other!r} and {user!r} differ only by case; their folders "
                "would be one on a case-insensitive file system: rename one"
            )
    return tokens


def _cors_origins() -> tuple[str, ...]:
    """The allowed origins, from the variable the function reads too."""
    return tuple(o.strip() for o in os.environ.get("PANDASDB_CORS_ORIGINS", "*").split(","))


@dataclass(frozen=True)
class ServeOptions:
    """How ``pandasdb serve`` runs; the defaults are the command's.

    ``gateway_rules`` applies API Gateway's rules (10 MB requests, Lambda's 6 MB measured
    after base64, binary bodies only for a binary first ``Accept`` type, the integration
    timeout ``gateway_timeout``); ``workers`` requests run at once, each in a worker
    process with its own handler; up to ``connection_limit`` connections wait without
    holding a thread; a connection idle for ``idle_timeout`` s is closed; a request must
    arrive in full within ``request_deadline`` s. Presigned URLs are valid
    ``presign_seconds`` (S3's of the API: 15 minutes); ``manifests`` makes each commit
    rewrite the frame's symlink manifests (None: ``PANDASDB_MANIFESTS``, as on AWS).

    Example
    -------
    >>> ServeOptions(gateway_timeout=1.0).gateway_timeout
    1.0
    """

    gateway_rules: bool = True
    gateway_timeout: float = INTEGRATION_TIMEOUT
    workers: int = min(8, 2 * (os.cpu_count() or 1))
    connection_limit: int = 4096
    idle_timeout: int = 60
    request_deadline: float = 60.0
    cors_origins: tuple[str, ...] = field(default_factory=_cors_origins)
    presign_seconds: int = PRESIGN_SECONDS
    manifests: bool | None = None


def _json(status: int, body: Any, headers: Headers | None = None) -> HttpAnswer:
    return HttpAnswer(
        status, [("Content-Type", "application/json"), *(headers or [])], json.dumps(body).encode()
    )


def _request_headers(environ: dict[str, Any]) -> Headers:
    """The request's headers as a client sent them (names in their usual capitalisation)."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key
        else:
            continue
        headers.append(("-".join(part.capitalize() for part in name.split("_")), value))
    return headers


class LocalAPI:
    """The WSGI application: presigned blobs, and the API through the gateway rules and the
    function pool."""

    def __init__(
        self,
        data: Path,
        users: dict[str, str] | None,
        options: ServeOptions,
        handler_factory: Callable[[StoreResolver], Handler] = make_handler,
    ) -> None:
        self.users = users
        self.options = options
        self.handler_factory = handler_factory
        self.presigner = Presigner("http://unbound", seconds=options.presign_seconds)
        self.stores = StoreCache(data, users is not None, self.presigner, options.manifests)
        self.resolve = self.stores.resolve
        self.functions: FunctionPool | None = None

    def start(self, base_url: str) -> FunctionPool:
        """Ready to serve at ``base_url`` (presigned URLs point there); the worker pool."""
        self.presigner.base_url = base_url
        self.functions = FunctionPool(
            FunctionConfig(
                str(self.stores.data),
                self.stores.per_user,
                base_url,
                self.presigner.secret,
                self.handler_factory,
                self.options.presign_seconds,
                self.options.manifests,
            ),
            self.options.workers,
        )
        return self.functions

    def body_limit(self, path: str) -> int:
        """The largest body kept for ``path``: API Gateway's 10 MB for the API (with the
        gateway rules), 4 GB for presigned blob URLs."""
        if path.startswith("/_blobs/") or not self.options.gateway_rules:
            return MAX_BLOB_BODY
        return GATEWAY_MAX_REQUEST

    def cors(self, origin: str | None) -> Headers:
        """The CORS headers of answers the gateway (or the bucket) gives by itself."""
        return cors_headers(origin, self.options.cors_origins)

    def serves_inline(self, method: str, target: str) -> bool:
        """Whether the server answers a request on its event loop rather than a worker
        thread: a GET or HEAD of a presigned blob URL (a large read's chunk files) whose
        blob holds at most :data:`INLINE_BLOB_BYTES`, or that is refused (unsigned,
        expired, absent). Serving it at once costs less than the hand-off to a thread, and
        it never waits on a worker process, as S3 is no Lambda function."""
        if method not in ("GET", "HEAD"):
            return False
        parts = urlsplit(target)
        if not parts.path.startswith("/_blobs/"):
            return False
        segments = parts.path.split("/", 3)
        if len(segments) < 4:
            return True  # no key: a 404
        user, key = unquote(segments[2]), unquote(segments[3])
        if self.presigner.check(method, user, key, parse_qs(parts.query)):
            return True  # a 403
        root = getattr(self.resolve(Caller(user, user)).store.blobs, "root", None)
        if root is None:
            return False
        try:  # the file's size only, at its place in a local store's folder
            return os.stat(os.path.join(root, *key.split("/"))).st_size <= INLINE_BLOB_BYTES
        except (OSError, ValueError):
            return True  # no such blob: a 404

    def authenticate(self, authorization: str | None) -> str | None:
        """The user an ``Authorization`` header names, or None.

        Both forms the seed's SDKs send work, ``Bearer TOKEN`` and the token alone, as API
        Gateway's Cognito authorizer takes both (``shared/SEED-WIRE.md``). Every token is
        compared, in constant time, so timing tells nothing about which one was close.
        """
        if self.users is None:
            return LOCAL_USER
        value = (authorization or "").strip()
        candidates = [value]
        scheme, _, rest = value.partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(rest.strip())
        found = None
        for known, user in self.users.items():
            for candidate in candidates:
                if hmac.compare_digest(known.encode(), candidate.encode()):
                    found = user
        return found

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        try:
            answer = self.respond(environ)
        except Exception:
            log.exception("unhandled error in pandasdb serve")
            answer = _json(500, error_body("internal", "internal error; see the server's log"))
        start_response(
            answer.status_line(), [*answer.headers, ("Content-Length", str(len(answer.body)))]
        )
        # HEAD: the headers of GET, Content-Length included, and no body
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [answer.body]

    def respond(self, environ: dict[str, Any]) -> HttpAnswer:
        """Route one request: presigned blobs here, everything else to the API."""
        method = environ["REQUEST_METHOD"]
        target = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        if urlsplit(target).path.startswith("/_blobs/") and method in ("GET", "PUT", "HEAD"):
            return self.blob(method, target, environ)
        return self.api(method, target, environ)

    def needs_token(self, method: str, path: str) -> bool:
        """Whether API Gateway's authorizer guards ``method`` on ``path``: every route of
        the route table but those without auth (the docs, the OpenAPI document), and never
        a CORS preflight, which meets no authorizer ("Enabling CORS for a REST API
        resource": https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html).

        Example
        -------
        >>> api = LocalAPI(Path("/nowhere"), None, ServeOptions())
        >>> api.needs_token("GET", "/dataframes"), api.needs_token("OPTIONS", "/dataframes")
        (True, False)
        >>> api.needs_token("GET", "/openapi.json")
        False
        """
        if method == "OPTIONS":
            return False
        route = find(method, unquote(path))
        return route is None or route.auth

    def blob(self, method: str, target: str, environ: dict[str, Any]) -> HttpAnswer:
        """A presigned URL: checked, then a PUT or GET of one staging key (HEAD needs a
        URL signed for HEAD, as S3's presigned URLs bind their method)."""
        cors = self.cors(environ.get("HTTP_ORIGIN"))
        parts = urlsplit(target)
        segments = parts.path.split("/", 3)
        if len(segments) < 4:
            return _json(404, error_body("not_found", "no such blob"), cors)
        user, key = unquote(segments[2]), unquote(segments[3])
        reason = self.presigner.check(method, user, key, parse_qs(parts.query))
        # reads of any signed key (a large read's chunk files), writes to staging only
        if reason or (method == "PUT" and not key.startswith(STAGING_PREFIX)):
            return _json(403, error_body("forbidden", reason or "only staging keys"), cors)
        blobs = self.resolve(Caller(user, user)).store.blobs
        if method == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BLOB_BODY:
                return _json(413, error_body("too_large", f"over {MAX_BLOB_BODY:,} bytes"), cors)
            blobs.put(key, environ["wsgi.input"].read(length) if length else b"")
            return _json(200, {}, cors)
        try:
            data = blobs.get(key)
        except BlobNotFound:
            return _json(404, error_body("not_found", "no such blob"), cors)
        return HttpAnswer(200, [("Content-Type", "application/octet-stream"), *cors], data)

    def api(self, method: str, target: str, environ: dict[str, Any]) -> HttpAnswer:
        """One API request, through the gateway's rules and the function. The gateway's
        timeout counts from when the request began to arrive, its body's upload included."""
        received_at = environ.get("pandasdb.received_at") or time.time()
        rules = self.options.gateway_rules
        origin = environ.get("HTTP_ORIGIN")
        allowed = self.options.cors_origins
        if rules and (
            refused := head_refusal(method, target, _request_headers(environ), origin, allowed)
        ):
            return refused
        length = int(environ.get("CONTENT_LENGTH") or 0)
        limit = self.body_limit(urlsplit(target).path)
        if length > limit:
            return body_refusal(length, limit, origin, allowed)
        claims = None
        event_method = "GET" if method == "HEAD" else method
        if self.needs_token(event_method, urlsplit(target).path):
            user = self.authenticate(environ.get("HTTP_AUTHORIZATION"))
            if user is None:
                return gateway_response(
                    401,
                    error_body(
                        "unauthorized",
                        "missing or invalid token: send 'Authorization: Bearer TOKEN' "
                        "(or the token alone) with a token from the server's users file",
                    ),
                    origin,
                    allowed,
                )
            claims = {"sub": user, "cognito:username": user}
        body = environ["wsgi.input"].read(length) if length else b""
        headers = _request_headers(environ)
        try:
            # decoded as API Gateway decodes it, with or without the gateway rules: the
            # function reads no Content-Encoding, so it never receives it; at most what the
            # gateway passes on (a small gzip body must not inflate to gigabytes here)
            body = decoded_body(
                body, environ.get("HTTP_CONTENT_ENCODING"), min(limit, MAX_INFLATED)
            )
        except BodyNotDecoded as exc:
            code = "too_large" if exc.status == 413 else "unsupported_media_type"
            return gateway_response(exc.status, error_body(code, str(exc)), origin, allowed)
        headers = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
        try:
            event = proxy_event(
                event_method,
                target,
                headers,
                body,
                claims,
                environ.get("REMOTE_ADDR", ""),
                strict=rules,
                received_at=received_at if rules else None,  # no gateway, no 29 s
            )
        except BodyNotText as exc:
            return gateway_response(
                415, error_body("unsupported_media_type", str(exc)), origin, allowed
            )
        if rules and (size := event_size(event)) > LAMBDA_MAX_REQUEST:
            return lambda_payload_refusal(size, origin, allowed)
        try:
            timeout = self.options.gateway_timeout if rules else None
            response = self.functions.invoke(event, timeout, started=received_at)
        except TimeoutError:
            log.warning("%s %s: the function outlived the gateway's timeout", method, target)
            return gateway_response(504, TIMED_OUT, origin, allowed)
        except Exception:
            # Lambda reports the exception; API Gateway answers 502
            log.exception("the function failed on %s %s", method, target)
            return gateway_response(502, FUNCTION_FAILED, origin, allowed)
        return http_answer(
            response, environ.get("HTTP_ACCEPT"), strict=rules, origin=origin, allowed=allowed
        )

    def close(self) -> None:
        if self.functions is not None:
            self.functions.close()


def is_loopback(host: str) -> bool:
    """Whether ``host`` resolves only to loopback addresses."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


class PandasdbServer(LocalServer):
    """The running server: :class:`~pandasdb_lambdas.local_http.LocalServer` plus its
    application."""

    api: LocalAPI
    functions: FunctionPool

    def server_close(self) -> None:
        super().server_close()
        self.api.close()


def make_server(
    data: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    users_file: str | None = None,
    *,
    options: ServeOptions | None = None,
    handler_factory: Callable[[StoreResolver], Handler] = make_handler,
) -> PandasdbServer:
    """Build (not start) the local server; refuses a non-loopback host without users.

    ``handler_factory`` builds the handler of each worker process; it must be picklable
    (tests pass a ``functools.partial`` of a wrapper of
    :func:`~pandasdb_lambdas.handler.make_handler`, e.g. a deliberately slow one). Workers
    start with ``spawn``, so a script calling this needs the ``if __name__ == "__main__":``
    guard.
    """
    options = options or ServeOptions()
    users = load_users(users_file) if users_file else None
    if users is None and not is_loopback(host):
        raise SystemExit(
            f"error: refusing to serve on {host!r} without --users: anyone could read the data"
        )
    root = Path(data)
    root.mkdir(parents=True, exist_ok=True)
    api = LocalAPI(root, users, options, handler_factory)
    server = PandasdbServer(
        api,
        host,
        port,
        # requests wait here for a worker process; these threads also serve blobs, docs and
        # the gateway's own answers
        threads=options.workers + 4,
        connection_limit=options.connection_limit,
        idle_timeout=options.idle_timeout,
        request_deadline=options.request_deadline,
        max_body=MAX_BLOB_BODY,
        body_limit=api.body_limit,
        error_headers=api.cors,
        inline=api.serves_inline,
    )
    server.api = api
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    server.functions = api.start(f"http://{shown}:{bound_port}")
    return server


def serve_command(args: argparse.Namespace) -> None:
    """Run ``pandasdb serve`` until interrupted."""
    options = ServeOptions(
        gateway_rules=args.gateway_rules,
        gateway_timeout=args.gateway_timeout,
        workers=args.workers,
        presign_seconds=args.presign_seconds,
        manifests=args.manifests,
    )
    server = make_server(args.data, args.host, args.port, args.users, options=options)
    server.functions.warm()  # load the handler in every worker before the first request
    host, port = server.server_address[:2]
    rules = "gateway rules on" if options.gateway_rules else "gateway rules off"
    print(
        f"pandasdb serving {Path(args.data).resolve()} on http://{host}:{port} "
        f"({'users file' if args.users else 'single user, no token'}; {rules}); Ctrl-C stops",
        flush=True,
    )
    # `kill` (SIGTERM) stops the server as Ctrl-C does: workers are shut down, not orphaned
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def register(subparsers: Any) -> None:
    """Add ``serve`` to the ``pandasdb`` command (an entry point of ``pandasdb.commands``)."""
    serve = subparsers.add_parser("serve", help="serve the HTTP API on the local store")
    serve.add_argument("--data", default="./pandasdb-data", help="data folder")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument("--users", help="JSON file of user name -> token")
    serve.add_argument(
        "--no-gateway-rules",
        dest="gateway_rules",
        action="store_false",
        help="do not apply API Gateway's rules (10 MB requests, Lambda's 6 MB after base64, "
        "binary only for a binary first Accept type, the 29 s timeout)",
    )
    serve.add_argument(
        "--gateway-timeout",
        type=_positive(float),
        default=INTEGRATION_TIMEOUT,
        help="seconds before the gateway answers 504 (the work goes on); default 29",
    )
    serve.add_argument(
        "--workers",
        type=_positive(int),
        default=ServeOptions.workers,
        help="requests served at once, each in a worker process with its own handler "
        f"(default {ServeOptions.workers}: twice the CPUs, at most 8)",
    )
    serve.add_argument(
        "--presign-seconds",
        type=_positive(int),
        default=PRESIGN_SECONDS,
        help=f"seconds presigned URLs stay valid (default {PRESIGN_SECONDS}, as on AWS)",
    )
    serve.add_argument(
        "--manifests",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rewrite each frame's symlink manifests with every commit (default: "
        "PANDASDB_MANIFESTS, off)",
    )
    serve.set_defaults(func=serve_command, needs_store=False)
