"""Run per-chunk work on a thread pool, with a progress bar when a person is watching.

Example
-------
>>> map_parallel(lambda x: x * 2, [1, 2, 3], workers=2, label="doubling", progress=False)
[2, 4, 6]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from . import progress as progress_policy

T = TypeVar("T")
R = TypeVar("R")
#: fewer items than this never show a bar: the work is over before a person could read it
PROGRESS_MIN_ITEMS = 8


def map_parallel(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int,
    label: str,
    progress: bool | None = None,
) -> list[R]:
    """``[fn(item) for item in items]``, on up to ``workers`` threads, results in order.

    ``progress`` follows :mod:`pandasdb_core.progress` (None: a bar when a person is
    watching and the work is long).
    """
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        results: Iterable[R] = pool.map(fn, items)
        if len(items) < PROGRESS_MIN_ITEMS:
            return list(results)
        bar = progress_policy.bar(total=len(items), desc=label, unit="chunk", progress=progress)
        if bar is None:
            return list(results)
        with bar:
            done = []
            for result in results:
                done.append(result)
                bar.update(1)
            return done
