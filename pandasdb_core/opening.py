"""``open(url)``: build a Store from a location.

Example
-------
>>> import pandasdb_core as pdb
>>> pdb.open("memory://")
<pandasdb Store memory://>
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import InvalidArgument
from .store import COMMIT_TIMEOUT, DEFAULT_CHUNK_ROWS, Store

#: where the local store keeps its SQLite metadata, inside the store's folder
META_FILE = Path(".pandasdb") / "meta.sqlite3"


def open(  # noqa: A001 - the public name of the contract
    url: str | os.PathLike[str] = "./pandasdb-data",
    *,
    table: str | None = None,
    create: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    format: str = "csv.gz",
    workers: int = 8,
    progress: bool | None = None,
    commit_timeout: float = COMMIT_TIMEOUT,
    manifests: bool = False,
    **options: Any,
) -> Store:
    """Open a store.

    Parameters
    ----------
    url
        ``"memory://"``, a folder path (or ``file://`` URL) for the embedded store, or
        ``"s3://bucket"`` for S3 + DynamoDB.
    table
        The DynamoDB table, for ``s3://`` URLs.
    create
        For ``s3://``: create a missing bucket and table.
    chunk_rows, format, workers
        Defaults for the returned :class:`Store`.
    progress
        Progress bars for long uploads and reads: None (default) shows them when a person is
        watching (a notebook or a terminal, not CI); True or False forces.
    commit_timeout
        Seconds a commit keeps retrying while other writers win (the Lambda function sets
        it below API Gateway's 29 s).
    manifests
        Rewrite each frame's symlink manifests after every commit (for Athena, Trino and
        Spark tables over them; see :mod:`pandasdb_core.manifest`).
    options
        For ``s3://``: ``owner`` (the user id DynamoDB keys begin with, default
        ``"default"``), ``region``, ``profile``.

    Examples
    --------
    >>> import tempfile, pandasdb_core as pdb
    >>> db = pdb.open(tempfile.mkdtemp())
    >>> db.list()
    0 frames
    """
    settings = {
        "chunk_rows": chunk_rows,
        "format": format,
        "workers": workers,
        "progress": progress,
        "commit_timeout": commit_timeout,
        "manifests": manifests,
    }
    text = os.fspath(url)
    if not isinstance(text, str):
        raise InvalidArgument(f"url must be a string or path, got {type(url).__name__}")
    if text.startswith("memory://"):
        from .adapters.memory import MemoryBlobStore, MemoryMetadataStore

        memory = (MemoryBlobStore(), MemoryMetadataStore())
        return Store(*memory, location="memory://", **settings)  # type: ignore[arg-type]
    if text.startswith("s3://"):
        from .adapters.aws import open_s3

        blobs, meta = open_s3(text, table=table, create=create, workers=workers, **options)
        where = f"s3://{blobs.bucket}/{blobs.prefix}".rstrip("/")
        location = f"{where} (table {meta.table}, owner {meta.owner})"
        return Store(blobs, meta, location=location, **settings)  # type: ignore[arg-type]
    if "://" in text and not text.startswith("file://"):
        raise InvalidArgument(f"url {text!r}: use a folder path, file://, memory:// or s3://bucket")
    from .adapters.local import LocalBlobStore
    from .adapters.sqlite import SQLiteMetadataStore

    folder = text.removeprefix("file://")
    root = Path(folder).expanduser()
    if root.exists() and not root.is_dir():
        raise InvalidArgument(f"url {text!r} is a file, not a folder")
    blobs = LocalBlobStore(root)
    meta = SQLiteMetadataStore(root / META_FILE, fold_names=blobs.folds_names)
    return Store(blobs, meta, location=f"{folder} (local)", **settings)  # type: ignore[arg-type]


__all__ = ["open"]
