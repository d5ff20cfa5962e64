"""Range overlap on partition bounds, shared by the adapters that filter in Python.

Example
-------
>>> overlaps(3, 5, 5, None)
True
"""

from __future__ import annotations

from ..records import PartitionValue


def overlaps(
    lo: PartitionValue, hi: PartitionValue, qlo: PartitionValue | None, qhi: PartitionValue | None
) -> bool:
    """Whether ``[lo, hi]`` meets ``[qlo, qhi]`` (a None bound is open)."""
    return (qhi is None or lo <= qhi) and (qlo is None or hi >= qlo)  # type: ignore[operator]
