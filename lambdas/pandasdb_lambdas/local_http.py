"""The HTTP server under ``pandasdb serve``: waitress, with the limits a public server needs.

waitress (a pure-Python WSGI server) reads each request in full on one event loop before a
bounded pool of worker threads runs it, so an idle or slow connection holds no thread. On
top of its defaults this module adds:

- a body limit per path (the API's 10 MB, the blob URLs' 4 GB): a body over it is read off
  the connection and dropped, never stored, so the application answers 413 and the
  connection stays usable;
- a deadline for a whole request to arrive (408), beside waitress's idle timeout;
- when each request began to arrive (``environ["pandasdb.received_at"]``, epoch seconds,
  before its body was read), the time API Gateway's 29 s count from;
- refusal of ambiguous framing that could smuggle a second request: ``Content-Length``
  beside ``Transfer-Encoding``, or ``Transfer-Encoding`` in HTTP/1.0 (waitress already
  refuses a malformed or repeated ``Content-Length`` with one 400 and decodes chunked bodies);
- JSON error bodies (the API's error model) with CORS headers for waitress's own errors;
- requests the application says are quick (``inline(method, uri)``: ``pandasdb serve``'s
  presigned GETs of chunk files) answered on the event loop itself, not handed to a worker
  thread: on 2 cores the hand-off (waking a thread, which then waits for the interpreter
  lock the loop holds) cost more than reading a small file, a third of the server's time in
  a read of 365 chunk files;
- ``poll()`` instead of ``select()``, so more than 1,024 connections work at all.

Example
-------
>>> def app(environ, start_response):
...     start_response("200 OK", [("Content-Type", "text/plain")])
...     return [b"hi"]
>>> server = LocalServer(app, "127.0.0.1", 0, threads=2)
>>> server.server_address[0]
'127.0.0.1'
>>> server.server_close()
"""

from __future__ import annotations

import json
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import Error

from pandasdb_core.wire import error_body

#: waitress's own errors, as the API's error codes
_ERROR_CODES = {
    400: "bad_request",
    408: "request_timeout",
    413: "too_large",
    431: "headers_too_large",
    500: "internal",
    501: "not_implemented",
}


#: the most one read of a connection takes (waitress's default is 8 KB): a body is appended
#: to its buffer, a temporary file past 512 KB, one read at a time (a seek, a write and a seek
#: back), so 8 KB reads of a 24 MB staged piece cost 3,000 of them, most of the event loop's
#: time in an SDK upload
RECV_BYTES = 256 * 1024


class RequestTimeout(Error):
    """The request did not arrive in full within the deadline."""

    code = 408
    reason = "Request Timeout"


class _CappedBuffer:
    """A body buffer that stores at most ``limit`` bytes: past it, it drops what it holds
    and only counts, so an oversized body is read off the connection but never stored."""

    def __init__(self, inner: Any, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.size = 0

    def append(self, data: bytes) -> None:
        self.size += len(data)
        if self.inner is None:
            return
        if self.size > self.limit:
            self.inner.close()
            self.inner = None
        else:
            self.inner.append(data)

    def __len__(self) -> int:
        return self.size

    def getfile(self) -> Any:
        return self.inner.getfile() if self.inner is not None else BytesIO()

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


class ServerSettings(Adjustments):
    """waitress's adjustments plus ours: a body limit per path, a deadline for a request to
    arrive, and the headers every error answer carries (CORS)."""

    body_limit: Callable[[str], int]
    request_deadline: float
    error_headers: Callable[[str | None], list[tuple[str, str]]]
    inline: Callable[[str, str], bool]


class _Parser(HTTPRequestParser):
    """waitress's parser with a per-path body limit, a deadline and stricter framing."""

    adj: ServerSettings
    started: float | None = None
    #: when the request's first bytes arrived (epoch seconds)
    received_at: float | None = None

    def received(self, data: bytes) -> int:
        now = time.monotonic()
        if self.started is None:
            self.started = now
            self.received_at = time.time()
        elif not self.completed and now - self.started > self.adj.request_deadline:
            self.error = RequestTimeout(
                f"the request did not arrive within {self.adj.request_deadline:g} s"
            )
            self.completed = True
            return len(data)
        return super().received(data)

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        # RFC 9112 6.1 and 6.3: Transfer-Encoding is HTTP/1.1 only, and a message with both
        # it and Content-Length "ought to be handled as an error" (request smuggling)
        if self.version == "1.0" and "TRANSFER_ENCODING" in self.headers:
            raise ParsingError("Transfer-Encoding is not allowed in an HTTP/1.0 request")
        if self.chunked and "CONTENT_LENGTH" in self.headers:
            raise ParsingError("a request cannot have both Content-Length and Transfer-Encoding")
        if self.body_rcv is not None:
            self.body_rcv.buf = _CappedBuffer(self.body_rcv.buf, self.adj.body_limit(self.path))


class _JsonErrorTask(ErrorTask):
    """waitress's error answers (400, 408, 413, 431, 500, 501) in the API's error model."""

    def execute(self) -> None:
        error = self.request.error
        body = json.dumps(
            error_body(_ERROR_CODES.get(error.code, "bad_request"), f"{error.reason}: {error.body}")
        ).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.response_headers.extend(
            self.channel.adj.error_headers(self.request.headers.get("ORIGIN"))
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Task(WSGITask):
    """waitress's WSGI task, whose environ says when the request began to arrive."""

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ["pandasdb.received_at"] = getattr(self.request, "received_at", None)
        return environ


class _Channel(HTTPChannel):
    parser_class = _Parser
    task_class = _Task
    error_task_class = _JsonErrorTask
    #: set by :meth:`_Server.add_task`: the next request is served on the event loop
    serve_here = False

    def received(self, data: bytes) -> bool:
        done: bool = super().received(data)
        # outside the requests lock, which service() takes; service() asks again for the
        # next request read, so pipelined quick requests are all answered here
        while self.serve_here:
            self.serve_here = False
            self.service()
        return done


class _Server(TcpWSGIServer):
    channel_class = _Channel
    adj: ServerSettings
    #: the thread running the event loop (set by serve_forever)
    loop_thread: int | None = None

    def add_task(self, task: Any) -> None:
        """Hand the channel's next request to a worker thread, or, when it is a quick one
        (:attr:`ServerSettings.inline`), mark it to be served on the event loop. Only with
        nothing left to send on the connection: a response that would take the output past
        waitress's high watermark makes its writer wait for the loop to send, which the loop
        itself cannot do. Only on the loop's thread: a worker thread that finished the
        previous request of the connection hands the next one on as waitress does."""
        request = task.requests[0]
        on_loop = threading.get_ident() == self.loop_thread
        quick = on_loop and request.error is None and not task.total_outbufs_len
        if quick and self.adj.inline(request.command, request.request_uri):
            task.serve_here = True
        else:
            super().add_task(task)


def _raise_file_limit(needed: int) -> None:
    """Raise this process's open-file limit towards ``needed`` (as far as the hard limit
    allows): each connection is a file descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class LocalServer:
    """A waitress server for one WSGI app on one address, with ``serve_forever``,
    ``shutdown`` and ``server_close`` (as :mod:`socketserver` servers have).

    ``threads`` run requests; connections wait on one event loop, up to
    ``connection_limit``; a connection idle for ``idle_timeout`` seconds is closed, and a
    request must arrive in full within ``request_deadline`` seconds (408 otherwise).
    ``body_limit(path)`` bounds the body stored for a path; ``max_body`` bounds any body
    (waitress answers 413 and closes the connection past it). ``inline(method, uri)``: the
    requests answered on the event loop itself (quick ones only: while one runs, no other
    connection is read or written).
    """

    def __init__(
        self,
        app: Callable[..., Any],
        host: str,
        port: int,
        *,
        threads: int = 8,
        connection_limit: int = 4096,
        idle_timeout: int = 60,
        request_deadline: float = 60.0,
        max_body: int = 4 * 1024**3,
        body_limit: Callable[[str], int] | None = None,
        error_headers: Callable[[str | None], list[tuple[str, str]]] | None = None,
        inline: Callable[[str, str], bool] | None = None,
    ) -> None:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        _raise_file_limit(connection_limit + 256)
        # waitress warns whenever a request waits for a thread: under load that is the design
        # (a bounded pool), not a fault
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        settings = ServerSettings(
            sockets=[sock],
            threads=threads,
            connection_limit=connection_limit,
            channel_timeout=idle_timeout,
            # waitress looks for idle connections every cleanup_interval seconds
            cleanup_interval=max(1, min(30, idle_timeout // 2)),
            max_request_body_size=max_body + 1,
            asyncore_use_poll=True,
            recv_bytes=RECV_BYTES,
            ident="pandasdb",
            expose_tracebacks=False,
        )
        settings.request_deadline = request_deadline
        settings.body_limit = body_limit or (lambda path: max_body)
        settings.error_headers = error_headers or (lambda origin: [])
        settings.inline = inline or (lambda method, uri: False)
        self._map: dict[int, Any] = {}
        self._server = _Server(
            app,
            map=self._map,
            _sock=sock,
            bind_socket=False,
            adj=settings,
            sockinfo=(family, kind, proto, sock.getsockname()),
        )
        self.server_address: tuple[str, int] = sock.getsockname()[:2]
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (from another thread) or KeyboardInterrupt."""
        self._stopped.clear()
        self._server.loop_thread = threading.get_ident()
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=0.5, map=self._map, use_poll=True, count=1)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait for it to return."""
        self._stop.set()
        self._server.pull_trigger()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket and every connection; stop the worker threads."""
        self._stop.set()
        self._stopped.wait()
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        wasyncore.close_all(self._map)
