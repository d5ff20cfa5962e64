"""Fault injection along the edits of issue 15: fail the k-th storage operation of a
``replace_partitions`` upload, a ``delete_rows`` and a ``compact``, for every k and every
failure mode (error, timeout, an operation that lands but reports failure), on local files +
SQLite; and for every k, the modes in turn, on S3 + DynamoDB (moto).

After each fault: every committed version reads back unchanged, the edit happened entirely or
not at all (in both layouts of the frame), a retry succeeds, ``check`` finds nothing broken,
and a vacuum then leaves no orphan."""

from __future__ import annotations

import contextlib

import pandas as pd
import pytest
from moto import mock_aws
from pandas.testing import assert_frame_equal
from test_faults import Seeded, empty_store

from pandasdb_core.store import Store
from pandasdb_core.testing.faults import (
    MODES,
    FaultPlan,
    FaultyMetadataStore,
    InjectedFault,
    faulty,
)


def rows(day: str, values: list[int]) -> pd.DataFrame:
    moments = [pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=h) for h in range(len(values))]
    return pd.DataFrame({"ts": moments, "uid": [10 * v for v in values], "v": values})


def seeded(kind: str, tmp_path) -> Store:
    db = empty_store(kind, tmp_path)
    db.upload(rows("2024-01-01", [1, 2, 3]), "e", columns_keys={"ts": "Date", "uid": "ID"})
    db.upload(rows("2024-01-02", [4]), "e")
    db.upload(rows("2024-01-02", [5]), "e")
    return db


def values(frame: pd.DataFrame) -> list[int]:
    return sorted(frame["v"].tolist())


SCENARIOS = {
    "replace_partitions": lambda s: s.upload(
        rows("2024-01-02", [40, 41]), "e", mode="replace_partitions"
    ),
    "delete_rows": lambda s: s.delete_rows(
        "e", start_date="2024-01-01T01:00:00", end_date="2024-01-01T01:59:59"
    ),
    "compact": lambda s: s.compact("e"),
}
AFTER = {
    "replace_partitions": [1, 2, 3, 40, 41],
    "delete_rows": [1, 3, 4, 5],
    "compact": [1, 2, 3, 4, 5],
}


def check_outcome(scenario: str, db: Store, before: dict[int, pd.DataFrame]) -> None:
    """All or nothing, in both layouts, and nothing committed before is lost."""
    for version, frame in before.items():
        assert_frame_equal(db.get("e", as_of=version), frame)
    head = db.versions("e")[-1].version
    assert head in (3, 4)
    by_date = db.get("e", start_date="2024-01-01")
    by_id = db.get("e", start_id=0)
    expected = AFTER[scenario] if head == 4 else values(before[3])
    assert values(by_date) == values(by_id) == values(db.get("e")) == expected
    if scenario == "compact":
        assert_frame_equal(db.get("e"), before[3])


def versions_read(db: Store) -> dict[int, pd.DataFrame]:
    return {v: db.get("e", as_of=v) for v in (1, 2, 3)}


def seeded_once(kind: str, tmp_path) -> Seeded:
    """The seeded store, made once per test; each case runs on its own copy of it."""
    return Seeded(kind, tmp_path, seed=seeded, read=versions_read)


def run_case(seed: Seeded, scenario: str, fail_at: int, mode: str) -> int:
    db = seed.copy()
    before = seed.before
    plan = FaultPlan(fail_at=fail_at, mode=mode)  # type: ignore[arg-type]
    blobs, meta = faulty(db.blobs, db.meta, plan)
    with contextlib.suppress(InjectedFault, TimeoutError):
        SCENARIOS[scenario](Store(blobs, meta, chunk_rows=2))
    reopened = Store(db.blobs, db.meta, chunk_rows=2)  # what a new process would see
    check_outcome(scenario, reopened, before)
    SCENARIOS[scenario](reopened)  # the retry
    assert values(reopened.get("e")) == AFTER[scenario]
    assert reopened.check().ok
    reopened.vacuum(grace_seconds=0)
    assert reopened.vacuum(grace_seconds=0, dry_run=True).blobs_deleted == ()
    assert reopened.check().ok and values(reopened.get("e", start_id=0)) == AFTER[scenario]
    return plan.count


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_fault_along_an_edit_on_local(tmp_path, scenario):
    seed = seeded_once("local", tmp_path)
    total = run_case(seed, scenario, 0, "error")
    assert total >= 5
    for k in range(1, total + 1):
        for mode in MODES:
            run_case(seed, scenario, k, mode)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_fault_along_an_edit_on_s3_and_dynamodb(tmp_path, scenario):
    with mock_aws():
        seed = seeded_once("aws", tmp_path)
        total = run_case(seed, scenario, 0, "error")
        assert total >= 5  # each edit has several steps to fail at
        for k in range(1, total + 1):
            # every step, its failure mode in turn (all modes at every step: local, above)
            run_case(seed, scenario, k, MODES[k % len(MODES)])


@pytest.mark.parametrize("kind", ["local", "aws"])
def test_a_commit_whose_answer_was_lost_is_not_repeated_by_its_key(tmp_path, kind):
    """The key is in the version record, written by the commit's own transaction: a writer
    that loses the answer after its commit landed (a crash, a dropped connection) and tries
    again with the same key gets the first commit back, and the rows are not doubled."""

    class AnswerLost(FaultyMetadataStore):
        def commit(self, head, version, chunks, *, expected, drops=(), written_since=None):
            self.inner.commit(
                head, version, chunks, expected=expected, drops=drops, written_since=written_since
            )
            raise InjectedFault("the commit landed; its answer was lost")

    with mock_aws() if kind == "aws" else contextlib.nullcontext():
        db = seeded(kind, tmp_path)
        fix = rows("2024-01-02", [40])
        lossy = Store(db.blobs, AnswerLost(db.meta, FaultPlan()), chunk_rows=2)
        with pytest.raises(InjectedFault):
            lossy.upload(fix, "e", mode="replace_partitions", idempotency_key="fix-1")
        assert len(db.versions("e")) == 4, "the commit landed"
        again = Store(db.blobs, db.meta, chunk_rows=2).upload(
            fix, "e", mode="replace_partitions", idempotency_key="fix-1"
        )
        assert again.version == 4 and again.rows_removed == 2 and len(db.versions("e")) == 4
        assert values(db.get("e")) == [1, 2, 3, 40]
        assert db.check().ok
