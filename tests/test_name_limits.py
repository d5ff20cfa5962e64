"""Names never make a path or key that storage refuses: a path segment is at most 255 bytes
(POSIX NAME_MAX, a folder name on the local store) and every chunk key at most 1,024 bytes
(S3 object keys, "Creating object key names", Amazon S3 User Guide:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html; DynamoDB sort keys,
"Service, account, and table quotas in Amazon DynamoDB":
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
The longest accepted names are stored and read back on every adapter; one byte more is a
clear InvalidName and nothing is written."""

from __future__ import annotations

import os

import pandas as pd
import pytest

import pandasdb_core as pdb
from pandasdb_core.names import MAX_KEY_BYTES, MAX_NAME_BYTES, MAX_SEGMENT_BYTES

COLUMN = "c" * MAX_SEGMENT_BYTES
KEY = "k" * MAX_SEGMENT_BYTES


def longest_name(tail: str = "") -> str:
    """A name of exactly MAX_NAME_BYTES bytes, made of 255-byte segments."""
    parts, left = [], MAX_NAME_BYTES
    while left > 0:
        size = min(MAX_SEGMENT_BYTES, left)
        parts.append("n" * size)
        left -= size + 1
    name = "/".join(parts)
    return name[: MAX_NAME_BYTES - len(tail)] + tail


def test_limits_follow_from_the_storage_limits():
    assert MAX_SEGMENT_BYTES == 255
    assert MAX_KEY_BYTES == 1024
    assert len(longest_name()) == MAX_NAME_BYTES == 678
    assert os.pathconf("/tmp", "PC_NAME_MAX") >= MAX_SEGMENT_BYTES


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_longest_names_store_and_read_back_on_every_adapter(db, fmt):
    df = pd.DataFrame(
        {
            COLUMN: [-(2**63), 2**63 - 1],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "v": [1, 2],
        }
    )
    keys = []
    for tail, kwargs in (
        ("i", {"columns_keys": {COLUMN: "ID"}}),
        ("d", {"columns_keys": {"ts": "Date"}}),
        ("b", {"external_key": KEY}),
    ):
        name = longest_name(tail)
        keys += db.upload(df, name, format=fmt, **kwargs).keys
        pd.testing.assert_frame_equal(db.get(name).sort_values("v").reset_index(drop=True), df)
    assert max(len(k.encode()) for k in keys) <= MAX_KEY_BYTES
    assert any(f"from_{-(2**63)}_to_{2**63 - 1}" in k for k in keys)
    assert db.check().ok


@pytest.mark.parametrize(
    "name, words",
    [
        (longest_name() + "x", "678"),
        ("x" * 256, "255"),
        ("a/" + "x" * 256 + "/b", "255"),
    ],
)
def test_one_byte_more_is_an_invalid_name(db, name, words):
    with pytest.raises(pdb.InvalidName, match=words):
        db.upload(pd.DataFrame({"v": [1]}), name)
    assert db.list() == [] and list(db.blobs.list()) == []


def test_long_external_keys_and_partition_columns_are_invalid_names(db):
    df = pd.DataFrame({"c" * 256: [1], "v": [1]})
    with pytest.raises(pdb.InvalidName, match="external_key.*255"):
        db.upload(df, "f", external_key="k" * 256)
    with pytest.raises(pdb.InvalidName, match="columns_keys column.*255"):
        db.upload(df, "f", columns_keys={"c" * 256: "ID"})
    assert db.list() == [] and list(db.blobs.list()) == []
