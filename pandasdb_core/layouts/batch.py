"""The batch layout of frames without ``columns_keys``: versioned batches under an external
key, ``{name}/external_key/{key}/{YYYY-MM-DD}/{HH:MM:SS}_{uuid}.{fmt}``, as the seed stores
them.

Example
-------
>>> BatchKind().filters
('external_key', 'use_last')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from ..records import ChunkRecord, Layout
from .base import LONGEST_FILE, LayoutKind, PlannedChunk, Selection, WriteContext, slices

if TYPE_CHECKING:
    from ..operations import ReadQuery
    from ..ports import BlobStore

#: the batch key of uploads that name none
DEFAULT_KEY = "default"
#: what the original backend's SDK sends as ``external_key`` to mean the default key
#: (``../shared/SEED-WIRE.md``); uploads take it beside ``columns_keys`` too
NOW_KEY = "NOW"
#: the batch layout every frame without columns_keys has
BATCH = Layout("batch")
#: the folder of a frame that holds its batches, one subfolder per external key
KEY_FOLDER = "external_key"
#: the seed's informational file naming a batch key's latest chunk files
LAST_KEY_FILE = "last_key.txt"


def last_key_key(name: str, external_key: str) -> str:
    """Where frame ``name`` keeps the :data:`LAST_KEY_FILE` of one batch key.

    Example
    -------
    >>> last_key_key("a/b", "run-1")
    'a/b/external_key/run-1/last_key.txt'
    """
    return f"{name}/{KEY_FOLDER}/{external_key}/{LAST_KEY_FILE}"


def last_key_frame(key: str) -> str | None:
    """The frame whose :data:`LAST_KEY_FILE` ``key`` is (read from the right: a frame name
    may hold ``external_key`` segments, an external key holds no ``/``), or None.

    Example
    -------
    >>> last_key_frame("a/external_key/b/external_key/k/last_key.txt")
    'a/external_key/b'
    >>> last_key_frame("a/external_key/b/x.csv.gz") is None
    True
    """
    parts = key.rsplit("/", 3)
    if len(parts) != 4 or parts[1] != KEY_FOLDER or parts[3] != LAST_KEY_FILE:
        return None
    return parts[0]


def _newest(chunks: list[ChunkRecord]) -> list[ChunkRecord]:
    if not chunks:
        return chunks
    newest = max(c.version for c in chunks)
    return [c for c in chunks if c.version == newest]


class BatchKind(LayoutKind):
    """Whole batches in commit order, each under its external key."""

    name = "batch"
    user_name = ""
    filters = ("external_key", "use_last")
    keyed = True

    def check(self, frame: pl.DataFrame, layout: Layout) -> None:
        return None  # any frame is a batch

    def folder(self, layout: Layout) -> str:
        return KEY_FOLDER

    def longest_key_tail(self, segment_bytes: int) -> str:
        return f"/{KEY_FOLDER}/{'k' * segment_bytes}/YYYY-MM-DD/HH:MM:SS_{LONGEST_FILE}"

    def batch_key(self, external_key: str | None) -> str:
        return external_key or DEFAULT_KEY

    def adapt(self, query: ReadQuery, layouts: Sequence[Layout]) -> ReadQuery:
        if query.external_key == NOW_KEY and not any(lay.kind == self.name for lay in layouts):
            # the original backend's SDK sends "NOW" (the default key) whatever the frame; a
            # partitioned frame has no keys, so it asks for nothing, as on upload
            return query.model_copy(update={"external_key": None})
        return query

    def side_files(self, blobs: BlobStore, name: str) -> list[str]:
        # exactly this frame's own files: another frame's can live under any prefix of this
        # one's (a frame may be named "a/external_key/b"), so nothing is removed by prefix
        listed = blobs.list(f"{name}/{KEY_FOLDER}/")
        return [b.key for b in listed if last_key_frame(b.key) == name]

    def committed(
        self, blobs: BlobStore, name: str, external_key: str | None, keys: Sequence[str]
    ) -> None:
        # informational, as in the seed: the metadata store stays the source of truth
        latest = "\n".join(keys) + "\n"
        blobs.put(last_key_key(name, self.batch_key(external_key)), latest.encode())

    def plan(self, frame: pl.DataFrame, layout: Layout, where: WriteContext) -> list[PlannedChunk]:
        key = self.batch_key(where.external_key)
        folder = f"{KEY_FOLDER}/{key}/{where.now:%Y-%m-%d}"
        stem = f"{where.now:%H:%M:%S}_"
        return [
            PlannedChunk(layout.tag, key, key, where.key(folder, stem), part, key)
            for part in slices(frame, where.chunk_rows)
        ]

    def select(self, query: ReadQuery, layout: Layout) -> Selection:
        key = query.external_key
        if key == NOW_KEY or (key is None and query.use_last):
            key = DEFAULT_KEY
        return Selection(lo=key, hi=key, keep_chunks=_newest if query.use_last else None)

    def order(self, chunks: list[ChunkRecord]) -> list[ChunkRecord]:  # type: ignore[override]
        return sorted(chunks, key=lambda c: (c.version, c.seq))
