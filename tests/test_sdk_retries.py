"""The SDK against a server that throttles, fails or drops connections: reads are retried with
backoff, an upload is repeated only when the server surely did not run it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

import pandasdb_core as pdb

COMMIT = {"name": "f", "version": 1, "rows": 1, "chunks": 1, "keys": ["f/x.csv.gz"], "bytes": 9}


class ScriptedServer:
    """Answers each request with the next scripted reply: ``(status, body)`` or ``"drop"``
    (read the request, then close the connection without a reply)."""

    def __init__(self, replies: list[tuple[int, object] | str]) -> None:
        self.replies = list(replies)
        self.seen: list[tuple[str, str]] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _reply(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                script.seen.append((self.command, self.path.split("?", 1)[0]))
                reply = script.replies.pop(0) if script.replies else (500, {})
                if reply == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                status, body = reply
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _reply

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://{}:{}".format(*self.server.server_address[:2])


@pytest.fixture
def scripted() -> Iterator[Callable[[list[tuple[int, object] | str]], ScriptedServer]]:
    started: list[ScriptedServer] = []

    def start(replies: list[tuple[int, object] | str]) -> ScriptedServer:
        server = ScriptedServer(replies)
        threading.Thread(target=server.server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.server.shutdown()
        server.server.server_close()


def frame() -> pd.DataFrame:
    return pd.DataFrame({"v": [1]})


def test_reads_are_retried_through_5xx_and_429(scripted):
    server = scripted([(503, {}), (429, {}), (502, {}), (200, [])])
    sdk = pdb.connect(server.url, progress=False)
    assert sdk.list() == []
    assert server.seen == [("GET", "/dataframes")] * 4


def test_reads_give_up_with_the_apis_error_after_the_retries(scripted):
    body = {"error": "unavailable", "message": "storage is down"}
    server = scripted([(503, body)] * 3)
    sdk = pdb.connect(server.url, progress=False, retries=2)
    with pytest.raises(pdb.PandasDBError, match="storage is down"):
        sdk.list()
    assert len(server.seen) == 3


def test_a_throttled_upload_is_sent_again(scripted):
    server = scripted([(429, {"error": "throttled", "message": "slow down"}), (200, COMMIT)])
    sdk = pdb.connect(server.url, progress=False)
    assert sdk.upload(frame(), "f").version == 1
    assert server.seen == [("POST", "/dataframes/upload")] * 2


def test_an_upload_that_failed_on_the_server_is_not_repeated(scripted):
    server = scripted([(500, {"error": "internal", "message": "boom"}), (200, COMMIT)])
    sdk = pdb.connect(server.url, progress=False)
    with pytest.raises(pdb.PandasDBError, match="boom"):
        sdk.upload(frame(), "f")
    assert server.seen == [("POST", "/dataframes/upload")]


def test_an_upload_whose_answer_was_lost_is_not_repeated(scripted):
    server = scripted(["drop", (200, COMMIT)])
    sdk = pdb.connect(server.url, progress=False)
    with pytest.raises(pdb.StoreUnavailable, match=r"may have committed: check versions\('f'\)"):
        sdk.upload(frame(), "f")
    assert server.seen == [("POST", "/dataframes/upload")]


def test_a_dropped_read_is_retried(scripted):
    server = scripted(["drop", (200, [])])
    sdk = pdb.connect(server.url, progress=False)
    assert sdk.list() == []
    assert len(server.seen) == 2


def test_an_unreachable_server_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    sdk = pdb.connect(f"http://127.0.0.1:{port}", progress=False, retries=1)
    with pytest.raises(pdb.StoreUnavailable, match=f"cannot reach http://127.0.0.1:{port}") as info:
        sdk.upload(frame(), "f")
    assert "may have committed" not in str(info.value)


def test_a_failed_presigned_transfer_does_not_print_the_signature(scripted):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    url = f"http://127.0.0.1:{dead}/_blobs/u/.staging/x?expires=1&signature=s3cr3t"
    server = scripted([(200, {"upload_id": "x", "url": url})])
    sdk = pdb.connect(server.url, progress=False, retries=0)
    big = pd.DataFrame({"v": np.random.default_rng(0).random(1_000_000)})  # > 6 MB: staged
    with pytest.raises(pdb.StoreUnavailable) as info:
        sdk.upload(big, "f")
    assert "s3cr3t" not in str(info.value) and "/_blobs/u/.staging/x" in str(info.value)
    assert server.seen == [("POST", "/dataframes/staging")]
