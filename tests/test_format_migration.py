"""Stores written by an older pandasdb stay readable and writable, and a newer format is
refused with a clear error instead of being misread. ``fixtures/store_v1`` was written by
pandasdb 0.1.0 (record format 1); ``fixtures/store_v3`` by the last pandasdb of record format
3 (the format before heads had a ``revision``), with a vacuum-raised ``min_version``, drop
records, a named index and parquet."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import pandasdb_core as pdb
from pandasdb_core.record_codec import RECORD_FORMAT

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1"
FIXTURE_V3 = Path(__file__).parent / "fixtures" / "store_v3"


@pytest.fixture
def old_store(tmp_path) -> pdb.Store:
    copy = tmp_path / "store"
    shutil.copytree(FIXTURE, copy)
    return pdb.open(copy)


def test_a_format_1_store_reads_as_it_was_written(old_store):
    assert [f.name for f in old_store.list()] == ["both", "model/preds", "sales/daily", "users"]
    sales = old_store.get("sales/daily")
    assert len(sales) == 14 and sales["shop"].dtype == "Int64"
    assert list(sales["cat"].cat.categories) == ["c", "b", "a"] and sales["cat"].cat.ordered
    assert sales["ts"].dt.tz is not None
    assert sales["extra"].isna().sum() == 12
    assert len(old_store.get("sales/daily", as_of=1)) == 12
    assert len(old_store.get("sales/daily", start_date="2024-01-02", end_date="2024-01-02")) == 4
    users = old_store.get("users", partition_value=[3, 11])
    assert users["name"].tolist() == ["bo", "cy"] and list(users.index) == ["b", "c"]
    preds = old_store.get("model/preds")
    assert preds["p"].tolist() == pytest.approx([0.2, 1.8, 0.3, 2.7])
    assert old_store.get("model/preds", external_key="run-1", use_last=True)["p"].tolist() == (
        pytest.approx([0.2, 1.8])
    )
    assert old_store.get("both", partition_value=2)["v"].tolist() == [False]
    assert [v.version for v in old_store.versions("model/preds")] == [1, 2, 3]
    assert old_store.check().ok


def test_a_format_1_store_takes_new_versions_and_vacuums(old_store):
    old_store.upload(pd.DataFrame({"p": [9.0]}), "model/preds", external_key="run-3")
    assert old_store.list("model/")[0].layouts == ("batch",)
    assert old_store.get("model/preds", external_key="run-3")["p"].tolist() == [9.0]
    commit = old_store.upload(
        pd.DataFrame({"user_id": [42], "name": ["zed"]}), "users", columns_keys={"user_id": "ID"}
    )
    assert commit.version == 2
    assert old_store.get("users", partition_value=42)["name"].tolist() == ["zed"]
    old_store.vacuum(retain_versions=1, grace_seconds=0)
    assert old_store.check().ok
    assert len(old_store.get("users")) == 7


@pytest.fixture
def v3_store(tmp_path) -> pdb.Store:
    copy = tmp_path / "store_v3"
    shutil.copytree(FIXTURE_V3, copy)
    return pdb.open(copy)


def test_a_format_3_store_reads_as_it_was_written(v3_store):
    assert [f.name for f in v3_store.list()] == ["model/preds", "sales/daily", "users"]
    sales = v3_store.get("sales/daily")
    assert sales["shop"].tolist() == [1, pd.NA, 4, 5, 6, 7, 8]
    assert list(sales["cat"].cat.categories) == ["c", "b", "a"] and sales["cat"].cat.ordered
    assert str(sales["ts"].dt.tz) == "UTC"
    assert len(v3_store.get("sales/daily", as_of=2)) == 8  # before the delete_rows
    head = v3_store.head("sales/daily")
    assert (head.min_version, head.revision) == (2, "")
    with pytest.raises(pdb.VersionNotFound):
        v3_store.get("sales/daily", as_of=1)
    users = v3_store.get("users")
    assert users["name"].tolist() == ["bo", "al", "cyd"] and list(users.index) == ["b", "a", "c"]
    assert users.index.name == "k"
    assert v3_store.get("model/preds", external_key="run-1")["p"].tolist() == [0.2, 1.8]
    assert v3_store.check().ok


def test_a_format_3_store_takes_new_versions_and_vacuums(v3_store):
    """The first write of a format-3 head compares its revision as "" (the SQLite column the
    store gains when opened) and gives it one; vacuum's raise changes it again."""
    commit = v3_store.upload(
        pd.DataFrame({"ts": pd.to_datetime(["2024-01-09"]).tz_localize("UTC"), "shop": [9]}),
        "sales/daily",
    )
    assert commit.version == 4
    head = v3_store.head("sales/daily")
    assert head.revision and head.min_version == 2
    v3_store.vacuum(retain_versions=1, grace_seconds=0)
    raised = v3_store.head("sales/daily")
    assert raised.min_version == 4 and raised.revision not in ("", head.revision)
    assert v3_store.get("sales/daily")["shop"].tolist() == [1, pd.NA, 4, 5, 6, 7, 8, 9]
    v3_store.upload(
        pd.DataFrame({"user_id": [42], "name": ["zed"]}, index=pd.Index(["z"], name="k")), "users"
    )
    assert v3_store.get("users", partition_value=42)["name"].tolist() == ["zed"]
    v3_store.delete("model/preds")
    assert [f.name for f in v3_store.list()] == ["sales/daily", "users"]
    assert v3_store.check().ok


def test_a_newer_format_is_refused_clearly(tmp_path):
    db = pdb.open(tmp_path / "store")
    db.upload(pd.DataFrame({"a": [1]}), "f")
    meta = tmp_path / "store" / ".pandasdb" / "meta.sqlite3"
    with sqlite3.connect(meta) as conn:
        (body,) = conn.execute("SELECT body FROM heads").fetchone()
        record = json.loads(body)
        record["v"] = RECORD_FORMAT + 1
        conn.execute("UPDATE heads SET body = ?", (json.dumps(record),))
    with pytest.raises(pdb.StoreUnavailable, match="newer pandasdb.*upgrade"):
        pdb.open(tmp_path / "store").get("f")
