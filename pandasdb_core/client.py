"""The SDK: ``connect(url, token=...)`` gives the store's methods over the HTTP API.

Frames travel as parquet carrying their schema, so pandas dtypes, categories and the index
survive exactly. Uploads and results too large for API Gateway and Lambda go through
presigned URLs by themselves. 429 and 5xx answers and dropped connections are retried with
backoff, writes too: every upload, replace and delete_rows carries an ``idempotency_key`` (one
is made when none is given), so a repeated request commits at most once. Errors raise the same
exceptions as the local store.

Example
-------
>>> import pandasdb_core as pdb
>>> db = pdb.connect("http://127.0.0.1:8000", token=None)
>>> db.url
'http://127.0.0.1:8000'
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any, Literal
from urllib.parse import urlsplit

import polars as pl
import requests
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from . import errors, reading, snapshot, streaming, url_fetch
from . import progress as progress_policy
from .conversion import PreparedFrame, to_polars
from .frame_store import Edit, FrameStore
from .http_routes import ROUTES_BY_NAME, read_path
from .operations import (
    CompactOptions,
    DatesQuery,
    DeleteRequest,
    FrameRef,
    ListQuery,
    OutputOptions,
    ReadQuery,
    ReplaceOptions,
    UploadOptions,
)
from .reading import Fetch, ReadFiles
from .records import ChunkFile, Commit
from .results import FrameList, VersionList
from .schema import Schema
from .sdk_auth import StaticToken, TokenSource, connection_auth
from .snapshot import Snapshot
from .wire import (
    HEAD_ALLOWANCE,
    MAX_STAGED_BYTES,
    MEDIA_TYPES,
    PRESIGN_SECONDS,
    fits_inline,
    frame_to_bytes,
    head_too_large,
    parquet_schema,
)

_ERRORS: dict[str, type[errors.PandasDBError]] = {
    cls.code: cls
    for cls in (
        errors.InvalidName,
        errors.InvalidArgument,
        errors.InvalidPartition,
        errors.SchemaMismatch,
        errors.VersionNotFound,
        errors.CommitConflict,
        errors.StoreUnavailable,
        errors.Unauthorized,
        errors.PayloadTooLarge,
        errors.ChunkMissing,
        errors.ChunkCorrupt,
    )
}
PROGRESS_BYTES = 8 * 1024 * 1024
#: pieces of an upload session in flight at once
PIECE_WORKERS = 4
#: the parquet compression of a large frame's pieces (staged by presigned URL): lz4, whose
#: encoding and decoding take less of the client's and the function's CPU than zstd's
#: (see :func:`pandasdb_core.wire.frame_to_bytes`)
WIRE_CODEC_STAGED: Literal["zstd", "lz4"] = "lz4"
#: staging URLs of an upload session's large pieces asked for ahead
STAGING_AHEAD = 2 * PIECE_WORKERS
#: retries of a connection that could not be made (refused, unresolvable, timed out)
CONNECT_RETRIES = 1
#: seconds to wait for a connection to be made (the read timeout is ``connect``'s ``timeout``)
CONNECT_TIMEOUT = 5.0
#: threads fetching the chunk files of a large read by presigned URL
FETCH_WORKERS = 8


class _ProgressReader(io.BytesIO):
    """A body that advances a progress bar as requests reads it."""

    def __init__(self, data: bytes, bar: Any) -> None:
        super().__init__(data)
        self._bar = bar

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._bar.update(len(chunk))
        if not chunk:
            self._bar.close()
        return chunk

    def __len__(self) -> int:
        return len(self.getbuffer())


class _Session(requests.Session):
    """A ``requests`` session that looks up the environment's proxies (``HTTPS_PROXY``,
    ``NO_PROXY``...) once per host, not for each request: ``requests`` walks the whole
    environment twice per request, half a millisecond, a tenth of a one-day read."""

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        merged = dict(proxies or {})
        found = url_fetch.environ_proxies(parts.scheme, parts.netloc, merged.get("no_proxy"))
        for key, value in found.items():
            merged.setdefault(key, value)
        if verify is True or verify is None:  # as requests does, and curl
            verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
            )
        return {
            "proxies": merge_setting(merged, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


def _session(methods: frozenset[str], statuses: Sequence[int], retries: int) -> requests.Session:
    """A session retrying ``statuses`` and connection failures with backoff, also a request
    that was sent but got no answer (every write carries an idempotency key)."""
    session = _Session()
    retry = Retry(
        total=retries,
        # a refused or failed connection is retried once, at once: nothing listening is not
        # worth waiting for (five backoffs took 7.5 s to say so)
        connect=min(retries, CONNECT_RETRIES),
        backoff_factor=0.25,
        status_forcelist=list(statuses),
        allowed_methods=methods,
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _reason(exc: requests.RequestException) -> BaseException | None:
    """The urllib3 error behind a requests connection failure, if it names one."""
    return getattr(exc.args[0] if exc.args else None, "reason", None)


def _retried(response: requests.Response) -> bool:
    """Whether ``response`` answers a retry: an earlier attempt was sent (its answer a 5xx,
    or lost with its connection)."""
    retries = getattr(response.raw, "retries", None)
    return bool(getattr(retries, "history", ()))


def _was_sent(exc: requests.RequestException) -> bool:
    """Whether a failed request reached the server (it failed after connecting)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    return not isinstance(_reason(exc), NewConnectionError | ConnectTimeoutError)


class RemoteStore(FrameStore):
    """The store's methods over HTTP (see :func:`connect`): those of
    :class:`~pandasdb_core.frame_store.FrameStore`, whose primitives here are requests to the
    API (large uploads go as upload sessions, large results as chunk manifests)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 300.0,
        retries: int = 5,
        progress: bool | None = None,
        auth: TokenSource | None = None,
    ) -> None:
        self.url = api_url(url)
        self.timeout = timeout
        self.progress = progress
        #: who the token says the caller is (shown by ``repr``; None if it does not say)
        self.user = auth.user if auth is not None else token_user(token) if token else None
        self._has_token = bool(token) or auth is not None
        #: where the Authorization header comes from: a given token, or a Cognito sign-in
        if token is not None and (not isinstance(token, str) or not token.isprintable()):
            # a line break would end the Authorization header (requests refuses it with its
            # own error); the token itself is never shown
            raise errors.InvalidArgument(
                "token: must be text without line breaks or control characters"
            )
        self._auth: TokenSource = auth if auth is not None else StaticToken(token)
        # POST too: an upload, replace or delete_rows names itself by its idempotency key, so
        # the server commits a repeat once; staging and compact are safe to repeat as they are
        methods = frozenset({"GET", "PUT", "DELETE", "POST"})
        self._session = _session(methods, (429, 500, 502, 503, 504), retries)

    def __repr__(self) -> str:
        parts = urlsplit(self.url)
        where = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no userinfo
        who = f" as {self.user}" if self.user else (" with a token" if self._has_token else "")
        return f"<pandasdb RemoteStore {where}{who}>"

    # plumbing --------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        name: str | None = None,
        gone_is_done: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """One request to the API; an error answer raises its exception. ``gone_is_done``
        (a delete): a 404 ``not_found`` to a request that was retried is the answer of
        success, since an earlier attempt, whose answer was lost, deleted it."""
        extra = kwargs.pop("headers", {})
        if kwargs.get("params"):
            kwargs["params"] = _compact(kwargs["params"])
        url = self.url + path
        prepared = self._prepare(method, url, {**self._auth.headers(), **extra}, kwargs)
        self._check_head(prepared)
        response = self._send(prepared, **kwargs)
        if response.status_code == 401 and self._auth.refresh():
            # a refused token is renewed once (a request refused with 401 did not run)
            prepared = self._prepare(method, url, {**self._auth.headers(), **extra}, kwargs)
            response = self._send(prepared, **kwargs)
        if response.status_code == 504 and method == "POST":
            # API Gateway stopped waiting at 29 s; the function may have gone on and committed
            key = (kwargs.get("params") or {}).get("idempotency_key")
            again = (
                f"repeat it with idempotency_key={key!r}, which commits at most once"
                if (key)
                else "check versions() before repeating it"
            )
            raise errors.StoreUnavailable(
                f"{self.url}{path}: the gateway timed out after the request was sent, so it "
                f"may have committed: {again}"
            )
        if gone_is_done and response.status_code == 404 and _retried(response):
            with contextlib.suppress(ValueError, AttributeError):
                if response.json().get("code") == "not_found":
                    return response
        if response.status_code >= 400:
            raise self._error(response, name, api=self.url)
        return response

    def _prepare(
        self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> requests.PreparedRequest:
        """The request as this session sends it (``kwargs``: its ``params`` and ``data``),
        prepared once: for its measure (:meth:`_check_head`) and for sending."""
        request = requests.Request(
            method, url, headers=headers, params=kwargs.get("params"), data=kwargs.get("data")
        )
        return self._session.prepare_request(request)

    def _check_head(self, prepared: requests.PreparedRequest) -> None:
        """Refuse, before sending it, a request whose URL or head API Gateway would refuse
        (414/431 over its 10,240 bytes; see :func:`pandasdb_core.wire.head_too_large`):
        measured as this session sends it, keeping ``HEAD_ALLOWANCE`` for what is added
        on the way. The API takes a read's filters only in its query, so there is no other
        form to send them in: the error names the parameter and the limit."""
        sent = [("Host", urlsplit(self.url).netloc), *prepared.headers.items()]
        method = prepared.method or "GET"
        refused = head_too_large(method, prepared.path_url, sent, allowance=HEAD_ALLOWANCE)
        if refused is not None:
            raise errors.InvalidArgument(refused.message)

    def _send(
        self, prepared: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        """One prepared request with the retry policy of its method (``kwargs``: the
        ``params`` it was prepared with, for the hint of an error); connection failures
        become :class:`StoreUnavailable`."""
        method, url = prepared.method or "GET", prepared.url or ""
        try:
            timeouts = (min(CONNECT_TIMEOUT, self.timeout), self.timeout)
            settings = self._session.merge_environment_settings(url, {}, stream, None, None)
            return self._session.send(prepared, timeout=timeouts, **settings)
        except (requests.ConnectionError, requests.Timeout) as exc:
            key = (kwargs.get("params") or {}).get("idempotency_key")
            hint = (
                f"; it was sent and may have committed: repeat it with idempotency_key={key!r}, "
                "which commits at most once"
                if method == "POST" and key is not None and _was_sent(exc)
                else ""
            )
            # the underlying reason, not the whole error: that repeats the URL with its query,
            # which for a presigned URL holds a signature
            reason = _reason(exc) or exc
            where = url.split("?", 1)[0]
            raise errors.StoreUnavailable(
                f"cannot reach {where} ({method}): {reason}{hint}"
            ) from exc

    def _send_to(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """:meth:`_send` of a request to a presigned URL (no Authorization header: the URL
        is the grant), ``kwargs`` its ``data`` or ``stream``."""
        return self._send(self._prepare(method, url, {}, kwargs), **kwargs)

    @staticmethod
    def _error(response: requests.Response, name: str | None, api: str | None = None) -> Exception:
        """The exception an error answer means; ``api``: the base URL the request went to
        (None: a presigned URL), named when the answer is no pandasdb API's."""
        try:
            body = response.json()
            # "code" since the error field became a sentence; older servers put it in "error"
            code, message = body.get("code") or body["error"], body["message"]
        except (ValueError, KeyError, TypeError, AttributeError):
            code, message = "", response.text[:300] or response.reason
        if response.status_code == 401:  # also API Gateway's own {"message": "Unauthorized"}
            return errors.Unauthorized(message)
        if code == "not_found" and name is not None:
            return errors.FrameNotFound(name, message=message)
        cls = _ERRORS.get(code)
        if cls is not None:
            return cls(message)
        wrong_path = response.status_code == 404 and code in ("", "no_route")
        # API Gateway's answer to a path that is no resource of the stage
        no_resource = response.status_code == 403 and "Missing Authentication Token" in message
        if api is not None and (wrong_path or no_resource):
            where = response.url.split("?", 1)[0]
            return errors.InvalidArgument(
                f"url: {where} answered HTTP {response.status_code} ({_gist(response)}): "
                f"{api} does not look like the base URL of a pandasdb API; give connect() "
                "the API's URL (the api_url stack output, or http://HOST:PORT of pandasdb serve)"
            )
        return errors.PandasDBError(f"HTTP {response.status_code}: {message}")

    def _bar(self, total: int, label: str) -> Any:
        """A transfer progress bar, or None (small transfers and the progress policy)."""
        if total < PROGRESS_BYTES:
            return None
        return progress_policy.bar(
            total=total, desc=label, unit="B", unit_scale=True, progress=self.progress
        )

    def _body(self, data: bytes, label: str) -> bytes | _ProgressReader:
        bar = self._bar(len(data), label)
        return data if bar is None else _ProgressReader(data, bar)

    # the primitives of FrameStore ----------------------------------------

    def write(self, df: Any, opts: UploadOptions) -> Commit:
        """Carry out an upload described by :class:`UploadOptions` (see :meth:`upload`): in
        one request when it fits, else through an upload session, piece by piece."""
        if streaming.is_stream(df):
            return self._upload_pieces(streaming.pieces(df), opts)
        frame, schema = to_polars(df)
        # sized from a sample first: a frame of several pieces is not encoded whole for nothing
        if next(islice(streaming.wire_slices(frame, schema), 1, None), None) is not None:
            return self._upload_pieces([PreparedFrame(frame, schema)], opts)
        data = frame_to_bytes(frame, "parquet", schema)
        if not fits_inline(data, binary=True):
            return self._upload_pieces([PreparedFrame(frame, schema)], opts)
        response = self._call(
            "POST",
            ROUTES_BY_NAME["upload"].url(),
            params=_keyed(opts).to_query(),
            data=data,
            headers={"Content-Type": MEDIA_TYPES["parquet"]},
        )
        return _commit(_json_of(response))

    def _upload_pieces(self, frames: Any, opts: UploadOptions) -> Commit:
        """An upload session: pieces that each fit one request (piece 0 first, then up to
        ``PIECE_WORKERS`` encoded and sent at once), then one commit, so the function's work
        per request is bounded whatever the frame's size."""
        opened = _json_of(
            self._call("POST", ROUTES_BY_NAME["session_open"].url(), params=_keyed(opts).to_query())
        )
        session = opened["session"]
        try:
            count = self._send_pieces(session, frames)
        except BaseException:
            # no commit was asked for: the session's chunk files go now, not at vacuum's
            # grace (a commit whose answer was lost may have landed, so a failed commit
            # leaves its session alone)
            self._abort(session)
            raise
        commit = ROUTES_BY_NAME["session_commit"].url(session=session)
        return _commit(_json_of(self._call("POST", commit, params={"pieces": count})))

    def _abort(self, session: str) -> None:
        """Abort an upload session, as well as can be: the failure that led here is the
        error the caller sees (an abort that fails leaves the session to vacuum)."""
        with contextlib.suppress(errors.PandasDBError, requests.RequestException):
            self._call("DELETE", ROUTES_BY_NAME["session_abort"].url(session=session))

    def _send_pieces(self, session: str, frames: Any) -> int:
        """Every piece of ``frames`` into upload session ``session``; how many there were.

        A pipeline: this thread encodes the pieces one after the other (polars encodes each
        on its own threads) while up to ``PIECE_WORKERS`` encoded ones are sent, so the
        server writes piece n while piece n + 1 is encoded. Piece 0 must be written alone
        before any other (it fixes the upload's columns; piece 1 is encoded meanwhile), so
        it is kept small: the first rows of a frame sent in large pieces go as a piece of
        their own, and the wait for it is one short request, not the round trip of a staged
        piece. The staging URLs of large pieces are asked for ahead (:class:`_StagingURLs`):
        asked for when a piece was ready, the request waited for a function busy writing
        earlier pieces."""
        route = ROUTES_BY_NAME["session_piece"].url(session=session)
        urls = _StagingURLs(self, STAGING_AHEAD)

        def send(number: int, data: bytes) -> None:
            if fits_inline(data, binary=True):
                headers = {"Content-Type": MEDIA_TYPES["parquet"]}
                self._call("POST", route, params={"piece": number}, data=data, headers=headers)
            else:  # large pieces, or rows wider than the first ones: by presigned URL
                staged = self._stage(data, urls.take())
                self._call("POST", route, params={"piece": number, "staged": staged})

        count = 0
        try:
            with ThreadPoolExecutor(PIECE_WORKERS) as pool:
                first: Future[None] | None = None
                pending: list[Future[None]] = []
                for part, schema, staged in _wire_pieces(frames):
                    if staged:
                        urls.fill()  # while the first pieces are encoded and written
                    codec = WIRE_CODEC_STAGED if staged else "zstd"
                    data = frame_to_bytes(part, "parquet", schema, compression=codec)
                    del part  # a slice of the frame: only its bytes are held from here
                    if first is None:
                        # piece 0 fixes the columns: written alone, while piece 1 is encoded
                        first = pool.submit(send, 0, data)
                    else:
                        first.result()  # the others only once it is written
                        while len(pending) >= PIECE_WORKERS:  # hold at most this many pieces
                            pending.pop(0).result()
                        pending.append(pool.submit(send, count, data))
                    del data
                    count += 1
                    # a failed piece stops the upload now, not after every piece is encoded
                    for future in [f for f in pending if f.done()]:
                        pending.remove(future)
                        future.result()
                if first is not None:  # the only piece
                    first.result()
                for future in pending:
                    future.result()
        finally:
            urls.close()
        if count == 0:
            raise errors.InvalidArgument("dataframe has no rows; nothing to upload")
        return count

    def _staging_url(self) -> dict[str, Any]:
        """A presigned URL to stage data at: the API's ``upload_id``, ``url`` and
        ``expires_in`` (seconds)."""
        answer: dict[str, Any] = _json_of(self._call("POST", ROUTES_BY_NAME["staging"].url()))
        return answer

    def _stage(self, data: bytes, staged: dict[str, Any] | None = None) -> str:
        """PUT ``data`` to a presigned staging URL (``staged``, an answer of
        :meth:`_staging_url`, or a new one); its upload id."""
        staged = staged or self._staging_url()
        put = self._send_to("PUT", staged["url"], data=self._body(data, "uploading"))
        if put.status_code >= 400:
            raise self._error(put, None)
        return str(staged["upload_id"])

    def change(self, options: Edit, df: Any = None) -> Commit:
        """Carry out an edit described by its request type (see :meth:`Store.change`)."""
        route = ROUTES_BY_NAME[options.verb]
        path = route.url(name=options.name)
        if isinstance(options, ReplaceOptions):
            response = self._post_frame(path, _keyed(options), df, name=options.name)
        else:
            keyed = options if isinstance(options, CompactOptions) else _keyed(options)
            response = self._call("POST", path, name=options.name, params=keyed.to_query())
        return _commit(_json_of(response))

    def _post_frame(
        self, path: str, opts: UploadOptions | ReplaceOptions, df: Any, name: str | None = None
    ) -> requests.Response:
        """POST ``df`` as parquet with ``opts`` as query parameters, inline or staged."""
        frame, schema = to_polars(df)
        data = frame_to_bytes(frame, "parquet", schema)
        params = opts.to_query()
        if len(data) > MAX_STAGED_BYTES:
            # refused before it is sent: the API refuses a staged body this large unread
            raise errors.PayloadTooLarge(
                f"{opts.verb}: the frame is {len(data):,} bytes of parquet, over the "
                f"{MAX_STAGED_BYTES:,} one request of the API reads whole: replace a "
                "narrower range per call (each is one commit)"
            )
        if fits_inline(data, binary=True):
            return self._call(
                "POST",
                path,
                name=name,
                params=params,
                data=data,
                headers={"Content-Type": MEDIA_TYPES["parquet"]},
            )
        staged = self._stage(data)
        return self._call("POST", path, name=name, params={**params, "staged": staged})

    def read_frame(self, query: ReadQuery, output: OutputOptions) -> Any:
        """Carry out a :class:`ReadQuery`: the frame in ``output.engine``. A result that fits
        one answer arrives whole; a larger one as the manifest of its chunk files, fetched by
        presigned URL a batch ahead and decoded here (into pandas batch by batch)."""
        answer = self._answer(query)
        if isinstance(answer, ReadFiles):
            return answer.collect(output.engine)
        frame, schema = answer
        return reading.collect([frame], schema, frame.columns, frame.height, output.engine)

    def read(self, query: ReadQuery) -> tuple[pl.DataFrame, Schema]:
        """Carry out a :class:`ReadQuery`: the frame as stored and its schema (see
        :meth:`Store.read`)."""
        answer = self._answer(query)
        if isinstance(answer, ReadFiles):
            return answer.collect("stored"), answer.plan.head.schema
        return answer

    def _answer(self, query: ReadQuery) -> ReadFiles | tuple[pl.DataFrame, Schema]:
        """The API's answer to a read: the frame as stored and its schema, or, for a large
        result, the read of the chunk files its manifest lists."""
        response = self._call(
            "GET",
            read_path(query.name),
            name=query.name,
            params={**query.to_query(), "format": "parquet", "chunked": "true"},
            # API Gateway answers binary only when the first Accept type is a binary media
            # type; with */* the client would get base64 text
            headers={"Accept": MEDIA_TYPES["parquet"]},
            stream=True,
        )
        data = self._download(response)
        if data[:4] != b"PAR1" and data[:1] != b"{":  # a parquet file, or a manifest
            raise _not_pandasdb(response)
        if data[:1] == b"{":
            # a large result: the chunk files' manifest (inline, or staged when it is itself
            # too large for one response), fetched and decoded here; or the URL of a staged
            # result, as a browser is answered (a server may take a proxy's Origin for one)
            body = json.loads(data)
            if body.get("delivery") == "url":
                data = self._fetched(body["url"])
            else:
                return self._reader(Snapshot.from_json(body["snapshot"]), query)
        schema = parquet_schema(data) or {"columns": [], "index": []}
        return pl.read_parquet(io.BytesIO(data)), schema

    def read_files(self, query: ReadQuery) -> ReadFiles:
        """The read of ``query`` over the chunk files of the snapshot the API answers, fetched
        by presigned URL on :data:`FETCH_WORKERS` threads (URLs that expire are renewed)."""
        return self._reader(self.snapshot_of(query), query)

    def _reader(self, snap: Snapshot, query: ReadQuery) -> ReadFiles:
        return snapshot.reader(snap, query, self.fetcher(snap, query), workers=FETCH_WORKERS)

    def snapshot_of(self, query: ReadQuery) -> Snapshot:
        """The committed chunk files a read fetches, as presigned URLs valid for 15 minutes,
        with the stored schema (see :meth:`files`)."""
        route = ROUTES_BY_NAME["files"].url(name=query.name)
        response = self._call("GET", route, name=query.name, params=query.to_query())
        return Snapshot.from_json(self._json(response))

    def fetcher(self, snap: Snapshot, query: ReadQuery, *, shipped: bool = False) -> Fetch:
        """Fetches the files of ``snap`` by their presigned URLs on this client's session,
        renewing URLs that expire (:class:`_Presigned`); ``shipped`` (Dask workers in other
        processes): a plain function of the URL."""
        return snapshot.read_file if shipped else _Presigned(self, snap, query)

    def _json(self, response: requests.Response) -> Any:
        """An answer's JSON. A result too large for one response arrives staged: a 303 that
        ``requests`` follows, or (to a request with an ``Origin``) a 200 naming its URL."""
        body = _json_of(response)
        if isinstance(body, dict) and body.get("delivery") == "url" and "url" in body:
            return json.loads(self._fetched(body["url"]))
        return body

    def _fetched(self, url: str) -> bytes:
        """The bytes at a presigned URL (no Authorization header: the URL is the grant)."""
        response = self._send_to("GET", url, stream=True)
        if response.status_code >= 400:
            raise self._error(response, None)
        return self._download(response)

    def _download(self, response: requests.Response) -> bytes:
        bar = self._bar(int(response.headers.get("Content-Length") or 0), "downloading")
        if bar is None:
            return response.content
        buf = io.BytesIO()
        with bar:
            for chunk in response.iter_content(1 << 20):
                buf.write(chunk)
                bar.update(len(chunk))
        return buf.getvalue()

    def frames(self, query: ListQuery) -> FrameList:
        """Frames whose name starts with the query's prefix (see :meth:`list`)."""
        rows = self._call("GET", ROUTES_BY_NAME["list"].url(), params=query.to_query())
        return FrameList.from_json(self._json(rows))

    def history(self, ref: FrameRef) -> VersionList:
        """The version history of a frame (see :meth:`versions`)."""
        route = ROUTES_BY_NAME["versions"].url(name=ref.name)
        rows = self._call("GET", route, name=ref.name)
        return VersionList.from_json(self._json(rows), name=ref.name)

    def days(self, query: DatesQuery) -> list[dt.date]:
        """The days a Date layout of a frame holds rows for (see :meth:`dates`)."""
        route = ROUTES_BY_NAME["dates"].url(name=query.name)
        days = self._json(self._call("GET", route, name=query.name, params=query.to_query()))
        return [dt.date.fromisoformat(day) for day in days]

    def write_manifests(self, ref: FrameRef) -> list[str]:
        """Write the symlink manifests of a frame's latest version beside its data; their
        keys in the caller's storage (see :meth:`manifest`)."""
        route = ROUTES_BY_NAME["manifest"].url(name=ref.name)
        return list(_json_of(self._call("POST", route, name=ref.name))["manifests"])

    def remove(self, request: DeleteRequest) -> None:
        """Delete a frame, or only one external key's batches (see :meth:`delete`)."""
        route = ROUTES_BY_NAME["delete"].url(name=request.name)
        self._call("DELETE", route, name=request.name, params=request.to_query(), gone_is_done=True)


class _Expired(Exception):
    """A presigned URL refused (403): expired, as they do after 15 minutes."""


class _Presigned:
    """Fetches the files of a snapshot the API answered, by their presigned URLs. A URL
    refused with 403 (S3's ``Request has expired`` after 15 minutes, as a slow
    ``iter_batches`` consumer outlives them) renews the snapshot once, for the same version
    (``as_of`` the version being read), and the fetch goes on from that file; a URL refused
    again raises. Safe from the threads of a parallel read: one renewal for all of them."""

    def __init__(self, store: RemoteStore, snap: Snapshot, query: ReadQuery) -> None:
        self.store = store
        self.query = query
        self.version = snap.version
        #: each file of the first snapshot by identity -> its position (URLs change, not files)
        self._position = {id(f): i for i, f in enumerate(snap.files)}
        self._files = snap.files
        self._generation = 0
        self._lock = threading.Lock()

    def __call__(self, file: ChunkFile) -> bytes:
        position = self._position[id(file)]
        generation, current = self._generation, self._files[position]
        try:
            return self._get(current)
        except _Expired:
            self._renew(generation)
        try:
            return self._get(self._files[position])
        except _Expired:
            raise errors.StoreUnavailable(
                f"chunk file {current.uri.split('?', 1)[0]}: its presigned URL was refused "
                "(HTTP 403) again after the snapshot was renewed"
            ) from None

    def _get(self, file: ChunkFile) -> bytes:
        try:
            return snapshot.read_file(file, self.store._session)
        except errors.StoreUnavailable as exc:
            if "HTTP 403" in str(exc):
                raise _Expired() from None
            raise

    def _renew(self, generation: int) -> None:
        with self._lock:
            if self._generation != generation:
                return  # another thread renewed the URLs meanwhile
            renewed = self.store.snapshot_of(self.query.model_copy(update={"as_of": self.version}))
            same = [_identity(f) for f in renewed.files] == [_identity(f) for f in self._files]
            if renewed.version != self.version or not same:
                raise errors.StoreUnavailable(
                    f"frame {self.query.name!r} version {self.version}: its files changed "
                    "while it was read (vacuum retired the version?); read again"
                )
            self._files = renewed.files
            self._generation += 1


def _identity(file: ChunkFile) -> tuple[Any, ...]:
    """A chunk file, whatever URL names it."""
    return (file.layout, file.lo, file.hi, file.rows, file.bytes, file.version, file.sha256)


def api_url(url: str) -> str:
    """``url`` as the SDK's base URL (no trailing ``/``), or :class:`InvalidArgument` when it
    is not an ``http://`` or ``https://`` URL with a host.

    Example
    -------
    >>> api_url("http://127.0.0.1:8000/")
    'http://127.0.0.1:8000'
    >>> api_url("127.0.0.1:8000")
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.InvalidArgument: url: '127.0.0.1:8000' is not an http:// or https:// URL...
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise errors.InvalidArgument(
            f"url: {url!r} is not an http:// or https:// URL; give the API's base URL, e.g. "
            "http://127.0.0.1:8000 (pandasdb serve) or the api_url stack output"
        )
    return url.rstrip("/")


def _not_pandasdb(response: requests.Response) -> errors.InvalidArgument:
    """The error of a success answer that no pandasdb API gives (a web page answering every
    path with 200): the URL given to connect() is likely another server's."""
    where = response.url.split("?", 1)[0]
    return errors.InvalidArgument(
        f"url: {where} answered HTTP {response.status_code} ({_gist(response)}), which is no "
        "pandasdb API's answer: give connect() the API's URL (the api_url stack output, or "
        "http://HOST:PORT of pandasdb serve)"
    )


def _json_of(response: requests.Response) -> Any:
    """A success answer's JSON; one that is not JSON is :func:`_not_pandasdb`."""
    try:
        return response.json()
    except ValueError:
        raise _not_pandasdb(response) from None


def _gist(response: requests.Response) -> str:
    """What an answer that is no pandasdb error says, in a few words."""
    kind = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message") or body.get("error"), str):
        return repr((body.get("message") or body.get("error"))[:80])
    return f"{kind or 'no content type'}, {len(response.content):,} bytes"


def _compact(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as the API reads them: a list of ids as one comma-separated value
    (``partition_value=1,2``, which the API reads as the repeated form; some 14 bytes fewer
    per id, so a longer list fits API Gateway's 10,240-byte URL; ids are integers, never
    holding a comma), and columns as a JSON array when a name holds a comma (the API splits
    other ``columns`` values at commas).

    Example
    -------
    >>> _compact({"partition_value": ["1", "2"], "columns": ["a", "b"]})
    {'partition_value': '1,2', 'columns': ['a', 'b']}
    >>> _compact({"columns": ["v,id", "x"]})
    {'columns': '["v,id", "x"]'}
    """
    columns = params.get("columns")
    names = [columns] if isinstance(columns, str) else list(columns or ())
    if any("," in name for name in names):
        params = {**params, "columns": json.dumps(names)}
    ids = params.get("partition_value")
    if isinstance(ids, list | tuple):
        return {**params, "partition_value": ",".join(str(i) for i in ids)}
    return params


def _keyed(opts: Any) -> Any:
    """``opts`` with an idempotency key: the caller's, or a new one (so the retries of this
    one call commit once)."""
    if opts.idempotency_key is not None:
        return opts
    return opts.model_copy(update={"idempotency_key": uuid.uuid4().hex})


def _wire_pieces(frames: Any) -> Iterator[tuple[pl.DataFrame, Schema, bool]]:
    """The pieces an upload session sends of ``frames`` (frames or pieces of a stream), each
    with its schema and whether it is one of a large frame's, which are staged by presigned
    URL: slices that fit one request, or, for a large frame, larger slices (fewer
    requests). The first of these large slices is cut in two: its first rows, about one
    request's worth (``WIRE_PIECE_BYTES``), are piece 0, which the server writes before any
    other, so the others wait only for a short request.

    Example
    -------
    >>> frame = pl.DataFrame({"a": range(1_000)})
    >>> [(len(part), staged) for part, _, staged in _wire_pieces([frame])]
    [(1000, False)]
    """
    first = True
    for piece in frames:
        frame, schema = to_polars(piece)
        large = frame.estimated_size() > 4 * streaming.PIECE_MEMORY
        target = streaming.STAGED_PIECE_BYTES if large else streaming.WIRE_PIECE_BYTES
        for part in streaming.wire_slices(frame, schema, target):
            if first and large:
                head = max(1, part.height * streaming.WIRE_PIECE_BYTES // target)
                if head < part.height:
                    yield part.head(head), schema, large
                    part = part.slice(head)
            first = False
            yield part, schema, large


class _StagingURLs:
    """Presigned staging URLs asked for ahead of the pieces that need them, ``depth`` at
    most, on a thread of their own: a piece ready to go takes one at once. Asked for when
    a piece is ready, the request waited for a function (one of ``pandasdb serve``'s few
    worker processes) busy writing earlier pieces, while the server's other work waited for
    the piece. A URL is taken only within the first half of its lifetime; one asked for
    ahead that fails is asked for again when needed (that error is the caller's)."""

    def __init__(self, store: RemoteStore, depth: int) -> None:
        self._store = store
        self._depth = depth
        #: (monotonic time after which it is not taken, the API's answer)
        self._ready: list[tuple[float, dict[str, Any]]] = []
        self._asked = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _ask(self) -> None:
        try:
            answer = self._store._staging_url()
        except Exception:  # asked for again, in the caller's thread, when one is needed
            answer = None
        with self._lock:
            self._asked -= 1
            if answer is not None:
                seconds = answer.get("expires_in")
                fresh = float(PRESIGN_SECONDS if seconds is None else seconds) / 2
                self._ready.append((time.monotonic() + fresh, answer))

    def fill(self) -> None:
        """Ask for URLs until ``depth`` are ready or asked for."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="pandasdb-staging")
            wanted = self._depth - len(self._ready) - self._asked
            self._asked += max(0, wanted)
        for _ in range(wanted):
            self._pool.submit(self._ask)

    def take(self) -> dict[str, Any]:
        """A fresh URL: one asked for ahead, or a new one; another is asked for ahead."""
        now = time.monotonic()
        with self._lock:
            self._ready = [(until, answer) for until, answer in self._ready if until > now]
            found = self._ready.pop(0)[1] if self._ready else None
        if self._pool is not None:
            self.fill()
        return found if found is not None else self._store._staging_url()

    def close(self) -> None:
        """No more URLs: those not asked for yet are not (unused ones stage nothing)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _commit(body: dict[str, Any]) -> Commit:
    """The Commit an upload's or an edit's answer describes (an upload's ``chunks`` is the
    list of chunk files; servers before it, and edits, answer their count there)."""
    listed = isinstance(body["chunks"], list)
    files = body["chunks"] if listed else []
    return Commit(
        name=body["name"],
        version=body["version"],
        rows=body["rows"],
        chunks=body.get("chunk_count", len(files) if listed else body["chunks"]),
        keys=tuple(body["keys"]),
        bytes=body["bytes"],
        chunk_rows=tuple(f["rows"] for f in files),
        external_key=body.get("external_key"),
        rows_removed=body.get("rows_removed", 0),
        chunks_dropped=body.get("chunks_dropped", 0),
    )


def token_user(token: str) -> str | None:
    """The user a JWT (a Cognito ID token) names, read from its claims without checking
    them (the server does); None for an opaque token. Only for showing who is connected.

    Example
    -------
    >>> claims = base64.urlsafe_b64encode(b'{"cognito:username": "alice"}').decode()
    >>> token_user(f"h.{claims.rstrip('=')}.s"), token_user("token-alice-1")
    ('alice', None)
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    found = [claims.get(k) for k in ("cognito:username", "username", "email")]
    return next((f for f in found if isinstance(f, str) and f), None)


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
    profile: str | None = None,
    timeout: float = 300.0,
    retries: int = 5,
    progress: bool | None = None,
) -> RemoteStore:
    """Connect to a pandasdb HTTP API (API Gateway, or ``pandasdb serve``).

    Parameters
    ----------
    url
        The API's base URL, e.g. the ``api_url`` stack output or ``http://127.0.0.1:8000``.
    token
        A bearer token: a Cognito ID token on AWS, or a users-file token locally.
    user, password
        Sign in to the API's Cognito user pool (named by its ``GET /auth/config``) instead
        of giving a token; the ID token is then refreshed by itself. Without ``password``,
        ``PANDASDB_PASSWORD`` or a prompt gives it.
    profile
        A sign-in saved by ``pandasdb login --profile NAME`` (the ``default`` one when neither
        ``url`` nor a token is given); ``url`` may then be left out.
    timeout, retries
        Seconds to wait for an answer (a connection has 5 s to be made); retries on 429 and
        5xx with backoff. A connection that cannot be made (nothing listens, unknown host)
        is retried once, at once, then raises :class:`StoreUnavailable` naming the URL.
    progress
        Progress bars for transfers over 8 MB: None (default) shows them when a person is
        watching (a notebook or a terminal, not CI); True or False forces.

    Examples
    --------
    >>> import pandasdb_core as pdb
    >>> pdb.connect("http://127.0.0.1:8000/")
    <pandasdb RemoteStore http://127.0.0.1:8000>
    """
    if url is not None:
        api_url(url)  # before signing in with it: a URL without http:// is refused clearly
    url, auth = connection_auth(url, token, user, password, profile)
    return RemoteStore(url, token, timeout=timeout, retries=retries, progress=progress, auth=auth)
