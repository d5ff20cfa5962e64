"""pandas <-> polars at the edges of the store, restoring recorded dtypes exactly.

pandas is imported only when a pandas frame comes in or is asked for, so the server path can
run on polars alone.

Example
-------
>>> import pandas as pd
>>> frame, schema = to_polars(pd.DataFrame({"a": [1, 2]}))
>>> frame.shape
(2, 1)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from .errors import InvalidArgument
from .schema import INDEX_PREFIX, Schema, capture, polars_schema

_NULLABLE = {
    "int8": "Int8",
    "int16": "Int16",
    "int32": "Int32",
    "int64": "Int64",
    "uint8": "UInt8",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "uint64": "UInt64",
    "bool": "boolean",
}


@dataclass(frozen=True)
class PreparedFrame:
    """A polars frame already converted, with its captured schema (pandas dtypes, index).

    The SDK and the HTTP handlers use it to carry a pandas frame's schema across the wire;
    ``Store.upload`` accepts it like any frame.
    """

    frame: pl.DataFrame
    schema: Schema


def _check_names(names: list[Any]) -> None:
    bad = [n for n in names if not isinstance(n, str) or n == ""]
    if bad:
        raise InvalidArgument(f"columns: column names must be non-empty strings, got {bad[:5]!r}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidArgument(f"columns: duplicated column names {dupes!r}")
    reserved = [n for n in names if n.startswith(INDEX_PREFIX)]
    if reserved:
        raise InvalidArgument(f"columns: names starting with {INDEX_PREFIX!r} are reserved")


def to_polars(df: Any) -> tuple[pl.DataFrame, Schema]:
    """Turn a pandas or polars frame into a polars frame plus its captured schema.

    A pandas index other than an unnamed RangeIndex is kept as ``__index_level_i__`` columns.
    """
    if isinstance(df, PreparedFrame):
        return df.frame, df.schema
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if isinstance(df, pl.DataFrame):
        _check_names(list(df.columns))
        return df, capture(df)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency of the library
        pd = None
    if pd is None or not isinstance(df, pd.DataFrame):
        raise InvalidArgument(
            f"dataframe must be a pandas or polars DataFrame, got {type(df).__name__}"
        )
    _check_names(list(df.columns))
    index_names: list[str | None] = []
    if not (isinstance(df.index, pd.RangeIndex) and df.index.name is None):
        index_names = list(df.index.names)
        levels = [f"{INDEX_PREFIX}{i}__" for i in range(len(index_names))]
        df = df.copy(deep=False)
        df.index = df.index.set_names(levels)
        df = df.reset_index()
    pandas_dtypes: dict[str, dict[str, Any]] = {}
    for name in df.columns:
        dtype = df[name].dtype
        entry: dict[str, Any] = {"pandas": str(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            cats = dtype.categories
            if cats.dtype.kind in "OUT" or str(cats.dtype) in ("str", "string"):
                entry.update(categories=[str(c) for c in cats], ordered=bool(dtype.ordered))
        pandas_dtypes[name] = entry
    try:
        frame = pl.from_pandas(df)
    except Exception as exc:  # pyarrow raises many types; find the column to name it
        for name in df.columns:
            try:
                pl.from_pandas(df[[name]])
            except Exception as col_exc:
                raise InvalidArgument(f"column {name!r} cannot be stored: {col_exc}") from col_exc
        raise InvalidArgument(f"dataframe cannot be stored: {exc}") from exc
    return frame, capture(frame, pandas_dtypes, index_names)


def prepare_from_wire(frame: pl.DataFrame, sent: Any) -> PreparedFrame:
    """Rebuild a :class:`PreparedFrame` from a frame and the schema a client sent with it.

    Only the pandas parts of ``sent`` are taken (dtype names, categories, index names), and
    only after checking their shape; polars dtypes always come from the frame itself.
    """
    if not isinstance(sent, dict) or not isinstance(sent.get("columns"), list):
        raise InvalidArgument("schema: expected an object with a 'columns' list")
    index = sent.get("index", [])
    levels = [c for c in frame.columns if c.startswith(INDEX_PREFIX)]
    if (
        not isinstance(index, list)
        or len(index) != len(levels)
        or not all(n is None or isinstance(n, str) for n in index)
    ):
        raise InvalidArgument(f"schema: 'index' must list {len(levels)} index name(s)")
    expected = [f"{INDEX_PREFIX}{i}__" for i in range(len(levels))]
    if levels != expected:
        raise InvalidArgument(f"columns: index columns must be named {expected!r}")
    _check_names([c for c in frame.columns if not c.startswith(INDEX_PREFIX)])
    pandas_dtypes: dict[str, dict[str, Any]] = {}
    for entry in sent["columns"]:
        if not isinstance(entry, dict) or entry.get("name") not in frame.columns:
            continue
        pandas = entry.get("pandas")
        categories = entry.get("categories")
        if pandas is not None and (not isinstance(pandas, str) or len(pandas) > 64):
            raise InvalidArgument(f"schema: column {entry['name']!r} has an invalid pandas dtype")
        if categories is not None and (
            not isinstance(categories, list) or not all(isinstance(c, str) for c in categories)
        ):
            raise InvalidArgument(f"schema: column {entry['name']!r} has invalid categories")
        pandas_dtypes[entry["name"]] = {
            "pandas": pandas,
            "categories": categories,
            "ordered": bool(entry.get("ordered")),
        }
    return PreparedFrame(frame, capture(frame, pandas_dtypes, index))


def to_pandas(frame: pl.DataFrame, schema: Schema) -> Any:
    """Turn a polars frame read from the store into pandas with the recorded dtypes/index."""
    import pandas as pd

    recorded = {c["name"]: c for c in schema["columns"]}
    out = frame.to_pandas()
    for name in out.columns:
        col = recorded.get(name)
        if col is None or col["pandas"] is None:
            continue
        target: Any = col["pandas"]
        if target == "category":
            series = (
                out[name]
                if isinstance(out[name].dtype, pd.CategoricalDtype)
                else out[name].astype("category")
            )
            if col["categories"] is not None:
                # astype() keeps the current category order; set_categories imposes ours
                series = series.cat.set_categories(col["categories"], ordered=bool(col["ordered"]))
            out[name] = series
            continue
        if target in _NULLABLE and out[name].isna().any():
            # older rows lack a column added later: keep ints/bools, as pandas' nullable types
            target = _NULLABLE[target]
        # metadata from an old or foreign writer may not apply: then keep what the data gives
        if str(out[name].dtype) != str(target):
            with contextlib.suppress(TypeError, ValueError):
                out[name] = out[name].astype(target)
    levels = [n for n in out.columns if n.startswith(INDEX_PREFIX)]
    if levels:
        out = out.set_index(levels)
        out.index.names = schema["index"][: len(levels)]
    return out


def output_polars(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """A frame for ``engine="polars"``: stored index levels become ordinary named columns."""
    names = schema["index"]
    renames = {}
    for col in frame.columns:
        if col.startswith(INDEX_PREFIX):
            i = int(col[len(INDEX_PREFIX) :].rstrip("_"))
            real = names[i] if i < len(names) else None
            renames[col] = real if real and real not in frame.columns else f"index_{i}"
    return frame.rename(renames) if renames else frame


Engine = Literal["pandas", "polars"]


def check_engine(engine: Any) -> Engine:
    """Validate a ``get`` call's ``engine`` before any work is done.

    Example
    -------
    >>> check_engine("polars")
    'polars'
    """
    if engine not in ("pandas", "polars"):
        raise InvalidArgument(f"engine must be 'pandas' or 'polars', got {engine!r}")
    return engine  # type: ignore[no-any-return]


def to_engine(frame: pl.DataFrame, schema: Schema, engine: Engine) -> Any:
    """A frame read from the store, as ``engine`` gives it to the caller.

    Example
    -------
    >>> to_engine(pl.DataFrame({"a": [1]}), {"columns": [], "index": []}, "polars").shape
    (1, 1)
    """
    return output_polars(frame, schema) if engine == "polars" else to_pandas(frame, schema)


def empty_frame(schema: Schema, columns: list[str]) -> pl.DataFrame:
    """A zero-row polars frame with the schema's dtypes for ``columns``."""
    dtypes = polars_schema(schema)
    return pl.DataFrame(schema={c: dtypes[c] for c in columns})
