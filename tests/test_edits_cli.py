"""The edits from the command line: ``upload --mode``, ``--idempotency-key``, ``replace``,
``delete-rows`` and ``compact``, as a user types them."""

from __future__ import annotations

import pandasdb_core as pdb
from pandasdb_core.cli import main


def test_edit_commands(tmp_path, capsys):
    store = str(tmp_path / "store")
    first = tmp_path / "a.csv"
    first.write_text("ts,v\n2024-01-01,1\n2024-01-02,2\n2024-01-02,3\n")
    fix = tmp_path / "fix.csv"
    fix.write_text("ts,v\n2024-01-02,20\n")

    def run(*args: str) -> str:
        assert main(["--store", store, "--no-progress", *args]) == 0
        return capsys.readouterr().out

    run("upload", str(first), "f", "--date-col", "ts")
    run("upload", str(fix), "f", "--mode", "replace_partitions", "--idempotency-key", "fix-1")
    run("upload", str(fix), "f", "--mode", "replace_partitions", "--idempotency-key", "fix-1")
    db = pdb.open(store)
    assert db.get("f")["v"].tolist() == [1, 20] and len(db.versions("f")) == 2

    out = run("replace", str(fix), "f", "--start-date", "2024-01-02", "--end-date", "2024-01-02")
    assert "version 3, 1 row(s) written, 1 removed" in out
    out = run("delete-rows", "f", "--start-date", "2024-01-01", "--end-date", "2024-01-01")
    assert "version 4, 0 row(s) written, 1 removed" in out
    for _ in range(3):
        run("upload", str(fix), "f")
    out = run("compact", "f", "--target-rows", "100")
    assert "4 dropped" in out
    assert pdb.open(store).get("f")["v"].tolist() == [20] * 4

    assert main(["--store", store, "delete-rows", "f"]) == 2
    assert "delete_rows needs a range" in capsys.readouterr().err
