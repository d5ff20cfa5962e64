"""A frame's schema: recorded at its first commit, extended by later ones, never changed.

The schema is a JSON-able dict kept in the frame's head::

    {"columns": [{"name": "ts", "dtype": {...polars dtype...}, "since": 1,
                  "pandas": "datetime64[ns, UTC]" | None, "categories": [...] | None,
                  "ordered": False}, ...],
     "index": ["date"]}          # real names of index levels stored as __index_level_i__

Example
-------
>>> import polars as pl
>>> s = merge_schema(None, capture(pl.DataFrame({"a": [1]})), version=1)
>>> [c["name"] for c in s["columns"]]
['a']
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .dtypes import dtype_from_json, dtype_to_json
from .errors import SchemaMismatch

Schema = dict[str, Any]
INDEX_PREFIX = "__index_level_"


def capture(
    frame: pl.DataFrame,
    pandas_dtypes: dict[str, dict[str, Any]] | None = None,
    index: list[str | None] | None = None,
) -> Schema:
    """Describe ``frame`` (plus what is known of its pandas origin) as an unversioned schema."""
    pandas_dtypes = pandas_dtypes or {}
    columns = []
    for name, dtype in frame.schema.items():
        entry = {
            "name": name,
            "dtype": dtype_to_json(dtype, name),
            "since": 0,
            "pandas": None,
            "categories": None,
            "ordered": False,
        }
        entry.update(pandas_dtypes.get(name, {}))
        columns.append(entry)
    return {"columns": columns, "index": list(index or [])}


def merge_schema(current: Schema | None, incoming: Schema, *, version: int) -> Schema:
    """Return the schema after a commit of ``incoming`` data as ``version``.

    New columns are appended (``since`` = ``version``); a column whose type differs from the
    recorded one raises :class:`SchemaMismatch` naming it. A column recorded as all-null
    (``Null``) takes the first real type it is given.
    """
    if current is None:
        columns = [dict(c, since=version) for c in incoming["columns"]]
        return {"columns": columns, "index": incoming["index"]}
    known = {c["name"]: c for c in current["columns"]}
    merged = [dict(c) for c in current["columns"]]
    by_name = {c["name"]: c for c in merged}
    for col in incoming["columns"]:
        old = known.get(col["name"])
        if old is None:
            merged.append(dict(col, since=version))
        elif col["dtype"] != old["dtype"] and col["dtype"]["type"] != "Null":
            if old["dtype"]["type"] != "Null":
                raise SchemaMismatch(
                    f"column {col['name']!r} was recorded as {dtype_from_json(old['dtype'])} "
                    f"and cannot change to {dtype_from_json(col['dtype'])}; nothing was written"
                )
            by_name[col["name"]].update(dtype=col["dtype"], pandas=col["pandas"])
    return {"columns": merged, "index": current["index"]}


def polars_schema(schema: Schema, as_of: int | None = None) -> dict[str, pl.DataType]:
    """Column name -> polars dtype, for the columns that existed at version ``as_of``."""
    return {
        c["name"]: dtype_from_json(c["dtype"])
        for c in schema["columns"]
        if as_of is None or c["since"] <= as_of
    }


def align(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """Order ``frame``'s columns as the schema does, adding absent ones as nulls and casting
    all-null columns to their recorded type."""
    dtypes = polars_schema(schema)
    exprs = []
    for name, dtype in dtypes.items():
        if name not in frame.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif frame.schema[name] != dtype:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def user_columns(schema: Schema) -> list[str]:
    """The data columns of the schema, without stored index levels."""
    return [c["name"] for c in schema["columns"] if not c["name"].startswith(INDEX_PREFIX)]
