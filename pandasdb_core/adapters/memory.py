"""In-memory adapters: fast, process-local, for tests and scratch work.

Example
-------
>>> import pandasdb_core as pdb
>>> db = pdb.open("memory://")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from ..errors import BlobExists, BlobNotFound
from ..ports import BlobStore, MetadataStore, conflict, same_head, vacuum_passed, vacuum_raced
from ..records import (
    BlobInfo,
    ChunkRecord,
    DropRecord,
    FrameHead,
    PartitionValue,
    VersionRecord,
)
from .ranges import overlaps


class MemoryBlobStore(BlobStore):
    """Blobs in a dict, guarded by a lock."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def _put(self, key: str, data: bytes, if_absent: bool) -> None:
        with self._lock:
            if if_absent and key in self._data:
                raise BlobExists(f"blob {key!r} already exists")
            self._data[key] = (data, time.time())

    def _get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._data[key][0]
            except KeyError:
                raise BlobNotFound(f"blob {key!r} does not exist") from None

    def _delete(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def _list(self, prefix: str) -> Iterator[BlobInfo]:
        with self._lock:
            items = [(k, v) for k, v in self._data.items() if k.startswith(prefix)]
        for key, (data, modified) in items:
            yield BlobInfo(key, len(data), modified)


class MemoryMetadataStore(MetadataStore):
    """Heads, versions and chunk records in dicts, one lock for atomic commits."""

    def __init__(self) -> None:
        self._heads: dict[str, FrameHead] = {}
        self._versions: dict[str, list[VersionRecord]] = {}
        self._chunks: dict[str, dict[str, ChunkRecord]] = {}
        self._drops: dict[str, dict[tuple[str, str], DropRecord]] = {}
        self._vacuum_cutoff: float | None = None
        self._lock = threading.Lock()

    def head(self, name: str) -> FrameHead | None:
        with self._lock:
            return self._heads.get(name)

    def _check(self, name: str, expected: FrameHead | None) -> None:
        if not same_head(self._heads.get(name), expected):
            raise conflict(name, expected)

    def commit(
        self,
        head: FrameHead,
        version: VersionRecord,
        chunks: Sequence[ChunkRecord],
        *,
        expected: FrameHead | None,
        drops: Sequence[DropRecord] = (),
        written_since: float | None = None,
    ) -> None:
        with self._lock:
            if vacuum_passed(self._vacuum_cutoff, written_since):
                raise vacuum_raced(head.name, self._vacuum_cutoff, written_since)
            self._check(head.name, expected)
            self._heads[head.name] = head
            self._versions.setdefault(head.frame_id, []).append(version)
            index = self._chunks.setdefault(head.frame_id, {})
            for chunk in chunks:
                index[chunk.chunk_id] = chunk
            tombstones = self._drops.setdefault(head.frame_id, {})
            for drop in drops:
                tombstones[(drop.chunk_id, drop.txn)] = drop

    def begin_vacuum(self, cutoff: float) -> None:
        with self._lock:
            self._vacuum_cutoff = max(cutoff, self._vacuum_cutoff or cutoff)

    def vacuum_cutoff(self) -> float | None:
        with self._lock:
            return self._vacuum_cutoff

    def versions(self, frame_id: str) -> list[VersionRecord]:
        with self._lock:
            return list(self._versions.get(frame_id, []))

    def chunks(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[ChunkRecord]:
        with self._lock:
            records = list(self._chunks.get(frame_id, {}).values())
        return [c for c in records if c.layout == layout and overlaps(c.lo, c.hi, lo, hi)]

    def drops(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[DropRecord]:
        with self._lock:
            records = list(self._drops.get(frame_id, {}).values())
        return [d for d in records if d.layout == layout and overlaps(d.lo, d.hi, lo, hi)]

    def frames(self, prefix: str = "") -> list[FrameHead]:
        with self._lock:
            return sorted(
                (h for n, h in self._heads.items() if n.startswith(prefix)),
                key=lambda h: h.name,
            )

    def drop_frame(self, name: str, *, expected: FrameHead) -> None:
        with self._lock:
            self._check(name, expected)
            head = self._heads.pop(name)
            self._versions.pop(head.frame_id, None)
            self._chunks.pop(head.frame_id, None)
            self._drops.pop(head.frame_id, None)

    def update_head(self, head: FrameHead, *, expected: FrameHead) -> None:
        with self._lock:
            self._check(head.name, expected)
            self._heads[head.name] = head

    def forget_chunks(self, frame_id: str, chunks: Sequence[ChunkRecord]) -> None:
        with self._lock:
            index = self._chunks.get(frame_id, {})
            for chunk in chunks:
                index.pop(chunk.chunk_id, None)

    def forget_drops(self, frame_id: str, drops: Sequence[DropRecord]) -> None:
        with self._lock:
            tombstones = self._drops.get(frame_id, {})
            for drop in drops:
                tombstones.pop((drop.chunk_id, drop.txn), None)
