"""Upload sessions: a frame written piece by piece as uncommitted chunk files, then committed
as one version.

A session lives in the staging area, ``.staging/sessions/{id}/``: ``session.json`` (the
upload's options and the frame's settings when it opened), ``schema.json`` (the frame's
columns and types with those of the first piece after them) and one ``piece-NNNNNNNN.json``
per piece written (its rows, its captured schema, the types its chunk files were written
with, a digest of its rows and the chunk files it wrote, at their final keys). Nothing is
visible before the commit, which records every piece's chunks in one metadata commit,
exactly as an upload of the whole frame would. Each piece is bounded work, so a frame of any
size passes through a function whose memory and time are bounded: the local streaming
upload (:mod:`pandasdb_core.streaming`) and the HTTP API's session routes both run on this.

**The pieces are reconciled as one frame would be.** A column the frame has recorded takes
its recorded type in every piece (a value that does not convert exactly is refused, named).
A column new to the frame may be of another type in a later piece when one frame holding
all the pieces would have one type for it: a column of nulls only (pandas reads an empty
text column as float64 NaN) takes the type of the pieces that have values, integers and
floats make a float column (pandas turns integers into floats when a chunk has a NaN; every
integer must convert exactly), and a later piece may bring a new column (null in the pieces
before it). Each piece's chunk files are written with the types it has; at the commit, the
chunk files of pieces written with other types than the version's are rewritten (read,
converted exactly, written again, before anything is committed), so every file of the
version has its schema, and memory still holds one chunk at a time.

**Modes.** ``append`` adds the rows; ``overwrite`` (or ``keep_last``) replaces what the
frame held; ``replace_partitions`` replaces the days (Date layout) or ids (a frame with only
an ID layout) that any piece holds, planned at the commit as
:mod:`pandasdb_core.editing` plans a whole frame's: all in the one commit.

**A key names one upload.** A session opened with an ``idempotency_key`` the frame has
committed (with the same options) writes nothing: its pieces are taken and not written,
and its commit answers the first commit (:attr:`UploadSession.earlier`); the same key with
other options is refused when the session opens.

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

import hashlib
import io
import json
import re
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from . import codecs
from .conversion import to_polars
from .dtypes import dtype_from_json
from .editing import operation_of, upload_remover
from .errors import (
    BlobExists,
    BlobNotFound,
    ChunkMissing,
    CommitConflict,
    InvalidArgument,
    SchemaMismatch,
    VacuumRaced,
)
from .idempotency import (
    RowDigest,
    earlier_commit,
    recorded_key,
    upload_request,
)
from .layouts import DEFAULT_KEY, KINDS, PlannedChunk
from .layouts.ids import integer_ids
from .operations import CommitRequest, UploadOptions
from .ports import CLOCK_MARGIN_S, writes_begin_after
from .records import Commit, FrameHead, Layout, nulls_from
from .schema import (
    ALL_NULL,
    Schema,
    check_ordered_categories,
    decimal_holding,
    merge_schema,
    polars_schema,
)
from .staging import STAGING_PREFIX
from .writing import (
    Draft,
    FrameSettings,
    Removal,
    WrittenChunk,
    _write_last_key,
    after_commit,
    attempts,
    backoff,
    null_columns,
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
#: who decided the session's fate: its commit or its abort, whichever claimed it first
_CLAIM = "claim.json"
_ANSWER = "committed.json"
#: the ids a piece holds, for a replace_partitions of a frame laid out by ids only
_IDS = "ids-"
#: the version number pieces are checked with; the commit merges them again with its own
_NEXT = 0


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


def _ids_key(prefix: str, number: int) -> str:
    return f"{prefix}{_IDS}{number:08d}.parquet"


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


def partition_layout(layouts: tuple[Layout, ...]) -> Layout | None:
    """The layout whose partitions a ``replace_partitions`` replaces: the Date layout, else
    the ID layout (as :func:`pandasdb_core.editing.partitions_target` chooses); None for a
    batch frame."""
    for kind in KINDS:
        for layout in layouts:
            if layout.kind == kind and layout.column:
                return layout
    return None


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
        earlier: Commit | None = None,
        opened_at: float = 0.0,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.options = options
        self.settings = settings
        #: the frame the session adds to (None: it creates the frame)
        self.frame_id = frame_id
        #: the commit the session's idempotency key already names (a repeat): its pieces
        #: are not written and its commit answers this one
        self.earlier = earlier
        self.prefix = session_prefix(session_id)
        #: when it opened (epoch seconds): its pieces' chunk files were written since
        self.opened_at = opened_at
        self._schema: Schema | None = None

    # ------------------------------------------------------------------ open

    @classmethod
    def open(cls, store: Store, options: UploadOptions) -> UploadSession:
        """Open a session for an upload of ``options`` (checked against the frame now, as an
        upload would be; a key the frame committed with other options is refused)."""
        head = store.meta.head(options.name)
        settings = FrameSettings.of(head, options, store)
        earlier = earlier_commit(store, head, options.idempotency_key, upload_request(options))
        frame_id = head.frame_id if head else None
        session = cls(store, uuid.uuid4().hex, options, settings, frame_id, earlier, time.time())
        state = {
            "options": options.to_json(),
            "settings": _settings_json(settings),
            "frame_id": session.frame_id,
            "opened_at": session.opened_at,
            "repeat": asdict(earlier) if earlier is not None else None,
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
        repeat = state.get("repeat")
        earlier = _commit_from(repeat) if repeat else None
        opened_at = float(state.get("opened_at") or 0.0)
        return cls(store, session_id, options, settings, state["frame_id"], earlier, opened_at)

    # ------------------------------------------------------------------ pieces

    def schema(self) -> Schema | None:
        """The frame's columns and types, then those piece 0 added (None before it is
        written)."""
        if self._schema is None:
            try:
                self._schema = json.loads(self.store.blobs.get(self.prefix + "schema.json"))
            except BlobNotFound:
                return None
        return self._schema

    def recorded_types(self) -> dict[str, pl.DataType]:
        """The types a piece's text (CSV, JSON) is read toward: those the frame recorded for
        its columns. Columns new to the frame are not among them, piece 0's included (typed
        by each piece's own values, they take the one type all the pieces share at the
        commit: integers beside floats, values after nulls only).

        Example
        -------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> from pandasdb_core.operations import UploadOptions
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
        >>> session = UploadSession.open(db, UploadOptions.build(name="f"))
        >>> _ = session.write_piece(0, pd.DataFrame({"a": [2], "b": [1]}))
        >>> session.recorded_types()
        {'a': Int64}
        """
        fixed = self.schema()
        if fixed is None:  # before piece 0: the frame's own
            head = self.store.find_head(self.options.name)
            return polars_schema(head.schema) if head is not None else {}
        unseen = set(fixed.get("unseen", []))
        recorded = [c for c in fixed["columns"] if c["since"] != _NEXT and c["name"] not in unseen]
        return polars_schema({"columns": recorded, "index": []})

    def write_piece(self, number: int, df: Any) -> PieceReceipt:
        """Write piece ``number`` (0 first; later ones may come in any order, and writing a
        number again replaces that piece) as uncommitted chunk files.

        Raises
        ------
        SchemaMismatch
            The piece has a value its column's type cannot hold (a recorded type), or a
            column of a type no frame of all the pieces could have (text where piece 0 had
            numbers).
        InvalidArgument, InvalidPartition
            Bad data; nothing of this piece is recorded.
        """
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidArgument(f"piece must be a piece number, got {number!r}")
        if not 0 <= number < MAX_PIECES:
            raise InvalidArgument(f"piece must be between 0 and {MAX_PIECES - 1}, got {number}")
        if self.earlier is not None:
            # a repeat: the key's commit stands, and its rows are not written again; their
            # digest is kept, so that the commit refuses other rows than the key's first
            digest = RowDigest()
            digest.add(to_polars(df)[0])
            piece = {"rows": 0, "schema": None, "digest": digest.state(), "chunks": []}
            self.store.blobs.put(_piece_key(self.prefix, number), json.dumps(piece).encode())
            return PieceReceipt(number, 0, 0, 0)
        claimed = self._claimed_by()
        if claimed == "abort":
            raise InvalidArgument(f"session: {self.session_id!r} was aborted; open another")
        if claimed == "commit":
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
        digest = RowDigest()
        digest.add(frame)
        frame, written_schema = fit_piece(frame, incoming, fixed, f"piece {number}")
        written: list[WrittenChunk] = []
        if frame.height:
            # made durable once, by the commit (a flush per piece costs more than the piece)
            written = write_chunks(self.store, frame, self.options, self.settings, flush=False)
            self._keep_ids(number, frame)
        piece = {
            "rows": frame.height,
            "schema": written_schema,
            "digest": digest.state(),
            "chunks": [_chunk_json(w) for w in written],
        }
        self.store.blobs.put(_piece_key(self.prefix, number), json.dumps(piece).encode())
        if self._claimed_by() == "commit":
            # a commit claimed the session while this piece was written: it lists the pieces
            # after its claim, so it holds this one only if it listed it after the put above;
            # never acknowledged as if it surely were
            raise CommitConflict(
                f"session: {self.session_id!r}: a commit of it began while piece {number} was "
                "written, so the version holds this piece only if the commit listed it (the "
                "commit's answer counts its rows); send further rows in another session"
            )
        return PieceReceipt(number, frame.height, len(written), sum(w.size for w in written))

    def _keep_ids(self, number: int, frame: pl.DataFrame) -> None:
        """For a replace_partitions of a frame laid out by ids only: the piece's ids."""
        layout = partition_layout(self.settings.layouts)
        if self.options.mode != "replace_partitions" or layout is None or layout.kind != "id":
            return
        ids = integer_ids(frame[layout.column]).unique().sort()
        data = io.BytesIO()
        pl.DataFrame({"id": ids}).write_parquet(data)
        self.store.blobs.put(_ids_key(self.prefix, number), data.getvalue())

    def _fix_schema(self, incoming: Schema) -> Schema:
        """The frame's columns, then piece 0's: what later pieces are typed toward."""
        head = self._head()
        recorded = {c["name"] for c in head.schema["columns"]} if head else set()
        # the recorded columns keep their types (each piece is converted to them); piece 0's
        # new columns come after them
        new = [c for c in incoming["columns"] if c["name"] not in recorded]
        added = {"columns": new, "index": incoming["index"]}
        fixed = merge_schema(head.schema if head else None, added, version=_NEXT)
        fixed["unseen"] = sorted(c["name"] for c in new if c.get(ALL_NULL))
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
        """The pieces written so far, by number (their records read in parallel)."""
        blobs = list(self.store.blobs.list(self.prefix + _PIECE))
        numbers = [int(b.key[len(self.prefix) + len(_PIECE) :].split(".", 1)[0]) for b in blobs]

        def read(blob: Any) -> dict[str, Any] | None:
            try:
                return json.loads(self.store.blobs.get(blob.key))  # type: ignore[no-any-return]
            except BlobNotFound:
                return None  # removed since it was listed (a vacuum): a piece not written

        records = self.store.map(read, blobs, "reading pieces")
        return {n: r for n, r in sorted(zip(numbers, records, strict=True)) if r is not None}

    # ------------------------------------------------------------------ commit

    def commit(self, pieces: int | None = None, _relisted: int = 0) -> Commit:
        """Commit every piece as one version, in piece order; with ``pieces``, refuse unless
        exactly pieces 0 .. ``pieces`` - 1 were written. A repeat of a commit that succeeded
        (an answer lost on the way) returns that commit.

        The pieces are listed again once the commit has claimed the session: a piece
        written between the first listing and the claim (and answered as written) is in the
        version; one written after the claim is refused (:meth:`write_piece`).

        Raises
        ------
        InvalidArgument
            ``pieces`` is not a whole number from 1 to ``MAX_PIECES`` (as over HTTP: a
            larger count names pieces no session holds, and checking it would build a list
            of that many numbers), or a piece is missing.
        """
        if pieces is not None:
            # the HTTP route's own request type, so Python and HTTP refuse the same counts
            pieces = CommitRequest.build(session=self.session_id, pieces=pieces).pieces
        done = self._answer()
        if done is not None:
            return done
        if self.earlier is not None:
            self._same_rows_as_earlier()
            return self._finish(self.earlier, None)
        if self._claimed_by() == "abort":
            raise InvalidArgument(f"session: {self.session_id!r} was aborted; nothing to commit")
        written = self.pieces()
        if (pieces is not None and sorted(written) != list(range(pieces))) or not any(
            p["rows"] for p in written.values()
        ):
            self._check_not_vacuumed()
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
        incoming = reconcile(self.schema() or {"columns": [], "index": []}, written)
        digest = RowDigest()
        for piece in written.values():
            digest.merge(piece.get("digest"))
        default = f"session:{self.session_id}"
        request = upload_request(self.options, digest.text)
        key = recorded_key(self.options.idempotency_key or default, request)
        claimed = False
        # the pieces' chunk files were written since the session opened: a vacuum that
        # began with a later cutoff refuses the commit (VacuumRaced), and they are written
        # again under fresh keys
        since = self.opened_at - CLOCK_MARGIN_S
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
            schema = merge_schema(head.schema if head else None, incoming, version=version)
            # every chunk file of the version holds its columns and types (a piece written
            # with others, or before another writer added a column, is written again)
            written = self._conform(written, schema)
            chunks = [_written(c) for p in written.values() for c in p["chunks"]]
            self.store.blobs.flush()  # every piece's chunks are durable before the commit
            removal = self._removal(head, schema, written)
            draft = Draft(
                name=self.options.name,
                base=head,
                schema=schema,
                settings=self.settings,
                written=chunks,
                external_key=(
                    (self.options.external_key or DEFAULT_KEY) if self.settings.batched else None
                ),
                keep_last=self.options.keep_last or removal.keep_last,
                rows=rows,
                removal=removal,
                operation=operation_of(self.options),
                idempotency_key=key,
                written_since=since,
            )
            if not claimed:
                # decided once against an abort: from here on an abort is refused (and if
                # an abort claimed the session first, nothing is recorded)
                if self._claim("commit") == "abort":
                    raise InvalidArgument(
                        f"session: {self.session_id!r} was aborted; nothing was committed"
                    )
                claimed = True
                if _arrived(self.pieces(), written):
                    # a piece was written (or written again) since they were listed
                    if _relisted >= 3:
                        raise CommitConflict(
                            f"session: {self.session_id!r}: pieces kept arriving while it "
                            "was committed; commit again once every piece is written"
                        )
                    return self.commit(pieces, _relisted + 1)
            try:
                commit = record(self.store, draft)
            except VacuumRaced:
                since = writes_begin_after(self.store.meta)
                written = self._rewrite(written)
                continue
            except CommitConflict:
                backoff(attempt)
                continue
            except Exception:
                # the commit may have landed and its answer been lost (a storage error or a
                # timeout after the write): its key says so, and then it is this answer
                landed = self._landed(key)
                if landed is None:
                    raise
                return self._finish(landed, draft)
            return self._finish(commit, draft)
        raise CommitConflict(
            f"frame {self.options.name!r}: other writers kept committing; gave up after "
            f"{self.store.commit_timeout:.0f}s; the session stays open: commit again"
        )

    def _removal(
        self, head: FrameHead | None, schema: Schema, written: dict[int, dict[str, Any]]
    ) -> Removal:
        """What the commit takes out of ``head``: nothing for an append, the frame for an
        overwrite, the pieces' partitions for a replace_partitions (planned on ``head``)."""
        remover = upload_remover(self.store, self.options)
        if remover is None or head is None:
            return Removal()
        return remover(head, self._partitions(written), schema)

    def _partitions(self, written: dict[int, dict[str, Any]]) -> pl.DataFrame:
        """The partitions the pieces hold, as a frame of the partition column: the days of
        the Date layout's chunks, or the ids the pieces recorded."""
        layout = partition_layout(self.settings.layouts)
        if self.options.mode != "replace_partitions" or layout is None:
            return pl.DataFrame()
        if layout.kind == "date":
            days = sorted({c["lo"] for p in written.values() for c in p["chunks"]
                           if c["layout"] == layout.tag})  # fmt: skip
            return pl.DataFrame({layout.column: pl.Series(days, dtype=pl.String).str.to_date()})
        keys = [_ids_key(self.prefix, n) for n, p in written.items() if p["rows"]]
        parts = self.store.map(
            lambda key: pl.read_parquet(io.BytesIO(self.store.blobs.get(key)))["id"],
            keys,
            "reading ids",
        )
        ids = pl.concat(parts).unique() if parts else pl.Series("id", [], dtype=pl.Int64)
        return pl.DataFrame({layout.column: ids})

    def _rewrite(self, written: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """Every piece's chunk files written again under fresh keys (after a vacuum began
        that may remove files as old as them), their records following; refused with
        :class:`ChunkMissing` if a vacuum removed one already (the rows are gone: nothing
        can be committed)."""

        def again(chunk: dict[str, Any]) -> dict[str, Any]:
            try:
                data = self.store.blobs.get(chunk["key"])
            except BlobNotFound:
                raise self._vacuumed(f"chunk file {chunk['key']!r} of its pieces was") from None
            key = _fresh_key(chunk["key"])
            self.store.blobs.put(key, data, if_absent=True)
            return {**chunk, "key": key}

        for number, piece in written.items():
            if not piece["chunks"]:
                continue
            piece = {**piece, "chunks": self.store.map(again, piece["chunks"], "copying pieces")}
            self.store.blobs.put(_piece_key(self.prefix, number), json.dumps(piece).encode())
            self.store.blobs.delete(c["key"] for c in written[number]["chunks"])
            written[number] = piece
        return written

    def _conform(
        self, written: dict[int, dict[str, Any]], schema: Schema
    ) -> dict[int, dict[str, Any]]:
        """Rewrite the chunk files of pieces written with other columns or types than
        ``schema``'s, each value converted exactly (refused, named, if it does not convert);
        their records follow, so a commit retried after a failure does not rewrite again."""
        target = _columns(schema)
        for number, piece in written.items():
            if _columns(piece["schema"]) == target or not piece["chunks"]:
                continue
            dtypes = polars_schema(piece["schema"])

            def rewrite(chunk: dict[str, Any], dtypes: Any = dtypes, n: int = number) -> Any:
                frame = codecs.decode(
                    self.store.blobs.get(chunk["key"]), self.settings.format, dtypes
                )
                frame = conform(frame, schema, f"piece {n}")
                data = codecs.encode(frame, self.settings.format)
                key = _fresh_key(chunk["key"])
                self.store.blobs.put(key, data, if_absent=True)
                return {
                    **chunk,
                    "key": key,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "nulls": null_columns(frame),
                }

            chunks = self.store.map(rewrite, piece["chunks"], "conforming pieces")
            old = [c["key"] for c in piece["chunks"]]
            piece = {**piece, "schema": _plain(schema), "chunks": chunks}
            self.store.blobs.put(_piece_key(self.prefix, number), json.dumps(piece).encode())
            self.store.blobs.delete(old)
            written[number] = piece
        return written

    def _vacuumed(self, what: str) -> ChunkMissing:
        """The error of a commit whose session lost ``what`` (``"... was"``) to a vacuum."""
        return ChunkMissing(
            f"session: {self.session_id!r}: {what} removed by a vacuum before the commit (a "
            "vacuum whose grace is shorter than the session's age); nothing was committed: "
            "upload again"
        )

    def _check_not_vacuumed(self) -> None:
        """Refuse with :class:`ChunkMissing` a commit of a session whose staging files a
        vacuum removed (its ``session.json`` is gone, and with it pieces: the commit would
        otherwise say pieces are missing, as if the client had not sent them)."""
        try:
            self.store.blobs.get(self.prefix + "session.json")
        except BlobNotFound:
            raise self._vacuumed("its staging files (its pieces' records) were") from None

    def _same_rows_as_earlier(self) -> None:
        """For a session opened with a key the frame committed: refuse pieces (if any were
        sent) whose rows are not the key's first commit's, as an upload repeating a key with
        other rows is refused (InvalidArgument)."""
        written = self.pieces()
        if not written:
            return  # no piece: the client asks for the key's answer
        digest = RowDigest()
        for piece in written.values():
            digest.merge(piece.get("digest"))
        request = upload_request(self.options, digest.text)
        head = self.store.meta.head(self.options.name)
        earlier_commit(self.store, head, self.options.idempotency_key, request)

    def committed(self) -> Commit | None:
        """The commit of this session, or None if it has not committed: the answer its
        commit recorded, or, for a commit that landed and whose process ended before it
        recorded its answer, the version its key names in the frame's history."""
        done = self._answer()
        if done is not None:
            return done
        if self.earlier is not None or self._claimed_by() != "commit":
            return None
        key = self.options.idempotency_key or f"session:{self.session_id}"
        return earlier_commit(self.store, self.store.meta.head(self.options.name), key)

    def abort(self) -> None:
        """Give the session up: the chunk files its pieces wrote and its staging files are
        removed, and a commit of it is refused from then on.

        An abort and a commit of the same session are decided once: each first claims the
        session (a put of one staging file, only if absent), and the second to claim it
        loses. So an abort racing a commit in flight either finds the commit's claim and is
        refused, removing nothing (the commit stands), or claims first, and the commit is
        refused before it records anything.

        Raises
        ------
        CommitConflict
            The session committed, or a commit of it has begun (which may still land:
            commit again to finish it; vacuum removes a session whose commit never lands).
        """
        done = self._answer()
        if done is None and self.earlier is None and self._claim("abort") == "commit":
            done = self.committed()
            if done is None:
                raise CommitConflict(
                    f"session: {self.session_id!r} is being committed (a commit of it has "
                    "begun and may still land); nothing was removed: commit again to finish "
                    "it, or leave it to vacuum"
                )
        if done is not None:
            raise CommitConflict(
                f"session: {self.session_id!r} was committed as version {done.version} of "
                f"{done.name!r}; nothing was removed (delete or edit the frame instead)"
            )
        keys = [c["key"] for p in self.pieces().values() for c in p["chunks"]]
        self.store.blobs.delete(keys)
        # the session first (it can no longer be resumed), its claim kept: a commit that
        # resumed the session before the abort finds it and is refused
        self.store.blobs.delete([self.prefix + "session.json"])
        claim = self.prefix + _CLAIM
        self.store.blobs.delete(b.key for b in self.store.blobs.list(self.prefix) if b.key != claim)

    def _answer(self) -> Commit | None:
        """The answer the session's commit recorded, or None."""
        try:
            data = json.loads(self.store.blobs.get(self.prefix + _ANSWER))
        except BlobNotFound:
            return None
        return _commit_from(data)

    def _claimed_by(self) -> str | None:
        """Who claimed the session (``"commit"`` or ``"abort"``), or None."""
        try:
            return str(json.loads(self.store.blobs.get(self.prefix + _CLAIM))["by"])
        except BlobNotFound:
            return None

    def _claim(self, by: str) -> str:
        """Claim the session for ``by`` (``"commit"`` or ``"abort"``) unless it was claimed
        before; who holds the claim."""
        data = json.dumps({"by": by, "at": time.time()}).encode()
        for _ in range(3):
            try:
                self.store.blobs.put(self.prefix + _CLAIM, data, if_absent=True)
                return by
            except BlobExists:
                held = self._claimed_by()
            if held is not None:  # else removed meanwhile (vacuum): claim again
                return held
        raise CommitConflict(f"session: {self.session_id!r}: could not claim it; try again")

    def _landed(self, key: str) -> Commit | None:
        """The commit recorded with ``key``, read afresh; None if there is none or it cannot
        be read now."""
        try:
            return earlier_commit(self.store, self.store.meta.head(self.options.name), key)
        except Exception:  # noqa: BLE001 - unknown: the caller's own error stands
            return None

    def _finish(self, commit: Commit, draft: Draft | None) -> Commit:
        """Record the answer of a commit that has landed and remove the pieces' records.
        Neither may fail the commit (a writer told it failed would retry it, or remove its
        files): a failure is a warning, and a repeated commit still finds the version by its
        key (:meth:`committed`)."""
        if draft is not None and self.settings.batched:
            _write_last_key(self.store, draft)
        done = asdict(commit)

        def answer() -> None:
            self.store.blobs.put(self.prefix + _ANSWER, json.dumps(done).encode())
            # the session, its claim and its answer stay (a repeated commit returns it, an
            # abort is refused) until vacuum's grace
            keep = {self.prefix + name for name in ("session.json", _ANSWER, _CLAIM)}
            self.store.blobs.delete(
                b.key for b in self.store.blobs.list(self.prefix) if b.key not in keep
            )

        after_commit(
            commit.name, commit.version, "its upload session's answer", answer, "vacuum removes it"
        )
        return commit

    def commit_began(self) -> bool:
        """Whether a commit of the session has claimed it (it may have landed), or that
        cannot be known now: then its files must stay (vacuum removes them if it never
        lands)."""
        try:
            return self._claimed_by() == "commit"
        except Exception:  # noqa: BLE001 - unknown counts as begun
            return True

    def close(self) -> None:
        """Remove the session's staging files once its commit's answer has been received
        (its chunk files, committed, stay)."""
        self.store.blobs.delete(b.key for b in self.store.blobs.list(self.prefix))

    def abandon(self) -> None:
        """Remove what the session wrote: its chunk files and its staging files (for a
        session no commit can reach any more: a failed streamed upload's own; otherwise
        :meth:`abort`, which is decided against a commit in flight)."""
        keys = [c["key"] for p in self.pieces().values() for c in p["chunks"]]
        self.store.blobs.delete(keys)
        self.store.blobs.delete(b.key for b in self.store.blobs.list(self.prefix))


# ---------------------------------------------------------------------------------- types


def _arrived(now: dict[int, dict[str, Any]], listed: dict[int, dict[str, Any]]) -> bool:
    """Whether a piece of ``now`` is new or changed since ``listed`` (records compared as
    text; pieces gone, as a vacuum removes them, are the commit's to refuse)."""

    def text(record: dict[str, Any]) -> str:
        return json.dumps(record, sort_keys=True, default=str)

    return any(n not in listed or text(r) != text(listed[n]) for n, r in now.items())


def _plain(schema: Schema) -> Schema:
    """A schema without the session's own marks (``unseen``, all-null marks, ``since``)."""
    columns = [{k: v for k, v in c.items() if k != ALL_NULL} for c in schema["columns"]]
    return {"columns": columns, "index": list(schema.get("index", []))}


def _columns(schema: Schema) -> list[tuple[str, Any]]:
    return [(c["name"], c["dtype"]) for c in schema["columns"]]


def _decimal_union(a: dict[str, Any], b: dict[str, Any], recorded: bool) -> dict[str, Any] | None:
    """The decimal type holding decimal types ``a`` and ``b`` (JSON), or None: a recorded
    ``a`` keeps its places (``b`` may have fewer), pieces' own take the most places."""
    if a.get("type") != "Decimal" or b.get("type") != "Decimal":
        return None
    if recorded or (a.get("scale") or 0) >= (b.get("scale") or 0):
        return decimal_holding(a, b)
    return decimal_holding(b, a)


def _numeric_pair(a: pl.DataType, b: pl.DataType) -> bool:
    """Whether ``a`` and ``b`` are an integer and a float type (a float column holds both)."""
    return (a.is_integer() and b.is_float()) or (a.is_float() and b.is_integer())


def fit_piece(
    frame: pl.DataFrame, incoming: Schema, fixed: Schema, where: str
) -> tuple[pl.DataFrame, Schema]:
    """A piece as it is written: the columns of ``fixed`` (the frame's, then piece 0's) and
    its own new ones, each column the frame recorded as its recorded type (exactly), and the
    schema it is written with (all-null marks kept for the commit's reconciliation).

    Example
    -------
    >>> from pandasdb_core.schema import capture
    >>> fixed = merge_schema(None, capture(pl.DataFrame({"a": [1.5]})), version=0)
    >>> frame, written = fit_piece(pl.DataFrame({"a": [2]}), capture(pl.DataFrame({"a": [2]})),
    ...                            fixed, "piece 1")
    >>> frame["a"].to_list(), written["columns"][0]["dtype"]
    ([2.0], {'type': 'Float64'})
    """
    _same_index(fixed, incoming, where)
    given = {c["name"]: c for c in incoming["columns"]}
    unseen = set(fixed.get("unseen", []))
    columns: list[pl.Series] = []
    entries: list[dict[str, Any]] = []
    height = frame.height
    for col in fixed["columns"]:
        name = col["name"]
        dtype = dtype_from_json(col["dtype"])
        recorded = col["since"] != _NEXT and dtype != pl.Null
        entry = given.get(name)
        if entry is None or entry.get(ALL_NULL) or frame[name].null_count() == height:
            columns.append(pl.repeat(None, height, dtype=dtype, eager=True).alias(name))
            entries.append({**col, ALL_NULL: True})
            continue
        series = frame[name]
        if series.dtype == dtype:
            columns.append(series)
            entries.append({**entry, "since": col["since"]})
        elif _decimal_union(col["dtype"], entry["dtype"], recorded):
            columns.append(series)  # decimals of other digits: one type at the commit
            entries.append({**entry, "since": col["since"]})
        elif recorded or (_numeric_pair(dtype, series.dtype) and dtype.is_float()):
            # the frame's type (or piece 0's float for integers): every value converts exactly
            columns.append(exact_cast(series, dtype, where))
            entries.append(dict(col))
        elif name in unseen or dtype == pl.Null or _numeric_pair(dtype, series.dtype):
            columns.append(series)  # reconciled at the commit
            entries.append({**entry, "since": col["since"]})
        else:
            raise SchemaMismatch(
                f"{where}: column {name!r} is {series.dtype}, where the first piece's is "
                f"{dtype}; a streamed upload's pieces must have one type per column (nulls "
                "fit any, integers fit floats); nothing was committed"
            )
    known = {c["name"] for c in fixed["columns"]}
    for name in frame.columns:
        if name not in known:  # a column no piece before had: null in theirs
            columns.append(frame[name])
            empty = frame[name].null_count() == height  # no value to type it by
            entries.append({**given[name], "since": _NEXT, **({ALL_NULL: True} if empty else {})})
    fitted = pl.DataFrame(columns)
    try:
        check_ordered_categories(fitted, fixed)
    except SchemaMismatch as exc:
        raise SchemaMismatch(f"{where}: {exc}") from None
    return fitted, {"columns": entries, "index": list(fixed.get("index", []))}


def _same_index(fixed: Schema, incoming: Schema, where: str) -> None:
    try:
        merge_schema(
            {"columns": [], "index": fixed.get("index", [])},
            {"columns": [], "index": incoming.get("index", [])},
            version=_NEXT,
        )
    except SchemaMismatch as exc:
        raise SchemaMismatch(f"{where}: {exc}") from None


def reconcile(fixed: Schema, pieces: dict[int, dict[str, Any]]) -> Schema:
    """The columns and types of one frame holding every piece (an incoming schema for
    :func:`merge_schema`): a column of nulls only in every piece before takes the type of
    the first that has values; integers and floats make a float column; a column a later
    piece brings comes after; categories add up. Refused (:class:`SchemaMismatch`, naming
    the pieces) when no one type holds a column's values."""
    index = list(fixed.get("index", []))
    for number, piece in pieces.items():
        # a piece is written toward piece 0's index: piece 0 written again with another
        # index leaves the others holding levels the frame would not have (or lacking them)
        if list(piece["schema"].get("index", [])) != index:
            raise SchemaMismatch(
                f"piece {number} was written when the upload's index was "
                f"{piece['schema'].get('index', [])!r}; piece 0, written again, has {index!r}: "
                f"write piece {number} again; nothing was committed"
            )
    out: dict[str, dict[str, Any]] = {}
    first: dict[str, int | None] = {}  # the first piece with values of the column
    for col in fixed["columns"]:
        recorded = col["since"] != _NEXT and col["dtype"].get("type") != "Null"
        out[col["name"]] = {**col, "since": _NEXT}
        first[col["name"]] = -1 if recorded else None
    for number, piece in pieces.items():
        for col in piece["schema"]["columns"]:
            name = col["name"]
            col = {**col, "since": _NEXT}
            if name not in out:
                out[name] = col
                first[name] = None if col.get(ALL_NULL) else number
                continue
            if col.get(ALL_NULL):
                continue  # nulls fit any type
            have = out[name]
            if first[name] is None:
                out[name], first[name] = col, number
            elif col["dtype"] == have["dtype"]:
                out[name] = _same_type(have, col, number)
            elif wide := _decimal_union(have["dtype"], col["dtype"], first[name] == -1):
                out[name] = {**have, "dtype": wide}  # the pieces' files are conformed to it
            else:
                a, b = dtype_from_json(have["dtype"]), dtype_from_json(col["dtype"])
                if first[name] == -1 or not _numeric_pair(a, b):
                    where = "the frame" if first[name] == -1 else f"piece {first[name]}"
                    raise SchemaMismatch(
                        f"column {name!r} is {a} in {where} and {b} in piece {number}; a "
                        "streamed upload's pieces must have one type per column (nulls fit "
                        "any, integers fit floats); nothing was committed"
                    )
                out[name] = have if a.is_float() else col
    columns = [{k: v for k, v in c.items() if k != ALL_NULL} for c in out.values()]
    return {"columns": columns, "index": list(fixed.get("index", []))}


def _same_type(have: dict[str, Any], col: dict[str, Any], number: int) -> dict[str, Any]:
    """One column of two pieces of the same type (their categories merged)."""
    try:
        merged = merge_schema(
            {"columns": [have], "index": []}, {"columns": [col], "index": []}, version=_NEXT
        )
    except SchemaMismatch as exc:
        raise SchemaMismatch(f"piece {number}: {exc}") from None
    return merged["columns"][0]  # type: ignore[no-any-return]


def conform(frame: pl.DataFrame, schema: Schema, where: str) -> pl.DataFrame:
    """``frame`` with exactly ``schema``'s columns, in its order: absent ones null, the
    others converted exactly (see :func:`exact_cast`).

    Example
    -------
    >>> s = {"columns": [{"name": "a", "dtype": {"type": "Float64"}},
    ...                  {"name": "b", "dtype": {"type": "String"}}], "index": []}
    >>> conform(pl.DataFrame({"a": [1]}), s, "piece 0").rows()
    [(1.0, None)]
    """
    columns = []
    for name, dtype in polars_schema(schema).items():
        if name in frame.columns:
            columns.append(exact_cast(frame[name], dtype, where))
        else:
            columns.append(pl.repeat(None, frame.height, dtype=dtype, eager=True).alias(name))
    return pl.DataFrame(columns)


def exact_cast(series: pl.Series, dtype: pl.DataType, where: str) -> pl.Series:
    """``series`` as ``dtype`` when every value converts exactly (integers to floats up to
    2**53, whole floats to integers, coarser datetimes to finer units...), else
    :class:`SchemaMismatch` naming the column, the first value that does not and its row.

    Example
    -------
    >>> exact_cast(pl.Series("n", [1.0, None]), pl.Int64(), "piece 1").to_list()
    [1, None]
    >>> exact_cast(pl.Series("n", [1.0, 2.5]), pl.Int64(), "piece 1")
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.SchemaMismatch: piece 1: column 'n' holds 2.5 (row 1), which Int64 ...
    """
    if series.dtype == dtype:
        return series
    if series.null_count() == series.len():
        return pl.repeat(None, series.len(), dtype=dtype, eager=True).alias(series.name)
    try:
        cast = series.cast(dtype, strict=False)
        back = cast.cast(series.dtype, strict=False)
        wrong = (cast.is_null() & series.is_not_null()) | ~back.eq_missing(series)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        wrong = series.is_not_null()
        cast = series
    bad = wrong.fill_null(True).arg_true()
    if len(bad):
        row = int(bad[0])
        value = series.slice(row, 1).cast(pl.String, strict=False).item()
        shown = repr(value) if series.dtype == pl.String else value
        raise SchemaMismatch(
            f"{where}: column {series.name!r} holds {shown} (row {row}), which {dtype} cannot "
            "hold exactly; a column keeps one type (the frame's, or the one all the pieces "
            "share); nothing was committed"
        )
    return cast


# ---------------------------------------------------------------------------------- records


def _fresh_key(key: str) -> str:
    """A new key beside chunk file ``key``, its name's stem (a batch's ``HH:MM:SS_``) and
    format kept, a fresh uuid in place of its own.

    Example
    -------
    >>> new = _fresh_key("f/external_key/k/2024-01-01/10:11:12_" + "a" * 32 + ".csv.gz")
    >>> new.rsplit("_", 1)[0], new.endswith(".csv.gz"), "a" * 32 in new
    ('f/external_key/k/2024-01-01/10:11:12', True, False)
    """
    folder, _, name = key.rpartition("/")
    base, _, suffix = name.partition(".")
    stem = base.rpartition("_")[0] + "_" if "_" in base else ""
    return f"{folder}/{stem}{uuid.uuid4().hex}.{suffix}"


def _chunk_json(w: WrittenChunk) -> dict[str, Any]:
    return {
        "layout": w.planned.layout,
        "lo": w.planned.lo,
        "hi": w.planned.hi,
        "key": w.planned.key,
        "external_key": w.planned.external_key,
        "rows": w.rows,
        "size": w.size,
        "sha256": w.sha256,
        "nulls": w.nulls,
    }


def _commit_from(data: dict[str, Any]) -> Commit:
    fields = {**data, "keys": tuple(data["keys"]), "chunk_rows": tuple(data["chunk_rows"])}
    return Commit(**fields)


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
    # a piece written before chunks recorded their nulls has none: not recorded
    nulls = nulls_from(chunk.get("nulls"))
    return WrittenChunk(planned, chunk["sha256"], chunk["size"], chunk["rows"], nulls=nulls)


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
    pieces: list[str] = []
    for blobs in by_session.values():
        if max(b.modified for b in blobs) < cutoff:
            continue  # abandoned: its files and chunks are garbage
        for blob in blobs:
            keep.add(blob.key)
            if blob.key.rsplit("/", 1)[-1].startswith(_PIECE):
                pieces.append(blob.key)

    def chunk_keys(key: str) -> list[str]:
        try:
            piece = json.loads(store.blobs.get(key))
        except BlobNotFound:
            return []  # committed or replaced meanwhile
        return [c["key"] for c in piece["chunks"]]

    for keys in store.map(chunk_keys, pieces, "reading sessions"):
        keep.update(keys)
    return keep
