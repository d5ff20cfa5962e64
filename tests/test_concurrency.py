"""Concurrent writers lose nothing; versions stay contiguous; readers see whole versions."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading

import pandas as pd
import pytest

import pandasdb_core as pdb


def rows(writer: int, i: int, n: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.to_datetime([f"2024-01-{1 + (i % 28):02d}"] * n, utc=True),
            "writer": [writer] * n,
            "seq": [i] * n,
            "k": list(range(n)),
        }
    )


@pytest.fixture(params=["memory", "local", "moto-server"])
def threaded_db(request, tmp_path):
    """A store and its (writers, uploads per writer): 4 x 25 locally, 8 x 10 on S3 + DynamoDB.

    moto's in-process mock is not thread-safe, so S3 + DynamoDB run on its HTTP server."""
    if request.param == "memory":
        return pdb.open("memory://"), (4, 25)
    if request.param == "local":
        return pdb.open(tmp_path / "store"), (4, 25)
    return request.getfixturevalue("server_db"), (8, 10)


def test_threads_appending_to_one_frame_lose_nothing(threaded_db):
    db, (writers, per_writer) = threaded_db
    errors: list[BaseException] = []
    seen_sizes: list[int] = []
    stop = threading.Event()

    def write(w: int) -> None:
        try:
            for i in range(per_writer):
                db.upload(rows(w, i), "shared", columns_keys={"ts": "Date"})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def read() -> None:
        while not stop.is_set():
            with contextlib.suppress(pdb.FrameNotFound):
                seen_sizes.append(len(db.get("shared", engine="polars")))

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    reader.join()
    assert errors == []
    back = db.get("shared")
    assert len(back) == writers * per_writer * 5
    assert set(zip(back.writer, back.seq, strict=True)) == {
        (w, i) for w in range(writers) for i in range(per_writer)
    }
    assert [v.version for v in db.versions("shared")] == list(range(1, writers * per_writer + 1))
    assert all(size % 5 == 0 for size in seen_sizes), "a reader saw part of a version"


def _process_writer(path: str, w: int, n: int) -> None:
    db = pdb.open(path)
    for i in range(n):
        if i % 3 == 2:
            db.upload(
                rows(w, i)[["writer", "seq", "k"]], "batches", external_key=f"w{w}", keep_last=True
            )
        db.upload(rows(w, i), "shared", columns_keys={"ts": "Date"})


def test_processes_on_the_local_store(tmp_path):
    path = str(tmp_path / "store")
    pdb.open(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, w, 25)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    db = pdb.open(path)
    shared = db.get("shared")
    assert len(shared) == 2 * 25 * 5
    assert set(zip(shared.writer, shared.seq, strict=True)) == {
        (w, i) for w in range(2) for i in range(25)
    }
    assert [v.version for v in db.versions("shared")] == list(range(1, 51))
    batches = db.get("batches")
    # each writer's key keeps only its last keep_last batch (i = 23)
    assert sorted(set(zip(batches.writer, batches.seq, strict=True))) == [(0, 23), (1, 23)]
