"""``delete(name, external_key=K)``: one key's batches go, in one commit that is a new version;
time travel to the version before still reads them."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

import pandasdb_core as pdb


def _runs(db, name: str = "runs") -> None:
    db.upload(pd.DataFrame({"x": [1, 2]}), name, external_key="run-1")
    db.upload(pd.DataFrame({"x": [3]}), name, external_key="run-2")
    db.upload(pd.DataFrame({"x": [4]}), name)  # the default key


def test_removing_a_key_is_a_version_without_its_batches(db):
    _runs(db)
    db.delete("runs", external_key="run-1")
    assert db.get("runs")["x"].tolist() == [3, 4]
    assert db.get("runs", external_key="run-1").empty
    assert db.get("runs", as_of=3)["x"].tolist() == [1, 2, 3, 4]
    last = db.versions("runs")[-1]
    assert (last.version, last.rows_added, last.rows_total) == (4, 0, 2)
    assert (last.external_key, last.keep_last, last.chunks_added) == ("run-1", True, 0)
    assert db.list()[0].rows == 2
    db.upload(pd.DataFrame({"x": [5]}), "runs", external_key="run-1")
    assert db.get("runs", external_key="run-1")["x"].tolist() == [5], "the key can come back"


def test_now_names_the_default_key_and_a_missing_key_changes_nothing(db):
    _runs(db)
    db.delete("runs", external_key="NOW")
    assert db.get("runs")["x"].tolist() == [1, 2, 3]
    versions = len(db.versions("runs"))
    db.delete("runs", external_key="NOW")
    db.delete("runs", external_key="never-written")
    assert len(db.versions("runs")) == versions


def test_a_partitioned_frame_has_no_keys_to_remove(db):
    df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"]), "v": [1]})
    db.upload(df, "daily", columns_keys={"ts": "Date"})
    with pytest.raises(pdb.InvalidArgument, match="external_key applies to batch frames"):
        db.delete("daily", external_key="default")
    with pytest.raises(pdb.FrameNotFound):
        db.delete("nope", external_key="k")
    with pytest.raises(pdb.InvalidName, match="external_key"):
        db.delete("daily", external_key="a/b")


def test_files_of_a_removed_key_go_with_vacuum_and_its_last_key_file_at_once(local_db):
    _runs(local_db)
    last_key = "runs/external_key/run-1/last_key.txt"
    assert local_db.blobs.get(last_key)
    local_db.delete("runs", external_key="run-1")
    assert not [b for b in local_db.blobs.list("runs/external_key/run-1/") if b.key == last_key]
    report = local_db.vacuum(retain_versions=1, grace_seconds=0)
    assert [k for k in report.blobs_deleted if "/run-1/" in k], report
    assert not list(local_db.blobs.list("runs/external_key/run-1/"))
    assert local_db.get("runs")["x"].tolist() == [3, 4]
    assert local_db.check().ok


def test_the_sdk_and_the_cli_remove_one_key(open_server, tmp_path):
    name = f"keys-{uuid.uuid4().hex[:8]}/runs"
    remote = pdb.connect(open_server.url)
    _runs(remote, name)
    remote.delete(name, external_key="run-2")
    assert remote.get(name)["x"].tolist() == [1, 2, 4]
    assert [v.external_key for v in remote.versions(name)][-1] == "run-2"
    with pytest.raises(pdb.InvalidName, match="external_key"):
        remote.delete(name, external_key="a/b")

    from pandasdb_core.cli import main

    store = tmp_path / "store"
    _runs(pdb.open(store))
    assert main(["--store", str(store), "rm", "runs", "--external-key", "run-1"]) == 0
    assert pdb.open(store).get("runs")["x"].tolist() == [3, 4]
