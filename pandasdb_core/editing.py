"""Changing part of a frame, each change one atomic commit: ``upload(mode="overwrite" |
"replace_partitions")``, ``replace`` (a date or id range), ``delete_rows`` and ``compact``.

An edit plans against the head it read: the chunks holding rows it removes are found through
one layout's index, then

- a chunk wholly removed (a day of a replaced day, an id range inside the deleted one) is
  dropped by reference: a drop record, no data read;
- a chunk partly removed is read, and what is left of it is written as a new chunk file that
  keeps the old chunk's place in row order; the old one is dropped;
- the other layouts of the frame hold the same rows, cut another way: the removed rows' values
  of those layouts' columns name the chunks to look at there, which are cut the same way, so
  every layout keeps the same rows.

The new chunk files are written first (seed paths, fresh names); one commit then records them,
the drop records and the new head, only if the head is still the one read. A lost race plans
again on the new head, so an edit racing an append loses neither. Older versions keep their
chunks: ``as_of`` reads them until ``vacuum`` retires those versions.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02"]), "v": [1, 2]})
>>> _ = db.upload(df, "f", columns_keys={"ts": "Date"})
>>> db.delete_rows("f", start_date="2024-01-02").rows_removed
1
>>> db.get("f")["v"].tolist(), db.get("f", as_of=1)["v"].tolist()
([1], [1, 2])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from . import codecs
from .conversion import PreparedFrame, to_polars
from .errors import FrameNotFound, InvalidArgument
from .idempotency import earlier_commit, recorded_key, request_of
from .idempotency import operation_of as operation_of  # re-exported: store.py, sessions.py
from .layouts import KINDS, PlannedChunk, Selection, WriteContext, kind_of
from .layouts.base import spare_name
from .layouts.ids import integer_ids
from .operations import CompactOptions, DeleteRowsOptions, ReadQuery, ReplaceOptions, UploadOptions
from .reading import plan
from .records import ChunkRecord, Commit, FrameHead, Layout
from .schema import Schema, merge_schema, polars_schema
from .visibility import visible
from .writing import (
    Draft,
    FrameSettings,
    Removal,
    Remover,
    WrittenChunk,
    commit_on_head,
    put_chunks,
    upload,
)

if TYPE_CHECKING:
    from .store import Store

RowFilter = Callable[[pl.DataFrame], pl.Series]
#: compaction merges at most this many target-sized chunks' rows at once (bounded memory)
MERGE_LIMIT = 16


@dataclass(frozen=True)
class Target:
    """The rows an edit removes: found through ``layout``'s index (``selection``'s range and
    chunk filter), matched in any chunk by ``rows`` (which reads the columns ``reads``), and
    known whole from a chunk's record when ``whole`` says so."""

    layout: Layout
    selection: Selection
    rows: RowFilter
    whole: Callable[[ChunkRecord], bool]
    reads: tuple[str, ...] = ()


def _never(chunk: ChunkRecord) -> bool:
    return False


def query_target(head: FrameHead, query: ReadQuery) -> Target:
    """The rows a read of ``query`` would return, as an edit's target (checked against the
    frame's layouts as a read is)."""
    read_plan = plan(head, query)
    filters = [s.keep_rows for s in read_plan.row_filters if s.keep_rows is not None]

    def rows(frame: pl.DataFrame) -> pl.Series:
        mask = pl.Series("doomed", [bool(filters)] * frame.height, dtype=pl.Boolean)
        for keep in filters:
            mask = mask & keep(frame)
        return mask

    selection = read_plan.selection
    # a chunk is whole from its record only when its own layout's filter is the only one
    covers = selection.covers if len(filters) == 1 else None
    reads = tuple(dict.fromkeys(c for s in read_plan.row_filters for c in s.reads))
    return Target(read_plan.layout, selection, rows, covers or _never, reads)


def partitions_target(head: FrameHead, frame: pl.DataFrame) -> Target:
    """The partitions ``frame`` holds, as an edit's target: its days in the frame's Date
    layout, else its ids in the ID layout (the first kind in registry order)."""
    layout = next(lay for kind in KINDS for lay in head.layouts if lay.kind == kind)
    selection = kind_of(layout).holding(layout, frame[layout.column])
    assert selection.keep_rows is not None, "a kind edited by value filters rows"
    return Target(layout, selection, selection.keep_rows, selection.covers or _never)


# ------------------------------------------------------------------------------ removal


@dataclass(frozen=True)
class _Cut:
    """One chunk after an edit's rows are taken out: dropped or not, what is left of it, the
    rows taken out (with the columns other layouts need)."""

    chunk: ChunkRecord
    dropped: bool
    rest: pl.DataFrame | None
    removed: pl.DataFrame


def _read(store: Store, head: FrameHead, chunk: ChunkRecord, schema: Schema) -> pl.DataFrame:
    """A chunk's rows with every column of ``schema`` (absent ones null), in its order."""
    dtypes = polars_schema(schema)
    since = {c["name"]: c["since"] for c in schema["columns"]}
    present = [c for c in dtypes if since[c] <= chunk.version]
    part = codecs.decode(store.blobs.get(chunk.key), head.format, dtypes, present)
    missing = [pl.lit(None, dtype=dtypes[c]).alias(c) for c in dtypes if c not in present]
    return part.with_columns(missing).select(list(dtypes))


def _cut(store: Store, head: FrameHead, chunk: ChunkRecord, target: Target, schema: Schema) -> _Cut:
    frame = _read(store, head, chunk, schema)
    mask = target.rows(frame)
    removed = frame.filter(mask)
    if removed.height == 0:
        return _Cut(chunk, False, None, removed)
    rest = frame.filter(~mask)
    return _Cut(chunk, True, rest if rest.height else None, removed)


def _whole(store: Store, head: FrameHead, chunk: ChunkRecord, columns: list[str]) -> _Cut:
    """A chunk removed whole: only the columns other layouts need are read (none: nothing)."""
    if not columns:
        return _Cut(chunk, True, None, pl.DataFrame())
    dtypes = polars_schema(head.schema)
    removed = codecs.decode(store.blobs.get(chunk.key), head.format, dtypes, columns)
    return _Cut(chunk, True, None, removed)


def remove(store: Store, head: FrameHead, target: Target, schema: Schema) -> Removal:
    """Plan the removal of ``target``'s rows from every layout of the frame at ``head``:
    drop whole chunks, rewrite partly removed ones (written here, before any commit)."""
    versions = store.meta.versions(head.frame_id)
    others = [lay for lay in head.layouts if lay != target.layout]
    columns = [lay.column for lay in others]

    def found(layout: Layout, selection: Selection) -> list[ChunkRecord]:
        chunks = visible(
            store.meta,
            head.frame_id,
            layout.tag,
            head.version,
            selection.lo,
            selection.hi,
            versions,
        )
        return selection.keep_chunks(chunks) if selection.keep_chunks else chunks

    def cut(chunk: ChunkRecord) -> _Cut:
        if chunk.layout == target.layout.tag and target.whole(chunk):
            return _whole(store, head, chunk, columns)
        return _cut(store, head, chunk, target, schema)

    cuts = store.map(cut, found(target.layout, target.selection), "finding rows")
    rows = sum(c.chunk.rows if c.rest is None else c.removed.height for c in cuts if c.dropped)
    removed = [c.removed for c in cuts if c.dropped and c.removed.height]
    for layout in others:
        if not removed:
            break
        values = pl.concat([r[layout.column] for r in removed])
        holding = kind_of(layout).holding(layout, values)
        cuts += store.map(cut, found(layout, holding), "finding rows")
    dropped = [c for c in cuts if c.dropped]
    return Removal(
        drops=tuple(c.chunk for c in dropped),
        rewrites=tuple(
            _rewrite(store, head, [(c.chunk, c.rest) for c in dropped if c.rest is not None])
        ),
        rows=rows,
    )


def _rewrite(
    store: Store, head: FrameHead, parts: Sequence[tuple[ChunkRecord, pl.DataFrame]]
) -> list[WrittenChunk]:
    """Write each rest as one chunk of its layout, keeping the place of the chunk it was."""
    by_tag = {lay.tag: lay for lay in head.layouts}
    planned: list[PlannedChunk] = []
    places: list[tuple[int, int] | None] = []
    for chunk, rest in parts:
        layout = by_tag[chunk.layout]
        where = _where(head, rest.height)
        (piece,) = kind_of(layout).plan(rest, layout, where)
        planned.append(piece)
        places.append(chunk.rank)
    return put_chunks(store, planned, head.format, places)


def _where(head: FrameHead, chunk_rows: int) -> WriteContext:
    return WriteContext(
        name=head.name,
        chunk_rows=max(chunk_rows, 1),
        fmt=head.format,
        external_key=None,
        now=dt.datetime.now(dt.UTC),
    )


def _live(store: Store, head: FrameHead) -> list[ChunkRecord]:
    versions = store.meta.versions(head.frame_id)
    return [
        c
        for lay in head.layouts
        for c in visible(store.meta, head.frame_id, lay.tag, head.version, versions=versions)
    ]


# ------------------------------------------------------------------------------ uploads


def upload_remover(store: Store, opts: UploadOptions) -> Remover | None:
    """What an upload of ``opts.mode`` removes from the head it builds on (None: appends)."""
    if opts.mode == "append":
        return None

    def remover(head: FrameHead | None, frame: pl.DataFrame, schema: Schema) -> Removal:
        if head is None:
            return Removal()
        batched = not any(lay.column for lay in head.layouts)
        if opts.mode == "replace_partitions":
            if batched:  # a batch frame's partition is the external key: keep_last
                return Removal(keep_last=True)
            return remove(store, head, partitions_target(head, frame), schema)
        if batched:  # every key's batches, where keep_last drops only this key's
            chunks = _live(store, head)
            return Removal(drops=tuple(chunks), rows=sum(c.rows for c in chunks))
        return Removal(keep_last=True)

    return remover


def replace(store: Store, df: Any, opts: ReplaceOptions) -> Commit:
    """Replace the rows of a date or id range by ``df`` (see :meth:`Store.replace`); an
    empty ``df`` clears the range."""
    query = opts.range_query()
    frame, incoming = to_polars(df)
    request = request_of("replace", opts, frame)
    key = recorded_key(opts.idempotency_key, request)
    if frame.height == 0:
        return _clear(store, opts, query, incoming, key)

    def remover(head: FrameHead | None, frame: pl.DataFrame, schema: Schema) -> Removal:
        if head is None:
            raise FrameNotFound(opts.name)
        target = query_target(head, query)
        _inside(frame, target, query)
        return remove(store, head, target, schema)

    upload_opts = UploadOptions.build(name=opts.name).model_copy(update={"idempotency_key": key})
    prepared = PreparedFrame(frame, incoming)
    return upload(store, prepared, upload_opts, operation="replace", remove=remover)


def _clear(
    store: Store, opts: ReplaceOptions, query: ReadQuery, incoming: Schema, key: str | None
) -> Commit:
    """A replace by no rows: the range's rows are removed (its columns must fit the frame's)."""

    def build(head: FrameHead) -> Draft | Commit:
        earlier = earlier_commit(store, head, key)
        if earlier is not None:
            return earlier
        merge_schema(head.schema, incoming, version=head.version + 1)  # refuse other types
        removal = remove(store, head, query_target(head, query), head.schema)
        if not removal.drops:
            return unchanged(head)
        return _draft(head, removal, "replace", key)

    return commit_on_head(store, opts.name, build)  # type: ignore[return-value]


def _inside(frame: pl.DataFrame, target: Target, query: ReadQuery) -> None:
    """Refuse a replacement row outside the range, naming the first."""
    outside = (~target.rows(frame)).arg_true()
    if len(outside) == 0:
        return
    row = int(outside[0])
    bounds = ", ".join(f"{k}={v}" for k, v in query.to_query().items())
    shown = ", ".join(f"{c}={frame[c][row]}" for c in target.reads)
    raise InvalidArgument(
        f"dataframe: row {row} ({shown}) lies outside the range replaced ({bounds}); "
        f"{len(outside)} row(s) do; replace takes rows inside the range only; nothing was written"
    )


# ------------------------------------------------------------------------------ edits without data


def _draft(head: FrameHead, removal: Removal, operation: str, key: str | None) -> Draft:
    return Draft(
        name=head.name,
        base=head,
        schema=head.schema,
        settings=FrameSettings(head.layouts, head.format, head.chunk_rows),
        written=(),
        external_key=None,
        keep_last=False,
        rows=0,
        removal=removal,
        operation=operation,
        idempotency_key=key,
    )


def unchanged(head: FrameHead) -> Commit:
    """What an edit that changes nothing returns: the current version, nothing written."""
    return Commit(name=head.name, version=head.version, rows=0, chunks=0, keys=())


def delete_rows(store: Store, opts: DeleteRowsOptions) -> Commit:
    """Remove the rows the filters select (see :meth:`Store.delete_rows`)."""
    query = opts.range_query()
    key = recorded_key(opts.idempotency_key, request_of("delete_rows", opts))

    def build(head: FrameHead) -> Draft | Commit:
        earlier = earlier_commit(store, head, key)
        if earlier is not None:
            return earlier
        removal = remove(store, head, query_target(head, query), head.schema)
        if not removal.drops:
            return unchanged(head)
        return _draft(head, removal, "delete_rows", key)

    return commit_on_head(store, opts.name, build)  # type: ignore[return-value]


def compact(store: Store, opts: CompactOptions) -> Commit:
    """Merge small chunks, and re-cut an ID layout's overlapping chunks into disjoint id
    ranges (see :meth:`Store.compact`)."""

    def build(head: FrameHead) -> Draft | Commit:
        target = opts.target_rows or head.chunk_rows
        versions = store.meta.versions(head.frame_id)
        runs: list[tuple[Layout, list[ChunkRecord]]] = []
        for layout in head.layouts:
            chunks = visible(store.meta, head.frame_id, layout.tag, head.version, versions=versions)
            if layout.kind == "id":
                runs.extend((layout, unit) for unit in id_units(chunks, target))
                continue
            for group in kind_of(layout).merge_groups(chunks):
                runs.extend((layout, run) for run in merge_runs(group, target))
        if not runs:
            return unchanged(head)
        limit = MERGE_LIMIT * target
        small = [r for r in runs if sum(c.rows for c in r[1]) <= limit]
        merged = store.map(lambda run: _merge(store, head, run, target), small, "compacting")
        pieces = [p for planned in merged for p in planned]
        written = put_chunks(store, [p for p, _ in pieces], head.format, [r for _, r in pieces])
        for layout, unit in runs:
            if sum(c.rows for c in unit) > limit:  # too large to hold: window by window
                written.extend(_recut(store, head, layout, unit, target))
        drops = tuple(c for _, run in runs for c in run)
        return _draft(head, Removal(drops=drops, rewrites=tuple(written)), "compact", None)

    return commit_on_head(store, opts.name, build)  # type: ignore[return-value]


def merge_runs(group: Sequence[ChunkRecord], target: int) -> list[list[ChunkRecord]]:
    """The runs of consecutive small chunks (fewer rows than ``target``) worth merging: those
    whose rows fit in fewer chunks of ``target`` rows, each of at most ``MERGE_LIMIT``
    targets' rows.

    Example
    -------
    >>> from dataclasses import replace
    >>> c = ChunkRecord("c", "date:ts", "d", "d", "k", 300, 1, "", 1, "t", 0)
    >>> [len(run) for run in merge_runs([replace(c, rows=r) for r in (300, 300, 1000, 300)], 1000)]
    [2]
    """
    runs: list[list[ChunkRecord]] = []
    current: list[ChunkRecord] = []
    for chunk in [*group, None]:
        small = chunk is not None and chunk.rows < target
        if small and sum(c.rows for c in current) + chunk.rows <= MERGE_LIMIT * target:  # type: ignore[union-attr]
            current.append(chunk)  # type: ignore[arg-type]
            continue
        if len(current) > 1 and math.ceil(sum(c.rows for c in current) / target) < len(current):
            runs.append(current)
        current = [chunk] if small else []  # type: ignore[list-item]
    return runs


def id_units(chunks: Sequence[ChunkRecord], target: int) -> list[list[ChunkRecord]]:
    """What compaction rewrites of an ID layout: each set of chunks whose id ranges overlap
    (a read of one id there touches several files; re-cut, they hold disjoint ranges), and
    the runs of small chunks between them worth merging (see :func:`merge_runs`).

    Example
    -------
    >>> from dataclasses import replace
    >>> c = ChunkRecord("c", "id:u", 0, 0, "k", 1000, 1, "", 1, "t", 0)
    >>> ranges = [(0, 10), (5, 20), (30, 40), (50, 60)]
    >>> [len(u) for u in id_units([replace(c, lo=a, hi=b) for a, b in ranges], 1000)]
    [2]
    """
    groups: list[list[ChunkRecord]] = []
    top: Any = None
    for chunk in sorted(chunks, key=lambda c: (c.lo, c.rank)):
        if groups and chunk.lo <= top:
            groups[-1].append(chunk)
            top = max(top, chunk.hi)
        else:
            groups.append([chunk])
            top = chunk.hi
    units: list[list[ChunkRecord]] = []
    singles: list[ChunkRecord] = []
    for group in [*groups, []]:
        if len(group) == 1:
            singles.append(group[0])
            continue
        units.extend(merge_runs(singles, target))  # the small ones between overlaps
        singles = []
        if group:
            units.append(group)
    return units


def _merge(
    store: Store, head: FrameHead, run: tuple[Layout, list[ChunkRecord]], target: int
) -> list[tuple[PlannedChunk, tuple[int, int] | None]]:
    """One run's rows, cut into chunks of ``target`` rows that take the run's first places;
    an ID layout's are sorted by id and cut between ids (disjoint ranges)."""
    layout, chunks = run
    frame = pl.concat([_read(store, head, c, head.schema) for c in chunks], how="vertical")
    if layout.kind == "id":
        return _places(_id_cut(frame, layout, head, target)[0], chunks)
    pieces = kind_of(layout).plan(frame, layout, _where(head, target))
    return list(zip(pieces, [c.rank for c in chunks], strict=False))


def _places(
    pieces: list[PlannedChunk], chunks: Sequence[ChunkRecord]
) -> list[tuple[PlannedChunk, tuple[int, int] | None]]:
    """New chunks with the places of the ones they replace (None beyond them: placed by the
    commit; an ID layout orders its chunks by range first)."""
    ranks: list[tuple[int, int] | None] = [c.rank for c in chunks]
    ranks += [None] * max(0, len(pieces) - len(ranks))
    return list(zip(pieces, ranks[: len(pieces)], strict=True))


def _id_cut(
    frame: pl.DataFrame, layout: Layout, head: FrameHead, target: int, *, hold_rest: bool = False
) -> tuple[list[PlannedChunk], pl.DataFrame | None]:
    """``frame`` sorted by id and cut into chunks of ``target`` rows, each cut moved past
    the rows of the id it would split (so the chunks' id ranges are disjoint); the last
    rows, fewer than ``target``, are held back (``hold_rest``: for the next window) or,
    when fewer than half a target, join the chunk before them."""
    if frame.height == 0:
        return [], None
    helper = spare_name(frame, "__id__")
    ordered = frame.with_columns(integer_ids(frame[layout.column]).alias(helper))
    ordered = ordered.sort(helper, maintain_order=True)
    ids, frame = ordered[helper], ordered.drop(helper)
    bounds = [0]
    while bounds[-1] + target < frame.height:
        cut = bounds[-1] + target
        same = ids[cut - 1]
        if ids[cut] == same:  # move the cut past the rows of the id it would split
            cut += int((ids.slice(cut) == same).sum())
        if cut >= frame.height:
            break
        bounds.append(cut)
    bounds.append(frame.height)
    rest = None
    if frame.height - bounds[-2] < target:
        if hold_rest:
            rest = frame.slice(bounds[-2])
            bounds.pop()
        elif len(bounds) > 2 and frame.height - bounds[-2] < target // 2:
            bounds.pop(-2)
    pieces: list[PlannedChunk] = []
    for start, stop in zip(bounds, bounds[1:], strict=False):
        part = frame.slice(start, stop - start)
        pieces.extend(kind_of(layout).plan(part, layout, _where(head, part.height)))
    return pieces, rest


def _recut(
    store: Store, head: FrameHead, layout: Layout, unit: list[ChunkRecord], target: int
) -> list[WrittenChunk]:
    """A unit of overlapping ID chunks too large to hold at once, re-cut window by window:
    id ranges of about ``MERGE_LIMIT / 2`` targets' rows (estimated from the chunks' ranges
    and rows), each read from the chunks that overlap it, sorted, cut and written at once,
    so memory holds one window's rows."""
    ranks = iter([c.rank for c in unit])
    out: list[WrittenChunk] = []
    windows = id_windows(unit, MERGE_LIMIT * target // 2)
    rest: pl.DataFrame | None = None  # the last rows of a window, fewer than a target
    for number, (lo, hi) in enumerate(windows):
        inside = [c for c in unit if c.lo <= hi and c.hi >= lo]  # type: ignore[operator]

        def part(chunk: ChunkRecord, lo: int = lo, hi: int = hi) -> pl.DataFrame:
            rows = _read(store, head, chunk, head.schema)
            ids = integer_ids(rows[layout.column])
            return rows.filter((ids >= lo) & (ids <= hi))

        held = [] if rest is None else [rest]
        frame = pl.concat([*held, *store.map(part, inside, "compacting")], how="vertical")
        last = number == len(windows) - 1
        cut, rest = _id_cut(frame, layout, head, target, hold_rest=not last)
        del frame
        places = [next(ranks, None) for _ in cut]
        for written in put_chunks(store, cut, head.format, places, flush=False):
            # the rows are in the file: let them go
            out.append(dataclasses.replace(written, planned=_emptied(written.planned)))
        del cut
    store.blobs.flush()
    return out


def _emptied(planned: PlannedChunk) -> PlannedChunk:
    return dataclasses.replace(planned, frame=pl.DataFrame())


def id_windows(unit: Sequence[ChunkRecord], rows: int) -> list[tuple[int, int]]:
    """Consecutive id ranges ``[lo, hi]`` covering ``unit``'s chunks, each of about ``rows``
    rows if each chunk's rows spread evenly over its range.

    Example
    -------
    >>> from dataclasses import replace
    >>> c = ChunkRecord("c", "id:u", 0, 99, "k", 100, 1, "", 1, "t", 0)
    >>> id_windows([c, replace(c, lo=50, hi=149)], 100)
    [(0, 74), (75, 149)]
    """
    edges = sorted({int(c.lo) for c in unit} | {int(c.hi) + 1 for c in unit})  # type: ignore[call-overload]
    windows: list[tuple[int, int]] = []
    start, held = edges[0], 0.0
    for left, right in zip(edges, edges[1:], strict=False):
        density = sum(
            c.rows / (int(c.hi) - int(c.lo) + 1)  # type: ignore[call-overload]
            for c in unit
            if c.lo <= left and c.hi >= right - 1  # type: ignore[operator]
        )
        at = left
        while density and held + density * (right - at) >= rows:
            step = max(1, math.ceil((rows - held) / density))
            at = min(right, at + step)
            windows.append((start, at - 1))
            start, held = at, 0.0
            if at >= right:
                break
        held += density * (right - at)
    if start < edges[-1]:
        windows.append((start, edges[-1] - 1))
    return windows
