"""What a frame's chunk index says about it, without reading its data: per layout its rows,
chunk files, bytes on storage and the days or ids it covers (:class:`LayoutStats`, kept in the
frame's head by every commit), and the days of a Date layout (``dates``).

A commit's stats are its base's, plus the chunks it adds, less those it removes (drop records,
and what a ``keep_last`` hides): no index read, unless a removed chunk held the first or last
day (id) of the range, which then comes from the index. Heads written before pandasdb kept
stats get them from the index once per store and version.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-02", "2024-01-01"]), "v": [1, 2]})
>>> _ = db.upload(df, "sales", columns_keys={"ts": "Date"})
>>> [day.isoformat() for day in db.dates("sales")]
['2024-01-01', '2024-01-02']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from .errors import InvalidArgument
from .layouts import describe, kind_of
from .operations import DatesQuery
from .reading import resolve_version
from .records import ChunkRecord, FrameHead, Layout, LayoutStats
from .visibility import visible

if TYPE_CHECKING:
    from .store import Store


#: stats computed from the index for heads without them, per store: (frame id, version) ->
_COMPUTED: WeakKeyDictionary[Store, dict[tuple[str, int], tuple[LayoutStats, ...]]] = (
    WeakKeyDictionary()
)


def live_chunks(store: Store, head: FrameHead, layout: Layout, version: int) -> list[ChunkRecord]:
    """The chunk records of ``layout`` that ``version`` of the frame reads (without those an
    edit dropped)."""
    return visible(store.meta, head.frame_id, layout.tag, version)


def stats_of(layout: Layout, chunks: Iterable[ChunkRecord]) -> LayoutStats:
    """The stats of a layout whose live chunks are ``chunks``.

    Example
    -------
    >>> from pandasdb_core.records import ChunkRecord
    >>> day = lambda d, rows: ChunkRecord("c" + d, "date:ts", d, d, "k", rows, 10, "", 1, "t", 0)
    >>> stats_of(Layout("date", "ts"), [day("2024-01-02", 5), day("2024-01-01", 3)])
    LayoutStats(layout='date:ts', rows=8, chunks=2, bytes=20, lo='2024-01-01', hi='2024-01-02')
    """
    found = list(chunks)
    ranged = bool(layout.column) and bool(found)
    return LayoutStats(
        layout=layout.tag,
        rows=sum(c.rows for c in found),
        chunks=len(found),
        bytes=sum(c.size for c in found),
        lo=min(c.lo for c in found) if ranged else None,  # type: ignore[type-var]
        hi=max(c.hi for c in found) if ranged else None,  # type: ignore[type-var]
    )


def frame_stats(store: Store, head: FrameHead) -> tuple[LayoutStats, ...]:
    """Per layout, what the head's version holds: as the head records it, or, for a head
    written before pandasdb kept stats, from the chunk index (once per store and version)."""
    if head.stats:
        return head.stats
    computed = _COMPUTED.setdefault(store, {})
    key = (head.frame_id, head.version)
    if key not in computed:
        versions = store.meta.versions(head.frame_id)
        computed[key] = tuple(
            stats_of(
                lay, visible(store.meta, head.frame_id, lay.tag, head.version, versions=versions)
            )
            for lay in head.layouts
        )
    return computed[key]


def next_stats(
    store: Store,
    base: FrameHead | None,
    layouts: Sequence[Layout],
    added: Sequence[ChunkRecord],
    removed: Sequence[ChunkRecord],
    *,
    hides_all: bool = False,
) -> tuple[LayoutStats, ...]:
    """The stats of the version a commit on ``base`` makes: the base's, plus the chunks it
    ``added``, less those it ``removed`` (dropped, or hidden by ``keep_last``); with
    ``hides_all`` (a ``keep_last`` of a partitioned frame) nothing earlier stays."""
    start = {} if (base is None or hides_all) else {s.layout: s for s in frame_stats(store, base)}
    out = []
    for layout in layouts:
        plus = [c for c in added if c.layout == layout.tag]
        minus = [] if hides_all else [c for c in removed if c.layout == layout.tag]
        stats = _advance(layout, start.get(layout.tag, LayoutStats(layout.tag)), plus, minus)
        if stats is None:  # a removed chunk held a bound of the range: ask the index
            assert base is not None  # something was removed, so there was a base
            gone = {c.chunk_id for c in minus}
            kept = [
                c for c in live_chunks(store, base, layout, base.version) if c.chunk_id not in gone
            ]
            stats = stats_of(layout, [*kept, *plus])
        out.append(stats)
    return tuple(out)


def _advance(
    layout: Layout, stats: LayoutStats, plus: list[ChunkRecord], minus: list[ChunkRecord]
) -> LayoutStats | None:
    """``stats`` with ``plus`` added and ``minus`` removed, or None when the new range cannot
    be known without the index (a removed chunk held a bound that nothing added covers)."""
    chunks = stats.chunks + len(plus) - len(minus)
    lo, hi = stats.lo, stats.hi
    if layout.column and minus:
        if any(c.lo == lo for c in minus) and not any(c.lo <= lo for c in plus):  # type: ignore[operator]
            return None
        if any(c.hi == hi for c in minus) and not any(c.hi >= hi for c in plus):  # type: ignore[operator]
            return None
    if layout.column and chunks:
        lo = min(v for v in (lo, *(c.lo for c in plus)) if v is not None)  # type: ignore[type-var]
        hi = max(v for v in (hi, *(c.hi for c in plus)) if v is not None)  # type: ignore[type-var]
    else:
        lo = hi = None
    return LayoutStats(
        layout=layout.tag,
        rows=stats.rows + sum(c.rows for c in plus) - sum(c.rows for c in minus),
        chunks=chunks,
        bytes=stats.bytes + sum(c.size for c in plus) - sum(c.size for c in minus),
        lo=lo,
        hi=hi,
    )


def date_layout(head: FrameHead, column: str | None) -> Layout:
    """The frame's Date layout on ``column`` (None: its only one), or :class:`InvalidArgument`:
    a layout of a kind whose partitions are days (``LayoutKind.dated``)."""
    found = [lay for lay in head.layouts if kind_of(lay).dated]
    if not found:
        raise InvalidArgument(
            f"dates needs a Date layout; frame {head.name!r} is stored by {describe(head.layouts)}"
        )
    if column is None:
        if len(found) > 1:
            names = ", ".join(lay.column for lay in found)
            raise InvalidArgument(
                f"column: frame {head.name!r} has several Date layouts ({names}); name one"
            )
        return found[0]
    layout = next((lay for lay in found if lay.column == column), None)
    if layout is None:
        raise InvalidArgument(
            f"column: frame {head.name!r} has no Date layout on {column!r}; it is stored by "
            f"{describe(head.layouts)}"
        )
    return layout


def days(store: Store, query: DatesQuery) -> list[dt.date]:
    """The days holding rows in a Date layout of a frame, oldest first (see
    :meth:`Store.dates`)."""
    head = store.head(query.name)
    layout = date_layout(head, query.column)
    chunks = live_chunks(store, head, layout, resolve_version(head, query.as_of))
    return sorted({kind_of(layout).day(c) for c in chunks})
