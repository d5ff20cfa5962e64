"""Every embedded adapter passes the shared port contract suites."""

from __future__ import annotations

import uuid

import pytest

from pandasdb_core.adapters.aws import open_s3
from pandasdb_core.adapters.local import LocalBlobStore
from pandasdb_core.adapters.memory import MemoryBlobStore, MemoryMetadataStore
from pandasdb_core.adapters.sqlite import SQLiteMetadataStore
from pandasdb_core.testing import BlobStoreTests, MetadataStoreTests


class TestMemoryBlobs(BlobStoreTests):
    @pytest.fixture
    def blobs(self):
        return MemoryBlobStore()


class TestLocalBlobs(BlobStoreTests):
    @pytest.fixture
    def blobs(self, tmp_path):
        return LocalBlobStore(tmp_path / "blobs")


class TestMemoryMeta(MetadataStoreTests):
    @pytest.fixture
    def meta(self):
        return MemoryMetadataStore()


class TestSQLiteMeta(MetadataStoreTests):
    @pytest.fixture
    def meta(self, tmp_path):
        return SQLiteMetadataStore(tmp_path / "meta.sqlite3")


def test_local_blob_files_are_plain_files_at_the_key_path(tmp_path):
    blobs = LocalBlobStore(tmp_path)
    blobs.put("sales/ts/2024-01-01/x.csv.gz", b"abc")
    assert (tmp_path / "sales" / "ts" / "2024-01-01" / "x.csv.gz").read_bytes() == b"abc"
    blobs.delete(["sales/ts/2024-01-01/x.csv.gz"])
    assert not (tmp_path / "sales").exists(), "empty partition folders are pruned"


def test_local_discard_stale_removes_only_old_temp_files(tmp_path):
    blobs = LocalBlobStore(tmp_path)
    blobs.put("a/keep.csv.gz", b"k")
    (tmp_path / "a" / ".tmp-crashed").write_bytes(b"half")
    assert [b.key for b in blobs.list()] == ["a/keep.csv.gz"], "temp files are never listed"
    assert blobs.discard_stale(older_than=0) == 0
    assert blobs.discard_stale(older_than=4e9) == 1
    assert not (tmp_path / "a" / ".tmp-crashed").exists()
    assert blobs.get("a/keep.csv.gz") == b"k"


@pytest.fixture
def served(moto_server, monkeypatch) -> str:
    """A fresh bucket and table name on moto's HTTP server, one request at a time: the
    contract's races (if_absent puts, concurrent commits) need each call atomic, as S3 and
    DynamoDB are and in-process moto is not (two racing conditional puts can both win)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return f"c-{uuid.uuid4().hex[:12]}"


class TestS3Blobs(BlobStoreTests):
    @pytest.fixture
    def blobs(self, served):
        blobs, _ = open_s3(f"s3://{served}?table={served}", create=True)
        return blobs


class TestS3BlobsUnderPrefix(BlobStoreTests):
    @pytest.fixture
    def blobs(self, served):
        blobs, _ = open_s3(f"s3://{served}/user/alice?table={served}", create=True)
        return blobs


class TestDynamoDBMeta(MetadataStoreTests):
    @pytest.fixture
    def meta(self, served):
        _, meta = open_s3(f"s3://{served}?table={served}", create=True, owner="alice")
        return meta
