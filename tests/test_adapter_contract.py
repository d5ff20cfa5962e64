"""Every embedded adapter passes the shared port contract suites."""

from __future__ import annotations

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


class TestS3Blobs(BlobStoreTests):
    @pytest.fixture
    def blobs(self, aws):
        blobs, _ = open_s3("s3://contract-bucket?table=t", create=True)
        return blobs


class TestS3BlobsUnderPrefix(BlobStoreTests):
    @pytest.fixture
    def blobs(self, aws):
        blobs, _ = open_s3("s3://contract-bucket/user/alice?table=t", create=True)
        return blobs


class TestDynamoDBMeta(MetadataStoreTests):
    @pytest.fixture
    def meta(self, aws):
        _, meta = open_s3("s3://contract-bucket?table=t", create=True, owner="alice")
        return meta
