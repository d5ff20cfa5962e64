"""Every dtype a store accepts goes out over HTTP in every wire format (json, csv, parquet):
a frame that was acknowledged must never come back as a 500 or a dropped connection."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from decimal import Decimal

import numpy as np
import pandas as pd
import polars as pl
import pytest
from pandasdb_lambdas.context import StoreContext
from pandasdb_lambdas.handler import make_handler
from test_roundtrip import categorical_zoo, extreme_integers

import pandasdb_core as pdb


def _get(handle, name: str, fmt: str) -> dict:
    event = {
        "httpMethod": "GET",
        "path": f"/dataframes/{name}",
        "headers": {},
        "queryStringParameters": {"format": fmt},
        "multiValueQueryStringParameters": {"format": [fmt]},
        "requestContext": {"requestId": "r1", "authorizer": {"claims": {"sub": "u1"}}},
    }
    try:
        return handle(event, None)
    except BaseException as exc:  # noqa: BLE001 - a polars panic is a BaseException
        pytest.fail(f"GET {name} as {fmt} raised {type(exc).__name__}: {exc}")


def _served(frames: dict[str, object]):
    db = pdb.open("memory://")
    for name, df in frames.items():
        db.upload(df, name, format="parquet")
    return make_handler(lambda caller: StoreContext(db, lambda m, k: k))


def _check(response: dict, fmt: str, df) -> None:
    assert response["statusCode"] == 200, response["body"][:300]
    body = response["body"]
    if fmt == "json":
        assert len(json.loads(body)) == len(df)
    elif fmt == "csv":
        assert pl.read_csv(io.StringIO(body), infer_schema=False).height == len(df)
    else:
        data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        assert pl.read_parquet(io.BytesIO(data)).height == len(df)


SUPPORTED = {
    "ints": extreme_integers(),
    "cats": categorical_zoo().drop(columns="spans"),  # durations: see TEXTLESS
    "misc": pd.DataFrame(
        {
            "dec": [Decimal("1.10"), None, Decimal("-2.25")],
            "time": [dt.time(1, 2, 3, 4), None, dt.time(23, 59, 59)],
            "f16": np.array([1.5, np.nan, np.inf], dtype="float16"),
            "when": pd.to_datetime(["2024-01-01", None, "1890-01-01"]).tz_localize("UTC"),
            "null": [None, None, None],
        }
    ),
}


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_stored_dtypes_go_out_in_every_wire_format(fmt):
    handle = _served(SUPPORTED)
    for name, df in SUPPORTED.items():
        _check(_get(handle, name, fmt), fmt, df)


TEXTLESS = pl.DataFrame(
    {
        "bin": pl.Series([b"\x00\xff", None], dtype=pl.Binary),
        "dur": pl.Series([1, None], dtype=pl.Duration("ns")),
    }
)


@pytest.mark.parametrize(
    "fmt",
    ["json", "csv", "parquet"],
)
def test_binary_and_durations_go_out_in_every_wire_format(fmt):
    handle = _served({"textless": TEXTLESS})
    _check(_get(handle, "textless", fmt), fmt, TEXTLESS)
