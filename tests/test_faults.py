"""Fault injection: fail the k-th storage operation of an upload, a streamed upload, a
keep_last upload, a delete and a vacuum, for every k and every failure mode, on local and on
S3 + DynamoDB (moto).

After each fault: the store opens and reads, every previously committed version reads back
unchanged, the operation happened entirely or not at all, a retry succeeds, and a vacuum then
leaves no orphans and no broken chunk."""

from __future__ import annotations

import contextlib
import shutil
import uuid

import pandas as pd
import pytest
from moto import mock_aws
from pandas.testing import assert_frame_equal

import pandasdb_core as pdb
from pandasdb_core.adapters.dynamodb import DynamoDBMetadataStore, create_table
from pandasdb_core.adapters.local import LocalBlobStore
from pandasdb_core.adapters.s3 import S3BlobStore
from pandasdb_core.adapters.sqlite import SQLiteMetadataStore
from pandasdb_core.opening import META_FILE
from pandasdb_core.store import Store
from pandasdb_core.testing.faults import MODES, FaultPlan, InjectedFault, faulty


def day_rows(day: str, values: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.to_datetime([day] * len(values), utc=True), "v": values})


NEW_ROWS = day_rows("2024-01-03", [5, 6, 7])
NEW_BATCH = pd.DataFrame({"x": [30, 31]})


def empty_store(kind: str, tmp_path) -> Store:
    """A new store of two-row chunks, local or on (in-process) S3 + DynamoDB."""
    if kind == "local":
        return pdb.open(tmp_path / uuid.uuid4().hex, chunk_rows=2)
    return pdb.open(
        f"s3://b-{uuid.uuid4().hex[:16]}",
        table=f"t-{uuid.uuid4().hex[:8]}",
        create=True,
        chunk_rows=2,
    )


def cloned(template: Store, tmp_path) -> Store:
    """A new store of two-row chunks holding exactly ``template``'s files and metadata (a
    copy of its folder, or of its bucket and table): each fault case starts from the same
    seeded store, isolated from every other, without seeding it again."""
    if isinstance(template.blobs, LocalBlobStore):
        root = tmp_path / uuid.uuid4().hex
        # the WAL's index is rebuilt by the first connection to the copy
        shutil.copytree(template.blobs.root, root, ignore=shutil.ignore_patterns("*-shm"))
        return Store(LocalBlobStore(root), SQLiteMetadataStore(root / META_FILE), chunk_rows=2)
    blobs, meta = template.blobs, template.meta
    assert isinstance(blobs, S3BlobStore) and isinstance(meta, DynamoDBMetadataStore)
    assert not blobs.prefix
    s3, dynamodb = blobs.client, meta.client
    bucket, table = f"b-{uuid.uuid4().hex[:16]}", f"t-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=blobs.bucket):
        for obj in page.get("Contents", []):
            source = {"Bucket": blobs.bucket, "Key": obj["Key"]}
            s3.copy_object(Bucket=bucket, Key=obj["Key"], CopySource=source)
    create_table(dynamodb, table)
    items = [
        item
        for page in dynamodb.get_paginator("scan").paginate(TableName=meta.table)
        for item in page["Items"]
    ]
    for i in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[i : i + 25]]
        unprocessed = dynamodb.batch_write_item(RequestItems={table: batch})["UnprocessedItems"]
        assert not unprocessed
    copy = DynamoDBMetadataStore(dynamodb, table, owner=meta.owner, workers=meta.workers)
    return Store(S3BlobStore(s3, bucket), copy, chunk_rows=2)


def seeded(kind: str, tmp_path) -> Store:
    db = empty_store(kind, tmp_path)
    db.upload(day_rows("2024-01-01", [1, 2, 3]), "f", columns_keys={"ts": "Date"})
    db.upload(day_rows("2024-01-02", [4]), "f")
    db.upload(pd.DataFrame({"x": [10, 11, 12]}), "b", external_key="k")
    db.upload(pd.DataFrame({"x": [20]}), "b", external_key="k")
    db.upload(pd.DataFrame({"y": [1]}), "gone")
    db.delete("gone")
    db.blobs.put("f/ts/2024-01-01/orphan-from-a-crashed-writer.csv.gz", b"junk")
    return db


def snapshot(db: Store) -> dict[tuple[str, int], pd.DataFrame]:
    return {(name, v): db.get(name, as_of=v) for name in ("f", "b") for v in (1, 2)}


SCENARIOS = {
    "upload": lambda s: s.upload(NEW_ROWS, "f"),
    # a streamed upload (an upload session): a fault once its commit had landed removed the
    # chunk files of the committed version
    "stream": lambda s: s.upload(iter([NEW_ROWS.iloc[:2], NEW_ROWS.iloc[2:]]), "f"),
    "keep_last": lambda s: s.upload(NEW_BATCH, "b", external_key="k", keep_last=True),
    "delete": lambda s: s.delete("b"),
    "vacuum": lambda s: s.vacuum(grace_seconds=0),
}


def check_outcome(scenario: str, db: Store, before: dict) -> None:
    """All or nothing, and nothing committed before is lost."""
    names = {f.name: f.version for f in db.list()}
    for (name, version), frame in before.items():
        if name in names:
            assert_frame_equal(db.get(name, as_of=version), frame)
    if scenario in ("upload", "stream"):
        assert names["f"] in (2, 3)
        expected = pd.concat([before[("f", 2)], NEW_ROWS], ignore_index=True)
        assert_frame_equal(db.get("f"), expected if names["f"] == 3 else before[("f", 2)])
    elif scenario == "keep_last":
        assert names["b"] in (2, 3)
        assert_frame_equal(db.get("b"), NEW_BATCH if names["b"] == 3 else before[("b", 2)])
    elif scenario == "delete":
        assert "b" not in names or names["b"] == 2
    else:
        assert names == {"f": 2, "b": 2}


class Seeded:
    """The seeded store of a kind and what it held, made once; each case takes a copy."""

    def __init__(self, kind: str, tmp_path, seed=None, read=None) -> None:
        self.tmp_path = tmp_path
        self.template = (seed or seeded)(kind, tmp_path)
        self.before = (read or snapshot)(self.template)

    def copy(self) -> Store:
        return cloned(self.template, self.tmp_path)


def run_case(seed: Seeded, scenario: str, fail_at: int, mode: str) -> int:
    db = seed.copy()
    before = seed.before
    plan = FaultPlan(fail_at=fail_at, mode=mode)  # type: ignore[arg-type]
    blobs, meta = faulty(db.blobs, db.meta, plan)
    wrapped = Store(blobs, meta, chunk_rows=2)
    with contextlib.suppress(InjectedFault, TimeoutError):
        SCENARIOS[scenario](wrapped)
    reopened = Store(db.blobs, db.meta, chunk_rows=2)  # what a new process would see
    check_outcome(scenario, reopened, before)
    try:
        SCENARIOS[scenario](reopened)  # the retry
    except pdb.FrameNotFound:
        assert scenario == "delete"  # it had happened already
    assert reopened.check().ok
    reopened.vacuum(grace_seconds=0)
    assert reopened.vacuum(grace_seconds=0, dry_run=True).blobs_deleted == ()
    report = reopened.check()
    assert report.ok and report.chunks_checked > 0
    return plan.count


def operations(seed: Seeded, scenario: str) -> int:
    return run_case(seed, scenario, 0, "error")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_fault_along_an_operation_on_local(tmp_path, scenario):
    seed = Seeded("local", tmp_path)
    total = operations(seed, scenario)
    assert total >= 3
    for k in range(1, total + 1):
        for mode in MODES:
            run_case(seed, scenario, k, mode)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_fault_along_an_operation_on_s3_and_dynamodb(tmp_path, scenario):
    """Every step, in every failure mode; a streamed upload's many steps (its session's
    files) each in one mode, taken in turn, which the local run above takes all of (every
    mode at every step there took two minutes here)."""
    with mock_aws():
        seed = Seeded("aws", tmp_path)
        total = operations(seed, scenario)
        assert total >= 3  # each operation has several steps to fail at
        for k in range(1, total + 1):
            for mode in MODES if scenario != "stream" else [MODES[k % len(MODES)]]:
                run_case(seed, scenario, k, mode)
