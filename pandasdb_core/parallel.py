"""Run per-chunk work on a thread pool, with a progress bar when asked.

Example
-------
>>> map_parallel(lambda x: x * 2, [1, 2, 3], workers=2, label="doubling", progress=False)
[2, 4, 6]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
#: fewer items than this never show a bar: the work is over before a person could read it
PROGRESS_MIN_ITEMS = 8


def map_parallel(
    fn: Callable[[T], R], items: Sequence[T], *, workers: int, label: str, progress: bool
) -> list[R]:
    """``[fn(item) for item in items]``, on up to ``workers`` threads, results in order."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        results: Iterable[R] = pool.map(fn, items)
        if progress and len(items) >= PROGRESS_MIN_ITEMS:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(items), desc=label, unit="chunk", leave=False)
        return list(results)
