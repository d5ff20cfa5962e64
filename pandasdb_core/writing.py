"""The write path of an upload: validate -> align with the schema -> cut into chunks per layout
-> write the chunk files -> commit one version, retrying while other writers win.

Chunk files are immutable and written before the commit that references them; a commit that
loses its race re-reads the head and commits the same files again as the next version (they
are re-encoded only if a concurrent writer changed the columns). A file no version references
is garbage that ``vacuum`` removes.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> db.upload(pd.DataFrame({"a": [1, 2]}), "numbers").version
1
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import random
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from . import codecs, manifest
from .conversion import to_polars
from .errors import CommitConflict, InvalidArgument, InvalidPartition, VacuumRaced
from .idempotency import commit_order, earlier_commit, with_request
from .layouts import PlannedChunk, WriteContext, batch_key, describe, keyed, kind_of
from .layouts.batch import last_key_frame  # noqa: F401 - maintenance.py imports it from here
from .operations import UploadOptions
from .parallel import map_prepared
from .ports import same_head, writes_begin, writes_begin_after
from .records import (
    ChunkRecord,
    Commit,
    DropRecord,
    FrameHead,
    Layout,
    VersionRecord,
    new_revision,
)
from .schema import Schema, align, merge_schema
from .stats import next_stats
from .visibility import visible

if TYPE_CHECKING:
    from .store import Store

T = TypeVar("T")


@dataclass(frozen=True)
class FrameSettings:
    """How a frame is stored; fixed when it is created."""

    layouts: tuple[Layout, ...]
    format: codecs.Format
    chunk_rows: int

    @classmethod
    def of(cls, head: FrameHead | None, opts: UploadOptions, store: Store) -> FrameSettings:
        """The settings an upload writes with: the frame's own, or the options' for a new
        frame; options that contradict an existing frame are refused."""
        if head is None:
            return cls(
                opts.layouts, opts.format or store.format, opts.chunk_rows or store.chunk_rows
            )
        asked = opts.layouts
        if opts.columns_keys and asked != head.layouts:
            raise InvalidArgument(
                f"columns_keys: frame {head.name!r} is laid out by {describe(head.layouts)}, "
                f"not {describe(asked)}; a frame keeps the layouts it was created with"
            )
        if opts.external_key is not None and not keyed(head.layouts):
            raise InvalidArgument(
                f"external_key applies to batch frames; frame {head.name!r} is partitioned by "
                f"{describe(head.layouts)}"
            )
        if opts.format is not None and opts.format != head.format:
            raise InvalidArgument(
                f"format: frame {head.name!r} is stored as {head.format!r}, not "
                f"{opts.format!r}; a frame keeps the format it was created with"
            )
        # a frame keeps its chunk size; chunk_rows applies to new frames only
        return cls(head.layouts, head.format, head.chunk_rows)

    @property
    def batched(self) -> bool:
        """Whether the frame keeps batches under external keys (no columns_keys)."""
        return keyed(self.layouts)


@dataclass(frozen=True)
class WrittenChunk:
    """A chunk file that is in the blob store, with its checksum and size."""

    planned: PlannedChunk
    sha256: str
    size: int
    #: rows in the file (kept apart from ``planned.frame``, which a streaming upload lets go
    #: once the file is written: see :mod:`pandasdb_core.sessions`)
    rows: int
    #: the place in row order it takes (``ChunkRecord.rank`` of the chunk an edit rewrote);
    #: None: a new chunk, placed by its commit
    place: tuple[int, int] | None = None
    #: its integer and boolean columns holding a null (:func:`null_columns`)
    nulls: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Removal:
    """What a commit takes out of the version it builds on: chunks dropped whole (a drop
    record each), the rewritten rest of chunks only partly removed, and the rows removed.
    ``keep_last`` drops every earlier chunk the way a ``keep_last`` upload does."""

    drops: tuple[ChunkRecord, ...] = ()
    rewrites: tuple[WrittenChunk, ...] = ()
    rows: int = 0
    keep_last: bool = False


#: plans an upload's removal against the head it builds on (None: a new frame), given the
#: aligned frame and the schema it commits with
Remover = Callable[[FrameHead | None, "pl.DataFrame", Schema], Removal]


@dataclass(frozen=True)
class Draft:
    """A version about to be committed on top of ``base`` (None: a new frame)."""

    name: str
    base: FrameHead | None
    schema: Schema
    settings: FrameSettings
    written: Sequence[WrittenChunk]
    external_key: str | None
    keep_last: bool
    rows: int
    removal: Removal = Removal()
    operation: str = "append"
    idempotency_key: str | None = None
    #: when the writer began writing the draft's files (see :func:`~.ports.writes_begin`):
    #: a vacuum whose cutoff is later may have removed them, and the commit is refused
    written_since: float | None = None

    @property
    def version(self) -> int:
        """The version number this draft commits as."""
        return self.base.version + 1 if self.base else 1


def upload(
    store: Store,
    df: Any,
    opts: UploadOptions,
    *,
    operation: str = "append",
    remove: Remover | None = None,
) -> Commit:
    """Store ``df`` as a new version of ``opts.name`` (see :meth:`Store.upload`); with
    ``remove``, the commit also takes out what it plans against the head (an overwrite, a
    replace: see :mod:`pandasdb_core.editing`). A repeat of an ``idempotency_key`` the frame
    has committed returns that commit and writes nothing."""
    frame, incoming = to_polars(df)
    # the key names this request: a repeat with other rows or options is refused, not taken
    opts = with_request(opts, operation, frame)
    if frame.height == 0:
        raise InvalidArgument("dataframe has no rows; nothing to upload")
    if frame.width == 0:
        raise InvalidArgument("dataframe has no columns; nothing to upload")
    written: list[WrittenChunk] = []
    encoded_for: tuple[Any, ...] | None = None
    since = writes_begin()
    for attempt in attempts(store.commit_timeout, store.deadline):
        head = store.meta.head(opts.name)
        earlier = earlier_commit(store, head, opts.idempotency_key)
        if earlier is not None:
            return earlier
        settings = FrameSettings.of(head, opts, store)
        schema = merge_schema(head.schema if head else None, incoming, version=_next(head))
        # planned against this head before anything is written: a refused edit writes nothing
        removal = remove(head, align(frame, schema), schema) if remove else Removal()
        shape = (tuple(c["name"] for c in schema["columns"]), settings)
        if shape != encoded_for:
            # first attempt, or a concurrent writer added columns: (re-)encode the chunks
            written = write_chunks(store, align(frame, schema), opts, settings)
            encoded_for = shape
        draft = Draft(
            name=opts.name,
            base=head,
            schema=schema,
            settings=settings,
            written=written,
            external_key=batch_key(settings.layouts, opts.external_key),
            keep_last=opts.keep_last or removal.keep_last,
            rows=frame.height,
            removal=removal,
            operation=operation,
            idempotency_key=opts.idempotency_key,
            written_since=since,
        )
        try:
            commit = record(store, draft)
        except VacuumRaced:
            # a vacuum may have removed the chunks: write them again, under fresh keys
            since, encoded_for = writes_begin_after(store.meta), None
            continue
        except CommitConflict:
            backoff(attempt)
            continue
        _write_last_key(store, draft)
        return commit
    raise CommitConflict(
        f"frame {opts.name!r}: other writers kept committing; gave up after "
        f"{store.commit_timeout:.0f}s"
    )


def _next(head: FrameHead | None) -> int:
    return head.version + 1 if head else 1


def write_chunks(
    store: Store,
    frame: pl.DataFrame,
    opts: UploadOptions,
    settings: FrameSettings,
    *,
    flush: bool = True,
) -> list[WrittenChunk]:
    """Cut ``frame`` for every layout, write the files and make them durable (with
    ``flush`` False the caller flushes once before its commit: an upload session)."""
    where = WriteContext(
        name=opts.name,
        chunk_rows=settings.chunk_rows,
        fmt=settings.format,
        external_key=opts.external_key,
        now=dt.datetime.now(dt.UTC),
    )
    for layout in settings.layouts:  # refuse bad data before writing anything
        if layout.column and layout.column not in frame.columns:
            raise InvalidPartition(
                f"columns_keys names column {layout.column!r}, which the dataframe does not have"
            )
        kind_of(layout).check(frame, layout)
    codecs.check_encodable(frame, settings.format)
    planned = [c for lay in settings.layouts for c in kind_of(lay).plan(frame, lay, where)]
    return put_chunks(store, planned, settings.format, flush=flush)


#: at most this many rows and files are encoded in one polars call (see
#: :func:`codecs.render_many`). Measured on 365 day files of 1,370 rows: 8 files a call take
#: a fifth less CPU than one; more save little, and polars holds buffers for every file a call
#: writes (48 files a call: 15 MB more at peak than 8)
ENCODE_ROWS = 16_384
ENCODE_FILES = 8
#: polars calls encoding at once: one call of a few small files keeps about one core busy
#: (365 day files of 1,370 rows, 2 cores: parquet 153 ms one call at a time, 115 ms two)
ENCODERS = 2


def put_chunks(
    store: Store,
    planned: Sequence[PlannedChunk],
    fmt: codecs.Format,
    places: Sequence[tuple[int, int] | None] | None = None,
    *,
    flush: bool = True,
) -> list[WrittenChunk]:
    """Encode planned chunks, many per polars call and two calls at once, and finish and write
    them on the store's threads (each under a fresh key) while the next ones are encoded; then
    make them durable. ``places`` gives each its place in row order (see
    :class:`WrittenChunk`)."""

    def encode(batch: Sequence[tuple[PlannedChunk, Any]]) -> list[codecs.Rendered]:
        return codecs.render_many([chunk.frame for chunk, _ in batch], fmt)

    def write(
        item: tuple[PlannedChunk, tuple[int, int] | None], rendered: codecs.Rendered
    ) -> WrittenChunk:
        chunk, place = item
        data = codecs.finish(rendered)  # CSV text compressed here, on the writing threads
        store.blobs.put(chunk.key, data, if_absent=True)
        digest = hashlib.sha256(data).hexdigest()
        nulls = null_columns(chunk.frame)
        return WrittenChunk(chunk, digest, len(data), chunk.frame.height, place, nulls)

    items = list(zip(planned, places or [None] * len(planned), strict=True))
    written = map_prepared(
        encode,
        write,
        encode_batches(items, [chunk.frame.height for chunk in planned]),
        workers=store.workers,
        preparers=ENCODERS,
        label="writing chunks",
        progress=store.progress,
    )
    if written and flush:
        store.blobs.flush()  # chunks are durable before any commit can reference them
    return written


#: a chunk record lists the columns holding nulls only when their names come to at most
#: this many characters: a chunk item stays far below DynamoDB's 400 KB however wide the
#: frame (a read finds the nulls of a chunk that lists none by reading its file)
NULLS_CHARS = 2_048


def null_columns(frame: pl.DataFrame) -> tuple[str, ...] | None:
    """The integer and boolean columns of a chunk's frame that hold a null, as its record
    keeps them (:attr:`ChunkRecord.nulls`): their nulls decide the pandas dtype a read gives
    them. A column of nulls only that has no type yet (``Null``) counts too: a later upload
    may make it an integer or boolean column, null in this chunk's rows. None when their
    names exceed :data:`NULLS_CHARS`. Free: polars knows each column's null count.

    Example
    -------
    >>> null_columns(pl.DataFrame({"a": [1, None], "b": [1, 2], "c": [None, 1.5], "d": [None] * 2}))
    ('a', 'd')
    """
    names = tuple(
        s.name
        for s in frame.iter_columns()
        if (s.dtype.is_integer() or s.dtype in (pl.Boolean, pl.Null)) and s.null_count()
    )
    return names if sum(map(len, names)) <= NULLS_CHARS else None


def encode_batches(items: Sequence[T], rows: Sequence[int]) -> list[Sequence[T]]:
    """``items`` in runs of at most :data:`ENCODE_ROWS` rows (``rows`` gives each item's)
    and :data:`ENCODE_FILES` items; an item of more rows is a run of its own.

    Example
    -------
    >>> encode_batches("abcd", [16_000, 1_000, 20_000, 1])
    ['a', 'b', 'c', 'd']
    >>> encode_batches("abc", [1, 2, 3])
    ['abc']
    """
    batches: list[Sequence[T]] = []
    start, held = 0, 0
    for i, count in enumerate(rows):
        if i > start and (held + count > ENCODE_ROWS or i - start >= ENCODE_FILES):
            batches.append(items[start:i])
            start, held = i, 0
        held += count
    if start < len(items):
        batches.append(items[start:])
    return batches


def record(store: Store, draft: Draft) -> Commit:
    """Commit ``draft`` as one version: head, version record, chunk index and the drop
    records of what it removes, at once."""
    now = time.time()
    txn = uuid.uuid4().hex
    base = draft.base
    removal = draft.removal
    records = [
        ChunkRecord(
            chunk_id=uuid.uuid4().hex,
            layout=w.planned.layout,
            lo=w.planned.lo,
            hi=w.planned.hi,
            key=w.planned.key,
            rows=w.rows,
            size=w.size,
            sha256=w.sha256,
            version=draft.version,
            txn=txn,
            seq=seq if w.place is None else w.place[1],
            external_key=w.planned.external_key,
            origin=None if w.place is None else w.place[0],
            nulls=w.nulls,
        )
        for seq, w in enumerate([*draft.written, *removal.rewrites])
    ]
    chunks = commit_order(records, draft.settings.layouts)
    drops = [
        DropRecord(c.chunk_id, c.layout, c.lo, c.hi, version=draft.version, txn=txn)
        for c in removal.drops
    ]
    size = sum(c.size for c in chunks)
    hidden = kept_last_hides(store, base, draft) if (draft.keep_last and base) else []
    dropped = sum(c.rows for c in hidden) + removal.rows
    total = (base.rows if base else 0) - dropped + draft.rows
    version = VersionRecord(
        version=draft.version,
        txn=txn,
        created_at=now,
        rows_added=draft.rows,
        rows_total=total,
        chunks_added=len(chunks),
        bytes_added=size,
        external_key=draft.external_key,
        keep_last=draft.keep_last,
        operation=draft.operation,
        drop_records=len(drops),
        idempotency_key=draft.idempotency_key,
    )
    head = FrameHead(
        name=draft.name,
        frame_id=base.frame_id if base else uuid.uuid4().hex,
        version=draft.version,
        format=draft.settings.format,
        layouts=draft.settings.layouts,
        schema=draft.schema,
        chunk_rows=draft.settings.chunk_rows,
        rows=total,
        created_at=base.created_at if base else now,
        updated_at=now,
        min_version=base.min_version if base else 1,
        previous_min_version=base.previous_min_version if base else 1,
        retired_at=base.retired_at if base else 0.0,
        # kept here so list() reads no index; a keep_last of a partitioned frame hides all
        stats=next_stats(
            store,
            base,
            draft.settings.layouts,
            chunks,
            [*removal.drops, *hidden],
            hides_all=draft.keep_last and draft.external_key is None,
        ),
        # a new token: the commit succeeds only on the very head it copied the floor from
        revision=new_revision(),
    )
    store.meta.commit(
        head, version, chunks, expected=base, drops=drops, written_since=draft.written_since
    )
    after_commit(
        draft.name,
        draft.version,
        "its symlink manifests",
        lambda: manifest.after_commit(store, draft.name),
        f"db.manifest({draft.name!r}) writes them again",
    )
    return Commit(
        draft.name,
        draft.version,
        draft.rows,
        len(chunks),
        tuple(c.key for c in chunks),
        size,
        chunk_rows=tuple(c.rows for c in chunks),
        external_key=draft.external_key,
        rows_removed=dropped,
        chunks_dropped=len(drops),
    )


def rows_dropped(store: Store, base: FrameHead, draft: Draft) -> int:
    """Rows a ``keep_last`` commit hides: the key's batches, or all earlier data."""
    return sum(c.rows for c in kept_last_hides(store, base, draft))


def kept_last_hides(store: Store, base: FrameHead, draft: Draft) -> list[ChunkRecord]:
    """The chunks of the first layout a ``keep_last`` commit hides: the key's batches, or all
    earlier data."""
    layout = base.layouts[0].tag
    key = draft.external_key
    records = visible(store.meta, base.frame_id, layout, base.version, key, key)
    return [c for c in records if c.external_key == key]


def _write_last_key(store: Store, draft: Draft) -> None:
    """After ``draft``'s commit: each layout kind's informational files (a batch key's
    ``last_key.txt``, as the seed writes it)."""
    keys = [w.planned.key for w in draft.written]

    def write() -> None:
        for layout in draft.settings.layouts:
            kind_of(layout).committed(store.blobs, draft.name, draft.external_key, keys)

    after_commit(draft.name, draft.version, "its last_key.txt", write, "a later upload writes it")


def after_commit(name: str, version: int, what: str, write: Callable[[], None], then: str) -> None:
    """Write files derived from a commit that has landed. A failure there (a storage error,
    a local folder in a file's place) is a warning, never the writer's error: the version
    is committed, and a writer told otherwise would retry it and commit the rows twice."""
    done = f"frame {name!r}: version {version} is committed"
    after_landing(done, f"{what} could not be written", write, then)


def after_landing(done: str, failed: str, work: Callable[[], None], then: str) -> None:
    """Do ``work`` that follows a metadata commit which has landed (``done`` says which):
    writing or removing files derived from it. A failure is a :class:`RuntimeWarning`
    (``failed`` says what was not done, ``then`` who does it later), never an error: a
    caller told that a committed write or delete failed would retry it.

    Example
    -------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     after_landing("frame 'f' is deleted", "its files stay", lambda: 1 / 0, "vacuum")
    >>> str(caught[0].message)
    "frame 'f' is deleted, but its files stay (ZeroDivisionError: division by zero); vacuum"
    """
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - any failure: the commit stands all the same
        warnings.warn(
            f"{done}, but {failed} ({type(exc).__name__}: {exc}); {then}",
            RuntimeWarning,
            stacklevel=3,
        )


def commit_on_head(store: Store, name: str, build: Callable[[FrameHead], Draft | T]) -> Commit | T:
    """Build a draft on frame ``name``'s head and commit it, building again whenever another
    writer wins the race; ``build`` returns something else than a Draft when there is nothing
    to commit, and that is returned as it is, once the head it was built on is seen to be
    still the frame's (a head read just before the frame was deleted and created again has
    none of the new frame's rows: "nothing to do" there is no answer for the new one)."""
    since = writes_begin()
    for attempt in attempts(store.commit_timeout, store.deadline):
        head = store.head(name)
        draft = build(head)  # writes the files of its rewrites afresh each time
        if not isinstance(draft, Draft):
            if same_head(store.meta.head(name), head):
                return draft
            backoff(attempt)
            continue
        try:
            return record(store, dataclasses.replace(draft, written_since=since))
        except VacuumRaced:
            since = writes_begin_after(store.meta)
        except CommitConflict:
            backoff(attempt)
            since = writes_begin()
    raise CommitConflict(
        f"frame {name!r}: other writers kept committing; gave up after {store.commit_timeout:.0f}s"
    )


def attempts(timeout: float, deadline: float | None = None) -> Iterator[int]:
    """Attempt numbers until ``timeout`` seconds have passed, or until ``deadline`` (a
    :func:`time.monotonic` time: :attr:`Store.deadline`, the end of the request under way)
    if that comes first, however late the loop began; at least one attempt.

    Example
    -------
    >>> list(attempts(60.0, deadline=time.monotonic() - 1))
    [0]
    """
    ends = time.monotonic() + timeout
    if deadline is not None:
        ends = min(ends, deadline)
    attempt = 0
    while attempt == 0 or time.monotonic() < ends:
        yield attempt
        attempt += 1


def backoff(attempt: int) -> None:
    """Jittered exponential backoff after a lost race, capped so nobody starves."""
    time.sleep(min(0.25, 0.005 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.5))
