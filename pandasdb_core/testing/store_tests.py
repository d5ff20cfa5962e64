"""The shared contract tests for BlobStore and MetadataStore adapters.

Subclass and provide a ``blobs`` or ``meta`` fixture returning a fresh, empty store.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace

import pytest

from ..errors import BlobExists, BlobNotFound, CommitConflict, InvalidName, VacuumRaced
from ..ports import BlobStore, MetadataStore
from ..records import ChunkRecord, DropRecord, FrameHead, Layout, VersionRecord
from ..visibility import committed, live


class BlobStoreTests:
    """Behaviour every BlobStore must have."""

    @pytest.fixture
    def blobs(self) -> BlobStore:  # pragma: no cover - supplied by subclasses
        raise NotImplementedError

    def test_put_get_roundtrip(self, blobs: BlobStore) -> None:
        blobs.put("f/ts/2024-01-01/a.csv.gz", b"\x00\x01payload")
        assert blobs.get("f/ts/2024-01-01/a.csv.gz") == b"\x00\x01payload"

    def test_get_missing_raises_lookup_error(self, blobs: BlobStore) -> None:
        with pytest.raises(BlobNotFound):
            blobs.get("nope/x.csv.gz")
        assert issubclass(BlobNotFound, LookupError)

    def test_put_overwrites_by_default(self, blobs: BlobStore) -> None:
        blobs.put("k/last_key.txt", b"one")
        blobs.put("k/last_key.txt", b"two")
        assert blobs.get("k/last_key.txt") == b"two"

    def test_put_if_absent_refuses_existing_key(self, blobs: BlobStore) -> None:
        blobs.put("k/a.parquet", b"first", if_absent=True)
        with pytest.raises(BlobExists):
            blobs.put("k/a.parquet", b"second", if_absent=True)
        assert blobs.get("k/a.parquet") == b"first"

    def test_if_absent_race_has_exactly_one_winner(self, blobs: BlobStore) -> None:
        wins: list[int] = []

        def attempt(i: int) -> None:
            try:
                blobs.put("race/x.csv.gz", str(i).encode(), if_absent=True)
                wins.append(i)
            except BlobExists:
                pass

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1
        assert blobs.get("race/x.csv.gz") == str(wins[0]).encode()

    def test_list_by_prefix_reports_sizes(self, blobs: BlobStore) -> None:
        blobs.put("a/one.csv.gz", b"1")
        blobs.put("a/b/two.csv.gz", b"22")
        blobs.put("ab/three.csv.gz", b"333")
        listed = {b.key: b.size for b in blobs.list("a/")}
        assert listed == {"a/one.csv.gz": 1, "a/b/two.csv.gz": 2}
        assert {b.key for b in blobs.list()} == {
            "a/one.csv.gz",
            "a/b/two.csv.gz",
            "ab/three.csv.gz",
        }
        assert all(abs(b.modified - time.time()) < 3600 for b in blobs.list())

    def test_delete_removes_and_ignores_missing(self, blobs: BlobStore) -> None:
        blobs.put("d/x.csv.gz", b"x")
        blobs.put("d/y.csv.gz", b"y")
        blobs.delete(["d/x.csv.gz", "d/never.csv.gz"])
        assert [b.key for b in blobs.list("d/")] == ["d/y.csv.gz"]
        with pytest.raises(BlobNotFound):
            blobs.get("d/x.csv.gz")

    def test_seed_batch_key_with_colons_is_valid(self, blobs: BlobStore) -> None:
        key = "m/external_key/default/2024-01-01/10:11:12_abc.csv.gz"
        blobs.put(key, b"z")
        assert blobs.get(key) == b"z"

    @pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", "a/../b", "a b", ""])
    def test_unsafe_keys_are_refused(self, blobs: BlobStore, key: str) -> None:
        with pytest.raises(InvalidName):
            blobs.put(key, b"x")


def _head(name: str, version: int, frame_id: str = "F") -> FrameHead:
    return FrameHead(
        name=name,
        frame_id=frame_id,
        version=version,
        format="csv.gz",
        layouts=(Layout("date", "ts"),),
        schema={"columns": [], "index": []},
        chunk_rows=10,
        rows=version,
        created_at=1.0,
        updated_at=float(version),
    )


def _version(version: int, txn: str) -> VersionRecord:
    return VersionRecord(
        version=version,
        txn=txn,
        created_at=1.0,
        rows_added=1,
        rows_total=version,
        chunks_added=1,
        bytes_added=1,
    )


def _chunk(
    version: int, txn: str, lo: str | int, hi: str | int, layout: str = "date:ts", seq: int = 0
) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=uuid.uuid4().hex,
        layout=layout,
        lo=lo,
        hi=hi,
        key=f"f/{uuid.uuid4().hex}",
        rows=1,
        size=1,
        sha256="0" * 64,
        version=version,
        txn=txn,
        seq=seq,
    )


class MetadataStoreTests:
    """Behaviour every MetadataStore must have."""

    @pytest.fixture
    def meta(self) -> MetadataStore:  # pragma: no cover - supplied by subclasses
        raise NotImplementedError

    def test_missing_frame_has_no_head(self, meta: MetadataStore) -> None:
        assert meta.head("nope") is None
        assert meta.frames() == []

    def test_commit_creates_and_advances_head(self, meta: MetadataStore) -> None:
        meta.commit(
            _head("f", 1),
            _version(1, "t1"),
            [_chunk(1, "t1", "2024-01-01", "2024-01-01")],
            expected=None,
        )
        meta.commit(
            _head("f", 2),
            _version(2, "t2"),
            [_chunk(2, "t2", "2024-01-02", "2024-01-02")],
            expected=_head("f", 1),
        )
        head = meta.head("f")
        assert head is not None and head.version == 2 and head.layouts == (Layout("date", "ts"),)
        assert [v.version for v in meta.versions("F")] == [1, 2]
        assert len(meta.chunks("F", "date:ts")) == 2

    def test_stale_commit_conflicts_and_changes_nothing(self, meta: MetadataStore) -> None:
        meta.commit(_head("f", 1), _version(1, "t1"), [], expected=None)
        with pytest.raises(CommitConflict):
            meta.commit(
                _head("f", 1), _version(1, "tX"), [_chunk(1, "tX", "a", "a")], expected=None
            )
        with pytest.raises(CommitConflict):
            meta.commit(_head("f", 3), _version(3, "t3"), [], expected=_head("f", 2))
        assert meta.head("f").version == 1  # type: ignore[union-attr]
        versions = meta.versions("F")
        assert [(v.version, v.txn) for v in versions] == [(1, "t1")]
        # a losing writer's chunk records may linger in the index, but never count as committed
        assert committed(meta.chunks("F", "date:ts"), versions) == []

    def test_concurrent_commits_one_winner_per_version(self, meta: MetadataStore) -> None:
        meta.commit(_head("f", 1), _version(1, "t1"), [], expected=None)
        outcomes: list[str] = []

        def attempt(i: int) -> None:
            try:
                meta.commit(_head("f", 2), _version(2, f"w{i}"), [], expected=_head("f", 1))
                outcomes.append("won")
            except CommitConflict:
                outcomes.append("lost")

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["lost"] * 5 + ["won"]
        assert [v.version for v in meta.versions("F")] == [1, 2]

    def test_chunk_range_queries(self, meta: MetadataStore) -> None:
        days = [f"2024-01-{d:02d}" for d in range(1, 11)]
        chunks = [_chunk(1, "t1", d, d, seq=i) for i, d in enumerate(days)]
        ids = [_chunk(1, "t1", lo, lo + 9, layout="id:uid") for lo in range(-50, 50, 10)]
        meta.commit(_head("f", 1), _version(1, "t1"), chunks + ids, expected=None)
        found = meta.chunks("F", "date:ts", "2024-01-03", "2024-01-05")
        assert sorted(c.lo for c in found) == ["2024-01-03", "2024-01-04", "2024-01-05"]
        assert len(meta.chunks("F", "date:ts", None, "2024-01-02")) == 2
        assert len(meta.chunks("F", "date:ts", "2024-01-10", None)) == 1
        assert [c.lo for c in meta.chunks("F", "id:uid", 5, 5)] == [0]
        assert sorted(c.lo for c in meta.chunks("F", "id:uid", -15, 1)) == [-20, -10, 0]
        assert meta.chunks("F", "id:uid", 100, 200) == []
        assert meta.chunks("F", "batch") == []

    def test_frames_by_prefix_sorted(self, meta: MetadataStore) -> None:
        for i, name in enumerate(["sales/b", "sales/a", "other", "sales_x"]):
            meta.commit(_head(name, 1, frame_id=f"id{i}"), _version(1, "t"), [], expected=None)
        assert [h.name for h in meta.frames("sales/")] == ["sales/a", "sales/b"]
        assert [h.name for h in meta.frames()] == ["other", "sales/a", "sales/b", "sales_x"]

    def test_prefix_is_literal_and_case_sensitive(self, meta: MetadataStore) -> None:
        for i, name in enumerate(["Sales/a", "sales/a", "salesXa", "sales_a", "s%a"]):
            meta.commit(_head(name, 1, frame_id=f"id{i}"), _version(1, "t"), [], expected=None)
        assert [h.name for h in meta.frames("sales/")] == ["sales/a"]
        assert [h.name for h in meta.frames("sales_")] == ["sales_a"]
        assert [h.name for h in meta.frames("s%")] == ["s%a"]
        assert [h.name for h in meta.frames("S")] == ["Sales/a"]

    def test_drop_frame_is_conditional(self, meta: MetadataStore) -> None:
        meta.commit(_head("f", 1), _version(1, "t1"), [_chunk(1, "t1", "a", "a")], expected=None)
        with pytest.raises(CommitConflict):
            meta.drop_frame("f", expected=_head("f", 5))
        meta.drop_frame("f", expected=_head("f", 1))
        assert meta.head("f") is None
        assert meta.frames() == []
        meta.commit(_head("f", 1, frame_id="G"), _version(1, "t9"), [], expected=None)
        assert meta.head("f").frame_id == "G"  # type: ignore[union-attr]

    def test_a_frame_created_again_is_not_the_frame_a_writer_read(
        self, meta: MetadataStore
    ) -> None:
        """ABA: a writer read version 1 of frame F; meanwhile F is deleted and a new frame of
        the same name reaches version 1 again. The writer's commit "on version 1" must fail,
        or it would erase the new frame's acknowledged commit."""
        first = _head("f", 1, frame_id="F")
        meta.commit(first, _version(1, "t1"), [], expected=None)
        meta.drop_frame("f", expected=first)
        second = _head("f", 1, frame_id="G")
        meta.commit(second, _version(1, "g1"), [_chunk(1, "g1", "a", "a")], expected=None)
        with pytest.raises(CommitConflict):
            meta.commit(_head("f", 2, frame_id="F"), _version(2, "t2"), [], expected=first)
        with pytest.raises(CommitConflict):
            meta.update_head(replace(first, rows=99), expected=first)
        with pytest.raises(CommitConflict):
            meta.drop_frame("f", expected=first)
        assert meta.head("f") == second
        assert [v.txn for v in meta.versions("G")] == ["g1"]

    def test_a_head_rewritten_at_its_version_is_not_the_head_a_writer_read(
        self, meta: MetadataStore
    ) -> None:
        """``update_head`` (vacuum raising ``min_version``) keeps the version: a writer that
        read the head before must not commit, update or drop on it (it would write the old
        floor back and bring retired versions back). Heads are compared by revision too."""
        first = replace(_head("f", 3), revision="r1")
        meta.commit(first, _version(3, "t3"), [], expected=None)
        raised = replace(first, min_version=3, revision="r2")
        meta.update_head(raised, expected=first)
        with pytest.raises(CommitConflict):
            meta.commit(
                replace(_head("f", 4), revision="r3"), _version(4, "t4"), [], expected=first
            )
        with pytest.raises(CommitConflict):
            meta.update_head(replace(first, rows=99, revision="r4"), expected=first)
        with pytest.raises(CommitConflict):
            meta.drop_frame("f", expected=first)
        assert meta.head("f") == raised
        assert [v.version for v in meta.versions("F")] == [3]
        on_raised = replace(_head("f", 4), min_version=3, revision="r5")
        meta.commit(on_raised, _version(4, "t4"), [], expected=raised)
        assert meta.head("f") == on_raised

    def test_no_vacuum_began_until_one_records_its_cutoff(self, meta: MetadataStore) -> None:
        assert meta.vacuum_cutoff() is None
        meta.commit(_head("f", 1), _version(1, "t1"), [], expected=None, written_since=1.0)
        meta.begin_vacuum(1000.5)
        meta.begin_vacuum(900.0)  # an earlier cutoff leaves the marker as it is
        assert meta.vacuum_cutoff() == 1000.5
        meta.begin_vacuum(2000.25)
        assert meta.vacuum_cutoff() == 2000.25

    def test_a_commit_of_files_older_than_a_vacuums_cutoff_is_refused(
        self, meta: MetadataStore
    ) -> None:
        """A writer that began writing its files before the cutoff of a vacuum that began
        since may have lost them to it: its commit is refused, in the same atomic step as
        the head's condition, and changes nothing; files written since the cutoff commit."""
        meta.commit(_head("f", 1), _version(1, "t1"), [], expected=None)
        meta.begin_vacuum(1000.0)
        chunk = _chunk(2, "t2", "a", "a")
        with pytest.raises(VacuumRaced):
            meta.commit(
                _head("f", 2),
                _version(2, "t2"),
                [chunk],
                expected=_head("f", 1),
                written_since=999.0,
            )
        assert issubclass(VacuumRaced, CommitConflict)
        assert meta.head("f") == _head("f", 1)
        versions = meta.versions("F")
        assert [v.version for v in versions] == [1]
        assert committed(meta.chunks("F", "date:ts"), versions) == []
        with pytest.raises(VacuumRaced):  # a new frame too
            meta.commit(_head("g", 1, frame_id="G"), _version(1, "g1"), [], expected=None,
                        written_since=10.0)  # fmt: skip
        assert meta.head("g") is None
        # a stale head and an old writer at once: the writer must write its files again
        with pytest.raises(VacuumRaced):
            meta.commit(
                _head("f", 2), _version(2, "t2"), [], expected=_head("f", 7), written_since=5.0
            )
        meta.commit(
            _head("f", 2), _version(2, "t2"), [chunk], expected=_head("f", 1), written_since=1000.0
        )
        meta.commit(_head("f", 3), _version(3, "t3"), [], expected=_head("f", 2))  # no condition
        assert [v.version for v in meta.versions("F")] == [1, 2, 3]

    def test_update_head_and_forget_chunks(self, meta: MetadataStore) -> None:
        c1, c2 = _chunk(1, "t1", "a", "a"), _chunk(1, "t1", "b", "b")
        meta.commit(_head("f", 1), _version(1, "t1"), [c1, c2], expected=None)
        meta.update_head(replace(_head("f", 1), min_version=1, rows=42), expected=_head("f", 1))
        assert meta.head("f").rows == 42  # type: ignore[union-attr]
        with pytest.raises(CommitConflict):
            meta.update_head(_head("f", 1), expected=_head("f", 7))
        meta.forget_chunks("F", [c1])
        assert [c.chunk_id for c in meta.chunks("F", "date:ts")] == [c2.chunk_id]

    def test_records_round_trip_exactly(self, meta: MetadataStore) -> None:
        chunk = _chunk(1, "t1", -(2**62), 2**62, layout="id:uid", seq=3)
        version = VersionRecord(
            version=1,
            txn="t1",
            created_at=1.5,
            rows_added=7,
            rows_total=7,
            chunks_added=1,
            bytes_added=99,
            external_key="run-1",
            keep_last=True,
        )
        head = replace(_head("f", 1), revision="0" * 32)
        meta.commit(head, version, [chunk], expected=None)
        assert meta.head("f") == head
        assert meta.versions("F") == [version]
        assert meta.chunks("F", "id:uid") == [chunk]

    def test_a_chunks_null_columns_round_trip_exactly(self, meta: MetadataStore) -> None:
        # None (not recorded) must not come back as () (recorded: none), nor the reverse:
        # a read trusts () and reads the file for None
        chunks = [
            replace(_chunk(1, "t1", lo, lo, layout="id:uid", seq=lo), nulls=nulls)
            for lo, nulls in enumerate([None, (), ("a",), ("b c", "__index_level_0__", "é")])
        ]
        meta.commit(_head("f", 1), _version(1, "t1"), chunks, expected=None)
        found = sorted(meta.chunks("F", "id:uid"), key=lambda c: c.seq)
        assert [c.nulls for c in found] == [c.nulls for c in chunks]

    # ---------------------------------------------------------------- drop records (edits)

    def test_drops_commit_with_the_version_and_hide_their_chunks(self, meta: MetadataStore) -> None:
        c1, c2 = (
            _chunk(1, "t1", "2024-01-01", "2024-01-01"),
            _chunk(1, "t1", "2024-01-02", "2024-01-02"),
        )
        meta.commit(_head("f", 1), _version(1, "t1"), [c1, c2], expected=None)
        drop = _drop(c1, 2, "t2")
        meta.commit(
            _head("f", 2), _edit_version(2, "t2", 1), [], expected=_head("f", 1), drops=[drop]
        )
        assert meta.drops("F", "date:ts") == [drop]
        versions = meta.versions("F")
        chunks = meta.chunks("F", "date:ts")
        drops = meta.drops("F", "date:ts")
        assert [c.chunk_id for c in live(chunks, versions, 2, drops)] == [c2.chunk_id]
        assert {c.chunk_id for c in live(chunks, versions, 1, drops)} == {c1.chunk_id, c2.chunk_id}

    def test_drops_are_found_by_the_range_of_their_chunk(self, meta: MetadataStore) -> None:
        days = [_chunk(1, "t1", f"2024-01-{d:02d}", f"2024-01-{d:02d}") for d in range(1, 6)]
        ids = [_chunk(1, "t1", lo, lo + 9, layout="id:uid") for lo in range(-50, 50, 10)]
        meta.commit(_head("f", 1), _version(1, "t1"), days + ids, expected=None)
        drops = [_drop(c, 2, "t2") for c in days + ids]
        meta.commit(
            _head("f", 2),
            _edit_version(2, "t2", len(drops)),
            [],
            expected=_head("f", 1),
            drops=drops,
        )
        found = meta.drops("F", "date:ts", "2024-01-02", "2024-01-03")
        assert sorted(d.lo for d in found) == ["2024-01-02", "2024-01-03"]
        assert [d.lo for d in meta.drops("F", "id:uid", 5, 5)] == [0]
        assert sorted(d.lo for d in meta.drops("F", "id:uid", -15, 1)) == [-20, -10, 0]
        for lo, hi in [(5, 5), (-15, 1), (None, 0), (45, None)]:
            chunk_ids = {c.chunk_id for c in meta.chunks("F", "id:uid", lo, hi)}
            assert chunk_ids == {d.chunk_id for d in meta.drops("F", "id:uid", lo, hi)}

    def test_a_losing_commits_drops_never_count(self, meta: MetadataStore) -> None:
        c1 = _chunk(1, "t1", "a", "a")
        meta.commit(_head("f", 1), _version(1, "t1"), [c1], expected=None)
        meta.commit(_head("f", 2), _version(2, "t2"), [], expected=_head("f", 1))
        with pytest.raises(CommitConflict):
            meta.commit(
                _head("f", 2),
                _edit_version(2, "tX", 1),
                [],
                expected=_head("f", 1),
                drops=[_drop(c1, 2, "tX")],
            )
        versions = meta.versions("F")
        drops = meta.drops("F", "date:ts")
        assert [c.chunk_id for c in live(meta.chunks("F", "date:ts"), versions, 2, drops)] == [
            c1.chunk_id
        ]

    def test_drops_of_one_chunk_by_two_commits_are_both_kept(self, meta: MetadataStore) -> None:
        """A drop is keyed by chunk and txn: a writer that lost its race must not overwrite
        the winner's drop of the same chunk (the chunk would come back)."""
        c1 = _chunk(1, "t1", "a", "a")
        meta.commit(_head("f", 1), _version(1, "t1"), [c1], expected=None)
        winner, loser = _drop(c1, 2, "win"), _drop(c1, 2, "lose")
        meta.commit(
            _head("f", 2), _edit_version(2, "win", 1), [], expected=_head("f", 1), drops=[winner]
        )
        with pytest.raises(CommitConflict):
            meta.commit(
                _head("f", 2),
                _edit_version(2, "lose", 1),
                [],
                expected=_head("f", 1),
                drops=[loser],
            )
        assert winner in meta.drops("F", "date:ts")
        versions = meta.versions("F")
        assert live(meta.chunks("F", "date:ts"), versions, 2, meta.drops("F", "date:ts")) == []

    def test_forget_drops_and_drop_frame_remove_them(self, meta: MetadataStore) -> None:
        c1, c2 = _chunk(1, "t1", "a", "a"), _chunk(1, "t1", "b", "b")
        meta.commit(_head("f", 1), _version(1, "t1"), [c1, c2], expected=None)
        d1, d2 = _drop(c1, 2, "t2"), _drop(c2, 2, "t2")
        meta.commit(
            _head("f", 2), _edit_version(2, "t2", 2), [], expected=_head("f", 1), drops=[d1, d2]
        )
        meta.forget_drops("F", [d1])
        assert meta.drops("F", "date:ts") == [d2]
        meta.drop_frame("f", expected=_head("f", 2))
        assert meta.drops("F", "date:ts") == []

    def test_edit_records_round_trip_exactly(self, meta: MetadataStore) -> None:
        chunk = replace(_chunk(1, "t1", 3, 9, layout="id:uid", seq=4), origin=None)
        meta.commit(_head("f", 1), _version(1, "t1"), [chunk], expected=None)
        rewrite = replace(_chunk(2, "t2", 3, 7, layout="id:uid", seq=4), origin=1)
        version = replace(_edit_version(2, "t2", 1), operation="delete_rows", idempotency_key="k:1")
        drop = _drop(chunk, 2, "t2")
        meta.commit(_head("f", 2), version, [rewrite], expected=_head("f", 1), drops=[drop])
        assert meta.versions("F")[-1] == version
        assert sorted(meta.chunks("F", "id:uid"), key=lambda c: c.version) == [chunk, rewrite]
        assert meta.drops("F", "id:uid") == [drop]


def _drop(chunk: ChunkRecord, version: int, txn: str) -> DropRecord:
    return DropRecord(chunk.chunk_id, chunk.layout, chunk.lo, chunk.hi, version, txn)


def _edit_version(version: int, txn: str, drops: int) -> VersionRecord:
    return replace(_version(version, txn), drop_records=drops, operation="replace")
