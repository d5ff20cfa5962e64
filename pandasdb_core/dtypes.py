"""Polars dtypes to and from JSON, so a frame's schema can live in any metadata store.

Example
-------
>>> import polars as pl
>>> dtype_from_json(dtype_to_json(pl.Datetime("ns", "UTC")))
Datetime(time_unit='ns', time_zone='UTC')
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .errors import SchemaMismatch

#: what a column may hold, said where another dtype is refused
STORABLE = (
    "pandasdb stores integers (up to 64 bits), floats (float16 to float64), booleans, "
    "strings, bytes, dates, times, datetimes (naive or with a time zone), durations, "
    "decimals and categoricals, and object columns of one of those kinds"
)

#: dtypes stored by name alone; Float16 only where polars has it (releases after 1.33)
_SIMPLE: dict[str, type[pl.DataType]] = {
    name: getattr(pl, name)
    for name in (
        "Int8",
        "Int16",
        "Int32",
        "Int64",
        "UInt8",
        "UInt16",
        "UInt32",
        "UInt64",
        "Float16",
        "Float32",
        "Float64",
        "Boolean",
        "String",
        "Date",
        "Time",
        "Null",
        "Categorical",
        "Binary",
    )
    if hasattr(pl, name)
}


def dtype_to_json(dtype: pl.DataType, column: str = "?") -> dict[str, Any]:
    """Describe a polars dtype as a small JSON-able dict."""
    if isinstance(dtype, pl.Datetime):
        return {"type": "Datetime", "unit": dtype.time_unit, "tz": dtype.time_zone}
    if isinstance(dtype, pl.Duration):
        return {"type": "Duration", "unit": dtype.time_unit}
    if isinstance(dtype, pl.Enum):
        return {"type": "Enum", "categories": dtype.categories.to_list()}
    if isinstance(dtype, pl.Decimal):
        return {"type": "Decimal", "precision": dtype.precision, "scale": dtype.scale}
    name = dtype.base_type().__name__
    if name in _SIMPLE:
        return {"type": name}
    if name in ("Int128", "UInt128"):
        raise SchemaMismatch(
            f"column {column!r} holds integers beyond the int64 range, which pandasdb cannot "
            f"store; {STORABLE}"
        )
    raise SchemaMismatch(
        f"column {column!r} has dtype {dtype}, which pandasdb cannot store; {STORABLE}"
    )


def dtype_from_json(data: dict[str, Any]) -> pl.DataType:
    """Inverse of :func:`dtype_to_json`."""
    kind = data["type"]
    if kind == "Datetime":
        return pl.Datetime(data["unit"], data["tz"])
    if kind == "Duration":
        return pl.Duration(data["unit"])
    if kind == "Enum":
        return pl.Enum(data["categories"])
    if kind == "Decimal":
        return pl.Decimal(data["precision"], data["scale"])
    if kind not in _SIMPLE:
        raise SchemaMismatch(f"dtype {kind!r} is not one pandasdb stores (a newer writer's?)")
    return _SIMPLE[kind]()
