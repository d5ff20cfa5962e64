"""Each chunk records its integer and boolean columns holding a null, so that a read in
pieces (``iter_batches``, ``to_dask``, the SDK's) gives every piece ``get``'s dtypes
(``Int64`` rather than ``int64`` when the read's rows hold a null) without reading those
columns of every file first: each file is fetched once. Chunks that did not record them
(written by an older pandasdb) are read for them, as before."""

from __future__ import annotations

import sqlite3

import pandas as pd
import polars as pl
import pytest
from serving import serving

import pandasdb_core as pdb
from pandasdb_core import url_fetch
from pandasdb_core.operations import UploadOptions
from pandasdb_core.sessions import UploadSession


def counting_gets(db: pdb.Store) -> list[str]:
    """The keys of the store's chunk files read from now on, one entry per read."""
    gets: list[str] = []
    original = db.blobs.get

    def get(key: str) -> bytes:
        gets.append(key)
        return original(key)

    db.blobs.get = get  # type: ignore[method-assign]
    return gets


def frame_with_nulls(db: pdb.Store) -> None:
    """Three days of rows, in six chunk files; only the last day's holds nulls in ``q`` and
    ``ok``, and ``n`` never holds one."""
    days = pl.datetime_range(
        pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 3, 12), "12h", eager=True
    )
    q = pl.Series("q", [1, 2, 3, 4, 5, None], pl.Int64)  # the last day at noon
    ok = pl.Series("ok", [True, False, True, True, None, False])  # ... and at midnight
    first = pl.DataFrame({"ts": days, "q": q, "ok": ok, "n": range(6)})
    db.upload(first, "f", columns_keys={"ts": "Date"})
    db.upload(pl.DataFrame({"ts": days, "q": range(6), "ok": [True] * 6, "n": range(6)}), "f")


def test_iter_batches_fetches_each_file_once_and_has_gets_dtypes(tmp_path):
    db = pdb.open(tmp_path)
    frame_with_nulls(db)
    files = db.files("f").files
    assert sorted(f.nulls for f in files) == [(), (), (), (), (), ("q", "ok")]
    whole = db.get("f")
    assert (whole.dtypes[["q", "ok", "n"]] == ["Int64", "boolean", "int64"]).all()
    gets = counting_gets(db)
    batches = list(db.iter_batches("f", batch_rows=4))
    assert sorted(gets) == sorted(f.key for f in files)  # no file read for its nulls first
    assert all((b.dtypes == whole.dtypes).all() for b in batches)
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole)


@pytest.mark.parametrize(
    ("filters", "q_dtype"),
    [
        ({"start_date": "2024-01-01", "end_date": "2024-01-02 23:00"}, "int64"),
        ({"start_date": "2024-01-03", "end_date": "2024-01-03 06:00"}, "int64"),
        ({"start_date": "2024-01-03", "end_date": "2024-01-03 23:00"}, "Int64"),
    ],
)
def test_a_read_within_files_reads_only_the_files_that_may_hold_a_null(tmp_path, filters, q_dtype):
    # the second read ends before q's null on the last day: its rows hold none
    db = pdb.open(tmp_path)
    frame_with_nulls(db)
    whole = db.get("f", **filters)
    assert whole["q"].dtype == q_dtype
    gets = counting_gets(db)
    batches = list(db.iter_batches("f", batch_rows=2, **filters))
    read = db.files("f", **filters).files
    with_nulls = [f.key for f in read if f.nulls]
    assert len(gets) == len(read) + len(with_nulls)
    assert all((b.dtypes == whole.dtypes).all() for b in batches)
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole)


def test_chunks_that_did_not_record_their_nulls_are_read_for_them(tmp_path):
    db = pdb.open(tmp_path)
    frame_with_nulls(db)
    with sqlite3.connect(next(tmp_path.rglob("*.sqlite3"))) as meta:
        meta.execute("UPDATE chunks SET nulls = NULL")  # as an older pandasdb wrote them
    db = pdb.open(tmp_path)
    files = db.files("f").files
    assert {f.nulls for f in files} == {None}
    gets = counting_gets(db)
    batches = list(db.iter_batches("f", batch_rows=4))
    assert len(gets) == 2 * len(files)
    assert all((b.dtypes == db.get("f").dtypes).all() for b in batches)


def test_an_edit_that_removes_the_nulls_records_the_rewritten_chunk_without_them(tmp_path):
    db = pdb.open(tmp_path)
    frame_with_nulls(db)
    db.delete_rows("f", start_date="2024-01-03", end_date="2024-01-03 23:00")
    assert {f.nulls for f in db.files("f").files} == {()}
    assert db.get("f")["q"].dtype == "int64"
    assert all(b["q"].dtype == "int64" for b in db.iter_batches("f", batch_rows=4))


def test_an_upload_session_records_the_nulls_of_its_pieces_conformed(tmp_path):
    db = pdb.open(tmp_path)
    session = UploadSession.open(db, UploadOptions.build(name="f"))
    # a column of nulls only has no type until a later piece gives it one: the commit
    # rewrites the first piece's file with that type, and its record names the column
    session.write_piece(0, pl.DataFrame({"a": [None, None], "b": [1, 2]}))
    session.write_piece(1, pl.DataFrame({"a": [3, 4], "b": [3, 4]}))
    session.commit(pieces=2)
    assert sorted(f.nulls for f in db.files("f").files) == [(), ("a",)]
    assert all(b["a"].dtype == "Int64" for b in db.iter_batches("f"))


def test_the_sdk_reads_each_file_once(tmp_path, monkeypatch):
    data = tmp_path / "data"
    frame_with_nulls(pdb.open(data))
    whole = pdb.open(data).get("f")
    fetched: list[str] = []
    original = url_fetch.get

    def get(url: str, *args, **kwargs) -> bytes:
        fetched.append(url.split("?", 1)[0])
        return original(url, *args, **kwargs)

    monkeypatch.setattr(url_fetch, "get", get)
    with serving(data, workers=1) as url:
        remote = pdb.connect(url)
        assert sorted(f.nulls for f in remote.files("f").files) == [(), (), (), (), (), ("q", "ok")]
        batches = list(remote.iter_batches("f", batch_rows=4))
    assert len(fetched) == len(set(fetched)) == 6
    assert all((b.dtypes == whole.dtypes).all() for b in batches)
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole)


def test_a_chunk_with_more_null_columns_than_a_record_lists_is_read_for_them(tmp_path):
    # 40 names of 60 characters: more than a chunk record lists (DynamoDB items stay small)
    names = [f"{i:02d}" + "n" * 58 for i in range(40)]
    db = pdb.open(tmp_path)
    db.upload(pl.DataFrame({n: pl.Series([1, None], dtype=pl.Int16) for n in names}), "f")
    db.upload(pl.DataFrame({n: pl.Series([3, 4], dtype=pl.Int16) for n in names}), "f")
    assert [f.nulls for f in db.files("f").files] == [None, ()]
    gets = counting_gets(db)
    batches = list(db.iter_batches("f", batch_rows=3))
    assert len(gets) == 3  # the unlisted chunk read first, then both
    assert all((b.dtypes == "Int16").all() for b in batches)
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), db.get("f"))
