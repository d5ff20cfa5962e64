"""Validation of the names that become storage paths: frame names, external keys, columns.

One place decides what a safe name is, so no path built from user input can escape a store,
and no accepted name can make a path or key that a file system, S3 or DynamoDB refuses:

- A path segment (a part of a frame name between ``/``, an external key, a partition column)
  becomes a folder name on a file system, so it is at most ``MAX_SEGMENT_BYTES`` = 255 bytes:
  POSIX ``NAME_MAX`` on Linux file systems (``getconf NAME_MAX /``; ext4, xfs, APFS, NTFS).
- An S3 object key is at most 1,024 bytes of UTF-8 ("Creating object key names", Amazon S3
  User Guide: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html), and a
  DynamoDB sort key value at most 1,024 bytes, a partition key 2,048 ("Service, account, and
  table quotas in Amazon DynamoDB": https://docs.aws.amazon.com/amazondynamodb/latest/
  developerguide/ServiceQuotas.html). Chunk keys add folders and a uuid to the frame name;
  each layout kind says how much at most (``LayoutKind.longest_key_tail``), and the longest
  is an ID layout's on a 255-byte column
  (``{name}/{column}/from_-9223372036854775808_to_9223372036854775807/{uuid}.parquet``),
  ``CHUNK_KEY_OVERHEAD`` = 346 bytes, so a frame name is at most ``MAX_NAME_BYTES`` = 678
  bytes (both derived from the layout registry on first use). The metadata stores keep the
  name as ``frame#{name}`` in a sort key: far within.
- Over HTTP a frame name is part of a path, beside the routes' own words: a name is
  *addressable* when every route on a frame, given that name, is reached with that name
  (:func:`validate_addressable`, derived from the route table of
  :mod:`pandasdb_core.http_routes`, so a new route updates it). Servers decode ``%2F`` before
  routing, so ``report/versions`` would be the versions of ``report`` and ``get/report`` the
  original backend's read of ``report``: an upload (and any request) with such a name is
  refused rather than taken for another frame.

Example
-------
>>> validate_frame_name("sales/daily")
'sales/daily'
>>> max_name_bytes()
678
"""

from __future__ import annotations

import functools
import re

from .errors import InvalidName

#: S3's limit on an object key, and DynamoDB's on a sort key value (UTF-8 bytes)
MAX_KEY_BYTES = 1024
#: POSIX NAME_MAX: the longest file or folder name (bytes) on common file systems
MAX_SEGMENT_BYTES = 255
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9._:-]+")


@functools.cache
def chunk_key_overhead() -> int:
    """The most any chunk key adds to its frame's name: the longest key tail of the kinds of
    the layout registry, for a 255-byte column or external key (``CHUNK_KEY_OVERHEAD``)."""
    from .layouts import KINDS  # the registry validates names with this module

    return max(len(kind.longest_key_tail(MAX_SEGMENT_BYTES)) for kind in KINDS.values())


def max_name_bytes() -> int:
    """The longest frame name (UTF-8 bytes) whose every chunk key fits in ``MAX_KEY_BYTES``
    (``MAX_NAME_BYTES``)."""
    return MAX_KEY_BYTES - chunk_key_overhead()


def __getattr__(name: str) -> int:
    # CHUNK_KEY_OVERHEAD and MAX_NAME_BYTES come from the layout registry, which imports this
    # module: they are derived on first use, not at import
    if name == "CHUNK_KEY_OVERHEAD":
        return chunk_key_overhead()
    if name == "MAX_NAME_BYTES":
        return max_name_bytes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_segment(segment: str, field: str, whole: str) -> None:
    size = len(segment.encode("utf-8"))
    if size > MAX_SEGMENT_BYTES:
        raise InvalidName(
            f"{field} {_short(whole)}: segment {_short(segment)} is {size:,} bytes; a path "
            f"segment may have at most {MAX_SEGMENT_BYTES} (a file system's NAME_MAX)"
        )
    if segment == "":
        raise InvalidName(f"{field} {_short(whole)} has an empty path segment")
    if segment in (".", ".."):
        raise InvalidName(f"{field} {_short(whole)} has a {segment!r} segment")
    if segment.startswith("."):
        raise InvalidName(f"{field} {_short(whole)}: segment {segment!r} may not start with '.'")
    if not _SEGMENT.fullmatch(segment):
        bad = sorted({ch for ch in segment if not _SEGMENT.fullmatch(ch)})[:20]
        raise InvalidName(
            f"{field} {_short(whole)} contains characters outside [A-Za-z0-9._-]: {bad!r}"
        )


def validate_frame_name(name: object, field: str = "name") -> str:
    """Return ``name`` if it is a valid frame name, else raise :class:`InvalidName`.

    Valid names are ``[A-Za-z0-9._-]`` segments joined by ``/``, at most ``MAX_NAME_BYTES``
    (678) bytes and ``MAX_SEGMENT_BYTES`` (255) per segment, with no empty segment, no
    ``.``/``..`` segment, no segment starting with ``.``, no leading ``/``.

    Example
    -------
    >>> validate_frame_name("../etc")
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.InvalidName: name '../etc' has a '..' segment
    """
    if not isinstance(name, str):
        raise InvalidName(f"{field} must be a string, got {type(name).__name__}")
    if name == "":
        raise InvalidName(f"{field} is empty")
    size = len(name.encode("utf-8"))
    if size > max_name_bytes():
        raise InvalidName(
            f"{field} is {size:,} bytes; at most {max_name_bytes()} fit, because chunk keys "
            f"add up to {chunk_key_overhead()} bytes to it and an S3 or DynamoDB key may not "
            f"be longer than {MAX_KEY_BYTES} bytes"
        )
    if name.startswith("/"):
        raise InvalidName(f"{field} {_short(name)} starts with '/'")
    for segment in name.split("/"):
        _check_segment(segment, field, name)
    return name


def validate_addressable(name: object, field: str = "name") -> str:
    """Return ``name`` if it is a valid frame name (:func:`validate_frame_name`) that every
    route of the HTTP API on a frame reaches as itself; else :class:`InvalidName` naming the
    route that would take its path for something else.

    Example
    -------
    >>> validate_addressable("sales/daily")
    'sales/daily'
    >>> validate_addressable("report/versions")
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.InvalidName: name 'report/versions' cannot be reached over HTTP: ...
    """
    valid = validate_frame_name(name, field)
    clash = _route_clash(valid)
    if clash is not None:
        first, last = reserved_words()
        raise InvalidName(
            f"{field} {_short(valid)} cannot be reached over HTTP: {clash}. A frame name may "
            f"not have {_either(first)} as the first of several segments, nor {_either(last)} "
            "as its last (the HTTP API's paths hold route words there)"
        )
    return valid


def _either(words: tuple[str, ...]) -> str:
    quoted = [repr(w) for w in words]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


@functools.lru_cache(maxsize=4096)  # every request on a frame asks, on both sides
def _route_clash(name: str) -> str | None:
    """How some route of the table would read the path that names frame ``name``, if not as
    that route and name (None: every route reaches it)."""
    from .http_routes import (
        ROUTES,
        find,
    )  # the route table imports the request types, which import this

    for route in ROUTES:
        if "{name}" not in route.path:
            continue
        path = route.path.replace("{name}", name)  # as the router sees it: %2F decoded
        found = find(route.method, path)
        got = found.path_params(path) if found is not None else None
        if found is route and got == {"name": name}:
            continue
        other = (got or {}).get("name")
        meant = (
            "no route"
            if found is None
            else f"route {found.method} {found.path} with name {other!r}"
            if other is not None
            else f"route {found.method} {found.path}"
        )
        return f"{route.method} {path} would reach {meant}, not {route.path} with {name!r}"
    return None


@functools.cache
def reserved_words() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The first and last segments :func:`validate_addressable` refuses, derived from the
    route table: each static word between ``/dataframes/`` and a parameter of a route whose
    method and suffix a route on ``{name}`` shares (the original backend's ``get`` in
    ``GET /dataframes/get/{name}``, ``sessions`` in ``DELETE /dataframes/sessions/{session}``,
    which would take ``DELETE /dataframes/sessions/x`` from a frame ``sessions/x``), and each
    word after a ``{name}`` of a method that also has a route ending at ``{name}``
    (``versions``, ``dates``, ``files``).

    Example
    -------
    >>> reserved_words()
    (('get', 'sessions'), ('dates', 'files', 'versions'))
    """
    from .http_routes import ROUTES

    named = [r for r in ROUTES if "{name}" in r.path]
    bare = {r.method for r in named if r.path.endswith("{name}")}
    prefix = "/dataframes/"
    on_names = {(r.method, r.suffix) for r in named if r.path.startswith(prefix + "{name}")}
    first = {
        r.path[len(prefix) :].split("/", 1)[0]
        for r in ROUTES
        if r.path.startswith(prefix)
        and "{" in r.path
        and not r.path.startswith(prefix + "{")
        and (r.method, r.suffix) in on_names
    }
    last = {r.suffix.strip("/").split("/", 1)[0] for r in named if r.suffix and r.method in bare}
    return tuple(sorted(first)), tuple(sorted(last))


def validate_segment(value: object, field: str) -> str:
    """Return ``value`` if it is one valid path segment (an external key, a partition column):
    the name alphabet, at most ``MAX_SEGMENT_BYTES`` (255) bytes.

    Example
    -------
    >>> validate_segment("run-42", "external_key")
    'run-42'
    """
    if not isinstance(value, str):
        raise InvalidName(f"{field} must be a string, got {type(value).__name__}")
    if "/" in value:
        raise InvalidName(f"{field} {_short(value)} may not contain '/'")
    _check_segment(value, field, value)
    return value


def validate_blob_key(key: str) -> str:
    """Return ``key`` if it is a safe relative blob key (used by every BlobStore).

    Blob keys add ``:`` to the name alphabet because the seed's batch files are named
    ``HH:MM:SS_{uuid}``.

    Example
    -------
    >>> validate_blob_key("f/external_key/default/2024-01-01/10:00:00_ab.csv.gz")
    'f/external_key/default/2024-01-01/10:00:00_ab.csv.gz'
    """
    if not isinstance(key, str) or not key or key.startswith("/"):
        raise InvalidName(f"blob key {key!r} must be a non-empty relative path")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidName(f"blob key {_short(key)} is longer than {MAX_KEY_BYTES:,} bytes")
    for segment in key.split("/"):
        if (
            segment in ("", ".", "..")
            or len(segment) > MAX_SEGMENT_BYTES
            or not _KEY_SEGMENT.fullmatch(segment)
        ):
            raise InvalidName(f"blob key {_short(key)} has an invalid segment {_short(segment)}")
    return key


def fold(key: str) -> str:
    """The file that ``key`` names on a file system that folds names: one that ignores case
    (macOS's APFS and Windows' NTFS by default) or drops a segment's trailing dots (Windows):
    two keys with one fold are one file there. Folding more than a file system does is safe
    for the callers (they then keep more files, or refuse more names), folding less is not.

    Example
    -------
    >>> fold("Sales./daily/A.csv.gz")
    'sales/daily/a.csv.gz'
    >>> fold("sales/daily/a.csv.gz") == fold("SALES/Daily./a.CSV.gz")
    True
    """
    return "/".join(segment.casefold().rstrip(". ") for segment in key.split("/"))


def _short(text: str) -> str:
    """``text`` quoted, cut to a readable length for an error message."""
    return repr(text) if len(text) <= 80 else f"{text[:60]!r}... ({len(text):,} characters)"
