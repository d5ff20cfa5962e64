"""Cost of long id lists and long column lists: each must be linear, not chunks x ids or
asked x stored columns (issue 10, second audit).

- ``partition_value`` with a list of ids over an ID layout of many chunks: the ids were
  converted again for every chunk (1,000 chunks x 50,000 ids took 5-6 s).
- ``columns=`` naming half of a wide frame's columns (8,000 of 16,000 took 1.7 s), and an
  unknown-column refusal of 40,000 names against 4,000 columns (3.9 s).

Run: ``.venv/bin/python bench/lookups.py`` (``--chunks``, ``--ids``, ``--columns``). Memory
store, best of ``--repeats`` runs; no timed test depends on it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandasdb_core as pdb  # noqa: E402


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def id_lookups(chunks: int, ids: int, repeats: int) -> dict[str, float]:
    """One frame of ``chunks`` chunk files of 100 ids each; read and delete by a list."""
    rows = chunks * 100
    db = pdb.open("memory://", chunk_rows=100, format="parquet", progress=False)
    db.upload(
        pd.DataFrame({"uid": np.arange(rows), "v": np.arange(rows)}),
        "u",
        columns_keys={"uid": "ID"},
    )
    wanted = np.random.default_rng(0).choice(rows, size=min(ids, rows), replace=False).tolist()
    read = best(lambda: db.get("u", partition_value=wanted), repeats)
    batches = best(
        lambda: sum(len(b) for b in db.iter_batches("u", partition_value=wanted)), repeats
    )
    return {"get": read, "iter_batches": batches}


def column_lookups(columns: int, repeats: int) -> dict[str, float]:
    df = pd.DataFrame(
        np.zeros((2, columns), dtype="int64"), columns=[f"c{i}" for i in range(columns)]
    )
    db = pdb.open("memory://", format="parquet", progress=False)
    db.upload(df, "w")
    half = [f"c{i}" for i in range(0, columns, 2)]
    unknown = [f"x{i}" for i in range(columns * 10 // 4)]

    def refused() -> None:
        try:
            db.get("w", columns=unknown)
        except pdb.InvalidArgument:
            return
        raise AssertionError("unknown columns were not refused")

    return {
        "get columns=half": best(lambda: db.get("w", columns=half), repeats),
        "refuse unknown": best(refused, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[500, 1_000, 2_000])
    parser.add_argument("--ids", type=int, default=50_000)
    parser.add_argument("--columns", type=int, nargs="+", default=[4_000, 16_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| lookup | size | seconds |")
    print("|---|---|---|")
    for chunks in args.chunks:
        for label, seconds in id_lookups(chunks, args.ids, args.repeats).items():
            print(
                f"| partition_value ({label}) | {chunks} chunks, {args.ids} ids | {seconds:.3f} |"
            )
    for columns in args.columns:
        for label, seconds in column_lookups(columns, args.repeats).items():
            asked = columns // 2 if "half" in label else columns * 10 // 4
            print(f"| {label} | {asked} of {columns} columns | {seconds:.3f} |")


if __name__ == "__main__":
    main()
