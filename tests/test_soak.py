"""Concurrency soak: 8 writers mixing appends, date-partition appends and keep_last batches,
with readers running throughout, on local and on moto's server. 8 x 12 uploads by default,
8 x 50 with ``--soak``. Nothing is lost, no reader sees a partial version, versions are
contiguous."""

from __future__ import annotations

import threading

import polars as pl
import pytest

import pandasdb_core as pdb

WRITERS = 8
ROWS = 4


def batch(writer: int, i: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "day": [f"2024-02-{1 + (i * 7 + writer) % 28:02d}"] * ROWS,
            "writer": [writer] * ROWS,
            "i": [i] * ROWS,
            "k": list(range(ROWS)),
        }
    ).with_columns(pl.col("day").str.to_date())


@pytest.fixture(params=["local", "moto-server"])
def soak_db(request, tmp_path):
    if request.param == "local":
        return pdb.open(tmp_path / "store")
    return request.getfixturevalue("server_db")


def whole_uploads(frame: pl.DataFrame) -> bool:
    return frame.is_empty() or bool((frame.group_by("writer", "i").len()["len"] == ROWS).all())


def test_mixed_writers_and_readers(soak_db, soak):
    db = soak_db
    uploads = 50 if soak else 12
    errors: list[BaseException] = []
    partial_reads: list[str] = []
    reads = [0]
    stop = threading.Event()

    def write(writer: int) -> None:
        try:
            for i in range(uploads):
                rows = batch(writer, i)
                kind = i % 3
                if kind == 0:
                    db.upload(rows, "soak/dated", columns_keys={"day": "Date"})
                elif kind == 1:
                    db.upload(rows.drop("day"), "soak/appends")
                else:
                    db.upload(
                        rows.drop("day"), "soak/latest", external_key=f"w{writer}", keep_last=True
                    )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def read() -> None:
        while not stop.is_set():
            for name in ("soak/dated", "soak/appends", "soak/latest"):
                try:
                    frame = db.get(name, engine="polars")
                except pdb.FrameNotFound:
                    continue
                reads[0] += 1
                if not whole_uploads(frame):
                    partial_reads.append(name)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert partial_reads == [] and reads[0] > 0
    expected = {
        name: {(w, i) for w in range(WRITERS) for i in range(uploads) if i % 3 == kind}
        for name, kind in (("soak/dated", 0), ("soak/appends", 1))
    }
    for name, pairs in expected.items():
        frame = db.get(name, engine="polars")
        assert set(zip(frame["writer"], frame["i"], strict=True)) == pairs, name
        assert frame.height == len(pairs) * ROWS
        versions = [v.version for v in db.versions(name)]
        assert versions == list(range(1, len(pairs) + 1))
    latest = db.get("soak/latest", engine="polars")
    last_i = max(i for i in range(uploads) if i % 3 == 2)
    assert set(zip(latest["writer"], latest["i"], strict=True)) == {
        (w, last_i) for w in range(WRITERS)
    }
    print(f"soak: {WRITERS * uploads} uploads, {reads[0]} reads, 0 partial, 0 lost")
