"""Symlink manifests: the committed chunk files of a frame's current version, per layout, in
the form Athena, Presto/Trino, Hive and Spark read, beside the data.

``{name}/_symlink_format_manifest/{folder}/manifest`` lists one absolute URI per line (an
``s3://`` URI, or a local path), the files of one layout (``folder`` is the layout's data
folder: the Date or ID column, or ``external_key`` for batches). A table whose location is
that folder and whose input format is ``SymlinkTextInputFormat`` reads exactly those files:
no superseded (``keep_last``) chunk, no chunk of an uncommitted upload, and each row once,
where a scan of the frame's folder reads all of them (and both layouts). This is how Delta
Lake exposes its tables to the same engines ("Presto, Trino and Athena to Delta Lake
integration using manifests", docs.delta.io).

A store opened with ``manifests=True`` rewrites them after each commit;
``pandasdb manifest NAME`` (or :func:`write_manifests`) does it on demand. Two commits racing
may finish their manifests out of order: the writer re-reads the head after writing and
rewrites for a newer version, and ``pandasdb manifest`` repairs any leftover.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb, tempfile
>>> db = pdb.open(tempfile.mkdtemp())
>>> df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02"]), "v": [1, 2]})
>>> _ = db.upload(df, "sales", columns_keys={"ts": "Date"})
>>> [key.split("/", 1)[1] for key in write_manifests(db, "sales")]
['_symlink_format_manifest/ts/manifest']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from .layouts import kind_of
from .records import FrameHead, Layout
from .schema import Schema, polars_schema, user_columns
from .visibility import visible

if TYPE_CHECKING:
    from .store import Store

MANIFEST_DIR = "_symlink_format_manifest"
#: how often a manifest writer follows a head that moved while it wrote
_FOLLOW = 3


def folder(layout: Layout) -> str:
    """The folder of a layout's data and manifest, as its kind names it: its column, or
    ``external_key`` for batches.

    Example
    -------
    >>> folder(Layout("date", "ts")), folder(Layout("batch"))
    ('ts', 'external_key')
    """
    return kind_of(layout).folder(layout)


def manifest_key(name: str, layout: Layout) -> str:
    """Where the manifest of one layout of frame ``name`` is.

    Example
    -------
    >>> manifest_key("sales/daily", Layout("id", "uid"))
    'sales/daily/_symlink_format_manifest/uid/manifest'
    """
    return f"{name}/{MANIFEST_DIR}/{folder(layout)}/manifest"


def manifest_text(store: Store, head: FrameHead, layout: Layout) -> str:
    """The manifest of ``layout`` at the head's version: one URI per line, in row order."""
    chunks = kind_of(layout).order(visible(store.meta, head.frame_id, layout.tag, head.version))
    return "".join(f"{store.blobs.uri(c.key)}\n" for c in chunks)


def write_manifests(store: Store, name: str) -> list[str]:
    """Write the manifests of every layout of frame ``name`` at its latest version (the
    frame must exist, in a store other engines can read); returns their keys."""
    head = store.head(name)
    if store.blobs.uri("x") is None:
        return []
    keys: list[str] = []
    for _ in range(_FOLLOW):
        keys = []
        for layout in head.layouts:
            key = manifest_key(name, layout)
            store.blobs.put(key, manifest_text(store, head, layout).encode())
            keys.append(key)
        latest = store.meta.head(name)
        if latest is None or latest.frame_id != head.frame_id or latest.version == head.version:
            break
        head = latest  # a commit landed while writing: describe it instead
    return keys


def after_commit(store: Store, name: str) -> None:
    """Rewrite frame ``name``'s manifests if the store keeps them (``manifests=True``)."""
    if getattr(store, "manifests", False):
        write_manifests(store, name)


def is_manifest(key: str) -> bool:
    """Whether ``key`` is a manifest file (``vacuum`` removes those of deleted frames).

    Example
    -------
    >>> is_manifest("f/_symlink_format_manifest/ts/manifest"), is_manifest("f/ts/x.parquet")
    (True, False)
    """
    return f"/{MANIFEST_DIR}/" in key and key.endswith("/manifest")


def frame_of(key: str) -> str:
    """The frame a manifest key belongs to.

    Example
    -------
    >>> frame_of("a/b/_symlink_format_manifest/ts/manifest")
    'a/b'
    """
    return key.split(f"/{MANIFEST_DIR}/", 1)[0]


#: Hive/Athena column types of polars dtypes (the rest are read as strings)
_HIVE_TYPES = {
    "Int8": "tinyint",
    "Int16": "smallint",
    "Int32": "int",
    "Int64": "bigint",
    "UInt8": "smallint",
    "UInt16": "int",
    "UInt32": "bigint",
    "UInt64": "decimal(20,0)",
    "Float32": "float",
    "Float64": "double",
    "Boolean": "boolean",
    "Date": "date",
    "Datetime": "timestamp",
}


def table_ddl(table: str, schema: Schema, fmt: str, location: str) -> str:
    """An Athena (Hive DDL) ``CREATE EXTERNAL TABLE`` over a layout's manifest folder.

    Parquet chunks are read typed (``ParquetHiveSerDe``). csv.gz chunks are read by the Open
    CSV SerDe, the one that reads their quoted values (``"a,b"``), with every column a
    ``string``: Athena's documentation ("Open CSV SerDe for processing CSV") says it reads
    ``TIMESTAMP`` only as UNIX milliseconds and does not recognise empty values in numeric
    columns, while the chunks hold ISO datetimes and empty nulls; the statement after it
    creates ``{table}_typed``, a view that casts each column to its type (the documented
    workaround; Athena's timestamps hold milliseconds).

    Example
    -------
    >>> s = {"columns": [{"name": "v", "dtype": {"type": "Int64"}, "since": 1}], "index": []}
    >>> print(table_ddl("db.sales", s, "parquet", "s3://b/sales/_symlink_format_manifest/ts/"))
    CREATE EXTERNAL TABLE db.sales (
      `v` bigint
    )
    ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
    STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
    OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
    LOCATION 's3://b/sales/_symlink_format_manifest/ts/'
    >>> print(table_ddl("db.sales", s, "csv.gz", "s3://b/sales/_symlink_format_manifest/ts/"))
    CREATE EXTERNAL TABLE db.sales (
      `v` string
    )
    ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
    STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
    OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
    LOCATION 's3://b/sales/_symlink_format_manifest/ts/'
    TBLPROPERTIES ('skip.header.line.count'='1');
    <BLANKLINE>
    CREATE OR REPLACE VIEW db.sales_typed AS SELECT
      CAST(NULLIF(`v`, '') AS bigint) AS `v`
    FROM db.sales
    """
    dtypes = polars_schema(schema)
    names = [*[c for c in dtypes if c not in user_columns(schema)], *user_columns(schema)]
    csv = fmt != "parquet"
    columns = ",\n".join(
        f"  {_quoted(name)} {'string' if csv else _hive_type(dtypes[name])}" for name in names
    )
    if csv:
        serde = "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'"
        extra = "\nTBLPROPERTIES ('skip.header.line.count'='1')"
    else:
        serde = "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'"
        extra = ""
    create = (
        f"CREATE EXTERNAL TABLE {table} (\n{columns}\n)\n{serde}\n"
        "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION '{location}'{extra}"
    )
    if not csv:
        return create
    typed = ",\n".join(f"  {_cast(name, dtypes[name])} AS {_quoted(name)}" for name in names)
    return f"{create};\n\nCREATE OR REPLACE VIEW {table}_typed AS SELECT\n{typed}\nFROM {table}"


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _hive_type(dtype: pl.DataType) -> str:
    return _HIVE_TYPES.get(type(dtype).__name__, "string")


def _cast(name: str, dtype: pl.DataType) -> str:
    """A chunk file's text of one column as its Athena type (empty text is null)."""
    value = f"NULLIF({_quoted(name)}, '')"
    hive = _hive_type(dtype)
    if isinstance(dtype, pl.Datetime):
        # ISO text (2024-01-01T10:00:00.123456, zoned ones in UTC with +0000) to Athena's
        # milliseconds
        return f"CAST(substr(replace({value}, 'T', ' '), 1, 23) AS timestamp)"
    if dtype.is_float():
        return (
            f"CASE {value} WHEN 'inf' THEN infinity() WHEN '-inf' THEN -infinity() "
            f"ELSE CAST({value} AS {hive}) END"
        )
    if hive == "string":
        return _quoted(name)
    return f"CAST({value} AS {hive})"
