"""The read path: query -> the frame's head and version -> a plan (one layout, an index range,
row filters) -> the chunks that version sees -> fetch, decode with the stored schema, filter.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> from pandasdb_core.operations import ReadQuery
>>> db = pdb.open("memory://")
>>> _ = db.upload(pd.DataFrame({"id": [3, 1, 2]}), "u", columns_keys={"id": "ID"})
>>> frame, schema = db.read(ReadQuery.build(name="u", start_id=2))
>>> frame["id"].to_list()
[2, 3]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from . import codecs
from .conversion import empty_frame
from .errors import BlobNotFound, ChunkMissing, InvalidArgument, VersionNotFound
from .layouts import BATCH, KINDS, NOW_KEY, Selection, describe, kind_of
from .operations import ReadQuery
from .records import ChunkRecord, FrameHead, Layout
from .schema import Schema, polars_schema, user_columns
from .visibility import visible

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class ReadPlan:
    """What one read fetches: which version, which layout and index range, which chunks and
    rows of it, which columns."""

    head: FrameHead
    version: int
    layout: Layout
    selection: Selection
    row_filters: tuple[Selection, ...]
    columns: tuple[str, ...]

    @property
    def needed(self) -> list[str]:
        """Columns to decode: the wanted ones and those the row filters read."""
        reads = [c for s in self.row_filters for c in s.reads]
        return list(dict.fromkeys([*self.columns, *reads]))


def resolve_version(head: FrameHead, as_of: int | None) -> int:
    """The version a read sees: ``as_of`` if still retained, else the latest."""
    if as_of is None:
        return head.version
    if not head.min_version <= as_of <= head.version:
        raise VersionNotFound(
            f"as_of={as_of} is out of range: frame {head.name!r} has versions "
            f"{head.min_version}..{head.version}"
        )
    return as_of


def wanted_columns(schema: Schema, version: int, columns: tuple[str, ...] | None) -> list[str]:
    """The columns a read returns: index levels first, then the asked ones (or all)."""
    present = list(polars_schema(schema, as_of=version))
    if columns is None:
        return present
    unknown = [c for c in columns if c not in present]
    if unknown:
        raise InvalidArgument(
            f"columns: unknown column(s) {unknown!r}; the frame has {user_columns(schema)!r}"
        )
    data = set(user_columns(schema))
    levels = [c for c in present if c not in data]
    return levels + [c for c in dict.fromkeys(columns) if c not in levels]


def plan(head: FrameHead, query: ReadQuery) -> ReadPlan:
    """Check ``query``'s filters against the frame's layouts and choose what to read: the
    layout of the first kind the query filters by (in registry order) bounds the index
    range; every asked kind filters rows."""
    version = resolve_version(head, query.as_of)
    if query.external_key == NOW_KEY and head.layouts != (BATCH,):
        # the original backend's SDK sends "NOW" (the default key) whatever the frame; a
        # partitioned frame has no keys, so it asks for nothing, as on upload
        query = query.model_copy(update={"external_key": None})
    selections: list[tuple[Layout, Selection]] = []
    for kind in KINDS.values():
        if not kind.asked(query):
            continue
        layout = next((lay for lay in head.layouts if lay.kind == kind.name), None)
        if layout is None:
            given = "/".join(f for f in kind.filters if getattr(query, f) not in (None, False))
            article = "an" if kind.user_name[:1] in ("A", "E", "I", "O", "U") else "a"
            wanted = f"{article} {kind.user_name} layout" if kind.user_name else "batches"
            raise InvalidArgument(
                f"{given} needs {wanted}; frame {head.name!r} is stored by {describe(head.layouts)}"
            )
        selections.append((layout, kind.select(query, layout)))
    layout, selection = selections[0] if selections else (head.layouts[0], Selection())
    return ReadPlan(
        head=head,
        version=version,
        layout=layout,
        selection=selection,
        row_filters=tuple(s for _, s in selections if s.keep_rows is not None),
        columns=tuple(wanted_columns(head.schema, version, query.columns)),
    )


def chunks_to_read(store: Store, plan: ReadPlan) -> list[ChunkRecord]:
    """The chunk files the planned version sees, in the order their rows are returned."""
    head, selection = plan.head, plan.selection
    chunks = visible(
        store.meta, head.frame_id, plan.layout.tag, plan.version, selection.lo, selection.hi
    )
    if selection.keep_chunks is not None:
        chunks = selection.keep_chunks(chunks)
    return kind_of(plan.layout).order(chunks)


def read(store: Store, query: ReadQuery) -> tuple[pl.DataFrame, Schema]:
    """The frame ``query`` asks for, as stored (polars, index levels as columns), with the
    frame's schema."""
    head = store.head(query.name)
    read_plan = plan(head, query)
    chunks = chunks_to_read(store, read_plan)
    dtypes = polars_schema(head.schema, as_of=read_plan.version)
    since = {c["name"]: c["since"] for c in head.schema["columns"]}
    needed = read_plan.needed
    wanted = list(read_plan.columns)

    def fetch(chunk: ChunkRecord) -> pl.DataFrame:
        present = [c for c in needed if since[c] <= chunk.version]
        try:
            data = store.blobs.get(chunk.key)
        except BlobNotFound:
            raise ChunkMissing(
                f"frame {head.name!r} version {read_plan.version}: chunk file {chunk.key!r} is "
                "gone (removed by vacuum while this read ran, or outside pandasdb); read again, "
                "and run check() if it persists"
            ) from None
        part = codecs.decode(data, head.format, dtypes, present)
        missing = [pl.lit(None, dtype=dtypes[c]).alias(c) for c in needed if c not in present]
        part = part.with_columns(missing) if missing else part
        for selection in read_plan.row_filters:
            part = part.filter(selection.keep_rows(part))  # type: ignore[misc]
        return part.select(wanted)

    parts = store.map(fetch, chunks, "reading chunks")
    if not parts:
        return empty_frame(head.schema, wanted), head.schema
    return pl.concat(parts, how="vertical", rechunk=False), head.schema
