"""``pandasdb demo``: upload a generated frame, read it back whole and by day, check it.

Example
-------
>>> import pandasdb_core as pdb
>>> run_demo(pdb.open("memory://"), rows=2000, out=lambda *_: None)
True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .sample_data import sample_frame
from .store import Store


def run_demo(db: Store, *, rows: int = 1_000_000, out: Callable[..., Any] = print) -> bool:
    """Round-trip a ``rows``-row frame through ``db``; print what happened; return success."""
    df = sample_frame(rows)
    name = "demo/trades"
    out(f"store: {db!r}")
    out(
        f"frame: {rows:,} rows x {df.shape[1]} columns, "
        f"{df.memory_usage(deep=True).sum() / 1e6:.0f} MB in pandas"
    )
    t0 = time.perf_counter()
    commit = db.upload(df, name, columns_keys={"ts": "Date"})
    t1 = time.perf_counter()
    back = db.get(name, as_of=commit.version)
    t2 = time.perf_counter()
    day = db.get(name, start_date="2024-03-01", end_date="2024-03-01", as_of=commit.version)
    t3 = time.perf_counter()
    same = back.equals(df) and list(back.dtypes) == list(df.dtypes)
    expected_day = df[df.ts.dt.strftime("%Y-%m-%d") == "2024-03-01"]
    day_ok = len(day) == len(expected_day)
    out(
        f"upload  : version {commit.version}, {commit.chunks} chunk files, "
        f"{commit.bytes / 1e6:.1f} MB on storage, {t1 - t0:.2f}s"
    )
    out(
        f"get     : {len(back):,} rows in {t2 - t1:.2f}s; equal to the original, dtypes "
        f"included: {same}"
    )
    out(f"one day : {len(day):,} rows for 2024-03-01 in {t3 - t2:.3f}s; correct: {day_ok}")
    out("dtypes  : " + ", ".join(f"{c}={t}" for c, t in back.dtypes.astype(str).items()))
    out(db.list("demo/"))
    return bool(same and day_ok)
