"""Port wrappers that fail the k-th storage operation, for fault-injection tests.

Both wrappers share one :class:`FaultPlan`, so "the k-th operation" counts blob and metadata
calls together, in the order an upload, delete or vacuum makes them.

Example
-------
>>> from pandasdb_core.adapters.memory import MemoryBlobStore
>>> plan = FaultPlan(fail_at=1, mode="error")
>>> blobs = FaultyBlobStore(MemoryBlobStore(), plan)
>>> blobs.put("a/b.csv.gz", b"x")
Traceback (most recent call last):
...
pandasdb_core.testing.faults.InjectedFault: injected error at operation 1 (blobs.put)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ..ports import BlobStore, MetadataStore
from ..records import (
    BlobInfo,
    ChunkRecord,
    DropRecord,
    FrameHead,
    PartitionValue,
    VersionRecord,
)

#: error: fails before doing anything; timeout: a TimeoutError before doing anything;
#: lost_ack: the operation lands, then the caller is told it failed
FaultMode = Literal["error", "timeout", "lost_ack"]
MODES: tuple[FaultMode, ...] = ("error", "timeout", "lost_ack")
T = TypeVar("T")


class InjectedFault(RuntimeError):
    """The failure a FaultPlan injects."""


@dataclass
class FaultPlan:
    """Fail operation number ``fail_at`` (1-based; 0 never fails) in ``mode``; count all."""

    fail_at: int = 0
    mode: FaultMode = "error"
    count: int = 0
    log: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, label: str, operation: Callable[[], T]) -> T:
        """Run ``operation`` as the next counted operation, failing it if its turn has come."""
        with self._lock:
            self.count += 1
            number = self.count
            self.log.append(label)
        if number != self.fail_at:
            return operation()
        if self.mode == "timeout":
            raise TimeoutError(f"injected timeout at operation {number} ({label})")
        if self.mode == "lost_ack":
            operation()
            raise InjectedFault(f"injected lost acknowledgement at operation {number} ({label})")
        raise InjectedFault(f"injected error at operation {number} ({label})")


class FaultyBlobStore(BlobStore):
    """A BlobStore that forwards to ``inner`` under a FaultPlan."""

    def __init__(self, inner: BlobStore, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan

    def _put(self, key: str, data: bytes, if_absent: bool) -> None:
        self.plan.run("blobs.put", lambda: self.inner.put(key, data, if_absent=if_absent))

    def _get(self, key: str) -> bytes:
        return self.plan.run("blobs.get", lambda: self.inner.get(key))

    def _delete(self, keys: list[str]) -> None:
        self.plan.run("blobs.delete", lambda: self.inner.delete(keys))

    def _list(self, prefix: str) -> Iterator[BlobInfo]:
        return iter(self.plan.run("blobs.list", lambda: list(self.inner.list(prefix))))

    def uri(self, key: str) -> str | None:
        return self.inner.uri(key)

    def flush(self) -> None:
        self.plan.run("blobs.flush", self.inner.flush)

    def discard_stale(self, older_than: float) -> int:
        return self.plan.run("blobs.discard_stale", lambda: self.inner.discard_stale(older_than))


class FaultyMetadataStore(MetadataStore):
    """A MetadataStore that forwards to ``inner`` under a FaultPlan."""

    def __init__(self, inner: MetadataStore, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan

    def _run(self, label: str, operation: Callable[[], T]) -> T:
        return self.plan.run(f"meta.{label}", operation)

    def head(self, name: str) -> FrameHead | None:
        return self._run("head", lambda: self.inner.head(name))

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
        self._run(
            "commit",
            lambda: self.inner.commit(
                head, version, chunks, expected=expected, drops=drops, written_since=written_since
            ),
        )

    def begin_vacuum(self, cutoff: float) -> None:
        self._run("begin_vacuum", lambda: self.inner.begin_vacuum(cutoff))

    def vacuum_cutoff(self) -> float | None:
        return self._run("vacuum_cutoff", self.inner.vacuum_cutoff)

    def versions(self, frame_id: str) -> list[VersionRecord]:
        return self._run("versions", lambda: self.inner.versions(frame_id))

    def chunks(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[ChunkRecord]:
        return self._run("chunks", lambda: self.inner.chunks(frame_id, layout, lo, hi))

    def drops(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[DropRecord]:
        return self._run("drops", lambda: self.inner.drops(frame_id, layout, lo, hi))

    def frames(self, prefix: str = "") -> list[FrameHead]:
        return self._run("frames", lambda: self.inner.frames(prefix))

    def drop_frame(self, name: str, *, expected: FrameHead) -> None:
        self._run("drop_frame", lambda: self.inner.drop_frame(name, expected=expected))

    def update_head(self, head: FrameHead, *, expected: FrameHead) -> None:
        self._run("update_head", lambda: self.inner.update_head(head, expected=expected))

    def forget_chunks(self, frame_id: str, chunks: Sequence[ChunkRecord]) -> None:
        self._run("forget_chunks", lambda: self.inner.forget_chunks(frame_id, chunks))

    def forget_drops(self, frame_id: str, drops: Sequence[DropRecord]) -> None:
        self._run("forget_drops", lambda: self.inner.forget_drops(frame_id, drops))


def faulty(blobs: BlobStore, meta: MetadataStore, plan: FaultPlan) -> tuple[Any, Any]:
    """Wrap both ports under one plan."""
    return FaultyBlobStore(blobs, plan), FaultyMetadataStore(meta, plan)
