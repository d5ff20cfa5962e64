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
    ChunkCorrupt,
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
from .version import __version__

if TYPE_CHECKING:
    from .client import RemoteStore
    from .frame_store import FrameStore
    from .opening import open
    from .records import Commit, FrameInfo, VacuumReport, VersionInfo
    from .store import Store

#: public names loaded on first use (PEP 562), so that importing a light submodule (the
#: errors, the bucket-hardening rules a Cognito trigger needs) does not load polars
_LAZY = {
    "FrameStore": ".frame_store",
    "open": ".opening",
    "Commit": ".records",
    "FrameInfo": ".records",
    "VacuumReport": ".records",
    "VersionInfo": ".records",
    "Store": ".store",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pandasdb_core' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def connect(url: str | None = None, token: str | None = None, **options: Any) -> RemoteStore:
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
    "ChunkCorrupt",
    "BlobNotFound",
    "BlobExists",
    "CommitConflict",
    "StoreUnavailable",
    "Unauthorized",
    "PayloadTooLarge",
]
