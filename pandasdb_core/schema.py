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
import re
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
    height = frame.height
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
        if height and frame.get_column(name).null_count() == height:
            # nulls fit any type: merge_schema accepts this column into any recorded one
            # (the mark is never stored)
            entry[ALL_NULL] = True
        columns.append(entry)
    return {"columns": columns, "index": list(index or [])}


def merge_schema(current: Schema | None, incoming: Schema, *, version: int) -> Schema:
    """Return the schema after a commit of ``incoming`` data as ``version``.

    New columns are appended (``since`` = ``version``); a column whose type differs from the
    recorded one raises :class:`SchemaMismatch` naming it, and so does an index other than
    the recorded one (another number of levels, or other names; an upload without an index
    omits it, as it may omit columns: null in its rows). A column recorded as
    all-null (``Null``) takes the first real type it is given, with its pandas details; an
    incoming column of nulls only fits any recorded type. An unordered categorical gains the
    categories a later upload brings (appended in their order); an ordered one keeps its
    categories and order, so an upload with others is refused.
    """
    if current is None:
        columns = [_stored(dict(c, since=version)) for c in incoming["columns"]]
        return {"columns": columns, "index": list(incoming["index"])}
    recorded_index = list(current.get("index", []))
    given = list(incoming.get("index", []))
    # an upload without an index omits the levels, as it may omit columns (null in its rows)
    if given and given != recorded_index:
        raise SchemaMismatch(
            f"index: the frame was recorded with {_describe_index(recorded_index)}; this "
            f"upload has {_describe_index(given)}; an index cannot "
            "change (set or rename it as recorded, e.g. with df.set_index or "
            "df.index.set_names); nothing was written"
        )
    merged = [dict(c) for c in current["columns"]]
    by_name = {c["name"]: c for c in merged}
    for col in incoming["columns"]:
        old = by_name.get(col["name"])
        if old is None:
            merged.append(_stored(dict(col, since=version)))
        elif col["dtype"] != old["dtype"]:
            widened = decimal_holding(old["dtype"], col["dtype"])
            if widened is not None:
                old["dtype"] = widened
            elif old["dtype"]["type"] == "Null" and col["dtype"]["type"] != "Null":
                old.update({k: v for k, v in col.items() if k not in ("name", "since", ALL_NULL)})
            elif col["dtype"]["type"] == "Null" or col.get(ALL_NULL):
                pass  # nulls fit any type
            elif not _zone_kept_in_utc(old, col):
                raise SchemaMismatch(
                    f"{shown(col['name'])} was recorded as {dtype_from_json(old['dtype'])} "
                    f"and cannot change to {dtype_from_json(col['dtype'])}; nothing was written"
                )
        elif (
            old.get("categories") is not None
            and col.get("categories") is not None
            and not col.get(ALL_NULL)
        ):
            old["categories"] = _merged_categories(old, col)
    return {"columns": merged, "index": recorded_index}


#: the mark :func:`capture` gives a column of nulls only (see :func:`merge_schema`)
ALL_NULL = "all_null"
#: the dtypes of string categories: their values are the same strings whichever it is
_STRING_CATEGORIES = {
    None,
    "object",
    "str",
    "string",
    "string[python]",
    "string[pyarrow]",
    "str[python]",
}


def shown(name: str) -> str:
    """A column as messages name it: ``column 'a'``, or ``index level 0`` for a stored level.

    Example
    -------
    >>> shown("a"), shown("__index_level_0__")
    ("column 'a'", 'index level 0')
    """
    if name.startswith(INDEX_PREFIX):
        return f"index level {name[len(INDEX_PREFIX) :].rstrip('_')}"
    return f"column {name!r}"


def _stored(column: dict[str, Any]) -> dict[str, Any]:
    column.pop(ALL_NULL, None)
    return column


def _describe_index(names: list[str | None]) -> str:
    if not names:
        return "no index"
    return f"an index of {len(names)} level(s) named {names!r}"


def _zone_kept_in_utc(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``new`` is a zoned datetime column of the zone an older pandasdb recorded
    as UTC (it stored ``Etc/GMT+5`` columns in UTC, as fixed offsets are): the upload is
    converted to UTC by :func:`align`, the same instants."""
    was, now = old["dtype"], new["dtype"]
    if was.get("type") != "Datetime" or now.get("type") != "Datetime":
        return False
    if was.get("unit") != now.get("unit") or was.get("tz") != "UTC" or not now.get("tz"):
        return False
    recorded = re.fullmatch(r"datetime64\[\w+, (.+)\]", old.get("pandas") or "")
    return recorded is not None and recorded.group(1) == now["tz"]


def decimal_holding(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The decimal type that holds a recorded decimal column and an upload's (None: not
    two decimals, or the upload has more places than the column's scale). A decimal column
    of pandas objects takes its precision from its values, so 9.99 beside a recorded 10.50
    is a narrower type of the same column: it fits, and a wider one widens the column
    (files written before read as the wider type, the same numbers)."""
    if old.get("type") != "Decimal" or new.get("type") != "Decimal":
        return None
    scale = old.get("scale") or 0
    if (new.get("scale") or 0) > scale:
        return None  # digits past the column's places: refused, never rounded
    whole = max(
        (old.get("precision") or 38) - scale, (new.get("precision") or 38) - (new.get("scale") or 0)
    )
    if whole + scale > 38:
        return None
    return {**old, "precision": whole + scale}


def _merged_categories(old: dict[str, Any], new: dict[str, Any]) -> list[Any]:
    if new["categories"] == old["categories"] and bool(new["ordered"]) == bool(old["ordered"]):
        return list(old["categories"])
    if old["ordered"] or new["ordered"] or not _same_category_type(old, new):
        raise SchemaMismatch(
            f"column {new['name']!r} is a categorical recorded with categories "
            f"{old['categories'][:10]!r} (ordered={bool(old['ordered'])}); this upload's are "
            f"{new['categories'][:10]!r} (ordered={bool(new['ordered'])}), which would change "
            "the meaning of stored values; nothing was written"
        )
    known = {json.dumps(c) for c in old["categories"]}
    return list(old["categories"]) + [c for c in new["categories"] if json.dumps(c) not in known]


def _same_category_type(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two categoricals' categories are of one type: the same dtype, or strings
    held in any of pandas' string dtypes (``object`` or ``str``: the same values)."""
    if new.get("categories_dtype") == old.get("categories_dtype"):
        return True
    strings = (
        c.get("categories_dtype") in _STRING_CATEGORIES
        and all(isinstance(v, str) for v in c["categories"])
        for c in (old, new)
    )
    return all(strings)


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
    height = frame.height
    exprs = []
    for name, dtype in polars_schema(schema).items():
        if name not in have:
            exprs.append(pl.repeat(None, height, dtype=dtype).alias(name))
        elif have[name] == dtype:
            exprs.append(frame.get_column(name))
        elif frame.get_column(name).null_count() == height:
            # nulls fit any type, whichever type the upload gave them
            exprs.append(pl.repeat(None, height, dtype=dtype).alias(name))
        else:
            try:
                exprs.append(frame.get_column(name).cast(dtype))
            except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise SchemaMismatch(
                    f"column {name!r} cannot be stored as its recorded type {dtype}: {reason}; "
                    "nothing was written"
                ) from None
    out = frame.select(exprs)
    check_ordered_categories(out, schema)
    return out


def check_ordered_categories(frame: pl.DataFrame, schema: Schema) -> None:
    """Refuse values outside the categories of a column recorded as an ordered categorical.
    A pandas categorical brings its categories (compared by :func:`merge_schema`); a polars
    frame, a CSV or a JSON body brings only values, which would otherwise be appended to
    the order and change the meaning of the stored ones."""
    for col in schema["columns"]:
        name, categories = col["name"], col.get("categories")
        if not col.get("ordered") or not categories or name not in frame.columns:
            continue
        values = frame.get_column(name).drop_nulls()
        if isinstance(values.dtype, pl.Categorical | pl.Enum):
            values = values.cast(pl.String)
        try:
            known = pl.Series(categories).cast(values.dtype, strict=True)
        except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
            continue  # categories polars holds otherwise (datetimes...): nothing to compare
        outside = values.filter(~values.is_in(known.implode())).unique(maintain_order=True)
        if len(outside):
            raise SchemaMismatch(
                f"column {name!r} is an ordered categorical recorded with categories "
                f"{categories[:10]!r}; this upload holds {outside.head(5).to_list()!r}, which "
                "are not among them and would change the meaning of stored values; nothing "
                "was written"
            )


def user_columns(schema: Schema) -> list[str]:
    """The data columns of the schema, without stored index levels."""
    return [c["name"] for c in schema["columns"] if not c["name"].startswith(INDEX_PREFIX)]
