"""Chunk files fetched by URL (a large read's manifest): through one shared urllib3 pool,
with the SDK's retries, unless a proxy or a caller's own adapter must see the request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from pandasdb_core import url_fetch


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[str]]]:
    """Answers ``/busy`` with 503 once then the body, ``/gone`` with 404, ``/ok`` with it."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.path)
            status = 200
            if self.path == "/gone" or (self.path == "/busy" and seen.count("/busy") == 1):
                status = 404 if self.path == "/gone" else 503
            body = b"chunk bytes" if status == 200 else b"no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()


def test_a_busy_answer_is_retried_and_an_error_answer_names_its_status(flaky_server):
    url, seen = flaky_server
    assert url_fetch.get(f"{url}/ok") == b"chunk bytes"
    assert url_fetch.get(f"{url}/busy") == b"chunk bytes"  # S3's 503 SlowDown, retried
    assert seen.count("/busy") == 2
    with pytest.raises(url_fetch.FetchFailed) as failed:
        url_fetch.get(f"{url}/gone")
    assert failed.value.status == 404 and failed.value.reason == "HTTP 404"


def test_a_refused_connection_fails_with_its_reason_and_no_query():
    with pytest.raises(url_fetch.FetchFailed) as failed:
        url_fetch.get("http://127.0.0.1:9/k?X-Amz-Signature=secret")
    assert failed.value.status is None and "secret" not in str(failed.value)


def test_a_proxy_or_a_callers_adapter_gets_the_request(flaky_server, monkeypatch):
    """A proxy from the environment (``HTTP_PROXY``) and an adapter the caller mounted on
    the SDK's session are honoured: such URLs go through ``requests``."""
    url, seen = flaky_server
    session = requests.Session()
    assert url_fetch.plain_url(f"{url}/ok", session)

    class Counting(requests.adapters.HTTPAdapter):
        sent = 0

        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            Counting.sent += 1
            return super().send(request, **kwargs)

    session.mount(url, Counting())
    assert not url_fetch.plain_url(f"{url}/ok", session)
    assert url_fetch.get(f"{url}/ok", session) == b"chunk bytes" and Counting.sent == 1

    url_fetch.environ_proxies.cache_clear()
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        assert not url_fetch.plain_url("http://bucket.example/k", None)
    finally:
        url_fetch.environ_proxies.cache_clear()


def test_retries_are_logged_without_the_urls_query(caplog):
    """urllib3 logs each retry with its URL: a presigned URL's query (signature, session
    token) never reaches the log."""
    with (
        caplog.at_level("WARNING", logger="urllib3.connectionpool"),
        pytest.raises(url_fetch.FetchFailed),
    ):
        url_fetch.get("http://127.0.0.1:9/k?X-Amz-Security-Token=secret-token")
    assert caplog.records, "the retry was logged"
    assert all("secret-token" not in r.getMessage() for r in caplog.records)


def test_the_sdk_reads_the_environments_proxies_once_per_host(open_server, monkeypatch):
    """requests reads the proxies of the environment for each request (half a millisecond,
    a tenth of a one-day read); the SDK's session reads them once per host, and still uses
    them: a proxy set for a host, and NO_PROXY, apply as requests applies them."""
    import pandasdb_core as pdb

    calls: list[str] = []
    real = requests.utils.get_environ_proxies

    def counted(url: str, no_proxy: str | None = None) -> dict[str, str]:
        calls.append(url)
        return real(url, no_proxy)

    monkeypatch.setattr(requests.utils, "get_environ_proxies", counted)
    url_fetch.environ_proxies.cache_clear()
    try:
        db = pdb.connect(open_server.url)
        for _ in range(3):
            db.list()
        assert len(calls) == 1, calls
        monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
        monkeypatch.setenv("NO_PROXY", "skipped.example")
        plain = requests.Session()
        proxied = {}
        for host in ("api.example", "skipped.example"):
            ours = db._session.merge_environment_settings(f"http://{host}/", {}, False, None, None)
            assert ours == plain.merge_environment_settings(
                f"http://{host}/", {}, False, None, None
            )
            proxied[host] = ours["proxies"].get("http")
        assert proxied == {"api.example": "http://proxy.invalid:3128", "skipped.example": None}
    finally:
        url_fetch.environ_proxies.cache_clear()
