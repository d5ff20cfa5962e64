"""Housekeeping: ``vacuum`` frees files no retained version reads; ``check`` verifies that
every retained chunk file is present, intact and decodable.

Both protect work in flight for a grace period: files younger than it (a writer between
writing chunks and committing them), and files only versions retired less than it ago read (a
reader that resolved its version just before ``vacuum(retain_versions=...)``). A writer whose
files are older than the grace (a long session, or any writer under ``grace_seconds=0``) is
protected by the vacuum marker when its commit says when it began writing them (an upload
session's does): vacuum records its cutoff before it reads anything, and such a writer's
commit is then refused and writes its files again (see
:class:`pandasdb_core.ports.MetadataStore`). Vacuum removes its own store's files only: the
keys under another store's root (a folder holding ``.pandasdb/``: a store at a prefix of the
same bucket, or in a sub-folder) are never its garbage. On a local store whose file system
folds names (ignores case: ``Sales/`` and ``sales/`` are one folder), keys are compared by
their fold: the listing names frame ``sales``'s files as the folder was first spelt
(``Sales/...``), and an exact comparison would take them for garbage.

Example
-------
>>> import pandasdb_core as pdb
>>> pdb.open("memory://").vacuum(dry_run=True).blobs_deleted
()
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import polars as pl

from . import codecs, manifest, sessions
from .errors import BlobNotFound, CommitConflict
from .names import fold
from .operations import VacuumOptions
from .ports import other_stores
from .records import (
    CheckReport,
    ChunkRecord,
    DropRecord,
    FrameHead,
    VacuumReport,
    VersionRecord,
    new_revision,
)
from .schema import polars_schema
from .staging import STAGING_PREFIX
from .visibility import committed, garbage, garbage_drops
from .writing import last_key_frame

if TYPE_CHECKING:
    from .store import Store


def _retire(store: Store, head: FrameHead, opts: VacuumOptions, now: float) -> FrameHead:
    """Raise the frame's ``min_version`` for ``retain_versions``; what only the retired
    versions read stays on storage until the raise is a grace period old."""
    if opts.retain_versions is None:
        return head
    floor = max(head.min_version, head.version - opts.retain_versions + 1)
    if floor == head.min_version or opts.dry_run:
        return replace(head, min_version=floor)
    raised = replace(
        head,
        min_version=floor,
        previous_min_version=head.freeable_floor(now - opts.grace_seconds),
        retired_at=now,
        # a new token: a commit built on the head before the raise now conflicts and rebuilds
        # on this one, instead of writing the old floor back
        revision=new_revision(),
    )
    try:
        store.meta.update_head(raised, expected=head)
    except CommitConflict:
        return head  # a writer got in; the next vacuum retries
    return raised


def _file_of(store: Store) -> Callable[[str], str]:
    """What tells two keys' files apart: their fold on a store whose file system folds
    names (:attr:`~pandasdb_core.adapters.local.LocalBlobStore.folds_names`), else the key.

    Example
    -------
    >>> import pandasdb_core as pdb
    >>> _file_of(pdb.open("memory://"))("Sales/x.csv.gz")
    'Sales/x.csv.gz'
    """
    return fold if getattr(store.blobs, "folds_names", False) else str


def vacuum(store: Store, opts: VacuumOptions) -> VacuumReport:
    """Remove chunk files no retained version references (see :meth:`Store.vacuum`)."""
    now = time.time()
    cutoff = now - opts.grace_seconds
    if not opts.dry_run:
        # before anything is read: a writer that says when it began writing its files
        # (written_since: a session's commit) and began before the cutoff, and that has not
        # committed by the time the frames are read below, is refused at its commit (it
        # writes them again), so no file removed here is one its acknowledged commit names
        store.meta.begin_vacuum(cutoff)
    # before the frames: a session that commits meanwhile is then protected or referenced
    file_of = _file_of(store)
    referenced = {file_of(key) for key in sessions.protected_keys(store, cutoff)}
    live_frames: set[str] = set()
    forgotten = 0
    for head in store.meta.frames():
        live_frames.add(file_of(head.name))
        head = _retire(store, head, opts, now)
        floor = head.freeable_floor(cutoff)
        versions = store.meta.versions(head.frame_id)
        for layout in head.layouts:
            drops = _drops(store, head, layout.tag, versions)
            records = store.meta.chunks(head.frame_id, layout.tag)
            dead = garbage(records, versions, floor, head.version, drops)
            dead_ids = {c.chunk_id for c in dead}
            kept = [c for c in records if c.chunk_id not in dead_ids]
            referenced.update(file_of(c.key) for c in kept)
            dead_drops = garbage_drops(drops, kept, versions, head.version)
            forgotten += len(dead) + len(dead_drops)
            if not opts.dry_run:
                # chunks before their drops: a reader never sees a dropped chunk come back
                if dead:
                    store.meta.forget_chunks(head.frame_id, dead)
                if dead_drops:
                    store.meta.forget_drops(head.frame_id, dead_drops)
    listed = list(store.blobs.list())
    # a store at a prefix of this one's place (s3://b/team-a beside s3://b) keeps its own
    # files below it: never this store's garbage
    others = other_stores(b.key for b in listed)
    doomed = [
        b
        for b in listed
        if b.modified < cutoff
        and file_of(b.key) not in referenced
        and not b.key.startswith(others)
        and (
            b.key.endswith(codecs.FORMATS)
            or b.key.startswith(STAGING_PREFIX)
            or _orphan(last_key_frame(b.key), live_frames, file_of)
            or _orphan(_manifest_frame(b.key), live_frames, file_of)
        )
    ]
    if not opts.dry_run:
        store.blobs.delete(b.key for b in doomed)
        store.blobs.discard_stale(cutoff)
    return VacuumReport(
        blobs_deleted=tuple(sorted(b.key for b in doomed)),
        chunk_records_forgotten=forgotten,
        bytes_freed=sum(b.size for b in doomed),
        dry_run=opts.dry_run,
    )


def _drops(
    store: Store, head: FrameHead, layout: str, versions: list[VersionRecord]
) -> list[DropRecord]:
    """The layout's drop records, read only if some version wrote any."""
    if not any(v.drop_records for v in versions):
        return []
    return store.meta.drops(head.frame_id, layout)


def _orphan(frame: str | None, live_frames: set[str], file_of: Callable[[str], str]) -> bool:
    """Whether a frame's own file (a last_key.txt, a manifest) belongs to no live frame
    (``live_frames`` holds their names through ``file_of``)."""
    return frame is not None and file_of(frame) not in live_frames


def _manifest_frame(key: str) -> str | None:
    """The frame whose manifest ``key`` is, read from the right (``{name}/`` the manifest
    folder ``/{layout folder}/manifest``: a frame name may hold the manifest folder's name,
    a layout folder holds no ``/``), or None for any other key.

    Example
    -------
    >>> _manifest_frame("a/_symlink_format_manifest/b/_symlink_format_manifest/ts/manifest")
    'a/_symlink_format_manifest/b'
    """
    parts = key.rsplit("/", 3)
    if len(parts) != 4 or parts[1] != manifest.MANIFEST_DIR or parts[3] != "manifest":
        return None
    return parts[0]


#: types whose parameters a column's later uploads may widen (categories added, a decimal's
#: precision): a chunk written before holds the same kind of column
_WIDENED = (pl.Categorical, pl.Enum, pl.Decimal)


def holds_schema(data: bytes, fmt: codecs.Format, dtypes: dict[str, pl.DataType]) -> bool:
    """Whether the chunk file ``data`` holds exactly the columns ``dtypes`` names (those its
    version's schema records) and, in a parquet file, each with its recorded type (or none:
    a column of nulls only; or with fewer categories, or another decimal precision, than
    later uploads gave it). A file that lacks a column would read as nulls there, and one
    of another type would be cast: decodable, but not what was committed.

    Example
    -------
    >>> data = codecs.encode(pl.DataFrame({"a": [1]}), "parquet")
    >>> holds_schema(data, "parquet", {"a": pl.Int64()})
    True
    >>> holds_schema(data, "parquet", {"a": pl.Int64(), "b": pl.String()})
    False
    >>> holds_schema(data, "parquet", {"a": pl.String()})
    False
    """
    if fmt != "parquet":
        header = codecs.unpack(data, fmt).header or ()
        return sorted(header) == sorted(dtypes)
    stored = pl.read_parquet_schema(io.BytesIO(data))
    if sorted(stored) != sorted(dtypes):
        return False
    for name, dtype in dtypes.items():
        have = stored[name]
        same_kind = isinstance(dtype, _WIDENED) and have.base_type() == dtype.base_type()
        if have != dtype and have != pl.Null and not same_kind:
            return False
    return True


def check(store: Store, prefix: str = "") -> CheckReport:
    """Verify every chunk file a retained version reads (see :meth:`Store.check`)."""
    targets: list[tuple[FrameHead, ChunkRecord]] = []
    heads = store.meta.frames(prefix)
    for head in heads:
        versions = store.meta.versions(head.frame_id)
        for layout in head.layouts:
            drops = _drops(store, head, layout.tag, versions)
            records = store.meta.chunks(head.frame_id, layout.tag)
            floor, top = head.min_version, head.version
            dead = {c.chunk_id for c in garbage(records, versions, floor, top, drops)}
            targets.extend(
                (head, c) for c in committed(records, versions) if c.chunk_id not in dead
            )

    def verify(target: tuple[FrameHead, ChunkRecord]) -> tuple[str, str | None]:
        head, chunk = target
        try:
            data = store.blobs.get(chunk.key)
        except BlobNotFound:
            return chunk.key, "missing"
        if len(data) != chunk.size or hashlib.sha256(data).hexdigest() != chunk.sha256:
            return chunk.key, "corrupt"
        dtypes = polars_schema(head.schema, as_of=chunk.version)
        try:
            codecs.decode(data, head.format, dtypes, list(dtypes))
            fits = holds_schema(data, head.format, dtypes)
        except Exception:  # noqa: BLE001 - any failure to decode is what check reports
            return chunk.key, "undecodable"
        return chunk.key, None if fits else "undecodable"

    found = store.map(verify, targets, "checking chunks")
    return CheckReport(
        frames=len(heads),
        chunks_checked=len(targets),
        missing=tuple(sorted(k for k, problem in found if problem == "missing")),
        corrupt=tuple(sorted(k for k, problem in found if problem == "corrupt")),
        undecodable=tuple(sorted(k for k, problem in found if problem == "undecodable")),
    )
