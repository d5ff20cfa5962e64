"""Idempotent writes: a commit named by an ``idempotency_key`` happens once per frame, and a
key names one request only.

The key is stored in the version record, so it is recorded in the same metadata transaction
as the commit itself: a writer that crashes (or whose answer is lost) after committing leaves
the key behind, and a repeat finds it. Writers look the key up after every read of the head,
so two requests racing with one key commit once: the loser's commit fails on the moved head,
and its retry finds the winner's key and returns the winner's commit.

Beside the key, the version record keeps what the request asked for (:class:`Request`): the
operation, a digest of its options and, when the data was at hand, a digest of its rows. A
repeat must ask the same: a key reused for another operation, other options or other rows is
refused (:class:`InvalidArgument`) rather than answered with a commit of something else.
The record's field holds ``"{key} {operation} {options}[ {rows}]"``: a key has no spaces.

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

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from .errors import InvalidArgument
from .records import ChunkRecord, Commit, FrameHead, Layout

if TYPE_CHECKING:
    from .store import Store

#: option fields that say where the data is or what the write is named, not what it asks,
#: and those that only shape a new frame (an existing frame's must match or are ignored: a
#: repeat may give them or not)
_NOT_ASKED = frozenset(
    {"name", "idempotency_key", "staged", "session", "piece", "pieces"}
    | {"columns_keys", "chunk_rows", "format"}
)
#: a row digest is compared only between writers of the same polars release (its row hash
#: is stable within one release only)
_HASH_RELEASE = "pl" + ".".join(pl.__version__.split(".")[:2])
_MASK = 2**64 - 1


@dataclass(frozen=True)
class Request:
    """What a write named by a key asked for: its operation, a digest of its options, and a
    digest of its rows (None when they were not read: a stream checked before reading it)."""

    operation: str
    options: str
    data: str | None = None

    def recorded(self, key: str) -> str:
        """The version record's field for ``key`` and this request."""
        parts = [key, self.operation, self.options]
        return " ".join([*parts, self.data] if self.data else parts)

    def differs(self, other: Request) -> str | None:
        """How ``other`` (a repeat's request) differs from this one, or None."""
        if other.operation != self.operation:
            return f"{_an(self.operation)}, not {_an(other.operation)}"
        if other.options != self.options:
            return f"{_an(self.operation)} with other options"
        mine, theirs = self.data, other.data
        if mine and theirs and mine != theirs and _release(mine) == _release(theirs):
            return f"{_an(self.operation)} of other rows"
        return None


def _an(operation: str) -> str:
    return f"{'an' if operation[:1] in 'aeiou' else 'a'} {operation}"


def _release(data: str) -> str:
    return data.rsplit("-", 1)[-1]


def options_digest(options: Any) -> str:
    """A short digest of what ``options`` (a request model or a dict) asks, without where its
    data is or its name.

    Example
    -------
    >>> options_digest({"mode": "append"}) == options_digest({"mode": "append", "name": "x"})
    True
    """
    if hasattr(options, "model_dump"):
        fields = options.model_dump(mode="json", exclude_defaults=True)
    else:
        fields = dict(options)
    asked = {k: v for k, v in fields.items() if k not in _NOT_ASKED}
    text = json.dumps(asked, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class RowDigest:
    """A digest of rows that does not depend on how they were cut into pieces: the row count
    and the sum of each row's hash (polars' ``hash_rows``). ``add`` one frame after another
    (or ``merge`` digests of pieces) and read :attr:`text`.

    Example
    -------
    >>> a, b = RowDigest(), RowDigest()
    >>> a.add(pl.DataFrame({"x": [1, 2, 3]}))
    >>> b.add(pl.DataFrame({"x": [1]})); b.add(pl.DataFrame({"x": [2, 3]}))
    >>> a.text == b.text
    True
    """

    rows: int = 0
    total: int = 0
    #: False once a frame could not be hashed (then no digest is recorded)
    known: bool = True

    def add(self, frame: pl.DataFrame) -> None:
        """Count ``frame``'s rows in."""
        if not self.known or frame.height == 0:
            return
        try:
            hashes = frame.hash_rows(seed=0)
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException, TypeError):
            self.known = False
            return
        # numpy's uint64 sum wraps around: the sum modulo 2**64
        total = int(hashes.to_numpy().sum(dtype="uint64"))
        self.rows += frame.height
        self.total = (self.total + total) & _MASK

    def merge(self, state: list[Any] | None) -> None:
        """Count in a digest kept as :meth:`state` (None: one that was not known)."""
        if state is None:
            self.known = False
            return
        self.rows += int(state[0])
        self.total = (self.total + int(state[1], 16)) & _MASK

    def state(self) -> list[Any] | None:
        """The digest as JSON (for a piece's record), or None if not known."""
        return [self.rows, f"{self.total:016x}"] if self.known else None

    @property
    def text(self) -> str | None:
        """The digest as a request records it, or None if not known."""
        return f"{self.rows}-{self.total:016x}-{_HASH_RELEASE}" if self.known else None


def request_of(operation: str, options: Any, frame: pl.DataFrame | None = None) -> Request:
    """The request a write of ``operation`` with ``options`` (and the rows of ``frame``,
    when given) makes.

    Example
    -------
    >>> request_of("append", {}).operation
    'append'
    """
    data = None
    if frame is not None:
        digest = RowDigest()
        digest.add(frame)
        data = digest.text
    return Request(operation, options_digest(options), data)


def operation_of(opts: Any) -> str:
    """The operation ``versions()`` records for an upload of ``opts`` (an
    :class:`~pandasdb_core.operations.UploadOptions`): its mode, and ``overwrite`` for a
    ``keep_last`` append (it replaces the frame, or a batch key's batches).

    Example
    -------
    >>> from pandasdb_core.operations import UploadOptions
    >>> operation_of(UploadOptions.build(name="f", keep_last=True))
    'overwrite'
    """
    if opts.mode == "append" and opts.keep_last:
        return "overwrite"
    return str(opts.mode)


def upload_request(options: Any, digest: str | None = None) -> Request:
    """The request an upload of ``options`` (an UploadOptions) makes, with its rows' digest
    once known: what a repeat of its key is compared with before its rows are read (a
    staged upload answered from its key, an upload session opened with it).

    Example
    -------
    >>> from pandasdb_core.operations import UploadOptions
    >>> upload_request(UploadOptions.build(name="f", mode="overwrite")).operation
    'overwrite'
    """
    return Request(operation_of(options), options_digest(options), digest)


def recorded_key(key: str | None, request: Request) -> str | None:
    """The field a version record keeps for ``key`` and ``request`` (None without a key; a
    key that already carries a request is kept as it is).

    Example
    -------
    >>> recorded_key("k1", Request("append", "abc"))
    'k1 append abc'
    """
    if key is None or " " in key:
        return key
    return request.recorded(key)


def with_request(options: Any, operation: str, frame: pl.DataFrame | None = None) -> Any:
    """``options`` (a request model) whose ``idempotency_key`` also carries what the request
    asks (see the module docstring): what a writer passes on so that the commit records it
    and a repeat is compared with it. Options without a key are returned as they are."""
    key = getattr(options, "idempotency_key", None)
    if key is None or " " in key:
        return options
    recorded = recorded_key(key, request_of(operation, options, frame))
    return options.model_copy(update={"idempotency_key": recorded})


def split_key(field: str) -> tuple[str, Request | None]:
    """A version record's field as the key and the request it recorded (None: recorded
    before pandasdb kept requests).

    Example
    -------
    >>> split_key("k1 append abc 3-00ff-pl1.2")
    ('k1', Request(operation='append', options='abc', data='3-00ff-pl1.2'))
    >>> split_key("k1")
    ('k1', None)
    """
    parts = field.split(" ")
    if len(parts) < 3:
        return field, None
    return parts[0], Request(parts[1], parts[2], parts[3] if len(parts) > 3 else None)


def earlier_commit(
    store: Store, head: FrameHead | None, key: str | None, request: Request | None = None
) -> Commit | None:
    """The commit of frame ``head`` that was named ``key``, rebuilt from its version record
    and the chunk index (the keys of its chunk files that are still indexed), or None.

    ``key`` may carry its request (:func:`with_request`), or ``request`` be given: a commit
    of the key that recorded another request is refused with :class:`InvalidArgument`.
    """
    if key is None or head is None:
        return None
    name, carried = split_key(key)
    request = request or carried
    versions = store.meta.versions(head.frame_id)
    found = next(
        (v for v in versions if v.idempotency_key and split_key(v.idempotency_key)[0] == name),
        None,
    )
    if found is None:
        return None
    first = split_key(found.idempotency_key or "")[1]
    how = first.differs(request) if first is not None and request is not None else None
    if how is not None:
        raise InvalidArgument(
            f"idempotency_key {name!r} already named {how} of frame {head.name!r} (version "
            f"{found.version}); a key names one write, and a repeat must ask the same: use "
            "another key for another write; nothing was written"
        )
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
