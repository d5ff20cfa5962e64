"""Idempotent writes: a commit named by an ``idempotency_key`` happens once per frame.

The key is stored in the version record, so it is recorded in the same metadata transaction
as the commit itself: a writer that crashes (or whose answer is lost) after committing leaves
the key behind, and a repeat finds it. Writers look the key up after every read of the head,
so two requests racing with one key commit once: the loser's commit fails on the moved head,
and its retry finds the winner's key and returns the winner's commit.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> first = db.upload(pd.DataFrame({"a": [1]}), "f", idempotency_key="load-2024-01-01")
>>> again = db.upload(pd.DataFrame({"a": [1]}), "f", idempotency_key="load-2024-01-01")
>>> first == again, len(db.get("f"))
(True, 1)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .records import ChunkRecord, Commit, FrameHead, Layout

if TYPE_CHECKING:
    from .store import Store


def earlier_commit(store: Store, head: FrameHead | None, key: str | None) -> Commit | None:
    """The commit of frame ``head`` that was named ``key``, rebuilt from its version record
    and the chunk index (the keys of its chunk files that are still indexed), or None."""
    if key is None or head is None:
        return None
    versions = store.meta.versions(head.frame_id)
    found = next((v for v in versions if v.idempotency_key == key), None)
    if found is None:
        return None
    written = commit_order(
        (
            c
            for layout in head.layouts
            for c in store.meta.chunks(head.frame_id, layout.tag)
            if c.version == found.version and c.txn == found.txn
        ),
        head.layouts,
    )
    previous = next((v.rows_total for v in versions if v.version == found.version - 1), 0)
    return Commit(
        name=head.name,
        version=found.version,
        rows=found.rows_added,
        chunks=found.chunks_added,
        keys=tuple(c.key for c in written),
        bytes=found.bytes_added,
        chunk_rows=tuple(c.rows for c in written),
        external_key=found.external_key,
        rows_removed=previous + found.rows_added - found.rows_total,
        chunks_dropped=found.drop_records,
    )


def commit_order(chunks: Iterable[ChunkRecord], layouts: tuple[Layout, ...]) -> list[ChunkRecord]:
    """A commit's chunks in the order its :class:`Commit` lists them: new chunks as written,
    then an edit's rewrites by layout and place (so a rebuilt commit equals the first)."""
    position = {lay.tag: i for i, lay in enumerate(layouts)}
    return sorted(
        chunks,
        key=lambda c: (c.origin is not None, position.get(c.layout, 0), c.rank),
    )
