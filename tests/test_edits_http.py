"""The edits of issue 15 over HTTP: ``pandasdb serve`` as a real process, driven by the SDK and
by plain requests (upload modes, replace, delete_rows, compact, idempotency keys), and the SDK's
methods with the store's own signatures."""

from __future__ import annotations

import inspect
import uuid

import numpy as np
import pandas as pd
import pytest
import requests
from pandas.testing import assert_frame_equal

import pandasdb_core as pdb
from pandasdb_core.client import RemoteStore


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def days(day: str, values: list[int], hour: int = 0) -> pd.DataFrame:
    moments = [
        pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=hour + i) for i in range(len(values))
    ]
    return pd.DataFrame({"ts": moments, "uid": [10 * v for v in values], "v": values})


@pytest.mark.parametrize("method", ["replace", "delete_rows", "compact", "change"])
def test_the_sdk_has_the_stores_edit_methods(method):
    assert inspect.signature(getattr(pdb.Store, method)) == inspect.signature(
        getattr(RemoteStore, method)
    )
    assert isinstance(RemoteStore("http://127.0.0.1:9"), pdb.FrameStore)


def test_edits_through_the_sdk(open_server):
    sdk = pdb.connect(open_server.url, progress=False)
    name = unique("sdk")
    sdk.upload(
        pd.concat([days("2024-01-01", [1, 2]), days("2024-01-02", [3])]),
        name,
        columns_keys={"ts": "Date", "uid": "ID"},
    )
    replaced = sdk.upload(days("2024-01-02", [30, 31]), name, mode="replace_partitions")
    assert (replaced.version, replaced.rows, replaced.rows_removed) == (2, 2, 1)
    assert sorted(sdk.get(name)["v"]) == [1, 2, 30, 31]
    assert sorted(sdk.get(name, start_id=0)["v"]) == [1, 2, 30, 31]

    fix = sdk.replace(
        name, days("2024-01-01", [9], hour=5), start_date="2024-01-01", end_date="2024-01-01"
    )
    assert fix.rows_removed == 2 and sorted(sdk.get(name)["v"]) == [9, 30, 31]

    gone = sdk.delete_rows(name, partition_value=300)
    assert gone.rows_removed == 1 and sorted(sdk.get(name)["v"]) == [9, 31]
    assert sorted(sdk.get(name, as_of=3)["v"]) == [9, 30, 31]

    before = sdk.get(name)
    compacted = sdk.compact(name, target_rows=1000)
    assert compacted.chunks_dropped > 0 and compacted.rows == 0
    assert_frame_equal(sdk.get(name), before)
    assert [v.operation for v in sdk.versions(name)] == [
        "append",
        "replace_partitions",
        "replace",
        "delete_rows",
        "compact",
    ]


def test_a_key_commits_once_over_http_inline_and_staged(open_server):
    sdk = pdb.connect(open_server.url, progress=False)
    name = unique("keys")
    small = days("2024-01-01", [1, 2])
    first = sdk.upload(small, name, columns_keys={"ts": "Date"}, idempotency_key="run-1")
    assert sdk.upload(small, name, idempotency_key="run-1") == first
    assert len(sdk.get(name)) == 2
    # a staged upload (over the inline limit) whose retry comes after its data was discarded
    rng = np.random.default_rng(0)
    big = pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-05", tz="UTC"),
            "uid": 1,
            "v": rng.integers(0, 10**9, 1_200_000),
        }
    )
    staged = sdk.upload(big, name, idempotency_key="big-1")
    assert sdk.upload(big, name, idempotency_key="big-1") == staged
    assert len(sdk.get(name)) == 2 + len(big)
    assert len(sdk.versions(name)) == 2


def test_edits_with_plain_requests_and_their_errors(open_server):
    base = open_server.url
    name = unique("plain")
    up = requests.post(
        f"{base}/dataframes/upload",
        json={
            "dataframe": "ts,v\n2024-01-01,1\n2024-01-02,2\n",
            "dataframe_name": name,
            "columns_keys": {"ts": "Date"},
        },
    )
    assert up.status_code == 200, up.text
    again = requests.post(
        f"{base}/dataframes/upload",
        params={"mode": "replace_partitions", "idempotency_key": "fix-1"},
        json={"dataframe": "ts,v\n2024-01-02,20\n", "dataframe_name": name},
    )
    assert again.status_code == 200 and again.json()["rows_removed"] == 1
    url = f"{base}/dataframes/{name}"
    bad = requests.post(
        f"{url}/replace",
        params={"start_date": "2024-01-01", "end_date": "2024-01-01"},
        data="ts,v\n2024-01-03,5\n",
        headers={"Content-Type": "text/csv"},
    )
    assert (
        bad.status_code == 400
        and "row 0" in bad.json()["message"]
        and "outside" in bad.json()["message"]
    )
    ok = requests.post(
        f"{url}/replace",
        params={"start_date": "2024-01-01", "end_date": "2024-01-01"},
        json={"dataframe": "ts,v\n2024-01-01,10\n"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["rows_removed"] == 1 and ok.json()["version"] == 3
    none = requests.post(f"{url}/delete_rows")
    assert none.status_code == 400 and "needs a range" in none.json()["message"]
    deleted = requests.post(f"{url}/delete_rows", params={"start_date": "2024-01-02"})
    assert deleted.status_code == 200 and deleted.json()["rows_removed"] == 1
    assert requests.post(f"{url}/compact", params={"target_rows": "0"}).status_code == 400
    assert requests.post(f"{base}/dataframes/nope-{name}/compact").status_code == 404
    rows = requests.get(url).json()
    assert [r["v"] for r in rows] == [10]
