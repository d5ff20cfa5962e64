"""GETs of chunk files by URL (presigned S3 URLs, ``pandasdb serve``'s ``/_blobs/``): a large
read fetches hundreds of them from its threads, so each must cost little.

``requests`` spends about a millisecond of Python per call on work a chunk GET does not
need (environment proxies looked up again, cookies, hooks, settings merged), under the GIL
that the read's decoding threads need too: 365 files fetched on 8 threads took 0.3-0.6 s
through a ``requests.Session`` and 0.1-0.3 s through one ``urllib3.PoolManager``
(``pandasdb serve`` on the same 2 cores). So a GET goes through one pool per process,
with requests' CA bundle (certifi) and the SDK's retry policy, whenever the URL would meet
a plain ``HTTPAdapter`` with no proxy; otherwise (a proxy from the environment, an adapter a
caller mounted, ``requests`` patched by a mock) through the ``requests`` session, as before.
Retries that urllib3 logs name URLs without their query (a presigned URL's signature and
session token).

Example
-------
>>> import requests
>>> session = requests.Session()
>>> session.mount("https://api.test", requests.adapters.BaseAdapter())  # a caller's own
>>> plain_url("https://api.test/_blobs/alice/k", session)
False
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import urlsplit

#: seconds to connect to, and to wait for the answer of, a chunk file's URL
READ_TIMEOUTS = (5.0, 300.0)

#: answers worth another try (S3's 503 SlowDown, a gateway's 502/504), with backoff
RETRIED = (429, 500, 502, 503, 504)


class _NoQuery(logging.Filter):
    """Drops the query of URLs urllib3 logs when it retries: a presigned URL's query holds
    its signature and the caller's session token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                a.split("?", 1)[0] + "?..." if isinstance(a, str) and "?" in a else a
                for a in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_NoQuery())


class FetchFailed(Exception):
    """A URL that could not be fetched: ``reason`` says why (never the URL's query)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@functools.cache
def _pool() -> Any:
    import certifi
    import urllib3

    retry = urllib3.Retry(
        total=3,
        connect=1,
        backoff_factor=0.25,
        status_forcelist=RETRIED,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
    )
    timeout = urllib3.Timeout(connect=READ_TIMEOUTS[0], read=READ_TIMEOUTS[1])
    # as many connections per host as a read's threads (8) and a few more
    return urllib3.PoolManager(maxsize=16, retries=retry, timeout=timeout, ca_certs=certifi.where())


@functools.lru_cache(maxsize=256)
def environ_proxies(scheme: str, host: str, no_proxy: str | None = None) -> dict[str, str]:
    """The proxies the environment gives URLs of ``scheme`` on ``host`` (``requests``' own
    reading of ``HTTPS_PROXY``, ``NO_PROXY``...), read once per host: it walks the whole
    environment, a quarter of a millisecond."""
    import requests.utils

    found: dict[str, str] = requests.utils.get_environ_proxies(f"{scheme}://{host}/", no_proxy)
    return found


def plain_url(url: str, session: Any) -> bool:
    """Whether ``url`` may go through the shared pool: no proxy for its host in the
    environment, ``requests`` is not patched, and ``session`` (a ``requests.Session``, or
    None) would send it through a plain ``HTTPAdapter``, not one a caller mounted."""
    parts = urlsplit(url)
    if environ_proxies(parts.scheme, parts.netloc):
        return False
    from requests.adapters import HTTPAdapter

    if HTTPAdapter.send.__module__ != "requests.adapters":
        return False  # requests is instrumented (a test's mock, such as moto's): use it
    if session is None:
        return True
    return type(session.get_adapter(url)) is HTTPAdapter and not session.proxies


def get(url: str, session: Any = None) -> bytes:
    """The body at ``url``; :class:`FetchFailed` for a refused connection or an answer of
    400 or more (after the retries of :data:`RETRIED`)."""
    if plain_url(url, session):
        import urllib3

        try:
            response = _pool().request("GET", url, preload_content=True)
        except urllib3.exceptions.HTTPError as exc:
            raise FetchFailed(str(getattr(exc, "reason", None) or type(exc).__name__)) from None
        status, body = response.status, response.data
    else:
        import requests

        try:
            answer = (session or requests).get(url, timeout=READ_TIMEOUTS)
        except requests.RequestException as exc:
            reason = getattr(exc.args[0] if exc.args else None, "reason", None) or type(exc)
            raise FetchFailed(str(reason)) from None
        status, body = answer.status_code, answer.content
    if status >= 400:
        raise FetchFailed(f"HTTP {status}", status)
    return body
