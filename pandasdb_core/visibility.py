"""Which chunks a version sees: the multi-version rules shared by readers and vacuum.

A chunk belongs to the version whose record carries its ``txn`` (chunks of a commit that lost
its race carry a txn no version has, and are invisible). Version ``V`` sees every committed
chunk of versions ``<= V``, except those a ``keep_last`` upload of the same external key
dropped at or before ``V``.

Example
-------
>>> live([], [], as_of=1)
[]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .records import ChunkRecord, VersionRecord


def committed(
    chunks: Iterable[ChunkRecord], versions: Sequence[VersionRecord]
) -> list[ChunkRecord]:
    """The chunks whose commit succeeded."""
    txn_of = {v.version: v.txn for v in versions}
    return [c for c in chunks if txn_of.get(c.version) == c.txn]


def live(
    chunks: Iterable[ChunkRecord], versions: Sequence[VersionRecord], as_of: int
) -> list[ChunkRecord]:
    """The chunks version ``as_of`` reads (in index order; the layout kind orders rows)."""
    dropped_before: dict[str | None, int] = {}
    for v in versions:
        if v.version <= as_of and v.keep_last:
            dropped_before[v.external_key] = v.version
    return [
        c
        for c in committed(chunks, versions)
        if c.version <= as_of and c.version >= dropped_before.get(c.external_key, 0)
    ]


def garbage(
    chunks: Sequence[ChunkRecord], versions: Sequence[VersionRecord], min_version: int, head: int
) -> list[ChunkRecord]:
    """Chunks no retained version (``min_version`` .. ``head``) reads: dropped by a
    ``keep_last`` at or before ``min_version``, or written by a commit that lost its race for a
    version the frame already has."""
    valid = committed(chunks, versions)
    valid_ids = {c.chunk_id for c in valid}
    keep = {c.chunk_id for c in live(valid, versions, min_version)}
    keep.update(c.chunk_id for c in valid if c.version > min_version)
    return [
        c
        for c in chunks
        if (c.chunk_id in valid_ids and c.chunk_id not in keep)
        or (c.chunk_id not in valid_ids and c.version <= head)
    ]
