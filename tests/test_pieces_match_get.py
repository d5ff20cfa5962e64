"""Property: a read in pieces (``iter_batches`` in both engines, ``to_dask``, the SDK's
``iter_batches``) returns what ``get`` returns, with ``get``'s dtypes in every piece, whatever
wrote the frame's chunks.

Random sequences of writes build a local store (csv.gz and parquet; Date, ID, both and batch
layouts, three rows a chunk): appends of pandas and polars frames with int8..uint64 and
boolean columns with and without nulls (pandas ``int64`` beside ``Int64``, polars with
``None``, columns of nulls only, typed or of no type), columns left out or first brought by a
later write (older chunks lack them), an index that later writes leave out, ``keep_last``
and overwrites, ``replace_partitions``, streamed uploads (an iterator of frames), upload
sessions, both with a first piece whose columns hold nulls only, ``delete_rows``, ``delete``
of an external key, ``replace`` and ``compact``. Then random reads (days cut inside by times,
id ranges and lists, external keys and ``use_last``, ``columns=``, ``as_of`` older versions,
batches of a few rows and one per file) compare the pieces with ``get``; and again after some
chunks are made to look as an older pandasdb wrote them (``nulls`` NULL in the SQLite index),
whose files a read reads for their nulls.

Each chunk records its integer and boolean columns holding a null when it is written
(``ChunkRecord.nulls``), and reads trust it. A column of nulls only written without a type
(polars ``None``s, pandas ``object`` ``None``s) is recorded as ``Null``; a later write may
type it (``Int64``), so its chunks name it among their nulls too, or a read in pieces would
give their batches ``int64`` where ``get`` gives ``Int64``
(see ``test_a_column_typed_after_its_chunks_were_written_is_null_in_them``)."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import polars.testing
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from serving import serving

import pandasdb_core as pdb
from pandasdb_core.operations import UploadOptions
from pandasdb_core.sessions import UploadSession

#: the value columns: name -> numpy dtype of their values
KINDS = {
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
    "u8": "uint8",
    "u16": "uint16",
    "u32": "uint32",
    "u64": "uint64",
    "b": "bool",
}
POLARS = {
    "int8": pl.Int8,
    "int16": pl.Int16,
    "int32": pl.Int32,
    "int64": pl.Int64,
    "uint8": pl.UInt8,
    "uint16": pl.UInt16,
    "uint32": pl.UInt32,
    "uint64": pl.UInt64,
    "bool": pl.Boolean,
}
#: how a write gives a column: left out, values only, some nulls, nulls only
FORMS = ["absent", "plain", "nulls", "allnull"]
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
LAYOUTS: dict[str, dict[str, str] | None] = {
    "date": {"ts": "Date"},
    "id": {"uid": "ID"},
    "both": {"ts": "Date", "uid": "ID"},
    "batch": None,
}
KEYS = ["a", "b"]
#: whether a column of nulls only may be written without a type (recorded as Null until a
#: later write types it)
UNTYPED = True
#: hypothesis settings: no shrinking (a sequence of writes shrinks for many minutes; the
#: failing example is printed as drawn), the same examples every run
FUZZ = settings(
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def extremes(kind: str) -> list[Any]:
    dtype = KINDS[kind]
    if dtype == "bool":
        return [True, False]
    info = np.iinfo(dtype)
    return sorted({int(info.min), 0, 1, int(info.max)})


def pandas_nullable(kind: str) -> str:
    dtype = KINDS[kind]
    return "boolean" if dtype == "bool" else dtype.capitalize().replace("Uint", "UInt")


class Writer:
    """Builds the frames of the writes from a seed and each write's drawn shape."""

    def __init__(self, seed: int, indexed: bool) -> None:
        self.rng = np.random.default_rng(seed)
        #: pandas frames carry an index ``k`` (the first write always, later ones sometimes;
        #: polars frames never)
        self.indexed = indexed

    def column(self, kind: str, form: str, n: int, engine: str, typed: bool) -> Any:
        values = self.rng.choice(np.array(extremes(kind), dtype=object), n)
        mask = self.rng.random(n) < 0.5 if form == "nulls" else np.full(n, form == "allnull")
        # nulls only, of no type: always while the column has no recorded type
        untyped = form == "allnull" and UNTYPED and (not typed or self.rng.random() < 0.3)
        if engine == "polars":
            if untyped:
                return pl.Series([None] * n)
            cells = [None if m else v for v, m in zip(values, mask, strict=True)]
            return pl.Series(cells, dtype=POLARS[KINDS[kind]])
        if form == "allnull" and typed and KINDS[kind] != "bool" and self.rng.random() < 0.3:
            return pd.Series([np.nan] * n)  # pandas' empty numeric column: floats
        if untyped:
            return pd.Series([None] * n, dtype=object)
        if form == "plain" and self.rng.random() < 0.7:
            return pd.Series(values.astype(KINDS[kind]))
        cells = [pd.NA if m else v for v, m in zip(values, mask, strict=True)]
        return pd.Series(cells, dtype=pandas_nullable(kind))

    def frame(
        self,
        forms: dict[str, str],
        n: int,
        engine: str,
        typed: set[str],
        *,
        optional: tuple[str, ...],
        days: list[str] = DAYS,
        uids: tuple[int, int] = (0, 20),
        first: bool = False,
    ) -> pd.DataFrame | pl.DataFrame:
        """``n`` rows of the columns ``forms`` gives, and ``ts`` (in ``days``) and ``uid`` (in
        ``uids``) unless in ``optional`` (sometimes left out)."""
        day = self.rng.choice(days, n)
        minutes = self.rng.integers(0, 24 * 60, n)
        ts = pd.to_datetime(day).as_unit("ns") + pd.to_timedelta(minutes, unit="min")
        uid = self.rng.integers(uids[0], uids[1] + 1, n)
        cols = {
            kind: self.column(kind, form, n, engine, kind in typed)
            for kind, form in forms.items()
            if form != "absent"
        }
        keys = [k for k in ("ts", "uid") if k not in optional or self.rng.random() < 0.7]
        keys = keys or ([] if cols else ["uid"])
        if engine == "polars":
            frame = pl.DataFrame({"ts": pl.Series(ts.to_numpy()), "uid": pl.Series(uid), **cols})
            return frame.drop([k for k in ("ts", "uid") if k not in keys])
        out = pd.DataFrame({"ts": ts.to_numpy(), "uid": uid})[keys]
        for kind, column in cols.items():
            out[kind] = column.array
        if self.indexed and (first or self.rng.random() < 0.6):
            out.index = pd.Index(self.rng.integers(-5, 5, n), name="k")
        return out


forms_of = st.fixed_dictionaries({k: st.sampled_from(FORMS) for k in KINDS})
rows = st.integers(1, 7)
engines = st.sampled_from(["pandas", "polars"])
pieces_of = st.lists(st.tuples(forms_of, rows), min_size=1, max_size=3)
day_bounds = st.tuples(st.sampled_from(DAYS), st.sampled_from(DAYS)).map(sorted)
id_bounds = st.tuples(st.integers(0, 20), st.integers(0, 20)).map(sorted)
times = st.sampled_from([None, "00:00", "05:30", "12:00", "23:59"])
operations = st.one_of(
    st.tuples(st.just("append"), forms_of, rows, engines),
    st.tuples(st.just("overwrite"), forms_of, rows, engines),
    st.tuples(st.just("replace_partitions"), forms_of, rows, engines),
    st.tuples(st.just("stream"), pieces_of, st.booleans()),
    st.tuples(st.just("session"), pieces_of, st.booleans()),
    st.tuples(st.just("delete_days"), day_bounds, times, times),
    st.tuples(st.just("delete_ids"), id_bounds, st.booleans()),
    st.tuples(st.just("replace"), forms_of, rows, day_bounds, id_bounds),
    st.tuples(st.just("compact"), st.integers(1, 8)),
)
shapes = {
    "layout": st.sampled_from(list(LAYOUTS)),
    "fmt": st.sampled_from(["csv.gz", "parquet"]),
    "seed": st.integers(0, 2**32 - 1),
    "indexed": st.booleans(),
    "first": st.tuples(forms_of, rows, engines),
    "steps": st.lists(operations, min_size=1, max_size=6),
}


class Frame:
    """The frame under test, in a local store, and the writes to it."""

    def __init__(
        self, root: Path, name: str, layout: str, fmt: str, seed: int, indexed: bool
    ) -> None:
        self.root, self.name, self.layout, self.fmt = root, name, layout, fmt
        self.writer = Writer(seed, indexed)
        self.db = pdb.open(root, chunk_rows=3)
        self.keys: set[str] = set()

    @property
    def dated(self) -> bool:
        return self.layout in ("date", "both")

    @property
    def ided(self) -> bool:
        return self.layout in ("id", "both")

    @property
    def optional(self) -> tuple[str, ...]:
        """The columns no layout of the frame partitions by."""
        return tuple(k for k in ("ts", "uid") if k not in (LAYOUTS[self.layout] or {}))

    def typed(self) -> set[str]:
        """The columns recorded with a type (not Null: nulls only, so far)."""
        head = self.db.find_head(self.name)
        if head is None:
            return set()
        return {c["name"] for c in head.schema["columns"] if c["dtype"]["type"] != "Null"}

    def options(self, key: str) -> dict[str, Any]:
        batch = {"external_key": key} if self.layout == "batch" else {}
        if self.db.find_head(self.name) is None:
            return {"columns_keys": LAYOUTS[self.layout], "format": self.fmt, **batch}
        return batch

    def frame(self, forms: dict[str, str], n: int, engine: str, **where: Any) -> Any:
        return self.writer.frame(forms, n, engine, self.typed(), optional=self.optional, **where)

    def build(self, first: tuple, steps: list[tuple]) -> None:
        forms, n, engine = first
        engine = "pandas" if self.writer.indexed else engine  # the index is recorded
        self.db.upload(self.frame(forms, n, engine, first=True), self.name, **self.options("a"))
        self.keys.add("a")
        for step in steps:
            self.apply(step)

    def apply(self, step: tuple) -> None:
        kind, db, name = step[0], self.db, self.name
        key = KEYS[int(self.writer.rng.integers(0, len(KEYS)))]
        if kind in ("append", "overwrite", "replace_partitions"):
            _, forms, n, engine = step
            mode: dict[str, Any] = {}
            if kind == "overwrite":
                mode = {"keep_last": True} if self.layout == "batch" else {"mode": "overwrite"}
            elif kind == "replace_partitions":
                mode = {"mode": "replace_partitions"}
            db.upload(self.frame(forms, n, engine), name, **self.options(key), **mode)
            self.keys.add(key)
        elif kind in ("stream", "session"):
            _, pieces, polars = step
            frames = []
            for i, (forms, n) in enumerate(pieces):
                if i == 0 and len(pieces) > 1:  # nulls only, typed by the pieces after it
                    forms = {k: "allnull" if f == "nulls" else f for k, f in forms.items()}
                engine = "polars" if polars or (kind == "session" and i % 2) else "pandas"
                frames.append(self.frame(forms, n, engine))
            if kind == "stream":
                db.upload(iter(frames), name, **self.options(key))
            else:
                options = UploadOptions.build(name=name, **self.options(key))
                session = UploadSession.open(db, options)
                for i, df in enumerate(frames):
                    session.write_piece(i, df)
                session.commit(pieces=len(frames))
            self.keys.add(key)
        elif kind == "delete_days":
            _, (lo, hi), t0, t1 = step
            start = lo if t0 is None else f"{lo} {t0}"
            end = hi if t1 is None else f"{hi} {t1}"
            if self.dated and start <= end:
                db.delete_rows(name, start_date=start, end_date=end)
            elif self.layout == "batch" and len(self.keys) > 1:
                db.delete(name, external_key=key)
                self.keys.discard(key)
        elif kind == "delete_ids" and self.ided:
            _, (lo, hi), listed = step
            if listed:
                db.delete_rows(name, partition_value=sorted({lo, hi}))
            else:
                db.delete_rows(name, start_id=lo, end_id=hi)
        elif kind == "replace":
            _, forms, n, (d0, d1), (i0, i1) = step
            if self.dated:
                days = DAYS[DAYS.index(d0) : DAYS.index(d1) + 1]
                rows_in = self.frame(forms, n, "polars", days=days)
                db.replace(name, rows_in, start_date=d0, end_date=d1)
            elif self.ided:
                rows_in = self.frame(forms, n, "pandas", uids=(i0, i1))
                db.replace(name, rows_in, start_id=i0, end_id=i1)
        elif kind == "compact" and self.layout != "batch":
            db.compact(name, target_rows=step[1])

    def forget_nulls(self, share: float) -> int:
        """Make about ``share`` of the frame's chunks look as an older pandasdb wrote them
        (no ``nulls`` recorded); how many it chose."""
        frame_id = self.db.head(self.name).frame_id
        with sqlite3.connect(next(self.root.rglob("*.sqlite3"))) as meta:
            ids = [
                r[0]
                for r in meta.execute("SELECT rowid FROM chunks WHERE frame_id = ?", (frame_id,))
            ]
            chosen = [(i,) for i in ids if self.writer.rng.random() < share]
            meta.executemany("UPDATE chunks SET nulls = NULL WHERE rowid = ?", chosen)
        return len(chosen)


@st.composite
def queries(draw: st.DrawFn, frame: Frame) -> dict[str, Any]:
    """A read's filters: of the frame's layouts, ``columns=`` and ``as_of``."""
    head = frame.db.head(frame.name)
    filters: dict[str, Any] = {}
    version = draw(st.one_of(st.none(), st.integers(head.min_version, head.version)))
    if version is not None:
        filters["as_of"] = version
    if frame.dated and draw(st.booleans()):
        (lo, hi), t0, t1 = draw(day_bounds), draw(times), draw(times)
        start = lo if t0 is None else f"{lo} {t0}"
        end = hi if t1 is None else f"{hi} {t1}"
        if start <= end:
            if draw(st.booleans()):
                filters["start_date"] = start
            if draw(st.booleans()):
                filters["end_date"] = end
    if frame.ided and draw(st.booleans()):
        lo, hi = draw(id_bounds)
        choice = draw(st.sampled_from(["range", "start", "end", "list"]))
        if choice == "list":
            filters["partition_value"] = sorted({lo, hi, draw(st.integers(0, 20))})
        if choice in ("range", "start"):
            filters["start_id"] = lo
        if choice in ("range", "end"):
            filters["end_id"] = hi
    if frame.layout == "batch" and draw(st.booleans()):
        filters["external_key"] = draw(st.sampled_from(KEYS))
        filters["use_last"] = draw(st.booleans())
    if draw(st.booleans()):
        at = head.version if version is None else version
        present = [c["name"] for c in head.schema["columns"] if c["since"] <= at]
        filters["columns"] = draw(
            st.lists(st.sampled_from(present), min_size=1, max_size=4, unique=True)
        )
    return filters


def dtypes_of(frame: pd.DataFrame) -> list[Any]:
    return [*frame.dtypes, frame.index.dtype]


def same_pieces(pieces: list[pd.DataFrame], whole: pd.DataFrame, where: Any) -> None:
    """Every piece has ``whole``'s dtypes (index too), and together they are ``whole``."""
    for piece in pieces:
        assert dtypes_of(piece) == dtypes_of(whole), (where, dtypes_of(piece), dtypes_of(whole))
    if not pieces:
        assert len(whole) == 0, where
        return
    named = any(level is not None for level in whole.index.names)
    pd.testing.assert_frame_equal(pd.concat(pieces, ignore_index=not named), whole, obj=str(where))


def same_polars_pieces(parts: list[pl.DataFrame], whole: pl.DataFrame, where: Any) -> None:
    for part in parts:
        assert part.schema == whole.schema, where
    if parts:
        polars.testing.assert_frame_equal(pl.concat(parts), whole)
    else:
        assert whole.height == 0, where


def check_read(
    db: Any, name: str, filters: dict[str, Any], batch_rows: int | None, dask: bool
) -> pd.DataFrame:
    """The pieces of one read against ``get``'s frame, which it returns."""
    where = (filters, batch_rows)
    whole = db.get(name, **filters)
    same_pieces(list(db.iter_batches(name, batch_rows=batch_rows, **filters)), whole, where)
    same_polars_pieces(
        list(db.iter_batches(name, batch_rows=batch_rows, engine="polars", **filters)),
        db.get(name, engine="polars", **filters),
        where,
    )
    if dask:
        ddf = db.to_dask(name, **filters)
        assert list(ddf._meta.dtypes) == list(whole.dtypes), ("dask meta", where)
        partitions = [
            ddf.get_partition(i).compute(scheduler="sync") for i in range(ddf.npartitions)
        ]
        same_pieces(partitions, whole, ("dask", where))
    return whole


@settings(FUZZ, max_examples=30)
@given(**shapes, data=st.data())
def test_pieces_match_get(tmp_path_factory, layout, fmt, seed, indexed, first, steps, data):
    note(f"{layout=} {fmt=} {seed=} {indexed=}\n{first=}\n{steps=}")
    frame = Frame(tmp_path_factory.mktemp("store"), "f", layout, fmt, seed, indexed)
    frame.build(first, steps)
    reads = [
        (data.draw(queries(frame)), data.draw(st.sampled_from([None, 1, 2, 3, 5])), i == 0)
        for i in range(4)
    ]
    results = [check_read(frame.db, "f", *read) for read in reads]
    if not frame.forget_nulls(data.draw(st.sampled_from([0.3, 1.0]))):
        return
    frame.db = pdb.open(frame.root)  # the index as an older pandasdb left it
    for (filters, batch_rows, dask), whole in zip(reads, results, strict=True):
        again = check_read(frame.db, "f", filters, batch_rows, dask)
        pd.testing.assert_frame_equal(again, whole)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A local store and the SDK connected to ``pandasdb serve`` of it."""
    root = tmp_path_factory.mktemp("served")
    pdb.open(root)
    with serving(root, workers=1) as url:
        yield root, pdb.connect(url)


names = itertools.count()


@settings(FUZZ, max_examples=6)
@given(**shapes, data=st.data())
def test_the_sdks_pieces_match_get(served, layout, fmt, seed, indexed, first, steps, data):
    root, remote = served
    name = f"f{next(names)}"
    note(f"{name=} {layout=} {fmt=} {seed=} {indexed=}\n{first=}\n{steps=}")
    frame = Frame(root, name, layout, fmt, seed, indexed)
    frame.build(first, steps)
    for forget in (False, True):
        if forget:
            frame.forget_nulls(data.draw(st.sampled_from([0.3, 1.0])))
        for _ in range(3):
            filters = data.draw(queries(frame))
            batch_rows = data.draw(st.sampled_from([None, 1, 3]))
            where = (name, filters, batch_rows)
            whole = frame.db.get(name, **filters)
            pd.testing.assert_frame_equal(remote.get(name, **filters), whole)
            pieces = list(remote.iter_batches(name, batch_rows=batch_rows, **filters))
            same_pieces(pieces, whole, where)
            same_polars_pieces(
                list(remote.iter_batches(name, batch_rows=batch_rows, engine="polars", **filters)),
                frame.db.get(name, engine="polars", **filters),
                where,
            )


# ------------------------------------------------------------------------ what the fuzz found


def nulls_only(engine: str, ts: pd.DatetimeIndex) -> Any:
    """A frame whose column ``a`` holds nulls only, of no type."""
    if engine == "polars":
        return pl.DataFrame({"ts": pl.Series(ts.to_numpy()), "a": [None] * len(ts)})
    return pd.DataFrame({"ts": ts, "a": pd.Series([None] * len(ts), dtype=object)})


@pytest.mark.parametrize("engine", ["polars", "pandas"])
@pytest.mark.parametrize(
    "filters", [{}, {"start_date": "2024-01-01 09:00"}], ids=["whole", "within-a-day"]
)
def test_a_column_typed_after_its_chunks_were_written_is_null_in_them(tmp_path, engine, filters):
    # the first write records a as Null (nulls only, no type), and its chunk names no column
    # among its nulls; the second types a as Int64: the first chunk's rows are null there,
    # so get gives Int64, and every piece must (at git HEAD, which read the files, they did)
    db = pdb.open(tmp_path)
    ts = pd.to_datetime(["2024-01-01 10:00", "2024-01-01 12:00"]).as_unit("ns")
    db.upload(nulls_only(engine, ts), "f", columns_keys={"ts": "Date"})
    db.upload(pl.DataFrame({"ts": pl.Series(ts.to_numpy()), "a": [1, 2]}), "f")
    whole = db.get("f", **filters)
    assert whole["a"].dtype == "Int64"
    same_pieces(list(db.iter_batches("f", **filters)), whole, filters)
    assert db.to_dask("f", **filters)._meta["a"].dtype == "Int64"
