"""Cost against the number of columns: upload and read times for 400, 1,000 and 4,000 columns.

The cost of a wide frame must grow linearly with its columns (issue 10: 4,000 columns took
23 s to upload where 2,000 took 5 s). Prints a table with each width's times and their
ratio to 400 columns; linear is 10x at 4,000 columns.

Run: ``.venv/bin/python bench/columns.py`` (``--rows``, ``--repeats``, ``--store memory``
or ``local``, ``--format``). Each time is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandasdb_core as pdb  # noqa: E402

WIDTHS = (400, 1_000, 4_000)


def wide_frame(columns: int, rows: int) -> pd.DataFrame:
    """Ints, floats and strings in turn, so every conversion path is exercised."""
    rng = np.random.default_rng(0)
    data: dict[str, object] = {}
    for i in range(columns):
        kind = i % 3
        if kind == 0:
            data[f"i{i}"] = rng.integers(0, 1_000, rows)
        elif kind == 1:
            data[f"f{i}"] = rng.random(rows)
        else:
            data[f"s{i}"] = pd.array([f"v{j}" for j in range(rows)], dtype="str")
    return pd.DataFrame(data)


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(columns: int, args: argparse.Namespace, root: Path) -> dict[str, float]:
    df = wide_frame(columns, args.rows)
    some = list(df.columns[:: max(1, columns // 10)])
    counter = iter(range(1_000_000))

    def store() -> pdb.Store:
        if args.store == "memory":
            return pdb.open("memory://", format=args.format)
        return pdb.open(root / f"s{columns}-{next(counter)}", format=args.format)

    def upload() -> None:
        store().upload(df, "wide")

    db = store()
    db.upload(df, "wide")
    return {
        "upload": best(upload, args.repeats),
        "get": best(lambda: db.get("wide"), args.repeats),
        "get 10 columns": best(lambda: db.get("wide", columns=some), args.repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store", choices=["memory", "local"], default="local")
    parser.add_argument("--format", choices=["csv.gz", "parquet"], default="csv.gz")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {n: measure(n, args, Path(tmp)) for n in WIDTHS}
    phases = list(results[WIDTHS[0]])
    print(f"{args.rows} rows, {args.store} store, {args.format}, best of {args.repeats}")
    print(f"{'columns':>8} " + " ".join(f"{p + ' s':>15} {'x400':>6}" for p in phases))
    for n, times in results.items():
        cells = [f"{times[p]:>15.3f} {times[p] / results[WIDTHS[0]][p]:>6.1f}" for p in phases]
        print(f"{n:>8,} " + " ".join(cells))


if __name__ == "__main__":
    main()
