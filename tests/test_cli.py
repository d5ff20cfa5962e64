"""The ``pandasdb`` command, run as a real process on a local store."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import polars as pl


def run(store, *args, input: bytes | None = None, ok: bool = True):
    proc = subprocess.run(
        [sys.executable, "-m", "pandasdb_core.cli", "--store", str(store), "--no-progress", *args],
        capture_output=True,
        input=input,
        timeout=120,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def test_upload_get_ls_versions_rm_vacuum(tmp_path):
    store = tmp_path / "store"
    src = tmp_path / "sales.csv"
    pd.DataFrame(
        {
            "ts": ["2024-01-01T10:00:00", "2024-01-01T11:00:00", "2024-01-02T09:30:00"],
            "shop": [1, 2, 1],
            "amount": [9.5, 3.25, 7.0],
        }
    ).to_csv(src, index=False)
    out = run(store, "upload", str(src), "sales/daily", "--date-col", "ts").stdout.decode()
    assert "version 1, 3 rows in 2 chunk(s)" in out
    assert sorted(p.parent.name for p in (store / "sales/daily/ts").rglob("*.csv.gz")) == [
        "2024-01-01",
        "2024-01-02",
    ]

    got = run(store, "get", "sales/daily", "--start-date", "2024-01-02").stdout
    assert pl.read_csv(got)["amount"].to_list() == [7.0]

    dest = tmp_path / "out.parquet"
    run(store, "get", "sales/daily", "-o", str(dest), "--columns", "shop")
    assert pl.read_parquet(dest).columns == ["shop"]

    run(store, "upload", str(src), "sales/daily")
    listed = json.loads(run(store, "ls", "--json").stdout)
    assert [(f["name"], f["version"], f["rows"]) for f in listed] == [("sales/daily", 2, 6)]
    versions = json.loads(run(store, "versions", "sales/daily", "--json").stdout)
    assert [v["rows_total"] for v in versions] == [3, 6]

    run(store, "rm", "sales/daily")
    report = run(store, "vacuum", "--grace-seconds", "0").stdout.decode()
    assert "removed 4 file(s)" in report
    assert list(store.rglob("*.csv.gz")) == []


def test_upload_from_stdin_with_id_layout_and_batches(tmp_path):
    store = tmp_path / "s"
    csv = b"uid,v\n3,c\n1,a\n2,b\n"
    run(store, "upload", "-", "users", "--id-col", "uid", "--chunk-rows", "2", input=csv)
    got = run(store, "get", "users", "--partition-value", "2").stdout
    assert pl.read_csv(got).rows() == [(2, "b")]
    run(store, "upload", "-", "runs", "--external-key", "r1", input=b"x\n1\n")
    run(store, "upload", "-", "runs", "--external-key", "r1", "--keep-last", input=b"x\n2\n")
    assert pl.read_csv(run(store, "get", "runs").stdout)["x"].to_list() == [2]


def test_errors_are_one_line_and_exit_2(tmp_path):
    proc = run(tmp_path / "s", "get", "missing", ok=False)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "error: frame 'missing' does not exist"
    src = tmp_path / "x.csv"
    src.write_text("d,v\nnot-a-date,1\n")
    proc = run(tmp_path / "s", "upload", str(src), "bad/../name", ok=False)
    assert proc.returncode == 2 and "'..' segment" in proc.stderr.decode()
    proc = run(tmp_path / "s", "upload", str(src), "f", "--date-col", "d", ok=False)
    assert proc.returncode == 2 and "not dates" in proc.stderr.decode()


def test_demo_runs_end_to_end(tmp_path):
    out = run(tmp_path / "s", "demo", "--rows", "5000").stdout.decode()
    assert "equal to the original, dtypes included: True" in out
    assert "correct: True" in out
