"""S3 + DynamoDB specifics: call counts, scale, configuration and errors."""

from __future__ import annotations

import collections
import subprocess
import sys
import time
import uuid

import boto3
import pandas as pd
import polars as pl
import pytest

import pandasdb_core as pdb
from pandasdb_core.adapters.aws import open_s3
from pandasdb_core.records import ChunkRecord, FrameHead, Layout, VersionRecord
from pandasdb_core.sample_data import sample_frame


class CallCounter:
    """Counts AWS API calls per (service, operation) with botocore's event hooks."""

    def __init__(self, *clients) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        for client in clients:
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model, **_kwargs) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def reset(self) -> None:
        self.calls.clear()


def test_one_day_read_of_a_year_touches_only_that_day(aws):
    db = pdb.open("s3://prune-bucket", table="meta", create=True)
    df = sample_frame(20_000, days=365)
    db.upload(df, "trades", columns_keys={"ts": "Date"})
    counter = CallCounter(db.blobs.client, db.meta.client)
    day = db.get("trades", start_date="2024-03-01", end_date="2024-03-01")
    expected = df[df.ts.dt.strftime("%Y-%m-%d") == "2024-03-01"]
    assert len(day) == len(expected) > 0
    calls = dict(counter.calls)
    day_chunks = [k for k in db.blobs.list("trades/ts/2024-03-01/")]
    assert calls["s3.GetObject"] == len(day_chunks) == 1
    assert "dynamodb.Scan" not in calls and "s3.ListObjectsV2" not in calls
    assert calls["dynamodb.Query"] <= 3, calls
    print("1-day read calls:", calls)


def test_id_lookup_queries_only_the_chunk_holding_the_id(aws):
    db = pdb.open("s3://prune-bucket", table="meta", create=True)
    df = pd.DataFrame({"uid": range(50_000), "v": range(50_000)})
    db.upload(df, "users", columns_keys={"uid": "ID"}, chunk_rows=500)
    counter = CallCounter(db.blobs.client, db.meta.client)
    assert db.get("users", partition_value=31_337)["v"].tolist() == [31_337]
    assert counter.calls["s3.GetObject"] == 1
    assert "dynamodb.Scan" not in counter.calls


CHUNKS = 20_000


def test_a_frame_of_many_chunks_commits_and_reads_its_index(aws):
    """20,000 chunk items: far more than one DynamoDB Query page (1 MB) holds, so every read
    of the index pages; each chunk is its own small item, whatever the frame's size."""
    # one worker: moto's in-process backend is not safe for concurrent writers
    _, meta = open_s3("s3://big-bucket?table=meta", create=True, owner="alice", workers=1)
    head = FrameHead(
        name="huge",
        frame_id="F",
        version=1,
        format="csv.gz",
        layouts=(Layout("id", "uid"),),
        schema={"columns": [], "index": []},
        chunk_rows=1,
        rows=CHUNKS,
        created_at=0.0,
        updated_at=0.0,
    )
    chunks = [
        ChunkRecord(
            chunk_id=f"{i:032x}",
            layout="id:uid",
            lo=i,
            hi=i,
            key=f"huge/uid/from_{i}_to_{i}/{i:032x}.csv.gz",
            rows=1,
            size=30,
            sha256="0" * 64,
            version=1,
            txn="t1",
            seq=i,
        )
        for i in range(CHUNKS)
    ]
    version = VersionRecord(
        version=1,
        txn="t1",
        created_at=0.0,
        rows_added=CHUNKS,
        rows_total=CHUNKS,
        chunks_added=CHUNKS,
        bytes_added=30 * CHUNKS,
    )
    started = time.perf_counter()
    meta.commit(head, version, chunks, expected=None)
    committed_in = time.perf_counter() - started
    assert meta.head("huge").version == 1
    found = meta.chunks("F", "id:uid", 12_345, 12_347)
    assert sorted(c.lo for c in found) == [12_345, 12_346, 12_347]
    assert [c.lo for c in meta.chunks("F", "id:uid", 19_000, None)] == list(range(19_000, CHUNKS))
    assert [c.lo for c in meta.chunks("F", "id:uid", None, 999)] == list(range(1000))
    print(f"{CHUNKS:,}-chunk commit: {committed_in:.1f}s")


def test_missing_bucket_or_table_without_create_is_a_clear_error(aws):
    with pytest.raises(pdb.StoreUnavailable, match="bucket 'absent-bucket' does not exist"):
        pdb.open("s3://absent-bucket", table="meta")
    boto3.client("s3").create_bucket(Bucket="present-bucket")
    with pytest.raises(pdb.StoreUnavailable, match="table 'absent-table' does not exist"):
        pdb.open("s3://present-bucket", table="absent-table")
    with pytest.raises(pdb.InvalidArgument, match="needs a DynamoDB table"):
        pdb.open("s3://present-bucket")
    db = pdb.open("s3://present-bucket?table=made&owner=bob", create=True)
    assert db.meta.owner == "bob"
    assert "made" in boto3.client("dynamodb").list_tables()["TableNames"]


def test_every_item_key_begins_with_the_owner(aws):
    db = pdb.open("s3://owner-bucket", table="meta", create=True, owner="alice-123")
    db.upload(pd.DataFrame({"uid": [1, 2], "v": [1, 2]}), "f", columns_keys={"uid": "ID"})
    db.upload(pd.DataFrame({"x": [1]}), "g", external_key="k")
    items = boto3.client("dynamodb").scan(TableName="meta")["Items"]
    assert items and all(i["pk"]["S"].startswith("alice-123#") for i in items)
    other = pdb.open("s3://owner-bucket", table="meta", owner="bob")
    assert other.list() == [], "another owner sees none of alice's frames"


def test_endpoint_url_from_environment_reaches_moto_server(moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server)
    db = pdb.open("s3://endpoint-bucket", table="endpoint-meta", create=True)
    db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    assert db.get("f")["a"].tolist() == [1, 2]
    raw = boto3.client("s3", endpoint_url=moto_server)
    keys = [o["Key"] for o in raw.list_objects_v2(Bucket="endpoint-bucket")["Contents"]]
    assert any(k.startswith("f/external_key/default/") for k in keys)


def test_cli_on_s3_store_via_moto_server(moto_server, tmp_path):
    src = tmp_path / "x.csv"
    src.write_text("ts,v\n2024-01-01,1\n2024-01-02,2\n")
    store = f"s3://cli-{uuid.uuid4().hex[:8]}?table=cli-meta"
    env = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": "",
    }
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket=store[5:17])
    from pandasdb_core.adapters.dynamodb import create_table

    try:
        create_table(boto3.client("dynamodb", endpoint_url=moto_server), "cli-meta")
    except boto3.client("dynamodb", endpoint_url=moto_server).exceptions.ResourceInUseException:
        pass

    def run(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "pandasdb_core.cli", "--store", store, "--no-progress", *args],
            capture_output=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    run("upload", str(src), "s", "--date-col", "ts")
    assert pl.read_csv(run("get", "s", "--end-date", "2024-01-01"))["v"].to_list() == [1]


def test_stores_at_different_prefixes_keep_their_own_frames(aws):
    """Two stores in one bucket at two prefixes, with one table and owner, share nothing:
    each sees only its own frames, and an upload to one leaves the other's versions
    readable. A store without a prefix keeps the plain owner keys (the HTTP API on AWS:
    one bucket per user, the owner its id, confined to ``{owner}#*`` by its policy)."""
    a = pdb.open("s3://pfx/team-a?table=T", create=True)
    b = pdb.open("s3://pfx/team-b?table=T")
    a.upload(pd.DataFrame({"x": [1, 2]}), "f")
    assert b.list() == []
    b.upload(pd.DataFrame({"x": [3]}), "f")
    assert a.get("f")["x"].tolist() == [1, 2] and b.get("f")["x"].tolist() == [3]
    assert a.head("f").version == b.head("f").version == 1
    assert a.check().ok and b.check().ok
    keys = {
        i["pk"]["S"].split("#", 1)[0] for i in boto3.client("dynamodb").scan(TableName="T")["Items"]
    }
    assert keys == {"default~pfx%2Fteam-a", "default~pfx%2Fteam-b"}
    root = pdb.open("s3://pfx?table=T", owner="alice")
    root.upload(pd.DataFrame({"x": [0]}), "g")
    items = boto3.client("dynamodb").scan(TableName="T")["Items"]
    assert any(i["pk"]["S"] == "alice#frames" for i in items)  # no prefix: keys unchanged


def test_a_store_at_a_prefix_written_before_prefixes_had_their_metadata_stays_readable(aws):
    from pandasdb_core.adapters.dynamodb import DynamoDBMetadataStore
    from pandasdb_core.adapters.s3 import S3BlobStore
    from pandasdb_core.store import Store

    blobs, meta = open_s3("s3://legacy-bucket?table=T", create=True)
    # what an older pandasdb wrote: data at the prefix, metadata under the plain owner
    older = Store(S3BlobStore(blobs.client, "legacy-bucket", "old"), meta)
    older.upload(pd.DataFrame({"x": [9]}), "legacy")
    db = pdb.open("s3://legacy-bucket/old?table=T")
    assert db.get("legacy")["x"].tolist() == [9] and db.meta.owner == "default"
    db.upload(pd.DataFrame({"x": [10]}), "legacy")
    assert pdb.open("s3://legacy-bucket/old?table=T").get("legacy")["x"].tolist() == [9, 10]
    fresh = pdb.open("s3://legacy-bucket/new?table=T")
    assert fresh.list() == [] and fresh.meta.owner == "default~legacy-bucket%2Fnew"
    assert isinstance(meta, DynamoDBMetadataStore)
