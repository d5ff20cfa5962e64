"""A seeded sample frame shaped like real market or sales data, for the demo and benchmarks.

Example
-------
>>> sample_frame(1000, days=10).shape
(1000, 7)
"""

from __future__ import annotations

from typing import Any


def sample_frame(rows: int, *, days: int = 365, seed: int = 42) -> Any:
    """A pandas frame: a sorted UTC timestamp spread over ``days`` days, an int64 id, a
    500-value string symbol, float64, int32, bool and a nullable short string."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC").value
    offsets = np.sort(rng.integers(0, days * 86_400 * 10**9, rows))
    symbols = np.array([f"SYM{i:03d}" for i in range(500)], dtype=object)
    note = pd.array(rng.choice(["buy", "sell", "hold", None], rows), dtype="str")
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(start + offsets, utc=True).as_unit("ns"),
            "id": rng.integers(0, 1_000_000, rows, dtype="int64"),
            "symbol": pd.array(symbols[rng.integers(0, 500, rows)], dtype="str"),
            "price": rng.normal(100, 15, rows),
            "qty": rng.integers(1, 1000, rows, dtype="int32"),
            "flag": rng.random(rows) < 0.5,
            "note": note,
        }
    )
