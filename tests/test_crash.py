"""Writers killed with SIGKILL at random points: every acknowledged commit survives, no
version is partial, and vacuum leaves no orphans. 50 kills by default, 200 with ``--soak``."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandasdb_core as pdb

WRITER = Path(__file__).with_name("crash_writer.py")
ROWS = 7


def test_sigkilled_writers_lose_no_acknowledged_commit(tmp_path, soak):
    runs = 200 if soak else 50
    store, journal = tmp_path / "store", tmp_path / "journal.txt"
    rng = random.Random(1234)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    killed_mid_flight = 0
    for run in range(runs):
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(store), str(journal), str(run)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_mid_flight += proc.returncode == -signal.SIGKILL
        verify(store, journal)
    assert killed_mid_flight == runs
    db = pdb.open(store)
    db.vacuum(grace_seconds=0)
    assert db.vacuum(grace_seconds=0, dry_run=True).blobs_deleted == ()
    assert not list(store.rglob(".tmp-*")), "vacuum removes temporary files of killed writers"
    report = db.check()
    assert report.ok and report.chunks_checked > 0
    acknowledged = len(journal.read_text().splitlines())
    print(f"crashes survived: {runs}, acknowledged commits: {acknowledged}")
    assert acknowledged > runs, "writers committed between kills"


def verify(store: Path, journal: Path) -> None:
    db = pdb.open(store)  # the store opens after every crash
    lines = [line.split() for line in journal.read_text().splitlines()] if journal.exists() else []
    acked: dict[str, dict[int, int]] = {"appends": {}, "batches": {}}
    for name, version, seq in lines:
        acked[name][int(version)] = int(seq)
    for name, commits in acked.items():
        if not commits:
            continue
        versions = {v.version: v for v in db.versions(name)}
        assert set(commits) <= set(versions), f"{name}: an acknowledged version is gone"
        latest = db.get(name, engine="polars")
        sizes = latest.group_by("seq").len()
        assert (sizes["len"] == ROWS).all(), f"{name}: a partial upload is visible"
        if name == "appends":
            assert set(commits.values()) <= set(latest["seq"].to_list())
            assert latest.height == versions[max(versions)].rows_total
        newest = max(commits)
        at = db.get(name, as_of=newest, engine="polars")
        assert at.height == versions[newest].rows_total
        assert commits[newest] in set(at["seq"].to_list())
