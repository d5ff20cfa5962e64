"""Bad input raises a clear error naming the field, and writes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import pandasdb_core as pdb


def snapshot(db: pdb.Store):
    return sorted((b.key, b.size) for b in db.blobs.list()), db.list()


GOOD = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"]), "uid": [1], "v": [1.0]})


@pytest.mark.parametrize(
    "name, reason",
    [
        ("../x", "'..' segment"),
        ("a/../b", "'..' segment"),
        ("/abs", "starts with '/'"),
        ("a//b", "empty path segment"),
        ("a/./b", "'.' segment"),
        ("sp ace", "outside"),
        ("ctl\x00", "outside"),
        ("ünï", "outside"),
        (".hidden", "may not start with '.'"),
        ("x" * 1025, "longer than 1024 bytes"),
        ("", "empty"),
    ],
)
def test_invalid_names(db, name, reason):
    before = snapshot(db)
    with pytest.raises(pdb.InvalidName, match="name") as exc:
        db.upload(GOOD, name)
    assert reason in str(exc.value)
    assert isinstance(exc.value, ValueError)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "df, keys, exc, message",
    [
        (GOOD, {"nope": "Date"}, pdb.InvalidPartition, "'nope'"),
        (
            GOOD,
            {"ts": "Month"},
            pdb.InvalidArgument,
            r"columns_keys\['ts'\] must be 'Date' or 'ID'",
        ),
        (GOOD, ["ts"], pdb.InvalidArgument, "columns_keys must map"),
        (  # start_date names no column: it would filter on the first only
            pd.DataFrame(
                {"t1": pd.to_datetime(["2024-01-01"]), "t2": pd.to_datetime(["2024-02-01"])}
            ),
            {"t1": "Date", "t2": "date"},
            pdb.InvalidArgument,
            "'t1' and 't2' are both Date; a frame has at most one Date layout",
        ),
        (
            pd.DataFrame({"u": [1], "v": [2]}),
            {"u": "ID", "v": "ID"},
            pdb.InvalidArgument,
            "at most one ID layout",
        ),
        (GOOD, {"a/b": "Date"}, pdb.InvalidName, "columns_keys column"),
        (
            pd.DataFrame({"d": ["2024-01-01", "not a date"]}),
            {"d": "Date"},
            pdb.InvalidPartition,
            "not dates, e.g. 'not a date'",
        ),
        (
            pd.DataFrame({"d": ["garbage", "2024-01-01"]}),
            {"d": "Date"},
            pdb.InvalidPartition,
            "e.g. 'garbage'",
        ),
        (
            pd.DataFrame({"d": pd.to_datetime(["2024-01-01", None])}),
            {"d": "Date"},
            pdb.InvalidPartition,
            "1 null",
        ),
        (pd.DataFrame({"d": [1, 2]}), {"d": "Date"}, pdb.InvalidPartition, "not a date"),
        (pd.DataFrame({"u": [1.0, np.nan]}), {"u": "ID"}, pdb.InvalidPartition, "null id"),
        (pd.DataFrame({"u": [1.5, 2.0]}), {"u": "ID"}, pdb.InvalidPartition, "non-integer"),
        (pd.DataFrame({"u": ["a", "b"]}), {"u": "ID"}, pdb.InvalidPartition, "not integers"),
        (
            pl.DataFrame({"u": pl.Series([2**64 - 1], dtype=pl.UInt64)}),
            {"u": "ID"},
            pdb.InvalidPartition,
            "int64 range",
        ),
        (pd.DataFrame({"a": []}), None, pdb.InvalidArgument, "no rows"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), None, pdb.InvalidArgument, "duplicated"),
        (pd.DataFrame({0: [1]}), None, pdb.InvalidArgument, "column names must be"),
        ({"a": [1]}, None, pdb.InvalidArgument, "pandas or polars DataFrame"),
        (pd.DataFrame({"o": [1, "x", 2.5]}), None, pdb.InvalidArgument, "column 'o'"),
    ],
)
def test_bad_frames_and_partitions(db, df, keys, exc, message):
    db.upload(pd.DataFrame({"v": [1.0]}), "existing")
    before = snapshot(db)
    with pytest.raises(exc, match=message):
        db.upload(df, "f", columns_keys=keys)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"external_key": "a/b"}, "external_key"),
        ({"external_key": ".."}, "external_key"),
        ({"keep_last": "yes"}, "keep_last"),
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_bad_upload_options(db, kwargs, message):
    with pytest.raises(pdb.PandasDBError, match=message):
        db.upload(pd.DataFrame({"v": [1]}), "f", **kwargs)
    assert db.list() == []


def test_unknown_frame(db):
    with pytest.raises(pdb.FrameNotFound, match="frame 'nope' does not exist"):
        db.get("nope")
    with pytest.raises(LookupError):
        db.versions("nope")
    with pytest.raises(LookupError):
        db.delete("nope")


def test_get_argument_errors(db):
    db.upload(pd.DataFrame({"uid": [1, 2]}), "u", columns_keys={"uid": "ID"})
    for kwargs, message in [
        ({"partition_value": "x"}, "partition_value must be an integer"),
        ({"partition_value": 2**70}, "int64 range"),
        ({"start_id": 5, "end_id": 1}, "greater than end_id"),
        ({"as_of": "1"}, "as_of must be a version number"),
        ({"engine": "spark"}, "engine"),
        ({"columns": "uid"}, "columns must be a list"),
    ]:
        with pytest.raises(pdb.InvalidArgument, match=message):
            db.get("u", **kwargs)


def test_error_hierarchy_is_exported():
    for exc in (pdb.InvalidName, pdb.InvalidArgument, pdb.InvalidPartition, pdb.SchemaMismatch):
        assert issubclass(exc, ValueError) and issubclass(exc, pdb.PandasDBError)
    for exc in (pdb.FrameNotFound, pdb.VersionNotFound):
        assert issubclass(exc, LookupError) and issubclass(exc, pdb.PandasDBError)
