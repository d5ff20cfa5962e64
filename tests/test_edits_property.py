"""Property: any sequence of append / replace_partitions / replace / delete_rows / compact gives
the same rows as the same operations applied to a plain pandas frame, in every layout and in
every earlier version (``as_of``); ``check`` stays clean and a vacuum keeps every retained
version readable."""

from __future__ import annotations

import itertools

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pandasdb_core as pdb

DAYS = [f"2024-01-0{d}" for d in range(1, 6)]


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[str, int]]:
    """Rows as (day, uid): a few days, ids from a small range (so ranges overlap)."""
    return draw(
        st.lists(st.tuples(st.sampled_from(DAYS), st.integers(0, 30)), min_size=1, max_size=8)
    )


day_range = st.tuples(st.sampled_from(DAYS), st.sampled_from(DAYS)).map(sorted)
operations = st.one_of(
    st.tuples(st.just("append"), batches()),
    st.tuples(st.just("replace_partitions"), batches()),
    st.tuples(st.just("replace"), day_range, batches()),
    st.tuples(st.just("delete_days"), day_range),
    st.tuples(st.just("delete_ids"), st.tuples(st.integers(0, 30), st.integers(0, 30)).map(sorted)),
    st.tuples(st.just("compact"), st.integers(1, 6)),
)


class Model:
    """The frame as plain pandas: ``v`` numbers every row ever written."""

    def __init__(self) -> None:
        self.frame = pd.DataFrame(
            {"ts": pd.Series([], dtype="datetime64[ns, UTC]"), "uid": [], "v": []}
        )
        self.counter = itertools.count()

    def rows(self, spec: list[tuple[str, int]]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "ts": [
                    pd.Timestamp(day, tz="UTC") + pd.Timedelta(minutes=uid) for day, uid in spec
                ],
                "uid": [uid for _, uid in spec],
                "v": [next(self.counter) for _ in spec],
            }
        )

    def days(self) -> pd.Series:
        return self.frame["ts"].dt.strftime("%Y-%m-%d")

    def keep(self, mask: pd.Series) -> None:
        self.frame = self.frame[mask.to_numpy()]

    def add(self, new: pd.DataFrame) -> None:
        self.frame = pd.concat([self.frame, new], ignore_index=True) if len(self.frame) else new


def apply(db: pdb.Store, model: Model, op: tuple) -> None:
    kind = op[0]
    if kind == "append":
        new = model.rows(op[1])
        db.upload(new, "f")
        model.add(new)
    elif kind == "replace_partitions":
        new = model.rows(op[1])
        db.upload(new, "f", mode="replace_partitions")
        model.keep(~model.days().isin(set(new["ts"].dt.strftime("%Y-%m-%d"))))
        model.add(new)
    elif kind == "replace":
        (lo, hi), spec = op[1], op[2]
        inside = [(day, uid) for day, uid in spec if lo <= day <= hi] or [(lo, 0)]
        new = model.rows(inside)
        db.replace("f", new, start_date=lo, end_date=hi)
        model.keep(~model.days().between(lo, hi))
        model.add(new)
    elif kind == "delete_days":
        lo, hi = op[1]
        db.delete_rows("f", start_date=lo, end_date=hi)
        model.keep(~model.days().between(lo, hi))
    elif kind == "delete_ids":
        lo, hi = op[1]
        db.delete_rows("f", start_id=lo, end_id=hi)
        model.keep(~model.frame["uid"].between(lo, hi))
    else:
        db.compact("f", target_rows=op[1])


def same_rows(got: pd.DataFrame, expected: pd.DataFrame) -> bool:
    return sorted(got["v"].astype(int)) == sorted(expected["v"].astype(int))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.lists(operations, min_size=1, max_size=7))
def test_edits_match_a_pandas_model(first, ops):
    db = pdb.open("memory://", chunk_rows=3)
    model = Model()
    new = model.rows(first)
    db.upload(new, "f", columns_keys={"ts": "Date", "uid": "ID"})
    model.add(new)
    history = {1: model.frame}
    for op in ops:
        apply(db, model, op)
        history[db.versions("f")[-1].version] = model.frame
        for read in (db.get("f"), db.get("f", start_date="2024-01-01"), db.get("f", start_id=0)):
            assert same_rows(read, model.frame), op
    for version, frame in history.items():
        assert same_rows(db.get("f", as_of=version), frame)
    assert db.list()[0].rows == len(model.frame)
    assert db.check().ok
    db.vacuum(grace_seconds=0)
    for version, frame in history.items():
        assert same_rows(db.get("f", as_of=version, start_id=0), frame)
    assert db.check().ok
