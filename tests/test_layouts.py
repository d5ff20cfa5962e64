"""Storage paths are the seed's, and filters read only the chunks they need."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import pandasdb_core as pdb

UUID = r"[0-9a-f]{32}"


def daily(days: int = 10, per_day: int = 24) -> pd.DataFrame:
    ts = pd.date_range("2024-01-01", periods=days * per_day, freq=f"{24 // per_day}h", tz="UTC")
    return pd.DataFrame({"ts": ts, "user_id": np.arange(len(ts)) % 37, "v": np.arange(len(ts))})


def keys(db: pdb.Store, prefix: str = "") -> list[str]:
    return sorted(b.key for b in db.blobs.list(prefix))


class CountingBlobs:
    """Wraps a BlobStore and records every key fetched."""

    def __init__(self, db: pdb.Store) -> None:
        self.fetched: list[str] = []
        inner = db.blobs._get

        def get(key: str) -> bytes:
            self.fetched.append(key)
            return inner(key)

        db.blobs._get = get  # type: ignore[method-assign]


def test_date_layout_paths_are_the_seeds(db):
    db.upload(daily(3), "sales/daily", columns_keys={"ts": "Date"})
    found = keys(db)
    assert len(found) == 3
    for key, day in zip(found, ["2024-01-01", "2024-01-02", "2024-01-03"], strict=True):
        assert re.fullmatch(rf"sales/daily/ts/{day}/{UUID}\.csv\.gz", key), key


def test_id_layout_paths_and_ranges(db):
    df = pd.DataFrame({"uid": [5, 1, 9, 3, 7, 2], "v": list("abcdef")})
    db.upload(df, "users", columns_keys={"uid": "ID"}, chunk_rows=2, format="parquet")
    found = keys(db)
    folders = [k.split("/")[2] for k in found]
    assert folders == ["from_1_to_2", "from_3_to_5", "from_7_to_9"]
    assert all(re.fullmatch(rf"users/uid/from_\d+_to_\d+/{UUID}\.parquet", k) for k in found)


def test_batch_layout_paths_and_last_key(db):
    db.upload(pd.DataFrame({"p": [0.1, 0.2]}), "model/preds", external_key="run-42")
    found = keys(db)
    chunk = [k for k in found if k.endswith(".csv.gz")]
    assert len(chunk) == 1
    assert re.fullmatch(
        rf"model/preds/external_key/run-42/\d{{4}}-\d\d-\d\d/\d\d:\d\d:\d\d_{UUID}\.csv\.gz",
        chunk[0],
    )
    last = db.blobs.get("model/preds/external_key/run-42/last_key.txt").decode()
    assert last.strip() == chunk[0]


def test_chunk_files_are_readable_by_plain_pandas(local_db, tmp_path):
    df = daily(2)
    local_db.upload(df, "plain", columns_keys={"ts": "Date"})
    files = sorted((tmp_path / "store" / "plain" / "ts").rglob("*.csv.gz"))
    back = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    assert back["v"].tolist() == df["v"].tolist()


def test_date_filter_is_inclusive_and_reads_only_those_days(db):
    df = daily(365, per_day=2)
    db.upload(df, "d", columns_keys={"ts": "Date"})
    counter = CountingBlobs(db)
    got = db.get("d", start_date="2024-01-05", end_date="2024-01-06")
    expected = df[(df.ts >= "2024-01-05") & (df.ts < "2024-01-07")].reset_index(drop=True)
    assert_frame_equal(got, expected)
    assert sorted(k.split("/")[2] for k in counter.fetched) == ["2024-01-05", "2024-01-06"]


def test_date_filter_with_times_and_timezones(db):
    df = daily(3)
    db.upload(df, "d", columns_keys={"ts": "Date"})
    got = db.get("d", start_date="2024-01-02T10:00:00+02:00", end_date="2024-01-02T12:00")
    assert got["ts"].min() == pd.Timestamp("2024-01-02 08:00", tz="UTC")
    assert got["ts"].max() == pd.Timestamp("2024-01-02 12:00", tz="UTC")


def test_date_column_as_strings_and_naive_datetimes(db):
    df = pd.DataFrame({"day": ["2024-02-01", "2024-02-01", "2024-02-03"], "v": [1, 2, 3]})
    db.upload(df, "s", columns_keys={"day": "date"})
    assert db.get("s", start_date="2024-02-02")["v"].tolist() == [3]
    assert_frame_equal(db.get("s"), df)


def test_partition_value_returns_exactly_those_ids_from_one_chunk(db):
    df = pd.DataFrame({"uid": np.arange(1000)[::-1], "v": np.arange(1000)})
    db.upload(df, "u", columns_keys={"uid": "ID"}, chunk_rows=100)
    counter = CountingBlobs(db)
    got = db.get("u", partition_value=123)
    assert got["uid"].tolist() == [123] and got["v"].tolist() == [876]
    assert len(counter.fetched) == 1 and "from_100_to_199" in counter.fetched[0]
    assert sorted(db.get("u", partition_value=[5, 999, 5000])["uid"]) == [5, 999]
    ranged = db.get("u", start_id=250, end_id=260)
    assert ranged["uid"].tolist() == list(range(250, 261))


def test_both_layouts_serve_both_filters(db):
    df = daily(10)
    db.upload(df, "both", columns_keys={"ts": "Date", "user_id": "ID"})
    assert len(db.get("both")) == len(df)
    by_id = db.get("both", partition_value=3)
    assert len(by_id) == (df.user_id == 3).sum()
    mixed = db.get("both", start_date="2024-01-02", end_date="2024-01-02", partition_value=3)
    assert len(mixed) == ((df.user_id == 3) & (df.ts.dt.strftime("%F") == "2024-01-02")).sum()
    # the data is stored once per layout
    assert len([k for k in keys(db) if "/user_id/" in k]) >= 1
    assert len([k for k in keys(db) if "/ts/" in k]) == 10


def test_batches_external_key_and_use_last(db):
    for run, vals in [("a", [1, 2]), ("b", [3]), ("a", [4])]:
        db.upload(pd.DataFrame({"x": vals}), "m", external_key=run)
    assert db.get("m")["x"].tolist() == [1, 2, 3, 4]
    assert db.get("m", external_key="a")["x"].tolist() == [1, 2, 4]
    assert db.get("m", external_key="a", use_last=True)["x"].tolist() == [4]
    db.upload(pd.DataFrame({"x": [9]}), "m")
    assert db.get("m", use_last=True)["x"].tolist() == [9], "use_last alone means key 'default'"


def test_filters_on_missing_layout_are_clear_errors(db):
    db.upload(daily(2), "d", columns_keys={"ts": "Date"})
    with pytest.raises(pdb.InvalidArgument, match="partition_value.*ID layout"):
        db.get("d", partition_value=1)
    with pytest.raises(pdb.InvalidArgument, match="external_key"):
        db.get("d", external_key="x")
    with pytest.raises(pdb.InvalidArgument, match="start_date"):
        db.get("d", start_date="yesterday")
    with pytest.raises(pdb.InvalidArgument, match="columns.*nope"):
        db.get("d", columns=["nope"])
