"""The SDK against a server that throttles, fails or drops connections: reads and writes are
retried with backoff; every write carries one idempotency key through all its retries, so the
server commits it once."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

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
        #: each request's query parameters, in order
        self.queries: list[dict[str, list[str]]] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _reply(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                script.seen.append((self.command, self.path.split("?", 1)[0]))
                script.queries.append(parse_qs(urlsplit(self.path).query))
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


def keys_sent(server: ScriptedServer) -> list[str]:
    return [q["idempotency_key"][0] for q in server.queries if "idempotency_key" in q]


def test_an_upload_that_failed_on_the_server_is_sent_again_with_its_key(scripted):
    server = scripted(
        [(500, {"error": "internal", "message": "boom"}), (503, {}), (200, COMMIT), (200, COMMIT)]
    )
    sdk = pdb.connect(server.url, progress=False)
    assert sdk.upload(frame(), "f").version == 1
    assert server.seen == [("POST", "/dataframes/upload")] * 3
    sent = keys_sent(server)
    assert len(set(sent)) == 1 and len(sent[0]) == 32, "one key for all tries of one call"
    sdk.upload(frame(), "f")
    assert keys_sent(server)[-1] != sent[0], "a new call is a new write"


def test_an_upload_whose_answer_was_lost_is_sent_again_with_its_key(scripted):
    server = scripted(["drop", "drop", (200, COMMIT)])
    sdk = pdb.connect(server.url, progress=False)
    assert sdk.upload(frame(), "f", idempotency_key="mine-1").version == 1
    assert keys_sent(server) == ["mine-1"] * 3


def test_a_write_whose_answers_are_all_lost_names_its_key(scripted):
    server = scripted(["drop"] * 3)
    sdk = pdb.connect(server.url, progress=False, retries=2)
    with pytest.raises(
        pdb.StoreUnavailable, match=r"may have committed: repeat it with idempotency_key='k-9'"
    ):
        sdk.delete_rows("f", start_date="2024-01-01", idempotency_key="k-9")
    assert server.seen == [("POST", "/dataframes/f/delete_rows")] * 3


def test_a_gateway_timeout_is_retried_then_says_the_write_may_have_committed(scripted):
    """API Gateway answers 504 after 29 s while the function may go on and commit (API
    Gateway quotas: integration timeout): the SDK retries with the same key, then says so."""
    gateway = {"message": "Endpoint request timed out"}
    server = scripted([(504, gateway)] * 3)
    sdk = pdb.connect(server.url, progress=False, retries=2)
    with pytest.raises(
        pdb.StoreUnavailable, match=r"timed out.*may have committed.*idempotency_key='k-1'"
    ):
        sdk.upload(frame(), "f", idempotency_key="k-1")
    assert keys_sent(server) == ["k-1"] * 3


def test_edits_are_retried_with_one_key(scripted):
    edit = {**COMMIT, "version": 2, "rows_removed": 4, "chunks_dropped": 2}
    server = scripted([(502, {}), (200, edit), "drop", (200, edit)])
    sdk = pdb.connect(server.url, progress=False)
    removed = sdk.delete_rows("f", start_date="2024-01-01")
    assert (removed.rows_removed, removed.chunks_dropped) == (4, 2)
    assert sdk.compact("f").version == 2
    assert (
        server.seen
        == [("POST", "/dataframes/f/delete_rows")] * 2 + [("POST", "/dataframes/f/compact")] * 2
    )
    assert len(keys_sent(server)) == 2 and len(set(keys_sent(server))) == 1


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
    url = f"http://127.0.0.1:{dead}/_blobs/u/f/x.parquet?expires=1&signature=s3cr3t"
    schema = {"columns": [{"name": "v", "dtype": {"type": "Int64"}, "since": 1}], "index": []}
    chunk = {"uri": url, "layout": "batch", "lo": "default", "hi": "default", "rows": 1}
    chunk.update(bytes=10, format="parquet", version=1, sha256="")
    snapshot = {"name": "f", "version": 1, "format": "parquet", "layouts": ["batch"]}
    snapshot.update(layout="batch", schema=schema, columns=["v"], files=[chunk])
    server = scripted([(200, {"delivery": "chunks", "snapshot": snapshot})])
    sdk = pdb.connect(server.url, progress=False, retries=0)
    with pytest.raises(pdb.StoreUnavailable) as info:
        sdk.get("f")  # a large read: its chunk files come by presigned URL
    assert "s3cr3t" not in str(info.value) and "/_blobs/u/f/x.parquet" in str(info.value)
    assert server.seen == [("GET", "/dataframes/f")]


NOT_FOUND = {"error": "frame 'f' does not exist", "message": "...", "code": "not_found"}


@pytest.mark.parametrize("first", ["drop", (502, {"message": "Internal server error"})])
def test_a_delete_whose_answer_was_lost_is_done_when_its_retry_finds_no_frame(scripted, first):
    server = scripted([first, (404, NOT_FOUND)])
    pdb.connect(server.url, token=None).delete("f")
    assert server.seen == [("DELETE", "/dataframes/f")] * 2


def test_deleting_a_frame_that_does_not_exist_still_says_so(scripted):
    server = scripted([(404, NOT_FOUND)])
    with pytest.raises(pdb.FrameNotFound):
        pdb.connect(server.url, token=None).delete("f")
