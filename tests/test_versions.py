"""Versions, time travel, keep_last, schema evolution, delete and vacuum."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import pandasdb_core as pdb


def frame(values, day="2024-01-01"):
    return pd.DataFrame({"ts": pd.to_datetime([day] * len(values), utc=True), "v": values})


def test_appends_make_versions_and_as_of_reads_the_past(db):
    c1 = db.upload(frame([1, 2]), "f", columns_keys={"ts": "Date"})
    c2 = db.upload(frame([3], "2024-01-02"), "f")
    assert (c1.version, c2.version) == (1, 2)
    assert db.get("f")["v"].tolist() == [1, 2, 3]
    assert db.get("f", as_of=1)["v"].tolist() == [1, 2]
    hist = db.versions("f")
    assert [(v.version, v.rows_added, v.rows_total) for v in hist] == [(1, 2, 2), (2, 1, 3)]
    info = db.list()[0]
    assert (info.name, info.version, info.rows, info.layouts) == ("f", 2, 3, ("date:ts",))


@pytest.mark.parametrize("as_of", [0, 3, -1, 10**12])
def test_as_of_out_of_range(db, as_of):
    db.upload(frame([1]), "f")
    db.upload(frame([2]), "f")
    with pytest.raises(pdb.VersionNotFound, match=r"as_of=.*versions 1\.\.2"):
        db.get("f", as_of=as_of)


def test_keep_last_replaces_a_key_atomically_and_keeps_history(db):
    db.upload(pd.DataFrame({"x": [1, 2]}), "m", external_key="k")
    db.upload(pd.DataFrame({"x": [7]}), "m", external_key="other")
    db.upload(pd.DataFrame({"x": [3]}), "m", external_key="k", keep_last=True)
    assert db.get("m")["x"].tolist() == [7, 3]
    assert db.get("m", as_of=2)["x"].tolist() == [1, 2, 7]
    assert db.list()[0].rows == 2
    assert db.versions("m")[-1].rows_total == 2


def test_keep_last_on_a_partitioned_frame_overwrites_it(db):
    db.upload(frame([1, 2]), "f", columns_keys={"ts": "Date"})
    db.upload(frame([5], "2024-01-09"), "f", keep_last=True)
    assert db.get("f")["v"].tolist() == [5]
    assert db.get("f", as_of=1)["v"].tolist() == [1, 2]


def test_new_columns_are_allowed_and_null_in_older_rows(db):
    db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    db.upload(pd.DataFrame({"a": [3], "b": ["new"]}), "f")
    back = db.get("f")
    assert back["a"].tolist() == [1, 2, 3] and str(back["a"].dtype) == "int64"
    assert back["b"].isna().tolist() == [True, True, False]
    assert list(db.get("f", as_of=1).columns) == ["a"]
    db.upload(pd.DataFrame({"a": [4]}), "f")
    assert db.get("f")["b"].isna().tolist() == [True, True, False, True]


def test_a_column_added_later_is_named_as_such_when_an_older_version_is_read(db):
    """as_of=1 asking for a column version 2 added said "unknown column(s) ['b']; the frame
    has ['a', 'b']", naming the column among those it has."""
    db.upload(pd.DataFrame({"a": [1]}), "f")
    db.upload(pd.DataFrame({"a": [2], "b": ["x"]}), "f")
    message = r"\['b'\] came in a later version\); version 1 of the frame has \['a'\]$"
    with pytest.raises(pdb.InvalidArgument, match=message):
        db.get("f", as_of=1, columns=["b"])
    with pytest.raises(pdb.InvalidArgument, match=r"unknown column\(s\) \['c'\]; the frame has"):
        db.get("f", columns=["c"])
    assert db.get("f", columns=["b"])["b"].isna().tolist() == [True, False]


def test_reading_only_columns_added_later_keeps_the_older_rows(db):
    """columns=["b"] where b came with version 2 returned version 2's rows only: the files of
    version 1 hold none of the asked columns and were parsed into no rows. Every row comes
    back, null in the column, as a read of all columns or with a filter gives them."""
    db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    db.upload(pd.DataFrame({"a": [3], "b": ["x"], "n": [7]}), "f")
    assert db.get("f", columns=["b"])["b"].isna().tolist() == [True, True, False]
    assert db.get("f", columns=["n"])["n"].tolist() == [pd.NA, pd.NA, 7]
    assert db.get("f", columns=["n", "b"], engine="polars").height == 3
    assert sum(len(b) for b in db.iter_batches("f", columns=["n"], batch_rows=2)) == 3


def test_new_int_column_with_older_rows_becomes_nullable(db):
    db.upload(pd.DataFrame({"a": [1]}), "f")
    db.upload(pd.DataFrame({"a": [2], "n": [10]}), "f")
    back = db.get("f")
    assert str(back["n"].dtype) == "Int64" and back["n"].tolist()[1] == 10


def test_a_decimal_column_takes_later_values_of_fewer_or_more_digits(db):
    """A decimal column of pandas objects takes its precision from its values: 10.50
    recorded Decimal(4, 2), and a later 9.99 (Decimal(3, 2)) or 100.25 was refused as a
    changed type. Same places fit (a wider one widens the column); more places than the
    column's are refused, never rounded."""
    from decimal import Decimal

    db.upload(pd.DataFrame({"d": [Decimal("10.50")]}), "f")
    db.upload(pd.DataFrame({"d": [Decimal("9.99")]}), "f")
    db.upload(pd.DataFrame({"d": [Decimal("100.25"), Decimal("7")]}), "f")
    with pytest.raises(pdb.SchemaMismatch, match="'d'"):
        db.upload(pd.DataFrame({"d": [Decimal("1.125")]}), "f")
    want = [Decimal("10.50"), Decimal("9.99"), Decimal("100.25"), Decimal("7.00")]
    assert db.get("f")["d"].tolist() == want
    assert db.get("f", as_of=1)["d"].tolist() == want[:1]
    assert db.check().ok


def test_changed_type_is_refused_and_nothing_written(db):
    db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    before = sorted(b.key for b in db.blobs.list())
    with pytest.raises(pdb.SchemaMismatch, match="column 'a'.*Int64.*String"):
        db.upload(pd.DataFrame({"a": ["x"]}), "f")
    assert sorted(b.key for b in db.blobs.list()) == before
    assert db.list()[0].version == 1


def test_layouts_and_format_are_fixed_at_creation(db):
    db.upload(frame([1]), "f", columns_keys={"ts": "Date"})
    with pytest.raises(pdb.InvalidArgument, match=r"columns_keys: .* laid out by ts \(Date\)"):
        db.upload(frame([2]), "f", columns_keys={"v": "ID"})
    with pytest.raises(pdb.InvalidArgument, match="format"):
        db.upload(frame([2]), "f", format="parquet")
    db.upload(frame([2]), "f", columns_keys={"ts": "date"})
    assert db.get("f")["v"].tolist() == [1, 2]


def test_delete_then_vacuum_frees_files(db):
    db.upload(frame([1, 2]), "gone", columns_keys={"ts": "Date"})
    db.upload(pd.DataFrame({"x": [1]}), "batch")
    db.upload(frame([3]), "kept")
    db.delete("gone")
    db.delete("batch")
    with pytest.raises(pdb.FrameNotFound):
        db.get("gone")
    assert [f.name for f in db.list()] == ["kept"]
    dry = db.vacuum(grace_seconds=0, dry_run=True)
    assert len(dry.blobs_deleted) == 2 and all(not k.startswith("kept/") for k in dry.blobs_deleted)
    report = db.vacuum(grace_seconds=0)
    assert report.blobs_deleted == dry.blobs_deleted
    assert all(b.key.startswith("kept/") for b in db.blobs.list())
    assert db.get("kept")["v"].tolist() == [3]


def test_vacuum_grace_period_protects_fresh_files(db):
    db.upload(frame([1]), "f")
    db.delete("f")
    assert db.vacuum().blobs_deleted == ()
    assert len(list(db.blobs.list())) == 1


def test_vacuum_removes_unreferenced_orphans(db):
    db.upload(frame([1]), "f")
    db.blobs.put("f/external_key/default/2024-01-01/00:00:00_orphan.csv.gz", b"junk")
    report = db.vacuum(grace_seconds=0)
    assert report.blobs_deleted == ("f/external_key/default/2024-01-01/00:00:00_orphan.csv.gz",)
    assert db.get("f")["v"].tolist() == [1]


def test_vacuum_retain_versions_frees_dropped_batches(db):
    for i in range(3):
        db.upload(pd.DataFrame({"x": [i]}), "m", keep_last=True)
    assert len([b for b in db.blobs.list() if b.key.endswith(".csv.gz")]) == 3
    db.vacuum(grace_seconds=0)
    assert db.get("m", as_of=1)["x"].tolist() == [0], "all versions retained by default"
    report = db.vacuum(retain_versions=1, grace_seconds=0)
    assert len(report.blobs_deleted) == 2 and report.chunk_records_forgotten == 2
    assert db.get("m")["x"].tolist() == [2]
    with pytest.raises(pdb.VersionNotFound):
        db.get("m", as_of=2)
    assert [v.version for v in db.versions("m")] == [3]
    db.upload(pd.DataFrame({"x": [9]}), "m")
    assert db.get("m")["x"].tolist() == [2, 9]


def test_get_returns_whole_frame_equal_to_concat_of_uploads(db):
    parts = [frame(list(range(i * 10, i * 10 + 10)), f"2024-01-0{i + 1}") for i in range(5)]
    for p in parts:
        db.upload(p, "f", columns_keys={"ts": "Date"}, chunk_rows=3)
    assert_frame_equal(db.get("f"), pd.concat(parts, ignore_index=True))
