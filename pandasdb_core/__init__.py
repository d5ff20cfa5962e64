"""pandasdb: a partitioned, chunked, versioned store for pandas and polars DataFrames.

``import pandasdb_core`` loads only what the embedded store needs; the SDK (``connect``) and
the AWS adapters load on first use.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> db.upload(pd.DataFrame({"a": [1, 2, 3]}), "numbers").rows
3
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    BlobExists,
    BlobNotFound,
    ChunkMissing,
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
    UnknownParameter,
    VersionNotFound,
)
from .frame_store import FrameStore
from .opening import open
from .records import Commit, FrameInfo, VacuumReport, VersionInfo
from .store import Store
from .version import __version__

if TYPE_CHECKING:
    from .client import RemoteStore


def connect(url: str, token: str | None = None, **options: Any) -> RemoteStore:
    """Connect to a pandasdb HTTP API (see :func:`pandasdb_core.client.connect`).

    Example
    -------
    >>> import pandasdb_core as pdb
    >>> pdb.connect("http://127.0.0.1:8000/")
    <pandasdb RemoteStore http://127.0.0.1:8000>
    """
    from .client import connect as connect_client  # requests loads only for the SDK

    return connect_client(url, token, **options)


__all__ = [
    "__version__",
    "open",
    "connect",
    "Store",
    "FrameStore",
    "Commit",
    "FrameInfo",
    "VersionInfo",
    "VacuumReport",
    "PandasDBError",
    "InvalidName",
    "InvalidArgument",
    "UnknownParameter",
    "InvalidPartition",
    "SchemaMismatch",
    "FrameNotFound",
    "VersionNotFound",
    "ChunkMissing",
    "BlobNotFound",
    "BlobExists",
    "CommitConflict",
    "StoreUnavailable",
    "Unauthorized",
    "PayloadTooLarge",
]
