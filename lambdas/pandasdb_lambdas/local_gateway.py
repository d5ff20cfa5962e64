"""What API Gateway does between a client and the function, for ``pandasdb serve``.

A REST API with a Lambda proxy integration turns each HTTP request into a proxy event, calls
the function, and turns its proxy response back into HTTP. On the way it applies rules that
the function never sees: payload limits, binary media types, the integration timeout, and its
own "gateway responses" (401, 413, 502, 504) with the CORS headers the stack gives them.
``pandasdb serve`` applies the same rules (unless ``--no-gateway-rules``), so a client tested
against it meets what AWS does. Each rule below names the AWS document it follows.

Example
-------
>>> first_accept("application/vnd.apache.parquet;q=0.9, */*")
'application/vnd.apache.parquet'
>>> is_binary_media("application/octet-stream"), is_binary_media("*/*")
(True, False)
"""

from __future__ import annotations

import base64
import fnmatch
import json
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pandasdb_core.wire import error_body, head_too_large

#: "Payload size: 10 MB" for REST APIs (API Gateway quotas, "Quotas for configuring and
#: running a REST API": https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html)
GATEWAY_MAX_REQUEST = 10 * 1024 * 1024
#: "Invocation payload (request and response): 6 MB each for synchronous invocations" (Lambda
#: quotas: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). Lambda
#: measures the JSON it carries: the whole proxy event, with binary bodies in base64, and
#: refuses requests over 6,291,456 bytes (RequestEntityTooLargeException) and responses over
#: 6,291,556 (Function.ResponseSizeTooLarge, the figure its error message names).
LAMBDA_MAX_REQUEST = 6 * 1024 * 1024
LAMBDA_MAX_RESPONSE = 6 * 1024 * 1024 + 100
#: "Maximum integration timeout: 50 milliseconds - 29 seconds" (API Gateway quotas, as above)
INTEGRATION_TIMEOUT = 29.0
#: the stack's ``binaryMediaTypes`` (``infra/api.py`` BINARY_TYPES; a test keeps them equal)
BINARY_MEDIA_TYPES = ("application/vnd.apache.parquet", "application/octet-stream")
#: the headers a browser may send, as the function's CORS configuration allows them
CORS_ALLOW_HEADERS = "Authorization,Content-Type,Accept"
CORS_ALLOW_METHODS = "GET,POST,PUT,DELETE,OPTIONS"
#: hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, never to a proxied response
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class HttpAnswer:
    """One HTTP response: status, headers (repeatable) and body."""

    status: int
    headers: Headers
    body: bytes

    def status_line(self) -> str:
        """``"404 Not Found"``, as WSGI's ``start_response`` wants it.

        Example
        -------
        >>> HttpAnswer(504, [], b"").status_line()
        '504 Gateway Timeout'
        """
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Unknown"
        return f"{self.status} {phrase}"


class BodyNotText(ValueError):
    """A request body that is neither binary by its type nor UTF-8 text."""


class BodyNotDecoded(ValueError):
    """A request body whose ``Content-Encoding`` API Gateway does not decode, or that is not
    encoded as that header says (415), or that decodes to more than the limit (413:
    ``status``)."""

    def __init__(self, message: str, status: int = 415) -> None:
        super().__init__(message)
        self.status = status


#: the content codings API Gateway decodes in a request ("Content codings supported by API
#: Gateway", in "Payload compression for REST APIs":
#: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-enable-compression.html)
REQUEST_CODINGS = ("gzip", "deflate", "identity")


def decoded_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as the function receives it: API Gateway decodes a request body whose
    ``Content-Encoding`` is one it supports, and answers 415 Unsupported Media Type when the
    coding is another or the body is not encoded with it ("Call an API method with a
    compressed payload":
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-make-request-with-compressed-payload.html).
    Several codings (``gzip, identity``) are undone last first. A body that decodes to more
    than ``limit`` bytes raises with status 413 as soon as it passes it, so a small
    compressed body never becomes gigabytes in memory.

    Example
    -------
    >>> import gzip
    >>> decoded_body(gzip.compress(b"a,b\\n"), "gzip", 100)
    b'a,b\\n'
    >>> decoded_body(b"a,b\\n", None, 100), decoded_body(b"a,b\\n", "Identity", 100)
    (b'a,b\\n', b'a,b\\n')
    >>> decoded_body(b"a", "br", 100)
    Traceback (most recent call last):
    ...
    pandasdb_lambdas.local_gateway.BodyNotDecoded: Content-Encoding 'br' is not one API ...
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in codings:
        if coding not in REQUEST_CODINGS:
            raise BodyNotDecoded(
                f"Content-Encoding {coding[:40]!r} is not one API Gateway decodes: send the "
                "body as it is (no Content-Encoding), or encoded with "
                f"{', '.join(REQUEST_CODINGS[:-1])} or {REQUEST_CODINGS[-1]}"
            )
    for coding in reversed(codings):
        if coding != "identity" and body:
            body = _inflate(body, coding, limit)
    return body


def _inflate(body: bytes, coding: str, limit: int) -> bytes:
    """Undo gzip (every member of it) or deflate (zlib, or raw deflate as some clients
    send it), at most ``limit`` bytes out."""
    windows = [16 + zlib.MAX_WBITS] if coding == "gzip" else [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    for number, wbits in enumerate(windows):
        out = bytearray()
        rest = body
        try:
            while rest:
                inflater = zlib.decompressobj(wbits)
                out += inflater.decompress(rest, limit + 1 - len(out))
                if len(out) > limit:
                    raise BodyNotDecoded(
                        f"the body decodes ({coding}) to more than {limit:,} bytes, more than "
                        "API Gateway passes to the function: send less, or stage it with "
                        "POST /dataframes/staging",
                        status=413,
                    )
                if not inflater.eof:
                    raise zlib.error("the data ends before its end of stream")
                rest = inflater.unused_data if coding == "gzip" else b""
                if inflater.unused_data and coding != "gzip":
                    raise zlib.error("data follows the end of the stream")
        except zlib.error as exc:
            if number + 1 < len(windows):
                continue
            raise BodyNotDecoded(
                f"the body is not {coding}-encoded as its Content-Encoding says ({exc}): send "
                "it encoded so, or without Content-Encoding"
            ) from None
        return bytes(out)
    raise AssertionError("unreachable")  # pragma: no cover


def first_accept(accept: str | None) -> str:
    """The first media type of an ``Accept`` header, lowercased, without parameters.

    Example
    -------
    >>> first_accept(None), first_accept("Text/CSV; q=1, application/json")
    ('', 'text/csv')
    """
    return (accept or "").split(",", 1)[0].split(";", 1)[0].strip().lower()


def is_binary_media(
    media_type: str | None, binary_types: Sequence[str] = BINARY_MEDIA_TYPES
) -> bool:
    """Whether ``media_type`` is one of the API's binary media types (which may hold
    wildcards such as ``image/*``, as ``binaryMediaTypes`` may).

    Example
    -------
    >>> is_binary_media("application/vnd.apache.parquet; charset=binary")
    True
    >>> is_binary_media("image/png", ["image/*"]), is_binary_media("text/csv")
    (True, False)
    """
    base = first_accept(media_type)
    return bool(base) and any(fnmatch.fnmatchcase(base, pattern) for pattern in binary_types)


def cors_headers(origin: str | None, allowed: Sequence[str]) -> Headers:
    """The CORS headers of a gateway response: ``*``, or the request's origin when it is
    one of ``allowed`` (else the first allowed origin, which the browser will refuse).

    API Gateway's own 4XX/5XX answers carry no CORS headers unless the stack declares them
    as gateway response parameters ("Enabling CORS for a REST API resource":
    https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html); without
    them a browser sees a network error instead of the 401 or 413.

    Example
    -------
    >>> cors_headers("https://a.example", ["https://b.example", "https://a.example"])[:2]
    [('Access-Control-Allow-Origin', 'https://a.example'), ('Vary', 'Origin')]
    >>> cors_headers(None, ["*"])[0]
    ('Access-Control-Allow-Origin', '*')
    """
    if "*" in allowed:
        headers = [("Access-Control-Allow-Origin", "*")]
    else:
        chosen = origin if origin in allowed else allowed[0]
        headers = [("Access-Control-Allow-Origin", chosen), ("Vary", "Origin")]
    return headers + [
        ("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS),
        ("Access-Control-Allow-Methods", CORS_ALLOW_METHODS),
    ]


def gateway_response(
    status: int, body: dict[str, Any], origin: str | None, allowed: Sequence[str]
) -> HttpAnswer:
    """An answer API Gateway gives by itself (a "gateway response": UNAUTHORIZED 401,
    REQUEST_TOO_LARGE 413, INTEGRATION_TIMEOUT 504, DEFAULT_5XX; "Gateway response types":
    https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html),
    as JSON with CORS headers.

    Example
    -------
    >>> answer = gateway_response(504, TIMED_OUT, None, ["*"])
    >>> answer.status, answer.body
    (504, b'{"message": "Endpoint request timed out"}')
    """
    headers = [("Content-Type", "application/json"), *cors_headers(origin, allowed)]
    return HttpAnswer(status, headers, json.dumps(body).encode())


#: INTEGRATION_TIMEOUT's body: what API Gateway answers when the function outlives 29 s
TIMED_OUT = {"message": "Endpoint request timed out"}
#: what API Gateway answers (502) when the function fails or its response is refused: an
#: exception, a malformed proxy response, or one over Lambda's 6 MB ("Handle Lambda errors
#: in API Gateway", and "How do I resolve HTTP 502 errors from API Gateway REST APIs with
#: Lambda proxy integration?": https://repost.aws/knowledge-center/malformed-502-api-gateway)
FUNCTION_FAILED = {"message": "Internal server error"}


def request_body(body: bytes, content_type: str | None, strict: bool) -> tuple[str | None, bool]:
    """The event's ``body`` and ``isBase64Encoded`` for a request body.

    API Gateway base64-encodes a request body whose ``Content-Type`` is a binary media
    type and passes any other as UTF-8 text ("Binary media types for REST APIs":
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html).
    A body that is not UTF-8 under a text type would arrive corrupted, so with ``strict``
    (the gateway rules on) it raises :class:`BodyNotText`; without, it goes as base64.

    Example
    -------
    >>> request_body(b"a,b\\n", "text/csv", strict=True)
    ('a,b\\n', False)
    >>> request_body(b"PAR1", "application/vnd.apache.parquet", strict=True)
    ('UEFSMQ==', True)
    >>> request_body(b"", None, strict=True)
    (None, False)
    """
    if not body:
        return None, False
    if is_binary_media(content_type):
        return base64.b64encode(body).decode(), True
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        if strict:
            raise BodyNotText(
                f"the body is neither parquet nor UTF-8 text: Content-Type {content_type!r} "
                f"is not a binary media type ({', '.join(BINARY_MEDIA_TYPES)}), so API "
                "Gateway would pass it as text; send binary data with one of those types"
            ) from None
        return base64.b64encode(body).decode(), True


def proxy_event(
    method: str,
    target: str,
    headers: Headers,
    body: bytes,
    claims: dict[str, str] | None,
    source_ip: str,
    *,
    strict: bool,
    received_at: float | None = None,
) -> dict[str, Any]:
    """The REST proxy event for one request ("Input format of a Lambda function for proxy
    integration": https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).

    ``claims`` are the Cognito authorizer's, or None where no authorizer runs (a CORS
    preflight never reaches one). ``requestContext.requestTimeEpoch`` is when the gateway
    received the request, in epoch milliseconds: ``received_at`` (epoch seconds, taken when
    the request's first bytes arrived, before its body was read), from which the function
    counts the gateway's 29 s (:func:`pandasdb_lambdas.context.request_deadline`); None leaves it
    out (no gateway: ``--no-gateway-rules``).

    The path is decoded once, as API Gateway decodes it: ``path`` keeps the request's
    percent-encoding (a REST API passes it so) and ``pathParameters.proxy`` holds it
    decoded, which is where the function reads it (:func:`pandasdb_lambdas.api.request_path`).

    Example
    -------
    >>> event = proxy_event("GET", "/dataframes?prefix=a", [("Accept", "*/*")], b"",
    ...                     {"sub": "alice"}, "127.0.0.1", strict=True)
    >>> event["path"], event["queryStringParameters"], event["requestContext"]["authorizer"]
    ('/dataframes', {'prefix': 'a'}, {'claims': {'sub': 'alice'}})
    >>> event = proxy_event("GET", "/dataframes/sec%252Fd", [], b"", None, "", strict=True)
    >>> event["path"], event["pathParameters"]
    ('/dataframes/sec%252Fd', {'proxy': 'dataframes/sec%2Fd'})
    >>> proxy_event("GET", "/", [], b"", None, "", strict=True, received_at=1.5)[
    ...     "requestContext"]["requestTimeEpoch"]
    1500
    """
    parts = urlsplit(target)
    path = unquote(parts.path)
    multi = parse_qs(parts.query, keep_blank_values=True)
    header_map: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for key, value in headers:
        header_map[key] = value
        multi_headers.setdefault(key, []).append(value)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    text, encoded = request_body(body, content_type, strict)
    context: dict[str, Any] = {
        "requestId": str(uuid.uuid4()),
        "stage": "local",
        "httpMethod": method,
        "path": parts.path,
        "resourcePath": "/{proxy+}",
        "identity": {"sourceIp": source_ip},
    }
    if received_at is not None:
        context["requestTimeEpoch"] = int(received_at * 1000)
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": "/{proxy+}",
        "path": parts.path,
        "httpMethod": method,
        "headers": header_map,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": context,
        "body": text,
        "isBase64Encoded": encoded,
    }


def json_size(document: dict[str, Any], *, base64_body: bool = False) -> int:
    """``len(json.dumps(document).encode())``, without encoding the document's ``body`` when
    it needs no escape (printable ASCII without quotes or backslashes), or when
    ``base64_body`` says it is base64 (a body :func:`request_body` encoded): it then takes
    its length. Encoding an upload piece's megabytes of base64 just to measure them was half
    of the server's time in an SDK upload.

    Example
    -------
    >>> json_size({"body": "QUJD", "isBase64Encoded": True}) == len(json.dumps(
    ...     {"body": "QUJD", "isBase64Encoded": True}))
    True
    """
    body = document.get("body")
    if isinstance(body, str) and (base64_body or _unescaped(body)):
        # json.dumps escapes what is not ASCII: its text is as long as its bytes
        return len(json.dumps({**document, "body": ""})) + len(body)
    return len(json.dumps(document).encode())


def _unescaped(text: str) -> bool:
    """Whether JSON carries ``text`` as it is (printable ASCII, no quote, no backslash)."""
    return text.isascii() and '"' not in text and "\\" not in text and text.isprintable()


def event_size(event: dict[str, Any]) -> int:
    """Bytes of an event of :func:`proxy_event` as Lambda receives it (JSON; base64 and
    escapes included).

    Example
    -------
    >>> event_size({"body": 'say "hi"'})
    22
    """
    return json_size(event, base64_body=bool(event.get("isBase64Encoded")))


def http_answer(
    response: Any, accept: str | None, *, strict: bool, origin: str | None, allowed: Sequence[str]
) -> HttpAnswer:
    """Turn the function's proxy response into HTTP, as API Gateway does.

    ``strict`` applies the gateway's rules: a response over Lambda's 6 MB (measured on its
    JSON) or a malformed one becomes 502 ``{"message": "Internal server error"}``; a
    base64-encoded body is decoded only when the request's *first* ``Accept`` type is a
    binary media type, otherwise the client receives the base64 text ("Binary media types
    for REST APIs", as above; "Output format of a Lambda function for proxy integration"
    for how ``headers`` and ``multiValueHeaders`` merge). Without ``strict`` binary bodies
    are always decoded and nothing is measured.

    Example
    -------
    >>> fn = {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
    ...       "body": "AAE=", "isBase64Encoded": True}
    >>> http_answer(fn, "*/*", strict=True, origin=None, allowed=["*"]).body
    b'AAE='
    >>> http_answer(fn, "application/octet-stream", strict=True, origin=None, allowed=["*"]).body
    b'\\x00\\x01'
    """
    failed = gateway_response(502, FUNCTION_FAILED, origin, allowed)
    if not isinstance(response, dict):
        return failed
    status = response.get("statusCode")
    body = response.get("body") or ""
    if not isinstance(status, int) or not 100 <= status <= 599 or not isinstance(body, str):
        return failed
    if strict and json_size(response) > LAMBDA_MAX_RESPONSE:
        return failed
    if response.get("isBase64Encoded") and (not strict or is_binary_media(accept)):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:
            return failed
    else:
        data = body.encode()
    merged: dict[str, list[str]] = {
        key: [str(value)] for key, value in (response.get("headers") or {}).items()
    }
    for key, values in (response.get("multiValueHeaders") or {}).items():
        merged[key] = [str(v) for v in values]
    headers = [
        (key, value)
        for key, values in merged.items()
        if key.lower() not in HOP_BY_HOP
        for value in values
    ]
    return HttpAnswer(status, headers, data)


def lambda_payload_refusal(size: int, origin: str | None, allowed: Sequence[str]) -> HttpAnswer:
    """413 for a request whose event is over Lambda's 6 MB (see :data:`LAMBDA_MAX_REQUEST`).

    Example
    -------
    >>> lambda_payload_refusal(7_000_000, None, ["*"]).status
    413
    """
    return gateway_response(
        413,
        error_body(
            "too_large",
            f"the request is {size:,} bytes as API Gateway passes it to Lambda (binary "
            f"bodies in base64, text JSON-escaped); Lambda takes at most "
            f"{LAMBDA_MAX_REQUEST:,}: stage it with POST /dataframes/staging",
        ),
        origin,
        allowed,
    )


def body_refusal(size: int, limit: int, origin: str | None, allowed: Sequence[str]) -> HttpAnswer:
    """413 for a request body over the gateway's limit (see :data:`GATEWAY_MAX_REQUEST`).

    Example
    -------
    >>> json.loads(body_refusal(11, 10, None, ["*"]).body)["message"]
    'body of 11 bytes is over 10; stage it with POST /dataframes/staging'
    """
    return gateway_response(
        413,
        error_body(
            "too_large",
            f"body of {size:,} bytes is over {limit:,}; stage it with POST /dataframes/staging",
        ),
        origin,
        allowed,
    )


def head_refusal(
    method: str, target: str, headers: Headers, origin: str | None, allowed: Sequence[str]
) -> HttpAnswer | None:
    """414 or 431 for a request whose URL, or request line and headers together, are over
    API Gateway's 10,240 (:data:`pandasdb_core.wire.MAX_REQUEST_HEAD`; which status, see
    :class:`pandasdb_core.wire.HeadTooLarge`); None for one that fits. The gateway refuses it
    before any authorizer runs, so a request without a token meets this first.

    Example
    -------
    >>> head_refusal("GET", "/dataframes?prefix=" + "a" * 11000, [], None, ["*"]).status
    414
    >>> head_refusal("GET", "/dataframes", [("Accept", "*/*")], None, ["*"]) is None
    True
    """
    refused = head_too_large(method, target, headers)
    if refused is None:
        return None
    return gateway_response(
        refused.status, error_body(refused.code, refused.message), origin, allowed
    )
