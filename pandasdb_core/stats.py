"""What a frame's chunk index says about it, without reading its data: the days of a Date
layout (``dates``).

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
from typing import TYPE_CHECKING

from .errors import InvalidArgument
from .layouts import describe
from .operations import DatesQuery
from .reading import resolve_version
from .records import ChunkRecord, FrameHead, Layout
from .visibility import visible

if TYPE_CHECKING:
    from .store import Store


def live_chunks(store: Store, head: FrameHead, layout: Layout, version: int) -> list[ChunkRecord]:
    """The chunk records of ``layout`` that ``version`` of the frame reads (without those an
    edit dropped)."""
    return visible(store.meta, head.frame_id, layout.tag, version)


def date_layout(head: FrameHead, column: str | None) -> Layout:
    """The frame's Date layout on ``column`` (None: its only one), or :class:`InvalidArgument`."""
    found = [lay for lay in head.layouts if lay.kind == "date"]
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
    return sorted({dt.date.fromisoformat(str(c.lo)) for c in chunks})
