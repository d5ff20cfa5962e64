"""Plain-dict forms of the metadata records, for adapters that store JSON (SQLite, DynamoDB).

Example
-------
>>> from pandasdb_core.records import Layout
>>> layouts_from_json(layouts_to_json((Layout("id", "uid"),)))
(Layout(kind='id', column='uid'),)
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .records import ChunkRecord, FrameHead, Layout, VersionRecord


def layouts_to_json(layouts: tuple[Layout, ...]) -> list[list[str]]:
    """``(Layout("date","ts"),)`` -> ``[["date", "ts"]]``."""
    return [[lay.kind, lay.column] for lay in layouts]


def layouts_from_json(data: list[list[str]]) -> tuple[Layout, ...]:
    """Inverse of :func:`layouts_to_json`."""
    return tuple(Layout(kind, column) for kind, column in data)  # type: ignore[arg-type]


def head_to_json(head: FrameHead) -> str:
    """Serialise a head to a JSON string."""
    data = dataclasses.asdict(head)
    data["layouts"] = layouts_to_json(head.layouts)
    return json.dumps(data, separators=(",", ":"))


def head_from_json(text: str) -> FrameHead:
    """Inverse of :func:`head_to_json`."""
    data: dict[str, Any] = json.loads(text)
    data["layouts"] = layouts_from_json(data["layouts"])
    return FrameHead(**data)


def version_to_json(version: VersionRecord) -> str:
    """Serialise a version record to a JSON string."""
    return json.dumps(dataclasses.asdict(version), separators=(",", ":"))


def version_from_json(text: str) -> VersionRecord:
    """Inverse of :func:`version_to_json`."""
    return VersionRecord(**json.loads(text))


def chunk_to_dict(chunk: ChunkRecord) -> dict[str, Any]:
    """A chunk record as a plain dict."""
    return dataclasses.asdict(chunk)


def chunk_from_dict(data: dict[str, Any]) -> ChunkRecord:
    """Inverse of :func:`chunk_to_dict`; ignores extra keys an adapter stores beside."""
    names = {f.name for f in dataclasses.fields(ChunkRecord)}
    return ChunkRecord(**{k: v for k, v in data.items() if k in names})
