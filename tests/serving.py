"""Helpers for the HTTP tests (not a test module): ``pandasdb serve`` in a thread of the test
process on a free port, with chosen options or another handler, and raw-socket exchanges for
requests that ``requests`` refuses to send.

The server runs its handlers in worker processes, so a handler factory given to it must be
picklable (a module-level function, or ``functools.partial`` of one) and report through files.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pandasdb_lambdas.handler import make_handler
from pandasdb_lambdas.local_server import ServeOptions, make_server

from pandasdb_core.wire import error_body

STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


@contextmanager
def serving(
    data: Path,
    *,
    users: dict[str, str] | None = None,
    handler_factory: Callable[..., Any] = make_handler,
    **options: Any,
) -> Iterator[str]:
    """Run a server on ``data`` until the block ends; yields its base URL."""
    users_file = None
    if users is not None:
        users_file = data.parent / f"{data.name}-users.json"
        users_file.write_text(json.dumps(users))
    server = make_server(
        data,
        "127.0.0.1",
        0,
        str(users_file) if users_file else None,
        options=ServeOptions(**options),
        handler_factory=handler_factory,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def recording_handler(events: Path, answer: dict[str, Any] | None, resolve: Any) -> Any:
    """A stub function that appends each event to the file ``events`` (one JSON a line) and
    answers ``answer`` (default: 200 ``{}``)."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with events.open("a") as out:
            out.write(json.dumps(event) + "\n")
        return answer or {"statusCode": 200, "headers": {}, "body": "{}"}

    return handler


def recorded(events: Path) -> list[dict[str, Any]]:
    """The events a :func:`recording_handler` received, in order."""
    if not events.exists():
        return []
    return [json.loads(line) for line in events.read_text().splitlines()]


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    """A TCP connection to the server at ``url``."""
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def exchange(url: str, raw: bytes, timeout: float = 10.0) -> bytes:
    """Send ``raw`` bytes on a new connection; everything the server sends back until it
    closes the connection (or is silent for ``timeout`` seconds)."""
    with connect(url, timeout) as sock:
        sock.sendall(raw)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def statuses(received: bytes) -> list[int]:
    """The status codes of every response in a raw byte stream."""
    return [int(code) for code in STATUS_LINE.findall(received)]


def is_error(body: Any, code: str) -> bool:
    """Whether ``body`` is the API's error model (:func:`pandasdb_core.wire.error_body`)
    for the error ``code``, whatever its message."""
    return isinstance(body, dict) and body == error_body(code, body.get("message", ""))


def json_body(received: bytes) -> Any:
    """The JSON body of the single response in ``received``."""
    return json.loads(received.split(b"\r\n\r\n", 1)[1])
