"""moto's HTTP server with one request at a time, as real S3 and DynamoDB are atomic per call.

moto's ``TransactWriteItems`` snapshots the whole table and, when a condition fails, restores
that snapshot, so under its threaded server a losing transaction can erase a concurrent winner's
writes (an acknowledged commit vanishes). Real DynamoDB transactions are serializable; handling
one request at a time gives moto the same guarantee while clients still race each other between
calls, which is what the concurrency tests exercise. Needs the ``dev`` or ``bench`` extra.

Example
-------
>>> import boto3
>>> keys = {"aws_access_key_id": "x", "aws_secret_access_key": "x", "region_name": "us-east-1"}
>>> with SerialMotoServer() as url:
...     boto3.client("s3", endpoint_url=url, **keys).list_buckets()["Buckets"]
[]
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any


class _OneAtATime:
    """A WSGI middleware that lets one request through at a time."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


class SerialMotoServer:
    """A moto server on loopback and a free port; ``with`` yields its endpoint URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = _OneAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            host, port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        """Serve in a background thread; return the endpoint URL."""
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
