"""Run per-chunk work on a thread pool, with a progress bar when a person is watching.

Example
-------
>>> map_parallel(lambda x: x * 2, [1, 2, 3], workers=2, label="doubling", progress=False)
[2, 4, 6]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, TypeVar

from . import progress as progress_policy

T = TypeVar("T")
U = TypeVar("U")
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


def map_prepared(
    prepare: Callable[[Sequence[T]], Sequence[U]],
    fn: Callable[[T, U], R],
    batches: Sequence[Sequence[T]],
    *,
    workers: int,
    preparers: int = 1,
    label: str,
    progress: bool | None = None,
) -> list[R]:
    """``fn(item, made)`` for every item of every batch, where ``made`` is what
    ``prepare(batch)`` gave for it; results in order. ``prepare`` runs on up to ``preparers``
    threads, a batch each (work that spreads over threads of its own, as a polars call does,
    but not over all of them), and ``fn`` on up to ``workers`` threads meanwhile. At most
    ``preparers + 1`` batches' prepared values are held at once: a batch is prepared only once
    the one before the last handed to ``fn`` is done.

    Example
    -------
    >>> double = lambda batch: [x * 2 for x in batch]
    >>> map_prepared(double, lambda x, y: x + y, [[1, 2], [3]], workers=2, label="", progress=False)
    [3, 6, 9]
    """
    total = sum(len(batch) for batch in batches)
    if total <= 1:
        return [fn(*pair) for batch in batches for pair in zip(batch, prepare(batch), strict=True)]
    bar = None
    if total >= PROGRESS_MIN_ITEMS:
        bar = progress_policy.bar(total=total, desc=label, unit="chunk", progress=progress)
    done: list[R] = []
    shown = nullcontext() if bar is None else bar
    waiting = iter(batches)
    making: deque[tuple[Sequence[T], Future[Sequence[U]]]] = deque()
    with (
        ThreadPoolExecutor(max_workers=min(workers, total)) as pool,
        ThreadPoolExecutor(max_workers=max(1, min(preparers, len(batches)))) as makers,
        shown,
    ):

        def start_next() -> None:
            batch = next(waiting, None)
            if batch is not None:
                making.append((batch, makers.submit(prepare, batch)))

        for _ in range(preparers):
            start_next()
        running: list[Future[R]] = []
        while making:
            batch, made = making.popleft()
            started = [pool.submit(fn, *pair) for pair in zip(batch, made.result(), strict=True)]
            del made  # held by the tasks alone: each value is let go once it is used
            done.extend(_results(running, bar))
            running = started
            start_next()
        done.extend(_results(running, bar))
    return done


def _results(futures: list[Future[R]], bar: Any) -> list[R]:
    """The results of ``futures`` in order, counted on ``bar`` (None: no bar)."""
    out = []
    for future in futures:
        out.append(future.result())
        if bar is not None:
            bar.update(1)
    return out
