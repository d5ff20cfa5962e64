"""Validation of the names that become storage paths: frame names, external keys, columns.

One place decides what a safe name is, so no path built from user input can escape a store.

Example
-------
>>> validate_frame_name("sales/daily")
'sales/daily'
"""

from __future__ import annotations

import re

from .errors import InvalidName

MAX_NAME_BYTES = 1024
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def _check_segment(segment: str, field: str, whole: str) -> None:
    if segment == "":
        raise InvalidName(f"{field} {whole!r} has an empty path segment")
    if segment in (".", ".."):
        raise InvalidName(f"{field} {whole!r} has a {segment!r} segment")
    if segment.startswith("."):
        raise InvalidName(f"{field} {whole!r}: segment {segment!r} may not start with '.'")
    if not _SEGMENT.fullmatch(segment):
        bad = sorted({ch for ch in segment if not _SEGMENT.fullmatch(ch)})
        raise InvalidName(f"{field} {whole!r} contains characters outside [A-Za-z0-9._-]: {bad!r}")


def validate_frame_name(name: object, field: str = "name") -> str:
    """Return ``name`` if it is a valid frame name, else raise :class:`InvalidName`.

    Valid names are ``[A-Za-z0-9._-]`` segments joined by ``/``, at most 1024 bytes, with no
    empty segment, no ``.``/``..`` segment, no segment starting with ``.``, no leading ``/``.

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
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidName(f"{field} is longer than {MAX_NAME_BYTES} bytes")
    if name.startswith("/"):
        raise InvalidName(f"{field} {name!r} starts with '/'")
    for segment in name.split("/"):
        _check_segment(segment, field, name)
    return name


def validate_segment(value: object, field: str) -> str:
    """Return ``value`` if it is one valid path segment (an external key, a partition column).

    Example
    -------
    >>> validate_segment("run-42", "external_key")
    'run-42'
    """
    if not isinstance(value, str):
        raise InvalidName(f"{field} must be a string, got {type(value).__name__}")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidName(f"{field} is longer than {MAX_NAME_BYTES} bytes")
    if "/" in value:
        raise InvalidName(f"{field} {value!r} may not contain '/'")
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
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not re.fullmatch(r"[A-Za-z0-9._:-]+", segment):
            raise InvalidName(f"blob key {key!r} has an invalid segment {segment!r}")
    return key
