"""Plain-JSON forms of the metadata records, for adapters that store JSON (SQLite, DynamoDB),
with a format version and the migrations from older formats.

Every head and version record is written with ``"v": RECORD_FORMAT``. Readers accept every
older format (each migration lifts a record one format up) and refuse a newer one with a
clear error instead of misreading it.

Format history:

- 1 (pandasdb 0.1): no ``v``; frames without ``columns_keys`` have no layouts.
- 2: frames without ``columns_keys`` have the explicit ``batch`` layout; heads carry
  ``previous_min_version`` and ``retired_at``.
- 3: versions carry ``operation``, ``drop_records`` and ``idempotency_key`` (edits: replace,
  delete_rows, compact); a format-2 version was an append (or a ``keep_last`` one) that wrote
  no drop records and had no key. Heads carry ``stats`` (per layout: rows, chunk files,
  bytes, range); a head without them (older, or format 1 or 2) has them computed from the
  chunk index when asked.
- 4: heads carry ``revision``, a token every head write changes, which conditional head
  writes compare (a commit racing vacuum's ``min_version`` raise cannot undo it); an older
  head has the revision "" until its next write. Version records are unchanged.

Chunk records carry no format number: a field added to them is optional. ``nulls`` (the
integer and boolean columns of the chunk's file holding a null) is absent from chunks written
before pandasdb recorded it, and a reader treats them as not recorded; readers that predate
it ignore it.

Example
-------
>>> from pandasdb_core.records import Layout
>>> layouts_from_json(layouts_to_json((Layout("id", "uid"),)))
(Layout(kind='id', column='uid'),)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from .errors import StoreUnavailable
from .records import (
    ChunkRecord,
    DropRecord,
    FrameHead,
    Layout,
    LayoutStats,
    VersionRecord,
    nulls_from,
)

RECORD_FORMAT = 4
Migration = Callable[[dict[str, Any]], dict[str, Any]]


def layouts_to_json(layouts: tuple[Layout, ...]) -> list[list[str]]:
    """``(Layout("date","ts"),)`` -> ``[["date", "ts"]]``."""
    return [[lay.kind, lay.column] for lay in layouts]


def layouts_from_json(data: list[list[str]]) -> tuple[Layout, ...]:
    """Inverse of :func:`layouts_to_json`."""
    return tuple(Layout(kind, column) for kind, column in data)  # type: ignore[arg-type]


def _head_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    if not data["layouts"]:
        data["layouts"] = [["batch", ""]]
    return data


def _head_3_to_4(data: dict[str, Any]) -> dict[str, Any]:
    # the revision of a head no writer of format 4 has written yet: "" (adapters that keep it
    # beside the record, as SQLite's column and DynamoDB's attribute, agree)
    data.setdefault("revision", "")
    return data


#: format N -> the function lifting a record of format N to N + 1
_HEAD_MIGRATIONS: dict[int, Migration] = {1: _head_1_to_2, 2: dict, 3: _head_3_to_4}
#: format 3's new version fields default to what a format-2 version was; format 4 changed
#: heads only
_VERSION_MIGRATIONS: dict[int, Migration] = {1: dict, 2: dict, 3: dict}


def _dump(record: Any, **override: Any) -> str:
    data = {"v": RECORD_FORMAT, **dataclasses.asdict(record), **override}
    return json.dumps(data, separators=(",", ":"))


def _load(text: str, migrations: dict[int, Migration]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    found = data.pop("v", 1)
    if not isinstance(found, int) or found > RECORD_FORMAT:
        raise StoreUnavailable(
            f"this store holds records of format {found}, written by a newer pandasdb; this "
            f"version reads formats up to {RECORD_FORMAT}: upgrade pandasdb"
        )
    for step in range(found, RECORD_FORMAT):
        data = migrations[step](data)
    return data


def head_to_json(head: FrameHead) -> str:
    """Serialise a head to a JSON string."""
    return _dump(head, layouts=layouts_to_json(head.layouts))


def head_from_json(text: str) -> FrameHead:
    """Inverse of :func:`head_to_json`; accepts every older format."""
    data = _load(text, _HEAD_MIGRATIONS)
    data["layouts"] = layouts_from_json(data["layouts"])
    # a head without stats (written before pandasdb kept them) has them computed when asked
    data["stats"] = tuple(LayoutStats(**s) for s in data.get("stats", ()))
    return FrameHead(**data)


def version_to_json(version: VersionRecord) -> str:
    """Serialise a version record to a JSON string."""
    return _dump(version)


def version_from_json(text: str) -> VersionRecord:
    """Inverse of :func:`version_to_json`; accepts every older format."""
    data = _load(text, _VERSION_MIGRATIONS)
    return VersionRecord(**data)


def chunk_to_dict(chunk: ChunkRecord) -> dict[str, Any]:
    """A chunk record as a plain dict."""
    return dataclasses.asdict(chunk)


def chunk_from_dict(data: dict[str, Any]) -> ChunkRecord:
    """Inverse of :func:`chunk_to_dict`; ignores extra keys an adapter stores beside (and
    fields it left out take their defaults)."""
    names = {f.name for f in dataclasses.fields(ChunkRecord)}
    values = {k: v for k, v in data.items() if k in names}
    return ChunkRecord(**{**values, "nulls": nulls_from(values.get("nulls"))})


def drop_to_dict(drop: DropRecord) -> dict[str, Any]:
    """A drop record as a plain dict."""
    return dataclasses.asdict(drop)


def drop_from_dict(data: dict[str, Any]) -> DropRecord:
    """Inverse of :func:`drop_to_dict`; ignores extra keys an adapter stores beside."""
    names = {f.name for f in dataclasses.fields(DropRecord)}
    return DropRecord(**{k: v for k, v in data.items() if k in names})
