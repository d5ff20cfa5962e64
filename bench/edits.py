"""Benchmark of issue 15's edits, run by hand (``python bench/edits.py``); prints a table.

1. Small appends, then compact: 200 appends of 500 rows over 5 days (100 rows a day each, so
   1,000 chunk files), then ``compact`` and ``vacuum``; a one-day read before and after,
   against the same rows written in one upload. Target: after compact, within 1.5x.
2. Replacing one day: in a 365-day, 1,000,000-row frame, ``upload(mode="replace_partitions")``
   of one day against rewriting the frame (``mode="overwrite"``). Target: under 5%.

Each on the local store (files + SQLite), csv.gz and parquet; times are medians of repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandasdb_core as pdb  # noqa: E402


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls (after one call that warms caches)."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def frame(rows: int, days: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    offsets = np.sort(rng.integers(0, days * 86_400, rows))
    return pd.DataFrame(
        {
            "ts": start + pd.to_timedelta(offsets, unit="s"),
            "id": rng.integers(0, 10**9, rows),
            "symbol": rng.choice([f"S{i:03d}" for i in range(500)], rows),
            "price": rng.random(rows) * 100,
            "qty": rng.integers(1, 1000, rows).astype("int32"),
        }
    )


def compaction(fmt: str, repeats: int) -> list[dict[str, object]]:
    parts = [frame(500, 5, seed) for seed in range(200)]
    whole = pd.concat(parts, ignore_index=True)
    day = {"start_date": "2024-01-03", "end_date": "2024-01-03"}
    with tempfile.TemporaryDirectory() as tmp:
        db = pdb.open(Path(tmp) / "store", format=fmt)
        db.upload(whole, "one", columns_keys={"ts": "Date"})
        single = timed(lambda: db.get("one", **day), repeats)
        for part in parts:
            db.upload(part, "many", columns_keys={"ts": "Date"})
        files = next(info.chunks for info in db.list() if info.name == "many")
        before = timed(lambda: db.get("many", **day), repeats)
        started = time.perf_counter()
        commit = db.compact("many")
        compact_s = time.perf_counter() - started
        db.vacuum(grace_seconds=0, retain_versions=1)
        after = timed(lambda: db.get("many", **day), repeats)
        assert db.get("many", **day).shape == db.get("one", **day).shape
    return [
        {
            "benchmark": "compact",
            "format": fmt,
            "case": "one-day read, 1 upload",
            "seconds": single,
            "ratio": 1.0,
        },
        {
            "benchmark": "compact",
            "format": fmt,
            "case": f"one-day read, 200 appends ({files} files)",
            "seconds": before,
            "ratio": before / single,
        },
        {
            "benchmark": "compact",
            "format": fmt,
            "case": f"compact: {commit.chunks_dropped} files -> {commit.chunks}",
            "seconds": compact_s,
            "ratio": None,
        },
        {
            "benchmark": "compact",
            "format": fmt,
            "case": "one-day read, after compact (target 1.5x)",
            "seconds": after,
            "ratio": after / single,
        },
    ]


def replacing(fmt: str, repeats: int) -> list[dict[str, object]]:
    big = frame(1_000_000, 365, 1)
    fix = frame(3_000, 1, 2)
    fix["ts"] = fix["ts"] + pd.Timedelta(days=100)  # 2024-04-10
    with tempfile.TemporaryDirectory() as tmp:
        db = pdb.open(Path(tmp) / "store", format=fmt)
        db.upload(big, "f", columns_keys={"ts": "Date"})
        rewrite = timed(lambda: db.upload(big, "f", mode="overwrite"), repeats)
        one_day = timed(lambda: db.upload(fix, "f", mode="replace_partitions"), repeats)
        assert len(db.get("f", start_date="2024-04-10", end_date="2024-04-10")) == len(fix)
    return [
        {
            "benchmark": "replace",
            "format": fmt,
            "case": "rewrite the 1M-row, 365-day frame (overwrite)",
            "seconds": rewrite,
            "ratio": 1.0,
        },
        {
            "benchmark": "replace",
            "format": fmt,
            "case": "replace_partitions of one day (target < 5%)",
            "seconds": one_day,
            "ratio": one_day / rewrite,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--formats", default="parquet,csv.gz")
    args = parser.parse_args()
    table = []
    for fmt in args.formats.split(","):
        table += compaction(fmt, args.repeats)
        table += replacing(fmt, max(1, args.repeats // 2))
    print("| benchmark | format | case | seconds | x baseline |")
    print("|---|---|---|---|---|")
    for row in table:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}"
        print(
            f"| {row['benchmark']} | {row['format']} | {row['case']} | "
            f"{row['seconds']:.4f} | {ratio} |"
        )


if __name__ == "__main__":
    main()
