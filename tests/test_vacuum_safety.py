"""Vacuum never removes what is not its garbage: the files of other stores sharing its
bucket or folder, and the files of a writer that commits while it runs (the vacuum marker)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import polars as pl
import pytest
from moto import mock_aws
from test_acknowledged import PausingMeta

import pandasdb_core as pdb
from pandasdb_core import ports, sessions
from pandasdb_core.errors import ChunkMissing
from pandasdb_core.operations import UploadOptions
from pandasdb_core.sessions import UploadSession
from pandasdb_core.store import Store

# ---------------------------------------------------------------------------- other stores


def fill(db: pdb.Store, name: str) -> None:
    """A frame with garbage beside it: a superseded batch, a staged result."""
    db.upload(pd.DataFrame({"v": [1]}), name)
    db.upload(pd.DataFrame({"v": [2]}), name, keep_last=True)
    db.staging.put_result(b"an old result", "json")


def own_files(db: pdb.Store, name: str) -> set[str]:
    return {b.key for b in db.blobs.list(f"{name}/") if b.key.endswith(".csv.gz")}


def assert_only_its_garbage_goes(root: pdb.Store, inner: pdb.Store) -> None:
    fill(root, "top")
    fill(inner, "sales")
    before = own_files(inner, "sales")
    assert len(before) == 2
    report = root.vacuum(grace_seconds=0, retain_versions=1)
    assert report.blobs_deleted and all(not k.startswith("team-a/") for k in report.blobs_deleted)
    assert own_files(inner, "sales") == before, "the root's vacuum took another store's files"
    assert inner.get("sales")["v"].tolist() == [2] and inner.check().ok
    assert root.get("top")["v"].tolist() == [2] and len(own_files(root, "top")) == 1
    inner_report = inner.vacuum(grace_seconds=0, retain_versions=1)
    assert len(own_files(inner, "sales")) == 1 and inner_report.blobs_deleted
    assert root.get("top")["v"].tolist() == [2] and root.check().ok


def test_a_bucket_root_store_never_vacuums_a_prefixed_stores_files():
    with mock_aws():
        root = pdb.open("s3://shared?table=meta", create=True)
        inner = pdb.open("s3://shared/team-a?table=meta", create=True)
        assert_only_its_garbage_goes(root, inner)
        # the prefix marked itself before its first file; the root's files are not below it
        markers = [b.key for b in root.blobs.list() if b.key.endswith(ports.STORE_MARKER)]
        assert markers == ["team-a/" + ports.STORE_MARKER]
        # the mark is not a frame's file: the prefix still opens on its own metadata
        again = pdb.open("s3://shared/team-a?table=meta")
        assert again.get("sales")["v"].tolist() == [2]


def test_a_store_never_vacuums_a_store_in_a_sub_folder(tmp_path):
    root = pdb.open(tmp_path / "store")
    inner = pdb.open(tmp_path / "store" / "team-a")
    assert_only_its_garbage_goes(root, inner)


# ---------------------------------------------------------------------------- writers


@pytest.fixture
def short_margin(monkeypatch):
    """Clocks of one machine: a writer need not wait long after a vacuum's cutoff (but more
    than a second: S3, and moto, keep whole seconds of a file's time)."""
    monkeypatch.setattr(ports, "CLOCK_MARGIN_S", 1.5, raising=False)
    monkeypatch.setattr(sessions, "CLOCK_MARGIN_S", 1.5, raising=False)


def test_vacuum_records_its_cutoff_before_it_reads(db):
    assert db.meta.vacuum_cutoff() is None
    db.vacuum(grace_seconds=10, dry_run=True)  # removes nothing: records nothing
    assert db.meta.vacuum_cutoff() is None
    db.vacuum(grace_seconds=10)
    assert abs(db.meta.vacuum_cutoff() - (time.time() - 10)) < 5
    db.vacuum(grace_seconds=3600)  # an earlier cutoff leaves the later one
    assert abs(db.meta.vacuum_cutoff() - (time.time() - 10)) < 5


class PausedListing:
    """Holds a vacuum after it read what the frames reference, before it lists the files
    (the moment a commit that lands then would lose its files)."""

    def __init__(self, db: pdb.Store) -> None:
        self.inner = db.blobs.list
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, prefix: str = "") -> Any:
        if prefix == "" and not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(60), "the test never let the vacuum go on"
        return self.inner(prefix)


def session_with_pieces(db: pdb.Store) -> UploadSession:
    session = UploadSession.open(db, UploadOptions.build(name="f"))
    for number in range(2):
        session.write_piece(number, pl.DataFrame({"v": [number * 10, number * 10 + 1]}))
    time.sleep(0.05)  # older than the vacuum's cutoff below (grace 0)
    return session


def test_a_session_committing_during_a_vacuum_writes_its_files_again(db, short_margin):
    session = session_with_pieces(db)
    paused = PausedListing(db)
    db.blobs.list = paused  # type: ignore[method-assign]
    report: dict[str, Any] = {}
    vacuum = threading.Thread(target=lambda: report.update(r=db.vacuum(grace_seconds=0)))
    vacuum.start()
    assert paused.reached.wait(60)
    commit = session.commit(pieces=2)  # refused once, written again, committed
    paused.release.set()
    vacuum.join(60)
    db.blobs.list = paused.inner  # type: ignore[method-assign]
    assert db.get("f")["v"].tolist() == [0, 1, 10, 11]
    assert db.check().ok and set(commit.keys).isdisjoint(report["r"].blobs_deleted)


def test_a_session_whose_files_a_vacuum_removed_meanwhile_is_refused(db, short_margin, monkeypatch):
    """A vacuum with no grace runs while the commit is under way (its pieces read): the
    chunk files go, and the commit is refused rather than acknowledged without them."""
    session = session_with_pieces(db)
    plan = UploadSession._removal

    def vacuum_first(self: UploadSession, *args: Any) -> Any:
        db.vacuum(grace_seconds=0)
        return plan(self, *args)

    monkeypatch.setattr(UploadSession, "_removal", vacuum_first)
    with pytest.raises(ChunkMissing, match="removed by a vacuum"):
        session.commit(pieces=2)
    assert len(db.list()) == 0


def test_an_upload_committing_during_a_vacuum_of_no_grace_keeps_its_files(db, short_margin):
    """An upload writes its chunks; a vacuum with no grace runs before its commit: the
    commit must not be acknowledged without its files (it is refused, VacuumRaced, and the
    upload writes them again)."""
    db.upload(pd.DataFrame({"v": [0]}), "f")
    time.sleep(0.05)

    def vacuum() -> None:
        time.sleep(0.05)  # the upload's chunks older than the cutoff
        db.vacuum(grace_seconds=0)

    racing = Store(db.blobs, PausingMeta(db.meta, vacuum), chunk_rows=1000)
    racing.upload(pd.DataFrame({"v": [1, 2]}), "f")
    assert db.get("f")["v"].tolist() == [0, 1, 2] and db.check().ok


def test_an_edit_committing_during_a_vacuum_of_no_grace_keeps_its_files(db, short_margin):
    """The same race for an edit that writes files (a compact's merged chunk): refused once,
    its files written again, committed with them."""
    for v in range(3):
        db.upload(pd.DataFrame({"u": [v], "x": [v * 1.5]}), "f", columns_keys={"u": "ID"})
    time.sleep(0.05)

    def vacuum() -> None:
        time.sleep(0.05)
        db.vacuum(grace_seconds=0)

    racing = Store(db.blobs, PausingMeta(db.meta, vacuum), chunk_rows=1000)
    commit = racing.compact("f")
    assert commit.chunks_dropped == 3 and commit.chunks == 1
    assert db.get("f")["u"].tolist() == [0, 1, 2] and db.check().ok
    assert all(db.blobs.get(k) for k in commit.keys)
