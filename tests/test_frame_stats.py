"""What ``list()`` says a frame covers (per layout: the days or ids, rows, chunk files, average
chunk rows, bytes on storage) stays true through appends, ``keep_last``, edits (replace,
delete_rows, compact, overwrite, removing a batch key) and on stores written before pandasdb
kept these figures; and ``list()`` reads them from the heads, not from the chunk index."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pandas as pd

import pandasdb_core as pdb
from pandasdb_core.records import LayoutStats
from pandasdb_core.stats import stats_of
from pandasdb_core.visibility import visible

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1"


def rows(days: list[str], ids: list[int], start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(days, utc=True),
            "uid": ids,
            "v": range(start, start + len(days)),
        }
    )


def truth(db: pdb.Store, name: str) -> tuple[LayoutStats, ...]:
    """The figures as the chunk index says (counted afresh), checked against the data read
    back and the files on storage."""
    head = db.head(name)
    frame = db.get(name)
    sizes = {b.key: b.size for b in db.blobs.list(f"{name}/")}
    out = []
    for layout in head.layouts:
        chunks = visible(db.meta, head.frame_id, layout.tag, head.version)
        stats = stats_of(layout, chunks)
        assert stats.rows == len(frame), "every layout holds every row once"
        assert stats.bytes == sum(sizes[c.key] for c in chunks), "bytes are those on storage"
        if layout.kind == "date" and len(frame):
            days = pd.to_datetime(frame[layout.column], utc=True).dt.strftime("%Y-%m-%d")
            assert (stats.lo, stats.hi) == (days.min(), days.max())
        if layout.kind == "id" and len(frame):
            assert (stats.lo, stats.hi) == (frame[layout.column].min(), frame[layout.column].max())
        out.append(stats)
    return tuple(out)


def listed(db: pdb.Store, name: str) -> pdb.FrameInfo:
    return next(f for f in db.list() if f.name == name)


def test_appends_keep_ranges_rows_chunks_and_bytes(db):
    db.upload(
        rows(["2024-01-05", "2024-01-03"], [30, 10]), "f", columns_keys={"ts": "Date", "uid": "ID"}
    )
    db.upload(rows(["2024-01-01", "2024-01-09", "2024-01-09"], [50, 5, 20]), "f")
    info = listed(db, "f")
    date, ids = info.stats
    assert (date.layout, date.lo, date.hi, date.rows, date.chunks) == (
        "date:ts",
        "2024-01-01",
        "2024-01-09",
        5,
        4,
    )
    assert (ids.layout, ids.lo, ids.hi, ids.rows, ids.chunks) == ("id:uid", 5, 50, 5, 2)
    assert date.avg_chunk_rows == 1.25 and ids.avg_chunk_rows == 2.5
    assert info.stats == truth(db, "f")
    assert info.bytes == date.bytes + ids.bytes and info.chunks == 6


def test_keep_last_on_batches_and_on_a_partitioned_frame(db):
    for key, values in (("a", [1, 2]), ("b", [3]), ("a", [4, 5, 6])):
        db.upload(pd.DataFrame({"x": values}), "runs", external_key=key)
    db.upload(pd.DataFrame({"x": [7]}), "runs", external_key="a", keep_last=True)
    (batch,) = listed(db, "runs").stats
    assert (batch.rows, batch.chunks, batch.lo, batch.hi) == (2, 2, None, None)
    assert listed(db, "runs").stats == truth(db, "runs")

    db.upload(rows(["2024-01-01", "2024-02-01"], [1, 2]), "p", columns_keys={"ts": "Date"})
    db.upload(rows(["2024-01-15"], [3]), "p", keep_last=True)
    (date,) = listed(db, "p").stats
    assert (date.rows, date.chunks, date.lo, date.hi) == (1, 1, "2024-01-15", "2024-01-15")
    assert listed(db, "p").stats == truth(db, "p")


def test_edits_keep_the_figures_true(db):
    db.upload(
        rows(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], [1, 2, 3, 4]),
        "f",
        columns_keys={"ts": "Date", "uid": "ID"},
    )
    db.upload(rows(["2024-01-04"], [9]), "f")
    db.delete_rows("f", start_date="2024-01-01", end_date="2024-01-01")  # the first day
    date, ids = listed(db, "f").stats
    assert (date.lo, date.hi, ids.lo, ids.hi, date.rows) == ("2024-01-02", "2024-01-04", 2, 9, 4)
    assert listed(db, "f").stats == truth(db, "f")

    db.delete_rows("f", partition_value=9)  # the highest id, part of a chunk
    assert listed(db, "f").stats[1].hi == 4
    assert listed(db, "f").stats == truth(db, "f")

    db.replace(
        "f", rows(["2024-01-03"], [7], start=100), start_date="2024-01-03", end_date="2024-01-03"
    )
    db.upload(rows(["2024-01-20"], [0]), "f", mode="replace_partitions")
    date, ids = listed(db, "f").stats
    assert (date.hi, ids.lo) == ("2024-01-20", 0)
    assert listed(db, "f").stats == truth(db, "f")

    before = listed(db, "f").stats
    db.compact("f")
    after = listed(db, "f").stats
    assert [(s.rows, s.lo, s.hi) for s in after] == [(s.rows, s.lo, s.hi) for s in before]
    assert sum(s.chunks for s in after) < sum(s.chunks for s in before)
    assert after == truth(db, "f")

    db.upload(rows(["2024-03-01"], [5]), "f", mode="overwrite")
    date, _ = listed(db, "f").stats
    assert (date.lo, date.hi, date.rows, date.chunks) == ("2024-03-01", "2024-03-01", 1, 1)
    assert listed(db, "f").stats == truth(db, "f")


def test_removing_a_batch_key_and_overwriting_batches():
    db = pdb.open("memory://", chunk_rows=2)
    db.upload(pd.DataFrame({"x": [1, 2, 3]}), "runs", external_key="a")
    db.upload(pd.DataFrame({"x": [4]}), "runs", external_key="b")
    db.delete("runs", external_key="a")
    assert [(s.rows, s.chunks) for s in listed(db, "runs").stats] == [(1, 1)]
    db.upload(pd.DataFrame({"x": [5, 6]}), "runs", external_key="c", mode="overwrite")
    assert [(s.rows, s.chunks) for s in listed(db, "runs").stats] == [(2, 1)]
    assert listed(db, "runs").stats == truth(db, "runs")


def test_any_sequence_of_writes_and_edits_keeps_the_figures_true():
    """A seeded random walk of appends, edits and compactions on a Date + ID frame."""
    rng = random.Random(17)
    db = pdb.open("memory://", chunk_rows=3)
    days = [f"2024-01-{d:02d}" for d in range(1, 11)]

    def some(n: int, start: int) -> pd.DataFrame:
        return rows(
            [rng.choice(days) for _ in range(n)], [rng.randint(0, 60) for _ in range(n)], start
        )

    db.upload(some(6, 0), "walk", columns_keys={"ts": "Date", "uid": "ID"})
    for step in range(30):
        action = rng.choice(
            ["append", "delete_day", "delete_ids", "replace", "partitions", "compact"]
        )
        lo, hi = sorted(rng.sample(days, 2))
        if action == "append":
            db.upload(some(rng.randint(1, 5), step * 10), "walk")
        elif action == "delete_day":
            db.delete_rows("walk", start_date=lo, end_date=hi)
        elif action == "delete_ids":
            first = rng.randint(0, 60)
            db.delete_rows("walk", start_id=first, end_id=first + rng.randint(0, 10))
        elif action == "replace":
            db.replace(
                "walk", rows([lo], [rng.randint(0, 60)], step * 10), start_date=lo, end_date=hi
            )
        elif action == "partitions":
            db.upload(some(2, step * 10), "walk", mode="replace_partitions")
        else:
            db.compact("walk")
        assert listed(db, "walk").stats == truth(db, "walk"), f"step {step}: {action}"


def test_a_store_written_before_the_figures_gets_them_from_its_index(tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(FIXTURE, copy)
    db = pdb.open(copy)
    assert db.meta.head("sales/daily").stats == (), "format 1: no figures recorded"
    for info in db.list():
        assert info.stats == truth(db, info.name)
    (sales,) = listed(db, "sales/daily").stats
    assert (sales.lo, sales.hi, sales.rows) == ("2024-01-01", "2024-01-03", 14)
    db.upload(rows(["2024-01-07"], [1]).drop(columns="uid"), "sales/daily")
    stored = db.meta.head("sales/daily").stats
    assert stored and stored[0].hi == "2024-01-07" and stored == truth(db, "sales/daily")


def test_list_reads_the_heads_only(monkeypatch):
    db = pdb.open("memory://")
    db.upload(rows(["2024-01-01"], [1]), "f", columns_keys={"ts": "Date"})

    def no_index(*args, **kwargs):
        raise AssertionError("list() read the chunk index")

    monkeypatch.setattr(db.meta, "chunks", no_index)
    monkeypatch.setattr(db.meta, "versions", no_index)
    assert listed(db, "f").stats[0].lo == "2024-01-01"
