"""A frame's schema: recorded at its first commit, extended by later ones, never changed.

The schema is a JSON-able dict kept in the frame's head::

    {"columns": [{"name": "ts", "dtype": {...polars dtype...}, "since": 1,
                  "pandas": "datetime64[ns, UTC]" | None, "categories": [...] | None,
                  "categories_dtype": "int64" | None, "ordered": False}, ...],
     "index": ["date"]}          # real names of index levels stored as __index_level_i__

Example
-------
>>> import polars as pl
>>> s = merge_schema(None, capture(pl.DataFrame({"a": [1]})), version=1)
>>> [c["name"] for c in s["columns"]]
['a']
"""

from __future__ import annotations

import json
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
    """Describe ``frame`` (plus what is known of its pandas origin) as an unversioned schema.

    Raises :class:`SchemaMismatch` naming the first column of a dtype pandasdb cannot store.
    """
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
    (``Null``) takes the first real type it is given, with its pandas details. An unordered
    categorical gains the categories a later upload brings (appended in their order); an
    ordered one keeps its categories and order, so an upload with others is refused.
    """
    if current is None:
        columns = [dict(c, since=version) for c in incoming["columns"]]
        return {"columns": columns, "index": incoming["index"]}
    merged = [dict(c) for c in current["columns"]]
    by_name = {c["name"]: c for c in merged}
    for col in incoming["columns"]:
        old = by_name.get(col["name"])
        if old is None:
            merged.append(dict(col, since=version))
        elif col["dtype"] != old["dtype"] and col["dtype"]["type"] != "Null":
            if old["dtype"]["type"] != "Null":
                raise SchemaMismatch(
                    f"column {col['name']!r} was recorded as {dtype_from_json(old['dtype'])} "
                    f"and cannot change to {dtype_from_json(col['dtype'])}; nothing was written"
                )
            old.update({k: v for k, v in col.items() if k not in ("name", "since")})
        elif old.get("categories") is not None and col.get("categories") is not None:
            old["categories"] = _merged_categories(old, col)
    return {"columns": merged, "index": current["index"]}


def _merged_categories(old: dict[str, Any], new: dict[str, Any]) -> list[Any]:
    if new["categories"] == old["categories"] and bool(new["ordered"]) == bool(old["ordered"]):
        return list(old["categories"])
    if (
        old["ordered"]
        or new["ordered"]
        or new.get("categories_dtype") != old.get("categories_dtype")
    ):
        raise SchemaMismatch(
            f"column {new['name']!r} is a categorical recorded with categories "
            f"{old['categories'][:10]!r} (ordered={bool(old['ordered'])}); this upload's are "
            f"{new['categories'][:10]!r} (ordered={bool(new['ordered'])}), which would change "
            "the meaning of stored values; nothing was written"
        )
    known = {json.dumps(c) for c in old["categories"]}
    return list(old["categories"]) + [c for c in new["categories"] if json.dumps(c) not in known]


def polars_schema(schema: Schema, as_of: int | None = None) -> dict[str, pl.DataType]:
    """Column name -> polars dtype, for the columns that existed at version ``as_of``."""
    return {
        c["name"]: dtype_from_json(c["dtype"])
        for c in schema["columns"]
        if as_of is None or c["since"] <= as_of
    }


def align(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """Order ``frame``'s columns as the schema does, adding absent ones as nulls and casting
    all-null columns to their recorded type.

    Linear in the number of columns: a frame of thousands of columns is common.

    Example
    -------
    >>> s = capture(pl.DataFrame({"a": [1], "b": ["x"]}))
    >>> align(pl.DataFrame({"b": ["y"]}), s).columns
    ['a', 'b']
    """
    have = frame.schema
    exprs = []
    for name, dtype in polars_schema(schema).items():
        if name not in have:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif have[name] != dtype:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def user_columns(schema: Schema) -> list[str]:
    """The data columns of the schema, without stored index levels."""
    return [c["name"] for c in schema["columns"] if not c["name"].startswith(INDEX_PREFIX)]
