"""Which chunks a version sees: the multi-version rules shared by readers, writers and vacuum.

A chunk belongs to the version whose record carries its ``txn`` (chunks of a commit that lost
its race carry a txn no version has, and are invisible). Version ``V`` sees every committed
chunk of versions ``<= V``, except those dropped at or before ``V``: by a ``keep_last`` upload
of the same external key, or by a drop record (an edit's tombstone) of a committed version.
A drop record counts only if its version carries its ``txn``, like a chunk.

So each chunk is read by an interval of versions, from its own up to (not including) the first
that drops it: vacuum frees it once that interval ends at or before the oldest retained
version.

Example
-------
>>> live([], [], as_of=1)
[]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .records import ChunkRecord, DropRecord, VersionRecord

if TYPE_CHECKING:
    from .ports import MetadataStore


def committed(
    chunks: Iterable[ChunkRecord], versions: Sequence[VersionRecord]
) -> list[ChunkRecord]:
    """The chunks whose commit succeeded."""
    txn_of = {v.version: v.txn for v in versions}
    return [c for c in chunks if txn_of.get(c.version) == c.txn]


def dropped_at(drops: Iterable[DropRecord], versions: Sequence[VersionRecord]) -> dict[str, int]:
    """Chunk id -> the first committed version whose drop record removes it."""
    txn_of = {v.version: v.txn for v in versions}
    first: dict[str, int] = {}
    for d in drops:
        if txn_of.get(d.version) == d.txn and d.version < first.get(d.chunk_id, math.inf):
            first[d.chunk_id] = d.version
    return first


def live(
    chunks: Iterable[ChunkRecord],
    versions: Sequence[VersionRecord],
    as_of: int,
    drops: Iterable[DropRecord] = (),
) -> list[ChunkRecord]:
    """The chunks version ``as_of`` reads (in index order; the layout kind orders rows)."""
    dropped_before: dict[str | None, int] = {}
    for v in versions:
        if v.version <= as_of and v.keep_last:
            dropped_before[v.external_key] = v.version
    removed = dropped_at(drops, versions)
    return [
        c
        for c in committed(chunks, versions)
        if c.version <= as_of
        and c.version >= dropped_before.get(c.external_key, 0)
        and removed.get(c.chunk_id, math.inf) > as_of
    ]


def garbage(
    chunks: Sequence[ChunkRecord],
    versions: Sequence[VersionRecord],
    min_version: int,
    head: int,
    drops: Sequence[DropRecord] = (),
) -> list[ChunkRecord]:
    """Chunks no retained version (``min_version`` .. ``head``) reads: dropped (by a
    ``keep_last`` or a drop record) at or before ``min_version``, or written by a commit that
    lost its race for a version the frame already has."""
    valid = committed(chunks, versions)
    valid_ids = {c.chunk_id for c in valid}
    keep = {c.chunk_id for c in live(valid, versions, min_version, drops)}
    keep.update(c.chunk_id for c in valid if c.version > min_version)
    return [
        c
        for c in chunks
        if (c.chunk_id in valid_ids and c.chunk_id not in keep)
        or (c.chunk_id not in valid_ids and c.version <= head)
    ]


def garbage_drops(
    drops: Sequence[DropRecord],
    kept: Iterable[ChunkRecord],
    versions: Sequence[VersionRecord],
    head: int,
) -> list[DropRecord]:
    """Drop records vacuum may forget once the chunk records it frees are gone: those whose
    chunk is not among ``kept``, and those of commits that lost their race for a version the
    frame already has. (A drop is forgotten only after its chunk: a reader that reads drops
    before chunks then never sees a dropped chunk come back.)

    Example
    -------
    >>> garbage_drops([DropRecord("c1", "date:ts", "d", "d", 2, "t2")], [], [], head=2)
    [DropRecord(chunk_id='c1', layout='date:ts', lo='d', hi='d', version=2, txn='t2')]
    """
    present = {c.chunk_id for c in kept}
    txn_of = {v.version: v.txn for v in versions}
    return [
        d
        for d in drops
        if d.chunk_id not in present or (txn_of.get(d.version) != d.txn and d.version <= head)
    ]


def visible(
    meta: MetadataStore,
    frame_id: str,
    layout: str,
    as_of: int,
    lo: str | int | None = None,
    hi: str | int | None = None,
    versions: Sequence[VersionRecord] | None = None,
) -> list[ChunkRecord]:
    """The chunk records of ``layout`` in ``[lo, hi]`` that version ``as_of`` reads, from
    the metadata store. Drop records are read only if some version up to ``as_of`` wrote
    any (a frame never edited costs no extra query), and before the chunk records: vacuum
    forgets a chunk before its drop, so this never sees a dropped chunk without its drop.

    Example
    -------
    >>> from pandasdb_core.adapters.memory import MemoryMetadataStore
    >>> visible(MemoryMetadataStore(), "F", "date:ts", as_of=1)
    []
    """
    if versions is None:
        versions = meta.versions(frame_id)
    edited = any(v.drop_records and v.version <= as_of for v in versions)
    drops = meta.drops(frame_id, layout, lo, hi) if edited else []
    return live(meta.chunks(frame_id, layout, lo, hi), versions, as_of, drops)
