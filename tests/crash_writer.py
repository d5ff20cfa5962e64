"""A writer for the crash tests: uploads forever until killed; journals each acknowledged
commit (fsynced) so the test knows what must survive. Not a test module."""

from __future__ import annotations

import os
import sys

import polars as pl

import pandasdb_core as pdb

ROWS = 7


def main(store: str, journal: str, run: int) -> None:
    db = pdb.open(store, chunk_rows=3)
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    print("ready", flush=True)
    for i in range(10_000):
        seq = run * 10_000 + i
        rows = pl.DataFrame(
            {
                "day": [f"2024-01-{1 + i % 28:02d}"] * ROWS,
                "seq": [seq] * ROWS,
                "k": list(range(ROWS)),
            }
        ).with_columns(pl.col("day").str.to_date())
        if i % 4 == 3:
            commit = db.upload(
                rows.drop("day"), "batches", external_key=f"r{run % 3}", keep_last=True
            )
            name = "batches"
        else:
            commit = db.upload(rows, "appends", columns_keys={"day": "Date"})
            name = "appends"
        os.write(fd, f"{name} {commit.version} {seq}\n".encode())
        os.fsync(fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
