"""Metadata in one SQLite file (WAL mode): heads, versions and the chunk index.

Commits run in ``BEGIN IMMEDIATE`` transactions, so writers in several processes serialise on
the database lock and a commit is durable when it returns (``synchronous=FULL``). Drop records
(an edit's tombstones) sit in their own table, indexed like chunks; a database written before
chunks had an ``origin`` (or ``nulls``) gains the column when opened, and one written before
heads had a ``revision`` (the token every head write changes, compared by every conditional
write) gains that column, "" for its heads, as their records say. The vacuum marker (the
latest cutoff a vacuum began with, which a commit that says when its files were written is
checked against in its transaction) is one row of its own table.

Example
-------
>>> import tempfile, os
>>> meta = SQLiteMetadataStore(os.path.join(tempfile.mkdtemp(), "meta.sqlite3"))
>>> meta.frames()
[]
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvalidName
from ..names import fold
from ..ports import MetadataStore, conflict, vacuum_passed, vacuum_raced
from ..record_codec import head_from_json, head_to_json, version_from_json, version_to_json
from ..records import (
    ChunkRecord,
    DropRecord,
    FrameHead,
    PartitionValue,
    VersionRecord,
    nulls_from,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS heads (
    name TEXT PRIMARY KEY, frame_id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
    revision TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS versions (
    frame_id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (frame_id, version)
);
CREATE TABLE IF NOT EXISTS chunks (
    frame_id TEXT NOT NULL, chunk_id TEXT NOT NULL, layout TEXT NOT NULL,
    lo, hi, key TEXT NOT NULL, rows INTEGER NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, version INTEGER NOT NULL, txn TEXT NOT NULL, seq INTEGER NOT NULL,
    external_key TEXT, origin INTEGER, nulls TEXT,
    PRIMARY KEY (frame_id, chunk_id)
);
CREATE INDEX IF NOT EXISTS chunks_by_range ON chunks (frame_id, layout, lo, hi);
CREATE TABLE IF NOT EXISTS drops (
    frame_id TEXT NOT NULL, chunk_id TEXT NOT NULL, txn TEXT NOT NULL, layout TEXT NOT NULL,
    lo, hi, version INTEGER NOT NULL,
    PRIMARY KEY (frame_id, chunk_id, txn)
);
CREATE INDEX IF NOT EXISTS drops_by_range ON drops (frame_id, layout, lo, hi);
CREATE TABLE IF NOT EXISTS vacuum_marker (
    id INTEGER PRIMARY KEY CHECK (id = 1), cutoff REAL NOT NULL
);
"""
_CHUNK_COLS = (
    "chunk_id, layout, lo, hi, key, rows, size, sha256, version, txn, seq, external_key, origin, "
    "nulls"
)
_DROP_COLS = "chunk_id, layout, lo, hi, version, txn"
#: version records never change once written, and every read decodes all of a frame's: a
#: frame of many small commits would spend most of a small read parsing the same JSON again
_version = functools.lru_cache(maxsize=65_536)(version_from_json)


class SQLiteMetadataStore(MetadataStore):
    """The metadata port on a SQLite file; safe across threads and processes.

    With ``fold_names`` (its blobs are on a file system that folds names), a new frame whose
    name folds like an existing frame's is refused in the transaction of its first commit.
    """

    def __init__(self, path: str | os.PathLike[str], *, fold_names: bool = False) -> None:
        self.path = Path(path)
        self.fold_names = fold_names
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        db = self._conn()
        db.executescript(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(chunks)")}
        if "origin" not in columns:  # a database of pandasdb 0.1
            db.execute("ALTER TABLE chunks ADD COLUMN origin INTEGER")
        if "nulls" not in columns:  # chunks written before they recorded their nulls
            db.execute("ALTER TABLE chunks ADD COLUMN nulls TEXT")
        heads = {row[1] for row in db.execute("PRAGMA table_info(heads)")}
        if "revision" not in heads:  # a database of record format 3 or older
            db.execute("ALTER TABLE heads ADD COLUMN revision TEXT NOT NULL DEFAULT ''")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            # for the check of a new frame's name against its case twins (_refuse_twin)
            conn.create_function("pandasdb_fold", 1, fold, deterministic=True)
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @staticmethod
    def _check(db: sqlite3.Connection, name: str, expected: FrameHead | None) -> None:
        row = db.execute(
            "SELECT frame_id, version, revision FROM heads WHERE name = ?", (name,)
        ).fetchone()
        found = (row[0], row[1], row[2]) if row else None
        wanted = (expected.frame_id, expected.version, expected.revision) if expected else None
        if found != wanted:
            raise conflict(name, expected)

    def head(self, name: str) -> FrameHead | None:
        row = self._conn().execute("SELECT body FROM heads WHERE name = ?", (name,)).fetchone()
        return head_from_json(row[0]) if row else None

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
        with self._tx() as db:
            if written_since is not None:
                cutoff = self._cutoff(db)
                if vacuum_passed(cutoff, written_since):
                    raise vacuum_raced(head.name, cutoff, written_since)
            self._check(db, head.name, expected)
            if expected is None and self.fold_names:
                self._refuse_twin(db, head.name)
            db.execute(
                "INSERT OR REPLACE INTO heads (name, frame_id, version, body, revision) "
                "VALUES (?, ?, ?, ?, ?)",
                (head.name, head.frame_id, head.version, head_to_json(head), head.revision),
            )
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?)",
                (head.frame_id, version.version, version_to_json(version)),
            )
            db.executemany(
                f"INSERT INTO chunks (frame_id, {_CHUNK_COLS}) VALUES ({', '.join('?' * 15)})",
                [
                    (
                        head.frame_id,
                        c.chunk_id,
                        c.layout,
                        c.lo,
                        c.hi,
                        c.key,
                        c.rows,
                        c.size,
                        c.sha256,
                        c.version,
                        c.txn,
                        c.seq,
                        c.external_key,
                        c.origin,
                        None if c.nulls is None else json.dumps(c.nulls),
                    )
                    for c in chunks
                ],
            )
            db.executemany(
                f"INSERT INTO drops (frame_id, {_DROP_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (head.frame_id, d.chunk_id, d.layout, d.lo, d.hi, d.version, d.txn)
                    for d in drops
                ],
            )

    @staticmethod
    def _refuse_twin(db: sqlite3.Connection, name: str) -> None:
        """Refuse a new frame ``name`` that folds like an existing frame's name: on a file
        system that folds names, the two would share folders and files (``last_key.txt``,
        manifests), and each would overwrite or delete the other's. Run inside the commit's
        transaction, so of two racing creations (``A`` and ``a``) the second sees the first."""
        row = db.execute(
            "SELECT name FROM heads WHERE pandasdb_fold(name) = ? LIMIT 1", (fold(name),)
        ).fetchone()
        if row is not None:
            raise InvalidName(
                f"frame name {name!r} cannot be created: this store's file system ignores case "
                f"(and trailing dots) in file names, so it would share its folder and files "
                f"with existing frame {row[0]!r}; choose another name, or use {row[0]!r}"
            )

    @staticmethod
    def _cutoff(db: sqlite3.Connection) -> float | None:
        row = db.execute("SELECT cutoff FROM vacuum_marker WHERE id = 1").fetchone()
        return float(row[0]) if row else None

    def begin_vacuum(self, cutoff: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO vacuum_marker (id, cutoff) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET cutoff = max(cutoff, excluded.cutoff)",
                (cutoff,),
            )

    def vacuum_cutoff(self) -> float | None:
        return self._cutoff(self._conn())

    def versions(self, frame_id: str) -> list[VersionRecord]:
        rows = self._conn().execute(
            "SELECT body FROM versions WHERE frame_id = ? ORDER BY version", (frame_id,)
        )
        return [_version(r[0]) for r in rows]

    def chunks(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[ChunkRecord]:
        return [
            # nulls: JSON text, or NULL (a chunk written before they were recorded)
            ChunkRecord(*row[:-1], nulls=nulls_from(json.loads(row[-1] or "null")))
            for row in self._ranged("chunks", _CHUNK_COLS, frame_id, layout, lo, hi)
        ]

    def drops(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[DropRecord]:
        return [
            DropRecord(*row) for row in self._ranged("drops", _DROP_COLS, frame_id, layout, lo, hi)
        ]

    def _ranged(
        self,
        table: str,
        columns: str,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None,
        hi: PartitionValue | None,
    ) -> list[tuple[object, ...]]:
        sql = f"SELECT {columns} FROM {table} WHERE frame_id = ? AND layout = ?"
        args: list[object] = [frame_id, layout]
        if hi is not None:
            sql += " AND lo <= ?"
            args.append(hi)
        if lo is not None:
            sql += " AND hi >= ?"
            args.append(lo)
        return self._conn().execute(sql, args).fetchall()

    def frames(self, prefix: str = "") -> list[FrameHead]:
        # substr() compares bytes of the literal prefix: LIKE would ignore case and treat
        # '_' and '%' as wildcards
        rows = self._conn().execute(
            "SELECT body FROM heads WHERE substr(name, 1, length(?)) = ? ORDER BY name",
            (prefix, prefix),
        )
        return [head_from_json(r[0]) for r in rows]

    def drop_frame(self, name: str, *, expected: FrameHead) -> None:
        with self._tx() as db:
            self._check(db, name, expected)
            (frame_id,) = db.execute(
                "SELECT frame_id FROM heads WHERE name = ?", (name,)
            ).fetchone()
            db.execute("DELETE FROM heads WHERE name = ?", (name,))
            db.execute("DELETE FROM versions WHERE frame_id = ?", (frame_id,))
            db.execute("DELETE FROM chunks WHERE frame_id = ?", (frame_id,))
            db.execute("DELETE FROM drops WHERE frame_id = ?", (frame_id,))

    def update_head(self, head: FrameHead, *, expected: FrameHead) -> None:
        with self._tx() as db:
            self._check(db, head.name, expected)
            db.execute(
                "UPDATE heads SET body = ?, revision = ? WHERE name = ?",
                (head_to_json(head), head.revision, head.name),
            )

    def forget_chunks(self, frame_id: str, chunks: Sequence[ChunkRecord]) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM chunks WHERE frame_id = ? AND chunk_id = ?",
                [(frame_id, c.chunk_id) for c in chunks],
            )

    def forget_drops(self, frame_id: str, drops: Sequence[DropRecord]) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM drops WHERE frame_id = ? AND chunk_id = ? AND txn = ?",
                [(frame_id, d.chunk_id, d.txn) for d in drops],
            )
