"""The two storage ports every adapter implements: blobs and metadata.

Both are small on purpose. Public methods validate once, then call one private hook, so an
adapter implements only the hooks. The shared conformance suites live in
:mod:`pandasdb_core.testing`.

Example
-------
>>> from pandasdb_core.adapters.memory import MemoryBlobStore
>>> blobs = MemoryBlobStore()
>>> blobs.put("a/b.csv.gz", b"x")
>>> blobs.get("a/b.csv.gz")
b'x'
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence

from .errors import CommitConflict, VacuumRaced
from .names import validate_blob_key
from .records import (
    BlobInfo,
    ChunkRecord,
    DropRecord,
    FrameHead,
    PartitionValue,
    VersionRecord,
)

#: the folder a store keeps its own files in, at its root: the local store's metadata, and
#: the mark of a store at a prefix of a shared bucket (:data:`STORE_MARKER`). No frame's
#: key holds it (name segments never begin with ``.``): a folder holding one is a store's
STORE_DIR = ".pandasdb"
#: the file a store at an S3 prefix writes before its first file, so that a store at a
#: shorter prefix of the bucket (its root, say) knows the keys below it are not its own
STORE_MARKER = f"{STORE_DIR}/store.json"


def other_stores(keys: Iterable[str]) -> tuple[str, ...]:
    """The folders of a store's listing (``keys``) that are other stores' roots, as key
    prefixes: every folder holding a :data:`STORE_DIR` (a store at that prefix, or a local
    store in that sub-folder). Vacuum never removes a key under one.

    Example
    -------
    >>> other_stores(["a/x.csv.gz", "team-a/.pandasdb/store.json", "team-a/f/y.csv.gz"])
    ('team-a/',)
    """
    marker = f"/{STORE_DIR}/"
    found = {key[: key.index(marker) + 1] for key in keys if marker in key}
    return tuple(sorted(found))


class BlobStore(ABC):
    """Immutable-by-convention blobs addressed by ``/``-separated keys.

    A store may share its place with other stores below it (a bucket's root and its
    prefixes, a folder and its sub-folders): each keeps :data:`STORE_DIR` at its root, and
    keys under a folder that holds one are that store's (:func:`other_stores`).
    """

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        """Store ``data`` at ``key``; with ``if_absent``, raise :class:`BlobExists` if present.

        A put is all-or-nothing: a reader never sees a partial blob.
        """
        self._put(validate_blob_key(key), bytes(data), if_absent)

    def get(self, key: str) -> bytes:
        """Return the bytes at ``key`` or raise :class:`BlobNotFound`."""
        return self._get(validate_blob_key(key))

    def delete(self, keys: Iterable[str]) -> None:
        """Delete every key given; keys already absent are ignored."""
        checked = [validate_blob_key(k) for k in keys]
        if checked:
            self._delete(checked)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Yield every blob whose key starts with ``prefix`` (in no particular order)."""
        return self._list(prefix)

    def uri(self, key: str) -> str | None:
        """Where other engines find the blob at ``key``: an absolute local path or an
        ``s3://`` URI; None for a store no other process can read (memory)."""
        return None

    def flush(self) -> None:
        """Make every put so far durable. The store calls this once after writing a commit's
        chunks and before committing; stores whose puts are durable on return keep this no-op.
        """
        return None

    def discard_stale(self, older_than: float) -> int:
        """Remove leftovers of interrupted puts last touched before ``older_than`` (epoch
        seconds); return how many. Stores whose puts leave nothing behind keep this no-op."""
        return 0

    @abstractmethod
    def _put(self, key: str, data: bytes, if_absent: bool) -> None: ...

    @abstractmethod
    def _get(self, key: str) -> bytes: ...

    @abstractmethod
    def _delete(self, keys: list[str]) -> None: ...

    @abstractmethod
    def _list(self, prefix: str) -> Iterator[BlobInfo]: ...


class MetadataStore(ABC):
    """Frame heads, version history and the chunk index, with atomic optimistic commits.

    Implementers: ``commit`` must be atomic with respect to the head. Chunk records may become
    visible before the head moves (readers ignore chunks whose ``txn`` no version carries), but
    the head and the version record must change together, and only if the head is still the
    one the writer read: the same ``frame_id`` *and* the same version. Comparing the version
    alone lets a writer commit "on version 1" of a frame that was deleted and created again
    meanwhile, erasing an acknowledged commit (the ABA problem). The head's ``revision`` too,
    a token every head write changes: ``update_head`` (vacuum raising ``min_version``) keeps
    the version, and a commit built on the head before it would otherwise bring the retired
    versions back. ``update_head`` compares the same three.

    Drop records (tombstones: an edit's removal of a chunk) follow the chunk records' rule:
    they may be indexed before the head moves, are tied to the commit by ``txn``, and must be
    keyed by chunk *and* txn, so a losing commit's drop never overwrites a winner's.

    **Vacuum and writers.** Vacuum removes unreferenced files older than a cutoff; a writer's
    files are unreferenced until its commit. So vacuum first records its cutoff, store-wide
    (:meth:`begin_vacuum`: the marker keeps the latest), and a commit that says when its
    writer began writing its files (``written_since``) succeeds only if no vacuum recorded a
    later cutoff, checked in the same atomic step as the head: a commit either lands before
    the vacuum reads what is referenced (its files are then referenced), or its files are
    newer than every cutoff (and no vacuum removes them), or it is refused with
    :class:`VacuumRaced`, and the writer writes its files again under fresh keys.
    """

    @abstractmethod
    def head(self, name: str) -> FrameHead | None:
        """Return the frame's head, or None if there is no such frame."""

    @abstractmethod
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
        """Make ``head`` current, record ``version`` and index ``chunks`` and ``drops``, all at
        once, if the frame's head is still ``expected`` (same ``frame_id``, version and
        ``revision``; None: the frame must not exist), or raise :class:`CommitConflict` and
        change nothing visible. With ``written_since`` (epoch seconds: when the writer began
        writing the files it commits), also only if no vacuum began with a later cutoff
        (see :meth:`begin_vacuum`), else :class:`VacuumRaced`, checked first."""

    @abstractmethod
    def begin_vacuum(self, cutoff: float) -> None:
        """Record, store-wide, that a vacuum removing unreferenced files older than
        ``cutoff`` (epoch seconds) began: from then on a commit whose files were written
        since an earlier time is refused. The marker keeps the latest cutoff recorded (an
        earlier one leaves it as it is)."""

    @abstractmethod
    def vacuum_cutoff(self) -> float | None:
        """The latest cutoff :meth:`begin_vacuum` recorded, or None if no vacuum began."""

    @abstractmethod
    def versions(self, frame_id: str) -> list[VersionRecord]:
        """All version records of a frame, oldest first."""

    @abstractmethod
    def chunks(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[ChunkRecord]:
        """Chunk records of one layout whose ``[lo, hi]`` range overlaps the one given
        (None is unbounded), including records of uncommitted or dropped chunks."""

    @abstractmethod
    def drops(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[DropRecord]:
        """Drop records of one layout whose ``[lo, hi]`` range overlaps the one given (None is
        unbounded), including those of commits that lost their race. Every drop of a chunk
        that :meth:`chunks` returns for a range is among those this returns for it."""

    @abstractmethod
    def frames(self, prefix: str = "") -> list[FrameHead]:
        """Heads of every frame whose name starts with ``prefix`` (literally, case-sensitive),
        sorted by name."""

    @abstractmethod
    def drop_frame(self, name: str, *, expected: FrameHead) -> None:
        """Remove the frame and its records if its head is still ``expected``, else raise
        :class:`CommitConflict`."""

    @abstractmethod
    def update_head(self, head: FrameHead, *, expected: FrameHead) -> None:
        """Replace the head's bookkeeping fields (``min_version``...) without a new version,
        if the head is still ``expected`` (same ``frame_id``, version and ``revision``); else
        raise :class:`CommitConflict`. The new head carries a new ``revision``."""

    @abstractmethod
    def forget_chunks(self, frame_id: str, chunks: Sequence[ChunkRecord]) -> None:
        """Delete these chunk records from the index (used by vacuum)."""

    @abstractmethod
    def forget_drops(self, frame_id: str, drops: Sequence[DropRecord]) -> None:
        """Delete these drop records (used by vacuum, after the chunks they drop are gone)."""


def same_head(current: FrameHead | None, expected: FrameHead | None) -> bool:
    """Whether ``current`` is still the head a writer read as ``expected`` (the commit
    condition every adapter applies).

    Example
    -------
    >>> same_head(None, None)
    True
    """
    if current is None or expected is None:
        return current is None and expected is None
    return (
        current.frame_id == expected.frame_id
        and current.version == expected.version
        and current.revision == expected.revision
    )


def conflict(name: str, expected: FrameHead | None) -> CommitConflict:
    """The error of a commit whose head moved."""
    seen = f"version {expected.version}" if expected else "no frame"
    return CommitConflict(f"frame {name!r} changed since it was read ({seen})")


#: how far a file's time (S3 keeps whole seconds; clocks of other machines drift) may be
#: behind the clock of the writer that wrote it: a writer counts its files as written this
#: long before it began writing them
CLOCK_MARGIN_S = 5.0


def writes_begin() -> float:
    """The ``written_since`` (see :meth:`MetadataStore.commit`) of files a writer begins
    writing now."""
    return time.time() - CLOCK_MARGIN_S


def writes_begin_after(meta: MetadataStore) -> float:
    """After :class:`VacuumRaced`: wait until files written from now on are newer than the
    latest vacuum's cutoff, clocks' errors included (at most :data:`CLOCK_MARGIN_S`: only a
    vacuum with a grace shorter than that makes a writer wait), then their
    ``written_since``."""
    wait = (meta.vacuum_cutoff() or 0.0) + CLOCK_MARGIN_S - time.time()
    if wait > 0:
        time.sleep(wait + 0.001)
    return writes_begin()


def vacuum_passed(cutoff: float | None, written_since: float | None) -> bool:
    """Whether a vacuum of ``cutoff`` (the marker's) may remove files a writer began writing
    at ``written_since`` (the condition every adapter applies; None: no vacuum began, or no
    condition asked).

    Example
    -------
    >>> vacuum_passed(100.0, 99.5), vacuum_passed(100.0, 100.0), vacuum_passed(None, 1.0)
    (True, False, False)
    """
    return cutoff is not None and written_since is not None and cutoff > written_since


def vacuum_raced(name: str, cutoff: float | None, written_since: float | None) -> VacuumRaced:
    """The error of a commit whose files a vacuum that began meanwhile may have removed."""
    began = f"{written_since or 0.0:.3f}"
    return VacuumRaced(
        f"frame {name!r}: a vacuum began (removing unreferenced files older than "
        f"{cutoff or 0.0:.3f}) after this writer began writing its files ({began}); nothing "
        "was committed: write them again under fresh keys and commit again"
    )
