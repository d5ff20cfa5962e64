"""The batch layout of frames without ``columns_keys``: versioned batches under an external
key, ``{name}/external_key/{key}/{YYYY-MM-DD}/{HH:MM:SS}_{uuid}.{fmt}``, as the seed stores
them.

Example
-------
>>> BatchKind().filters
('external_key', 'use_last')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from ..records import ChunkRecord, Layout
from .base import LayoutKind, PlannedChunk, Selection, WriteContext, slices

if TYPE_CHECKING:
    from ..operations import ReadQuery

#: the batch key of uploads that name none
DEFAULT_KEY = "default"
#: what the original backend's SDK sends as ``external_key`` to mean the default key
#: (``../shared/SEED-WIRE.md``); uploads take it beside ``columns_keys`` too
NOW_KEY = "NOW"
#: the batch layout every frame without columns_keys has
BATCH = Layout("batch")


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

    def check(self, frame: pl.DataFrame, layout: Layout) -> None:
        return None  # any frame is a batch

    def plan(self, frame: pl.DataFrame, layout: Layout, where: WriteContext) -> list[PlannedChunk]:
        key = where.external_key
        folder, stem = f"external_key/{key}/{where.now:%Y-%m-%d}", f"{where.now:%H:%M:%S}_"
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
