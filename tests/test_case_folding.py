"""Local stores on file systems that fold names (macOS and Windows by default: ``Sales/`` and
``sales/`` are one folder; Windows also drops trailing dots, so ``a./`` is ``a/``): a frame
whose name folds like an existing one's is refused at its commit, and vacuum compares keys by
their fold, so no frame loses files to another's spelling of their folder.

Linux folds nothing, so these tests simulate it honestly: ``FoldingBlobStore`` resolves every
path segment as such a file system does (to the entry already there of the same fold, else a
new one without trailing dots), so files really share folders and really are listed under
the folder's first spelling; detection is tested on a real folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from test_acknowledged import PausingMeta

import pandasdb_core as pdb
from pandasdb_core.adapters import local
from pandasdb_core.adapters.local import LocalBlobStore, folds_names
from pandasdb_core.adapters.sqlite import SQLiteMetadataStore
from pandasdb_core.errors import InvalidName
from pandasdb_core.names import fold
from pandasdb_core.opening import META_FILE
from pandasdb_core.store import Store


class FoldingBlobStore(LocalBlobStore):
    """A local blob store that resolves paths as a case-insensitive, dot-dropping file system
    (NTFS through Windows' API) does."""

    def _path(self, key: str) -> Path:
        path = self.root
        for segment in key.split("/"):
            here = os.listdir(path) if path.is_dir() else []
            same = [entry for entry in here if fold(entry) == fold(segment)]
            path = path / (same[0] if same else segment.rstrip(". "))
        return path


def folding_store(root: Path, *, knows: bool = True, refuses: bool = True) -> Store:
    """A store on a simulated folding file system; ``knows``: its blob store says it folds
    (as detection tells on such a system), ``refuses``: its metadata refuses twins."""
    blobs = FoldingBlobStore(root)
    blobs.folds_names = knows
    meta = SQLiteMetadataStore(root / META_FILE, fold_names=refuses)
    return Store(blobs, meta, location=str(root))


def frame(v: int) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"], utc=True), "v": [v]})


# ---------------------------------------------------------------------------- detection


def test_detection_tells_a_real_folder_as_its_file_system_does(tmp_path):
    (tmp_path / "probe-a").touch()
    expected = (tmp_path / "PROBE-A").exists() or (tmp_path / "probe-a.").exists()
    assert local._probe_folding(tmp_path) is expected
    assert sorted(os.listdir(tmp_path)) == ["probe-a"], "the probe file was left behind"


def test_detection_assumes_folding_when_it_cannot_probe(tmp_path):
    assert local._probe_folding(tmp_path / "missing") is True


def test_detection_probes_once_per_root(tmp_path, monkeypatch):
    probed: list[Path] = []
    monkeypatch.setattr(local, "_probe_folding", lambda root: probed.append(root) or True)
    assert folds_names(tmp_path) and folds_names(tmp_path / "." / "")
    assert probed == [tmp_path.resolve()]


def test_open_tells_the_metadata_store_what_the_file_system_folds(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "folds_names", lambda root: True)
    db = pdb.open(tmp_path)
    assert db.blobs.folds_names and db.meta.fold_names
    monkeypatch.undo()
    real = pdb.open(tmp_path / "real")
    assert real.meta.fold_names is real.blobs.folds_names is folds_names(tmp_path / "real")


# ---------------------------------------------------------------------------- refusal


def test_a_case_twin_of_a_frame_is_refused_naming_both(tmp_path):
    db = folding_store(tmp_path)
    db.upload(frame(1), "Sales", columns_keys={"ts": "Date"})
    for twin in ("sales", "SALES", "Sales.", "sales.."):
        with pytest.raises(InvalidName, match=rf"{twin!r}.*ignores case.*'Sales'"):
            db.upload(frame(2), twin)
    assert [f.name for f in db.list()] == ["Sales"]
    db.upload(frame(3), "Sales")  # the frame itself still takes appends
    assert db.get("Sales")["v"].tolist() == [1, 3]
    db.upload(frame(4), "Sales/daily")  # a frame below it shares no file with it
    db.delete("Sales")
    db.upload(frame(5), "sales")  # the name is free once the frame is deleted
    assert db.get("sales")["v"].tolist() == [5]


def test_trailing_dots_twins_are_refused(tmp_path):
    db = folding_store(tmp_path)
    db.upload(frame(1), "a/b.")
    with pytest.raises(InvalidName, match="'a/B'.*'a/b.'"):
        db.upload(frame(2), "a/B")


def test_a_case_sensitive_store_keeps_both_spellings(tmp_path):
    db = pdb.open(tmp_path)  # Linux: the layout contract, one folder per spelling
    db.upload(frame(1), "Sales")
    db.upload(frame(2), "sales")
    assert db.get("Sales")["v"].tolist() == [1] and db.get("sales")["v"].tolist() == [2]


def test_two_racing_creations_of_twins_cannot_both_commit(tmp_path):
    """``A`` reads that no frame exists and writes its chunks; ``a`` (another process, its
    own connection) commits meanwhile; ``A``'s commit then sees it in its transaction."""
    other = folding_store(tmp_path)
    blobs = FoldingBlobStore(tmp_path)
    blobs.folds_names = True
    meta = SQLiteMetadataStore(tmp_path / META_FILE, fold_names=True)
    racing = Store(blobs, PausingMeta(meta, lambda: other.upload(frame(2), "a")), location="x")
    with pytest.raises(InvalidName, match="'A'.*'a'"):
        racing.upload(frame(1), "A")
    assert [f.name for f in other.list()] == ["a"]
    assert other.get("a")["v"].tolist() == [2]


# ---------------------------------------------------------------------------- vacuum


def old_pair(root: Path) -> Store:
    """A store that holds ``Sales`` and ``sales`` (written before twins were refused), each
    with a superseded batch of garbage; ``Sales`` made the shared folder."""
    db = folding_store(root, refuses=False)
    for name in ("Sales", "sales", "x.", "X"):
        db.upload(frame(1), name)
        db.upload(frame(2), name, keep_last=True)
    return db


def test_the_simulated_file_system_really_costs_rows_without_folding(tmp_path):
    db = old_pair(tmp_path)
    assert {b.key.split("/")[0] for b in db.blobs.list()} == {"Sales", "x"}
    unaware = folding_store(tmp_path, knows=False, refuses=False)
    unaware.vacuum(grace_seconds=0)
    assert not unaware.check().ok, "the simulation should lose the twins' files"


def test_vacuum_keeps_every_file_a_frame_references_on_a_folding_store(tmp_path):
    db = old_pair(tmp_path)
    report = db.vacuum(grace_seconds=0, retain_versions=1)
    assert len([k for k in report.blobs_deleted if k.endswith(".csv.gz")]) == 4  # the garbage
    assert db.check().ok
    for name in ("Sales", "sales", "x.", "X"):
        assert db.get(name)["v"].tolist() == [2]
        assert db.get(name, as_of=2)["v"].tolist() == [2]
    # the twins' last_key.txt is one file of live frames: not an orphan's
    assert sum(b.key.endswith("last_key.txt") for b in db.blobs.list()) == 2


def test_vacuum_after_deleting_one_twin_keeps_the_other(tmp_path):
    db = old_pair(tmp_path)
    db.delete("Sales")
    db.vacuum(grace_seconds=0)
    assert db.get("sales")["v"].tolist() == [2] and db.check().ok
