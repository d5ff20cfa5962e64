"""Changing part of a frame (issue 15): upload modes, replace, delete_rows, idempotent writes
and compact, each on memory, local files + SQLite and S3 + DynamoDB (the ``db`` fixture).

Each edit is checked as a user would: the rows read after it, the rows ``as_of`` the version
before, every layout agreeing, ``check()`` finding nothing broken, ``vacuum`` freeing only
what no retained version reads, and new chunk files at the seed's paths."""

from __future__ import annotations

import re
import threading

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import pandasdb_core as pdb
from pandasdb_core.store import Store


def days(*spec: tuple[str, list[int]]) -> pd.DataFrame:
    """Rows per day: ``("2024-01-01", [1, 2])`` -> two rows that day with v = 1, 2 and
    ids 100*v."""
    rows = [
        (pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=h), v)
        for day, vs in spec
        for h, v in enumerate(vs)
    ]
    return pd.DataFrame(
        {"ts": [t for t, _ in rows], "uid": [100 * v for _, v in rows], "v": [v for _, v in rows]}
    )


def by_v(frame: pd.DataFrame) -> list[int]:
    return sorted(frame["v"].tolist())


def blob_keys(db: Store) -> set[str]:
    return {b.key for b in db.blobs.list()}


SEED_DATE = re.compile(r"^f/ts/\d{4}-\d{2}-\d{2}/[0-9a-f]{32}\.csv\.gz$")
SEED_ID = re.compile(r"^f/uid/from_-?\d+_to_-?\d+/[0-9a-f]{32}\.csv\.gz$")


def seed_path(key: str) -> bool:
    return bool(SEED_DATE.match(key) or SEED_ID.match(key))


@pytest.fixture
def both(db: Store) -> Store:
    """Frame f with a Date and an ID layout: 3 days, 2 small chunks per day."""
    db.upload(
        days(("2024-01-01", [1, 2, 3]), ("2024-01-02", [4, 5])),
        "f",
        columns_keys={"ts": "Date", "uid": "ID"},
        chunk_rows=2,
    )
    db.upload(days(("2024-01-02", [6]), ("2024-01-03", [7, 8])), "f")
    return db


def layouts_agree(db: Store, name: str = "f") -> list[int]:
    """The rows by date and by id are the same rows; returns their v values."""
    by_date = by_v(db.get(name, start_date="1970-01-01"))
    by_id = by_v(db.get(name, start_id=-(2**63)))
    assert by_date == by_id == by_v(db.get(name))
    return by_date


def test_replace_partitions_replaces_the_days_present_in_every_layout(both):
    before = both.get("f")
    commit = both.upload(days(("2024-01-02", [20, 21, 22])), "f", mode="replace_partitions")
    assert (commit.version, commit.rows, commit.rows_removed) == (3, 3, 3)
    assert layouts_agree(both) == [1, 2, 3, 7, 8, 20, 21, 22]
    assert by_v(both.get("f", start_date="2024-01-02", end_date="2024-01-02")) == [20, 21, 22]
    assert_frame_equal(both.get("f", as_of=2), before)
    assert [v.operation for v in both.versions("f")] == ["append", "append", "replace_partitions"]
    assert all(seed_path(k) for k in commit.keys)
    assert both.check().ok


def test_replace_partitions_on_an_id_frame_replaces_the_ids_present(db):
    db.upload(
        pd.DataFrame({"uid": [1, 2, 3, 4], "v": [1, 2, 3, 4]}),
        "u",
        columns_keys={"uid": "ID"},
        chunk_rows=2,
    )
    db.upload(pd.DataFrame({"uid": [2, 9], "v": [20, 90]}), "u", mode="replace_partitions")
    got = db.get("u").sort_values("uid")
    assert got["uid"].tolist() == [1, 2, 3, 4, 9] and got["v"].tolist() == [1, 20, 3, 4, 90]
    assert sorted(db.get("u", as_of=1)["v"]) == [1, 2, 3, 4]
    assert db.check().ok


def test_overwrite_replaces_the_whole_frame_partitioned_or_batched(db):
    db.upload(days(("2024-01-01", [1, 2])), "f", columns_keys={"ts": "Date"})
    commit = db.upload(days(("2024-01-05", [9])), "f", mode="overwrite")
    assert by_v(db.get("f")) == [9] and commit.rows_removed == 2
    db.upload(pd.DataFrame({"x": [1]}), "b", external_key="k1")
    db.upload(pd.DataFrame({"x": [2]}), "b", external_key="k2")
    db.upload(pd.DataFrame({"x": [3]}), "b", external_key="k1", mode="overwrite")
    assert db.get("b")["x"].tolist() == [3]
    assert db.get("b", as_of=2)["x"].tolist() == [1, 2]
    assert db.list()[0].rows == 1 and [i.rows for i in db.list()] == [1, 1]
    # a batch frame's partition is its external key: replace_partitions is keep_last
    db.upload(pd.DataFrame({"x": [4]}), "b", external_key="k2")
    db.upload(pd.DataFrame({"x": [5]}), "b", external_key="k2", mode="replace_partitions")
    assert db.get("b")["x"].tolist() == [3, 5]
    assert db.check().ok


def test_replace_a_date_range(both):
    fix = days(("2024-01-02", [40]))
    fix["ts"] += pd.Timedelta(hours=5)
    commit = both.replace("f", fix, start_date="2024-01-02T00:30:00", end_date="2024-01-03")
    # 2024-01-02 rows at 00:00 (v=4 and v=6) stay; the rest of that day and 2024-01-03 go
    assert layouts_agree(both) == [1, 2, 3, 4, 6, 40]
    assert commit.rows_removed == 3 and commit.rows == 1
    assert all(seed_path(k) for k in commit.keys)
    assert both.check().ok


def test_replace_refuses_a_row_outside_the_range_and_writes_nothing(both):
    before_blobs, before_versions = blob_keys(both), len(both.versions("f"))
    bad = days(("2024-01-02", [40]), ("2024-01-09", [41]))
    with pytest.raises(
        pdb.InvalidArgument, match=r"row 1 \(ts=.*2024-01-09.*\) lies outside the range"
    ):
        both.replace("f", bad, start_date="2024-01-02", end_date="2024-01-03")
    with pytest.raises(pdb.InvalidArgument, match="replace needs a range"):
        both.replace("f", bad)
    with pytest.raises(pdb.FrameNotFound):
        both.replace("nope", bad, start_date="2024-01-01")
    assert blob_keys(both) == before_blobs and len(both.versions("f")) == before_versions


def test_replace_an_id_range(both):
    both.replace("f", days(("2024-01-05", [3])), start_id=200, end_id=500)
    assert layouts_agree(both) == [1, 3, 6, 7, 8]


def test_delete_rows_drops_whole_chunks_by_reference_and_rewrites_partial_ones(both):
    versions_before = both.versions("f")[-1].version
    whole = both.delete_rows("f", start_date="2024-01-03")
    # Date layout: the day's one chunk dropped unread; ID layout: the chunks holding 700, 800
    assert whole.rows_removed == 2 and whole.version == versions_before + 1
    assert layouts_agree(both) == [1, 2, 3, 4, 5, 6]
    partial = both.delete_rows(
        "f", start_date="2024-01-01T01:00:00", end_date="2024-01-01T01:59:59"
    )
    assert partial.rows_removed == 1 and partial.chunks >= 1
    assert layouts_agree(both) == [1, 3, 4, 5, 6]
    assert both.get("f", start_date="2024-01-01", end_date="2024-01-01")["v"].tolist() == [1, 3]
    ids = both.delete_rows("f", partition_value=[400, 600])
    assert ids.rows_removed == 2 and layouts_agree(both) == [1, 3, 5]
    assert by_v(both.get("f", as_of=versions_before)) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [v.rows_total for v in both.versions("f")][-3:] == [6, 5, 3]
    assert both.check().ok


def test_delete_rows_that_match_nothing_commits_nothing(both):
    head = both.versions("f")[-1].version
    commit = both.delete_rows("f", start_date="2030-01-01")
    assert commit.version == head and commit.rows_removed == 0 and commit.chunks == 0
    with pytest.raises(pdb.InvalidArgument, match="start_id needs an ID layout"):
        both.upload(pd.DataFrame({"x": [1]}), "b") and both.delete_rows("b", start_id=1)


def test_vacuum_frees_dropped_chunks_only_once_no_retained_version_reads_them(both):
    both.delete_rows("f", start_date="2024-01-02")
    both.vacuum(grace_seconds=0)
    assert by_v(both.get("f", as_of=2)) == [1, 2, 3, 4, 5, 6, 7, 8], "version 2 still reads them"
    assert both.check().ok
    report = both.vacuum(grace_seconds=0, retain_versions=1)
    assert report.blobs_deleted, "the dropped chunks are freed once version 2 is retired"
    assert layouts_agree(both) == [1, 2, 3]
    assert both.check().ok and both.vacuum(grace_seconds=0, dry_run=True).blobs_deleted == ()
    with pytest.raises(pdb.VersionNotFound):
        both.get("f", as_of=2)


def test_an_idempotency_key_commits_once(db):
    frame = days(("2024-01-01", [1, 2]))
    first = db.upload(frame, "f", columns_keys={"ts": "Date"}, idempotency_key="load-1")
    again = db.upload(frame, "f", idempotency_key="load-1")
    assert again == first and first.keys
    assert by_v(db.get("f")) == [1, 2] and len(db.versions("f")) == 1
    db.upload(frame, "f", idempotency_key="load-2")
    assert by_v(db.get("f")) == [1, 1, 2, 2]
    removed = db.delete_rows("f", start_date="2024-01-01", idempotency_key="del-1")
    db.upload(frame, "f")
    assert db.delete_rows("f", start_date="2024-01-01", idempotency_key="del-1") == removed
    assert by_v(db.get("f")) == [1, 2]
    # keys belong to a frame
    assert db.upload(frame, "g", columns_keys={"ts": "Date"}, idempotency_key="load-1").version == 1


def test_compact_merges_small_chunks_without_changing_a_row(db):
    for i in range(12):
        db.upload(
            days(("2024-01-01", [i]), ("2024-01-02", [100 + i])),
            "f",
            columns_keys={"ts": "Date"},
            chunk_rows=5,
        )
    before = db.get("f")
    chunks_before = sum(1 for k in blob_keys(db) if k.startswith("f/"))
    commit = db.compact("f")
    assert commit.chunks_dropped == 24 and commit.chunks == 6 and commit.rows == 0
    assert_frame_equal(db.get("f"), before)
    assert_frame_equal(db.get("f", as_of=12), before)
    assert db.versions("f")[-1].operation == "compact"
    assert db.compact("f").version == commit.version, "nothing left to merge"
    assert all(SEED_DATE.match(k) for k in commit.keys)
    db.vacuum(grace_seconds=0, retain_versions=1)
    assert sum(1 for k in blob_keys(db) if k.startswith("f/")) == chunks_before - 24 + 6
    assert_frame_equal(db.get("f"), before)
    assert db.check().ok


def test_compact_keeps_row_order_around_large_chunks(db):
    db.upload(days(("2024-01-01", [1])), "f", columns_keys={"ts": "Date"}, chunk_rows=3)
    db.upload(days(("2024-01-01", [2])), "f")
    db.upload(days(("2024-01-01", [3, 4, 5])), "f")  # a full chunk between small ones
    db.upload(days(("2024-01-01", [6])), "f")
    db.upload(days(("2024-01-01", [7])), "f")
    before = db.get("f")["v"].tolist()
    assert db.compact("f").chunks_dropped == 4
    assert db.get("f")["v"].tolist() == before


def test_an_edit_racing_an_append_loses_neither(db):
    """The edit plans on version 1; another client appends before it commits: it plans again
    on version 2, so the append's rows (outside the edit's range) survive, and the edit's
    removal still applies."""
    from test_acknowledged import PausingMeta

    db.upload(
        days(("2024-01-01", [1, 2]), ("2024-01-02", [3])),
        "f",
        columns_keys={"ts": "Date", "uid": "ID"},
    )

    def other_client() -> None:
        db.upload(days(("2024-01-03", [9]), ("2024-01-02", [8])), "f")

    racing = Store(db.blobs, PausingMeta(db.meta, other_client), chunk_rows=1000)
    commit = racing.delete_rows("f", start_date="2024-01-02", end_date="2024-01-02")
    assert commit.version == 3 and commit.rows_removed == 2
    assert layouts_agree(db) == [1, 2, 9]
    assert db.check().ok


@pytest.fixture(params=["memory", "local", "aws"])
def threaded_db(request, tmp_path) -> Store:
    """A store for threads: moto in-process is not thread-safe, so AWS is moto's HTTP server
    (one request at a time, as tests/conftest.py explains)."""
    if request.param == "memory":
        return pdb.open("memory://", chunk_rows=1000)
    if request.param == "local":
        return pdb.open(tmp_path / "store", chunk_rows=1000)
    return request.getfixturevalue("server_db")


@pytest.mark.parametrize("edit", ["replace_partitions", "delete_rows", "compact"])
def test_edits_and_appends_in_threads_lose_nothing(threaded_db, edit):
    db = threaded_db
    db.upload(days(("2024-01-01", [0])), "f", columns_keys={"ts": "Date", "uid": "ID"})
    errors: list[BaseException] = []

    def appender(i: int) -> None:
        try:
            db.upload(days(("2024-01-02", [i])), "f")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def editor() -> None:
        try:
            for _ in range(3):
                if edit == "replace_partitions":
                    db.upload(days(("2024-01-01", [0])), "f", mode="replace_partitions")
                elif edit == "delete_rows":
                    db.delete_rows("f", start_date="2024-01-05")
                else:
                    db.compact("f")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=appender, args=(i,)) for i in range(1, 7)]
    threads.append(threading.Thread(target=editor))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert layouts_agree(db) == [0, 1, 2, 3, 4, 5, 6]
    assert db.check().ok


def test_an_edit_of_many_chunks_fits_dynamodbs_transaction_and_item_limits(aws):
    """DynamoDB's TransactWriteItems takes at most 100 items, and an item is at most 400 KB
    (Amazon DynamoDB API Reference, TransactWriteItems; Developer Guide, "Service, account, and
    table quotas": item size). An edit may drop thousands of chunks: its drop records are written
    like chunk records, one small item each, before a transaction of head, version and spans."""
    db = pdb.open("s3://edit-limits", table="meta", create=True, chunk_rows=1000)
    for i in range(130):
        db.upload(pd.DataFrame({"uid": [i], "v": [i]}), "u", columns_keys={"uid": "ID"})
    client = db.meta.client
    transactions: list[int] = []
    items: list[int] = []
    send, batch = client.transact_write_items, client.batch_write_item

    def transact(**kwargs):
        transactions.append(len(kwargs["TransactItems"]))
        return send(**kwargs)

    def batch_write(**kwargs):
        for requests_ in kwargs["RequestItems"].values():
            items.extend(len(repr(r)) for r in requests_)
        return batch(**kwargs)

    client.transact_write_items, client.batch_write_item = transact, batch_write
    commit = db.compact("u")
    assert commit.chunks_dropped == 130 and commit.chunks == 1
    assert transactions and max(transactions) <= 100
    assert len(items) >= 131 and max(items) < 4_000
    assert sorted(db.get("u")["uid"]) == list(range(130))
    assert sorted(db.get("u", as_of=130)["uid"]) == list(range(130))
    assert db.check().ok


def test_an_idempotency_key_names_one_write(db):
    """A key reused for another operation, other options or other rows is refused, never
    answered with the first commit (which would silently do nothing)."""
    from pandasdb_core.errors import InvalidArgument

    frame = days(("2024-01-01", [1, 2]), ("2024-01-02", [3]))
    first = db.upload(iter([frame]), "f", columns_keys={"ts": "Date"}, idempotency_key="k1")
    refused = "idempotency_key 'k1' already named an append"
    with pytest.raises(InvalidArgument, match=f"{refused}, not a delete_rows"):
        db.delete_rows("f", start_date="2024-01-02", idempotency_key="k1")
    with pytest.raises(InvalidArgument, match=f"{refused}, not a replace"):
        db.replace("f", frame.iloc[2:], start_date="2024-01-02", idempotency_key="k1")
    with pytest.raises(InvalidArgument, match=f"{refused}, not an overwrite"):
        db.upload(iter([frame]), "f", mode="overwrite", idempotency_key="k1")
    assert db.upload(iter([frame]), "f", idempotency_key="k1") == first  # the same request
    removed = db.delete_rows("f", start_date="2024-01-02", idempotency_key="d1")
    assert db.delete_rows("f", start_date="2024-01-02", idempotency_key="d1") == removed
    with pytest.raises(InvalidArgument, match="'d1' already named a delete_rows with other"):
        db.delete_rows("f", start_date="2024-01-01", idempotency_key="d1")
    fix = days(("2024-01-01", [10]))
    replaced = db.replace("f", fix, start_date="2024-01-01", end_date="2024-01-01",
                          idempotency_key="r1")  # fmt: skip
    assert db.replace("f", fix, start_date="2024-01-01", end_date="2024-01-01",
                      idempotency_key="r1") == replaced  # fmt: skip
    with pytest.raises(InvalidArgument, match="'r1' already named a replace of other rows"):
        db.replace("f", days(("2024-01-01", [11])), start_date="2024-01-01",
                   end_date="2024-01-01", idempotency_key="r1")  # fmt: skip
    assert by_v(db.get("f")) == [10] and len(db.versions("f")) == 3


def test_a_whole_frame_upload_reusing_a_key_for_other_rows_is_refused(db):
    from pandasdb_core.errors import InvalidArgument

    db.upload(days(("2024-01-01", [1])), "f", columns_keys={"ts": "Date"}, idempotency_key="k")
    with pytest.raises(InvalidArgument, match="'k' already named an append of other rows"):
        db.upload(days(("2024-01-01", [2])), "f", idempotency_key="k")
    with pytest.raises(InvalidArgument, match="not a delete_rows"):
        db.delete_rows("f", start_date="2024-01-01", idempotency_key="k")
    assert db.upload(days(("2024-01-01", [1])), "f", keep_last=True).version == 2
    assert db.versions("f")[-1].operation == "overwrite"


class RecreatingMeta:
    """Forwards to ``inner``; the first ``versions`` call (an edit planning on the head it
    read) first runs ``meanwhile`` (another client deleting the frame and creating it
    again)."""

    def __init__(self, inner, meanwhile) -> None:
        self.inner = inner
        self.meanwhile = meanwhile

    def versions(self, frame_id):
        hook, self.meanwhile = self.meanwhile, None
        if hook is not None:
            hook()
        return self.inner.versions(frame_id)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("edit", ["delete_rows", "compact"])
def test_an_edit_whose_frame_is_created_again_while_it_plans_plans_on_the_new_one(db, edit):
    """The edit read the head of a frame that another client deletes and creates again
    before the edit looks at its chunks: on the old frame there was nothing to do, but it
    must not answer "unchanged" for a frame it never looked at; it plans again on the new
    one."""
    db.upload(days(("2024-01-01", [1])), "f", columns_keys={"ts": "Date"}, chunk_rows=100)

    def other_client() -> None:
        db.delete("f")
        db.upload(days(("2024-01-02", [5])), "f", columns_keys={"ts": "Date"}, chunk_rows=100)
        db.upload(days(("2024-01-02", [6])), "f")

    racing = Store(db.blobs, RecreatingMeta(db.meta, other_client), chunk_rows=1000)
    if edit == "delete_rows":
        commit = racing.delete_rows("f", start_date="2024-01-02")
        assert commit.rows_removed == 2 and len(db.get("f")) == 0
    else:
        commit = racing.compact("f")
        assert commit.chunks_dropped == 2 and by_v(db.get("f")) == [5, 6]
    assert commit.version == 3 and db.check().ok


def test_replace_with_no_rows_clears_the_range(both):
    empty = days(("2024-01-01", [1])).iloc[:0]
    commit = both.replace("f", empty, start_date="2024-01-02", end_date="2024-01-02")
    assert (commit.rows, commit.rows_removed) == (0, 3)
    assert layouts_agree(both) == [1, 2, 3, 7, 8]
    assert both.versions("f")[-1].operation == "replace"
    again = both.replace("f", empty, start_date="2024-01-02", end_date="2024-01-02")
    assert again.version == commit.version and again.rows_removed == 0
    assert by_v(both.get("f", as_of=2)) == [1, 2, 3, 4, 5, 6, 7, 8] and both.check().ok


def test_compact_recuts_overlapping_id_chunks_into_disjoint_ranges(db):
    """A streamed ID upload sorts ids within each piece: the pieces' chunks overlap, and a
    read of one id touches a file per piece. Compact re-cuts them (also when they are too
    many rows to hold at once: window by window), so a read of one id touches one file."""
    rng = np.random.default_rng(3)
    n = 6000
    df = pd.DataFrame({"uid": rng.integers(0, 3000, n), "v": np.arange(n)})
    # target 50: the overlapping rows are more than 16 targets' worth, re-cut in windows
    for name, target in (("u", None), ("w", 50)):
        db.upload((df.iloc[i : i + 1000] for i in range(0, n, 1000)), name,
                  columns_keys={"uid": "ID"}, chunk_rows=400)  # fmt: skip
        before = db.get(name).sort_values(["uid", "v"], ignore_index=True)
        ids = range(0, 3000, 97)
        assert max(len(db.files(name, partition_value=i).files) for i in ids) > 3
        commit = db.compact(name, target_rows=target)
        assert commit.rows == 0 and commit.chunks_dropped == 18  # 6 pieces of 3
        files = db.files(name).files
        assert all(a.hi < b.lo for a, b in zip(files, files[1:], strict=False))
        assert all(len(db.files(name, partition_value=i).files) == 1 for i in ids)
        got = db.get(name)
        assert got["uid"].is_monotonic_increasing
        pd.testing.assert_frame_equal(got.sort_values(["uid", "v"], ignore_index=True), before)
        assert db.compact(name, target_rows=target).version == commit.version, "nothing left"
    assert len(db.files("w").files) > 60  # about 6000 / 50
    assert db.check().ok
