"""The answer to an upload: pandasdb's commit fields and the original backend's metadata.

pandasdb's own fields are ``name``, ``version``, ``rows``, ``chunk_count``, ``bytes`` and
``keys``. The original backend answered its upload metadata, whose fields its clients read
(``../shared/SEED-WIRE.md``): ``df_name``, ``columns_keys``, ``external_key`` (the batch key
written; null for a partitioned frame), ``keep_last``, ``total_rows`` (this upload's rows) and
``chunks``, one ``{path, rows, number}`` per chunk file (``number`` is its position from 0).
Both names answer ``chunks`` differently, so pandasdb's count is ``chunk_count`` and ``chunks``
is the original backend's list.

Example
-------
>>> from pandasdb_core.operations import UploadOptions
>>> from pandasdb_core.records import Commit
>>> commit = Commit("f", 1, 3, 1, ("f/external_key/default/x.csv.gz",), 40, (3,), "default")
>>> answer = upload_answer(commit, UploadOptions.build(name="f"))
>>> answer["chunk_count"], answer["chunks"], answer["external_key"]
(1, [{'path': 'f/external_key/default/x.csv.gz', 'rows': 3, 'number': 0}], 'default')
"""

from __future__ import annotations

from typing import Any

from pandasdb_core.operations import UploadOptions
from pandasdb_core.records import Commit


def upload_answer(commit: Commit, options: UploadOptions) -> dict[str, Any]:
    """The JSON answer to an upload committed as ``commit`` with ``options``."""
    files = zip(commit.keys, commit.chunk_rows, strict=True)
    return {
        "name": commit.name,
        "version": commit.version,
        "rows": commit.rows,
        "chunk_count": commit.chunks,
        "bytes": commit.bytes,
        "keys": list(commit.keys),
        "df_name": commit.name,
        "columns_keys": dict(options.columns_keys or {}),
        "external_key": commit.external_key,
        "keep_last": options.keep_last,
        "total_rows": commit.rows,
        "rows_removed": commit.rows_removed,
        "chunks_dropped": commit.chunks_dropped,
        "chunks": [
            {"path": key, "rows": rows, "number": number}
            for number, (key, rows) in enumerate(files)
        ],
    }
