"""Nothing acknowledged is lost or changed: a commit racing a delete-and-recreate (ABA), date
bounds at the ends of the calendar, literal prefixes, readers racing vacuum, and ``check``
reading what it verifies. Each runs on memory, local files + SQLite and S3 + DynamoDB."""

from __future__ import annotations

import threading
from dataclasses import replace

import pandas as pd
import polars as pl
import pytest

import pandasdb_core as pdb
from pandasdb_core.ports import MetadataStore
from pandasdb_core.store import Store


class PausingMeta(MetadataStore):
    """Forwards to ``inner``; the first ``commit`` first runs ``before_commit`` (what another
    client does between this writer reading the head and committing)."""

    def __init__(self, inner: MetadataStore, before_commit) -> None:
        self.inner = inner
        self.before_commit = before_commit

    def commit(self, head, version, chunks, *, expected, drops=(), written_since=None):
        hook, self.before_commit = self.before_commit, None
        if hook is not None:
            hook()
        return self.inner.commit(
            head, version, chunks, expected=expected, drops=drops, written_since=written_since
        )

    def begin_vacuum(self, cutoff):
        return self.inner.begin_vacuum(cutoff)

    def vacuum_cutoff(self):
        return self.inner.vacuum_cutoff()

    def head(self, name):
        return self.inner.head(name)

    def versions(self, frame_id):
        return self.inner.versions(frame_id)

    def chunks(self, frame_id, layout, lo=None, hi=None):
        return self.inner.chunks(frame_id, layout, lo, hi)

    def frames(self, prefix=""):
        return self.inner.frames(prefix)

    def drop_frame(self, name, *, expected):
        return self.inner.drop_frame(name, expected=expected)

    def update_head(self, head, *, expected):
        return self.inner.update_head(head, expected=expected)

    def forget_chunks(self, frame_id, chunks):
        return self.inner.forget_chunks(frame_id, chunks)

    def drops(self, frame_id, layout, lo=None, hi=None):
        return self.inner.drops(frame_id, layout, lo, hi)

    def forget_drops(self, frame_id, drops):
        return self.inner.forget_drops(frame_id, drops)


def test_a_commit_never_lands_on_a_frame_deleted_and_created_again(db):
    """The ABA race of issue 10: writer A reads version 1 and writes its chunks; meanwhile B
    deletes the frame and uploads a new one, acknowledged as version 1. A must not commit "on
    version 1" over B's acknowledged upload: it retries on B's frame and becomes version 2."""
    db.upload(pd.DataFrame({"v": [1]}), "f")

    def other_client() -> None:
        db.delete("f")
        assert db.upload(pd.DataFrame({"v": [2]}), "f").version == 1  # acknowledged

    racing = Store(db.blobs, PausingMeta(db.meta, other_client), chunk_rows=1000)
    commit = racing.upload(pd.DataFrame({"v": [3]}), "f")
    assert commit.version == 2
    assert db.get("f")["v"].tolist() == [2, 3]
    assert db.get("f", as_of=1)["v"].tolist() == [2]
    assert [v.rows_total for v in db.versions("f")] == [1, 2]
    assert db.check().ok


@pytest.mark.parametrize(
    "days, start, end, expected",
    [
        (["0999-12-31", "1000-01-01"], "0999-12-31", "0999-12-31", ["0999-12-31"]),
        (["0001-01-01", "0001-01-02"], "0001-01-01", None, ["0001-01-01", "0001-01-02"]),
        (["9999-12-30", "9999-12-31"], "9999-12-31", "9999-12-31", ["9999-12-31"]),
        (["2024-01-01", "2024-01-02"], None, "20240101", ["2024-01-01"]),
        (["2024-01-01", "2024-01-02"], "20240102", None, ["2024-01-02"]),
        (
            ["2024-01-01", "2024-01-02"],
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            ["2024-01-01", "2024-01-02"],
        ),
    ],
)
def test_date_bounds_at_the_ends_of_the_calendar(db, days, start, end, expected):
    # microsecond datetimes reach years 1 to 9999; each day holds its midnight and its last
    # microsecond, so a bound that covers only part of a day is caught
    moments = [f"{d}T00:00:00" for d in days] + [f"{d}T23:59:59.999999" for d in days]
    frame = pl.DataFrame({"ts": pl.Series(moments).str.to_datetime(time_unit="us")})
    db.upload(frame, "cal", columns_keys={"ts": "Date"})
    got = db.get("cal", start_date=start, end_date=end, engine="polars")
    assert sorted({str(t.date()) for t in got["ts"].to_list()}) == expected
    assert got.height == 2 * len(expected)


def test_nanosecond_bounds_are_exact(db):
    ts = pd.to_datetime(["2024-01-01 00:00:00.000000001", "2024-01-01 00:00:00.000000002"])
    db.upload(pd.DataFrame({"ts": ts}), "ns", columns_keys={"ts": "Date"})
    got = db.get("ns", start_date="2024-01-01T00:00:00.000000002")
    assert got["ts"].tolist() == [ts[1]]
    got = db.get("ns", end_date=pd.Timestamp("2024-01-01 00:00:00.000000001"))
    assert got["ts"].tolist() == [ts[0]]


@pytest.mark.parametrize("dtype", ["int8", "uint8", "float64", "Int16"])
def test_id_bounds_beyond_a_narrow_column_type(db, dtype):
    frame = pd.DataFrame({"uid": pd.Series([1, 5, 100], dtype=dtype), "v": [1, 2, 3]})
    db.upload(frame, "ids", columns_keys={"uid": "ID"})
    assert db.get("ids", start_id=-(2**63), end_id=2**63 - 1)["v"].tolist() == [1, 2, 3]
    assert db.get("ids", partition_value=[5, 10**15])["v"].tolist() == [2]
    assert db.get("ids", start_id=1000).empty
    assert db.get("ids", partition_value=[-(2**63)]).empty


def test_many_ids_pick_only_their_chunks(db):
    frame = pd.DataFrame({"uid": range(0, 5000, 5), "v": range(1000)})
    db.upload(frame, "ids", columns_keys={"uid": "ID"}, chunk_rows=10)
    wanted = list(range(0, 5000, 50)) + list(range(1, 5000, 50))  # half are absent
    got = db.get("ids", partition_value=wanted)
    assert got["uid"].tolist() == list(range(0, 5000, 50))


def test_list_prefix_is_literal(db):
    for name in ("sales/a", "Sales/b", "sales_c", "salesXd"):
        db.upload(pd.DataFrame({"v": [1]}), name)
    assert [f.name for f in db.list("sales_")] == ["sales_c"]
    assert [f.name for f in db.list("sales")] == ["sales/a", "salesXd", "sales_c"]
    assert [f.name for f in db.list("S")] == ["Sales/b"]


def test_a_reader_of_a_version_retired_by_vacuum_still_finds_its_files(db):
    """vacuum(retain_versions=1) during a read of an older version: the files stay until the
    retirement is a grace period old, so the read completes."""
    db.upload(pd.DataFrame({"v": [1, 2]}), "f", external_key="k")
    db.upload(pd.DataFrame({"v": [3]}), "f", external_key="k", keep_last=True)
    started, release = threading.Event(), threading.Event()
    inner_get = db.blobs.get

    def slow_get(key):
        started.set()
        release.wait(30)
        return inner_get(key)

    result: dict = {}
    db.blobs.get = slow_get  # type: ignore[method-assign]
    reader = threading.Thread(target=lambda: result.update(frame=db.get("f", as_of=1)))
    reader.start()
    assert started.wait(30)
    db.blobs.get = inner_get  # type: ignore[method-assign]
    report = db.vacuum(retain_versions=1, grace_seconds=600)
    release.set()
    reader.join(30)
    assert result["frame"]["v"].tolist() == [1, 2]
    assert report.blobs_deleted == ()
    with pytest.raises(pdb.VersionNotFound):
        db.get("f", as_of=1)  # retired for new reads at once
    # once the retirement is older than the grace period, the files go
    head = db.meta.head("f")
    db.meta.update_head(replace(head, retired_at=head.retired_at - 601), expected=head)
    assert len(db.vacuum(grace_seconds=0).blobs_deleted) == 1
    assert db.get("f")["v"].tolist() == [3]


def test_a_chunk_file_gone_under_a_reader_is_a_clear_error(db):
    db.upload(pd.DataFrame({"v": [1]}), "f")
    key = next(b.key for b in db.blobs.list("f/") if b.key.endswith(".csv.gz"))
    db.blobs.delete([key])
    with pytest.raises(pdb.ChunkMissing, match="chunk file .* is gone"):
        db.get("f")
    assert db.check().missing == (key,)


def test_check_decodes_what_it_verifies(db):
    db.upload(pd.DataFrame({"v": [1, 2]}), "f")
    head = db.meta.head("f")
    wrong = {
        "columns": [dict(c, dtype={"type": "Date"}) for c in head.schema["columns"]],
        "index": [],
    }
    db.meta.update_head(replace(head, schema=wrong), expected=head)
    report = db.check()
    assert not report.ok and len(report.undecodable) == 1 and not report.corrupt


def test_vacuum_removes_stale_staged_files(db):
    db.staging.put_result(b"old result", "json")
    upload_id = db.staging.new_upload_id()
    db.blobs.put(db.staging.upload_key(upload_id), b"abandoned upload")
    assert db.vacuum(grace_seconds=3600).blobs_deleted == ()
    removed = db.vacuum(grace_seconds=0).blobs_deleted
    assert len(removed) == 2 and all(k.startswith(".staging/") for k in removed)


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_check_finds_a_chunk_file_without_a_column_its_version_recorded(db, fmt):
    """A file that decodes but lacks a column the schema records for its version reads as
    nulls there: check reports it, and a column added by a later version is not asked of
    older files."""
    db.upload(pd.DataFrame({"a": [1, 2]}), "f", format=fmt)
    db.upload(pd.DataFrame({"a": [3], "late": ["x"]}), "f")
    assert db.check().ok
    head = db.meta.head("f")
    lacking = [*head.schema["columns"], {**head.schema["columns"][0], "name": "b", "since": 1}]
    db.meta.update_head(replace(head, schema={**head.schema, "columns": lacking}), expected=head)
    report = db.check()
    # both versions' files lack it (recorded since version 1)
    assert not report.ok and len(report.undecodable) == 2 and not report.corrupt


def test_check_finds_a_parquet_chunk_file_of_another_type_than_recorded(db):
    """A parquet file whose column has another type than its version's schema records is
    read cast to the recorded type: decodable, but not what was committed."""
    db.upload(pd.DataFrame({"a": [1, 2]}), "f", format="parquet")
    head = db.meta.head("f")
    floats = [dict(c, dtype={"type": "Float64"}) for c in head.schema["columns"]]
    db.meta.update_head(replace(head, schema={**head.schema, "columns": floats}), expected=head)
    report = db.check()
    assert not report.ok and len(report.undecodable) == 1 and not report.corrupt
