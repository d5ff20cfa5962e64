"""pandasdb: a partitioned, chunked, versioned store for pandas and polars DataFrames.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> db.upload(pd.DataFrame({"a": [1, 2, 3]}), "numbers").rows
3
"""

from __future__ import annotations

from .client import connect
from .errors import (
    BlobExists,
    BlobNotFound,
    CommitConflict,
    FrameNotFound,
    InvalidArgument,
    InvalidName,
    InvalidPartition,
    PandasDBError,
    PayloadTooLarge,
    SchemaMismatch,
    StoreUnavailable,
    Unauthorized,
    VersionNotFound,
)
from .opening import open
from .records import Commit, FrameInfo, VacuumReport, VersionInfo
from .store import Store

__all__ = [
    "open",
    "Store",
    "Commit",
    "FrameInfo",
    "VersionInfo",
    "VacuumReport",
    "PandasDBError",
    "InvalidName",
    "InvalidArgument",
    "InvalidPartition",
    "SchemaMismatch",
    "FrameNotFound",
    "VersionNotFound",
    "BlobNotFound",
    "BlobExists",
    "CommitConflict",
    "StoreUnavailable",
    "Unauthorized",
    "PayloadTooLarge",
    "connect",
]
