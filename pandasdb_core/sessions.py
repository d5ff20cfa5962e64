"""Upload sessions: a frame written piece by piece as uncommitted chunk files, then committed
as one version.

A session lives in the staging area, ``.staging/sessions/{id}/``: ``session.json`` (the
upload's options and the frame's settings when it opened), ``schema.json`` (the columns and
types the first piece fixed) and one ``piece-NNNNNNNN.json`` per piece written (its rows,
its captured schema and the chunk files it wrote, at their final keys). Nothing is visible
before the commit, which records every piece's chunks in one metadata commit, exactly as an
upload of the whole frame would. Each piece is bounded work, so a frame of any size passes
through a function whose memory and time are bounded: the local streaming upload
(:mod:`pandasdb_core.streaming`) and the HTTP API's session routes both run on this.

An abandoned session leaves chunk files no version references and its staging files:
``vacuum`` removes both once the session has been untouched for its grace period (a session
written to within it keeps its chunk files), and on AWS the bucket's lifecycle rule expires
``.staging/``.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> from pandasdb_core.operations import UploadOptions
>>> db = pdb.open("memory://")
>>> session = UploadSession.open(db, UploadOptions.build(name="f"))
>>> session.write_piece(0, pd.DataFrame({"a": [1, 2]})).rows
2
>>> _ = session.write_piece(1, pd.DataFrame({"a": [3]}))
>>> db.list()
0 frames
>>> session.commit(pieces=2).version, db.get("f")["a"].tolist()
(1, [1, 2, 3])
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from .conversion import to_polars
from .errors import BlobNotFound, CommitConflict, InvalidArgument, SchemaMismatch
from .idempotency import earlier_commit
from .layouts import DEFAULT_KEY, PlannedChunk
from .operations import UploadOptions
from .records import Commit, FrameHead, Layout
from .schema import Schema, align, merge_schema
from .staging import STAGING_PREFIX
from .writing import (
    Draft,
    FrameSettings,
    WrittenChunk,
    _write_last_key,
    attempts,
    backoff,
    record,
    write_chunks,
)

if TYPE_CHECKING:
    from .store import Store

SESSIONS_PREFIX = f"{STAGING_PREFIX}sessions/"
_SESSION_ID = re.compile(r"[0-9a-f]{32}")
#: the most pieces one session takes (piece numbers are 0 .. MAX_PIECES - 1)
MAX_PIECES = 1_000_000
_PIECE = "piece-"


@dataclass(frozen=True)
class PieceReceipt:
    """What writing one piece did: its number, rows, chunk files and their bytes."""

    piece: int
    rows: int
    chunks: int
    bytes: int


def session_prefix(session_id: str) -> str:
    """The staging folder of session ``session_id`` (refused if it is not a session id).

    Example
    -------
    >>> session_prefix("0" * 32)
    '.staging/sessions/00000000000000000000000000000000/'
    """
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise InvalidArgument(f"session: {session_id!r} is not an upload session id")
    return f"{SESSIONS_PREFIX}{session_id}/"


def _piece_key(prefix: str, number: int) -> str:
    return f"{prefix}{_PIECE}{number:08d}.json"


def _settings_json(settings: FrameSettings) -> dict[str, Any]:
    return {
        "layouts": [[lay.kind, lay.column] for lay in settings.layouts],
        "format": settings.format,
        "chunk_rows": settings.chunk_rows,
    }


def _settings_from(data: dict[str, Any]) -> FrameSettings:
    layouts = tuple(Layout(kind, column) for kind, column in data["layouts"])
    return FrameSettings(layouts, data["format"], data["chunk_rows"])


def _frame_changed(name: str) -> CommitConflict:
    return CommitConflict(
        f"frame {name!r} was deleted or created again while the upload session was open; "
        "nothing was committed: upload again"
    )


class UploadSession:
    """One upload in pieces (see the module docstring). Build with :meth:`open` or
    :meth:`resume`."""

    def __init__(
        self,
        store: Store,
        session_id: str,
        options: UploadOptions,
        settings: FrameSettings,
        frame_id: str | None,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.options = options
        self.settings = settings
        #: the frame the session adds to (None: it creates the frame)
        self.frame_id = frame_id
        self.prefix = session_prefix(session_id)
        self._schema: Schema | None = None

    # ------------------------------------------------------------------ open

    @classmethod
    def open(cls, store: Store, options: UploadOptions) -> UploadSession:
        """Open a session for an upload of ``options`` (checked against the frame now, as an
        upload would be)."""
        if getattr(options, "mode", "append") != "append":
            raise InvalidArgument(
                f"mode: {options.mode!r} needs the whole frame at once; a streamed upload "  # type: ignore[attr-defined]
                "appends (keep_last=True replaces what the frame held)"
            )
        head = store.meta.head(options.name)
        settings = FrameSettings.of(head, options, store)
        session = cls(store, uuid.uuid4().hex, options, settings, head.frame_id if head else None)
        state = {
            "options": options.to_json(),
            "settings": _settings_json(settings),
            "frame_id": session.frame_id,
            "opened_at": time.time(),
        }
        store.blobs.put(session.prefix + "session.json", json.dumps(state).encode())
        return session

    @classmethod
    def resume(cls, store: Store, session_id: str) -> UploadSession:
        """The open session ``session_id`` of this store (refused if there is none)."""
        prefix = session_prefix(session_id)
        try:
            state = json.loads(store.blobs.get(prefix + "session.json"))
        except BlobNotFound:
            raise InvalidArgument(
                f"session: no open upload session {session_id!r} (committed, abandoned and "
                "cleaned up, or never opened)"
            ) from None
        options = UploadOptions.from_json(state["options"])
        settings = _settings_from(state["settings"])
        return cls(store, session_id, options, settings, state["frame_id"])

    # ------------------------------------------------------------------ pieces

    def schema(self) -> Schema | None:
        """The columns and types the first piece fixed (None before it is written)."""
        if self._schema is None:
            try:
                self._schema = json.loads(self.store.blobs.get(self.prefix + "schema.json"))
            except BlobNotFound:
                return None
        return self._schema

    def write_piece(self, number: int, df: Any) -> PieceReceipt:
        """Write piece ``number`` (0 first: it fixes the columns and their types; later ones
        may come in any order, and writing a number again replaces that piece) as
        uncommitted chunk files.

        Raises
        ------
        SchemaMismatch
            The piece has a column the first did not, or another type for one.
        InvalidArgument, InvalidPartition
            Bad data; nothing of this piece is recorded.
        """
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidArgument(f"piece must be a piece number, got {number!r}")
        if not 0 <= number < MAX_PIECES:
            raise InvalidArgument(f"piece must be between 0 and {MAX_PIECES - 1}, got {number}")
        if self._committed() is not None:
            raise InvalidArgument(f"session: {self.session_id!r} is committed; open another")
        frame, incoming = to_polars(df)
        if frame.width == 0:
            raise InvalidArgument(f"piece {number}: the piece has no columns")
        fixed = self.schema()
        if number == 0:
            fixed = self._fix_schema(incoming)
        elif fixed is None:
            raise InvalidArgument(
                f"piece {number}: write piece 0 first; its columns and types fix the upload's"
            )
        extra = [c["name"] for c in incoming["columns"] if c["name"] not in _names(fixed)]
        if extra:
            raise SchemaMismatch(
                f"piece {number}: column(s) {extra[:10]!r} are not in the first piece; a "
                "streamed upload's columns are fixed by its first piece"
            )
        try:
            schema = merge_schema(fixed, incoming, version=_NEXT)
        except SchemaMismatch as exc:
            raise SchemaMismatch(
                f"piece {number}: {exc} (a streamed upload's types are fixed by its first piece)"
            ) from None
        written: list[WrittenChunk] = []
        if frame.height:
            # made durable once, by the commit (a flush per piece costs more than the piece)
            written = write_chunks(
                self.store, align(frame, schema), self.options, self.settings, flush=False
            )
        piece = {
            "rows": frame.height,
            "schema": incoming,
            "chunks": [
                {
                    "layout": w.planned.layout,
                    "lo": w.planned.lo,
                    "hi": w.planned.hi,
                    "key": w.planned.key,
                    "external_key": w.planned.external_key,
                    "rows": w.rows,
                    "size": w.size,
                    "sha256": w.sha256,
                }
                for w in written
            ],
        }
        self.store.blobs.put(_piece_key(self.prefix, number), json.dumps(piece).encode())
        return PieceReceipt(number, frame.height, len(written), sum(w.size for w in written))

    def _fix_schema(self, incoming: Schema) -> Schema:
        """Piece 0's columns, after the frame's own: what every piece is written with."""
        head = self._head()
        fixed = merge_schema(head.schema if head else None, incoming, version=_NEXT)
        self.store.blobs.put(self.prefix + "schema.json", json.dumps(fixed).encode())
        self._schema = fixed
        return fixed

    def _head(self) -> FrameHead | None:
        """The frame's head, refused if the frame is no longer the one the session opened on."""
        head = self.store.meta.head(self.options.name)
        if (head.frame_id if head else None) != self.frame_id and self.frame_id is not None:
            raise _frame_changed(self.options.name)
        return head

    def pieces(self) -> dict[int, dict[str, Any]]:
        """The pieces written so far, by number."""
        found = {}
        for blob in self.store.blobs.list(self.prefix + _PIECE):
            number = int(blob.key[len(self.prefix) + len(_PIECE) :].split(".", 1)[0])
            found[number] = json.loads(self.store.blobs.get(blob.key))
        return dict(sorted(found.items()))

    # ------------------------------------------------------------------ commit

    def commit(self, pieces: int | None = None) -> Commit:
        """Commit every piece as one version, in piece order; with ``pieces``, refuse unless
        exactly pieces 0 .. ``pieces`` - 1 were written. A repeat of a commit that succeeded
        (an answer lost on the way) returns that commit."""
        key = self.options.idempotency_key or f"session:{self.session_id}"  # type: ignore[attr-defined]
        done = self._committed()
        if done is not None:
            return done
        written = self.pieces()
        if pieces is not None and sorted(written) != list(range(pieces)):
            missing = sorted(set(range(pieces)) - set(written))
            unknown = sorted(set(written) - set(range(pieces)))
            raise InvalidArgument(
                f"pieces: {pieces} announced, but piece(s) {missing[:10]} are missing and "
                f"{unknown[:10]} were not announced; nothing was committed"
            )
        rows = sum(p["rows"] for p in written.values())
        if rows == 0:
            raise InvalidArgument("dataframe has no rows; nothing to upload")
        chunks = [_written(c) for p in written.values() for c in p["chunks"]]
        self.store.blobs.flush()  # every piece's chunks are durable before the commit
        for attempt in attempts(self.store.commit_timeout):
            head = self.store.meta.head(self.options.name)
            earlier = earlier_commit(self.store, head, key)
            if earlier is not None:
                return self._finish(earlier, None)
            if self.frame_id is not None and (head is None or head.frame_id != self.frame_id):
                raise _frame_changed(self.options.name)
            if FrameSettings.of(head, self.options, self.store) != self.settings:
                raise _frame_changed(self.options.name)
            version = head.version + 1 if head else 1
            schema = head.schema if head else None
            for piece in written.values():
                schema = merge_schema(schema, piece["schema"], version=version)
            assert schema is not None
            if _names(schema) != _names(self.schema() or {"columns": []}):
                raise CommitConflict(
                    f"frame {self.options.name!r}: another writer added columns while the "
                    "upload session was open; nothing was committed: upload again"
                )
            draft = Draft(
                name=self.options.name,
                base=head,
                schema=schema,
                settings=self.settings,
                written=chunks,
                external_key=(
                    (self.options.external_key or DEFAULT_KEY) if self.settings.batched else None
                ),
                keep_last=self.options.keep_last,
                rows=rows,
                idempotency_key=key,
            )
            try:
                commit = record(self.store, draft)
            except CommitConflict:
                backoff(attempt)
                continue
            return self._finish(commit, draft)
        raise CommitConflict(
            f"frame {self.options.name!r}: other writers kept committing; gave up after "
            f"{self.store.commit_timeout:.0f}s; the session stays open: commit again"
        )

    def _committed(self) -> Commit | None:
        try:
            data = json.loads(self.store.blobs.get(self.prefix + "committed.json"))
        except BlobNotFound:
            return None
        fields = {**data, "keys": tuple(data["keys"]), "chunk_rows": tuple(data["chunk_rows"])}
        return Commit(**fields)

    def _finish(self, commit: Commit, draft: Draft | None) -> Commit:
        if draft is not None and self.settings.batched:
            _write_last_key(self.store, draft)
        done = asdict(commit)
        self.store.blobs.put(self.prefix + "committed.json", json.dumps(done).encode())
        # the session and its answer stay (a repeated commit returns it) until vacuum's grace
        keep = (self.prefix + "session.json", self.prefix + "committed.json")
        self.store.blobs.delete(
            b.key for b in self.store.blobs.list(self.prefix) if b.key not in keep
        )
        return commit

    def close(self) -> None:
        """Remove the session's staging files once its commit's answer has been received
        (its chunk files, committed, stay)."""
        self.store.blobs.delete(b.key for b in self.store.blobs.list(self.prefix))

    def abandon(self) -> None:
        """Remove what the session wrote: its chunk files and its staging files."""
        keys = [c["key"] for p in self.pieces().values() for c in p["chunks"]]
        self.store.blobs.delete(keys)
        self.store.blobs.delete(b.key for b in self.store.blobs.list(self.prefix))


#: the version number pieces are checked with; the commit merges them again with its own
_NEXT = 0


def _names(schema: Schema) -> list[str]:
    return [c["name"] for c in schema["columns"]]


def _written(chunk: dict[str, Any]) -> WrittenChunk:
    """A piece's chunk file as the commit records it (its rows are no longer in memory)."""
    planned = PlannedChunk(
        chunk["layout"],
        chunk["lo"],
        chunk["hi"],
        chunk["key"],
        pl.DataFrame(),
        chunk["external_key"],
    )
    return WrittenChunk(planned, chunk["sha256"], chunk["size"], chunk["rows"])


def protected_keys(store: Store, cutoff: float) -> set[str]:
    """The files of sessions touched since ``cutoff`` (epoch seconds) and the chunk files
    they wrote: ``vacuum`` leaves them alone while the session may still commit.

    Example
    -------
    >>> import pandasdb_core as pdb
    >>> protected_keys(pdb.open("memory://"), cutoff=0.0)
    set()
    """
    by_session: dict[str, list[Any]] = {}
    for blob in store.blobs.list(SESSIONS_PREFIX):
        session_id = blob.key[len(SESSIONS_PREFIX) :].split("/", 1)[0]
        by_session.setdefault(session_id, []).append(blob)
    keep: set[str] = set()
    for blobs in by_session.values():
        if max(b.modified for b in blobs) < cutoff:
            continue  # abandoned: its files and chunks are garbage
        for blob in blobs:
            keep.add(blob.key)
            if blob.key.rsplit("/", 1)[-1].startswith(_PIECE):
                try:
                    piece = json.loads(store.blobs.get(blob.key))
                except BlobNotFound:
                    continue  # committed or replaced meanwhile
                keep.update(c["key"] for c in piece["chunks"])
    return keep
