"""``pandasdb serve`` as a server on the open network: concurrency, idle and slow
connections, request framing (chunked bodies, bad Content-Length), HEAD. Real servers, real
sockets."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from pandasdb_lambdas.handler import make_handler
from serving import connect, exchange, is_error, json_body, serving, statuses

USERS = {"alice": "token-alice-1", "bob": "token-bob-22"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(condition, seconds: float = 60) -> bool:
    """Poll ``condition`` until true or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def held_uploads(signals: Path, resolve):
    """The real handler, whose uploads announce themselves (file ``started``) and then wait
    for the file ``release``, as a 5,000-column upload takes its time."""
    real = make_handler(resolve)

    def handler(event, context):
        if event["path"] == "/dataframes/upload":
            (signals / "started").touch()
            wait_for((signals / "release").exists)
        return real(event, context)

    return handler


def test_one_users_long_upload_does_not_hold_another_users_reads(tmp_path):
    signals = tmp_path / "signals"
    signals.mkdir()
    with (
        serving(
            tmp_path / "data", users=USERS, handler_factory=partial(held_uploads, signals)
        ) as url,
        ThreadPoolExecutor(1) as pool,
    ):
        upload = pool.submit(
            requests.post,
            f"{url}/dataframes/upload",
            json={"dataframe": "a\n1\n", "dataframe_name": "wide"},
            headers={"Authorization": "Bearer token-alice-1"},
            timeout=60,
        )
        assert wait_for((signals / "started").exists), "the upload reached the function"
        read = requests.get(
            f"{url}/dataframes", headers={"Authorization": "Bearer token-bob-22"}, timeout=60
        )
        assert read.status_code == 200 and read.json() == []
        assert not upload.done(), "bob was served while alice's upload was still running"
        (signals / "release").touch()
        assert upload.result().status_code == 200


def meeting(room: Path, parties: int, resolve):
    """The real handler, noting its process in ``room``; a listing with ``prefix=meet``
    waits there until ``parties`` of them have arrived (a barrier across processes)."""
    real = make_handler(resolve)
    (room / f"handler-{os.getpid()}").touch()

    def handler(event, context):
        if event["queryStringParameters"] == {"prefix": "meet"}:
            (room / f"arrived-{uuid.uuid4().hex}").touch()
            if not wait_for(lambda: len(list(room.glob("arrived-*"))) >= parties, 30):
                raise TimeoutError("the others never came: requests ran one at a time")
        return real(event, context)

    return handler


def test_requests_run_at_once_each_on_a_handler_of_its_own(tmp_path):
    """Four requests meet inside the function, impossible if they ran one at a time; each
    worker process builds one handler."""
    room = tmp_path / "room"
    room.mkdir()
    factory = partial(meeting, room, 4)
    with serving(tmp_path / "data", handler_factory=factory, workers=6) as url:
        with ThreadPoolExecutor(4) as pool:
            met = list(
                pool.map(
                    lambda _: requests.get(f"{url}/dataframes?prefix=meet", timeout=60), range(4)
                )
            )
        assert [r.status_code for r in met] == [200] * 4
        with ThreadPoolExecutor(16) as pool:
            many = list(
                pool.map(lambda _: requests.get(f"{url}/dataframes", timeout=60), range(64))
            )
        assert {r.status_code for r in many} == {200}
    assert 4 <= len(list(room.glob("handler-*"))) <= 6, "one handler per worker, at most 6"


def test_eleven_hundred_idle_connections_do_not_block_a_request(open_server):
    idle: list[socket.socket] = []
    try:
        for i in range(1100):
            sock = connect(open_server.url)
            if i % 2:  # half of them start a request and never finish it
                sock.sendall(b"GET /dataframes HTTP/1.1\r\nHost: x\r\n")
            idle.append(sock)
        response = requests.get(f"{open_server.url}/dataframes", timeout=30)
        assert response.status_code == 200
        threads = int(
            next(
                line.split()[1]
                for line in Path(f"/proc/{open_server.proc.pid}/status").read_text().splitlines()
                if line.startswith("Threads:")
            )
        )
        assert threads < 60, f"{threads} threads: idle connections must not each hold one"
    finally:
        for sock in idle:
            sock.close()


def test_a_chunked_body_is_read_as_the_body_of_one_request(open_server):
    name = unique("chunked")
    parts = urlsplit(open_server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    # the body looks like a second request: it must never be parsed as one
    chunks = [b"a,b\n", b"1,GET /dataframes HTTP/1.1\n", b"2,Host: x\n"]
    conn.request(
        "POST",
        f"/dataframes/upload?dataframe_name={name}",
        body=iter(chunks),
        headers={"Content-Type": "text/csv", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    first = conn.getresponse()
    assert first.status == 200, first.read()
    assert b'"rows": 2' in first.read()
    conn.request("GET", f"/dataframes/{name}")  # the same connection goes on normally
    second = conn.getresponse()
    assert second.status == 200
    assert [row["b"] for row in json.loads(second.read())] == [
        "GET /dataframes HTTP/1.1",
        "Host: x",
    ]
    conn.close()


@pytest.mark.parametrize(
    "version, framing",
    [
        (b"1.1", b"Content-Length: abc\r\n"),
        (b"1.1", b"Content-Length: -1\r\n"),
        (b"1.1", b"Content-Length: 1e3\r\n"),
        (b"1.1", b"Content-Length: 5\r\nContent-Length: 6\r\n"),
        (b"1.1", b"Content-Length: 5, 6\r\n"),
        (b"1.1", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
        (b"1.1", b"Transfer-Encoding: gzip\r\n"),
        (b"1.1", b"Transfer-Encoding: chunked\r\n"),  # the body is no chunk
        (b"1.0", b"Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n"),
    ],
)
def test_bad_or_conflicting_framing_gets_exactly_one_error(open_server, version, framing):
    """The body, which holds a request line, must never be served as a second request."""
    received = exchange(
        open_server.url,
        b"POST /dataframes/upload HTTP/"
        + version
        + b"\r\nHost: x\r\n"
        + framing
        + b"\r\nhello GET /dataframes HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert len(statuses(received)) == 1, received
    assert statuses(received)[0] in (400, 501)
    assert is_error(json_body(received), "bad_request") or is_error(
        json_body(received), "not_implemented"
    )


def test_head_answers_the_headers_of_get_without_a_body(open_server):
    name = unique("head")
    requests.post(
        f"{open_server.url}/dataframes/upload", json={"dataframe": "a\n1\n", "dataframe_name": name}
    ).raise_for_status()
    parts = urlsplit(open_server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    for path in (f"/dataframes/{name}", "/dataframes", "/openapi.json"):
        conn.request("HEAD", path)
        head = conn.getresponse()
        assert head.status == 200 and head.read() == b""
        # the next response on the same connection parses: HEAD sent no body
        conn.request("GET", path)
        got = conn.getresponse()
        body = got.read()
        assert got.status == 200 and int(head.headers["Content-Length"]) == len(body)
        assert head.headers["Content-Type"] == got.headers["Content-Type"]
    conn.close()


def test_a_request_that_trickles_in_past_the_deadline_gets_408(tmp_path):
    with serving(tmp_path / "data", request_deadline=1) as url:
        with connect(url) as sock:
            sock.sendall(
                b"POST /dataframes/upload?dataframe_name=x HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: text/csv\r\nContent-Length: 100\r\n\r\na\n1\n"
            )
            threading.Event().wait(1.5)
            sock.sendall(b"2\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert statuses(received) == [408]
        assert is_error(json_body(received), "request_timeout")
        assert requests.get(f"{url}/dataframes", timeout=30).status_code == 200


def test_an_idle_connection_is_closed(tmp_path):
    with serving(tmp_path / "data", idle_timeout=1) as url, connect(url, timeout=30) as sock:
        sock.sendall(b"GET /dataframes HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        assert sock.recv(65536) == b"", "the server closed the stalled connection"


def test_presigned_chunk_gets_are_answered_on_the_event_loop(tmp_path, monkeypatch):
    """A chunk file's presigned GET is served by the event loop itself, with no hand-off to a
    thread (what costs most in a read of hundreds of files on 2 cores); a blob over
    INLINE_BLOB_BYTES and API requests still go to worker threads, and GETs pipelined on one
    connection are answered in order, each once."""
    from pandasdb_lambdas import local_server

    served: list[tuple[str, str]] = []
    real_blob, real_api = local_server.LocalAPI.blob, local_server.LocalAPI.api

    def blob(self, method, target, environ):
        served.append((urlsplit(target).path.rsplit("/", 2)[-2], threading.current_thread().name))
        return real_blob(self, method, target, environ)

    def api(self, method, target, environ):
        served.append(("api", threading.current_thread().name))
        return real_api(self, method, target, environ)

    monkeypatch.setattr(local_server.LocalAPI, "blob", blob)
    monkeypatch.setattr(local_server.LocalAPI, "api", api)
    monkeypatch.setattr(local_server, "INLINE_BLOB_BYTES", 5_000)
    rows = [f"2024-01-01,{i}" for i in range(3)] + [f"2024-01-02,{i}" for i in range(5_000)]
    with serving(tmp_path / "data") as url:
        up = requests.post(
            f"{url}/dataframes/upload?dataframe_name=f&columns_keys=ts:Date",
            data="ts,v\n" + "\n".join(rows) + "\n",
            headers={"Content-Type": "text/csv"},
            timeout=60,
        )
        assert up.status_code == 200, up.text
        files = requests.get(f"{url}/dataframes/f/files", timeout=60).json()["files"]
        small, large = (f["uri"] for f in files)
        body = requests.get(small, timeout=60).content
        assert len(body) < 5_000 < len(requests.get(large, timeout=60).content)
        target = small.split("/", 3)[3]
        raw = f"GET /{target} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        received = exchange(url, raw * 3 + raw.replace(b"HTTP/1.1", b"HTTP/1.0"))
    # waitress's worker threads are named waitress-N; the event loop runs in the helper's
    on_worker = {
        name: {t.startswith("waitress") for n, t in served if n == name} for name, _ in served
    }
    assert on_worker == {"api": {True}, "2024-01-01": {False}, "2024-01-02": {True}}, served
    assert statuses(received) == [200] * 4
    assert received.count(f"Content-Length: {len(body)}\r\n".encode()) == 4
    assert received.count(body) == 4


def dying_listings(resolve):
    """The real handler, whose process exits in the middle of a listing with ``prefix=die``
    (a Lambda runtime that crashes)."""
    real = make_handler(resolve)

    def handler(event, context):
        if event["queryStringParameters"] == {"prefix": "die"}:
            os._exit(1)
        return real(event, context)

    return handler


def test_a_worker_that_dies_mid_call_is_a_502_and_is_replaced(tmp_path):
    """Lambda reports a runtime that exits mid-invocation as a failed call, which API Gateway
    answers 502; the next request runs in a new worker (here the only one)."""
    with serving(tmp_path / "data", handler_factory=dying_listings, workers=1) as url:
        assert requests.get(f"{url}/dataframes", timeout=60).json() == []
        died = requests.get(f"{url}/dataframes?prefix=die", timeout=60)
        assert died.status_code == 502 and died.json() == {"message": "Internal server error"}
        assert [requests.get(f"{url}/dataframes", timeout=60).status_code for _ in range(3)] == [
            200
        ] * 3
