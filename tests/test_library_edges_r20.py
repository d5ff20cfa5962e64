"""Edges of the library found in round 20: streamed uploads repeating an idempotency key,
pandas string dtypes, a delete whose cleanup fails, extreme values and races."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import polars as pl
import pytest

import pandasdb_core as pdb
from pandasdb_core.conversion import to_pandas
from pandasdb_core.errors import ChunkMissing, InvalidArgument


@pytest.fixture(params=["memory", "local"])
def store(request, tmp_path) -> pdb.Store:
    """A fresh store on the memory and the local adapters."""
    if request.param == "memory":
        return pdb.open("memory://", chunk_rows=1000)
    return pdb.open(tmp_path / "store", chunk_rows=1000)


def _blobs(db: pdb.Store) -> list[str]:
    return sorted(b.key for b in db.blobs.list())


# ------------------------------------------------- a streamed repeat of an idempotency key


def test_a_streamed_repeat_of_a_key_with_other_rows_is_refused(store, tmp_path):
    first_rows = pd.DataFrame({"a": [1, 2, 3], "s": ["x", "y", "z"]})
    other = pd.DataFrame({"a": [4, 5, 6], "s": ["x", "y", "z"]})
    first = store.upload(iter([first_rows]), "f", idempotency_key="k")
    blobs = _blobs(store)
    path = tmp_path / "other.csv"
    other.to_csv(path, index=False)
    for source in (iter([other]), pl.LazyFrame(other), str(path), iter([first_rows, other])):
        with pytest.raises(InvalidArgument, match="'k' already named an append of other rows"):
            store.upload(source, "f", idempotency_key="k")
    # the small (whole-frame) upload is refused the same way
    with pytest.raises(InvalidArgument, match="of other rows"):
        store.upload(other, "f", idempotency_key="k")
    assert _blobs(store) == blobs  # nothing written, no session left
    assert store.get("f").equals(first_rows) and len(store.versions("f")) == 1
    assert first.version == 1


def test_a_streamed_repeat_of_a_key_with_the_same_rows_returns_the_first_commit(store, tmp_path):
    rows = pd.DataFrame({"a": range(10), "s": list("abcdefghij")})
    first = store.upload(iter([rows.iloc[:4], rows.iloc[4:]]), "f", idempotency_key="k")
    blobs = _blobs(store)
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    # the same rows however they are cut, from any source, or the whole frame
    for source in (iter([rows]), pl.LazyFrame(rows), str(path), rows, iter([])):
        assert store.upload(source, "f", idempotency_key="k") == first
    assert _blobs(store) == blobs
    assert store.get("f").equals(rows)


def test_a_streamed_repeat_of_an_append_reads_a_file_as_its_first_upload_did(store, tmp_path):
    """A key that appended a CSV to an existing frame: the repeat types the file toward the
    types recorded before that commit, so the same file has the same digest."""
    store.upload(pd.DataFrame({"a": [0.5], "s": ["0"]}), "f")
    path = tmp_path / "more.csv"
    path.write_text("a,s\n1,007\n2,008\n")
    first = store.upload(str(path), "f", idempotency_key="k")
    assert store.upload(str(path), "f", idempotency_key="k") == first
    path.write_text("a,s\n1,007\n3,008\n")
    with pytest.raises(InvalidArgument, match="of other rows"):
        store.upload(str(path), "f", idempotency_key="k")
    assert store.get("f")["s"].tolist() == ["0", "007", "008"]


# ----------------------------------------------------------------- pandas string dtypes


def _string_frame() -> pd.DataFrame:
    python = pd.StringDtype("python")
    return pd.DataFrame(
        {
            "python": pd.array(["x", None, ""], dtype=python),
            "arrow": pd.array(["x", None, ""], dtype=pd.StringDtype("pyarrow")),
            "python_nan": pd.array(
                ["x", None, ""], dtype=pd.StringDtype("python", na_value=np.nan)
            ),
            "default": pd.Series(["x", None, ""]),
            "category": pd.Categorical(
                pd.array(["a", "b", None], dtype=python),
                categories=pd.Index(["a", "b", "unused"], dtype=python),
            ),
        },
        index=pd.MultiIndex.from_arrays(
            [pd.array(["i", "j", "k"], dtype=python), [1, 2, 3]], names=["k", "n"]
        ),
    )


def _storages(df: pd.DataFrame) -> list[tuple[str, str | None, object]]:
    """Each column's and index level's dtype, its string storage and its null value."""
    dtypes = [*df.dtypes.items(), *((f"index {n}", df.index.levels[i].dtype)
                                    for i, n in enumerate(df.index.names))]  # fmt: skip
    dtypes.append(("categories", df["category"].cat.categories.dtype))
    return [(n, str(d), getattr(d, "storage", None), getattr(d, "na_value", None))
            for n, d in dtypes]  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_pandas_string_dtypes_come_back_with_their_storage(store, fmt):
    df = _string_frame()
    store.upload(df, "f", format=fmt)
    back = store.get("f")
    assert _storages(back) == _storages(df)
    pd.testing.assert_frame_equal(back, df)
    assert [_storages(b)[:4] for b in store.iter_batches("f", batch_rows=2)] == [
        _storages(df)[:4]
    ] * 2
    # an append keeps the recorded dtypes
    store.upload(df, "f")
    assert _storages(store.get("f")) == _storages(df)


def test_a_string_column_recorded_by_an_older_writer_reads_as_before():
    """Records written before the storage was recorded name ``string`` (or ``str``): pandas'
    default storage, as they always read."""
    for name, na in (("string", pd.NA), ("str", np.nan)):
        schema = {"columns": [{"name": "s", "dtype": {"type": "String"}, "pandas": name}]}
        back = to_pandas(pl.DataFrame({"s": ["x", None]}), {**schema, "index": []})
        assert back["s"].dtype == pd.api.types.pandas_dtype(name)
        assert back["s"].dtype.na_value is na or (na is np.nan and back["s"].isna()[1])


# ----------------------------------------------------------- a delete whose cleanup fails


def _failing_side_file_removal(db: pdb.Store, monkeypatch) -> list[list[str]]:
    """Make the store's blob removals of side files (last_key.txt, manifests) fail, as a
    storage error would; the removals asked for are recorded."""
    asked: list[list[str]] = []
    real = db.blobs._delete

    def delete(keys: list[str]) -> None:
        asked.append(keys)
        if any(k.endswith(("last_key.txt", "/manifest")) for k in keys):
            raise OSError("storage unavailable")
        real(keys)

    monkeypatch.setattr(db.blobs, "_delete", delete)
    return asked


@pytest.mark.parametrize("manifests", [False, True])
def test_a_committed_delete_succeeds_when_its_side_files_cannot_be_removed(
    store, monkeypatch, manifests
):
    store.manifests = manifests
    store.upload(pd.DataFrame({"a": [1, 2]}), "batch", external_key="run-1")
    ts = pd.to_datetime(["2024-01-01", "2024-01-02"])
    store.upload(pd.DataFrame({"ts": ts, "v": [1, 2]}), "dated", columns_keys={"ts": "Date"})
    asked = _failing_side_file_removal(store, monkeypatch)
    for name in ("batch", "dated"):
        with pytest.warns(RuntimeWarning, match=f"frame '{name}' is deleted, but its side files"):
            store.delete(name)
    assert asked  # the removal was tried, and failed
    assert len(store.list()) == 0
    for name in ("batch", "dated"):
        with pytest.raises(pdb.errors.FrameNotFound):
            store.get(name)
    # a frame of the same name starts afresh beside what the delete left; vacuum removes
    # the rest (and keeps the new frame's files)
    monkeypatch.undo()
    store.upload(pd.DataFrame({"a": [3]}), "batch", external_key="run-1")
    assert store.get("batch", external_key="run-1", use_last=True)["a"].tolist() == [3]
    store.vacuum(grace_seconds=0)
    assert not [k for k in _blobs(store) if k.startswith("dated/")]
    assert store.get("batch")["a"].tolist() == [3] and store.check().ok


def test_a_committed_key_delete_succeeds_when_its_last_key_cannot_be_removed(store, monkeypatch):
    store.upload(pd.DataFrame({"a": [1]}), "f", external_key="run-1")
    store.upload(pd.DataFrame({"a": [2]}), "f", external_key="run-2")
    _failing_side_file_removal(store, monkeypatch)
    with pytest.warns(RuntimeWarning, match="committed without key 'run-1'"):
        store.delete("f", external_key="run-1")
    assert store.get("f")["a"].tolist() == [2]
    assert store.get("f", external_key="run-1").empty


# ------------------------------------------------------------------------------ races


def _frame(rows: int, start: int = 0) -> pd.DataFrame:
    ts = pd.date_range("2024-01-01", periods=rows, freq="h")
    return pd.DataFrame({"ts": ts, "v": np.arange(start, start + rows)})


def test_a_vacuum_without_grace_during_a_streamed_upload_refuses_it_as_chunk_missing(store):
    """A vacuum with ``grace_seconds=0`` removes an open session's files: the streamed
    upload is refused with ChunkMissing saying so (it said 'piece(s) [0] are missing', as if
    the caller had sent none), nothing is committed, and the frame's version stands."""
    store.upload(_frame(10), "f", columns_keys={"ts": "Date"})
    before = store.get("f")

    def pieces_with_a_vacuum():
        yield _frame(5, 100)
        time.sleep(0.01)  # the first piece's files are older than the vacuum's cutoff
        store.vacuum(grace_seconds=0)
        yield _frame(5, 200)

    with pytest.raises(ChunkMissing, match="removed by a vacuum before the commit"):
        store.upload(pieces_with_a_vacuum(), "f")
    assert store.get("f").equals(before) and len(store.versions("f")) == 1
    assert store.check().ok


def test_a_vacuum_with_grace_during_a_streamed_upload_spares_it(store):
    store.upload(_frame(10), "f", columns_keys={"ts": "Date"})

    def pieces_with_a_vacuum():
        yield _frame(5, 100)
        store.vacuum(grace_seconds=60)
        yield _frame(5, 200)

    assert store.upload(pieces_with_a_vacuum(), "f").rows == 10
    assert sorted(store.get("f")["v"]) == [*range(10), *range(100, 105), *range(200, 205)]
    assert store.check().ok
