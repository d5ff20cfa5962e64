"""pandas <-> polars at the edges of the store, restoring recorded dtypes exactly.

pandas is imported only when a pandas frame comes in or is asked for, so the server path can
run on polars alone.

What comes back into pandas is what went in: integers (nullable ones too, up to ``Int64``'s
and ``UInt64``'s extremes) never pass through float64; categoricals keep categories of any
type (strings, ints, floats, bools, dates, datetimes, durations), their order and ``ordered``;
a fixed-offset time zone (``+05:30``), which polars lacks, is stored as UTC and restored.
What cannot be stored exactly (periods, intervals, lists, objects of mixed types) is refused
before anything is written, with an error naming the column.

Example
-------
>>> import pandas as pd
>>> df = pd.DataFrame({"a": pd.array([2**63 - 1, None], dtype="Int64")})
>>> frame, schema = to_polars(df)
>>> to_pandas(frame, schema)["a"].tolist() == [2**63 - 1, pd.NA]
True
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from .errors import InvalidArgument
from .schema import INDEX_PREFIX, Schema, capture, polars_schema

#: pandas' nullable counterpart of each numpy integer/bool dtype
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
#: pandas dtypes built from a polars column's values and null mask, never through float64
_MASKED = {*_NULLABLE.values(), "Float32", "Float64"}
#: what the rust side of polars raises when it panics (a BaseException, not an Exception)
PanicException = pl.exceptions.PanicException


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
    if any("\x00" in n for n in names):  # arrow passes names as C strings: polars panics
        nul = [n for n in names if "\x00" in n][:5]
        raise InvalidArgument(f"columns: column names may not contain NUL characters: {nul!r}")
    dupes = sorted(n for n, count in Counter(names).items() if count > 1)
    if dupes:
        raise InvalidArgument(f"columns: duplicated column names {dupes!r}")
    if any(n.startswith(INDEX_PREFIX) for n in names):
        raise InvalidArgument(f"columns: names starting with {INDEX_PREFIX!r} are reserved")


def to_polars(df: Any) -> tuple[pl.DataFrame, Schema]:
    """Turn a pandas or polars frame into a polars frame plus its captured schema.

    A pandas index other than an unnamed RangeIndex is kept as ``__index_level_i__`` columns.
    Raises :class:`InvalidArgument` or :class:`SchemaMismatch` naming a column that cannot
    be stored exactly.

    Example
    -------
    >>> to_polars(pl.DataFrame({"a": [1]}))[1]["columns"][0]["dtype"]
    {'type': 'Int64'}
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
    in_utc: dict[str, Any] = {}
    for name, dtype in df.dtypes.items():
        entry: dict[str, Any] = {"pandas": str(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            entry.update(_describe_categories(name, dtype))
        elif isinstance(dtype, pd.DatetimeTZDtype) and _fixed_offset(name, dtype):
            in_utc[name] = df[name].dt.tz_convert("UTC")
        pandas_dtypes[name] = entry
    if in_utc:
        df = df.copy(deep=False)
        for name, series in in_utc.items():
            df[name] = series
    frame = _from_pandas(df)
    return frame, capture(frame, pandas_dtypes, index_names)


def _fixed_offset(name: str, dtype: Any) -> bool:
    """Whether a tz-aware column has a fixed offset other than UTC (polars has no such zone),
    after checking that pandas can rebuild its dtype from the recorded name."""
    offset = dtype.tz.utcoffset(None)
    if offset is None or offset == dt.timedelta(0):
        return False
    import pandas as pd

    try:
        same = pd.api.types.pandas_dtype(str(dtype)) == dtype
    except (TypeError, ValueError):
        same = False
    if not same:
        raise InvalidArgument(
            f"column {name!r}: time zone {dtype.tz!r} is a fixed offset pandas cannot name "
            "back; convert it with .dt.tz_convert(datetime.timezone(offset)) or to an IANA zone"
        )
    return True


def _describe_categories(name: str, dtype: Any) -> dict[str, Any]:
    """A categorical's categories as JSON values that rebuild them exactly, with their dtype.

    Ints and bools stay themselves, floats become ``repr`` text (exact, and JSON has no inf),
    datetimes and durations integer counts of their unit, dates ISO text.
    """
    cats = dtype.categories
    kind = cats.dtype.kind
    values: list[Any]
    cats_dtype = str(cats.dtype)
    if kind in "iub":
        values = cats.tolist()
    elif kind == "f":
        values = [repr(float(c)) for c in cats]
    elif kind in "mM":
        values = cats.asi8.tolist()
    elif all(isinstance(c, str) for c in cats):
        values = list(cats)
    elif all(type(c) is dt.date for c in cats):
        values, cats_dtype = [c.isoformat() for c in cats], "date"
    else:
        kinds = sorted({type(c).__name__ for c in cats})
        raise InvalidArgument(
            f"column {name!r}: a categorical with categories of {cats.dtype} ({kinds}) cannot be "
            "stored; categories may be strings, numbers, bools, dates, datetimes or durations"
        )
    return {"categories": values, "categories_dtype": cats_dtype, "ordered": bool(dtype.ordered)}


def _from_pandas(df: Any) -> pl.DataFrame:
    try:
        return pl.from_pandas(df)
    except (Exception, PanicException) as exc:  # pyarrow and polars raise many types
        for name in df.columns:
            try:
                pl.from_pandas(df[[name]])
            except (Exception, PanicException) as col_exc:
                reason = _first_line(col_exc)
                raise InvalidArgument(f"column {name!r} cannot be stored: {reason}") from None
        raise InvalidArgument(f"dataframe cannot be stored: {_first_line(exc)}") from None


def prepare_from_wire(frame: pl.DataFrame, sent: Any) -> PreparedFrame:
    """Rebuild a :class:`PreparedFrame` from a frame and the schema a client sent with it.

    Only the pandas parts of ``sent`` are taken (dtype names, categories, index names), and
    only after checking their shape; polars dtypes always come from the frame itself.

    Example
    -------
    >>> sent = {"columns": [{"name": "a", "pandas": "Int64"}], "index": []}
    >>> prepare_from_wire(pl.DataFrame({"a": [1]}), sent).schema["columns"][0]["pandas"]
    'Int64'
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
    present = set(frame.columns)
    pandas_dtypes: dict[str, dict[str, Any]] = {}
    for entry in sent["columns"]:
        if not isinstance(entry, dict) or entry.get("name") not in present:
            continue
        pandas = entry.get("pandas")
        categories = entry.get("categories")
        cats_dtype = entry.get("categories_dtype")
        if pandas is not None and (not isinstance(pandas, str) or len(pandas) > 64):
            raise InvalidArgument(f"schema: column {entry['name']!r} has an invalid pandas dtype")
        if categories is not None and (
            not isinstance(categories, list)
            or not all(isinstance(c, str | int | float | bool) for c in categories)
        ):
            raise InvalidArgument(f"schema: column {entry['name']!r} has invalid categories")
        if cats_dtype is not None and (not isinstance(cats_dtype, str) or len(cats_dtype) > 64):
            raise InvalidArgument(
                f"schema: column {entry['name']!r} has an invalid categories dtype"
            )
        pandas_dtypes[entry["name"]] = {
            "pandas": pandas,
            "categories": categories,
            "categories_dtype": cats_dtype,
            "ordered": bool(entry.get("ordered")),
        }
    return PreparedFrame(frame, capture(frame, pandas_dtypes, index))


def to_pandas(frame: pl.DataFrame, schema: Schema) -> Any:
    """Turn a polars frame read from the store into pandas with the recorded dtypes/index.

    Example
    -------
    >>> import pandas as pd
    >>> frame, schema = to_polars(pd.DataFrame({"u": pd.array([2**64 - 1, None], "UInt64")}))
    >>> to_pandas(frame, schema)["u"].dtype
    UInt64Dtype()
    """
    import pandas as pd

    recorded = {c["name"]: c for c in schema["columns"]}
    columns = {s.name: _pandas_column(s, recorded.get(s.name)) for s in frame.iter_columns()}
    # arrays rather than Series (thousands of Series sharing one index cost quadratic time),
    # except object columns: from an array pandas would infer them as strings
    arrays = {n: c if c.dtype == object else c.array for n, c in columns.items()}
    out = pd.DataFrame(arrays, index=pd.RangeIndex(frame.height), copy=False)
    levels = [n for n in out.columns if n.startswith(INDEX_PREFIX)]
    if levels:
        out = out.set_index(levels)
        out.index.names = schema["index"][: len(levels)]
    return out


def _pandas_column(series: pl.Series, col: dict[str, Any] | None) -> Any:
    """One column in pandas, exactly: the recorded pandas dtype if it applies, else the
    closest exact one (a nullable integer rather than float64 when there are nulls)."""
    import pandas as pd

    target: str | None = col.get("pandas") if col else None
    dtype = series.dtype
    if target == "category":
        return _categorical(series, col or {})
    if target == "object":
        # objects as they went in: None for nulls, dates as dates, Decimals as Decimals
        return pd.Series(series.to_list(), dtype=object, name=series.name)
    nullable = _NULLABLE.get(target or "", target)
    if dtype.is_integer() or dtype == pl.Boolean:
        if series.null_count() or target in _MASKED:
            out = pd.Series(_masked(series), name=series.name)
        else:
            out = pd.Series(series.to_numpy(), name=series.name)
        # older rows lack a column added later: a numpy int/bool dtype becomes nullable
        target = nullable if series.null_count() else target
    elif dtype.is_float() and target in _MASKED:
        out = pd.Series(_masked(series), name=series.name)
    else:
        out = series.to_pandas()
    if target is not None and str(out.dtype) != target:
        # metadata from an old or foreign writer may not apply: then keep what the data gives
        # (an unknown zone is a KeyError: zoneinfo.ZoneInfoNotFoundError)
        with contextlib.suppress(TypeError, ValueError, OverflowError, KeyError):
            out = out.astype(target)
    return out


def _masked(series: pl.Series) -> Any:
    """A pandas masked array (Int64, UInt64, boolean, Float64...) from values and nulls."""
    import pandas as pd

    mask = series.is_null().to_numpy()
    if series.dtype == pl.Boolean:
        return pd.arrays.BooleanArray(series.fill_null(False).to_numpy(), mask)
    values = series.fill_null(0).to_numpy()
    if series.dtype.is_float():
        return pd.arrays.FloatingArray(values, mask)
    return pd.arrays.IntegerArray(values, mask)


def _categorical(series: pl.Series, col: dict[str, Any]) -> Any:
    """A categorical with the recorded categories and order; a value outside them (written
    by an older schema) adds a category rather than being lost."""
    import pandas as pd

    if series.dtype == pl.Categorical or isinstance(series.dtype, pl.Enum):
        series = series.cast(pl.String)
    # values as the categories hold them: dates as datetime.date, not as timestamps
    as_dates = col.get("categories_dtype") == "date"
    values = _pandas_column(series, {"pandas": "object"} if as_dates else None)
    ordered = bool(col.get("ordered"))
    categories = _category_index(col)
    if categories is None:
        return pd.Series(pd.Categorical(values, ordered=ordered), name=series.name)
    unknown = values[values.notna() & ~values.isin(categories)]
    if len(unknown):
        categories = categories.append(pd.Index(pd.unique(unknown)))
    return pd.Series(
        pd.Categorical(values, categories=categories, ordered=ordered), name=series.name
    )


def _category_index(col: dict[str, Any]) -> Any:
    """Rebuild recorded categories (see :func:`_describe_categories`); None if absent or not
    rebuildable (a foreign or hostile writer's), so that the data's own categories are used."""
    values, kind = col.get("categories"), col.get("categories_dtype")
    if values is None:
        return None
    try:
        index = _rebuild_categories(values, kind)
    except (TypeError, ValueError, OverflowError, KeyError):
        return None
    return index if index.is_unique and not index.hasnans else None


def _rebuild_categories(values: list[Any], kind: str | None) -> Any:
    import numpy as np
    import pandas as pd

    if kind is None:  # written before categories had a recorded dtype: strings
        return pd.Index(values)
    if kind == "date":
        return pd.Index([dt.date.fromisoformat(v) for v in values], dtype=object)
    dtype = pd.api.types.pandas_dtype(kind)
    if dtype.kind in "mM":
        unit = dtype.unit if isinstance(dtype, pd.DatetimeTZDtype) else np.datetime_data(dtype)[0]
        counts = np.array(values, dtype="int64").view(f"{dtype.kind}8[{unit}]")
        index = pd.Index(counts)
        if isinstance(dtype, pd.DatetimeTZDtype):
            index = index.tz_localize("UTC").tz_convert(dtype.tz)
        return index
    if dtype.kind == "f":
        return pd.Index([float(v) for v in values], dtype=dtype)
    return pd.Index(values, dtype=dtype)


def output_polars(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """A frame for ``engine="polars"``: stored index levels become ordinary named columns.

    Example
    -------
    >>> s = {"columns": [], "index": ["k"]}
    >>> output_polars(pl.DataFrame({"__index_level_0__": [1], "a": [2]}), s).columns
    ['k', 'a']
    """
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
    """A zero-row polars frame with the schema's dtypes for ``columns``.

    Example
    -------
    >>> empty_frame({"columns": [{"name": "a", "dtype": {"type": "Int8"}, "since": 1}]}, ["a"])
    shape: (0, 1)
    ┌─────┐
    │ a   │
    │ --- │
    │ i8  │
    ╞═════╡
    └─────┘
    """
    dtypes = polars_schema(schema)
    return pl.DataFrame(schema={c: dtypes[c] for c in columns})


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
